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

-- The worker of this database is running and owns a logical slot.
SELECT continuous.sync();
SELECT worker_pid IS NOT NULL AS worker_running, slot_name LIKE 'pg_continuous_%' AS slot_named,
	   error IS NULL AS no_error
FROM continuous._worker_state();
SELECT slot_type, plugin, database = current_database() AS this_database
FROM pg_replication_slots
WHERE slot_name = (SELECT slot_name FROM continuous._worker_state());

-- GUCs are reserved under continuous.*.
SET continuous.no_such_setting = 1;
