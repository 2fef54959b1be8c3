# Isolation between views: whatever a view's own code does, that view fails
# alone and every other view goes on exact.  A view's functions and
# aggregates run read-only, so writing fails the view at once; a function
# that takes a transaction ID anyway (logical decoding cannot finish a
# replayed transaction that has one) fails its view and makes the worker
# restart once, and replaying the WAL never brings it down on that
# transaction again, also across server restarts and crashes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousCluster;

my $node = ContinuousCluster::new_node('isolation');
my $db = 'postgres';
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs');

$node->safe_psql($db, q{
	SELECT continuous.create_stream('ev', 'g int, x int');
	CREATE TABLE ev_copy (g int, x int);
	CREATE TABLE tb (g int, x int);
	ALTER TABLE tb REPLICA IDENTITY FULL;
	CREATE TABLE sink (x int);
	-- An IMMUTABLE wrapper around an INSERT (in a volatile function: a
	-- non-volatile PL/pgSQL function may not run INSERT itself).
	CREATE FUNCTION do_log(x int) RETURNS int VOLATILE LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO sink VALUES (x); RETURN x; END $$;
	CREATE FUNCTION log_it(x int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT do_log(x) $$;
	-- An aggregate whose transition function writes.
	CREATE FUNCTION write_sfunc(state bigint, x int) RETURNS bigint LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO sink VALUES (x); RETURN state + x; END $$;
	CREATE AGGREGATE write_sum(int) (sfunc = write_sfunc, stype = bigint, initcond = '0',
									 combinefunc = int8pl);
	-- A function that takes a transaction ID without writing a table.
	CREATE FUNCTION take_xid(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
	BEGIN PERFORM pg_current_xact_id(); RETURN x; END $$;
});
$node->safe_psql($db, q{SELECT continuous.create_view('healthy', 'SELECT g, count(*) AS n, sum(x) AS s FROM ev GROUP BY g')});
$node->safe_psql($db, q{SELECT continuous.create_view('healthy_tb', 'SELECT g, count(*) AS n, max(x) AS m FROM tb GROUP BY g')});
$node->safe_psql($db, q{SELECT continuous.create_view('w_insert', 'SELECT sum(log_it(x)) AS s FROM ev')});
$node->safe_psql($db, q{SELECT continuous.create_view('w_agg', 'SELECT g, write_sum(x) AS s FROM ev GROUP BY g')});

my $round = 0;
sub write_round
{
	$round++;
	$node->safe_psql($db, qq{
		BEGIN;
		INSERT INTO ev SELECT i % 5, i * $round FROM generate_series(1, 200) i;
		INSERT INTO ev_copy SELECT i % 5, i * $round FROM generate_series(1, 200) i;
		INSERT INTO tb SELECT i % 3, i + $round FROM generate_series(1, 50) i;
		DELETE FROM tb WHERE x % 7 = $round % 7;
		COMMIT;
	});
	$node->safe_psql($db, q{SELECT continuous.sync('60 s')});
}

sub healthy_exact
{
	my ($label) = @_;
	ContinuousCluster::view_equals_ok($node, $db, 'healthy',
		'SELECT g, count(*) AS n, sum(x) AS s FROM ev_copy GROUP BY g', 'g',
		"the healthy stream view is exact $label");
	ContinuousCluster::view_equals_ok($node, $db, 'healthy_tb',
		'SELECT g, count(*) AS n, max(x) AS m FROM tb GROUP BY g', 'g',
		"the healthy table view is exact $label");
}

sub view_state
{
	my ($view) = @_;
	return $node->safe_psql($db, qq{SELECT state || ': ' || coalesce(error, '') FROM continuous.views WHERE name = '$view'::regclass});
}

my $pid = ContinuousCluster::worker_pid($node, $db);
write_round();
write_round();
is(view_state('w_insert'), 'failed: cannot execute INSERT in a read-only transaction',
	'a view whose function inserts fails, read-only');
is(view_state('w_agg'), 'failed: cannot execute INSERT in a read-only transaction',
	'a view whose aggregate writes fails');
is($node->safe_psql($db, 'SELECT count(*) FROM sink'), '0', 'nothing was written');
healthy_exact('beside views that write');
is(ContinuousCluster::worker_pid($node, $db), $pid, 'the worker did not restart');
my ($rc, $out, $err) = $node->psql($db, 'SELECT * FROM w_insert');
like($err, qr/continuous view "w_insert" is no longer maintained/, 'reading a failed view says so');

# A transaction ID: the view fails, the worker restarts once and goes on.
my $log_offset = -s $node->logfile;
$node->safe_psql($db, q{SELECT continuous.create_view('w_xid', 'SELECT g, sum(take_xid(x)) AS s FROM ev GROUP BY g')});
write_round();
write_round();
like(view_state('w_xid'), qr/^failed: its code took a transaction ID/, 'a view that takes a transaction ID fails');
healthy_exact('after a view took a transaction ID');
my $log = slurp_file($node->logfile, $log_offset);
is(scalar(() = $log =~ /continuous view "w_xid" wrote to the database while the worker maintained it/g), 1,
	'the worker stopped once, naming the view');
unlike($log, qr/output plugin used XID/, 'never with logical decoding\'s own error');

# Compiling a definition folds constants, running IMMUTABLE functions: one
# that takes a transaction ID there fails its view the same way, once; one
# that raises fails its view, and the failure survives restarts (the view
# reads as failed, not as an empty view).
$node->safe_psql($db, q{
	CREATE FUNCTION boom(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'boom %', x; END $$;
});
$log_offset = -s $node->logfile;
$node->safe_psql($db, q{SELECT continuous.create_view('w_fold_xid', 'SELECT sum(x + take_xid(1)) AS s FROM ev')});
$node->safe_psql($db, q{SELECT continuous.create_view('w_boom', 'SELECT sum(x + boom(1)) AS s FROM ev')});
write_round();
like(view_state('w_fold_xid'), qr/^failed: its code took a transaction ID/,
	'a view whose constant folding takes a transaction ID fails');
is(view_state('w_boom'), 'failed: boom 1', 'a view whose definition raises when compiled fails');
healthy_exact('beside views that failed compiling');
$log = slurp_file($node->logfile, $log_offset);
is(scalar(() = $log =~ /continuous view "w_fold_xid" wrote to the database/g), 1,
	'the worker stopped once for it');

# The failed views stay failed and the others exact across a clean restart
# and a crash, and the worker is never brought down again.
$node->restart;
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs after a restart');
write_round();
healthy_exact('after a restart');
like(view_state('w_xid'), qr/^failed/, 'the view stays failed after a restart');
like(view_state('w_insert'), qr/^failed/, 'so does the writing one');
is(view_state('w_boom'), 'failed: boom 1', 'and the one that did not compile, with its error');
($rc, $out, $err) = $node->psql($db, 'SELECT * FROM w_boom');
like($err, qr/continuous view "w_boom" is no longer maintained/, 'it reads as failed, not empty');

$node->safe_psql($db, q{SELECT continuous.create_view('w_xid2', 'SELECT count(*) AS n, sum(take_xid(x)) AS s FROM ev')});
write_round();
$node->stop('immediate');
$node->start;
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs after a crash');
write_round();
write_round();
healthy_exact('after a crash replayed a transaction ID taker');
like(view_state('w_xid2'), qr/^failed/, 'the view that took a transaction ID is failed after the crash');
$log_offset = -s $node->logfile;
$pid = ContinuousCluster::worker_pid($node, $db);
write_round();
healthy_exact('with every failing view still there');
is(ContinuousCluster::worker_pid($node, $db), $pid, 'the worker no longer restarts');
unlike(slurp_file($node->logfile, $log_offset), qr/wrote to the database/, 'nor fails again');

# A view whose code runs longer than continuous.view_timeout fails alone; the
# worker goes on without a restart.
ContinuousCluster::set_config($node, 'continuous.view_timeout' => '1s');
$node->safe_psql($db, q{
	CREATE FUNCTION slow(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
	BEGIN IF x = 4242 THEN PERFORM pg_sleep(60); END IF; RETURN x; END $$;
});
$node->safe_psql($db, q{SELECT continuous.create_view('w_slow', 'SELECT sum(slow(x)) AS s FROM ev')});
write_round();
$pid = ContinuousCluster::worker_pid($node, $db);
$node->safe_psql($db, q{
	BEGIN;
	INSERT INTO ev VALUES (1, 4242);
	INSERT INTO ev_copy VALUES (1, 4242);
	COMMIT;
	SELECT continuous.sync('60 s');
});
is(view_state('w_slow'), 'failed: its code ran longer than continuous.view_timeout (1000 ms)',
	'a view whose code runs longer than continuous.view_timeout fails');
healthy_exact('beside a view that timed out');
is(ContinuousCluster::worker_pid($node, $db), $pid, 'without a worker restart');
write_round();
healthy_exact('after it');
ContinuousCluster::set_config($node, 'continuous.view_timeout' => undef);

# Failed views can be dropped; the others go on.
$node->safe_psql($db, 'DROP VIEW w_insert, w_agg, w_xid, w_xid2, w_fold_xid, w_boom, w_slow');
write_round();
healthy_exact('after the failed views were dropped');
is($node->safe_psql($db, q{SELECT string_agg(name::text, ',' ORDER BY id) || ' ' || string_agg(state, ',' ORDER BY id) FROM continuous.views}),
	'healthy,healthy_tb ready,ready', 'only the healthy views are left, ready');

done_testing();
