/*-------------------------------------------------------------------------
 * decoder.c
 *	  The extension's logical decoding output plugin, run only inside the
 *	  database's worker: it folds every committed change into per-view
 *	  deltas in local memory, which merge.c merges into shared memory at
 *	  transaction boundaries; and the registry of views, checkpoints and
 *	  backfill.
 *
 * Vocabulary
 *	apply view (ApplyView): the worker's record of one continuous view: its
 *		compiled definition, its shared state, and its delta.
 *	delta: per view, a local hash table from group key to transition states
 *		that folds the rows of the transactions decoded since the last
 *		merge.  Merging (merge.c) combines each delta group into the shared
 *		group with the aggregate's combine function (store_prepare_changes,
 *		then store_publish_changes), so a merge publishes whole transactions.
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
 * Checkpoints (decoder_checkpoint) write, per view, the groups changed since
 * the previous one: each ApplyView keeps the shared addresses of the groups
 * its merges touched.  decoder_start registers the views of the last
 * checkpoint before decoding starts, since the commits that created them
 * are not decoded again.  A view over a table is "initializing" until
 * decoder_backfill has scanned the table with a snapshot worker.c takes;
 * until then the decoder ignores its changes.
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
 * The worker is a superuser; a view's definition (its expressions and
 * aggregates, in apply_row and merge.c) runs as the view's owner, in a
 * security-restricted operation (apply_become_owner).
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
#include "access/table.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "executor/executor.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"

#include "apply.h"
#include "checkpoint.h"
#include "compile.h"
#include "decoder.h"
#include "keptinputs.h"
#include "multiset.h"
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

static XLogRecPtr current_end_lsn = InvalidXLogRecPtr;
static List *forgotten_views = NIL;	/* dropped since the last checkpoint */

/* Settings in force in the current decoded transaction (see use_view_settings). */
static const char *current_timezone = NULL;
static const char *current_datestyle = NULL;
static const char *current_intervalstyle = NULL;
static TimestampTz last_commit_time = 0;
static uint64 pending_events_total = 0;
static bool drop_requested = false;
static bool owners_stale = false;	/* a relation or role changed: see check_view_owners */

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
	owners_stale = true;
}

/* Role memberships and attributes, and functions' ACLs, decide privileges too. */
static void
role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	owners_stale = true;
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

void
apply_delta_reset(ApplyView *av)
{
	MemoryContextReset(av->deltacxt);
	av->nbuckets = 64;
	av->buckets = MemoryContextAllocZero(av->deltacxt, sizeof(DeltaGroup *) * av->nbuckets);
	av->ngroups = 0;
	av->pending_events = 0;
	av->pending_lsn = InvalidXLogRecPtr;
	av->pending_commit_time = 0;
}

/* The owner of relation relid, InvalidOid if there is none. */
static Oid
view_owner(Oid relid)
{
	HeapTuple	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(classtup))
	{
		owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
		ReleaseSysCache(classtup);
	}
	return owner;
}

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

/* Registers a view decoded from a catalog insert; runs in its transaction. */
static void
register_view(int32 view_id, Oid viewrelid, Oid sourcerelid, const char *querytree,
			  const char *timezone, const char *datestyle, const char *intervalstyle)
{
	MemoryContext old = MemoryContextSwitchTo(decoder_cxt);
	ApplyView  *av;
	Relation	source;
	ApplyUser	worker_user;

	if (find_apply_view(view_id) != NULL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	av = palloc0(sizeof(ApplyView));
	av->view_id = view_id;
	av->viewrelid = viewrelid;
	av->owner = view_owner(viewrelid);
	owners_stale = true;		/* check_view_owners checks it before use */
	{
		char	   *relname = get_rel_name(viewrelid);
		char	   *nspname = relname ? get_namespace_name(get_rel_namespace(viewrelid)) : NULL;

		av->name = relname ? quote_qualified_identifier(nspname, relname)
			: psprintf("continuous view %d", view_id);
	}
	source = RelationIdGetRelation(sourcerelid);
	if (!RelationIsValid(source))
		elog(ERROR, "could not open source %u of continuous view %d", sourcerelid, view_id);
	/*
	 * Compiling runs the owner's code too (constant folding, initial
	 * values), which may run SQL: it needs a snapshot (the historic one while
	 * decoding).  An error there fails the view, not the worker.
	 */
	if (OidIsValid(av->owner))
		apply_become_owner(av, &worker_user);
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		av->cv = compile_view(view_id, sourcerelid, querytree);
		compile_view_for_apply(av->cv, RelationGetDescr(source));
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		SharedView *shared;

		if (OidIsValid(av->owner))
			apply_restore_user(&worker_user);
		if (ProcDiePending || QueryCancelPending)
			PG_RE_THROW();
		MemoryContextSwitchTo(decoder_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		PopActiveSnapshot();
		RelationClose(source);
		shared = store_view_attach(decoder_db, view_id, VIEW_READY);
		if (shared)
			store_view_mark_failed(shared, edata->message);
		ereport(LOG,
				(errmsg("pg_continuous: continuous view %s is no longer maintained", av->name),
				 errdetail("Compiling its definition failed: %s", edata->message)));
		FreeErrorData(edata);
		MemoryContextSwitchTo(old);
		return;
	}
	PG_END_TRY();
	PopActiveSnapshot();
	if (OidIsValid(av->owner))
		apply_restore_user(&worker_user);
	RelationClose(source);
	av->uses_settings = compile_uses_session_settings(av->cv);
	av->runs_user_code = compile_calls_user_functions(av->cv);
	av->timezone = pstrdup(timezone);
	av->datestyle = pstrdup(datestyle);
	av->intervalstyle = pstrdup(intervalstyle);
	av->deltacxt = AllocSetContextCreate(decoder_cxt, "continuous delta", ALLOCSET_DEFAULT_SIZES);
	av->is_table = get_rel_relkind(sourcerelid) != RELKIND_FOREIGN_TABLE;
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(dsa_pointer);
		ctl.entrysize = sizeof(dsa_pointer);
		ctl.hcxt = decoder_cxt;
		av->dirty = hash_create("continuous dirty groups", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	av->keybuf = palloc(sizeof(Datum) * (av->cv->nkeys + CONTINUOUS_MAX_AGG_ARGS + 1));
	av->keynullbuf = palloc(sizeof(bool) * (av->cv->nkeys + CONTINUOUS_MAX_AGG_ARGS + 1));
	apply_delta_reset(av);

	/*
	 * A restarted worker finds the state it left; transactions it had merged
	 * are skipped for this view, and the groups it had not checkpointed yet
	 * are found by their dirty flags.  A view over a table starts with a
	 * backfill.
	 */
	av->shared = store_view_attach(decoder_db, view_id,
								   av->is_table ? VIEW_INITIALIZING : VIEW_READY);
	if (av->shared)
	{
		dsa_pointer *dirty;
		int			ndirty = store_view_dirty_groups(av->shared, &dirty);

		av->skip_until = av->shared->applied_lsn;
		for (int i = 0; i < ndirty; i++)
			(void) hash_search(av->dirty, &dirty[i], HASH_ENTER, NULL);
		pfree(dirty);
		if (av->shared->state == VIEW_FAILED)
			av->disabled = true;
	}
	/* A view whose relation is gone is being dropped: its drop follows. */
	if (!OidIsValid(av->owner) && !av->disabled)
		apply_disable_view(av, "the view's relation does not exist");
	av->initializing = av->is_table &&
		(av->shared == NULL || av->shared->state == VIEW_INITIALIZING);
	av->reset_pending = av->initializing;
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
		hash_destroy(av->dirty);
		pfree(av);
	}
	store_view_drop(decoder_db, view_id);
	{
		MemoryContext old = MemoryContextSwitchTo(decoder_cxt);

		forgotten_views = lappend_int(forgotten_views, view_id);
		MemoryContextSwitchTo(old);
	}
	elog(DEBUG1, "pg_continuous: continuous view %d dropped", view_id);
}

/* Forgets the dirty groups of a view whose groups were all freed. */
void
apply_dirty_reset(ApplyView *av)
{
	HASH_SEQ_STATUS seq;
	dsa_pointer *dp;

	hash_seq_init(&seq, av->dirty);
	while ((dp = hash_seq_search(&seq)) != NULL)
		(void) hash_search(av->dirty, dp, HASH_REMOVE, NULL);
}


/*
 * The worker is a superuser, but a view's definition is its owner's code:
 * its functions, operators and aggregates run with the owner's privileges,
 * in a security-restricted operation, as REFRESH MATERIALIZED VIEW runs a
 * materialized view's query.  Every call into the definition (compiling
 * it, apply_row, merge_view) is bracketed by these two; an error in between
 * must restore the worker's role before the worker goes on.  Settings the
 * owner's code changes (set_config()) are undone at the end of the bracket,
 * so they reach neither the worker nor other views; a view's own settings
 * (use_view_settings) are applied before the bracket.
 */
void
apply_become_owner(ApplyView *av, ApplyUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(av->owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	/*
	 * Only functions that are not built in can change settings.  Undoing
	 * costs a scan of every setting on PostgreSQL 15 once any changed in
	 * the transaction (as use_view_settings does), so views calling none
	 * skip it.  Before compiling (cv NULL), assume they do.
	 */
	saved->guc_nest_level = (av->cv == NULL || av->runs_user_code) ? NewGUCNestLevel() : -1;
}

void
apply_restore_user(const ApplyUser *saved)
{
	if (saved->guc_nest_level >= 0)
		AtEOXact_GUC(false, saved->guc_nest_level);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/* A function the current user may not execute: its oid into *context. */
static bool
denied_function_checker(Oid funcid, void *context)
{
	if (pg_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK)
		return false;
	*(Oid *) context = funcid;
	return true;
}


/*
 * After a relation or role changed (owners_stale), reads each view's owner
 * again (ALTER VIEW ... OWNER TO) and checks that the owner may still read
 * what the definition reads and execute the functions it calls, as the
 * owner's code had to when the view was compiled; a view whose owner may
 * not fails, as REFRESH MATERIALIZED VIEW would.  In the
 * catalog as of the transaction being decoded, so a view stops exactly at
 * a REVOKE.  Needs a transaction.
 */
static void
check_view_owners(void)
{
	ListCell   *lc;

	owners_stale = false;
	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);
		Oid			owner;
		ApplyUser	worker_user;
		volatile bool allowed;
		Oid			denied = InvalidOid;

		if (av->disabled)
			continue;
		/* A view or source dropped meanwhile: its drop is decoded later. */
		owner = view_owner(av->viewrelid);
		if (!OidIsValid(owner) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(av->cv->sourcerelid)))
			continue;
		av->owner = owner;
		apply_become_owner(av, &worker_user);
		PG_TRY();
		{
#if PG_VERSION_NUM >= 160000
			allowed = ExecCheckPermissions(av->cv->query->rtable, av->cv->query->rteperminfos, false);
#else
			allowed = ExecCheckRTPerms(av->cv->query->rtable, false);
#endif
			(void) compile_query_calls(av->cv, denied_function_checker, &denied);
		}
		PG_CATCH();
		{
			apply_restore_user(&worker_user);
			PG_RE_THROW();
		}
		PG_END_TRY();
		apply_restore_user(&worker_user);
		if (!allowed)
		{
			char	   *source = get_rel_name(av->cv->sourcerelid);
			char	   *role = GetUserNameFromId(av->owner, true);

			apply_disable_view(av, psprintf("permission denied for table %s: the view's owner %s may no longer read it",
											source ? source : "(dropped)", role ? role : "(dropped)"));
		}
		else if (OidIsValid(denied))
		{
			char	   *role = GetUserNameFromId(av->owner, true);

			apply_disable_view(av, psprintf("permission denied for function %s: the view's owner %s may no longer execute it",
											format_procedure(denied), role ? role : "(dropped)"));
		}
	}
}

void
apply_disable_view(ApplyView *av, const char *error)
{
	av->disabled = true;
	av->initializing = false;
	apply_delta_reset(av);
	apply_dirty_reset(av);
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
	merge_init(decoder_cxt);
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, role_callback, (Datum) 0);
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
 * Folds one source row into the view's delta: sign +1 adds it (INSERT, the
 * new row of an UPDATE, a backfilled row), -1 takes it out (DELETE, the old
 * row of an UPDATE; views over tables only).
 */
static void
apply_row(ApplyView *av, HeapTuple tuple, int sign)
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
		hash = compile_hash_key(cv, NULL, buf, nullbuf);
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
			if (sign > 0)
				agg_advance(agg, &g->states[a], &g->statenulls[a], buf, nullbuf, av->deltacxt);
			/* Rows taken out of an invertible one; every row of an input owner. */
			if (cv->retractable && (agg->invertible ? sign < 0 : cv->inputs_owner[a] == a))
			{
				uint32		len;
				char	   *data = agg_encode_args(agg, buf, nullbuf, &len);

				if (g->inputs[a] == NULL)
					g->inputs[a] = multiset_create(av->deltacxt);
				multiset_add(g->inputs[a], data, len, sign);
				if (sign < 0)
					g->retracted[a] = true;
			}
		}
		g->rows += sign;
		av->pending_events++;
		pending_events_total++;
	}
	MemoryContextSwitchTo(old);
	ResetExprContext(econtext);
	ExecClearTuple(cv->sourceslot);
}

/* Applies a row of relation (a source or a partition of one) to its views. */
static void
apply_row_to_targets(List *targets, HeapTuple tuple, int sign)
{
	ListCell   *lc;

	if (owners_stale && IsTransactionState())
		check_view_owners();
	foreach(lc, targets)
	{
		RelationTarget *t = lfirst(lc);
		ApplyView  *av = t->view;
		HeapTuple volatile converted = tuple;
		MemoryContext cxt = CurrentMemoryContext;

		ApplyUser	worker_user;

		if (av->disabled || av->initializing || current_end_lsn <= av->skip_until)
			continue;
		if (av->uses_settings)
			use_view_settings(av);
		apply_become_owner(av, &worker_user);
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
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			apply_disable_view(av, edata->message);
			FreeErrorData(edata);
		}
		PG_END_TRY();
		apply_restore_user(&worker_user);
	}
}

/*
 * Merges every view's delta (merge.c).  Returns false, keeping the deltas
 * that did not fit, when shared memory is full; the worker then pauses.
 */
bool
decoder_merge_all(void)
{
	if (!merge_views(decoder_db, apply_views))
		return false;
	if (continuous_debug_merge_delay_ms > 0 && pending_events_total > 0)
		pg_usleep((long) continuous_debug_merge_delay_ms * 1000L);
	pending_events_total = 0;
	return true;
}

bool
decoder_paused(void)
{
	return merge_paused();
}

bool
decoder_drop_requested(void)
{
	return drop_requested;
}

/* Does the worker maintain any view (or one waiting for its backfill)? */
bool
decoder_has_views(void)
{
	return apply_views != NIL;
}

TimestampTz
decoder_last_commit_time(void)
{
	return last_commit_time;
}

/* ----------------------------------------------------------------------
 * Checkpoints: writing them, and starting from one
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
	int			natts = cv->groupdesc->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	HeapTupleData htup;
	MinimalTuple result;

	htup.t_len = row->t_len + MINIMAL_TUPLE_OFFSET;
	htup.t_data = (HeapTupleHeader) ((char *) row - MINIMAL_TUPLE_OFFSET);
	heap_deform_tuple(&htup, cv->groupdesc, values, nulls);
	for (int a = 0; a < cv->naggs; a++)
	{
		int			att = COMPILE_INPUTS_ATT(cv, a);

		if (!nulls[att])
			values[att] = PointerGetDatum(kept_inputs_export(DatumGetByteaPP(values[att])));
	}
	result = heap_form_minimal_tuple(cv->groupdesc, values, nulls);
	pfree(values);
	pfree(nulls);
	return result;
}

/*
 * Writes a checkpoint reflecting every commit before lsn (the caller has
 * merged every delta up to there), in one transaction.  Per view it writes
 * the groups changed since the previous checkpoint; after the commit their
 * dirty flags are cleared.
 */
void
decoder_checkpoint(XLogRecPtr lsn)
{
	typedef struct Written
	{
		ApplyView  *av;
		dsa_pointer *groups;
		int			ngroups;
	} Written;
	Written    *written = palloc0(sizeof(Written) * Max(list_length(apply_views), 1));
	int			nwritten = 0;
	ListCell   *lc;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "continuous checkpoint",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	TimestampTz now = GetCurrentTimestamp();

	checkpoint_begin();
	foreach(lc, forgotten_views)
		checkpoint_forget_view(lfirst_int(lc));
	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);
		StoreViewHeader header;
		HASH_SEQ_STATUS seq;
		dsa_pointer *dp;
		dsa_pointer *groups;
		int64	   *ids;
		MinimalTuple *tuples;
		int			n = 0;
		bool		cleared = false;

		if (av->shared == NULL)
		{
			/* No room in shared memory yet: the view is known, and empty. */
			memset(&header, 0, sizeof(header));
			header.state = av->is_table ? VIEW_INITIALIZING : VIEW_READY;
			checkpoint_write_view(av->view_id, &header, true, 0, NULL, NULL);
			continue;
		}
		old = MemoryContextSwitchTo(cxt);
		groups = MemoryContextAlloc(decoder_cxt, sizeof(dsa_pointer) * Max(hash_get_num_entries(av->dirty), 1));
		hash_seq_init(&seq, av->dirty);
		while ((dp = hash_seq_search(&seq)) != NULL)
			groups[n++] = *dp;
		ids = palloc(sizeof(int64) * Max(n, 1));
		tuples = palloc(sizeof(MinimalTuple) * Max(n, 1));
		store_view_get_header(av->shared, &header);
		if (store_view_copy_groups(av->shared, groups, n, ids, tuples, &cleared,
								   av->cv->retractable ? checkpoint_row : NULL, av->cv))
		{
			checkpoint_write_view(av->view_id, &header, cleared, n, ids, tuples);
			written[nwritten].av = av;
			written[nwritten].groups = groups;
			written[nwritten].ngroups = n;
			nwritten++;
		}
		else
			pfree(groups);		/* dropped: its rows go when the drop is decoded */
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
	}
	checkpoint_end(lsn, now);

	for (int i = 0; i < nwritten; i++)
	{
		ApplyView  *av = written[i].av;

		store_view_clear_dirty(av->shared, written[i].groups, written[i].ngroups);
		apply_dirty_reset(av);
		pfree(written[i].groups);
	}
	list_free(forgotten_views);
	forgotten_views = NIL;
	store_db_set_checkpoint(decoder_db, lsn, now);
	MemoryContextDelete(cxt);
	pfree(written);
}

typedef struct LoadArg
{
	ApplyView  *av;
	StoreChange *changes;
	int			nchanges;
	int			capacity;
	Datum	   *values;
	bool	   *nulls;
	KeptBlobs	blobs;			/* runs made of checkpointed kept inputs */
} LoadArg;

static void
load_error_full(ApplyView *av)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("shared memory for continuous views is too small to load the checkpoint of continuous view %s",
					av->name),
			 errhint("Raise continuous.shared_memory (now %d kB) and restart the server.",
					 continuous_shared_memory_kb)));
}

static void
load_group(int64 group_id, MinimalTuple tuple, void *arg)
{
	LoadArg    *la = arg;
	CompiledView *cv = la->av->cv;
	HeapTupleData htup;
	StoreChange *c;

	if (tuple->t_len < SizeofMinimalTupleHeader ||
		HeapTupleHeaderGetNatts((HeapTupleHeader) ((char *) tuple - MINIMAL_TUPLE_OFFSET)) != cv->groupdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checkpointed group %lld of continuous view %s does not match its definition",
						(long long) group_id, la->av->name)));
	htup.t_len = tuple->t_len + MINIMAL_TUPLE_OFFSET;
	htup.t_data = (HeapTupleHeader) ((char *) tuple - MINIMAL_TUPLE_OFFSET);
	heap_deform_tuple(&htup, cv->groupdesc, la->values, la->nulls);

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
			int			att = COMPILE_INPUTS_ATT(cv, a);
			bytea	   *runlist;

			if (la->nulls[att])
				continue;
			if (!kept_inputs_import(DatumGetByteaPP(la->values[att]), &la->blobs, &runlist))
				load_error_full(la->av);	/* load_view gives the blobs back */
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
	LoadArg		la;
	StoreBatch	batch;
	MemoryContext old = MemoryContextSwitchTo(merge_context());
	bool		ok;

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
	ereport(DEBUG1, (errmsg("pg_continuous: loaded %d groups of continuous view %s",
							la.nchanges, av->name)));
}

static CheckpointView *
find_checkpointed(List *views, int32 view_id)
{
	ListCell   *lc;

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
decoder_start(const CheckpointInfo *ckpt, bool shared_loaded, bool gap, XLogRecPtr gap_to)
{
	List	   *checkpointed = ckpt->exists ? checkpoint_read_views() : NIL;
	int			nviews = 0;
	uint64		ngroups = 0;
	ListCell   *lc;
	int			nest_level;

	SPI_connect();
	nest_level = continuous_pin_search_path();
	if (SPI_execute("SELECT id, viewrelid, sourcerelid, querytree, timezone, datestyle, intervalstyle "
					"FROM continuous.view_catalog ORDER BY id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.view_catalog");
	/* Definitions compile in the session's search_path (SQL function bodies). */
	continuous_unpin_search_path(nest_level);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		view_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		CheckpointView *cpv = find_checkpointed(checkpointed, view_id);
		ApplyView  *av;

		if (cpv == NULL && !gap)
			continue;			/* created after the checkpoint: decoded later */
		register_view(view_id,
					  DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull)),
					  DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull)),
					  SPI_getvalue(tup, desc, 4), SPI_getvalue(tup, desc, 5),
					  SPI_getvalue(tup, desc, 6), SPI_getvalue(tup, desc, 7));
		av = find_apply_view(view_id);
		if (av->shared == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("shared memory for continuous views is full"),
					 errhint("Raise continuous.shared_memory (now %d kB) and restart the server.",
							 continuous_shared_memory_kb)));
		if (cpv && !shared_loaded)
		{
			load_view(av, &cpv->header);
			av->disabled = cpv->header.state == VIEW_FAILED;
			av->initializing = cpv->header.state == VIEW_INITIALIZING;
			av->reset_pending = av->initializing;
			av->skip_until = cpv->header.applied_lsn;
			ngroups += av->shared->ngroups;
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
	SPI_finish();

	/* Views dropped since the checkpoint leave it at the next one. */
	foreach(lc, checkpointed)
	{
		CheckpointView *cpv = lfirst(lc);

		if (find_apply_view(cpv->view_id) == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(decoder_cxt);

			forgotten_views = lappend_int(forgotten_views, cpv->view_id);
			MemoryContextSwitchTo(old);
		}
	}
	if (ckpt->exists)
		ereport(LOG,
				(errmsg("pg_continuous: loaded checkpoint at %X/%X (%d views, " UINT64_FORMAT " groups%s)",
						LSN_FORMAT_ARGS(ckpt->lsn), nviews, ngroups,
						shared_loaded ? ", state kept in shared memory" : "")));
}

/* ----------------------------------------------------------------------
 * Backfill: views over tables start from the table's contents
 * ----------------------------------------------------------------------
 */

/* Has any view changed groups, or been dropped, since the last checkpoint? */
bool
decoder_has_changes(void)
{
	ListCell   *lc;

	if (forgotten_views != NIL)
		return true;
	foreach(lc, apply_views)
		if (hash_get_num_entries(((ApplyView *) lfirst(lc))->dirty) > 0)
			return true;
	return false;
}

bool
decoder_backfill_pending(void)
{
	ListCell   *lc;

	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);

		if (av->initializing && !av->disabled)
			return true;
	}
	return false;
}

static uint64
estimate_rows(List *leaves)
{
	double		total = 0;
	ListCell   *lc;

	foreach(lc, leaves)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);

		if (rel->rd_rel->reltuples > 0)
			total += rel->rd_rel->reltuples;
		else
			total += RelationGetNumberOfBlocks(rel) * 100.0;	/* never analyzed */
		table_close(rel, AccessShareLock);
	}
	return (uint64) total;
}

/*
 * Scans one view's source with the active snapshot and merges the result,
 * a batch of rows at a time, into the view's shared state, which stays
 * unreadable until the last batch.  Errors disable the view.
 */
static void
backfill_view(ApplyView *av, XLogRecPtr consistent_lsn)
{
	List	   *volatile leaves = NIL;
	ListCell   *lc;
	volatile uint64 scanned = 0;
	Oid			sourcerelid = av->cv->sourcerelid;
	MemoryContext cxt = CurrentMemoryContext;
	ApplyUser	worker_user;

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
	apply_delta_reset(av);
	av->backfilling = true;
	av->reset_pending = true;
	current_timezone = current_datestyle = current_intervalstyle = NULL;

	apply_become_owner(av, &worker_user);
	PG_TRY();
	{
		foreach(lc, leaves)
		{
			Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);
			TupleConversionMap *map = NULL;
			TupleTableSlot *slot = table_slot_create(rel, NULL);
			TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);

			if (RelationGetRelid(rel) != sourcerelid)
				map = convert_tuples_by_name(RelationGetDescr(rel), av->cv->sourcedesc);
			while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
			{
				bool		should_free;
				HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &should_free);
				HeapTuple	converted = map ? execute_attr_map_tuple(tuple, map) : tuple;

				if (av->uses_settings)
					use_view_settings(av);
				apply_row(av, converted, 1);
				if (converted != tuple)
					heap_freetuple(converted);
				if (should_free)
					heap_freetuple(tuple);
				if (++scanned % continuous_apply_batch_events == 0)
				{
					if (!merge_view(decoder_db, av))
						ereport(ERROR,
								(errcode(ERRCODE_OUT_OF_MEMORY),
								 errmsg("shared memory for continuous views is full"),
								 errhint("Raise continuous.shared_memory (now %d kB) and create the view again.",
										 continuous_shared_memory_kb)));
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
		av->ready_pending = true;
		store_view_set_progress(av->shared, scanned);
		if (!merge_view(decoder_db, av))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("shared memory for continuous views is full"),
					 errhint("Raise continuous.shared_memory (now %d kB) and create the view again.",
							 continuous_shared_memory_kb)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		apply_restore_user(&worker_user);
		current_timezone = current_datestyle = current_intervalstyle = NULL;
		/* Interrupts (shutdown) are not the view's fault. */
		if (ProcDiePending || QueryCancelPending)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		LWLockReleaseAll();
		merge_abandon();
		av->backfilling = false;
		apply_disable_view(av, edata->message);
		FreeErrorData(edata);
		return;
	}
	PG_END_TRY();
	apply_restore_user(&worker_user);
	/* The view's settings applied inside the bracket were undone with it. */
	current_timezone = current_datestyle = current_intervalstyle = NULL;

	av->backfilling = false;
	av->initializing = false;
	av->skip_until = Max(av->skip_until, consistent_lsn);
	relation_map_reset();
	ereport(LOG,
			(errmsg("pg_continuous: continuous view %s backfilled from " UINT64_FORMAT " rows at %X/%X",
					av->name, scanned, LSN_FORMAT_ARGS(consistent_lsn))));
}

/*
 * Backfills every view waiting for it, in a transaction whose snapshot sees
 * exactly the commits before consistent_lsn (worker.c takes it from a
 * temporary slot); the views then apply only the commits after it.
 */
void
decoder_backfill(XLogRecPtr consistent_lsn)
{
	ListCell   *lc;

	if (owners_stale)
		check_view_owners();
	foreach(lc, apply_views)
	{
		ApplyView  *av = lfirst(lc);

		if (av->initializing && !av->disabled && av->shared)
			backfill_view(av, consistent_lsn);
	}
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
mark_targets_stale(List *targets, const char *reason)
{
	ListCell   *lc;

	foreach(lc, targets)
	{
		RelationTarget *t = lfirst(lc);
		ApplyView  *av = t->view;

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
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *newvalues;
	Datum	   *oldvalues;
	bool	   *newnulls;
	bool	   *oldnulls;
	bool		replaced = false;

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
static void
apply_update_or_delete(List *targets, Relation relation, ReorderBufferChange *change)
{
	bool		is_update = change->action == REORDER_BUFFER_CHANGE_UPDATE;
	HeapTuple	oldtuple = change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : NULL;

	if (oldtuple == NULL || relation->rd_rel->relreplident != REPLICA_IDENTITY_FULL)
	{
		mark_targets_stale(targets,
						   psprintf("%s on \"%s\" at %X/%X, whose REPLICA IDENTITY is not FULL: the old row's values are unknown.",
									is_update ? "UPDATE" : "DELETE",
									RelationGetRelationName(relation), LSN_FORMAT_ARGS(change->lsn)));
		return;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	apply_row_to_targets(targets, oldtuple, -1);
	if (is_update && change->data.tp.newtuple)
		apply_row_to_targets(targets,
							 update_new_row(relation, &change->data.tp.newtuple->tuple, oldtuple), 1);
	PopActiveSnapshot();
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
				apply_row_to_targets(entry->targets, &change->data.tp.newtuple->tuple, 1);
				PopActiveSnapshot();
			}
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
		case REORDER_BUFFER_CHANGE_DELETE:
			apply_update_or_delete(entry->targets, relation, change);
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

			if (av->disabled || av->initializing || current_end_lsn <= av->skip_until)
				continue;
			if (truncate_covers_source(av, nrelations, relations))
			{
				XLogRecPtr	pending_lsn = av->pending_lsn;
				TimestampTz pending_time = av->pending_commit_time;

				apply_delta_reset(av);
				av->pending_lsn = pending_lsn;
				av->pending_commit_time = pending_time;
				av->reset_pending = true;
			}
			else
				mark_targets_stale(list_make1(lfirst(lc)),
								   psprintf("TRUNCATE of partition \"%s\" at %X/%X: the view cannot tell which of its rows came from that partition.",
											RelationGetRelationName(relations[i]),
											LSN_FORMAT_ARGS(change->lsn)));
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
	apply_row_to_targets(((StreamApplyArg *) arg)->targets, tuple, 1);
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

		if (av->disabled || av->initializing || txn->end_lsn <= av->skip_until)
			continue;
		av->pending_lsn = txn->end_lsn;
		av->pending_commit_time = txn->xact_time.commit_time;
	}
	if (pending_events_total >= (uint64) continuous_apply_batch_events)
		(void) decoder_merge_all();
}

/* The worker's own checkpoints carry this origin: never decode them. */
static bool
continuous_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return origin_id == DoNotReplicateId;
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->filter_by_origin_cb = continuous_filter_by_origin;
	cb->startup_cb = continuous_startup;
	cb->begin_cb = continuous_begin;
	cb->change_cb = continuous_change;
	cb->truncate_cb = continuous_truncate;
	cb->commit_cb = continuous_commit;
	cb->message_cb = continuous_message;
}
