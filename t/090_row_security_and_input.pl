# Row security and input safety, as a DBA meets them: a table with
# per-role policies; a role that row security applies to cannot create a
# continuous view over it; a view whose owner row security comes to apply
# to later (ENABLE, FORCE) fails at that point in commit order, alone,
# also across a restart; create_stream never runs its column list as SQL.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ContinuousCluster;

my $node = ContinuousCluster::new_node('rls');
my $db = 'postgres';
$node->safe_psql($db, 'CREATE EXTENSION pg_continuous');
ok(ContinuousCluster::wait_for_worker($node, $db), 'the worker runs');

$node->safe_psql($db, q{
	CREATE ROLE alice; CREATE ROLE bob; CREATE ROLE tabowner;
	GRANT CREATE ON SCHEMA public TO alice, bob, tabowner;
	CREATE TABLE notes (id int, who text, amount int);
	ALTER TABLE notes OWNER TO tabowner;
	ALTER TABLE notes REPLICA IDENTITY FULL;
	INSERT INTO notes SELECT i, CASE WHEN i % 3 = 0 THEN 'alice' WHEN i % 3 = 1 THEN 'bob' ELSE 'carol' END, i
	FROM generate_series(1, 300) i;
	GRANT SELECT ON notes TO alice, bob;
	ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON notes FOR SELECT USING (who = current_user);
	CREATE TABLE plain (g int, x int);
	ALTER TABLE plain OWNER TO alice;
});

# Alice sees her rows only: her view over the table is refused.
is($node->safe_psql($db, 'SET ROLE alice; SELECT count(*) FROM notes'), '100', 'alice sees her 100 rows');
my ($rc, $out, $err) = $node->psql($db, q{SET ROLE alice; SELECT continuous.create_view('alice_notes', 'SELECT who, count(*) AS n, sum(amount) AS total FROM notes GROUP BY who')},
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'a role that row security applies to cannot create a view over the table');
like($err, qr/0A000/, '... with SQLSTATE 0A000');
like($err, qr/row-level security applies to table public\.notes for role alice/, '... naming table and role');

# The table's owner sees every row (no FORCE): its view equals its own query.
$node->safe_psql($db, q{SET ROLE tabowner;
	SELECT continuous.create_view('owner_notes', 'SELECT who, count(*) AS n, sum(amount) AS total FROM notes GROUP BY who')});
# A healthy view beside, owned by alice.
$node->safe_psql($db, q{SET ROLE alice;
	SELECT continuous.create_view('plain_g', 'SELECT g, count(*) AS n, sum(x) AS sx FROM plain GROUP BY g')});
$node->safe_psql($db, q{INSERT INTO plain SELECT i % 4, i FROM generate_series(1, 100) i; SELECT continuous.sync()});
is($node->safe_psql($db, q{SELECT string_agg(who || ':' || n, ',' ORDER BY who) FROM owner_notes}),
	$node->safe_psql($db, q{SET ROLE tabowner; SELECT string_agg(who || ':' || n, ',' ORDER BY who) FROM
		(SELECT who, count(*) AS n FROM notes GROUP BY who) q}),
	"the owner's view shows what the owner's query shows");

# Enabled after creation: bob's view over a table without row security,
# then policies come; the view fails at the ENABLE, and nothing after it counts.
$node->safe_psql($db, q{
	CREATE TABLE later (id int, who text);
	ALTER TABLE later REPLICA IDENTITY FULL;
	INSERT INTO later SELECT i, CASE WHEN i % 2 = 0 THEN 'bob' ELSE 'alice' END FROM generate_series(1, 50) i;
	GRANT SELECT ON later TO bob;
	CREATE POLICY own_rows ON later FOR SELECT USING (who = current_user);
});
$node->safe_psql($db, q{SET ROLE bob; SELECT continuous.create_view('bob_later', 'SELECT who, count(*) AS n FROM later GROUP BY who')});
$node->safe_psql($db, 'SELECT continuous.sync()');
is($node->safe_psql($db, 'SELECT sum(n) FROM bob_later'), '50', 'before ENABLE, bob\'s view counts every row');
$node->safe_psql($db, q{
	BEGIN; INSERT INTO later VALUES (51, 'alice'); COMMIT;
	ALTER TABLE later ENABLE ROW LEVEL SECURITY;
	INSERT INTO later VALUES (52, 'alice'), (53, 'bob');
	SELECT continuous.sync();
});
is($node->safe_psql($db, q{SELECT state FROM continuous.views WHERE name = 'bob_later'::regclass}),
	'failed', 'ENABLE ROW LEVEL SECURITY fails the view');
like($node->safe_psql($db, q{SELECT error FROM continuous.views WHERE name = 'bob_later'::regclass}),
	qr/row-level security applies to table later for the view's owner bob/, '... saying why');
($rc, $out, $err) = $node->psql($db, 'SET ROLE bob; SELECT * FROM bob_later');
isnt($rc, 0, 'reading the failed view is an error, not rows bob could not see');

# FORCE: the table's owner is subject to its policies too.
$node->safe_psql($db, q{ALTER TABLE notes FORCE ROW LEVEL SECURITY; INSERT INTO notes VALUES (301, 'carol', 1);
	SELECT continuous.sync()});
is($node->safe_psql($db, q{SELECT state FROM continuous.views WHERE name = 'owner_notes'::regclass}),
	'failed', 'FORCE ROW LEVEL SECURITY fails the owner\'s view');

# The other view goes on, exact, and the failures stay across a restart.
$node->safe_psql($db, q{INSERT INTO plain SELECT i % 4, i FROM generate_series(101, 200) i; SELECT continuous.sync()});
ContinuousCluster::view_equals_ok($node, $db, 'plain_g', 'SELECT g, count(*) AS n, sum(x) AS sx FROM plain GROUP BY g',
	'g', 'a view without row security goes on exact');
$node->restart;
ok(ContinuousCluster::wait_for_worker($node, $db), 'worker back after a restart');
$node->safe_psql($db, q{INSERT INTO plain VALUES (9, 9); SELECT continuous.sync()});
ContinuousCluster::view_equals_ok($node, $db, 'plain_g', 'SELECT g, count(*) AS n, sum(x) AS sx FROM plain GROUP BY g',
	'g', '... also after the restart');
is($node->safe_psql($db, q{SELECT string_agg(name::text || '=' || state, ',' ORDER BY name::text) FROM continuous.views}),
	'bob_later=failed,owner_notes=failed,plain_g=ready', 'the failed views stay failed after the restart');

# create_stream parses its column list: none of these runs SQL.
$node->safe_psql($db, 'CREATE TABLE victim (x int); INSERT INTO victim VALUES (1)');
my @attempts = (
	q{a int) SERVER continuous_streams; DROP TABLE victim; --},
	qq{a int) SERVER continuous_streams\n; DROP TABLE victim; CREATE FOREIGN TABLE inj2 (b int},
	q{a int) SERVER continuous_streams OPTIONS (k 'v') --},
	q{a int) INHERITS (victim) SERVER continuous_streams --},
	q{a int) SERVER continuous_streams; CREATE FOREIGN TABLE victim2 (a int) SERVER continuous_streams --},
	q{a int DEFAULT (SELECT count(*) FROM victim)},
	q{a int); DELETE FROM victim; SELECT (1},
);
for my $cols (@attempts)
{
	my $quoted = $cols;
	$quoted =~ s/'/''/g;
	($rc, $out, $err) = $node->psql($db, "SELECT continuous.create_stream('inj', '$quoted')");
	isnt($rc, 0, "create_stream refuses the column list: $cols");
}
is($node->safe_psql($db, q{SELECT count(*) FROM victim}), '1', 'the victim table is intact');
is($node->safe_psql($db, q{SELECT count(*) FROM pg_class WHERE relname IN ('inj', 'inj2', 'victim2')}), '0',
	'no relation was created by the attempts');
$node->safe_psql($db, q{SELECT continuous.create_stream('ok_stream', 'a int, b text DEFAULT ''x'' NOT NULL')});
is($node->safe_psql($db, q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
	WHERE attrelid = 'ok_stream'::regclass AND attnum > 0}), 'a,b', 'a real column list still works');

done_testing();
