/*-------------------------------------------------------------------------
 * apply.c
 *	  Decoded changes into per-view deltas: each row of a source (an event
 *	  of a stream, an inserted, updated or deleted row of a table, a row of
 *	  a backfill) is folded into the delta of every view that reads it.
 *	  Worker only.
 *
 * Vocabulary
 *	delta: per view, a local hash table from group key to transition states
 *		that folds the rows of the transactions decoded since the last
 *		merge.  merge.c combines each delta group into the shared group with
 *		the aggregate's combine function at a transaction boundary, so a
 *		merge publishes whole transactions.
 *	sign: +1 adds a row (INSERT, the new row of an UPDATE, a backfilled row),
 *		-1 takes it out (DELETE, the old row of an UPDATE).
 *
 * UPDATE and DELETE of a source table take the old row out of its group
 * (an UPDATE then adds the new one), which needs the old row's values: the
 * table's REPLICA IDENTITY must be FULL, which create_view sets.  Every
 * group of a view over a table counts its rows and disappears when the
 * count reaches zero, as a group of the batch query would.  Each aggregate
 * takes a row out one of two ways:
 *	- an invertible aggregate (count, avg of integers, sum(bigint)...: see
 *	  agg_init) applies its inverse transition function to the merged state;
 *	  the delta records just the rows taken out (negative counts in inputs);
 *	- any other (min, max, float sums, bool_and, DISTINCT...) keeps for its
 *	  group the multiset of its argument rows, and when a row leaves,
 *	  recomputes its state from the rows that remain.  The multiset lives
 *	  in shared memory as runs (keptinputs.c), so a merge that only adds
 *	  rows costs in proportion to the rows it adds, not to the group.  That
 *	  costs memory in proportion to the distinct inputs of a group, counted
 *	  in the view's memory.  Recomputing never reads the table, whose
 *	  current contents may be ahead of the transaction being applied.
 *
 * Every view's code runs as its owner (registry_become_owner); an error in
 * it fails that view only, with an error context naming the view and the
 * transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "executor/executor.h"
#include "common/hashfn.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "agg/aggregate.h"
#include "agg/multiset.h"
#include "worker/apply.h"
#include "worker/closing.h"
#include "worker/registry.h"

/* The end of the transaction being applied (apply_begin_transaction). */
static XLogRecPtr current_end_lsn = InvalidXLogRecPtr;
/* Its commit time: which changes are late (closing.c). */
static TimestampTz current_commit_time = 0;
/* The kind of change being applied, for captured late changes. */
static const char *current_kind = "insert";

/* Rows applied since the last merge, over all views (apply_pending_events). */
static uint64 pending_events = 0;

/*
 * The position of the source row being applied, which orders the inputs
 * of aggregates kept in applied order (AGG_ROW_INPUTS): the LSN of its
 * change, 0 for a backfilled row, and its ordinal among the rows of that
 * change (a stream's message or a multi-insert carries several) or of the
 * backfill.  WAL order is the order rows entered a heap, whatever order
 * their transactions committed in, and replaying the same WAL gives the
 * same positions.
 */
static XLogRecPtr position_lsn = InvalidXLogRecPtr;
static int64      position_ordinal = 0;

/*
 * Starts applying the decoded transaction that ends at end_lsn: the views
 * that merged it already (skip_until) ignore its changes.
 */
void
apply_begin_transaction(XLogRecPtr end_lsn, TimestampTz commit_time)
{
	current_end_lsn = end_lsn;
	current_commit_time = commit_time;
	registry_forget_settings();
}

/* The rows that follow come from the change at lsn (0: a backfill). */
void
apply_set_position(XLogRecPtr lsn)
{
	if (lsn != position_lsn)
	{
		position_lsn = lsn;
		position_ordinal = 0;
	}
}

/* The next source row of the same change. */
void
apply_next_position(void)
{
	position_ordinal++;
}

static DeltaGroup *
delta_find_or_create(ApplyView *av, uint32 hash, Datum *keys, bool *keynulls)
{
	CompiledView *cv = av->cv;
	DeltaGroup   *g;
	MemoryContext old;

	for (g = av->buckets[hash % av->nbuckets]; g; g = g->next)
		if (g->hash == hash && compile_keys_equal(cv, g->keys, g->keynulls, keys, keynulls))
			return g;

	if (av->ngroups >= av->nbuckets)
	{
		uint32       n = av->nbuckets * 2;
		DeltaGroup **fresh = MemoryContextAllocZero(av->deltacxt, sizeof(DeltaGroup *) * n);

		for (uint32 b = 0; b < av->nbuckets; b++)
		{
			DeltaGroup *next;

			for (g = av->buckets[b]; g; g = next)
			{
				next = g->next;
				g->next = fresh[g->hash % n];
				fresh[g->hash % n] = g;
			}
		}
		pfree(av->buckets);
		av->buckets = fresh;
		av->nbuckets = n;
	}

	old = MemoryContextSwitchTo(av->deltacxt);
	g = palloc(sizeof(DeltaGroup));
	g->hash = hash;
	g->keys = palloc(sizeof(Datum) * Max(cv->nkeys, 1));
	g->keynulls = palloc(sizeof(bool) * Max(cv->nkeys, 1));
	for (int i = 0; i < cv->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(cv->groupdesc, i);

		g->keynulls[i] = keynulls[i];
		g->keys[i] = keynulls[i] ? (Datum) 0 : datumCopy(keys[i], att->attbyval, att->attlen);
	}
	g->states = palloc(sizeof(Datum) * Max(cv->naggs, 1));
	g->statenulls = palloc(sizeof(bool) * Max(cv->naggs, 1));
	for (int i = 0; i < cv->naggs; i++)
		agg_init_state(&cv->aggs[i], &g->states[i], &g->statenulls[i], av->deltacxt);
	g->rows = 0;
	g->inputs = NULL;
	g->retracted = NULL;
	if (cv->retractable)
	{
		g->inputs = palloc0(sizeof(Multiset *) * Max(cv->naggs, 1));
		g->retracted = palloc0(sizeof(bool) * Max(cv->naggs, 1));
	}
	MemoryContextSwitchTo(old);

	g->next = av->buckets[hash % av->nbuckets];
	av->buckets[hash % av->nbuckets] = g;
	av->ngroups++;
	return g;
}

/*
 * A hash of every column of a source row, which tells the row a DELETE or
 * UPDATE takes out from other rows whose aggregate arguments are equal
 * (aggregates kept in applied order).  Values are hashed detoasted, so the
 * old row a DELETE logs hashes as the row that was inserted.
 */
static uint64
row_fingerprint(TupleTableSlot *slot)
{
	TupleDesc desc = slot->tts_tupleDescriptor;
	uint64    h = 0;

	slot_getallattrs(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Datum             d = slot->tts_values[i];
		const void       *data = &d;
		Size              len = sizeof(Datum);

		if (att->attisdropped)
			continue;
		if (slot->tts_isnull[i])
			len = 0;
		else if (att->attlen == -1)
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(d);

			if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
				v = detoast_attr(v);
			data = VARDATA_ANY(v);
			len = VARSIZE_ANY_EXHDR(v);
		}
		else if (att->attlen == -2)
		{
			data = DatumGetCString(d);
			len = strlen(data);
		}
		else if (!att->attbyval)
		{
			data = DatumGetPointer(d);
			len = att->attlen;
		}
		h = hash_combine64(h, hash_bytes_extended(data, len, slot->tts_isnull[i] ? 1 : 0));
	}
	return h;
}

/*
 * Folds one source row into the view's delta: sign +1 adds it (INSERT, the
 * new row of an UPDATE, a backfilled row), -1 takes it out (DELETE, the old
 * row of an UPDATE; views over tables only).
 */
void
apply_row(ApplyView *av, HeapTuple tuple, int sign)
{
	CompiledView *cv = av->cv;
	ExprContext  *econtext = cv->econtext;
	MemoryContext old;
	DeltaGroup   *g;
	Datum        *buf = av->keybuf;
	bool         *nullbuf = av->keynullbuf;
	uint32        hash;
	uint64        fingerprint = 0;
	bool          have_fingerprint = false;

	Assert(registry_is_worker() && !av->disabled);

	ExecStoreHeapTuple(tuple, cv->sourceslot, false);
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);

	if (cv->qual == NULL || ExecQual(cv->qual, econtext))
	{
		for (int i = 0; i < cv->nkeys; i++)
			buf[i] = ExecEvalExpr(cv->keystates[i], econtext, &nullbuf[i]);
		/* Windows that close: late rows, and rows of windows in history. */
		if (av->options.lateness > 0 && cv->window_key >= 0 && !nullbuf[cv->window_key] &&
			closing_skips_row(av, tuple, current_kind, sign, DatumGetInt64(buf[cv->window_key]),
							  current_commit_time))
		{
			MemoryContextSwitchTo(old);
			ResetExprContext(econtext);
			ExecClearTuple(cv->sourceslot);
			return;
		}
		hash = compile_hash_key(cv, NULL, buf, nullbuf);
		g = delta_find_or_create(av, hash, buf, nullbuf);

		for (int a = 0; a < cv->naggs; a++)
		{
			ContinuousAgg *agg = &cv->aggs[a];
			ExprState    **argstates = &cv->argstates[a * CONTINUOUS_MAX_AGG_ARGS];

			/* FILTER (WHERE ...): the row is not an input of this aggregate. */
			if (cv->filterstates[a] && !ExecQual(cv->filterstates[a], econtext))
				continue;
			for (int i = 0; i < agg->numInputs - (agg->appliedOrder ? AGG_ROW_INPUTS : 0); i++)
				buf[i] = ExecEvalExpr(argstates[i], econtext, &nullbuf[i]);
			if (agg->appliedOrder)
			{
				StaticAssertStmt(AGG_ROW_INPUTS == 3, "a source row, an LSN and an ordinal");
				if (cv->retractable && !have_fingerprint)
				{
					fingerprint = row_fingerprint(cv->sourceslot);
					have_fingerprint = true;
				}
				buf[agg->numArgs] = Int64GetDatum((int64) fingerprint);
				nullbuf[agg->numArgs] = !cv->retractable;
				buf[agg->numArgs + 1] = Int64GetDatum((int64) position_lsn);
				nullbuf[agg->numArgs + 1] = false;
				buf[agg->numArgs + 2] = Int64GetDatum(position_ordinal);
				nullbuf[agg->numArgs + 2] = false;
			}
			if (sign > 0)
				agg_advance(agg, &g->states[a], &g->statenulls[a], buf, nullbuf, av->deltacxt);
			/* Rows taken out of an invertible one; every row of an input owner. */
			if (cv->retractable && (agg->invertible ? sign < 0 : cv->inputs_owner[a] == a))
			{
				uint32 len;
				char  *data = agg_encode_args(agg, buf, nullbuf, &len);

				if (g->inputs[a] == NULL)
					g->inputs[a] = multiset_create(av->deltacxt);
				multiset_add(g->inputs[a], data, len, sign);
				if (sign < 0)
					g->retracted[a] = true;
			}
		}
		g->rows += sign;
		av->pending_events++;
		pending_events++;
	}
	MemoryContextSwitchTo(old);
	ResetExprContext(econtext);
	ExecClearTuple(cv->sourceslot);
}

/* Error context of the apply path: which view, which transaction. */
typedef struct ApplyErrorContext
{
	ApplyView *view;
	XLogRecPtr end_lsn;
} ApplyErrorContext;

static void
apply_error_callback(void *arg)
{
	ApplyErrorContext *ctx = arg;

	if (ctx->view)
		errcontext("applying the transaction that ends at %X/%X to continuous view \"%s\"",
				   LSN_FORMAT_ARGS(ctx->end_lsn), ctx->view->name);
}

/*
 * Applies a row of a relation (a source or a partition of one) to the views
 * that read it (registry_targets), each as its owner; an error fails that
 * view only.  sign as for apply_row.
 */
void
apply_to_targets(List *targets, HeapTuple tuple, int sign)
{
	ListCell            *lc;
	ApplyErrorContext    errctx = {NULL, current_end_lsn};
	ErrorContextCallback errcallback;

	if (IsTransactionState())
		registry_check_owners(true);
	apply_next_position();
	errcallback.callback = apply_error_callback;
	errcallback.arg = &errctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	foreach(lc, targets)
	{
		RelationTarget *t = lfirst(lc);
		ApplyView      *av = t->view;
		HeapTuple volatile converted = tuple;
		MemoryContext cxt = CurrentMemoryContext;
		SavedIdentity worker_user;

		if (av->disabled || av->initializing || current_end_lsn <= av->skip_until)
			continue;
		errctx.view = av;
		if (av->uses_settings)
			registry_use_view_settings(av);
		registry_become_owner(av, &worker_user);
		PG_TRY();
		{
			if (t->map)
				converted = execute_attr_map_tuple(tuple, t->map);
			apply_row(av, converted, sign);
			if (converted != tuple)
				heap_freetuple(converted);
		}
		PG_CATCH();
		{
			ErrorData *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			registry_disable_view(av, registry_error_text(edata));
			FreeErrorData(edata);
		}
		PG_END_TRY();
		registry_restore_owner(&worker_user);
		registry_fail_if_wrote(av);
	}
	error_context_stack = errcallback.previous;
}

/*
 * Marks the views of targets stale (reason says why), unless they ignore
 * the transaction being applied.
 */
static void
mark_targets_stale(List *targets, const char *reason)
{
	ListCell *lc;

	foreach(lc, targets)
	{
		RelationTarget *t = lfirst(lc);
		ApplyView      *av = t->view;

		if (av->disabled || av->initializing || current_end_lsn <= av->skip_until ||
			av->shared == NULL)
			continue;
		store_view_mark_stale(av->shared, reason);
	}
}

/*
 * The new row of an UPDATE, with the values of columns that kept their
 * toasted value taken from the old row: the WAL record does not carry them.
 */
static HeapTuple
update_new_row(Relation relation, HeapTuple newtuple, HeapTuple oldtuple)
{
	TupleDesc desc = RelationGetDescr(relation);
	Datum    *newvalues;
	Datum    *oldvalues;
	bool     *newnulls;
	bool     *oldnulls;
	bool      replaced = false;

	if (!HeapTupleHasExternal(newtuple))
		return newtuple;
	newvalues = palloc(sizeof(Datum) * desc->natts);
	oldvalues = palloc(sizeof(Datum) * desc->natts);
	newnulls = palloc(sizeof(bool) * desc->natts);
	oldnulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(newtuple, desc, newvalues, newnulls);
	heap_deform_tuple(oldtuple, desc, oldvalues, oldnulls);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attlen != -1 || newnulls[i] ||
			!VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(newvalues[i])))
			continue;
		newvalues[i] = oldvalues[i];
		newnulls[i] = oldnulls[i];
		replaced = true;
	}
	return replaced ? heap_form_tuple(desc, newvalues, newnulls) : newtuple;
}

/*
 * UPDATE and DELETE: the old row leaves its group, and an UPDATE's new row
 * joins its own.  Without the old row's values (REPLICA IDENTITY other than
 * FULL) the views can no longer be kept exact: they are marked stale.
 */
void
apply_update_or_delete(List *targets, Relation relation, bool is_update,
					   HeapTuple oldtuple, HeapTuple newtuple, XLogRecPtr lsn)
{
	if (oldtuple == NULL || relation->rd_rel->relreplident != REPLICA_IDENTITY_FULL)
	{
		mark_targets_stale(targets,
						   psprintf("%s on \"%s\" at %X/%X, whose REPLICA IDENTITY is not FULL: the old row's values are unknown.",
									is_update ? "UPDATE" : "DELETE",
									RelationGetRelationName(relation), LSN_FORMAT_ARGS(lsn)));
		return;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	current_kind = is_update ? "update: old row" : "delete";
	apply_to_targets(targets, oldtuple, -1);
	current_kind = "update: new row";
	if (is_update && newtuple)
		apply_to_targets(targets, update_new_row(relation, newtuple, oldtuple), 1);
	current_kind = "insert";
	PopActiveSnapshot();
}

/*
 * Does a TRUNCATE of these relations empty the view's whole source (the
 * table, or every leaf partition of a partitioned one)?
 */
static bool
truncate_covers_source(ApplyView *av, int nrelations, Relation relations[])
{
	List     *leaves = find_all_inheritors(av->cv->sourcerelid, NoLock, NULL);
	ListCell *lc;

	foreach(lc, leaves)
	{
		Oid  leaf = lfirst_oid(lc);
		bool truncated = false;

		if (get_rel_relkind(leaf) != RELKIND_RELATION)
			continue;
		for (int i = 0; i < nrelations && !truncated; i++)
			truncated = RelationGetRelid(relations[i]) == leaf;
		if (!truncated)
			return false;
	}
	return true;
}

/*
 * TRUNCATE of a whole source empties the view at that point in commit order:
 * what the delta holds is dropped and the next merge replaces the shared
 * groups.  Truncating only some partitions of a source leaves rows the view
 * cannot tell apart, so that marks the view stale.
 */
void
apply_truncate(int nrelations, Relation relations[], XLogRecPtr lsn)
{
	for (int i = 0; i < nrelations; i++)
	{
		List     *targets = registry_targets(relations[i]);
		ListCell *lc;

		foreach(lc, targets)
		{
			ApplyView *av = ((RelationTarget *) lfirst(lc))->view;

			if (av->disabled || av->initializing || current_end_lsn <= av->skip_until)
				continue;
			if (truncate_covers_source(av, nrelations, relations))
			{
				XLogRecPtr  pending_lsn = av->pending_lsn;
				TimestampTz pending_time = av->pending_commit_time;

				registry_reset_delta(av);
				av->pending_lsn = pending_lsn;
				av->pending_commit_time = pending_time;
				av->reset_pending = true;
			}
			else
				mark_targets_stale(list_make1(lfirst(lc)),
								   psprintf("TRUNCATE of partition \"%s\" at %X/%X: the view cannot tell which of its rows came from that partition.",
											RelationGetRelationName(relations[i]),
											LSN_FORMAT_ARGS(lsn)));
		}
	}
}

/*
 * The transaction being applied committed at commit_time: the views that
 * applied it will have merged up to its end at their next merge.
 */
void
apply_commit(XLogRecPtr end_lsn, TimestampTz commit_time)
{
	ListCell *lc;

	/*
	 * A transaction with no rows for the views may still take their owner's
	 * rights away (REVOKE, ENABLE ROW LEVEL SECURITY): check at its commit.
	 */
	registry_check_owners(true);

	foreach(lc, registry_views())
	{
		ApplyView *av = lfirst(lc);

		if (av->disabled || av->initializing || end_lsn <= av->skip_until)
			continue;
		av->pending_lsn = end_lsn;
		av->pending_commit_time = commit_time;
		closing_commit_view(av, commit_time);
	}
}

/* Rows applied to any view since apply_pending_reset. */
uint64
apply_pending_events(void)
{
	return pending_events;
}

void
apply_pending_reset(void)
{
	pending_events = 0;
}
