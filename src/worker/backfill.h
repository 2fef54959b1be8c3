/*-------------------------------------------------------------------------
 * backfill.h
 *	  Views over tables start from the table's contents (see backfill.c).
 *	  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_BACKFILL_H
#define CONTINUOUS_BACKFILL_H

#include "access/xlogdefs.h"

extern bool backfill_pending(void);
extern void backfill_views(XLogRecPtr consistent_lsn);

#endif /* CONTINUOUS_BACKFILL_H */
