/*-------------------------------------------------------------------------
 * decoder.c
 *	  The extension's logical decoding output plugin, run only inside the
 *	  database's worker: it folds every committed change into per-view
 *	  deltas in local memory, and merges deltas into shared memory at
 *	  transaction boundaries.
 *
 * Vocabulary
 *	apply view (ApplyView): the worker's record of one continuous view: its
 *		compiled definition, its shared state, and its delta.
 *	delta: per view, a local hash table from group key to transition states
 *		that folds the rows of the transactions decoded since the last
 *		merge.  Merging combines each delta group into the shared group with
 *		the aggregate's combine function (store_prepare_changes, then
 *		store_publish_changes), so a merge publishes whole transactions.
 *	relation map: source relation (or a partition of one) -> the views that
 *		read it, with the tuple conversion a partition needs.  Rebuilt after
 *		any relcache invalidation and when views come and go.
 *
 * The worker learns of views by decoding inserts into and deletes from
 * continuous.view_catalog, so a view counts exactly the transactions that
 * commit after the one that created it.  Each view's shared state records
 * the end LSN of the last transaction merged into it; when a restarted
 * worker decodes older transactions again, it skips them for that view, so
 * nothing is counted twice.
 *
 * Errors while applying a change to one view (say an integer overflow in
 * sum()) mark that view failed, with the message, instead of stopping the
 * worker: the batch query would have failed too.  A full shared memory area
 * pauses the worker at a transaction boundary until the merge succeeds.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/executor.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compile.h"
#include "decoder.h"
#include "pg_continuous.h"
#include "store.h"
#include "stream.h"
#include "worker.h"

/* Columns of continuous.view_catalog, as created by the install script. */
#define Anum_view_catalog_id			1
#define Anum_view_catalog_viewrelid		2
#define Anum_view_catalog_sourcerelid	3
#define Anum_view_catalog_querytree		5
#define Anum_view_catalog_timezone		7
#define Anum_view_catalog_datestyle		8
#define Anum_view_catalog_intervalstyle	9

typedef struct DeltaGroup
{
	struct DeltaGroup *next;
	uint32		hash;
	Datum	   *keys;
	bool	   *keynulls;
	Datum	   *states;
	bool	   *statenulls;
} DeltaGroup;

typedef struct ApplyView
{
	int32		view_id;
	char	   *name;			/* qualified view name, for messages */
	CompiledView *cv;
	SharedView *shared;
	bool		disabled;		/* failed or dropped: changes are ignored */
	bool		uses_settings;	/* calls stable functions: see use_view_settings */
	char	   *timezone;		/* the creator's settings */
	char	   *datestyle;
	char	   *intervalstyle;
	XLogRecPtr	skip_until;		/* transactions ending at or before: merged */
	bool		reset_pending;	/* the source was truncated: start from empty */

	MemoryContext deltacxt;
	DeltaGroup **buckets;
	uint32		nbuckets;
	uint32		ngroups;
	uint64		pending_events;
	XLogRecPtr	pending_lsn;
	TimestampTz pending_commit_time;

	Datum	   *keybuf;			/* scratch for one row's key and arguments */
	bool	   *keynullbuf;
} ApplyView;

typedef struct RelationTarget
{
	ApplyView  *view;
	TupleConversionMap *map;	/* partition row -> source row, or NULL */
} RelationTarget;

typedef struct RelationMapEntry
{
	Oid			relid;
	List	   *targets;		/* RelationTarget */
} RelationMapEntry;

static StoreDb *decoder_db = NULL;
static Oid	catalog_relid = InvalidOid;
static List *apply_views = NIL;
static HTAB *relation_map = NULL;
static bool relation_map_stale = false;
static MemoryContext decoder_cxt = NULL;
static MemoryContext relmap_cxt = NULL;
static MemoryContext merge_cxt = NULL;

static XLogRecPtr current_end_lsn = InvalidXLogRecPtr;

/* Settings in force in the current decoded transaction (see use_view_settings). */
static const char *current_timezone = NULL;
static const char *current_datestyle = NULL;
static const char *current_intervalstyle = NULL;
static TimestampTz last_commit_time = 0;
static uint64 pending_events_total = 0;
static bool paused = false;
static bool drop_requested = false;

void		_PG_output_plugin_init(OutputPluginCallbacks *cb);

/* ----------------------------------------------------------------------
 * The registry of views and the relation map
 * ----------------------------------------------------------------------
 */

/*
 * Marks the relation map for rebuilding.  The map is only freed at the next
 * lookup, never while a caller may be walking a target list from it.
 */
static void
relation_map_reset(void)
{
	relation_map_stale = true;
}

static void
relcache_callback(Datum arg, Oid relid)
{
	relation_map_reset();
}

static RelationMapEntry *
relation_map_lookup(Relation relation)
{
	Oid			relid = RelationGetRelid(relation);
	RelationMapEntry *entry;
	bool		found;
	ListCell   *lc;
	List	   *ancestors = NIL;

	if (relation_map_stale)
	{
		MemoryContextReset(relmap_cxt);
		relation_map = NULL;
		relation_map_stale = false;
	}
	if (relation_map == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelationMapEntry);
		ctl.hcxt = relmap_cxt;
		relation_map = hash_create("continuous relation map", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(relation_map, &relid, HASH_ENTER, &found);
	if (found)
		return entry;

	entry->targets = NIL;
	if (relation->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);
	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);
		RelationTarget *t;
		MemoryContext old;

		if (av->disabled)
			continue;
		if (av->cv->sourcerelid != relid && !list_member_oid(ancestors, av->cv->sourcerelid))
			continue;
		old = MemoryContextSwitchTo(relmap_cxt);
		t = palloc0(sizeof(RelationTarget));
		t->view = av;
		if (av->cv->sourcerelid != relid)
			t->map = convert_tuples_by_name(RelationGetDescr(relation), av->cv->sourcedesc);
		entry->targets = lappend(entry->targets, t);
		MemoryContextSwitchTo(old);
	}
	list_free(ancestors);
	return entry;
}

static ApplyView *
find_apply_view(int32 view_id)
{
	ListCell   *lc;

	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);

		if (av->view_id == view_id)
			return av;
	}
	return NULL;
}

static void
delta_reset(ApplyView *av)
{
	MemoryContextReset(av->deltacxt);
	av->nbuckets = 64;
	av->buckets = MemoryContextAllocZero(av->deltacxt, sizeof(DeltaGroup *) * av->nbuckets);
	av->ngroups = 0;
	av->pending_events = 0;
	av->pending_lsn = InvalidXLogRecPtr;
	av->pending_commit_time = 0;
}

/* Registers a view decoded from a catalog insert; runs in its transaction. */
/*
 * Stable functions in a definition (casts of timestamptz to date, say) are
 * evaluated with the settings of the session that created the view, so the
 * view agrees with its query run in that session.  The decoding transaction
 * reverts settings when it ends, hence the per-transaction bookkeeping.
 */
static void
set_if_changed(const char *name, const char *value, const char **current)
{
	if (*current == NULL || strcmp(*current, value) != 0)
	{
		SetConfigOption(name, value, PGC_USERSET, PGC_S_SESSION);
		*current = value;
	}
}

static void
use_view_settings(ApplyView *av)
{
	set_if_changed("TimeZone", av->timezone, &current_timezone);
	set_if_changed("DateStyle", av->datestyle, &current_datestyle);
	set_if_changed("IntervalStyle", av->intervalstyle, &current_intervalstyle);
}

static void
register_view(int32 view_id, Oid viewrelid, Oid sourcerelid, const char *querytree,
			  const char *timezone, const char *datestyle, const char *intervalstyle)
{
	MemoryContext old = MemoryContextSwitchTo(decoder_cxt);
	ApplyView  *av;
	Relation	source;

	if (find_apply_view(view_id) != NULL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	av = palloc0(sizeof(ApplyView));
	av->view_id = view_id;
	{
		char	   *relname = get_rel_name(viewrelid);
		char	   *nspname = relname ? get_namespace_name(get_rel_namespace(viewrelid)) : NULL;

		av->name = relname ? quote_qualified_identifier(nspname, relname)
			: psprintf("continuous view %d", view_id);
	}
	av->cv = compile_view(view_id, sourcerelid, querytree);
	source = RelationIdGetRelation(sourcerelid);
	if (!RelationIsValid(source))
		elog(ERROR, "could not open source %u of continuous view %d", sourcerelid, view_id);
	compile_view_for_apply(av->cv, RelationGetDescr(source));
	RelationClose(source);
	av->uses_settings = compile_uses_session_settings(av->cv);
	av->timezone = pstrdup(timezone);
	av->datestyle = pstrdup(datestyle);
	av->intervalstyle = pstrdup(intervalstyle);
	av->deltacxt = AllocSetContextCreate(decoder_cxt, "continuous delta", ALLOCSET_DEFAULT_SIZES);
	av->keybuf = palloc(sizeof(Datum) * (av->cv->nkeys + CONTINUOUS_MAX_AGG_ARGS + 1));
	av->keynullbuf = palloc(sizeof(bool) * (av->cv->nkeys + CONTINUOUS_MAX_AGG_ARGS + 1));
	delta_reset(av);

	/*
	 * A restarted worker finds the state it left; transactions it had merged
	 * are skipped for this view.
	 */
	av->shared = store_view_attach(decoder_db, view_id);
	if (av->shared)
		av->skip_until = av->shared->applied_lsn;
	apply_views = lappend(apply_views, av);
	relation_map_reset();
	MemoryContextSwitchTo(old);
	elog(DEBUG1, "pg_continuous: maintaining continuous view %s", av->name);
}

static void
unregister_view(int32 view_id)
{
	ApplyView  *av = find_apply_view(view_id);

	if (av)
	{
		apply_views = list_delete_ptr(apply_views, av);
		relation_map_reset();
		compile_view_free(av->cv);
		MemoryContextDelete(av->deltacxt);
		pfree(av);
	}
	store_view_drop(decoder_db, view_id);
	elog(DEBUG1, "pg_continuous: continuous view %d dropped", view_id);
}

static void
disable_view(ApplyView *av, const char *error)
{
	av->disabled = true;
	delta_reset(av);
	relation_map_reset();
	if (av->shared)
		store_view_mark_failed(av->shared, error);
	ereport(LOG,
			(errmsg("pg_continuous: continuous view %s is no longer maintained", av->name),
			 errdetail("%s", error)));
}

void
decoder_init(StoreDb *db, Oid catalogrelid)
{
	decoder_db = db;
	catalog_relid = catalogrelid;
	decoder_cxt = AllocSetContextCreate(TopMemoryContext, "continuous decoder",
										ALLOCSET_DEFAULT_SIZES);
	relmap_cxt = AllocSetContextCreate(decoder_cxt, "continuous relation map",
									   ALLOCSET_DEFAULT_SIZES);
	merge_cxt = AllocSetContextCreate(decoder_cxt, "continuous merge",
									  ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
}

/* ----------------------------------------------------------------------
 * Apply: one source row into one view's delta
 * ----------------------------------------------------------------------
 */

static DeltaGroup *
delta_find_or_create(ApplyView *av, uint32 hash, Datum *keys, bool *keynulls)
{
	CompiledView *cv = av->cv;
	DeltaGroup *g;
	MemoryContext old;

	for (g = av->buckets[hash % av->nbuckets]; g; g = g->next)
		if (g->hash == hash && compile_keys_equal(cv, g->keys, g->keynulls, keys, keynulls))
			return g;

	if (av->ngroups >= av->nbuckets)
	{
		uint32		n = av->nbuckets * 2;
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
	MemoryContextSwitchTo(old);

	g->next = av->buckets[hash % av->nbuckets];
	av->buckets[hash % av->nbuckets] = g;
	av->ngroups++;
	return g;
}

static void
apply_row(ApplyView *av, HeapTuple tuple)
{
	CompiledView *cv = av->cv;
	ExprContext *econtext = cv->econtext;
	MemoryContext old;
	DeltaGroup *g;
	Datum	   *buf = av->keybuf;
	bool	   *nullbuf = av->keynullbuf;
	uint32		hash;

	ExecStoreHeapTuple(tuple, cv->sourceslot, false);
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);

	if (cv->qual == NULL || ExecQual(cv->qual, econtext))
	{
		for (int i = 0; i < cv->nkeys; i++)
			buf[i] = ExecEvalExpr(cv->keystates[i], econtext, &nullbuf[i]);
		hash = compile_hash_key(cv, buf, nullbuf);
		g = delta_find_or_create(av, hash, buf, nullbuf);

		for (int a = 0; a < cv->naggs; a++)
		{
			ContinuousAgg *agg = &cv->aggs[a];
			ExprState **argstates = &cv->argstates[a * CONTINUOUS_MAX_AGG_ARGS];

			/* FILTER (WHERE ...): the row is not an input of this aggregate. */
			if (cv->filterstates[a] && !ExecQual(cv->filterstates[a], econtext))
				continue;
			for (int i = 0; i < agg->numArgs; i++)
				buf[i] = ExecEvalExpr(argstates[i], econtext, &nullbuf[i]);
			agg_advance(agg, &g->states[a], &g->statenulls[a], buf, nullbuf, av->deltacxt);
		}
		av->pending_events++;
		pending_events_total++;
	}
	MemoryContextSwitchTo(old);
	ResetExprContext(econtext);
	ExecClearTuple(cv->sourceslot);
}

/* Applies a row of relation (a source or a partition of one) to its views. */
static void
apply_row_to_targets(List *targets, HeapTuple tuple)
{
	ListCell   *lc;

	foreach(lc, targets)
	{
		RelationTarget *t = lfirst(lc);
		ApplyView  *av = t->view;
		HeapTuple volatile converted = tuple;
		MemoryContext cxt = CurrentMemoryContext;

		if (av->disabled || current_end_lsn <= av->skip_until)
			continue;
		PG_TRY();
		{
			if (av->uses_settings)
				use_view_settings(av);
			if (t->map)
				converted = execute_attr_map_tuple(tuple, t->map);
			apply_row(av, converted);
			if (converted != tuple)
				heap_freetuple(converted);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			disable_view(av, edata->message);
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
}

/* ----------------------------------------------------------------------
 * Merge: deltas into shared memory
 * ----------------------------------------------------------------------
 */

static bool
merge_view(ApplyView *av)
{
	CompiledView *cv = av->cv;
	SharedView *shared;
	StoreChange *changes;
	int			nchanges = 0;
	Datum	   *values;
	bool	   *nulls;
	Datum	   *sharedkeys;
	bool	   *sharedkeynulls;
	bool		ok;
	MemoryContext old;

	if (av->disabled ||
		(av->ngroups == 0 && av->pending_lsn == InvalidXLogRecPtr && !av->reset_pending))
		return true;
	if (av->shared == NULL)
	{
		av->shared = store_view_attach(decoder_db, av->view_id);
		if (av->shared == NULL)
			return false;
	}
	shared = av->shared;

	old = MemoryContextSwitchTo(merge_cxt);
	changes = palloc(sizeof(StoreChange) * Max(av->ngroups, 1));
	/* After a TRUNCATE of the source the delta replaces the shared groups. */
	values = palloc(sizeof(Datum) * (cv->nkeys + cv->naggs));
	nulls = palloc(sizeof(bool) * (cv->nkeys + cv->naggs));
	sharedkeys = palloc(sizeof(Datum) * (cv->nkeys + cv->naggs));
	sharedkeynulls = palloc(sizeof(bool) * (cv->nkeys + cv->naggs));

	LWLockAcquire(&shared->lock, LW_SHARED);
	if (shared->dropped || shared->failed)
	{
		LWLockRelease(&shared->lock);
		MemoryContextSwitchTo(old);
		MemoryContextReset(merge_cxt);
		delta_reset(av);
		av->disabled = true;
		return true;
	}

	for (uint32 b = 0; b < av->nbuckets; b++)
	{
		for (DeltaGroup *g = av->buckets[b]; g; g = g->next)
		{
			dsa_pointer dp = InvalidDsaPointer;
			SharedGroup *sg;
			MinimalTuple local = NULL;

			/* Find the shared group with an equal key. */
			for (sg = av->reset_pending ? NULL : store_group_first(shared, g->hash, &dp); sg;
				 sg = store_group_next(sg, g->hash, &dp))
			{
				MinimalTuple mt = SHARED_GROUP_TUPLE(sg);
				HeapTupleData htup;

				/* A private copy: combine functions may update in place. */
				local = palloc(mt->t_len);
				memcpy(local, mt, mt->t_len);
				htup.t_len = local->t_len + MINIMAL_TUPLE_OFFSET;
				htup.t_data = (HeapTupleHeader) ((char *) local - MINIMAL_TUPLE_OFFSET);
				heap_deform_tuple(&htup, cv->groupdesc, sharedkeys, sharedkeynulls);
				if (compile_keys_equal(cv, sharedkeys, sharedkeynulls, g->keys, g->keynulls))
					break;
				pfree(local);
				local = NULL;
			}

			for (int k = 0; k < cv->nkeys; k++)
			{
				values[k] = local ? sharedkeys[k] : g->keys[k];
				nulls[k] = local ? sharedkeynulls[k] : g->keynulls[k];
			}
			for (int a = 0; a < cv->naggs; a++)
			{
				ContinuousAgg *agg = &cv->aggs[a];
				Datum		state;
				bool		stateisnull;

				if (local)
				{
					stateisnull = sharedkeynulls[cv->nkeys + a];
					state = agg_from_stored(agg, sharedkeys[cv->nkeys + a], stateisnull, merge_cxt);
					agg_combine(agg, &state, &stateisnull, g->states[a], g->statenulls[a], merge_cxt);
				}
				else
				{
					state = g->states[a];
					stateisnull = g->statenulls[a];
				}
				values[cv->nkeys + a] = agg_to_stored(agg, state, stateisnull);
				nulls[cv->nkeys + a] = stateisnull;
			}
			changes[nchanges].old_group = local ? dp : InvalidDsaPointer;
			changes[nchanges].hash = g->hash;
			changes[nchanges].has_window = cv->window_key >= 0 && !g->keynulls[cv->window_key];
			changes[nchanges].window_start = changes[nchanges].has_window ?
				DatumGetInt64(g->keys[cv->window_key]) : 0;
			changes[nchanges].new_tuple = heap_form_minimal_tuple(cv->groupdesc, values, nulls);
			nchanges++;
		}
	}
	ok = store_prepare_changes(shared, changes, nchanges, av->reset_pending);
	LWLockRelease(&shared->lock);
	MemoryContextSwitchTo(old);

	if (ok)
	{
		if (!store_publish_changes(shared, changes, nchanges, av->reset_pending,
								   av->pending_lsn, av->pending_commit_time, av->pending_events))
			av->disabled = true;	/* dropped meanwhile */
		delta_reset(av);
		av->reset_pending = false;
	}
	MemoryContextReset(merge_cxt);
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
bool
decoder_merge_all(void)
{
	ListCell   *lc;
	volatile bool all_ok = true;
	bool		own_xact = !IsTransactionState();

	if (own_xact)
		StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);
		MemoryContext cxt = CurrentMemoryContext;
		volatile bool ok = true;

		PG_TRY();
		{
			ok = merge_view(av);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			LWLockReleaseAll();
			MemoryContextReset(merge_cxt);
			disable_view(av, edata->message);
			FreeErrorData(edata);
		}
		PG_END_TRY();

		if (!ok)
		{
			char	   *msg = psprintf("shared memory for continuous views is full while applying continuous view %s; "
									   "raise continuous.shared_memory (now %d kB) or drop views",
									   av->name, continuous_shared_memory_kb);

			if (!paused)
				ereport(LOG, (errmsg("pg_continuous: %s", msg)));
			store_db_set_error(decoder_db, msg);
			all_ok = false;
		}
	}
	PopActiveSnapshot();
	if (own_xact)
		CommitTransactionCommand();

	if (all_ok)
	{
		pending_events_total = 0;
		if (paused)
		{
			store_db_set_error(decoder_db, NULL);
			ereport(LOG, (errmsg("pg_continuous: shared memory available again, resuming")));
		}
	}
	paused = !all_ok;
	return all_ok;
}

bool
decoder_paused(void)
{
	return paused;
}

bool
decoder_drop_requested(void)
{
	return drop_requested;
}

TimestampTz
decoder_last_commit_time(void)
{
	return last_commit_time;
}

/* ----------------------------------------------------------------------
 * Output plugin callbacks
 * ----------------------------------------------------------------------
 */

static void
continuous_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	if (!worker_is_continuous_worker())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_continuous cannot be used as an output plugin by clients"),
				 errdetail("It is used only by the pg_continuous worker.")));
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
}

static void
continuous_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	current_end_lsn = txn->end_lsn;
	current_timezone = current_datestyle = current_intervalstyle = NULL;
}

static void
handle_catalog_change(Relation relation, ReorderBufferChange *change)
{
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);

	if (change->action == REORDER_BUFFER_CHANGE_INSERT && change->data.tp.newtuple)
	{
		char	   *querytree;

		heap_deform_tuple(&change->data.tp.newtuple->tuple, desc, values, nulls);
		querytree = TextDatumGetCString(values[Anum_view_catalog_querytree - 1]);
		if (desc->natts < Anum_view_catalog_intervalstyle)
			elog(ERROR, "continuous.view_catalog has %d columns, expected %d",
				 desc->natts, Anum_view_catalog_intervalstyle);
		register_view(DatumGetInt32(values[Anum_view_catalog_id - 1]),
					  DatumGetObjectId(values[Anum_view_catalog_viewrelid - 1]),
					  DatumGetObjectId(values[Anum_view_catalog_sourcerelid - 1]),
					  querytree,
					  TextDatumGetCString(values[Anum_view_catalog_timezone - 1]),
					  TextDatumGetCString(values[Anum_view_catalog_datestyle - 1]),
					  TextDatumGetCString(values[Anum_view_catalog_intervalstyle - 1]));
	}
	else if (change->action == REORDER_BUFFER_CHANGE_DELETE && change->data.tp.oldtuple)
	{
		heap_deform_tuple(&change->data.tp.oldtuple->tuple, desc, values, nulls);
		unregister_view(DatumGetInt32(values[Anum_view_catalog_id - 1]));
	}
}

static void
mark_targets_stale(List *targets, const char *what, Relation relation, XLogRecPtr lsn)
{
	ListCell   *lc;

	foreach(lc, targets)
	{
		RelationTarget *t = lfirst(lc);
		ApplyView  *av = t->view;

		if (av->disabled || current_end_lsn <= av->skip_until || av->shared == NULL)
			continue;
		store_view_mark_stale(av->shared,
							  psprintf("%s on \"%s\" at %X/%X: only INSERT is maintained so far.",
									   what, RelationGetRelationName(relation), LSN_FORMAT_ARGS(lsn)));
	}
}

static void
continuous_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  Relation relation, ReorderBufferChange *change)
{
	RelationMapEntry *entry;

	if (RelationGetRelid(relation) == catalog_relid)
	{
		handle_catalog_change(relation, change);
		return;
	}
	entry = relation_map_lookup(relation);
	if (entry->targets == NIL)
		return;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (change->data.tp.newtuple)
			{
				/* Functions that are not inlined (PL/pgSQL, say) need a snapshot. */
				PushActiveSnapshot(GetTransactionSnapshot());
				apply_row_to_targets(entry->targets, &change->data.tp.newtuple->tuple);
				PopActiveSnapshot();
			}
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			mark_targets_stale(entry->targets, "UPDATE", relation, change->lsn);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			mark_targets_stale(entry->targets, "DELETE", relation, change->lsn);
			break;
		default:
			break;
	}
}

/*
 * Does a TRUNCATE of these relations empty the view's whole source (the
 * table, or every leaf partition of a partitioned one)?
 */
static bool
truncate_covers_source(ApplyView *av, int nrelations, Relation relations[])
{
	List	   *leaves = find_all_inheritors(av->cv->sourcerelid, NoLock, NULL);
	ListCell   *lc;

	foreach(lc, leaves)
	{
		Oid			leaf = lfirst_oid(lc);
		bool		truncated = false;

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
static void
continuous_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					int nrelations, Relation relations[], ReorderBufferChange *change)
{
	for (int i = 0; i < nrelations; i++)
	{
		RelationMapEntry *entry = relation_map_lookup(relations[i]);
		ListCell   *lc;

		foreach(lc, entry->targets)
		{
			ApplyView  *av = ((RelationTarget *) lfirst(lc))->view;

			if (av->disabled || current_end_lsn <= av->skip_until)
				continue;
			if (truncate_covers_source(av, nrelations, relations))
			{
				XLogRecPtr	pending_lsn = av->pending_lsn;
				TimestampTz pending_time = av->pending_commit_time;

				delta_reset(av);
				av->pending_lsn = pending_lsn;
				av->pending_commit_time = pending_time;
				av->reset_pending = true;
			}
			else
				mark_targets_stale(list_make1(lfirst(lc)), "TRUNCATE of some partitions",
								   relations[i], change->lsn);
		}
	}
}

typedef struct StreamApplyArg
{
	List	   *targets;
} StreamApplyArg;

static void
apply_stream_event(Oid streamrelid, HeapTuple tuple, void *arg)
{
	apply_row_to_targets(((StreamApplyArg *) arg)->targets, tuple);
}

static void
continuous_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   XLogRecPtr message_lsn, bool transactional,
				   const char *prefix, Size message_size, const char *message)
{
	if (!transactional)
		return;
	if (strcmp(prefix, CONTINUOUS_EVENTS_PREFIX) == 0)
	{
		Oid			relid = stream_message_relid(message, message_size);
		Relation	relation;
		StreamApplyArg arg;

		relation = RelationIdGetRelation(relid);
		if (!RelationIsValid(relation))
			return;				/* the stream was dropped later in this transaction */
		arg.targets = relation_map_lookup(relation)->targets;
		RelationClose(relation);
		if (arg.targets != NIL)
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			stream_decode_message(message, message_size, apply_stream_event, &arg);
			PopActiveSnapshot();
		}
	}
	else if (strcmp(prefix, CONTINUOUS_DROP_PREFIX) == 0)
		drop_requested = true;
}

static void
continuous_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	ListCell   *lc;

	last_commit_time = txn->xact_time.commit_time;
	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);

		if (av->disabled || txn->end_lsn <= av->skip_until)
			continue;
		av->pending_lsn = txn->end_lsn;
		av->pending_commit_time = txn->xact_time.commit_time;
	}
	if (pending_events_total >= (uint64) continuous_apply_batch_events)
		(void) decoder_merge_all();
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = continuous_startup;
	cb->begin_cb = continuous_begin;
	cb->change_cb = continuous_change;
	cb->truncate_cb = continuous_truncate;
	cb->commit_cb = continuous_commit;
	cb->message_cb = continuous_message;
}
