/*-------------------------------------------------------------------------
 * catalog.c
 *	  continuous.view_catalog: one row per continuous view (its id, the
 *	  user-facing view, the source, the definition as written and analyzed,
 *	  and the creator's settings).  Every statement against it is here.
 *
 * Backends (create_view, drop_view, every read of a view) run their fixed
 * statements as the catalog's owner (security.c), after their own
 * privilege checks; ordinary roles cannot read the table.  The worker is a
 * superuser and reads it with search_path pinned; it also learns of views
 * by decoding inserts into and deletes from the table
 * (catalog_row_from_tuple), so a view counts exactly the transactions that
 * commit after the one that created it.
 *
 * A view id is never reused within one catalog (an identity column); the
 * row's xmin tells a re-created extension's views apart (see reader.c).
 * catalog_execute runs the worker's statements against the extension's
 * other tables (checkpoints, closed windows).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/catalog.h"
#include "base/continuous.h"
#include "base/security.h"

/*
 * Does the catalog have view keys (version 1.1 and later)?  The library of
 * 1.1 runs against 1.0's catalog until ALTER EXTENSION ... UPDATE, and then
 * makes views as 1.0 did: their bodies read their id.
 */
static bool
catalog_has_column(const char *name)
{
	Oid relid = catalog_relation_oid(true);

	return OidIsValid(relid) && get_attnum(relid, name) != InvalidAttrNumber;
}

bool
catalog_has_view_keys(void)
{
	return catalog_has_column("view_key");
}

/* Does the catalog have create_view's options (version 1.2 and later)? */
bool
catalog_has_view_options(void)
{
	return catalog_has_column("max_memory");
}

static Datum
interval_datum(int64 usecs)
{
	Interval *iv = palloc0(sizeof(Interval));

	iv->day = usecs / USECS_PER_DAY;
	iv->time = usecs % USECS_PER_DAY;
	return IntervalPGetDatum(iv);
}

static int64
interval_usecs(Datum d)
{
	Interval *iv = DatumGetIntervalP(d);

	return iv->time + (int64) iv->day * USECS_PER_DAY + (int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
}

/*
 * The options among the columns of a catalog row from the column
 * max_memory on (values and nulls from there), as ContinuousOptions.
 */
static void
options_from_columns(Datum *values, bool *nulls, ContinuousOptions *o)
{
	memset(o, 0, sizeof(ContinuousOptions));
	if (!nulls[0])
		o->max_memory = DatumGetInt64(values[0]);
	if (!nulls[1])
		o->lateness = interval_usecs(values[1]);
	o->event_clock = !nulls[2] && strcmp(TextDatumGetCString(values[2]), "event") == 0;
	if (!nulls[3])
		o->history = DatumGetObjectId(values[3]);
	if (!nulls[4])
		o->retain = interval_usecs(values[4]);
	o->capture_late = !nulls[5] && strcmp(TextDatumGetCString(values[5]), "capture") == 0;
	if (!nulls[6])
		o->late_table = DatumGetObjectId(values[6]);
	if (!nulls[7])
		o->idle_timeout = interval_usecs(values[7]);
}

#define OPTION_COLUMNS \
	"max_memory, lateness, clock, history_relid, retain, late_events, late_relid, idle_timeout"
#define NO_OPTION_COLUMNS \
	"NULL::bigint, NULL::interval, NULL::text, NULL::oid, NULL::interval, NULL::text, NULL::oid, NULL::interval"
#define NUM_OPTION_COLUMNS 8

/*
 * Every read looks its view up, twice with a group lookup (planner and
 * executor): the statement is planned once per backend.  The plan cache
 * revalidates it when the catalog table is re-created.
 */
static SPIPlanPtr lookup_plans[2] = {NULL, NULL}; /* without, with view keys */

/* Reads view view_id's catalog row; strings are allocated in the caller's context. */
bool
catalog_lookup(int32 view_id, CatalogRow *row)
{
	Oid           argtypes[1] = {INT4OID};
	Datum         args[1] = {Int32GetDatum(view_id)};
	bool          found = false;
	SavedIdentity saved;
	MemoryContext callercxt = CurrentMemoryContext;
	int           keyed;

	Assert(IsTransactionState());

	keyed = catalog_has_view_keys() ? 1 : 0;
	security_run_as_catalog_owner(&saved);
	SPI_connect();
	if (lookup_plans[keyed] == NULL)
	{
		SPIPlanPtr plan = SPI_prepare(keyed ? "SELECT viewrelid, sourcerelid, querytree, xmin::text::bigint, "
											  "view_key, restored_at IS NOT NULL "
											  "FROM continuous.view_catalog WHERE id = $1"
											: "SELECT viewrelid, sourcerelid, querytree, xmin::text::bigint, "
											  "NULL::uuid, false "
											  "FROM continuous.view_catalog WHERE id = $1",
									  1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		lookup_plans[keyed] = plan;
	}
	SPI_execute_plan(lookup_plans[keyed], args, NULL, true, 1);
	if (SPI_processed == 1)
	{
		HeapTuple     tup = SPI_tuptable->vals[0];
		TupleDesc     desc = SPI_tuptable->tupdesc;
		bool          isnull;
		Datum         d;
		MemoryContext old = MemoryContextSwitchTo(callercxt);

		memset(row, 0, sizeof(CatalogRow));
		row->id = view_id;
		row->viewrelid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		row->sourcerelid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		row->querytree = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		row->xmin = (TransactionId) DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		if (!isnull)
			row->view_key = *DatumGetUUIDP(d);
		row->restored = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		MemoryContextSwitchTo(old);
		found = true;
	}
	SPI_finish();
	security_restore(&saved);
	return found;
}

/*
 * The id of the view whose body reads view_key; 0 if there is none.  Every
 * read of a view over read_view(key, definition) starts here.
 */
static SPIPlanPtr key_plan = NULL;

int32
catalog_id_for_key(const pg_uuid_t *view_key)
{
	Oid           argtypes[1] = {UUIDOID};
	Datum         args[1] = {UUIDPGetDatum(view_key)};
	int32         id = 0;
	SavedIdentity saved;

	Assert(IsTransactionState());

	security_run_as_catalog_owner(&saved);
	SPI_connect();
	if (key_plan == NULL)
	{
		SPIPlanPtr plan = SPI_prepare("SELECT id FROM continuous.view_catalog WHERE view_key = $1",
									  1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		key_plan = plan;
	}
	SPI_execute_plan(key_plan, args, NULL, true, 1);
	if (SPI_processed == 1)
	{
		bool isnull;

		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	security_restore(&saved);
	return id;
}

/* Is viewrelid a continuous view? */
bool
catalog_has_view_relation(Oid viewrelid)
{
	Oid           argtypes[1] = {OIDOID};
	Datum         args[1] = {ObjectIdGetDatum(viewrelid)};
	SavedIdentity saved;
	bool          found;

	security_run_as_catalog_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM continuous.view_catalog WHERE viewrelid = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.view_catalog");
	found = (SPI_processed == 1);
	SPI_finish();
	security_restore(&saved);
	return found;
}

/* A new view id, from the catalog's identity sequence. */
int32
catalog_next_view_id(void)
{
	SavedIdentity saved;
	bool          isnull;
	int64         id;

	security_run_as_catalog_owner(&saved);
	SPI_connect();
	if (SPI_execute("SELECT nextval(pg_get_serial_sequence('continuous.view_catalog', 'id'))",
					false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not allocate a continuous view id");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	security_restore(&saved);
	return (int32) id;
}

/* A new random view key (a version 4 UUID). */
void
catalog_new_view_key(pg_uuid_t *view_key)
{
	if (!pg_strong_random(view_key->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random continuous view key")));
	view_key->data[6] = (view_key->data[6] & 0x0f) | 0x40; /* version 4 */
	view_key->data[8] = (view_key->data[8] & 0x3f) | 0x80; /* RFC 4122 variant */
}

/*
 * Records a new view; the worker learns of it when this insert commits.
 * restored: the view was made from a restored view body (ddl.c).  view_key
 * is NULL in a catalog without keys (catalog_has_view_keys).  settings: the
 * TimeZone, DateStyle and IntervalStyle the view's functions see, or NULL
 * for the current ones.
 */
void
catalog_insert_view(int32 view_id, Oid viewrelid, Oid sourcerelid,
					const char *definition, const char *querytree,
					const pg_uuid_t *view_key, bool restored, const char *const *settings,
					const ContinuousOptions *options)
{
	Oid               argtypes[18] = {INT4OID, OIDOID, OIDOID, TEXTOID, TEXTOID,
									  UUIDOID, BOOLOID, TEXTOID, TEXTOID, TEXTOID,
									  INT8OID, INTERVALOID, TEXTOID, OIDOID, INTERVALOID, TEXTOID, OIDOID,
									  INTERVALOID};
	Datum             args[18];
	char              nulls[19] = "                  ";
	SavedIdentity     saved;
	bool              with_options = view_key && catalog_has_view_options();
	ContinuousOptions none;

	Assert(IsTransactionState());

	if (options == NULL)
	{
		memset(&none, 0, sizeof(none));
		options = &none;
	}
	args[0] = Int32GetDatum(view_id);
	args[1] = ObjectIdGetDatum(viewrelid);
	args[2] = ObjectIdGetDatum(sourcerelid);
	args[3] = CStringGetTextDatum(definition);
	args[4] = CStringGetTextDatum(querytree);
	args[5] = view_key ? UUIDPGetDatum(view_key) : (Datum) 0;
	args[6] = BoolGetDatum(restored);
	for (int i = 0; i < 3; i++)
	{
		args[7 + i] = settings ? CStringGetTextDatum(settings[i]) : (Datum) 0;
		nulls[7 + i] = settings ? ' ' : 'n';
	}
	args[10] = Int64GetDatum(options->max_memory);
	nulls[10] = options->max_memory > 0 ? ' ' : 'n';
	args[11] = interval_datum(options->lateness);
	nulls[11] = options->lateness > 0 ? ' ' : 'n';
	args[12] = CStringGetTextDatum(options->event_clock ? "event" : "commit");
	nulls[12] = options->lateness > 0 ? ' ' : 'n';
	args[13] = ObjectIdGetDatum(options->history);
	nulls[13] = OidIsValid(options->history) ? ' ' : 'n';
	args[14] = interval_datum(options->retain);
	nulls[14] = options->retain > 0 ? ' ' : 'n';
	args[15] = CStringGetTextDatum(options->capture_late ? "capture" : "drop");
	nulls[15] = options->lateness > 0 ? ' ' : 'n';
	args[16] = ObjectIdGetDatum(options->late_table);
	nulls[16] = OidIsValid(options->late_table) ? ' ' : 'n';
	args[17] = interval_datum(options->idle_timeout);
	nulls[17] = options->idle_timeout > 0 ? ' ' : 'n';
	if ((options->max_memory > 0 || options->lateness > 0) && !with_options)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the options of create_view need version 1.2 of extension pg_continuous"),
				 errhint("Run ALTER EXTENSION pg_continuous UPDATE.")));
	security_run_as_catalog_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args(with_options
								  ? "INSERT INTO continuous.view_catalog "
									"(id, viewrelid, sourcerelid, definition, querytree, view_key, "
									"restored_at, timezone, datestyle, intervalstyle, " OPTION_COLUMNS ") "
									"OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, "
									"CASE WHEN $7 THEN now() END, "
									"coalesce($8, current_setting('TimeZone')), "
									"coalesce($9, current_setting('DateStyle')), "
									"coalesce($10, current_setting('IntervalStyle')), "
									"$11, $12, $13, $14, $15, $16, $17, $18)"
							  : view_key ? "INSERT INTO continuous.view_catalog "
										   "(id, viewrelid, sourcerelid, definition, querytree, view_key, "
										   "restored_at, timezone, datestyle, intervalstyle) "
										   "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, "
										   "CASE WHEN $7 THEN now() END, "
										   "coalesce($8, current_setting('TimeZone')), "
										   "coalesce($9, current_setting('DateStyle')), "
										   "coalesce($10, current_setting('IntervalStyle')))"
										 : "INSERT INTO continuous.view_catalog "
										   "(id, viewrelid, sourcerelid, definition, querytree) "
										   "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5)",
							  with_options ? 18 : view_key ? 10
														   : 5,
							  argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record continuous view %d", view_id);
	SPI_finish();
	security_restore(&saved);
}

/*
 * Every view of the catalog, in id order, as a List of CatalogRow in the
 * caller's memory context.  Worker only: inside a transaction with an
 * active snapshot.
 */
List *
catalog_read_views(void)
{
	MemoryContext callercxt = CurrentMemoryContext;
	List         *rows = NIL;
	int           nest_level;

	Assert(IsTransactionState() && ActiveSnapshotSet());

	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute(catalog_has_view_options()
						? "SELECT id, viewrelid, sourcerelid, querytree, timezone, datestyle, intervalstyle, "
						  "view_key, restored_at IS NOT NULL, " OPTION_COLUMNS " FROM continuous.view_catalog ORDER BY id"
					: catalog_has_view_keys()
						? "SELECT id, viewrelid, sourcerelid, querytree, timezone, datestyle, intervalstyle, "
						  "view_key, restored_at IS NOT NULL, " NO_OPTION_COLUMNS " FROM continuous.view_catalog ORDER BY id"
						: "SELECT id, viewrelid, sourcerelid, querytree, timezone, datestyle, intervalstyle, "
						  "NULL::uuid, false, " NO_OPTION_COLUMNS " FROM continuous.view_catalog ORDER BY id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.view_catalog");
	security_unpin_search_path(nest_level);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple     tup = SPI_tuptable->vals[i];
		TupleDesc     desc = SPI_tuptable->tupdesc;
		bool          isnull;
		Datum         d;
		MemoryContext old = MemoryContextSwitchTo(callercxt);
		CatalogRow   *row = palloc0(sizeof(CatalogRow));

		row->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		row->viewrelid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		row->sourcerelid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		row->querytree = SPI_getvalue(tup, desc, 4);
		row->timezone = SPI_getvalue(tup, desc, 5);
		row->datestyle = SPI_getvalue(tup, desc, 6);
		row->intervalstyle = SPI_getvalue(tup, desc, 7);
		d = SPI_getbinval(tup, desc, 8, &isnull);
		if (!isnull)
			row->view_key = *DatumGetUUIDP(d);
		row->restored = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
		{
			Datum ovalues[NUM_OPTION_COLUMNS];
			bool  onulls[NUM_OPTION_COLUMNS];

			for (int c = 0; c < NUM_OPTION_COLUMNS; c++)
				ovalues[c] = SPI_getbinval(tup, desc, 10 + c, &onulls[c]);
			options_from_columns(ovalues, onulls, &row->options);
		}
		rows = lappend(rows, row);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return rows;
}

/* Does the catalog hold a view?  Worker only, inside a transaction. */
bool
catalog_has_views(void)
{
	bool found;
	int  nest_level;

	Assert(IsTransactionState());

	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	nest_level = security_pin_search_path();
	if (SPI_execute("SELECT 1 FROM continuous.view_catalog LIMIT 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read continuous.view_catalog");
	found = SPI_processed > 0;
	security_unpin_search_path(nest_level);
	SPI_finish();
	PopActiveSnapshot();
	return found;
}

/* A decoded catalog row (an insert's new tuple), in the current context. */
void
catalog_row_from_tuple(TupleDesc desc, HeapTuple tuple, CatalogRow *row)
{
	Datum *values = palloc(sizeof(Datum) * desc->natts);
	bool  *nulls = palloc(sizeof(bool) * desc->natts);

	if (desc->natts < Anum_view_catalog_intervalstyle)
		elog(ERROR, "continuous.view_catalog has %d columns, expected at least %d",
			 desc->natts, Anum_view_catalog_intervalstyle);
	heap_deform_tuple(tuple, desc, values, nulls);
	memset(row, 0, sizeof(CatalogRow));
	row->id = DatumGetInt32(values[Anum_view_catalog_id - 1]);
	row->viewrelid = DatumGetObjectId(values[Anum_view_catalog_viewrelid - 1]);
	row->sourcerelid = DatumGetObjectId(values[Anum_view_catalog_sourcerelid - 1]);
	row->querytree = TextDatumGetCString(values[Anum_view_catalog_querytree - 1]);
	row->timezone = TextDatumGetCString(values[Anum_view_catalog_timezone - 1]);
	row->datestyle = TextDatumGetCString(values[Anum_view_catalog_datestyle - 1]);
	row->intervalstyle = TextDatumGetCString(values[Anum_view_catalog_intervalstyle - 1]);
	if (desc->natts >= Anum_view_catalog_restored_at && !nulls[Anum_view_catalog_view_key - 1])
	{
		row->view_key = *DatumGetUUIDP(values[Anum_view_catalog_view_key - 1]);
		row->restored = !nulls[Anum_view_catalog_restored_at - 1];
	}
	if (desc->natts >= Anum_view_catalog_idle_timeout)
		options_from_columns(&values[Anum_view_catalog_max_memory - 1],
							 &nulls[Anum_view_catalog_max_memory - 1], &row->options);
	pfree(values);
	pfree(nulls);
}

/* The view id of a decoded catalog row (a delete's old tuple). */
int32
catalog_id_from_tuple(TupleDesc desc, HeapTuple tuple)
{
	bool  isnull;
	Datum id = heap_getattr(tuple, Anum_view_catalog_id, desc, &isnull);

	if (isnull)
		elog(ERROR, "continuous.view_catalog row without an id");
	return DatumGetInt32(id);
}

/* The OID of continuous.view_catalog; InvalidOid if missing and missing_ok. */
Oid
catalog_relation_oid(bool missing_ok)
{
	Oid nsp = get_namespace_oid(CONTINUOUS_SCHEMA_NAME, missing_ok);
	Oid relid = OidIsValid(nsp) ? get_relname_relid(CONTINUOUS_CATALOG_TABLE, nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		elog(ERROR, "relation %s.%s does not exist", CONTINUOUS_SCHEMA_NAME, CONTINUOUS_CATALOG_TABLE);
	return relid;
}

/*
 * How messages name a continuous view: its relation name, which they quote
 * as PostgreSQL's own messages quote relation names (continuous view "%s").
 * A view whose relation is gone (a drop not yet decoded) is named by its id.
 * Allocated in the current memory context.
 */
char *
continuous_view_name(Oid viewrelid, int32 view_id)
{
	char *relname = OidIsValid(viewrelid) ? get_rel_name(viewrelid) : NULL;

	return relname ? relname : psprintf("#%d", view_id);
}

/*
 * Runs one statement of the extension's own against its tables (the
 * worker's checkpoint and closing statements), SPI connected: a result
 * other than expected is an error that shows the statement.
 */
void
catalog_execute(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls, int expected)
{
	int rc = SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "pg_continuous: statement failed (%s): %s", SPI_result_code_string(rc), sql);
}
