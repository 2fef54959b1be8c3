/*-------------------------------------------------------------------------
 * decoder.h
 *	  The extension's output plugin: folds decoded committed changes into
 *	  per-view deltas and merges them into shared memory.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_DECODER_H
#define CONTINUOUS_DECODER_H

#include "checkpoint.h"
#include "store.h"

extern void decoder_init(StoreDb *db, Oid catalogrelid);
extern bool decoder_merge_all(void);
extern bool decoder_paused(void);
extern bool decoder_drop_requested(void);
extern bool decoder_has_views(void);
extern TimestampTz decoder_last_commit_time(void);
extern void decoder_start(const CheckpointInfo *ckpt, bool shared_loaded, bool gap, XLogRecPtr gap_to);
extern void decoder_checkpoint(XLogRecPtr lsn);
extern bool decoder_backfill_pending(void);
extern bool decoder_has_changes(void);
extern void decoder_backfill(XLogRecPtr consistent_lsn);

#endif							/* CONTINUOUS_DECODER_H */
