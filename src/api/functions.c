/*-------------------------------------------------------------------------
 * functions.c
 *	  SQL-callable functions other than DDL and read_view (reader.c), each
 *	  a thin wrapper: sync, checkpoint, the state functions behind continuous.views,
 *	  continuous.stats and continuous.worker_stats, and the integer overload
 *	  of continuous.tumble().
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "common/int.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/message.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "base/continuous.h"
#include "base/security.h"
#include "read/reader.h"
#include "store/store.h"
#include "worker/registry.h"
#include "worker/worker.h"

/* ----------------------------------------------------------------------
 * sync
 * ----------------------------------------------------------------------
 */

/* The deadline timeout (an interval argument) from now. */
static TimestampTz
deadline_after(Interval *timeout)
{
	int64 timeout_ms = (int64) (timeout->time / 1000) + (int64) timeout->day * 86400000 +
					   (int64) timeout->month * 30 * 86400000LL;

	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
}

/* Sleeps a little, waking the worker first. */
static void
nudge_worker_and_wait(void)
{
	store_wake_worker(MyDatabaseId);
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Waits until the worker has applied every commit before this call (fn
 * names the SQL function, for errors); returns the position it waited for.
 */
static XLogRecPtr
wait_until_applied(TimestampTz deadline, const char *fn)
{
	XLogRecPtr target;
	StoreDb    status;

	/*
	 * Every commit before this call ends before this record.  The message is
	 * not transactional and needs no xid; flushing it makes the worker able
	 * to read up to it.
	 */
	target = LogLogicalMessage(CONTINUOUS_SYNC_PREFIX, "", 0, false);
	XLogFlush(target);

	for (;;)
	{
		bool known = store_db_get_status(MyDatabaseId, &status);

		if (known && status.worker_pid != 0 && status.applied_lsn >= target)
			return target;
		if (GetCurrentTimestamp() >= deadline)
		{
			if (!known || status.worker_pid == 0)
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("%s timed out: no pg_continuous worker is running for this database", fn),
						 errhint("Check the server log; the worker is started by CREATE EXTENSION pg_continuous and at server start.")));
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("%s timed out with the worker %lld bytes behind", fn,
							(long long) (target - Min(target, status.applied_lsn))),
					 errdetail("Applied up to %X/%X, waiting for %X/%X.%s%s",
							   LSN_FORMAT_ARGS(status.applied_lsn), LSN_FORMAT_ARGS(target),
							   status.error[0] ? " The worker is paused: " : "", status.error),
					 errhint("Call %s with a longer timeout, or see continuous.stats.", fn)));
		}
		nudge_worker_and_wait();
	}
}

CONTINUOUS_SQL_FUNCTION(continuous_sync);
Datum
continuous_sync(PG_FUNCTION_ARGS)
{
	(void) wait_until_applied(deadline_after(PG_GETARG_INTERVAL_P(0)), "continuous.sync()");
	PG_RETURN_VOID();
}

/*
 * continuous.checkpoint(timeout): waits until the worker has applied every
 * commit before the call and written a checkpoint of them; returns the
 * checkpoint's position, or NULL when the database has no views.  A dump then holds the views over streams as they
 * are now (their checkpoint is what pg_dump saves of them).
 */
CONTINUOUS_SQL_FUNCTION(continuous_checkpoint);
Datum
continuous_checkpoint(PG_FUNCTION_ARGS)
{
	TimestampTz deadline = deadline_after(PG_GETARG_INTERVAL_P(0));
	XLogRecPtr  target = wait_until_applied(deadline, "continuous.checkpoint()");
	StoreDb     status;

	store_db_request_checkpoint(MyDatabaseId, target);
	for (;;)
	{
		if (store_db_get_status(MyDatabaseId, &status) && status.checkpoint_answered >= target)
		{
			/* Without views the worker has nothing to checkpoint, and answers at once. */
			if (status.checkpoint_lsn < target)
				PG_RETURN_NULL();
			PG_RETURN_LSN(status.checkpoint_lsn);
		}
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("continuous.checkpoint() timed out waiting for the worker to write a checkpoint"),
					 errdetail("The last checkpoint is at %X/%X; one at %X/%X or later was asked for.",
							   LSN_FORMAT_ARGS(status.checkpoint_lsn), LSN_FORMAT_ARGS(target)),
					 errhint("Call continuous.checkpoint() with a longer timeout, or see continuous.worker_stats.")));
		nudge_worker_and_wait();
	}
}

/*
 * continuous._divert_restored_group(): BEFORE INSERT trigger of
 * continuous.checkpoint_group.  Only the worker writes its checkpoints; a
 * row anyone else inserts is a restored dump's (pg_dump saves the table,
 * an extension configuration table), which goes to
 * continuous.restored_group for the worker to load (worker/restore.c).
 */
CONTINUOUS_SQL_FUNCTION(continuous_divert_restored_group);
Datum
continuous_divert_restored_group(PG_FUNCTION_ARGS)
{
	TriggerData  *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc     desc;
	HeapTuple     tuple;
	bool          keynull;
	bool          statenull;
	Datum         args[2];
	Oid           argtypes[2] = {UUIDOID, BYTEAOID};
	SavedIdentity saved;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("continuous._divert_restored_group() must be a BEFORE INSERT row trigger")));
	tuple = trigdata->tg_trigtuple;
	if (registry_is_worker())
		return PointerGetDatum(tuple);

	desc = RelationGetDescr(trigdata->tg_relation);
	args[0] = heap_getattr(tuple, SPI_fnumber(desc, "view_key"), desc, &keynull);
	args[1] = heap_getattr(tuple, SPI_fnumber(desc, "state"), desc, &statenull);
	if (keynull || statenull)
		return PointerGetDatum(NULL); /* a 1.0 checkpoint's row: no view has its key */
	security_run_as_catalog_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO continuous.restored_group (view_key, state) VALUES ($1, $2)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not keep a restored checkpoint row");
	SPI_finish();
	security_restore(&saved);
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------------
 * State functions behind continuous.views and continuous.stats
 * ----------------------------------------------------------------------
 */

CONTINUOUS_SQL_FUNCTION(continuous_view_state);
Datum
continuous_view_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List          *statuses;
	ListCell      *lc;

	InitMaterializedSRF(fcinfo, 0);
	statuses = store_view_statuses(MyDatabaseId, reader_sees_closed);
	foreach(lc, statuses)
	{
		StoreViewStatus *s = lfirst(lc);
		Datum            values[13];
		bool             nulls[13] = {0};
		const char      *state;

		switch (s->state)
		{
			case VIEW_INITIALIZING:
				state = "initializing";
				break;
			case VIEW_FAILED:
				state = "failed";
				break;
			default:
				state = s->stale ? "stale" : "ready";
				break;
		}
		values[0] = Int32GetDatum(s->view_id);
		values[1] = CStringGetTextDatum(state);
		values[2] = Int64GetDatum((int64) s->ngroups);
		values[3] = Int64GetDatum((int64) s->memory_bytes);
		values[4] = LSNGetDatum(s->applied_lsn);
		nulls[4] = (s->applied_lsn == InvalidXLogRecPtr);
		values[5] = TimestampTzGetDatum(s->applied_commit_time);
		nulls[5] = (s->applied_commit_time == 0);
		values[6] = Int64GetDatum((int64) s->events_applied);
		values[7] = CStringGetTextDatum(s->stale_reason);
		nulls[7] = !s->stale;
		values[8] = CStringGetTextDatum(s->error);
		nulls[8] = s->state != VIEW_FAILED;
		values[9] = Int64GetDatum((int64) s->backfill_rows_scanned);
		values[10] = Int64GetDatum((int64) s->backfill_rows_estimated);
		nulls[9] = nulls[10] = s->state != VIEW_INITIALIZING;
		values[11] = LSNGetDatum(s->events_lost_from);
		nulls[11] = s->events_lost_from == InvalidXLogRecPtr;
		values[12] = LSNGetDatum(s->events_lost_to);
		nulls[12] = s->events_lost_to == InvalidXLogRecPtr;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* continuous._view_windows(): the views whose windows close. */
CONTINUOUS_SQL_FUNCTION(continuous_view_windows);
Datum
continuous_view_windows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell      *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, store_view_statuses(MyDatabaseId, reader_sees_closed))
	{
		StoreViewStatus *s = lfirst(lc);
		Datum            values[8];
		bool             nulls[8] = {0};

		if (!s->closes)
			continue;
		values[0] = Int32GetDatum(s->view_id);
		values[1] = TimestampTzGetDatum(s->windows.watermark);
		nulls[1] = !s->windows.has_watermark;
		values[2] = Int64GetDatum((int64) s->open_windows);
		values[3] = Int64GetDatum((int64) s->windows.closed_windows);
		values[4] = Int64GetDatum((int64) s->windows.late_changes);
		values[5] = Int64GetDatum((int64) s->windows.late_captured);
		values[6] = TimestampTzGetDatum(s->windows.last_close_time);
		nulls[6] = s->windows.last_close_time == 0;
		values[7] = Int64GetDatum((int64) s->windows.retained_rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

CONTINUOUS_SQL_FUNCTION(continuous_worker_state);
Datum
continuous_worker_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StoreDb        status;
	Datum          values[12];
	bool           nulls[12] = {0};
	char           slotname[NAMEDATALEN];
	char           problem[STORE_MESSAGE_LEN];

	InitMaterializedSRF(fcinfo, 0);
	if (!store_db_get_status(MyDatabaseId, &status))
		memset(&status, 0, sizeof(status));
	worker_slot_name(MyDatabaseId, slotname);
	values[0] = Int32GetDatum(status.worker_pid);
	nulls[0] = (status.worker_pid == 0);
	values[1] = CStringGetTextDatum(slotname);
	values[2] = LSNGetDatum(status.applied_lsn);
	nulls[2] = (status.applied_lsn == InvalidXLogRecPtr);
	values[3] = TimestampTzGetDatum(status.applied_commit_time);
	nulls[3] = (status.applied_commit_time == 0);
	values[4] = Int64GetDatum((int64) store_db_memory_used(MyDatabaseId));
	values[5] = Int64GetDatum((int64) store_memory_limit());
	/* Why the worker does not apply changes, if it does not (1.1). */
	nulls[6] = !worker_problem(MyDatabaseId, problem);
	values[6] = CStringGetTextDatum(problem);
	values[7] = LSNGetDatum(status.checkpoint_lsn);
	nulls[7] = (status.checkpoint_lsn == InvalidXLogRecPtr);
	values[8] = TimestampTzGetDatum(status.checkpoint_time);
	nulls[8] = (status.checkpoint_time == 0);
	/* Columns 10 to 12 exist from 1.1 on; 1.0's definition ignores them. */
	values[9] = CStringGetTextDatum(status.last_failure);
	nulls[9] = (status.last_failure[0] == '\0');
	values[10] = TimestampTzGetDatum(status.last_failure_time);
	nulls[10] = (status.last_failure_time == 0);
	values[11] = TimestampTzGetDatum(status.next_retry_time);
	nulls[11] = (status.next_retry_time == 0); /* until a worker makes progress */
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* ----------------------------------------------------------------------
 * continuous.tumble(bigint, bigint, bigint)
 * ----------------------------------------------------------------------
 */

CONTINUOUS_SQL_FUNCTION(continuous_tumble_int8);
Datum
continuous_tumble_int8(PG_FUNCTION_ARGS)
{
	int64  ts = PG_GETARG_INT64(0);
	int64  width = PG_GETARG_INT64(1);
	int64  origin = PG_GETARG_INT64(2);
	int128 offset;
	int64  result;

	if (width <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window width must be greater than zero")));
	offset = ((int128) ts - (int128) origin) % width;
	if (offset < 0)
		offset += width;
	if (pg_sub_s64_overflow(ts, (int64) offset, &result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("window start out of range")));
	PG_RETURN_INT64(result);
}
