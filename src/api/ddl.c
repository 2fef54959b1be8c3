/*-------------------------------------------------------------------------
 * ddl.c
 *	  SQL-callable DDL: create_stream, create_view, drop_view, and the
 *	  release of a dropped view's shared memory at commit.
 *
 * No user text is spliced into SQL here.  Names are parsed into identifiers
 * and quoted again; create_stream parses its column list as the element
 * list of a CREATE FOREIGN TABLE statement, checks that it is nothing else,
 * and executes the parsed statement, never the text.
 *
 * create_view analyzes the definition (analyze.c), creates the ordinary
 * view "name" that selects from continuous.read_view(id) with a column
 * definition list naming the query's output columns, records the
 * definition's dependencies on the view's rule (so DROP and ALTER of what
 * it uses behave as for an ordinary view), and inserts the catalog row
 * (catalog.c) that the worker decodes.
 * DROP VIEW (direct, via drop_view(), or cascaded from the source) fires
 * the extension's sql_drop event trigger, which deletes the catalog row and
 * asks this module to release the view's shared memory at commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "replication/slot.h"
#include "rewrite/rewriteSupport.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "api/ddl.h"
#include "base/catalog.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "base/security.h"
#include "query/analyze.h"
#include "store/store.h"
#include "stream/stream.h"
#include "worker/worker.h"

/* ----------------------------------------------------------------------
 * create_stream
 * ----------------------------------------------------------------------
 */

/* What create_stream parses, for errors that point into it. */
typedef struct StreamSource
{
	const char *statement; /* CREATE FOREIGN TABLE ... the columns ... */
	const char *name;      /* the stream's name, for the context line */
} StreamSource;

/* Errors point into the statement (analyze_position_in) and name the stream. */
static void
stream_source_callback(void *arg)
{
	StreamSource *source = arg;

	analyze_position_in(source->statement);
	errcontext("creating stream %s", source->name);
}

/*
 * continuous.create_stream(name, columns): creates stream name, a foreign
 * table of CONTINUOUS_STREAM_SERVER with the columns given as in CREATE
 * TABLE.  columns is parsed as the element list of that statement and must
 * be nothing else: one statement, the relation and server create_stream
 * put there, no other clause.  The parsed statement runs as the caller;
 * what CREATE FOREIGN TABLE refuses among the elements, it refuses.
 */
CONTINUOUS_SQL_FUNCTION(continuous_create_stream);
Datum
continuous_create_stream(PG_FUNCTION_ARGS)
{
	char                   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char                   *columns = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List                   *names = stringToQualifiedNameList(name);
	RangeVar               *rv;
	StreamSource            source;
	ErrorContextCallback    errcallback;
	List                   *parsed;
	CreateForeignTableStmt *stmt = NULL;
	PlannedStmt            *pstmt;

	if (list_length(names) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("improper stream name \"%s\"", name),
				 errhint("Use a name or schema.name.")));
	rv = makeRangeVarFromNameList(names);
	source.name = quote_qualified_identifier(rv->schemaname, rv->relname);
	source.statement = psprintf("CREATE FOREIGN TABLE %s (%s) SERVER %s",
								source.name, columns, CONTINUOUS_STREAM_SERVER);

	errcallback.callback = stream_source_callback;
	errcallback.arg = &source;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	parsed = raw_parser(source.statement, RAW_PARSE_DEFAULT);
	if (list_length(parsed) == 1 &&
		IsA(linitial_node(RawStmt, parsed)->stmt, CreateForeignTableStmt))
		stmt = (CreateForeignTableStmt *) linitial_node(RawStmt, parsed)->stmt;
	if (stmt == NULL ||
		strcmp(stmt->servername, CONTINUOUS_STREAM_SERVER) != 0 || stmt->options != NIL ||
		strcmp(stmt->base.relation->relname, rv->relname) != 0 ||
		(stmt->base.relation->schemaname == NULL) != (rv->schemaname == NULL) ||
		(rv->schemaname && strcmp(stmt->base.relation->schemaname, rv->schemaname) != 0) ||
		stmt->base.relation->catalogname != NULL ||
		stmt->base.relation->relpersistence != RELPERSISTENCE_PERMANENT ||
		stmt->base.inhRelations != NIL || stmt->base.partbound != NULL ||
		stmt->base.partspec != NULL || stmt->base.ofTypename != NULL ||
		stmt->base.constraints != NIL || stmt->base.options != NIL ||
		stmt->base.oncommit != ONCOMMIT_NOOP || stmt->base.tablespacename != NULL ||
		stmt->base.accessMethod != NULL || stmt->base.if_not_exists)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid column list for stream %s", source.name),
				 errdetail("The column list must be column definitions as in CREATE TABLE, and nothing else."),
				 errhint("Write the columns as: name type [, name type ...].")));

	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = linitial_node(RawStmt, parsed)->stmt_location;
	pstmt->stmt_len = linitial_node(RawStmt, parsed)->stmt_len;
	ProcessUtility(pstmt, source.statement, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, NULL);
	CommandCounterIncrement();
	error_context_stack = errcallback.previous;

	PG_RETURN_OID(RangeVarGetRelid(rv, NoLock, false));
}

/* How long create_view waits for a new database's worker to be ready. */
#define WORKER_READY_TIMEOUT_MS 60000

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
	char        slotname[NAMEDATALEN];
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WORKER_READY_TIMEOUT_MS);

	LockRelationOid(catalog_relation_oid(false), RowExclusiveLock);
	worker_slot_name(MyDatabaseId, slotname);
	for (;;)
	{
		ReplicationSlot *slot;
		StoreDb          status;
		bool             ready = false;
		bool             pending;

		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		slot = SearchNamedReplicationSlot(slotname, false);
		if (slot && slot->data.persistency == RS_PERSISTENT)
			ready = true;
		LWLockRelease(ReplicationSlotControlLock);
		pending = store_db_get_status(MyDatabaseId, &status) && status.slot_pending;
		if (ready && !pending)
			return;

		if (store_db_no_room(MyDatabaseId))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many databases use pg_continuous"),
					 errdetail("continuous.max_databases is %d, and as many other databases run a pg_continuous worker, so this database has none.",
							   continuous_max_databases),
					 errhint("Raise continuous.max_databases and restart the server, or drop the extension in a database that no longer uses it.")));
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
					 continuous_enabled ? errhint("Check the server log, max_worker_processes and max_replication_slots.") : errhint("continuous.enabled is off: the worker holds no slot until it is turned on.")));
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
	ListCell *lc;
	List     *seen = NIL;

	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		ListCell    *lc2;

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
	ListCell      *lc;
	bool           first = true;

	initStringInfo(&buf);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Oid          type = exprType((Node *) tle->expr);
		Oid          coll = exprCollation((Node *) tle->expr);

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
	ListCell *lc;

	if (get_rel_relkind(sourcerelid) == RELKIND_FOREIGN_TABLE)
		return;
	foreach(lc, find_all_inheritors(sourcerelid, NoLock, NULL))
	{
		Oid       relid = lfirst_oid(lc);
		HeapTuple tup;
		char      replident;
		char     *qualified;

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

CONTINUOUS_SQL_FUNCTION(continuous_create_view);
Datum
continuous_create_view(PG_FUNCTION_ARGS)
{
	char         *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char         *query_string = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List         *names = stringToQualifiedNameList(name);
	RangeVar     *rv = makeRangeVarFromNameList(names);
	Query        *query;
	Oid           sourcerelid;
	Oid           viewrelid;
	int32         view_id;
	ObjectAddress ruleaddr;

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
	if (security_row_security_applies(sourcerelid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("row-level security applies to table %s for role %s",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(sourcerelid)),
												   get_rel_name(sourcerelid)),
						GetUserNameFromId(GetUserId(), false)),
				 errdetail("A continuous view keeps every row of its source in its aggregates and cannot apply row security policies."),
				 errhint("Create the view as a role row security does not apply to: the table's owner (unless the table has FORCE ROW LEVEL SECURITY) or a role with BYPASSRLS.")));

	SPI_connect();
	require_full_replica_identity(sourcerelid);
	view_id = catalog_next_view_id();
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

	catalog_insert_view(view_id, viewrelid, sourcerelid, query_string, nodeToString(query));
	SPI_finish();

	PG_RETURN_OID(viewrelid);
}

/* ----------------------------------------------------------------------
 * drop_view, and releasing shared memory at the commit of a drop
 * ----------------------------------------------------------------------
 */

CONTINUOUS_SQL_FUNCTION(continuous_drop_view);
Datum
continuous_drop_view(PG_FUNCTION_ARGS)
{
	Oid   viewrelid = PG_GETARG_OID(0);
	char *qualified;

	if (!catalog_has_view_relation(viewrelid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a continuous view", get_rel_name(viewrelid)),
				 errhint("Use DROP VIEW or DROP TABLE for other relations.")));
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewrelid)),
										   get_rel_name(viewrelid));
	SPI_connect();
	SPI_execute(psprintf("DROP VIEW %s", qualified), false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

typedef struct PendingRelease
{
	int32            view_id;
	SubTransactionId subid;
} PendingRelease;

static List *pending_releases = NIL;

/* continuous._release_view_at_commit(id): called by the sql_drop trigger. */
CONTINUOUS_SQL_FUNCTION(continuous_release_view_at_commit);
Datum
continuous_release_view_at_commit(PG_FUNCTION_ARGS)
{
	MemoryContext   old = MemoryContextSwitchTo(TopTransactionContext);
	PendingRelease *p = palloc(sizeof(PendingRelease));

	p->view_id = PG_GETARG_INT32(0);
	p->subid = GetCurrentSubTransactionId();
	pending_releases = lappend(pending_releases, p);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/* At commit, releases the shared memory of the views the transaction dropped. */
void
ddl_xact_callback(XactEvent event)
{
	ListCell *lc;

	if (event == XACT_EVENT_COMMIT)
		foreach(lc, pending_releases)
			store_view_release(MyDatabaseId, ((PendingRelease *) lfirst(lc))->view_id);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		pending_releases = NIL; /* the list lived in TopTransactionContext */
}

void
ddl_subxact_callback(SubXactEvent event, SubTransactionId mySubid)
{
	ListCell *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach(lc, pending_releases)
	{
		if (((PendingRelease *) lfirst(lc))->subid >= mySubid)
			pending_releases = foreach_delete_current(pending_releases, lc);
	}
}
