# t/030_crash_recovery.pl: checkpoints and crash recovery (DESIGN.md 3.3,
# exactly-once).
#
# A background client runs a procedure that commits, in a loop, small
# batches of events to the stream ev and the same rows to the plain table sh
# in the same transaction (some batches roll back, some lose a
# subtransaction).  The same transactions insert into, update and delete
# from a third table, chg, so that views over a changing table (retracting
# rows, min/max recomputed from kept inputs, groups that empty and vanish)
# live through the same crashes.  Meanwhile the test crashes the server at random moments:
#
#   worker      kill -9 of the database's pg_continuous worker; the
#               postmaster then crash-restarts the whole server, so shared
#               memory is lost and the worker must rebuild its state from
#               its last checkpoint and the slot
#   checkpoint  the same, while the worker is inside a checkpoint
#               (continuous.debug_checkpoint_delay holds the checkpoint's
#               transaction open; the worker shows query = 'checkpoint');
#               the checkpoint it then loads must be the one committed
#               before
#   immediate   pg_ctl stop -m immediate, then start
#
# After each restart: the worker loaded a checkpoint and started decoding
# at or before it, and after continuous.sync() every view equals its
# defining query run over sh (views over the stream), or over the table
# itself (views over sh and chg).  Then a clean restart: the worker resumes from the
# checkpoint written at shutdown, with no WAL replay before it.  Last,
# reads of views are not blocked while a checkpoint runs.
#
# Environment:
#   CONTINUOUS_TEST_SEED     seed of the data and of the kill schedule
#                            (default 12345)
#   CONTINUOUS_CRASH_POINTS  number of kill points (default 10)

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ContinuousCluster;

my $seed   = $ENV{CONTINUOUS_TEST_SEED}    // 12345;
my $points = $ENV{CONTINUOUS_CRASH_POINTS} // 10;
die "CONTINUOUS_TEST_SEED must be an integer\n"    unless $seed =~ /^\d+$/;
die "CONTINUOUS_CRASH_POINTS must be an integer\n" unless $points =~ /^\d+$/;
diag("crash recovery test: CONTINUOUS_TEST_SEED=$seed CONTINUOUS_CRASH_POINTS=$points");
srand($seed);
my $data_seed = $seed % 1000003;

my $db = 'postgres';

# restart_after_crash: PostgreSQL::Test::Cluster turns it off, and a kill -9
# of the worker must crash-restart the server, not stop it.
my $node = ContinuousCluster::new_node(
	'crash',
	restart_after_crash             => 'on',
	'continuous.checkpoint_interval' => '1s');
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
if (!ok(ContinuousCluster::wait_for_worker($node, $db), 'worker started'))
{
	done_testing();
	exit;
}

###########################################################################
# Schema, views and the writer
###########################################################################

# gen(batch, rows, seed): the rows of one batch, a function of its
# arguments only, so the stream and the shadow table get the same rows.
# y is positive, so float sums in any order stay within a relative 1e-9.
$node->safe_psql($db, <<'SQL');
CREATE TABLE sh (g int, k text, x bigint, y float8, ts timestamptz);
SELECT continuous.create_stream('ev', 'g int, k text, x bigint, y float8, ts timestamptz');
CREATE SEQUENCE batch_seq;
CREATE TABLE chg (bid bigint, g int, k text, x bigint, y float8);
CREATE INDEX ON chg (bid);
ALTER TABLE chg REPLICA IDENTITY FULL;

CREATE FUNCTION h(v bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
AS $$ SELECT hashint8(v)::bigint + 2147483648 $$;

CREATE FUNCTION gen(b bigint, n int, s int)
RETURNS TABLE (g int, k text, x bigint, y float8, ts timestamptz)
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN j % 23 = 0 THEN NULL ELSE (h(j + s) % 50)::int END,
	       chr(97 + (h(j * 7 + s) % 6)::int),
	       h(j * 3 + s) - 2147483648,
	       CASE WHEN j % 19 = 0 THEN NULL ELSE (h(j * 5 + s) % 100000)::float8 / 7 + 0.001 END,
	       timestamptz '2024-03-01 00:00:00+00' + j * interval '0.5 s'
	         + (h(j * 11 + s) % 600) * interval '1 s'
	FROM generate_series(b * 1000, b * 1000 + n - 1) AS j
$$;

-- Commits batches until killed.  Every ninth batch rolls back; every
-- seventh also writes in a subtransaction that fails.  chg holds about the
-- last 60 batches: each batch inserts its rows, moves the rows of an older
-- batch to other groups and deletes those of older ones.
CREATE PROCEDURE ingest(batches int, s int) LANGUAGE plpgsql AS $$
DECLARE
	b bigint;
	n int;
BEGIN
	FOR i IN 1 .. batches LOOP
		b := nextval('batch_seq');
		n := 1 + (h(b + s) % 40)::int;
		INSERT INTO ev SELECT * FROM gen(b, n, s);
		INSERT INTO sh SELECT * FROM gen(b, n, s);
		INSERT INTO chg SELECT b, r.g, r.k, r.x, r.y FROM gen(b, n, s) AS r;
		UPDATE chg SET g = (coalesce(g, 0) + 7) % 50, k = upper(k), x = -x WHERE bid = b - 30;
		DELETE FROM chg WHERE bid = b - 60 OR (bid = b - 10 AND x % 3 = 0);
		IF b % 7 = 0 THEN
			BEGIN
				INSERT INTO ev SELECT * FROM gen(b + 500000000, 5, s);
				INSERT INTO sh SELECT * FROM gen(b + 500000000, 5, s);
				DELETE FROM chg WHERE bid = b - 20;
				RAISE EXCEPTION 'undo this subtransaction';
			EXCEPTION WHEN raise_exception THEN
				NULL;
			END;
		END IF;
		IF b % 9 = 0 THEN
			ROLLBACK;
		ELSE
			COMMIT;
		END IF;
		PERFORM pg_sleep(0.002);
	END LOOP;
END
$$;
SQL

# name => [ definition, oracle, ORDER BY of the comparison ]
my %views = (
	v_grp => [
		'SELECT g, count(*) AS n, count(y) AS ny, sum(x) AS sx, avg(y) AS ay, '
		  . 'min(x) AS mnx, max(y) AS mxy FROM ev GROUP BY g',
		'g'
	],
	v_win => [
		"SELECT continuous.tumble(ts, '1 hour') AS w, count(*) AS n, sum(y) AS sy, "
		  . 'max(k) AS mk, min(ts) AS first FROM ev GROUP BY w',
		'w'
	],
	v_all => [
		'SELECT count(*) AS n, sum(x) AS sx, avg(y) AS ay, min(y) AS mny, max(ts) AS last FROM ev',
		undef
	],
	v_where => [
		'SELECT k, g % 3 AS m, count(*) AS n, sum(y) FILTER (WHERE x > 0) AS sy, '
		  . 'max(x) AS mx FROM ev WHERE g IS NOT NULL GROUP BY k, g % 3',
		'k, m'
	],
	v_tab => [ 'SELECT k, count(*) AS n, sum(x) AS sx, avg(y) AS ay FROM sh GROUP BY k', 'k' ],
	v_chg => [
		'SELECT g, count(*) AS n, sum(x) AS sx, min(x) AS mnx, max(y) AS mxy, '
		  . 'count(DISTINCT k) AS dk, bool_or(x > 0) AS anypos FROM chg GROUP BY g',
		'g'
	],
	v_chg_all => [
		'SELECT count(*) AS n, min(bid) AS first, max(bid) AS last, sum(y) AS sy, max(k) AS mk FROM chg',
		undef
	],);
foreach my $name (sort keys %views)
{
	my $def = $views{$name}[0];
	$node->safe_psql($db, "SELECT continuous.create_view('$name', \$\$ $def \$\$)");
	# the oracle: the same query over the shadow table
	(my $oracle = $def) =~ s/\bFROM ev\b/FROM sh/;
	push @{ $views{$name} }, $oracle;
}

sub check_all_views
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	foreach my $name (sort keys %views)
	{
		my ($def, $order, $oracle) = @{ $views{$name} };
		ContinuousCluster::view_equals_ok($node, $db, $name, $oracle, $order,
			"$label: $name equals its definition");
	}
}

sub sync_ok
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($rc, $out, $err) = $node->psql($db, "SELECT continuous.sync('60 s')",
		timeout => $PostgreSQL::Test::Utils::timeout_default);
	return ok($rc == 0, "$label: sync") || diag("seed=$seed: continuous.sync() failed: $err");
}

# The writer: psql running CALL ingest(...) until the server goes away or
# stop_writer ends it.
my ($writer, $writer_out, $writer_err);

sub start_writer
{
	($writer_out, $writer_err) = ('', '');
	$writer = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq', '-d',
			$node->connstr($db) . ' application_name=crash_writer',
			'-c', "CALL ingest(100000000, $data_seed)"
		],
		'<', \undef, '>', \$writer_out, '2>', \$writer_err);
	return;
}

# Wait for the writer's psql to end (the server went away, or it was
# terminated); one test: it saw no ERROR, only its connection's end.
sub finish_writer
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $deadline = time() + 60;
	while ($writer->pumpable && time() < $deadline)
	{
		$writer->pump_nb;
		usleep(50_000);
	}
	my $died = '';
	if ($writer->pumpable)
	{
		$writer->kill_kill;
		$died = 'still running 60 s after its server went away';
	}
	else
	{
		eval { $writer->finish; };
		$died = $@;
	}
	ok(!$died && $writer_err !~ /ERROR:/, "$label: the writer failed only by losing its connection")
	  or diag("writer stderr: $writer_err" . ($died ? "\nharness: $died" : ''));
	$writer = undef;
	return;
}

sub stop_writer
{
	$node->safe_psql($db,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crash_writer'");
	return;
}

# One committed batch of 5 events, outside the writer.
sub write_batch
{
	$node->safe_psql($db, <<"SQL");
DO \$\$
DECLARE
	b bigint := nextval('batch_seq');
BEGIN
	INSERT INTO ev SELECT * FROM gen(b, 5, $data_seed);
	INSERT INTO sh SELECT * FROM gen(b, 5, $data_seed);
END
\$\$;
SQL
	return;
}

sub rows_in_shadow
{
	return $node->safe_psql($db, 'SELECT count(*) FROM sh');
}

sub checkpoint_lsn
{
	return $node->safe_psql($db, 'SELECT lsn FROM continuous.checkpoint');
}

my $LOADED  = qr{pg_continuous: loaded checkpoint at ([0-9A-F]+/[0-9A-F]+)};
my $STARTED = qr{pg_continuous: worker started, decoding transactions that commit after ([0-9A-F]+/[0-9A-F]+)};

# A first checkpoint must exist before the first crash (creating v_tab, a
# view over a table, already took one, before its backfill).
start_writer();
ok( ContinuousCluster::wait_until($node, $db, 'SELECT count(*) = 1 FROM continuous.checkpoint'),
	'a checkpoint exists before the first kill');
ok( ContinuousCluster::wait_until($node, $db,
		'SELECT c.lsn IS NOT NULL AND c.lsn = w.last_checkpoint_lsn AND w.confirmed_lsn = c.lsn'
		  . ' FROM continuous.checkpoint c, continuous.worker_stats w'),
	'after a checkpoint, worker_stats shows it and the slot is confirmed to its LSN');
is( $node->safe_psql($db, 'SELECT slot_name FROM continuous.worker_stats'),
	ContinuousCluster::slot_name($node, $db),
	'worker_stats names the worker slot');

###########################################################################
# Kill points
###########################################################################

# The schedule: point 1 kills the worker, point 2 stops the server, point 3
# kills the worker during a checkpoint, and so does every tenth point after
# it; the rest are drawn.
my @kinds;
for my $p (1 .. $points)
{
	push @kinds,
	    $p == 1            ? 'worker'
	  : $p == 2            ? 'immediate'
	  : ($p % 10 == 3)     ? 'checkpoint'
	  : rand() < 0.6       ? 'worker'
	  :                      'immediate';
}
note('kill schedule: ' . join(' ', @kinds));

my $broken = 0;
my $grew = 0;
my $rows_before = rows_in_shadow();
for my $p (1 .. $points)
{
	my $kind  = $kinds[ $p - 1 ];
	my $label = "point $p ($kind)";
	my $pause = 0.05 + rand(2.0);

	start_writer() unless $writer;
	my $old_pid = ContinuousCluster::worker_pid($node, $db);
	my $offset  = -s $node->logfile;
	my $committed_lsn;

	if ($kind eq 'checkpoint')
	{
		ContinuousCluster::set_config($node, 'continuous.debug_checkpoint_delay' => '5000');
		usleep(int($pause * 1_000_000));
		my $in_checkpoint = ContinuousCluster::wait_until($node, $db,
			    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'"
			  . " AND query = 'checkpoint' AND state = 'active'");
		ok($in_checkpoint, "$label: the worker shows query = 'checkpoint'");
		# The checkpoint sleeps in its transaction: what is visible is the
		# previous one, and that is what must be loaded after the crash.
		$committed_lsn = checkpoint_lsn();
		$old_pid = ContinuousCluster::worker_pid($node, $db);
		kill 'KILL', $old_pid if defined $old_pid;
	}
	elsif ($kind eq 'worker')
	{
		usleep(int($pause * 1_000_000));
		$old_pid = ContinuousCluster::worker_pid($node, $db);
		ok(defined $old_pid, "$label: the worker runs") or do { $broken = 1; last; };
		kill 'KILL', $old_pid;
	}
	else
	{
		usleep(int($pause * 1_000_000));
		$node->stop('immediate');
		$node->start;
	}

	ok(ContinuousCluster::wait_for_new_worker($node, $db, $old_pid, 120),
		"$label: worker back after the restart")
	  or do { $broken = 1; last; };
	ContinuousCluster::set_config($node, 'continuous.debug_checkpoint_delay' => undef)
	  if $kind eq 'checkpoint';
	finish_writer($label);

	# Without a working worker every later check would only time out.
	if (!sync_ok($label))
	{
		$broken = 1;
		last;
	}
	my @loaded  = ContinuousCluster::log_lsns($node, $offset, $LOADED);
	my @started = ContinuousCluster::log_lsns($node, $offset, $STARTED);
	ok(@loaded >= 1 && @started >= 1, "$label: the worker loaded a checkpoint and logged where it starts")
	  or diag('log since the kill:' . PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset));
	if (@loaded && @started)
	{
		# The slot is confirmed only after a checkpoint commits, so decoding
		# never starts beyond the checkpoint (events in between would be
		# lost).
		ok( ContinuousCluster::lsn_value($started[0]) <= ContinuousCluster::lsn_value($loaded[0]),
			"$label: decoding starts at or before the loaded checkpoint")
		  or diag("loaded checkpoint at $loaded[0], decoding after $started[0]");
		is($loaded[0], $committed_lsn, "$label: the checkpoint killed midway is not the one loaded")
		  if $kind eq 'checkpoint';
	}
	check_all_views($label);

	my $rows = rows_in_shadow();
	$grew++ if $rows > $rows_before;
	$rows_before = $rows;
}
if ($broken)
{
	diag("seed=$seed: stopping after a failed restart; server log: " . $node->logfile);
	$node->stop('immediate');
	done_testing();
	exit;
}
ok($grew >= $points / 2, "the writer committed rows before most kill points ($grew of $points)");
note("rows in the shadow table: $rows_before");
ok( $node->safe_psql($db,
		"SELECT count(*) FILTER (WHERE k <> lower(k)) > 0 AND count(*) < (SELECT count(*) FROM sh) FROM chg") eq 't',
	'the writer updated rows of chg and deleted some');

###########################################################################
# Clean restart: resume from the shutdown checkpoint, no replay before it
###########################################################################

start_writer() unless $writer;
usleep(500_000);
stop_writer();
finish_writer('clean restart');
# A last batch whose commit lies after $before: the shutdown checkpoint must
# reflect it.
my $before = $node->safe_psql($db, 'SELECT pg_current_wal_insert_lsn()');
write_batch();
sync_ok('before a clean restart');
ok( ContinuousCluster::wait_until($node, $db,
		'SELECT c.lsn = w.last_checkpoint_lsn AND w.confirmed_lsn = c.lsn'
		  . ' FROM continuous.checkpoint c, continuous.worker_stats w'),
	'checkpoint, worker_stats and the slot agree before the clean restart');
# No periodic checkpoint from here on: the only one left is the shutdown
# checkpoint, which the table must still show after the restart.
ContinuousCluster::set_config($node, 'continuous.checkpoint_interval' => '3600');
my $lsn_before = checkpoint_lsn();
my $offset = -s $node->logfile;
my $old_pid = ContinuousCluster::worker_pid($node, $db);
$node->restart;
ok(ContinuousCluster::wait_for_new_worker($node, $db, undef), 'worker back after a clean restart');
sync_ok('after a clean restart');
my $lsn_after = checkpoint_lsn();
my @loaded  = ContinuousCluster::log_lsns($node, $offset, $LOADED);
my @started = ContinuousCluster::log_lsns($node, $offset, $STARTED);
ok(ContinuousCluster::lsn_value($lsn_after) >= ContinuousCluster::lsn_value($lsn_before),
	"the shutdown checkpoint ($lsn_after) is not older than the last one before ($lsn_before)");
ok(ContinuousCluster::lsn_value($lsn_after) > ContinuousCluster::lsn_value($before),
	'the shutdown checkpoint reflects the last commit before the restart');
is($loaded[0] // '(none)', $lsn_after, 'the worker loaded the shutdown checkpoint');
is($started[0] // '(none)', $lsn_after,
	'the worker resumed decoding at the checkpoint LSN: no WAL replay beyond the last checkpoint');
is( $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '"
		  . ContinuousCluster::slot_name($node, $db) . "'"),
	$lsn_after,
	'the slot is confirmed to the checkpoint LSN');
is($node->safe_psql($db, 'SELECT confirmed_lsn FROM continuous.worker_stats'),
	$lsn_after, 'worker_stats shows the confirmed LSN');
check_all_views('after a clean restart');

###########################################################################
# Checkpoints release WAL
###########################################################################

# The slot's restart point can only move past a running-transactions record
# (CHECKPOINT writes one) that the worker decoded and then confirmed in a
# checkpoint; two such rounds move it.
ContinuousCluster::set_config($node, 'continuous.checkpoint_interval' => '1s');
my $restart_before = $node->safe_psql('postgres',
	"SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '"
	  . ContinuousCluster::slot_name($node, $db) . "'");
for my $round (1 .. 3)
{
	$node->safe_psql($db, 'CHECKPOINT');
	my $lsn = $node->safe_psql($db, 'SELECT pg_current_wal_insert_lsn()');
	write_batch();
	ContinuousCluster::wait_until($node, $db, "SELECT lsn > '$lsn' FROM continuous.checkpoint")
	  or last;
}
my $restart_after = $node->safe_psql('postgres',
	"SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '"
	  . ContinuousCluster::slot_name($node, $db) . "'");
ok( ContinuousCluster::lsn_value($restart_after) > ContinuousCluster::lsn_value($restart_before),
	"checkpoints move the slot's restart_lsn ($restart_before to $restart_after)");
ok( $node->safe_psql($db,
		'SELECT retained_wal_bytes < pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '
		  . "'$restart_before') FROM continuous.worker_stats") eq 't',
	'worker_stats.retained_wal_bytes shows less WAL retained');
sync_ok('after the WAL rounds');
check_all_views('after the WAL rounds');

###########################################################################
# Reads while a checkpoint runs
###########################################################################

# A stream no other view reads: an event into it gives the next checkpoint
# something to write, without changing the views compared below.
$node->safe_psql($db, q{
	SELECT continuous.create_stream('poke', 'x int');
	SELECT continuous.create_view('poke_n', 'SELECT count(*) AS n FROM poke');
	SELECT continuous.sync();
});
ContinuousCluster::set_config($node, 'continuous.debug_checkpoint_delay' => '4000');
$node->safe_psql($db, 'INSERT INTO poke VALUES (1)');
my $worker_in_checkpoint =
    "SELECT query_start FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker'"
  . " AND query = 'checkpoint' AND state = 'active'";
ok(ContinuousCluster::wait_until($node, $db, "SELECT count(*) = 1 FROM ($worker_in_checkpoint) q"),
	"the worker shows query = 'checkpoint'");
my $started_at = $node->safe_psql($db, $worker_in_checkpoint);
my $t0 = time();
my @diffs_grp = ContinuousCluster::view_diff($node, $db, 'v_grp', $views{v_grp}[2], $views{v_grp}[1]);
my @diffs_all = ContinuousCluster::view_diff($node, $db, 'v_all', $views{v_all}[2], $views{v_all}[1]);
my ($rc, $out, $err) = $node->psql($db, 'SELECT count(*) FROM continuous.views', timeout => 10);
my $elapsed = time() - $t0;
my $still = $node->safe_psql($db, $worker_in_checkpoint);
is($still, $started_at, 'the same checkpoint was still running after the reads');
ok($elapsed < 3, sprintf('reads during a checkpoint return promptly (%.2f s)', $elapsed));
ok(!@diffs_grp, 'v_grp read during a checkpoint equals its definition')
  or diag(join("\n", @diffs_grp));
ok(!@diffs_all, 'v_all read during a checkpoint equals its definition')
  or diag(join("\n", @diffs_all));
is($rc, 0, 'continuous.views can be read during a checkpoint') or diag($err);
ContinuousCluster::set_config($node, 'continuous.debug_checkpoint_delay' => undef);
sync_ok('after the slow checkpoint');
is($node->safe_psql($db, 'SELECT n FROM poke_n'), '1', 'the event that started the checkpoint counted');

$node->stop;
done_testing();
