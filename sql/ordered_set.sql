--
-- Ordered-set aggregates: percentile_cont (float8 and interval, one fraction
-- and an array of them), percentile_disc and mode, and the hypothetical-set
-- aggregates of one argument, maintained over a stream and over a table
-- with updates and deletes, equal to the defining query.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET IntervalStyle = 'postgres';
CREATE SCHEMA os;

CREATE FUNCTION os.same(view_name text, query text) RETURNS TABLE (missing bigint, extra bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
	RETURN QUERY EXECUTE format(
		'SELECT (SELECT count(*) FROM ((%2$s) EXCEPT ALL SELECT * FROM %1$s) a),
				(SELECT count(*) FROM (SELECT * FROM %1$s EXCEPT ALL (%2$s)) b)',
		view_name, query);
END
$fn$;

-- Over a stream: latencies per page, with NULLs, duplicates and a FILTER.
SELECT continuous.create_stream('os.clicks', 'page text, latency float8, wait interval, status text');
CREATE TABLE os.clicks_copy (page text, latency float8, wait interval, status text);
SELECT continuous.create_view('os.latency', $$
	SELECT page,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS median,
		   percentile_cont(ARRAY[0.1, 0.9, NULL, 1]) WITHIN GROUP (ORDER BY latency) AS deciles,
		   percentile_cont(0.25) WITHIN GROUP (ORDER BY wait) AS wait_q1,
		   percentile_cont(ARRAY[[0.5, 0.75], [0, 1]]) WITHIN GROUP (ORDER BY wait DESC) AS wait_qs,
		   percentile_disc(0.5) WITHIN GROUP (ORDER BY status) AS status_median,
		   percentile_disc(ARRAY[0, 0.33, 1]) WITHIN GROUP (ORDER BY latency DESC) AS disc_desc,
		   mode() WITHIN GROUP (ORDER BY status) AS common_status,
		   percentile_cont(0.9) WITHIN GROUP (ORDER BY latency) FILTER (WHERE status = 'ok') AS ok_p90,
		   count(*) AS n
	FROM os.clicks GROUP BY page $$);
INSERT INTO os.clicks SELECT 'p' || (i % 4), (i * 37) % 101, make_interval(secs => (i * 13) % 17),
	CASE WHEN i % 3 = 0 THEN 'ok' WHEN i % 3 = 1 THEN 'slow' ELSE 'err' END
FROM generate_series(1, 400) i;
INSERT INTO os.clicks_copy SELECT 'p' || (i % 4), (i * 37) % 101, make_interval(secs => (i * 13) % 17),
	CASE WHEN i % 3 = 0 THEN 'ok' WHEN i % 3 = 1 THEN 'slow' ELSE 'err' END
FROM generate_series(1, 400) i;
INSERT INTO os.clicks VALUES ('p0', NULL, NULL, NULL), ('p9', NULL, NULL, NULL), ('p9', 5, '1 s', 'ok');
INSERT INTO os.clicks_copy VALUES ('p0', NULL, NULL, NULL), ('p9', NULL, NULL, NULL), ('p9', 5, '1 s', 'ok');
SELECT continuous.sync();
SELECT * FROM os.same('os.latency', $$
	SELECT page,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS median,
		   percentile_cont(ARRAY[0.1, 0.9, NULL, 1]) WITHIN GROUP (ORDER BY latency) AS deciles,
		   percentile_cont(0.25) WITHIN GROUP (ORDER BY wait) AS wait_q1,
		   percentile_cont(ARRAY[[0.5, 0.75], [0, 1]]) WITHIN GROUP (ORDER BY wait DESC) AS wait_qs,
		   percentile_disc(0.5) WITHIN GROUP (ORDER BY status) AS status_median,
		   percentile_disc(ARRAY[0, 0.33, 1]) WITHIN GROUP (ORDER BY latency DESC) AS disc_desc,
		   mode() WITHIN GROUP (ORDER BY status) AS common_status,
		   percentile_cont(0.9) WITHIN GROUP (ORDER BY latency) FILTER (WHERE status = 'ok') AS ok_p90,
		   count(*) AS n
	FROM os.clicks_copy GROUP BY page $$);
SELECT page, median, deciles, wait_q1, wait_qs, status_median, disc_desc, common_status, ok_p90, n
FROM os.latency ORDER BY page;

-- Over a table: updates and deletes take values out again.
CREATE TABLE os.orders (id int PRIMARY KEY, region text, amount numeric, took interval);
ALTER TABLE os.orders REPLICA IDENTITY FULL;
INSERT INTO os.orders SELECT i, 'r' || (i % 3), (i * 7) % 50, make_interval(mins => i % 9) FROM generate_series(1, 300) i;
SELECT continuous.create_view('os.order_stats', $$
	SELECT region,
		   percentile_disc(0.5) WITHIN GROUP (ORDER BY amount) AS median_amount,
		   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY took) AS took_qs,
		   mode() WITHIN GROUP (ORDER BY amount) AS usual_amount
	FROM os.orders GROUP BY region $$);
SELECT continuous.sync();
UPDATE os.orders SET amount = amount + 100 WHERE id % 4 = 0;
DELETE FROM os.orders WHERE id % 5 = 0;
UPDATE os.orders SET region = 'r9' WHERE id % 7 = 0;
INSERT INTO os.orders VALUES (1000, 'r0', NULL, NULL);
SELECT continuous.sync();
SELECT * FROM os.same('os.order_stats', $$
	SELECT region,
		   percentile_disc(0.5) WITHIN GROUP (ORDER BY amount) AS median_amount,
		   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY took) AS took_qs,
		   mode() WITHIN GROUP (ORDER BY amount) AS usual_amount
	FROM os.orders GROUP BY region $$);
DELETE FROM os.orders WHERE region = 'r9';
SELECT continuous.sync();
SELECT * FROM os.same('os.order_stats', $$
	SELECT region,
		   percentile_disc(0.5) WITHIN GROUP (ORDER BY amount) AS median_amount,
		   percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY took) AS took_qs,
		   mode() WITHIN GROUP (ORDER BY amount) AS usual_amount
	FROM os.orders GROUP BY region $$);

-- Hypothetical-set aggregates of one argument: where a constant would rank
-- among the rows, NULLs included and placed as the ORDER BY says.
SELECT continuous.create_stream('os.hits', 'page text, latency float8, status text');
CREATE TABLE os.hits_copy (page text, latency float8, status text);
SELECT continuous.create_view('os.ranks', $$
	SELECT page,
		   rank(50) WITHIN GROUP (ORDER BY latency) AS r,
		   dense_rank(50) WITHIN GROUP (ORDER BY latency) AS dr,
		   percent_rank(50) WITHIN GROUP (ORDER BY latency DESC NULLS LAST) AS pr,
		   cume_dist(50) WITHIN GROUP (ORDER BY latency NULLS FIRST) AS cd,
		   rank(NULL::float8) WITHIN GROUP (ORDER BY latency) AS r_null,
		   cume_dist('ok') WITHIN GROUP (ORDER BY status) FILTER (WHERE latency > 20) AS cd_ok
	FROM os.hits GROUP BY page $$);
INSERT INTO os.hits SELECT 'p' || (i % 3), CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 7) % 90 END,
	CASE WHEN i % 5 = 0 THEN NULL ELSE 'ok' END
FROM generate_series(1, 200) i;
INSERT INTO os.hits_copy SELECT 'p' || (i % 3), CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 7) % 90 END,
	CASE WHEN i % 5 = 0 THEN NULL ELSE 'ok' END
FROM generate_series(1, 200) i;
INSERT INTO os.hits VALUES ('p7', NULL, NULL);
INSERT INTO os.hits_copy VALUES ('p7', NULL, NULL);
SELECT continuous.sync();
SELECT * FROM os.same('os.ranks', $$
	SELECT page,
		   rank(50) WITHIN GROUP (ORDER BY latency) AS r,
		   dense_rank(50) WITHIN GROUP (ORDER BY latency) AS dr,
		   percent_rank(50) WITHIN GROUP (ORDER BY latency DESC NULLS LAST) AS pr,
		   cume_dist(50) WITHIN GROUP (ORDER BY latency NULLS FIRST) AS cd,
		   rank(NULL::float8) WITHIN GROUP (ORDER BY latency) AS r_null,
		   cume_dist('ok') WITHIN GROUP (ORDER BY status) FILTER (WHERE latency > 20) AS cd_ok
	FROM os.hits_copy GROUP BY page $$);
SELECT * FROM os.ranks ORDER BY page;

-- ORDER BY inside an aggregate, with or without a combine function: the
-- view keeps the input rows and runs the aggregate over them in order.
SELECT continuous.create_stream('os.visits', 'session int, url text, ts int, ms float8');
CREATE TABLE os.visits_copy (session int, url text, ts int, ms float8);
SELECT continuous.create_view('os.paths', $$
	SELECT session,
		   string_agg(url, ' > ' ORDER BY ts) AS path,
		   array_agg(ms ORDER BY ts DESC) AS ms_latest_first,
		   json_agg(url ORDER BY ts, url) FILTER (WHERE ms > 10) AS slow_pages,
		   array_agg(url ORDER BY url NULLS FIRST, ts) AS pages_sorted,
		   count(*) AS n
	FROM os.visits GROUP BY session $$);
INSERT INTO os.visits SELECT i % 4, CASE WHEN i % 9 = 0 THEN NULL ELSE '/p' || (i % 5) END, i, (i * 13) % 40
FROM generate_series(1, 120) i;
INSERT INTO os.visits_copy SELECT i % 4, CASE WHEN i % 9 = 0 THEN NULL ELSE '/p' || (i % 5) END, i, (i * 13) % 40
FROM generate_series(1, 120) i;
SELECT continuous.sync();
SELECT * FROM os.same('os.paths', $$
	SELECT session,
		   string_agg(url, ' > ' ORDER BY ts) AS path,
		   array_agg(ms ORDER BY ts DESC) AS ms_latest_first,
		   json_agg(url ORDER BY ts, url) FILTER (WHERE ms > 10) AS slow_pages,
		   array_agg(url ORDER BY url NULLS FIRST, ts) AS pages_sorted,
		   count(*) AS n
	FROM os.visits_copy GROUP BY session $$);
SELECT session, path FROM os.paths WHERE session = 1;
-- Over a table, updates and deletes take rows out of the order.
CREATE TABLE os.steps (id int PRIMARY KEY, session int, url text, ts int);
ALTER TABLE os.steps REPLICA IDENTITY FULL;
INSERT INTO os.steps SELECT i, i % 3, '/s' || (i % 7), i FROM generate_series(1, 90) i;
SELECT continuous.create_view('os.step_paths', $$
	SELECT session, string_agg(url, ',' ORDER BY ts DESC) AS path, array_agg(id ORDER BY url, id) AS ids
	FROM os.steps GROUP BY session $$);
SELECT continuous.sync();
UPDATE os.steps SET ts = ts + 1000 WHERE id % 4 = 0;
DELETE FROM os.steps WHERE id % 5 = 0;
UPDATE os.steps SET session = 9 WHERE id % 11 = 0;
SELECT continuous.sync();
SELECT * FROM os.same('os.step_paths', $$
	SELECT session, string_agg(url, ',' ORDER BY ts DESC) AS path, array_agg(id ORDER BY url, id) AS ids
	FROM os.steps GROUP BY session $$);

-- Without ORDER BY, an aggregate without a combine function (string_agg,
-- array_agg, json_agg, xmlagg...) runs over the kept input rows in the
-- order they were applied: the order in which a heap table that received
-- the same rows returns them (a hash aggregate reads them in that order).
SET enable_sort = off;
SELECT continuous.create_view('os.applied', $$
	SELECT session, string_agg(url, ',') AS path, array_agg(ms) AS ms,
		   (json_agg(url) FILTER (WHERE ms > 10))::text AS slow,
		   xmlagg(xmlelement(name p, url))::text AS x, count(*) AS n
	FROM os.visits GROUP BY session $$);
CREATE TABLE os.visits_heap (session int, url text, ts int, ms float8);
BEGIN;
INSERT INTO os.visits VALUES (1, '/b', 1, 20), (2, '/a', 2, 5), (1, '/a', 3, 30);
INSERT INTO os.visits_heap VALUES (1, '/b', 1, 20), (2, '/a', 2, 5), (1, '/a', 3, 30);
COMMIT;
INSERT INTO os.visits SELECT i % 3, CASE WHEN i % 7 = 0 THEN NULL ELSE '/p' || (i * 7 % 5) END, i, i % 25
FROM generate_series(4, 60) i;
INSERT INTO os.visits_heap SELECT i % 3, CASE WHEN i % 7 = 0 THEN NULL ELSE '/p' || (i * 7 % 5) END, i, i % 25
FROM generate_series(4, 60) i;
INSERT INTO os.visits VALUES (1, '/b', 61, 20);
INSERT INTO os.visits_heap VALUES (1, '/b', 61, 20);
SELECT continuous.sync();
SELECT * FROM os.same('os.applied', $$
	SELECT session, string_agg(url, ',') AS path, array_agg(ms) AS ms,
		   (json_agg(url) FILTER (WHERE ms > 10))::text AS slow,
		   xmlagg(xmlelement(name p, url))::text AS x, count(*) AS n
	FROM os.visits_heap GROUP BY session $$);
SELECT path FROM os.applied WHERE session = 2;
-- Over a table: backfilled rows first, in the table's order, then new rows;
-- a DELETE takes out its own row even when other rows have the same
-- arguments, and an UPDATE moves its row to the end.
CREATE TABLE os.pages (id int PRIMARY KEY, session int, url text);
INSERT INTO os.pages SELECT i, i % 2, '/q' || (i % 3) FROM generate_series(1, 30) i;
SELECT continuous.create_view('os.page_lists', $$
	SELECT session, string_agg(url || ':' || id, ',') AS path, array_agg(url) AS urls, count(*) AS n
	FROM os.pages GROUP BY session $$);
SELECT continuous.sync();
SELECT * FROM os.same('os.page_lists', $$
	SELECT session, string_agg(url || ':' || id, ',') AS path, array_agg(url) AS urls, count(*) AS n
	FROM os.pages GROUP BY session $$);
INSERT INTO os.pages SELECT i, i % 2, '/q' || (i % 3) FROM generate_series(31, 40) i;
DELETE FROM os.pages WHERE id IN (6, 9, 33);
SELECT continuous.sync();
SELECT * FROM os.same('os.page_lists', $$
	SELECT session, string_agg(url || ':' || id, ',') AS path, array_agg(url) AS urls, count(*) AS n
	FROM os.pages GROUP BY session $$);
SELECT urls FROM os.page_lists WHERE session = 1;
UPDATE os.pages SET url = '/moved' WHERE id = 3;
SELECT continuous.sync();
SELECT path FROM os.page_lists WHERE session = 1;
RESET enable_sort;

-- A fraction out of range fails the read, as the query fails.
SELECT continuous.create_view('os.bad_fraction', $$
	SELECT page, percentile_cont(1.5) WITHIN GROUP (ORDER BY latency) AS p FROM os.clicks GROUP BY page $$);
INSERT INTO os.clicks VALUES ('p1', 1, '1 s', 'ok');
SELECT continuous.sync();
SELECT * FROM os.bad_fraction;
SELECT page, percentile_cont(1.5) WITHIN GROUP (ORDER BY latency) AS p FROM os.clicks_copy GROUP BY page;

-- Refusals: a fraction that is not a constant, and the ordered-set
-- aggregates that are not maintained.
SELECT continuous.create_view('os.r1', $$
	SELECT page, percentile_cont(length(page) / 10.0) WITHIN GROUP (ORDER BY latency) AS p FROM os.clicks GROUP BY page $$);
SELECT continuous.create_view('os.r2', $$
	SELECT page, rank(50, 'ok') WITHIN GROUP (ORDER BY latency, status) AS r FROM os.clicks GROUP BY page $$);
SELECT continuous.create_view('os.r3', $$
	SELECT page, rank(length(page)) WITHIN GROUP (ORDER BY latency) AS r FROM os.clicks GROUP BY page $$);

SET client_min_messages = warning;
DROP SCHEMA os CASCADE;
RESET client_min_messages;
