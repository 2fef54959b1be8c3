/*-------------------------------------------------------------------------
 * distinct.c
 *	  A hash set of distinct values of one type, compared with the equality
 *	  operator of the aggregate's DISTINCT clause (so it agrees with
 *	  PostgreSQL on which values are duplicates), and its array form.
 *
 * An aggregate with DISTINCT keeps, per group, the set of its distinct
 * argument values instead of a transition state: sets merge by union, and
 * a read folds the aggregate's own transition function over the set.  In
 * shared memory the set is an array of the argument's type, NULL included
 * once if it occurred.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "agg/distinct.h"

struct DistinctEntry
{
	DistinctEntry *next;
	uint32         hash;
	Datum          value;
};

DistinctSet *
distinct_set_create(MemoryContext cxt, FmgrInfo *hashfn, FmgrInfo *eqfn, Oid collation,
					int16 typlen, bool typbyval, char typalign)
{
	DistinctSet *set = MemoryContextAllocZero(cxt, sizeof(DistinctSet));

	set->cxt = cxt;
	set->hashfn = hashfn;
	set->eqfn = eqfn;
	set->collation = collation;
	set->typlen = typlen;
	set->typbyval = typbyval;
	set->typalign = typalign;
	set->nbuckets = 16;
	set->buckets = MemoryContextAllocZero(cxt, sizeof(DistinctEntry *) * set->nbuckets);
	return set;
}

static void
grow(DistinctSet *set)
{
	uint32          n = set->nbuckets * 2;
	DistinctEntry **fresh = MemoryContextAllocZero(set->cxt, sizeof(DistinctEntry *) * n);

	for (uint32 b = 0; b < set->nbuckets; b++)
	{
		DistinctEntry *e = set->buckets[b];

		while (e)
		{
			DistinctEntry *next = e->next;

			e->next = fresh[e->hash % n];
			fresh[e->hash % n] = e;
			e = next;
		}
	}
	pfree(set->buckets);
	set->buckets = fresh;
	set->nbuckets = n;
}

/* Adds a value (copied into the set's context) unless an equal one is there. */
void
distinct_set_add(DistinctSet *set, Datum value, bool isnull)
{
	uint32         hash;
	DistinctEntry *e;
	MemoryContext  old;

	if (isnull)
	{
		set->has_null = true;
		return;
	}
	hash = murmurhash32(DatumGetUInt32(FunctionCall1Coll(set->hashfn, set->collation, value)));
	for (e = set->buckets[hash % set->nbuckets]; e; e = e->next)
		if (e->hash == hash &&
			DatumGetBool(FunctionCall2Coll(set->eqfn, set->collation, e->value, value)))
			return;

	if (set->nvalues >= set->nbuckets)
		grow(set);
	old = MemoryContextSwitchTo(set->cxt);
	e = palloc(sizeof(DistinctEntry));
	e->hash = hash;
	e->value = datumCopy(value, set->typbyval, set->typlen);
	MemoryContextSwitchTo(old);
	e->next = set->buckets[hash % set->nbuckets];
	set->buckets[hash % set->nbuckets] = e;
	set->nvalues++;
}

void
distinct_set_foreach(DistinctSet *set, DistinctVisitor visit, void *arg)
{
	for (uint32 b = 0; b < set->nbuckets; b++)
		for (DistinctEntry *e = set->buckets[b]; e; e = e->next)
			visit(e->value, false, arg);
	if (set->has_null)
		visit((Datum) 0, true, arg);
}

typedef struct SortContext
{
	FmgrInfo *ltfn;
	Oid       collation;
} SortContext;

static int
compare_values(const void *a, const void *b, void *arg)
{
	SortContext *sc = (SortContext *) arg;
	Datum        x = *(const Datum *) a;
	Datum        y = *(const Datum *) b;

	if (DatumGetBool(FunctionCall2Coll(sc->ltfn, sc->collation, x, y)))
		return -1;
	if (DatumGetBool(FunctionCall2Coll(sc->ltfn, sc->collation, y, x)))
		return 1;
	return 0;
}

/*
 * Visits the values in the order of the sort operator ltfn, NULL first or
 * last: the order in which PostgreSQL feeds DISTINCT values to an aggregate.
 */
void
distinct_set_foreach_sorted(DistinctSet *set, FmgrInfo *ltfn, bool nulls_first,
							DistinctVisitor visit, void *arg)
{
	Datum      *values = palloc(sizeof(Datum) * Max(set->nvalues, 1));
	int         n = 0;
	SortContext sc = {ltfn, set->collation};

	for (uint32 b = 0; b < set->nbuckets; b++)
		for (DistinctEntry *e = set->buckets[b]; e; e = e->next)
			values[n++] = e->value;
	qsort_arg(values, n, sizeof(Datum), compare_values, &sc);
	if (set->has_null && nulls_first)
		visit((Datum) 0, true, arg);
	for (int i = 0; i < n; i++)
		visit(values[i], false, arg);
	if (set->has_null && !nulls_first)
		visit((Datum) 0, true, arg);
	pfree(values);
}

static void
add_visitor(Datum value, bool isnull, void *arg)
{
	distinct_set_add((DistinctSet *) arg, value, isnull);
}

void
distinct_set_union(DistinctSet *into, DistinctSet *from)
{
	distinct_set_foreach(from, add_visitor, into);
}

/* The set as a one-dimensional array, in the current memory context. */
Datum
distinct_set_to_array(DistinctSet *set, Oid elemtype)
{
	int    n = set->nvalues + (set->has_null ? 1 : 0);
	Datum *values = palloc(sizeof(Datum) * Max(n, 1));
	bool  *nulls = palloc0(sizeof(bool) * Max(n, 1));
	int    dims[1] = {n};
	int    lbs[1] = {1};
	int    i = 0;

	for (uint32 b = 0; b < set->nbuckets; b++)
		for (DistinctEntry *e = set->buckets[b]; e; e = e->next)
			values[i++] = e->value;
	if (set->has_null)
		nulls[i++] = true;
	if (n == 0)
		return PointerGetDatum(construct_empty_array(elemtype));
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, elemtype,
											  set->typlen, set->typbyval, set->typalign));
}

/* Adds every element of an array made by distinct_set_to_array(). */
void
distinct_set_add_array(DistinctSet *set, Datum array)
{
	ArrayType *arr = DatumGetArrayTypeP(array);
	Datum     *values;
	bool      *nulls;
	int        n;

	deconstruct_array(arr, ARR_ELEMTYPE(arr), set->typlen, set->typbyval, set->typalign,
					  &values, &nulls, &n);
	for (int i = 0; i < n; i++)
		distinct_set_add(set, values[i], nulls[i]);
}
