/*-------------------------------------------------------------------------
 * orderedset.h
 *	  percentile_cont, percentile_disc and mode over counted sorted values.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_ORDEREDSET_H
#define CONTINUOUS_ORDEREDSET_H

typedef enum OrderedSetKind
{
	ORDERED_NONE = 0,
	ORDERED_PERCENTILE_CONT, /* over float8 or interval */
	ORDERED_PERCENTILE_DISC,
	ORDERED_MODE
} OrderedSetKind;

/* One distinct value (under the sort's equality) and how often it occurs. */
typedef struct CountedValue
{
	Datum value;
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

#endif /* CONTINUOUS_ORDEREDSET_H */
