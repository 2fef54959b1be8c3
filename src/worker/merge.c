/*-------------------------------------------------------------------------
 * merge.c
 *	  Deltas into shared memory: at a transaction boundary the worker merges
 *	  each view's delta (the groups the decoded transactions touched, in
 *	  local memory) into the view's groups in shared memory.
 *
 * Per group and aggregate: the stored state is combined with the delta's,
 * or for a view over a table whose delta took rows out, the state is
 * retracted with the inverse transition function or recomputed from the
 * kept inputs (see the headers of apply.c and keptinputs.c).  A batch of
 * new group rows is then prepared and published (store.c), atomically per
 * view.  A full shared memory area leaves the view untouched: the delta
 * stays and the worker pauses until a retry succeeds.  An error in one
 * view's merge (an overflow in a combine function) fails that view only.
 *
 * merge_cxt holds everything one view's merge allocates and is reset after
 * it; merge_blobs the blobs it made and retires until a batch owns them.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "agg/aggregate.h"
#include "base/guc.h"
#include "store/keptinputs.h"
#include "worker/apply.h"
#include "worker/closing.h"
#include "worker/merge.h"
#include "worker/registry.h"

/* GUCs (registered in pg_continuous.c) */
int continuous_apply_batch_events = 100000;
int continuous_debug_merge_delay_ms = 0;

static MemoryContext merge_cxt = NULL;
static KeptBlobs     merge_blobs;    /* blobs of the merge under way (merge_cxt) */
static bool          paused = false; /* the last merge found shared memory full */

/*
 * While paused: store_room_made() before the merge that did not fit, and
 * when the last merge was tried.  Memory is given back mostly in ways the
 * store counts (a view dropped, emptied or failed); others (groups that
 * shrink, TRUNCATE of a source of another database's view) are caught by a
 * retry every PAUSED_RETRY_MS.
 */
static uint64      room_at_last_try = 0;
static TimestampTz last_try = 0;

#define PAUSED_RETRY_MS 60000

void
merge_init(MemoryContext parent)
{
	merge_cxt = AllocSetContextCreate(parent, "continuous merge", ALLOCSET_DEFAULT_SIZES);
	kept_blobs_init(&merge_blobs, merge_cxt);
}

MemoryContext
merge_context(void)
{
	return merge_cxt;
}

/*
 * After an error in a merge (or in a backfill's): gives back the blobs it
 * made and frees its memory.  The caller has released the LWLocks.
 */
void
merge_abandon(void)
{
	kept_blobs_discard(&merge_blobs);
	MemoryContextReset(merge_cxt);
}

bool
merge_paused(void)
{
	return paused;
}

/*
 * Is it worth retrying the merge that found shared memory full?  Only once
 * memory may have been given back, so a paused worker costs next to
 * nothing however big the delta it holds.
 */
bool
merge_retry_due(void)
{
	Assert(paused);
	return store_room_made() != room_at_last_try ||
		   TimestampDifferenceExceeds(last_try, GetCurrentTimestamp(), PAUSED_RETRY_MS);
}

/*
 * Remembers where the groups a batch changed now are, for the next
 * checkpoint.  A group that moved to a larger chunk is forgotten at its old
 * address; a batch that replaced every group starts the set afresh.
 */
void
merge_note_dirty_groups(ApplyView *av, StoreBatch *batch)
{
	if (batch->clear_first)
		registry_reset_dirty(av);
	for (int i = 0; i < batch->nchanges; i++)
	{
		StoreChange *c = &batch->changes[i];

		if (DsaPointerIsValid(c->old_group) && c->result != c->old_group)
			(void) hash_search(av->dirty, &c->old_group, HASH_REMOVE, NULL);
		(void) hash_search(av->dirty, &c->result, HASH_ENTER, NULL);
	}
}

/* An aggregate state that kept inputs are folded into or taken out of. */
typedef struct StateArg
{
	ContinuousAgg *agg;
	Datum         *state;
	bool          *isnull;
} StateArg;

static void
recompute_input(const char *data, uint32 len, int64 count, void *arg)
{
	StateArg *r = arg;
	Datum     args[CONTINUOUS_MAX_AGG_ARGS];
	bool      argnulls[CONTINUOUS_MAX_AGG_ARGS];

	agg_decode_args(r->agg, data, len, args, argnulls);
	/* A DISTINCT aggregate's set needs each value once. */
	for (int64 i = 0; i < (r->agg->distinct ? 1 : count); i++)
		agg_advance(r->agg, r->state, r->isnull, args, argnulls, merge_cxt);
}

static void
retract_input(const char *data, uint32 len, int64 count, void *arg)
{
	StateArg *r = arg;
	Datum     args[CONTINUOUS_MAX_AGG_ARGS];
	bool      argnulls[CONTINUOUS_MAX_AGG_ARGS];

	agg_decode_args(r->agg, data, len, args, argnulls);
	for (int64 i = 0; i < -count; i++)
		if (!agg_retract(r->agg, r->state, r->isnull, args, argnulls, merge_cxt))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("the inverse transition function of aggregate %s declined to remove a value",
							get_func_name(r->agg->aggfnoid))));
}

/*
 * One aggregate of a delta group merged with its shared state (shared: the
 * stored state and kept inputs' run list, or NULL for a new or empty
 * group).  Sets the stored state, and for a view over a table the run list
 * of the kept inputs, in values and nulls (group row layout); the blobs it
 * creates and retires go to kb.  remaining[o] caches the inputs left in
 * the group after a retraction, per input owner o (see CompiledView), for
 * the aggregates that share them.  False when shared memory is full.
 */
static bool
merge_aggregate(ApplyView *av, DeltaGroup *g, int a, Datum *shared, bool *sharednulls,
				Datum *values, bool *nulls, Multiset **remaining, KeptBlobs *kb)
{
	CompiledView  *cv = av->cv;
	ContinuousAgg *agg = &cv->aggs[a];
	int            owner = cv->retractable ? cv->inputs_owner[a] : -1;
	bool           keeps = owner >= 0;
	bool           owns = owner == a;
	bytea         *runlist = NULL;
	bytea         *newlist = NULL;
	Datum          state;
	bool           stateisnull;

	if (keeps && shared && !sharednulls[COMPILE_INPUTS_ATT(cv, owner)])
		runlist = DatumGetByteaPP(shared[COMPILE_INPUTS_ATT(cv, owner)]);

	if (keeps && g->retracted[owner])
	{
		/* A row left: fold every remaining input again. */
		StateArg r;

		if (remaining[owner] == NULL)
		{
			Multiset *inputs = multiset_create(merge_cxt);

			kept_inputs_add_to(inputs, runlist);
			if (g->inputs[owner])
				multiset_add_all(inputs, g->inputs[owner]);
			if (multiset_has_negative(inputs))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("a row taken out of continuous view %s was never added to it", av->name),
						 errdetail("The source's rows do not match what the view counted.")));
			remaining[owner] = inputs;
		}
		agg_init_state(agg, &state, &stateisnull, merge_cxt);
		r.agg = agg;
		r.state = &state;
		r.isnull = &stateisnull;
		multiset_foreach(remaining[owner], recompute_input, &r);
		if (owns)
		{
			kept_inputs_retire(runlist, kb);
			if (!kept_inputs_replace(remaining[owner], kb, &newlist))
				return false;
		}
	}
	else
	{
		if (shared)
		{
			stateisnull = sharednulls[cv->nkeys + a];
			state = agg_from_stored(agg, shared[cv->nkeys + a], stateisnull, merge_cxt);
			agg_combine(agg, &state, &stateisnull, g->states[a], g->statenulls[a], merge_cxt);
		}
		else
		{
			state = g->states[a];
			stateisnull = g->statenulls[a];
		}
		if (owns)
		{
			newlist = runlist;
			if (g->inputs[a] && !kept_inputs_append(runlist, g->inputs[a], kb, &newlist))
				return false;
		}
	}

	if (cv->retractable && agg->invertible && g->inputs[a])
	{
		StateArg r;

		r.agg = agg;
		r.state = &state;
		r.isnull = &stateisnull;
		multiset_foreach(g->inputs[a], retract_input, &r);
	}

	values[cv->nkeys + a] = agg_to_stored(agg, state, stateisnull);
	nulls[cv->nkeys + a] = stateisnull;
	if (cv->retractable)
	{
		/* Only an input owner keeps anything. */
		values[COMPILE_INPUTS_ATT(cv, a)] = PointerGetDatum(newlist);
		nulls[COMPILE_INPUTS_ATT(cv, a)] = newlist == NULL;
	}
	return true;
}

/*
 * Merges one view's delta into its shared groups, as the view's owner (the
 * caller's bracket), and empties the delta.  Returns false, leaving both
 * untouched, when shared memory is full.  Errors are the caller's to catch.
 */
bool
merge_view(StoreDb *db, ApplyView *av)
{
	CompiledView *cv = av->cv;
	SharedView   *shared;
	StoreChange  *changes;
	int           nchanges = 0;
	Datum        *values;
	bool         *nulls;
	Datum        *sharedkeys;
	bool         *sharedkeynulls;
	bool          ok;
	bool          full = false;
	Multiset    **remaining;
	MemoryContext old;
	StoreBatch    batch;

	Assert(registry_is_worker() && IsTransactionState());

	if (av->disabled || (av->initializing && !av->backfilling) ||
		(av->ngroups == 0 && av->pending_lsn == InvalidXLogRecPtr && !av->reset_pending &&
		 !av->ready_pending && av->pending_late == 0))
		return true;
	if (av->shared == NULL)
	{
		av->shared = store_view_attach(db, av->view_id,
									   av->is_table ? VIEW_INITIALIZING : VIEW_READY);
		if (av->shared == NULL)
			return false;
		if (av->options.lateness > 0)
			av->shared->closes = true; /* only the worker writes it */
	}
	shared = av->shared;

	old = MemoryContextSwitchTo(merge_cxt);
	kept_blobs_init(&merge_blobs, merge_cxt);
	changes = palloc(sizeof(StoreChange) * Max(av->ngroups, 1));
	values = palloc(sizeof(Datum) * cv->groupdesc->natts);
	nulls = palloc(sizeof(bool) * cv->groupdesc->natts);
	sharedkeys = palloc(sizeof(Datum) * cv->groupdesc->natts);
	sharedkeynulls = palloc(sizeof(bool) * cv->groupdesc->natts);
	remaining = palloc(sizeof(Multiset *) * Max(cv->naggs, 1));

	LWLockAcquire(&shared->lock, LW_SHARED);
	if (shared->dropped || shared->state == VIEW_FAILED)
	{
		LWLockRelease(&shared->lock);
		MemoryContextSwitchTo(old);
		MemoryContextReset(merge_cxt);
		registry_reset_delta(av);
		av->disabled = true;
		return true;
	}

	for (uint32 b = 0; b < av->nbuckets && !full; b++)
	{
		for (DeltaGroup *g = av->buckets[b]; g && !full; g = g->next)
		{
			dsa_pointer  dp = InvalidDsaPointer;
			SharedGroup *sg;
			MinimalTuple local = NULL;
			bool         live;
			int64        rows = 0;

			/* After a TRUNCATE of the source the delta replaces the shared groups. */
			for (sg = av->reset_pending ? NULL : store_group_first(shared, g->hash, &dp); sg;
				 sg = store_group_next(sg, g->hash, &dp))
			{
				MinimalTuple mt = SHARED_GROUP_TUPLE(sg);

				/* A private copy: combine functions may update in place. */
				local = palloc(mt->t_len);
				memcpy(local, mt, mt->t_len);
				compile_deform_group(cv, local, sharedkeys, sharedkeynulls);
				if (compile_keys_equal(cv, sharedkeys, sharedkeynulls, g->keys, g->keynulls))
					break;
				pfree(local);
				local = NULL;
			}

			/* An empty group (all its rows deleted) starts afresh. */
			live = local != NULL && !sg->empty;
			if (cv->retractable)
			{
				rows = (live ? DatumGetInt64(sharedkeys[cv->rows_att]) : 0) + g->rows;
				if (rows < 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("more rows were taken out of a group of continuous view %s than it held",
									av->name),
							 errdetail("The source's rows do not match what the view counted.")));
				if (rows == 0 && local == NULL)
					continue; /* added and deleted within the delta */
			}

			for (int k = 0; k < cv->nkeys; k++)
			{
				values[k] = local ? sharedkeys[k] : g->keys[k];
				nulls[k] = local ? sharedkeynulls[k] : g->keynulls[k];
			}
			if (cv->retractable && rows == 0)
			{
				for (int i = cv->nkeys; i < cv->groupdesc->natts; i++)
					nulls[i] = true;
				for (int a = 0; live && a < cv->naggs; a++)
					if (!sharedkeynulls[COMPILE_INPUTS_ATT(cv, a)])
						kept_inputs_retire(DatumGetByteaPP(sharedkeys[COMPILE_INPUTS_ATT(cv, a)]),
										   &merge_blobs);
			}
			else
			{
				memset(remaining, 0, sizeof(Multiset *) * Max(cv->naggs, 1));
				for (int a = 0; a < cv->naggs && !full; a++)
					full = !merge_aggregate(av, g, a, live ? sharedkeys : NULL, sharedkeynulls,
											values, nulls, remaining, &merge_blobs);
				if (full)
					break;
			}
			if (cv->retractable)
			{
				values[cv->rows_att] = Int64GetDatum(rows);
				nulls[cv->rows_att] = false;
			}
			changes[nchanges].empty = cv->retractable && rows == 0;
			changes[nchanges].old_group = local ? dp : InvalidDsaPointer;
			changes[nchanges].group_id = 0;
			changes[nchanges].hash = g->hash;
			changes[nchanges].has_window = cv->window_key >= 0 && !g->keynulls[cv->window_key];
			changes[nchanges].window_start = changes[nchanges].has_window ? DatumGetInt64(g->keys[cv->window_key]) : 0;
			changes[nchanges].new_tuple = heap_form_minimal_tuple(cv->groupdesc, values, nulls);
			nchanges++;
		}
	}
	if (full)
	{
		/* No room for the kept inputs: nothing changes, the delta stays. */
		kept_blobs_discard(&merge_blobs);
		LWLockRelease(&shared->lock);
		MemoryContextSwitchTo(old);
		MemoryContextReset(merge_cxt);
		return false;
	}
	memset(&batch, 0, sizeof(batch));
	batch.changes = changes;
	batch.nchanges = nchanges;
	batch.clear_first = av->reset_pending;
	batch.ready = av->ready_pending;
	batch.applied_lsn = av->pending_lsn;
	batch.commit_time = av->pending_commit_time;
	batch.events = av->pending_events;
	batch.late_changes = av->pending_late;
	batch.has_watermark = closing_watermark(av, &batch.watermark);
	batch.new_blobs = merge_blobs.new_blobs;
	batch.nnew_blobs = merge_blobs.nnew;
	batch.old_blobs = merge_blobs.old_blobs;
	batch.nold_blobs = merge_blobs.nold;
	ok = store_prepare_changes(shared, &batch);
	/* The batch owns the new blobs now. */
	kept_blobs_init(&merge_blobs, merge_cxt);
	LWLockRelease(&shared->lock);
	MemoryContextSwitchTo(old);

	if (ok)
	{
		if (store_publish_changes(shared, &batch))
		{
			merge_note_dirty_groups(av, &batch);
			for (int i = 0; i < batch.nchanges; i++)
				if (batch.changes[i].has_window && !batch.changes[i].empty)
					closing_note_window(av, batch.changes[i].window_start);
		}
		else
			av->disabled = true; /* dropped meanwhile */
		av->pending_late = 0;
		registry_reset_delta(av);
		av->reset_pending = false;
		av->ready_pending = false;
	}
	MemoryContextReset(merge_cxt);

	/* Over its cap, the view fails alone (the caller's catch), freeing it all. */
	if (ok && !av->disabled && av->options.max_memory > 0 && shared->memory_bytes > (Size) av->options.max_memory)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("continuous view \"%s\" needs more than its max_memory of %s",
						av->name,
						text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																		   Int64GetDatum(av->options.max_memory))))),
				 errdetail("It holds %zu bytes of shared memory.", (Size) shared->memory_bytes),
				 errhint("Create the view again with a larger max_memory, or with fewer groups.")));
	return ok;
}

/*
 * Merges every view's delta.  Returns false, keeping the deltas that did
 * not fit, when shared memory is full; the worker then pauses.
 *
 * Combine functions may be written in SQL or PL/pgSQL, which need a
 * transaction and an active snapshot: the merge runs in the decoded
 * transaction when called from a callback, else in one of its own.
 */
static void
merge_error_callback(void *arg)
{
	ApplyView *av = arg;

	if (av->pending_lsn != InvalidXLogRecPtr)
		errcontext("merging the transactions up to %X/%X into continuous view \"%s\"",
				   LSN_FORMAT_ARGS(av->pending_lsn), av->name);
	else
		errcontext("merging into continuous view \"%s\"", av->name);
}

bool
merge_views(StoreDb *db, List *views)
{
	ListCell            *lc;
	volatile bool        all_ok = true;
	bool                 own_xact = !IsTransactionState();
	ErrorContextCallback errcallback;

	Assert(registry_is_worker());

	room_at_last_try = store_room_made();
	last_try = GetCurrentTimestamp();
	if (own_xact)
		StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	foreach(lc, views)
	{
		ApplyView    *av = lfirst(lc);
		MemoryContext cxt = CurrentMemoryContext;
		volatile bool ok = true;
		SavedIdentity worker_user;
		volatile bool failed = false;

		errcallback.callback = merge_error_callback;
		errcallback.arg = av;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		registry_become_owner(av, &worker_user);
		PG_TRY();
		{
			ok = merge_view(db, av);
		}
		PG_CATCH();
		{
			ErrorData *edata;

			registry_restore_owner(&worker_user);
			failed = true;
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			LWLockReleaseAll();
			merge_abandon();
			registry_disable_view(av, registry_error_text(edata));
			FreeErrorData(edata);
		}
		PG_END_TRY();
		if (!failed)
			registry_restore_owner(&worker_user);
		registry_fail_if_wrote(av);
		error_context_stack = errcallback.previous;

		if (!ok)
		{
			char *msg = psprintf("shared memory for continuous views is full while applying continuous view \"%s\"; "
								 "raise continuous.shared_memory (now %d kB) or drop views",
								 av->name, continuous_shared_memory_kb);

			if (!paused)
				ereport(LOG, (errmsg("pg_continuous: %s", msg)));
			store_db_set_error(db, msg);
			all_ok = false;
		}
	}
	PopActiveSnapshot();
	if (own_xact)
		CommitTransactionCommand();

	if (all_ok && paused)
	{
		store_db_set_error(db, NULL);
		ereport(LOG, (errmsg("pg_continuous: shared memory available again, resuming")));
	}
	paused = !all_ok;
	return all_ok;
}

/*
 * Merges the delta of every registered view (merge_views), then forgets
 * the count of pending rows.  Returns false, keeping the deltas that did not
 * fit, when shared memory is full; the worker then pauses.
 */
bool
merge_all(void)
{
	if (!merge_views(registry_db(), registry_views()))
		return false;
	if (continuous_debug_merge_delay_ms > 0 && apply_pending_events() > 0)
		pg_usleep((long) continuous_debug_merge_delay_ms * 1000L);
	apply_pending_reset();
	return true;
}
