# t/012_worker_behind.pl: min and max stay exact when the groups' extreme
# rows are deleted while the worker is far behind.
#
# A view keeps min and max per group of a table.  The worker is stopped
# (continuous.enabled = off) while 30 transactions each delete the smallest
# and the largest row of every group and insert a new smallest and largest.
# After each commit the test records the defining query's result: the states
# S_1 .. S_30 the view must step through.  Then the worker restarts, applying
# one transaction per merge and pausing after each
# (continuous.apply_batch_events = 1, continuous.debug_merge_delay), while
# the test reads the view over and over.  Every read must equal some S_i,
# with i never going back (DESIGN.md 3.2: a prefix of the commits), and the
# last one S_30.
#
# This catches recomputing a group from the table's current contents: the
# table already holds S_30's extremes while the worker applies S_1's, so such
# a view would show, say, S_30's min with S_1's max, which no S_i has.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ContinuousCluster;

my $db   = 'postgres';
my $node = ContinuousCluster::new_node('behind', 'continuous.apply_batch_events' => 1);
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'worker started');

my $NGROUPS = 3;
my $NTXN    = 30;
my $def     = 'SELECT g, min(v) AS mn, max(v) AS mx, count(*) AS c, sum(v) AS s FROM m GROUP BY g';
my $show    = "string_agg(g || ':' || mn || ':' || mx || ':' || c || ':' || s, ' ' ORDER BY g)";

$node->safe_psql($db, <<"SQL");
CREATE TABLE m (g int, v int);
INSERT INTO m SELECT g, v FROM generate_series(1, $NGROUPS) g, generate_series(1000, 1010) v;
SELECT continuous.create_view('mm', '$def');
SQL
$node->safe_psql($db, 'SELECT continuous.sync()');

my @states = ($node->safe_psql($db, "SELECT $show FROM ($def) q"));
is($node->safe_psql($db, "SELECT $show FROM mm"), $states[0], 'the view starts equal to its definition');

# Stop the worker; its slot keeps the WAL.
my $slot = ContinuousCluster::slot_name($node, $db);
ContinuousCluster::set_config($node, 'continuous.enabled' => 'off');
ok( ContinuousCluster::wait_until($node, $db,
		"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$slot'"),
	'with continuous.enabled = off the worker stops');

foreach my $i (1 .. $NTXN)
{
	$node->safe_psql($db, <<"SQL");
BEGIN;
DELETE FROM m WHERE (g, v) IN (SELECT g, min(v) FROM m GROUP BY g UNION ALL SELECT g, max(v) FROM m GROUP BY g);
INSERT INTO m SELECT g, v FROM generate_series(1, $NGROUPS) g, unnest(ARRAY[1000 - $i, 1010 + $i]) v;
COMMIT;
SQL
	push @states, $node->safe_psql($db, "SELECT $show FROM ($def) q");
}
is($node->safe_psql($db, "SELECT $show FROM mm"), $states[0],
	'while the worker is stopped the view still shows the state before');

# Views the worker has not registered yet: one over a stream has counted
# nothing, one over a table is initializing (it waits for its backfill).
$node->safe_psql($db, <<'SQL');
SELECT continuous.create_stream('st', 'x int');
SELECT continuous.create_view('st_count', 'SELECT count(*) AS n FROM st');
SELECT continuous.create_view('m_count', 'SELECT count(*) AS n FROM m');
SQL
is($node->safe_psql($db, 'SELECT n FROM st_count'), '0',
	'a view over a stream that the worker has not seen yet has counted nothing');
my ($unseen_rc, $unseen_out, $unseen_err) = $node->psql($db, 'SELECT n FROM m_count');
like($unseen_err, qr/continuous view "m_count" is initializing/,
	'a view over a table that the worker has not seen yet is initializing');
$node->safe_psql($db, "SELECT continuous.drop_view('st_count'); SELECT continuous.drop_view('m_count')");

my %index_of;
$index_of{ $states[$_] } //= $_ foreach 0 .. $#states;
is(scalar(keys %index_of), $NTXN + 1, 'every transaction leads to a state of its own');

# Restart the worker, one transaction per merge with a pause after each.
ContinuousCluster::set_config($node,
	'continuous.enabled'           => undef,
	'continuous.debug_merge_delay' => '100ms');
my $last    = 0;
my @seen    = ();
my @bad     = ();
my $deadline = time() + 120;
while (time() < $deadline)
{
	my ($rc, $out, $err) = $node->psql($db, "SELECT $show FROM mm");
	if ($rc != 0)
	{
		usleep(20_000);
		next;
	}
	my $i = $index_of{$out};
	if (!defined $i)
	{
		push @bad, "a read matches no state: $out";
		last;
	}
	if ($i < $last)
	{
		push @bad, "a read went back from state $last to state $i";
		last;
	}
	push @seen, $i if $i != $last;
	$last = $i;
	last if $i == $NTXN;
	usleep(20_000);
}
ok(!@bad, 'every read shows the state after some transaction, never going back')
  or diag(join("\n", @bad));
is($last, $NTXN, 'the view reaches the state after the last transaction');
cmp_ok(scalar(@seen), '>=', 5, 'reads saw the view step through intermediate states')
  or diag('states seen: ' . join(' ', @seen));

ContinuousCluster::set_config($node, 'continuous.debug_merge_delay' => undef);
$node->safe_psql($db, 'SELECT continuous.sync()');
is($node->safe_psql($db, "SELECT $show FROM mm"), $states[-1], 'after sync the view equals its definition');

# One statement sees one state of a view, however often it reads it: two
# subqueries over mm with a pause between them, while the worker merges a
# transaction every 200 ms.
ContinuousCluster::set_config($node, 'continuous.enabled' => 'off');
ok( ContinuousCluster::wait_until($node, $db,
		"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$slot'"),
	'the worker stops again');
foreach my $i (1 .. 20)
{
	$node->safe_psql($db, "UPDATE m SET v = v + 1 WHERE g = 1 AND v = (SELECT max(v) FROM m WHERE g = 1)");
}
my $before_updates = $node->safe_psql($db, "SELECT $show FROM mm");
ContinuousCluster::set_config($node,
	'continuous.enabled'           => undef,
	'continuous.debug_merge_delay' => '200ms');
ok( ContinuousCluster::wait_until($node, $db, "SELECT $show <> '$before_updates' FROM mm"),
	'the worker applies the updates again, one at a time');
my (@torn, @pairs);
foreach my $try (1 .. 6)
{
	my $pair = $node->safe_psql($db,
		"SELECT (SELECT $show FROM mm), (SELECT 1 FROM pg_sleep(0.5)), (SELECT $show FROM mm)");
	my ($first, undef, $second) = split(/\|/, $pair);
	push @pairs, [ $first, $second ];
	push @torn, "$first <> $second" if $first ne $second;
}
ok(!@torn, 'two reads of a view in one statement see the same state')
  or diag(join("\n", @torn));
isnt($pairs[0][0], $pairs[-1][1], 'the view changed while the statements ran');
ContinuousCluster::set_config($node, 'continuous.debug_merge_delay' => undef);

$node->stop;
done_testing();
