/*-------------------------------------------------------------------------
 * apply.h
 *	  Decoded changes into per-view deltas (see apply.c).  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_APPLY_H
#define CONTINUOUS_APPLY_H

#include "access/htup.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "worker/registry.h"

extern void   apply_begin_transaction(XLogRecPtr end_lsn, TimestampTz commit_time);
extern void   apply_set_position(XLogRecPtr lsn);
extern void   apply_next_position(void);
extern void   apply_row(ApplyView *av, HeapTuple tuple, int sign);
extern void   apply_to_targets(List *targets, HeapTuple tuple, int sign);
extern void   apply_update_or_delete(List *targets, Relation relation, bool is_update,
									 HeapTuple oldtuple, HeapTuple newtuple, XLogRecPtr lsn);
extern void   apply_truncate(int nrelations, Relation relations[], XLogRecPtr lsn);
extern void   apply_commit(XLogRecPtr end_lsn, TimestampTz commit_time);
extern uint64 apply_pending_events(void);
extern void   apply_pending_reset(void);

#endif /* CONTINUOUS_APPLY_H */
