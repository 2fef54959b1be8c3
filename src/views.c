/*-------------------------------------------------------------------------
 * views.c
 *	  SQL-callable functions of continuous views: create_view, drop_view,
 *	  read_view (what the user-facing view selects from), sync, the state
 *	  functions behind continuous.views and continuous.stats, and the
 *	  integer overload of continuous.tumble().
 *
 * A continuous view is three things:
 *	- a row in continuous.view_catalog (id, view, source, definition and the
 *	  analyzed query as nodeToString text).  The worker learns of the view by
 *	  decoding the insert of this row, so the view counts exactly the
 *	  transactions that commit after the one that created it;
 *	- an ordinary view "name" that selects from continuous.read_view(id)
 *	  with a column definition list naming the query's output columns, so
 *	  clients see its columns like any view's;
 *	- the groups in shared memory (store.c), owned by the worker.
 * DROP VIEW (direct, via drop_view(), or cascaded from the source) fires
 * the extension's sql_drop event trigger, which deletes the catalog row and
 * asks this module to release the view's shared memory at commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "lib/qunique.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "pgstat.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "rewrite/rewriteSupport.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/ruleutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "analyze.h"
#include "compile.h"
#include "pg_continuous.h"
#include "store.h"
#include "views.h"
#include "worker.h"

/* How long create_view waits for a new database's worker to be ready. */
#define WORKER_READY_TIMEOUT_MS 60000

/* ----------------------------------------------------------------------
 * Catalog access
 * ----------------------------------------------------------------------
 */

/*
 * The catalog is not readable or writable by ordinary roles; these functions
 * run their fixed catalog queries as the bootstrap superuser, after doing
 * their own privilege checks, with search_path pinned (see
 * continuous_pin_search_path) and in a security-restricted operation.  An
 * error in between restores both at abort.
 */
typedef struct CatalogUser
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nest_level;
} CatalogUser;

static void
catalog_user_enter(CatalogUser *cu)
{
	GetUserIdAndSecContext(&cu->saved_userid, &cu->saved_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   cu->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	cu->guc_nest_level = continuous_pin_search_path();
}

static void
catalog_user_leave(CatalogUser *cu)
{
	continuous_unpin_search_path(cu->guc_nest_level);
	SetUserIdAndSecContext(cu->saved_userid, cu->saved_sec_context);
}

typedef struct CatalogRow
{
	int32		id;
	Oid			viewrelid;
	Oid			sourcerelid;
	char	   *querytree;
	TransactionId xmin;
} CatalogRow;

/*
 * Every read looks its view up, twice with a group lookup (planner and
 * executor): the query is planned once per backend.  The plan cache
 * revalidates it when the catalog table is re-created.
 */
static SPIPlanPtr catalog_lookup_plan = NULL;

/* Reads view view_id's catalog row; row->querytree is allocated in the caller's context. */
static bool
catalog_lookup(int32 view_id, CatalogRow *row)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(view_id)};
	bool		found = false;
	CatalogUser cu;
	MemoryContext callercxt = CurrentMemoryContext;

	catalog_user_enter(&cu);
	SPI_connect();
	if (catalog_lookup_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT viewrelid, sourcerelid, querytree, xmin::text::bigint "
									   "FROM continuous.view_catalog WHERE id = $1",
									   1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		catalog_lookup_plan = plan;
	}
	SPI_execute_plan(catalog_lookup_plan, args, NULL, true, 1);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(callercxt);

		row->id = view_id;
		row->viewrelid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		row->sourcerelid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		row->querytree = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		row->xmin = (TransactionId) DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		MemoryContextSwitchTo(old);
		found = true;
	}
	SPI_finish();
	catalog_user_leave(&cu);
	return found;
}

static int64
spi_single_int8(const char *sql)
{
	bool		isnull;
	int64		result;

	if (SPI_execute(sql, false, 1) < 0 || SPI_processed != 1)
		elog(ERROR, "query failed: %s", sql);
	result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return result;
}

/* ----------------------------------------------------------------------
 * create_view
 * ----------------------------------------------------------------------
 */

/*
 * Waits until this database's worker holds its replication slot, so that the
 * commit creating the view is certain to be decoded; asks for the slot if
 * there is none (the worker holds none while there are no views).  The ROW
 * EXCLUSIVE lock on the catalog, taken first and kept until commit, keeps
 * the worker from dropping the slot meanwhile (see worker.c).  A transaction
 * that already wrote cannot wait (slot creation waits for it), so it gets an
 * error.
 */
static void
wait_for_slot(void)
{
	char		slotname[NAMEDATALEN];
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WORKER_READY_TIMEOUT_MS);

	LockRelationOid(get_relname_relid(CONTINUOUS_CATALOG_TABLE,
									  get_namespace_oid(CONTINUOUS_SCHEMA_NAME, false)),
					RowExclusiveLock);
	worker_slot_name(MyDatabaseId, slotname);
	for (;;)
	{
		ReplicationSlot *slot;
		StoreDb		status;
		bool		ready = false;
		bool		pending;

		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		slot = SearchNamedReplicationSlot(slotname, false);
		if (slot && slot->data.persistency == RS_PERSISTENT)
			ready = true;
		LWLockRelease(ReplicationSlotControlLock);
		pending = store_db_get_status(MyDatabaseId, &status) && status.slot_pending;
		if (ready && !pending)
			return;

		if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the pg_continuous worker of this database holds no replication slot yet"),
					 errdetail("The worker holds a replication slot only while continuous views exist, and creating one waits for every transaction that has written, this one included."),
					 errhint("Commit, then create the continuous view in a new transaction.")));
		if (!ready && !pending)
			store_db_request_slot(MyDatabaseId);
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the pg_continuous worker of this database did not become ready"),
					 continuous_enabled ?
					 errhint("Check the server log, max_worker_processes and max_replication_slots.") :
					 errhint("continuous.enabled is off: the worker holds no slot until it is turned on.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* The view's columns must have distinct names, as CREATE VIEW requires. */
static void
check_column_names(Query *query)
{
	ListCell   *lc;
	List	   *seen = NIL;

	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		ListCell   *lc2;

		if (tle->resjunk)
			continue;
		foreach(lc2, seen)
			if (strcmp((char *) lfirst(lc2), tle->resname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears more than once in the continuous view", tle->resname),
						 errhint("Give the columns distinct names with AS.")));
		seen = lappend(seen, tle->resname);
	}
}

/* Column definition list for read_view(): "name type, ..." of the output. */
static char *
column_definitions(Query *query)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Oid			type = exprType((Node *) tle->expr);
		Oid			coll = exprCollation((Node *) tle->expr);

		if (tle->resjunk)
			continue;
		appendStringInfo(&buf, "%s%s %s", first ? "" : ", ",
						 quote_identifier(tle->resname ? tle->resname : "?column?"),
						 format_type_with_typemod(type, exprTypmod((Node *) tle->expr)));
		if (OidIsValid(coll) && coll != get_typcollation(type))
			appendStringInfo(&buf, " COLLATE %s", generate_collation_name(coll));
		first = false;
	}
	return buf.data;
}

/*
 * A view over a table takes updated and deleted rows out of their groups,
 * which needs their old values in the WAL: every table the source's rows
 * live in (the table, or each leaf partition) must have REPLICA IDENTITY
 * FULL.  The owner's create_view sets it, with a NOTICE; anyone else gets an
 * error saying what to ask the owner for.  Inserts cost the same either way.
 */
static void
require_full_replica_identity(Oid sourcerelid)
{
	ListCell   *lc;

	if (get_rel_relkind(sourcerelid) == RELKIND_FOREIGN_TABLE)
		return;
	foreach(lc, find_all_inheritors(sourcerelid, NoLock, NULL))
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	tup;
		char		replident;
		char	   *qualified;

		if (get_rel_relkind(relid) != RELKIND_RELATION)
			continue;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		replident = ((Form_pg_class) GETSTRUCT(tup))->relreplident;
		ReleaseSysCache(tup);
		if (replident == REPLICA_IDENTITY_FULL)
			continue;

		qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											   get_rel_name(relid));
#if PG_VERSION_NUM >= 160000
		if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
#else
		if (!pg_class_ownercheck(relid, GetUserId()))
#endif
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s must have REPLICA IDENTITY FULL to be the source of a continuous view",
							qualified),
					 errdetail("The view takes updated and deleted rows out of their groups, which needs their old values."),
					 errhint("Ask the table's owner to run ALTER TABLE %s REPLICA IDENTITY FULL.",
							 qualified)));
		ereport(NOTICE,
				(errmsg("setting REPLICA IDENTITY FULL on table %s", qualified),
				 errdetail("The continuous view takes updated and deleted rows out of their groups, which needs their old values.")));
		if (SPI_execute(psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", qualified),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not set REPLICA IDENTITY FULL on %s", qualified);
	}
}

PG_FUNCTION_INFO_V1(continuous_create_view);
Datum
continuous_create_view(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query_string = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List	   *names = stringToQualifiedNameList(name);
	RangeVar   *rv = makeRangeVarFromNameList(names);
	Query	   *query;
	Oid			sourcerelid;
	Oid			viewrelid;
	int32		view_id;
	ObjectAddress ruleaddr;
	Oid			argtypes[5] = {INT4OID, OIDOID, OIDOID, TEXTOID, TEXTOID};
	Datum		args[5];
	CatalogUser cu;

	/* Errors about the name first, in the words CREATE VIEW would use. */
	(void) RangeVarGetCreationNamespace(rv);
	if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", NameListToString(names)),
				 errhint("Choose another name, or drop the existing relation first.")));

	wait_for_slot();

	query = analyze_view_query(query_string, &sourcerelid);
	check_column_names(query);

	SPI_connect();
	require_full_replica_identity(sourcerelid);
	catalog_user_enter(&cu);
	view_id = (int32) spi_single_int8("SELECT nextval(pg_get_serial_sequence('continuous.view_catalog', 'id'))");
	catalog_user_leave(&cu);
	if (SPI_execute(psprintf("CREATE VIEW %s AS SELECT * FROM continuous.read_view(%d) AS r(%s)",
							 NameListToQuotedString(names), view_id, column_definitions(query)),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create view \"%s\"", name);
	viewrelid = RangeVarGetRelid(rv, NoLock, false);

	/*
	 * The view's rule depends on the source, the columns and the functions
	 * the definition uses, exactly as an ordinary view's rule would: DROP and
	 * ALTER of them are refused, or cascade, with PostgreSQL's own messages.
	 */
	ObjectAddressSet(ruleaddr, RewriteRelationId, get_rewrite_oid(viewrelid, "_RETURN", false));
	recordDependencyOnExpr(&ruleaddr, (Node *) query, NIL, DEPENDENCY_NORMAL);

	args[0] = Int32GetDatum(view_id);
	args[1] = ObjectIdGetDatum(viewrelid);
	args[2] = ObjectIdGetDatum(sourcerelid);
	args[3] = CStringGetTextDatum(query_string);
	args[4] = CStringGetTextDatum(nodeToString(query));
	catalog_user_enter(&cu);
	if (SPI_execute_with_args("INSERT INTO continuous.view_catalog "
							  "(id, viewrelid, sourcerelid, definition, querytree) "
							  "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5)",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record continuous view \"%s\"", name);
	catalog_user_leave(&cu);
	SPI_finish();

	PG_RETURN_OID(viewrelid);
}

/* ----------------------------------------------------------------------
 * drop_view, and releasing shared memory at the commit of a drop
 * ----------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(continuous_drop_view);
Datum
continuous_drop_view(PG_FUNCTION_ARGS)
{
	Oid			viewrelid = PG_GETARG_OID(0);
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(viewrelid)};
	char	   *qualified;
	CatalogUser cu;
	bool		found;

	SPI_connect();
	catalog_user_enter(&cu);
	SPI_execute_with_args("SELECT 1 FROM continuous.view_catalog WHERE viewrelid = $1",
						  1, argtypes, args, NULL, true, 1);
	found = (SPI_processed == 1);
	catalog_user_leave(&cu);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a continuous view", get_rel_name(viewrelid)),
				 errhint("Use DROP VIEW or DROP TABLE for other relations.")));
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewrelid)),
										   get_rel_name(viewrelid));
	SPI_execute(psprintf("DROP VIEW %s", qualified), false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

typedef struct PendingRelease
{
	int32		view_id;
	SubTransactionId subid;
} PendingRelease;

static List *pending_releases = NIL;

/* continuous._release_view_at_commit(id): called by the sql_drop trigger. */
PG_FUNCTION_INFO_V1(continuous_release_view_at_commit);
Datum
continuous_release_view_at_commit(PG_FUNCTION_ARGS)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	PendingRelease *p = palloc(sizeof(PendingRelease));

	p->view_id = PG_GETARG_INT32(0);
	p->subid = GetCurrentSubTransactionId();
	pending_releases = lappend(pending_releases, p);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

void
views_xact_callback(XactEvent event)
{
	ListCell   *lc;

	if (event == XACT_EVENT_COMMIT)
		foreach(lc, pending_releases)
			store_view_release(MyDatabaseId, ((PendingRelease *) lfirst(lc))->view_id);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		pending_releases = NIL; /* the list lived in TopTransactionContext */
}

void
views_subxact_callback(SubXactEvent event, SubTransactionId mySubid)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach(lc, pending_releases)
	{
		if (((PendingRelease *) lfirst(lc))->subid >= mySubid)
			pending_releases = foreach_delete_current(pending_releases, lc);
	}
}

/* ----------------------------------------------------------------------
 * read_view
 * ----------------------------------------------------------------------
 */

typedef struct CachedView
{
	int32		view_id;
	TransactionId xmin;
	CompiledView *cv;
} CachedView;

static List *view_cache = NIL;	/* in CacheMemoryContext */

/*
 * The compiled read side of a view, cached per backend.  A view id is never
 * reused within one catalog, and the catalog row's xmin tells a re-created
 * extension's views apart.
 */
static CompiledView *
get_compiled_view(CatalogRow *row)
{
	ListCell   *lc;
	CachedView *entry;
	MemoryContext old;

	foreach(lc, view_cache)
	{
		entry = lfirst(lc);
		if (entry->view_id == row->id)
		{
			if (entry->xmin == row->xmin)
				return entry->cv;
			compile_view_free(entry->cv);
			view_cache = foreach_delete_current(view_cache, lc);
			break;
		}
	}
	old = MemoryContextSwitchTo(CacheMemoryContext);
	entry = palloc(sizeof(CachedView));
	entry->view_id = row->id;
	entry->xmin = row->xmin;
	entry->cv = compile_view(row->id, row->sourcerelid, row->querytree);
	compile_view_for_read(entry->cv);
	view_cache = lappend(view_cache, entry);
	MemoryContextSwitchTo(old);
	return entry->cv;
}

/*
 * A reader's pass over one view: the snapshot it copied out of shared memory,
 * where it is in it, and the working memory of the group being finalized.
 * continuous.read_view() (a set-returning function) and the view scan
 * (viewscan.c) both read through it.
 */
struct ViewReader
{
	CompiledView *cv;
	StoreSnapshot *snap;		/* its own, or one shared with other readers */
	int			next;			/* index of the next group in snap */
	bool		empty_row_done; /* the no-GROUP-BY row over no groups */
	TupleTableSlot *finalslot;	/* keys and finalized aggregates */
	ExprContext *econtext;		/* HAVING and output expressions */
	MemoryContext groupcxt;		/* reset for every group */
	bool	   *output_needed;	/* per output column: the caller reads it */
	bool	   *agg_needed;		/* per aggregate: a needed output or HAVING reads it */
};

/* Whether this database's worker has loaded its views since the server started. */
static bool
database_views_loaded(void)
{
	StoreDb		status;

	return store_db_get_status(MyDatabaseId, &status) && status.loaded;
}

static int
compare_hashes(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Opens a read of a continuous view: checks that the view exists, that the
 * user may select from it, that coldesc (the columns the caller expects)
 * matches the view's, and that the view is readable; then copies its groups
 * out of shared memory: all of them, or with lookup given, those whose key
 * hashes as lookup's values do (among them the groups with those keys, if
 * any; the caller filters the rest out).  Only the output columns in
 * needed (numbered from 1) are computed, and only the aggregates they and
 * HAVING read are finalized: the others are NULL.  With shared given, the
 * reader uses that snapshot of all the groups, taking it if no reader has
 * yet (lookup is then ignored): readers of one view sharing a snapshot see
 * one state of it.  Everything is allocated in CurrentMemoryContext.
 */
ViewReader *
view_reader_begin(int32 view_id, TupleDesc coldesc, const ViewKeyLookup *lookup,
				  const Bitmapset *needed, StoreSnapshot *shared)
{
	ViewReader *reader = palloc0(sizeof(ViewReader));
	CatalogRow	row;
	CompiledView *cv;
	StoreSnapshot *snap = shared ? shared : palloc0(sizeof(StoreSnapshot));
	AclResult	aclresult;

	if (!catalog_lookup(view_id, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("continuous view %d does not exist", view_id)));
	aclresult = pg_class_aclcheck(row.viewrelid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_VIEW, get_rel_name(row.viewrelid));

	cv = get_compiled_view(&row);
	if (coldesc->natts != cv->resultdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column definition list does not match continuous view %d", view_id),
				 errdetail("The view has %d columns.", cv->resultdesc->natts)));
	for (int i = 0; i < cv->resultdesc->natts; i++)
		if (TupleDescAttr(coldesc, i)->atttypid != TupleDescAttr(cv->resultdesc, i)->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column definition list does not match continuous view %d", view_id),
					 errdetail("Column %d has type %s in the view.", i + 1,
							   format_type_be(TupleDescAttr(cv->resultdesc, i)->atttypid))));

	if (snap->taken)
		;						/* another reader of the statement took it */
	else if (lookup != NULL && lookup->nkeys == cv->nkeys && cv->nkeys > 0 && shared == NULL)
	{
		FmgrInfo   *hashfns = palloc(sizeof(FmgrInfo) * cv->nkeys);
		int			nvalues = lookup->list_key >= 0 ? lookup->nlisted : 1;
		uint32	   *hashes = palloc(sizeof(uint32) * Max(nvalues, 1));
		int			nhashes = 0;

		for (int i = 0; i < cv->nkeys; i++)
			fmgr_info(lookup->hashfns[i], &hashfns[i]);
		for (int v = 0; v < nvalues; v++)
		{
			if (lookup->list_key >= 0)
			{
				lookup->values[lookup->list_key] = lookup->listed[v];
				lookup->nulls[lookup->list_key] = false;
			}
			hashes[nhashes++] = compile_hash_key(cv, hashfns, lookup->values, lookup->nulls);
		}
		/* Equal values, or colliding ones, must not copy a group twice. */
		if (nhashes > 1)
		{
			qsort(hashes, nhashes, sizeof(uint32), compare_hashes);
			nhashes = qunique(hashes, nhashes, sizeof(uint32), compare_hashes);
		}
		store_view_snapshot(MyDatabaseId, view_id, hashes, nhashes, snap);
	}
	else
		store_view_snapshot(MyDatabaseId, view_id, NULL, 0, snap);
	if (snap->state == VIEW_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view \"%s\" is no longer maintained", get_rel_name(row.viewrelid)),
				 errdetail("Applying a change failed: %s", snap->error),
				 errhint("Drop the view and create it again.")));

	/*
	 * A view over a table shows nothing until its backfill is done: before
	 * that its rows would miss the table's contents.  A view over a stream
	 * that the worker has not registered yet has counted nothing so far, if
	 * the worker has loaded the database's views; before that (after a
	 * restart) no view has its state yet.
	 */
	if (snap->found ? snap->state == VIEW_INITIALIZING :
		(get_rel_relkind(row.sourcerelid) != RELKIND_FOREIGN_TABLE ||
		 !database_views_loaded()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view \"%s\" is initializing", get_rel_name(row.viewrelid)),
				 snap->found && snap->backfill_rows_estimated > 0 ?
				 errdetail("The worker has scanned " UINT64_FORMAT " of about " UINT64_FORMAT " rows of \"%s\".",
						   snap->backfill_rows_scanned, snap->backfill_rows_estimated,
						   get_rel_name(row.sourcerelid)) :
				 errdetail("The worker has not started reading \"%s\" yet.", get_rel_name(row.sourcerelid)),
				 errhint("Call continuous.sync() to wait until the view is ready.")));
	if (snap->stale)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("continuous view \"%s\" is stale", get_rel_name(row.viewrelid)),
				 errdetail("%s", snap->stale_reason),
				 errhint("Its rows may no longer match its definition. Remove the cause, then drop the view and create it again.")));

	reader->cv = cv;
	reader->snap = snap;
	reader->output_needed = palloc(sizeof(bool) * cv->resultdesc->natts);
	reader->agg_needed = palloc0(sizeof(bool) * Max(cv->naggs, 1));
	for (int a = 0; a < cv->naggs; a++)
		reader->agg_needed[a] = bms_is_member(a, cv->having_aggs);
	for (int i = 0; i < cv->resultdesc->natts; i++)
	{
		Bitmapset  *aggs = list_nth(cv->output_aggs, i);
		int			a = -1;

		reader->output_needed[i] = bms_is_member(i + 1, needed);
		while (reader->output_needed[i] && (a = bms_next_member(aggs, a)) >= 0)
			reader->agg_needed[a] = true;
	}
	reader->finalslot = MakeSingleTupleTableSlot(cv->finaldesc, &TTSOpsVirtual);
	reader->econtext = CreateStandaloneExprContext();
	reader->groupcxt = AllocSetContextCreate(CurrentMemoryContext, "continuous group",
											 ALLOCSET_DEFAULT_SIZES);
	return reader;
}

/*
 * Finalizes one group (stored states, or initial ones when stored is NULL)
 * into the reader's final slot.  Returns whether it passes HAVING; if so,
 * values/isnull hold the view's output row.
 */
static bool
finalize_group(ViewReader *reader, MinimalTuple stored, Datum *outvalues, bool *outnulls)
{
	CompiledView *cv = reader->cv;
	TupleTableSlot *finalslot = reader->finalslot;
	ExprContext *econtext = reader->econtext;
	MemoryContext groupcxt = reader->groupcxt;
	Datum	   *values = finalslot->tts_values;
	bool	   *nulls = finalslot->tts_isnull;
	ListCell   *lc;
	int			i;

	ExecClearTuple(finalslot);
	if (stored)
	{
		HeapTupleData htup;
		Datum	   *groupvalues = palloc(sizeof(Datum) * cv->groupdesc->natts);
		bool	   *groupnulls = palloc(sizeof(bool) * cv->groupdesc->natts);

		htup.t_len = stored->t_len + MINIMAL_TUPLE_OFFSET;
		htup.t_data = (HeapTupleHeader) ((char *) stored - MINIMAL_TUPLE_OFFSET);
		heap_deform_tuple(&htup, cv->groupdesc, groupvalues, groupnulls);
		/* Keys and stored states; a table view's row count and inputs follow. */
		memcpy(values, groupvalues, sizeof(Datum) * (cv->nkeys + cv->naggs));
		memcpy(nulls, groupnulls, sizeof(bool) * (cv->nkeys + cv->naggs));
	}
	for (i = 0; i < cv->naggs; i++)
	{
		ContinuousAgg *agg = &cv->aggs[i];
		Datum		state;
		bool		stateisnull;

		if (!reader->agg_needed[i])
		{
			values[cv->nkeys + i] = (Datum) 0;
			nulls[cv->nkeys + i] = true;
			continue;
		}
		if (stored)
		{
			stateisnull = nulls[cv->nkeys + i];
			state = agg_from_stored(agg, values[cv->nkeys + i], stateisnull, groupcxt);
		}
		else
			agg_init_state(agg, &state, &stateisnull, groupcxt);
		values[cv->nkeys + i] = agg_finalize(agg, state, stateisnull,
											 &nulls[cv->nkeys + i], groupcxt);
	}
	Assert(stored || cv->nkeys == 0);
	ExecStoreVirtualTuple(finalslot);

	econtext->ecxt_scantuple = finalslot;
	if (cv->having != NULL && !ExecQual(cv->having, econtext))
		return false;
	i = 0;
	foreach(lc, cv->outputstates)
	{
		if (reader->output_needed[i])
			outvalues[i] = ExecEvalExpr((ExprState *) lfirst(lc), econtext, &outnulls[i]);
		else
		{
			outvalues[i] = (Datum) 0;
			outnulls[i] = true;
		}
		i++;
	}
	return true;
}

/*
 * Produces the view's next row into values/isnull (as many as the view has
 * columns), or returns false at the end.  What the values point to stays
 * valid until the next call.
 */
bool
view_reader_next(ViewReader *reader, Datum *values, bool *isnull)
{
	CompiledView *cv = reader->cv;

	for (;;)
	{
		MinimalTuple stored;
		MemoryContext old;
		bool		found;

		MemoryContextReset(reader->groupcxt);
		ResetExprContext(reader->econtext);
		if (reader->next < reader->snap->ngroups)
			stored = reader->snap->tuples[reader->next++];
		else if (cv->nkeys == 0 && reader->snap->ngroups == 0 && !reader->empty_row_done)
		{
			/* Without GROUP BY an aggregate query returns one row even over no rows. */
			stored = NULL;
			reader->empty_row_done = true;
		}
		else
			return false;

		old = MemoryContextSwitchTo(reader->groupcxt);
		found = finalize_group(reader, stored, values, isnull);
		MemoryContextSwitchTo(old);
		if (found)
			return true;
	}
}

/*
 * The group keys of continuous view view_id that are output columns as
 * they are: per key, the column's number (0 if the key is not an output
 * column), the key's equality operator and its collation; palloc'd in the
 * current context.  Returns the number of keys, or -1 if the view does not
 * exist.
 */
int
view_key_columns(int32 view_id, ViewKeyColumn **keys)
{
	CatalogRow	row;
	CompiledView *cv;
	ListCell   *lc;
	int			attno = 0;

	if (!catalog_lookup(view_id, &row))
		return -1;
	cv = get_compiled_view(&row);
	*keys = palloc0(sizeof(ViewKeyColumn) * Max(cv->nkeys, 1));
	foreach(lc, cv->query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		int			k = 0;
		ListCell   *gc;

		if (tle->resjunk)
			continue;
		attno++;
		if (tle->ressortgroupref == 0)
			continue;
		foreach(gc, cv->query->groupClause)
		{
			SortGroupClause *sgc = lfirst_node(SortGroupClause, gc);

			if (sgc->tleSortGroupRef == tle->ressortgroupref && (*keys)[k].attno == 0)
			{
				(*keys)[k].attno = attno;
				(*keys)[k].eqop = sgc->eqop;
				(*keys)[k].collation = cv->keycolls[k];
			}
			k++;
		}
	}
	return cv->nkeys;
}

/* The qualified name of continuous view view_id, or NULL if it does not exist. */
char *
view_name_for_id(int32 view_id)
{
	CatalogRow	row;
	char	   *relname;

	if (!catalog_lookup(view_id, &row) || (relname = get_rel_name(row.viewrelid)) == NULL)
		return NULL;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(row.viewrelid)),
									  relname);
}

/* Starts the reader over the same snapshot. */
void
view_reader_rewind(ViewReader *reader)
{
	reader->next = 0;
	reader->empty_row_done = false;
}

/* Frees what view_reader_begin built outside its memory context's lifetime. */
void
view_reader_end(ViewReader *reader)
{
	FreeExprContext(reader->econtext, true);
	ExecDropSingleTupleTableSlot(reader->finalslot);
	MemoryContextDelete(reader->groupcxt);
}

PG_FUNCTION_INFO_V1(continuous_read_view);
Datum
continuous_read_view(PG_FUNCTION_ARGS)
{
	int32		view_id = PG_GETARG_INT32(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ViewReader *reader;
	Datum	   *values;
	bool	   *isnull;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	reader = view_reader_begin(view_id, rsinfo->setDesc, NULL,
							   bms_add_range(NULL, 1, rsinfo->setDesc->natts), NULL);
	values = palloc(sizeof(Datum) * rsinfo->setDesc->natts);
	isnull = palloc(sizeof(bool) * rsinfo->setDesc->natts);
	while (view_reader_next(reader, values, isnull))
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	view_reader_end(reader);
	return (Datum) 0;
}

/* ----------------------------------------------------------------------
 * sync
 * ----------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(continuous_sync);
Datum
continuous_sync(PG_FUNCTION_ARGS)
{
	Interval   *timeout = PG_GETARG_INTERVAL_P(0);
	int64		timeout_ms;
	TimestampTz deadline;
	XLogRecPtr	target;
	StoreDb		status;

	timeout_ms = (int64) (timeout->time / 1000) +
		(int64) timeout->day * 86400000 + (int64) timeout->month * 30 * 86400000LL;
	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	/*
	 * Every commit before this call ends before this record.  The message is
	 * not transactional and needs no xid; flushing it makes the worker able
	 * to read up to it.
	 */
	target = LogLogicalMessage(CONTINUOUS_SYNC_PREFIX, "", 0, false);
	XLogFlush(target);

	for (;;)
	{
		bool		known = store_db_get_status(MyDatabaseId, &status);

		if (known && status.worker_pid != 0 && status.applied_lsn >= target)
			break;
		if (GetCurrentTimestamp() >= deadline)
		{
			if (!known || status.worker_pid == 0)
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("continuous.sync() timed out: no pg_continuous worker is running for this database"),
						 errhint("Check the server log; the worker is started by CREATE EXTENSION pg_continuous and at server start.")));
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("continuous.sync() timed out with the worker %lld bytes behind",
							(long long) (target - Min(target, status.applied_lsn))),
					 errdetail("Applied up to %X/%X, waiting for %X/%X.%s%s",
							   LSN_FORMAT_ARGS(status.applied_lsn), LSN_FORMAT_ARGS(target),
							   status.error[0] ? " The worker is paused: " : "", status.error),
					 errhint("Call continuous.sync() with a longer timeout, or see continuous.stats.")));
		}
		store_wake_worker(MyDatabaseId);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------------
 * State functions behind continuous.views and continuous.stats
 * ----------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(continuous_view_state);
Datum
continuous_view_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *statuses;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	statuses = store_view_statuses(MyDatabaseId);
	foreach(lc, statuses)
	{
		StoreViewStatus *s = lfirst(lc);
		Datum		values[13];
		bool		nulls[13] = {0};
		const char *state;

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

PG_FUNCTION_INFO_V1(continuous_worker_state);
Datum
continuous_worker_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StoreDb		status;
	Datum		values[9];
	bool		nulls[9] = {0};
	char		slotname[NAMEDATALEN];

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
	values[6] = CStringGetTextDatum(status.error);
	nulls[6] = (status.error[0] == '\0');
	values[7] = LSNGetDatum(status.checkpoint_lsn);
	nulls[7] = (status.checkpoint_lsn == InvalidXLogRecPtr);
	values[8] = TimestampTzGetDatum(status.checkpoint_time);
	nulls[8] = (status.checkpoint_time == 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* ----------------------------------------------------------------------
 * continuous.tumble(bigint, bigint, bigint)
 * ----------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(continuous_tumble_int8);
Datum
continuous_tumble_int8(PG_FUNCTION_ARGS)
{
	int64		ts = PG_GETARG_INT64(0);
	int64		width = PG_GETARG_INT64(1);
	int64		origin = PG_GETARG_INT64(2);
	int128		offset;
	int64		result;

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
