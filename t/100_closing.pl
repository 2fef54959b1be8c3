# t/100_closing.pl: windows that close (create_view's lateness).
#
#   idle close       events in a window, then no traffic: the window moves
#                    into history within a few seconds of its deadline
#   exact            over a stream and over a table (inserts, updates,
#                    deletes, some into closed windows): the view equals its
#                    defining query over the same data minus the late
#                    changes, which are counted and captured with the
#                    changes' rows
#   readers          while windows move after the last write, every read
#                    of the view's total is the same
#   memory           a steady stream over many short windows: the view's
#                    groups and memory stay flat
#   crashes          kill -9 of the worker and immediate shutdowns while
#                    windows close: each closed window is in history once,
#                    and the totals equal the events
#   retention        history rows past retain are deleted
#   locks, triggers  a lock on one view's history table holds up neither the
#                    worker nor the other views; a history trigger that runs
#                    past continuous.view_timeout fails its view alone
#
# Environment: CONTINUOUS_TEST_SEED (default 12345).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ContinuousCluster;

my $seed = $ENV{CONTINUOUS_TEST_SEED} // 12345;
srand($seed);
my $db = 'postgres';

my $node = ContinuousCluster::new_node(
	'closing',
	restart_after_crash               => 'on',
	'continuous.checkpoint_interval' => '2s',
	'continuous.naptime'             => '200ms');
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'worker started');
$node->safe_psql($db, q{
	SET TimeZone = 'UTC';
	SELECT continuous.create_stream('clicks', 'url text, ts timestamptz, ms int');
	CREATE TABLE clicks_copy (url text, ts timestamptz, ms int);
});

sub closed_windows
{
	my ($view) = @_;
	return $node->safe_psql($db, "SELECT coalesce(closed_windows, 0) FROM continuous.views WHERE name = '$view'::regclass");
}

# --- Idle close -----------------------------------------------------------

$node->safe_psql($db, q{
	SELECT continuous.create_view('idle_v', $$
		SELECT url, continuous.tumble(ts, '2 seconds') AS w, count(*) AS n
		FROM clicks GROUP BY url, w $$, lateness => '1 second');
});
my $window_end = $node->safe_psql($db, q{
	INSERT INTO clicks VALUES ('/a', clock_timestamp(), 1), ('/b', clock_timestamp(), 2);
	SELECT extract(epoch FROM continuous.tumble(clock_timestamp(), '2 seconds') + interval '2 seconds');
});
my $deadline = $window_end + 1;
my $closed_at;
while (time() < $deadline + 30)
{
	if (closed_windows('idle_v') > 0)
	{
		$closed_at = time();
		last;
	}
	usleep(50_000);
}
ok(defined $closed_at, 'a window closes without further traffic');
cmp_ok(($closed_at // 1e12) - $deadline, '<', 5, 'within seconds of its deadline');
note(sprintf('closed %.2f s after the deadline', ($closed_at // 0) - $deadline));
is($node->safe_psql($db, q{SELECT string_agg(url || ':' || n, ',' ORDER BY url) FROM idle_v_history}),
	'/a:1,/b:1', 'its rows are in the history table');
is($node->safe_psql($db, q{SELECT string_agg(url || ':' || n, ',' ORDER BY url) FROM idle_v}),
	'/a:1,/b:1', 'and the view reads them there');
is($node->safe_psql($db, q{SELECT open_windows FROM continuous.views WHERE name = 'idle_v'::regclass}),
	'0', 'no open window is left');

# --- Exact over a stream, with late events ---------------------------------

# Windows of 1 s with 3 s of lateness: events stamped now are on time; events
# stamped an hour ago are late (their window closed long ago).
$node->safe_psql($db, q{
	SELECT continuous.create_view('per_sec', $$
		SELECT url, continuous.tumble(ts, '1 second') AS s, count(*) AS hits, sum(ms) AS total, max(ms) AS top
		FROM clicks GROUP BY url, s $$, lateness => '3 seconds', late_events => 'capture');
});
my $late_sent = 0;
for my $round (1 .. 12)
{
	my $n = 5 + int(rand(20));
	my $rows = join(', ', map { "('/p" . int(rand(4)) . "', clock_timestamp(), " . int(rand(100)) . ')' } 1 .. $n);
	$node->safe_psql($db, "BEGIN; INSERT INTO clicks VALUES $rows; INSERT INTO clicks_copy SELECT * FROM (VALUES $rows) v; COMMIT;");
	if ($round % 3 == 0)
	{
		# Late: not in the copy.
		$node->safe_psql($db, q{INSERT INTO clicks VALUES ('/late', clock_timestamp() - interval '1 hour', 99)});
		$late_sent++;
	}
	usleep(300_000);
}
$node->safe_psql($db, 'SELECT continuous.sync()');
my $query = q{SELECT url, continuous.tumble(ts, '1 second') AS s, count(*) AS hits, sum(ms) AS total, max(ms) AS top
	FROM clicks_copy GROUP BY url, s};
ContinuousCluster::view_equals_ok($node, $db, 'per_sec', $query, 'url, s', 'stream view equals its query, late events left out, while windows close');
ok(ContinuousCluster::wait_until($node, $db, q{SELECT open_windows = 0 FROM continuous.views WHERE name = 'per_sec'::regclass}, 30),
	'every window closes');
ContinuousCluster::view_equals_ok($node, $db, 'per_sec', $query, 'url, s', 'stream view equals its query once every window closed');
is($node->safe_psql($db, q{SELECT count(*) FROM (SELECT s, url FROM per_sec_history GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'each window is in history once');
$node->safe_psql($db, 'SELECT continuous.checkpoint()');
is($node->safe_psql($db, q{SELECT late_changes || ' ' || late_captured FROM continuous.views WHERE name = 'per_sec'::regclass}),
	"$late_sent $late_sent", 'late events are counted and captured');
is($node->safe_psql($db, q{SELECT count(*) FILTER (WHERE url = '/late' AND ms = 99 AND change = 'insert'
		AND window_start = continuous.tumble(ts, '1 second') AND watermark = commit_time - interval '3 seconds') FROM per_sec_late}),
	$late_sent, 'the late table holds the late events, their window and the watermark');

# --- Readers while windows move ----------------------------------------------

$node->safe_psql($db, q{
	SELECT continuous.create_view('moving', $$
		SELECT continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM clicks GROUP BY s $$,
		lateness => '1 second');
});
for my $i (1 .. 6)
{
	$node->safe_psql($db, q{INSERT INTO clicks SELECT '/m', clock_timestamp(), 1 FROM generate_series(1, 50)});
	usleep(250_000);
}
$node->safe_psql($db, 'SELECT continuous.sync()');
my %totals;
my $reads = 0;
my $until = time() + 6;
while (time() < $until)
{
	$totals{ $node->safe_psql($db, 'SELECT sum(n) FROM moving') }++;
	$reads++;
}
is(join(',', keys %totals), '300', "every read while windows move sees the same total ($reads reads)");
cmp_ok(closed_windows('moving'), '>', 0, 'windows moved meanwhile');

# --- Over a table: backfill, inserts, updates, deletes, late changes ---------

$node->safe_psql($db, q{
	CREATE TABLE orders (id int PRIMARY KEY, ts timestamptz NOT NULL, amount int NOT NULL);
	CREATE TABLE orders_expected (LIKE orders);
	INSERT INTO orders SELECT i, now() - interval '2 hours' + (i % 5) * interval '1 minute', i FROM generate_series(1, 20) i;
	INSERT INTO orders_expected SELECT * FROM orders;
	SELECT continuous.create_view('order_minutes', $$
		SELECT continuous.tumble(ts, '1 minute') AS m, count(*) AS n, sum(amount) AS total, max(amount) AS top
		FROM orders GROUP BY m $$, lateness => '5 seconds', late_events => 'capture');
});
$node->safe_psql($db, 'SELECT continuous.sync()');
ok(ContinuousCluster::wait_until($node, $db, q{SELECT closed_windows = 5 FROM continuous.views WHERE name = 'order_minutes'::regclass}, 30),
	'backfilled windows that ended long ago go to history');
my $oquery = q{SELECT continuous.tumble(ts, '1 minute') AS m, count(*) AS n, sum(amount) AS total, max(amount) AS top FROM orders_expected GROUP BY m};
# Late: changes to the closed windows; on time: rows of the current minute.
$node->safe_psql($db, q{
	UPDATE orders SET amount = amount + 1000 WHERE id IN (1, 2);
	DELETE FROM orders WHERE id = 3;
	INSERT INTO orders VALUES (100, now() - interval '2 hours', 7);
	INSERT INTO orders VALUES (101, clock_timestamp(), 5), (102, clock_timestamp(), 6);
	INSERT INTO orders_expected SELECT * FROM orders WHERE id IN (101, 102);
});
$node->safe_psql($db, q{
	UPDATE orders SET amount = amount + 1 WHERE id = 101;
	UPDATE orders_expected SET amount = amount + 1 WHERE id = 101;
	DELETE FROM orders WHERE id = 102;
	DELETE FROM orders_expected WHERE id = 102;
	SELECT continuous.sync();
});
ContinuousCluster::view_equals_ok($node, $db, 'order_minutes', $oquery, 'm', 'table view equals its query minus the late changes');
$node->safe_psql($db, 'SELECT continuous.checkpoint()');
is($node->safe_psql($db, q{SELECT string_agg(change || ':' || id, ',' ORDER BY change, id) FROM order_minutes_late}),
	'delete:3,insert:100,update: new row:1,update: new row:2,update: old row:1,update: old row:2',
	'late inserts, updates and deletes are captured with their rows');

# --- Memory stays flat ---------------------------------------------------------

$node->safe_psql($db, q{
	SELECT continuous.create_view('steady', $$
		SELECT url, continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM clicks GROUP BY url, s $$,
		lateness => '1 second');
});
my @groups;
my $start = time();
while (time() < $start + 16)
{
	$node->safe_psql($db, q{INSERT INTO clicks SELECT '/s' || (i % 50), clock_timestamp(), 1 FROM generate_series(1, 200) i});
	push @groups, $node->safe_psql($db, q{SELECT groups FROM continuous.views WHERE name = 'steady'::regclass});
	usleep(100_000);
}
my $half = int(@groups / 2);
my ($max_first, $max_second) = (0, 0);
for my $i (0 .. $#groups)
{
	$max_first = $groups[$i] if $i < $half && $groups[$i] > $max_first;
	$max_second = $groups[$i] if $i >= $half && $groups[$i] > $max_second;
}
note("groups in memory, first half max $max_first, second half max $max_second, " . scalar(@groups) . ' samples');
cmp_ok($max_second, '<=', 300, 'a steady stream keeps a bounded number of groups (50 per open window)');
cmp_ok(closed_windows('steady'), '>=', 8, 'while its windows close');

# --- Crashes while windows close ----------------------------------------------

$node->safe_psql($db, q{
	SELECT continuous.create_view('crashy', $$
		SELECT url, continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM clicks GROUP BY url, s $$,
		lateness => '4 seconds');
	CREATE TABLE crashy_copy (url text, ts timestamptz);
});
my $inserted = 0;
for my $point (1 .. 4)
{
	for my $i (1 .. 6)
	{
		my ($rc) = $node->psql($db, q{BEGIN;
			INSERT INTO clicks SELECT '/c' || (i % 3), clock_timestamp(), 1 FROM generate_series(1, 10) i;
			INSERT INTO crashy_copy SELECT '/c' || (i % 3), clock_timestamp() FROM generate_series(1, 10) i;
			COMMIT;});
		usleep(200_000);
	}
	my $pid = ContinuousCluster::worker_pid($node, $db);
	if ($point % 2)
	{
		kill 'KILL', $pid if defined $pid;
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	ok(ContinuousCluster::wait_for_new_worker($node, $db, $pid), "crash point $point: a new worker runs");
}
$node->safe_psql($db, 'SELECT continuous.sync()');
ok(ContinuousCluster::wait_until($node, $db, q{SELECT open_windows = 0 FROM continuous.views WHERE name = 'crashy'::regclass}, 60),
	'after the crashes every window closes');
is($node->safe_psql($db, q{SELECT count(*) FROM (SELECT url, s FROM crashy_history GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'each closed window is in history exactly once');
is($node->safe_psql($db, q{SELECT (SELECT sum(n) FROM crashy) = (SELECT count(*) FROM crashy_copy)
	AND (SELECT sum(n) FROM crashy_history) = (SELECT count(*) FROM crashy_copy)}),
	't', 'history holds every event once (the windows were never late)');
is($node->safe_psql($db, q{SELECT late_changes FROM continuous.views WHERE name = 'crashy'::regclass}), '0',
	'no event counted late');

# --- Retention ----------------------------------------------------------------

$node->safe_psql($db, q{
	SELECT continuous.create_view('kept', $$
		SELECT continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM clicks GROUP BY s $$,
		lateness => '1 second', retain => '3 seconds');
	INSERT INTO clicks SELECT '/r', clock_timestamp(), 1;
});
ok(ContinuousCluster::wait_until($node, $db, q{SELECT closed_windows > 0 FROM continuous.views WHERE name = 'kept'::regclass}, 30),
	'the window closes');
ok(ContinuousCluster::wait_until($node, $db, q{SELECT retained_rows > 0 FROM continuous.stats WHERE name = 'kept'::regclass}, 30),
	'and its history row is deleted once it is older than retain');
is($node->safe_psql($db, 'SELECT count(*) FROM kept_history'), '0', 'history is empty');

# --- A lock on a history table, a history trigger past view_timeout -----------------

# A lock that blocks inserts into one view's history table holds up neither
# the worker nor the other views: that view's windows close once it is gone.
$node->safe_psql($db, q{
	SELECT continuous.create_view('locked', $$
		SELECT url, continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM clicks GROUP BY url, s $$,
		lateness => '1 second');
	SELECT continuous.create_view('unlocked', $$
		SELECT url, continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM clicks GROUP BY url, s $$,
		lateness => '1 second');
	SELECT continuous.checkpoint();
});
my $locker = $node->background_psql($db);
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE locked_history IN SHARE MODE');
$node->safe_psql($db, q{INSERT INTO clicks VALUES ('/lock', clock_timestamp(), 1)});
ok(ContinuousCluster::wait_until($node, $db, q{SELECT closed_windows > 0 FROM continuous.views WHERE name = 'unlocked'::regclass}, 30),
	'while a lock blocks one history table, the other views close their windows');
is(closed_windows('locked'), '0', 'the view whose history table is locked waits');
$locker->query_safe('COMMIT');
$locker->quit;
ok(ContinuousCluster::wait_until($node, $db, q{SELECT closed_windows > 0 FROM continuous.views WHERE name = 'locked'::regclass}, 30),
	'its windows close once the lock is gone');
is($node->safe_psql($db, q{SELECT (SELECT sum(n) FROM locked) = (SELECT sum(n) FROM unlocked)}), 't', 'the two views agree');

# A trigger on a history table is the view's code: past continuous.view_timeout
# it fails that view alone.
ContinuousCluster::set_config($node, 'continuous.view_timeout' => '2s');
$node->safe_psql($db, q{
	CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(120); RETURN NULL; END $$;
	CREATE TRIGGER linger AFTER INSERT ON locked_history FOR EACH STATEMENT EXECUTE FUNCTION linger();
	INSERT INTO clicks VALUES ('/lock', clock_timestamp(), 1);
});
ok(ContinuousCluster::wait_until($node, $db, q{SELECT state = 'failed' AND error LIKE '%view_timeout%' FROM continuous.stats WHERE name = 'locked'::regclass}, 60),
	'a history trigger that runs past view_timeout fails its view');
my $unlocked_closed = closed_windows('unlocked');
$node->safe_psql($db, q{INSERT INTO clicks VALUES ('/lock', clock_timestamp(), 1)});
ok(ContinuousCluster::wait_until($node, $db, qq{SELECT closed_windows > $unlocked_closed FROM continuous.views WHERE name = 'unlocked'::regclass}, 30),
	'the other view goes on closing windows');
ContinuousCluster::set_config($node, 'continuous.view_timeout' => undef);
$node->safe_psql($db, q{SELECT continuous.drop_view('locked'); SELECT continuous.drop_view('unlocked');});

# --- Dump and restore -----------------------------------------------------------

# A view over a table and one over a stream whose windows closed; the dump
# carries their history tables.  Restored, they are continuous views again
# with their options; the backfill of the view over the table does not
# apply again the rows of windows its history holds.
$node->safe_psql('postgres', 'CREATE DATABASE dumped');
$node->safe_psql('dumped', q{
	CREATE EXTENSION pg_continuous;
	SET TimeZone = 'UTC';
	SELECT continuous.create_stream('ev', 'k text, ts timestamptz');
	CREATE TABLE sales (id int, ts timestamptz, amount int);
	INSERT INTO sales SELECT i, now() - interval '3 hours' + (i % 4) * interval '1 minute', i FROM generate_series(1, 40) i;
});
ok(ContinuousCluster::wait_for_worker($node, 'dumped'), 'worker of the dumped database');
$node->safe_psql('dumped', q{
	SELECT continuous.create_view('sales_min', $$
		SELECT continuous.tumble(ts, '1 minute') AS m, count(*) AS n, sum(amount::bigint) AS total FROM sales GROUP BY m $$,
		lateness => '2 seconds', retain => '1 day');
	SELECT continuous.create_view('ev_sec', $$
		SELECT k, continuous.tumble(ts, '1 second') AS s, count(*) AS n FROM ev GROUP BY k, s $$,
		lateness => '1 second');
	SELECT continuous.create_view('ev_event', $$
		SELECT k, continuous.tumble(ts, '1 minute') AS m, count(*) AS n FROM ev WHERE k = 'old' GROUP BY k, m $$,
		lateness => '1 minute', clock => 'event', idle_timeout => '1 hour');
	INSERT INTO ev SELECT 'k' || (i % 2), clock_timestamp() FROM generate_series(1, 10) i;
	INSERT INTO ev VALUES ('old', '2020-01-01 00:00:10+00'), ('old', '2020-01-01 00:05:00+00');
});
ok(ContinuousCluster::wait_until($node, 'dumped',
		q{SELECT bool_and(closed_windows > 0) FROM continuous.views}, 30), 'windows of both views closed');
$node->safe_psql('dumped', 'SELECT continuous.checkpoint()');
my $dump = $node->basedir . '/closing.dump';
$node->command_ok(['pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('dumped')], 'pg_dump of views whose windows close');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(['pg_restore', '-d', $node->connstr('restored'), $dump], 'pg_restore');
ok(ContinuousCluster::wait_for_worker($node, 'restored'), 'worker of the restored database');
$node->safe_psql('restored', 'SELECT continuous.sync()');
is($node->safe_psql('restored', q{SELECT string_agg(name || ' ' || lateness || ' ' || history || ' ' || coalesce(retain::text, '-'), ', ' ORDER BY name)
	FROM continuous.views}),
	'ev_event 00:01:00 ev_event_history -, ev_sec 00:00:01 ev_sec_history -, sales_min 00:00:02 sales_min_history 1 day',
	'the restored views keep their options');
ok(ContinuousCluster::wait_until($node, 'restored',
		q{SELECT bool_and(state = 'ready' AND open_windows = CASE name WHEN 'ev_event'::regclass THEN 1 ELSE 0 END) FROM continuous.views}, 30),
	'restored views ready, nothing left open but the event clock\'s last window');
# The restored view on the event clock has no clock of its own yet: the
# windows its history holds had closed by it, so an event for one is late.
$node->safe_psql('restored', q{INSERT INTO ev VALUES ('old', '2020-01-01 00:00:30+00'), ('old', '2020-01-01 00:05:30+00'); SELECT continuous.sync();});
is($node->safe_psql('restored', q{SELECT string_agg(m || ' ' || n, ', ' ORDER BY m) FROM ev_event}),
	'2020-01-01 00:00:00+00 1, 2020-01-01 00:05:00+00 2', 'restored: an event for a closed window is late, one for the open window counts');
is($node->safe_psql('restored', q{SELECT late_changes FROM continuous.views WHERE name = 'ev_event'::regclass}), '1',
	'restored: the late event is counted');
for my $db ('dumped', 'restored')
{
	ContinuousCluster::view_equals_ok($node, $db, 'sales_min',
		q{SELECT continuous.tumble(ts, '1 minute') AS m, count(*) AS n, sum(amount::bigint) AS total FROM sales GROUP BY m}, 'm',
		"$db: the table view equals its query");
	is($node->safe_psql($db, q{SELECT count(*) || ' ' || count(DISTINCT m) FROM sales_min_history}), '4 4',
		"$db: each window once in history");
	is($node->safe_psql($db, q{SELECT sum(n) FROM ev_sec}), '10', "$db: the stream view reads its history");
}
$node->safe_psql('restored', q{DROP VIEW sales_min});
is($node->safe_psql('restored', q{SELECT to_regclass('sales_min_history') IS NULL}), 't',
	'dropping a restored view drops its history table');

$node->stop;
done_testing();
