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

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "pgstat.h"
#include "replication/slot.h"
#include "rewrite/rewriteHandler.h"
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
#include "utils/uuid.h"
#include "utils/varlena.h"

#include "api/ddl.h"
#include "base/catalog.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "base/security.h"
#include "query/analyze.h"
#include "read/reader.h"
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

/*
 * The definition as a view's body records it: the analyzed query printed
 * with every name outside pg_catalog qualified (search_path pinned), so
 * that it means the same wherever the body is restored.
 */
static char *
qualified_definition(Query *query)
{
	int   nest_level = security_pin_search_path();
	char *definition = pg_get_querydef(copyObject(query), true);

	security_unpin_search_path(nest_level);
	return definition;
}

/*
 * The body of continuous view names: a read of its state by view key, with
 * the qualified definition beside the key.  A dump restores the body, and
 * the event trigger (below) makes a continuous view of it again.
 */
static char *
view_statement(const char *verb, const char *qualified_name, const pg_uuid_t *view_key,
			   Query *query)
{
	char *key = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(view_key)));

	return psprintf("%s %s AS SELECT * FROM continuous.read_view(%s::uuid, %s) AS r(%s)",
					verb, qualified_name, quote_literal_cstr(key),
					quote_literal_cstr(qualified_definition(query)), column_definitions(query));
}

/* The RLS refusal of create_view, for a source sourcerelid and the current user. */
static void
refuse_row_security(Oid sourcerelid)
{
	if (security_row_security_applies(sourcerelid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("row-level security applies to table %s for role %s",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(sourcerelid)),
												   get_rel_name(sourcerelid)),
						GetUserNameFromId(GetUserId(), false)),
				 errdetail("A continuous view keeps every row of its source in its aggregates and cannot apply row security policies."),
				 errhint("Create the view as a role row security does not apply to: the table's owner (unless the table has FORCE ROW LEVEL SECURITY) or a role with BYPASSRLS.")));
}

/*
 * The view's rule depends on the source, the columns and the functions the
 * definition uses, exactly as an ordinary view's rule would: DROP and ALTER
 * of them are refused, or cascade, with PostgreSQL's own messages.
 */
static void
record_definition_dependencies(Oid viewrelid, Query *query)
{
	ObjectAddress ruleaddr;

	ObjectAddressSet(ruleaddr, RewriteRelationId, get_rewrite_oid(viewrelid, "_RETURN", false));
	recordDependencyOnExpr(&ruleaddr, (Node *) query, NIL, DEPENDENCY_NORMAL);
}

/* Set while create_view creates its view: the event trigger leaves it alone. */
static bool creating_view = false;

CONTINUOUS_SQL_FUNCTION(continuous_create_view);
Datum
continuous_create_view(PG_FUNCTION_ARGS)
{
	char     *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char     *query_string = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List     *names = stringToQualifiedNameList(name);
	RangeVar *rv = makeRangeVarFromNameList(names);
	Query    *query;
	Oid       sourcerelid;
	Oid       viewrelid;
	int32     view_id;
	pg_uuid_t view_key;
	bool      keyed;

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
	refuse_row_security(sourcerelid);

	SPI_connect();
	require_full_replica_identity(sourcerelid);
	view_id = catalog_next_view_id();
	keyed = catalog_has_view_keys();
	catalog_new_view_key(&view_key);
	creating_view = true;
	PG_TRY();
	{
		/* Until ALTER EXTENSION ... UPDATE, 1.0's catalog and body. */
		const char *statement =
			keyed ? view_statement("CREATE VIEW", NameListToQuotedString(names), &view_key, query)
				  : psprintf("CREATE VIEW %s AS SELECT * FROM continuous.read_view(%d) AS r(%s)",
							 NameListToQuotedString(names), view_id, column_definitions(query));

		if (SPI_execute(statement, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create view \"%s\"", name);
	}
	PG_FINALLY();
	{
		creating_view = false;
	}
	PG_END_TRY();
	viewrelid = RangeVarGetRelid(rv, NoLock, false);
	record_definition_dependencies(viewrelid, query);
	catalog_insert_view(view_id, viewrelid, sourcerelid, query_string, nodeToString(query),
						keyed ? &view_key : NULL, false);
	SPI_finish();

	PG_RETURN_OID(viewrelid);
}

/* ----------------------------------------------------------------------
 * Restored views: the body of a continuous view made a continuous view
 * ----------------------------------------------------------------------
 */

/*
 * If the view viewrelid selects from continuous.read_view(key, definition)
 * and nothing else, sets *view_key, *definition and *coltypes (of its
 * column definition list) and returns true.
 */
static bool
body_reads_view(Oid viewrelid, pg_uuid_t *view_key, char **definition, List **coltypes)
{
	Relation          rel = relation_open(viewrelid, AccessShareLock);
	Query            *body = get_view_query(rel);
	RangeTblRef      *rtr;
	RangeTblEntry    *rte;
	RangeTblFunction *rtfunc;
	FuncExpr         *call;
	Const            *key;
	Const            *def;
	bool              found = false;

	if (list_length(body->jointree->fromlist) == 1 && body->jointree->quals == NULL &&
		IsA(linitial(body->jointree->fromlist), RangeTblRef) && body->groupClause == NIL &&
		!body->hasAggs && body->havingQual == NULL && body->limitCount == NULL &&
		body->limitOffset == NULL && body->sortClause == NIL && body->distinctClause == NIL &&
		body->setOperations == NULL && body->cteList == NIL)
	{
		rtr = linitial_node(RangeTblRef, body->jointree->fromlist);
		rte = rt_fetch(rtr->rtindex, body->rtable);
		if (rte->rtekind == RTE_FUNCTION && list_length(rte->functions) == 1 &&
			!rte->funcordinality)
		{
			rtfunc = linitial_node(RangeTblFunction, rte->functions);
			call = (FuncExpr *) rtfunc->funcexpr;
			if (IsA(call, FuncExpr) && list_length(call->args) == 2 &&
				IsA(linitial(call->args), Const) && IsA(lsecond(call->args), Const) &&
				reader_is_read_view(call->funcid))
			{
				key = linitial_node(Const, call->args);
				def = lsecond_node(Const, call->args);
				if (!key->constisnull && !def->constisnull && key->consttype == UUIDOID &&
					def->consttype == TEXTOID)
				{
					*view_key = *DatumGetUUIDP(key->constvalue);
					*definition = TextDatumGetCString(def->constvalue);
					*coltypes = list_copy(rtfunc->funccoltypes);
					found = true;
				}
			}
		}
	}
	relation_close(rel, AccessShareLock);
	return found;
}

/*
 * Does the analyzed definition give the columns the body reads, coltypes
 * (the column definition list of read_view())?  Their names may differ
 * (ALTER VIEW ... RENAME COLUMN renames the view's columns, and a dump
 * keeps the new names); the reader matches columns by position.
 */
static void
check_columns_match(const char *qualified, List *coltypes, Query *query)
{
	ListCell *lc;
	int       n = 0;

	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Oid          type = exprType((Node *) tle->expr);

		if (tle->resjunk)
			continue;
		if (n < list_length(coltypes) && list_nth_oid(coltypes, n) != type)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("column %d of view %s has type %s, but its continuous view definition gives %s",
							n + 1, qualified, format_type_be(list_nth_oid(coltypes, n)),
							format_type_be(type))));
		n++;
	}
	if (n != list_length(coltypes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("view %s reads %d columns from continuous.read_view(), but its continuous view definition gives %d",
						qualified, list_length(coltypes), n)));
}

/*
 * A view whose body reads a continuous view key that no continuous view
 * has (a view restored from a dump, or a body written by hand) becomes a
 * continuous view: its definition is analyzed and checked as create_view
 * does, as the role creating the view, and recorded under the key.  Its
 * state starts empty (a view over a table is backfilled); a dump's
 * checkpoint of a view over a stream is loaded when its rows are restored
 * (see checkpoint_group in the install script).  A body reading the key of
 * another view is refused: one view never reads another's state.
 */
static void
adopt_view(Oid viewrelid)
{
	pg_uuid_t view_key;
	char     *definition;
	int32     existing;
	Query    *query;
	Oid       sourcerelid;
	int32     view_id;
	char     *qualified;
	List     *coltypes;

	if (!body_reads_view(viewrelid, &view_key, &definition, &coltypes))
		return;
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewrelid)),
										   get_rel_name(viewrelid));
	existing = catalog_id_for_key(&view_key);
	if (existing != 0)
	{
		CatalogRow row;

		if (catalog_lookup(existing, &row) && row.viewrelid == viewrelid)
		{
			/* CREATE OR REPLACE VIEW with the body it has: a new rule. */
			record_definition_dependencies(viewrelid, stringToNode(row.querytree));
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("view %s reads the state of continuous view %s",
						qualified, continuous_view_name(row.viewrelid, existing)),
				 errdetail("Its body selects from continuous.read_view() with the key of another continuous view."),
				 errhint("Select from the continuous view itself, or create a new one with continuous.create_view().")));
	}

	query = analyze_view_query(definition, &sourcerelid);
	check_columns_match(qualified, coltypes, query);
	refuse_row_security(sourcerelid);
	LockRelationOid(catalog_relation_oid(false), RowExclusiveLock);
	require_full_replica_identity(sourcerelid);
	record_definition_dependencies(viewrelid, query);
	view_id = catalog_next_view_id();
	catalog_insert_view(view_id, viewrelid, sourcerelid, definition, nodeToString(query),
						&view_key, true);
	ereport(DEBUG1, (errmsg("view %s is continuous view %d again", qualified, view_id)));
}

/*
 * continuous._on_create_view(): the ddl_command_end trigger of CREATE VIEW.
 * Views that create_view makes are left to it.
 */
CONTINUOUS_SQL_FUNCTION(continuous_on_create_view);
Datum
continuous_on_create_view(PG_FUNCTION_ARGS)
{
	List     *created = NIL;
	ListCell *lc;
	int       nest_level;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("continuous._on_create_view() must be called as an event trigger")));
	if (creating_view)
		PG_RETURN_VOID();

	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute("SELECT objid FROM pg_event_trigger_ddl_commands() "
					"WHERE classid = 'pg_class'::regclass AND object_type = 'view'",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_event_trigger_ddl_commands()");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool isnull;

		created = lappend_oid(created, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	  SPI_tuptable->tupdesc,
																	  1, &isnull)));
	}
	foreach(lc, created)
		adopt_view(lfirst_oid(lc));
	security_unpin_search_path(nest_level);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * continuous._upgrade_view_bodies(): the 1.0 to 1.1 upgrade script's step
 * that gives the bodies of 1.0's views (a read of their id) the form of
 * 1.1's (a read of their key, beside the definition), so that a dump
 * restores them.  The rule's dependencies go with the old body: recorded
 * again.
 */
CONTINUOUS_SQL_FUNCTION(continuous_upgrade_view_bodies);
Datum
continuous_upgrade_view_bodies(PG_FUNCTION_ARGS)
{
	SPITupleTable *views;
	uint64         nviews;
	int            nest_level;
	bool           was_creating = creating_extension;
	Oid            extension = CurrentExtensionObject;

	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute("SELECT viewrelid, querytree, view_key FROM continuous.view_catalog ORDER BY id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.view_catalog");
	security_unpin_search_path(nest_level);
	views = SPI_tuptable;
	nviews = SPI_processed;
	for (uint64 i = 0; i < nviews; i++)
	{
		bool   isnull;
		Oid    viewrelid = DatumGetObjectId(SPI_getbinval(views->vals[i], views->tupdesc, 1, &isnull));
		Query *query = stringToNode(SPI_getvalue(views->vals[i], views->tupdesc, 2));
		Datum  key = SPI_getbinval(views->vals[i], views->tupdesc, 3, &isnull);
		char  *qualified;

		if (get_rel_name(viewrelid) == NULL)
			continue;
		qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewrelid)),
											   get_rel_name(viewrelid));
		/*
		 * The views are the users', not the extension's: replaced as if
		 * outside the update script (which may replace only its members).
		 */
		creating_extension = false;
		CurrentExtensionObject = InvalidOid;
		creating_view = true; /* the event trigger leaves it to us */
		PG_TRY();
		{
			if (SPI_execute(view_statement("CREATE OR REPLACE VIEW", qualified, DatumGetUUIDP(key), query),
							false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not replace the body of view %s", qualified);
		}
		PG_FINALLY();
		{
			creating_extension = was_creating;
			CurrentExtensionObject = extension;
			creating_view = false;
		}
		PG_END_TRY();
		record_definition_dependencies(viewrelid, query);
	}
	SPI_finish();
	PG_RETURN_VOID();
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
