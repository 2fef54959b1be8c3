# Upgrades: a database that installed pg_continuous 1.0 (from its own
# script) and has views with state runs ALTER EXTENSION pg_continuous
# UPDATE; every view goes on working and exact, across a restart too, and
# what 1.1 changes takes effect (create_stream no longer runs its column
# list as SQL).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousCluster;

my $node = ContinuousCluster::new_node('upgrade');
my $db = 'postgres';

$node->safe_psql($db, q{CREATE EXTENSION pg_continuous VERSION '1.0'});
is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_continuous'}),
	'1.0', 'version 1.0 installed from its script');
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs');

$node->safe_psql($db, q{
	SELECT continuous.create_stream('ev', 'g int, x bigint, note text');
	CREATE TABLE ev_copy (g int, x bigint, note text);
	CREATE TABLE items (id int PRIMARY KEY, g int, price numeric);
	ALTER TABLE items REPLICA IDENTITY FULL;
	INSERT INTO items SELECT i, i % 5, i * 1.5 FROM generate_series(1, 200) i;
});
$node->safe_psql($db, q{
	SELECT continuous.create_view('ev_by_g',
		'SELECT g, count(*) AS n, sum(x) AS sx, min(note) AS first_note FROM ev GROUP BY g');
});
$node->safe_psql($db, q{
	SELECT continuous.create_view('items_by_g',
		'SELECT g, count(*) AS n, sum(price) AS total, max(price) AS top FROM items GROUP BY g');
});

my $round = 0;
sub write_round
{
	$round++;
	$node->safe_psql($db, qq{
		BEGIN;
		INSERT INTO ev SELECT i % 7, i * $round, 'n' || (i % 11) FROM generate_series(1, 300) i;
		INSERT INTO ev_copy SELECT i % 7, i * $round, 'n' || (i % 11) FROM generate_series(1, 300) i;
		UPDATE items SET price = price + $round WHERE id % 3 = 0;
		DELETE FROM items WHERE id % 17 = $round % 17;
		COMMIT;
	});
	$node->safe_psql($db, 'SELECT continuous.sync()');
}

sub views_exact
{
	my ($label) = @_;
	ContinuousCluster::view_equals_ok($node, $db, 'ev_by_g',
		'SELECT g, count(*) AS n, sum(x) AS sx, min(note) AS first_note FROM ev_copy GROUP BY g',
		'g', "stream view exact $label");
	ContinuousCluster::view_equals_ok($node, $db, 'items_by_g',
		'SELECT g, count(*) AS n, sum(price) AS total, max(price) AS top FROM items GROUP BY g',
		'g', "table view exact $label");
}

write_round();
write_round();
views_exact('on 1.0');

$node->safe_psql($db, q{ALTER EXTENSION pg_continuous UPDATE TO '1.1'});
is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_continuous'}),
	'1.1', 'ALTER EXTENSION ... UPDATE TO 1.1 moves to 1.1');
my ($rc, $out, $err) = $node->psql($db,
	q{SELECT continuous.create_view('capped', 'SELECT count(*) FROM ev', max_memory => '1MB')});
like($err, qr/function continuous.create_view\(unknown, unknown, max_memory => unknown\) does not exist/,
	'1.1 has no max_memory');
views_exact('right after the update');
# 1.1's view bodies read the view's key beside its definition (what a dump restores).
like($node->safe_psql($db, q{SELECT pg_get_viewdef('items_by_g'::regclass)}),
	qr/WITH continuous_definition AS \(.*FROM (public\.)?items.*continuous\.read_view\('[0-9a-f-]{36}'::uuid\)/s,
	'the update gives 1.0 views the body of 1.1');
is($node->safe_psql($db, q{SELECT count(*) > 0 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
	WHERE r.ev_class = 'items_by_g'::regclass AND d.refobjid = 'items'::regclass}),
	't', 'the new body still depends on the source');
write_round();
views_exact('after changes applied on 1.1');
is($node->safe_psql($db, q{SELECT string_agg(state, ',' ORDER BY id) FROM continuous.views}),
	'ready,ready', 'both views ready');

# 1.1's create_stream parses its column list.
$node->safe_psql($db, 'CREATE TABLE victim (x int)');
($rc, $out, $err) = $node->psql($db,
	q{SELECT continuous.create_stream('inj', 'a int) SERVER continuous_streams; DROP TABLE victim; --')});
isnt($rc, 0, 'an injection attempt fails after the update');
like($err, qr/invalid column list for stream inj/, 'as an invalid column list');
is($node->safe_psql($db, q{SELECT to_regclass('victim') IS NOT NULL AND to_regclass('inj') IS NULL}),
	't', 'nothing else ran');
is($node->safe_psql($db, q{SELECT continuous.create_stream('more', 'y int, z text')}),
	'more', 'an ordinary column list still creates a stream');

$node->restart;
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs after a restart');
write_round();
views_exact('after a restart on 1.1');

# 1.2: a memory cap per view.
$node->safe_psql($db, 'ALTER EXTENSION pg_continuous UPDATE');
is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_continuous'}),
	'1.2', 'ALTER EXTENSION ... UPDATE moves on to 1.2');
views_exact('right after the update to 1.2');
$node->safe_psql($db, q{SELECT continuous.create_view('capped', 'SELECT g, count(*) AS n FROM ev GROUP BY g',
	max_memory => '16kB')});
$node->safe_psql($db, q{INSERT INTO ev SELECT i, i, 'x' FROM generate_series(1, 2000) i});
$node->safe_psql($db, 'SELECT continuous.sync()');
like($node->safe_psql($db, q{SELECT state || ': ' || error FROM continuous.views WHERE name = 'capped'::regclass}),
	qr/^failed: continuous view "capped" needs more than its max_memory of 16 kB$/,
	'a view over its max_memory fails');
$node->safe_psql($db, q{INSERT INTO ev_copy SELECT i, i, 'x' FROM generate_series(1, 2000) i});
views_exact('beside a view that failed on its cap');
is($node->safe_psql($db, q{SELECT string_agg(coalesce(max_memory::text, '-'), ',' ORDER BY id) FROM continuous.views}),
	'-,-,16384', 'continuous.views shows the caps');

# A fresh install gets 1.2 directly, with the same objects as an update.
$node->safe_psql($db, 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_continuous');
my $objects = q{
	SELECT string_agg(pg_describe_object(classid, objid, objsubid), E'\n'
					  ORDER BY pg_describe_object(classid, objid, objsubid))
	FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_continuous')};
is($node->safe_psql('fresh', $objects), $node->safe_psql($db, $objects),
	'a fresh 1.2 has the objects of an updated one');
foreach my $f ('continuous.create_stream(text,text)', 'continuous.create_view(text,text,interval,text,interval,text,text,interval,text)')
{
	my $function = qq{SELECT l.lanname || ' ' || p.prosrc || ' ' || p.proisstrict || ' '
		|| pg_get_function_arguments(p.oid) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE p.oid = '$f'::regprocedure};
	is($node->safe_psql('fresh', $function), $node->safe_psql($db, $function),
		"$f is the same function in both");
}
my $views_columns = q{SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
	FROM pg_attribute WHERE attrelid = 'continuous.views'::regclass};
is($node->safe_psql('fresh', $views_columns), $node->safe_psql($db, $views_columns),
	'continuous.views has the same columns in both');

done_testing();
