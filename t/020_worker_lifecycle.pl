# Worker lifecycle: configuration checks at CREATE EXTENSION, the worker in
# pg_stat_activity, no slot left after DROP EXTENSION, exactly-once across a
# worker restart and server restarts, and a full shared memory area that
# pauses the worker without losing or corrupting anything.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ContinuousCluster;

# --- Configuration refusals ------------------------------------------------

my $nopreload = PostgreSQL::Test::Cluster->new('nopreload');
$nopreload->init(allows_streaming => 'logical');
$nopreload->start;
my ($rc, $out, $err) = $nopreload->psql('postgres', 'CREATE EXTENSION pg_continuous');
isnt($rc, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like($err, qr/must be loaded via shared_preload_libraries/, 'error names shared_preload_libraries');
like($err, qr/HINT:.*shared_preload_libraries/, 'with a hint');
$nopreload->stop;

my $replica = ContinuousCluster::new_node('walreplica', wal_level => 'replica');
($rc, $out, $err) = $replica->psql('postgres', 'CREATE EXTENSION pg_continuous');
isnt($rc, 0, 'CREATE EXTENSION fails with wal_level = replica');
like($err, qr/requires wal_level = logical/, 'error names wal_level');
ok($replica->log_contains(qr/pg_continuous requires wal_level = logical/),
	'the launcher logs the wal_level problem');
$replica->stop;

# --- Worker, slot, DROP EXTENSION ------------------------------------------

my $node = ContinuousCluster::new_node('main');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, 'postgres'), 'CREATE EXTENSION starts the worker');
is( $node->safe_psql('postgres',
		"SELECT application_name FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'"),
	'pg_continuous worker',
	'worker is recognisable in pg_stat_activity');

$node->safe_psql('postgres', q{
	SELECT continuous.create_stream('ev', 'g int, x bigint');
	SELECT continuous.create_view('ev_sum', 'SELECT g, count(*) AS n, sum(x) AS s FROM ev GROUP BY g');
	INSERT INTO ev SELECT i % 7, i FROM generate_series(1, 1000) i;
	SELECT continuous.sync();
});
is($node->safe_psql('postgres', 'SELECT sum(n) FROM ev_sum'), '1000', 'events counted');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'"),
	'1', 'the worker owns one slot');

$node->safe_psql('postgres', 'DROP EXTENSION pg_continuous CASCADE');
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'")
  or die 'slot not dropped';
pass('DROP EXTENSION drops the slot');
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'")
  or die 'worker still running';
pass('DROP EXTENSION stops the worker');

# DROP DATABASE is not blocked by the worker, and leaves no slot.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, 'other'), 'worker runs in a second database');
$node->safe_psql('postgres', 'DROP DATABASE other');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'"),
	'0', 'DROP DATABASE leaves no slot');

# The extension can come back, immediately.
$node->safe_psql('postgres', 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, 'postgres'), 'worker starts again');

# --- The worker's own SQL does not call functions found in search_path -----
# A database's owner can set its search_path; with a schema of its own
# before pg_catalog, an operator = (int4, int4) there would win over
# pg_catalog's in the statements a checkpoint runs (DELETE ... WHERE
# view_id = $1 when a view is dropped).  The worker, a superuser, must not
# call it: its own statements run with search_path = pg_catalog, pg_temp.
$node->safe_psql('postgres', 'CREATE DATABASE hardened');
$node->safe_psql('hardened', q{
	CREATE EXTENSION pg_continuous;
	CREATE SCHEMA evil;
	CREATE TABLE evil.calls (backend_type text);
	CREATE FUNCTION evil.int4eq(int4, int4) RETURNS bool
	LANGUAGE plpgsql AS $fn$
	BEGIN
		INSERT INTO evil.calls SELECT backend_type FROM pg_catalog.pg_stat_activity
		WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
		RETURN $1 OPERATOR(pg_catalog.=) $2;
	END
	$fn$;
	CREATE OPERATOR evil.= (LEFTARG = int4, RIGHTARG = int4, FUNCTION = evil.int4eq);
	CREATE TABLE tgt (g int);
	SELECT continuous.create_view('tgt_n', 'SELECT g, count(*) AS n FROM tgt GROUP BY g');
	SELECT continuous.create_view('tgt_all', 'SELECT count(*) AS n FROM tgt');
	INSERT INTO tgt SELECT i % 5 FROM generate_series(1, 50) i;
	SELECT continuous.sync();
	ALTER DATABASE hardened SET search_path = evil, pg_catalog, public;
});
my $inserted_lsn = $node->safe_psql('hardened', 'SELECT pg_current_wal_lsn()');
ContinuousCluster::set_config($node, 'continuous.checkpoint_interval' => '1s');
ok( ContinuousCluster::wait_until($node, 'hardened',
		"SELECT last_checkpoint_lsn >= '$inserted_lsn' FROM continuous.worker_stats"),
	'the worker checkpoints the groups');
is($node->safe_psql('hardened', 'SELECT count(*) FROM continuous.checkpoint_group'), '6',
	'the checkpoint holds both views\' groups');
my $hardened_pid = ContinuousCluster::worker_pid($node, 'hardened');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($hardened_pid)");
ok(ContinuousCluster::wait_for_new_worker($node, 'hardened', $hardened_pid),
	'a new worker starts with the database\'s search_path');
$node->safe_psql('hardened', q{
	SELECT continuous.drop_view('tgt_n');
	INSERT INTO tgt VALUES (7);
	SELECT continuous.sync();
});
my $dropped_lsn = $node->safe_psql('hardened', 'SELECT pg_current_wal_lsn()');
ok( ContinuousCluster::wait_until($node, 'hardened',
		"SELECT last_checkpoint_lsn >= '$dropped_lsn' FROM continuous.worker_stats"),
	'the worker checkpoints after the drop');
ContinuousCluster::set_config($node, 'continuous.checkpoint_interval' => undef);
is($node->safe_psql('hardened', q{SELECT count(*) FROM continuous.checkpoint_view}), '1',
	'the checkpoint forgot the dropped view');
is($node->safe_psql('hardened', q{SELECT count(*) FROM evil.calls WHERE backend_type = 'pg_continuous worker'}),
	'0', 'the worker did not call the operator = of a schema in the database\'s search_path');
$node->safe_psql('postgres', 'DROP DATABASE hardened');

# --- An error in one view fails it alone, with the view and LSN as context --

{
	my $log_offset = -s $node->logfile;
	$node->safe_psql('postgres', q{
		SELECT continuous.create_stream('ov', 'x int');
		SELECT continuous.create_view('ov_sum', 'SELECT sum(x) AS s FROM ov');
		SELECT continuous.create_view('ov_count', 'SELECT count(*) AS n FROM ov');
	});
	# The sum of int is a bigint: an int2 cast of a large value overflows instead.
	$node->safe_psql('postgres', q{
		SELECT continuous.create_view('ov_small', 'SELECT sum(x::int2) AS s FROM ov');
	});
	my $before = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$node->safe_psql('postgres', 'INSERT INTO ov VALUES (1), (40000)');
	my $after = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$node->safe_psql('postgres', 'SELECT continuous.sync()');
	is($node->safe_psql('postgres', q{SELECT state || ': ' || error FROM continuous.views WHERE name = 'ov_small'::regclass}),
		'failed: smallint out of range', 'the failing view is failed, with the error');
	is($node->safe_psql('postgres', 'SELECT n FROM ov_count'), '2', 'the other views go on');
	is($node->safe_psql('postgres', 'SELECT s FROM ov_sum'), '40001', 'exactly');
	my $log = slurp_file($node->logfile, $log_offset);
	like($log, qr/continuous view "ov_small" is no longer maintained.*\n.*DETAIL:  smallint out of range\n.*CONTEXT:  applying the transaction that ends at [0-9A-F]+\/[0-9A-F]+ to continuous view "ov_small"/,
		'the log names the view and the transaction');
	my ($end) = $log =~ /applying the transaction that ends at ([0-9A-F]+\/[0-9A-F]+) to continuous view "ov_small"/;
	ok( defined $end
		  && ContinuousCluster::lsn_value($end) > ContinuousCluster::lsn_value($before)
		  && ContinuousCluster::lsn_value($end) <= ContinuousCluster::lsn_value($after),
		'the context gives the end of the failing transaction')
	  or diag("context LSN " . ($end // 'none') . ", the INSERT between $before and $after");
	$node->safe_psql('postgres', 'DROP VIEW ov_small, ov_sum, ov_count; SELECT continuous.drop_stream(\'ov\')');
}

# --- Exactly-once across worker and server restarts ------------------------

$node->safe_psql('postgres', q{
	CREATE TABLE t (g int, x bigint, y float8);
	CREATE TABLE shadow (g int, x bigint);
	SELECT continuous.create_stream('s', 'g int, x bigint');
	SELECT continuous.create_view('vt', 'SELECT g, count(*) AS n, sum(x) AS sx, avg(y) AS ay, max(x) AS mx FROM t GROUP BY g');
	SELECT continuous.create_view('vs', 'SELECT g % 5 AS k, count(*) AS n, sum(x) AS sx FROM s GROUP BY 1');
});

my $batch = 0;
sub write_batch
{
	$batch++;
	$node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO t SELECT i % 13, i * $batch, i * 0.25 FROM generate_series(1, 500) i;
		INSERT INTO s SELECT i % 17, i + $batch FROM generate_series(1, 500) i;
		INSERT INTO shadow SELECT i % 17, i + $batch FROM generate_series(1, 500) i;
		COMMIT;
	});
}

sub views_match
{
	my ($label) = @_;
	$node->safe_psql('postgres', 'SELECT continuous.sync()');
	my $diff = $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM (
			(SELECT * FROM vt EXCEPT ALL
			 SELECT g, count(*), sum(x), avg(y), max(x) FROM t GROUP BY g)
			UNION ALL
			(SELECT g, count(*), sum(x), avg(y), max(x) FROM t GROUP BY g
			 EXCEPT ALL SELECT * FROM vt)) d)
		 + (SELECT count(*) FROM (
			(SELECT * FROM vs EXCEPT ALL
			 SELECT g % 5, count(*), sum(x) FROM shadow GROUP BY 1)
			UNION ALL
			(SELECT g % 5, count(*), sum(x) FROM shadow GROUP BY 1
			 EXCEPT ALL SELECT * FROM vs)) d)
	});
	is($diff, '0', "views equal their definitions $label");
}

write_batch();
views_match('before any restart');

# (y is a multiple of 1/4, so float sums are exact in any order.)
# Terminate the worker (it exits with an error and is restarted): the state in
# shared memory survives, and re-decoded transactions must not count twice.
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'");
write_batch();
write_batch();
ok(ContinuousCluster::wait_for_worker($node, 'postgres'), 'worker restarted after termination');
views_match('after the worker was terminated');

$node->restart;
write_batch();
views_match('after a clean server restart');

$node->stop('immediate');
$node->start;
write_batch();
views_match('after an immediate shutdown');

# --- Full shared memory ----------------------------------------------------

my $small = ContinuousCluster::new_node('small', 'continuous.shared_memory' => '1MB');
$small->safe_psql('postgres', q{
	CREATE EXTENSION pg_continuous;
	CREATE TABLE few (g int);
	CREATE TABLE many (id int);
	SELECT continuous.create_view('few_v', 'SELECT g, count(*) AS n FROM few GROUP BY g');
	SELECT continuous.create_view('many_v', 'SELECT id, count(*) AS n FROM many GROUP BY id');
});
$small->safe_psql('postgres', 'SELECT continuous.sync()');
$small->safe_psql('postgres', q{
	INSERT INTO few SELECT i % 3 FROM generate_series(1, 30) i;
	INSERT INTO many SELECT generate_series(1, 50000);
	INSERT INTO few SELECT i % 3 FROM generate_series(1, 30) i;
});
($rc, $out, $err) = $small->psql('postgres', "SELECT continuous.sync('3 s')");
isnt($rc, 0, 'sync times out while shared memory is full');
like($err, qr/continuous\.shared_memory/, 'the error names the GUC');
like($err, qr/many_v/, 'the error names the view');
like($small->safe_psql('postgres', 'SELECT error FROM continuous._worker_state()'),
	qr/full while applying continuous view .*many_v/, 'continuous._worker_state() shows why');
ok($small->log_contains(qr/shared memory for continuous views is full/), 'the worker logs it');
is($small->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'}),
	'1', 'the worker did not crash');

# A paused worker costs next to nothing: it retries the merge that did not
# fit only once memory is given back, not at every wakeup (commits wake it).
my $retries = sub {
	my @m = PostgreSQL::Test::Utils::slurp_file($small->logfile) =~ /retrying the merge that did not fit/g;
	return scalar @m;
};
my $retries_before = $retries->();
foreach my $i (1 .. 8)
{
	$small->safe_psql('postgres', 'INSERT INTO few VALUES (0)');
	usleep(500_000);
}
is($retries->(), $retries_before, 'no retry while no memory is given back, commits or not');

# Making room lets it resume; nothing was lost for the other view.
$small->safe_psql('postgres', q{
	SELECT continuous.drop_view('many_v');
	SELECT continuous.sync('30 s');
});
cmp_ok($retries->(), '>', $retries_before, 'dropping a view makes the paused worker retry');
is($small->safe_psql('postgres', q{SELECT string_agg(g || ':' || n, ',' ORDER BY g) FROM few_v}),
	'0:28,1:20,2:20', 'after room is made, the other view has every change');
is($small->safe_psql('postgres', 'SELECT error IS NULL FROM continuous._worker_state()'),
	't', 'the pause is over');

# The same when the kept inputs of a view over a table do not fit: the merge
# gives back the runs it made, the view stays untouched, and dropping it
# frees every byte it held.
my $used_before = $small->safe_psql('postgres', 'SELECT shared_memory_used FROM continuous.worker_stats');
$small->safe_psql('postgres', q{
	CREATE TABLE kept (id int);
	SELECT continuous.create_view('kept_v', 'SELECT min(id) AS lo, max(id) AS hi FROM kept');
	SELECT continuous.sync('30 s');
	INSERT INTO kept SELECT generate_series(1, 100000);
	INSERT INTO few VALUES (0);
});
($rc, $out, $err) = $small->psql('postgres', "SELECT continuous.sync('3 s')");
isnt($rc, 0, 'sync times out while the kept inputs do not fit');
like($err, qr/kept_v/, 'the error names the view keeping inputs');
$small->safe_psql('postgres', q{
	SELECT continuous.drop_view('kept_v');
	SELECT continuous.sync('30 s');
});
is($small->safe_psql('postgres', q{SELECT string_agg(g || ':' || n, ',' ORDER BY g) FROM few_v}),
	'0:29,1:20,2:20', 'after the view keeping inputs is dropped, the other view has every change');
is($small->safe_psql('postgres', 'SELECT shared_memory_used FROM continuous.worker_stats'),
	$used_before, 'shared memory use is back where it was: no run was leaked');

done_testing();
