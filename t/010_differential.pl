# t/010_differential.pl: randomized differential test of continuous views over
# streams (DESIGN.md 3.1, equivalence).
#
# Each round creates a fresh stream ev_R and a plain table sh_R with the same
# columns, then random continuous views over ev_R.  Random transactions write
# the same rows to both (multi-row INSERT, INSERT ... SELECT, COPY in text,
# csv and binary, some rolled back, some with savepoints rolled back, some
# aborted by an error).  After continuous.sync(), every view must equal, as a
# multiset, its defining query run over sh_R.  Halfway through a round a few
# more views are created; they count only what commits after them, so their
# oracle is a third table, sl_R, written from then on.
#
# Environment:
#   CONTINUOUS_TEST_SEED     seed of Perl's generator (default 12345)
#   CONTINUOUS_TEST_ROUNDS   number of rounds (default 15, about a minute)
#
# A failure prints the seed, the round, the view's definition, its oracle
# query and the first differing rows; rerun with the same seed to reproduce.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousDiff qw(
  $EPS8 $EPS4
  setup_test
  pick chance between shuffle digits
  sql_literal csv_field text_field
  random_transaction view_query
  run_sql transaction_ok sync_ok check_views);

my $db = 'postgres';
my ($seed, $rounds, $node) = setup_test(
	name                 => 'differential',
	title                => 'differential test',
	db                   => $db,
	default_rounds       => 15,
	detailed_diagnostics => 1);

my $tmpdir = PostgreSQL::Test::Utils::tempdir;

###########################################################################
# Events
###########################################################################

# The stream's columns, in order.
my @COLS = (
	[ g  => 'int' ],
	[ k  => 'text' ],
	[ x  => 'bigint' ],
	[ s  => 'smallint' ],
	[ n  => 'numeric' ],
	[ y  => 'float8' ],
	[ r  => 'real' ],
	[ ts => 'timestamptz' ],
	[ lt => 'timestamp' ],
	[ tb => 'bigint' ]);
my @COLNAMES = map { $_->[0] } @COLS;
my $COLDEFS  = join(', ', map { "$_->[0] $_->[1]" } @COLS);
my $COLUMN_LIST = join(', ', map { $_->[0] } @COLS);

# The oracle tables number their rows in the order they were inserted, the
# order of the stream's events: aggregates without ORDER BY that a view
# runs in applied order are checked against the same aggregate ORDER BY seq.
my $ORACLE_COLDEFS = "$COLDEFS, seq bigint GENERATED ALWAYS AS IDENTITY";

my @TEXTS = (
	'a', 'b', 'c', 'd', 'B', '', 'x y', "it's", 'comma,here', 'say "hi"',
	"\xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
	'back\\slash', "tab\there", 'NULL', '\\N', ' lead', 'trail ');

# A timestamp within three days from 2024-03-01, as text (UTC).
sub random_time
{
	my ($with_tz) = @_;
	my $t = 1709251200 + int(rand(3 * 86400));
	my @tm = gmtime($t);
	my $s = sprintf('%04d-%02d-%02d %02d:%02d:%02d',
		$tm[5] + 1900, $tm[4] + 1, $tm[3], $tm[2], $tm[1], $tm[0]);
	$s .= sprintf('.%06d', int(rand(1_000_000))) if chance(0.3);
	$s .= '+00' if $with_tz;
	return $s;
}

# One event as a list of text values (undef is NULL), drawn from the round's
# profile: key cardinality, NULL rate, rate of extreme values.
sub random_row
{
	my ($p) = @_;
	my $ext = $p->{extreme};
	my %v;

	$v{g} =
	  chance($ext)
	  ? pick('2147483647', '-2147483648', '-1', '0')
	  : int(rand($p->{card})) - (chance(0.1) ? int($p->{card} / 2) : 0);
	$v{k} = chance(0.5) ? pick(@TEXTS) : 'k' . int(rand($p->{card}));
	$v{x} =
	  chance($ext)
	  ? pick('4611686018427387904', '-4611686018427387904',
		'46116860184273' . digits(5), '-46116860184273' . digits(5),
		'9223372036854775807', '-9223372036854775808', '0')
	  : int(rand(2_000_001)) - 1_000_000;
	$v{s} =
	  chance($ext)
	  ? pick('32767', '-32768', '0')
	  : int(rand(201)) - 100;
	if (chance($ext))
	{
		$v{n} = pick(
			(chance(0.5) ? '-' : '') . digits(between(1, 30)) . '.' . digits(between(1, 20)),
			'0.' . ('0' x 20) . digits(3),
			'-' . digits(25),
			'NaN');
	}
	else
	{
		$v{n} = sprintf('%d.%02d', int(rand(20001)) - 10000, int(rand(100)));
	}
	$v{y} =
	  chance($ext)
	  ? pick('1e100', '-1e100', '1e-300', '-2.5e-310', '0', '-0',
		'123456789.123456789', sprintf('%.17g', rand() * 1e15))
	  : sprintf('%.6f', rand() * 200 - 100);
	$v{r} =
	  chance($ext)
	  ? pick('1e30', '-1e30', '1e-30', '0', '-0', '16777217')
	  : sprintf('%.3f', rand() * 100 - 50);
	$v{ts} =
	  chance($ext)
	  ? pick('1901-12-13 20:45:52+00', '2099-12-31 23:59:59.999999+00',
		'2024-03-01 12:00:00+05:30', '2000-02-29 00:00:00-08')
	  : random_time(1);
	$v{lt} =
	  chance($ext)
	  ? pick('1901-12-13 20:45:52', '2099-12-31 23:59:59.999999', '2000-02-29 00:00:00')
	  : random_time(0);
	$v{tb} =
	  chance($ext)
	  ? pick('-123456789', '999999999999', '0', '-1')
	  : int(rand(200_000));

	foreach my $c (@COLNAMES)
	{
		$v{$c} = undef if chance($p->{nullp});
	}
	return [ map { $v{$_} } @COLNAMES ];
}

# Row counts for one write: mostly small, sometimes large.
sub batch_size
{
	my $c = rand();
	return 1                     if $c < 0.15;
	return between(2, 20)        if $c < 0.6;
	return between(21, 300)      if $c < 0.9;
	return between(1000, 4000);
}

my $op_counter = 0;

# Each write_* returns SQL that writes the same rows to every table in
# @$targets (the stream first, so that an autocommit script that fails on
# the stream stops before the oracle tables diverge).

# INSERT ... VALUES, sometimes with a column list in another order.
sub write_values
{
	my ($p, $targets) = @_;
	my @rows = map { random_row($p) } 1 .. batch_size();
	my @idx = (0 .. $#COLNAMES);
	my $collist = '';
	if (chance(0.3))
	{
		@idx = shuffle(@idx);
		splice(@idx, between(1, scalar @idx)) if chance(0.5);
		$collist = ' (' . join(', ', map { $COLNAMES[$_] } @idx) . ')';
	}
	my $values = join(",\n",
		map { my $r = $_; '(' . join(', ', map { sql_literal($r->[$_]) } @idx) . ')' } @rows);
	return join('', map { "INSERT INTO $_$collist VALUES\n$values;\n" } @$targets);
}

# INSERT ... SELECT over generate_series, computed the same way for every
# target.
sub write_series
{
	my ($p, $targets) = @_;
	my $from = between(-500, 500);
	my $to   = $from + batch_size() - 1;
	my $card = $p->{card};
	my $mul  = pick(1, 7919, 1_000_003, 3_037_000_493);
	my $off  = between(0, 1_000_000);
	my $mod  = between(2, 40);
	my $sel  = <<"SQL";
SELECT CASE WHEN i % 17 = 0 THEN NULL ELSE i % $card END,
       'k' || (i % $mod),
       i::bigint * $mul - $off,
       (i % 200 - 100)::smallint,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i * 0.125 - $off END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE i * 0.5 - 7.25 END,
       (i % 64)::real / 8,
       timestamptz '2024-03-01 00:00:00+00' + i * interval '37 seconds',
       timestamp '2024-03-01 00:00:00' + i * interval '41 seconds',
       CASE WHEN i % 7 = 0 THEN NULL ELSE i * 13 END
FROM generate_series($from, $to) AS i
SQL
	return join('', map { "INSERT INTO $_\n$sel;\n" } @$targets);
}

# SQL that fills temp table $tmp with random rows from PostgreSQL's
# generator, seeded from ours so that a run is reproducible.
sub random_temp_table
{
	my ($p, $tmp, $rows) = @_;
	my $card = $p->{card};
	my $seedval = sprintf('%.6f', rand() * 2 - 1);
	return <<"SQL";
SELECT setseed($seedval);
CREATE TEMP TABLE $tmp AS
SELECT (random() * $card)::int AS g,
       chr(97 + (random() * 5)::int) AS k,
       ((random() - 0.5) * 1e12)::bigint AS x,
       ((random() - 0.5) * 60000)::int::smallint AS s,
       round(((random() - 0.5) * 1e6)::numeric, (random() * 6)::int) AS n,
       CASE WHEN random() < 0.1 THEN NULL ELSE (random() - 0.5) * 1000 END AS y,
       (random() * 100)::real AS r,
       timestamptz '2024-03-01 00:00:00+00' + random() * interval '3 days' AS ts,
       timestamp '2024-03-01 00:00:00' + random() * interval '3 days' AS lt,
       (random() * 1e6)::bigint AS tb
FROM generate_series(1, $rows);
SQL
}

# INSERT ... SELECT from a temp table of random rows.
sub write_temp
{
	my ($p, $targets) = @_;
	my $tmp = 'tmp_rows_' . ++$op_counter;
	my $sql = random_temp_table($p, $tmp, batch_size());
	$sql .= "INSERT INTO $_ SELECT * FROM $tmp;\n" foreach @$targets;
	return $sql . "DROP TABLE $tmp;\n";
}

# COPY FROM STDIN in csv or text format, sometimes with a column list.
sub write_copy
{
	my ($p, $targets, $format) = @_;
	my @rows = map { random_row($p) } 1 .. batch_size();
	my @idx = (0 .. $#COLNAMES);
	# The oracle tables have one more column (seq): name the others.
	@idx = shuffle(@idx) if chance(0.25);
	my $collist = ' (' . join(', ', map { $COLNAMES[$_] } @idx) . ')';
	my ($data, $opts);
	if ($format eq 'csv')
	{
		$opts = ' (FORMAT csv)';
		$data = join('', map { my $r = $_; join(',', map { csv_field($r->[$_]) } @idx) . "\n" } @rows);
	}
	else
	{
		$opts = '';
		$data = join('', map { my $r = $_; join("\t", map { text_field($r->[$_]) } @idx) . "\n" } @rows);
	}
	return join('', map { "COPY $_$collist FROM STDIN$opts;\n$data\\.\n" } @$targets);
}

# COPY FROM a server-side file in binary format, written from a temp table.
sub write_binary
{
	my ($p, $targets) = @_;
	my $id   = ++$op_counter;
	my $tmp  = "tmp_bin_$id";
	my $file = "$tmpdir/batch_$id.bin";
	my $sql  = random_temp_table($p, $tmp, batch_size());
	$sql .= "COPY $tmp TO '$file' (FORMAT binary);\n";
	$sql .= "COPY $_ ($COLUMN_LIST) FROM '$file' (FORMAT binary);\n" foreach @$targets;
	return $sql . "DROP TABLE $tmp;\n";
}

sub random_write
{
	my ($p, $targets) = @_;
	my $c = rand();
	return write_values($p, $targets) if $c < 0.35;
	return write_series($p, $targets) if $c < 0.5;
	return write_temp($p, $targets)   if $c < 0.65;
	return write_copy($p, $targets, 'csv')  if $c < 0.8;
	return write_copy($p, $targets, 'text') if $c < 0.9;
	return write_binary($p, $targets);
}

###########################################################################
# Views
###########################################################################

# Group keys: [expression, kind].  All are exact.
sub random_key_pool
{
	return (
		'g', 'k', 's', 'g % 3', 'lower(k)', '(x > 0)', "coalesce(k, '?')", 'length(k)',
		"continuous.tumble(ts, '" . pick(1, 5, 15, 60, 1440) . " minutes')",
		"continuous.tumble(ts, interval '10 minutes', timestamptz '2024-03-01 00:03:00+00')",
		"continuous.tumble(lt, '" . pick(30, 240) . " minutes')",
		'continuous.tumble(tb, ' . pick(7, 1000, 100000) . ')',
		'continuous.tumble(tb, 1000, 250)');
}

# Aggregates: { sql, float, tol, eps }.  For an output whose value depends
# on summation order, tol is an oracle-side expression M such that any
# order's result is within eps * M of the oracle's.  Sometimes a plain
# aggregate gets a FILTER clause (its tolerance, if any, is an upper bound
# still, computed over all rows).
my @FILTERS = ('x > 0', "k <> 'b'", 'g % 2 = 0', 'y IS NOT NULL AND y < 0.5', 'n IS NULL');

sub random_aggregate
{
	my $agg = random_plain_aggregate();
	if ($agg->{sql} =~ /^(count|sum|avg|min|max)\((\w+)\)$/ && !$agg->{float} && chance(0.15))
	{
		# DISTINCT over exact types; float sums over distinct values add in
		# sorted order in both, but keep the oracle simple.
		my %distinct = %$agg;
		$distinct{sql} = "$1(DISTINCT $2)";
		return \%distinct;
	}
	if ($agg->{sql} =~ /^(count|sum|avg|min|max)\([^()]*\)$/ && chance(0.25))
	{
		my %filtered = %$agg;
		$filtered{sql} .= ' FILTER (WHERE ' . pick(@FILTERS) . ')';
		return \%filtered;
	}
	return $agg;
}

sub random_plain_aggregate
{
	my $c = rand();
	if ($c < 0.12)
	{
		return { sql => 'count(*)' };
	}
	if ($c < 0.22)
	{
		return { sql => 'count(' . pick(@COLNAMES) . ')' };
	}
	if ($c < 0.42)
	{
		my $f   = pick('sum', 'avg');
		my $col = pick('g', 'x', 's', 'n', 'y', 'r');
		if ($col eq 'y')
		{
			return $f eq 'sum'
			  ? { sql => 'sum(y)', float => 1, tol => 'sum(abs(y)) * count(y)', eps => $EPS8 }
			  : { sql => 'avg(y)', float => 1, tol => 'sum(abs(y))', eps => $EPS8 };
		}
		if ($col eq 'r')
		{
			# sum(real) adds in float4; avg(real) in float8.
			return $f eq 'sum'
			  ? { sql => 'sum(r)', float => 1, tol => 'sum(abs(r::float8)) * count(r)', eps => $EPS4 }
			  : { sql => 'avg(r)', float => 1, tol => 'sum(abs(r::float8))', eps => $EPS8 };
		}
		return { sql => "$f($col)" };
	}
	if ($c < 0.75)
	{
		my $f = pick('min', 'max');
		my $col = pick('g', 'x', 's', 'n', 'y', 'r', 'k', 'ts', 'lt', 'tb');
		return { sql => "$f($col)" };
	}
	if ($c >= 0.85 && $c < 0.93)
	{
		# Aggregates whose groups keep values or rows (ordered-set,
		# hypothetical-set, ORDER BY inside), in orders where equal keys
		# give equal results.
		return {
			sql => pick(
				# y + 0: -0 and 0 sort as equal, and either may be the
				# median, in the view as in PostgreSQL.
				'percentile_cont(0.5) WITHIN GROUP (ORDER BY y + 0)',
				'percentile_cont(ARRAY[0.25, NULL, 0.75]) WITHIN GROUP (ORDER BY x DESC)',
				'percentile_disc(0.5) WITHIN GROUP (ORDER BY k)',
				'mode() WITHIN GROUP (ORDER BY s)',
				'rank(0) WITHIN GROUP (ORDER BY x)',
				'cume_dist(0.5) WITHIN GROUP (ORDER BY y NULLS FIRST)',
				"string_agg(k, ',' ORDER BY k NULLS FIRST)",
				'array_agg(g ORDER BY g DESC)')
		};
	}
	if ($c >= 0.80 && $c < 0.85)
	{
		# Aggregates without a combine function and without ORDER BY: the
		# view runs them over the events in the order they were applied.
		my ($f, $args) = @{ pick(
				[ 'string_agg', "k, ','" ], [ 'array_agg', 'g' ], [ 'array_agg', 'ts' ],
				[ 'json_agg', 'x' ], [ 'json_object_agg', "coalesce(k, '?'), n" ],
				[ 'array_agg', 'y' ], [ 'jsonb_agg', 'k' ], [ 'xmlagg', 'xmlelement(name v, g)' ]) };
		my $filter = chance(0.3) ? ' FILTER (WHERE ' . pick(@FILTERS) . ')' : '';
		return { sql => "$f($args)$filter", oracle => "$f($args ORDER BY seq)$filter" };
	}
	if ($c >= 0.93)
	{
		# The value of the row with the greatest (least) time; ties go to
		# the greatest (least) value, so any order of events agrees.
		my $f = pick('continuous.first', 'continuous.last');
		return { sql => $f . '(' . pick('g', 'x', 's', 'n', 'y', 'r', 'k', 'ts', 'tb') . ', '
			  . pick('ts', 'lt', 'g', 'x', 'k', 'tb') . ')' };
	}
	my @exprs = (
		{ sql => 'sum(x) / count(*)' },
		{ sql => 'sum(g) / count(g)' },
		{ sql => 'max(y) - min(y)', float => 1 },
		{ sql => 'sum(y) / count(*)', float => 1, tol => 'sum(abs(y))', eps => $EPS8 },
		{ sql => 'max(x)::numeric - min(x)' },
		{ sql => 'max(ts) - min(ts)' },
		{ sql => 'count(*) * 2 + count(k)' },
		{ sql => 'round(avg(n), 3)' },
		{ sql => "coalesce(max(k), '') || '/' || coalesce(min(k), '')" },
		{ sql => 'sum(g) + sum(s)' },
		{ sql => 'avg(g)::float8 * 2', float => 1 },
		{ sql => 'max(lt) - min(lt)' });
	return pick(@exprs);
}

my @WHERES = (
	'x > 0', "k <> 'b'", 'y IS NOT NULL', 'g % 2 = 0', 'n < 100',
	'tb BETWEEN 0 AND 100000', "k LIKE 'a%'", 'coalesce(s, 0) <> 7',
	'x > 0 AND y < 0.5', '(g IS NULL OR g < 3)', "ts::date <> date '2024-03-02'",
	"ts >= timestamptz '2024-03-02 00:00:00+00'", "lt < timestamp '2024-03-02 12:00'",
	'r > 10', "upper(k) IN ('A', 'B', '')", 'NOT (x < 0)', 'x IS NULL',
	'g > 2000000000');

# HAVING conditions never depend on summation order, so the oracle and the
# view keep the same groups.
my @HAVINGS = (
	'count(*) > 1', 'count(*) > 1', 'sum(x) > 0', "max(k) > 'b'", 'count(y) >= 1',
	'avg(n) > 0', 'min(g) < 5');

# A random view definition: a hash with the pieces needed to build the view's
# query over any source and to compare its rows.
sub random_view
{
	my %v;
	my $nkeys = pick(0, 1, 1, 1, 2, 2);
	my @pool  = shuffle(random_key_pool());
	my @keys  = @pool[ 0 .. $nkeys - 1 ];
	my @aggs  = map { random_aggregate() } 1 .. between(1, 4);
	my $floats = grep { $_->{float} } @aggs;

	# Sometimes a group key is left out of the target list; rows then have
	# no visible key and are compared exactly, so no float outputs then.
	my $hidden = ($nkeys > 0 && !$floats && chance(0.12)) ? 1 : 0;

	my @targets;
	for my $i (0 .. $#keys)
	{
		next if $hidden && $i == $#keys;
		push @targets, { sql => $keys[$i], key => 1, key_index => $i };
	}
	push @targets, @aggs;
	@targets = shuffle(@targets);
	my $agg_no = 0;
	for my $i (0 .. $#targets)
	{
		$targets[$i]{alias} = $targets[$i]{key} ? "gk$targets[$i]{key_index}" : 'a' . ++$agg_no;
		$targets[$i]{pos} = $i + 1;
	}

	# GROUP BY by expression, by output name, or by position.
	my $style = $hidden ? 'expr' : pick('expr', 'alias', 'ordinal');
	my @group;
	for my $i (0 .. $#keys)
	{
		my ($t) = grep { $_->{key} && $_->{key_index} == $i } @targets;
		push @group,
		    !$t                  ? $keys[$i]
		  : $style eq 'alias'   ? $t->{alias}
		  : $style eq 'ordinal' ? $t->{pos}
		  :                       $keys[$i];
	}

	$v{targets} = \@targets;
	$v{group}   = \@group;
	$v{hidden}  = $hidden;
	$v{where}   = chance(0.4) ? pick(@WHERES) : undef;
	$v{having}  = chance(0.2) ? pick(@HAVINGS) : undef;
	return \%v;
}

# Create views over $stream, their oracle reading $oracle_table.
sub create_views
{
	my ($round, $prefix, $count, $stream, $oracle_table) = @_;
	my @views;
	foreach my $i (1 .. $count)
	{
		my $v = random_view();
		$v->{name}       = "${prefix}_$i";
		$v->{definition} = view_query($v, $stream, 0);
		$v->{oracle}     = view_query($v, $oracle_table, 1);
		my $def = $v->{definition};
		$def =~ s/'/''/g;

		# The view's columns must be those of its defining query, as a
		# plain view over the stream has them.
		my $columns_of = sub {
			return "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', '"
			  . " ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$_[0]'::regclass"
			  . " AND attnum > 0 AND NOT attisdropped;\n";
		};
		my ($rc, $out, $err) = run_sql(
			"SELECT continuous.create_view('$v->{name}', '$def') IS NOT NULL;\n"
			  . "CREATE TEMP VIEW plain_$v->{name} AS $v->{definition};\n"
			  . $columns_of->($v->{name})
			  . $columns_of->("plain_$v->{name}"));
		$v->{created} = ($rc == 0);
		my @lines = split(/\n/, $out);
		my $same = ($rc == 0 && @lines == 3 && $lines[1] eq $lines[2]);
		ok($same, "round $round: create $v->{name}, with the columns of its query")
		  or diag("seed=$seed round=$round: continuous.create_view('$v->{name}', \$\$ $v->{definition} \$\$)\n"
			  . "  exit code $rc, stderr: $err\n"
			  . "  columns of the view / of the query: " . join("\n    ", '', @lines[ 1 .. $#lines ]));
		push @views, $v;
	}
	return \@views;
}

# Views whose windows close (lateness), over $stream: a window over ts or
# lt, maybe g % 3, and random aggregates.  The lateness puts the commit
# clock at 2024-03-02 00:00 when the view is created, so the events of
# earlier windows are late and later windows stay open, but for those that
# close while the round runs.  The view captures its late events; its
# oracle is the query over the oracle table less those (EXCEPT ALL), so
# every event must be applied or captured, once, whether its window is open
# or closed.  Half of them close by the event clock instead.
sub create_closing_views
{
	my ($round, $count, $stream, $oracle_table) = @_;
	my $lateness = $node->safe_psql($db, q{SELECT now() - timestamptz '2024-03-02 00:00:00+00'});
	my @views;
	foreach my $i (1 .. $count)
	{
		my %v;
		my $window = pick("continuous.tumble(ts, '15 minutes')", "continuous.tumble(lt, '1 hour')",
			"continuous.tumble(ts, interval '10 minutes', timestamptz '2024-03-01 00:03:00+00')");
		my @targets = ({ sql => $window, key => 1, key_index => 0 });
		my @group = ($window);
		if (chance(0.5))
		{
			push @targets, { sql => 'g % 3', key => 1, key_index => 1 };
			push @group, 'g % 3';
		}
		foreach (1 .. between(1, 3))
		{
			my $agg;
			do { $agg = random_aggregate() } while ($agg->{oracle});
			push @targets, $agg;
		}
		my $agg_no = 0;
		for my $j (0 .. $#targets)
		{
			$targets[$j]{alias} = $targets[$j]{key} ? "gk$targets[$j]{key_index}" : 'a' . ++$agg_no;
			$targets[$j]{pos} = $j + 1;
		}
		$v{targets} = \@targets;
		$v{group}   = \@group;
		$v{hidden}  = 0;
		$v{where}   = chance(0.3) ? pick(@WHERES) : undef;
		$v{name}    = "cv_${round}_$i";
		$v{definition} = view_query(\%v, $stream, 0);
		$v{oracle} = view_query(\%v,
			"(SELECT $COLUMN_LIST FROM $oracle_table EXCEPT ALL SELECT $COLUMN_LIST FROM $v{name}_late) AS src", 1);
		my $def = $v{definition};
		$def =~ s/'/''/g;
		# Or the event clock: windows close as the largest event time applied
		# passes them, and sometimes (idle_timeout) with the commit clock.
		my $clock = chance(0.5)
		  ? "lateness => '" . pick('5 minutes', '40 minutes', '3 hours') . "', clock => 'event', idle_timeout => '"
		  . pick('2 seconds', '1 hour') . "'"
		  : "lateness => '$lateness'";
		my ($rc, $out, $err) = run_sql("SELECT continuous.create_view('$v{name}', '$def', $clock, "
			  . "late_events => 'capture') IS NOT NULL;\n");
		$v{created} = ($rc == 0);
		ok($v{created}, "round $round: create $v{name}, whose windows close")
		  or diag("seed=$seed round=$round: $v{definition}\n  stderr: $err");
		push @views, \%v;
	}
	return \@views;
}

###########################################################################
# Rounds
###########################################################################

foreach my $round (1 .. $rounds)
{
	my %p = (
		card    => (3, 3000, 40, 12)[ ($round - 1) % 4 ],
		nullp   => pick(0, 0.05, 0.3),
		extreme => ($round % 2 == 0) ? pick(0.02, 0.2) : pick(0, 0.01),
		batches => between(20, 30));
	note(sprintf('round %d: cardinality %d, NULL rate %s, extreme rate %s, %d transactions',
		$round, $p{card}, $p{nullp}, $p{extreme}, $p{batches}));

	my ($stream, $shadow, $late_shadow) = ("ev_$round", "sh_$round", "sl_$round");
	$node->safe_psql($db,
		    "SELECT continuous.create_stream('$stream', '$COLDEFS');\n"
		  . "CREATE TABLE $shadow ($ORACLE_COLDEFS);\n"
		  . "CREATE TABLE $late_shadow ($ORACLE_COLDEFS);\n");

	my $views = create_views($round, "dv_$round", between(12, 20), $stream, $shadow);
	push @$views, @{ create_closing_views($round, between(1, 2), $stream, $shadow) };

	# Before any event: no rows, or one row for a view without GROUP BY.
	sync_ok("round $round, empty");
	check_views("round $round, before any event", $views, "round=$round");

	my $late = [];
	my @targets = ($stream, $shadow);
	my %kinds;
	foreach my $b (1 .. $p{batches})
	{
		if ($b == int($p{batches} / 2) + 1)
		{
			sync_ok("round $round, halfway");
			# Captured late events are written at the worker's checkpoints.
			$node->safe_psql($db, 'SELECT continuous.checkpoint()');
			check_views("round $round, halfway", $views, "round=$round");

			# Views created now count only what commits after them.
			$late = create_views($round, "lv_$round", between(2, 4), $stream, $late_shadow);
			push @targets, $late_shadow;
		}

		# The oracle tables receive exactly what the stream receives, so
		# whatever the outcome, they stay the oracle.
		my ($kind, $sql, $expected_error) =
		  random_transaction(sub { random_write(\%p, \@targets) }, more_savepoints => 1);
		$kinds{$kind}++;
		transaction_ok($sql, $expected_error,
			"round $round: transaction $b ($kind) runs as expected",
			"round=$round transaction $b ($kind)");
	}
	note("round $round transactions: "
		  . join(', ', map { "$_ $kinds{$_}" } sort keys %kinds));

	sync_ok("round $round, end");
	$node->safe_psql($db, 'SELECT continuous.checkpoint()');
	check_views("round $round, end", [ @$views, @$late ], "round=$round");
	note("round $round closing views (clock, closed windows, late changes): "
		  . $node->safe_psql($db, qq{SELECT string_agg(name || ' ' || clock || ' ' || closed_windows || ' ' || late_changes, ', ')
			FROM continuous.views WHERE lateness IS NOT NULL AND name::text LIKE 'cv\\_${round}\\_%'}));

	# Dropping views and the stream frees their state; a new round starts
	# from nothing.
	my $drops = join('', map { "SELECT continuous.drop_view('$_->{name}');\n" }
		  grep { $_->{created} } @$views, @$late);
	my ($rc, $out, $err) = run_sql(
		$drops
		  . "SELECT continuous.drop_stream('$stream');\n"
		  . "DROP TABLE $shadow, $late_shadow;\n");
	ok($rc == 0, "round $round: views and stream dropped") or diag("drop failed: $err");
}

$node->stop;
done_testing();
