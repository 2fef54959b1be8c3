/*-------------------------------------------------------------------------
 * store_internal.h
 *	  What store.c and viewstore.c share and nothing else may use: the
 *	  control block in shared memory and this process's view of the DSA
 *	  area.  See store.c's header for the locking protocol.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_STORE_INTERNAL_H
#define CONTINUOUS_STORE_INTERNAL_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"

#include "store/store.h"

typedef struct StoreControl
{
	LWLock *lock; /* the database slots and their view lists */
	int     view_tranche_id;
	int     dsa_tranche_id;
	Size    area_size;
	/* Bumped when views' memory is given back (store_note_room_made). */
	pg_atomic_uint64 room_made;
	int              ndbs;
	StoreDb          dbs[FLEXIBLE_ARRAY_MEMBER];
} StoreControl;

/* NULL until the shared memory is set up (without the library preloaded). */
extern StoreControl *store_control;

/* Attached by store_area(); use only after calling it in this process. */
extern dsa_area *store_dsa;

extern StoreDb *store_find_db_locked(Oid dboid);
extern void     store_note_room_made(void);

#endif /* CONTINUOUS_STORE_INTERNAL_H */
