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
#include "utils/guc.h"
#include "utils/varlena.h"

#include "api/ddl.h"
#include "base/catalog.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "base/security.h"
#include "query/analyze.h"
#include "query/compile.h"
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

/*
 * Column definition list for read_view(): "name type, ..." of the output;
 * the names are those of view viewrelid's columns when it is given (they
 * may have been renamed since), else the query's.
 */
static char *
column_definitions(Query *query, Oid viewrelid)
{
	StringInfoData buf;
	ListCell      *lc;
	int            n = 0;

	initStringInfo(&buf);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Oid          type = exprType((Node *) tle->expr);
		Oid          coll = exprCollation((Node *) tle->expr);
		char        *name = OidIsValid(viewrelid) ? get_attname(viewrelid, n + 1, true) : NULL;

		if (tle->resjunk)
			continue;
		if (name == NULL)
			name = tle->resname ? tle->resname : "?column?";
		appendStringInfo(&buf, "%s%s %s", n > 0 ? ", " : "", quote_identifier(name),
						 format_type_with_typemod(type, exprTypmod((Node *) tle->expr)));
		if (OidIsValid(coll) && coll != get_typcollation(type))
			appendStringInfo(&buf, " COLLATE %s", generate_collation_name(coll));
		n++;
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
 * The body of a continuous view (1.1):
 *
 *	WITH continuous_definition AS (<the defining query>),
 *		 continuous_settings AS (SELECT '<TimeZone>'::text AS timezone, ...)
 *	SELECT * FROM continuous.read_view('<view key>'::uuid) AS r(<columns>)
 *
 * Neither CTE is referenced, so the planner ignores them; PostgreSQL keeps
 * them in the view's rule like any query, by OID: \d+, pg_views and
 * pg_dump show the defining query with the names objects have now, and
 * the rule depends on everything the definition uses, as an ordinary
 * view's does.  A restored body is made a continuous view again from them
 * (the event trigger below).
 */

/* The settings the view's stable functions see: the creator's (see the catalog). */
typedef struct ViewSettings
{
	const char       *timezone;
	const char       *datestyle;
	const char       *intervalstyle;
	ContinuousOptions options;    /* create_view's options */
	bool              bad_option; /* a body's option is not one create_view makes */
} ViewSettings;

static void
current_view_settings(ViewSettings *settings)
{
	settings->timezone = GetConfigOptionByName("TimeZone", NULL, false);
	settings->datestyle = GetConfigOptionByName("DateStyle", NULL, false);
	settings->intervalstyle = GetConfigOptionByName("IntervalStyle", NULL, false);
	memset(&settings->options, 0, sizeof(ContinuousOptions));
	settings->bad_option = false;
}

/*
 * Settings under which a definition is printed and read back with the same
 * meaning, as pg_dump prints views: every name outside pg_catalog
 * qualified, dates in ISO, floats exact.  Undone by AtEOXact_GUC.
 */
static int
begin_portable_settings(void)
{
	int nest_level = security_pin_search_path();

	(void) set_config_option("DateStyle", "ISO", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

/* An analyzed definition printed under begin_portable_settings(). */
static char *
portable_definition(Query *query)
{
	int   nest_level = begin_portable_settings();
	char *definition = pg_get_querydef(copyObject(query), true);

	security_unpin_search_path(nest_level);
	return definition;
}

/*
 * The statement that gives view qualified_name its body (see above), with
 * definition, the text of the defining query, to be analyzed by the
 * statement as it was by create_view.
 */
static char *
interval_literal(int64 usecs)
{
	return psprintf("'%d days " INT64_FORMAT " microseconds'::interval", (int) (usecs / USECS_PER_DAY),
					usecs % USECS_PER_DAY);
}

static char *
regclass_literal(Oid relid)
{
	return psprintf("%s::regclass",
					quote_literal_cstr(quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
																  get_rel_name(relid))));
}

static char *
view_statement(const char *verb, const char *qualified_name, const pg_uuid_t *view_key,
			   const char *definition, Query *query, const ViewSettings *settings, Oid viewrelid)
{
	char                    *key = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(view_key)));
	const ContinuousOptions *o = &settings->options;
	StringInfoData           extra;
	char                    *history = "";

	/* create_view's options, by name after the three settings. */
	initStringInfo(&extra);
	if (o->max_memory > 0)
		appendStringInfo(&extra, ", '" INT64_FORMAT "'::bigint AS max_memory", o->max_memory);
	if (o->lateness > 0)
	{
		appendStringInfo(&extra, ", %s AS lateness, %s::text AS clock, %s AS history, %s::text AS late_events",
						 interval_literal(o->lateness), quote_literal_cstr(o->event_clock ? "event" : "commit"),
						 regclass_literal(o->history), quote_literal_cstr(o->capture_late ? "capture" : "drop"));
		if (o->retain > 0)
			appendStringInfo(&extra, ", %s AS retain", interval_literal(o->retain));
		if (OidIsValid(o->late_table))
			appendStringInfo(&extra, ", %s AS late_table", regclass_literal(o->late_table));
		if (o->idle_timeout > 0)
			appendStringInfo(&extra, ", %s AS idle_timeout", interval_literal(o->idle_timeout));
		/* Closed windows are read from the history table. */
		history = psprintf("\nUNION ALL SELECT * FROM %s",
						   quote_qualified_identifier(get_namespace_name(get_rel_namespace(o->history)),
													  get_rel_name(o->history)));
	}

	return psprintf("%s %s AS\nWITH " CONTINUOUS_DEFINITION_CTE " AS (\n%s\n),\n" CONTINUOUS_SETTINGS_CTE
					" AS (SELECT %s::text AS timezone, %s::text AS datestyle, %s::text AS intervalstyle%s)\n"
					"SELECT * FROM continuous.read_view(%s::uuid) AS r(%s)%s",
					verb, qualified_name, definition, quote_literal_cstr(settings->timezone),
					quote_literal_cstr(settings->datestyle),
					quote_literal_cstr(settings->intervalstyle), extra.data, quote_literal_cstr(key),
					column_definitions(query, viewrelid), history);
}

/* The text of the one statement of query_string, without what surrounds it. */
static char *
statement_text(const char *query_string)
{
	RawStmt *stmt = linitial_node(RawStmt, raw_parser(query_string, RAW_PARSE_DEFAULT));

	return stmt->stmt_len > 0 ? pnstrdup(query_string + stmt->stmt_location, stmt->stmt_len)
							  : pstrdup(query_string + stmt->stmt_location);
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
 * A 1.0 body (a read of the view id only) does not contain the definition:
 * its rule is given the dependencies on the source, the columns and the
 * functions the definition uses, exactly as an ordinary view's rule would
 * have them, so DROP and ALTER of them are refused, or cascade, with
 * PostgreSQL's own messages.
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

/*
 * create_view's max_memory: a size with a unit, as pg_size_bytes() reads
 * it ('64MB'), in bytes; 0 when NULL.
 */
static pg_noinline int64
max_memory_argument(FunctionCallInfo fcinfo, int argno)
{
	int64 bytes;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	bytes = DatumGetInt64(DirectFunctionCall1(pg_size_bytes, PG_GETARG_DATUM(argno)));
	if (bytes <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_memory must be positive"),
				 errhint("Give a size such as '64MB', or NULL for no cap.")));
	return bytes;
}

/* An interval argument of create_view in microseconds, positive; 0 when NULL. */
static int64
interval_argument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	Interval *iv;
	int64     usecs;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	iv = PG_GETARG_INTERVAL_P(argno);
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be given in months or years", name),
				 errhint("Give it in days or less, such as '30 days'.")));
	usecs = iv->time + (int64) iv->day * USECS_PER_DAY;
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", name),
				 errhint("Give a positive interval, such as '10 seconds'.")));
	return usecs;
}

static char *
text_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* The arguments of create_view (pg_continuous--1.1--1.2.sql). */
#define ARG_LATENESS     2
#define ARG_HISTORY      3
#define ARG_RETAIN       4
#define ARG_LATE_EVENTS  5
#define ARG_CLOCK        6
#define ARG_IDLE_TIMEOUT 7
#define ARG_MAX_MEMORY   8

/* A table create_view makes beside the view: its name, refused if taken. */
static RangeVar *
new_table_name(const char *given, RangeVar *view, const char *suffix, const char *option)
{
	RangeVar *rv;

	if (given)
		rv = makeRangeVarFromNameList(stringToQualifiedNameList(given));
	else
	{
		rv = copyObject(view);
		rv->relname = psprintf("%s%s", view->relname, suffix);
	}
	(void) RangeVarGetCreationNamespace(rv);
	if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", rv->relname),
				 errhint("Name a new table with %s => '...', or drop the existing relation first.", option)));
	return rv;
}

/*
 * Reads and checks create_view's options of windows that close.  Sets
 * *history and *late to the names of the tables to make (NULL: none).
 */
static void
closing_options(FunctionCallInfo fcinfo, Query *query, RangeVar *view, ContinuousOptions *o,
				RangeVar **history, RangeVar **late)
{
	const char *history_name = text_argument(fcinfo, ARG_HISTORY);
	const char *late_events = text_argument(fcinfo, ARG_LATE_EVENTS);
	const char *clock = text_argument(fcinfo, ARG_CLOCK);
	WindowSpec  window;
	int         nwindows;

	*history = *late = NULL;
	o->lateness = interval_argument(fcinfo, ARG_LATENESS, "lateness");
	o->retain = interval_argument(fcinfo, ARG_RETAIN, "retain");
	o->idle_timeout = interval_argument(fcinfo, ARG_IDLE_TIMEOUT, "idle_timeout");
	if (o->lateness == 0)
	{
		const char *option = history_name      ? "history"
							 : o->retain       ? "retain"
							 : late_events     ? "late_events"
							 : clock           ? "clock"
							 : o->idle_timeout ? "idle_timeout"
											   : NULL;

		if (option)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s needs lateness", option),
					 errdetail("Without lateness the windows of a continuous view never close."),
					 errhint("Give lateness => '10 seconds' (how long a window waits for late events after it ends), or leave out %s.",
							 option)));
		return;
	}
	if (late_events && strcmp(late_events, "drop") != 0 && strcmp(late_events, "capture") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown late_events \"%s\"", late_events),
				 errhint("Use 'drop' (count late changes) or 'capture' (also store them in a table).")));
	if (clock && strcmp(clock, "commit") != 0 && strcmp(clock, "event") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown clock \"%s\"", clock),
				 errhint("Use 'commit' (commit time of the transactions applied) or 'event' (event time).")));
	o->event_clock = clock && strcmp(clock, "event") == 0;
	if (o->idle_timeout && !o->event_clock)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idle_timeout needs clock => 'event'"),
				 errhint("Leave out idle_timeout: the commit clock advances by itself when sources are idle.")));
	o->capture_late = late_events && strcmp(late_events, "capture") == 0;

	nwindows = compile_find_window(query, &window);
	if (nwindows != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 nwindows == 0 ? errmsg("lateness needs a window among the GROUP BY keys")
							   : errmsg("lateness needs exactly one window among the GROUP BY keys, not %d", nwindows),
				 errhint("Group by one window, such as continuous.tumble(ts, '1 minute') AS minute.")));
	if (window.column == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the window of a continuous view with lateness must be one of its columns"),
				 errdetail("Its history table keeps each closed window's rows with their window."),
				 errhint("Select it, such as continuous.tumble(ts, '1 minute') AS minute.")));
	if (!window.fixed_width)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the width of the window of a continuous view with lateness must be a positive constant"),
				 errhint("Give a width such as '1 minute'.")));
	if (window.type == INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("windows over bigint time cannot close"),
				 errdetail("lateness is an interval of time."),
				 errhint("Use a window over timestamptz or timestamp time, such as continuous.tumble(ts, '1 minute').")));

	*history = new_table_name(history_name, view, "_history", "history");
	if (o->capture_late)
		*late = new_table_name(NULL, view, "_late", "late_events");
}

/*
 * Makes the tables of a view whose windows close, before the view (whose
 * body reads the history table): the history table, with the view's
 * columns, and for late_events => 'capture' the late table, with the
 * source's columns and what made each change late.
 */
static void
create_closing_tables(Query *query, Oid sourcerelid, RangeVar *history, RangeVar *late,
					  ContinuousOptions *o)
{
	WindowSpec window;

	(void) compile_find_window(query, &window);
	if (SPI_execute(psprintf("CREATE TABLE %s (%s)",
							 quote_qualified_identifier(history->schemaname, history->relname),
							 column_definitions(query, InvalidOid)),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the history table");
	o->history = RangeVarGetRelid(history, NoLock, false);
	if (late)
	{
		if (SPI_execute(psprintf("CREATE TABLE %s (LIKE %s, change text NOT NULL, commit_time timestamptz NOT NULL, "
								 "window_start %s NOT NULL, watermark timestamptz NOT NULL)",
								 quote_qualified_identifier(late->schemaname, late->relname),
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(sourcerelid)),
															get_rel_name(sourcerelid)),
								 format_type_be(window.type)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create the late table");
		o->late_table = RangeVarGetRelid(late, NoLock, false);
	}
}

/* The tables of a view go with it: DROP VIEW drops them. */
static void
record_closing_dependencies(Oid viewrelid, const ContinuousOptions *o)
{
	ObjectAddress view;
	ObjectAddress table;

	ObjectAddressSet(view, RelationRelationId, viewrelid);
	if (OidIsValid(o->history))
	{
		ObjectAddressSet(table, RelationRelationId, o->history);
		recordDependencyOn(&table, &view, DEPENDENCY_AUTO);
	}
	if (OidIsValid(o->late_table))
	{
		ObjectAddressSet(table, RelationRelationId, o->late_table);
		recordDependencyOn(&table, &view, DEPENDENCY_AUTO);
	}
}

CONTINUOUS_SQL_FUNCTION(continuous_create_view);
Datum
continuous_create_view(PG_FUNCTION_ARGS)
{
	char             *name;
	char             *query_string;
	List             *names;
	RangeVar         *rv;
	Query            *query;
	Oid               sourcerelid;
	Oid               viewrelid;
	int32             view_id;
	pg_uuid_t         view_key;
	bool              keyed;
	ContinuousOptions options;
	RangeVar         *history;
	RangeVar         *late;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the name and the query of a continuous view must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query_string = text_to_cstring(PG_GETARG_TEXT_PP(1));
	names = stringToQualifiedNameList(name);
	rv = makeRangeVarFromNameList(names);
	memset(&options, 0, sizeof(options));
	options.max_memory = max_memory_argument(fcinfo, ARG_MAX_MEMORY);

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
	(void) RangeVarGetCreationNamespace(rv);
	closing_options(fcinfo, query, rv, &options, &history, &late);

	SPI_connect();
	require_full_replica_identity(sourcerelid);
	if (history)
		create_closing_tables(query, sourcerelid, history, late, &options);
	view_id = catalog_next_view_id();
	keyed = catalog_has_view_keys();
	catalog_new_view_key(&view_key);
	creating_view = true;
	PG_TRY();
	{
		/* Until ALTER EXTENSION ... UPDATE, 1.0's catalog and body. */
		ViewSettings settings;
		const char  *statement;

		current_view_settings(&settings);
		settings.options = options;
		statement = keyed ? view_statement("CREATE VIEW", NameListToQuotedString(names), &view_key,
										   statement_text(query_string), query, &settings, InvalidOid)
						  : psprintf("CREATE VIEW %s AS SELECT * FROM continuous.read_view(%d) AS r(%s)",
									 NameListToQuotedString(names), view_id,
									 column_definitions(query, InvalidOid));

		if (SPI_execute(statement, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create view \"%s\"", name);
	}
	PG_FINALLY();
	{
		creating_view = false;
	}
	PG_END_TRY();
	viewrelid = RangeVarGetRelid(rv, NoLock, false);
	if (!keyed)
		record_definition_dependencies(viewrelid, query);
	record_closing_dependencies(viewrelid, &options);
	catalog_insert_view(view_id, viewrelid, sourcerelid, query_string, nodeToString(query),
						keyed ? &view_key : NULL, false, NULL, &options);
	SPI_finish();

	PG_RETURN_OID(viewrelid);
}

/* ----------------------------------------------------------------------
 * Restored views: the body of a continuous view made a continuous view
 * ----------------------------------------------------------------------
 */

/* What a continuous view's body holds (see view_statement). */
typedef struct ViewBody
{
	pg_uuid_t    view_key;
	Query       *definition; /* as PostgreSQL analyzed it in the body */
	List        *coltypes;   /* of read_view()'s column definition list */
	ViewSettings settings;
} ViewBody;

/* The text of a constant of type text, or NULL. */
static const char *
text_constant(Node *node)
{
	if (!IsA(node, Const) || ((Const *) node)->constisnull || ((Const *) node)->consttype != TEXTOID)
		return NULL;
	return TextDatumGetCString(((Const *) node)->constvalue);
}

/*
 * Is q "SELECT * FROM continuous.read_view('<key>'::uuid) AS r(<columns>)"
 * and nothing else?  Then sets *key and *coltypes.
 */
static bool
is_read_view_query(Query *q, pg_uuid_t *key, List **coltypes)
{
	RangeTblEntry    *rte;
	RangeTblFunction *rtfunc;
	FuncExpr         *call;
	Const            *arg;

	if (list_length(q->jointree->fromlist) != 1 || q->jointree->quals != NULL ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef) || q->groupClause != NIL ||
		q->hasAggs || q->havingQual != NULL || q->limitCount != NULL || q->limitOffset != NULL ||
		q->sortClause != NIL || q->distinctClause != NIL || q->setOperations != NULL)
		return false;
	rte = rt_fetch(linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex, q->rtable);
	if (rte->rtekind != RTE_FUNCTION || list_length(rte->functions) != 1 || rte->funcordinality)
		return false;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	call = (FuncExpr *) rtfunc->funcexpr;
	if (!IsA(call, FuncExpr) || list_length(call->args) != 1 || !IsA(linitial(call->args), Const) ||
		!reader_is_read_view(call->funcid))
		return false;
	arg = linitial_node(Const, call->args);
	if (arg->constisnull || arg->consttype != UUIDOID)
		return false;
	*key = *DatumGetUUIDP(arg->constvalue);
	*coltypes = list_copy(rtfunc->funccoltypes);
	return true;
}

/*
 * The history table a body of a view whose windows close reads: q is
 * "<read_view query> UNION ALL SELECT * FROM <history>".  Sets
 * *readquery to the first branch.
 */
static Oid
history_of_body(Query *q, Query **readquery)
{
	SetOperationStmt *setop = (SetOperationStmt *) q->setOperations;
	RangeTblEntry    *left,
		*right;
	Query         *hq;
	RangeTblEntry *hrte;

	if (!IsA(setop, SetOperationStmt) || setop->op != SETOP_UNION || !setop->all ||
		!IsA(setop->larg, RangeTblRef) || !IsA(setop->rarg, RangeTblRef))
		return InvalidOid;
	left = rt_fetch(((RangeTblRef *) setop->larg)->rtindex, q->rtable);
	right = rt_fetch(((RangeTblRef *) setop->rarg)->rtindex, q->rtable);
	if (left->rtekind != RTE_SUBQUERY || right->rtekind != RTE_SUBQUERY)
		return InvalidOid;
	hq = right->subquery;
	if (list_length(hq->jointree->fromlist) != 1 || hq->jointree->quals != NULL ||
		!IsA(linitial(hq->jointree->fromlist), RangeTblRef) || hq->setOperations != NULL)
		return InvalidOid;
	hrte = rt_fetch(linitial_node(RangeTblRef, hq->jointree->fromlist)->rtindex, hq->rtable);
	if (hrte->rtekind != RTE_RELATION || hrte->relkind != RELKIND_RELATION)
		return InvalidOid;
	*readquery = left->subquery;
	return hrte->relid;
}

/* A positive constant of a body's settings, or -1. */
static int64
positive_constant(Node *node, Oid type)
{
	Const *c = (Const *) node;
	int64  value;

	if (!IsA(node, Const) || c->constisnull || c->consttype != type)
		return -1;
	if (type == INTERVALOID)
	{
		Interval *iv = DatumGetIntervalP(c->constvalue);

		if (iv->month != 0)
			return -1;
		value = iv->time + (int64) iv->day * USECS_PER_DAY;
	}
	else if (type == REGCLASSOID)
		value = (int64) DatumGetObjectId(c->constvalue);
	else
		value = DatumGetInt64(c->constvalue);
	return value > 0 ? value : -1;
}

/*
 * The options a body's settings carry after the three settings, by name
 * (see view_statement), into settings->options; settings->bad_option when
 * one is not what create_view makes.
 */
static void
options_of_body(List *targetList, ViewSettings *settings)
{
	ContinuousOptions *o = &settings->options;
	ListCell          *lc;
	int                i = 0;
	bool               bad = false;

	memset(o, 0, sizeof(ContinuousOptions));
	foreach(lc, targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node        *e = (Node *) tle->expr;
		const char  *word;
		int64        v = 1;

		if (i++ < 3)
			continue;
		if (tle->resname == NULL)
			bad = true;
		else if (strcmp(tle->resname, "max_memory") == 0)
			v = o->max_memory = positive_constant(e, INT8OID);
		else if (strcmp(tle->resname, "lateness") == 0)
			v = o->lateness = positive_constant(e, INTERVALOID);
		else if (strcmp(tle->resname, "retain") == 0)
			v = o->retain = positive_constant(e, INTERVALOID);
		else if (strcmp(tle->resname, "idle_timeout") == 0)
			v = o->idle_timeout = positive_constant(e, INTERVALOID);
		else if (strcmp(tle->resname, "history") == 0)
			o->history = (Oid) (v = positive_constant(e, REGCLASSOID));
		else if (strcmp(tle->resname, "late_table") == 0)
			o->late_table = (Oid) (v = positive_constant(e, REGCLASSOID));
		else if (strcmp(tle->resname, "clock") == 0)
		{
			word = text_constant(e);
			bad = bad || word == NULL || (strcmp(word, "commit") != 0 && strcmp(word, "event") != 0);
			o->event_clock = word && strcmp(word, "event") == 0;
		}
		else if (strcmp(tle->resname, "late_events") == 0)
		{
			word = text_constant(e);
			bad = bad || word == NULL || (strcmp(word, "drop") != 0 && strcmp(word, "capture") != 0);
			o->capture_late = word && strcmp(word, "capture") == 0;
		}
		else
			bad = true;
		bad = bad || v <= 0;
	}
	if (o->lateness <= 0 && (o->history || o->retain || o->late_table || o->capture_late || o->event_clock))
		bad = true;
	if (o->idle_timeout > 0 && !o->event_clock)
		bad = true;
	if (o->lateness > 0 && (!OidIsValid(o->history) || o->capture_late != OidIsValid(o->late_table)))
		bad = true;
	settings->bad_option = bad;
}

/*
 * Does view viewrelid have a continuous view's body, and nothing else?
 * Then fills in *body.
 */
static bool
body_reads_view(Oid viewrelid, ViewBody *body)
{
	Relation  rel = relation_open(viewrelid, AccessShareLock);
	Query    *q = get_view_query(rel);
	Query    *readquery = q;
	Query    *settings = NULL;
	Oid       history = InvalidOid;
	ListCell *lc;
	bool      found = false;

	memset(body, 0, sizeof(ViewBody));
	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (strcmp(cte->ctename, CONTINUOUS_DEFINITION_CTE) == 0 && IsA(cte->ctequery, Query))
			body->definition = copyObject((Query *) cte->ctequery);
		else if (strcmp(cte->ctename, CONTINUOUS_SETTINGS_CTE) == 0 && IsA(cte->ctequery, Query))
			settings = (Query *) cte->ctequery;
	}
	if (q->setOperations)
		history = history_of_body(q, &readquery);
	if (body->definition && settings && list_length(q->cteList) == 2 &&
		list_length(settings->targetList) >= 3 &&
		(q->setOperations == NULL || OidIsValid(history)) &&
		is_read_view_query(readquery, &body->view_key, &body->coltypes))
	{
		body->settings.timezone = text_constant((Node *) linitial_node(TargetEntry, settings->targetList)->expr);
		body->settings.datestyle = text_constant((Node *) lsecond_node(TargetEntry, settings->targetList)->expr);
		body->settings.intervalstyle = text_constant((Node *) lthird_node(TargetEntry, settings->targetList)->expr);
		options_of_body(settings->targetList, &body->settings);
		/* The history table the body reads is the one its settings name. */
		if (history != body->settings.options.history)
			body->settings.bad_option = true;
		found = body->settings.timezone && body->settings.datestyle && body->settings.intervalstyle;
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
	ViewBody body;
	int32    existing;
	Query   *query;
	Oid      sourcerelid;
	int32    view_id;
	char    *qualified;
	char    *definition;
	int      nest_level;

	if (!body_reads_view(viewrelid, &body))
		return;
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewrelid)),
										   get_rel_name(viewrelid));
	if (body.settings.bad_option)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the options of continuous view %s are not valid", qualified),
				 errdetail("Its body's settings give options that create_view does not make."),
				 errhint("Create the view with continuous.create_view().")));
	existing = catalog_id_for_key(&body.view_key);
	if (existing != 0)
	{
		CatalogRow row;

		if (!catalog_lookup(existing, &row) || row.viewrelid != viewrelid)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("view %s reads the state of continuous view %s",
							qualified, continuous_view_name(row.viewrelid, existing)),
					 errdetail("Its body selects from continuous.read_view() with the key of another continuous view."),
					 errhint("Select from the continuous view itself, or create a new one with continuous.create_view().")));
		/* CREATE OR REPLACE VIEW: only with the definition the view has. */
		if (strcmp(portable_definition(stringToNode(row.querytree)),
				   portable_definition(body.definition)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the definition of continuous view %s cannot be changed", qualified),
					 errhint("Create a continuous view with the new definition with continuous.create_view(), then drop this one.")));
		return;
	}

	/*
	 * Checked as create_view checks a definition, as the role creating the
	 * view, read back from the body's analyzed query printed and parsed
	 * under the same settings.
	 */
	definition = portable_definition(body.definition);
	nest_level = begin_portable_settings();
	query = analyze_view_query(definition, &sourcerelid);
	security_unpin_search_path(nest_level);
	check_columns_match(qualified, body.coltypes, query);
	refuse_row_security(sourcerelid);
	LockRelationOid(catalog_relation_oid(false), RowExclusiveLock);
	require_full_replica_identity(sourcerelid);
	view_id = catalog_next_view_id();
	catalog_insert_view(view_id, viewrelid, sourcerelid, definition, nodeToString(query),
						&body.view_key, true,
						(const char *[]){body.settings.timezone, body.settings.datestyle,
										 body.settings.intervalstyle},
						&body.settings.options);
	record_closing_dependencies(viewrelid, &body.settings.options);
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

		/* CREATE OR REPLACE VIEW may list a view twice (pg_dump's loop breaking). */
		created = list_append_unique_oid(created, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
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
 * 1.1's (see view_statement), so that a dump restores them.  The new rule
 * holds the definition, and with it the dependencies that 1.0 recorded by
 * hand for the old one.
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
	if (SPI_execute("SELECT viewrelid, querytree, view_key, timezone, datestyle, intervalstyle "
					"FROM continuous.view_catalog ORDER BY id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.view_catalog");
	security_unpin_search_path(nest_level);
	views = SPI_tuptable;
	nviews = SPI_processed;
	for (uint64 i = 0; i < nviews; i++)
	{
		bool         isnull;
		Oid          viewrelid = DatumGetObjectId(SPI_getbinval(views->vals[i], views->tupdesc, 1, &isnull));
		Query       *query = stringToNode(SPI_getvalue(views->vals[i], views->tupdesc, 2));
		Datum        key = SPI_getbinval(views->vals[i], views->tupdesc, 3, &isnull);
		ViewSettings settings;
		char        *qualified;
		char        *statement;
		int          settings_level;

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
			/* The definition as the catalog has it, printed and read back alike. */
			settings.timezone = SPI_getvalue(views->vals[i], views->tupdesc, 4);
			settings.datestyle = SPI_getvalue(views->vals[i], views->tupdesc, 5);
			settings.intervalstyle = SPI_getvalue(views->vals[i], views->tupdesc, 6);
			memset(&settings.options, 0, sizeof(settings.options)); /* 1.0 had no options */
			settings.bad_option = false;
			statement = view_statement("CREATE OR REPLACE VIEW", qualified, DatumGetUUIDP(key),
									   portable_definition(query), query, &settings, viewrelid);
			settings_level = begin_portable_settings();
			if (SPI_execute(statement, false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not replace the body of view %s", qualified);
			security_unpin_search_path(settings_level);
		}
		PG_FINALLY();
		{
			creating_extension = was_creating;
			CurrentExtensionObject = extension;
			creating_view = false;
		}
		PG_END_TRY();
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
