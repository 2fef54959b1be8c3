# t/011_table_sources.pl: continuous views over ordinary tables whose rows
# change: the differential test of INSERT, UPDATE, DELETE and TRUNCATE.
#
# A plain table t and a range-partitioned table p whose partitions store
# their columns differently (one was created with its columns in another
# order and a dropped column, one with a dropped column first; both were
# attached with ATTACH PARTITION), so decoded tuples need conversion to the
# parent's row type.  Random views over t and over p are created while both
# are empty; between them they use every aggregate of @AGGREGATES (which the
# README's list of supported aggregates is checked against), with FILTER,
# DISTINCT, HAVING, WHERE and expressions over aggregates.  Random
# transactions follow: INSERT (multi-row, INSERT ... SELECT, COPY), UPDATE
# (of group keys, of filtered columns, to and from NULL, moving rows between
# partitions) and DELETE, into the parent or straight into a partition, some
# rolled back, some with savepoints rolled back or aborted by an error, some
# large enough to spill to disk in the reorder buffer
# (logical_decoding_work_mem is 64kB here), and TRUNCATE of a whole source.
# After continuous.sync() every view must equal its defining query
# (DESIGN.md 3.1); the table itself holds the oracle data.
#
# Then: a view created over a table with rows starts from them (backfill);
# without REPLICA IDENTITY FULL an UPDATE or DELETE marks the views of that
# table stale (a WARNING when read), and so does a TRUNCATE of one
# partition, without touching views of other tables.
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
	default_rounds => 4,
	conf           => { logical_decoding_work_mem => '64kB' });

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
CREATE EXTENSION hll;
CREATE EXTENSION tdigest;
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

# A condition picking some rows: a slice of one column's values.
sub random_condition
{
	return pick(
		'g % ' . between(3, 40) . ' = ' . between(0, 2),
		'tb % ' . between(5, 200) . ' = ' . between(0, 4),
		"k = '" . pick('a', 'b', 'c', 'k' . int(rand(50))) . "'",
		'x BETWEEN ' . between(-1e6, 1e6) . ' AND ' . between(-1e6, 1e6),
		'y IS NULL', 'n < ' . between(-500, 0), 'g IS NULL');
}

# An UPDATE: of group keys, of aggregated or filtered columns, to and from
# NULL; on p, changing g moves rows between partitions.
sub random_update
{
	my ($target) = @_;
	# At most one assignment per column; none can overflow.
	my @sets = (
		pick('g = g % 1000 + ' . between(-20, 20), 'g = ' . pick('NULL', between(-5, 1005))),
		pick("k = '" . pick('a', 'b', 'c', 'k' . int(rand(50))) . "'", 'k = NULL'),
		pick('x = -(x / 2)', 'x = x / 2 + ' . between(-1000, 1000), 'x = NULL'),
		pick('n = n * 2', 'n = ' . pick('NULL', "$_[1]")),
		pick('y = y + 1.5', 'y = NULL', 'y = -y'),
		"ts = ts + interval '" . between(1, 600) . " minutes'",
		pick('tb = tb + ' . between(1, 5000), 'tb = NULL'));
	my @chosen = (shuffle(@sets))[ 0 .. between(0, 2) ];
	return "UPDATE $target SET " . join(', ', @chosen) . ' WHERE ' . random_condition() . ";\n";
}

# One write into one table: t, p, or one of p's partitions.
sub random_write
{
	my ($target, $range) = @{ pick([ 't', undef ], [ 'p', undef ], [ 'p', undef ],
		[ 'p_low', [ -50, 9 ] ], [ 'p_mid', [ 10, 999 ] ], [ 'p_rest', [ 1000, 3000 ] ]) };
	my $op = rand();
	# On p_low and p_mid a changed g may leave the partition's range: only
	# the parent moves rows between partitions.
	return random_update($target =~ /^p_/ ? 'p' : $target, sprintf('%d.%02d', between(-99, 99), between(0, 99)))
	  if $op < 0.2;
	return "DELETE FROM $target WHERE " . random_condition() . ";\n" if $op < 0.3;
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

# Every aggregate the README lists as supported, as it is used here; each
# one is in some view over t and in some view over p.  float: a float
# result (order-dependent rounding), with tol its rounding bound if any.
# within: an approximate result, which must lie between the oracle's two
# bounds.  hll's estimate depends only on the set of hashed values, so it
# is compared exactly; a tdigest depends on the order rows and partial
# states were added in, so its median is compared with the exact 35th and
# 65th percentiles.
#
# The statistics of tb (at most 50000) and g % 100 (at most 99 in
# magnitude) can cancel to almost zero, where a relative bound means
# nothing: their tol is a scale of the sums they are computed from, times
# the row count, multiplied by float8's rounding unit.
my $XX = 'count(*) * 1e4';
my $XY = 'count(*) * 200 * max(abs(tb))::float8';
my $YY = 'count(*) * max(abs(tb))::float8 ^ 2';
my @AGGREGATES = (
	{ name => 'count',       sql => 'count(*)' },
	{ name => 'count',       sql => 'count(k)' },
	{ name => 'sum',         sql => 'sum(g)' },
	{ name => 'sum',         sql => 'sum(x)' },
	{ name => 'sum',         sql => 'sum(n)' },
	{ name => 'sum',         sql => 'sum((g % 100)::smallint)' },
	{ name => 'sum',         sql => 'sum(y)', float => 1, tol => 'sum(abs(y)) * count(y)' },
	{ name => 'sum',         sql => 'sum((tb * 0.37)::real)', float => 1, eps => $ContinuousDiff::EPS4, tol => 'sum(abs((tb * 0.37)::real)) * count(tb)' },
	{ name => 'sum',         sql => "sum(ts - timestamptz '2024-03-01 00:00:00+00')" },
	{ name => 'sum',         sql => 'sum(tb::money)' },
	{ name => 'avg',         sql => 'avg(g)' },
	{ name => 'avg',         sql => 'avg(x)' },
	{ name => 'avg',         sql => 'avg(n)' },
	{ name => 'avg',         sql => 'avg((g % 100)::smallint)' },
	{ name => 'avg',         sql => 'avg(y)', float => 1, tol => 'sum(abs(y))' },
	{ name => 'avg',         sql => "avg(ts - timestamptz '2024-03-01 00:00:00+00')" },
	{ name => 'min',         sql => 'min(x)' },
	{ name => 'min',         sql => 'min(k)' },
	{ name => 'min',         sql => 'min(ts)' },
	{ name => 'min',         sql => 'min(n)' },
	{ name => 'max',         sql => 'max(y)' },
	{ name => 'max',         sql => 'max(g)' },
	{ name => 'max',         sql => 'max(k)' },
	{ name => 'max',         sql => 'max(tb)' },
	{ name => 'stddev',      sql => 'stddev(x)' },
	{ name => 'stddev_pop',  sql => 'stddev_pop(g)' },
	{ name => 'stddev_samp', sql => 'stddev_samp(n)' },
	{ name => 'variance',    sql => 'variance((g % 100)::smallint)' },
	{ name => 'var_pop',     sql => 'var_pop(tb::float8)', float => 1, tol => "$YY" },
	{ name => 'var_samp',    sql => 'var_samp(tb)' },
	{ name => 'corr',        sql => 'corr(tb, g % 100)', float => 1, tol => 'count(*)' },
	{ name => 'covar_pop',   sql => 'covar_pop(tb, g % 100)', float => 1, tol => "$XY" },
	{ name => 'covar_samp',  sql => 'covar_samp(tb, g % 100)', float => 1, tol => "$XY" },
	{ name => 'regr_avgx',   sql => 'regr_avgx(tb, g % 100)', float => 1, tol => "$XX" },
	{ name => 'regr_avgy',   sql => 'regr_avgy(tb, g % 100)', float => 1, tol => "$XY" },
	{ name => 'regr_count',  sql => 'regr_count(tb, g)' },
	{ name => 'regr_intercept', sql => 'regr_intercept(tb, g % 100)', float => 1, tol => "$XY" },
	{ name => 'regr_r2',     sql => 'regr_r2(tb, g % 100)', float => 1, tol => 'count(*)' },
	{ name => 'regr_slope',  sql => 'regr_slope(tb, g % 100)', float => 1, tol => "$XY" },
	{ name => 'regr_sxx',    sql => 'regr_sxx(tb, g % 100)', float => 1, tol => "$XX" },
	{ name => 'regr_sxy',    sql => 'regr_sxy(tb, g % 100)', float => 1, tol => "$XY" },
	{ name => 'regr_syy',    sql => 'regr_syy(tb, g % 100)', float => 1, tol => "$YY" },
	{ name => 'bool_and',    sql => 'bool_and(x > 0)' },
	{ name => 'bool_or',     sql => "bool_or(k = 'a')" },
	{ name => 'every',       sql => 'every(y < 5)' },
	{ name => 'bit_and',     sql => 'bit_and(tb)' },
	{ name => 'bit_or',      sql => 'bit_or(g)' },
	{ name => 'bit_xor',     sql => 'bit_xor(tb)' },
	{ name => 'count',       sql => 'count(DISTINCT k)' },
	{ name => 'sum',         sql => 'sum(DISTINCT g % 10)' },
	{ name => 'array_agg',   sql => 'array_agg(DISTINCT k)' },
	{ name => 'string_agg',  sql => "string_agg(DISTINCT k, ',')" },
	{ name => 'string_agg',  sql => "string_agg(DISTINCT k, ' > ' ORDER BY k DESC)" },
	{ name => 'count',       sql => 'count(*) FILTER (WHERE y > 0)' },
	{ name => 'max',         sql => "max(x) FILTER (WHERE k <> 'a')" },
	{ name => 'sum',         sql => 'sum(n) FILTER (WHERE g % 3 = 0)' },
	{ name => 'min',         sql => 'min(DISTINCT tb) FILTER (WHERE tb % 2 = 0)' },
	{ name => 'last',        sql => 'continuous.last(x, ts)' },
	{ name => 'last',        sql => 'continuous.last(y, g % 10)' },
	{ name => 'first',       sql => 'continuous.first(k, tb)' },
	{ name => 'first',       sql => 'continuous.first(ts, g)' },
	{ name => 'percentile_cont', sql => 'percentile_cont(0.5) WITHIN GROUP (ORDER BY y)', float => 1 },
	{ name => 'percentile_cont', sql => "percentile_cont(ARRAY[0.25, NULL, 0.9]) WITHIN GROUP (ORDER BY ts - timestamptz '2024-03-01 00:00:00+00' DESC)" },
	{ name => 'percentile_disc', sql => 'percentile_disc(0.5) WITHIN GROUP (ORDER BY n)' },
	{ name => 'percentile_disc', sql => 'percentile_disc(ARRAY[0, 0.3, 1]) WITHIN GROUP (ORDER BY k DESC) FILTER (WHERE x > 0)' },
	{ name => 'mode',        sql => 'mode() WITHIN GROUP (ORDER BY g % 7)' },
	{ name => 'string_agg',  sql => "string_agg(k, ',' ORDER BY k DESC NULLS FIRST)" },
	{ name => 'array_agg',   sql => 'array_agg(tb ORDER BY tb NULLS FIRST)' },
	{ name => 'json_agg',    sql => 'json_agg(x ORDER BY x) FILTER (WHERE g % 2 = 0)' },
	# Without ORDER BY the view keeps the order rows were applied in, which
	# is not the order a table that was updated or is partitioned returns
	# them in: the elements are compared, not their order.
	{ name => 'string_agg',  sql => "string_agg(coalesce(k, '-'), ' ; ')", unordered => ' ; ' },
	{ name => 'array_agg',   sql => 'array_agg(tb)', unordered => 'array' },
	{ name => 'array_agg',   sql => 'array_agg(g % 10) FILTER (WHERE x > 0)', unordered => 'array' },
	{ name => 'json_agg',    sql => 'json_agg(n)', unordered => 'json' },
	{ name => 'jsonb_agg',   sql => 'jsonb_agg(k) FILTER (WHERE k IS NULL OR length(k) < 3)', unordered => 'json' },
	{ name => 'json_object_agg', sql => "json_object_agg(coalesce(k, '-'), g)", unordered => 'json' },
	{ name => 'jsonb_object_agg', sql => "jsonb_object_agg(coalesce(k, '-'), 1)" },
	{ name => 'xmlagg',      sql => 'xmlagg(xmlelement(name v, coalesce(tb, 0)))', unordered => '</v>' },
	{ name => 'rank',        sql => 'rank(50) WITHIN GROUP (ORDER BY g % 100)' },
	{ name => 'dense_rank',  sql => "dense_rank('m') WITHIN GROUP (ORDER BY k DESC)" },
	{ name => 'percent_rank', sql => 'percent_rank(0) WITHIN GROUP (ORDER BY x NULLS FIRST)', float => 1 },
	{ name => 'cume_dist',   sql => 'cume_dist(2.5) WITHIN GROUP (ORDER BY y)', float => 1 },
	{ name => 'hll_add_agg', sql => 'hll_cardinality(hll_add_agg(hll_hash_text(k)))' },
	{ name => 'hll_add_agg', sql => 'hll_cardinality(hll_add_agg(hll_hash_bigint(tb)))' },
	{ name => 'tdigest_percentile', sql => 'tdigest_percentile(tb, 100, 0.5)',
	  within => [ 'percentile_cont(0.35) WITHIN GROUP (ORDER BY tb)', 'percentile_cont(0.65) WITHIN GROUP (ORDER BY tb)' ] },
	{ name => 'expression',  sql => 'sum(x) / count(*)' },
	{ name => 'expression',  sql => 'max(ts) - min(ts)' },
	{ name => 'expression',  sql => 'max(x)::numeric - min(x)' },
	{ name => 'expression',  sql => 'max(y) - min(y)', float => 1 });

# A random view; $must lists aggregates it uses besides random ones.
sub random_view
{
	my ($source, @must) = @_;
	my @key_pool = (
		'g', 'k', 'g % 4', 'lower(k)', '(x > 0)',
		"continuous.tumble(ts, '" . pick(1, 10, 60, 1440) . " minutes')",
		'continuous.tumble(tb, ' . pick(100, 5000) . ')');
	my @keys = (shuffle(@key_pool))[ 0 .. pick(0, 1, 1, 2) - 1 ];
	my @aggs = (@must, map { pick(@AGGREGATES) } 1 .. between(0, 2));
	@aggs = ({ sql => 'count(*)' }) unless @aggs;
	my @targets = shuffle((map { { sql => $keys[$_], key => 1, alias => "gk$_" } } 0 .. $#keys),
		map { {%$_} } @aggs);
	my $agg_no = 0;
	$_->{alias} = $_->{key} ? $_->{alias} : 'a' . ++$agg_no foreach @targets;
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
	# Every aggregate in some view over each source, three or so per view.
	my @pending = shuffle(@AGGREGATES);
	my $nviews = 1 + int((@pending + 2) / 3);
	foreach my $i (1 .. $nviews)
	{
		my $v;
		if ($i > 1)
		{
			$v = random_view($source, splice(@pending, 0, 3));
		}
		else
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

# Every aggregate of @AGGREGATES was in a view over each source.
foreach my $source ('t', 'p')
{
	my %used;
	foreach my $v (grep { $_->{source} eq $source && $_->{created} } @views)
	{
		$used{ $_->{sql} } = 1 foreach @{ $v->{targets} };
	}
	my @missing = grep { !$used{ $_->{sql} } } @AGGREGATES;
	ok(!@missing, "every aggregate was maintained over $source")
	  or diag('not in any view: ' . join(', ', map { $_->{sql} } @missing));
}

# The README lists exactly the aggregates this test maintains.
{
	my $readme = PostgreSQL::Test::Utils::slurp_file("$ENV{TESTDIR}/README.md");
	my ($list) = $readme =~ /<!-- aggregates: begin -->(.*?)<!-- aggregates: end -->/s;
	my %listed = map { $_ => 1 } ($list // '') =~ /`(\w+)`/g;
	my %tested = map { $_->{name} => 1 } grep { $_->{name} ne 'expression' } @AGGREGATES;
	is(join(' ', sort keys %listed), join(' ', sort keys %tested),
		'the README lists the aggregates this test maintains over changing tables');
}

# Without REPLICA IDENTITY FULL an UPDATE's old values are unknown: the
# views over t become stale; views over p stay exact.
$node->safe_psql($db, 'ALTER TABLE t REPLICA IDENTITY DEFAULT');
is($node->safe_psql($db,
		'WITH u AS (UPDATE t SET tb = tb WHERE ctid IN (SELECT ctid FROM t LIMIT 3) RETURNING 1) '
		  . 'SELECT count(*) > 0 FROM u'),
	't', 'UPDATE of t changes rows');
sync_ok('after UPDATE of t');
is($node->safe_psql($db, "SELECT state FROM continuous.views WHERE name = 'vt_1'::regclass"),
	'stale', 'UPDATE of t without REPLICA IDENTITY FULL marks vt_1 stale');
like($node->safe_psql($db, "SELECT stale_reason FROM continuous.views WHERE name = 'vt_1'::regclass"),
	qr/REPLICA IDENTITY is not FULL/, 'the stale reason names the replica identity');
{
	my ($rc, $out, $err) = run_sql('SELECT * FROM vt_1');
	like($err, qr/WARNING/, 'reading the stale view vt_1 emits a WARNING');
}
is($node->safe_psql($db,
		"SELECT count(*) FROM continuous.views WHERE state = 'stale' AND name::text LIKE 'vp\\_%'"),
	'0', 'views over p are not stale after an UPDATE of t');
check_views('after UPDATE of t', [ grep { $_->{source} eq 'p' } @views ]);

# A TRUNCATE of one partition of p marks the views over p stale: they do
# not know which of their rows came from it.
$node->safe_psql($db, 'TRUNCATE p_mid');
sync_ok('after TRUNCATE of p_mid');
is($node->safe_psql($db, "SELECT state FROM continuous.views WHERE name = 'vp_1'::regclass"),
	'stale', 'TRUNCATE of a partition of p marks vp_1 stale');
{
	my ($rc, $out, $err) = run_sql('SELECT * FROM vp_1');
	like($err, qr/WARNING/, 'reading the stale view vp_1 emits a WARNING');
}

$node->stop;
done_testing();
