/*-------------------------------------------------------------------------
 * merge.h
 *	  Deltas into shared memory (see merge.c).  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_MERGE_H
#define CONTINUOUS_MERGE_H

#include "nodes/pg_list.h"

#include "store/store.h"
#include "worker/registry.h"

extern void          merge_init(MemoryContext parent);
extern MemoryContext merge_context(void);
extern bool          merge_view(StoreDb *db, ApplyView *av);
extern bool          merge_views(StoreDb *db, List *views);
extern bool          merge_all(void);
extern void          merge_abandon(void);
extern bool          merge_paused(void);
extern bool          merge_retry_due(void);
extern void          merge_note_dirty_groups(ApplyView *av, StoreBatch *batch);

#endif /* CONTINUOUS_MERGE_H */
