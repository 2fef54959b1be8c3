--
-- Every definition a continuous view cannot maintain, and every bad
-- argument, ends in an error with a real SQLSTATE.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;

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

-- create_view('rv', query) must fail.
CREATE FUNCTION refused(query text) RETURNS SETOF text
LANGUAGE sql AS $fn$
	SELECT expect_error(format('SELECT continuous.create_view(%L, %L)', 'rf.rv', query))
$fn$;

CREATE SCHEMA rf;
CREATE TABLE rf.t (k int, x int, s text, m money, tv tsvector, ts timestamptz);
CREATE TABLE rf.t2 (k int, y int);
SELECT continuous.create_stream('rf.ev', 'k int, x int');

-- Joins and more than one source.
SELECT refused('SELECT count(*) FROM rf.t, rf.t2');
SELECT refused('SELECT t.k, count(*) FROM rf.t JOIN rf.t2 ON t.k = t2.k GROUP BY t.k');
SELECT refused('SELECT count(*) FROM rf.t a LEFT JOIN rf.t b USING (k)');
SELECT refused('SELECT count(*) FROM rf.ev, rf.t');
SELECT refused('SELECT count(*) FROM rf.t, LATERAL generate_series(1, t.x) AS g');
-- Columns of the source that GROUP BY its primary key lets the query show.
CREATE TABLE rf.keyed (id int PRIMARY KEY, name text);
SELECT refused('SELECT id, name, count(*) FROM rf.keyed GROUP BY id');

-- Window functions, DISTINCT, ORDER BY, LIMIT, OFFSET.
SELECT refused('SELECT k, count(*), rank() OVER (ORDER BY k) FROM rf.t GROUP BY k');
SELECT refused('SELECT k, sum(count(*)) OVER () FROM rf.t GROUP BY k');
SELECT refused('SELECT DISTINCT k, count(*) FROM rf.t GROUP BY k');
SELECT refused('SELECT DISTINCT ON (k) k, count(*) FROM rf.t GROUP BY k');
SELECT refused('SELECT k, count(*) FROM rf.t GROUP BY k ORDER BY k');
SELECT refused('SELECT k, count(*) FROM rf.t GROUP BY k LIMIT 10');
SELECT refused('SELECT k, count(*) FROM rf.t GROUP BY k OFFSET 1');
SELECT refused('SELECT k, count(*) FROM rf.t GROUP BY k FETCH FIRST 1 ROW ONLY');

-- Set operations, WITH, subqueries.
SELECT refused('SELECT count(*) FROM rf.t UNION SELECT count(*) FROM rf.t2');
SELECT refused('SELECT count(*) FROM rf.t UNION ALL SELECT count(*) FROM rf.t');
SELECT refused('SELECT count(*) FROM rf.t INTERSECT SELECT count(*) FROM rf.t2');
SELECT refused('SELECT count(*) FROM rf.t EXCEPT SELECT count(*) FROM rf.t2');
SELECT refused('WITH c AS (SELECT * FROM rf.t) SELECT count(*) FROM c');
SELECT refused('WITH c AS (SELECT 1) SELECT count(*) FROM rf.t');
SELECT refused('SELECT count(*) FROM (SELECT * FROM rf.t) AS sub');
SELECT refused('SELECT count(*) FROM rf.t WHERE k IN (SELECT k FROM rf.t2)');
SELECT refused('SELECT count(*) FROM rf.t WHERE EXISTS (SELECT 1 FROM rf.t2 WHERE t2.k = t.k)');
SELECT refused('SELECT k, (SELECT max(y) FROM rf.t2) AS m, count(*) FROM rf.t GROUP BY k');
SELECT refused('SELECT k, count(*) FROM rf.t GROUP BY k HAVING count(*) > (SELECT count(*) FROM rf.t2)');

-- Volatile functions anywhere.
SELECT refused('SELECT count(*) FROM rf.t WHERE random() < 0.5');
SELECT refused('SELECT random() < 0.5 AS coin, count(*) FROM rf.t GROUP BY random() < 0.5');
SELECT refused('SELECT count(*) FROM rf.t GROUP BY clock_timestamp()');
SELECT refused('SELECT date_trunc(''hour'', clock_timestamp()) AS h, count(*) FROM rf.t GROUP BY 1');
SELECT refused('SELECT sum(x * random()) FROM rf.t');
SELECT refused('SELECT k, count(*) FROM rf.t GROUP BY k HAVING random() < 0.5');

-- Set-returning functions, grouping sets, row locks.
SELECT refused('SELECT generate_series(1, k), count(*) FROM rf.t GROUP BY k');
SELECT refused('SELECT k, x, count(*) FROM rf.t GROUP BY GROUPING SETS ((k), (x))');
SELECT refused('SELECT k, x, count(*) FROM rf.t GROUP BY ROLLUP (k, x)');
SELECT refused('SELECT k, x, count(*) FROM rf.t GROUP BY CUBE (k, x)');
SELECT refused('SELECT count(*) FROM rf.t FOR UPDATE');
SELECT refused('SELECT k FROM rf.t GROUP BY k FOR SHARE');

-- Aggregates that cannot be maintained: a DISTINCT one ordered by more than
-- its distinct argument, DISTINCT over several arguments that vary
-- (constant other arguments are fine: string_agg(DISTINCT s, ',') is
-- maintained), ordered-set aggregates whose direct argument is not a
-- constant, and too many arguments to keep with their rows' positions.
-- (Aggregates without a combine function are maintained: the view keeps
-- their inputs.)
SELECT refused('SELECT string_agg(DISTINCT s, '','' ORDER BY s, '','') FROM rf.t');
SELECT refused('SELECT string_agg(DISTINCT s, s) FROM rf.t');
SELECT refused('SELECT array_agg(DISTINCT s ORDER BY s, x) FROM rf.t');
SELECT refused('SELECT k, percentile_cont(k / 10.0) WITHIN GROUP (ORDER BY x) FROM rf.t GROUP BY k');
SELECT refused('SELECT rank(3, 4) WITHIN GROUP (ORDER BY x, k) FROM rf.t');
CREATE FUNCTION rf.add6(s int, a int, b int, c int, d int, e int, f int) RETURNS int
LANGUAGE sql IMMUTABLE AS 'SELECT s + a + b + c + d + e + f';
CREATE AGGREGATE rf.sum6(int, int, int, int, int, int) (sfunc = rf.add6, stype = int, initcond = '0');
SELECT refused('SELECT rf.sum6(k, x, k, x, k, x) FROM rf.t');
-- An ordered-set aggregate of another kind than the maintained ones.
CREATE AGGREGATE rf.my_percentile(float8 ORDER BY anyelement) (
	sfunc = ordered_set_transition, stype = internal,
	finalfunc = percentile_disc_final, finalfunc_extra);
SELECT refused('SELECT rf.my_percentile(0.5) WITHIN GROUP (ORDER BY x) FROM rf.t');
SELECT refused('SELECT k, percent_rank(k) WITHIN GROUP (ORDER BY x) FROM rf.t GROUP BY k');

-- Neither aggregates nor GROUP BY.
SELECT refused('SELECT k, x FROM rf.t');
SELECT refused('SELECT * FROM rf.t WHERE k > 0');
SELECT refused('TABLE rf.t');

-- Sources that are not a stream or an ordinary or partitioned table.
CREATE VIEW rf.plain_view AS SELECT * FROM rf.t;
CREATE MATERIALIZED VIEW rf.mat AS SELECT * FROM rf.t;
CREATE TEMPORARY TABLE temp_t (k int);
CREATE UNLOGGED TABLE rf.unlogged_t (k int);
CREATE FOREIGN DATA WRAPPER regress_cv_dummy_fdw;
CREATE SERVER regress_cv_dummy_server FOREIGN DATA WRAPPER regress_cv_dummy_fdw;
CREATE FOREIGN TABLE rf.other_foreign (k int) SERVER regress_cv_dummy_server;
CREATE SEQUENCE rf.seq;
SELECT refused('SELECT count(*) FROM rf.plain_view');
SELECT refused('SELECT count(*) FROM rf.mat');
SELECT refused('SELECT count(*) FROM temp_t');
SELECT refused('SELECT count(*) FROM rf.unlogged_t');
SELECT refused('SELECT count(*) FROM rf.other_foreign');
SELECT refused('SELECT count(*) FROM rf.seq');
SELECT refused('SELECT count(*) FROM ONLY rf.t');
SELECT refused('SELECT count(*) FROM generate_series(1, 3) AS g');
SELECT refused('SELECT count(*) FROM (VALUES (1), (2)) AS v(x)');
SELECT refused('SELECT count(*) FROM rf.no_such_table');
CREATE TABLE rf.parent (k int);
CREATE TABLE rf.child () INHERITS (rf.parent);
SELECT refused('SELECT count(*) FROM rf.parent');
SELECT refused('SELECT count(*) FROM continuous.checkpoint_group');
-- A continuous view is a view.
SELECT continuous.create_view('rf.cv', 'SELECT k, count(*) AS n FROM rf.t GROUP BY k');
SELECT refused('SELECT sum(n) FROM rf.cv');

-- Not exactly one SELECT.
SELECT refused('INSERT INTO rf.t (k) VALUES (1)');
SELECT refused('DELETE FROM rf.t');
SELECT refused('SELECT count(*) FROM rf.t; SELECT count(*) FROM rf.t2');
SELECT refused('');
SELECT refused('SELECT count(*) INTO rf.counted FROM rf.t');
SELECT refused('EXPLAIN SELECT count(*) FROM rf.t');
SELECT refused('SELECT count(*)');
SELECT refused('SELECT count(* FROM rf.t');
SELECT refused('SELECT no_such_column, count(*) FROM rf.t GROUP BY 1');
SELECT refused('SELECT k, x, count(*) FROM rf.t GROUP BY k');

-- Group keys without a hash operator class.
SELECT refused('SELECT m, count(*) FROM rf.t GROUP BY m');
SELECT refused('SELECT tv, count(*) FROM rf.t GROUP BY tv');

-- Bad names.
SELECT * FROM expect_error($$SELECT continuous.create_view('rf.cv', 'SELECT count(*) FROM rf.t')$$);
SELECT * FROM expect_error($$SELECT continuous.create_view('rf.t2', 'SELECT count(*) FROM rf.t')$$);
SELECT * FROM expect_error($$SELECT continuous.create_view('a.b.c', 'SELECT count(*) FROM rf.t')$$);
SELECT * FROM expect_error($$SELECT continuous.create_view('not a name', 'SELECT count(*) FROM rf.t')$$);

-- Creating a view needs SELECT on its source.
CREATE ROLE regress_cv_nopriv;
GRANT USAGE ON SCHEMA rf TO regress_cv_nopriv;
GRANT CREATE ON SCHEMA rf TO regress_cv_nopriv;
SET ROLE regress_cv_nopriv;
SELECT refused('SELECT count(*) FROM rf.t');
SELECT refused('SELECT count(*) FROM rf.ev');
-- Reading a view needs SELECT on the view.
SELECT * FROM expect_error('SELECT * FROM rf.cv');
RESET ROLE;
REVOKE ALL ON SCHEMA rf FROM regress_cv_nopriv;
DROP ROLE regress_cv_nopriv;

-- drop_view of something that is not a continuous view.
SELECT * FROM expect_error($$SELECT continuous.drop_view('rf.plain_view')$$);
SELECT * FROM expect_error($$SELECT continuous.drop_view('rf.t')$$);
SELECT * FROM expect_error($$SELECT continuous.drop_view('rf.ev')$$);
SELECT * FROM expect_error($$SELECT continuous.drop_view('rf.no_such_view')$$);

-- sync() with a negative timeout.
SELECT * FROM expect_error($$SELECT continuous.sync('-1 s')$$);
SELECT * FROM expect_error($$SELECT continuous.sync('-1 day')$$);

-- tumble() with a width that is not positive, or a result out of range.
SELECT * FROM expect_error('SELECT continuous.tumble(5::bigint, 0)');
SELECT * FROM expect_error('SELECT continuous.tumble(5::bigint, -10)');
SELECT * FROM expect_error('SELECT continuous.tumble(5::bigint, -10, 3)');
SELECT * FROM expect_error($$SELECT continuous.tumble('-9223372036854775808'::bigint, 10, 1)$$);
SELECT * FROM expect_error($$SELECT continuous.tumble('-9223372036854775808'::bigint, 10)$$);
SELECT continuous.tumble(9223372036854775807::bigint, 10) AS max_window,
	   continuous.tumble('-9223372036854775808'::bigint, 8) AS min_window;
SELECT * FROM expect_error($$SELECT continuous.tumble(now(), '0 s')$$);
SELECT * FROM expect_error($$SELECT continuous.tumble(now(), '-1 hour')$$);
SELECT * FROM expect_error($$SELECT continuous.tumble(localtimestamp, '1 month')$$);

-- An event the view's expressions cannot compute stops that view only:
-- reading it fails and names the error, other views go on.
CREATE TABLE rf.zero (x int);
SELECT continuous.create_view('rf.inverse_sum', 'SELECT sum(10 / x) AS s FROM rf.zero');
SELECT continuous.create_view('rf.zero_count', 'SELECT count(*) AS n FROM rf.zero');
INSERT INTO rf.zero VALUES (5);
INSERT INTO rf.zero VALUES (0);
INSERT INTO rf.zero VALUES (2);
SELECT continuous.sync();
SELECT * FROM expect_error('SELECT * FROM rf.inverse_sum');
SELECT * FROM rf.zero_count;
SELECT name, error FROM continuous.views
WHERE name IN ('rf.inverse_sum'::regclass, 'rf.zero_count'::regclass)
ORDER BY name::text;

-- The refusals created nothing.
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'rf' AND c.relkind = 'v' ORDER BY 1;
SELECT name FROM continuous.views WHERE name::text LIKE 'rf.%' ORDER BY name::text;

SET client_min_messages = warning;
DROP SCHEMA rf CASCADE;
DROP TABLE temp_t;
DROP SERVER regress_cv_dummy_server;
DROP FOREIGN DATA WRAPPER regress_cv_dummy_fdw;
RESET client_min_messages;
SELECT count(*) AS orphan_rows FROM continuous.view_catalog c
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = c.viewrelid);
DROP FUNCTION refused(text);
DROP FUNCTION expect_error(text);
