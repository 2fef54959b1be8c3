/*-------------------------------------------------------------------------
 * closing.h
 *	  Windows that close (see closing.c).  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_CLOSING_H
#define CONTINUOUS_CLOSING_H

#include "access/htup.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#include "worker/registry.h"

extern void closing_clock_step(XLogRecPtr decoded_upto);
extern bool closing_due(void);
extern bool closing_skips_row(ApplyView *av, HeapTuple tuple, const char *kind, int sign,
							  int64 window_start, TimestampTz commit_time);
extern void closing_commit_view(ApplyView *av, TimestampTz commit_time);
extern bool closing_watermark(ApplyView *av, TimestampTz *watermark);
extern bool closing_idle_advance(void);
extern void closing_checkpoint_view(ApplyView *av);
extern void closing_checkpoint_record(ApplyView *av);
extern void closing_close_due(void);
extern void closing_commit_done(void);
extern void closing_free_moved(void);
extern void closing_note_window(ApplyView *av, int64 window_start);
extern void closing_before_backfill(ApplyView *av);

#endif /* CONTINUOUS_CLOSING_H */
