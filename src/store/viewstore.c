/*-------------------------------------------------------------------------
 * viewstore.c
 *	  The shared-memory state of each continuous view: its SharedView, its
 *	  groups and blobs in the DSA area, the batches the worker prepares and
 *	  publishes, and the snapshots readers copy out.
 *
 * The vocabulary and the locking protocol are in store.c's header, which
 * this module follows: SharedView->lock protects everything of a view;
 * only the worker writes; readers copy under the lock held shared.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "access/transam.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "store/store.h"
#include "store/store_internal.h"

#define STORE_INITIAL_BUCKETS 64

/* The group header's size is part of bench/ figure 5 (state per group). */
StaticAssertDecl(sizeof(SharedGroup) == 32, "SharedGroup grew");

/* ----------------------------------------------------------------------
 * Views
 * ----------------------------------------------------------------------
 */

static SharedView *
find_view_locked(StoreDb *db, int32 view_id, dsa_pointer *dp_out, dsa_pointer **link_out)
{
	dsa_pointer *link = &db->views;

	while (DsaPointerIsValid(*link))
	{
		SharedView *v = dsa_get_address(store_dsa, *link);

		if (v->view_id == view_id)
		{
			if (dp_out)
				*dp_out = *link;
			if (link_out)
				*link_out = link;
			return v;
		}
		link = &v->next;
	}
	return NULL;
}

static void
free_blobs(SharedView *v)
{
	dsa_pointer dp = v->blobs;

	Assert(LWLockHeldByMeInMode(&v->lock, LW_EXCLUSIVE));

	while (DsaPointerIsValid(dp))
	{
		dsa_pointer next = ((StoreBlob *) dsa_get_address(store_dsa, dp))->next;

		dsa_free(store_dsa, dp);
		dp = next;
	}
	v->blobs = InvalidDsaPointer;
}

/*
 * Frees every group and blob of a view, which may make room for a paused
 * worker.  Exclusive view lock held.
 */
static void
free_groups(SharedView *v)
{
	dsa_pointer *buckets;

	Assert(LWLockHeldByMeInMode(&v->lock, LW_EXCLUSIVE));

	free_blobs(v);
	if (!DsaPointerIsValid(v->buckets))
	{
		store_note_room_made();
		return;
	}
	buckets = dsa_get_address(store_dsa, v->buckets);
	for (uint32 b = 0; b < v->nbuckets; b++)
	{
		dsa_pointer dp = buckets[b];

		while (DsaPointerIsValid(dp))
		{
			SharedGroup *g = dsa_get_address(store_dsa, dp);
			dsa_pointer  next = g->next;

			dsa_free(store_dsa, dp);
			dp = next;
		}
	}
	dsa_free(store_dsa, v->buckets);
	v->buckets = InvalidDsaPointer;
	v->nbuckets = 0;
	v->ngroups = 0;
	v->nempty = 0;
	v->memory_bytes = sizeof(SharedView);
	v->groups_cleared = true;
	store_note_room_made();
}

/*
 * Finds or creates the view's shared state, a new one in the given state.
 * Returns NULL if the area has no room for even the header; the caller
 * retries later.
 */
SharedView *
store_view_attach(StoreDb *db, int32 view_id, SharedViewState initial)
{
	SharedView *v;
	dsa_pointer dp;

	Assert(store_am_worker());

	store_area();
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	v = find_view_locked(db, view_id, NULL, NULL);
	if (v == NULL)
	{
		dp = dsa_allocate_extended(store_dsa, sizeof(SharedView), DSA_ALLOC_NO_OOM | DSA_ALLOC_ZERO);
		if (DsaPointerIsValid(dp))
		{
			v = dsa_get_address(store_dsa, dp);
			v->view_id = view_id;
			v->state = initial;
			LWLockInitialize(&v->lock, store_control->view_tranche_id);
			v->buckets = InvalidDsaPointer;
			v->blobs = InvalidDsaPointer;
			v->memory_bytes = sizeof(SharedView);
			v->next = db->views;
			db->views = dp;
		}
	}
	LWLockRelease(store_control->lock);
	return v;
}

/* Unlinks and frees a view (worker, when it decodes the view's drop). */
void
store_view_drop(StoreDb *db, int32 view_id)
{
	SharedView  *v;
	dsa_pointer  dp;
	dsa_pointer *link;

	store_area();
	LWLockAcquire(store_control->lock, LW_EXCLUSIVE);
	v = find_view_locked(db, view_id, &dp, &link);
	if (v)
	{
		LWLockAcquire(&v->lock, LW_EXCLUSIVE);
		*link = v->next;
		free_groups(v);
		LWLockRelease(&v->lock);
	}
	LWLockRelease(store_control->lock);
	if (v)
		dsa_free(store_dsa, dp);
}

/*
 * Frees a dropped view's groups right at the commit of its drop, in the
 * dropping backend, so that a worker paused on a full area can resume before
 * it decodes the drop.  The header stays until the worker frees it.
 */
void
store_view_release(Oid dboid, int32 view_id)
{
	StoreDb    *db;
	SharedView *v = NULL;

	if (store_control == NULL)
		return;
	store_area();
	LWLockAcquire(store_control->lock, LW_SHARED);
	db = store_find_db_locked(dboid);
	if (db)
		v = find_view_locked(db, view_id, NULL, NULL);
	if (v)
	{
		LWLockAcquire(&v->lock, LW_EXCLUSIVE);
		free_groups(v);
		v->dropped = true;
		LWLockRelease(&v->lock);
	}
	LWLockRelease(store_control->lock);
}

/* Frees every view of a database (the extension is being dropped). */
void
store_db_forget_views(StoreDb *db)
{
	store_area();
	for (;;)
	{
		int32 view_id;

		LWLockAcquire(store_control->lock, LW_SHARED);
		if (!DsaPointerIsValid(db->views))
		{
			LWLockRelease(store_control->lock);
			break;
		}
		view_id = ((SharedView *) dsa_get_address(store_dsa, db->views))->view_id;
		LWLockRelease(store_control->lock);
		store_view_drop(db, view_id);
	}
}

void
store_view_mark_stale(SharedView *v, const char *reason)
{
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	if (!v->stale)
	{
		v->stale = true;
		strlcpy(v->stale_reason, reason, STORE_MESSAGE_LEN);
	}
	LWLockRelease(&v->lock);
}

void
store_view_mark_failed(SharedView *v, const char *error)
{
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	v->state = VIEW_FAILED;
	strlcpy(v->error, error, STORE_MESSAGE_LEN);
	free_groups(v);
	LWLockRelease(&v->lock);
}

/*
 * Starts (or restarts) a view's backfill: readers get an error until the
 * batch that ends it is published.  The groups are kept until that batch
 * replaces them.
 */
void
store_view_begin_initializing(SharedView *v, uint64 rows_estimated)
{
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	if (v->state != VIEW_FAILED)
		v->state = VIEW_INITIALIZING;
	v->backfill_rows_scanned = 0;
	v->backfill_rows_estimated = rows_estimated;
	LWLockRelease(&v->lock);
}

void
store_view_set_progress(SharedView *v, uint64 rows_scanned)
{
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	v->backfill_rows_scanned = rows_scanned;
	LWLockRelease(&v->lock);
}

/* Records that a stream's events committed in [from, to) never reached the view. */
void
store_view_mark_lost(SharedView *v, XLogRecPtr from, XLogRecPtr to)
{
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	if (v->events_lost_to == InvalidXLogRecPtr || from < v->events_lost_from)
		v->events_lost_from = from;
	v->events_lost_to = Max(v->events_lost_to, to);
	LWLockRelease(&v->lock);
}

void
store_view_get_header(SharedView *v, StoreViewHeader *h)
{
	LWLockAcquire(&v->lock, LW_SHARED);
	h->state = v->state;
	h->applied_lsn = v->applied_lsn;
	h->applied_commit_time = v->applied_commit_time;
	h->events_applied = v->events_applied;
	h->next_group_id = v->next_group_id;
	h->stale = v->stale;
	memcpy(h->stale_reason, v->stale_reason, STORE_MESSAGE_LEN);
	memcpy(h->error, v->error, STORE_MESSAGE_LEN);
	h->events_lost_from = v->events_lost_from;
	h->events_lost_to = v->events_lost_to;
	h->windows = v->windows;
	LWLockRelease(&v->lock);
}

void
store_view_set_header(SharedView *v, const StoreViewHeader *h)
{
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	v->state = h->state;
	v->applied_lsn = h->applied_lsn;
	v->applied_commit_time = h->applied_commit_time;
	v->events_applied = h->events_applied;
	v->next_group_id = h->next_group_id;
	v->stale = h->stale;
	memcpy(v->stale_reason, h->stale_reason, STORE_MESSAGE_LEN);
	memcpy(v->error, h->error, STORE_MESSAGE_LEN);
	v->events_lost_from = h->events_lost_from;
	v->events_lost_to = h->events_lost_to;
	v->windows = h->windows;
	LWLockRelease(&v->lock);
}

/*
 * Copies the given groups (worker: the ones it changed since its last
 * checkpoint) into local memory, holding the view's lock shared, and says
 * whether groups were freed since the last checkpoint.  False when the view
 * was dropped meanwhile, its groups then being gone.  copier, if not NULL,
 * makes each copy (under the lock, so it may read the view's blobs).
 */
bool
store_view_copy_groups(SharedView *v, dsa_pointer *groups, int ngroups,
					   int64 *group_ids, MinimalTuple *tuples, bool *cleared,
					   StoreRowCopier copier, void *arg)
{
	Assert(store_am_worker() && !LWLockHeldByMe(&v->lock));
	LWLockAcquire(&v->lock, LW_SHARED);
	if (v->dropped)
	{
		LWLockRelease(&v->lock);
		return false;
	}
	*cleared = v->groups_cleared;
	for (int i = 0; i < ngroups; i++)
	{
		SharedGroup *g = dsa_get_address(store_dsa, groups[i]);
		MinimalTuple src = SHARED_GROUP_TUPLE(g);

		group_ids[i] = g->group_id;
		if (g->empty)
		{
			tuples[i] = NULL; /* its checkpointed row goes */
			continue;
		}
		if (copier)
			tuples[i] = copier(src, arg);
		else
		{
			tuples[i] = palloc(src->t_len);
			memcpy(tuples[i], src, src->t_len);
		}
	}
	LWLockRelease(&v->lock);
	return true;
}

/* Unlinks and frees an empty group.  Exclusive view lock held. */
static void
free_empty_group(SharedView *v, dsa_pointer dp)
{
	SharedGroup *g = dsa_get_address(store_dsa, dp);
	dsa_pointer *link = &((dsa_pointer *) dsa_get_address(store_dsa, v->buckets))[g->hash % v->nbuckets];

	Assert(LWLockHeldByMeInMode(&v->lock, LW_EXCLUSIVE));

	while (*link != dp)
		link = &((SharedGroup *) dsa_get_address(store_dsa, *link))->next;
	*link = g->next;
	v->memory_bytes -= SHARED_GROUP_HEADER_SIZE + g->capacity;
	v->ngroups--;
	v->nempty--;
	dsa_free(store_dsa, dp);
}

/*
 * After the checkpoint holding them committed.  The dirty flags belong to
 * the worker, the only writer of groups, so the shared lock is enough; it
 * keeps a dropping backend from freeing the groups meanwhile.  Empty groups,
 * whose rows the checkpoint deleted, are freed, under the exclusive lock.
 * The caller forgets every address it passed.
 */
void
store_view_clear_dirty(SharedView *v, dsa_pointer *groups, int ngroups)
{
	bool any_empty = false;

	Assert(store_am_worker() && !LWLockHeldByMe(&v->lock));

	LWLockAcquire(&v->lock, LW_SHARED);
	if (!v->dropped)
	{
		for (int i = 0; i < ngroups; i++)
		{
			SharedGroup *g = dsa_get_address(store_dsa, groups[i]);

			g->dirty = false;
			any_empty |= g->empty;
		}
		v->groups_cleared = false;
	}
	LWLockRelease(&v->lock);
	if (!any_empty)
		return;

	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	if (!v->dropped)
		for (int i = 0; i < ngroups; i++)
			if (((SharedGroup *) dsa_get_address(store_dsa, groups[i]))->empty)
				free_empty_group(v, groups[i]);
	LWLockRelease(&v->lock);
}

/*
 * Every group changed since the last checkpoint, found by walking the whole
 * table: for a worker that restarts while shared memory lives on.
 */
int
store_view_dirty_groups(SharedView *v, dsa_pointer **groups)
{
	int n = 0;

	Assert(store_am_worker());

	LWLockAcquire(&v->lock, LW_SHARED);
	*groups = palloc(sizeof(dsa_pointer) * Max(v->ngroups, 1));
	if (DsaPointerIsValid(v->buckets) && !v->dropped)
	{
		dsa_pointer *buckets = dsa_get_address(store_dsa, v->buckets);

		for (uint32 b = 0; b < v->nbuckets; b++)
		{
			for (dsa_pointer dp = buckets[b]; DsaPointerIsValid(dp);)
			{
				SharedGroup *g = dsa_get_address(store_dsa, dp);

				if (g->dirty)
					(*groups)[n++] = dp;
				dp = g->next;
			}
		}
	}
	LWLockRelease(&v->lock);
	return n;
}

/*
 * Walks the groups of a bucket whose hash matches, holding the view's lock:
 * the worker merging, or a reader copying a group lookup's groups.
 */
SharedGroup *
store_group_first(SharedView *v, uint32 hash, dsa_pointer *dp)
{
	dsa_pointer *buckets;

	Assert(LWLockHeldByMe(&v->lock));

	if (v->nbuckets == 0)
		return NULL;
	buckets = dsa_get_address(store_dsa, v->buckets);
	*dp = buckets[hash % v->nbuckets];
	while (DsaPointerIsValid(*dp))
	{
		SharedGroup *g = dsa_get_address(store_dsa, *dp);

		if (g->hash == hash)
			return g;
		*dp = g->next;
	}
	return NULL;
}

SharedGroup *
store_group_next(SharedGroup *group, uint32 hash, dsa_pointer *dp)
{
	*dp = group->next;
	while (DsaPointerIsValid(*dp))
	{
		SharedGroup *g = dsa_get_address(store_dsa, *dp);

		if (g->hash == hash)
			return g;
		*dp = g->next;
	}
	return NULL;
}

static Size
group_chunk_size(MinimalTuple tup)
{
	return SHARED_GROUP_HEADER_SIZE + MAXALIGN(tup->t_len);
}

/* Gives back the blobs a batch brought, which were never published. */
static void
discard_new_blobs(StoreBatch *batch)
{
	for (int i = 0; i < batch->nnew_blobs; i++)
		dsa_free(store_dsa, batch->new_blobs[i]);
	batch->nnew_blobs = 0;
}

/* Links a blob into its view's list.  Exclusive view lock held. */
static void
link_blob(SharedView *v, dsa_pointer dp)
{
	StoreBlob *blob = dsa_get_address(store_dsa, dp);

	Assert(LWLockHeldByMeInMode(&v->lock, LW_EXCLUSIVE));

	blob->prev = InvalidDsaPointer;
	blob->next = v->blobs;
	if (DsaPointerIsValid(v->blobs))
		((StoreBlob *) dsa_get_address(store_dsa, v->blobs))->prev = dp;
	v->blobs = dp;
	v->memory_bytes += STORE_BLOB_HEADER_SIZE + blob->size;
}

/* Unlinks and frees a blob of the view.  Exclusive view lock held. */
static void
free_blob(SharedView *v, dsa_pointer dp)
{
	StoreBlob *blob = dsa_get_address(store_dsa, dp);

	Assert(LWLockHeldByMeInMode(&v->lock, LW_EXCLUSIVE));

	if (DsaPointerIsValid(blob->prev))
		((StoreBlob *) dsa_get_address(store_dsa, blob->prev))->next = blob->next;
	else
		v->blobs = blob->next;
	if (DsaPointerIsValid(blob->next))
		((StoreBlob *) dsa_get_address(store_dsa, blob->next))->prev = blob->prev;
	v->memory_bytes -= STORE_BLOB_HEADER_SIZE + blob->size;
	dsa_free(store_dsa, dp);
}

/*
 * A new blob of size bytes, not yet owned by any view: the caller fills
 * *data and passes the blob in a batch's new_blobs, or discards it.
 * InvalidDsaPointer when the area is full.  Worker only.
 */
dsa_pointer
store_blob_allocate(Size size, char **data)
{
	dsa_pointer dp;
	StoreBlob  *blob;

	Assert(store_am_worker());

	store_area();
	dp = dsa_allocate_extended(store_dsa, STORE_BLOB_HEADER_SIZE + size,
							   DSA_ALLOC_NO_OOM | DSA_ALLOC_HUGE);
	if (!DsaPointerIsValid(dp))
		return InvalidDsaPointer;
	blob = dsa_get_address(store_dsa, dp);
	blob->prev = blob->next = InvalidDsaPointer;
	blob->size = size;
	*data = (char *) blob + STORE_BLOB_HEADER_SIZE;
	return dp;
}

/* Frees a blob that was never published. */
void
store_blob_discard(dsa_pointer blob)
{
	dsa_free(store_dsa, blob);
}

/*
 * The data of a blob.  The worker reads its views' blobs holding the view's
 * lock (a backend dropping the view frees them under the exclusive lock).
 */
char *
store_blob_data(dsa_pointer dp, Size *size)
{
	StoreBlob *blob = dsa_get_address(store_dsa, dp);

	if (size)
		*size = blob->size;
	return (char *) blob + STORE_BLOB_HEADER_SIZE;
}

/* New bucket array prepared by store_prepare_changes, consumed by publish. */
static dsa_pointer prepared_buckets = InvalidDsaPointer;
static uint32      prepared_nbuckets = 0;

/*
 * Allocates every chunk the batch needs: a new chunk for each group that is
 * new or outgrew its old one, and a larger bucket array if the table will be
 * too full (always a fresh one with clear_first, which publishes the batch
 * over an emptied table).  All or nothing: on failure everything is given
 * back and false is returned.  Worker only.
 */
bool
store_prepare_changes(SharedView *v, StoreBatch *batch)
{
	StoreChange *changes = batch->changes;
	int          nchanges = batch->nchanges;
	bool         clear_first = batch->clear_first;
	uint64       new_groups = 0;
	int          i;

	Assert(store_am_worker() && LWLockHeldByMeInMode(&v->lock, LW_SHARED));

	Assert(!DsaPointerIsValid(prepared_buckets));

	/* Before allocating anything, so that the error leaks nothing. */
	for (i = 0; i < nchanges; i++)
		if (MAXALIGN(changes[i].new_tuple->t_len) > STORE_MAX_GROUP_SIZE)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a group of a continuous view needs %u bytes, more than the limit of %zu",
							changes[i].new_tuple->t_len, STORE_MAX_GROUP_SIZE)));

	for (i = 0; i < nchanges; i++)
	{
		StoreChange *c = &changes[i];
		Size         need = group_chunk_size(c->new_tuple);

		c->new_group = InvalidDsaPointer;
		if (DsaPointerIsValid(c->old_group))
		{
			SharedGroup *g = dsa_get_address(store_dsa, c->old_group);

			if (g->capacity >= MAXALIGN(c->new_tuple->t_len))
				continue;
		}
		else
			new_groups++;
		c->new_group = dsa_allocate_extended(store_dsa, need, DSA_ALLOC_NO_OOM);
		if (!DsaPointerIsValid(c->new_group))
			goto fail;
	}

	if (clear_first || v->nbuckets == 0 || v->ngroups + new_groups > v->nbuckets)
	{
		uint32 n = clear_first ? STORE_INITIAL_BUCKETS : Max(v->nbuckets, STORE_INITIAL_BUCKETS);
		uint64 groups = clear_first ? new_groups : v->ngroups + new_groups;

		while (groups > n)
			n *= 2;
		if (clear_first || n != v->nbuckets)
		{
			prepared_buckets = dsa_allocate_extended(store_dsa, sizeof(dsa_pointer) * n,
													 DSA_ALLOC_NO_OOM | DSA_ALLOC_HUGE);
			if (!DsaPointerIsValid(prepared_buckets))
				goto fail;
			prepared_nbuckets = n;
		}
	}
	return true;

fail:
	for (int j = 0; j <= i && j < nchanges; j++)
	{
		if (DsaPointerIsValid(changes[j].new_group))
			dsa_free(store_dsa, changes[j].new_group);
		changes[j].new_group = InvalidDsaPointer;
	}
	discard_new_blobs(batch);
	return false;
}

static void
link_group(dsa_pointer *buckets, uint32 nbuckets, dsa_pointer dp, SharedGroup *g)
{
	uint32 b = g->hash % nbuckets;

	g->next = buckets[b];
	buckets[b] = dp;
}

/* Under the view's exclusive lock. */
static void
advance_watermark(SharedView *v, TimestampTz t)
{
	if (!v->windows.has_watermark || t > v->windows.watermark)
		v->windows.watermark = t;
	v->windows.has_watermark = true;
}

/*
 * Publishes a prepared batch under the view's exclusive lock.  Cannot fail;
 * returns false only when the view was dropped meanwhile, after giving the
 * prepared chunks back.
 */
bool
store_publish_changes(SharedView *v, StoreBatch *batch)
{
	StoreChange *changes = batch->changes;
	int          nchanges = batch->nchanges;
	dsa_pointer *buckets;

	Assert(store_am_worker() && !LWLockHeldByMe(&v->lock));

	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	if (v->dropped)
	{
		LWLockRelease(&v->lock);
		for (int i = 0; i < nchanges; i++)
			if (DsaPointerIsValid(changes[i].new_group))
				dsa_free(store_dsa, changes[i].new_group);
		discard_new_blobs(batch);
		if (DsaPointerIsValid(prepared_buckets))
			dsa_free(store_dsa, prepared_buckets);
		prepared_buckets = InvalidDsaPointer;
		prepared_nbuckets = 0;
		return false;
	}
	if (batch->clear_first)
		free_groups(v); /* TRUNCATE of the source, or a new backfill */
	else
		for (int i = 0; i < batch->nold_blobs; i++)
			free_blob(v, batch->old_blobs[i]);
	for (int i = 0; i < batch->nnew_blobs; i++)
		link_blob(v, batch->new_blobs[i]);

	if (DsaPointerIsValid(prepared_buckets))
	{
		dsa_pointer *fresh = dsa_get_address(store_dsa, prepared_buckets);

		for (uint32 b = 0; b < prepared_nbuckets; b++)
			fresh[b] = InvalidDsaPointer;
		if (DsaPointerIsValid(v->buckets))
		{
			buckets = dsa_get_address(store_dsa, v->buckets);
			for (uint32 b = 0; b < v->nbuckets; b++)
			{
				dsa_pointer dp = buckets[b];

				while (DsaPointerIsValid(dp))
				{
					SharedGroup *g = dsa_get_address(store_dsa, dp);
					dsa_pointer  next = g->next;

					link_group(fresh, prepared_nbuckets, dp, g);
					dp = next;
				}
			}
			dsa_free(store_dsa, v->buckets);
			v->memory_bytes -= sizeof(dsa_pointer) * v->nbuckets;
		}
		v->buckets = prepared_buckets;
		v->nbuckets = prepared_nbuckets;
		v->memory_bytes += sizeof(dsa_pointer) * prepared_nbuckets;
		prepared_buckets = InvalidDsaPointer;
		prepared_nbuckets = 0;
	}
	buckets = dsa_get_address(store_dsa, v->buckets);

	for (int i = 0; i < nchanges; i++)
	{
		StoreChange *c = &changes[i];
		SharedGroup *g;

		if (!DsaPointerIsValid(c->new_group))
		{
			/* Rewrite in place: the old chunk is large enough. */
			g = dsa_get_address(store_dsa, c->old_group);
			memcpy(SHARED_GROUP_TUPLE(g), c->new_tuple, c->new_tuple->t_len);
			g->dirty = true;
			v->nempty += (int) c->empty - (int) g->empty;
			g->empty = c->empty;
			c->result = c->old_group;
			continue;
		}

		g = dsa_get_address(store_dsa, c->new_group);
		g->hash = c->hash;
		g->has_window = c->has_window;
		g->window_start = c->window_start;
		g->capacity = MAXALIGN(c->new_tuple->t_len);
		g->dirty = !batch->from_checkpoint;
		g->empty = c->empty;
		v->nempty += c->empty;
		memcpy(SHARED_GROUP_TUPLE(g), c->new_tuple, c->new_tuple->t_len);
		v->memory_bytes += group_chunk_size(c->new_tuple);
		c->result = c->new_group;

		if (DsaPointerIsValid(c->old_group))
		{
			/* Replace the old chunk in its chain. */
			SharedGroup *old = dsa_get_address(store_dsa, c->old_group);
			dsa_pointer *link = &buckets[old->hash % v->nbuckets];

			g->group_id = old->group_id;
			while (*link != c->old_group)
				link = &((SharedGroup *) dsa_get_address(store_dsa, *link))->next;
			g->next = old->next;
			*link = c->new_group;
			v->memory_bytes -= SHARED_GROUP_HEADER_SIZE + old->capacity;
			v->nempty -= old->empty;
			dsa_free(store_dsa, c->old_group);
		}
		else
		{
			g->group_id = c->group_id != 0 ? c->group_id : ++v->next_group_id;
			link_group(buckets, v->nbuckets, c->new_group, g);
			v->ngroups++;
		}
	}

	if (batch->applied_lsn > v->applied_lsn)
		v->applied_lsn = batch->applied_lsn;
	if (batch->commit_time != 0)
		v->applied_commit_time = batch->commit_time;
	v->events_applied += batch->events;
	v->windows.late_changes += batch->late_changes;
	if (batch->has_watermark)
		advance_watermark(v, batch->watermark);
	if (batch->ready && v->state == VIEW_INITIALIZING)
		v->state = VIEW_READY;
	LWLockRelease(&v->lock);
	return true;
}

/* A reader's private copy of a group's row. */
static MinimalTuple
copy_group_tuple(SharedGroup *g)
{
	MinimalTuple src = SHARED_GROUP_TUPLE(g);
	MinimalTuple copy = palloc(src->t_len);

	memcpy(copy, src, src->t_len);
	return copy;
}

/*
 * Copies a view's groups into the current memory context, holding the
 * view's lock shared only while copying: all of them, or with hashes given
 * only those whose key hashes to one of them (distinct hashes: a superset of
 * the groups with those keys, which the caller picks out).  Groups of
 * windows being closed are left out when the caller sees (visible) the
 * transaction that put them in the history table.
 */
void
store_view_snapshot(Oid dboid, int32 view_id, const uint32 *hashes, int nhashes,
					StoreSnapshot *snap, StoreXidVisible visible)
{
	StoreDb    *db;
	SharedView *v = NULL;
	bool        skip_closed;
	int64       closed_before = 0;

	memset(snap, 0, sizeof(StoreSnapshot));
	snap->taken = true;
	store_area();
	LWLockAcquire(store_control->lock, LW_SHARED);
	db = store_find_db_locked(dboid);
	if (db)
		v = find_view_locked(db, view_id, NULL, NULL);
	if (v == NULL)
	{
		LWLockRelease(store_control->lock);
		return;
	}
	LWLockAcquire(&v->lock, LW_SHARED);
	LWLockRelease(store_control->lock);

	snap->found = true;
	snap->state = v->state;
	snap->stale = v->stale;
	memcpy(snap->stale_reason, v->stale_reason, STORE_MESSAGE_LEN);
	memcpy(snap->error, v->error, STORE_MESSAGE_LEN);
	snap->backfill_rows_scanned = v->backfill_rows_scanned;
	snap->backfill_rows_estimated = v->backfill_rows_estimated;
	if (v->state != VIEW_READY)
	{
		LWLockRelease(&v->lock);
		return;
	}
	skip_closed = TransactionIdIsValid(v->closing_xid) && visible(v->closing_xid);
	if (skip_closed)
		closed_before = v->closing_before;
#define CLOSED(g) (skip_closed && (g)->has_window && (g)->window_start <= closed_before)
	if (hashes != NULL)
	{
		/* The groups with these hashes: in one bucket's chain each. */
		int room = 4;

		snap->tuples = palloc(sizeof(MinimalTuple) * room);
		for (int h = 0; h < nhashes; h++)
		{
			dsa_pointer  dp;
			SharedGroup *g;

			for (g = store_group_first(v, hashes[h], &dp); g != NULL;
				 g = store_group_next(g, hashes[h], &dp))
			{
				if (g->empty || CLOSED(g))
					continue;
				if (snap->ngroups == room)
				{
					room *= 2;
					snap->tuples = repalloc(snap->tuples, sizeof(MinimalTuple) * room);
				}
				snap->tuples[snap->ngroups++] = copy_group_tuple(g);
			}
		}
	}
	else
	{
		snap->tuples = palloc(sizeof(MinimalTuple) * Max(v->ngroups, 1));
		if (DsaPointerIsValid(v->buckets))
		{
			dsa_pointer *buckets = dsa_get_address(store_dsa, v->buckets);

			for (uint32 b = 0; b < v->nbuckets; b++)
			{
				for (dsa_pointer dp = buckets[b]; DsaPointerIsValid(dp);)
				{
					SharedGroup *g = dsa_get_address(store_dsa, dp);

					if (!g->empty && !CLOSED(g))
						snap->tuples[snap->ngroups++] = copy_group_tuple(g);
					dp = g->next;
				}
			}
		}
	}
#undef CLOSED
	LWLockRelease(&v->lock);
}

/*
 * The number of distinct windows among a view's groups, less those being
 * closed with skip_closing.  View lock held.
 */
static uint64
count_windows(SharedView *v, bool skip_closing)
{
	HTAB        *seen;
	HASHCTL      ctl;
	dsa_pointer *buckets;
	uint64       n;

	if (!DsaPointerIsValid(v->buckets))
		return 0;
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("continuous windows", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	buckets = dsa_get_address(store_dsa, v->buckets);
	for (uint32 b = 0; b < v->nbuckets; b++)
		for (dsa_pointer dp = buckets[b]; DsaPointerIsValid(dp);)
		{
			SharedGroup *g = dsa_get_address(store_dsa, dp);

			if (g->has_window && !g->empty && !(skip_closing && g->window_start <= v->closing_before))
				(void) hash_search(seen, &g->window_start, HASH_ENTER, NULL);
			dp = g->next;
		}
	n = hash_get_num_entries(seen);
	hash_destroy(seen);
	return n;
}

/*
 * The groups of windows that start at or before "before" (worker, to close
 * them): their group ids into *group_ids (palloc'd; empty groups too, which
 * the checkpoint may hold), the number of distinct windows among the
 * non-empty ones into *nwindows, and the least window start of the other
 * groups into *next_start (PG_INT64_MAX if none).  Returns the number of
 * groups.
 */
int
store_view_windows_before(SharedView *v, int64 before, int64 **group_ids, uint64 *nwindows,
						  int64 *next_start)
{
	dsa_pointer *buckets;
	int          n = 0;
	int          room = 64;
	HTAB        *seen;
	HASHCTL      ctl;

	Assert(store_am_worker());
	*group_ids = palloc(sizeof(int64) * room);
	*nwindows = 0;
	*next_start = PG_INT64_MAX;
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("continuous closing windows", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	LWLockAcquire(&v->lock, LW_SHARED);
	buckets = DsaPointerIsValid(v->buckets) ? dsa_get_address(store_dsa, v->buckets) : NULL;
	for (uint32 b = 0; buckets && b < v->nbuckets; b++)
		for (dsa_pointer dp = buckets[b]; DsaPointerIsValid(dp);)
		{
			SharedGroup *g = dsa_get_address(store_dsa, dp);

			dp = g->next;
			if (!g->has_window)
				continue;
			if (g->window_start > before)
			{
				if (!g->empty)
					*next_start = Min(*next_start, g->window_start);
				continue;
			}
			if (n == room)
			{
				room *= 2;
				*group_ids = repalloc(*group_ids, sizeof(int64) * room);
			}
			(*group_ids)[n++] = g->group_id;
			if (!g->empty)
				(void) hash_search(seen, &g->window_start, HASH_ENTER, NULL);
		}
	LWLockRelease(&v->lock);
	*nwindows = hash_get_num_entries(seen);
	hash_destroy(seen);
	return n;
}

/*
 * Marks the windows that start at or before "before" as moved into the
 * history table by transaction xid (worker, in that transaction): they are
 * closed (closed_before) at once; the other figures of the close are the
 * worker's to set once xid commits.
 */
void
store_view_mark_closing(SharedView *v, TransactionId xid, int64 before)
{
	Assert(store_am_worker() && !TransactionIdIsValid(v->closing_xid));
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	v->closing_xid = xid;
	v->closing_before = before;
	v->undo_any_closed = v->windows.any_closed;
	v->undo_closed_before = v->windows.closed_before;
	v->windows.any_closed = true;
	v->windows.closed_before = before;
	LWLockRelease(&v->lock);
}

/*
 * Removes from groups (worker: its dirty groups) those of windows that start
 * at or before "before", which are closed: returns how many are left.
 */
int
store_view_drop_closed(SharedView *v, dsa_pointer *groups, int ngroups, int64 before)
{
	int n = 0;

	Assert(store_am_worker());
	LWLockAcquire(&v->lock, LW_SHARED);
	for (int i = 0; i < ngroups; i++)
	{
		SharedGroup *g = dsa_get_address(store_dsa, groups[i]);

		if (!(g->has_window && g->window_start <= before))
			groups[n++] = groups[i];
	}
	LWLockRelease(&v->lock);
	return n;
}

/* Sets the figures of closing windows (worker). */
void
store_view_set_windows(SharedView *v, const StoreWindows *windows)
{
	Assert(store_am_worker());
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	v->windows = *windows;
	LWLockRelease(&v->lock);
}

/* Moves the view's watermark to t, if later; the worker's. */
void
store_view_advance_watermark(SharedView *v, TimestampTz t)
{
	Assert(store_am_worker());
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	advance_watermark(v, t);
	LWLockRelease(&v->lock);
}

/* Forgets a mark whose transaction did not commit: the windows stay open. */
void
store_view_unmark_closing(SharedView *v)
{
	Assert(store_am_worker());
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	v->closing_xid = InvalidTransactionId;
	v->windows.any_closed = v->undo_any_closed;
	v->windows.closed_before = v->undo_closed_before;
	LWLockRelease(&v->lock);
}

/*
 * Frees the groups of the windows a committed transaction moved into the
 * history table (worker, once no snapshot can still need them), and the
 * blobs each names: blobs_of, if not NULL, gives them for a group's row.
 */
void
store_view_free_closed(SharedView *v, StoreBlobsOf blobs_of, void *arg)
{
	dsa_pointer *buckets;

	Assert(store_am_worker());
	LWLockAcquire(&v->lock, LW_EXCLUSIVE);
	buckets = DsaPointerIsValid(v->buckets) ? dsa_get_address(store_dsa, v->buckets) : NULL;
	for (uint32 b = 0; buckets && b < v->nbuckets; b++)
	{
		dsa_pointer *link = &buckets[b];

		while (DsaPointerIsValid(*link))
		{
			dsa_pointer  dp = *link;
			SharedGroup *g = dsa_get_address(store_dsa, dp);

			if (g->has_window && g->window_start <= v->closing_before)
			{
				if (blobs_of)
				{
					int          n;
					dsa_pointer *blobs = blobs_of(SHARED_GROUP_TUPLE(g), arg, &n);

					for (int i = 0; i < n; i++)
						free_blob(v, blobs[i]);
				}
				*link = g->next;
				v->ngroups--;
				v->nempty -= g->empty;
				v->memory_bytes -= SHARED_GROUP_HEADER_SIZE + g->capacity;
				dsa_free(store_dsa, dp);
			}
			else
				link = &g->next;
		}
	}
	v->closing_xid = InvalidTransactionId;
	LWLockRelease(&v->lock);
	store_note_room_made();
}

/*
 * Status of every view of a database, as a List of StoreViewStatus.  The
 * windows being closed count as open until the caller sees (visible) the
 * transaction that closes them, as in store_view_snapshot; without visible
 * the windows are not counted.
 */
List *
store_view_statuses(Oid dboid, StoreXidVisible visible)
{
	List       *result = NIL;
	StoreDb    *db;
	dsa_pointer dp;

	store_area();
	LWLockAcquire(store_control->lock, LW_SHARED);
	db = store_find_db_locked(dboid);
	for (dp = db ? db->views : InvalidDsaPointer; DsaPointerIsValid(dp);)
	{
		SharedView      *v = dsa_get_address(store_dsa, dp);
		StoreViewStatus *s = palloc0(sizeof(StoreViewStatus));

		LWLockAcquire(&v->lock, LW_SHARED);
		s->view_id = v->view_id;
		s->ngroups = v->ngroups - v->nempty;
		s->memory_bytes = v->memory_bytes;
		s->applied_lsn = v->applied_lsn;
		s->applied_commit_time = v->applied_commit_time;
		s->events_applied = v->events_applied;
		s->state = v->state;
		s->stale = v->stale;
		memcpy(s->stale_reason, v->stale_reason, STORE_MESSAGE_LEN);
		memcpy(s->error, v->error, STORE_MESSAGE_LEN);
		s->backfill_rows_scanned = v->backfill_rows_scanned;
		s->backfill_rows_estimated = v->backfill_rows_estimated;
		s->events_lost_from = v->events_lost_from;
		s->events_lost_to = v->events_lost_to;
		s->closes = v->closes;
		s->windows = v->windows;
		if (v->closes && visible)
			s->open_windows = count_windows(v, TransactionIdIsValid(v->closing_xid) && visible(v->closing_xid));
		LWLockRelease(&v->lock);
		result = lappend(result, s);
		dp = v->next;
	}
	LWLockRelease(store_control->lock);
	return result;
}

uint64
store_db_memory_used(Oid dboid)
{
	List     *statuses = store_view_statuses(dboid, NULL);
	ListCell *lc;
	uint64    total = 0;

	foreach(lc, statuses)
		total += ((StoreViewStatus *) lfirst(lc))->memory_bytes;
	return total;
}
