--
-- Definitions: how a continuous view's definition is read, checked and
-- evaluated, and how it ties the view to the objects it uses.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

-- Runs a statement that must fail; returns its SQLSTATE and message, then
-- its detail and hint when it has them.  A continuous view's id is shown
-- as N: it depends on the tests run before.
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
	RETURN NEXT state || ': ' || regexp_replace(message, 'continuous view -?[0-9]+', 'continuous view N');
	IF detail <> '' THEN
		RETURN NEXT 'DETAIL: ' || detail;
	END IF;
	IF hint <> '' THEN
		RETURN NEXT 'HINT: ' || hint;
	END IF;
END
$fn$;

-- create_view('df.rv', query) must fail.
CREATE FUNCTION refused(query text) RETURNS SETOF text
LANGUAGE sql AS $fn$
	SELECT expect_error(format('SELECT continuous.create_view(%L, %L)', 'df.rv', query))
$fn$;

-- Rows in v that the query does not return, and rows of the query missing in
-- v, as a multiset: 0 when the view equals its definition.
CREATE FUNCTION view_diff(v regclass, query text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %s EXCEPT ALL (%s)) '
				   'UNION ALL ((%s) EXCEPT ALL SELECT * FROM %s)) AS d',
				   v, query, query, v) INTO n;
	RETURN n;
END
$fn$;

CREATE SCHEMA df;
CREATE TABLE df.t (k int, x int, s text, ts timestamptz);

--
-- read_view() checks the column definition list against the view; a
-- mismatch is an error, never a misread row.
--
SELECT continuous.create_view('df.cv', 'SELECT k, count(*) AS n, sum(x) AS total, max(s) AS max_s FROM df.t GROUP BY k');
INSERT INTO df.t VALUES (1, 10, 'a', '2024-01-01'), (1, 20, 'b', '2024-01-02'), (2, 5, 'c', '2024-01-03');
SELECT continuous.sync();
SELECT id AS cv_id FROM continuous.views WHERE name = 'df.cv'::regclass \gset
SELECT * FROM continuous.read_view(:cv_id) AS r(k int, n bigint, total bigint, max_s text) ORDER BY k;
-- Right number of columns, wrong types.
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k text, n bigint, total bigint, max_s text)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n int, total bigint, max_s text)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n bigint, total numeric, max_s text)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n bigint, total bigint, max_s int)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n bigint, total bigint, max_s varchar)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(a bigint, b bigint, c bigint, d bigint)', :cv_id));
-- Wrong number of columns.
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n bigint, total bigint)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int, n bigint, total bigint, max_s text, extra int)', :cv_id));
SELECT * FROM expect_error(format('SELECT * FROM continuous.read_view(%s) AS r(k int)', :cv_id));
-- Other ids.
SELECT * FROM expect_error('SELECT * FROM continuous.read_view(-1) AS r(k int)');
SELECT count(*) AS null_id_rows FROM continuous.read_view(NULL::integer) AS r(k int);
-- The server is still there, and so is the view.
SELECT * FROM df.cv ORDER BY k;

--
-- Stable functions see the settings of the session that created the view,
-- whoever applies the events and whoever reads.
--
SET TimeZone = 'America/New_York';
CREATE TABLE df.tz (ts timestamptz, x int);
SELECT continuous.create_view('df.per_day', $$
	SELECT ts::date AS day, date_trunc('day', ts) AS day_start, count(*) AS n, sum(x) AS total
	FROM df.tz
	GROUP BY ts::date, date_trunc('day', ts)
$$);
-- 02:00 UTC on January 1st is still December 31st in New York.
INSERT INTO df.tz VALUES ('2024-01-01 02:00+00', 1), ('2024-01-01 06:00+00', 2), ('2023-12-31 12:00+00', 4);
SELECT continuous.sync();
SELECT * FROM df.per_day ORDER BY day;
SELECT ts::date AS day, date_trunc('day', ts) AS day_start, count(*) AS n, sum(x) AS total
FROM df.tz GROUP BY ts::date, date_trunc('day', ts) ORDER BY day;
SELECT view_diff('df.per_day', $$
	SELECT ts::date AS day, date_trunc('day', ts) AS day_start, count(*) AS n, sum(x) AS total
	FROM df.tz
	GROUP BY ts::date, date_trunc('day', ts)
$$) AS per_day;
-- Read from another time zone, the groups stay New York days.
SET TimeZone = 'UTC';
SELECT * FROM df.per_day ORDER BY day;
-- DateStyle and IntervalStyle as well, in casts to text.
SET DateStyle = 'German';
SET TimeZone = 'Asia/Tokyo';
SET IntervalStyle = 'sql_standard';
CREATE TABLE df.styles (ts timestamptz, d interval);
SELECT continuous.create_view('df.as_text',
	'SELECT ts::text AS ts_text, d::text AS d_text, count(*) AS n FROM df.styles GROUP BY 1, 2');
INSERT INTO df.styles VALUES ('2024-01-01 20:00+00', '1 day 2 hours'), ('2024-01-01 20:00+00', '1 day 2 hours');
SELECT continuous.sync();
SELECT * FROM df.as_text;
SELECT ts::text AS ts_text, d::text AS d_text, count(*) AS n FROM df.styles GROUP BY 1, 2;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SELECT * FROM df.as_text;

--
-- The current time, the current user and the other SQL value functions
-- are refused wherever they appear.
--
SELECT refused('SELECT count(*) FROM df.t WHERE ts < now()');
SELECT refused('SELECT now() AS at, count(*) FROM df.t GROUP BY 1');
SELECT refused($$SELECT sum(x) FROM df.t WHERE ts > now() - interval '1 day'$$);
SELECT refused('SELECT k, count(*) FROM df.t GROUP BY k HAVING max(ts) > now()');
SELECT refused('SELECT count(*) FROM df.t WHERE ts < CURRENT_TIMESTAMP');
SELECT refused('SELECT CURRENT_TIMESTAMP AS at, count(*) FROM df.t GROUP BY 1');
SELECT refused('SELECT current_user AS u, count(*) FROM df.t GROUP BY 1');
SELECT refused('SELECT count(*) FROM df.t WHERE s = current_user');
SELECT refused('SELECT count(*) FROM df.t WHERE ts > transaction_timestamp()');
SELECT refused('SELECT transaction_timestamp() AS at, count(*) FROM df.t GROUP BY 1');
SELECT refused('SELECT count(*) FROM df.t WHERE ts < statement_timestamp()');
SELECT refused('SELECT count(*) FROM df.t WHERE ts::date = current_date');
SELECT refused('SELECT count(*) FROM df.t WHERE ts < localtimestamp');
SELECT refused('SELECT count(*) FROM df.t WHERE s = session_user');

--
-- The view depends on its source, the columns it reads and the functions
-- it calls, as an ordinary view does.
--
CREATE TABLE df.a (k int, x int, y int, z text);
SELECT continuous.create_view('df.a_sums', 'SELECT k, sum(x) AS sx, count(*) AS n FROM df.a WHERE z IS NOT NULL GROUP BY k');
SELECT id AS a_sums_id FROM continuous.views WHERE name = 'df.a_sums'::regclass \gset
INSERT INTO df.a VALUES (1, 1, 1, 'a'), (2, 2, 2, NULL);
SELECT continuous.sync();
-- Columns it uses: in the target list, GROUP BY and WHERE.
SELECT * FROM expect_error('ALTER TABLE df.a ALTER COLUMN x TYPE bigint');
SELECT * FROM expect_error('ALTER TABLE df.a ALTER COLUMN k TYPE bigint');
SELECT * FROM expect_error('ALTER TABLE df.a ALTER COLUMN z TYPE varchar(10)');
SELECT * FROM expect_error('ALTER TABLE df.a DROP COLUMN x');
SELECT * FROM expect_error('ALTER TABLE df.a DROP COLUMN z');
-- A column it does not use, although the table is rewritten; and a rename.
ALTER TABLE df.a ALTER COLUMN y TYPE bigint;
INSERT INTO df.a VALUES (1, 10, 10, 'b');
ALTER TABLE df.a DROP COLUMN y;
ALTER TABLE df.a RENAME COLUMN x TO x_renamed;
INSERT INTO df.a VALUES (3, 30, 'c');
SELECT continuous.sync();
SELECT * FROM df.a_sums ORDER BY k;
SELECT view_diff('df.a_sums', 'SELECT k, sum(x_renamed) AS sx, count(*) AS n FROM df.a WHERE z IS NOT NULL GROUP BY k') AS a_sums;
-- Dropping a used column with CASCADE drops the view and its catalog row.
SET client_min_messages = warning;
ALTER TABLE df.a DROP COLUMN x_renamed CASCADE;
RESET client_min_messages;
SELECT to_regclass('df.a_sums') AS a_sums;
SELECT count(*) AS catalog_rows FROM continuous.views WHERE id = :a_sums_id;

-- The source table.
CREATE TABLE df.b (k int);
SELECT continuous.create_view('df.b_count', 'SELECT count(*) AS n FROM df.b');
SELECT id AS b_count_id FROM continuous.views WHERE name = 'df.b_count'::regclass \gset
SELECT * FROM expect_error('DROP TABLE df.b');
SET client_min_messages = warning;
DROP TABLE df.b CASCADE;
RESET client_min_messages;
SELECT to_regclass('df.b_count') AS b_count;
SELECT count(*) AS catalog_rows FROM continuous.views WHERE id = :b_count_id;

-- A user function in WHERE.
CREATE FUNCTION df.is_big(v int) RETURNS boolean LANGUAGE sql IMMUTABLE RETURN v > 100;
CREATE TABLE df.f (k int, x int);
SELECT continuous.create_view('df.big_per_k', 'SELECT k, count(*) AS n FROM df.f WHERE df.is_big(x) GROUP BY k');
SELECT id AS big_per_k_id FROM continuous.views WHERE name = 'df.big_per_k'::regclass \gset
INSERT INTO df.f VALUES (1, 50), (1, 150), (2, 200), (2, 300), (3, 1);
SELECT continuous.sync();
SELECT * FROM df.big_per_k ORDER BY k;
SELECT * FROM expect_error('DROP FUNCTION df.is_big(int)');
SET client_min_messages = warning;
DROP FUNCTION df.is_big(int) CASCADE;
RESET client_min_messages;
SELECT to_regclass('df.big_per_k') AS big_per_k;
SELECT count(*) AS catalog_rows FROM continuous.views WHERE id = :big_per_k_id;

--
-- Errors inside the definition point into the definition: psql shows it
-- as QUERY, with the caret under the offending spot.
--
\set VERBOSITY default
SELECT continuous.create_view('df.rv', 'SELECT count(* FROM df.t');
SELECT continuous.create_view('df.rv', 'SELECT count(*) FROM df.t WHERE random() < 0.5');
SELECT continuous.create_view('df.rv', 'SELECT k, count(*)
FROM df.t
WHERE x > 0
  AND random() < 0.5
GROUP BY k');
SELECT continuous.create_view('df.rv', 'SELECT count(*) FROM df.t WHERE ts < now()');
SELECT continuous.create_view('df.rv', 'SELECT no_such_column, count(*) FROM df.t GROUP BY 1');

--
-- Names.
--
-- Output columns must have distinct names.
SELECT refused('SELECT count(*), count(*) FROM df.t');
SELECT refused('SELECT k, sum(x) AS k FROM df.t GROUP BY k');
CREATE TABLE df.names (k int);
SELECT continuous.create_view('df.distinct_names', 'SELECT count(*), count(*) AS count_2 FROM df.names');
\d df.distinct_names
-- A schema that does not exist.
SELECT * FROM expect_error($$SELECT continuous.create_view('no_such_schema.v', 'SELECT count(*) FROM df.t')$$);

--
-- A stream's NOT NULL and CHECK constraints hold on INSERT and COPY; the
-- rows refused are not counted.
--
SELECT continuous.create_stream('df.checked', 'k int NOT NULL CHECK (k > 0), note text');
SELECT continuous.create_view('df.checked_count', 'SELECT count(*) AS n, sum(k) AS total FROM df.checked');
SELECT * FROM expect_error($$INSERT INTO df.checked VALUES (NULL, 'null')$$);
SELECT * FROM expect_error($$INSERT INTO df.checked VALUES (0, 'zero')$$);
SELECT * FROM expect_error($$INSERT INTO df.checked (note) VALUES ('no k')$$);
SELECT * FROM expect_error($$INSERT INTO df.checked VALUES (3, 'fine'), (-1, 'negative')$$);
-- COPY: psql sets no error variables after COPY, so show the SQLSTATE
-- alone; the messages are those above.
\set VERBOSITY sqlstate
COPY df.checked FROM STDIN;
\N	copied null
\.
COPY df.checked FROM STDIN;
2	copied fine
0	copied zero
\.
\set VERBOSITY default
INSERT INTO df.checked VALUES (4, 'valid');
COPY df.checked FROM STDIN;
5	copied valid
\.
SELECT continuous.sync();
SELECT * FROM df.checked_count;

--
-- A partitioned table with a stream among its partitions is refused, and
-- the refusal names that partition.
--
CREATE TABLE df.p (k int, x int) PARTITION BY RANGE (k);
CREATE TABLE df.p_low PARTITION OF df.p FOR VALUES FROM (MINVALUE) TO (10);
CREATE FOREIGN TABLE df.p_stream PARTITION OF df.p FOR VALUES FROM (10) TO (MAXVALUE)
	SERVER continuous_streams;
SELECT refused('SELECT count(*) FROM df.p');
SELECT refused('SELECT k, sum(x) FROM df.p GROUP BY k');
-- Also a level down.
CREATE TABLE df.q (k int, x int) PARTITION BY LIST (k);
CREATE TABLE df.q_sub PARTITION OF df.q FOR VALUES IN (1, 2) PARTITION BY LIST (k);
CREATE TABLE df.q_table PARTITION OF df.q_sub FOR VALUES IN (2);
CREATE FOREIGN TABLE df.q_stream PARTITION OF df.q_sub FOR VALUES IN (1) SERVER continuous_streams;
SELECT refused('SELECT count(*) FROM df.q');
-- The stream's own partitioned sibling is fine as a source.
SELECT continuous.create_view('df.p_low_count', 'SELECT count(*) AS n FROM df.p_low');

--
-- tumble(bigint) at the edges of bigint.  Windows start at origin + i *
-- width; the window of ts starts at the largest such value <= ts.
--
-- max - (-1) = 2^63 = 922337203685477580 * 10 + 8: the window starts 8
-- below max.
SELECT continuous.tumble(9223372036854775807, 10, -1) AS max_origin_minus_1;
-- min = -922337203685477581 * 10 + 2: the window would start at
-- min - 2, below min.
SELECT * FROM expect_error($$SELECT continuous.tumble('-9223372036854775808'::bigint, 10)$$);
-- min - (-8) and min - 2 are multiples of 10: min starts its own window.
SELECT continuous.tumble('-9223372036854775808'::bigint, 10, -8) AS min_origin_minus_8,
	   continuous.tumble('-9223372036854775808'::bigint, 10, 2) AS min_origin_2;
-- max - min = 2^64 - 1 = 2 * (2^63 - 1) + 1: the window starts at max - 1.
SELECT continuous.tumble(9223372036854775807, 9223372036854775807, '-9223372036854775808'::bigint) AS widest;
-- min - max = -(2 * (2^63 - 1) + 1): the window would start at max - 3 *
-- (2^63 - 1), below min.
SELECT * FROM expect_error($$SELECT continuous.tumble('-9223372036854775808'::bigint, 9223372036854775807, 9223372036854775807)$$);

--
-- Functions that are not inlined run in the worker with a snapshot: a
-- SECURITY DEFINER SQL function, one with a SET clause, and PL/pgSQL, in
-- WHERE, GROUP BY and aggregate arguments.
--
CREATE TABLE df.fn_src (k int, x int);
CREATE FUNCTION df.twice_definer(v int) RETURNS int LANGUAGE sql IMMUTABLE SECURITY DEFINER AS 'SELECT v * 2';
CREATE FUNCTION df.twice_set(v int) RETURNS int LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS 'SELECT v * 2';
CREATE FUNCTION df.thrice_plpgsql(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN v * 3; END';
SELECT continuous.create_view('df.fn_definer', 'SELECT df.twice_definer(k) AS k2, count(*) AS n FROM df.fn_src GROUP BY 1');
SELECT continuous.create_view('df.fn_set', 'SELECT k, sum(df.twice_set(x)) AS s FROM df.fn_src GROUP BY k');
SELECT continuous.create_view('df.fn_plpgsql', 'SELECT df.thrice_plpgsql(k) AS k3, sum(x) AS s FROM df.fn_src WHERE df.thrice_plpgsql(x) > 10 GROUP BY 1');
INSERT INTO df.fn_src VALUES (1, 50), (2, 3), (1, 7);
SELECT continuous.sync();
SELECT * FROM df.fn_definer ORDER BY 1;
SELECT * FROM df.fn_set ORDER BY 1;
SELECT * FROM df.fn_plpgsql ORDER BY 1;
SELECT view_diff('df.fn_definer', 'SELECT df.twice_definer(k) AS k2, count(*) AS n FROM df.fn_src GROUP BY 1');
SELECT view_diff('df.fn_plpgsql', 'SELECT df.thrice_plpgsql(k) AS k3, sum(x) AS s FROM df.fn_src WHERE df.thrice_plpgsql(x) > 10 GROUP BY 1');
SELECT name, error FROM continuous.views WHERE name::text LIKE 'df.fn_%' ORDER BY name::text;

-- The refusals created nothing.
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'df' AND c.relkind = 'v' ORDER BY 1;
SELECT name FROM continuous.views WHERE name::text LIKE 'df.%' ORDER BY name::text;

SET client_min_messages = warning;
DROP SCHEMA df CASCADE;
RESET client_min_messages;
SELECT count(*) AS orphan_rows FROM continuous.view_catalog c
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = c.viewrelid);
DROP FUNCTION view_diff(regclass, text);
DROP FUNCTION refused(text);
DROP FUNCTION expect_error(text);
