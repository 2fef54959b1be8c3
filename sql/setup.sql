--
-- The extension and its objects.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
FROM pg_extension WHERE extname = 'pg_continuous';

-- Everything the extension owns.
SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_continuous')
ORDER BY 1;

-- The SQL functions, with their arguments and results.
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS result,
	   p.provolatile AS volatility, p.proisstrict AS strict
FROM pg_proc p
WHERE p.pronamespace = 'continuous'::regnamespace
ORDER BY p.proname, p.oid::regprocedure::text;
SELECT p.oid::regprocedure AS function, pg_get_function_arguments(p.oid) AS arguments
FROM pg_proc p
WHERE p.pronamespace = 'continuous'::regnamespace AND p.pronargdefaults > 0
ORDER BY p.proname, p.oid::regprocedure::text;

-- The catalog views' columns.
\d continuous.views
\d continuous.stats

-- What PUBLIC may use.
SELECT has_schema_privilege('public', 'continuous', 'USAGE') AS schema_usage,
	   has_table_privilege('public', 'continuous.views', 'SELECT') AS views_select,
	   has_table_privilege('public', 'continuous.stats', 'SELECT') AS stats_select,
	   has_table_privilege('public', 'continuous.view_catalog', 'SELECT') AS catalog_select,
	   has_server_privilege('public', 'continuous_streams', 'USAGE') AS streams_usage;

-- The worker of this database is running.  Without views it holds no
-- replication slot; the first view brings one.
SELECT continuous.sync();
SELECT worker_pid IS NOT NULL AS worker_running, slot_name LIKE 'pg_continuous_%' AS slot_named,
	   error IS NULL AS no_error
FROM continuous._worker_state();
SELECT count(*) AS slots FROM pg_replication_slots
WHERE slot_name = (SELECT slot_name FROM continuous._worker_state());
SELECT continuous.create_stream('setup_events', 'x int');
SELECT continuous.create_view('setup_count', 'SELECT count(*) AS n FROM setup_events');
SELECT slot_type, plugin, database = current_database() AS this_database
FROM pg_replication_slots
WHERE slot_name = (SELECT slot_name FROM continuous._worker_state());
SELECT continuous.drop_stream('setup_events', "cascade" => true);
-- Dropping the last view drops the slot, once the worker has decoded it.
DO $$
BEGIN
	FOR i IN 1 .. 600 LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots
							  WHERE slot_name = (SELECT slot_name FROM continuous._worker_state()));
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT count(*) AS slots FROM pg_replication_slots
WHERE slot_name = (SELECT slot_name FROM continuous._worker_state());
-- Without a slot, a transaction that already wrote cannot wait for one.
BEGIN;
CREATE TABLE setup_table (x int);
SELECT continuous.create_view('setup_view', 'SELECT count(*) AS n FROM setup_table');
ROLLBACK;

-- GUCs are reserved under continuous.*.
SET continuous.no_such_setting = 1;
