/*-------------------------------------------------------------------------
 * compile.h
 *	  A continuous view's definition turned into what the worker needs to
 *	  apply changes and what a reader needs to finalize groups.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_COMPILE_H
#define CONTINUOUS_COMPILE_H

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"

#include "agg/aggregate.h"

/*
 * The window of a definition: its continuous.tumble() group key (see
 * compile_find_window).
 */
typedef struct WindowSpec
{
	int   key;         /* index among the group keys */
	int   column;      /* 1-based output column that shows it; 0: none */
	Oid   type;        /* TIMESTAMPTZOID, TIMESTAMPOID or INT8OID */
	bool  fixed_width; /* the width is a constant of fixed length */
	int64 width;       /* in microseconds, or in the bigint's units */
} WindowSpec;

typedef struct CompiledView
{
	int32         view_id;
	Oid           sourcerelid;
	Query        *query;
	MemoryContext cxt; /* owns everything below */

	/* Group key: expressions over the source row, in GROUP BY order. */
	int        nkeys;
	Expr     **keyexprs;
	Oid       *keycolls;
	FmgrInfo  *keyhashfns;
	FmgrInfo  *keyeqfns;
	int        window_key; /* index of the continuous.tumble() key, or -1 */
	WindowSpec window;     /* that key, when window_key >= 0 */

	int            naggs;
	ContinuousAgg *aggs;

	/*
	 * Group row in shared memory: key columns, then stored states.  A view
	 * over a table (retractable: rows can be updated and deleted) adds the
	 * group's row count (column rows_att, 0-based), then per aggregate the
	 * argument rows it folded (a stored Multiset, NULL for an invertible
	 * aggregate): see the header of decoder.c.
	 */
	TupleDesc groupdesc;
	bool      retractable;
	int       rows_att;

	/*
	 * Per aggregate of a view over a table that keeps its inputs (is not
	 * invertible): the aggregate whose kept inputs it uses, itself or an
	 * earlier one with the same arguments and FILTER (min(x) and max(x)
	 * keep one multiset); only that one's inputs column is filled.  -1 for
	 * an aggregate that keeps nothing.
	 */
	int *inputs_owner;
	/* Key columns then finalized aggregates: what output expressions read. */
	TupleDesc finaldesc;

	/* Apply side, built by compile_view_for_apply(). */
	TupleDesc       sourcedesc;
	ExprContext    *econtext;
	TupleTableSlot *sourceslot;
	ExprState      *qual;
	ExprState     **keystates;
	ExprState     **argstates;    /* naggs * CONTINUOUS_MAX_AGG_ARGS */
	ExprState     **filterstates; /* per aggregate: FILTER (WHERE ...), or NULL */
	ExprState      *window_time;  /* the time the window key groups by, or NULL */

	/* Read side, built by compile_view_for_read(). */
	TupleDesc  resultdesc;
	List      *outputstates; /* ExprState per non-junk target entry */
	List      *output_aggs;  /* per output: Bitmapset of the aggregates it reads */
	ExprState *having;
	Bitmapset *having_aggs;
} CompiledView;

#define COMPILE_INPUTS_ATT(cv, a) ((cv)->rows_att + 1 + (a))

/* Splits a group row (a minimal tuple of cv->groupdesc) into values and nulls. */
static inline void
compile_deform_group(CompiledView *cv, MinimalTuple row, Datum *values, bool *nulls)
{
	HeapTupleData htup;

	htup.t_len = row->t_len + MINIMAL_TUPLE_OFFSET;
	htup.t_data = (HeapTupleHeader) ((char *) row - MINIMAL_TUPLE_OFFSET);
	heap_deform_tuple(&htup, cv->groupdesc, values, nulls);
}

extern int           compile_find_window(Query *query, WindowSpec *window);
extern CompiledView *compile_view(int32 view_id, Oid sourcerelid, const char *querytree);
extern void          compile_view_for_apply(CompiledView *cv, TupleDesc sourcedesc);
extern void          compile_view_for_read(CompiledView *cv);
extern void          compile_view_free(CompiledView *cv);
extern List         *compile_collect_aggrefs(Query *query);
extern bool          compile_uses_session_settings(CompiledView *cv);
extern bool          compile_query_calls(CompiledView *cv, check_function_callback checker,
										 void *context);
extern bool          compile_calls_user_functions(CompiledView *cv);

extern uint32 compile_hash_key(CompiledView *cv, FmgrInfo *hashfns, Datum *keys,
							   bool *keynulls);
extern bool   compile_keys_equal(CompiledView *cv, Datum *a, bool *anulls,
								 Datum *b, bool *bnulls);

#endif /* CONTINUOUS_COMPILE_H */
