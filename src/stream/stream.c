/*-------------------------------------------------------------------------
 * stream.c
 *	  Streams: foreign tables whose inserted rows become transactional
 *	  logical WAL messages instead of heap tuples.
 *
 * A stream is a foreign table of the server CONTINUOUS_STREAM_SERVER, whose
 * foreign-data wrapper handler is continuous_stream_fdw_handler().  The
 * wrapper implements only the insert path (INSERT in all its forms, COPY
 * FROM, tuple routing into a stream partition); every way of reading a
 * stream, and UPDATE and DELETE, fails at plan time with an error that says
 * what to do instead; TRUNCATE fails when it runs.
 *
 * Vocabulary:
 *
 *	event	One row inserted into a stream.
 *	message	A transactional logical decoding message (LogLogicalMessage) with
 *			prefix CONTINUOUS_EVENTS_PREFIX that carries a batch of events of
 *			one stream, in insertion order.
 *	insert state
 *			Per result relation state of one INSERT or COPY statement: the
 *			message being built.  It lives in the executor's query memory
 *			context and is hung off ResultRelInfo->ri_FdwState.
 *
 * Events of one statement accumulate in the insert state's buffer.  Before an
 * event would push the buffer past STREAM_MESSAGE_TARGET_SIZE the buffer is
 * written as one message and restarted, and what remains is written when the
 * statement ends (EndForeignModify / EndForeignInsert).  So a message holds
 * at most STREAM_MESSAGE_TARGET_SIZE bytes unless a single event is larger,
 * in which case that event travels alone.  An empty buffer writes nothing, so
 * a statement inserting no rows leaves no trace in WAL and does not even
 * assign a transaction ID.  Since the messages are transactional, logical
 * decoding delivers them at commit, in order with the transaction's other
 * changes, and never for an aborted (sub)transaction.
 *
 * Message format (version 2).  All integers are in native byte order and all
 * offsets are relative to the first byte of the message; the message is only
 * ever read by the server that wrote it, as WAL itself is.
 *
 *	offset 0	StreamMessageHeader: uint8 version (STREAM_MESSAGE_VERSION),
 *				three zero bytes, Oid relid of the stream, uint32 number of
 *				events; zero padded to STREAM_MESSAGE_HEADER_SIZE (MAXALIGN).
 *	then, per event, with no padding:
 *				uint32 length, then `length` bytes: the tuple formed against
 *				the stream's tuple descriptor from its t_infomask2 field on
 *				(STREAM_EVENT_SKIPPED_BYTES fewer than t_len).  The skipped
 *				fields (xmin, xmax, command id, ctid) mean nothing for an
 *				event, and leaving them out, with the padding, makes an event
 *				take about as much WAL as a row COPYed into a table.
 *	The message ends exactly after the last event.
 *
 * Events are self-contained: attributes that are external TOAST pointers
 * (for instance in INSERT ... SELECT from a table with large values) are
 * fetched before the tuple is formed, because a decoder cannot follow them.
 * Inline compressed values stay compressed.
 *
 * The decoder rebuilds each tuple in one MAXALIGNed buffer per message, with
 * the skipped header fields zeroed, so no per-event allocation happens.
 *
 * No shared memory is involved here, hence no locking protocol.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "foreign/fdwapi.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "replication/message.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "base/continuous.h"
#include "stream/stream.h"

/* A message is written once its events would exceed this many bytes. */
#define STREAM_MESSAGE_TARGET_SIZE (64 * 1024)

/* Version byte of the message format documented above. */
#define STREAM_MESSAGE_VERSION 2

/*
 * Version 1 stored each event as a MAXALIGNed uint32 length and the whole
 * tuple, MAXALIGNed.  The worker decodes WAL retained since the slot was
 * created, so it still reads it.
 */
#define STREAM_MESSAGE_VERSION_PADDED 1

typedef struct StreamMessageHeader
{
	uint8  version;
	uint8  reserved[3];
	Oid    relid;
	uint32 nevents;
} StreamMessageHeader;

#define STREAM_MESSAGE_HEADER_SIZE MAXALIGN(sizeof(StreamMessageHeader))
#define STREAM_EVENT_HEADER_SIZE   sizeof(uint32)
#define STREAM_EVENT_SKIPPED_BYTES offsetof(HeapTupleHeaderData, t_infomask2)

/*
 * Per result relation state of an INSERT or COPY into a stream.  Allocated in
 * the executor's query memory context, like everything it points to.
 */
typedef struct StreamInsertState
{
	Relation       rel;             /* the stream */
	StringInfoData buffer;          /* header + events of the pending message */
	uint32         nevents;         /* events in buffer */
	int            nvarlena;        /* varlena attributes of the stream */
	AttrNumber    *varlena_attnums; /* their 0-based attribute indexes */
	Datum         *values;          /* scratch for re-forming a tuple */
	MemoryContext  row_context;     /* reset after each event */
} StreamInsertState;

CONTINUOUS_SQL_FUNCTION(continuous_stream_fdw_handler);

static void stream_refuse_scan(PlannerInfo *root, RelOptInfo *baserel,
							   Oid relid) pg_attribute_noreturn();
static void stream_refuse_read(Oid relid) pg_attribute_noreturn();

/* ------------------------------------------------------------------------
 * Refusing to read
 * ------------------------------------------------------------------------
 */

static void
stream_refuse_read(Oid relid)
{
	ereport(ERROR,
			errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			errmsg("cannot read from stream \"%s\"", get_rel_name(relid)),
			errdetail("Streams do not store events; continuous views aggregate them as they arrive."),
			errhint("Create a continuous view with continuous.create_view() and select from it."));
}

/*
 * The planner is about to scan a stream.  Say why that cannot work, naming
 * UPDATE or DELETE when the stream is their target (directly or as a child of
 * an inheritance tree), and reading otherwise.
 */
static void
stream_refuse_scan(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	Query *parse = root->parse;
	bool   is_target;

	is_target = (parse->resultRelation != 0 &&
				 parse->resultRelation == baserel->relid) ||
				bms_is_member(baserel->relid, root->all_result_relids);

	if (is_target && parse->commandType == CMD_UPDATE)
		ereport(ERROR,
				errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				errmsg("cannot update stream \"%s\"", get_rel_name(relid)),
				errdetail("Streams do not store rows."),
				errhint("Streams accept only INSERT and COPY FROM."));
	if (is_target && parse->commandType == CMD_DELETE)
		ereport(ERROR,
				errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				errmsg("cannot delete from stream \"%s\"", get_rel_name(relid)),
				errdetail("Streams do not store rows."),
				errhint("Streams accept only INSERT and COPY FROM."));
	stream_refuse_read(relid);
}

/* TRUNCATE: nothing to empty. */
static void
stream_truncate(List *rels, DropBehavior behavior, bool restart_seqs)
{
	ereport(ERROR,
			errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			errmsg("cannot truncate stream \"%s\"", RelationGetRelationName((Relation) linitial(rels))),
			errdetail("Streams do not store rows."),
			errhint("To start the continuous views over a stream afresh, drop them and create them again."));
}

static void
stream_get_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	stream_refuse_scan(root, baserel, foreigntableid);
}

/*
 * The remaining scan callbacks are unreachable because planning a scan fails
 * in stream_get_rel_size(); they refuse as well rather than trust that.
 */
static void
stream_get_paths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	stream_refuse_scan(root, baserel, foreigntableid);
}

static ForeignScan *
stream_get_plan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				ForeignPath *best_path, List *tlist, List *scan_clauses,
				Plan *outer_plan)
{
	stream_refuse_scan(root, baserel, foreigntableid);
}

static void
stream_begin_scan(ForeignScanState *node, int eflags)
{
	stream_refuse_read(RelationGetRelid(node->ss.ss_currentRelation));
}

static TupleTableSlot *
stream_iterate_scan(ForeignScanState *node)
{
	stream_refuse_read(RelationGetRelid(node->ss.ss_currentRelation));
}

static void
stream_rescan(ForeignScanState *node)
{
	stream_refuse_read(RelationGetRelid(node->ss.ss_currentRelation));
}

static void
stream_end_scan(ForeignScanState *node)
{
	/* Nothing was begun. */
}

/* ------------------------------------------------------------------------
 * Inserting
 * ------------------------------------------------------------------------
 */

static int
stream_is_updatable(Relation rel)
{
	return (1 << CMD_INSERT);
}

static List *
stream_plan_modify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
				   int subplan_index)
{
	return NIL;
}

/* Starts an empty message: the header, with the event count still zero. */
static void
stream_buffer_restart(StreamInsertState *state)
{
	StreamMessageHeader header;

	memset(&header, 0, sizeof(header));
	header.version = STREAM_MESSAGE_VERSION;
	header.relid = RelationGetRelid(state->rel);

	resetStringInfo(&state->buffer);
	enlargeStringInfo(&state->buffer, STREAM_MESSAGE_HEADER_SIZE);
	memset(state->buffer.data, 0, STREAM_MESSAGE_HEADER_SIZE);
	memcpy(state->buffer.data, &header, sizeof(header));
	state->buffer.len = STREAM_MESSAGE_HEADER_SIZE;
	state->buffer.data[state->buffer.len] = '\0';
	state->nevents = 0;
}

/* Writes the pending events, if any, as one message and starts a new one. */
static void
stream_buffer_flush(StreamInsertState *state)
{
	if (state->nevents == 0)
		return;

	memcpy(state->buffer.data + offsetof(StreamMessageHeader, nevents),
		   &state->nevents, sizeof(uint32));
	LogLogicalMessage(CONTINUOUS_EVENTS_PREFIX, state->buffer.data,
					  state->buffer.len, true);
	stream_buffer_restart(state);
}

/*
 * Sets up the insert state of a statement inserting into rinfo's stream,
 * allocated in estate's query context.
 */
static StreamInsertState *
stream_insert_state_create(EState *estate, ResultRelInfo *rinfo)
{
	Relation           rel = rinfo->ri_RelationDesc;
	TupleDesc          tupdesc = RelationGetDescr(rel);
	MemoryContext      oldcontext;
	StreamInsertState *state;

	/*
	 * Below wal_level logical nobody could ever decode the events: refuse
	 * rather than accept rows that would silently go nowhere.
	 */
	if (!XLogLogicalInfoActive())
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("cannot insert into stream \"%s\"",
					   RelationGetRelationName(rel)),
				errdetail("Stream events travel through logical decoding, which requires wal_level \"logical\"."),
				errhint("Set wal_level = logical in postgresql.conf and restart the server."));

	oldcontext = MemoryContextSwitchTo(estate->es_query_cxt);

	state = palloc0(sizeof(StreamInsertState));
	state->rel = rel;
	initStringInfo(&state->buffer);
	state->varlena_attnums = palloc(sizeof(AttrNumber) * Max(tupdesc->natts, 1));
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (!attr->attisdropped && attr->attlen == -1)
			state->varlena_attnums[state->nvarlena++] = i;
	}
	state->values = palloc(sizeof(Datum) * Max(tupdesc->natts, 1));
	state->row_context = AllocSetContextCreate(estate->es_query_cxt,
											   "stream insert row",
											   ALLOCSET_DEFAULT_SIZES);
	stream_buffer_restart(state);

	MemoryContextSwitchTo(oldcontext);
	return state;
}

/*
 * Returns the slot's row as a self-contained heap tuple: external TOAST
 * pointers are replaced by the values they point to.  The tuple is allocated
 * in the current memory context or belongs to the slot.
 */
static HeapTuple
stream_event_tuple(StreamInsertState *state, TupleTableSlot *slot)
{
	TupleDesc tupdesc = RelationGetDescr(state->rel);
	HeapTuple tuple;
	bool      should_free;
	bool      found_external = false;

	tuple = ExecFetchSlotHeapTuple(slot, false, &should_free);
	if (!HeapTupleHasExternal(tuple))
		return tuple;

	slot_getallattrs(slot);
	memcpy(state->values, slot->tts_values, sizeof(Datum) * tupdesc->natts);
	for (int i = 0; i < state->nvarlena; i++)
	{
		AttrNumber      attnum = state->varlena_attnums[i];
		struct varlena *value;

		if (slot->tts_isnull[attnum])
			continue;
		value = (struct varlena *) DatumGetPointer(slot->tts_values[attnum]);
		if (VARATT_IS_EXTERNAL(value))
		{
			state->values[attnum] = PointerGetDatum(detoast_external_attr(value));
			found_external = true;
		}
	}

	if (!found_external)
		return tuple;
	if (should_free)
		heap_freetuple(tuple);
	return heap_form_tuple(tupdesc, state->values, slot->tts_isnull);
}

/* Appends one event to the pending message, writing that first if full. */
static void
stream_buffer_append(StreamInsertState *state, HeapTuple tuple)
{
	uint32 length = tuple->t_len - STREAM_EVENT_SKIPPED_BYTES;
	Size   event_size = STREAM_EVENT_HEADER_SIZE + length;
	char  *event;

	if (state->nevents > 0 &&
		state->buffer.len + event_size > STREAM_MESSAGE_TARGET_SIZE)
		stream_buffer_flush(state);

	if (state->buffer.len + event_size >= MaxAllocSize)
		ereport(ERROR,
				errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				errmsg("row is too large for stream \"%s\"",
					   RelationGetRelationName(state->rel)),
				errdetail("The row takes %zu bytes once formed, more than a stream event can hold.",
						  (Size) tuple->t_len));

	enlargeStringInfo(&state->buffer, (int) event_size);
	event = state->buffer.data + state->buffer.len;
	memcpy(event, &length, sizeof(uint32));
	memcpy(event + STREAM_EVENT_HEADER_SIZE,
		   (char *) tuple->t_data + STREAM_EVENT_SKIPPED_BYTES, length);
	state->buffer.len += event_size;
	state->buffer.data[state->buffer.len] = '\0';
	state->nevents++;
}

static void
stream_begin_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					List *fdw_private, int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	rinfo->ri_FdwState = stream_insert_state_create(mtstate->ps.state, rinfo);
}

/* Used by COPY FROM and by tuple routing into a stream partition. */
static void
stream_begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	rinfo->ri_FdwState = stream_insert_state_create(mtstate->ps.state, rinfo);
}

static TupleTableSlot *
stream_exec_insert(EState *estate, ResultRelInfo *rinfo,
				   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	StreamInsertState *state = (StreamInsertState *) rinfo->ri_FdwState;
	MemoryContext      oldcontext;

	/*
	 * PostgreSQL leaves constraints of foreign tables to the wrapper; a
	 * stream has no remote side, so NOT NULL and CHECK are enforced here.
	 */
	if (RelationGetDescr(rinfo->ri_RelationDesc)->constr)
		ExecConstraints(rinfo, slot, estate);

	oldcontext = MemoryContextSwitchTo(state->row_context);
	stream_buffer_append(state, stream_event_tuple(state, slot));
	MemoryContextSwitchTo(oldcontext);
	MemoryContextReset(state->row_context);

	return slot;
}

static void
stream_end_modify(EState *estate, ResultRelInfo *rinfo)
{
	StreamInsertState *state = (StreamInsertState *) rinfo->ri_FdwState;

	if (state == NULL)
		return;
	stream_buffer_flush(state);
}

Datum
continuous_stream_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = stream_get_rel_size;
	routine->GetForeignPaths = stream_get_paths;
	routine->GetForeignPlan = stream_get_plan;
	routine->BeginForeignScan = stream_begin_scan;
	routine->IterateForeignScan = stream_iterate_scan;
	routine->ReScanForeignScan = stream_rescan;
	routine->EndForeignScan = stream_end_scan;

	routine->IsForeignRelUpdatable = stream_is_updatable;
	routine->PlanForeignModify = stream_plan_modify;
	routine->BeginForeignModify = stream_begin_modify;
	routine->ExecForeignInsert = stream_exec_insert;
	routine->EndForeignModify = stream_end_modify;
	routine->BeginForeignInsert = stream_begin_insert;
	routine->EndForeignInsert = stream_end_modify;
	routine->ExecForeignTruncate = stream_truncate;

	PG_RETURN_POINTER(routine);
}

/* ------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------
 */

static void
stream_read_header(const char *message, Size size, StreamMessageHeader *header)
{
	if (size < STREAM_MESSAGE_HEADER_SIZE)
		elog(ERROR, "stream message of %zu bytes is too short", size);
	memcpy(header, message, sizeof(StreamMessageHeader));
	if (header->version != STREAM_MESSAGE_VERSION &&
		header->version != STREAM_MESSAGE_VERSION_PADDED)
		elog(ERROR, "stream message has unknown format version %u",
			 (unsigned int) header->version);
}

Oid
stream_message_relid(const char *message, Size size)
{
	StreamMessageHeader header;

	stream_read_header(message, size, &header);
	return header.relid;
}

/*
 * Calls cb for each event of a message.  The tuple handed to cb lives in a
 * MAXALIGNed buffer allocated once per message in the current memory
 * context; it is rebuilt for each event, so it is valid only during the call.
 */
void
stream_decode_message(const char *message, Size size,
					  StreamEventCallback cb, void *arg)
{
	StreamMessageHeader header;
	Size                offset = STREAM_MESSAGE_HEADER_SIZE;
	HeapTupleData       tuple;
	char               *buffer;
	Size                buffer_size = size + STREAM_EVENT_SKIPPED_BYTES;

	stream_read_header(message, size, &header);

	/* No event is longer than the message, so this buffer fits any. */
	buffer = palloc0(buffer_size);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = header.relid;
	tuple.t_data = (HeapTupleHeader) buffer;

	for (uint32 i = 0; i < header.nevents; i++)
	{
		bool   padded = (header.version == STREAM_MESSAGE_VERSION_PADDED);
		Size   length_size = padded ? MAXALIGN(sizeof(uint32)) : sizeof(uint32);
		Size   skipped = padded ? 0 : STREAM_EVENT_SKIPPED_BYTES;
		uint32 length;
		Size   tail_length;

		if (size - offset < length_size)
			elog(ERROR, "stream message is truncated at event %u of %u",
				 i + 1, header.nevents);
		memcpy(&length, message + offset, sizeof(uint32));
		offset += length_size;
		if (length + skipped < SizeofHeapTupleHeader ||
			size - offset < (padded ? MAXALIGN(length) : length))
			elog(ERROR, "stream message has a corrupt event %u of %u (length %u)",
				 i + 1, header.nevents, length);

		/* Everything after the skipped header fields, which stay zero. */
		tail_length = length + skipped - STREAM_EVENT_SKIPPED_BYTES;
		memcpy(buffer + STREAM_EVENT_SKIPPED_BYTES,
			   message + offset + (length - tail_length), tail_length);
		tuple.t_len = tail_length + STREAM_EVENT_SKIPPED_BYTES;
		cb(header.relid, &tuple, arg);

		offset += padded ? MAXALIGN(length) : length;
	}

	if (offset != size)
		elog(ERROR, "stream message has %zu bytes after its last event",
			 size - offset);

	pfree(buffer);
}

/* ------------------------------------------------------------------------
 * Recognizing streams
 * ------------------------------------------------------------------------
 */

/*
 * Only syscache lookups, so this also works under the historic snapshot of
 * logical decoding.
 */
bool
stream_relation_is_stream(Oid relid)
{
	HeapTuple tuple;
	Oid       serverid;
	bool      result;

	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE)
		return false;

	tuple = SearchSysCache1(FOREIGNTABLEREL, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return false;
	serverid = ((Form_pg_foreign_table) GETSTRUCT(tuple))->ftserver;
	ReleaseSysCache(tuple);

	tuple = SearchSysCache1(FOREIGNSERVEROID, ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tuple))
		return false;
	result = strcmp(NameStr(((Form_pg_foreign_server) GETSTRUCT(tuple))->srvname),
					CONTINUOUS_STREAM_SERVER) == 0;
	ReleaseSysCache(tuple);

	return result;
}
