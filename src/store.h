/*-------------------------------------------------------------------------
 * store.h
 *	  Shared-memory state of continuous views: per database a worker slot,
 *	  per view a hash table from group key to aggregate states.
 *	  The locking protocol is described at the top of store.c.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_STORE_H
#define CONTINUOUS_STORE_H

#include "access/htup_details.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"

#define STORE_MESSAGE_LEN 256

/*
 * One group of one view.  The group row (key columns, then one stored
 * aggregate state per aggregate) is a MinimalTuple right after the header.
 */
typedef struct SharedGroup
{
	dsa_pointer next;			/* next group in the same hash bucket */
	uint32		hash;			/* hash of the key columns */
	uint32		capacity;		/* bytes available for the tuple */
	bool		dirty;			/* changed since the last checkpoint */
	bool		has_window;		/* the key has a continuous.tumble() part */
	int64		window_start;	/* that part, as a timestamp or bigint */
} SharedGroup;

#define SHARED_GROUP_HEADER_SIZE	MAXALIGN(sizeof(SharedGroup))
#define SHARED_GROUP_TUPLE(g)	((MinimalTuple) ((char *) (g) + SHARED_GROUP_HEADER_SIZE))

typedef struct SharedView
{
	int32		view_id;
	dsa_pointer next;			/* next view of the same database */
	LWLock		lock;			/* see store.c */
	dsa_pointer buckets;		/* array of nbuckets dsa_pointers */
	uint32		nbuckets;
	uint64		ngroups;
	uint64		memory_bytes;
	XLogRecPtr	applied_lsn;	/* end LSN of the last transaction merged */
	TimestampTz applied_commit_time;
	uint64		events_applied;
	bool		stale;
	char		stale_reason[STORE_MESSAGE_LEN];
	bool		failed;			/* apply raised an error; no longer maintained */
	char		error[STORE_MESSAGE_LEN];
	bool		dropped;		/* dropped by a committed transaction; groups freed */
} SharedView;

typedef struct StoreDb
{
	Oid			dboid;			/* InvalidOid: slot unused */
	pid_t		worker_pid;		/* 0 when no worker runs */
	Latch	   *worker_latch;
	bool		exit_requested; /* DROP DATABASE waits for the worker to leave */
	XLogRecPtr	applied_lsn;	/* every commit before this is merged */
	TimestampTz applied_commit_time;
	dsa_pointer views;			/* list of SharedView */
	char		error[STORE_MESSAGE_LEN];	/* why the worker is paused, if it is */
} StoreDb;

/* A planned change to one group: see store_prepare_changes(). */
typedef struct StoreChange
{
	dsa_pointer old_group;		/* existing group, or InvalidDsaPointer */
	uint32		hash;
	MinimalTuple new_tuple;		/* local copy of the new group row */
	bool		has_window;		/* see SharedGroup */
	int64		window_start;
	dsa_pointer new_group;		/* fresh chunk when the old one is too small */
} StoreChange;

/* A reader's private copy of a view's state. */
typedef struct StoreSnapshot
{
	int			ngroups;
	MinimalTuple *tuples;
	bool		found;			/* the worker knows the view */
	bool		stale;
	char		stale_reason[STORE_MESSAGE_LEN];
	bool		failed;
	char		error[STORE_MESSAGE_LEN];
} StoreSnapshot;

extern void store_shmem_init_hooks(void);
extern bool store_is_initialized(void);
extern dsa_area *store_area(void);
extern Size store_memory_limit(void);

/* Database slots */
extern StoreDb *store_db_claim_for_worker(Oid dboid);
extern void store_db_release_worker(StoreDb *db);
extern bool store_db_get_status(Oid dboid, StoreDb *copy);
extern void store_db_set_applied(StoreDb *db, XLogRecPtr lsn, TimestampTz commit_time);
extern void store_db_set_error(StoreDb *db, const char *error);
extern void store_db_forget_views(StoreDb *db);
extern void store_wake_worker(Oid dboid);
extern bool store_db_request_exit(Oid dboid);
extern bool store_db_exit_requested(StoreDb *db);
extern void store_db_forget(Oid dboid);

/* Views (worker) */
extern SharedView *store_view_attach(StoreDb *db, int32 view_id);
extern void store_view_drop(StoreDb *db, int32 view_id);
extern void store_view_release(Oid dboid, int32 view_id);
extern void store_view_mark_stale(SharedView *view, const char *reason);
extern void store_view_mark_failed(SharedView *view, const char *error);
extern SharedGroup *store_group_first(SharedView *view, uint32 hash, dsa_pointer *dp);
extern SharedGroup *store_group_next(SharedGroup *group, uint32 hash, dsa_pointer *dp);
extern bool store_prepare_changes(SharedView *view, StoreChange *changes, int nchanges,
								  bool clear_first);
extern bool store_publish_changes(SharedView *view, StoreChange *changes, int nchanges,
								  bool clear_first, XLogRecPtr applied_lsn,
								  TimestampTz commit_time, uint64 events);

/* Views (readers) */
extern void store_view_snapshot(Oid dboid, int32 view_id, StoreSnapshot *snap);

typedef struct StoreViewStatus
{
	int32		view_id;
	uint64		ngroups;
	uint64		memory_bytes;
	XLogRecPtr	applied_lsn;
	TimestampTz applied_commit_time;
	uint64		events_applied;
	bool		stale;
	char		stale_reason[STORE_MESSAGE_LEN];
	bool		failed;
	char		error[STORE_MESSAGE_LEN];
} StoreViewStatus;

extern List *store_view_statuses(Oid dboid);
extern uint64 store_db_memory_used(Oid dboid);

#endif							/* CONTINUOUS_STORE_H */
