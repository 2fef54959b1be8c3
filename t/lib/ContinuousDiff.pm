# t/lib/ContinuousDiff.pm: the pieces the randomized differential TAP tests
# (t/010_differential.pl, t/011_table_sources.pl) share.
#
#   use ContinuousDiff qw(setup_test pick chance between run_sql sync_ok check_views ...);
#
#   my $db = 'postgres';
#   my ($seed, $rounds, $node) = setup_test(
#       name => 'differential', title => 'differential test', db => $db,
#       default_rounds => 15);
#
# setup_test() reads CONTINUOUS_TEST_SEED and CONTINUOUS_TEST_ROUNDS, seeds
# Perl's generator, starts a node with the extension and waits for its
# worker (without one, the test stops there).  Every other function here
# that talks to the server uses that node and database.  Failure
# diagnostics name the seed, so that a failure can be rerun with it (a
# failed sync names it only with detailed_diagnostics, as before the move).
#
# The random helpers draw from Perl's one generator (rand), exactly as the
# tests' own code does, so moving code here does not change a run.
#
# A view is a hash: targets (each { sql, alias, key, float, tol, eps,
# within }),
# group, where, having, hidden (a group key is not in the target list), and
# once created name, definition, oracle (its query with the tolerance
# columns, see view_query) and created.

package ContinuousDiff;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousCluster;

our @EXPORT_OK = qw(
  $EPS8 $EPS4
  setup_test
  pick chance between shuffle digits
  sql_literal csv_field text_field
  random_transaction view_query
  run_sql fetch_rows transaction_ok sync_ok
  show value_matches compare_view check_views);

# Rounding unit of float8 and float4 arithmetic, doubled.  A sum of n values
# in any order or tree is within (n - 1) * u * sum(|x|) of any other.
our $EPS8 = 2.3e-16;
our $EPS4 = 1.2e-7;

# psql output: fields and records split by control characters the data never
# holds, and a NULL marker no value can equal.
my $FS   = "\x1f";
my $RS   = "\x1e";
my $NULL = "\x01NULL\x01";
my @READ_PARAMS = ('-F', $FS, '-R', $RS, '-P', "null=$NULL");

# Set by setup_test.
my ($node, $db, $seed);

# How many views check_views has read, to alternate how it reads them.
my $view_scan_reads = 0;
my $detailed = 0;

###########################################################################
# Setup
###########################################################################

# setup_test(%opts) returns ($seed, $rounds, $node).  Options:
#   name            the node's name
#   title           what the first diagnostic calls the test
#   db              the database (default postgres)
#   default_rounds  CONTINUOUS_TEST_ROUNDS when unset
#   conf            extra postgresql.conf settings, as a hash reference
#   detailed_diagnostics
#                   failures also tell the seed when sync fails, the
#                   expected column count of a malformed view row and the
#                   row counts of view and oracle
sub setup_test
{
	my (%opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$seed = $ENV{CONTINUOUS_TEST_SEED} // 12345;
	my $rounds = $ENV{CONTINUOUS_TEST_ROUNDS} // $opts{default_rounds};
	die "CONTINUOUS_TEST_SEED must be an integer\n"   unless $seed =~ /^\d+$/;
	die "CONTINUOUS_TEST_ROUNDS must be an integer\n" unless $rounds =~ /^\d+$/;
	diag("$opts{title}: CONTINUOUS_TEST_SEED=$seed CONTINUOUS_TEST_ROUNDS=$rounds");
	srand($seed);

	$db       = $opts{db} // 'postgres';
	$detailed = $opts{detailed_diagnostics} ? 1 : 0;
	$node     = ContinuousCluster::new_node($opts{name}, %{ $opts{conf} // {} });
	$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
	# Without a worker every later step would only wait for it: stop here.
	if (!ok(ContinuousCluster::wait_for_worker($node, $db), 'worker started'))
	{
		$node->stop;
		done_testing();
		exit;
	}
	return ($seed, $rounds, $node);
}

###########################################################################
# Random helpers
###########################################################################

sub pick { return $_[ int(rand(scalar @_)) ]; }
sub chance { return rand() < $_[0]; }
sub between { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }

sub shuffle
{
	my @a = @_;
	for (my $i = $#a; $i > 0; $i--)
	{
		my $j = int(rand($i + 1));
		@a[ $i, $j ] = @a[ $j, $i ];
	}
	return @a;
}

sub digits { my ($n) = @_; return join('', map { int(rand(10)) } 1 .. $n); }

###########################################################################
# Writing values
###########################################################################

sub sql_literal
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	$v =~ s/'/''/g;
	return "'$v'";
}

sub csv_field
{
	my ($v) = @_;
	return '' unless defined $v;
	$v =~ s/"/""/g;
	return "\"$v\"";
}

sub text_field
{
	my ($v) = @_;
	return '\\N' unless defined $v;
	$v =~ s/\\/\\\\/g;
	$v =~ s/\t/\\t/g;
	$v =~ s/\n/\\n/g;
	$v =~ s/\r/\\r/g;
	return $v;
}

# random_transaction($write, %opts): one random transaction built from
# $write->(), which returns the SQL of one random write.  Returns (kind,
# sql, expected_error): expected_error is a regex for the single ERROR the
# script provokes on purpose, or undef.  With more_savepoints, a
# transaction with savepoints also writes after savepoint b ends and in a
# released savepoint c.
sub random_transaction
{
	my ($write, %opts) = @_;
	my $writes = sub { join('', map { $write->() } 1 .. between(1, $_[0])) };
	my $c = rand();
	if ($c < 0.15)
	{
		return ('autocommit', $writes->(2), undef);
	}
	if ($c < 0.55)
	{
		return ('commit', "BEGIN;\n" . $writes->(4) . "COMMIT;\n", undef);
	}
	if ($c < 0.65)
	{
		return ('rollback', "BEGIN;\n" . $writes->(3) . "ROLLBACK;\n", undef);
	}
	if ($c < 0.82)
	{
		my $sql = "BEGIN;\n" . $writes->(2);
		$sql .= "SAVEPOINT a;\n" . $writes->(2);
		if (chance(0.5))
		{
			$sql .= "SAVEPOINT b;\n" . $writes->(1);
			$sql .= chance(0.5) ? "RELEASE SAVEPOINT b;\n" : "ROLLBACK TO SAVEPOINT b;\n";
			$sql .= $writes->(1) if $opts{more_savepoints} && chance(0.5);
		}
		$sql .= "ROLLBACK TO SAVEPOINT a;\n";
		$sql .= $writes->(2) if chance(0.7);
		$sql .= "SAVEPOINT c;\n" . $writes->(1) . "RELEASE SAVEPOINT c;\n"
		  if $opts{more_savepoints} && chance(0.5);
		return ('savepoint', $sql . "COMMIT;\n", undef);
	}
	if ($c < 0.9)
	{
		# An error aborts the transaction; COMMIT then rolls back.
		my $sql = "BEGIN;\n" . $writes->(3);
		return ('error', $sql . "SELECT 1 / 0;\nCOMMIT;\n", qr/division by zero/);
	}
	# An error inside a savepoint, which is rolled back; the rest commits.
	my $sql = "BEGIN;\n" . $writes->(2);
	$sql .= "SAVEPOINT e;\n" . $writes->(2);
	$sql .= "SELECT 1 / 0;\nROLLBACK TO SAVEPOINT e;\n";
	$sql .= $writes->(2) if chance(0.7);
	return ('subxact_error', $sql . "COMMIT;\n", qr/division by zero/);
}

###########################################################################
# Views
###########################################################################

# The view's query over $source; with $for_oracle, each target's oracle
# expression (its oracle, or its sql) and then the tolerance expressions and
# the bounds of approximate targets as extra output columns, in target order.
sub view_query
{
	my ($v, $source, $for_oracle) = @_;
	my @t = map { ($for_oracle ? $_->{oracle} // $_->{sql} : $_->{sql}) . " AS $_->{alias}" }
	  @{ $v->{targets} };
	if ($for_oracle)
	{
		foreach my $t (@{ $v->{targets} })
		{
			push @t, "$t->{tol} AS tol_$t->{alias}" if $t->{tol};
			push @t, "$t->{within}[0] AS lo_$t->{alias}", "$t->{within}[1] AS hi_$t->{alias}"
			  if $t->{within};
		}
	}
	my $q = 'SELECT ' . join(', ', @t) . " FROM $source";
	$q .= " WHERE $v->{where}" if defined $v->{where};
	$q .= ' GROUP BY ' . join(', ', @{ $v->{group} }) if @{ $v->{group} };
	$q .= " HAVING $v->{having}" if defined $v->{having};
	return $q;
}

###########################################################################
# Running SQL
###########################################################################

sub run_sql
{
	my ($sql, %opts) = @_;
	my ($rc, $out, $err) = $node->psql(
		$db, $sql,
		timeout => $PostgreSQL::Test::Utils::timeout_default,
		%opts);
	return ($rc, $out // '', $err // '');
}

# Rows of a query as arrays of values (undef for NULL), or an error text;
# $settings, if given, are SET commands run before the query.
sub fetch_rows
{
	my ($sql, $settings) = @_;
	my ($rc, $out, $err) =
	  run_sql(($settings // '') . "SELECT 'R', * FROM ($sql) AS q", extra_params => [@READ_PARAMS]);
	return (undef, "psql exit code $rc: $err") if $rc != 0;
	return (undef, "unexpected messages: $err") if $err =~ /WARNING|ERROR/;
	my @rows;
	foreach my $rec (split(/$RS/, $out))
	{
		my @f = split(/$FS/, $rec, -1);
		my $marker = shift @f;
		return (undef, "malformed output record: $rec") unless defined $marker && $marker eq 'R';
		push @rows, [ map { $_ eq $NULL ? undef : $_ } @f ];
	}
	return (\@rows, undef);
}

# Run one random transaction's script; one test, named $name.  $where says
# which transaction in the diagnostic.
sub transaction_ok
{
	my ($sql, $expected_error, $name, $where) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($rc, $out, $err) = run_sql($sql, on_error_stop => $expected_error ? 0 : 1);
	my @errors = grep { /ERROR:/ } split(/\n/, $err);
	my $fine =
	  $expected_error
	  ? ($rc == 0 && @errors == 1 && $errors[0] =~ $expected_error)
	  : ($rc == 0 && !@errors);
	ok($fine, $name)
	  or diag("seed=$seed $where: exit code $rc\n"
		  . "stderr: $err\nscript (first 3000 characters):\n" . substr($sql, 0, 3000));
}

sub sync_ok
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($rc, $out, $err) = run_sql('SELECT continuous.sync()');
	ok($rc == 0, "sync ($what)")
	  or diag(($detailed ? "seed=$seed: " : '') . "continuous.sync() failed: $err");
}

###########################################################################
# Comparing
###########################################################################

sub show
{
	my ($row) = @_;
	return '(none)' unless $row;
	return '(' . join(', ', map { defined $_ ? "'$_'" : 'NULL' } @$row) . ')';
}

sub is_number
{
	return $_[0] =~ /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
}

# Does one view value match its oracle value?  $m is the order-dependence
# bound (oracle side) when the output is a float sum or average; $t->{eps}
# (default $EPS8) is the rounding unit it is multiplied by.  An approximate
# target ($t->{within}, such as a tdigest percentile) matches when it lies
# in the oracle's bounds [$lo, $hi].
# The elements of a list-valued output in sorted order, for a target whose
# order of elements is not compared ($t->{unordered}: 'array' for an array,
# 'json' for a JSON array or object, or the separator of a string_agg).
sub sorted_elements
{
	my ($unordered, $value) = @_;
	my ($inner, $sep) = ($value, $unordered);
	($inner, $sep) = ($value =~ /^\{(.*)\}$/s ? $1 : $value, ',') if $unordered eq 'array';
	($inner, $sep) = ($value =~ /^[\[\{]\s*(.*?)\s*[\]\}]$/s ? $1 : $value, ', ') if $unordered eq 'json';
	return join("\x{1}", sort split(/\Q$sep\E/, $inner, -1));
}

sub value_matches
{
	my ($t, $got, $want, $m, $lo, $hi) = @_;
	return !defined $want if !defined $got;
	return 0 if !defined $want;
	return sorted_elements($t->{unordered}, $got) eq sorted_elements($t->{unordered}, $want)
	  if $t->{unordered};
	if ($t->{within})
	{
		return 0 unless is_number($got) && is_number($lo) && is_number($hi);
		my $fuzz = 1e-9 * (abs($lo) > abs($hi) ? abs($lo) : abs($hi));
		return $got >= $lo - $fuzz && $got <= $hi + $fuzz;
	}
	return 1 if $got eq $want;
	# -0 and 0 are equal; which one min(), max() or a sort keeps depends on
	# the order rows come in (README).
	return 1 if is_number($got) && is_number($want) && $got == 0 && $want == 0;
	return 0 unless $t->{float} && is_number($got) && is_number($want);
	my $diff = abs($got - $want);
	my $tol  = 1e-9 * (abs($got) > abs($want) ? abs($got) : abs($want));
	$tol = 1e-300 if $tol < 1e-300;
	if (defined $m && is_number($m))
	{
		my $bound = ($t->{eps} // $EPS8) * abs($m);
		$tol = $bound if $bound > $tol;
	}
	return $diff <= $tol;
}

# Compare a view with its oracle.  Returns a list of difference messages.
sub compare_view
{
	my ($v, $view_rows, $oracle_rows) = @_;
	my @t = @{ $v->{targets} };
	# output column index -> index of its tolerance column, of its bounds
	my (@tol_index, @lo_index);
	my $next = scalar @t;
	for my $i (0 .. $#t)
	{
		$tol_index[$i] = $next++ if $t[$i]{tol};
		if ($t[$i]{within})
		{
			$lo_index[$i] = $next;
			$next += 2;
		}
	}
	my @diffs;
	foreach my $r (@$view_rows)
	{
		if (@$r != @t)
		{
			return ('view row has ' . scalar(@$r) . ' columns'
				  . ($detailed ? ', expected ' . scalar(@t) : '') . ': ' . show($r));
		}
	}

	if ($v->{hidden})
	{
		# Exact multiset comparison of whole rows.
		my %count;
		$count{ join($FS, map { $_ // $NULL } @$_) }++ foreach @$view_rows;
		$count{ join($FS, map { $_ // $NULL } @$_) }-- foreach @$oracle_rows;
		foreach my $k (sort keys %count)
		{
			next unless $count{$k};
			my $row = [ map { $_ eq $NULL ? undef : $_ } split(/$FS/, $k, -1) ];
			push @diffs,
			  $count{$k} > 0
			  ? "extra in view ($count{$k}x): " . show($row)
			  : "missing from view (" . -$count{$k} . 'x): ' . show($row);
		}
		return @diffs;
	}

	# Rows are identified by their group keys (all visible).
	my @key_cols = grep { $t[$_]{key} } 0 .. $#t;
	my $key_of = sub {
		my ($r) = @_;
		return join($FS, map { $r->[$_] // $NULL } @key_cols);
	};
	my (%vrow, %orow);
	foreach my $r (@$view_rows)
	{
		my $k = $key_of->($r);
		push @diffs, 'duplicate group in view: ' . show($r) if exists $vrow{$k};
		$vrow{$k} = $r;
	}
	foreach my $r (@$oracle_rows)
	{
		$orow{ $key_of->($r) } = $r;
	}
	my %all = (%vrow, %orow);
	foreach my $k (sort keys %all)
	{
		my ($got, $want) = ($vrow{$k}, $orow{$k});
		if (!$got)
		{
			push @diffs, 'missing from view: ' . show([ @$want[ 0 .. $#t ] ]);
			next;
		}
		if (!$want)
		{
			push @diffs, 'extra in view: ' . show($got);
			next;
		}
		my @bad;
		for my $i (0 .. $#t)
		{
			my $m = defined $tol_index[$i] ? $want->[ $tol_index[$i] ] : undef;
			my ($lo, $hi) = defined $lo_index[$i] ? @$want[ $lo_index[$i], $lo_index[$i] + 1 ] : ();
			push @bad, $t[$i]{alias} unless value_matches($t[$i], $got->[$i], $want->[$i], $m, $lo, $hi);
		}
		push @diffs,
		  'differs in ' . join(', ', @bad) . ': view ' . show($got) . ' oracle ' . show([ @$want[ 0 .. $#t ] ])
		  if @bad;
	}
	return @diffs;
}

# Reads of single groups by key (WHERE every key = its value: the view
# scan's group lookup) for the first, middle and last rows of the oracle
# whose keys are all visible and not NULL; differences, as compare_view's.
sub lookup_diffs
{
	my ($v, $orows) = @_;
	my @t = @{ $v->{targets} };
	my @key_cols = grep { $t[$_]{key} } 0 .. $#t;
	return () if $v->{hidden} || !@key_cols;
	my @candidates = grep {
		my $r = $_;
		!grep { !defined $r->[$_] } @key_cols
	} @$orows;
	return () unless @candidates;
	my %seen;
	my @picked = grep { !$seen{$_}++ } (0, int($#candidates / 2), $#candidates);
	my @diffs;
	foreach my $row (@candidates[@picked])
	{
		my $where = join(' AND ', map { "$t[$_]{alias} = " . sql_literal($row->[$_]) } @key_cols);
		my ($lrows, $lerr) =
		  fetch_rows("SELECT * FROM $v->{name} WHERE $where", 'SET continuous.enable_view_scan = on;');
		if ($lerr)
		{
			push @diffs, "reading the view WHERE $where failed: $lerr";
			next;
		}
		push @diffs, map { "WHERE $where: $_" } compare_view($v, $lrows, [$row]);
	}
	return @diffs;
}

# Check every created view against its oracle; one test per view, named
# "$label: <view> equals its definition".  $context, if given, follows the
# seed in the diagnostic (such as "round=3").
sub check_views
{
	my ($label, $views, $context) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	foreach my $v (@$views)
	{
		next unless $v->{created};
		# Reads alternate between the view scan and the function scan of
		# read_view() it replaces; both must equal the definition.
		my $scan = $view_scan_reads++ % 2 ? 'on' : 'off';
		my ($vrows, $verr) =
		  fetch_rows("SELECT * FROM $v->{name}", "SET continuous.enable_view_scan = $scan;");
		my ($orows, $oerr) = fetch_rows($v->{oracle});
		my @diffs;
		if ($verr)
		{
			@diffs = ("reading the view failed: $verr");
		}
		elsif ($oerr)
		{
			@diffs = ("the oracle query failed (a bug in this test): $oerr");
		}
		else
		{
			@diffs = compare_view($v, $vrows, $orows);
			push @diffs, lookup_diffs($v, $orows) unless @diffs;
		}
		my $ok = ok(!@diffs,
			"$label: $v->{name} equals its definition ("
			  . ($scan eq 'on' ? 'view scan' : 'function scan') . ')');
		if (!$ok)
		{
			my $n = @diffs;
			splice(@diffs, 8) if @diffs > 8;
			my $counts = '';
			if ($detailed)
			{
				$counts .= ', view ' . scalar(@$vrows) . ' rows' if $vrows;
				$counts .= ', oracle ' . scalar(@$orows) . ' rows' if $orows;
			}
			my $where = defined $context ? " $context" : '';
			diag(join("\n",
				"seed=$seed$where view=$v->{name} ($n differences$counts)",
				"  definition: $v->{definition}",
				"  oracle:     $v->{oracle}",
				map { "  $_" } @diffs));
		}
	}
}

1;
