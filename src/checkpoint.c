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
 * origin (see decoder.c) so that decoding skips them.  This module only
 * reads and writes the tables; decoder.c decides what to write and when,
 * and worker.c confirms the slot after the commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

#include "checkpoint.h"
#include "pg_continuous.h"

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
	bool		isnull;
	int			nest_level;

	memset(info, 0, sizeof(CheckpointInfo));
	SPI_connect();
	nest_level = continuous_pin_search_path();
	if (SPI_execute("SELECT format_version, lsn, taken_at FROM continuous.checkpoint", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.checkpoint");
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int32		version = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));

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
	continuous_unpin_search_path(nest_level);
	SPI_finish();
}

static void
copy_text(HeapTuple tup, TupleDesc desc, int col, char *dest)
{
	char	   *value = SPI_getvalue(tup, desc, col);

	strlcpy(dest, value ? value : "", STORE_MESSAGE_LEN);
}

static XLogRecPtr
get_lsn(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
}

/* The checkpointed views, as a List of CheckpointView. */
List *
checkpoint_read_views(void)
{
	List	   *result = NIL;
	MemoryContext outer = CurrentMemoryContext;
	int			nest_level;

	SPI_connect();
	nest_level = continuous_pin_search_path();
	if (SPI_execute("SELECT view_id, state, applied_lsn, applied_commit_time, events_applied, "
					"next_group_id, stale_reason, error, events_lost_from, events_lost_to "
					"FROM continuous.checkpoint_view ORDER BY view_id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.checkpoint_view");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CheckpointView *cv = MemoryContextAllocZero(outer, sizeof(CheckpointView));
		StoreViewHeader *h = &cv->header;
		bool		isnull;
		Datum		d;

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
		{
			MemoryContext spicxt = MemoryContextSwitchTo(outer);

			result = lappend(result, cv);
			MemoryContextSwitchTo(spicxt);
		}
	}
	continuous_unpin_search_path(nest_level);
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
	Portal		portal;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(view_id)};
	MemoryContext outer = CurrentMemoryContext;
	int			nest_level;

	SPI_connect();
	nest_level = continuous_pin_search_path();
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
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		group_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			bytea	   *state = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
			Size		len = VARSIZE_ANY_EXHDR(state);
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
	continuous_unpin_search_path(nest_level);
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
static int	checkpoint_nest_level;

void
checkpoint_begin(void)
{
	SetCurrentStatementStartTimestamp();
	pgstat_report_activity(STATE_RUNNING, "checkpoint");
	StartTransactionCommand();
	replorigin_session_origin = DoNotReplicateId;
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	checkpoint_nest_level = continuous_pin_search_path();
}

static void
exec_or_fail(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "checkpoint statement failed (%s): %s", SPI_result_code_string(rc), sql);
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
write_groups(int32 view_id, int ngroups, int64 *group_ids, MinimalTuple *tuples)
{
	Oid			argtypes[3] = {INT4OID, INT8ARRAYOID, BYTEAARRAYOID};

	for (int start = 0; start < ngroups; start += CHECKPOINT_BATCH_ROWS)
	{
		int			n = Min(CHECKPOINT_BATCH_ROWS, ngroups - start);
		Datum	   *ids = palloc(sizeof(Datum) * n);
		Datum	   *states = palloc(sizeof(Datum) * n);
		Datum	   *gone = palloc(sizeof(Datum) * n);
		int			nwritten = 0;
		int			ngone = 0;
		Datum		args[3];

		for (int i = 0; i < n; i++)
		{
			MinimalTuple mt = tuples[start + i];
			bytea	   *b;

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
		if (nwritten > 0)
		{
			args[1] = PointerGetDatum(construct_array(ids, nwritten, INT8OID, 8, FLOAT8PASSBYVAL,
													  TYPALIGN_DOUBLE));
			args[2] = PointerGetDatum(construct_array(states, nwritten, BYTEAOID, -1, false,
													  TYPALIGN_INT));
			exec_or_fail("INSERT INTO continuous.checkpoint_group (view_id, group_id, state) "
						 "SELECT $1, g, s FROM unnest($2::bigint[], $3::bytea[]) AS u(g, s) "
						 "ON CONFLICT (view_id, group_id) DO UPDATE SET state = excluded.state",
						 3, argtypes, args, NULL, SPI_OK_INSERT);
		}
		if (ngone > 0)
		{
			args[1] = PointerGetDatum(construct_array(gone, ngone, INT8OID, 8, FLOAT8PASSBYVAL,
													  TYPALIGN_DOUBLE));
			exec_or_fail("DELETE FROM continuous.checkpoint_group "
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
checkpoint_write_view(int32 view_id, const StoreViewHeader *h, bool groups_cleared,
					  int ngroups, int64 *group_ids, MinimalTuple *tuples)
{
	Oid			argtypes[10] = {INT4OID, TEXTOID, LSNOID, TIMESTAMPTZOID, INT8OID,
	INT8OID, TEXTOID, TEXTOID, LSNOID, LSNOID};
	Datum		args[10];
	char		nulls[11] = "          ";

	if (groups_cleared)
	{
		Oid			idtype[1] = {INT4OID};
		Datum		id[1] = {Int32GetDatum(view_id)};

		exec_or_fail("DELETE FROM continuous.checkpoint_group WHERE view_id = $1",
					 1, idtype, id, NULL, SPI_OK_DELETE);
	}
	write_groups(view_id, ngroups, group_ids, tuples);

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
	exec_or_fail("INSERT INTO continuous.checkpoint_view AS v VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
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
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(view_id)};

	exec_or_fail("DELETE FROM continuous.checkpoint_group WHERE view_id = $1",
				 1, argtypes, args, NULL, SPI_OK_DELETE);
	exec_or_fail("DELETE FROM continuous.checkpoint_view WHERE view_id = $1",
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
	Oid			argtypes[3] = {INT4OID, LSNOID, TIMESTAMPTZOID};
	Datum		args[3];

	args[0] = Int32GetDatum(CHECKPOINT_FORMAT_VERSION);
	args[1] = LSNGetDatum(lsn);
	args[2] = TimestampTzGetDatum(taken_at);
	exec_or_fail("INSERT INTO continuous.checkpoint (format_version, lsn, taken_at) VALUES ($1, $2, $3) "
				 "ON CONFLICT (onerow) DO UPDATE SET format_version = excluded.format_version, "
				 "lsn = excluded.lsn, taken_at = excluded.taken_at",
				 3, argtypes, args, NULL, SPI_OK_INSERT);
	if (continuous_debug_checkpoint_delay_ms > 0)
		pg_usleep((long) continuous_debug_checkpoint_delay_ms * 1000L);
	continuous_unpin_search_path(checkpoint_nest_level);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	replorigin_session_origin = InvalidRepOriginId;
	XLogFlush(XactLastCommitEnd);
	pgstat_report_activity(STATE_IDLE, NULL);
}
