/*-------------------------------------------------------------------------
 * registry.c
 *	  The worker's registry of continuous views (ApplyView, see registry.h)
 *	  and the relation map, the owner checks, and the per-view settings and
 *	  identity every call into a definition uses.  Worker only.
 *
 * Vocabulary
 *	apply view (ApplyView): the worker's record of one continuous view: its
 *		compiled definition, its shared state, and its delta (apply.c).
 *	relation map: source relation (or a partition of one) -> the views that
 *		read it, with the tuple conversion a partition needs.  Rebuilt after
 *		any relcache invalidation and when views come and go.
 *	forgotten views: views dropped since the last checkpoint, whose rows the
 *		next checkpoint deletes.
 *
 * The worker learns of views by decoding inserts into and deletes from
 * continuous.view_catalog (decoder.c), and at start from the catalog and
 * the last checkpoint (checkpoint.c).  Each view's shared state records the
 * end LSN of the last transaction merged into it; when a restarted worker
 * decodes older transactions again, it skips them for that view
 * (skip_until), so nothing is counted twice.
 *
 * The worker is a superuser, but a view's definition is its owner's code:
 * every call into it (compiling it, apply.c, merge.c, backfill.c) runs as
 * the owner, in a security-restricted operation (registry_become_owner,
 * security.c).  After a relation, role or function changed (owners_stale),
 * registry_check_owners re-reads owners and fails views whose owner may no
 * longer read or execute what the definition does, or to whom row-level
 * security now applies on the source.
 *
 * Errors while applying a change to one view (say an integer overflow in
 * sum()) fail that view (registry_disable_view), with the message, instead
 * of stopping the worker: the batch query would have failed too.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "worker/registry.h"

typedef struct RelationMapEntry
{
	Oid   relid;
	List *targets; /* RelationTarget */
} RelationMapEntry;

static StoreDb      *registry_store_db = NULL; /* set once the worker starts */
static Oid           catalog_relid = InvalidOid;
static List         *apply_views = NIL;
static HTAB         *relation_map = NULL;
static bool          relation_map_stale = false;
static MemoryContext registry_cxt = NULL;
static MemoryContext relmap_cxt = NULL;
static List         *forgotten_views = NIL; /* dropped since the last checkpoint */

/* Settings in force in the current decoded transaction (see registry_use_view_settings). */
static const char *current_timezone = NULL;
static const char *current_datestyle = NULL;
static const char *current_intervalstyle = NULL;
static bool        owners_stale = false; /* a relation or role changed: see registry_check_owners */

/* ----------------------------------------------------------------------
 * The registry of views and the relation map
 * ----------------------------------------------------------------------
 */

/*
 * Marks the relation map for rebuilding.  The map is only freed at the next
 * lookup, never while a caller may be walking a target list from it.
 */
void
registry_map_reset(void)
{
	relation_map_stale = true;
}

static void
relcache_callback(Datum arg, Oid relid)
{
	registry_map_reset();
	owners_stale = true;
}

/* Role memberships and attributes, and functions' ACLs, decide privileges too. */
static void
role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	owners_stale = true;
}

/*
 * The views that read relation (RelationTarget), in the relation map's
 * memory: valid until the next lookup after a registry_map_reset.
 */
List *
registry_targets(Relation relation)
{
	Oid               relid = RelationGetRelid(relation);
	RelationMapEntry *entry;
	bool              found;
	ListCell         *lc;
	List             *ancestors = NIL;

	if (relation_map_stale)
	{
		MemoryContextReset(relmap_cxt);
		relation_map = NULL;
		relation_map_stale = false;
	}
	if (relation_map == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelationMapEntry);
		ctl.hcxt = relmap_cxt;
		relation_map = hash_create("continuous relation map", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(relation_map, &relid, HASH_ENTER, &found);
	if (found)
		return entry->targets;

	entry->targets = NIL;
	if (relation->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);
	foreach(lc, apply_views)
	{
		ApplyView      *av = lfirst(lc);
		RelationTarget *t;
		MemoryContext   old;

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
	return entry->targets;
}

/* Not inlined: gcc would then take its loop variable for one PG_TRY clobbers. */
pg_noinline ApplyView *
registry_find_view(int32 view_id)
{
	ListCell *lc;

	foreach(lc, apply_views)
	{
		ApplyView *av = lfirst(lc);

		if (av->view_id == view_id)
			return av;
	}
	return NULL;
}

/* Empties the view's delta (apply.c). */
void
registry_reset_delta(ApplyView *av)
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
	HeapTuple classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid       owner = InvalidOid;

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

void
registry_use_view_settings(ApplyView *av)
{
	set_if_changed("TimeZone", av->timezone, &current_timezone);
	set_if_changed("DateStyle", av->datestyle, &current_datestyle);
	set_if_changed("IntervalStyle", av->intervalstyle, &current_intervalstyle);
}

/*
 * Forgets which view's settings are in force: at the start of a decoded
 * transaction, whose end reverts them, and after a bracket that undid them.
 */
void
registry_forget_settings(void)
{
	current_timezone = current_datestyle = current_intervalstyle = NULL;
}

/*
 * Compiles av's definition as its owner.  Returns NULL, or the error that
 * failed it.  Compiling runs the owner's code too (constant folding, initial
 * values), which may run SQL: it needs a snapshot (the historic one while
 * decoding).  An error there fails the view, not the worker; code that takes
 * a transaction ID fails the view and ends the worker's pass (see
 * registry_fail_if_wrote).
 */
static char *
compile_as_owner(ApplyView *av, const CatalogRow *row)
{
	Relation      source = RelationIdGetRelation(row->sourcerelid);
	SavedIdentity worker_user;
	MemoryContext cxt = CurrentMemoryContext;
	char         *error = NULL;

	if (!RelationIsValid(source))
		elog(ERROR, "could not open source %u of continuous view \"%s\"", row->sourcerelid, av->name);
	if (OidIsValid(av->owner))
		registry_become_owner(av, &worker_user);
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		av->cv = compile_view(row->id, row->sourcerelid, row->querytree);
		compile_view_for_apply(av->cv, RelationGetDescr(source));
	}
	PG_CATCH();
	{
		ErrorData *edata;

		if (OidIsValid(av->owner))
			registry_restore_owner(&worker_user);
		if (ProcDiePending || QueryCancelPending)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		PopActiveSnapshot();
		RelationClose(source);
		av->cv = NULL;
		error = pstrdup(registry_error_text(edata));
		FreeErrorData(edata);
		return error;
	}
	PG_END_TRY();
	PopActiveSnapshot();
	if (OidIsValid(av->owner))
		registry_restore_owner(&worker_user);
	RelationClose(source);
	return NULL;
}

/*
 * Registers the view of a catalog row (decoded, or read at start), inside a
 * transaction, and returns it; a view already registered is returned as it
 * is.  A view whose state in shared memory says it failed is not compiled
 * again, and one whose definition does not compile is registered failed,
 * without a compiled definition (cv NULL): either way its failure stays in
 * shared memory and in the checkpoints, and it never runs.
 */
ApplyView *
registry_register_view(const CatalogRow *row)
{
	MemoryContext old = MemoryContextSwitchTo(registry_cxt);
	int32         view_id = row->id;
	ApplyView    *av;
	char         *compile_error = NULL;

	Assert(registry_is_worker() && IsTransactionState());
	av = registry_find_view(view_id);
	if (av != NULL)
	{
		MemoryContextSwitchTo(old);
		return av;
	}
	av = palloc0(sizeof(ApplyView));
	av->view_id = view_id;
	av->viewrelid = row->viewrelid;
	av->owner = view_owner(row->viewrelid);
	owners_stale = true; /* registry_check_owners checks it before use */
	av->name = continuous_view_name(row->viewrelid, view_id);
	av->timezone = pstrdup(row->timezone);
	av->datestyle = pstrdup(row->datestyle);
	av->intervalstyle = pstrdup(row->intervalstyle);
	av->view_key = row->view_key;
	av->options = row->options;
	av->next_window = PG_INT64_MIN;
	av->late_start = PG_INT64_MIN;
	av->retain_oldest = PG_INT64_MIN;
	av->txn_event_max = PG_INT64_MIN;
	av->is_table = get_rel_relkind(row->sourcerelid) != RELKIND_FOREIGN_TABLE;
	av->deltacxt = AllocSetContextCreate(registry_cxt, "continuous delta", ALLOCSET_DEFAULT_SIZES);
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(dsa_pointer);
		ctl.entrysize = sizeof(dsa_pointer);
		ctl.hcxt = registry_cxt;
		av->dirty = hash_create("continuous dirty groups", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	registry_reset_delta(av);

	/*
	 * A restarted worker finds the state it left; transactions it had merged
	 * are skipped for this view, and the groups it had not checkpointed yet
	 * are found by their dirty flags.  A view over a table starts with a
	 * backfill.
	 */
	av->shared = store_view_attach(registry_store_db, view_id,
								   av->is_table ? VIEW_INITIALIZING : VIEW_READY);
	if (av->shared && av->options.lateness > 0)
		av->shared->closes = true; /* only the worker writes it */
	if (av->shared == NULL || av->shared->state != VIEW_FAILED)
		compile_error = compile_as_owner(av, row);
	if (av->cv == NULL)
	{
		av->disabled = true;
		apply_views = lappend(apply_views, av);
		if (compile_error)
		{
			if (av->shared)
				store_view_mark_failed(av->shared, compile_error);
			ereport(LOG,
					(errmsg("pg_continuous: continuous view \"%s\" is no longer maintained", av->name),
					 errdetail("Compiling its definition failed: %s", compile_error)));
		}
		MemoryContextSwitchTo(old);
		return av;
	}
	av->uses_settings = compile_uses_session_settings(av->cv);
	av->runs_user_code = compile_calls_user_functions(av->cv);
	av->keybuf = palloc(sizeof(Datum) * (av->cv->nkeys + CONTINUOUS_MAX_AGG_ARGS + 1));
	av->keynullbuf = palloc(sizeof(bool) * (av->cv->nkeys + CONTINUOUS_MAX_AGG_ARGS + 1));
	apply_views = lappend(apply_views, av);
	registry_map_reset();
	/* Constant folding took a transaction ID: the view fails (see above). */
	registry_fail_if_wrote(av);

	if (av->shared)
	{
		dsa_pointer *dirty;
		int          ndirty = store_view_dirty_groups(av->shared, &dirty);

		av->skip_until = av->shared->applied_lsn;
		av->state_restored = av->shared->state_restored;
		for (int i = 0; i < ndirty; i++)
			(void) hash_search(av->dirty, &dirty[i], HASH_ENTER, NULL);
		pfree(dirty);
		if (av->shared->state == VIEW_FAILED)
			av->disabled = true;
	}
	/* A view whose relation is gone is being dropped: its drop follows. */
	if (!OidIsValid(av->owner) && !av->disabled)
		registry_disable_view(av, "the view's relation does not exist");
	av->initializing = av->is_table &&
					   (av->shared == NULL || av->shared->state == VIEW_INITIALIZING);
	av->reset_pending = av->initializing;
	MemoryContextSwitchTo(old);
	elog(DEBUG1, "pg_continuous: maintaining continuous view \"%s\"", av->name);
	return av;
}

/* Forgets a view whose catalog row's deletion was decoded, and frees its state. */
void
registry_unregister_view(int32 view_id)
{
	ApplyView *av = registry_find_view(view_id);

	if (av)
	{
		apply_views = list_delete_ptr(apply_views, av);
		registry_map_reset();
		if (av->cv)
			compile_view_free(av->cv);
		MemoryContextDelete(av->deltacxt);
		if (av->capturecxt)
			MemoryContextDelete(av->capturecxt);
		hash_destroy(av->dirty);
		pfree(av);
	}
	store_view_drop(registry_store_db, view_id);
	registry_forget_view(view_id);
	elog(DEBUG1, "pg_continuous: continuous view %d dropped", view_id);
}

/* The next checkpoint deletes view_id's rows. */
void
registry_forget_view(int32 view_id)
{
	MemoryContext old = MemoryContextSwitchTo(registry_cxt);

	forgotten_views = lappend_int(forgotten_views, view_id);
	MemoryContextSwitchTo(old);
}

/* Views dropped since the last checkpoint (a List of ints). */
List *
registry_forgotten_views(void)
{
	return forgotten_views;
}

void
registry_clear_forgotten(void)
{
	list_free(forgotten_views);
	forgotten_views = NIL;
}

/* Forgets the dirty groups of a view (all freed, or all checkpointed). */
void
registry_reset_dirty(ApplyView *av)
{
	HASH_SEQ_STATUS seq;
	dsa_pointer    *dp;

	Assert(registry_is_worker());

	hash_seq_init(&seq, av->dirty);
	while ((dp = hash_seq_search(&seq)) != NULL)
		(void) hash_search(av->dirty, dp, HASH_REMOVE, NULL);
}

/* ----------------------------------------------------------------------
 * A view's code: its owner's identity, and continuous.view_timeout
 * ----------------------------------------------------------------------
 */

/*
 * The view-code watchdog.  A periodic timeout ticks every half
 * continuous.view_timeout; each call into a view's code, and each row of a
 * backfill (registry_view_resume), moves view_call_seq on.  A call still running, with no progress, at three
 * ticks in a row has run for at least view_timeout: the handler asks for a
 * query cancel, which the view's code gets at its next interrupt check, and
 * the catch block of the call fails that view (registry_error_text).  It
 * costs two stores per call; code that never checks for interrupts (a
 * loop in C) cannot be stopped this way, nor can a merge, which runs
 * combine functions holding the view's lock (interrupts are held then).
 */
int continuous_view_timeout_ms = 60000;

static volatile sig_atomic_t in_view_call = false;
static volatile uint32       view_call_seq = 0;
static volatile sig_atomic_t view_timed_out = false;   /* for registry_error_text */
static volatile sig_atomic_t cancel_requested = false; /* not yet dropped */
static uint32                seen_seq = 0;
static int                   seen_ticks = 0;
static TimeoutId             view_timeout_id = MAX_TIMEOUTS;
static int                   armed_ms = 0;

static void
view_timeout_handler(void)
{
	if (!in_view_call || view_call_seq != seen_seq)
	{
		seen_seq = view_call_seq;
		seen_ticks = 0;
		return;
	}
	if (++seen_ticks < 2)
		return;
	seen_ticks = 0;
	view_timed_out = true;
	cancel_requested = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Arms the watchdog for continuous.view_timeout; again after it changed. */
void
registry_arm_view_timeout(void)
{
	if (continuous_view_timeout_ms == armed_ms)
		return;
	if (view_timeout_id == MAX_TIMEOUTS)
		view_timeout_id = RegisterTimeout(USER_TIMEOUT, view_timeout_handler);
	if (armed_ms > 0)
		disable_timeout(view_timeout_id, false);
	armed_ms = continuous_view_timeout_ms;
	if (armed_ms > 0)
		enable_timeout_every(view_timeout_id,
							 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(armed_ms / 2, 1)),
							 Max(armed_ms / 2, 1));
}

/*
 * Inside a bracket, the worker's own work (a backfill reading its table)
 * does not count against the view: between registry_view_pause and
 * registry_view_resume the watchdog does not fire.
 */
void
registry_view_pause(void)
{
	in_view_call = false;
}

void
registry_view_resume(void)
{
	view_call_seq++;
	in_view_call = true;
}

/*
 * What to record as the failure of a view whose code raised edata: the
 * watchdog's verdict if the watchdog canceled it, else the error itself.
 */
const char *
registry_error_text(ErrorData *edata)
{
	if (view_timed_out)
	{
		view_timed_out = false;
		return psprintf("its code ran longer than continuous.view_timeout (%d ms)", armed_ms);
	}
	return edata->message;
}

/* A call into a view's code starts: the watchdog watches it. */
static void
start_view_call(void)
{
	view_timed_out = false;
	cancel_requested = false;
	view_call_seq++;
	in_view_call = true;
}

/*
 * Runs the view's definition as its owner (security.c) until
 * registry_restore_owner(saved); an error in between must restore the
 * worker's role before the worker goes on.  A view's own settings
 * (registry_use_view_settings) are applied before the bracket.  Only
 * functions that are not built in can change settings, so only views that
 * call some have them undone; before compiling (cv NULL), assume they do.
 */
void
registry_become_owner(ApplyView *av, SavedIdentity *saved)
{
	security_run_as_owner(av->owner, av->cv == NULL || av->runs_user_code, saved);
	start_view_call();
}

/*
 * The same, for the view's owner to write its own tables (worker/closing.c:
 * history and late tables, whose triggers are the view's code too).
 */
void
registry_become_owner_writing(ApplyView *av, SavedIdentity *saved)
{
	security_run_as_owner_writing(av->owner, saved);
	start_view_call();
}

/*
 * Ends the bracket registry_become_owner opened.  A cancel the watchdog
 * asked for that the code did not get to is dropped: it was for this call
 * (whose error, if it raised one, registry_error_text tells apart).
 */
void
registry_restore_owner(const SavedIdentity *saved)
{
	registry_end_view_call();
	security_restore(saved);
}

/*
 * Ends the watchdog's part of the bracket only: after an error whose
 * subtransaction's abort restored the identity.
 */
void
registry_end_view_call(void)
{
	in_view_call = false;
	if (cancel_requested)
	{
		/* The watchdog's cancel never leaves the call it was for. */
		cancel_requested = false;
		QueryCancelPending = false;
	}
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
 * owner's code had to when the view was compiled, and that row-level
 * security does not apply to the owner on the source (the view could not
 * apply its policies); a view whose owner may not fails, as REFRESH
 * MATERIALIZED VIEW would.  In the catalog as of the transaction being
 * decoded, so a view stops exactly at a REVOKE or an ENABLE ROW LEVEL
 * SECURITY.  Needs a transaction.
 */
void
registry_check_owners(bool only_if_stale)
{
	ListCell *lc;

	if (only_if_stale && !owners_stale)
		return;
	Assert(IsTransactionState());

	/*
	 * Decoding, the caches may hold catalog rows read in the snapshot of an
	 * earlier transaction, which the invalidations of transactions that
	 * committed before the slot's consistent point (not decoded, so never
	 * replayed) should have removed: a table's owner before ALTER ... OWNER
	 * made during a restore, say.  Checks are rare (after invalidations):
	 * read everything afresh in the snapshot of this transaction.  That
	 * calls the callbacks above, so the flag is cleared after it.
	 */
	if (HistoricSnapshotActive())
		InvalidateSystemCaches();
	owners_stale = false;
	foreach(lc, apply_views)
	{
		ApplyView    *av = lfirst(lc);
		Oid           owner;
		SavedIdentity worker_user;
		volatile bool allowed;
		Oid           denied = InvalidOid;

		if (av->disabled)
			continue;
		/* A view or source dropped meanwhile: its drop is decoded later. */
		owner = view_owner(av->viewrelid);
		if (!OidIsValid(owner) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(av->cv->sourcerelid)))
			continue;
		av->owner = owner;
		registry_become_owner(av, &worker_user);
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
			registry_restore_owner(&worker_user);
			PG_RE_THROW();
		}
		PG_END_TRY();
		registry_restore_owner(&worker_user);
		if (!allowed)
		{
			char *source = get_rel_name(av->cv->sourcerelid);

			char *role = GetUserNameFromId(av->owner, true);

			registry_disable_view(av, psprintf("permission denied for table %s: the view's owner %s may no longer read it",
											   source ? source : "(dropped)", role ? role : "(dropped)"));
		}
		else if (OidIsValid(denied))
		{
			char *role = GetUserNameFromId(av->owner, true);

			registry_disable_view(av, psprintf("permission denied for function %s: the view's owner %s may no longer execute it",
											   format_procedure(denied), role ? role : "(dropped)"));
		}
		else if (security_row_security_applies(av->cv->sourcerelid, av->owner))
		{
			char *source = get_rel_name(av->cv->sourcerelid);
			char *role = GetUserNameFromId(av->owner, true);

			registry_disable_view(av, psprintf("row-level security applies to table %s for the view's owner %s",
											   source ? source : "(dropped)", role ? role : "(dropped)"));
		}
	}
}

/*
 * After a view's code ran (its bracket closed): did it get a transaction ID?
 * The bracket is read-only, which stops writes to tables, sequences and the
 * catalog, but a function can still take a transaction ID (with
 * pg_current_xact_id(), or by making its transaction read-write again), and
 * logical decoding cannot finish a replayed transaction that has one.  The
 * view then fails, in shared memory, and this ends the worker's pass with an
 * error: the worker restarts, decodes the transaction again without the
 * failed view, and every other view goes on from what it had merged.
 */
void
registry_fail_if_wrote(ApplyView *av)
{
	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	if (!av->disabled)
		registry_disable_view(av, "its code took a transaction ID (it wrote to the database), "
								  "which the functions and aggregates of a continuous view must not do");
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("continuous view \"%s\" wrote to the database while the worker maintained it", av->name),
			 errdetail("The view is failed. The worker restarts and goes on without it."),
			 errhint("Drop the view: the functions and aggregates of a continuous view must not write.")));
}

/* Fails the view for good: error is what continuous.views shows. */
void
registry_disable_view(ApplyView *av, const char *error)
{
	av->disabled = true;
	av->initializing = false;
	registry_reset_delta(av);
	registry_reset_dirty(av);
	/* Late changes captured for it are not stored any more (closing.c). */
	av->captured = NIL;
	if (av->capturecxt)
		MemoryContextReset(av->capturecxt);
	if (av->shared)
		av->shared->captures_pending = false;
	registry_map_reset();
	if (av->shared)
		store_view_mark_failed(av->shared, error);
	ereport(LOG,
			(errmsg("pg_continuous: continuous view \"%s\" is no longer maintained", av->name),
			 errdetail("%s", error)));
}

/* The registered view whose body reads view_key, or NULL. */
ApplyView *
registry_find_view_by_key(const pg_uuid_t *view_key)
{
	ListCell *lc;

	foreach(lc, apply_views)
	{
		ApplyView *av = lfirst(lc);

		if (memcmp(av->view_key.data, view_key->data, UUID_LEN) == 0)
			return av;
	}
	return NULL;
}

/* Something the registry holds should reach a checkpoint soon. */
static bool checkpoint_wanted = false;

void
registry_want_checkpoint(void)
{
	checkpoint_wanted = true;
}

/* Was a checkpoint wanted since the last call? */
bool
registry_checkpoint_wanted(void)
{
	bool wanted = checkpoint_wanted;

	checkpoint_wanted = false;
	return wanted;
}

/*
 * Starts the registry of the worker of db's database, whose catalog table is
 * catalogrelid.  Only the worker calls it: the output plugin refuses to run
 * anywhere else (registry_is_worker).
 */
void
registry_init(StoreDb *db, Oid catalogrelid)
{
	Assert(registry_store_db == NULL);
	registry_store_db = db;
	catalog_relid = catalogrelid;
	registry_cxt = AllocSetContextCreate(TopMemoryContext, "continuous registry",
										 ALLOCSET_DEFAULT_SIZES);
	relmap_cxt = AllocSetContextCreate(registry_cxt, "continuous relation map",
									   ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, role_callback, (Datum) 0);
}

/* Is this process a pg_continuous worker (with its registry started)? */
bool
registry_is_worker(void)
{
	return registry_store_db != NULL;
}

StoreDb *
registry_db(void)
{
	Assert(registry_is_worker());
	return registry_store_db;
}

Oid
registry_catalog_relid(void)
{
	return catalog_relid;
}

/* Long-lived memory of the registry (the worker's lifetime). */
MemoryContext
registry_context(void)
{
	return registry_cxt;
}

/* Every registered view (ApplyView), failed ones included. */
List *
registry_views(void)
{
	return apply_views;
}

/* Does the worker maintain any view (or one waiting for its backfill)? */
bool
registry_has_views(void)
{
	return apply_views != NIL;
}

/* Has any view changed groups, or been dropped, since the last checkpoint? */
bool
registry_has_changes(void)
{
	ListCell *lc;

	if (forgotten_views != NIL)
		return true;
	foreach(lc, apply_views)
		if (hash_get_num_entries(((ApplyView *) lfirst(lc))->dirty) > 0)
			return true;
	return false;
}
