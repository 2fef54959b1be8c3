--
-- Streams: creating them, every way of inserting events, the refusals of
-- everything else, and dropping them.
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

-- Unqualified, qualified, quoted and odd names.
SELECT continuous.create_stream('clicks', 'user_id bigint, url text, latency_ms float8, ts timestamptz');
CREATE SCHEMA st;
SELECT continuous.create_stream('st.events', 'k int NOT NULL, v int DEFAULT 7, note text');
SELECT continuous.create_stream('st."We""ird Name"', 'x int');
SELECT continuous.create_stream('"Mixed.Case"', '"Col 1" text');
SELECT n.nspname, c.relname, c.relkind, s.srvname
FROM pg_foreign_table ft
JOIN pg_class c ON c.oid = ft.ftrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_foreign_server s ON s.oid = ft.ftserver
ORDER BY 1, 2;
\d clicks
\d st.events
\d st."We""ird Name"

-- Bad arguments: the column list is checked by CREATE FOREIGN TABLE.
SELECT continuous.create_stream('bad', 'x int,');
SELECT continuous.create_stream('bad', 'x no_such_type');
SELECT continuous.create_stream('no_such_schema.bad', 'x int');
SELECT continuous.create_stream('clicks', 'x int');
SELECT * FROM expect_error($$SELECT continuous.create_stream('a.b.c', 'x int')$$);
SELECT * FROM expect_error($$SELECT continuous.create_stream('clicks', 'x int')$$);

-- The column list is parsed as the columns of one CREATE FOREIGN TABLE and
-- is refused when it is anything else: it is never run as SQL text.
CREATE TABLE victim (x int);
SELECT * FROM expect_error($$SELECT continuous.create_stream('inj', 'a int) SERVER continuous_streams; DROP TABLE victim; --')$$);
SELECT * FROM expect_error($$SELECT continuous.create_stream('inj', E'a int) SERVER continuous_streams\n; DROP TABLE victim; CREATE FOREIGN TABLE inj2 (b int')$$);
SELECT * FROM expect_error($$SELECT continuous.create_stream('inj', 'a int) SERVER continuous_streams OPTIONS (k ''v'') --')$$);
SELECT * FROM expect_error($$SELECT continuous.create_stream('inj', 'a int) INHERITS (victim) SERVER continuous_streams --')$$);
SELECT * FROM expect_error($$SELECT continuous.create_stream('inj', 'a int) SERVER other_server --')$$);
SELECT * FROM expect_error($$SELECT continuous.create_stream('inj', 'a int) SERVER continuous_streams; CREATE FOREIGN TABLE victim2 (a int) SERVER continuous_streams --')$$);
SELECT to_regclass('victim') AS victim_kept, to_regclass('inj') AS inj, to_regclass('victim2') AS victim2;
-- What CREATE FOREIGN TABLE accepts inside the list still works.
SELECT continuous.create_stream('st.checked', 'a int NOT NULL CHECK (a > 0), b text COLLATE "C" DEFAULT $$)$$, CONSTRAINT b_short CHECK (length(b) < 10)');
\d st.checked
DROP FOREIGN TABLE st.checked;
DROP TABLE victim;

-- Views counting what arrives.
SELECT continuous.create_view('clicks_per_url', $$
	SELECT url, count(*) AS hits, count(latency_ms) AS timed, sum(latency_ms) AS total_ms,
		   min(ts) AS first_ts, max(user_id) AS max_user
	FROM clicks GROUP BY url
$$);
SELECT continuous.create_view('clicks_total', 'SELECT count(*) AS n FROM clicks');
SELECT continuous.create_view('st.events_per_k', 'SELECT k, count(*) AS n, sum(v) AS sum_v, max(note) AS max_note FROM st.events GROUP BY k');
SELECT continuous.create_view('st.weird_count', 'SELECT count(*) AS n, sum(x) AS total FROM st."We""ird Name"');

-- INSERT: one row, several rows, RETURNING, column lists and defaults.
INSERT INTO clicks VALUES (1, '/home', 10.5, '2024-01-01 00:00:00+00');
INSERT INTO clicks VALUES
	(2, '/home', 20, '2024-01-01 00:01:00+00'),
	(3, '/about', NULL, '2024-01-01 00:02:00+00'),
	(NULL, NULL, NULL, NULL);
INSERT INTO clicks VALUES (4, '/about', 1.25, '2024-01-01 00:03:00+00') RETURNING *;
INSERT INTO clicks (url, user_id) VALUES ('/cols', 5) RETURNING user_id, url;
INSERT INTO st.events (k) VALUES (1), (1) RETURNING *;
INSERT INTO st.events VALUES (2, DEFAULT, 'explicit default'), (2, NULL, NULL);
INSERT INTO st."We""ird Name" VALUES (1), (2), (3);

-- INSERT ... SELECT, a data-modifying CTE, and a statement inserting nothing.
INSERT INTO clicks SELECT g, '/gen', g, '2024-01-02 00:00:00+00'::timestamptz + g * interval '1 second'
	FROM generate_series(1, 1000) g;
WITH ins AS (INSERT INTO st.events VALUES (3, 30, 'cte') RETURNING k, v)
SELECT * FROM ins;
INSERT INTO clicks SELECT 1, 'nothing', 1, now() WHERE false;

-- Prepared INSERT.
PREPARE ins_click(bigint, text, float8) AS
	INSERT INTO clicks VALUES ($1, $2, $3, '2024-01-03 00:00:00+00');
EXECUTE ins_click(6, '/prepared', 0.5);
EXECUTE ins_click(7, '/prepared', 1.5);
EXECUTE ins_click(8, '/prepared', NULL);
DEALLOCATE ins_click;

-- COPY FROM in text and csv formats, with a column list.
COPY clicks FROM STDIN;
9	/copy	3.5	2024-01-04 00:00:00+00
10	/copy	\N	\N
\.
COPY clicks FROM STDIN (FORMAT csv);
11,"/copy,csv",4.5,2024-01-04 00:00:00+00
12,"/copy,csv",,
\.
COPY st.events (note, k) FROM STDIN (FORMAT csv, HEADER true);
note,k
copied,4
"quoted, with comma",4
\.

-- Large values are carried whole, also when they come TOASTed from a table.
CREATE TABLE st.big (t text);
ALTER TABLE st.big ALTER COLUMN t SET STORAGE EXTERNAL;
INSERT INTO st.big SELECT repeat('x', 100000);
INSERT INTO st.big SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g;
SELECT continuous.create_stream('st.texts', 't text');
SELECT continuous.create_view('st.text_lengths', $$
	SELECT count(*) AS n, sum(length(t)) AS total_length, max(t) AS max_t_prefix_check
	FROM st.texts
$$);
INSERT INTO st.texts SELECT t FROM st.big;
INSERT INTO st.texts VALUES (repeat('y', 200000));

-- Rolled back events are not counted.
BEGIN;
INSERT INTO clicks VALUES (99, '/rolled-back', 99, now());
ROLLBACK;
BEGIN;
INSERT INTO clicks VALUES (13, '/savepoint', 1, '2024-01-05 00:00:00+00');
SAVEPOINT sp;
INSERT INTO clicks VALUES (99, '/savepoint', 99, now());
ROLLBACK TO sp;
COMMIT;

SELECT continuous.sync();
SELECT * FROM clicks_per_url ORDER BY url;
SELECT * FROM clicks_total;
SELECT * FROM st.events_per_k ORDER BY k;
SELECT * FROM st.weird_count;
SELECT n, total_length, length(max_t_prefix_check) AS max_t_length, left(max_t_prefix_check, 3) AS max_t_start
FROM st.text_lengths;

-- Columns the view does not read can be dropped and added.
SELECT continuous.create_stream('st.evolving', 'a int, b int, c text');
SELECT continuous.create_view('st.evolving_totals',
	'SELECT count(*) AS n, sum(b) AS sum_b, max(c) AS max_c FROM st.evolving');
INSERT INTO st.evolving VALUES (1, 10, 'p');
ALTER FOREIGN TABLE st.evolving DROP COLUMN a;
INSERT INTO st.evolving VALUES (20, 'q');
ALTER FOREIGN TABLE st.evolving ADD COLUMN d int;
INSERT INTO st.evolving VALUES (30, 'r', 1), (NULL, NULL, 2);
SELECT continuous.sync();
SELECT * FROM st.evolving_totals;
-- A column the view reads cannot be dropped.
ALTER FOREIGN TABLE st.evolving DROP COLUMN b;

-- Reading, changing or truncating a stream fails.
SELECT * FROM expect_error('SELECT * FROM clicks');
SELECT * FROM expect_error('SELECT count(*) FROM st.events');
SELECT * FROM expect_error('UPDATE clicks SET url = NULL');
SELECT * FROM expect_error('DELETE FROM clicks');
SELECT * FROM expect_error('DELETE FROM st.events WHERE k = 1');
SELECT * FROM expect_error('TRUNCATE clicks');
SELECT * FROM expect_error('SELECT * FROM st.big b JOIN clicks c ON c.url = b.t');
SELECT * FROM expect_error('SELECT * FROM st.big WHERE t IN (SELECT url FROM clicks)');
SELECT * FROM expect_error('INSERT INTO clicks SELECT * FROM clicks');
COPY clicks TO STDOUT;
COPY (SELECT * FROM clicks) TO STDOUT;

-- drop_stream of something that is not a stream.
CREATE TABLE st.plain (x int);
SELECT * FROM expect_error($$SELECT continuous.drop_stream('st.plain')$$);
SELECT * FROM expect_error($$SELECT continuous.drop_stream('clicks_total')$$);
SELECT * FROM expect_error($$SELECT continuous.drop_stream('st.no_such_stream')$$);

-- A stream read by a view cannot be dropped without cascade.
SELECT continuous.drop_stream('clicks');
DROP FOREIGN TABLE clicks;
SELECT name FROM continuous.views WHERE source = 'clicks'::regclass ORDER BY name::text;

-- With cascade, its views go too, with their catalog rows.
SET client_min_messages = warning;
SELECT continuous.drop_stream('clicks', "cascade" => true);
RESET client_min_messages;
SELECT to_regclass('clicks') AS clicks, to_regclass('clicks_per_url') AS clicks_per_url,
	   to_regclass('clicks_total') AS clicks_total;
SELECT count(*) AS orphan_rows FROM continuous.view_catalog c
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = c.viewrelid);

-- A stream without views.
SELECT continuous.drop_stream('"Mixed.Case"');

-- DROP FOREIGN TABLE ... CASCADE works as well.
SET client_min_messages = warning;
DROP FOREIGN TABLE st.events CASCADE;
RESET client_min_messages;
SELECT to_regclass('st.events_per_k') AS events_per_k;
SELECT name FROM continuous.views WHERE name::text LIKE 'st.%' ORDER BY name::text;

SET client_min_messages = warning;
DROP SCHEMA st CASCADE;
RESET client_min_messages;
SELECT count(*) AS orphan_rows FROM continuous.view_catalog c
WHERE NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = c.viewrelid);
SELECT count(*) AS streams_left FROM pg_foreign_table ft
JOIN pg_foreign_server s ON s.oid = ft.ftserver
WHERE s.srvname = 'continuous_streams';
DROP FUNCTION expect_error(text);
