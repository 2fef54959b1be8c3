/*-------------------------------------------------------------------------
 * restore.h
 *	  Checkpoints restored from a dump, loaded into their views.  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_RESTORE_H
#define CONTINUOUS_RESTORE_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xlogdefs.h"

extern void restore_init(void);
extern Oid  restore_relation_oid(void);
extern void restore_collect(TupleDesc desc, HeapTuple tuple);
extern void restore_at_commit(XLogRecPtr end_lsn);
extern void restore_staged(void);

#endif /* CONTINUOUS_RESTORE_H */
