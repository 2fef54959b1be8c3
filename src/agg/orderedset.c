/*-------------------------------------------------------------------------
 * orderedset.c
 *	  The results of the ordered-set aggregates percentile_cont,
 *	  percentile_disc and mode, from the distinct non-NULL values of their
 *	  WITHIN GROUP argument, sorted, with their counts.
 *
 * PostgreSQL's own final functions read a tuplesort that only its executor
 * can build; a continuous view keeps, per group, the values with their
 * counts instead (aggregate.c), which merge by adding counts and take rows
 * out by subtracting them.  The rules here are PostgreSQL's, so a view
 * returns what its defining query returns:
 *
 *	percentile_disc(p): the value at row max(1, ceil(p * N)) of the N rows
 *		in order (rows counted from 1);
 *	percentile_cont(p): rows floor(p * (N - 1)) and ceil(p * (N - 1))
 *		(counted from 0), interpolated as lo + p' * (hi - lo), p' the
 *		fractional part of p * (N - 1), in float8 or interval arithmetic;
 *	mode(): the value of the longest run of equal values; of runs equally
 *		long, the first in order;
 *	rank(x), dense_rank(x), percent_rank(x), cume_dist(x) (hypothetical-set,
 *		one argument): where a row x would stand among the rows, NULLs
 *		included and placed as the ORDER BY says: rank is 1 plus the rows
 *		before x, dense_rank 1 plus the distinct values before x,
 *		percent_rank (rank - 1) / N (0 without rows), cume_dist 1 plus the
 *		rows before or equal to x, over N + 1.
 *
 * A NULL fraction gives NULL, and one outside [0, 1] an error (22003);
 * with an array of fractions, the result is an array of the same shape
 * with NULL for a NULL fraction.  No rows (or only NULL values) give NULL.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"

#include "agg/orderedset.h"

/* Which ordered-set aggregate aggfnoid is, if one this module computes. */
OrderedSetKind
ordered_set_kind(Oid aggfnoid, bool *multi)
{
	*multi = false;
	switch (aggfnoid)
	{
		case F_PERCENTILE_CONT__FLOAT8_FLOAT8:
		case F_PERCENTILE_CONT__FLOAT8_INTERVAL:
			*multi = true;
			/* FALLTHROUGH */
		case F_PERCENTILE_CONT_FLOAT8_FLOAT8:
		case F_PERCENTILE_CONT_FLOAT8_INTERVAL:
			return ORDERED_PERCENTILE_CONT;
		case F_PERCENTILE_DISC__FLOAT8_ANYELEMENT:
			*multi = true;
			/* FALLTHROUGH */
		case F_PERCENTILE_DISC_FLOAT8_ANYELEMENT:
			return ORDERED_PERCENTILE_DISC;
		case F_MODE:
			return ORDERED_MODE;
		case F_RANK_ANY:
			return ORDERED_RANK;
		case F_DENSE_RANK_ANY:
			return ORDERED_DENSE_RANK;
		case F_PERCENT_RANK_ANY:
			return ORDERED_PERCENT_RANK;
		case F_CUME_DIST_ANY:
			return ORDERED_CUME_DIST;
		default:
			return ORDERED_NONE;
	}
}

/* The value at row (counted from 0) of the rows the counted values stand for. */
static Datum
value_at_row(const CountedValue *sorted, int nsorted, int64 row)
{
	for (int i = 0; i < nsorted; i++)
	{
		if (row < sorted[i].count)
			return sorted[i].value;
		row -= sorted[i].count;
	}
	elog(ERROR, "missing row in ordered-set aggregate");
	return (Datum) 0; /* keep the compiler quiet */
}

static double
checked_fraction(Datum fraction)
{
	double p = DatumGetFloat8(fraction);

	if (p < 0 || p > 1 || isnan(p))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("percentile value %g is not between 0 and 1", p)));
	return p;
}

/* lo + pct * (hi - lo), in the arithmetic of the type. */
static Datum
interpolate(Oid type, Datum lo, Datum hi, double pct)
{
	if (type == FLOAT8OID)
	{
		double loval = DatumGetFloat8(lo);
		double hival = DatumGetFloat8(hi);

		return Float8GetDatum(loval + (pct * (hival - loval)));
	}
	return DirectFunctionCall2(interval_pl,
							   DirectFunctionCall2(interval_mul,
												   DirectFunctionCall2(interval_mi, hi, lo),
												   Float8GetDatum(pct)),
							   lo);
}

/* One fraction's result over n rows (n > 0). */
static Datum
percentile(OrderedSetKind kind, const OrderedType *type, double p, const CountedValue *sorted,
		   int nsorted, int64 n)
{
	if (kind == ORDERED_PERCENTILE_DISC)
	{
		int64 row = Max((int64) ceil(p * n), 1);

		return value_at_row(sorted, nsorted, row - 1);
	}
	else
	{
		double scaled = p * (n - 1);
		int64  first = (int64) floor(scaled);
		int64  second = (int64) ceil(scaled);
		Datum  lo = value_at_row(sorted, nsorted, first);

		if (first == second)
			return lo;
		return interpolate(type->type, lo, value_at_row(sorted, nsorted, second), scaled - first);
	}
}

static Datum
mode_of(const CountedValue *sorted, int nsorted)
{
	int best = 0;

	for (int i = 1; i < nsorted; i++)
		if (sorted[i].count > sorted[best].count)
			best = i;
	return sorted[best].value;
}

/*
 * The result for the given fraction (a float8, or a float8[] when multi;
 * unused by mode) over sorted, which holds each distinct value once, in
 * order, with its count.  Allocated in the current memory context.
 */
Datum
ordered_set_result(OrderedSetKind kind, bool multi, const OrderedType *type, Datum fraction,
				   bool fractionisnull, const CountedValue *sorted, int nsorted, bool *isnull)
{
	int64      n = 0;
	ArrayType *param;
	Datum     *fractions;
	bool      *fractionnulls;
	int        nfractions;
	Datum     *results;
	bool      *resultnulls;
	Datum      result;

	for (int i = 0; i < nsorted; i++)
		n += sorted[i].count;
	*isnull = false;

	if (kind == ORDERED_MODE)
	{
		if (n == 0)
		{
			*isnull = true;
			return (Datum) 0;
		}
		return datumCopy(mode_of(sorted, nsorted), type->byval, type->len);
	}

	if (!multi)
	{
		double p;

		/* As PostgreSQL: the fraction is checked before the rows are looked at. */
		if (fractionisnull)
		{
			*isnull = true;
			return (Datum) 0;
		}
		p = checked_fraction(fraction);
		if (n == 0)
		{
			*isnull = true;
			return (Datum) 0;
		}
		return datumCopy(percentile(kind, type, p, sorted, nsorted, n), type->byval, type->len);
	}

	/* An array of fractions: no rows give NULL before the array is looked at. */
	if (n == 0 || fractionisnull)
	{
		*isnull = true;
		return (Datum) 0;
	}
	param = DatumGetArrayTypeP(fraction);
	deconstruct_array(param, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &fractions, &fractionnulls, &nfractions);
	if (nfractions == 0)
		return PointerGetDatum(construct_empty_array(type->type));
	results = palloc(sizeof(Datum) * nfractions);
	resultnulls = palloc(sizeof(bool) * nfractions);
	/* Every fraction is checked before any result is computed, as PostgreSQL does. */
	for (int i = 0; i < nfractions; i++)
		if (!fractionnulls[i])
			(void) checked_fraction(fractions[i]);
	for (int i = 0; i < nfractions; i++)
	{
		resultnulls[i] = fractionnulls[i];
		results[i] = fractionnulls[i] ? (Datum) 0
									  : percentile(kind, type, DatumGetFloat8(fractions[i]), sorted,
												   nsorted, n);
	}
	result = PointerGetDatum(construct_md_array(results, resultnulls, ARR_NDIM(param), ARR_DIMS(param),
												ARR_LBOUND(param), type->type, type->len,
												type->byval, type->align));
	return result;
}

/*
 * The result of a hypothetical-set aggregate for the row value (the direct
 * argument) among sorted, which holds each distinct value (NULL included)
 * once, in the order of sort, with its count.
 */
Datum
ordered_set_hypothetical(OrderedSetKind kind, Datum value, bool valueisnull,
						 const CountedValue *sorted, int nsorted, SortSupport sort)
{
	int64 n = 0;
	int64 before = 0;    /* rows sorting before value */
	int64 not_after = 0; /* rows sorting before or equal to value */
	int64 distinct_before = 0;

	for (int i = 0; i < nsorted; i++)
	{
		int cmp = ApplySortComparator(sorted[i].value, sorted[i].isnull, value, valueisnull, sort);

		n += sorted[i].count;
		if (cmp < 0)
		{
			before += sorted[i].count;
			distinct_before++;
		}
		if (cmp <= 0)
			not_after += sorted[i].count;
	}
	switch (kind)
	{
		case ORDERED_RANK:
			return Int64GetDatum(before + 1);
		case ORDERED_DENSE_RANK:
			return Int64GetDatum(distinct_before + 1);
		case ORDERED_PERCENT_RANK:
			return Float8GetDatum(n == 0 ? 0 : (double) before / (double) n);
		case ORDERED_CUME_DIST:
			return Float8GetDatum((double) (not_after + 1) / (double) (n + 1));
		default:
			elog(ERROR, "not a hypothetical-set aggregate: %d", (int) kind);
			return (Datum) 0;
	}
}
