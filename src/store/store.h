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
	dsa_pointer next;         /* next group in the same hash bucket */
	int64       group_id;     /* the group's row in continuous.checkpoint_group */
	int64       window_start; /* the key's continuous.tumble() part, if any */
	uint32      hash;         /* hash of the key columns */
	/* One word, to keep the header at 32 bytes; only the worker writes it. */
	uint32 capacity : 29;  /* bytes available for the tuple (< 512 MB) */
	uint32 dirty : 1;      /* changed since the last checkpoint */
	uint32 has_window : 1; /* window_start is set */
	uint32 empty : 1;      /* no source row left: hidden from readers */
} SharedGroup;

/* The largest group row a SharedGroup can hold. */
#define STORE_MAX_GROUP_SIZE ((Size) 0x1FFFFFF8)

#define SHARED_GROUP_HEADER_SIZE MAXALIGN(sizeof(SharedGroup))
#define SHARED_GROUP_TUPLE(g)    ((MinimalTuple) ((char *) (g) + SHARED_GROUP_HEADER_SIZE))

/* Life cycle of a view's shared state. */
typedef enum SharedViewState
{
	VIEW_INITIALIZING, /* a view over a table waits for its backfill */
	VIEW_READY,
	VIEW_FAILED /* apply raised an error; no longer maintained */
} SharedViewState;

/*
 * Closing windows, per view whose windows close (see worker/closing.c).
 * watermark: windows that end at or before it are closed (when
 * has_watermark).  With clock => 'event' it is the view's clock, less
 * lateness, and only merges and checkpoints move it.
 */
typedef struct StoreWindows
{
	bool        any_closed;    /* closed_before is set */
	int64       closed_before; /* windows that start at or before it are closed */
	bool        has_watermark;
	TimestampTz watermark;
	uint64      closed_windows; /* moved into the history table */
	TimestampTz last_close_time;
	uint64      late_changes;  /* changes to closed windows, not applied */
	uint64      late_captured; /* of those, stored in the late table */
	uint64      retained_rows; /* history rows deleted by retain */
} StoreWindows;

typedef struct SharedView
{
	int32           view_id;
	SharedViewState state;
	dsa_pointer     next;    /* next view of the same database */
	LWLock          lock;    /* see store.c */
	dsa_pointer     buckets; /* array of nbuckets dsa_pointers */
	uint32          nbuckets;
	uint64          ngroups; /* including empty ones */
	uint64          nempty;  /* groups kept, empty, until a checkpoint */
	uint64          memory_bytes;
	XLogRecPtr      applied_lsn; /* end LSN of the last transaction merged */
	TimestampTz     applied_commit_time;
	uint64          events_applied;
	int64           next_group_id; /* last group id handed out */
	bool            stale;
	char            stale_reason[STORE_MESSAGE_LEN];
	char            error[STORE_MESSAGE_LEN]; /* why the view failed */
	bool            dropped;                  /* dropped by a committed transaction; groups freed */
	bool            groups_cleared;           /* groups were freed since the last checkpoint */
	dsa_pointer     blobs;                    /* list of the view's blobs, see StoreBlob */
	uint64          backfill_rows_scanned;
	uint64          backfill_rows_estimated;
	XLogRecPtr      events_lost_from; /* a stream's events in [from, to) are lost */
	XLogRecPtr      events_lost_to;
	bool            state_restored;   /* holds a checkpoint restored from a dump
									 * (worker/restore.c); only the worker
									 * writes it, and it outlives the worker */
	bool            closes;           /* its windows close (lateness) */
	StoreWindows    windows;          /* only the worker writes it */
	bool            captures_pending; /* the worker holds late changes it
									   * has not stored yet: if it dies, the
									   * next one reloads the view from its
									   * checkpoint (worker/closing.c) */

	/*
	 * Windows being moved into the history table: the groups of windows
	 * that start at or before closing_before, which transaction
	 * closing_xid inserted there.  A reader whose snapshot sees that
	 * transaction committed skips them (it reads them from history); the
	 * worker frees them once every snapshot does (store_view_free_closed).
	 */
	TransactionId closing_xid;
	int64         closing_before;
	bool          undo_any_closed;    /* closed_before before the mark, for */
	int64         undo_closed_before; /* store_view_unmark_closing */
} SharedView;

typedef struct StoreDb
{
	Oid         dboid;      /* InvalidOid: slot unused */
	pid_t       worker_pid; /* 0 when no worker runs */
	Latch      *worker_latch;
	bool        exit_requested; /* DROP DATABASE waits for the worker to leave */
	bool        slot_wanted;    /* create_view waits for the worker's slot */
	bool        slot_pending;   /* the worker is making its slot and has not
								 * checkpointed at its start yet (kept over
								 * a worker's restart: the next one does) */
	XLogRecPtr  applied_lsn;    /* every commit before this is merged */
	TimestampTz applied_commit_time;
	dsa_pointer views;          /* list of SharedView */
	bool        loaded;         /* the views hold the last checkpoint or newer */
	XLogRecPtr  checkpoint_lsn; /* of the last checkpoint */
	TimestampTz checkpoint_time;
	XLogRecPtr  checkpoint_wanted;        /* continuous.checkpoint() waits for one at or after this */
	XLogRecPtr  checkpoint_answered;      /* the last such request answered (by a
									  * checkpoint, or at once without views) */
	int         failed_starts;            /* worker starts since one last made progress */
	char        error[STORE_MESSAGE_LEN]; /* why the worker is paused, if it is */
	/* The worker's last failure (an error that ended it), for monitoring. */
	char        last_failure[STORE_MESSAGE_LEN];
	TimestampTz last_failure_time;
	TimestampTz next_retry_time; /* when the next worker starts, about */
} StoreDb;

/*
 * A blob: an immutable chunk of bytes that a view owns besides its groups,
 * referenced from group rows by dsa_pointer (merge.c keeps the inputs of
 * aggregates in blobs, so that a merge does not rewrite them).  Only the
 * worker reads blobs.  A batch brings new blobs and retires old ones at
 * publication; freeing a view's groups frees its blobs.  The header links
 * the view's blobs in a list.
 */
typedef struct StoreBlob
{
	dsa_pointer prev;
	dsa_pointer next;
	Size        size; /* bytes of data after the header */
} StoreBlob;

#define STORE_BLOB_HEADER_SIZE MAXALIGN(sizeof(StoreBlob))

/* A planned change to one group: see store_prepare_changes(). */
typedef struct StoreChange
{
	dsa_pointer  old_group; /* existing group, or InvalidDsaPointer */
	uint32       hash;
	MinimalTuple new_tuple;  /* local copy of the new group row */
	bool         empty;      /* the group has no rows left (see SharedGroup) */
	bool         has_window; /* see SharedGroup */
	int64        window_start;
	int64        group_id;  /* a new group's id when loaded from a checkpoint */
	dsa_pointer  new_group; /* fresh chunk when the old one is too small */
	dsa_pointer  result;    /* set by publish: where the group now is */
} StoreChange;

/* A batch of changes to one view, and what it brings the view to. */
typedef struct StoreBatch
{
	StoreChange *changes;
	int          nchanges;
	bool         clear_first;     /* replace every group (TRUNCATE, backfill) */
	bool         from_checkpoint; /* groups are as checkpointed: not dirty */
	bool         ready;           /* ends the view's initialization */
	XLogRecPtr   applied_lsn;
	TimestampTz  commit_time;
	uint64       late_changes;  /* late changes of the transactions merged */
	bool         has_watermark; /* the view's watermark moves to (see */
	TimestampTz  watermark;     /* StoreWindows), if later */
	uint64       events;
	dsa_pointer *new_blobs; /* allocated for the new group rows */
	int          nnew_blobs;
	dsa_pointer *old_blobs; /* no longer referenced once published */
	int          nold_blobs;
} StoreBatch;

/* What a checkpoint records of one view, besides its groups. */
typedef struct StoreViewHeader
{
	SharedViewState state;
	XLogRecPtr      applied_lsn;
	TimestampTz     applied_commit_time;
	uint64          events_applied;
	int64           next_group_id;
	bool            stale;
	char            stale_reason[STORE_MESSAGE_LEN];
	char            error[STORE_MESSAGE_LEN];
	XLogRecPtr      events_lost_from;
	XLogRecPtr      events_lost_to;
	StoreWindows    windows;
} StoreViewHeader;

/* A reader's private copy of a view's state. */
typedef struct StoreSnapshot
{
	bool            taken; /* store_view_snapshot filled it in */
	int             ngroups;
	MinimalTuple   *tuples;
	bool            found; /* the worker knows the view */
	SharedViewState state;
	bool            stale;
	char            stale_reason[STORE_MESSAGE_LEN];
	char            error[STORE_MESSAGE_LEN];
	uint64          backfill_rows_scanned;
	uint64          backfill_rows_estimated;
} StoreSnapshot;

extern void      store_shmem_init_hooks(void);
extern bool      store_is_initialized(void);
extern bool      store_am_worker(void);
extern dsa_area *store_area(void);
extern Size      store_memory_limit(void);

/* Database slots */
extern StoreDb   *store_db_claim_for_worker(Oid dboid);
extern void       store_db_release_worker(StoreDb *db);
extern bool       store_db_get_status(Oid dboid, StoreDb *copy);
extern void       store_db_set_applied(StoreDb *db, XLogRecPtr lsn, TimestampTz commit_time);
extern void       store_db_set_error(StoreDb *db, const char *error);
extern void       store_db_forget_views(StoreDb *db);
extern void       store_wake_worker(Oid dboid);
extern uint64     store_room_made(void);
extern bool       store_db_request_exit(Oid dboid);
extern bool       store_db_exit_requested(StoreDb *db);
extern void       store_db_request_slot(Oid dboid);
extern bool       store_db_take_slot_request(StoreDb *db);
extern void       store_db_set_slot_pending(StoreDb *db, bool pending);
extern void       store_db_forget(Oid dboid);
extern void       store_db_mark_loaded(StoreDb *db);
extern void       store_db_set_checkpoint(StoreDb *db, XLogRecPtr lsn, TimestampTz time);
extern void       store_db_request_checkpoint(Oid dboid, XLogRecPtr lsn);
extern XLogRecPtr store_db_checkpoint_wanted(StoreDb *db);
extern void       store_db_answer_checkpoint(StoreDb *db, XLogRecPtr lsn);
extern int        store_db_count_start(StoreDb *db);
extern void       store_db_record_failure(StoreDb *db, const char *message, TimestampTz next_retry);
extern bool       store_db_no_room(Oid dboid);
extern void       store_db_give_back(StoreDb *db);
extern bool       store_db_worker_problem(Oid dboid, char *buf);
extern void       store_db_reset_starts(StoreDb *db);

/* Views (worker) */
extern SharedView *store_view_attach(StoreDb *db, int32 view_id, SharedViewState initial);
extern void        store_view_drop(StoreDb *db, int32 view_id);
extern void        store_view_release(Oid dboid, int32 view_id);
extern void        store_view_mark_stale(SharedView *view, const char *reason);
extern void        store_view_mark_failed(SharedView *view, const char *error);
extern void        store_view_begin_initializing(SharedView *view, uint64 rows_estimated);
extern void        store_view_set_progress(SharedView *view, uint64 rows_scanned);
extern void        store_view_mark_lost(SharedView *view, XLogRecPtr from, XLogRecPtr to);
extern void        store_view_get_header(SharedView *view, StoreViewHeader *header);
extern void        store_view_set_header(SharedView *view, const StoreViewHeader *header);
typedef MinimalTuple (*StoreRowCopier)(MinimalTuple row, void *arg);
extern bool         store_view_copy_groups(SharedView *view, dsa_pointer *groups, int ngroups,
										   int64 *group_ids, MinimalTuple *tuples, bool *cleared,
										   StoreRowCopier copier, void *arg);
extern void         store_view_clear_dirty(SharedView *view, dsa_pointer *groups, int ngroups);
extern int          store_view_dirty_groups(SharedView *view, dsa_pointer **groups);
extern SharedGroup *store_group_first(SharedView *view, uint32 hash, dsa_pointer *dp);
extern SharedGroup *store_group_next(SharedGroup *group, uint32 hash, dsa_pointer *dp);
extern bool         store_prepare_changes(SharedView *view, StoreBatch *batch);
extern bool         store_publish_changes(SharedView *view, StoreBatch *batch);
/* Blobs (worker) */
extern dsa_pointer store_blob_allocate(Size size, char **data);
extern void        store_blob_discard(dsa_pointer blob);
extern char       *store_blob_data(dsa_pointer blob, Size *size);

/* Views (readers) */
/* Does the reader's snapshot see transaction xid committed? */
typedef bool (*StoreXidVisible)(TransactionId xid);
extern void store_view_snapshot(Oid dboid, int32 view_id, const uint32 *hashes,
								int nhashes, StoreSnapshot *snap, StoreXidVisible visible);

typedef struct StoreViewStatus
{
	int32           view_id;
	uint64          ngroups;
	uint64          memory_bytes;
	XLogRecPtr      applied_lsn;
	TimestampTz     applied_commit_time;
	uint64          events_applied;
	SharedViewState state;
	bool            stale;
	char            stale_reason[STORE_MESSAGE_LEN];
	char            error[STORE_MESSAGE_LEN];
	uint64          backfill_rows_scanned;
	uint64          backfill_rows_estimated;
	XLogRecPtr      events_lost_from;
	XLogRecPtr      events_lost_to;
	bool            closes;
	StoreWindows    windows;
	uint64          open_windows; /* distinct windows among the groups */
} StoreViewStatus;

extern List *store_view_statuses(Oid dboid, StoreXidVisible visible);

/* Closing windows (worker) */
extern int  store_view_windows_before(SharedView *view, int64 before, int64 **group_ids,
									  uint64 *nwindows, int64 *next_start);
extern void store_view_mark_closing(SharedView *view, TransactionId xid, int64 before);
extern void store_view_unmark_closing(SharedView *view);
extern void store_view_set_windows(SharedView *view, const StoreWindows *windows);
extern void store_view_advance_watermark(SharedView *view, TimestampTz t);
/* The blobs a group row names (worker; store_view_free_closed). */
typedef dsa_pointer *(*StoreBlobsOf)(MinimalTuple row, void *arg, int *nblobs);
extern void   store_view_free_closed(SharedView *view, StoreBlobsOf blobs_of, void *arg);
extern int    store_view_drop_closed(SharedView *view, dsa_pointer *groups, int ngroups, int64 before);
extern uint64 store_db_memory_used(Oid dboid);

#endif /* CONTINUOUS_STORE_H */
