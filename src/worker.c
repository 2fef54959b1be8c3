/*-------------------------------------------------------------------------
 * worker.c
 *	  The launcher and the per-database worker.
 *
 * The launcher is a static background worker started with the server.  It
 * starts one worker per connectable database and exits; a worker whose
 * database lacks the extension exits at once.  CREATE EXTENSION starts its
 * database's worker at commit (pg_continuous.c), so no restart is needed.
 *
 * The worker owns the logical replication slot "pg_continuous_<dboid>",
 * whose output plugin is this library (decoder.c), and decodes the local WAL
 * in-process, the way pg_logical_slot_get_changes() does: each pass reads
 * every record up to the WAL flushed at the start of the pass, then merges
 * the deltas into shared memory and publishes how far it got (sync() waits
 * on that).  Commits wake it through its latch.
 *
 * The slot's confirmed position is never advanced yet: shared memory does
 * not survive a server restart, and until checkpoints of view state exist
 * the worker rebuilds state after a restart by decoding again from the
 * slot's start.  The retained WAL is the price; see the README.
 *
 * On DROP EXTENSION the worker decodes the extension's drop message, frees
 * the database's views, drops its slot and exits.  DROP DATABASE asks it to
 * exit first (pg_continuous.c), then drops the slot with the database.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "decoder.h"
#include "pg_continuous.h"
#include "store.h"
#include "worker.h"

#define WORKER_RESTART_SECONDS 5
#define WORKER_CLAIM_TIMEOUT_MS 30000

PGDLLEXPORT void continuous_launcher_main(Datum arg);
PGDLLEXPORT void continuous_worker_main(Datum arg);

static bool am_continuous_worker = false;
static StoreDb *worker_db = NULL;

bool
worker_is_continuous_worker(void)
{
	return am_continuous_worker;
}

void
worker_slot_name(Oid dboid, char *name)
{
	snprintf(name, NAMEDATALEN, "pg_continuous_%u", dboid);
}

void
worker_register_launcher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, CONTINUOUS_LIBRARY_NAME);
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "continuous_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_continuous launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_continuous launcher");
	RegisterBackgroundWorker(&bgw);
}

/* Starts the worker of a database; a no-op when one is already running. */
void
worker_start_for_database(Oid dboid)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = WORKER_RESTART_SECONDS;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, CONTINUOUS_LIBRARY_NAME);
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "continuous_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_continuous worker for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_continuous worker");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	if (!RegisterDynamicBackgroundWorker(&bgw, NULL))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the pg_continuous worker for database %u", dboid),
				 errhint("Raise max_worker_processes and restart the server.")));
}

PGDLLEXPORT void
continuous_launcher_main(Datum arg)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbs = NIL;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (wal_level < WAL_LEVEL_LOGICAL)
	{
		ereport(LOG,
				(errmsg("pg_continuous requires wal_level = logical; continuous views will not be maintained"),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
		proc_exit(0);
	}

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
			dbs = lappend_oid(dbs, db->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	foreach(lc, dbs)
		worker_start_for_database(lfirst_oid(lc));
	proc_exit(0);
}

static void
worker_shmem_exit(int code, Datum arg)
{
	if (worker_db)
		store_db_release_worker(worker_db);
}

/* Creates the slot if it does not exist yet; returns once it is consistent. */
static void
ensure_slot(const char *slotname)
{
	LogicalDecodingContext *ctx;
	bool		exists;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	exists = SearchNamedReplicationSlot(slotname, false) != NULL;
	LWLockRelease(ReplicationSlotControlLock);
	if (exists)
		return;

	ereport(LOG, (errmsg("pg_continuous: creating replication slot \"%s\"", slotname)));
	StartTransactionCommand();
	ReplicationSlotCreate(slotname, true, RS_EPHEMERAL, false);
	ctx = CreateInitDecodingContext(CONTINUOUS_LIBRARY_NAME, NIL, false, InvalidXLogRecPtr,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									NULL, NULL, NULL);
	DecodingContextFindStartpoint(ctx);
	FreeDecodingContext(ctx);
	ReplicationSlotPersist();
	ReplicationSlotRelease();
	CommitTransactionCommand();
}

/* The decoding context writes nothing: changes go to views, not to a client. */
static void
discard_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
}

static void
discard_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
}

/* Frees the database's views, drops the slot, and exits (DROP EXTENSION). */
static void
worker_drop_and_exit(LogicalDecodingContext *ctx, const char *slotname)
{
	FreeDecodingContext(ctx);
	ReplicationSlotRelease();
	ReplicationSlotDrop(slotname, true);
	store_db_forget_views(worker_db);
	ereport(LOG, (errmsg("pg_continuous: extension dropped; replication slot \"%s\" dropped", slotname)));
	proc_exit(0);
}

PGDLLEXPORT void
continuous_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	char		slotname[NAMEDATALEN];
	Oid			catalogrelid = InvalidOid;
	LogicalDecodingContext *ctx;
	MemoryContext loopcxt;
	TimestampTz claim_deadline;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	am_continuous_worker = true;
	pgstat_report_appname("pg_continuous worker");

	/* A worker of an earlier extension may still be finishing: wait for it. */
	claim_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WORKER_CLAIM_TIMEOUT_MS);
	while ((worker_db = store_db_claim_for_worker(dboid)) == NULL)
	{
		if (GetCurrentTimestamp() >= claim_deadline)
			proc_exit(0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	before_shmem_exit(worker_shmem_exit, (Datum) 0);

	StartTransactionCommand();
	if (OidIsValid(get_extension_oid(CONTINUOUS_EXTENSION_NAME, true)))
	{
		Oid			nsp = get_namespace_oid(CONTINUOUS_SCHEMA_NAME, true);

		if (OidIsValid(nsp))
			catalogrelid = get_relname_relid(CONTINUOUS_CATALOG_TABLE, nsp);
	}
	CommitTransactionCommand();
	if (!OidIsValid(catalogrelid))
		proc_exit(0);			/* the extension is not installed here */

	worker_slot_name(dboid, slotname);
	ensure_slot(slotname);

	decoder_init(worker_db, catalogrelid);
	ReplicationSlotAcquire(slotname, true);
	ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
								XL_ROUTINE(.page_read = read_local_xlog_page,
										   .segment_open = wal_segment_open,
										   .segment_close = wal_segment_close),
								discard_prepare_write, discard_write, NULL);
	XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
	ereport(LOG, (errmsg("pg_continuous: worker started, decoding from %X/%X with slot \"%s\"",
						 LSN_FORMAT_ARGS(MyReplicationSlot->data.restart_lsn), slotname)));

	loopcxt = AllocSetContextCreate(TopMemoryContext, "continuous worker loop",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		XLogRecPtr	flush;
		bool		progressed = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (decoder_paused())
		{
			/* Shared memory was full: retry the merge before decoding on. */
			if (!decoder_merge_all())
				goto sleep;
		}

		flush = GetFlushRecPtr(NULL);
		while (ctx->reader->EndRecPtr < flush && !decoder_paused() && !decoder_drop_requested())
		{
			XLogRecord *record;
			char	   *errm = NULL;

			MemoryContextSwitchTo(ctx->context);
			record = XLogReadRecord(ctx->reader, &errm);
			if (errm)
				elog(ERROR, "could not read WAL: %s", errm);
			if (record != NULL)
				LogicalDecodingProcessRecord(ctx, ctx->reader);
			MemoryContextSwitchTo(loopcxt);
			progressed = true;
			CHECK_FOR_INTERRUPTS();
		}
		MemoryContextSwitchTo(loopcxt);

		if (decoder_drop_requested())
			worker_drop_and_exit(ctx, slotname);
		if (store_db_exit_requested(worker_db))
		{
			/* DROP DATABASE: leave; the server drops the slot with the database. */
			FreeDecodingContext(ctx);
			ReplicationSlotRelease();
			ereport(LOG, (errmsg("pg_continuous: worker exiting for DROP DATABASE")));
			proc_exit(0);
		}

		if (!decoder_paused() && decoder_merge_all())
			store_db_set_applied(worker_db, ctx->reader->EndRecPtr, decoder_last_commit_time());
		MemoryContextReset(loopcxt);
		if (progressed && !decoder_paused())
			continue;

sleep:
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 continuous_naptime_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
