/*-------------------------------------------------------------------------
 * restore.c
 *	  Checkpoints restored from a dump, loaded into the views over streams
 *	  they belong to.
 *
 * A dump keeps a view over a stream in two parts.  Its body (a read of
 * its view key, with its definition) makes it a continuous view again when
 * restored, empty (api/ddl.c).  The rows of its last checkpoint are kept
 * because continuous.checkpoint_group is an extension configuration table
 * (filtered to views over streams: views over tables are backfilled).
 * Restoring those rows does not touch the restored database's own
 * checkpoint: a trigger diverts them into continuous.restored_group, with
 * the view key of the view they belong to.  The worker loads them:
 *
 *	- when it decodes their insert: at that transaction's commit, after
 *	  merging every change decoded before it;
 *	- at start, before decoding, for rows committed while it had no slot
 *	  (a restore creates its views before any slot exists).
 *
 * A view takes them only when it is over a stream, maintained, and empty
 * (no group, no event applied): it then holds the dump's counts and adds
 * the events committed since.  A view that counted events before the rows
 * arrived is marked stale instead, saying so.  Either way the next
 * checkpoint deletes the rows in the transaction that writes the loaded
 * groups and records the load in continuous.checkpoint_view.restored_at,
 * so that after a crash the rows are there again exactly when the load
 * is not, and the load is decided again at the same point of the WAL.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "base/continuous.h"
#include "base/security.h"
#include "worker/checkpoint.h"
#include "worker/merge.h"
#include "worker/registry.h"
#include "worker/restore.h"

#define RESTORED_GROUP_TABLE "restored_group"

/* The rows of one view key, collected from one transaction or at start. */
typedef struct RestoredRows
{
	pg_uuid_t view_key;
	List     *states; /* bytea, as checkpoint_group holds them */
} RestoredRows;

static Oid           restored_relid = InvalidOid;
static MemoryContext restore_cxt = NULL;
static List         *collected = NIL; /* RestoredRows, in restore_cxt */

/* Looks up continuous.restored_group; inside a transaction. */
void
restore_init(void)
{
	Oid nsp = get_namespace_oid(CONTINUOUS_SCHEMA_NAME, true);

	restored_relid = OidIsValid(nsp) ? get_relname_relid(RESTORED_GROUP_TABLE, nsp) : InvalidOid;
	if (restore_cxt == NULL)
		restore_cxt = AllocSetContextCreate(TopMemoryContext, "continuous restore",
											ALLOCSET_SMALL_SIZES);
}

Oid
restore_relation_oid(void)
{
	return restored_relid;
}

static void
add_row(const pg_uuid_t *view_key, Datum state)
{
	MemoryContext old = MemoryContextSwitchTo(restore_cxt);
	RestoredRows *rows = NULL;
	ListCell     *lc;

	foreach(lc, collected)
	{
		RestoredRows *r = lfirst(lc);

		if (memcmp(r->view_key.data, view_key->data, UUID_LEN) == 0)
			rows = r;
	}
	if (rows == NULL)
	{
		rows = palloc0(sizeof(RestoredRows));
		rows->view_key = *view_key;
		collected = lappend(collected, rows);
	}
	rows->states = lappend(rows->states, PG_DETOAST_DATUM_COPY(state));
	MemoryContextSwitchTo(old);
}

/* A decoded insert into continuous.restored_group. */
void
restore_collect(TupleDesc desc, HeapTuple tuple)
{
	bool  keynull;
	bool  statenull;
	Datum key = heap_getattr(tuple, 1, desc, &keynull);
	Datum state = heap_getattr(tuple, 2, desc, &statenull);

	if (!keynull && !statenull)
		add_row(DatumGetUUIDP(key), state);
}

/*
 * Offers the rows of one key to the view that has it.  lsn: the end of the
 * transaction that inserted them, or invalid at start.
 */
static void
offer(RestoredRows *rows, XLogRecPtr lsn, bool merged)
{
	ApplyView  *av = registry_find_view_by_key(&rows->view_key);
	const char *refusal = NULL;

	/* No view has the key (yet): the rows wait; a checkpoint deletes them once none can. */
	if (av == NULL || av->disabled || av->cv == NULL || av->shared == NULL)
		return;
	if (lsn != InvalidXLogRecPtr && av->skip_until >= lsn)
		return; /* the view's checkpoint reflects this transaction */
	if (av->state_restored || av->shared->state_restored || av->is_table)
		; /* loaded already (by this worker or one before it); views over tables are backfilled */
	else if (!merged)
		refusal = "shared memory for continuous views was full";
	else if (av->shared->ngroups > 0 || av->shared->events_applied > 0)
		refusal = "the view had counted events before the restored rows arrived";
	else if (!checkpoint_load_restored(av, rows->states))
		refusal = "its rows do not fit in shared memory, or do not match the view's definition";
	else
	{
		av->state_restored = true;
		av->shared->state_restored = true;
		ereport(LOG,
				(errmsg("pg_continuous: continuous view \"%s\" holds the checkpoint restored with it (%d groups)",
						av->name, list_length(rows->states))));
	}
	if (refusal)
	{
		store_view_mark_stale(av->shared,
							  psprintf("the checkpoint restored with the view was not loaded: %s", refusal));
		ereport(LOG,
				(errmsg("pg_continuous: the checkpoint restored with continuous view \"%s\" was not loaded", av->name),
				 errdetail("%s", refusal)));
	}
	av->restore_consumed = true;
	registry_want_checkpoint();
}

static void
offer_collected(XLogRecPtr lsn, bool merged)
{
	ListCell *lc;

	foreach(lc, collected)
		offer(lfirst(lc), lsn, merged);
	collected = NIL;
	MemoryContextReset(restore_cxt);
}

/* The commit of a decoded transaction that inserted restored rows. */
void
restore_at_commit(XLogRecPtr end_lsn)
{
	if (collected == NIL)
		return;
	offer_collected(end_lsn, merge_all());
}

/*
 * At start, before decoding: the restored rows already committed.  Inside a
 * transaction with an active snapshot.
 */
void
restore_staged(void)
{
	int nest_level;

	Assert(registry_is_worker() && IsTransactionState() && ActiveSnapshotSet());
	if (!OidIsValid(restored_relid))
		return;
	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute("SELECT view_key, state FROM continuous." RESTORED_GROUP_TABLE, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous." RESTORED_GROUP_TABLE);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool  isnull;
		Datum key = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		Datum state = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		add_row(DatumGetUUIDP(key), state);
	}
	security_unpin_search_path(nest_level);
	SPI_finish();
	offer_collected(InvalidXLogRecPtr, true);
}
