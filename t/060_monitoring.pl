# Honest monitoring: a worker that cannot run shows in
# continuous.worker_stats (error, last failure, next retry) and in every
# view's row of continuous.views (worker_error); reading a view while the
# worker is down and changes wait raises a WARNING with the reason; and
# continuous.max_databases is named when it is what stops a database.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ContinuousCluster;

my $node = ContinuousCluster::new_node('monitor');
my $db = 'postgres';
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs');
$node->safe_psql($db, q{SELECT continuous.create_stream('ev', 'k int')});
$node->safe_psql($db, q{SELECT continuous.create_view('per_k', 'SELECT k, count(*) AS n FROM ev GROUP BY k')});
$node->safe_psql($db, q{INSERT INTO ev SELECT i FROM generate_series(1, 30000) i; SELECT continuous.sync()});
is($node->safe_psql($db, q{SELECT coalesce(error, 'none') || ' ' || coalesce(last_failure, 'none') FROM continuous.worker_stats}),
	'none none', 'a healthy worker has no error and no failure');
is($node->safe_psql($db, q{SELECT count(*) FROM continuous.views WHERE worker_error IS NULL}), '1',
	'nor has its view');

# --- A read while the worker is down, with changes waiting ------------------

$node->safe_psql($db,
	q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'});
ok(ContinuousCluster::wait_until($node, $db, q{SELECT worker_pid IS NULL FROM continuous.worker_stats}, 10),
	'the terminated worker shows as not running');
$node->safe_psql($db, 'INSERT INTO ev VALUES (1)');
my ($rc, $out, $err) = $node->psql($db, 'SELECT sum(n) FROM per_k');
is($out, '30000', 'the view reads what was applied');
like($err, qr/WARNING:  continuous view "per_k" may be behind: changes committed after [0-9A-F]+\/[0-9A-F]+ are not applied/,
	'with a WARNING that it may be behind');
like($err, qr/DETAIL:  the pg_continuous worker is not running\./, 'saying why');
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker comes back');
$node->safe_psql($db, 'SELECT continuous.sync()');
($rc, $out, $err) = $node->psql($db, 'SELECT sum(n) FROM per_k');
is($out, '30001', 'and applies what waited');
is($err, '', 'reads no longer warn');

# --- A worker that fails at every start ------------------------------------

# The checkpoint of 30000 groups does not fit in 1MB of shared memory: each
# worker fails loading it.
$node->stop;
$node->append_conf('postgresql.conf', "continuous.shared_memory = '1MB'");
$node->start;
ok( ContinuousCluster::wait_until($node, $db,
		q{SELECT last_failure LIKE '%too small to load the checkpoint of continuous view "per_k"%' FROM continuous.worker_stats}),
	'worker_stats shows the failure');
ok( ContinuousCluster::wait_until($node, $db, q{
		SELECT worker_pid IS NULL
		   AND error LIKE 'the pg_continuous worker is not running; it failed with: shared memory for continuous views is too small%'
		   AND next_retry_at > last_failure_at
		FROM continuous.worker_stats}),
	'between attempts: not running, why, and when it tries again');
ok( ContinuousCluster::wait_until($node, $db,
		q{SELECT bool_and(worker_error LIKE '%too small to load the checkpoint%') FROM continuous.views}),
	'every view\'s row says why it is not maintained');
my $backed_off = 0;
for (1 .. 300)
{
	last if ($backed_off = $node->log_contains(qr/worker start \d+ in a row after failures; waiting \d+ s/));
	usleep(100_000);
}
ok($backed_off, 'the worker backs off');

$node->stop;
$node->append_conf('postgresql.conf', "continuous.shared_memory = '64MB'");
$node->start;
ok(ContinuousCluster::wait_for_worker($node, $db), 'with room, the worker runs again');
$node->safe_psql($db, 'SELECT continuous.sync()');
is($node->safe_psql($db, q{SELECT coalesce(error, 'none') FROM continuous.worker_stats}), 'none',
	'and shows no error');
is($node->safe_psql($db, 'SELECT sum(n) FROM per_k'), '30001', 'the view is whole');

# --- continuous.max_databases ----------------------------------------------

my $small = ContinuousCluster::new_node('onedb', 'continuous.max_databases' => 1);
$small->safe_psql('postgres', 'CREATE DATABASE d1');
$small->safe_psql('postgres', 'CREATE DATABASE d2');
$small->safe_psql('d1', 'CREATE EXTENSION pg_continuous');
$small->safe_psql('d1', q{SELECT continuous.create_stream('ev', 'k int')});
$small->safe_psql('d1', q{SELECT continuous.create_view('n', 'SELECT count(*) AS n FROM ev')});
$small->safe_psql('d1', q{INSERT INTO ev VALUES (1); SELECT continuous.sync()});
is($small->safe_psql('d1', 'SELECT n FROM n'), '1', 'the one database counts');

$small->safe_psql('d2', 'CREATE EXTENSION pg_continuous');
$small->safe_psql('d2', q{SELECT continuous.create_stream('ev', 'k int')});
($rc, $out, $err) = $small->psql('d2', q{SELECT continuous.create_view('n', 'SELECT count(*) AS n FROM ev')});
isnt($rc, 0, 'a second database cannot create a view');
like($err, qr/ERROR:  too many databases use pg_continuous/, 'because too many databases use it');
like($err, qr/DETAIL:  continuous.max_databases is 1/, 'naming continuous.max_databases');
is($small->safe_psql('d2', q{SELECT error FROM continuous.worker_stats}),
	'too many databases use pg_continuous: continuous.max_databases is 1, and as many other databases run a worker',
	'worker_stats of the second database says so too');

# Databases without the extension (postgres, template1, and d2 once it drops
# it) do not hold a slot: after a restart, whose launcher starts a worker
# for every database, the one with the extension still gets its worker.
$small->safe_psql('d2', 'DROP EXTENSION pg_continuous CASCADE');
$small->restart;
$small->safe_psql('d1', q{INSERT INTO ev VALUES (2); SELECT continuous.sync('60 s')});
is($small->safe_psql('d1', 'SELECT n FROM n'), '2', 'the database with the extension keeps its worker after a restart');

done_testing();
