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
 * Durability: every continuous.checkpoint_interval, before a backfill and
 * when asked to stop, the worker writes a checkpoint of the view state
 * (checkpoint.c) reflecting every commit before the position it
 * has merged up to, and only after that commits confirms its slot there,
 * so the server may recycle older WAL.  At start it loads the last
 * checkpoint (unless shared memory outlived the previous worker) and
 * decodes the commits after it.  If the slot is gone or was invalidated,
 * the WAL between the checkpoint and a new slot is lost: views over tables
 * are backfilled again, views over streams record the lost range.
 *
 * Backfill: a view over a table starts from the table's contents.  The
 * worker releases its slot, creates a temporary one whose initial snapshot
 * sees exactly the commits before the temporary slot's consistent point,
 * scans the table with it, then takes its own slot back; the view applies
 * only commits after that point.  Other views wait meanwhile.
 *
 * Without views the worker holds no slot, so it keeps back neither WAL nor
 * catalog_xmin.  When the last view is dropped it checkpoints and drops the
 * slot (release_slot_if_no_views), then idles (wait_for_views) until
 * create_view asks for a slot; it then creates one, checkpoints at its
 * start and only then lets create_view go on (StoreDb.slot_pending), so
 * a view's creation commits after a checkpoint the slot agrees with.  create_view holds a ROW EXCLUSIVE lock on continuous.view_catalog
 * from before it looks for the slot until it commits; the worker drops the
 * slot only holding a SHARE lock it got without waiting, over an empty
 * catalog, so no view can be on its way.
 *
 * On DROP EXTENSION the worker decodes the extension's drop message, frees
 * the database's views, drops its slot and exits (an idle worker notices
 * the extension is gone; a worker starting where the extension is missing
 * drops a slot of its name that a worker dying meanwhile left).  DROP DATABASE asks it to
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
#include "executor/spi.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "access/xlog_internal.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "replication/snapbuild.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "base/catalog.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "store/store.h"
#include "worker/backfill.h"
#include "worker/checkpoint.h"
#include "worker/closing.h"
#include "worker/decoder.h"
#include "worker/merge.h"
#include "worker/registry.h"
#include "worker/restore.h"
#include "worker/worker.h"

/* GUCs (registered in pg_continuous.c) */
int  continuous_naptime_ms = 1000;
int  continuous_checkpoint_interval_s = 30;
bool continuous_enabled = true;

#define WORKER_RESTART_SECONDS     5
#define WORKER_MAX_BACKOFF_SECONDS 300
#define WORKER_CLAIM_TIMEOUT_MS    30000

PGDLLEXPORT void continuous_launcher_main(Datum arg);
PGDLLEXPORT void continuous_worker_main(Datum arg);

static StoreDb *worker_db = NULL;
static char     worker_slotname[NAMEDATALEN];

/* Progress of the decoding, for checkpoints (see take_checkpoint). */
static XLogRecPtr  decoded_upto = InvalidXLogRecPtr; /* end of the last record decoded */
static XLogRecPtr  merged_upto = InvalidXLogRecPtr;
static XLogRecPtr  last_checkpoint_lsn = InvalidXLogRecPtr;
static TimestampTz last_checkpoint_time = 0;
static bool        checkpoint_requested = false; /* checkpoint at the next chance */

/*
 * SIGTERM: while the worker decodes, stopping waits for the next
 * transaction boundary, so that it can checkpoint first; elsewhere (slot
 * creation, backfill scans) it stops at once, as die() would.
 */
static volatile sig_atomic_t shutdown_requested = false;
static volatile sig_atomic_t shutdown_deferred = false;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int save_errno = errno;

	shutdown_requested = true;
	if (!shutdown_deferred)
	{
		InterruptPending = true;
		ProcDiePending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
defer_shutdown(bool defer)
{
	shutdown_deferred = defer;
	if (!defer && shutdown_requested)
	{
		InterruptPending = true;
		ProcDiePending = true;
	}
}

/*
 * Why the worker of database dboid does not apply changes, into buf (of
 * STORE_MESSAGE_LEN bytes), as store_db_worker_problem says, or because
 * continuous.enabled is off; false when it applies them.
 */
bool
worker_problem(Oid dboid, char *buf)
{
	if (store_db_worker_problem(dboid, buf))
		return true;
	if (!continuous_enabled)
	{
		strlcpy(buf, "continuous.enabled is off", STORE_MESSAGE_LEN);
		return true;
	}
	return false;
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
	Relation      rel;
	TableScanDesc scan;
	HeapTuple     tup;
	List         *dbs = NIL;
	ListCell     *lc;

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

typedef enum SlotCondition
{
	SLOT_MISSING,
	SLOT_INVALIDATED, /* the server removed WAL it needed */
	SLOT_OK
} SlotCondition;

static SlotCondition
slot_condition(const char *slotname, XLogRecPtr *confirmed)
{
	ReplicationSlot *slot;
	SlotCondition    result = SLOT_MISSING;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	slot = SearchNamedReplicationSlot(slotname, false);
	if (slot)
	{
		SpinLockAcquire(&slot->mutex);
		*confirmed = slot->data.confirmed_flush;
#if PG_VERSION_NUM >= 160000
		result = slot->data.invalidated != RS_INVAL_NONE ? SLOT_INVALIDATED : SLOT_OK;
#else
		result = slot->data.restart_lsn == InvalidXLogRecPtr ? SLOT_INVALIDATED : SLOT_OK;
#endif
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	return result;
}

static LogicalDecodingContext *
init_decoding_context(bool need_full_snapshot)
{
	return CreateInitDecodingContext(CONTINUOUS_LIBRARY_NAME, NIL, need_full_snapshot,
									 InvalidXLogRecPtr,
									 XL_ROUTINE(.page_read = read_local_xlog_page,
												.segment_open = wal_segment_open,
												.segment_close = wal_segment_close),
									 NULL, NULL, NULL);
}

/*
 * Creates a slot of this database held by this process; it is dropped if
 * the process fails before ReplicationSlotPersist().  17 added the
 * failover and synced flags.
 */
static void
create_ephemeral_slot(const char *name)
{
#if PG_VERSION_NUM >= 170000
	ReplicationSlotCreate(name, true, RS_EPHEMERAL, false, false, false);
#else
	ReplicationSlotCreate(name, true, RS_EPHEMERAL, false);
#endif
}

/* Creates the worker's slot; returns its consistent point once it has one. */
static XLogRecPtr
create_slot(const char *slotname)
{
	LogicalDecodingContext *ctx;
	XLogRecPtr              consistent;

	ereport(LOG, (errmsg("pg_continuous: creating replication slot \"%s\"", slotname)));
	StartTransactionCommand();
	create_ephemeral_slot(slotname);
	ctx = init_decoding_context(false);
	DecodingContextFindStartpoint(ctx);
	consistent = MyReplicationSlot->data.confirmed_flush;
	FreeDecodingContext(ctx);
	ReplicationSlotPersist();
	ReplicationSlotRelease();
	CommitTransactionCommand();
	return consistent;
}

/*
 * Reads a WAL page once it is flushed, like read_local_xlog_page, but gives
 * up (-1: XLogReadRecord returns no record and no error) when the worker is
 * asked to stop: a record that straddles the flush point would otherwise
 * keep it waiting through a shutdown.
 */
static int
worker_page_read(XLogReaderState *state, XLogRecPtr targetPagePtr, int reqLen,
				 XLogRecPtr targetRecPtr, char *cur_page)
{
	for (;;)
	{
		if (targetPagePtr + reqLen <= GetFlushRecPtr(NULL))
			return read_local_xlog_page(state, targetPagePtr, reqLen, targetRecPtr, cur_page);
		if (shutdown_requested)
			return -1;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
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

static LogicalDecodingContext *
attach_slot(void)
{
	LogicalDecodingContext *ctx;

	ReplicationSlotAcquire(worker_slotname, true);
	ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
								XL_ROUTINE(.page_read = worker_page_read,
										   .segment_open = wal_segment_open,
										   .segment_close = wal_segment_close),
								discard_prepare_write, discard_write, NULL);
	XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
	decoded_upto = MyReplicationSlot->data.restart_lsn;
	merged_upto = Max(merged_upto, MyReplicationSlot->data.confirmed_flush);
	return ctx;
}

static void
detach_slot(LogicalDecodingContext *ctx)
{
	FreeDecodingContext(ctx);
	ReplicationSlotRelease();
}

/*
 * Checkpoints the views at the position merged so far, then confirms the
 * slot there so the server may recycle older WAL.  The slot must be held.
 */
static void
take_checkpoint(void)
{
	XLogRecPtr lsn = Max(merged_upto, last_checkpoint_lsn);

	checkpoint_take(lsn);
	LogicalConfirmReceivedLocation(lsn);
	ReplicationSlotMarkDirty();
	ReplicationSlotSave();
	last_checkpoint_lsn = lsn;
	last_checkpoint_time = GetCurrentTimestamp();
	checkpoint_requested = false;
	store_db_answer_checkpoint(worker_db, lsn);
	elog(DEBUG1, "pg_continuous: checkpoint at %X/%X", LSN_FORMAT_ARGS(lsn));
}

/*
 * Is a periodic checkpoint due?  Only when views changed, or when enough
 * WAL went by that confirming the slot frees some: an idle worker writes
 * nothing.
 */
static bool
checkpoint_due(void)
{
	XLogRecPtr wanted = store_db_checkpoint_wanted(worker_db);

	if (checkpoint_requested || registry_checkpoint_wanted() ||
		(wanted != InvalidXLogRecPtr && merged_upto >= wanted))
		return true;
	if (!TimestampDifferenceExceeds(last_checkpoint_time, GetCurrentTimestamp(),
									continuous_checkpoint_interval_s * 1000))
		return false;
	if (merged_upto <= last_checkpoint_lsn)
		return false;
	return registry_has_changes() || merged_upto - last_checkpoint_lsn >= (XLogRecPtr) wal_segment_size;
}

/*
 * Backfills the views waiting for it (see the file header); returns the
 * worker's decoding context, recreated.  A failure here exits the worker;
 * the next one backfills again from the checkpoint taken first.
 */
static LogicalDecodingContext *
run_backfill(LogicalDecodingContext *ctx)
{
	char                    name[NAMEDATALEN];
	LogicalDecodingContext *initctx;
	XLogRecPtr              consistent;
	Snapshot                snap;

	take_checkpoint();
	detach_slot(ctx);
	defer_shutdown(false);

	snprintf(name, NAMEDATALEN, "%s_backfill", worker_slotname);
	if (slot_condition(name, &consistent) != SLOT_MISSING)
		ReplicationSlotDrop(name, true);
	StartTransactionCommand();
	XactIsoLevel = XACT_REPEATABLE_READ;
	create_ephemeral_slot(name);
	initctx = init_decoding_context(true);
	DecodingContextFindStartpoint(initctx);
	snap = SnapBuildInitialSnapshot(initctx->snapshot_builder);
	RestoreTransactionSnapshot(snap, MyProc);
	consistent = MyReplicationSlot->data.confirmed_flush;
	FreeDecodingContext(initctx);
	ReplicationSlotRelease(); /* drops the temporary slot; the snapshot stays */

	PushActiveSnapshot(GetTransactionSnapshot());
	backfill_views(consistent);
	PopActiveSnapshot();
	CommitTransactionCommand();

	defer_shutdown(true);
	return attach_slot();
}

/* Frees the database's views, drops the slot, and exits (DROP EXTENSION). */
static void
worker_drop_and_exit(LogicalDecodingContext *ctx, const char *slotname)
{
	FreeDecodingContext(ctx);
	ReplicationSlotRelease();
	ReplicationSlotDrop(slotname, true);
	store_db_forget_views(worker_db);
	store_db_give_back(worker_db);
	worker_db = NULL;
	ereport(LOG, (errmsg("pg_continuous: extension dropped; replication slot \"%s\" dropped", slotname)));
	proc_exit(0);
}

/*
 * Waits before a start that follows failed ones: 5 s more each time,
 * doubling, up to WORKER_MAX_BACKOFF_SECONDS, on top of the server's
 * restart delay.
 */
/*
 * How long the starts-th worker start in a row after failures waits, beyond
 * the postmaster's own WORKER_RESTART_SECONDS: the total doubles from 5 s
 * up to 5 minutes.
 */
static int
backoff_seconds(int starts)
{
	if (starts <= 1)
		return 0;
	return Min(WORKER_RESTART_SECONDS << Min(starts - 1, 8), WORKER_MAX_BACKOFF_SECONDS) -
		   WORKER_RESTART_SECONDS;
}

/*
 * The worker is ending with an error: records it, with about when the next
 * worker starts, for continuous.worker_stats and continuous.views.  Called
 * in PG_CATCH, before the error is re-thrown (and reported, as FATAL).
 */
static void
record_failure(void)
{
	ErrorData  *edata;
	StoreDb     status;
	TimestampTz next_retry;

	if (worker_db == NULL || !store_db_get_status(MyDatabaseId, &status))
		return;
	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	next_retry = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											 (WORKER_RESTART_SECONDS + backoff_seconds(status.failed_starts + 1)) * 1000);
	store_db_record_failure(worker_db, edata->message, next_retry);
}

static void
back_off(void)
{
	int         starts = store_db_count_start(worker_db);
	int         delay_s;
	TimestampTz until;

	if (starts <= 1)
		return;
	delay_s = backoff_seconds(starts);
	ereport(LOG,
			(errmsg("pg_continuous: worker start %d in a row after failures; waiting %d s",
					starts, delay_s)));
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_s * 1000);
	while (GetCurrentTimestamp() < until)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* While continuous.enabled is off the worker holds no slot and waits. */
static void
wait_until_enabled(void)
{
	bool logged = false;

	for (;;)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (continuous_enabled)
			return;
		if (!logged)
			ereport(LOG, (errmsg("pg_continuous: continuous.enabled is off; worker waiting")));
		logged = true;
		if (store_db_exit_requested(worker_db))
			proc_exit(0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Finds the slot and the checkpoint and makes them agree: loads the views,
 * and when the slot is missing or invalidated while views exist, creates a
 * new one and treats the WAL in between as lost (checkpoint_restore).  Returns
 * whether there is a slot: without views none is created.
 */
static bool
start_from_checkpoint(void)
{
	CheckpointInfo ckpt;
	XLogRecPtr     confirmed = InvalidXLogRecPtr;
	SlotCondition  cond;
	bool           have_views;
	bool           gap;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	checkpoint_read_info(&ckpt);
	PopActiveSnapshot();
	have_views = catalog_has_views();
	CommitTransactionCommand();

	cond = slot_condition(worker_slotname, &confirmed);
	if (cond == SLOT_INVALIDATED)
	{
		ereport(LOG,
				(errmsg("pg_continuous: replication slot \"%s\" was invalidated; the WAL after %X/%X is lost",
						worker_slotname, LSN_FORMAT_ARGS(ckpt.lsn)),
				 errhint("Raise max_slot_wal_keep_size, or keep the worker running.")));
		ReplicationSlotDrop(worker_slotname, true);
	}
	else if (cond == SLOT_MISSING && have_views)
		ereport(LOG,
				(errmsg("pg_continuous: replication slot \"%s\" is missing; the WAL after %X/%X is lost",
						worker_slotname, LSN_FORMAT_ARGS(ckpt.lsn))));
	if (cond != SLOT_OK && have_views)
		confirmed = create_slot(worker_slotname);

	/* Without views no commit can be lost. */
	gap = have_views && (cond != SLOT_OK || (ckpt.exists && confirmed > ckpt.lsn));
	if (gap)
		ereport(LOG,
				(errmsg("pg_continuous: views over tables are backfilled again; views over streams lose the events committed between %X/%X and %X/%X",
						LSN_FORMAT_ARGS(ckpt.lsn), LSN_FORMAT_ARGS(confirmed))));

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	checkpoint_restore(&ckpt, worker_db->loaded, gap, confirmed);
	restore_staged();
	PopActiveSnapshot();
	CommitTransactionCommand();
	store_db_mark_loaded(worker_db);

	if (ckpt.exists)
	{
		last_checkpoint_lsn = ckpt.lsn;
		store_db_set_checkpoint(worker_db, ckpt.lsn, ckpt.taken_at);
	}
	/* Record the lost range at once. */
	checkpoint_requested = gap;
	last_checkpoint_time = GetCurrentTimestamp();
	return cond == SLOT_OK || have_views;
}

/*
 * Is the catalog empty, with no view being created?  Holds the SHARE lock
 * it takes (without waiting) until the caller's transaction ends.
 */
static bool
no_view_coming(Oid catalogrelid)
{
	return ConditionalLockRelationOid(catalogrelid, ShareLock) && !catalog_has_views();
}

/*
 * With no view left, checkpoints (so the checkpoint forgets the dropped
 * views) and drops the slot, unless a view is being created or was created
 * and is not decoded yet (see the file header for the lock protocol).
 * Returns whether the slot was dropped; ctx is then freed.  Checkpoints
 * only once the catalog was seen empty: a create_view under way would
 * otherwise make every pass write one.
 */
static bool
release_slot_if_no_views(LogicalDecodingContext *ctx, Oid catalogrelid)
{
	bool empty;

	StartTransactionCommand();
	empty = no_view_coming(catalogrelid);
	CommitTransactionCommand();
	if (!empty)
		return false;
	if (merged_upto > last_checkpoint_lsn || registry_has_changes())
		take_checkpoint();
	StartTransactionCommand();
	empty = no_view_coming(catalogrelid);
	if (empty)
	{
		detach_slot(ctx);
		ReplicationSlotDrop(worker_slotname, true);
	}
	CommitTransactionCommand();
	if (empty)
		ereport(LOG,
				(errmsg("pg_continuous: no continuous views left; replication slot \"%s\" dropped",
						worker_slotname)));
	return empty;
}

/*
 * Idles without a slot until create_view asks for one, then creates it,
 * checkpoints at its start, tells create_view and returns the decoding
 * context.  Meanwhile every commit counts as applied (there is nothing to
 * apply), so continuous.sync() returns at once.  Leaves when the database
 * or the extension is dropped; restarts the worker if views turn up that
 * were not created through create_view (a restored catalog), so that
 * start_from_checkpoint deals with them.
 */
static LogicalDecodingContext *
wait_for_views(Oid catalogrelid)
{
	LogicalDecodingContext *ctx;

	defer_shutdown(false);
	store_db_reset_starts(worker_db);
	/* No slot: a create_view waiting on a slot being made must ask again. */
	store_db_set_slot_pending(worker_db, false);
	for (;;)
	{
		bool       wanted;
		bool       gone = false;
		bool       have_views = false;
		XLogRecPtr flush;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (store_db_exit_requested(worker_db))
		{
			ereport(LOG, (errmsg("pg_continuous: worker exiting for DROP DATABASE")));
			proc_exit(0);
		}
		flush = GetFlushRecPtr(NULL);
		wanted = store_db_take_slot_request(worker_db);

		StartTransactionCommand();
		if (!OidIsValid(get_extension_oid(CONTINUOUS_EXTENSION_NAME, true)) ||
			catalog_relation_oid(true) != catalogrelid)
			gone = true;
		else
			have_views = catalog_has_views();
		CommitTransactionCommand();

		if (gone)
		{
			store_db_forget_views(worker_db);
			store_db_give_back(worker_db);
			worker_db = NULL;
			ereport(LOG, (errmsg("pg_continuous: extension dropped; worker exiting")));
			proc_exit(0);
		}
		if (have_views)
		{
			ereport(LOG, (errmsg("pg_continuous: continuous views exist without a replication slot; restarting the worker")));
			proc_exit(1);
		}
		/* No view, and none coming without asking for a slot: all applied. */
		store_db_set_applied(worker_db, flush, decoder_last_commit_time());
		/* Nor anything to checkpoint. */
		if (store_db_checkpoint_wanted(worker_db) != InvalidXLogRecPtr)
			store_db_answer_checkpoint(worker_db, flush);
		if (wanted && continuous_enabled)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	store_db_set_slot_pending(worker_db, true);
	(void) create_slot(worker_slotname);
	ctx = attach_slot();
	take_checkpoint();
	/* Requests made while the slot was being made are answered. */
	(void) store_db_take_slot_request(worker_db);
	store_db_set_slot_pending(worker_db, false);
	defer_shutdown(true);
	ereport(LOG,
			(errmsg("pg_continuous: worker decoding again, transactions that commit after %X/%X (slot \"%s\")",
					LSN_FORMAT_ARGS(MyReplicationSlot->data.confirmed_flush), worker_slotname)));
	return ctx;
}

/* SIGTERM: merge, checkpoint, release the slot and leave; restarted if not shutting down. */
static void
finish_and_exit(LogicalDecodingContext *ctx)
{
	if (!merge_paused() && merge_all())
		merged_upto = Max(merged_upto, decoded_upto);
	if (merged_upto > last_checkpoint_lsn || registry_has_changes())
		take_checkpoint();
	detach_slot(ctx);
	store_db_reset_starts(worker_db);
	ereport(LOG, (errmsg("pg_continuous: worker stopping after a checkpoint at %X/%X",
						 LSN_FORMAT_ARGS(last_checkpoint_lsn))));
	proc_exit(1);
}

static void worker_run(Oid dboid) pg_attribute_noreturn();

PGDLLEXPORT void
continuous_worker_main(Datum arg)
{
	PG_TRY();
	{
		worker_run(DatumGetObjectId(arg));
	}
	PG_CATCH();
	{
		/* The control lock comes before any view lock still held. */
		LWLockReleaseAll();
		record_failure();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The worker of database dboid: never returns (proc_exit ends it). */
static void
worker_run(Oid dboid)
{
	Oid                     catalogrelid = InvalidOid;
	LogicalDecodingContext *ctx;
	MemoryContext           loopcxt;
	TimestampTz             claim_deadline;
	bool                    progress_reported = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("pg_continuous worker");

	/*
	 * With every database slot taken, a database without the extension has
	 * nothing to do; one with it waits for a slot (the claim fails, and the
	 * next worker tries again).
	 */
	if (store_db_no_room(dboid))
	{
		bool has_extension;

		StartTransactionCommand();
		has_extension = OidIsValid(get_extension_oid(CONTINUOUS_EXTENSION_NAME, true));
		CommitTransactionCommand();
		if (!has_extension)
			proc_exit(0);
	}

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
		catalogrelid = catalog_relation_oid(true);
	restore_init();
	CommitTransactionCommand();
	worker_slot_name(dboid, worker_slotname);
	if (!OidIsValid(catalogrelid))
	{
		XLogRecPtr confirmed;

		/*
		 * The extension is not installed here.  A slot of a previous worker
		 * that died while the extension was being dropped goes too.
		 */
		if (slot_condition(worker_slotname, &confirmed) != SLOT_MISSING)
		{
			ReplicationSlotDrop(worker_slotname, true);
			ereport(LOG, (errmsg("pg_continuous: replication slot \"%s\" of a dropped extension dropped",
								 worker_slotname)));
		}
		store_db_give_back(worker_db);
		worker_db = NULL;
		proc_exit(0);
	}

	back_off();
	wait_until_enabled();
	registry_init(worker_db, catalogrelid);
	registry_arm_view_timeout();
	merge_init(registry_context());
	if (start_from_checkpoint())
	{
		StoreDb status;

		ctx = attach_slot();
		/* A close the last worker died in leaves its windows open, before any checkpoint. */
		closing_free_moved();
		/* A worker died making the slot: checkpoint at its start, as it would have. */
		if (store_db_get_status(dboid, &status) && status.slot_pending)
		{
			take_checkpoint();
			store_db_set_slot_pending(worker_db, false);
		}
		ereport(LOG,
				(errmsg("pg_continuous: worker started, decoding transactions that commit after %X/%X (reading WAL from %X/%X, slot \"%s\")",
						LSN_FORMAT_ARGS(MyReplicationSlot->data.confirmed_flush),
						LSN_FORMAT_ARGS(MyReplicationSlot->data.restart_lsn), worker_slotname)));
	}
	else
	{
		ereport(LOG, (errmsg("pg_continuous: worker started; no continuous views, so no replication slot")));
		ctx = wait_for_views(catalogrelid);
	}

	loopcxt = AllocSetContextCreate(TopMemoryContext, "continuous worker loop",
									ALLOCSET_DEFAULT_SIZES);
	defer_shutdown(true);
	for (;;)
	{
		XLogRecPtr flush;
		bool       progressed = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			registry_arm_view_timeout();
		}
		if (shutdown_requested || !continuous_enabled)
			finish_and_exit(ctx); /* when disabled, the next worker waits */

		if (merge_paused())
		{
			/*
			 * Shared memory was full: retry the merge before decoding on,
			 * once memory may have been given back.
			 */
			if (!merge_retry_due())
				goto sleep;
			ereport(LOG, (errmsg("pg_continuous: retrying the merge that did not fit in shared memory")));
			if (!merge_all())
				goto sleep;
		}

		flush = GetFlushRecPtr(NULL);
		while (decoded_upto < flush && !merge_paused() && !decoder_drop_requested() &&
			   !shutdown_requested)
		{
			XLogRecord *record;
			char       *errm = NULL;

			MemoryContextSwitchTo(ctx->context);
			record = XLogReadRecord(ctx->reader, &errm);
			if (errm)
				elog(ERROR, "could not read WAL: %s", errm);
			if (record != NULL)
			{
				LogicalDecodingProcessRecord(ctx, ctx->reader);
				decoded_upto = ctx->reader->EndRecPtr;
			}
			MemoryContextSwitchTo(loopcxt);
			progressed = true;
			CHECK_FOR_INTERRUPTS();
		}
		MemoryContextSwitchTo(loopcxt);

		if (decoder_drop_requested())
			worker_drop_and_exit(ctx, worker_slotname);
		if (store_db_exit_requested(worker_db))
		{
			/* DROP DATABASE: leave; the server drops the slot with the database. */
			detach_slot(ctx);
			ereport(LOG, (errmsg("pg_continuous: worker exiting for DROP DATABASE")));
			proc_exit(0);
		}

		if (!merge_paused() && merge_all())
		{
			merged_upto = Max(merged_upto, decoded_upto);
			if (backfill_pending())
			{
				ctx = run_backfill(ctx);
				MemoryContextReset(loopcxt);
				continue;
			}
			store_db_set_applied(worker_db, decoded_upto, decoder_last_commit_time());
			if (!progress_reported)
			{
				store_db_reset_starts(worker_db);
				progress_reported = true;
			}
			/* Windows close by the commit clock or the event clock (closing.c). */
			closing_clock_step(decoded_upto);
			closing_free_moved();
			if (closing_idle_advance())
				take_checkpoint(); /* before anything is applied by the clocks moved */
			if (closing_due())
				closing_close_due();
			if (checkpoint_due())
				take_checkpoint();
			if (!progressed && !registry_has_views() &&
				release_slot_if_no_views(ctx, catalogrelid))
			{
				ctx = wait_for_views(catalogrelid);
				MemoryContextReset(loopcxt);
				continue;
			}
		}
		MemoryContextReset(loopcxt);
		if (progressed && !merge_paused())
			continue;

sleep:
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(continuous_naptime_ms, continuous_checkpoint_interval_s * 1000),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
