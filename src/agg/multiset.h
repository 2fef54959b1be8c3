/*-------------------------------------------------------------------------
 * multiset.h
 *	  Counted byte strings: the argument rows an aggregate has folded, so
 *	  that a row can be taken out again (UPDATE and DELETE of a source
 *	  table) and the state recomputed from the rows that remain.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_MULTISET_H
#define CONTINUOUS_MULTISET_H

typedef struct MultisetEntry MultisetEntry;

typedef struct Multiset
{
	MemoryContext   cxt;  /* owns the multiset and its entries */
	uint32          tail; /* bytes at the end of every entry its hash leaves
						   * out (multiset_take_first) */
	uint32          nbuckets;
	uint32          nentries;
	MultisetEntry **buckets;
} Multiset;

typedef void (*MultisetVisitor)(const char *data, uint32 len, int64 count, void *arg);
/* Orders the tails of two entries, like strcmp. */
typedef int (*MultisetTailOrder)(const char *a, const char *b);

extern Multiset *multiset_create(MemoryContext cxt);
extern Multiset *multiset_create_with_tail(MemoryContext cxt, uint32 tail);
extern bool      multiset_take_first(Multiset *ms, const char *data, uint32 len,
									 MultisetTailOrder order);
extern void      multiset_add(Multiset *ms, const char *data, uint32 len, int64 delta);
extern void      multiset_add_all(Multiset *into, Multiset *from);
extern void      multiset_add_stored(Multiset *into, bytea *stored);
extern bool      multiset_has_negative(Multiset *ms);
extern Size      multiset_stored_size(Multiset *ms);
extern void      multiset_write_stored(Multiset *ms, char *dest);
extern void      multiset_foreach(Multiset *ms, MultisetVisitor visit, void *arg);

#endif /* CONTINUOUS_MULTISET_H */
