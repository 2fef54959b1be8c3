/*-------------------------------------------------------------------------
 * apply.h
 *	  The worker's apply state per view, shared by decoder.c (decoding, the
 *	  registry of views, checkpoints, backfill) and merge.c (deltas into
 *	  shared memory).  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_APPLY_H
#define CONTINUOUS_APPLY_H

#include "access/xlogdefs.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "compile.h"
#include "multiset.h"
#include "store.h"

/*
 * One group of a view's delta: what the transactions decoded since the last
 * merge did to it.
 */
typedef struct DeltaGroup
{
	struct DeltaGroup *next;
	uint32		hash;
	Datum	   *keys;
	bool	   *keynulls;
	Datum	   *states;			/* the rows added, folded */
	bool	   *statenulls;
	/* Views over tables only (CompiledView.retractable): */
	int64		rows;			/* rows added minus rows taken out */
	Multiset  **inputs;			/* per aggregate, or NULL: see below */
	bool	   *retracted;		/* per aggregate: a row was taken out */
} DeltaGroup;

typedef struct ApplyView
{
	int32		view_id;
	char	   *name;			/* qualified view name, for messages */
	Oid			viewrelid;
	Oid			owner;			/* the definition runs as this role */
	CompiledView *cv;
	SharedView *shared;
	bool		disabled;		/* failed or dropped: changes are ignored */
	bool		uses_settings;	/* calls stable functions: see use_view_settings */
	bool		runs_user_code; /* calls functions that are not built in */
	char	   *timezone;		/* the creator's settings */
	char	   *datestyle;
	char	   *intervalstyle;
	XLogRecPtr	skip_until;		/* transactions ending at or before: merged */
	bool		reset_pending;	/* the next merge replaces every group */
	bool		is_table;		/* the source is a table, not a stream */
	bool		initializing;	/* waits for a backfill: changes are ignored */
	bool		backfilling;	/* the backfill is merging into the view */
	bool		ready_pending;	/* the next merge ends the backfill */
	HTAB	   *dirty;			/* shared groups changed since the last checkpoint */

	MemoryContext deltacxt;
	DeltaGroup **buckets;
	uint32		nbuckets;
	uint32		ngroups;
	uint64		pending_events;
	XLogRecPtr	pending_lsn;
	TimestampTz pending_commit_time;

	Datum	   *keybuf;			/* scratch for one row's key and arguments */
	bool	   *keynullbuf;
} ApplyView;

/* The worker's own role, saved while a view's definition runs as its owner. */
typedef struct ApplyUser
{
	Oid			userid;
	int			sec_context;
	int			guc_nest_level; /* settings the owner's code changes are undone;
								 * -1 when the view runs no user code */
} ApplyUser;

/* decoder.c */
extern void apply_become_owner(ApplyView *av, ApplyUser *saved);
extern void apply_restore_user(const ApplyUser *saved);
extern void apply_delta_reset(ApplyView *av);
extern void apply_dirty_reset(ApplyView *av);
extern void apply_disable_view(ApplyView *av, const char *error);

/* merge.c */
extern void merge_init(MemoryContext parent);
extern MemoryContext merge_context(void);
extern bool merge_view(StoreDb *db, ApplyView *av);
extern bool merge_views(StoreDb *db, List *views);
extern void merge_abandon(void);
extern bool merge_paused(void);

#endif							/* CONTINUOUS_APPLY_H */
