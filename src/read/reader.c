/*-------------------------------------------------------------------------
 * reader.c
 *	  The reader of a continuous view's rows (ViewReader): copies the view's
 *	  groups out of shared memory and finalizes them, one output row per
 *	  group.  continuous.read_view() (a set-returning function, api/) and
 *	  the view scan (viewscan.c) both read through it, so both return the
 *	  same rows and raise the same errors.
 *
 * A continuous view is three things:
 *	- a row in continuous.view_catalog (catalog.c);
 *	- an ordinary view "name" that selects from continuous.read_view(id)
 *	  with a column definition list naming the query's output columns, so
 *	  clients see its columns like any view's (ddl.c);
 *	- the groups in shared memory (store/), owned by the worker.
 * A reader checks the caller's SELECT privilege on the view, compiles the
 * read side of the definition (cached per backend), copies a snapshot of
 * the groups (all, or those a group lookup names) under the view's lock,
 * and finalizes each group in its own memory context.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "base/catalog.h"
#include "base/continuous.h"
#include "query/compile.h"
#include "read/reader.h"
#include "store/store.h"
#include "worker/worker.h"

static void forget_view_keys(void);

typedef struct CachedView
{
	int32         view_id;
	TransactionId xmin;
	CompiledView *cv;
} CachedView;

static List *view_cache = NIL; /* in CacheMemoryContext */

/*
 * The compiled read side of a view, cached per backend.  A view id is never
 * reused within one catalog, and the catalog row's xmin tells a re-created
 * extension's views apart.
 */
static CompiledView *
get_compiled_view(CatalogRow *row)
{
	ListCell     *lc;
	CachedView   *entry;
	MemoryContext old;

	foreach(lc, view_cache)
	{
		entry = lfirst(lc);
		if (entry->view_id == row->id)
		{
			if (entry->xmin == row->xmin)
				return entry->cv;
			compile_view_free(entry->cv);
			view_cache = foreach_delete_current(view_cache, lc);
			break;
		}
	}
	old = MemoryContextSwitchTo(CacheMemoryContext);
	entry = palloc(sizeof(CachedView));
	entry->view_id = row->id;
	entry->xmin = row->xmin;
	entry->cv = compile_view(row->id, row->sourcerelid, row->querytree);
	compile_view_for_read(entry->cv);
	view_cache = lappend(view_cache, entry);
	MemoryContextSwitchTo(old);
	return entry->cv;
}

/*
 * A reader's pass over one view: the snapshot it copied out of shared memory,
 * where it is in it, and the working memory of the group being finalized.
 * continuous.read_view() (a set-returning function) and the view scan
 * (viewscan.c) both read through it.
 */
struct ViewReader
{
	CompiledView   *cv;
	StoreSnapshot  *snap;           /* its own, or one shared with other readers */
	int             next;           /* index of the next group in snap */
	bool            empty_row_done; /* the no-GROUP-BY row over no groups */
	TupleTableSlot *finalslot;      /* keys and finalized aggregates */
	ExprContext    *econtext;       /* HAVING and output expressions */
	MemoryContext   groupcxt;       /* reset for every group */
	bool           *output_needed;  /* per output column: the caller reads it */
	bool           *agg_needed;     /* per aggregate: a needed output or HAVING reads it */
};

/*
 * A read while this database's worker does not apply changes (not running,
 * failed, paused, no database slot left) and changes are waiting: the rows
 * may be behind, and the reader is told why.  Costs one look at the
 * database's slot in shared memory when all is well.
 */
static void
warn_if_not_maintained(const char *viewname)
{
	char       problem[STORE_MESSAGE_LEN];
	StoreDb    status;
	XLogRecPtr applied = InvalidXLogRecPtr;

	if (!worker_problem(MyDatabaseId, problem))
		return;
	if (store_db_get_status(MyDatabaseId, &status))
		applied = status.applied_lsn;
	if (applied >= GetFlushRecPtr(NULL))
		return; /* nothing committed since is waiting */
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("continuous view \"%s\" may be behind: changes committed after %X/%X are not applied",
					viewname, LSN_FORMAT_ARGS(applied)),
			 errdetail("%s.", problem),
			 errhint("See continuous.worker_stats and the server log.")));
}

/* Whether this database's worker has loaded its views since the server started. */
static bool
database_views_loaded(void)
{
	StoreDb status;

	return store_db_get_status(MyDatabaseId, &status) && status.loaded;
}

/*
 * Does the reader's snapshot see transaction xid, which moved closed
 * windows into a history table, committed?  Then it reads those windows
 * from the history table, and not from shared memory (store_view_snapshot).
 */
bool
reader_sees_closed(TransactionId xid)
{
	Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();

	if (TransactionIdIsCurrentTransactionId(xid))
		return true;
	return !XidInMVCCSnapshot(xid, snapshot) && TransactionIdDidCommit(xid);
}

static int
compare_hashes(const void *a, const void *b)
{
	uint32 x = *(const uint32 *) a;
	uint32 y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1
							  : 0;
}

/*
 * Opens a read of a continuous view: checks that the view exists, that the
 * user may select from it, that coldesc (the columns the caller expects)
 * matches the view's, and that the view is readable; then copies its groups
 * out of shared memory: all of them, or with lookup given, those whose key
 * hashes as lookup's values do (among them the groups with those keys, if
 * any; the caller filters the rest out).  Only the output columns in
 * needed (numbered from 1) are computed, and only the aggregates they and
 * HAVING read are finalized: the others are NULL.  With shared given, the
 * reader uses that snapshot of all the groups, taking it if no reader has
 * yet (lookup is then ignored): readers of one view sharing a snapshot see
 * one state of it.  Everything is allocated in CurrentMemoryContext.
 */
ViewReader *
view_reader_begin(int32 view_id, TupleDesc coldesc, const ViewKeyLookup *lookup,
				  const Bitmapset *needed, StoreSnapshot *shared)
{
	ViewReader    *reader = palloc0(sizeof(ViewReader));
	CatalogRow     row;
	CompiledView  *cv;
	StoreSnapshot *snap = shared ? shared : palloc0(sizeof(StoreSnapshot));
	AclResult      aclresult;

	if (!catalog_lookup(view_id, &row))
	{
		forget_view_keys();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("continuous view %d does not exist", view_id)));
	}
	aclresult = pg_class_aclcheck(row.viewrelid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_VIEW, get_rel_name(row.viewrelid));

	cv = get_compiled_view(&row);
	if (coldesc->natts != cv->resultdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column definition list does not match continuous view %d", view_id),
				 errdetail("The view has %d columns.", cv->resultdesc->natts)));
	for (int i = 0; i < cv->resultdesc->natts; i++)
		if (TupleDescAttr(coldesc, i)->atttypid != TupleDescAttr(cv->resultdesc, i)->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column definition list does not match continuous view %d", view_id),
					 errdetail("Column %d has type %s in the view.", i + 1,
							   format_type_be(TupleDescAttr(cv->resultdesc, i)->atttypid))));

	if (snap->taken)
		; /* another reader of the statement took it */
	else if (lookup != NULL && lookup->nkeys == cv->nkeys && cv->nkeys > 0 && shared == NULL)
	{
		FmgrInfo *hashfns = palloc(sizeof(FmgrInfo) * cv->nkeys);
		int       nvalues = lookup->list_key >= 0 ? lookup->nlisted : 1;
		uint32   *hashes = palloc(sizeof(uint32) * Max(nvalues, 1));
		int       nhashes = 0;

		for (int i = 0; i < cv->nkeys; i++)
			fmgr_info(lookup->hashfns[i], &hashfns[i]);
		for (int v = 0; v < nvalues; v++)
		{
			if (lookup->list_key >= 0)
			{
				lookup->values[lookup->list_key] = lookup->listed[v];
				lookup->nulls[lookup->list_key] = false;
			}
			hashes[nhashes++] = compile_hash_key(cv, hashfns, lookup->values, lookup->nulls);
		}
		/* Equal values, or colliding ones, must not copy a group twice. */
		if (nhashes > 1)
		{
			qsort(hashes, nhashes, sizeof(uint32), compare_hashes);
			nhashes = qunique(hashes, nhashes, sizeof(uint32), compare_hashes);
		}
		store_view_snapshot(MyDatabaseId, view_id, hashes, nhashes, snap, reader_sees_closed);
	}
	else
		store_view_snapshot(MyDatabaseId, view_id, NULL, 0, snap, reader_sees_closed);
	if (snap->state == VIEW_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view \"%s\" is no longer maintained", continuous_view_name(row.viewrelid, view_id)),
				 errdetail("Applying a change failed: %s", snap->error),
				 errhint("Drop the view and create it again.")));

	/*
	 * A view over a table shows nothing until its backfill is done: before
	 * that its rows would miss the table's contents.  A view over a stream
	 * that the worker has not registered yet has counted nothing so far, if
	 * the worker has loaded the database's views; before that (after a
	 * restart) no view has its state yet.
	 */
	if (snap->found ? snap->state == VIEW_INITIALIZING : (get_rel_relkind(row.sourcerelid) != RELKIND_FOREIGN_TABLE || !database_views_loaded()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view \"%s\" is initializing", continuous_view_name(row.viewrelid, view_id)),
				 snap->found && snap->backfill_rows_estimated > 0 ? errdetail("The worker has scanned " UINT64_FORMAT " of about " UINT64_FORMAT " rows of \"%s\".",
																			  snap->backfill_rows_scanned, snap->backfill_rows_estimated,
																			  get_rel_name(row.sourcerelid))
																  : errdetail("The worker has not started reading \"%s\" yet.", get_rel_name(row.sourcerelid)),
				 errhint("Call continuous.sync() to wait until the view is ready.")));
	if (snap->stale)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("continuous view \"%s\" is stale", continuous_view_name(row.viewrelid, view_id)),
				 errdetail("%s", snap->stale_reason),
				 errhint("Its rows may no longer match its definition. Remove the cause, then drop the view and create it again.")));
	warn_if_not_maintained(continuous_view_name(row.viewrelid, view_id));

	reader->cv = cv;
	reader->snap = snap;
	reader->output_needed = palloc(sizeof(bool) * cv->resultdesc->natts);
	reader->agg_needed = palloc0(sizeof(bool) * Max(cv->naggs, 1));
	for (int a = 0; a < cv->naggs; a++)
		reader->agg_needed[a] = bms_is_member(a, cv->having_aggs);
	for (int i = 0; i < cv->resultdesc->natts; i++)
	{
		Bitmapset *aggs = list_nth(cv->output_aggs, i);
		int        a = -1;

		reader->output_needed[i] = bms_is_member(i + 1, needed);
		while (reader->output_needed[i] && (a = bms_next_member(aggs, a)) >= 0)
			reader->agg_needed[a] = true;
	}
	reader->finalslot = MakeSingleTupleTableSlot(cv->finaldesc, &TTSOpsVirtual);
	reader->econtext = CreateStandaloneExprContext();
	reader->groupcxt = AllocSetContextCreate(CurrentMemoryContext, "continuous group",
											 ALLOCSET_DEFAULT_SIZES);
	return reader;
}

/*
 * Finalizes one group (stored states, or initial ones when stored is NULL)
 * into the reader's final slot.  Returns whether it passes HAVING; if so,
 * values/isnull hold the view's output row.
 */
static bool
finalize_group(ViewReader *reader, MinimalTuple stored, Datum *outvalues, bool *outnulls)
{
	CompiledView   *cv = reader->cv;
	TupleTableSlot *finalslot = reader->finalslot;
	ExprContext    *econtext = reader->econtext;
	MemoryContext   groupcxt = reader->groupcxt;
	Datum          *values = finalslot->tts_values;
	bool           *nulls = finalslot->tts_isnull;
	ListCell       *lc;
	int             i;

	ExecClearTuple(finalslot);
	if (stored)
	{
		Datum *groupvalues = palloc(sizeof(Datum) * cv->groupdesc->natts);
		bool  *groupnulls = palloc(sizeof(bool) * cv->groupdesc->natts);

		compile_deform_group(cv, stored, groupvalues, groupnulls);
		/* Keys and stored states; a table view's row count and inputs follow. */
		memcpy(values, groupvalues, sizeof(Datum) * (cv->nkeys + cv->naggs));
		memcpy(nulls, groupnulls, sizeof(bool) * (cv->nkeys + cv->naggs));
	}
	for (i = 0; i < cv->naggs; i++)
	{
		ContinuousAgg *agg = &cv->aggs[i];
		Datum          state;
		bool           stateisnull;

		if (!reader->agg_needed[i])
		{
			values[cv->nkeys + i] = (Datum) 0;
			nulls[cv->nkeys + i] = true;
			continue;
		}
		if (stored)
		{
			stateisnull = nulls[cv->nkeys + i];
			state = agg_from_stored(agg, values[cv->nkeys + i], stateisnull, groupcxt);
		}
		else
			agg_init_state(agg, &state, &stateisnull, groupcxt);
		values[cv->nkeys + i] = agg_finalize(agg, state, stateisnull,
											 &nulls[cv->nkeys + i], groupcxt);
	}
	Assert(stored || cv->nkeys == 0);
	ExecStoreVirtualTuple(finalslot);

	econtext->ecxt_scantuple = finalslot;
	if (cv->having != NULL && !ExecQual(cv->having, econtext))
		return false;
	i = 0;
	foreach(lc, cv->outputstates)
	{
		if (reader->output_needed[i])
			outvalues[i] = ExecEvalExpr((ExprState *) lfirst(lc), econtext, &outnulls[i]);
		else
		{
			outvalues[i] = (Datum) 0;
			outnulls[i] = true;
		}
		i++;
	}
	return true;
}

/*
 * Produces the view's next row into values/isnull (as many as the view has
 * columns), or returns false at the end.  What the values point to stays
 * valid until the next call.
 */
bool
view_reader_next(ViewReader *reader, Datum *values, bool *isnull)
{
	CompiledView *cv = reader->cv;

	for (;;)
	{
		MinimalTuple  stored;
		MemoryContext old;
		bool          found;

		MemoryContextReset(reader->groupcxt);
		ResetExprContext(reader->econtext);
		if (reader->next < reader->snap->ngroups)
			stored = reader->snap->tuples[reader->next++];
		else if (cv->nkeys == 0 && reader->snap->ngroups == 0 && !reader->empty_row_done)
		{
			/* Without GROUP BY an aggregate query returns one row even over no rows. */
			stored = NULL;
			reader->empty_row_done = true;
		}
		else
			return false;

		old = MemoryContextSwitchTo(reader->groupcxt);
		found = finalize_group(reader, stored, values, isnull);
		MemoryContextSwitchTo(old);
		if (found)
			return true;
	}
}

/*
 * The group keys of continuous view view_id that are output columns as
 * they are: per key, the column's number (0 if the key is not an output
 * column), the key's equality operator and its collation; palloc'd in the
 * current context.  Returns the number of keys, or -1 if the view does not
 * exist.
 */
int
view_key_columns(int32 view_id, ViewKeyColumn **keys)
{
	CatalogRow    row;
	CompiledView *cv;
	ListCell     *lc;
	int           attno = 0;

	if (!catalog_lookup(view_id, &row))
		return -1;
	cv = get_compiled_view(&row);
	*keys = palloc0(sizeof(ViewKeyColumn) * Max(cv->nkeys, 1));
	foreach(lc, cv->query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		int          k = 0;
		ListCell    *gc;

		if (tle->resjunk)
			continue;
		attno++;
		if (tle->ressortgroupref == 0)
			continue;
		foreach(gc, cv->query->groupClause)
		{
			SortGroupClause *sgc = lfirst_node(SortGroupClause, gc);

			if (sgc->tleSortGroupRef == tle->ressortgroupref && (*keys)[k].attno == 0)
			{
				(*keys)[k].attno = attno;
				(*keys)[k].eqop = sgc->eqop;
				(*keys)[k].collation = cv->keycolls[k];
			}
			k++;
		}
	}
	return cv->nkeys;
}

/* The qualified name of continuous view view_id, or NULL if it does not exist. */
char *
view_name_for_id(int32 view_id)
{
	CatalogRow row;
	char      *relname;

	if (!catalog_lookup(view_id, &row) || (relname = get_rel_name(row.viewrelid)) == NULL)
		return NULL;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(row.viewrelid)),
									  relname);
}

/* Starts the reader over the same snapshot. */
void
view_reader_rewind(ViewReader *reader)
{
	reader->next = 0;
	reader->empty_row_done = false;
}

/* Frees what view_reader_begin built outside its memory context's lifetime. */
void
view_reader_end(ViewReader *reader)
{
	FreeExprContext(reader->econtext, true);
	ExecDropSingleTupleTableSlot(reader->finalslot);
	MemoryContextDelete(reader->groupcxt);
}

/* Whether funcid is continuous.read_view(), whatever schema it is in. */
bool
reader_is_read_view(Oid funcid)
{
	HeapTuple proctup;
	bool      is_c;
	FmgrInfo  flinfo;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(proctup))
		return false;
	is_c = ((Form_pg_proc) GETSTRUCT(proctup))->prolang == ClanguageId;
	ReleaseSysCache(proctup);
	if (!is_c)
		return false;
	fmgr_info(funcid, &flinfo);
	return flinfo.fn_addr == continuous_read_view;
}

/*
 * View keys already looked up by this backend, and their view ids.  A key
 * belongs to one view for the view's life, and view ids are never reused,
 * so an entry can only become stale when its view is dropped: a read that
 * then finds no catalog row for the id forgets every entry.
 */
typedef struct KeyEntry
{
	pg_uuid_t view_key;
	int32     view_id;
} KeyEntry;

static HTAB *known_keys = NULL;

static void
forget_view_keys(void)
{
	if (known_keys)
		hash_destroy(known_keys);
	known_keys = NULL;
}

/* The id of the view whose body reads view_key, or 0. */
int32
reader_view_id_for_key(const pg_uuid_t *view_key)
{
	KeyEntry *e;
	int32     view_id;

	if (known_keys == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(KeyEntry);
		ctl.hcxt = TopMemoryContext;
		known_keys = hash_create("continuous view keys", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(known_keys, view_key, HASH_FIND, NULL);
	if (e)
		return e->view_id;
	view_id = catalog_id_for_key(view_key);
	if (view_id != 0)
	{
		e = hash_search(known_keys, view_key, HASH_ENTER, NULL);
		e->view_id = view_id;
	}
	return view_id;
}

/*
 * The id of the view whose body reads view_key.  A body can outlive its
 * catalog row only where the extension's event trigger did not run when
 * the view was created (a restore with event triggers disabled).
 */
static int32
read_view_id_for_key(const pg_uuid_t *view_key)
{
	int32 view_id = reader_view_id_for_key(view_key);

	if (view_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("continuous view %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(view_key)))),
				 errdetail("A view selects from continuous.read_view() with a key that no continuous view has."),
				 errhint("Event triggers make a restored view body a continuous view again: recreate the view with event triggers enabled, or with continuous.create_view().")));
	return view_id;
}

/*
 * continuous.read_view(view_key): what every continuous view selects from;
 * continuous.read_view(id), the same for views made by version 1.0.  The
 * view scan (viewscan.c) replaces both in plans; this set-returning
 * function serves the rest (continuous.enable_view_scan off, lateral and
 * whole-row uses).
 */
CONTINUOUS_SQL_FUNCTION(continuous_read_view);
Datum
continuous_read_view(PG_FUNCTION_ARGS)
{
	int32          view_id = get_fn_expr_argtype(fcinfo->flinfo, 0) == UUIDOID
								 ? read_view_id_for_key(PG_GETARG_UUID_P(0))
								 : PG_GETARG_INT32(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ViewReader    *reader;
	Datum         *values;
	bool          *isnull;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	reader = view_reader_begin(view_id, rsinfo->setDesc, NULL,
							   bms_add_range(NULL, 1, rsinfo->setDesc->natts), NULL);
	values = palloc(sizeof(Datum) * rsinfo->setDesc->natts);
	isnull = palloc(sizeof(bool) * rsinfo->setDesc->natts);
	while (view_reader_next(reader, values, isnull))
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	view_reader_end(reader);
	return (Datum) 0;
}
