# Logical replication: a FOR ALL TABLES publication in a database with the
# extension also publishes its catalog and checkpoint tables.  A subscriber
# that runs pg_continuous itself is not disturbed: its worker ignores the
# catalog rows it did not write, neither side's checkpoints mix, and its
# own views, also over the replicated tables, stay exact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousCluster;

my $node = ContinuousCluster::new_node('replication', 'continuous.checkpoint_interval' => '1s');
$node->safe_psql('postgres', 'CREATE DATABASE pub');
$node->safe_psql('postgres', 'CREATE DATABASE sub');

for my $db ('pub', 'sub')
{
	$node->safe_psql($db, q{
		CREATE EXTENSION pg_continuous;
		CREATE TABLE orders (id int PRIMARY KEY, g int, amount int);
		ALTER TABLE orders REPLICA IDENTITY FULL;
	});
}
$node->safe_psql('pub', q{SELECT continuous.create_stream('ev', 'g int')});
$node->safe_psql('pub', q{SELECT continuous.create_view('pub_ev', 'SELECT g, count(*) AS n FROM ev GROUP BY g')});
$node->safe_psql('pub', q{SELECT continuous.create_view('pub_orders', 'SELECT g, sum(amount) AS total FROM orders GROUP BY g')});
$node->safe_psql('pub', q{
	INSERT INTO orders SELECT i, i % 4, i FROM generate_series(1, 100) i;
	INSERT INTO ev SELECT i % 3 FROM generate_series(1, 50) i;
	SELECT continuous.sync();
	CREATE PUBLICATION everything FOR ALL TABLES;
	SELECT pg_create_logical_replication_slot('to_sub', 'pgoutput');
});

$node->safe_psql('sub', q{SELECT continuous.create_stream('ev', 'g int')});
$node->safe_psql('sub', q{SELECT continuous.create_view('sub_ev', 'SELECT count(*) AS n FROM ev')});
$node->safe_psql('sub', q{SELECT continuous.create_view('sub_orders', 'SELECT g, count(*) AS n, sum(amount) AS total FROM orders GROUP BY g')});
$node->safe_psql('sub', q{INSERT INTO ev VALUES (1), (2); SELECT continuous.sync()});
my $sub_pid = ContinuousCluster::worker_pid($node, 'sub');
my $log_offset = -s $node->logfile;

(my $connstr = $node->connstr('pub')) =~ s/'/''/g;
$node->safe_psql('sub', qq{
	CREATE SUBSCRIPTION from_pub CONNECTION '$connstr' PUBLICATION everything
	WITH (create_slot = false, slot_name = 'to_sub', copy_data = true);
});
ok( ContinuousCluster::wait_until($node, 'sub', q{SELECT count(*) = 100 FROM orders}),
	'the subscriber has the publisher\'s rows');

# More changes on the publisher, and its checkpoints, travel too.
$node->safe_psql('pub', q{
	INSERT INTO orders SELECT i, i % 4, i FROM generate_series(101, 150) i;
	UPDATE orders SET amount = amount * 2 WHERE id % 5 = 0;
	DELETE FROM orders WHERE id % 7 = 0;
	INSERT INTO ev SELECT i % 3 FROM generate_series(1, 50) i;
	SELECT continuous.sync();
});
sleep(2);    # a publisher checkpoint (continuous.checkpoint_interval = 1s)
$node->safe_psql('pub', q{INSERT INTO orders VALUES (1000, 1, 1)});
ok( ContinuousCluster::wait_until($node, 'sub', q{SELECT count(*) = 1 FROM orders WHERE id = 1000}),
	'the subscription goes on after the publisher\'s checkpoints');
$node->safe_psql('sub', q{INSERT INTO ev VALUES (3); SELECT continuous.sync()});

is(ContinuousCluster::worker_pid($node, 'sub'), $sub_pid, 'the subscriber\'s worker was not disturbed');
is($node->safe_psql('sub', q{SELECT count(*) FROM continuous.views}), '2',
	'the subscriber has only its own views');
is($node->safe_psql('sub', q{SELECT string_agg(state, ',') FROM continuous.views}), 'ready,ready',
	'both ready');
is($node->safe_psql('sub', 'SELECT n FROM sub_ev'), '3', 'its stream view counts its own events');
ContinuousCluster::view_equals_ok($node, 'sub', 'sub_orders',
	'SELECT g, count(*) AS n, sum(amount) AS total FROM orders GROUP BY g', 'g',
	'its view over the replicated table is exact');
ContinuousCluster::view_equals_ok($node, 'pub', 'pub_orders',
	'SELECT g, sum(amount) AS total FROM orders GROUP BY g', 'g',
	'the publisher\'s views are exact');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/could not open source|ERROR:.*continuous|duplicate key value/, 'no errors in the log');

# The subscriber restarts from its own checkpoint.
$node->restart;
ok(ContinuousCluster::wait_for_worker($node, 'sub'), 'the subscriber\'s worker runs after a restart');
$node->safe_psql('sub', q{INSERT INTO ev VALUES (4); SELECT continuous.sync('60 s')});
is($node->safe_psql('sub', 'SELECT n FROM sub_ev'), '4', 'from its own checkpoint');
ContinuousCluster::view_equals_ok($node, 'sub', 'sub_orders',
	'SELECT g, count(*) AS n, sum(amount) AS total FROM orders GROUP BY g', 'g',
	'still exact');

$node->safe_psql('sub', 'DROP SUBSCRIPTION from_pub');
done_testing();
