# t/011_table_sources.pl: continuous views over ordinary tables.
#
# A plain table t and a range-partitioned table p whose partitions store
# their columns differently (one was created with its columns in another
# order and a dropped column, one with a dropped column first; both were
# attached with ATTACH PARTITION), so decoded tuples need conversion to the
# parent's row type.  Random views over t and over p are created while both
# are empty; random INSERT transactions follow (multi-row INSERT, INSERT ...
# SELECT, COPY, into the parent or straight into a partition, some rolled
# back, some with savepoints rolled back or aborted by an error).  After
# continuous.sync() every view must equal its defining query (DESIGN.md 3.1);
# here the table itself holds the oracle data.
#
# Then: creating a view over a table that has rows is refused with a real
# SQLSTATE, a TRUNCATE of a whole source restarts its views from that point,
# and an UPDATE or DELETE marks the views of that table stale (a
# WARNING when read) without touching views of other tables.
#
# Environment: CONTINUOUS_TEST_SEED (default 12345), CONTINUOUS_TEST_ROUNDS
# (number of transaction batches, default 4).

use strict;
use warnings;

use Test::More;
use ContinuousDiff qw(
  setup_test
  pick chance between shuffle digits
  sql_literal csv_field text_field
  random_transaction view_query
  run_sql transaction_ok sync_ok check_views);

my $db = 'postgres';
my ($seed, $rounds, $node) = setup_test(
	name           => 'table_sources',
	title          => 'table sources test',
	db             => $db,
	default_rounds => 4);

my @COLS = (
	[ g  => 'int' ],
	[ k  => 'text' ],
	[ x  => 'bigint' ],
	[ n  => 'numeric' ],
	[ y  => 'float8' ],
	[ ts => 'timestamptz' ],
	[ tb => 'bigint' ]);
my @COLNAMES = map { $_->[0] } @COLS;
my $COLDEFS  = join(', ', map { "$_->[0] $_->[1]" } @COLS);

# p: partitions by g.  p_low is created as a partition; p_mid has its
# columns in reverse order and a dropped column in the middle; p_rest has a
# dropped column first.  NULL and large g go to p_rest (DEFAULT).
$node->safe_psql($db, <<"SQL");
CREATE TABLE t ($COLDEFS);
CREATE TABLE p ($COLDEFS) PARTITION BY RANGE (g);
CREATE TABLE p_low PARTITION OF p FOR VALUES FROM (MINVALUE) TO (10);
CREATE TABLE p_mid (tb bigint, ts timestamptz, junk text, y float8, n numeric, x bigint, k text, g int);
ALTER TABLE p_mid DROP COLUMN junk;
ALTER TABLE p ATTACH PARTITION p_mid FOR VALUES FROM (10) TO (1000);
CREATE TABLE p_rest (dropped int, $COLDEFS);
ALTER TABLE p_rest DROP COLUMN dropped;
ALTER TABLE p ATTACH PARTITION p_rest DEFAULT;
SQL

###########################################################################
# Random rows
###########################################################################

my @TEXTS = ('a', 'b', 'c', '', "it's", 'x,y', 'q"q', "\xc3\xa9t\xc3\xa9", 'back\\slash', "t\tab");

# One row; $range = [lo, hi] restricts g (for writes into one partition).
sub random_row
{
	my ($range) = @_;
	my %v;
	if ($range)
	{
		$v{g} = between(@$range);
	}
	else
	{
		my $c = rand();
		$v{g} =
		    $c < 0.35 ? between(-5, 9)
		  : $c < 0.7  ? between(10, 999)
		  : $c < 0.9  ? between(1000, 1005)
		  : chance(0.5) ? undef
		  :               pick('2147483647', '-2147483648');
	}
	$v{k}  = chance(0.6) ? pick(@TEXTS) : 'k' . int(rand(50));
	$v{x}  = chance(0.05) ? pick('9223372036854775807', '-9223372036854775808') : between(-1e6, 1e6);
	$v{n}  = chance(0.05) ? '-' . digits(28) . '.5' : sprintf('%d.%03d', between(-999, 999), between(0, 999));
	$v{y}  = chance(0.05) ? pick('1e100', '-1e100', '1e-300', '0') : sprintf('%.5f', rand() * 20 - 10);
	$v{ts} = sprintf('2024-03-%02d %02d:%02d:00+00', between(1, 3), between(0, 23), between(0, 59));
	$v{tb} = between(0, 50_000);
	foreach my $c (@COLNAMES)
	{
		next if $c eq 'g' && $range;
		$v{$c} = undef if chance(0.08);
	}
	return \%v;
}

sub batch_size
{
	my $c = rand();
	return 1                 if $c < 0.2;
	return between(2, 30)    if $c < 0.7;
	return between(31, 400)  if $c < 0.95;
	return between(1000, 3000);
}

my $op_counter = 0;

# One INSERT-only write into one table: t, p, or one of p's partitions.
sub random_write
{
	my ($target, $range) = @{ pick([ 't', undef ], [ 'p', undef ], [ 'p', undef ],
		[ 'p_low', [ -50, 9 ] ], [ 'p_mid', [ 10, 999 ] ], [ 'p_rest', [ 1000, 3000 ] ]) };
	my @cols = chance(0.4) ? shuffle(@COLNAMES) : @COLNAMES;
	my $collist = join(', ', @cols);
	my $c = rand();
	if ($c < 0.4)
	{
		my @rows = map { random_row($range) } 1 .. batch_size();
		return "INSERT INTO $target ($collist) VALUES\n"
		  . join(",\n", map { my $r = $_; '(' . join(', ', map { sql_literal($r->{$_}) } @cols) . ')' } @rows)
		  . ";\n";
	}
	if ($c < 0.6)
	{
		my @rows = map { random_row($range) } 1 .. batch_size();
		my $csv = chance(0.5);
		my $data = join('', map {
				my $r = $_;
				$csv
				  ? join(',', map { csv_field($r->{$_}) } @cols) . "\n"
				  : join("\t", map { text_field($r->{$_}) } @cols) . "\n"
			} @rows);
		return "COPY $target ($collist) FROM STDIN" . ($csv ? ' (FORMAT csv)' : '') . ";\n$data\\.\n";
	}
	if ($c < 0.8)
	{
		my $from = between(-100, 2000);
		my $to   = $from + batch_size() - 1;
		my $g    = $range ? "$range->[0] + abs(i) % ($range->[1] - $range->[0] + 1)" : 'CASE WHEN i % 23 = 0 THEN NULL ELSE i END';
		return <<"SQL";
INSERT INTO $target (g, k, x, n, y, ts, tb)
SELECT $g, 'k' || (i % 7), i::bigint * 7919, i * 0.01,
       CASE WHEN i % 5 = 0 THEN NULL ELSE i * 0.25 END,
       timestamptz '2024-03-01 00:00:00+00' + i * interval '53 seconds', i * 3
FROM generate_series($from, $to) AS i;
SQL
	}
	# INSERT ... SELECT from a temp table of random rows (PostgreSQL's
	# generator, seeded from ours).
	my $tmp  = 'tmp_rows_' . ++$op_counter;
	my $rows = batch_size();
	my $seedval = sprintf('%.6f', rand() * 2 - 1);
	my $g = $range
	  ? "$range->[0] + (random() * ($range->[1] - $range->[0]))::int"
	  : '(random() * 1200)::int - 100';
	return <<"SQL";
SELECT setseed($seedval);
CREATE TEMP TABLE $tmp AS
SELECT $g AS g, chr(97 + (random() * 3)::int) AS k,
       ((random() - 0.5) * 1e9)::bigint AS x, round((random() * 1000)::numeric, 2) AS n,
       (random() - 0.5) * 100 AS y,
       timestamptz '2024-03-01 00:00:00+00' + random() * interval '2 days' AS ts,
       (random() * 1e5)::bigint AS tb
FROM generate_series(1, $rows);
INSERT INTO $target ($collist) SELECT $collist FROM $tmp;
DROP TABLE $tmp;
SQL
}

###########################################################################
# Views
###########################################################################

sub random_view
{
	my ($source) = @_;
	my @key_pool = (
		'g', 'k', 'g % 4', 'lower(k)', '(x > 0)',
		"continuous.tumble(ts, '" . pick(1, 10, 60, 1440) . " minutes')",
		'continuous.tumble(tb, ' . pick(100, 5000) . ')');
	my @keys = (shuffle(@key_pool))[ 0 .. pick(0, 1, 1, 2) - 1 ];
	my @aggs;
	foreach (1 .. between(1, 4))
	{
		my $c = rand();
		push @aggs,
		    $c < 0.15 ? { sql => 'count(*)' }
		  : $c < 0.25 ? { sql => 'count(' . pick(@COLNAMES) . ')' }
		  : $c < 0.45 ? { sql => pick('sum', 'avg') . '(' . pick('g', 'x', 'n') . ')' }
		  : $c < 0.55 ? pick({ sql => 'sum(y)', float => 1, tol => 'sum(abs(y)) * count(y)' },
			{ sql => 'avg(y)', float => 1, tol => 'sum(abs(y))' })
		  : $c < 0.85 ? { sql => pick('min', 'max') . '(' . pick(@COLNAMES) . ')' }
		  : pick({ sql => 'sum(x) / count(*)' }, { sql => 'max(y) - min(y)', float => 1 },
			{ sql => 'max(ts) - min(ts)' }, { sql => 'count(*) - count(k)' },
			{ sql => 'max(x)::numeric - min(x)' });
	}
	my @targets = shuffle((map { { sql => $keys[$_], key => 1, alias => "gk$_" } } 0 .. $#keys), @aggs);
	my $agg_no = 0;
	$_->{alias} //= 'a' . ++$agg_no foreach @targets;
	my %v = (
		targets => \@targets,
		group   => [@keys],
		where   => chance(0.35) ? pick('x > 0', "k <> 'b'", 'y IS NOT NULL', 'g % 2 = 0',
			'g IS NULL', "ts < timestamptz '2024-03-02 00:00:00+00'", 'n >= 0') : undef,
		having => chance(0.2) ? pick('count(*) > 1', 'sum(x) > 0', 'min(g) < 100') : undef);
	return \%v;
}

###########################################################################
# The test
###########################################################################

my @views;
foreach my $source ('t', 'p')
{
	foreach my $i (1 .. between(8, 12))
	{
		my $v = random_view($source);
		if ($i == 1)
		{
			# A fixed first view: the stale checks below use it.
			$v = {
				targets => [
					{ sql => 'g', key => 1, alias => 'g' },
					{ sql => 'count(*)', alias => 'c' },
					{ sql => 'sum(x)',   alias => 'sx' } ],
				group => ['g'] };
		}
		$v->{name}       = "v${source}_$i";
		$v->{source}     = $source;
		$v->{definition} = view_query($v, $source, 0);
		$v->{oracle}     = view_query($v, $source, 1);
		my $def = $v->{definition};
		$def =~ s/'/''/g;
		my ($rc, $out, $err) = run_sql("SELECT continuous.create_view('$v->{name}', '$def')");
		$v->{created} = ($rc == 0);
		ok($v->{created}, "create $v->{name} over empty $source")
		  or diag("seed=$seed: continuous.create_view('$v->{name}', \$\$ $v->{definition} \$\$)\n$err");
		push @views, $v;
	}
}

sync_ok('views created');
check_views('before any row', \@views);

my %kinds;
foreach my $round (1 .. $rounds)
{
	foreach my $b (1 .. between(10, 16))
	{
		my ($kind, $sql, $expected_error) = random_transaction(\&random_write);
		$kinds{$kind}++;
		transaction_ok($sql, $expected_error,
			"batch $round, transaction $b ($kind) runs as expected",
			"batch $round transaction $b ($kind)");
	}
	# Sometimes TRUNCATE a whole source between inserts of one transaction,
	# committed or rolled back: the views over it restart from that point.
	if (chance(0.5))
	{
		my $target = pick('t', 'p');
		my $end = chance(0.25) ? 'ROLLBACK' : 'COMMIT';
		$kinds{"truncate $target $end"}++;
		transaction_ok(
			"BEGIN;\nINSERT INTO $target (g, k) VALUES (1, 'before');\nTRUNCATE $target;\n"
			  . "INSERT INTO $target (g, k) VALUES (2, 'after'), (3, NULL);\n$end;\n",
			undef,
			"batch $round, TRUNCATE $target ($end) runs as expected",
			"batch $round truncate $target");
	}
	sync_ok("batch $round");
	check_views("batch $round", \@views);
}
note('transactions: ' . join(', ', map { "$_ $kinds{$_}" } sort keys %kinds));

my $counts = $node->safe_psql($db,
	"SELECT (SELECT count(*) FROM t) || ' ' || string_agg(n::text, ' ' ORDER BY c) FROM "
	  . "(SELECT tableoid::regclass::text AS c, count(*) AS n FROM p GROUP BY 1) s");
note("rows: t, then p_low, p_mid, p_rest: $counts");

# Both tables surely have rows now (and p_mid too, for the DELETE below).
$node->safe_psql($db, "INSERT INTO t (g, k) VALUES (1, 'last'); INSERT INTO p (g, k) VALUES (1, 'last'), (500, 'last');");
sync_ok('last rows');
check_views('last rows', \@views);

# A view over a table that already has rows starts from them (backfill).
foreach my $source ('t', 'p')
{
	$node->safe_psql($db,
		"SELECT continuous.create_view('filled_$source', 'SELECT g, count(*) AS n, sum(x) AS s FROM $source GROUP BY g')");
	sync_ok("backfill of filled_$source");
	is($node->safe_psql($db,
			"SELECT count(*) FROM ((TABLE filled_$source EXCEPT ALL SELECT g, count(*), sum(x) FROM $source GROUP BY g) "
			  . "UNION ALL (SELECT g, count(*), sum(x) FROM $source GROUP BY g EXCEPT ALL TABLE filled_$source)) d"),
		'0', "a view created over $source with rows equals its definition");
	$node->safe_psql($db, "DROP VIEW filled_$source");
}

# UPDATE marks the views over t stale; views over p stay exact.
is($node->safe_psql($db,
		'WITH u AS (UPDATE t SET tb = tb WHERE ctid IN (SELECT ctid FROM t LIMIT 3) RETURNING 1) '
		  . 'SELECT count(*) > 0 FROM u'),
	't', 'UPDATE of t changes rows');
sync_ok('after UPDATE of t');
is($node->safe_psql($db, "SELECT state FROM continuous.views WHERE name = 'vt_1'::regclass"),
	'stale', 'UPDATE of t marks vt_1 stale');
{
	my ($rc, $out, $err) = run_sql('SELECT * FROM vt_1');
	like($err, qr/WARNING/, 'reading the stale view vt_1 emits a WARNING');
}
is($node->safe_psql($db,
		"SELECT count(*) FROM continuous.views WHERE state = 'stale' AND name::text LIKE 'vp\\_%'"),
	'0', 'views over p are not stale after an UPDATE of t');
check_views('after UPDATE of t', [ grep { $_->{source} eq 'p' } @views ]);

# A DELETE from one partition marks the views over p stale.
is($node->safe_psql($db,
		'WITH d AS (DELETE FROM p_mid WHERE ctid IN (SELECT ctid FROM p_mid LIMIT 2) RETURNING 1) '
		  . 'SELECT count(*) > 0 FROM d'),
	't', 'DELETE from p_mid removes rows');
sync_ok('after DELETE from p_mid');
is($node->safe_psql($db, "SELECT state FROM continuous.views WHERE name = 'vp_1'::regclass"),
	'stale', 'DELETE from a partition of p marks vp_1 stale');
{
	my ($rc, $out, $err) = run_sql('SELECT * FROM vp_1');
	like($err, qr/WARNING/, 'reading the stale view vp_1 emits a WARNING');
}

$node->stop;
done_testing();
