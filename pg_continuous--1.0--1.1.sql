/* pg_continuous--1.0--1.1.sql: what 1.1 changes in 1.0's objects */

\echo Use "ALTER EXTENSION pg_continuous UPDATE TO '1.1'" to load this file. \quit

-- create_stream parses its column list as the elements of one CREATE FOREIGN
-- TABLE statement and runs the parsed statement; 1.0 spliced the text into
-- the statement it executed, so a column list could run any SQL.
CREATE OR REPLACE FUNCTION continuous.create_stream(name text, columns text)
RETURNS regclass LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_create_stream';

-- Backup and restore.  A view's body reads its state by a view key (a
-- random UUID that a dump keeps and no other view has), and holds its
-- definition and settings in CTEs that nothing references:
--   WITH continuous_definition AS (<the defining query>),
--        continuous_settings AS (SELECT '<TimeZone>'::text AS timezone, ...)
--   SELECT * FROM continuous.read_view('<key>'::uuid) AS r(...)
-- Restoring the body (CREATE VIEW) fires continuous_create_view, which
-- makes it a continuous view again under the same key.  Views over tables
-- are backfilled; of views over streams, pg_dump keeps the rows of the last
-- checkpoint (checkpoint_group is a configuration table, filtered to them),
-- which a trigger diverts into restored_group when restored, for the
-- worker to load into the restored view.
ALTER TABLE continuous.view_catalog
	ADD COLUMN view_key uuid UNIQUE,
	ADD COLUMN restored_at timestamptz;		-- made from a restored body, at
UPDATE continuous.view_catalog SET view_key = gen_random_uuid();
ALTER TABLE continuous.view_catalog ALTER COLUMN view_key SET NOT NULL;

ALTER TABLE continuous.checkpoint_view ADD COLUMN restored_at timestamptz; -- loaded a dump's checkpoint, at
ALTER TABLE continuous.checkpoint_group ADD COLUMN view_key uuid;
UPDATE continuous.checkpoint_group g SET view_key = c.view_key
FROM continuous.view_catalog c WHERE c.id = g.view_id;
SELECT pg_catalog.pg_extension_config_dump('continuous.checkpoint_group',
	'WHERE view_key IN (SELECT c.view_key FROM continuous.view_catalog c '
	'JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = c.sourcerelid '
	'JOIN continuous.checkpoint_view v ON v.view_id = c.id '
	'WHERE v.state = ''ready'' AND v.stale_reason IS NULL)');

CREATE TABLE continuous.restored_group (
	view_key	uuid NOT NULL,
	state		bytea NOT NULL
);
REVOKE ALL ON continuous.restored_group FROM PUBLIC;
-- The worker deletes its rows; a FOR ALL TABLES publication needs an identity.
ALTER TABLE continuous.restored_group REPLICA IDENTITY FULL;

CREATE FUNCTION continuous._divert_restored_group() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'continuous_divert_restored_group';
REVOKE ALL ON FUNCTION continuous._divert_restored_group() FROM PUBLIC;
CREATE TRIGGER divert_restored BEFORE INSERT ON continuous.checkpoint_group
	FOR EACH ROW EXECUTE FUNCTION continuous._divert_restored_group();

CREATE FUNCTION continuous.read_view(view_key uuid) RETURNS SETOF record
	LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'continuous_read_view';

CREATE FUNCTION continuous._on_create_view() RETURNS event_trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'continuous_on_create_view';
CREATE EVENT TRIGGER continuous_create_view ON ddl_command_end WHEN TAG IN ('CREATE VIEW')
	EXECUTE FUNCTION continuous._on_create_view();

-- 1.0's views read continuous.read_view(id): their bodies read their key now.
CREATE FUNCTION continuous._upgrade_view_bodies() RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_upgrade_view_bodies';
SELECT continuous._upgrade_view_bodies();
DROP FUNCTION continuous._upgrade_view_bodies();

-- Waits until every commit before the call is in a checkpoint: call it
-- before pg_dump, which saves views over streams as of their checkpoint.
CREATE FUNCTION continuous.checkpoint(timeout interval DEFAULT '1 minute') RETURNS pg_lsn
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_checkpoint';

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
	   w.error AS worker_error,
	   CASE WHEN f.ftrelid IS NULL THEN 'backfill of the table, then its changes'
			WHEN cp.restored_at IS NOT NULL THEN 'checkpoint restored from a dump, then events committed since'
			WHEN c.restored_at IS NOT NULL THEN 'events committed since the view was restored (no checkpoint restored)'
			ELSE 'events committed since the view was created' END AS contents_from,
	   c.restored_at
FROM continuous.view_catalog c
LEFT JOIN continuous._view_state() s ON s.view_id = c.id
LEFT JOIN continuous._worker_state() w ON true
LEFT JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = c.sourcerelid
LEFT JOIN continuous.checkpoint_view cp ON cp.view_id = c.id;

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
CREATE TRIGGER ignore_replicated BEFORE INSERT OR UPDATE OR DELETE ON continuous.restored_group
	FOR EACH ROW EXECUTE FUNCTION continuous._ignore_replicated_row();
ALTER TABLE continuous.restored_group ENABLE REPLICA TRIGGER ignore_replicated;

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
