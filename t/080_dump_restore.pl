# Backup and restore: pg_dump (custom and plain format) of a database with
# continuous views over a stream and over a partitioned table, restored into
# a new database, into a new cluster, and --schema-only.  Each restored view
# keeps its definition, owner and grants; the view over the table is
# backfilled and exact; the view over the stream holds the checkpoint taken
# before the dump (continuous.checkpoint()) and counts new events; a view
# created after the restore never reads a restored view's state, nor the
# other way round.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousCluster;

my $node = ContinuousCluster::new_node('dump_source');
my $src = 'src';

my $roles = q{
	CREATE ROLE analyst LOGIN;
	CREATE ROLE reader LOGIN;
};
$node->safe_psql('postgres', $roles);
$node->safe_psql('postgres', "CREATE DATABASE $src OWNER analyst");
$node->safe_psql($src, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $src), 'the worker runs');

# The analyst owns the sources and the views; the reader may read one view.
$node->safe_psql($src, q{
	SET ROLE analyst;
	SELECT continuous.create_stream('clicks', 'url text, latency int');
	CREATE TABLE clicks_copy (url text, latency int);
	CREATE TABLE orders (id int, region text, amount numeric) PARTITION BY RANGE (id);
	CREATE TABLE orders_low PARTITION OF orders FOR VALUES FROM (0) TO (1000);
	CREATE TABLE orders_high PARTITION OF orders FOR VALUES FROM (1000) TO (100000);
	INSERT INTO orders SELECT i, 'r' || (i % 4), i * 0.5 FROM generate_series(1, 1800) i;
});
my $clicks_def = 'SELECT url, count(*) AS hits, sum(latency) AS total, max(latency) AS worst FROM clicks GROUP BY url';
my $orders_def = 'SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region';
my $clicks_batch = 'SELECT count(*) AS hits, sum(latency) AS total, max(latency) AS worst, url FROM clicks_copy GROUP BY url';
$node->safe_psql($src, qq{
	SET ROLE analyst;
	SELECT continuous.create_view('clicks_by_url', \$\$$clicks_def\$\$);
	SELECT continuous.create_view('orders_by_region', \$\$$orders_def\$\$);
	GRANT SELECT ON clicks_by_url TO reader;
});
# A rename after creation: the dumped body uses the new name.
$node->safe_psql($src, 'ALTER FOREIGN TABLE clicks RENAME COLUMN latency TO latency_ms');

sub add_clicks
{
	my ($n, $db, $seed, $on) = @_;
	($on // $node)->safe_psql($db, qq{
		BEGIN;
		INSERT INTO clicks SELECT 'u' || (i % 9), (i * $seed) % 500 FROM generate_series(1, $n) i;
		INSERT INTO clicks_copy SELECT 'u' || (i % 9), (i * $seed) % 500 FROM generate_series(1, $n) i;
		COMMIT;
	});
}
add_clicks(500, $src, 7);
$node->safe_psql($src, q{
	UPDATE orders SET amount = amount + 1 WHERE id % 5 = 0;
	DELETE FROM orders WHERE id % 11 = 0;
});
$node->safe_psql($src, 'SELECT continuous.sync()');
ContinuousCluster::view_equals_ok($node, $src, 'clicks_by_url',
	"SELECT url, count(*) AS hits, sum(latency) AS total, max(latency) AS worst FROM clicks_copy GROUP BY url",
	'url', 'source: stream view exact');

my $ckpt = $node->safe_psql($src, 'SELECT continuous.checkpoint()');
like($ckpt, qr{^[0-9A-F]+/[0-9A-F]+$}, 'continuous.checkpoint() returns the checkpoint position');
is($node->safe_psql($src,
	q{SELECT pg_lsn(l) >= pg_current_wal_lsn() - 1000000 FROM (SELECT last_checkpoint_lsn AS l FROM continuous.worker_stats) s}),
	't', 'the checkpoint is recent');

# The view bodies: the definition is reachable from pg_views and \d+.
like($node->safe_psql($src, q{SELECT pg_get_viewdef('clicks_by_url'::regclass)}),
	qr/max\((clicks\.)?latency_ms\) AS worst\s+FROM (public\.)?clicks\s+GROUP BY (clicks\.)?url/,
	'pg_get_viewdef shows the defining query, with the names objects have now');

my $dir = $node->basedir;
my $custom = "$dir/src.dump";
my $plain = "$dir/src.sql";
my $schema_only = "$dir/src-schema.sql";
$node->command_ok(['pg_dump', '-Fc', '-f', $custom, '-d', $node->connstr($src)], 'pg_dump -Fc');
$node->command_ok(['pg_dump', '-f', $plain, '-d', $node->connstr($src)], 'pg_dump plain');
$node->command_ok(['pg_dump', '--schema-only', '-f', $schema_only, '-d', $node->connstr($src)],
	'pg_dump --schema-only');

# Who can dump (README): a backup role with pg_read_all_data can; the
# database's owner without it cannot read the checkpoint rows.
$node->safe_psql('postgres', 'CREATE ROLE backup LOGIN IN ROLE pg_read_all_data');
$node->command_ok(['pg_dump', '-Fc', '-f', "$dir/backup.dump", '-d', $node->connstr($src) . ' user=backup'],
	'a role with pg_read_all_data can dump');
$node->command_fails_like(['pg_dump', '-f', "$dir/analyst.sql", '-d', $node->connstr($src) . ' user=analyst'],
	qr/permission denied for table checkpoint_group/,
	'the database owner without pg_read_all_data cannot read the checkpoint rows');

# After the dump, the source goes on: none of this is in the dump.
add_clicks(100, $src, 3);

# Checks a restored database: definitions, owner, grants, contents, new
# events, and a view created after the restore.
sub check_restored
{
	my ($n, $db, $label, $with_data) = @_;

	ok(ContinuousCluster::wait_for_worker($n, $db), "$label: the worker runs");
	$n->safe_psql($db, 'SELECT continuous.sync()');
	is($n->safe_psql($db, q{SELECT string_agg(name::text || '=' || state, ',' ORDER BY name::text) FROM continuous.views}),
		'clicks_by_url=ready,orders_by_region=ready', "$label: both views are continuous views again, ready");
	is($n->safe_psql($db, q{SELECT string_agg(pg_get_userbyid(relowner), ',' ORDER BY relname) FROM pg_class
		WHERE relname IN ('clicks_by_url', 'orders_by_region')}),
		'analyst,analyst', "$label: owner kept");
	is($n->safe_psql($db, q{SELECT has_table_privilege('reader', 'clicks_by_url', 'SELECT'),
		has_table_privilege('reader', 'orders_by_region', 'SELECT')}),
		't|f', "$label: grants kept");
	like($n->safe_psql($db, q{SELECT definition FROM continuous.views WHERE name = 'clicks_by_url'::regclass}),
		qr/max\((clicks\.)?latency_ms\) AS worst\s+FROM (public\.)?clicks\s+GROUP BY (clicks\.)?url/, "$label: definition kept");
	ok($n->safe_psql($db, q{SELECT restored_at IS NOT NULL FROM continuous.views WHERE name = 'clicks_by_url'::regclass}) eq 't',
		"$label: continuous.views says the view was restored");

	# The view over the table is backfilled from the restored rows.
	ContinuousCluster::view_equals_ok($n, $db, 'orders_by_region', $orders_def, 'region',
		"$label: table view equals its defining query");
	if ($with_data)
	{
		# clicks_copy holds the rows of the checkpoint the dump saved.
		ok(ContinuousCluster::wait_until($n, $db,
			q{SELECT contents_from LIKE 'checkpoint restored%' FROM continuous.views WHERE name = 'clicks_by_url'::regclass}),
			"$label: the dumped checkpoint is loaded");
		ContinuousCluster::view_equals_ok($n, $db, 'clicks_by_url',
			'SELECT url, count(*) AS hits, sum(latency) AS total, max(latency) AS worst FROM clicks_copy GROUP BY url',
			'url', "$label: stream view holds the dumped checkpoint");
		is($n->safe_psql($db, q{SELECT contents_from FROM continuous.views WHERE name = 'clicks_by_url'::regclass}),
			'checkpoint restored from a dump, then events committed since',
			"$label: continuous.views says where the stream view's contents came from");
	}
	else
	{
		is($n->safe_psql($db, 'SELECT count(*) FROM clicks_by_url'), '0', "$label: stream view empty");
		is($n->safe_psql($db, q{SELECT contents_from FROM continuous.views WHERE name = 'clicks_by_url'::regclass}),
			'events committed since the view was restored (no checkpoint restored)',
			"$label: continuous.views says the stream view started empty");
	}

	# A view created after the restore has a state of its own.
	$n->safe_psql($db, q{SET ROLE analyst;
		SELECT continuous.create_view('latency_by_url', 'SELECT url, min(latency_ms) AS best FROM clicks GROUP BY url')});
	$n->safe_psql($db, q{INSERT INTO clicks VALUES ('new', 1); INSERT INTO clicks_copy VALUES ('new', 1)});
	add_clicks(200, $db, 13, $n);
	my $base = 'clicks_copy';
	$n->safe_psql($db, 'SELECT continuous.sync()');
	ContinuousCluster::view_equals_ok($n, $db, 'clicks_by_url',
		"SELECT url, count(*) AS hits, sum(latency) AS total, max(latency) AS worst FROM $base GROUP BY url",
		'url', "$label: stream view counts new events, and only its own state");
	is($n->safe_psql($db, q{SELECT string_agg(url || ':' || best, ',' ORDER BY url) FROM latency_by_url WHERE url = 'new'}),
		'new:1', "$label: the new view counts from its creation");
	$n->safe_psql($db, q{INSERT INTO orders VALUES (5000, 'r9', 10)});
	$n->safe_psql($db, 'SELECT continuous.sync()');
	ContinuousCluster::view_equals_ok($n, $db, 'orders_by_region', $orders_def, 'region',
		"$label: table view follows new changes");

	# The restored views survive a restart of the server (their checkpoint).
	$n->restart;
	ok(ContinuousCluster::wait_for_worker($n, $db), "$label: worker back after restart");
	$n->safe_psql($db, 'SELECT continuous.sync()');
	ContinuousCluster::view_equals_ok($n, $db, 'clicks_by_url',
		"SELECT url, count(*) AS hits, sum(latency) AS total, max(latency) AS worst FROM $base GROUP BY url",
		'url', "$label: stream view exact after a restart");
	ContinuousCluster::view_equals_ok($n, $db, 'orders_by_region', $orders_def, 'region',
		"$label: table view exact after a restart");
}

# Custom format into a new database of the same cluster.
$node->safe_psql('postgres', 'CREATE DATABASE r_custom OWNER analyst');
$node->command_ok(['pg_restore', '-d', $node->connstr('r_custom'), $custom], 'pg_restore -Fc into a new database');
check_restored($node, 'r_custom', 'custom format, new database', 1);

# Plain format into another new database.
$node->safe_psql('postgres', 'CREATE DATABASE r_plain OWNER analyst');
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('r_plain'), '-f', $plain],
	'plain dump restored with psql');
check_restored($node, 'r_plain', 'plain format, new database', 1);

# Schema only: working views, the stream view empty, the table view over
# the (empty) restored table.
$node->safe_psql('postgres', 'CREATE DATABASE r_schema OWNER analyst');
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('r_schema'), '-f', $schema_only],
	'schema-only dump restored with psql');
check_restored($node, 'r_schema', 'schema only', 0);

# The source database is untouched by all this.
$node->safe_psql($src, 'SELECT continuous.sync()');
ContinuousCluster::view_equals_ok($node, $src, 'clicks_by_url',
	'SELECT url, count(*) AS hits, sum(latency) AS total, max(latency) AS worst FROM clicks_copy GROUP BY url',
	'url', 'source: stream view still exact');

# A body that reads another view's key is refused.
my ($rc, $out, $err) = $node->psql($src, q{DO $$ BEGIN
	EXECUTE 'CREATE VIEW thief AS ' || pg_get_viewdef('clicks_by_url'::regclass); END $$});
isnt($rc, 0, 'a view whose body reads another view\'s key is refused');
like($err, qr/reads the state of continuous view clicks_by_url/, '... naming the view');

# A new cluster: roles first, then the custom dump.
my $other = ContinuousCluster::new_node('dump_target');
$other->safe_psql('postgres', $roles);
$other->safe_psql('postgres', 'CREATE DATABASE r_cluster OWNER analyst');
$other->command_ok(['pg_restore', '-d', $other->connstr('r_cluster'), $custom], 'pg_restore into a new cluster');
check_restored($other, 'r_cluster', 'custom format, new cluster', 1);

done_testing();
