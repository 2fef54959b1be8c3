/*-------------------------------------------------------------------------
 * distinct.h
 *	  A set of distinct values of one type, for aggregates with DISTINCT.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_DISTINCT_H
#define CONTINUOUS_DISTINCT_H

#include "fmgr.h"

typedef struct DistinctEntry DistinctEntry;

typedef struct DistinctSet
{
	MemoryContext   cxt; /* owns the set and its values */
	FmgrInfo       *hashfn;
	FmgrInfo       *eqfn;
	Oid             collation;
	int16           typlen;
	bool            typbyval;
	char            typalign;
	uint32          nbuckets;
	uint32          nvalues; /* not counting NULL */
	DistinctEntry **buckets;
	bool            has_null;
} DistinctSet;

typedef void (*DistinctVisitor)(Datum value, bool isnull, void *arg);

extern DistinctSet *distinct_set_create(MemoryContext cxt, FmgrInfo *hashfn, FmgrInfo *eqfn,
										Oid collation, int16 typlen, bool typbyval, char typalign);
extern void         distinct_set_add(DistinctSet *set, Datum value, bool isnull);
extern void         distinct_set_union(DistinctSet *into, DistinctSet *from);
extern void         distinct_set_foreach(DistinctSet *set, DistinctVisitor visit, void *arg);
extern void         distinct_set_foreach_sorted(DistinctSet *set, FmgrInfo *ltfn, bool nulls_first,
												DistinctVisitor visit, void *arg);
extern Datum        distinct_set_to_array(DistinctSet *set, Oid elemtype);
extern void         distinct_set_add_array(DistinctSet *set, Datum array);

#endif /* CONTINUOUS_DISTINCT_H */
