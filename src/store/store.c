/*-------------------------------------------------------------------------
 * store.c
 *	  Shared-memory state of continuous views: the control block, the DSA
 *	  area, and the database slots.  Each view's groups, blobs, batches and
 *	  snapshots are in viewstore.c; both follow the protocol below.
 *
 * Vocabulary
 *	database slot (StoreDb): one per database running pg_continuous, in the
 *		fixed part of shared memory; names the worker and how far it got.
 *	view (SharedView): one per continuous view the worker knows, in a DSA
 *		area carved out of the main shared memory at server start
 *		(continuous.shared_memory); holds a chained hash table.
 *	group (SharedGroup): one per group key of a view; its row is a
 *		MinimalTuple of the key columns followed by one stored aggregate
 *		state per aggregate (serialized when the state type is internal).
 *	empty group: a group of a view over a table whose last row was deleted.
 *		Readers skip it; it stays, flagged dirty, until the next checkpoint
 *		has deleted its row (store_view_clear_dirty then frees it), so the
 *		checkpoint learns of the deletion the way it learns of any change.
 *	blob (StoreBlob): an immutable chunk of bytes a view owns besides its
 *		groups, referenced from group rows by address; merge.c keeps the
 *		inputs of aggregates there (keptinputs.c).  Blobs are linked in a list per view, so
 *		that freeing the view's groups frees them too.
 *
 * Locking protocol
 *	- StoreControl->lock (the "pg_continuous" named tranche) protects the
 *	  array of database slots, every field of a StoreDb, and the list of views
 *	  of each database (StoreDb->views and SharedView->next).  Held only for
 *	  short reads and updates; never while calling out of this module.
 *	- SharedView->lock protects the view's hash table, its groups and every
 *	  other field of the SharedView.  Only the database's worker writes:
 *	  it prepares a batch of changes holding the lock shared (readers are
 *	  not blocked; the only other writer is a dropping backend, see below),
 *	  then takes the lock exclusively just to publish the batch
 *	  (store_publish_changes), which gives up if the view was dropped in
 *	  between.  Readers take it shared and
 *	  copy the groups out (store_view_snapshot), so a reader sees either all
 *	  or none of a batch, and batches hold whole transactions only.
 *	- A group's dirty flag, capacity and id are written only by the worker;
 *	  store_view_clear_dirty writes the flags holding the view lock shared,
 *	  which keeps a dropping backend from freeing the groups meanwhile.
 *	- Lock order: StoreControl->lock before SharedView->lock.  A reader finds
 *	  a view under the control lock and takes the view lock before releasing
 *	  the control lock; store_view_drop unlinks under both, so a view is
 *	  never freed under a reader.
 *	- A backend that drops a view releases its groups at commit
 *	  (store_view_release) so a worker paused on a full area can resume;
 *	  the worker frees the SharedView itself when it decodes the drop.
 *	  Both, and a view emptied by TRUNCATE, count in room_made, which a
 *	  paused worker watches instead of retrying blindly.
 *
 * Atomic publication: store_prepare_changes allocates every chunk a batch
 * needs with DSA_ALLOC_NO_OOM and gives everything back if one allocation
 * fails, so a full area leaves the view untouched and the caller keeps its
 * delta for a later retry.  store_publish_changes cannot fail.  The blobs a
 * batch brings are allocated by the worker beforehand (store_blob_allocate,
 * also without erroring on a full area) and belong to the batch: a failed
 * prepare, or a publication over a view dropped meanwhile, frees them;
 * publication links them to the view and frees the blobs the batch retires.
 * Blobs are read and written only by the worker, holding the view lock
 * (shared suffices to read: only the exclusive holder frees them).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/continuous.h"
#include "base/guc.h"
#include "store/store.h"
#include "store/store_internal.h"

/* GUCs (registered in pg_continuous.c) */
int continuous_shared_memory_kb = 64 * 1024;
int continuous_max_databases = 8;

#define STORE_TRANCHE_NAME      "pg_continuous"
#define STORE_VIEW_TRANCHE_NAME "pg_continuous_view"
#define STORE_DSA_TRANCHE_NAME  "pg_continuous_dsa"

StoreControl *store_control = NULL;
dsa_area     *store_dsa = NULL;

/* The database slot this process claimed as its worker, if it is one. */
static StoreDb                *claimed_db = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

static Size
control_size(void)
{
	return MAXALIGN(add_size(offsetof(StoreControl, dbs),
							 mul_size(continuous_max_databases, sizeof(StoreDb))));
}

static Size
area_size(void)
{
	return Max((Size) continuous_shared_memory_kb * 1024, dsa_minimum_size());
}

static void
store_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(add_size(control_size(), area_size()));
	RequestNamedLWLockTranche(STORE_TRANCHE_NAME, 1);
}

static void
store_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	store_control = ShmemInitStruct("pg_continuous", add_size(control_size(), area_size()), &found);
	if (!found)
	{
		dsa_area *a;

		memset(store_control, 0, control_size());
		store_control->lock = &(GetNamedLWLockTranche(STORE_TRANCHE_NAME))->lock;
		store_control->view_tranche_id = LWLockNewTrancheId();
		store_control->dsa_tranche_id = LWLockNewTrancheId();
		store_control->area_size = area_size();
		store_control->ndbs = continuous_max_databases;
		pg_atomic_init_u64(&store_control->room_made, 0);

		/*
		 * The area lives in place in the main shared memory and may not grow
		 * beyond it, so it never creates DSM segments and survives worker
		 * restarts (not server restarts).
		 */
		a = dsa_create_in_place((char *) store_control + control_size(), store_control->area_size,
								store_control->dsa_tranche_id, NULL);
		dsa_set_size_limit(a, store_control->area_size);
		dsa_pin(a);
		dsa_detach(a);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
store_shmem_init_hooks(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = store_shmem_request;
#else
	store_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = store_shmem_startup;
}

bool
store_is_initialized(void)
{
	return store_control != NULL;
}

Size
store_memory_limit(void)
{
	return store_control ? store_control->area_size : 0;
}

/* The DSA area, attached on first use in this process for its lifetime. */
dsa_area *
store_area(void)
{
	if (store_dsa == NULL)
	{
		MemoryContext old;

		if (store_control == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_continuous must be loaded via shared_preload_libraries"),
					 errhint("Add pg_continuous to shared_preload_libraries in postgresql.conf and restart the server.")));
		LWLockRegisterTranche(store_control->view_tranche_id, STORE_VIEW_TRANCHE_NAME);
		LWLockRegisterTranche(store_control->dsa_tranche_id, STORE_DSA_TRANCHE_NAME);
		old = MemoryContextSwitchTo(TopMemoryContext);
		store_dsa = dsa_attach_in_place((char *) store_control + control_size(), NULL);
		dsa_pin_mapping(store_dsa);
		MemoryContextSwitchTo(old);
	}
	return store_dsa;
}

/* ----------------------------------------------------------------------
 * Database slots
 * ----------------------------------------------------------------------
 */

/* The slot of database dboid, or NULL; the caller holds store_control->lock. */
StoreDb *
store_find_db_locked(Oid dboid)
{
	Assert(LWLockHeldByMe(store_control->lock));
	for (int i = 0; i < store_control->ndbs; i++)
		if (store_control->dbs[i].dboid == dboid)
			return &store_control->dbs[i];
	return NULL;
}

static bool
worker_alive(StoreDb *db)
{
	return db->worker_pid != 0 && db->worker_pid != MyProcPid &&
		   kill(db->worker_pid, 0) == 0;
}

/*
 * Claims the database's slot for the calling worker.  Returns NULL when
 * another live worker already serves the database.  Views left by an earlier
 * worker of this server's lifetime stay: the new worker resumes from them.
 */
StoreDb *
store_db_claim_for_worker(Oid dboid)
{
	StoreDb *db;

	store_area();
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db = store_find_db_locked(dboid);
	if (db != NULL && worker_alive(db))
	{
		LWLockRelease(store_control->lock);
		return NULL;
	}
	if (db == NULL)
	{
		db = store_find_db_locked(InvalidOid);
		if (db == NULL)
		{
			LWLockRelease(store_control->lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many databases use pg_continuous"),
					 errdetail("continuous.max_databases is %d, and as many other databases run a pg_continuous worker.",
							   continuous_max_databases),
					 errhint("Raise continuous.max_databases and restart the server.")));
		}
		memset(db, 0, sizeof(StoreDb));
		db->dboid = dboid;
		db->views = InvalidDsaPointer;
	}
	db->worker_pid = MyProcPid;
	db->worker_latch = MyLatch;
	db->exit_requested = false;
	db->error[0] = '\0';
	LWLockRelease(store_control->lock);
	claimed_db = db;
	return db;
}

/*
 * Is this process a database's worker?  Only the worker writes the groups
 * and blobs of its views (see the locking protocol).
 */
bool
store_am_worker(void)
{
	return claimed_db != NULL && claimed_db->worker_pid == MyProcPid;
}

void
store_db_release_worker(StoreDb *db)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	if (db->worker_pid == MyProcPid)
	{
		db->worker_pid = 0;
		db->worker_latch = NULL;
	}
	LWLockRelease(store_control->lock);
}

/* Copies the database's slot; false when the database has none. */
bool
store_db_get_status(Oid dboid, StoreDb *copy)
{
	StoreDb *db;

	if (store_control == NULL)
		return false;
	LWLockAcquire(store_control->lock, LW_SHARED);
	db = store_find_db_locked(dboid);
	if (db)
	{
		memcpy(copy, db, sizeof(StoreDb));
		if (!worker_alive(db) && db->worker_pid != MyProcPid)
		{
			copy->worker_pid = 0;
			copy->worker_latch = NULL;
		}
	}
	LWLockRelease(store_control->lock);
	return db != NULL;
}

void
store_db_set_applied(StoreDb *db, XLogRecPtr lsn, TimestampTz commit_time)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	if (lsn > db->applied_lsn)
		db->applied_lsn = lsn;
	if (commit_time != 0)
		db->applied_commit_time = commit_time;
	LWLockRelease(store_control->lock);
}

void
store_db_set_error(StoreDb *db, const char *error)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	strlcpy(db->error, error ? error : "", STORE_MESSAGE_LEN);
	LWLockRelease(store_control->lock);
}

/*
 * Sets the latch of the database's worker.  Called at every commit, so it
 * reads the slots without the lock: a latch pointer is either NULL or a
 * PGPROC latch, which stays valid memory for the server's lifetime.
 */
void
store_wake_worker(Oid dboid)
{
	if (store_control == NULL)
		return;
	for (int i = 0; i < store_control->ndbs; i++)
	{
		StoreDb *db = &store_control->dbs[i];

		if (db->dboid == dboid)
		{
			Latch *latch = db->worker_latch;

			if (latch)
				SetLatch(latch);
			return;
		}
	}
}

/*
 * Notes that views' memory was given back (a view dropped or emptied) and
 * wakes every worker: one paused on a full area may now fit what it has
 * (store_room_made).
 */
void
store_note_room_made(void)
{
	pg_atomic_fetch_add_u64(&store_control->room_made, 1);
	for (int i = 0; i < store_control->ndbs; i++)
	{
		Latch *latch = store_control->dbs[i].worker_latch;

		if (latch)
			SetLatch(latch);
	}
}

/*
 * A number that changes whenever views' memory is given back, so a worker
 * paused on a full area retries only when it may fit.
 */
uint64
store_room_made(void)
{
	return store_control ? pg_atomic_read_u64(&store_control->room_made) : 0;
}

/*
 * Asks the database's worker to exit for good (DROP DATABASE).  Returns
 * whether a live worker was asked.
 */
bool
store_db_request_exit(Oid dboid)
{
	StoreDb *db;
	bool     asked = false;

	if (store_control == NULL)
		return false;
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db = store_find_db_locked(dboid);
	if (db && worker_alive(db))
	{
		db->exit_requested = true;
		if (db->worker_latch)
			SetLatch(db->worker_latch);
		asked = true;
	}
	LWLockRelease(store_control->lock);
	return asked;
}

bool
store_db_exit_requested(StoreDb *db)
{
	bool requested;

	LWLockAcquire(store_control->lock, LW_SHARED);
	requested = db->exit_requested;
	LWLockRelease(store_control->lock);
	return requested;
}

/*
 * Asks the database's worker, which holds no slot while there are no views,
 * for one (create_view).
 */
void
store_db_request_slot(Oid dboid)
{
	StoreDb *db;

	if (store_control == NULL)
		return;
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db = store_find_db_locked(dboid);
	if (db)
	{
		db->slot_wanted = true;
		if (db->worker_latch)
			SetLatch(db->worker_latch);
	}
	LWLockRelease(store_control->lock);
}

/* Whether a slot was asked for since the last call (worker). */
bool
store_db_take_slot_request(StoreDb *db)
{
	bool wanted;

	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	wanted = db->slot_wanted;
	db->slot_wanted = false;
	LWLockRelease(store_control->lock);
	return wanted;
}

void
store_db_set_slot_pending(StoreDb *db, bool pending)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db->slot_pending = pending;
	LWLockRelease(store_control->lock);
}

/*
 * Gives back the slot of a database whose worker finds no extension there,
 * so that databases without pg_continuous do not use up
 * continuous.max_databases.  Only the claiming worker calls it, on a slot
 * holding no view.
 */
void
store_db_give_back(StoreDb *db)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	if (db->worker_pid == MyProcPid && !DsaPointerIsValid(db->views))
		memset(db, 0, sizeof(StoreDb));
	LWLockRelease(store_control->lock);
}

/* Frees a dropped database's views and its slot in shared memory. */
void
store_db_forget(Oid dboid)
{
	StoreDb *db;

	if (store_control == NULL)
		return;
	store_area();
	LWLockAcquire(store_control->lock, LW_SHARED);
	db = store_find_db_locked(dboid);
	LWLockRelease(store_control->lock);
	if (db == NULL)
		return;
	store_db_forget_views(db);
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	if (db->dboid == dboid && !worker_alive(db))
		memset(db, 0, sizeof(StoreDb));
	LWLockRelease(store_control->lock);
}

/*
 * Marks the database's views as holding its last checkpoint or newer state,
 * so that a worker restarted during this server's lifetime keeps them.
 */
void
store_db_mark_loaded(StoreDb *db)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db->loaded = true;
	LWLockRelease(store_control->lock);
}

void
store_db_set_checkpoint(StoreDb *db, XLogRecPtr lsn, TimestampTz time)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db->checkpoint_lsn = lsn;
	db->checkpoint_time = time;
	LWLockRelease(store_control->lock);
}

/*
 * Asks the database's worker for a checkpoint reflecting every commit
 * before lsn (continuous.checkpoint()); the caller waits until
 * checkpoint_answered reaches lsn.
 */
void
store_db_request_checkpoint(Oid dboid, XLogRecPtr lsn)
{
	StoreDb *db;

	if (store_control == NULL)
		return;
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db = store_find_db_locked(dboid);
	if (db)
	{
		db->checkpoint_wanted = Max(db->checkpoint_wanted, lsn);
		if (db->worker_latch)
			SetLatch(db->worker_latch);
	}
	LWLockRelease(store_control->lock);
}

/* The position a checkpoint was asked for at, if not answered yet; else 0 (worker). */
XLogRecPtr
store_db_checkpoint_wanted(StoreDb *db)
{
	XLogRecPtr wanted;

	LWLockAcquire(store_control->lock, LW_SHARED);
	wanted = db->checkpoint_wanted > db->checkpoint_answered ? db->checkpoint_wanted : InvalidXLogRecPtr;
	LWLockRelease(store_control->lock);
	return wanted;
}

/* Answers checkpoint requests up to lsn (worker). */
void
store_db_answer_checkpoint(StoreDb *db, XLogRecPtr lsn)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db->checkpoint_answered = Max(db->checkpoint_answered, lsn);
	LWLockRelease(store_control->lock);
}

/*
 * Counts a start of the database's worker; returns how many starts there
 * were since one last made progress (store_db_reset_starts), this one
 * included.  The worker backs off on repeated failures.
 */
int
store_db_count_start(StoreDb *db)
{
	int n;

	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	n = ++db->failed_starts;
	LWLockRelease(store_control->lock);
	return n;
}

/*
 * Records the error that is ending the worker of db, and about when the
 * next worker starts (continuous.worker_stats shows both).  Kept until a
 * worker makes progress (store_db_reset_starts).
 */
void
store_db_record_failure(StoreDb *db, const char *message, TimestampTz next_retry)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	strlcpy(db->last_failure, message, STORE_MESSAGE_LEN);
	db->last_failure_time = GetCurrentTimestamp();
	db->next_retry_time = next_retry;
	LWLockRelease(store_control->lock);
}

/*
 * Why the worker of database dboid does not apply changes, into buf (of
 * STORE_MESSAGE_LEN bytes): it is paused (shared memory full), it is not
 * running (with the error that ended it, if one did), it runs again after a
 * failure but has not made progress yet (backing off), or no database slot
 * is left for it.  Returns false, with buf empty, when it runs and applies.
 */
bool
store_db_worker_problem(Oid dboid, char *buf)
{
	StoreDb status;

	buf[0] = '\0';
	if (!store_db_get_status(dboid, &status))
	{
		if (store_db_no_room(dboid))
			snprintf(buf, STORE_MESSAGE_LEN,
					 "too many databases use pg_continuous: continuous.max_databases is %d, and as many other databases run a worker",
					 continuous_max_databases);
		else
			strlcpy(buf, "no pg_continuous worker has started for this database", STORE_MESSAGE_LEN);
	}
	else if (status.worker_pid == 0 && status.last_failure[0] != '\0')
		snprintf(buf, STORE_MESSAGE_LEN, "the pg_continuous worker is not running; it failed with: %s",
				 status.last_failure);
	else if (status.worker_pid == 0)
		strlcpy(buf, "the pg_continuous worker is not running", STORE_MESSAGE_LEN);
	else if (status.error[0] != '\0')
		strlcpy(buf, status.error, STORE_MESSAGE_LEN);
	else if (status.last_failure[0] != '\0')
		snprintf(buf, STORE_MESSAGE_LEN, "the pg_continuous worker is starting again after failing with: %s",
				 status.last_failure);
	return buf[0] != '\0';
}

/*
 * Does database dboid have no slot, and no free slot is left for it
 * (continuous.max_databases other databases run pg_continuous)?
 */
bool
store_db_no_room(Oid dboid)
{
	bool no_room;

	if (store_control == NULL)
		return false;
	LWLockAcquire(store_control->lock, LW_SHARED);
	no_room = store_find_db_locked(dboid) == NULL && store_find_db_locked(InvalidOid) == NULL;
	LWLockRelease(store_control->lock);
	return no_room;
}

void
store_db_reset_starts(StoreDb *db)
{
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	db->failed_starts = 0;
	db->last_failure[0] = '\0';
	db->last_failure_time = 0;
	db->next_retry_time = 0;
	LWLockRelease(store_control->lock);
}
