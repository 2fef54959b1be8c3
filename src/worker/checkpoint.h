/*-------------------------------------------------------------------------
 * checkpoint.h
 *	  Durable copies of view state: reading and writing the tables
 *	  continuous.checkpoint, continuous.checkpoint_view and
 *	  continuous.checkpoint_group.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_CHECKPOINT_H
#define CONTINUOUS_CHECKPOINT_H

#include "access/xlogdefs.h"
#include "store/store.h"
#include "worker/registry.h"

/*
 * The layout of a checkpointed group (SharedGroup's MinimalTuple of keys and
 * stored states, and for views over tables row counts and kept inputs;
 * version 2; version 3 keeps the inputs shared by aggregates with the same
 * arguments and FILTER only once) and of the tables.  Bump it when either
 * changes; a worker refuses a checkpoint of another format.
 */
#define CHECKPOINT_FORMAT_VERSION 3

typedef struct CheckpointInfo
{
	bool        exists;
	XLogRecPtr  lsn; /* every commit before it is reflected */
	TimestampTz taken_at;
} CheckpointInfo;

typedef struct CheckpointView
{
	int32           view_id;
	StoreViewHeader header;
	bool            state_restored; /* holds a checkpoint restored from a dump */
} CheckpointView;

typedef void (*CheckpointGroupCallback)(int64 group_id, MinimalTuple tuple, void *arg);

/* Reading, inside a transaction */
extern void  checkpoint_read_info(CheckpointInfo *info);
extern List *checkpoint_read_views(void);
extern void  checkpoint_read_groups(int32 view_id, CheckpointGroupCallback callback, void *arg);

/* Writing: begin, any number of views, end (which commits) */
extern void checkpoint_begin(void);
extern void checkpoint_write_view(int32 view_id, const pg_uuid_t *view_key, const StoreViewHeader *header,
								  bool groups_cleared,
								  int ngroups, int64 *group_ids, MinimalTuple *tuples);
extern void checkpoint_forget_view(int32 view_id);
extern void checkpoint_end(XLogRecPtr lsn, TimestampTz taken_at);

/* The registered views (worker only) */
extern void checkpoint_take(XLogRecPtr lsn);
extern bool checkpoint_load_restored(ApplyView *av, List *states);
extern void checkpoint_restore(const CheckpointInfo *ckpt, bool shared_loaded, bool gap,
							   XLogRecPtr gap_to);

#endif /* CONTINUOUS_CHECKPOINT_H */
