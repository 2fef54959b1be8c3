/*-------------------------------------------------------------------------
 * pg_continuous.c
 *	  Library entry point: registers the settings (whose variables live in
 *	  the modules that read them, see base/guc.h), the shared memory
 *	  requests, the launcher, and the per-backend hooks that tie ordinary
 *	  sessions to the worker.  Nothing includes this file: it sits at the top
 *	  of the module order (src/README.md).
 *
 * The library must be loaded through shared_preload_libraries: it reserves
 * shared memory for view state and registers the launcher worker.  Every
 * backend also gets two hooks from here:
 *
 *	- a transaction callback that, on commit of a transaction that wrote
 *	  WAL, sets the latch of this database's worker so it decodes at once
 *	  instead of waiting for its naptime;
 *	- an object-access hook that notices DROP EXTENSION pg_continuous and
 *	  writes a transactional message telling the worker to drop its slot and
 *	  exit.
 * A utility hook makes DROP DATABASE ask the database's worker to exit
 * before the server checks that nobody uses the database.
 * CREATE EXTENSION runs continuous._check_setup(), which also arranges for
 * the database's worker to start when the creating transaction commits.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "replication/message.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "api/ddl.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "read/viewscan.h"
#include "store/store.h"
#include "worker/worker.h"

PG_MODULE_MAGIC;

static object_access_hook_type  prev_object_access_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

/* How long DROP DATABASE waits for the database's worker to exit. */
#define DROP_DATABASE_WAIT_MS 10000

/* Set by the object-access hook; acted on at commit. */
static bool start_worker_at_commit = false;

PGDLLEXPORT void _PG_init(void);

static void
continuous_xact_callback(XactEvent event, void *arg)
{
	ddl_xact_callback(event);
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (start_worker_at_commit)
			{
				start_worker_at_commit = false;
				worker_start_for_database(MyDatabaseId);
			}
			if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
				store_wake_worker(MyDatabaseId);
			break;
		case XACT_EVENT_ABORT:
			start_worker_at_commit = false;
			break;
		default:
			break;
	}
}

static void
continuous_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	ddl_subxact_callback(event, mySubid);
}

static void
continuous_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (classId != ExtensionRelationId)
		return;

	if (access == OAT_DROP)
	{
		char *name = get_extension_name(objectId);

		/*
		 * The worker decodes this message only if the drop commits; it then
		 * drops its slot and exits.
		 */
		if (name && strcmp(name, CONTINUOUS_EXTENSION_NAME) == 0)
			LogLogicalMessage(CONTINUOUS_DROP_PREFIX, "", 0, true);
	}
}

/*
 * DROP DATABASE refuses to drop a database with a connected process or an
 * active slot, and the worker is both: ask it to exit (for good) first.
 */
static void
continuous_process_utility(PlannedStmt *pstmt, const char *queryString,
						   bool readOnlyTree, ProcessUtilityContext context,
						   ParamListInfo params, QueryEnvironment *queryEnv,
						   DestReceiver *dest, QueryCompletion *qc)
{
	Oid dropped_db = InvalidOid;

	if (IsA(pstmt->utilityStmt, DropdbStmt))
	{
		DropdbStmt *stmt = (DropdbStmt *) pstmt->utilityStmt;

		dropped_db = get_database_oid(stmt->dbname, true);
		if (OidIsValid(dropped_db) && store_db_request_exit(dropped_db))
		{
			TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   DROP_DATABASE_WAIT_MS);
			StoreDb     status;

			while (store_db_get_status(dropped_db, &status) && status.worker_pid != 0 &&
				   GetCurrentTimestamp() < deadline)
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 20, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
		}
	}

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (OidIsValid(dropped_db) && !OidIsValid(get_database_oid(((DropdbStmt *) pstmt->utilityStmt)->dbname, true)))
		store_db_forget(dropped_db);
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_continuous must be loaded via shared_preload_libraries"),
				 errhint("Add pg_continuous to shared_preload_libraries in postgresql.conf and restart the server.")));

	DefineCustomIntVariable("continuous.shared_memory",
							"Shared memory for the state of all continuous views.",
							"Reserved at server start; when it is full the worker pauses until room is made.",
							&continuous_shared_memory_kb,
							64 * 1024, 1024, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.max_databases",
							"Maximum number of databases that can run pg_continuous at once.",
							NULL,
							&continuous_max_databases,
							8, 1, 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.naptime",
							"Longest time the worker sleeps when it has nothing to decode.",
							"Commits wake the worker at once; this bounds the wait when nothing wakes it.",
							&continuous_naptime_ms,
							1000, 1, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.apply_batch_events",
							"Events folded locally before the worker merges them into shared memory.",
							"Merges happen at transaction boundaries: a larger batch takes view locks less often.",
							&continuous_apply_batch_events,
							100000, 1, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.checkpoint_interval",
							"Time between checkpoints of continuous views.",
							"A checkpoint writes the groups changed since the previous one to tables in "
							"schema continuous, then lets the replication slot release older WAL.",
							&continuous_checkpoint_interval_s,
							30, 1, 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("continuous.enabled",
							 "Whether the workers maintain continuous views.",
							 "When off, each worker checkpoints, releases its replication slot and waits; "
							 "the slot keeps WAL until the worker catches up.",
							 &continuous_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.view_timeout",
							"Longest time one call into a continuous view's code may run.",
							"A call (applying a row, backfilling a row, compiling its definition) "
							"running longer fails that view alone; 0 turns the limit off.",
							&continuous_view_timeout_ms,
							60000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("continuous.enable_view_scan",
							 "Whether the planner reads continuous views with a view scan.",
							 "When off, a continuous view is read through a function scan of "
							 "continuous.read_view(), which stores every row in a tuplestore first.",
							 &continuous_enable_view_scan,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.debug_checkpoint_delay",
							"Sleeps this long inside each checkpoint before it commits (for tests).",
							NULL,
							&continuous_debug_checkpoint_delay_ms,
							0, 0, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("continuous.debug_merge_delay",
							"Sleeps this long after each merge of decoded transactions into views (for tests).",
							"With continuous.apply_batch_events = 1, readers see the views step through "
							"every transaction.",
							&continuous_debug_merge_delay_ms,
							0, 0, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("continuous");

	store_shmem_init_hooks();
	worker_register_launcher();
	view_scan_init();

	RegisterXactCallback(continuous_xact_callback, NULL);
	RegisterSubXactCallback(continuous_subxact_callback, NULL);
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = continuous_process_utility;
	prev_object_access_hook = object_access_hook;
	object_access_hook = continuous_object_access;
}

/*
 * continuous._check_setup(): run by the install script, so CREATE EXTENSION
 * fails early with a useful message when the server is not configured, and
 * starts the database's worker once the extension is committed.
 * (Loading the library outside shared_preload_libraries already fails in
 * _PG_init.)
 */
CONTINUOUS_SQL_FUNCTION(continuous_check_setup);
Datum
continuous_check_setup(PG_FUNCTION_ARGS)
{
	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_continuous requires wal_level = logical"),
				 errdetail("The current wal_level is \"%s\".", GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
	if (!store_is_initialized())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_continuous must be loaded via shared_preload_libraries"),
				 errhint("Add pg_continuous to shared_preload_libraries in postgresql.conf and restart the server.")));
#if PG_VERSION_NUM >= 150019 && PG_VERSION_NUM < 160000
	{
		const char *libs = GetConfigOption("output_plugin_libraries", true, false);

		if (libs && strstr(libs, CONTINUOUS_LIBRARY_NAME) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_continuous is not allowed as an output plugin"),
					 errdetail("output_plugin_libraries is \"%s\".", libs),
					 errhint("Add pg_continuous to output_plugin_libraries in postgresql.conf and reload.")));
	}
#endif
	start_worker_at_commit = true;
	PG_RETURN_VOID();
}
