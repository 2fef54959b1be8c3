/*-------------------------------------------------------------------------
 * multiset.c
 *	  A hash table from byte string to a signed count, and its stored form.
 *
 * The byte strings are encoded argument rows (see agg_encode_args): equal
 * bytes mean the same input, so taking out a deleted row's arguments
 * cancels exactly the insert of that row, whatever the type's equality
 * operator says (1.0 and 1.00 are different inputs of sum(numeric)).
 *
 * A multiset may leave a fixed number of bytes at the end of its entries
 * out of their hash (its tail): entries that differ only there then share
 * a bucket, so multiset_take_first finds them all in one.  Aggregates kept
 * in applied order put a row's position there.
 *
 * Counts are signed so that a delta (the rows a transaction added and took
 * out) is a multiset too; entries whose count comes back to zero are left
 * out of the stored form.  Stored form: a bytea holding, per entry, an
 * int64 count, a uint32 length and the bytes, unaligned.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "agg/multiset.h"

struct MultisetEntry
{
	MultisetEntry *next;
	uint32         hash;
	uint32         len;
	int64          count;
	char           data[FLEXIBLE_ARRAY_MEMBER];
};

#define MULTISET_INITIAL_BUCKETS 16

Multiset *
multiset_create(MemoryContext cxt)
{
	return multiset_create_with_tail(cxt, 0);
}

Multiset *
multiset_create_with_tail(MemoryContext cxt, uint32 tail)
{
	Multiset *ms = MemoryContextAllocZero(cxt, sizeof(Multiset));

	ms->cxt = cxt;
	ms->tail = tail;
	ms->nbuckets = MULTISET_INITIAL_BUCKETS;
	ms->buckets = MemoryContextAllocZero(cxt, sizeof(MultisetEntry *) * ms->nbuckets);
	return ms;
}

static void
grow(Multiset *ms)
{
	uint32          n = ms->nbuckets * 2;
	MultisetEntry **fresh = MemoryContextAllocZero(ms->cxt, sizeof(MultisetEntry *) * n);

	for (uint32 b = 0; b < ms->nbuckets; b++)
	{
		MultisetEntry *e = ms->buckets[b];

		while (e)
		{
			MultisetEntry *next = e->next;

			e->next = fresh[e->hash % n];
			fresh[e->hash % n] = e;
			e = next;
		}
	}
	pfree(ms->buckets);
	ms->buckets = fresh;
	ms->nbuckets = n;
}

static uint32
hash_entry(Multiset *ms, const char *data, uint32 len)
{
	if (len < ms->tail)
		elog(ERROR, "multiset entry of %u bytes is shorter than its tail", len);
	return hash_bytes((const unsigned char *) data, len - ms->tail);
}

void
multiset_add(Multiset *ms, const char *data, uint32 len, int64 delta)
{
	uint32         hash = hash_entry(ms, data, len);
	MultisetEntry *e;

	for (e = ms->buckets[hash % ms->nbuckets]; e; e = e->next)
	{
		if (e->hash == hash && e->len == len && memcmp(e->data, data, len) == 0)
		{
			e->count += delta;
			return;
		}
	}
	if (ms->nentries >= ms->nbuckets)
		grow(ms);
	e = MemoryContextAlloc(ms->cxt, offsetof(MultisetEntry, data) + len);
	e->hash = hash;
	e->len = len;
	e->count = delta;
	memcpy(e->data, data, len);
	e->next = ms->buckets[hash % ms->nbuckets];
	ms->buckets[hash % ms->nbuckets] = e;
	ms->nentries++;
}

/*
 * Takes one out of the entry with a positive count that has the same bytes
 * as data but for the tail, and the first tail in the given order.  False
 * if there is none.
 */
bool
multiset_take_first(Multiset *ms, const char *data, uint32 len, MultisetTailOrder order)
{
	uint32         hash = hash_entry(ms, data, len);
	MultisetEntry *first = NULL;

	for (MultisetEntry *e = ms->buckets[hash % ms->nbuckets]; e; e = e->next)
	{
		if (e->hash != hash || e->len != len || e->count <= 0 ||
			memcmp(e->data, data, len - ms->tail) != 0)
			continue;
		if (first == NULL || order(e->data + len - ms->tail, first->data + len - ms->tail) < 0)
			first = e;
	}
	if (first == NULL)
		return false;
	first->count--;
	return true;
}

void
multiset_foreach(Multiset *ms, MultisetVisitor visit, void *arg)
{
	for (uint32 b = 0; b < ms->nbuckets; b++)
		for (MultisetEntry *e = ms->buckets[b]; e; e = e->next)
			if (e->count != 0)
				visit(e->data, e->len, e->count, arg);
}

static void
add_entry(const char *data, uint32 len, int64 count, void *arg)
{
	multiset_add((Multiset *) arg, data, len, count);
}

void
multiset_add_all(Multiset *into, Multiset *from)
{
	multiset_foreach(from, add_entry, into);
}

void
multiset_add_stored(Multiset *into, bytea *stored)
{
	const char *p = VARDATA_ANY(stored);
	const char *end = p + VARSIZE_ANY_EXHDR(stored);

	while (p < end)
	{
		int64  count;
		uint32 len;

		if (end - p < (Size) (sizeof(count) + sizeof(len)))
			elog(ERROR, "corrupt stored multiset");
		memcpy(&count, p, sizeof(count));
		p += sizeof(count);
		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
		if (end - p < (Size) len)
			elog(ERROR, "corrupt stored multiset");
		multiset_add(into, p, len, count);
		p += len;
	}
}

bool
multiset_has_negative(Multiset *ms)
{
	for (uint32 b = 0; b < ms->nbuckets; b++)
		for (MultisetEntry *e = ms->buckets[b]; e; e = e->next)
			if (e->count < 0)
				return true;
	return false;
}

/* Bytes of the stored form, header included; VARHDRSZ when empty. */
Size
multiset_stored_size(Multiset *ms)
{
	Size size = VARHDRSZ;

	for (uint32 b = 0; b < ms->nbuckets; b++)
		for (MultisetEntry *e = ms->buckets[b]; e; e = e->next)
			if (e->count != 0)
				size += sizeof(int64) + sizeof(uint32) + e->len;
	return size;
}

/* Writes the stored form, of multiset_stored_size() bytes, at dest. */
void
multiset_write_stored(Multiset *ms, char *dest)
{
	char *p = VARDATA(dest);

	SET_VARSIZE(dest, multiset_stored_size(ms));
	for (uint32 b = 0; b < ms->nbuckets; b++)
	{
		for (MultisetEntry *e = ms->buckets[b]; e; e = e->next)
		{
			if (e->count == 0)
				continue;
			memcpy(p, &e->count, sizeof(int64));
			p += sizeof(int64);
			memcpy(p, &e->len, sizeof(uint32));
			p += sizeof(uint32);
			memcpy(p, e->data, e->len);
			p += e->len;
		}
	}
}
