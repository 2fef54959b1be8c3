/*-------------------------------------------------------------------------
 * firstlast.c
 *	  The aggregates continuous.last(value, t) and continuous.first(value, t):
 *	  the value of the row with the greatest (least) t, "the latest reading
 *	  of each device".  Real aggregates, so a batch query computes them too,
 *	  and combinable, so a view over a stream keeps one value per group.
 *
 * The state holds the best row so far: its t and its value.  A row with a
 * NULL t is ignored.  Rows with equal t are ordered by their value, so the
 * result does not depend on the order rows arrive or partial states are
 * combined in: last keeps the greatest value, first the least, by the
 * value type's default ordering (by the bytes of the value for a type
 * without one), and a NULL value loses to any other.  t needs a default
 * ordering (a btree operator class); the value may be of any type.
 *
 * The state is an internal struct in the aggregate's memory context;
 * serialized (for the worker's shared memory and checkpoints, and for
 * parallel query) it is the two type OIDs, then t and the value in
 * datumSerialize's form.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "base/continuous.h"

typedef struct FirstLastState
{
	Oid             value_type;
	Oid             time_type;
	bool            has_row; /* a row with a non-NULL time was seen */
	bool            value_null;
	Datum           value;
	Datum           time;
	int16           value_len;
	bool            value_byval;
	int16           time_len;
	bool            time_byval;
	TypeCacheEntry *time_cache;  /* its comparison function */
	TypeCacheEntry *value_cache; /* the same, when the type has one */
} FirstLastState;

/* A new state for these types, with no row yet, in cxt. */
static FirstLastState *
state_create(MemoryContext cxt, Oid value_type, Oid time_type)
{
	FirstLastState *state = MemoryContextAllocZero(cxt, sizeof(FirstLastState));

	state->value_type = value_type;
	state->time_type = time_type;
	get_typlenbyval(value_type, &state->value_len, &state->value_byval);
	get_typlenbyval(time_type, &state->time_len, &state->time_byval);
	state->time_cache = lookup_type_cache(time_type, TYPECACHE_CMP_PROC_FINFO);
	if (!OidIsValid(state->time_cache->cmp_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an ordering for type %s", format_type_be(time_type)),
				 errhint("The second argument of continuous.first and continuous.last must be of a type with a default btree operator class.")));
	state->value_cache = lookup_type_cache(value_type, TYPECACHE_CMP_PROC_FINFO);
	state->value_null = true;
	return state;
}

static int
compare_with(TypeCacheEntry *cache, Oid collation, Datum a, Datum b)
{
	return DatumGetInt32(FunctionCall2Coll(&cache->cmp_proc_finfo, collation, a, b));
}

/*
 * Orders values of a type without a default ordering by their bytes:
 * variable-length ones by their contents, whatever their header or
 * compression, so that equal values compare equal.
 */
static int
compare_bytes(FirstLastState *state, Datum a, Datum b)
{
	Size  alen;
	Size  blen;
	char *abytes;
	char *bbytes;
	int   c;

	if (state->value_len == -1)
	{
		struct varlena *av = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(a));
		struct varlena *bv = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(b));

		alen = VARSIZE_ANY_EXHDR(av);
		blen = VARSIZE_ANY_EXHDR(bv);
		abytes = VARDATA_ANY(av);
		bbytes = VARDATA_ANY(bv);
	}
	else
	{
		alen = datumGetSize(a, state->value_byval, state->value_len);
		blen = datumGetSize(b, state->value_byval, state->value_len);
		abytes = state->value_byval ? (char *) &a : DatumGetPointer(a);
		bbytes = state->value_byval ? (char *) &b : DatumGetPointer(b);
	}

	if (alen != blen)
		return alen < blen ? -1 : 1;
	c = memcmp(abytes, bbytes, alen);
	return c < 0 ? -1 : c > 0 ? 1
							  : 0;
}

/*
 * Does the row (time, value) take the place of the state's row?  direction
 * is +1 for last (greater wins), -1 for first (less wins).  The state has a
 * row: state->time is set.
 */
static bool
replaces(FirstLastState *state, Oid collation, int direction, Datum time, Datum value, bool value_null)
{
	int c = compare_with(state->time_cache, collation, time, state->time);

	if (c == 0)
	{
		if (value_null || state->value_null)
			return !value_null && state->value_null;
		if (OidIsValid(state->value_cache->cmp_proc))
			c = compare_with(state->value_cache, collation, value, state->value);
		else
			c = compare_bytes(state, value, state->value);
	}
	return direction > 0 ? c > 0 : c < 0;
}

/*
 * A copy of a datum in the current memory context; a variable-length one
 * plain (not toasted, with a 4-byte header), which detoasting copies once.
 */
static Datum
keep_datum(Datum value, bool byval, int16 len)
{
	if (len == -1)
	{
		struct varlena *plain = pg_detoast_datum((struct varlena *) DatumGetPointer(value));

		if ((Pointer) plain != DatumGetPointer(value))
			return PointerGetDatum(plain);
	}
	return datumCopy(value, byval, len);
}

/* Makes (time, value) the state's row, copied into cxt; frees the old one. */
static void
take_row(FirstLastState *state, MemoryContext cxt, Datum time, Datum value, bool value_null)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	if (state->has_row)
	{
		if (!state->time_byval)
			pfree(DatumGetPointer(state->time));
		if (!state->value_byval && !state->value_null)
			pfree(DatumGetPointer(state->value));
	}
	/* Kept plain, so that they can be serialized (keep_datum). */
	state->time = keep_datum(time, state->time_byval, state->time_len);
	state->has_row = true;
	state->value_null = value_null;
	state->value = value_null ? (Datum) 0 : keep_datum(value, state->value_byval, state->value_len);
	MemoryContextSwitchTo(old);
}

static Datum
transition(PG_FUNCTION_ARGS, int direction)
{
	MemoryContext   aggcxt;
	FirstLastState *state = PG_ARGISNULL(0) ? NULL : (FirstLastState *) PG_GETARG_POINTER(0);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "continuous.first/last transition function called in a non-aggregate context");
	if (state == NULL)
		state = state_create(aggcxt, get_fn_expr_argtype(fcinfo->flinfo, 1),
							 get_fn_expr_argtype(fcinfo->flinfo, 2));
	if (PG_ARGISNULL(2))
		PG_RETURN_POINTER(state); /* a row without a time does not count */
	if (!state->has_row || replaces(state, PG_GET_COLLATION(), direction, PG_GETARG_DATUM(2),
									PG_GETARG_DATUM(1), PG_ARGISNULL(1)))
		take_row(state, aggcxt, PG_GETARG_DATUM(2), PG_GETARG_DATUM(1), PG_ARGISNULL(1));
	PG_RETURN_POINTER(state);
}

/* Merges partial state other into state (either may be NULL). */
static Datum
combine(PG_FUNCTION_ARGS, int direction)
{
	MemoryContext   aggcxt;
	FirstLastState *state = PG_ARGISNULL(0) ? NULL : (FirstLastState *) PG_GETARG_POINTER(0);
	FirstLastState *other = PG_ARGISNULL(1) ? NULL : (FirstLastState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "continuous.first/last combine function called in a non-aggregate context");
	if (other == NULL || !other->has_row)
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	if (state == NULL)
		state = state_create(aggcxt, other->value_type, other->time_type);
	if (!state->has_row || replaces(state, PG_GET_COLLATION(), direction, other->time,
									other->value, other->value_null))
		take_row(state, aggcxt, other->time, other->value, other->value_null);
	PG_RETURN_POINTER(state);
}

CONTINUOUS_SQL_FUNCTION(continuous_last_trans);
Datum
continuous_last_trans(PG_FUNCTION_ARGS)
{
	return transition(fcinfo, 1);
}

CONTINUOUS_SQL_FUNCTION(continuous_first_trans);
Datum
continuous_first_trans(PG_FUNCTION_ARGS)
{
	return transition(fcinfo, -1);
}

CONTINUOUS_SQL_FUNCTION(continuous_last_combine);
Datum
continuous_last_combine(PG_FUNCTION_ARGS)
{
	return combine(fcinfo, 1);
}

CONTINUOUS_SQL_FUNCTION(continuous_first_combine);
Datum
continuous_first_combine(PG_FUNCTION_ARGS)
{
	return combine(fcinfo, -1);
}

/* The value of the state's row; NULL when no row had a time. */
CONTINUOUS_SQL_FUNCTION(continuous_firstlast_final);
Datum
continuous_firstlast_final(PG_FUNCTION_ARGS)
{
	FirstLastState *state = PG_ARGISNULL(0) ? NULL : (FirstLastState *) PG_GETARG_POINTER(0);

	if (state == NULL || !state->has_row || state->value_null)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(state->value);
}

/* The two type OIDs, a flag byte, then t and the value as datumSerialize writes them. */
CONTINUOUS_SQL_FUNCTION(continuous_firstlast_serialize);
Datum
continuous_firstlast_serialize(PG_FUNCTION_ARGS)
{
	FirstLastState *state = (FirstLastState *) PG_GETARG_POINTER(0);
	Size            size = VARHDRSZ + 2 * sizeof(Oid) + 1;
	bytea          *result;
	char           *p;

	if (state->has_row)
		size += datumEstimateSpace(state->time, false, state->time_byval, state->time_len) +
				datumEstimateSpace(state->value, state->value_null, state->value_byval, state->value_len);
	result = palloc0(size);
	SET_VARSIZE(result, size);
	p = VARDATA(result);
	memcpy(p, &state->value_type, sizeof(Oid));
	p += sizeof(Oid);
	memcpy(p, &state->time_type, sizeof(Oid));
	p += sizeof(Oid);
	*p++ = state->has_row ? 1 : 0;
	if (state->has_row)
	{
		datumSerialize(state->time, false, state->time_byval, state->time_len, &p);
		datumSerialize(state->value, state->value_null, state->value_byval, state->value_len, &p);
	}
	PG_RETURN_BYTEA_P(result);
}

CONTINUOUS_SQL_FUNCTION(continuous_firstlast_deserialize);
Datum
continuous_firstlast_deserialize(PG_FUNCTION_ARGS)
{
	bytea          *bytes = PG_GETARG_BYTEA_PP(0);
	char           *p = VARDATA_ANY(bytes);
	Oid             value_type;
	Oid             time_type;
	FirstLastState *state;
	bool            isnull;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "continuous.first/last deserialization function called in a non-aggregate context");
	if (VARSIZE_ANY_EXHDR(bytes) < 2 * sizeof(Oid) + 1)
		elog(ERROR, "invalid continuous.first/last state");
	memcpy(&value_type, p, sizeof(Oid));
	p += sizeof(Oid);
	memcpy(&time_type, p, sizeof(Oid));
	p += sizeof(Oid);
	/* In the current memory context, as the executor's callers expect. */
	state = state_create(CurrentMemoryContext, value_type, time_type);
	if (*p++)
	{
		/* datumRestore copies by-reference values into fresh, aligned memory. */
		state->time = datumRestore(&p, &isnull);
		state->value = datumRestore(&p, &state->value_null);
		state->has_row = true;
	}
	PG_RETURN_POINTER(state);
}
