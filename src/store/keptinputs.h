/*-------------------------------------------------------------------------
 * keptinputs.h
 *	  The kept inputs of an aggregate in shared memory, as runs of stored
 *	  multisets in blobs; see keptinputs.c.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_KEPTINPUTS_H
#define CONTINUOUS_KEPTINPUTS_H

#include "agg/multiset.h"
#include "store/store.h"

/* The blobs one merge creates (new_blobs) and retires (old_blobs). */
typedef struct KeptBlobs
{
	MemoryContext cxt;
	dsa_pointer  *new_blobs;
	int           nnew;
	int           maxnew;
	dsa_pointer  *old_blobs;
	int           nold;
	int           maxold;
} KeptBlobs;

extern void kept_blobs_init(KeptBlobs *kb, MemoryContext cxt);
extern void kept_blobs_discard(KeptBlobs *kb);

extern void   kept_inputs_add_to(Multiset *into, bytea *runlist);
extern void   kept_inputs_retire(bytea *runlist, KeptBlobs *kb);
extern bool   kept_inputs_append(bytea *runlist, Multiset *delta, KeptBlobs *kb, bytea **result);
extern bool   kept_inputs_replace(Multiset *all, KeptBlobs *kb, bytea **result);
extern bool   kept_inputs_import(bytea *stored, KeptBlobs *kb, bytea **result);
extern bytea *kept_inputs_export(bytea *runlist);

#endif /* CONTINUOUS_KEPTINPUTS_H */
