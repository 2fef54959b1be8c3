# t/101_event_clock.pl: windows that close by event time (clock => 'event').
#
#   replay        old events (2020), a little out of order, with some far
#                 behind: windows close as event time moves on; the late
#                 events are exactly those whose window had closed by the
#                 largest event time of the transactions before theirs
#                 (computed here independently), counted and captured; the
#                 view equals its defining query over a copy less them
#   crash         an immediate shutdown after a checkpoint taken halfway:
#                 the replay from it classifies the same events as late
#                 (counts and captured rows not doubled), each window in
#                 history once
#   idle close    with no event for idle_timeout the view's clock moves
#                 with the commit clock: the last windows of the replay
#                 close, and an old event after that is late
#   worker error  a worker that stops on an error before it stored the
#                 late events it captured: the next one captures them
#
# Environment: CONTINUOUS_TEST_SEED (default 12345).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use POSIX qw(floor);
use ContinuousCluster;

my $seed = $ENV{CONTINUOUS_TEST_SEED} // 12345;
srand($seed);
my $db = 'postgres';

# Checkpoints only when asked: the crash below replays from a known one.
my $node = ContinuousCluster::new_node(
	'event_clock',
	'continuous.checkpoint_interval' => '1h',
	'continuous.naptime'             => '200ms');
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'worker started');

my $lateness = 30;
my $width    = 60;
my $defn     = q{SELECT sensor, continuous.tumble(ts, '1 minute') AS minute, count(*) AS n, sum(v) AS total, max(v) AS top
	FROM %s GROUP BY sensor, minute};
$node->safe_psql($db, q{
	SET TimeZone = 'UTC';
	SELECT continuous.create_stream('readings', 'sensor text, ts timestamptz, v int');
	CREATE TABLE readings_copy (sensor text, ts timestamptz, v int, late bool);
});
# quick: idle close after 3 s; slow: never during the test.
for my $v (['quick', '3 seconds'], ['slow', '1 hour'])
{
	my ($name, $idle) = @$v;
	my $query = sprintf($defn, 'readings');
	$node->safe_psql($db, qq{
		SELECT continuous.create_view('$name', \$q\$ $query \$q\$, lateness => '$lateness seconds',
			clock => 'event', idle_timeout => '$idle', late_events => 'capture');
	});
}
is($node->safe_psql($db, q{SELECT string_agg(name || ' ' || clock || ' ' || lateness, ', ' ORDER BY name::text) FROM continuous.views}),
	'quick event 00:00:30, slow event 00:00:30', 'continuous.views shows the event clock');

# The events: transaction k is about k * 10 s after 2020-01-01 00:00 UTC, up
# to 15 s out of order, one in ten 60 to 100 s behind; every 7th also has
# one event 200 s behind.
my $base  = 1577836800;
my $clock;    # the largest event time of the transactions sent
my ($late_sent, $max_ts) = (0, 0);
my %window_closed;

sub send_transaction
{
	my ($k)  = @_;
	my @rows;
	my $txn_max;
	for my $i (1 .. 5 + int(rand(10)))
	{
		# Mostly a little out of order; now and then far enough behind that
		# its window may have closed, or not.
		my $behind = rand() < 0.1 ? 60 + int(rand(40)) : int(rand(16)) - int(rand(6));
		push @rows, [ 's' . int(rand(4)), $base + $k * 10 - $behind, int(rand(1000)) ];
	}
	push @rows, [ 's9', $base + $k * 10 - 200, 7 ] if $k % 7 == 0;
	my @values;
	for my $r (@rows)
	{
		my ($sensor, $ts, $v) = @$r;
		my $start = floor(($ts - $base) / $width) * $width + $base;
		my $late  = defined $clock && $start + $width + $lateness <= $clock;
		$late_sent++ if $late;
		push @values, "('$sensor', to_timestamp($ts), $v, " . ($late ? 'true' : 'false') . ')';
		$txn_max = $ts if !defined $txn_max || $ts > $txn_max;
	}
	$clock = $txn_max if !defined $clock || $txn_max > $clock;
	my $list = join(', ', @values);
	$node->safe_psql($db, "BEGIN; INSERT INTO readings SELECT sensor, ts, v FROM (VALUES $list) r(sensor, ts, v, late);
		INSERT INTO readings_copy VALUES $list; COMMIT;");
}

# --- Replay of old events ---------------------------------------------------------

send_transaction($_) for 1 .. 30;
$node->safe_psql($db, 'SELECT continuous.sync()');
$node->safe_psql($db, 'SELECT continuous.checkpoint()');
send_transaction($_) for 31 .. 60;
$node->safe_psql($db, 'SELECT continuous.sync()');
cmp_ok($late_sent, '>=', 5, "some events are late ($late_sent)");

my $oracle = sprintf($defn, 'readings_copy WHERE NOT late');
my $closed_minutes = $node->safe_psql($db, qq{SELECT count(DISTINCT continuous.tumble(ts, '1 minute')) FROM readings_copy
	WHERE NOT late AND continuous.tumble(ts, '1 minute') + interval '$width seconds' + interval '$lateness seconds' <= to_timestamp($clock)});
cmp_ok($closed_minutes, '>', 5, 'most minutes of the replay are past their deadline by event time');

for my $view ('quick', 'slow')
{
	ok(ContinuousCluster::wait_until($node, $db, qq{SELECT count(DISTINCT minute) = $closed_minutes FROM ${view}_history}, 30),
		"$view: the windows whose deadline the largest event time passed close");
	ContinuousCluster::view_equals_ok($node, $db, $view, $oracle, 'sensor, minute', "$view: the view equals its query less the late events");
	is($node->safe_psql($db, qq{SELECT watermark = to_timestamp($clock) - interval '$lateness seconds' FROM continuous.views WHERE name = '$view'::regclass}),
		't', "$view: the watermark is the largest event time less lateness");
}

# --- A crash: the replay from the checkpoint classifies the same events ------------

$node->stop('immediate');
$node->start;
ok(ContinuousCluster::wait_for_worker($node, $db), 'a worker runs after the crash');
$node->safe_psql($db, 'SELECT continuous.sync()');
$node->safe_psql($db, 'SELECT continuous.checkpoint()');
is($node->safe_psql($db, q{SELECT late_changes || ' ' || late_captured FROM continuous.views WHERE name = 'slow'::regclass}),
	"$late_sent $late_sent", 'the late events are counted and captured once');
is($node->safe_psql($db, q{SELECT count(*) FROM (SELECT sensor, ts, v FROM slow_late WHERE change = 'insert'
		EXCEPT ALL SELECT sensor, ts, v FROM readings_copy WHERE late) d}), '0',
	'the late table holds exactly the late events');
is($node->safe_psql($db, q{SELECT count(*) FROM slow_late WHERE window_start = continuous.tumble(ts, '1 minute')
		AND watermark >= window_start + interval '1 minute'}), $late_sent,
	'each with its window, which had closed by the watermark');
is($node->safe_psql($db, q{SELECT count(*) FROM (SELECT sensor, minute FROM slow_history GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'each closed window is in history once');
ContinuousCluster::view_equals_ok($node, $db, 'slow', $oracle, 'sensor, minute', 'slow: still equal after the crash');

# --- Idle close ---------------------------------------------------------------------

my $started = time();
ok(ContinuousCluster::wait_until($node, $db, q{SELECT open_windows = 0 FROM continuous.views WHERE name = 'quick'::regclass}, 60),
	'quick: with no event for idle_timeout the last windows close');
note(sprintf('closed %.1f s after the crash recovery', time() - $started));
ContinuousCluster::view_equals_ok($node, $db, 'quick', $oracle, 'sensor, minute', 'quick: equal once every window closed');
is($node->safe_psql($db, q{SELECT watermark > now() - interval '1 hour' FROM continuous.views WHERE name = 'quick'::regclass}),
	't', 'quick: its watermark moved with the commit clock');
cmp_ok($node->safe_psql($db, q{SELECT open_windows FROM continuous.views WHERE name = 'slow'::regclass}), '>', 0,
	'slow: its last windows are still open (idle_timeout 1 hour)');

# Now an event of 2020 is late for quick; for slow only if its window closed.
$node->safe_psql($db, q{INSERT INTO readings VALUES ('s1', '2020-01-01 00:00:10+00', 1)});
$node->safe_psql($db, 'SELECT continuous.sync()');
$node->safe_psql($db, 'SELECT continuous.checkpoint()');
is($node->safe_psql($db, q{SELECT late_changes FROM continuous.views WHERE name = 'quick'::regclass}),
	$late_sent + 1, 'quick: an old event after the idle close is late');

# --- A worker that stops on an error before storing captured changes ----------------

# The checkpoint that would store two late events fails: the worker stops on
# the error, shared memory stays, and the next worker must capture them again.
$node->safe_psql($db, q{INSERT INTO readings VALUES ('s8', '2020-01-01 00:00:05+00', 5), ('s8', '2020-01-01 00:00:06+00', 6)});
$node->safe_psql($db, 'SELECT continuous.sync()');
$node->safe_psql($db, q{
	CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'checkpoint refused'; END $$;
	CREATE TRIGGER refuse BEFORE UPDATE ON continuous.checkpoint_view FOR EACH STATEMENT EXECUTE FUNCTION refuse();
});
my $pid = ContinuousCluster::worker_pid($node, $db);
$node->psql($db, q{SET statement_timeout = '2s'; SELECT continuous.checkpoint()});
ok(ContinuousCluster::wait_until($node, $db, q{SELECT last_failure LIKE '%checkpoint refused%' FROM continuous.worker_stats}, 30),
	'the worker stopped on the failed checkpoint');
$node->safe_psql($db, 'DROP TRIGGER refuse ON continuous.checkpoint_view');
ok(ContinuousCluster::wait_for_new_worker($node, $db, $pid), 'a new worker runs');
$node->safe_psql($db, 'SELECT continuous.sync()');
$node->safe_psql($db, 'SELECT continuous.checkpoint()');
for my $view ('quick', 'slow')
{
	is($node->safe_psql($db, qq{SELECT late_changes || ' ' || late_captured || ' ' || (SELECT count(*) FROM ${view}_late WHERE sensor = 's8')
			FROM continuous.views WHERE name = '$view'::regclass}),
		($late_sent + 3) . ' ' . ($late_sent + 3) . ' 2', "$view: the late events are counted and stored once");
}
ContinuousCluster::view_equals_ok($node, $db, 'slow', $oracle, 'sensor, minute', 'slow: still equal');

done_testing();
