/* pg_continuous--1.1--1.2.sql: what 1.2 changes in 1.1's objects: a memory cap per continuous view */
\echo Use "ALTER EXTENSION pg_continuous UPDATE TO '1.2'" to load this file. \quit

-- The most shared memory the view may use, in bytes; NULL: no cap other
-- than continuous.shared_memory.  A view that needs more fails alone.
ALTER TABLE continuous.view_catalog ADD COLUMN max_memory bigint CHECK (max_memory > 0);

DROP FUNCTION continuous.create_view(text, text);
CREATE FUNCTION continuous.create_view(name text, query text, max_memory text DEFAULT NULL)
	RETURNS regclass
	LANGUAGE c AS 'MODULE_PATHNAME', 'continuous_create_view';

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
	   c.max_memory
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous._worker_state() w ON true
LEFT JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = c.sourcerelid
LEFT JOIN continuous.checkpoint_view cp ON cp.view_id = c.id;
