--
-- Windows that close: create_view's lateness, history, retain, late_events
-- and clock, their refusals, and a window closing into its history table.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
CREATE SCHEMA cl;
SELECT continuous.create_stream('cl.clicks', 'url text, ts timestamptz, latency_ms int');
CREATE TABLE cl.events (id int PRIMARY KEY, ts timestamp, n bigint);
CREATE FUNCTION cl.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN sqlstate || ': ' || sqlerrm;
END $$;
-- Waits up to 10 s until view has closed at least n windows.
CREATE FUNCTION cl.wait_closed(view regclass, n bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 100 LOOP
		EXIT WHEN (SELECT closed_windows FROM continuous.views WHERE name = view) >= n;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;

-- Refusals: options without lateness, bad intervals and words, a
-- definition without exactly one window shown as a column, a taken name.
SELECT cl.try($$SELECT continuous.create_view('cl.v', 'SELECT count(*) FROM cl.clicks', history => 'h')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v', 'SELECT count(*) FROM cl.clicks', retain => '1 day')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v', 'SELECT count(*) FROM cl.clicks', late_events => 'capture')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v', 'SELECT count(*) FROM cl.clicks', clock => 'commit')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v', 'SELECT count(*) FROM cl.clicks', idle_timeout => '1 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '0 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '-5 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '1 month')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', retain => '0 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', late_events => 'keep')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', clock => 'wall')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', clock => 'commit', idle_timeout => '1 min')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', clock => 'event', idle_timeout => '0 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', idle_timeout => '1 min')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v', 'SELECT url, count(*) FROM cl.clicks GROUP BY url', lateness => '5 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, continuous.tumble(ts, ''1 hour'') AS h, count(*) FROM cl.clicks GROUP BY m, h',
	lateness => '5 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT url, count(*) FROM cl.clicks GROUP BY url, continuous.tumble(ts, ''1 minute'')', lateness => '5 s')$$);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(latency_ms::bigint, 10) AS b, count(*) FROM cl.clicks GROUP BY b', lateness => '5 s')$$);
CREATE TABLE cl.taken (x int);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s', history => 'cl.taken')$$);
CREATE TABLE cl.v_history (x int);
SELECT cl.try($$SELECT continuous.create_view('cl.v',
	'SELECT continuous.tumble(ts, ''1 minute'') AS m, count(*) FROM cl.clicks GROUP BY m', lateness => '5 s')$$);
DROP TABLE cl.v_history;
SELECT count(*) AS leftovers FROM pg_class WHERE relnamespace = 'cl'::regnamespace AND relname LIKE 'v%';

-- A view whose windows close: the history table has the view's columns,
-- is owned by the view's owner, and goes with the view.
SELECT continuous.create_view('cl.per_second', $$
	SELECT url, continuous.tumble(ts, '1 second') AS second, count(*) AS hits, max(latency_ms) AS max_ms
	FROM cl.clicks GROUP BY url, second $$,
	lateness => '1 second', late_events => 'capture', retain => '1 hour');
SELECT name, lateness, clock, history, retain, late_events, late_table FROM continuous.views WHERE name = 'cl.per_second'::regclass;
\d cl.per_second_history
\d cl.per_second_late
SELECT pg_get_viewdef('cl.per_second'::regclass) ~ 'UNION ALL' AS reads_history;

-- Events of this second: its window closes within seconds, without
-- traffic; the view reads it from history then.  An event into a closed
-- window is late: counted and captured, not applied.
INSERT INTO cl.clicks SELECT '/' || (i % 3), clock_timestamp(), i FROM generate_series(1, 30) i;
SELECT continuous.sync();
SELECT sum(hits) AS open_hits FROM cl.per_second;
SELECT cl.wait_closed('cl.per_second', 1);
SELECT closed_windows > 0 AS closed, late_changes FROM continuous.views WHERE name = 'cl.per_second'::regclass;
SELECT sum(hits) AS history_hits FROM cl.per_second_history;
SELECT sum(hits) AS view_hits, count(*) AS view_rows FROM cl.per_second;
INSERT INTO cl.clicks VALUES ('/late', (SELECT min(second) FROM cl.per_second_history), 7);
SELECT continuous.sync();
SELECT continuous.checkpoint() IS NOT NULL AS checkpointed;
SELECT late_changes, late_captured FROM continuous.views WHERE name = 'cl.per_second'::regclass;
SELECT url, latency_ms, change, window_start = (SELECT min(second) FROM cl.per_second_history) AS right_window,
	   watermark < commit_time AS watermark_before FROM cl.per_second_late;
SELECT count(*) FROM cl.per_second WHERE url = '/late';

-- DROP VIEW takes the history and late tables with it.
SELECT continuous.drop_view('cl.per_second');
SELECT to_regclass('cl.per_second_history') AS history, to_regclass('cl.per_second_late') AS late;

-- The event clock: windows close once the largest event time applied
-- passes their deadline.  Over a table of timestamp time, with old rows.
INSERT INTO cl.events VALUES (1, '2020-01-01 00:00:10', 1), (2, '2020-01-01 00:00:50', 2);
SELECT continuous.create_view('cl.by_event', $$
	SELECT continuous.tumble(ts, '1 minute') AS minute, count(*) AS rows, sum(n) AS total
	FROM cl.events GROUP BY minute $$,
	lateness => '30 seconds', clock => 'event', idle_timeout => '1 hour');
SELECT name, lateness, clock, history FROM continuous.views WHERE name = 'cl.by_event'::regclass;
SELECT pg_get_viewdef('cl.by_event'::regclass) ~ '''event''::text AS clock' AND
	   pg_get_viewdef('cl.by_event'::regclass) ~ '::interval AS idle_timeout' AS options_in_body;
SELECT continuous.sync();
INSERT INTO cl.events VALUES (3, '2020-01-01 00:01:35', 4);
SELECT continuous.sync();
SELECT cl.wait_closed('cl.by_event', 1);
SELECT closed_windows, open_windows, watermark FROM continuous.views WHERE name = 'cl.by_event'::regclass;
SELECT * FROM cl.by_event_history;
-- Changes to the closed window are late: not applied.
INSERT INTO cl.events VALUES (4, '2020-01-01 00:00:20', 8);
UPDATE cl.events SET n = 20 WHERE id = 2;
INSERT INTO cl.events VALUES (5, '2020-01-01 00:01:40', 16);
SELECT continuous.sync();
SELECT continuous.checkpoint() IS NOT NULL AS checkpointed;
SELECT late_changes FROM continuous.views WHERE name = 'cl.by_event'::regclass;
SELECT * FROM cl.by_event ORDER BY minute;

-- A time near the end of the range: the event clock moves there and closes
-- every earlier window; on the commit clock that window stays open.
-- Neither is an error.
SELECT continuous.create_view('cl.by_commit', $$
	SELECT continuous.tumble(ts, '1 minute') AS minute, count(*) AS rows FROM cl.events GROUP BY minute $$,
	lateness => '30 seconds');
INSERT INTO cl.events VALUES (6, '294000-01-01 00:00:00', 32);
SELECT continuous.sync();
SELECT cl.wait_closed('cl.by_event', 2), cl.wait_closed('cl.by_commit', 2);
SELECT name, state, open_windows, closed_windows FROM continuous.views
WHERE name IN ('cl.by_event'::regclass, 'cl.by_commit'::regclass) ORDER BY name::text;
SELECT * FROM cl.by_event ORDER BY minute;
SELECT * FROM cl.by_commit ORDER BY minute;

-- Daylight saving time starts: in New York local time skips from 02:00 to
-- 03:00 on 2021-03-14, so the window of 02:00 (which no clock shows) reads
-- as ending after the windows of 02:30 and 03:00.  Event time 03:10 has
-- passed the deadline of 01:30's window, not of 02:00's: an event stamped
-- 02:10 still counts.
SET TimeZone = 'America/New_York';
SELECT continuous.create_stream('cl.local', 'ts timestamp');
SELECT continuous.create_view('cl.half_hours', $$
	SELECT continuous.tumble(ts, '30 minutes') AS w, count(*) AS n FROM cl.local GROUP BY w $$,
	lateness => '1 second', clock => 'event', idle_timeout => '1 hour');
INSERT INTO cl.local VALUES ('2021-03-14 01:40');
INSERT INTO cl.local VALUES ('2021-03-14 03:10');
SELECT continuous.sync();
SELECT cl.wait_closed('cl.half_hours', 1);
INSERT INTO cl.local VALUES ('2021-03-14 02:10');
SELECT continuous.sync();
SELECT continuous.checkpoint() IS NOT NULL AS checkpointed;
SELECT closed_windows, late_changes FROM continuous.views WHERE name = 'cl.half_hours'::regclass;
SELECT * FROM cl.half_hours ORDER BY w;
RESET TimeZone;

SET client_min_messages = warning;
DROP SCHEMA cl CASCADE;
RESET client_min_messages;
