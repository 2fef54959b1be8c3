/* pg_continuous--1.0--1.1.sql: what 1.1 changes in 1.0's objects */

\echo Use "ALTER EXTENSION pg_continuous UPDATE TO '1.1'" to load this file. \quit

-- create_stream parses its column list as the elements of one CREATE FOREIGN
-- TABLE statement and runs the parsed statement; 1.0 spliced the text into
-- the statement it executed, so a column list could run any SQL.
CREATE OR REPLACE FUNCTION continuous.create_stream(name text, columns text)
RETURNS regclass LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_create_stream';

-- Honest monitoring: the worker's last failure and next attempt, and why it
-- does not apply changes (not running, failed, paused, no database slot
-- left) in continuous.worker_stats.error and in every view's row of
-- continuous.views (worker_error).  continuous.stats reads worker_stats, so
-- both are made again around the function's new result columns.
DROP VIEW continuous.stats;
DROP VIEW continuous.worker_stats;
DROP FUNCTION continuous._worker_state();
CREATE FUNCTION continuous._worker_state(
	OUT worker_pid integer, OUT slot_name text, OUT applied_lsn pg_lsn,
	OUT applied_commit_time timestamptz, OUT shared_memory_used bigint,
	OUT shared_memory_limit bigint, OUT error text,
	OUT last_checkpoint_lsn pg_lsn, OUT last_checkpoint_at timestamptz,
	OUT last_failure text, OUT last_failure_at timestamptz, OUT next_retry_at timestamptz)
RETURNS SETOF record LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_worker_state';

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
	   w.error,
	   w.last_failure,
	   w.last_failure_at,
	   w.next_retry_at
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
	   s.error,
	   w.error AS worker_error
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous.worker_stats w ON true;

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
	   w.error AS worker_error
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous._worker_state() w ON true;

GRANT SELECT ON continuous.views, continuous.stats, continuous.worker_stats TO PUBLIC;

-- Logical replication: a FOR ALL TABLES publication also publishes the
-- extension's own tables.  A subscriber's replication workers (which run
-- with session_replication_role = replica and a replication origin) must
-- not write another database's catalog and checkpoints into these: each row
-- they bring is dropped by a trigger that fires only for them.  The worker also ignores
-- decoded catalog rows that came through replication (their origin).
CREATE FUNCTION continuous._ignore_replicated_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
	-- Replication workers set up a replication origin; a local session that
	-- merely uses session_replication_role = replica does not, and its rows
	-- (the worker's checkpoints, a create_view) stay.
	IF pg_replication_origin_session_is_setup() THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION continuous._ignore_replicated_row() FROM PUBLIC;

CREATE TRIGGER ignore_replicated BEFORE INSERT OR UPDATE OR DELETE ON continuous.view_catalog
	FOR EACH ROW EXECUTE FUNCTION continuous._ignore_replicated_row();
ALTER TABLE continuous.view_catalog ENABLE REPLICA TRIGGER ignore_replicated;
CREATE TRIGGER ignore_replicated BEFORE INSERT OR UPDATE OR DELETE ON continuous.checkpoint
	FOR EACH ROW EXECUTE FUNCTION continuous._ignore_replicated_row();
ALTER TABLE continuous.checkpoint ENABLE REPLICA TRIGGER ignore_replicated;
CREATE TRIGGER ignore_replicated BEFORE INSERT OR UPDATE OR DELETE ON continuous.checkpoint_view
	FOR EACH ROW EXECUTE FUNCTION continuous._ignore_replicated_row();
ALTER TABLE continuous.checkpoint_view ENABLE REPLICA TRIGGER ignore_replicated;
CREATE TRIGGER ignore_replicated BEFORE INSERT OR UPDATE OR DELETE ON continuous.checkpoint_group
	FOR EACH ROW EXECUTE FUNCTION continuous._ignore_replicated_row();
ALTER TABLE continuous.checkpoint_group ENABLE REPLICA TRIGGER ignore_replicated;

-- continuous.last(value, t) and continuous.first(value, t): the value of the
-- row with the greatest (least) t; rows with a NULL t are ignored; ties on t
-- go to the greatest (least) value, a NULL value losing.  Combinable, so a
-- view over a stream keeps one value per group.
CREATE FUNCTION continuous._last_trans(internal, anyelement, anycompatible) RETURNS internal
	LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_last_trans';
CREATE FUNCTION continuous._first_trans(internal, anyelement, anycompatible) RETURNS internal
	LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_first_trans';
CREATE FUNCTION continuous._last_combine(internal, internal) RETURNS internal
	LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_last_combine';
CREATE FUNCTION continuous._first_combine(internal, internal) RETURNS internal
	LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_first_combine';
CREATE FUNCTION continuous._firstlast_final(internal, anyelement, anycompatible) RETURNS anyelement
	LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_firstlast_final';
CREATE FUNCTION continuous._firstlast_serialize(internal) RETURNS bytea
	LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_firstlast_serialize';
CREATE FUNCTION continuous._firstlast_deserialize(bytea, internal) RETURNS internal
	LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'continuous_firstlast_deserialize';

CREATE AGGREGATE continuous.last(value anyelement, t anycompatible) (
	SFUNC = continuous._last_trans, STYPE = internal,
	FINALFUNC = continuous._firstlast_final, FINALFUNC_EXTRA,
	COMBINEFUNC = continuous._last_combine,
	SERIALFUNC = continuous._firstlast_serialize, DESERIALFUNC = continuous._firstlast_deserialize,
	PARALLEL = SAFE);
CREATE AGGREGATE continuous.first(value anyelement, t anycompatible) (
	SFUNC = continuous._first_trans, STYPE = internal,
	FINALFUNC = continuous._firstlast_final, FINALFUNC_EXTRA,
	COMBINEFUNC = continuous._first_combine,
	SERIALFUNC = continuous._firstlast_serialize, DESERIALFUNC = continuous._firstlast_deserialize,
	PARALLEL = SAFE);
