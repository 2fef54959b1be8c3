/* pg_continuous--1.1--1.2.sql: what 1.2 changes in 1.1's objects: windows that close, a memory cap per view */
\echo Use "ALTER EXTENSION pg_continuous UPDATE TO '1.2'" to load this file. \quit

-- How a view's windows close (NULL lateness: never) and its memory cap
-- (NULL: none but continuous.shared_memory).  create_view validates them;
-- a view's body carries them too, so a dump keeps them.
ALTER TABLE continuous.view_catalog
	ADD COLUMN max_memory bigint CHECK (max_memory > 0),
	ADD COLUMN lateness interval,
	ADD COLUMN clock text CHECK (clock IN ('commit', 'event')),
	ADD COLUMN history_relid oid,			-- closed windows' rows
	ADD COLUMN retain interval,
	ADD COLUMN late_events text CHECK (late_events IN ('drop', 'capture')),
	ADD COLUMN late_relid oid,				-- captured late changes
	ADD COLUMN idle_timeout interval;

-- What the worker's checkpoints record of closing, per view.
ALTER TABLE continuous.checkpoint_view
	ADD COLUMN closed_before bigint,		-- windows starting at or before it are closed
	ADD COLUMN watermark timestamptz,
	ADD COLUMN closed_windows bigint NOT NULL DEFAULT 0,
	ADD COLUMN last_close_time timestamptz,
	ADD COLUMN late_changes bigint NOT NULL DEFAULT 0,
	ADD COLUMN late_captured bigint NOT NULL DEFAULT 0,
	ADD COLUMN retained_rows bigint NOT NULL DEFAULT 0;

DROP FUNCTION continuous.create_view(text, text);
CREATE FUNCTION continuous.create_view(name text, query text,
									   lateness interval DEFAULT NULL,
									   history text DEFAULT NULL,
									   retain interval DEFAULT NULL,
									   late_events text DEFAULT NULL,
									   clock text DEFAULT NULL,
									   idle_timeout interval DEFAULT NULL,
									   max_memory text DEFAULT NULL)
	RETURNS regclass
	LANGUAGE c AS 'MODULE_PATHNAME', 'continuous_create_view';

-- Per view with windows that close, from shared memory.
CREATE FUNCTION continuous._view_windows(
	OUT view_id integer, OUT watermark timestamptz, OUT open_windows bigint,
	OUT closed_windows bigint, OUT late_changes bigint, OUT late_captured bigint,
	OUT last_close_time timestamptz, OUT retained_rows bigint)
RETURNS SETOF record LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_view_windows';

CREATE OR REPLACE VIEW continuous.views AS
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
	   c.created_at,
	   w.error AS worker_error,
	   CASE WHEN f.ftrelid IS NULL THEN 'backfill of the table, then its changes'
			WHEN cp.restored_at IS NOT NULL THEN 'checkpoint restored from a dump, then events committed since'
			WHEN c.restored_at IS NOT NULL THEN 'events committed since the view was restored (no checkpoint restored)'
			ELSE 'events committed since the view was created' END AS contents_from,
	   c.restored_at,
	   c.max_memory,
	   c.lateness,
	   CASE WHEN c.lateness IS NOT NULL THEN coalesce(c.clock, 'commit') END AS clock,
	   x.watermark,
	   x.open_windows,
	   x.closed_windows,
	   x.late_changes,
	   x.late_captured,
	   x.last_close_time,
	   (SELECT h.oid::regclass FROM pg_catalog.pg_class h WHERE h.oid = c.history_relid) AS history,
	   c.retain,
	   CASE WHEN c.lateness IS NOT NULL THEN coalesce(c.late_events, 'drop') END AS late_events,
	   (SELECT l.oid::regclass FROM pg_catalog.pg_class l WHERE l.oid = c.late_relid) AS late_table
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous._worker_state() w ON true
LEFT JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = c.sourcerelid
LEFT JOIN continuous.checkpoint_view cp ON cp.view_id = c.id
LEFT JOIN continuous._view_windows() x ON x.view_id = c.id;

CREATE OR REPLACE VIEW continuous.stats AS
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
	   s.error,
	   w.error AS worker_error,
	   c.lateness,
	   CASE WHEN c.lateness IS NOT NULL THEN coalesce(c.clock, 'commit') END AS clock,
	   x.watermark,
	   x.open_windows,
	   x.closed_windows,
	   x.late_changes,
	   x.late_captured,
	   x.last_close_time,
	   (SELECT h.oid::regclass FROM pg_catalog.pg_class h WHERE h.oid = c.history_relid) AS history,
	   c.retain,
	   x.retained_rows
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous.worker_stats w ON true
LEFT JOIN continuous._view_windows() x ON x.view_id = c.id;
