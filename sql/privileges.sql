--
-- Privileges: ordinary roles create, fill, read and drop their continuous
-- views and streams; reading a view needs SELECT on it, creating one needs
-- SELECT on its source.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

-- Runs a statement that must fail; returns its SQLSTATE and message, then
-- its detail and hint when it has them.
CREATE FUNCTION expect_error(sql text) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
	state text;
	message text;
	detail text;
	hint text;
BEGIN
	EXECUTE sql;
	RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN NEXT state || ': ' || message;
	IF detail <> '' THEN
		RETURN NEXT 'DETAIL: ' || detail;
	END IF;
	IF hint <> '' THEN
		RETURN NEXT 'HINT: ' || hint;
	END IF;
END
$fn$;

-- The creator of views, a reader, and a role with no privileges on the
-- source.  None is a superuser.
CREATE ROLE regress_continuous_owner;
CREATE ROLE regress_continuous_reader;
CREATE ROLE regress_continuous_outsider;
SELECT rolname, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles
WHERE rolname LIKE 'regress_continuous_%' ORDER BY rolname;

CREATE SCHEMA pv;
GRANT USAGE, CREATE ON SCHEMA pv TO regress_continuous_owner, regress_continuous_outsider;
GRANT USAGE ON SCHEMA pv TO regress_continuous_reader;
CREATE TABLE pv.src (k int, v int);
GRANT SELECT, INSERT ON pv.src TO regress_continuous_owner;

-- A view over a table needs REPLICA IDENTITY FULL, which only the table's
-- owner can set: anyone else is told what to ask for.
SET ROLE regress_continuous_owner;
SELECT * FROM expect_error('SELECT continuous.create_view(''pv.counts'', ''SELECT k, count(*) AS n FROM pv.src GROUP BY k'')');
RESET ROLE;
ALTER TABLE pv.src REPLICA IDENTITY FULL;

-- The owner creates a view over a table it may read, fills the table and
-- reads the view.
SET ROLE regress_continuous_owner;
SELECT continuous.create_view('pv.counts', 'SELECT k, count(*) AS n, sum(v) AS total FROM pv.src GROUP BY k');
INSERT INTO pv.src VALUES (1, 10), (1, 5), (2, 7), (NULL, 1);
SELECT continuous.sync();
SELECT * FROM pv.counts ORDER BY k;
RESET ROLE;
SELECT relowner::regrole AS owner FROM pg_class WHERE oid = 'pv.counts'::regclass;
SELECT name, source, groups, error FROM continuous.views WHERE name = 'pv.counts'::regclass;

-- The view's id, not shown: the same rows through read_view().
SELECT id AS counts_id FROM continuous.views WHERE name = 'pv.counts'::regclass \gset

-- Without SELECT on the view, the reader is refused, also through
-- read_view().
SET ROLE regress_continuous_reader;
SELECT * FROM expect_error('SELECT * FROM pv.counts');
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n bigint, total bigint)', :counts_id));
RESET ROLE;

-- Its owner grants SELECT on the view, and no more: the reader still may
-- not read the source.
SET ROLE regress_continuous_owner;
GRANT SELECT ON pv.counts TO regress_continuous_reader;
RESET ROLE;
SET ROLE regress_continuous_reader;
SELECT * FROM pv.counts ORDER BY k;
SELECT * FROM continuous.read_view(:counts_id) AS r(k int, n bigint, total bigint) ORDER BY k;
SELECT * FROM expect_error('SELECT * FROM pv.src');
SELECT * FROM expect_error($$SELECT continuous.create_view('pv.reader_view', 'SELECT count(*) FROM pv.src')$$);
RESET ROLE;

-- A role without SELECT on the source cannot create a view over it, even
-- with CREATE on the schema.
SET ROLE regress_continuous_outsider;
SELECT * FROM expect_error($$SELECT continuous.create_view('pv.stolen', 'SELECT count(*) FROM pv.src')$$);
SELECT * FROM expect_error($$SELECT continuous.create_view('pv.stolen', 'SELECT k, sum(v) FROM pv.src GROUP BY k')$$);
SELECT * FROM expect_error('SELECT * FROM pv.counts');
RESET ROLE;
SELECT to_regclass('pv.stolen') AS stolen;

-- An ordinary role creates and drops its own tables, plain views and
-- continuous views while the extension's sql_drop event trigger is there.
SET ROLE regress_continuous_owner;
CREATE TABLE pv.own (k int, v int);
CREATE VIEW pv.own_plain AS SELECT k FROM pv.own;
DROP VIEW pv.own_plain;
CREATE TABLE pv.scratch (x int);
DROP TABLE pv.scratch;
SELECT continuous.create_view('pv.own_by_drop_view', 'SELECT k, count(*) AS n FROM pv.own GROUP BY k');
SELECT continuous.create_view('pv.own_by_function', 'SELECT count(*) AS n, sum(v) AS total FROM pv.own');
INSERT INTO pv.own VALUES (1, 1), (2, 2), (2, 3);
SELECT continuous.sync();
SELECT * FROM pv.own_by_drop_view ORDER BY k;
SELECT * FROM pv.own_by_function;
SELECT name FROM continuous.views WHERE name::text LIKE 'pv.own%' ORDER BY name::text;
DROP VIEW pv.own_by_drop_view;
SELECT continuous.drop_view('pv.own_by_function');
SELECT name FROM continuous.views WHERE name::text LIKE 'pv.own%' ORDER BY name::text;
SELECT to_regclass('pv.own_by_drop_view') AS by_drop_view, to_regclass('pv.own_by_function') AS by_function;
DROP TABLE pv.own;
-- A table with a continuous view over it, dropped with CASCADE.
CREATE TABLE pv.own_table (k int);
SELECT continuous.create_view('pv.own_cascade', 'SELECT count(*) AS n FROM pv.own_table');
SELECT * FROM expect_error('DROP TABLE pv.own_table');
SET client_min_messages = warning;
DROP TABLE pv.own_table CASCADE;
RESET client_min_messages;
SELECT to_regclass('pv.own_table') AS own_table, to_regclass('pv.own_cascade') AS own_cascade;
SELECT name FROM continuous.views WHERE name::text LIKE 'pv.own%' ORDER BY name::text;
RESET ROLE;

-- Another role cannot drop the owner's continuous view.
SET ROLE regress_continuous_outsider;
SELECT * FROM expect_error('DROP VIEW pv.counts');
SELECT * FROM expect_error($$SELECT continuous.drop_view('pv.counts')$$);
RESET ROLE;
SELECT name FROM continuous.views WHERE name = 'pv.counts'::regclass;

-- An ordinary role creates a stream (USAGE on the server is granted to
-- PUBLIC), a view over it, and inserts events.
SELECT has_server_privilege('regress_continuous_owner', 'continuous_streams', 'USAGE') AS owner_usage;
SET ROLE regress_continuous_owner;
SELECT continuous.create_stream('pv.events', 'k int, v int');
SELECT continuous.create_view('pv.event_counts', 'SELECT k, count(*) AS n, sum(v) AS total FROM pv.events GROUP BY k');
INSERT INTO pv.events VALUES (1, 1), (1, 2), (3, 3);
COPY pv.events FROM STDIN;
3	4
\.
SELECT continuous.sync();
SELECT * FROM pv.event_counts ORDER BY k;
RESET ROLE;
SELECT relowner::regrole AS owner FROM pg_class WHERE oid = 'pv.events'::regclass;
-- Others may insert only with INSERT on the stream.
SET ROLE regress_continuous_outsider;
SELECT * FROM expect_error('INSERT INTO pv.events VALUES (9, 9)');
SELECT * FROM expect_error($$SELECT continuous.create_view('pv.stolen', 'SELECT count(*) FROM pv.events')$$);
RESET ROLE;
SET ROLE regress_continuous_owner;
GRANT INSERT ON pv.events TO regress_continuous_outsider;
RESET ROLE;
SET ROLE regress_continuous_outsider;
INSERT INTO pv.events VALUES (9, 9);
RESET ROLE;
SET ROLE regress_continuous_owner;
SELECT continuous.sync();
SELECT * FROM pv.event_counts ORDER BY k;
-- The owner drops its stream and, with cascade, its view.
SET client_min_messages = warning;
SELECT continuous.drop_stream('pv.events', "cascade" => true);
RESET client_min_messages;
SELECT to_regclass('pv.events') AS events, to_regclass('pv.event_counts') AS event_counts;
RESET ROLE;

-- The worker runs a view's definition as the view's owner, in a
-- security-restricted operation, not as the superuser it is: a function in
-- the definition sees the owner as current_user, and one that calls what
-- the owner may not call fails the view instead of running as superuser.
SET ROLE regress_continuous_owner;
CREATE FUNCTION pv.whoami() RETURNS name STABLE LANGUAGE sql AS $$ SELECT current_user $$;
CREATE FUNCTION pv.peek() RETURNS text STABLE LANGUAGE sql
AS $$ SELECT pg_read_file('postgresql.conf', 0, 16) $$;
SELECT continuous.create_view('pv.who', 'SELECT pv.whoami() AS who, count(*) AS n FROM pv.src GROUP BY 1');
SELECT continuous.create_view('pv.peeking', 'SELECT pv.peek() AS secret, count(*) AS n FROM pv.src GROUP BY 1');
INSERT INTO pv.src VALUES (3, 3);
SELECT continuous.sync();
SELECT * FROM pv.who;
-- Compiling the definition in the worker, which folds pv.folded(0), a
-- constant, runs as the owner too (pv.folded raises when run as a
-- superuser); and a setting the owner's code changes (pv.meddle) reaches
-- neither the worker nor the next view (pv.current_path).
CREATE FUNCTION pv.folded(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $fn$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'pv.folded() runs as a superuser';
	END IF;
	RETURN $1;
END
$fn$;
CREATE FUNCTION pv.meddle(int) RETURNS int STABLE LANGUAGE plpgsql
AS $fn$ BEGIN PERFORM set_config('search_path', 'pv', false); RETURN $1; END $fn$;
CREATE FUNCTION pv.current_path() RETURNS text STABLE LANGUAGE sql
AS $fn$ SELECT current_setting('search_path') $fn$;
SELECT continuous.create_view('pv.folding', 'SELECT count(*) AS n FROM pv.src WHERE v > pv.folded(0)');
SELECT continuous.create_view('pv.meddling', 'SELECT pv.meddle(k) AS k, count(*) AS n FROM pv.src GROUP BY 1');
SELECT continuous.create_view('pv.pathing', 'SELECT pv.current_path() AS p, count(*) AS n FROM pv.src GROUP BY 1');
INSERT INTO pv.src VALUES (6, 6);
SELECT continuous.sync();
SELECT n FROM pv.folding;
SELECT p FROM pv.pathing ORDER BY p;
RESET ROLE;
-- After ALTER VIEW ... OWNER TO, later transactions run as the new owner
-- (who needs SELECT on the source, as a creator would).
GRANT SELECT ON pv.src TO regress_continuous_reader;
ALTER VIEW pv.who OWNER TO regress_continuous_reader;
INSERT INTO pv.src VALUES (4, 4);
SELECT continuous.sync();
SELECT * FROM pv.who ORDER BY who;
SELECT name, state, error FROM continuous.views WHERE name = 'pv.peeking'::regclass;
SELECT * FROM expect_error('SELECT * FROM pv.peeking');

-- A view whose owner loses SELECT on the source stops there: the worker
-- reads no data for a role that could not.  The other views go on.
REVOKE SELECT ON pv.src FROM regress_continuous_reader;
SET ROLE regress_continuous_owner;
CREATE TABLE pv.guarded (k int);
SELECT continuous.create_view('pv.guarded_n', 'SELECT count(*) AS n FROM pv.guarded');
INSERT INTO pv.guarded VALUES (1), (2);
SELECT continuous.sync();
SELECT n FROM pv.guarded_n;
RESET ROLE;
ALTER TABLE pv.guarded OWNER TO regress_continuous_reader;
INSERT INTO pv.guarded VALUES (3);
INSERT INTO pv.src VALUES (5, 5);
SELECT continuous.sync();
SELECT name, state, error FROM continuous.views
WHERE name IN ('pv.guarded_n'::regclass, 'pv.who'::regclass, 'pv.counts'::regclass) ORDER BY name::text;
-- So does a view whose owner may no longer execute a function it calls.
CREATE FUNCTION pv.granted(int) RETURNS int IMMUTABLE LANGUAGE plpgsql
AS $fn$ BEGIN RETURN $1 * 10; END $fn$;
REVOKE EXECUTE ON FUNCTION pv.granted(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pv.granted(int) TO regress_continuous_owner;
SET ROLE regress_continuous_owner;
SELECT continuous.create_view('pv.tens', 'SELECT pv.granted(k) AS k10, count(*) AS n FROM pv.src GROUP BY 1');
SELECT continuous.sync();
SELECT count(*) AS groups FROM pv.tens;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION pv.granted(int) FROM regress_continuous_owner;
INSERT INTO pv.src VALUES (7, 7);
SELECT continuous.sync();
SELECT name, state, error FROM continuous.views
WHERE name IN ('pv.tens'::regclass, 'pv.counts'::regclass) ORDER BY name::text;
SELECT * FROM pv.counts ORDER BY k;

-- Row-level security.  A continuous view keeps every row of its source in
-- its aggregates and cannot apply policies: a source that row security
-- applies to for the view's owner is refused, and a view fails, in commit
-- order, when row security comes to apply to its owner (ENABLE, FORCE).
-- Roles row security does not apply to (the table's owner without FORCE, a
-- role with BYPASSRLS) see what their own queries see.
CREATE ROLE regress_continuous_bypass BYPASSRLS;
GRANT USAGE, CREATE ON SCHEMA pv TO regress_continuous_bypass;
CREATE TABLE pv.secret (k int, who text);
ALTER TABLE pv.secret REPLICA IDENTITY FULL;
INSERT INTO pv.secret VALUES (1, 'regress_continuous_owner'), (2, 'regress_continuous_reader'),
	(3, 'regress_continuous_owner');
GRANT SELECT ON pv.secret TO regress_continuous_owner, regress_continuous_bypass;
ALTER TABLE pv.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON pv.secret FOR SELECT USING (who = current_user);
SET ROLE regress_continuous_owner;
SELECT count(*) AS rows_it_sees FROM pv.secret;
SELECT * FROM expect_error($$SELECT continuous.create_view('pv.secret_n', 'SELECT count(*) AS n FROM pv.secret')$$);
SET ROLE regress_continuous_bypass;
SELECT continuous.create_view('pv.secret_all', 'SELECT count(*) AS n FROM pv.secret');
SELECT continuous.sync();
SELECT n FROM pv.secret_all;
-- Enabled after the view was created.
RESET ROLE;
CREATE TABLE pv.later (k int, who text);
ALTER TABLE pv.later REPLICA IDENTITY FULL;
INSERT INTO pv.later VALUES (1, 'regress_continuous_owner'), (2, 'regress_continuous_reader');
GRANT SELECT ON pv.later TO regress_continuous_owner;
CREATE POLICY own_rows ON pv.later FOR SELECT USING (who = current_user);
SET ROLE regress_continuous_owner;
SELECT continuous.create_view('pv.later_n', 'SELECT count(*) AS n FROM pv.later');
SELECT continuous.sync();
SELECT n FROM pv.later_n;
RESET ROLE;
ALTER TABLE pv.later ENABLE ROW LEVEL SECURITY;
SELECT continuous.sync();
SELECT name, state, error FROM continuous.views WHERE name = 'pv.later_n'::regclass;
SELECT * FROM expect_error('SELECT * FROM pv.later_n');
-- The table's owner, until the table forces row security on it too.
SET ROLE regress_continuous_owner;
CREATE TABLE pv.mine (k int, who text);
ALTER TABLE pv.mine REPLICA IDENTITY FULL;
INSERT INTO pv.mine VALUES (1, 'someone else'), (2, 'regress_continuous_owner');
ALTER TABLE pv.mine ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON pv.mine FOR SELECT USING (who = current_user);
SELECT continuous.create_view('pv.mine_n', 'SELECT count(*) AS n FROM pv.mine');
SELECT continuous.sync();
SELECT n FROM pv.mine_n;
ALTER TABLE pv.mine FORCE ROW LEVEL SECURITY;
SELECT continuous.sync();
SELECT name, state, error FROM continuous.views WHERE name = 'pv.mine_n'::regclass;
SELECT * FROM expect_error($$SELECT continuous.create_view('pv.mine_n2', 'SELECT count(*) AS n FROM pv.mine')$$);
RESET ROLE;
SELECT name, state FROM continuous.views WHERE name = 'pv.secret_all'::regclass;

-- The extension's catalog queries run as superuser, with search_path set to
-- pg_catalog: a function the caller puts first in its search_path, here one
-- shadowing nextval(), is not called.
SET ROLE regress_continuous_owner;
CREATE FUNCTION pv.nextval(regclass) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
	RAISE EXCEPTION 'shadowing nextval() called as %', current_user;
END
$fn$;
SET search_path = pv, pg_catalog, public;
SELECT continuous.create_view('pv.shadowed', 'SELECT count(*) AS n FROM pv.src');
SELECT continuous.sync();
SELECT n FROM pv.shadowed;
RESET search_path;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA pv CASCADE;
RESET client_min_messages;
SELECT count(*) AS orphan_rows FROM continuous.view_catalog c
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = c.viewrelid);
DROP ROLE regress_continuous_owner;
DROP ROLE regress_continuous_reader;
DROP ROLE regress_continuous_outsider;
DROP ROLE regress_continuous_bypass;
DROP FUNCTION expect_error(text);
