/*-------------------------------------------------------------------------
 * worker.h
 *	  The launcher and the per-database worker that decodes WAL.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_WORKER_H
#define CONTINUOUS_WORKER_H

#include "postgres.h"

extern void worker_register_launcher(void);
extern void worker_start_for_database(Oid dboid);
extern void worker_slot_name(Oid dboid, char *name);
extern bool worker_problem(Oid dboid, char *buf);

#endif /* CONTINUOUS_WORKER_H */
