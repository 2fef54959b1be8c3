--
-- create_view(..., max_memory => '64MB'): a cap on one view's shared
-- memory.  A view that needs more fails alone, with an error naming it and
-- the cap; the other views go on.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
CREATE SCHEMA mm;
SELECT continuous.create_stream('mm.events', 'id int, v int');
CREATE TABLE mm.copy (id int, v int);

-- Bad caps: not a size, not positive.
SELECT continuous.create_view('mm.bad', 'SELECT count(*) FROM mm.events', max_memory => 'lots');
SELECT continuous.create_view('mm.bad', 'SELECT count(*) FROM mm.events', max_memory => '0');
SELECT continuous.create_view('mm.bad', 'SELECT count(*) FROM mm.events', max_memory => '-1MB');
SELECT continuous.create_view(NULL, 'SELECT count(*) FROM mm.events');
SELECT to_regclass('mm.bad');

-- A capped view with many groups beside an uncapped one; and a cap that
-- holds.
SELECT continuous.create_view('mm.per_id', 'SELECT id, sum(v) AS total FROM mm.events GROUP BY id',
							  max_memory => '64kB');
SELECT continuous.create_view('mm.totals', 'SELECT v % 3 AS k, count(*) AS n FROM mm.events GROUP BY 1');
SELECT continuous.create_view('mm.few', 'SELECT v % 2 AS k, max(id) AS top FROM mm.events GROUP BY 1',
							  max_memory => '1MB');
SELECT name, max_memory FROM continuous.views WHERE name::text LIKE 'mm.%' ORDER BY id;
-- The cap is part of the body, so it survives a dump.
SELECT pg_get_viewdef('mm.per_id'::regclass) LIKE '%''65536''::bigint AS max_memory%' AS cap_in_body;

INSERT INTO mm.events SELECT i, i FROM generate_series(1, 100) i;
INSERT INTO mm.copy SELECT i, i FROM generate_series(1, 100) i;
SELECT continuous.sync();
SELECT state, error FROM continuous.views WHERE name = 'mm.per_id'::regclass;
SELECT count(*), sum(total) FROM mm.per_id;

INSERT INTO mm.events SELECT i, i FROM generate_series(101, 5000) i;
INSERT INTO mm.copy SELECT i, i FROM generate_series(101, 5000) i;
SELECT continuous.sync();
SELECT state, error FROM continuous.views WHERE name = 'mm.per_id'::regclass;
SELECT * FROM mm.per_id;
-- The others are exact, and the failed view gave its memory back.
SELECT (SELECT array_agg(n ORDER BY k) FROM mm.totals) =
	   (SELECT array_agg(n ORDER BY k) FROM (SELECT v % 3 AS k, count(*) AS n FROM mm.copy GROUP BY 1) q) AS totals_exact;
SELECT (SELECT array_agg(top ORDER BY k) FROM mm.few) =
	   (SELECT array_agg(top ORDER BY k) FROM (SELECT v % 2 AS k, max(id) AS top FROM mm.copy GROUP BY 1) q) AS few_exact;
SELECT groups, memory_bytes < 1024 AS freed FROM continuous.views WHERE name = 'mm.per_id'::regclass;

SET client_min_messages = warning;
DROP SCHEMA mm CASCADE;
RESET client_min_messages;
