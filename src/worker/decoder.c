/*-------------------------------------------------------------------------
 * decoder.c
 *	  The extension's logical decoding output plugin, run only inside the
 *	  database's worker (worker.c decodes in-process): its callbacks hand
 *	  every committed change to the module that deals with it.
 *
 *	begin		apply.c starts the transaction (views that merged it already
 *				skip it)
 *	change		an insert into or a delete from continuous.view_catalog
 *				registers or unregisters a view (registry.c), unless it came
 *				through logical replication (another database's catalog); a
 *				row of a source table goes to the views that read it
 *				(apply.c), wherever it came from; a row of a restored
 *				checkpoint goes to restore.c
 *	truncate	apply.c empties the views of a truncated source
 *	message		stream events (stream.c's format) go to the views of the
 *				stream; the drop message of DROP EXTENSION is noted
 *	commit		the views record the transaction's end; restored
 *				checkpoint rows are loaded (restore.c); every
 *				continuous.apply_batch_events rows, the deltas are merged
 *				(merge.c), always at a transaction boundary
 *
 * Nothing here writes output: the plugin's product is the views' state.
 * The worker's own checkpoints carry a replication origin and are never
 * decoded (filter_by_origin).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "base/catalog.h"
#include "base/continuous.h"
#include "base/guc.h"
#include "stream/stream.h"
#include "worker/apply.h"
#include "worker/decoder.h"
#include "worker/merge.h"
#include "worker/registry.h"
#include "worker/restore.h"

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static TimestampTz last_commit_time = 0;
static bool        drop_requested = false;

static void
continuous_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	if (!registry_is_worker())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_continuous cannot be used as an output plugin by clients"),
				 errdetail("It is used only by the pg_continuous worker.")));
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
}

static void
continuous_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	apply_begin_transaction(txn->end_lsn, txn->xact_time.commit_time);
}

/* A view created (catalog insert) or dropped (catalog delete). */
static void
handle_catalog_change(Relation relation, ReorderBufferChange *change)
{
	TupleDesc desc = RelationGetDescr(relation);

	if (change->action == REORDER_BUFFER_CHANGE_INSERT && change->data.tp.newtuple)
	{
		CatalogRow row;

		catalog_row_from_tuple(desc, &change->data.tp.newtuple->tuple, &row);
		(void) registry_register_view(&row);
	}
	else if (change->action == REORDER_BUFFER_CHANGE_DELETE && change->data.tp.oldtuple)
		registry_unregister_view(catalog_id_from_tuple(desc, &change->data.tp.oldtuple->tuple));
}

static void
continuous_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  Relation relation, ReorderBufferChange *change)
{
	List *targets;

	if (RelationGetRelid(relation) == registry_catalog_relid())
	{
		/* Rows another database's worker wrote, come through replication. */
		if (txn->origin_id == InvalidRepOriginId)
			handle_catalog_change(relation, change);
		return;
	}
	targets = registry_targets(relation);
	if (targets == NIL)
	{
		/* A dump's checkpoint being restored (restore.c). */
		if (RelationGetRelid(relation) == restore_relation_oid() &&
			change->action == REORDER_BUFFER_CHANGE_INSERT && change->data.tp.newtuple &&
			txn->origin_id == InvalidRepOriginId)
			restore_collect(RelationGetDescr(relation), &change->data.tp.newtuple->tuple);
		return;
	}

	apply_set_position(change->lsn);
	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (change->data.tp.newtuple)
			{
				/* Functions that are not inlined (PL/pgSQL, say) need a snapshot. */
				PushActiveSnapshot(GetTransactionSnapshot());
				apply_to_targets(targets, &change->data.tp.newtuple->tuple, 1);
				PopActiveSnapshot();
			}
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
		case REORDER_BUFFER_CHANGE_DELETE:
			apply_update_or_delete(targets, relation,
								   change->action == REORDER_BUFFER_CHANGE_UPDATE,
								   change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : NULL,
								   change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : NULL,
								   change->lsn);
			break;
		default:
			break;
	}
}

static void
continuous_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					int nrelations, Relation relations[], ReorderBufferChange *change)
{
	apply_truncate(nrelations, relations, change->lsn);
}

static void
apply_stream_event(Oid streamrelid, HeapTuple tuple, void *arg)
{
	apply_to_targets((List *) arg, tuple, 1);
}

static void
continuous_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   XLogRecPtr message_lsn, bool transactional,
				   const char *prefix, Size message_size, const char *message)
{
	if (!transactional)
		return;
	if (strcmp(prefix, CONTINUOUS_EVENTS_PREFIX) == 0)
	{
		Oid      relid = stream_message_relid(message, message_size);
		Relation relation;
		List    *targets;

		relation = RelationIdGetRelation(relid);
		if (!RelationIsValid(relation))
			return; /* the stream was dropped later in this transaction */
		targets = registry_targets(relation);
		RelationClose(relation);
		if (targets != NIL)
		{
			apply_set_position(message_lsn);
			PushActiveSnapshot(GetTransactionSnapshot());
			stream_decode_message(message, message_size, apply_stream_event, targets);
			PopActiveSnapshot();
		}
	}
	else if (strcmp(prefix, CONTINUOUS_DROP_PREFIX) == 0)
		drop_requested = true;
}

static void
continuous_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	last_commit_time = txn->xact_time.commit_time;
	apply_commit(txn->end_lsn, txn->xact_time.commit_time);
	restore_at_commit(txn->end_lsn);
	if (apply_pending_events() >= (uint64) continuous_apply_batch_events)
		(void) merge_all();
}

/* The worker's own checkpoints carry this origin: never decode them. */
static bool
continuous_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return origin_id == DoNotReplicateId;
}

/* Was DROP EXTENSION pg_continuous decoded? */
bool
decoder_drop_requested(void)
{
	return drop_requested;
}

/* Commit time of the last transaction decoded. */
TimestampTz
decoder_last_commit_time(void)
{
	return last_commit_time;
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->filter_by_origin_cb = continuous_filter_by_origin;
	cb->startup_cb = continuous_startup;
	cb->begin_cb = continuous_begin;
	cb->change_cb = continuous_change;
	cb->truncate_cb = continuous_truncate;
	cb->commit_cb = continuous_commit;
	cb->message_cb = continuous_message;
}
