/*-------------------------------------------------------------------------
 * orderedset.h
 *	  percentile_cont, percentile_disc and mode over counted sorted values.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_ORDEREDSET_H
#define CONTINUOUS_ORDEREDSET_H

#include "utils/sortsupport.h"

typedef enum OrderedSetKind
{
	ORDERED_NONE = 0,
	ORDERED_PERCENTILE_CONT, /* over float8 or interval */
	ORDERED_PERCENTILE_DISC,
	ORDERED_MODE,
	/* hypothetical-set: the rank of a constant among the rows */
	ORDERED_RANK,
	ORDERED_DENSE_RANK,
	ORDERED_PERCENT_RANK,
	ORDERED_CUME_DIST
} OrderedSetKind;

#define ORDERED_IS_HYPOTHETICAL(kind) ((kind) >= ORDERED_RANK)

/* One distinct value (under the sort's equality) and how often it occurs. */
typedef struct CountedValue
{
	Datum value;
	bool  isnull; /* hypothetical-set aggregates count NULLs too */
	int64 count;
} CountedValue;

/* The value type's layout, for results that are values or arrays of them. */
typedef struct OrderedType
{
	Oid   type;
	int16 len;
	bool  byval;
	char  align;
} OrderedType;

extern OrderedSetKind ordered_set_kind(Oid aggfnoid, bool *multi);
extern Datum          ordered_set_result(OrderedSetKind kind, bool multi, const OrderedType *type,
										 Datum fraction, bool fractionisnull,
										 const CountedValue *sorted, int nsorted, bool *isnull);
extern Datum          ordered_set_hypothetical(OrderedSetKind kind, Datum value, bool valueisnull,
											   const CountedValue *sorted, int nsorted,
											   SortSupport sort);

#endif /* CONTINUOUS_ORDEREDSET_H */
