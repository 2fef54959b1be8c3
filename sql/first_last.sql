--
-- continuous.last(value, t) and continuous.first(value, t): the value of the
-- row with the greatest (least) t, as a batch aggregate and maintained in
-- continuous views over a stream and over a table with updates and deletes.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
CREATE SCHEMA fl;

-- As a batch aggregate: value and time of different types; a NULL time is
-- ignored; a NULL value can be the result; no row with a time gives NULL.
CREATE TABLE fl.readings (device int, temperature float8, status text, ts timestamptz);
INSERT INTO fl.readings VALUES
	(1, 20.5, 'ok',   '2026-01-01 10:00'),
	(1, 21.0, 'warm', '2026-01-01 10:05'),
	(1, 99.0, 'bad',  NULL),
	(1, 19.0, 'cold', '2026-01-01 09:55'),
	(2, NULL, 'off',  '2026-01-01 11:00'),
	(2, 18.0, 'ok',   '2026-01-01 10:00'),
	(3, 17.0, 'ok',   NULL);
SELECT device,
	   continuous.last(temperature, ts) AS temperature, continuous.last(status, ts) AS status,
	   continuous.first(temperature, ts) AS first_temperature, continuous.first(status, ts) AS first_status,
	   max(ts) AS seen_at
FROM fl.readings GROUP BY device ORDER BY device;

-- Ties on t: last keeps the greatest value, first the least, by the value's
-- ordering, and by its bytes for a type without one (json); a NULL value
-- loses.  So the result does not depend on the order of the rows.
SELECT continuous.last(v, t) AS last_int, continuous.first(v, t) AS first_int
FROM (VALUES (5, 1), (7, 1), (6, 1), (NULL, 1)) AS r(v, t);
SELECT continuous.last(v, t) AS last_int, continuous.first(v, t) AS first_int
FROM (VALUES (NULL, 1), (6, 1), (7, 1), (5, 1)) AS r(v, t);
SELECT continuous.last(v, t)::text AS last_json, continuous.first(v, t)::text AS first_json
FROM (VALUES ('{"a": 2}'::json, 1), ('{"a": 1}'::json, 1)) AS r(v, t);
SELECT continuous.last(v, t)::text AS last_json, continuous.first(v, t)::text AS first_json
FROM (VALUES ('{"a": 1}'::json, 1), ('{"a": 2}'::json, 1)) AS r(v, t);
SELECT continuous.last(v, t) IS NULL AS empty FROM (VALUES (1, NULL::int)) AS r(v, t);
-- Stored values (short headers) and constants (long ones) tie the same way,
-- in either order.
CREATE TABLE fl.j (v json, t int, o int);
INSERT INTO fl.j VALUES ('{"a": 1}', 1, 1), ('{"a": 2}', 1, 2), ('{"a": 0}', 0, 3);
SELECT (SELECT continuous.last(v, t)::text FROM (SELECT * FROM fl.j ORDER BY o) s) AS last_up,
	   (SELECT continuous.last(v, t)::text FROM (SELECT * FROM fl.j ORDER BY o DESC) s) AS last_down,
	   (SELECT continuous.last(v, t)::text FROM (SELECT * FROM fl.j UNION ALL SELECT '{"a": 2}'::json, 1, 4) s) AS with_constant;

-- The time must have an ordering.
SELECT continuous.last(1, '{}'::json);

-- The digital-twin view: the latest reading of each device, over a stream.
SELECT continuous.create_stream('fl.stream_readings', 'device int, temperature float8, status text, ts timestamptz');
SELECT continuous.create_view('fl.device_now', $$
	SELECT device, continuous.last(temperature, ts) AS temperature,
		   continuous.last(status, ts) AS status, max(ts) AS seen_at
	FROM fl.stream_readings GROUP BY device $$);
CREATE TABLE fl.shadow (LIKE fl.readings);
INSERT INTO fl.stream_readings SELECT * FROM fl.readings;
INSERT INTO fl.shadow SELECT * FROM fl.readings;
INSERT INTO fl.stream_readings VALUES (1, 22.5, 'hot', '2026-01-01 10:04'), (2, 30.0, 'on', '2026-01-01 11:00');
INSERT INTO fl.shadow VALUES (1, 22.5, 'hot', '2026-01-01 10:04'), (2, 30.0, 'on', '2026-01-01 11:00');
SELECT continuous.sync();
SELECT * FROM fl.device_now ORDER BY device;
SELECT count(*) AS differences FROM (
	(SELECT * FROM fl.device_now
	 EXCEPT ALL
	 SELECT device, continuous.last(temperature, ts), continuous.last(status, ts), max(ts)
	 FROM fl.shadow GROUP BY device)
	UNION ALL
	(SELECT device, continuous.last(temperature, ts), continuous.last(status, ts), max(ts)
	 FROM fl.shadow GROUP BY device
	 EXCEPT ALL
	 SELECT * FROM fl.device_now)) AS d;

-- Over a table whose rows are updated and deleted: the view keeps each
-- group's inputs, as for max, and takes rows out exactly.
SELECT continuous.create_view('fl.first_last_now', $$
	SELECT device, continuous.first(status, ts) AS first_status, continuous.last(status, ts) AS last_status,
		   continuous.last(temperature, ts) AS temperature
	FROM fl.readings GROUP BY device $$);
SELECT continuous.sync();
UPDATE fl.readings SET ts = '2026-01-01 12:00' WHERE status = 'cold';
DELETE FROM fl.readings WHERE status = 'off';
INSERT INTO fl.readings VALUES (3, 16.0, 'new', '2026-01-02 00:00');
SELECT continuous.sync();
SELECT * FROM fl.first_last_now ORDER BY device;
SELECT count(*) AS differences FROM (
	(SELECT * FROM fl.first_last_now
	 EXCEPT ALL
	 SELECT device, continuous.first(status, ts), continuous.last(status, ts), continuous.last(temperature, ts)
	 FROM fl.readings GROUP BY device)
	UNION ALL
	(SELECT device, continuous.first(status, ts), continuous.last(status, ts), continuous.last(temperature, ts)
	 FROM fl.readings GROUP BY device
	 EXCEPT ALL
	 SELECT * FROM fl.first_last_now)) AS d;

SET client_min_messages = warning;
DROP SCHEMA fl CASCADE;
RESET client_min_messages;
