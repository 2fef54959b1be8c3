/*-------------------------------------------------------------------------
 * aggregate.h
 *	  PostgreSQL's aggregate support functions (pg_aggregate) called outside
 *	  the executor: transition, combine, serialize, deserialize, final.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_AGGREGATE_H
#define CONTINUOUS_AGGREGATE_H

#include "access/tupdesc.h"
#include "fmgr.h"
#include "nodes/primnodes.h"
#include "utils/sortsupport.h"

#include "agg/orderedset.h"

#define CONTINUOUS_MAX_AGG_ARGS 8

/*
 * Kept with each input row of an aggregate kept in applied order
 * (ContinuousAgg.appliedOrder), as int8 inputs after its arguments: which
 * source row it came from (a hash of the row's values, for a view over a
 * table; NULL over a stream), then its position: the LSN of the change (0
 * for a backfilled row) and the row's ordinal among the rows of that change.
 */
#define AGG_ROW_INPUTS      3
#define AGG_POSITION_INPUTS 2

typedef struct ContinuousAgg
{
	Aggref *aggref;
	Oid     aggfnoid;
	int     numArgs;   /* transition function inputs besides the state */
	int     numInputs; /* values per input row: the arguments, and for
						* ORDER BY inside the aggregate its keys too, or
						* the source row and its position (appliedOrder) */
	Oid     inputTypes[FUNC_MAX_ARGS];
	Oid     inputCollation;

	Oid   transtype;
	int16 transtypeLen;
	bool  transtypeByVal;
	Oid   storedType; /* transtype, or bytea when it is internal */
	int16 storedTypeLen;
	bool  storedTypeByVal;

	Datum initValue; /* in the context the agg was built in */
	bool  initValueIsNull;

	FmgrInfo transfn;
	FmgrInfo combinefn;
	FmgrInfo serialfn; /* valid only when transtype is internal */
	FmgrInfo deserialfn;
	FmgrInfo finalfn; /* fn_oid is InvalidOid when there is none */
	int      numFinalArgs;
	Oid      resulttype;
	int16    resulttypeLen;
	bool     resulttypeByVal;

	/*
	 * agg(DISTINCT x): the live state is a DistinctSet of x, the stored one
	 * an array of x; the transition function runs only at finalization.
	 */
	bool     distinct;
	FmgrInfo distincthash;
	FmgrInfo distincteq;
	FmgrInfo distinctlt; /* the DISTINCT clause's sort operator */
	bool     distinctNullsFirst;
	/* The other arguments, constants (string_agg(DISTINCT x, ',')). */
	Datum distinctConsts[CONTINUOUS_MAX_AGG_ARGS];
	bool  distinctConstNulls[CONTINUOUS_MAX_AGG_ARGS];
	int16 argLen;
	bool  argByVal;
	char  argAlign;

	/*
	 * Taking a row out (views over tables).  invertible: the moving-aggregate
	 * inverse of pg_aggregate applies to this state and is known never to
	 * decline (see agg_init); otherwise the view keeps the argument rows,
	 * encoded with argdesc, and recomputes the state when one leaves.
	 */
	bool      invertible;
	FmgrInfo  invtransfn;
	TupleDesc argdesc;

	/*
	 * Aggregates whose state is a Multiset of input rows (encoded with
	 * argdesc) and their counts, the stored one its stored form (bytea).
	 * States merge by adding counts and a row is taken out by subtracting
	 * one (invertible); a read sorts the rows by sortKeys.
	 *
	 * agg(x ORDER BY y) (not DISTINCT), sortedInputs: the rows are the
	 * arguments and ORDER BY keys; the transition function runs over them
	 * in order.
	 *
	 * agg(x) without a combine function (string_agg, array_agg, json_agg...,
	 * not DISTINCT), sortedInputs and appliedOrder: the rows are the
	 * arguments, the source row and its position (AGG_ROW_INPUTS), sorted by
	 * position, so the transition function sees them in the order they were
	 * applied.  Taking a row out removes the earliest one with the same
	 * arguments and source row.
	 *
	 * percentile_cont, percentile_disc, mode and the hypothetical-set
	 * aggregates of one argument (orderedset.c), ordered: the rows are the
	 * WITHIN GROUP values (NULLs only for the hypothetical-set ones), sorted
	 * by the WITHIN GROUP clause (one key, on input 0).
	 */
	bool            sortedInputs;
	bool            appliedOrder;
	int             numSortKeys;
	AttrNumber      sortKeyInput[CONTINUOUS_MAX_AGG_ARGS]; /* 0-based input of each key */
	SortSupportData sortKeys[CONTINUOUS_MAX_AGG_ARGS];
	OrderedSetKind  ordered;      /* ORDERED_NONE for other aggregates */
	bool            orderedMulti; /* an array of fractions */
	Datum           fraction;     /* the constant direct argument */
	bool            fractionIsNull;
	OrderedType     orderedType;
} ContinuousAgg;

/* Checks that an aggregate can be maintained; errors name it otherwise. */
extern void agg_check_supported(Aggref *aggref);

extern void agg_init(ContinuousAgg *agg, Aggref *aggref);

/* A transition state and the memory context that owns it. */
extern void  agg_init_state(ContinuousAgg *agg, Datum *state, bool *isnull,
							MemoryContext statecxt);
extern void  agg_advance(ContinuousAgg *agg, Datum *state, bool *isnull,
						 Datum *args, bool *argnulls, MemoryContext statecxt);
extern void  agg_combine(ContinuousAgg *agg, Datum *state, bool *isnull,
						 Datum other, bool otherisnull, MemoryContext statecxt);
extern Datum agg_to_stored(ContinuousAgg *agg, Datum state, bool isnull);
extern Datum agg_from_stored(ContinuousAgg *agg, Datum stored, bool isnull,
							 MemoryContext statecxt);
extern bool  agg_retract(ContinuousAgg *agg, Datum *state, bool *isnull,
						 Datum *args, bool *argnulls, MemoryContext statecxt);
extern char *agg_encode_args(ContinuousAgg *agg, Datum *args, bool *argnulls, uint32 *len);
extern void  agg_decode_args(ContinuousAgg *agg, const char *data, uint32 len,
							 Datum *args, bool *argnulls);
extern Datum agg_finalize(ContinuousAgg *agg, Datum state, bool isnull,
						  bool *resultisnull, MemoryContext statecxt);

#endif /* CONTINUOUS_AGGREGATE_H */
