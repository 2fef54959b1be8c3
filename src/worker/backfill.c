/*-------------------------------------------------------------------------
 * backfill.c
 *	  Views over tables start from the table's contents: a view is
 *	  "initializing" until its source has been scanned with a snapshot that
 *	  sees exactly the commits before a point of the WAL (worker.c takes it
 *	  from a temporary slot); the view then applies only the commits after
 *	  that point.  Until then apply.c ignores its changes.  Worker only.
 *
 * The scan runs as the view's owner (registry_become_owner) and merges a
 * batch of rows at a time (continuous.apply_batch_events) into the view's
 * shared state, which readers see as initializing, with progress, until
 * the last batch.  An error fails the view only.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "base/guc.h"
#include "worker/apply.h"
#include "worker/backfill.h"
#include "worker/closing.h"
#include "worker/merge.h"
#include "worker/registry.h"

static void
backfill_error_callback(void *arg)
{
	ApplyView *av = arg;

	errcontext("backfilling continuous view \"%s\"", av->name);
}

/* Is a view waiting for its backfill? */
bool
backfill_pending(void)
{
	ListCell *lc;

	foreach(lc, registry_views())
	{
		ApplyView *av = lfirst(lc);

		if (av->initializing && !av->disabled)
			return true;
	}
	return false;
}

static uint64
estimate_rows(List *leaves)
{
	double    total = 0;
	ListCell *lc;

	foreach(lc, leaves)
	{
		Relation rel = table_open(lfirst_oid(lc), AccessShareLock);

		if (rel->rd_rel->reltuples > 0)
			total += rel->rd_rel->reltuples;
		else
			total += RelationGetNumberOfBlocks(rel) * 100.0; /* never analyzed */
		table_close(rel, AccessShareLock);
	}
	return (uint64) total;
}

/*
 * Merges what the backfill folded so far; a full shared memory fails the
 * view (a backfill does not wait for room, unlike decoding).
 */
static void
merge_or_fail(ApplyView *av)
{
	if (!merge_view(registry_db(), av))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("shared memory for continuous views is full"),
				 errhint("Raise continuous.shared_memory (now %d kB) and create the view again.",
						 continuous_shared_memory_kb)));
}

/*
 * Scans one view's source with the active snapshot and merges the result,
 * a batch of rows at a time, into the view's shared state, which stays
 * unreadable until the last batch.  Errors disable the view.
 */
static void
backfill_view(ApplyView *av, XLogRecPtr consistent_lsn)
{
	List *volatile leaves = NIL;
	ListCell            *lc;
	volatile uint64      scanned = 0;
	Oid                  sourcerelid = av->cv->sourcerelid;
	MemoryContext        cxt = CurrentMemoryContext;
	SavedIdentity        worker_user;
	ErrorContextCallback errcallback;

	Assert(av->initializing && !av->disabled && av->shared != NULL);

	/*
	 * The source may have been dropped since the view was created, dropping
	 * the view with it: the drop is decoded later, nothing to fill meanwhile.
	 */
	LockRelationOid(sourcerelid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(sourcerelid)))
	{
		UnlockRelationOid(sourcerelid, AccessShareLock);
		av->disabled = true;
		av->initializing = false;
		return;
	}

	if (get_rel_relkind(sourcerelid) == RELKIND_PARTITIONED_TABLE)
	{
		foreach(lc, find_all_inheritors(sourcerelid, AccessShareLock, NULL))
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
				leaves = lappend_oid(leaves, lfirst_oid(lc));
	}
	else
		leaves = list_make1_oid(sourcerelid);

	store_view_begin_initializing(av->shared, estimate_rows(leaves));
	registry_reset_delta(av);
	av->backfilling = true;
	av->reset_pending = true;
	registry_forget_settings();

	errcallback.callback = backfill_error_callback;
	errcallback.arg = av;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	registry_become_owner(av, &worker_user);
	apply_set_position(InvalidXLogRecPtr);
	PG_TRY();
	{
		/* Windows in history are skipped; reading it may fail the view. */
		closing_before_backfill(av);
		foreach(lc, leaves)
		{
			Relation            rel = table_open(lfirst_oid(lc), AccessShareLock);
			TupleConversionMap *map = NULL;
			TupleTableSlot     *slot = table_slot_create(rel, NULL);
			TableScanDesc       scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);

			if (RelationGetRelid(rel) != sourcerelid)
				map = convert_tuples_by_name(RelationGetDescr(rel), av->cv->sourcedesc);
			/*
			 * A merge finds the view dropped meanwhile: it is disabled, stop.
			 * Reading the table is not the view's code (view_timeout).
			 */
			for (;;)
			{
				bool      found;
				bool      should_free;
				HeapTuple tuple;
				HeapTuple converted;

				registry_view_pause();
				found = !av->disabled && table_scan_getnextslot(scan, ForwardScanDirection, slot);
				registry_view_resume();
				if (!found)
					break;
				tuple = ExecFetchSlotHeapTuple(slot, false, &should_free);
				converted = map ? execute_attr_map_tuple(tuple, map) : tuple;

				if (av->uses_settings)
					registry_use_view_settings(av);
				apply_next_position();
				apply_row(av, converted, 1);
				if (converted != tuple)
					heap_freetuple(converted);
				if (should_free)
					heap_freetuple(tuple);
				if (++scanned % continuous_apply_batch_events == 0)
				{
					merge_or_fail(av);
					store_view_set_progress(av->shared, scanned);
				}
				CHECK_FOR_INTERRUPTS();
			}
			table_endscan(scan);
			ExecDropSingleTupleTableSlot(slot);
			table_close(rel, AccessShareLock);
		}
		av->pending_lsn = consistent_lsn;
		av->pending_commit_time = GetCurrentTimestamp();
		closing_commit_view(av, 0);
		av->ready_pending = true;
		store_view_set_progress(av->shared, scanned);
		merge_or_fail(av);
	}
	PG_CATCH();
	{
		ErrorData *edata;

		registry_restore_owner(&worker_user);
		registry_forget_settings();
		/* Interrupts (shutdown) are not the view's fault. */
		if (ProcDiePending || QueryCancelPending)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		LWLockReleaseAll();
		merge_abandon();
		av->backfilling = false;
		registry_disable_view(av, registry_error_text(edata));
		FreeErrorData(edata);
		error_context_stack = errcallback.previous;
		return;
	}
	PG_END_TRY();
	registry_restore_owner(&worker_user);
	error_context_stack = errcallback.previous;
	/* The view's settings applied inside the bracket were undone with it. */
	registry_forget_settings();

	av->backfilling = false;
	av->initializing = false;
	av->skip_until = Max(av->skip_until, consistent_lsn);
	registry_map_reset();
	ereport(LOG,
			(errmsg("pg_continuous: continuous view \"%s\" backfilled from " UINT64_FORMAT " rows at %X/%X",
					av->name, scanned, LSN_FORMAT_ARGS(consistent_lsn))));
}

/*
 * Backfills every view waiting for it, in a transaction whose snapshot sees
 * exactly the commits before consistent_lsn (worker.c takes it from a
 * temporary slot); the views then apply only the commits after it.
 */
void
backfill_views(XLogRecPtr consistent_lsn)
{
	ListCell *lc;

	Assert(IsTransactionState());

	/*
	 * The caches may hold catalog rows read while decoding, in the snapshot
	 * of an earlier transaction, that no invalidation removed since: seen
	 * when a restore attached partitions while the worker made its slot, a
	 * partitioned source then looking childless and its rows unscanned.
	 * The scan reads the catalog as it is now.
	 */
	InvalidateSystemCaches();
	registry_check_owners(true);
	foreach(lc, registry_views())
	{
		ApplyView *av = lfirst(lc);

		if (av->initializing && !av->disabled && av->shared)
			backfill_view(av, consistent_lsn);
	}
}
