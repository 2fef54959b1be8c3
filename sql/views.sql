--
-- Continuous views: supported shapes, their results after sync(), and the
-- catalog.  Every view is also compared with its defining query run by
-- PostgreSQL over a plain table holding the same rows.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 0;

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

CREATE SCHEMA cv;

-- A stream, and a plain table receiving the same rows: the oracle.
SELECT continuous.create_stream('cv.ev',
	'k int, a int2, b int4, c int8, d float4, e float8, f numeric, s text COLLATE "C", ts timestamptz, tsl timestamp, n bigint');
CREATE TABLE cv.ev_shadow (k int, a int2, b int4, c int8, d float4, e float8, f numeric, s text COLLATE "C", ts timestamptz, tsl timestamp, n bigint);

-- An ordinary table and a partitioned table as sources.
CREATE TABLE cv.tab (k int, b int4, e float8, s text COLLATE "C");
CREATE TABLE cv.part (k int, b int4, s text COLLATE "C") PARTITION BY RANGE (k);
CREATE TABLE cv.part_low PARTITION OF cv.part FOR VALUES FROM (MINVALUE) TO (10);
CREATE TABLE cv.part_high PARTITION OF cv.part FOR VALUES FROM (10) TO (MAXVALUE);

-- Every supported aggregate over every numeric type, grouped by a column.
SELECT continuous.create_view('cv.v_types', $$
	SELECT k,
		   count(*) AS n, count(b) AS nb,
		   sum(a) AS sum_a, sum(b) AS sum_b, sum(c) AS sum_c,
		   sum(d) AS sum_d, sum(e) AS sum_e, sum(f) AS sum_f,
		   avg(a) AS avg_a, avg(b) AS avg_b, avg(c) AS avg_c,
		   avg(d) AS avg_d, avg(e) AS avg_e, avg(f) AS avg_f,
		   min(a) AS min_a, max(a) AS max_a, min(b) AS min_b, max(b) AS max_b,
		   min(c) AS min_c, max(c) AS max_c, min(d) AS min_d, max(d) AS max_d,
		   min(e) AS min_e, max(e) AS max_e, min(f) AS min_f, max(f) AS max_f,
		   min(s) AS min_s, max(s) AS max_s, min(ts) AS min_ts, max(ts) AS max_ts
	FROM cv.ev
	GROUP BY k
$$);
\d cv.v_types

-- Expressions as group keys and over aggregates, WHERE and HAVING.
SELECT continuous.create_view('cv.v_expr', $$
	SELECT k % 2 AS parity, lower(s) AS ls,
		   sum(b) / count(*) AS ratio, sum(b) + max(c) AS combined, count(*) AS n
	FROM cv.ev
	WHERE b IS DISTINCT FROM 0
	GROUP BY k % 2, lower(s)
	HAVING count(*) > 1
$$);
\d cv.v_expr

-- No GROUP BY: exactly one row, even before any event.
SELECT continuous.create_view('cv.v_total', $$
	SELECT count(*) AS n, count(s) AS ns, sum(b) AS total, avg(e) AS avg_e, max(s) AS max_s
	FROM cv.ev
$$);
SELECT * FROM cv.v_total;

-- Tumbling windows: timestamptz, timestamp and bigint, with and without origin.
SELECT continuous.create_view('cv.v_tumble', $$
	SELECT continuous.tumble(ts, '1 hour') AS hour,
		   continuous.tumble(ts, '15 minutes', '2024-01-01 00:05:00+00') AS quarter,
		   count(*) AS n
	FROM cv.ev
	GROUP BY 1, 2
$$);
SELECT continuous.create_view('cv.v_tumble_ts', $$
	SELECT continuous.tumble(tsl, '1 day') AS day,
		   continuous.tumble(tsl, '6 hours', '2000-01-01 03:00:00') AS shift,
		   sum(b) AS total
	FROM cv.ev
	GROUP BY 1, 2
$$);
SELECT continuous.create_view('cv.v_tumble_int', $$
	SELECT continuous.tumble(n, 10) AS w10, continuous.tumble(n, 10, 3) AS w10_3,
		   count(*) AS n
	FROM cv.ev
	GROUP BY continuous.tumble(n, 10), continuous.tumble(n, 10, 3)
$$);
\d cv.v_tumble
\d cv.v_tumble_ts
\d cv.v_tumble_int

-- Over an ordinary table and a partitioned table.
SELECT continuous.create_view('cv.v_tab', $$
	SELECT k, count(*) AS n, sum(b) AS total, avg(b) AS avg_b, max(e) AS max_e, min(s) AS min_s
	FROM cv.tab
	GROUP BY k
$$);
SELECT continuous.create_view('cv.v_part', $$
	SELECT k / 10 AS decade, count(*) AS n, sum(b) AS total, max(s) AS max_s
	FROM cv.part
	GROUP BY k / 10
$$);
\d cv.v_tab
\d cv.v_part

-- Unqualified names follow search_path, like CREATE VIEW.
SET search_path = cv, public;
SELECT continuous.create_view('v_count', 'SELECT count(*) AS n, count(b) AS nb FROM ev');
RESET search_path;
SELECT n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'v_count';

-- FILTER (WHERE ...) on aggregates.
SELECT continuous.create_view('cv.v_filter', $$
	SELECT k % 3 AS k3, count(*) FILTER (WHERE b > 0) AS positive,
		   sum(c) FILTER (WHERE s <> 'a') AS sum_not_a,
		   max(e) FILTER (WHERE e < 100) AS max_small, count(*) AS n
	FROM cv.ev
	GROUP BY 1
$$);

-- DISTINCT inside aggregates: the distinct values are kept per group and
-- the aggregate runs over them in DISTINCT's order, so even aggregates
-- without a combine function (json_agg) and order-sensitive ones work.
SELECT continuous.create_view('cv.v_distinct', $$
	SELECT k % 3 AS k3, count(DISTINCT b) AS nb, sum(DISTINCT c) AS sc,
		   avg(DISTINCT e) AS ae, array_agg(DISTINCT s) AS ss,
		   array_agg(DISTINCT s ORDER BY s DESC) AS ss_desc,
		   json_agg(DISTINCT b)::text AS jb, count(*) AS n
	FROM cv.ev
	GROUP BY 1
$$);
SELECT continuous.create_view('cv.v_distinct_total', 'SELECT count(DISTINCT s) AS ns FROM cv.ev');
SELECT continuous.sync();
SELECT * FROM cv.v_distinct_total;

-- A name that already exists.
SELECT continuous.create_view('cv.v_total', 'SELECT count(*) FROM cv.ev');
SELECT continuous.create_view('cv.tab', 'SELECT count(*) FROM cv.ev');

-- Before any event, every grouped view is empty.
SELECT * FROM cv.v_types;
SELECT * FROM cv.v_count;

-- Events, with NULLs, a rolled-back transaction and a rolled-back
-- subtransaction; the shadow table receives the same rows in the same
-- transactions.
BEGIN;
INSERT INTO cv.ev VALUES
	(1, 1, 10, 100, 0.5, 1.5, 1.25, 'Apple', '2024-01-01 00:00:00+00', '2024-01-01 00:00:00', 1),
	(1, 2, 20, 200, 1.5, 2.5, 2.50, 'apple', '2024-01-01 00:20:00+00', '2024-01-01 05:59:59', 9),
	(2, -3, -30, -300, -2.5, -3.5, -3.75, 'Banana', '2024-01-01 01:05:00+00', '2024-01-02 02:00:00', 10),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(3, 32767, 2147483647, 9223372036854775807, 4, 8, 123456789.123456789, 'cherry', '2023-12-31 23:59:59+00', '1999-12-31 23:00:00', -1);
INSERT INTO cv.ev_shadow VALUES
	(1, 1, 10, 100, 0.5, 1.5, 1.25, 'Apple', '2024-01-01 00:00:00+00', '2024-01-01 00:00:00', 1),
	(1, 2, 20, 200, 1.5, 2.5, 2.50, 'apple', '2024-01-01 00:20:00+00', '2024-01-01 05:59:59', 9),
	(2, -3, -30, -300, -2.5, -3.5, -3.75, 'Banana', '2024-01-01 01:05:00+00', '2024-01-02 02:00:00', 10),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(3, 32767, 2147483647, 9223372036854775807, 4, 8, 123456789.123456789, 'cherry', '2023-12-31 23:59:59+00', '1999-12-31 23:00:00', -1);
COMMIT;

BEGIN;
INSERT INTO cv.ev VALUES (1, 99, 99, 99, 99, 99, 99, 'rolled back', '2024-01-01', '2024-01-01', 99);
INSERT INTO cv.ev_shadow VALUES (1, 99, 99, 99, 99, 99, 99, 'rolled back', '2024-01-01', '2024-01-01', 99);
ROLLBACK;

BEGIN;
INSERT INTO cv.ev VALUES (4, 4, 4, 4, 4, 4, 4, 'date', '2024-01-01 00:14:59+00', '2024-01-01 03:00:00', 13);
INSERT INTO cv.ev_shadow VALUES (4, 4, 4, 4, 4, 4, 4, 'date', '2024-01-01 00:14:59+00', '2024-01-01 03:00:00', 13);
SAVEPOINT sp;
INSERT INTO cv.ev VALUES (4, 77, 77, 77, 77, 77, 77, 'savepoint', '2024-01-01', '2024-01-01', 77);
INSERT INTO cv.ev_shadow VALUES (4, 77, 77, 77, 77, 77, 77, 'savepoint', '2024-01-01', '2024-01-01', 77);
ROLLBACK TO SAVEPOINT sp;
INSERT INTO cv.ev SELECT 5, g, g, g, g, g, g, 'gen' || g, '2024-01-01 02:00+00'::timestamptz + g * interval '1 minute', '2024-01-01'::timestamp + g * interval '1 hour', g
	FROM generate_series(1, 20) g;
INSERT INTO cv.ev_shadow SELECT 5, g, g, g, g, g, g, 'gen' || g, '2024-01-01 02:00+00'::timestamptz + g * interval '1 minute', '2024-01-01'::timestamp + g * interval '1 hour', g
	FROM generate_series(1, 20) g;
COMMIT;

-- A statement inserting no rows.
INSERT INTO cv.ev SELECT * FROM cv.ev_shadow WHERE false;

BEGIN;
INSERT INTO cv.tab VALUES (1, 10, 0.5, 'x'), (1, NULL, NULL, NULL), (2, 20, -1.5, 'y');
INSERT INTO cv.part VALUES (1, 1, 'a'), (9, 9, 'b'), (10, 10, 'c'), (25, 25, NULL), (-5, NULL, 'negative');
COMMIT;
BEGIN;
INSERT INTO cv.tab VALUES (3, 30, 3, 'rolled back');
INSERT INTO cv.part VALUES (3, 30, 'rolled back');
ROLLBACK;
BEGIN;
INSERT INTO cv.tab VALUES (2, 21, 2.5, 'z');
SAVEPOINT sp;
INSERT INTO cv.tab VALUES (3, 30, 3, 'savepoint');
INSERT INTO cv.part VALUES (3, 30, 'savepoint');
ROLLBACK TO SAVEPOINT sp;
INSERT INTO cv.part_high VALUES (11, 11, 'direct into a partition');
COMMIT;

SELECT continuous.sync();

SELECT k, n, nb, sum_a, sum_b, sum_c, sum_d, sum_e, sum_f FROM cv.v_types ORDER BY k;
SELECT k, avg_a, avg_b, avg_c, avg_d, avg_e, avg_f FROM cv.v_types ORDER BY k;
SELECT k, min_a, max_a, min_b, max_b, min_c, max_c, min_d, max_d, min_e, max_e FROM cv.v_types ORDER BY k;
SELECT k, min_f, max_f, min_s, max_s, min_ts, max_ts FROM cv.v_types ORDER BY k;
SELECT * FROM cv.v_expr ORDER BY parity, ls;
SELECT * FROM cv.v_total;
SELECT * FROM cv.v_count;
SELECT * FROM cv.v_tumble ORDER BY hour, quarter;
SELECT * FROM cv.v_tumble_ts ORDER BY day, shift;
SELECT * FROM cv.v_tumble_int ORDER BY w10, w10_3;
SELECT * FROM cv.v_tab ORDER BY k;
SELECT * FROM cv.v_part ORDER BY decade;

-- continuous.tumble() is date_bin() with a default origin.
SELECT ts, continuous.tumble(ts, '1 hour') = date_bin('1 hour', ts, '1970-01-01 00:00:00+00') AS tz_default,
	   continuous.tumble(ts, '15 minutes', '2024-01-01 00:05:00+00') = date_bin('15 minutes', ts, '2024-01-01 00:05:00+00') AS tz_origin,
	   continuous.tumble(tsl, '1 day') = date_bin('1 day', tsl, '1970-01-01 00:00:00') AS ts_default,
	   continuous.tumble(tsl, '6 hours', '2000-01-01 03:00:00') = date_bin('6 hours', tsl, '2000-01-01 03:00:00') AS ts_origin
FROM cv.ev_shadow WHERE ts IS NOT NULL ORDER BY ts;
SELECT n, continuous.tumble(n, 10) AS w10, continuous.tumble(n, 10, 3) AS w10_3,
	   continuous.tumble(n, 7, -100) AS w7
FROM (VALUES (-11::bigint), (-10), (-1), (0), (2), (3), (9), (10), (12), (13)) AS t(n)
ORDER BY n;
SELECT continuous.tumble(NULL::bigint, 10) IS NULL AS null_ts;

-- Every view equals its defining query run over the same rows.
SELECT view_diff('cv.v_types', $$
	SELECT k,
		   count(*) AS n, count(b) AS nb,
		   sum(a) AS sum_a, sum(b) AS sum_b, sum(c) AS sum_c,
		   sum(d) AS sum_d, sum(e) AS sum_e, sum(f) AS sum_f,
		   avg(a) AS avg_a, avg(b) AS avg_b, avg(c) AS avg_c,
		   avg(d) AS avg_d, avg(e) AS avg_e, avg(f) AS avg_f,
		   min(a) AS min_a, max(a) AS max_a, min(b) AS min_b, max(b) AS max_b,
		   min(c) AS min_c, max(c) AS max_c, min(d) AS min_d, max(d) AS max_d,
		   min(e) AS min_e, max(e) AS max_e, min(f) AS min_f, max(f) AS max_f,
		   min(s) AS min_s, max(s) AS max_s, min(ts) AS min_ts, max(ts) AS max_ts
	FROM cv.ev_shadow
	GROUP BY k
$$) AS v_types;
SELECT view_diff('cv.v_expr', $$
	SELECT k % 2 AS parity, lower(s) AS ls,
		   sum(b) / count(*) AS ratio, sum(b) + max(c) AS combined, count(*) AS n
	FROM cv.ev_shadow
	WHERE b IS DISTINCT FROM 0
	GROUP BY k % 2, lower(s)
	HAVING count(*) > 1
$$) AS v_expr;
SELECT view_diff('cv.v_total', $$
	SELECT count(*) AS n, count(s) AS ns, sum(b) AS total, avg(e) AS avg_e, max(s) AS max_s
	FROM cv.ev_shadow
$$) AS v_total;
SELECT view_diff('cv.v_count', 'SELECT count(*) AS n, count(b) AS nb FROM cv.ev_shadow') AS v_count;
SELECT view_diff('cv.v_filter', $$
	SELECT k % 3 AS k3, count(*) FILTER (WHERE b > 0) AS positive,
		   sum(c) FILTER (WHERE s <> 'a') AS sum_not_a,
		   max(e) FILTER (WHERE e < 100) AS max_small, count(*) AS n
	FROM cv.ev_shadow
	GROUP BY 1
$$) AS v_filter;
SELECT * FROM cv.v_filter ORDER BY k3;
SELECT view_diff('cv.v_distinct', $$
	SELECT k % 3 AS k3, count(DISTINCT b) AS nb, sum(DISTINCT c) AS sc,
		   avg(DISTINCT e) AS ae, array_agg(DISTINCT s) AS ss,
		   array_agg(DISTINCT s ORDER BY s DESC) AS ss_desc,
		   json_agg(DISTINCT b)::text AS jb, count(*) AS n
	FROM cv.ev_shadow
	GROUP BY 1
$$) AS v_distinct;
SELECT view_diff('cv.v_distinct_total', 'SELECT count(DISTINCT s) AS ns FROM cv.ev_shadow') AS v_distinct_total;
SELECT * FROM cv.v_distinct ORDER BY k3;
SELECT view_diff('cv.v_tumble', $$
	SELECT continuous.tumble(ts, '1 hour') AS hour,
		   continuous.tumble(ts, '15 minutes', '2024-01-01 00:05:00+00') AS quarter,
		   count(*) AS n
	FROM cv.ev_shadow
	GROUP BY 1, 2
$$) AS v_tumble;
SELECT view_diff('cv.v_tumble_ts', $$
	SELECT continuous.tumble(tsl, '1 day') AS day,
		   continuous.tumble(tsl, '6 hours', '2000-01-01 03:00:00') AS shift,
		   sum(b) AS total
	FROM cv.ev_shadow
	GROUP BY 1, 2
$$) AS v_tumble_ts;
SELECT view_diff('cv.v_tumble_int', $$
	SELECT continuous.tumble(n, 10) AS w10, continuous.tumble(n, 10, 3) AS w10_3,
		   count(*) AS n
	FROM cv.ev_shadow
	GROUP BY continuous.tumble(n, 10), continuous.tumble(n, 10, 3)
$$) AS v_tumble_int;
SELECT view_diff('cv.v_tab', $$
	SELECT k, count(*) AS n, sum(b) AS total, avg(b) AS avg_b, max(e) AS max_e, min(s) AS min_s
	FROM cv.tab
	GROUP BY k
$$) AS v_tab;
SELECT view_diff('cv.v_part', $$
	SELECT k / 10 AS decade, count(*) AS n, sum(b) AS total, max(s) AS max_s
	FROM cv.part
	GROUP BY k / 10
$$) AS v_part;

-- The catalog.
SELECT name, source, groups, state, stale_reason, error
FROM continuous.views
WHERE name::text LIKE 'cv.%'
ORDER BY name::text;
SELECT name, state, events_applied, groups, error
FROM continuous.stats
WHERE name::text LIKE 'cv.%'
ORDER BY name::text;
SELECT definition FROM continuous.views WHERE name = 'cv.v_count'::regclass;

-- drop_view and DROP VIEW both remove the view and its catalog row.
SELECT continuous.drop_view('cv.v_count');
DROP VIEW cv.v_tumble_int;
SELECT to_regclass('cv.v_count') AS v_count, to_regclass('cv.v_tumble_int') AS v_tumble_int;
SELECT name FROM continuous.views WHERE name::text LIKE 'cv.%' ORDER BY name::text;

-- drop_view of something else.
CREATE VIEW cv.plain AS SELECT 1 AS one;
SELECT continuous.drop_view('cv.plain');
SELECT continuous.drop_view('cv.tab');
SELECT continuous.drop_view('cv.no_such_view');
DROP VIEW cv.plain;

-- A dropped view in a rolled-back transaction is still there.
BEGIN;
SELECT continuous.drop_view('cv.v_tab');
ROLLBACK;
SELECT name FROM continuous.views WHERE name = 'cv.v_tab'::regclass;
SELECT * FROM cv.v_tab ORDER BY k;

-- UPDATE and DELETE on a source table take old rows out of their groups:
-- a group whose last row goes disappears, an UPDATE can move a row to
-- another group.  TRUNCATE empties the view at that point in commit order:
-- rows inserted before it (even in the same transaction) vanish, rows after
-- it count.  Without REPLICA IDENTITY FULL (set back after create_view) the
-- old values are unknown: the view becomes stale, the catalog says why, and
-- a read warns.
CREATE TABLE cv.upd (k int, b int);
CREATE TABLE cv.del (k int, b int);
CREATE TABLE cv.trunc (k int, b int);
CREATE TABLE cv.noident (k int, b int);
SELECT continuous.create_view('cv.v_upd', 'SELECT k, count(*) AS n, sum(b) AS total, min(b) AS lo FROM cv.upd GROUP BY k');
SELECT continuous.create_view('cv.v_del', 'SELECT k, count(*) AS n, sum(b) AS total, max(b) AS hi FROM cv.del GROUP BY k');
SELECT continuous.create_view('cv.v_trunc', 'SELECT k, count(*) AS n, sum(b) AS total FROM cv.trunc GROUP BY k');
SELECT continuous.create_view('cv.v_noident', 'SELECT k, count(*) AS n FROM cv.noident GROUP BY k');
ALTER TABLE cv.noident REPLICA IDENTITY DEFAULT;
INSERT INTO cv.upd VALUES (1, 1), (2, 2), (2, 5);
INSERT INTO cv.del VALUES (1, 1), (2, 2), (2, 9);
INSERT INTO cv.trunc VALUES (1, 1), (2, 2);
INSERT INTO cv.noident VALUES (1, 1);
SELECT continuous.sync();
UPDATE cv.upd SET b = 10 WHERE k = 1;
UPDATE cv.upd SET k = 3 WHERE b = 2;
DELETE FROM cv.del WHERE k = 1;
DELETE FROM cv.del WHERE b = 9;
BEGIN;
INSERT INTO cv.trunc VALUES (3, 3);
TRUNCATE cv.trunc;
INSERT INTO cv.trunc VALUES (2, 20), (4, 40);
COMMIT;
UPDATE cv.noident SET b = 2;
SELECT continuous.sync();
SELECT * FROM cv.v_upd ORDER BY k;
SELECT view_diff('cv.v_upd', 'SELECT k, count(*) AS n, sum(b) AS total, min(b) AS lo FROM cv.upd GROUP BY k') AS v_upd;
SELECT * FROM cv.v_del ORDER BY k;
SELECT view_diff('cv.v_del', 'SELECT k, count(*) AS n, sum(b) AS total, max(b) AS hi FROM cv.del GROUP BY k') AS v_del;
SELECT * FROM cv.v_trunc ORDER BY k;
SELECT view_diff('cv.v_trunc', 'SELECT k, count(*) AS n, sum(b) AS total FROM cv.trunc GROUP BY k') AS v_trunc;
SELECT name, state, regexp_replace(stale_reason, '[0-9A-F]+/[0-9A-F]+', 'X/X') AS stale_reason
FROM continuous.views
WHERE name::text LIKE 'cv.v\_%' AND name::text IN ('cv.v_upd', 'cv.v_del', 'cv.v_trunc', 'cv.v_noident')
ORDER BY name::text;
-- The warning's detail holds an LSN: show only its message.
\set VERBOSITY terse
SELECT * FROM cv.v_noident ORDER BY k;
\set VERBOSITY default
-- Other views are not affected.
SELECT name FROM continuous.views WHERE name::text LIKE 'cv.%' AND state = 'stale' ORDER BY name::text;

-- Dropping the schema drops the streams, tables and views, and their
-- catalog rows.
SET client_min_messages = warning;
DROP SCHEMA cv CASCADE;
RESET client_min_messages;
SELECT count(*) AS orphan_rows FROM continuous.view_catalog c
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = c.viewrelid);
DROP FUNCTION view_diff(regclass, text);
