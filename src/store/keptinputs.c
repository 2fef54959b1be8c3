/*-------------------------------------------------------------------------
 * keptinputs.c
 *	  The kept inputs of an aggregate in shared memory, as runs.
 *
 * A group of a view over a table keeps, for each aggregate without a
 * trusted inverse, the multiset of argument rows it folded (decoder.c).
 * Rewriting that multiset at every merge would cost a merge in proportion
 * to the group's size, so a small transaction into a big group would be
 * slow.  Instead the inputs are kept as runs: each run is a stored multiset
 * (multiset.c) in a blob (store.c), immutable once written, and the group
 * row holds only the run list, a bytea of the runs' addresses.
 *
 *	- A merge that only adds rows writes the delta's multiset as a new run
 *	  and appends it.  Then, while the last run is at least half the size of
 *	  the one before it (or there are too many), the two are merged into
 *	  one, as in a binary counter: a row is rewritten O(log n) times over
 *	  the life of a group of n inputs, and a group has O(log n) runs.
 *	- A merge that takes rows out reads every run, since the aggregate is
 *	  recomputed from all remaining inputs anyway, and replaces the runs
 *	  with one.
 *	- A checkpoint stores the concatenation of the runs (the same stored
 *	  multiset form, with an input possibly in several entries), and loading
 *	  a checkpoint makes it one run.
 *
 * The same input may appear in several runs; only the sum of its counts
 * means anything.  Runs written by adding rows hold positive counts only.
 *
 * Blobs a merge creates and retires are collected in a KeptBlobs and
 * handed to the store with the merge's batch (store.h), so a merge that
 * cannot be published leaves the shared runs untouched.  Everything here
 * runs in the worker, holding the view's lock at least shared.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "store/keptinputs.h"

/* More runs than this are merged regardless of their sizes. */
#define KEPT_MAX_RUNS 24

void
kept_blobs_init(KeptBlobs *kb, MemoryContext cxt)
{
	memset(kb, 0, sizeof(KeptBlobs));
	kb->cxt = cxt;
}

static void
push(dsa_pointer **array, int *n, int *max, dsa_pointer dp, MemoryContext cxt)
{
	if (*n == *max)
	{
		*max = Max(*max * 2, 16);
		*array = *array ? repalloc(*array, sizeof(dsa_pointer) * *max)
						: MemoryContextAlloc(cxt, sizeof(dsa_pointer) * *max);
	}
	(*array)[(*n)++] = dp;
}

/* Gives back every blob created so far (the merge will not be published). */
void
kept_blobs_discard(KeptBlobs *kb)
{
	for (int i = 0; i < kb->nnew; i++)
		store_blob_discard(kb->new_blobs[i]);
	kb->nnew = 0;
	kb->nold = 0;
}

/* The runs of a run list, in a palloc'd array; *n gets their number. */
static dsa_pointer *
runs_of(bytea *runlist, int *n)
{
	dsa_pointer *runs;

	*n = runlist ? VARSIZE_ANY_EXHDR(runlist) / sizeof(dsa_pointer) : 0;
	runs = palloc(sizeof(dsa_pointer) * (*n + 1));
	if (*n > 0)
		memcpy(runs, VARDATA_ANY(runlist), sizeof(dsa_pointer) * *n);
	return runs;
}

static bytea *
make_runlist(dsa_pointer *runs, int n)
{
	bytea *result;

	if (n == 0)
		return NULL;
	result = palloc(VARHDRSZ + sizeof(dsa_pointer) * n);
	SET_VARSIZE(result, VARHDRSZ + sizeof(dsa_pointer) * n);
	memcpy(VARDATA(result), runs, sizeof(dsa_pointer) * n);
	return result;
}

static Size
run_size(dsa_pointer run)
{
	Size size;

	(void) store_blob_data(run, &size);
	return size;
}

/* The kept inputs of a group (size bytes) would exceed what one value holds. */
static void
check_inputs_size(Size size)
{
	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a group keeps too many distinct aggregate inputs (%zu bytes)", size),
				 errdetail("A group of a view over a table keeps at most 1 GB of inputs per aggregate without an inverse."),
				 errhint("Group by more keys, or use aggregates that have an inverse (such as count, sum of bigint or avg of integers).")));
}

/*
 * A new run holding ms, or InvalidDsaPointer when the area is full.  Not yet
 * in kb: the caller adds it once it is sure to keep it.
 */
static dsa_pointer
write_run(Multiset *ms)
{
	Size        size = multiset_stored_size(ms);
	char       *data;
	dsa_pointer run;

	check_inputs_size(size);
	run = store_blob_allocate(size, &data);
	if (DsaPointerIsValid(run))
		multiset_write_stored(ms, data);
	return run;
}

void
kept_inputs_add_to(Multiset *into, bytea *runlist)
{
	int          n;
	dsa_pointer *runs = runs_of(runlist, &n);

	for (int i = 0; i < n; i++)
		multiset_add_stored(into, (bytea *) store_blob_data(runs[i], NULL));
	pfree(runs);
}

void
kept_inputs_retire(bytea *runlist, KeptBlobs *kb)
{
	int          n;
	dsa_pointer *runs = runs_of(runlist, &n);

	for (int i = 0; i < n; i++)
		push(&kb->old_blobs, &kb->nold, &kb->maxold, runs[i], kb->cxt);
	pfree(runs);
}

/* Frees a run made by this merge and no longer needed (merged away). */
static void
drop_new_run(KeptBlobs *kb, dsa_pointer run)
{
	for (int i = kb->nnew - 1; i >= 0; i--)
	{
		if (kb->new_blobs[i] == run)
		{
			kb->new_blobs[i] = kb->new_blobs[--kb->nnew];
			store_blob_discard(run);
			return;
		}
	}
	elog(ERROR, "kept-input run not found among the new ones");
}

/*
 * The run list after adding delta (positive counts only) to the inputs kept
 * in runlist (NULL: none yet).  False when the area is full.  Each run made
 * goes to kb at once, so that the caller can discard them after a failure
 * or an error.
 */
bool
kept_inputs_append(bytea *runlist, Multiset *delta, KeptBlobs *kb, bytea **result)
{
	int          n;
	dsa_pointer *runs = runs_of(runlist, &n);
	bool        *fresh = palloc0(sizeof(bool) * (n + 1));

	runs[n] = write_run(delta);
	if (!DsaPointerIsValid(runs[n]))
		return false;
	push(&kb->new_blobs, &kb->nnew, &kb->maxnew, runs[n], kb->cxt);
	fresh[n++] = true;

	while (n >= 2 && (run_size(runs[n - 2]) <= 2 * run_size(runs[n - 1]) || n > KEPT_MAX_RUNS))
	{
		Multiset   *both = multiset_create(CurrentMemoryContext);
		dsa_pointer merged;

		multiset_add_stored(both, (bytea *) store_blob_data(runs[n - 2], NULL));
		multiset_add_stored(both, (bytea *) store_blob_data(runs[n - 1], NULL));
		merged = write_run(both);
		if (!DsaPointerIsValid(merged))
			return false;
		push(&kb->new_blobs, &kb->nnew, &kb->maxnew, merged, kb->cxt);
		for (int i = n - 2; i < n; i++)
		{
			if (fresh[i])
				drop_new_run(kb, runs[i]);
			else
				push(&kb->old_blobs, &kb->nold, &kb->maxold, runs[i], kb->cxt);
		}
		runs[n - 2] = merged;
		fresh[n - 2] = true;
		n--;
	}
	/* A checkpoint stores all runs as one value: keep that within bounds. */
	{
		Size total = VARHDRSZ;

		for (int i = 0; i < n; i++)
			total += run_size(runs[i]) - VARHDRSZ;
		check_inputs_size(total);
	}
	*result = make_runlist(runs, n);
	return true;
}

/*
 * The run list of exactly the inputs in all (the old runs having been
 * retired by the caller): one run, or NULL when all is empty.  False when
 * the area is full.
 */
bool
kept_inputs_replace(Multiset *all, KeptBlobs *kb, bytea **result)
{
	dsa_pointer run;

	*result = NULL;
	if (multiset_stored_size(all) == VARHDRSZ)
		return true;
	run = write_run(all);
	if (!DsaPointerIsValid(run))
		return false;
	push(&kb->new_blobs, &kb->nnew, &kb->maxnew, run, kb->cxt);
	*result = make_runlist(&run, 1);
	return true;
}

/*
 * The run list of a stored multiset read from a checkpoint: one run holding
 * it as it is.  False when the area is full.
 */
bool
kept_inputs_import(bytea *stored, KeptBlobs *kb, bytea **result)
{
	Size        size = VARSIZE_ANY_EXHDR(stored);
	char       *data;
	dsa_pointer run = store_blob_allocate(VARHDRSZ + size, &data);

	if (!DsaPointerIsValid(run))
		return false;
	SET_VARSIZE(data, VARHDRSZ + size);
	memcpy(VARDATA(data), VARDATA_ANY(stored), size);
	push(&kb->new_blobs, &kb->nnew, &kb->maxnew, run, kb->cxt);
	*result = make_runlist(&run, 1);
	return true;
}

/* The stored multiset of every kept input, for a checkpoint: the runs' entries. */
bytea *
kept_inputs_export(bytea *runlist)
{
	int          n;
	dsa_pointer *runs = runs_of(runlist, &n);
	Size         size = VARHDRSZ;
	bytea       *result;
	char        *p;

	for (int i = 0; i < n; i++)
		size += VARSIZE_ANY_EXHDR((bytea *) store_blob_data(runs[i], NULL));
	check_inputs_size(size);
	result = palloc(size);
	SET_VARSIZE(result, size);
	p = VARDATA(result);
	for (int i = 0; i < n; i++)
	{
		bytea *run = (bytea *) store_blob_data(runs[i], NULL);

		memcpy(p, VARDATA_ANY(run), VARSIZE_ANY_EXHDR(run));
		p += VARSIZE_ANY_EXHDR(run);
	}
	pfree(runs);
	return result;
}
