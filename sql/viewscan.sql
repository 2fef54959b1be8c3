--
-- The view scan: the executor reads a continuous view through a custom
-- scan (ContinuousViewScan) instead of a function scan of read_view().
-- Every query here is also run with continuous.enable_view_scan = off, and
-- both ways must return the same rows.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;

-- Runs query through the view scan and through the function scan: 'same'
-- when both return the same multiset of rows and the plans are what the
-- setting asks for, else what differs.
CREATE FUNCTION both_scans(query text) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
	with_scan text[];
	without text[];
	plan text;
	scans int;
BEGIN
	PERFORM set_config('continuous.enable_view_scan', 'on', true);
	EXECUTE format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r', query) INTO with_scan;
	scans := 0;
	FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF plan LIKE '%Custom Scan (ContinuousViewScan)%' THEN
			scans := scans + 1;
		END IF;
	END LOOP;
	IF scans = 0 THEN
		RETURN 'no view scan in the plan';
	END IF;
	PERFORM set_config('continuous.enable_view_scan', 'off', true);
	EXECUTE format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r', query) INTO without;
	FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF plan LIKE '%ContinuousViewScan%' THEN
			RETURN 'a view scan although continuous.enable_view_scan is off';
		END IF;
	END LOOP;
	PERFORM set_config('continuous.enable_view_scan', 'on', true);
	IF with_scan IS DISTINCT FROM without THEN
		RETURN format('view scan %s, function scan %s', with_scan, without);
	END IF;
	RETURN 'same';
END
$fn$;

CREATE SCHEMA vs;
CREATE TABLE vs.t (k int, x int);
CREATE TABLE vs.names (k int, name text);
CREATE TABLE vs.u (s varchar, b smallint, x int);
INSERT INTO vs.names VALUES (1, 'one'), (2, 'two'), (3, 'three'), (9, 'nine');
SELECT continuous.create_view('vs.per_k', 'SELECT k, count(*) AS n, sum(x) AS total FROM vs.t GROUP BY k');
SELECT continuous.create_view('vs.big_k', 'SELECT k, count(*) AS n FROM vs.t GROUP BY k HAVING count(*) > 4');
SELECT continuous.create_view('vs.overall', 'SELECT count(*) AS n, max(x) AS top FROM vs.t');
SELECT continuous.sync();

-- The plan: a view scan, filtering and projecting like any scan; EXPLAIN
-- names the view.
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_k WHERE k > 1;
EXPLAIN (COSTS OFF, VERBOSE) SELECT total, k FROM vs.per_k;

-- Without GROUP BY, the view has its one row before any event.
SELECT * FROM vs.overall;
SELECT both_scans('SELECT * FROM vs.overall');
SELECT * FROM vs.per_k;

INSERT INTO vs.t SELECT i % 4, i FROM generate_series(1, 23) AS i;
INSERT INTO vs.t VALUES (NULL, 100), (9, NULL);
SELECT continuous.sync();

SELECT * FROM vs.per_k ORDER BY k;
SELECT both_scans('SELECT * FROM vs.per_k');
SELECT both_scans('SELECT k, total FROM vs.per_k WHERE n > 5 AND k IS NOT NULL');
SELECT both_scans('SELECT count(*), sum(total) FROM vs.per_k');
SELECT * FROM vs.big_k ORDER BY k;
SELECT both_scans('SELECT * FROM vs.big_k');
SELECT * FROM vs.overall;
SELECT both_scans('SELECT * FROM vs.overall');

-- The scan computes only the columns the query reads, and finalizes only
-- the aggregates those and HAVING need.
SELECT continuous.create_view('vs.ratio',
	'SELECT k, sum(x) * 1.0 / count(*) AS mean, max(x) AS top, count(*) AS n FROM vs.t GROUP BY k HAVING min(x) > 1');
SELECT continuous.sync();
SELECT * FROM vs.ratio ORDER BY k;
SELECT both_scans('SELECT k, mean FROM vs.ratio');
SELECT both_scans('SELECT top FROM vs.ratio');
SELECT both_scans('SELECT k FROM vs.ratio WHERE mean > 10');
SELECT both_scans('SELECT count(*) FROM vs.ratio');
SELECT both_scans('SELECT k FROM vs.big_k');
SELECT both_scans('SELECT mean, top FROM vs.ratio WHERE k = 2');

-- Joins, with the view on either side, and a nested loop that rescans it.
SELECT both_scans('SELECT p.k, p.n, nm.name FROM vs.per_k p JOIN vs.names nm USING (k)');
SELECT both_scans('SELECT nm.name, p.n FROM vs.names nm LEFT JOIN vs.per_k p ON p.k = nm.k');
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF) SELECT nm.name, p.n FROM vs.names nm JOIN vs.per_k p ON p.k = nm.k;
SELECT nm.name, p.n FROM vs.names nm JOIN vs.per_k p ON p.k = nm.k ORDER BY nm.name;
SELECT both_scans('SELECT nm.name, p.n FROM vs.names nm JOIN vs.per_k p ON p.k = nm.k');
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
-- A correlated subquery rescans the view with a new parameter each time.
SELECT name, (SELECT n FROM vs.per_k p WHERE p.k = nm.k) AS n FROM vs.names nm ORDER BY name;
SELECT both_scans('SELECT name, (SELECT n FROM vs.per_k p WHERE p.k = nm.k) AS n FROM vs.names nm');
-- Two views of one query, and a view joined with itself.
SELECT both_scans('SELECT k, n FROM vs.per_k UNION ALL SELECT k, n FROM vs.big_k');
SELECT both_scans('SELECT a.k, b.k FROM vs.per_k a JOIN vs.per_k b ON a.n = b.n');

-- A scrollable cursor: the view scan cannot go backward, so the planner
-- materializes it.
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k, n FROM vs.per_k WHERE k = 1;
MOVE FORWARD ALL IN c;
FETCH BACKWARD 1 FROM c;
FETCH NEXT FROM c;
COMMIT;

-- A prepared statement's plan is kept, but each execution reads the view
-- anew.
SET plan_cache_mode = force_generic_plan;
PREPARE n_of(int) AS SELECT n FROM vs.per_k WHERE k = $1;
EXECUTE n_of(1);
INSERT INTO vs.t VALUES (1, 1), (1, 2);
SELECT continuous.sync();
EXECUTE n_of(1);
DEALLOCATE n_of;
RESET plan_cache_mode;

-- Group lookup: when the WHERE clause pins every group key to a value
-- fixed for the execution, the scan copies only the groups with that key's
-- hash (the clause still filters them).
SELECT continuous.create_view('vs.per_pair',
	'SELECT s, b, count(*) AS n, sum(x) AS total FROM vs.u GROUP BY s, b');
INSERT INTO vs.u SELECT 'k' || (i % 7), i % 3, i FROM generate_series(1, 100) AS i;
INSERT INTO vs.u VALUES (NULL, 1, 5), ('k1', NULL, 6);
SELECT continuous.sync();
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_k WHERE k = 2;
SELECT * FROM vs.per_k WHERE k = 2;
SELECT both_scans('SELECT * FROM vs.per_k WHERE k = 2');
SELECT both_scans('SELECT * FROM vs.per_k WHERE 3 = k AND n > 1');
SELECT both_scans('SELECT * FROM vs.per_k WHERE k = 42');
-- Values of another type of the key's hash family: int4 key, bigint value.
EXPLAIN (COSTS OFF) SELECT n FROM vs.per_k WHERE k = 2::bigint;
SELECT both_scans('SELECT n FROM vs.per_k WHERE k = 2::bigint');
SELECT both_scans('SELECT n FROM vs.per_k WHERE k = 4000000000');
-- Two keys: both must be pinned.
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_pair WHERE s = 'k3' AND b = 1;
SELECT * FROM vs.per_pair WHERE s = 'k3' AND b = 1;
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s = 'k3' AND b = 1$$);
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s = 'k3'::varchar AND b = 1::smallint$$);
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s = 'k1' AND b = 0 AND total > 0$$);
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_pair WHERE s = 'k3';
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s = 'k3'$$);
-- key IN (...) and key = ANY (array): one hash chain per value.  One key
-- at most may have a list.
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_k WHERE k IN (1, 3, 42);
SELECT * FROM vs.per_k WHERE k IN (1, 3, 42) ORDER BY k;
SELECT both_scans('SELECT * FROM vs.per_k WHERE k IN (1, 3, 42)');
SELECT both_scans('SELECT * FROM vs.per_k WHERE k IN (1, 1, NULL, 2::bigint)');
SELECT both_scans('SELECT * FROM vs.per_k WHERE k = ANY (ARRAY[]::int[])');
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s IN ('k1', 'k2', 'nope') AND b = 0$$);
SELECT both_scans('SELECT * FROM vs.per_k WHERE k IN (1, 2) AND k = 2');
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_pair WHERE s IN ('k1', 'k2') AND b IN (0, 1);
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s IN ('k1', 'k2') AND b IN (0, 1)$$);
SET plan_cache_mode = force_generic_plan;
PREPARE in_k(int[]) AS SELECT k, n FROM vs.per_k WHERE k = ANY ($1) ORDER BY k;
EXPLAIN (COSTS OFF) EXECUTE in_k('{1,2}');
EXECUTE in_k('{2,1,2}');
EXECUTE in_k(NULL);
DEALLOCATE in_k;
RESET plan_cache_mode;

-- Not a lookup: another collation than the key's, a cast of the key, a
-- value that changes between rescans.
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_pair WHERE s = 'k3' COLLATE "C" AND b = 1;
SELECT both_scans($$SELECT * FROM vs.per_pair WHERE s = 'k3' COLLATE "C" AND b = 1$$);
EXPLAIN (COSTS OFF) SELECT * FROM vs.per_k WHERE k::numeric = 2;
EXPLAIN (COSTS OFF) SELECT name, (SELECT n FROM vs.per_k p WHERE p.k = nm.k) AS n FROM vs.names nm;
-- A prepared statement's parameter is fixed for an execution: a lookup.
SET plan_cache_mode = force_generic_plan;
PREPARE pair_n(text, int) AS SELECT n FROM vs.per_pair WHERE s = $1 AND b = $2;
EXPLAIN (COSTS OFF) EXECUTE pair_n('k2', 2);
EXECUTE pair_n('k2', 2);
EXECUTE pair_n('k2', NULL);
EXECUTE pair_n('nothing', 2);
DEALLOCATE pair_n;
RESET plan_cache_mode;
-- The NULL key group is found only by IS NULL, which is no lookup.
SELECT both_scans('SELECT * FROM vs.per_pair WHERE s IS NULL AND b = 1');

-- Where the query needs the view's row as a whole, the function scan
-- stays: whole-row references, and the row marks of UPDATE ... FROM and of
-- FOR UPDATE of another table.
SELECT id AS per_k_id FROM continuous.views WHERE name = 'vs.per_k'::regclass \gset
EXPLAIN (COSTS OFF)
SELECT r FROM continuous.read_view(:per_k_id) AS r(k int, n bigint, total bigint) WHERE r.k = 1;
SELECT r FROM continuous.read_view(:per_k_id) AS r(k int, n bigint, total bigint) WHERE r.k = 1;
CREATE TABLE vs.totals (k int, n bigint);
INSERT INTO vs.totals SELECT k, 0 FROM vs.names;
EXPLAIN (COSTS OFF) UPDATE vs.totals t SET n = p.n FROM vs.per_k p WHERE p.k = t.k;
UPDATE vs.totals t SET n = p.n FROM vs.per_k p WHERE p.k = t.k;
SELECT * FROM vs.totals ORDER BY k;
SELECT t.k, p.n FROM vs.totals t JOIN vs.per_k p USING (k) ORDER BY k FOR UPDATE OF t;
-- A branch of UNION ALL that the planner proves empty stays empty.
SELECT count(*) FROM (SELECT 1 AS src, k FROM vs.per_k UNION ALL SELECT 2, k FROM vs.big_k) u
WHERE src = 1;
SELECT src, count(k) FROM (SELECT 1 AS src, k FROM vs.per_k UNION ALL SELECT 2, k FROM vs.big_k) u
WHERE src = 2 GROUP BY src;

-- read_view() with a view id that is not a constant is a function scan.
EXPLAIN (COSTS OFF)
SELECT r.* FROM generate_series(:per_k_id, :per_k_id) AS g(id),
	LATERAL continuous.read_view(g.id) AS r(k int, n bigint, total bigint);
SELECT sum(r.n) AS n FROM generate_series(:per_k_id, :per_k_id) AS g(id),
	LATERAL continuous.read_view(g.id) AS r(k int, n bigint, total bigint);
-- EXPLAIN does not read the view: it works for a view id that does not
-- exist, which reading then reports.
EXPLAIN (COSTS OFF) SELECT * FROM continuous.read_view(-1) AS r(k int);
SELECT * FROM continuous.read_view(-1) AS r(k int);
SET continuous.enable_view_scan = off;
SELECT * FROM continuous.read_view(-1) AS r(k int);
RESET continuous.enable_view_scan;

-- The view scan checks what the function call would: EXECUTE on
-- read_view() as well as SELECT on the view.
CREATE ROLE regress_viewscan_reader;
GRANT USAGE ON SCHEMA vs TO regress_viewscan_reader;
GRANT SELECT ON vs.per_k TO regress_viewscan_reader;
REVOKE EXECUTE ON FUNCTION continuous.read_view(uuid) FROM PUBLIC;
SET ROLE regress_viewscan_reader;
SELECT count(*) FROM vs.per_k;
SELECT count(*) FROM vs.per_k LIMIT 0;
SET continuous.enable_view_scan = off;
SELECT count(*) FROM vs.per_k;
RESET continuous.enable_view_scan;
RESET ROLE;
GRANT EXECUTE ON FUNCTION continuous.read_view(uuid) TO PUBLIC;
SET ROLE regress_viewscan_reader;
SELECT count(*) FROM vs.per_k;
SELECT count(*) FROM vs.big_k;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA vs CASCADE;
RESET client_min_messages;
DROP ROLE regress_viewscan_reader;
DROP FUNCTION both_scans(text);
