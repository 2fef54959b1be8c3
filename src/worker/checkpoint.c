/*-------------------------------------------------------------------------
 * checkpoint.c
 *	  Durable copies of view state in tables of schema continuous.
 *
 *	continuous.checkpoint		one row: the format, and the LSN the
 *								checkpoint reflects (every commit before it)
 *	continuous.checkpoint_view	per view: its state, how far it got, its
 *								counters and flags (StoreViewHeader)
 *	continuous.checkpoint_group per group: the group's stored row, exactly
 *								the MinimalTuple kept in shared memory,
 *								keyed by (view, group id)
 *
 * The worker writes a checkpoint in one transaction: only the groups that
 * changed since the previous one are upserted (all of a view's rows are
 * replaced when its groups were freed meanwhile), so the cost follows the
 * changed groups, not the size of the views.  Its writes carry a replication
 * origin (see decoder.c) so that decoding skips them.
 *
 * The first part of this module reads and writes the tables; the second
 * writes the registered views into them (checkpoint_take: per view, the
 * groups its merges touched since the previous checkpoint, which the
 * ApplyView keeps as dirty shared addresses) and puts them back at start
 * (checkpoint_restore, which registers the views of the last checkpoint
 * before decoding starts, since the commits that created them are not
 * decoded again).  worker.c decides when, and confirms the slot after the
 * commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/catalog.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "base/security.h"
#include "store/keptinputs.h"
#include "worker/checkpoint.h"
#include "worker/closing.h"
#include "worker/merge.h"
#include "worker/registry.h"

/* GUC (registered in pg_continuous.c) */
int continuous_debug_checkpoint_delay_ms = 0;

/* Rows per INSERT when writing groups, and per FETCH when reading them. */
#define CHECKPOINT_BATCH_ROWS 10000

static const char *
state_name(SharedViewState state)
{
	switch (state)
	{
		case VIEW_INITIALIZING:
			return "initializing";
		case VIEW_READY:
			return "ready";
		case VIEW_FAILED:
			return "failed";
	}
	return "ready";
}

static SharedViewState
state_from_name(const char *name)
{
	if (strcmp(name, "initializing") == 0)
		return VIEW_INITIALIZING;
	if (strcmp(name, "failed") == 0)
		return VIEW_FAILED;
	if (strcmp(name, "ready") == 0)
		return VIEW_READY;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("continuous.checkpoint_view has an unknown view state \"%s\"", name)));
	return VIEW_READY;
}

/* ----------------------------------------------------------------------
 * Reading
 * ----------------------------------------------------------------------
 */

void
checkpoint_read_info(CheckpointInfo *info)
{
	bool isnull;
	int  nest_level;

	memset(info, 0, sizeof(CheckpointInfo));
	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute("SELECT format_version, lsn, taken_at FROM continuous.checkpoint", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.checkpoint");
	if (SPI_processed > 0)
	{
		HeapTuple tup = SPI_tuptable->vals[0];
		TupleDesc desc = SPI_tuptable->tupdesc;
		int32     version = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));

		if (version != CHECKPOINT_FORMAT_VERSION)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the checkpoint of continuous views has format %d, this pg_continuous reads format %d",
							version, CHECKPOINT_FORMAT_VERSION),
					 errdetail("The checkpoint was written by another version of pg_continuous."),
					 errhint("Install the pg_continuous version that wrote it, or recreate the extension and its views.")));
		info->exists = true;
		info->lsn = DatumGetLSN(SPI_getbinval(tup, desc, 2, &isnull));
		info->taken_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
	}
	security_unpin_search_path(nest_level);
	SPI_finish();
}

static void
copy_text(HeapTuple tup, TupleDesc desc, int col, char *dest)
{
	char *value = SPI_getvalue(tup, desc, col);

	strlcpy(dest, value ? value : "", STORE_MESSAGE_LEN);
}

static XLogRecPtr
get_lsn(HeapTuple tup, TupleDesc desc, int col)
{
	bool  isnull;
	Datum d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
}

/* The checkpointed views, as a List of CheckpointView. */
List *
checkpoint_read_views(void)
{
	List         *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	int           nest_level;

	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute(catalog_has_view_options()
						? "SELECT view_id, state, applied_lsn, applied_commit_time, events_applied, "
						  "next_group_id, stale_reason, error, events_lost_from, events_lost_to, "
						  "restored_at IS NOT NULL, watermark, closed_windows, last_close_time, "
						  "late_changes, late_captured, retained_rows, closed_before "
						  "FROM continuous.checkpoint_view ORDER BY view_id"
					: catalog_has_view_keys()
						? "SELECT view_id, state, applied_lsn, applied_commit_time, events_applied, "
						  "next_group_id, stale_reason, error, events_lost_from, events_lost_to, "
						  "restored_at IS NOT NULL, NULL::timestamptz, 0::bigint, NULL::timestamptz, 0::bigint, 0::bigint, 0::bigint, NULL::bigint "
						  "FROM continuous.checkpoint_view ORDER BY view_id"
						: "SELECT view_id, state, applied_lsn, applied_commit_time, events_applied, "
						  "next_group_id, stale_reason, error, events_lost_from, events_lost_to, "
						  "false, NULL::timestamptz, 0::bigint, NULL::timestamptz, 0::bigint, 0::bigint, 0::bigint, NULL::bigint "
						  "FROM continuous.checkpoint_view ORDER BY view_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.checkpoint_view");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple        tup = SPI_tuptable->vals[i];
		TupleDesc        desc = SPI_tuptable->tupdesc;
		CheckpointView  *cv = MemoryContextAllocZero(outer, sizeof(CheckpointView));
		StoreViewHeader *h = &cv->header;
		bool             isnull;
		Datum            d;

		cv->view_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		h->state = state_from_name(SPI_getvalue(tup, desc, 2));
		h->applied_lsn = get_lsn(tup, desc, 3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		h->applied_commit_time = isnull ? 0 : DatumGetTimestampTz(d);
		h->events_applied = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		h->next_group_id = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
		(void) SPI_getbinval(tup, desc, 7, &isnull);
		h->stale = !isnull;
		copy_text(tup, desc, 7, h->stale_reason);
		copy_text(tup, desc, 8, h->error);
		h->events_lost_from = get_lsn(tup, desc, 9);
		h->events_lost_to = get_lsn(tup, desc, 10);
		cv->state_restored = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
		d = SPI_getbinval(tup, desc, 12, &isnull);
		h->windows.has_watermark = !isnull;
		h->windows.watermark = isnull ? 0 : DatumGetTimestampTz(d);
		h->windows.closed_windows = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
		d = SPI_getbinval(tup, desc, 14, &isnull);
		h->windows.last_close_time = isnull ? 0 : DatumGetTimestampTz(d);
		h->windows.late_changes = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 15, &isnull));
		h->windows.late_captured = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 16, &isnull));
		h->windows.retained_rows = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 17, &isnull));
		d = SPI_getbinval(tup, desc, 18, &isnull);
		h->windows.any_closed = !isnull;
		h->windows.closed_before = isnull ? 0 : DatumGetInt64(d);
		{
			MemoryContext spicxt = MemoryContextSwitchTo(outer);

			result = lappend(result, cv);
			MemoryContextSwitchTo(spicxt);
		}
	}
	security_unpin_search_path(nest_level);
	SPI_finish();
	return result;
}

/*
 * Calls back with every checkpointed group of a view, a batch at a time, in
 * the caller's memory context; the tuple passed is freed after the call.
 */
void
checkpoint_read_groups(int32 view_id, CheckpointGroupCallback callback, void *arg)
{
	Portal        portal;
	Oid           argtypes[1] = {INT4OID};
	Datum         args[1] = {Int32GetDatum(view_id)};
	MemoryContext outer = CurrentMemoryContext;
	int           nest_level;

	SPI_connect();
	nest_level = security_pin_search_path();
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT group_id, state FROM continuous.checkpoint_group WHERE view_id = $1",
									   1, argtypes, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, CHECKPOINT_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple    tup = SPI_tuptable->vals[i];
			TupleDesc    desc = SPI_tuptable->tupdesc;
			bool         isnull;
			int64        group_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			bytea       *state = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
			Size         len = VARSIZE_ANY_EXHDR(state);
			MinimalTuple mt;

			/* A MinimalTuple must be aligned; the bytes in the datum are not. */
			mt = palloc(Max(len, sizeof(MinimalTupleData)));
			memcpy(mt, VARDATA_ANY(state), len);
			if (len < SizeofMinimalTupleHeader || mt->t_len != len)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("checkpointed group %lld of continuous view %d is malformed",
								(long long) group_id, view_id)));
			/* The callback keeps what it wants beyond SPI's memory. */
			{
				MemoryContext spicxt = MemoryContextSwitchTo(outer);

				callback(group_id, mt, arg);
				MemoryContextSwitchTo(spicxt);
			}
			pfree(mt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	security_unpin_search_path(nest_level);
	SPI_finish();
}

/* ----------------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------------
 */

/*
 * Starts the checkpoint's transaction.  Its changes carry the origin
 * DoNotReplicateId, which the decoder filters out: the worker never decodes
 * its own checkpoints.
 */
/* The nest level of the search_path pinned for the checkpoint's statements. */
static int checkpoint_nest_level;

void
checkpoint_begin(void)
{
	SetCurrentStatementStartTimestamp();
	pgstat_report_activity(STATE_RUNNING, "checkpoint");
	StartTransactionCommand();
	replorigin_session_origin = DoNotReplicateId;
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	checkpoint_nest_level = security_pin_search_path();
}

static Datum
lsn_or_null(XLogRecPtr lsn, char *null)
{
	*null = (lsn == InvalidXLogRecPtr) ? 'n' : ' ';
	return LSNGetDatum(lsn);
}

/*
 * Upserts the given groups, and deletes those whose tuple is NULL (empty
 * groups: their last source row was deleted).
 */
static void
write_groups(int32 view_id, const pg_uuid_t *view_key, int ngroups, int64 *group_ids,
			 MinimalTuple *tuples)
{
	Oid argtypes[4] = {INT4OID, INT8ARRAYOID, BYTEAARRAYOID, UUIDOID};

	for (int start = 0; start < ngroups; start += CHECKPOINT_BATCH_ROWS)
	{
		int    n = Min(CHECKPOINT_BATCH_ROWS, ngroups - start);
		Datum *ids = palloc(sizeof(Datum) * n);
		Datum *states = palloc(sizeof(Datum) * n);
		Datum *gone = palloc(sizeof(Datum) * n);
		int    nwritten = 0;
		int    ngone = 0;
		Datum  args[4];

		for (int i = 0; i < n; i++)
		{
			MinimalTuple mt = tuples[start + i];
			bytea       *b;

			if (mt == NULL)
			{
				gone[ngone++] = Int64GetDatum(group_ids[start + i]);
				continue;
			}
			b = palloc(VARHDRSZ + mt->t_len);
			SET_VARSIZE(b, VARHDRSZ + mt->t_len);
			memcpy(VARDATA(b), mt, mt->t_len);
			ids[nwritten] = Int64GetDatum(group_ids[start + i]);
			states[nwritten++] = PointerGetDatum(b);
		}
		args[0] = Int32GetDatum(view_id);
		args[3] = view_key ? UUIDPGetDatum(view_key) : (Datum) 0;
		if (nwritten > 0)
		{
			args[1] = PointerGetDatum(construct_array(ids, nwritten, INT8OID, 8, FLOAT8PASSBYVAL,
													  TYPALIGN_DOUBLE));
			args[2] = PointerGetDatum(construct_array(states, nwritten, BYTEAOID, -1, false,
													  TYPALIGN_INT));
			if (view_key)
				catalog_execute("INSERT INTO continuous.checkpoint_group (view_id, group_id, state, view_key) "
								"SELECT $1, g, s, $4 FROM unnest($2::bigint[], $3::bytea[]) AS u(g, s) "
								"ON CONFLICT (view_id, group_id) DO UPDATE SET state = excluded.state, "
								"view_key = excluded.view_key",
								4, argtypes, args, NULL, SPI_OK_INSERT);
			else
				catalog_execute("INSERT INTO continuous.checkpoint_group (view_id, group_id, state) "
								"SELECT $1, g, s FROM unnest($2::bigint[], $3::bytea[]) AS u(g, s) "
								"ON CONFLICT (view_id, group_id) DO UPDATE SET state = excluded.state",
								3, argtypes, args, NULL, SPI_OK_INSERT);
		}
		if (ngone > 0)
		{
			args[1] = PointerGetDatum(construct_array(gone, ngone, INT8OID, 8, FLOAT8PASSBYVAL,
													  TYPALIGN_DOUBLE));
			catalog_execute("DELETE FROM continuous.checkpoint_group "
							"WHERE view_id = $1 AND group_id = ANY ($2::bigint[])",
							2, argtypes, args, NULL, SPI_OK_DELETE);
		}
		for (int i = 0; i < nwritten; i++)
			pfree(DatumGetPointer(states[i]));
		pfree(ids);
		pfree(states);
		pfree(gone);
	}
}

/*
 * Records a view: its header, and the groups given (those changed since
 * the previous checkpoint).  groups_cleared: the view's groups were freed
 * since then, so its old rows go first.
 */
void
checkpoint_write_view(int32 view_id, const pg_uuid_t *view_key, const StoreViewHeader *h,
					  bool groups_cleared, int ngroups, int64 *group_ids, MinimalTuple *tuples)
{
	Oid   argtypes[10] = {INT4OID, TEXTOID, LSNOID, TIMESTAMPTZOID, INT8OID,
						  INT8OID, TEXTOID, TEXTOID, LSNOID, LSNOID};
	Datum args[10];
	char  nulls[11] = "          ";

	if (groups_cleared)
	{
		Oid   idtype[1] = {INT4OID};
		Datum id[1] = {Int32GetDatum(view_id)};

		catalog_execute("DELETE FROM continuous.checkpoint_group WHERE view_id = $1",
						1, idtype, id, NULL, SPI_OK_DELETE);
	}
	write_groups(view_id, view_key, ngroups, group_ids, tuples);

	args[0] = Int32GetDatum(view_id);
	args[1] = CStringGetTextDatum(state_name(h->state));
	args[2] = lsn_or_null(h->applied_lsn, &nulls[2]);
	args[3] = TimestampTzGetDatum(h->applied_commit_time);
	nulls[3] = h->applied_commit_time == 0 ? 'n' : ' ';
	args[4] = Int64GetDatum((int64) h->events_applied);
	args[5] = Int64GetDatum(h->next_group_id);
	args[6] = CStringGetTextDatum(h->stale_reason);
	nulls[6] = h->stale ? ' ' : 'n';
	args[7] = CStringGetTextDatum(h->error);
	nulls[7] = h->state == VIEW_FAILED ? ' ' : 'n';
	args[8] = lsn_or_null(h->events_lost_from, &nulls[8]);
	args[9] = lsn_or_null(h->events_lost_to, &nulls[9]);
	catalog_execute("INSERT INTO continuous.checkpoint_view AS v VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
					"ON CONFLICT (view_id) DO UPDATE SET state = excluded.state, "
					"applied_lsn = excluded.applied_lsn, applied_commit_time = excluded.applied_commit_time, "
					"events_applied = excluded.events_applied, next_group_id = excluded.next_group_id, "
					"stale_reason = excluded.stale_reason, error = excluded.error, "
					"events_lost_from = excluded.events_lost_from, events_lost_to = excluded.events_lost_to",
					10, argtypes, args, nulls, SPI_OK_INSERT);
}

/* Removes a dropped view from the checkpoint. */
void
checkpoint_forget_view(int32 view_id)
{
	Oid   argtypes[1] = {INT4OID};
	Datum args[1] = {Int32GetDatum(view_id)};

	catalog_execute("DELETE FROM continuous.checkpoint_group WHERE view_id = $1",
					1, argtypes, args, NULL, SPI_OK_DELETE);
	catalog_execute("DELETE FROM continuous.checkpoint_view WHERE view_id = $1",
					1, argtypes, args, NULL, SPI_OK_DELETE);
}

/*
 * Records the LSN and commits.  The commit is flushed whatever
 * synchronous_commit says: the slot is confirmed to this LSN next, and must
 * never get ahead of a checkpoint that a crash could lose.
 */
void
checkpoint_end(XLogRecPtr lsn, TimestampTz taken_at)
{
	Oid   argtypes[3] = {INT4OID, LSNOID, TIMESTAMPTZOID};
	Datum args[3];

	args[0] = Int32GetDatum(CHECKPOINT_FORMAT_VERSION);
	args[1] = LSNGetDatum(lsn);
	args[2] = TimestampTzGetDatum(taken_at);
	catalog_execute("INSERT INTO continuous.checkpoint (format_version, lsn, taken_at) VALUES ($1, $2, $3) "
					"ON CONFLICT (onerow) DO UPDATE SET format_version = excluded.format_version, "
					"lsn = excluded.lsn, taken_at = excluded.taken_at",
					3, argtypes, args, NULL, SPI_OK_INSERT);
	if (continuous_debug_checkpoint_delay_ms > 0)
		pg_usleep((long) continuous_debug_checkpoint_delay_ms * 1000L);
	security_unpin_search_path(checkpoint_nest_level);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	replorigin_session_origin = InvalidRepOriginId;
	XLogFlush(XactLastCommitEnd);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* ----------------------------------------------------------------------
 * Checkpoints of the registered views: writing them, and starting from one
 * ----------------------------------------------------------------------
 */

/*
 * A group row of a view over a table as a checkpoint stores it: each run
 * list of kept inputs replaced by the stored multiset of its runs.  Called
 * holding the view's lock; the copy is in the current memory context.
 */
static MinimalTuple
checkpoint_row(MinimalTuple row, void *arg)
{
	CompiledView *cv = arg;
	int           natts = cv->groupdesc->natts;
	Datum        *values = palloc(sizeof(Datum) * natts);
	bool         *nulls = palloc(sizeof(bool) * natts);
	MinimalTuple  result;

	compile_deform_group(cv, row, values, nulls);
	for (int a = 0; a < cv->naggs; a++)
	{
		int att = COMPILE_INPUTS_ATT(cv, a);

		if (!nulls[att])
			values[att] = PointerGetDatum(kept_inputs_export(DatumGetByteaPP(values[att])));
	}
	result = heap_form_minimal_tuple(cv->groupdesc, values, nulls);
	pfree(values);
	pfree(nulls);
	return result;
}

/*
 * The rows a restore put in continuous.restored_group for a view were
 * dealt with (restore.c): they go in the checkpoint's transaction, which
 * also records that the view holds a restored checkpoint, so that a crash
 * either keeps both the rows and the state before them, or neither.
 */
static void
forget_restored(ApplyView *av)
{
	Oid   argtypes[3] = {UUIDOID, INT4OID, BOOLOID};
	Datum args[3] = {UUIDPGetDatum(&av->view_key), Int32GetDatum(av->view_id),
					 BoolGetDatum(av->state_restored)};

	catalog_execute("DELETE FROM continuous.restored_group WHERE view_key = $1",
					1, argtypes, args, NULL, SPI_OK_DELETE);
	catalog_execute("UPDATE continuous.checkpoint_view SET restored_at = now() "
					"WHERE view_id = $2 AND $3 AND restored_at IS NULL",
					3, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * Writes a checkpoint reflecting every commit before lsn (the caller has
 * merged every delta up to there), in one transaction.  Per view it writes
 * the groups changed since the previous checkpoint; after the commit their
 * dirty flags are cleared.
 */
void
checkpoint_take(XLogRecPtr lsn)
{
	typedef struct Written
	{
		ApplyView   *av;
		dsa_pointer *groups;
		int          ngroups;
	} Written;
	List         *views = registry_views();
	Written      *written = palloc0(sizeof(Written) * Max(list_length(views), 1));
	int           nwritten = 0;
	ListCell     *lc;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "continuous checkpoint",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	TimestampTz   now = GetCurrentTimestamp();
	bool          keyed;

	Assert(registry_is_worker() && !IsTransactionState());

	checkpoint_begin();
	keyed = catalog_has_view_keys(); /* 1.1's tables (see catalog.c) */
	foreach(lc, registry_forgotten_views())
		checkpoint_forget_view(lfirst_int(lc));
	foreach(lc, views)
	{
		ApplyView      *av = lfirst(lc);
		StoreViewHeader header;
		HASH_SEQ_STATUS seq;
		dsa_pointer    *dp;
		dsa_pointer    *groups;
		int64          *ids;
		MinimalTuple   *tuples;
		int             n = 0;
		bool            cleared = false;

		if (keyed && memcmp(av->view_key.data, (char[UUID_LEN]){0}, UUID_LEN) == 0)
		{
			/* Registered before ALTER EXTENSION ... UPDATE gave views keys. */
			CatalogRow row;

			if (catalog_lookup(av->view_id, &row))
				av->view_key = row.view_key;
		}
		if (av->shared == NULL)
		{
			/* No room in shared memory yet: the view is known, and empty. */
			memset(&header, 0, sizeof(header));
			header.state = av->is_table ? VIEW_INITIALIZING : VIEW_READY;
			checkpoint_write_view(av->view_id, keyed ? &av->view_key : NULL, &header, true, 0, NULL, NULL);
			continue;
		}
		old = MemoryContextSwitchTo(cxt);
		/* Captured late changes first: storing them may fail the view. */
		closing_checkpoint_view(av);
		groups = MemoryContextAlloc(registry_context(), sizeof(dsa_pointer) * Max(hash_get_num_entries(av->dirty), 1));
		hash_seq_init(&seq, av->dirty);
		while ((dp = hash_seq_search(&seq)) != NULL)
			groups[n++] = *dp;
		/* Closed windows are in history, not in the checkpoint. */
		if (av->shared->windows.any_closed)
			n = store_view_drop_closed(av->shared, groups, n, av->shared->windows.closed_before);
		ids = palloc(sizeof(int64) * Max(n, 1));
		tuples = palloc(sizeof(MinimalTuple) * Max(n, 1));
		store_view_get_header(av->shared, &header);
		if (store_view_copy_groups(av->shared, groups, n, ids, tuples, &cleared,
								   av->cv && av->cv->retractable ? checkpoint_row : NULL, av->cv))
		{
			checkpoint_write_view(av->view_id, keyed ? &av->view_key : NULL, &header, cleared, n, ids,
								  tuples);
			closing_checkpoint_record(av);
			written[nwritten].av = av;
			written[nwritten].groups = groups;
			written[nwritten].ngroups = n;
			nwritten++;
		}
		else
			pfree(groups); /* dropped: its rows go when the drop is decoded */
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
		if (av->restore_consumed && keyed)
			forget_restored(av);
	}
	/* Restored rows of views that no longer exist. */
	if (keyed)
		catalog_execute("DELETE FROM continuous.restored_group r WHERE NOT EXISTS "
						"(SELECT FROM continuous.view_catalog c WHERE c.view_key = r.view_key)",
						0, NULL, NULL, NULL, SPI_OK_DELETE);
	checkpoint_end(lsn, now);
	closing_commit_done();

	foreach(lc, views)
		((ApplyView *) lfirst(lc))->restore_consumed = false;
	for (int i = 0; i < nwritten; i++)
	{
		ApplyView *av = written[i].av;

		store_view_clear_dirty(av->shared, written[i].groups, written[i].ngroups);
		registry_reset_dirty(av);
		pfree(written[i].groups);
	}
	registry_clear_forgotten();
	store_db_set_checkpoint(registry_db(), lsn, now);
	MemoryContextDelete(cxt);
	pfree(written);
}

typedef struct LoadArg
{
	ApplyView   *av;
	StoreChange *changes;
	int          nchanges;
	int          capacity;
	Datum       *values;
	bool        *nulls;
	KeptBlobs    blobs; /* runs made of checkpointed kept inputs */
} LoadArg;

static void
load_error_full(ApplyView *av)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("shared memory for continuous views is too small to load the checkpoint of continuous view \"%s\"",
					av->name),
			 errhint("Raise continuous.shared_memory (now %d kB) and restart the server.",
					 continuous_shared_memory_kb)));
}

static void
load_group(int64 group_id, MinimalTuple tuple, void *arg)
{
	LoadArg      *la = arg;
	CompiledView *cv = la->av->cv;
	StoreChange  *c;

	if (tuple->t_len < SizeofMinimalTupleHeader ||
		HeapTupleHeaderGetNatts((HeapTupleHeader) ((char *) tuple - MINIMAL_TUPLE_OFFSET)) != cv->groupdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checkpointed group %lld of continuous view \"%s\" does not match its definition",
						(long long) group_id, la->av->name)));
	compile_deform_group(cv, tuple, la->values, la->nulls);

	if (la->nchanges == la->capacity)
	{
		la->capacity *= 2;
		la->changes = repalloc_huge(la->changes, sizeof(StoreChange) * la->capacity);
	}
	c = &la->changes[la->nchanges++];
	memset(c, 0, sizeof(StoreChange));
	c->old_group = InvalidDsaPointer;
	c->hash = compile_hash_key(cv, NULL, la->values, la->nulls);
	c->has_window = cv->window_key >= 0 && !la->nulls[cv->window_key];
	c->window_start = c->has_window ? DatumGetInt64(la->values[cv->window_key]) : 0;
	c->group_id = group_id;
	if (cv->retractable)
	{
		/* Kept inputs go back into shared memory as one run each. */
		for (int a = 0; a < cv->naggs; a++)
		{
			int    att = COMPILE_INPUTS_ATT(cv, a);
			bytea *runlist;

			if (la->nulls[att])
				continue;
			if (!kept_inputs_import(DatumGetByteaPP(la->values[att]), &la->blobs, &runlist))
				load_error_full(la->av); /* load_view gives the blobs back */
			la->values[att] = PointerGetDatum(runlist);
		}
		c->new_tuple = heap_form_minimal_tuple(cv->groupdesc, la->values, la->nulls);
	}
	else
	{
		c->new_tuple = palloc(tuple->t_len);
		memcpy(c->new_tuple, tuple, tuple->t_len);
	}
}

/* Puts a checkpointed view's groups and header back into shared memory. */
static void
load_view(ApplyView *av, const StoreViewHeader *header)
{
	LoadArg       la;
	StoreBatch    batch;
	MemoryContext old = MemoryContextSwitchTo(merge_context());
	bool          ok;

	memset(&la, 0, sizeof(la));
	la.av = av;
	la.capacity = 1024;
	la.changes = palloc(sizeof(StoreChange) * la.capacity);
	la.values = palloc(sizeof(Datum) * av->cv->groupdesc->natts);
	la.nulls = palloc(sizeof(bool) * av->cv->groupdesc->natts);
	kept_blobs_init(&la.blobs, merge_context());
	memset(&batch, 0, sizeof(batch));
	PG_TRY();
	{
		if (header->state != VIEW_FAILED)
			checkpoint_read_groups(av->view_id, load_group, &la);
		batch.changes = la.changes;
		batch.nchanges = la.nchanges;
		batch.clear_first = true;
		batch.from_checkpoint = true;
		batch.new_blobs = la.blobs.new_blobs;
		batch.nnew_blobs = la.blobs.nnew;
		LWLockAcquire(&av->shared->lock, LW_SHARED);
		ok = store_prepare_changes(av->shared, &batch);
		/* The batch owns the blobs now (a failed prepare gave them back). */
		la.blobs.nnew = 0;
		LWLockRelease(&av->shared->lock);
	}
	PG_CATCH();
	{
		kept_blobs_discard(&la.blobs);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!ok)
		load_error_full(av);
	(void) store_publish_changes(av->shared, &batch);
	store_view_set_header(av->shared, header);
	/* Loaded groups are as checkpointed: the view has nothing to rewrite. */
	store_view_clear_dirty(av->shared, NULL, 0);
	MemoryContextSwitchTo(old);
	MemoryContextReset(merge_context());
	ereport(DEBUG1, (errmsg("pg_continuous: loaded %d groups of continuous view \"%s\"",
							la.nchanges, av->name)));
}

/*
 * Puts the groups of a checkpoint restored from a dump (restore.c; states
 * are the group rows as checkpoint_group holds them) into the empty view
 * av.  They get new group ids and are written by the next checkpoint.
 * Returns false, changing nothing, when they do not fit in shared memory
 * or do not match the view's definition.
 */
bool
checkpoint_load_restored(ApplyView *av, List *states)
{
	LoadArg       la;
	StoreBatch    batch;
	MemoryContext old = MemoryContextSwitchTo(merge_context());
	bool          ok = false;
	ListCell     *lc;

	Assert(registry_is_worker() && av->cv != NULL && av->shared != NULL);
	memset(&la, 0, sizeof(la));
	la.av = av;
	la.capacity = Max(list_length(states), 1);
	la.changes = palloc(sizeof(StoreChange) * la.capacity);
	la.values = palloc(sizeof(Datum) * av->cv->groupdesc->natts);
	la.nulls = palloc(sizeof(bool) * av->cv->groupdesc->natts);
	kept_blobs_init(&la.blobs, merge_context());
	memset(&batch, 0, sizeof(batch));
	PG_TRY();
	{
		foreach(lc, states)
		{
			bytea       *state = lfirst(lc);
			uint32       len = VARSIZE_ANY_EXHDR(state);
			MinimalTuple tuple = palloc(Max(len, SizeofMinimalTupleHeader));

			/* An aligned copy of a row whose length is its own. */
			memcpy(tuple, VARDATA_ANY(state), len);
			if (len < SizeofMinimalTupleHeader || tuple->t_len != len ||
				tuple->t_hoff < SizeofHeapTupleHeader || tuple->t_hoff > len + MINIMAL_TUPLE_OFFSET)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("a restored checkpoint row of continuous view \"%s\" is not a group row",
								av->name)));
			load_group(0, tuple, &la);
			pfree(tuple);
		}
		batch.changes = la.changes;
		batch.nchanges = la.nchanges;
		batch.new_blobs = la.blobs.new_blobs;
		batch.nnew_blobs = la.blobs.nnew;
		LWLockAcquire(&av->shared->lock, LW_SHARED);
		ok = store_prepare_changes(av->shared, &batch);
		la.blobs.nnew = 0;
		LWLockRelease(&av->shared->lock);
	}
	PG_CATCH();
	{
		ErrorData *edata;

		/* A row that does not match the definition: refused, not fatal. */
		MemoryContextSwitchTo(merge_context());
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED && edata->sqlerrcode != ERRCODE_OUT_OF_MEMORY)
			PG_RE_THROW();
		FlushErrorState();
		kept_blobs_discard(&la.blobs);
		ok = false;
	}
	PG_END_TRY();
	if (ok)
	{
		(void) store_publish_changes(av->shared, &batch);
		merge_note_dirty_groups(av, &batch);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(merge_context());
	return ok;
}

static CheckpointView *
find_checkpointed(List *views, int32 view_id)
{
	ListCell *lc;

	foreach(lc, views)
	{
		CheckpointView *cv = lfirst(lc);

		if (cv->view_id == view_id)
			return cv;
	}
	return NULL;
}

/*
 * Registers the views a worker starts with, inside a transaction, before
 * decoding.  Views in the checkpoint get their state back (from shared
 * memory when it outlived the previous worker, else from the checkpoint)
 * and skip every commit the checkpoint reflects.  Views created after the
 * checkpoint are left to the decoding of their creation, unless the slot
 * lost WAL (gap): then every view is registered now, views over tables are
 * backfilled again and views over streams record the events they lost, the
 * commits before gap_to being gone.
 */
void
checkpoint_restore(const CheckpointInfo *ckpt, bool shared_loaded, bool gap, XLogRecPtr gap_to)
{
	List     *checkpointed = ckpt->exists ? checkpoint_read_views() : NIL;
	int       nviews = 0;
	uint64    ngroups = 0;
	ListCell *lc;

	Assert(registry_is_worker() && !registry_has_views());
	/* Definitions compile in the session's search_path (SQL function bodies). */
	foreach(lc, catalog_read_views())
	{
		CatalogRow     *row = lfirst(lc);
		CheckpointView *cpv = find_checkpointed(checkpointed, row->id);
		ApplyView      *av;

		if (cpv == NULL && !gap)
			continue; /* created after the checkpoint: decoded later */
		av = registry_register_view(row);
		if (av->shared == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("shared memory for continuous views is full"),
					 errhint("Raise continuous.shared_memory (now %d kB) and restart the server.",
							 continuous_shared_memory_kb)));
		if (cpv && !shared_loaded && av->cv == NULL)
		{
			/* Failed, not compiled: keep the checkpoint's failure, if it has one. */
			if (cpv->header.state == VIEW_FAILED)
				store_view_set_header(av->shared, &cpv->header);
		}
		else if (cpv && (!shared_loaded || (av->cv && av->shared->captures_pending)))
		{
			/*
			 * Also when the last worker died holding late changes it had
			 * captured but not stored: the view starts again from its
			 * checkpoint, and the replay captures them again.
			 */
			av->shared->captures_pending = false;
			/* The groups the registry found dirty are freed by the load. */
			registry_reset_dirty(av);
			av->state_restored = av->shared->state_restored = false;
			load_view(av, &cpv->header);
			av->disabled = cpv->header.state == VIEW_FAILED;
			av->initializing = cpv->header.state == VIEW_INITIALIZING;
			av->reset_pending = av->initializing;
			av->skip_until = cpv->header.applied_lsn;
			ngroups += av->shared->ngroups;
		}
		if (cpv && cpv->state_restored)
		{
			av->state_restored = true;
			if (av->shared)
				av->shared->state_restored = true;
		}
		if (ckpt->exists)
			av->skip_until = Max(av->skip_until, ckpt->lsn);
		if (gap && !av->disabled)
		{
			if (av->is_table)
			{
				av->initializing = true;
				av->reset_pending = true;
				store_view_begin_initializing(av->shared, 0);
			}
			else
				store_view_mark_lost(av->shared, ckpt->exists ? ckpt->lsn : InvalidXLogRecPtr, gap_to);
			av->skip_until = Max(av->skip_until, gap_to);
		}
		nviews++;
	}

	/* Views dropped since the checkpoint leave it at the next one. */
	foreach(lc, checkpointed)
	{
		CheckpointView *cpv = lfirst(lc);

		if (registry_find_view(cpv->view_id) == NULL)
			registry_forget_view(cpv->view_id);
	}
	if (ckpt->exists)
		ereport(LOG,
				(errmsg("pg_continuous: loaded checkpoint at %X/%X (%d views, " UINT64_FORMAT " groups%s)",
						LSN_FORMAT_ARGS(ckpt->lsn), nviews, ngroups,
						shared_loaded ? ", state kept in shared memory" : "")));
}
