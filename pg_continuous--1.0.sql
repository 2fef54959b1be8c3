/* pg_continuous--1.0.sql: streams, continuous views, and their catalog */

\echo Use "CREATE EXTENSION pg_continuous" to load this file. \quit

-- Refuses installation when the library is not preloaded or wal_level is
-- below logical; the checks live in C so that the messages carry hints.
CREATE FUNCTION continuous._check_setup() RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_check_setup';
SELECT continuous._check_setup();

------------------------------------------------------------------------------
-- Catalog.  The worker learns about views by decoding changes to this table,
-- so a view starts counting exactly at the commit that created it.
------------------------------------------------------------------------------
CREATE TABLE continuous.view_catalog (
	id			integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	viewrelid	oid NOT NULL UNIQUE,	-- the user-facing view
	sourcerelid oid NOT NULL,			-- the stream or table it reads
	definition	text NOT NULL,			-- the defining query, as the user wrote it
	querytree	text NOT NULL,			-- nodeToString of the analyzed Query
	created_at	timestamptz NOT NULL DEFAULT now(),
	-- The creator's settings that stable functions in the definition see
	-- when the worker evaluates them.
	timezone	text NOT NULL DEFAULT current_setting('TimeZone'),
	datestyle	text NOT NULL DEFAULT current_setting('DateStyle'),
	intervalstyle text NOT NULL DEFAULT current_setting('IntervalStyle')
);
REVOKE ALL ON continuous.view_catalog FROM PUBLIC;

------------------------------------------------------------------------------
-- Checkpoints.  Only the worker writes these tables, in one transaction per
-- checkpoint, and confirms its replication slot to checkpoint.lsn after
-- that transaction commits; at start it loads them back into shared memory.
-- A group row is the group's stored form (keys, then aggregate states) as
-- the worker keeps it in shared memory; format_version names that layout.
------------------------------------------------------------------------------
CREATE TABLE continuous.checkpoint (
	format_version integer NOT NULL,
	lsn			pg_lsn NOT NULL,		-- every commit before it is reflected
	taken_at	timestamptz NOT NULL,
	onerow		boolean PRIMARY KEY DEFAULT true CHECK (onerow)
);
CREATE TABLE continuous.checkpoint_view (
	view_id		integer PRIMARY KEY,
	state		text NOT NULL,			-- ready, initializing or failed
	applied_lsn pg_lsn,
	applied_commit_time timestamptz,
	events_applied bigint NOT NULL,
	next_group_id bigint NOT NULL,
	stale_reason text,
	error		text,
	events_lost_from pg_lsn,
	events_lost_to pg_lsn
);
CREATE TABLE continuous.checkpoint_group (
	view_id		integer NOT NULL,
	group_id	bigint NOT NULL,
	state		bytea NOT NULL,
	PRIMARY KEY (view_id, group_id)
);
REVOKE ALL ON continuous.checkpoint, continuous.checkpoint_view,
	continuous.checkpoint_group FROM PUBLIC;

------------------------------------------------------------------------------
-- Streams: foreign tables of a server the extension owns.
------------------------------------------------------------------------------
CREATE FUNCTION continuous.stream_fdw_handler() RETURNS fdw_handler
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_stream_fdw_handler';
CREATE FOREIGN DATA WRAPPER continuous_stream_fdw HANDLER continuous.stream_fdw_handler;
CREATE SERVER continuous_streams FOREIGN DATA WRAPPER continuous_stream_fdw;
GRANT USAGE ON FOREIGN SERVER continuous_streams TO PUBLIC;

CREATE FUNCTION continuous.create_stream(name text, columns text)
RETURNS regclass LANGUAGE plpgsql AS $fn$
DECLARE
	parts text[] := parse_ident(name);
	qualified text;
BEGIN
	IF array_length(parts, 1) > 2 THEN
		RAISE EXCEPTION 'improper stream name "%"', name
			USING ERRCODE = 'invalid_name', HINT = 'Use a name or schema.name.';
	END IF;
	SELECT string_agg(quote_ident(p), '.') INTO qualified FROM unnest(parts) AS p;
	EXECUTE format('CREATE FOREIGN TABLE %s (%s) SERVER continuous_streams', qualified, columns);
	RETURN qualified::regclass;
END
$fn$;

CREATE FUNCTION continuous.drop_stream(name regclass, "cascade" boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver
				   WHERE ft.ftrelid = name AND s.srvname = 'continuous_streams') THEN
		RAISE EXCEPTION '"%" is not a stream', name
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Streams are created with continuous.create_stream().';
	END IF;
	EXECUTE format('DROP FOREIGN TABLE %s%s', name, CASE WHEN "cascade" THEN ' CASCADE' ELSE '' END);
END
$fn$;

------------------------------------------------------------------------------
-- Windows and time.  Real SQL functions, so a defining query also runs as a
-- batch query and gives the same answer.
------------------------------------------------------------------------------
CREATE FUNCTION continuous.tumble(ts timestamptz, width interval,
								  origin timestamptz DEFAULT '1970-01-01 00:00:00+00')
RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN date_bin(width, ts, origin);

CREATE FUNCTION continuous.tumble(ts timestamp, width interval,
								  origin timestamp DEFAULT '1970-01-01 00:00:00')
RETURNS timestamp LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN date_bin(width, ts, origin);

CREATE FUNCTION continuous.tumble(ts bigint, width bigint, origin bigint DEFAULT 0)
RETURNS bigint LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'continuous_tumble_int8';

------------------------------------------------------------------------------
-- Continuous views.
------------------------------------------------------------------------------
CREATE FUNCTION continuous.create_view(name text, query text) RETURNS regclass
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_create_view';

CREATE FUNCTION continuous.drop_view(name regclass) RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_drop_view';

-- The user-facing view of continuous view id selects from this function.
CREATE FUNCTION continuous.read_view(view_id integer) RETURNS SETOF record
	LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'continuous_read_view';

CREATE FUNCTION continuous.sync(timeout interval DEFAULT '30 s') RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_sync';

-- Per-view figures from shared memory; one row per view the worker knows.
CREATE FUNCTION continuous._view_state(
	OUT view_id integer, OUT state text, OUT groups bigint, OUT memory_bytes bigint,
	OUT applied_lsn pg_lsn, OUT applied_commit_time timestamptz,
	OUT events_applied bigint, OUT stale_reason text, OUT error text,
	OUT backfill_rows_scanned bigint, OUT backfill_rows_estimated bigint,
	OUT events_lost_from pg_lsn, OUT events_lost_to pg_lsn)
RETURNS SETOF record LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_view_state';

-- Per-database worker figures.
CREATE FUNCTION continuous._worker_state(
	OUT worker_pid integer, OUT slot_name text, OUT applied_lsn pg_lsn,
	OUT applied_commit_time timestamptz, OUT shared_memory_used bigint,
	OUT shared_memory_limit bigint, OUT error text,
	OUT last_checkpoint_lsn pg_lsn, OUT last_checkpoint_at timestamptz)
RETURNS SETOF record LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_worker_state';

CREATE VIEW continuous.views AS
SELECT c.viewrelid::regclass AS name,
	   c.id,
	   c.definition,
	   c.sourcerelid::regclass AS source,
	   coalesce(s.state, 'initializing') AS state,
	   s.groups,
	   s.memory_bytes,
	   s.applied_lsn,
	   s.applied_commit_time,
	   s.stale_reason,
	   s.error,
	   s.backfill_rows_scanned,
	   s.backfill_rows_estimated,
	   s.events_lost_from,
	   s.events_lost_to,
	   c.created_at
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id;

-- One row per database worker: its slot, how far behind it is, what WAL it
-- holds back, and its last checkpoint.
CREATE VIEW continuous.worker_stats AS
SELECT w.worker_pid,
	   CASE WHEN sl.slot_name IS NOT NULL THEN w.slot_name END AS slot_name,
	   sl.confirmed_flush_lsn AS confirmed_lsn,
	   pg_wal_lsn_diff(pg_current_wal_insert_lsn(), sl.restart_lsn) AS retained_wal_bytes,
	   sl.wal_status,
	   sl.catalog_xmin,
	   w.applied_lsn,
	   pg_wal_lsn_diff(pg_current_wal_insert_lsn(), w.applied_lsn) AS lag_bytes,
	   CASE WHEN w.applied_lsn >= pg_current_wal_insert_lsn() THEN interval '0'
			ELSE now() - w.applied_commit_time END AS lag_time,
	   w.last_checkpoint_lsn,
	   w.last_checkpoint_at,
	   w.shared_memory_used,
	   w.shared_memory_limit,
	   w.error
FROM continuous._worker_state() w
LEFT JOIN pg_replication_slots sl ON sl.slot_name = w.slot_name;

CREATE VIEW continuous.stats AS
SELECT c.viewrelid::regclass AS name,
	   coalesce(s.state, 'initializing') AS state,
	   s.events_applied,
	   s.groups,
	   s.memory_bytes,
	   s.applied_lsn,
	   s.applied_commit_time,
	   now() - s.applied_commit_time AS commit_age,
	   w.slot_name,
	   w.confirmed_lsn,
	   w.retained_wal_bytes,
	   w.lag_bytes,
	   w.lag_time,
	   w.last_checkpoint_at,
	   s.error
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous.worker_stats w ON true;

GRANT USAGE ON SCHEMA continuous TO PUBLIC;
GRANT SELECT ON continuous.views, continuous.stats, continuous.worker_stats TO PUBLIC;

------------------------------------------------------------------------------
-- DROP VIEW (directly or by CASCADE from a source) removes the view's catalog
-- row; the worker decodes that delete and frees the state.
------------------------------------------------------------------------------
CREATE FUNCTION continuous._release_view_at_commit(view_id integer) RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_release_view_at_commit';
REVOKE ALL ON FUNCTION continuous._release_view_at_commit(integer) FROM PUBLIC;

-- SECURITY DEFINER: any role may drop objects, but only the extension's
-- owner may read and write the catalog.
CREATE FUNCTION continuous._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
	-- During DROP EXTENSION the catalog itself is gone: nothing to do.
	IF to_regclass('continuous.view_catalog') IS NULL THEN
		RETURN;
	END IF;
	PERFORM continuous._release_view_at_commit(c.id)
	FROM continuous.view_catalog c, pg_event_trigger_dropped_objects() d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = c.viewrelid;
	DELETE FROM continuous.view_catalog c
	USING pg_event_trigger_dropped_objects() d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = c.viewrelid;
END
$fn$;
CREATE EVENT TRIGGER continuous_sql_drop ON sql_drop
	EXECUTE FUNCTION continuous._on_sql_drop();
