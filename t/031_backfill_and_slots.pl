# t/031_backfill_and_slots.pl: backfill of views over tables that hold
# rows, recovery from a lost replication slot, and no slot left behind.
#
# (a) Backfill under concurrent writers: pgbench clients insert into a plain
#     table and a partitioned table that already hold rows while views over
#     them are created.  A view reads as "initializing" (SQLSTATE 55000)
#     until its backfill is done; after the writers stop and
#     continuous.sync(), every view equals its defining query.
# (b) Slot loss: with continuous.enabled = off the worker releases its slot;
#     max_slot_wal_keep_size and a few WAL segments invalidate it.  Turned on
#     again, the worker logs the invalidated slot, makes a new one,
#     re-backfills the view over a table, marks the views over a stream with
#     the range of lost events (events_lost_from/to), and counts new events.
#     The same for a slot dropped while the worker was off, found missing at
#     the worker's start.
# (c) No slot left: no backfill slot after backfills, none while a database
#     has no views (none after CREATE EXTENSION, none once its last view is
#     dropped; the next view brings a slot back and counts what commits
#     after it), none of a dropped database, none after DROP EXTENSION.
#
# Environment: CONTINUOUS_TEST_SEED (default 12345) seeds pgbench.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ContinuousCluster;

my $seed = $ENV{CONTINUOUS_TEST_SEED} // 12345;
die "CONTINUOUS_TEST_SEED must be an integer\n" unless $seed =~ /^\d+$/;
diag("backfill and slots test: CONTINUOUS_TEST_SEED=$seed");

my $db = 'postgres';
my $NO_BACKFILL_SLOT =
  "SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%backfill%'";

# Wait until $db's worker runs and its slot is persistent.
sub wait_for_slot
{
	my ($node, $db) = @_;
	return ContinuousCluster::wait_for_worker($node, $db)
	  && ContinuousCluster::wait_until($node, $db,
		    "SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = '"
		  . ContinuousCluster::slot_name($node, $db)
		  . "' AND confirmed_flush_lsn IS NOT NULL");
}

sub view_state
{
	my ($node, $db, $view) = @_;
	return $node->safe_psql($db, "SELECT state FROM continuous.views WHERE name = '$view'::regclass");
}

###########################################################################
# (a) Backfill under concurrent writers
###########################################################################

my $node = ContinuousCluster::new_node('backfill', log_statement => 'ddl');
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'worker ready');

# bt: a plain table; pt: partitioned, one partition with its columns in
# another order and a dropped column.  Both hold rows before any view.
$node->safe_psql($db, <<'SQL');
CREATE TABLE bt (id bigserial, g int, x bigint, y float8, ts timestamptz);
INSERT INTO bt (g, x, y, ts)
SELECT i % 120, (i * 7919) % 2000001 - 1000000, (i % 1000) / 7.0 + 0.5,
       timestamptz '2024-03-01 00:00:00+00' + ((i * 7919) % 2000001) * interval '1 s'
FROM generate_series(1, 200000) AS i;
CREATE TABLE pt (g int, x bigint, y float8) PARTITION BY RANGE (g);
CREATE TABLE pt_low PARTITION OF pt FOR VALUES FROM (MINVALUE) TO (40);
CREATE TABLE pt_mid (y float8, junk int, x bigint, g int);
ALTER TABLE pt_mid DROP COLUMN junk;
ALTER TABLE pt ATTACH PARTITION pt_mid FOR VALUES FROM (40) TO (80);
CREATE TABLE pt_rest PARTITION OF pt DEFAULT;
INSERT INTO pt SELECT i % 130, i * 3 - 100000, (i % 977) / 3.0 FROM generate_series(1, 100000) AS i;
SQL

my %views = (
	bv1 => [
		'SELECT g, count(*) AS n, sum(x) AS sx, avg(y) AS ay, max(id) AS mid FROM bt GROUP BY g', 'g'
	],
	bv2 => [
		"SELECT continuous.tumble(ts, '1 hour') AS w, count(*) AS n, min(x) AS mn, sum(y) AS sy "
		  . 'FROM bt WHERE x > 0 GROUP BY w',
		'w'
	],
	bv3 => [ 'SELECT count(*) AS n, sum(x) AS sx, avg(y) AS ay, max(ts) AS last FROM bt', undef ],
	pv1 => [
		'SELECT g / 10 AS d, count(*) AS n, sum(x) AS sx, avg(y) AS ay, max(y) AS my FROM pt GROUP BY g / 10',
		'd'
	],);

my $tmp    = PostgreSQL::Test::Utils::tempdir;
my $script = "$tmp/insert.sql";
PostgreSQL::Test::Utils::append_to_file($script, <<'SQL');
\set g random(0, 119)
\set x random(-1000000, 1000000)
\set n random(1, 10)
BEGIN;
INSERT INTO bt (g, x, y, ts)
SELECT (:g + i) % 120, :x + i, random() * 100,
       timestamptz '2024-03-01 00:00:00+00' + (:x + 1000000) * interval '1 s'
FROM generate_series(1, :n) AS i;
INSERT INTO pt (g, x, y) VALUES (:g, :x, random() * 100);
END;
SQL

my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[
		$node->installed_command('pgbench'), '-n', '-c', '4', '-j', '2', '-T', '5',
		"--random-seed=$seed", '-f', $script, '-h', $node->host, '-p', $node->port, $db
	],
	'<', \undef, '>', \$bench_out, '2>', \$bench_err);
usleep(1_000_000);

# bv1 is created while each checkpoint takes 2 s, among them the one before
# its backfill: a window in which it must read as initializing.
ContinuousCluster::set_config($node, 'continuous.debug_checkpoint_delay' => '2000');
my $def = $views{bv1}[0];
$node->safe_psql($db, "SELECT continuous.create_view('bv1', \$\$ $def \$\$)");
my $id_at_create = $node->safe_psql($db, 'SELECT max(id) FROM bt');
ok( ContinuousCluster::wait_until($node, $db,
		"SELECT s.state = 'initializing' FROM continuous._view_state() s JOIN continuous.views v "
		  . "ON v.id = s.view_id WHERE v.name = 'bv1'::regclass", 10),
	'the worker knows bv1 as initializing');
my ($rc, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\nSELECT count(*) FROM bv1");
isnt($rc, 0, 'reading a view while it initializes fails');
like($err, qr/ERROR:\s+55000: continuous view "bv1" is initializing/,
	'with SQLSTATE 55000 and a message saying so');
is(view_state($node, $db, 'bv1'), 'initializing', 'continuous.views shows it initializing');
note('bv1 progress: '
	  . $node->safe_psql($db,
		"SELECT backfill_rows_scanned || ' of ' || backfill_rows_estimated FROM continuous.views WHERE name = 'bv1'::regclass"
	  ));
ContinuousCluster::set_config($node, 'continuous.debug_checkpoint_delay' => undef);

# The others while the writers run, without delay.
foreach my $name (qw(bv2 bv3))
{
	$def = $views{$name}[0];
	$node->safe_psql($db, "SELECT continuous.create_view('$name', \$\$ $def \$\$)");
}
usleep(500_000);
$def = $views{pv1}[0];
$node->safe_psql($db, "SELECT continuous.create_view('pv1', \$\$ $def \$\$)");

ok($bench->finish, 'pgbench ran')
  or diag('pgbench exit status ' . ($bench->full_result // 'unknown') . ", stderr: $bench_err");
unlike($bench_err, qr/ERROR|aborted/, 'no pgbench transaction failed') or diag($bench_err);
note($bench_out =~ /(number of transactions actually processed: \d+)/ ? $1 : $bench_out);
ok($node->safe_psql($db, 'SELECT max(id) FROM bt') > $id_at_create,
	'rows were inserted after bv1 was created');

my $sync_err;
($rc, $out, $sync_err) = $node->psql($db, "SELECT continuous.sync('120 s')");
is($rc, 0, 'sync waits for the backfills') or diag($sync_err);
foreach my $name (sort keys %views)
{
	is(view_state($node, $db, $name), 'ready', "$name is ready after sync");
	ContinuousCluster::view_equals_ok($node, $db, $name, $views{$name}[0], $views{$name}[1],
		"$name equals its definition after a backfill under concurrent writers");
}

# More writes after the backfills: applied on top, still exact.
$node->safe_psql($db, <<'SQL');
INSERT INTO bt (g, x, y, ts) SELECT i % 7, i, i / 3.0, timestamptz '2024-03-02 00:00:00+00' + i * interval '1 min'
FROM generate_series(1, 5000) AS i;
INSERT INTO pt SELECT i % 150, -i, i / 9.0 FROM generate_series(1, 5000) AS i;
SELECT continuous.sync();
SQL
foreach my $name (sort keys %views)
{
	ContinuousCluster::view_equals_ok($node, $db, $name, $views{$name}[0], $views{$name}[1],
		"$name equals its definition after later inserts");
}

ok($node->safe_psql($db, $NO_BACKFILL_SLOT) eq 't', 'no backfill slot left after the backfills');
is($node->safe_psql($db, "SELECT string_agg(slot_name, ',') FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'"),
	ContinuousCluster::slot_name($node, $db), 'only the worker slot exists');

###########################################################################
# (c) No slot left: DROP DATABASE, DROP EXTENSION
###########################################################################

$node->safe_psql($db, 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, 'other'), 'worker ready in a second database');
my $other_slot = ContinuousCluster::slot_name($node, 'other');
my $OTHER_SLOTS = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$other_slot'";
is($node->safe_psql($db, $OTHER_SLOTS), '0', 'a worker without views holds no slot');
$node->safe_psql('other', <<'SQL');
CREATE TABLE t2 AS SELECT i % 10 AS g, i::bigint AS x FROM generate_series(1, 50000) AS i;
SELECT continuous.create_stream('s2', 'g int');
SELECT continuous.create_view('t2v', 'SELECT g, count(*) AS n, sum(x) AS sx FROM t2 GROUP BY g');
SELECT continuous.create_view('s2v', 'SELECT g, count(*) AS n FROM s2 GROUP BY g');
INSERT INTO s2 SELECT i % 3 FROM generate_series(1, 1000) AS i;
INSERT INTO t2 SELECT 1, 1;
SELECT continuous.sync();
SQL
ContinuousCluster::view_equals_ok($node, 'other', 't2v',
	'SELECT g, count(*) AS n, sum(x) AS sx FROM t2 GROUP BY g', 'g',
	'the second database backfilled its view');
is($node->safe_psql($db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'"),
	'2', 'one slot per database');

# Dropping the last view drops the slot; the next view brings it back.
$node->safe_psql('other', 'DROP VIEW t2v');
is($node->safe_psql($db, $OTHER_SLOTS), '1', 'the slot stays while a view is left');
$node->safe_psql('other', "SELECT continuous.drop_view('s2v')");
ok(ContinuousCluster::wait_until($node, $db, "SELECT ($OTHER_SLOTS) = 0"),
	'dropping the last view leaves no slot');
is($node->safe_psql('other', 'SELECT worker_pid IS NOT NULL AND slot_name IS NULL FROM continuous.worker_stats'),
	't', 'worker_stats shows the worker without a slot');
# sync() returns at once without views (nothing to apply).
$node->safe_psql('other', 'INSERT INTO s2 VALUES (7)');
{
	my ($rc, $out, $err) = $node->psql('other', "SELECT continuous.sync('10 s')");
	is($rc, 0, 'sync() without views returns') or diag($err);
}
# Without a slot, a transaction that already wrote cannot create a view.
{
	my ($rc, $out, $err) = $node->psql('other',
		"BEGIN; INSERT INTO t2 VALUES (1, 1); SELECT continuous.create_view('s2w', 'SELECT count(*) AS n FROM s2');");
	like($err, qr/holds no replication slot yet/, 'a writing transaction cannot wait for a new slot');
}
# While a writer holds its transaction open, create_view waits for it (the
# slot's creation does); events committed after create_view are counted,
# the writer's one, committed before, is not.
my $writer = $node->background_psql('other');
$writer->query_safe('BEGIN');
$writer->query_safe('INSERT INTO s2 VALUES (8)');
my ($creator_out, $creator_err) = ('', '');
my $creator = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('other'),
	  '-c', "SELECT continuous.create_view('s2v', 'SELECT g, count(*) AS n FROM s2 GROUP BY g')" ],
	'<', \undef, '>', \$creator_out, '2>', \$creator_err);
usleep(500_000);
ok($creator->pumpable, 'create_view waits while a writing transaction is open');
$writer->query_safe('COMMIT');
$writer->quit;
$creator->finish;
is($creator_err, '', 'create_view went on once the writer committed');
is($node->safe_psql($db, $OTHER_SLOTS), '1', 'the new view brought the slot back');
$node->safe_psql('other', 'INSERT INTO s2 SELECT i % 3 FROM generate_series(1, 30) AS i; SELECT continuous.sync();');
is($node->safe_psql('other', "SELECT string_agg(g || ':' || n, ' ' ORDER BY g) FROM s2v"),
	'0:10 1:10 2:10', 'the new view counts exactly the events committed after it');

# Drop the last view and create the next one at once, again and again, with
# events before and after: the worker's slot drop races with create_view,
# and each new view counts exactly the events committed after it.
my $race_ok = 1;
my $log_offset = -s $node->logfile;
for my $round (1 .. 15)
{
	my $out = $node->safe_psql('other', <<"SQL");
DROP VIEW s2v;
INSERT INTO s2 SELECT 5 FROM generate_series(1, 3);
@{[ $round % 3 == 0 ? 'SELECT pg_sleep(0.05);' : '' ]}
SELECT continuous.create_view('s2v', 'SELECT g, count(*) AS n FROM s2 GROUP BY g');
INSERT INTO s2 SELECT i % 2 FROM generate_series(1, $round) AS i;
SELECT continuous.sync();
SELECT string_agg(g || ':' || n, ' ' ORDER BY g) FROM s2v;
SQL
	# i % 2 for i in 1 .. round: floor(round / 2) zeros, ceil(round / 2) ones
	my %n = (0 => int($round / 2), 1 => int(($round + 1) / 2));
	my $want = join(' ', map { "$_:$n{$_}" } grep { $n{$_} > 0 } 0, 1);
	my ($got) = (split /
/, $out)[-1];
	if (($got // '') ne $want)
	{
		$race_ok = 0;
		diag("round $round: s2v shows '" . ($got // '') . "', expected '$want'");
	}
}
ok($race_ok, 'views created right after the last one was dropped count exactly what commits after them');
{
	my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset);
	my $drops = () = $log =~ /no continuous views left; replication slot "\Q$other_slot\E" dropped/g;
	note("the worker dropped its slot in $drops of the 15 rounds");
}

# A worker idling without views notices DROP EXTENSION and leaves.
$node->safe_psql('other', 'DROP VIEW s2v');
ok(ContinuousCluster::wait_until($node, $db, "SELECT ($OTHER_SLOTS) = 0"), 'no slot once s2v is dropped');
$node->safe_psql('other', 'DROP EXTENSION pg_continuous CASCADE');
ok( ContinuousCluster::wait_until($node, $db,
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_continuous worker' AND datname = 'other'"),
	'an idle worker leaves after DROP EXTENSION');
$node->safe_psql('other', 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, 'other'), 'a worker starts again with the extension');
$node->safe_psql('other',
	"SELECT continuous.create_view('t2v', 'SELECT g, count(*) AS n, sum(x) AS sx FROM t2 GROUP BY g'); SELECT continuous.sync();");
ContinuousCluster::view_equals_ok($node, 'other', 't2v',
	'SELECT g, count(*) AS n, sum(x) AS sx FROM t2 GROUP BY g', 'g',
	'a view after the extension was created again backfills');
$node->safe_psql($db, 'DROP DATABASE other');
is($node->safe_psql($db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$other_slot'"),
	'0', 'DROP DATABASE leaves no slot of that database');
ok($node->safe_psql($db, $NO_BACKFILL_SLOT) eq 't', 'no backfill slot left after DROP DATABASE');

$node->safe_psql($db, 'DROP EXTENSION pg_continuous CASCADE');
ok( ContinuousCluster::wait_until($node, $db,
		"SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'"),
	'DROP EXTENSION leaves no pg_continuous slot');
# A worker that died while the extension was being dropped may leave its
# slot; the next worker start for that database (here at server start)
# drops it.
my $orphan = ContinuousCluster::slot_name($node, $db);
$node->safe_psql($db, "SELECT pg_create_logical_replication_slot('$orphan', 'pgoutput')");
$node->restart;
ok( ContinuousCluster::wait_until($node, $db,
		"SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = '$orphan'"),
	'a slot left by a dropped extension is dropped at the next start');
$node->stop;

###########################################################################
# (b) Slot loss
###########################################################################

my $sn = ContinuousCluster::new_node('slots', log_statement => 'ddl');
$sn->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($sn, $db), 'worker ready (slot loss)');
my $slot = ContinuousCluster::slot_name($sn, $db);

# tt holds rows before its view (a backfill); es is a stream whose events
# that count are also written to esh, the stream views' oracle.
$sn->safe_psql($db, <<'SQL');
CREATE TABLE tt (g int, x bigint, y float8);
INSERT INTO tt SELECT i % 11, i, i / 7.0 FROM generate_series(1, 3000) AS i;
CREATE TABLE esh (g int, x bigint);
CREATE TABLE scratch (v int);
SELECT continuous.create_stream('es', 'g int, x bigint');
SELECT continuous.create_view('tv', 'SELECT g, count(*) AS n, sum(x) AS sx, avg(y) AS ay FROM tt GROUP BY g');
SELECT continuous.create_view('sv', 'SELECT g, count(*) AS n, sum(x) AS sx FROM es GROUP BY g');
SELECT continuous.create_view('svall', 'SELECT count(*) AS n, sum(x) AS sx FROM es');
SQL

my %sviews = (
	tv    => [ 'SELECT g, count(*) AS n, sum(x) AS sx, avg(y) AS ay FROM tt GROUP BY g', 'g' ],
	sv    => [ 'SELECT g, count(*) AS n, sum(x) AS sx FROM esh GROUP BY g',            'g' ],
	svall => [ 'SELECT count(*) AS n, sum(x) AS sx FROM esh',                          undef ],);

sub check_slot_views
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	foreach my $name (sort keys %sviews)
	{
		ContinuousCluster::view_equals_ok($sn, $db, $name, $sviews{$name}[0], $sviews{$name}[1],
			"$label: $name equals its definition");
	}
}

# $counted: the events also go to the oracle; else they are meant to be lost.
my $batch = 0;
sub write_events
{
	my ($counted, $rows) = @_;
	$batch++;
	my $sql = "BEGIN;\n"
	  . "INSERT INTO es SELECT i % 13, i * $batch FROM generate_series(1, $rows) AS i;\n"
	  . "INSERT INTO tt SELECT i % 17, i + $batch, i / 3.0 FROM generate_series(1, $rows) AS i;\n";
	$sql .= "INSERT INTO esh SELECT i % 13, i * $batch FROM generate_series(1, $rows) AS i;\n" if $counted;
	$sn->safe_psql($db, $sql . "COMMIT;\n");
	return;
}

sub current_lsn
{
	return $sn->safe_psql($db, 'SELECT pg_current_wal_insert_lsn()');
}

sub sync_ok
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($rc, $out, $err) = $sn->psql($db, "SELECT continuous.sync('120 s')");
	return is($rc, 0, "$label: sync") || diag($err);
}

# Turn the worker off and wait until it released its slot.
sub disable_worker
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ContinuousCluster::set_config($sn, 'continuous.enabled' => 'off');
	ok( ContinuousCluster::wait_until($sn, $db,
			"SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$slot'"),
		"$label: with continuous.enabled = off the worker releases its slot");
	return;
}

# The lost range of a stream view covers [$from, $to]: events_lost_from, if
# known, is not after $from, and events_lost_to not before $to.
sub lost_range_ok
{
	my ($view, $from, $to, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $got = $sn->safe_psql($db,
		"SELECT coalesce(events_lost_from::text, 'NULL') || ' ' || coalesce(events_lost_to::text, 'NULL') "
		  . "FROM continuous.views WHERE name = '$view'::regclass");
	my ($lf, $lt) = split(/ /, $got);
	ok( $lt ne 'NULL'
		  && ContinuousCluster::lsn_value($lt) >= ContinuousCluster::lsn_value($to)
		  && ($lf eq 'NULL' || ContinuousCluster::lsn_value($lf) <= ContinuousCluster::lsn_value($from)),
		"$label: $view shows the lost events (events_lost_from $lf, events_lost_to $lt; lost: $from to $to)");
	return;
}

write_events(1, 500);
sync_ok('before the slot is lost');
check_slot_views('before the slot is lost');
is($sn->safe_psql($db, 'SELECT count(*) FROM continuous.views WHERE events_lost_to IS NOT NULL'),
	'0', 'no view has lost events yet');

# --- Invalidation by max_slot_wal_keep_size ---------------------------------

my $offset = -s $sn->logfile;
disable_worker('invalidation');
my $lost_from = current_lsn();
write_events(0, 300);
my $lost_to = current_lsn();
ContinuousCluster::set_config($sn, max_slot_wal_keep_size => '1MB');
my $status = '';
for my $i (1 .. 20)
{
	$sn->safe_psql($db, q{
		INSERT INTO scratch SELECT generate_series(1, 1000);
		SELECT pg_switch_wal();
		INSERT INTO scratch VALUES (1);
		SELECT pg_switch_wal();
		CHECKPOINT;
	});
	$status = $sn->safe_psql($db, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$slot'");
	last if $status eq 'lost';
}
is($status, 'lost', 'the released slot is invalidated');
ContinuousCluster::set_config($sn,
	max_slot_wal_keep_size => undef,
	'continuous.enabled'   => undef);
ok(ContinuousCluster::wait_until($sn, $db,
		"SELECT wal_status IN ('reserved', 'extended') AND active FROM pg_replication_slots WHERE slot_name = '$slot'"),
	'the worker makes a new slot and uses it');
sync_ok('after the slot was invalidated');
ok($sn->log_contains(qr/pg_continuous: replication slot[^\n]*invalidated/, $offset),
	'the worker logs the invalidated slot');
check_slot_views('after the slot was invalidated');
is(view_state($sn, $db, 'tv'), 'ready', 'the view over the table is ready again');
lost_range_ok('sv',    $lost_from, $lost_to, 'after invalidation');
lost_range_ok('svall', $lost_from, $lost_to, 'after invalidation');
is($sn->safe_psql($db, "SELECT events_lost_to IS NULL FROM continuous.views WHERE name = 'tv'::regclass"),
	't', 'the re-backfilled view over the table lost nothing');

write_events(1, 200);
sync_ok('new events after the new slot');
check_slot_views('new events after the new slot');

# --- A slot missing at the worker's start ------------------------------------

$offset = -s $sn->logfile;
disable_worker('missing slot');
$sn->safe_psql($db, "SELECT pg_drop_replication_slot('$slot')");
$lost_from = current_lsn();
write_events(0, 100);
$lost_to = current_lsn();
# On again, but only from the restart: the worker starts without a slot.
$sn->safe_psql($db, 'ALTER SYSTEM RESET continuous.enabled');
$sn->restart;
ok(wait_for_slot($sn, $db), 'after a restart the worker runs with a new slot');
sync_ok('after the slot went missing');
ok($sn->log_contains(qr/pg_continuous: replication slot[^\n]*missing/, $offset),
	'the worker logs the missing slot');
check_slot_views('after the slot went missing');
lost_range_ok('sv',    $lost_from, $lost_to, 'after the missing slot');
lost_range_ok('svall', $lost_from, $lost_to, 'after the missing slot');
write_events(1, 150);
sync_ok('new events after the missing slot');
check_slot_views('new events after the missing slot');

ok($sn->safe_psql($db, $NO_BACKFILL_SLOT) eq 't', 'no backfill slot left after the re-backfills');
is($sn->safe_psql($db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_continuous%'"),
	'1', 'one pg_continuous slot in the end');

$sn->stop;
done_testing();
