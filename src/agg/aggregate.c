/*-------------------------------------------------------------------------
 * aggregate.c
 *	  Calls an aggregate's support functions from pg_aggregate the way the
 *	  executor's Agg node does, so any aggregate with a combine function can
 *	  be maintained: built-in or from another extension.
 *
 * Vocabulary
 *	transition state: the aggregate's running value (pg_aggregate.aggtranstype).
 *	stored state: what is kept in shared memory; the state itself, or the
 *		output of the serialization function when the state is "internal"
 *		(a process-local pointer).
 *	state context: the memory context that owns a state.  Transition and
 *		combine functions find it through AggCheckCallContext(), which looks
 *		at a minimal AggState node this module passes as fcinfo->context.
 *
 * Semantics reproduced from nodeAgg.c: a strict transition function skips
 * rows with a NULL input, and when the initial value is NULL the first
 * non-NULL input becomes the state; a strict combine function keeps a
 * non-NULL side when the other is NULL; a strict final function returns NULL
 * for a NULL state; by-reference states returned as a new pointer are copied
 * into the state context.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/tlist.h"
#include "parser/parse_agg.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "agg/aggregate.h"
#include "agg/distinct.h"
#include "agg/multiset.h"

/* The minimal AggState that satisfies AggCheckCallContext(). */
static AggState    *fake_aggstate = NULL;
static ExprContext *fake_aggcontext = NULL;

static Node *
agg_call_context(MemoryContext statecxt)
{
	if (fake_aggstate == NULL)
	{
		fake_aggstate = MemoryContextAllocZero(TopMemoryContext, sizeof(AggState));
		fake_aggstate->ss.ps.type = T_AggState;
		fake_aggcontext = MemoryContextAllocZero(TopMemoryContext, sizeof(ExprContext));
		fake_aggcontext->type = T_ExprContext;
		fake_aggstate->curaggcontext = fake_aggcontext;
	}
	fake_aggcontext->ecxt_per_tuple_memory = statecxt;
	return (Node *) fake_aggstate;
}

/*
 * Built-in inverse transition functions that never return NULL ("cannot
 * take this value out"): integer counts and sums, and numeric states fed
 * integers (their display scale is always 0).  numeric_accum_inv, for one,
 * declines when the value with the largest scale leaves, and an extension's
 * inverse may decline for reasons of its own: those aggregates keep their
 * argument rows instead.
 */
static bool
inverse_never_declines(Oid invtransfn)
{
	switch (invtransfn)
	{
		case F_INT8DEC:
		case F_INT8DEC_ANY:
		case F_INT2_AVG_ACCUM_INV:
		case F_INT4_AVG_ACCUM_INV:
		case F_INT8_AVG_ACCUM_INV:
		case F_INT2_ACCUM_INV:
		case F_INT4_ACCUM_INV:
		case F_INT8_ACCUM_INV:
		case F_INTERVAL_ACCUM_INV:
			return true;
		default:
			return false;
	}
}

static const char *
agg_name(Oid aggfnoid)
{
	return get_func_name(aggfnoid);
}

/*
 * Are the arguments of a DISTINCT aggregate after the first constants (the
 * same for every row, so DISTINCT is over the first)?  Their values go to
 * values/nulls when given.
 */
static bool
distinct_others_constant(Aggref *aggref, Datum *values, bool *nulls)
{
	ListCell *lc;
	int       i = 0;

	foreach(lc, aggref->args)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node        *folded;

		if (i++ == 0 || tle->resjunk)
			continue;
		folded = eval_const_expressions(NULL, (Node *) tle->expr);
		if (!IsA(folded, Const))
			return false;
		if (values)
		{
			values[i - 1] = ((Const *) folded)->constvalue;
			nulls[i - 1] = ((Const *) folded)->constisnull;
		}
	}
	return true;
}

/*
 * The DISTINCT clause of the aggregate's first argument: PostgreSQL lists
 * ORDER BY items first in aggdistinct, so it need not be the first one.
 * NULL if the first argument has none.
 */
static SortGroupClause *
distinct_clause_of_first(Aggref *aggref)
{
	TargetEntry *first = linitial_node(TargetEntry, aggref->args);
	ListCell    *lc;

	foreach(lc, aggref->aggdistinct)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);

		if (sgc->tleSortGroupRef == first->ressortgroupref)
			return sgc;
	}
	return NULL;
}

/*
 * Is the direct argument of an ordered-set aggregate (the fraction of a
 * percentile; mode has none) a constant once folded?  If so and value is
 * given, sets it, allocated in the current memory context.
 */
static bool
fraction_constant(Aggref *aggref, Datum *value, bool *isnull)
{
	Node *folded;

	if (aggref->aggdirectargs == NIL)
	{
		if (value)
		{
			*value = (Datum) 0;
			*isnull = true;
		}
		return true;
	}
	if (list_length(aggref->aggdirectargs) != 1)
		return false;
	folded = eval_const_expressions(NULL, copyObject(linitial(aggref->aggdirectargs)));
	if (!IsA(folded, Const))
		return false;
	if (value)
	{
		Const *c = (Const *) folded;

		*isnull = c->constisnull;
		*value = c->constisnull ? (Datum) 0 : datumCopy(c->constvalue, c->constbyval, c->constlen);
	}
	return true;
}

/*
 * Must the view keep an aggregate's input rows in the order they were
 * applied, having no way to merge two of its states: no combine function,
 * or an internal state that cannot be serialized into shared memory?
 * (Not for DISTINCT or ORDER BY inside, which keep inputs of their own.)
 */
static bool
keeps_applied_order(Form_pg_aggregate form)
{
	return !OidIsValid(form->aggcombinefn) ||
		   (form->aggtranstype == INTERNALOID &&
			(!OidIsValid(form->aggserialfn) || !OidIsValid(form->aggdeserialfn)));
}

void
agg_check_supported(Aggref *aggref)
{
	HeapTuple         tup;
	Form_pg_aggregate form;
	bool              multi;

	if (aggref->aggkind == AGGKIND_HYPOTHETICAL && ordered_set_kind(aggref->aggfnoid, &multi) != ORDERED_NONE)
	{
		if (list_length(aggref->args) != 1 || !fraction_constant(aggref, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("hypothetical-set aggregate %s needs one constant argument in a continuous view",
							agg_name(aggref->aggfnoid)),
					 errhint("Rank one constant among one column's values, such as rank(100) WITHIN GROUP (ORDER BY latency).")));
		return;
	}
	if (aggref->aggkind == AGGKIND_ORDERED_SET && ordered_set_kind(aggref->aggfnoid, &multi) != ORDERED_NONE)
	{
		if (!fraction_constant(aggref, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the fraction of %s must be a constant in a continuous view",
							agg_name(aggref->aggfnoid)),
					 errhint("Write the fraction as a literal, such as percentile_cont(0.5) or percentile_cont(ARRAY[0.5, 0.9]).")));
		/* The view keeps the values with their counts: no support function is needed. */
		return;
	}
	if (aggref->aggkind != AGGKIND_NORMAL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s aggregate %s is not supported in a continuous view",
						aggref->aggkind == AGGKIND_HYPOTHETICAL ? "hypothetical-set" : "ordered-set",
						agg_name(aggref->aggfnoid)),
				 errdetail("Of the ordered-set aggregates, continuous views maintain percentile_cont, percentile_disc, mode, rank, dense_rank, percent_rank and cume_dist."),
				 errhint("Use a combinable approximation such as tdigest_percentile() of the tdigest extension.")));
	if (aggref->aggorder != NIL && aggref->aggdistinct == NIL)
	{
		/*
		 * The view keeps the input rows and runs the aggregate over them in
		 * order when it is read: no combine or serialization function is
		 * needed.
		 */
		if (list_length(aggref->args) > CONTINUOUS_MAX_AGG_ARGS)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("aggregate %s has too many arguments and ORDER BY keys for a continuous view",
							agg_name(aggref->aggfnoid))));
		return;
	}
	if (aggref->aggorder != NIL &&
		(list_length(aggref->aggorder) != 1 ||
		 distinct_clause_of_first(aggref) == NULL ||
		 !equal(linitial(aggref->aggorder), distinct_clause_of_first(aggref))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ORDER BY inside DISTINCT aggregate %s is supported in a continuous view only over the distinct argument",
						agg_name(aggref->aggfnoid)),
				 errhint("Order by the distinct argument, or remove DISTINCT.")));
	if (aggref->aggdistinct != NIL)
	{
		SortGroupClause *sgc = distinct_clause_of_first(aggref);
		Oid              argtype = exprType((Node *) linitial_node(TargetEntry, aggref->args)->expr);

		/* The other arguments must be constants: DISTINCT is then over the first. */
		if (list_length(aggref->args) > CONTINUOUS_MAX_AGG_ARGS ||
			!distinct_others_constant(aggref, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DISTINCT over several arguments of aggregate %s is not supported in a continuous view",
							agg_name(aggref->aggfnoid)),
					 errdetail("Only the first argument of a DISTINCT aggregate may vary from row to row; the others must be constants."),
					 errhint("Use DISTINCT over one column, with constant other arguments such as string_agg(DISTINCT url, ',').")));
		if (sgc == NULL)
			elog(ERROR, "DISTINCT clause of the first argument of aggregate %u not found", aggref->aggfnoid);
		if (!sgc->hashable || !OidIsValid(sgc->sortop) || !OidIsValid(get_array_type(argtype)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DISTINCT over type %s is not supported in a continuous view",
							format_type_be(argtype)),
					 errdetail("The values must be hashable and sortable and have an array type.")));

		/*
		 * The distinct values are kept and the aggregate runs over them at
		 * read time: no combine or serialization function is needed.
		 */
		return;
	}
	if (list_length(aggref->args) > CONTINUOUS_MAX_AGG_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aggregate %s has too many arguments for a continuous view",
						agg_name(aggref->aggfnoid))));

	tup = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(aggref->aggfnoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for aggregate %u", aggref->aggfnoid);
	form = (Form_pg_aggregate) GETSTRUCT(tup);

	/*
	 * Without a way to merge states, the view keeps the input rows with
	 * their positions and runs the aggregate over them in the order they
	 * were applied when it is read (see keeps_applied_order).
	 */
	if (keeps_applied_order(form) &&
		list_length(aggref->args) + AGG_ROW_INPUTS > CONTINUOUS_MAX_AGG_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aggregate %s has too many arguments for a continuous view",
						agg_name(aggref->aggfnoid)),
				 errdetail("A view keeps the inputs of an aggregate without a combine function, of at most %d arguments.",
						   CONTINUOUS_MAX_AGG_ARGS - AGG_ROW_INPUTS),
				 errhint("Pass fewer arguments, combining some into one (a row or an array).")));
	ReleaseSysCache(tup);
}

/* agg_init of percentile_cont, percentile_disc and mode (see ContinuousAgg). */
static void
init_ordered_set(ContinuousAgg *agg, Aggref *aggref)
{
	TargetEntry     *arg = linitial_node(TargetEntry, aggref->args);
	SortGroupClause *sgc = linitial_node(SortGroupClause, aggref->aggorder);
	OrderedType     *type = &agg->orderedType;

	agg->ordered = ordered_set_kind(aggref->aggfnoid, &agg->orderedMulti);
	if (agg->ordered == ORDERED_NONE)
		elog(ERROR, "aggregate %u is not an ordered-set aggregate continuous views maintain",
			 aggref->aggfnoid);
	if (!fraction_constant(aggref, &agg->fraction, &agg->fractionIsNull))
		elog(ERROR, "the fraction of aggregate %u is not a constant", aggref->aggfnoid);
	agg->numArgs = agg->numInputs = 1;
	agg->inputTypes[0] = exprType((Node *) arg->expr);
	type->type = agg->inputTypes[0];
	get_typlenbyvalalign(type->type, &type->len, &type->byval, &type->align);
	agg->numSortKeys = 1;
	agg->sortKeyInput[0] = 0;
	agg->sortKeys[0].ssup_cxt = CurrentMemoryContext;
	agg->sortKeys[0].ssup_collation = exprCollation((Node *) arg->expr);
	agg->sortKeys[0].ssup_nulls_first = sgc->nulls_first;
	PrepareSortSupportFromOrderingOp(sgc->sortop, &agg->sortKeys[0]);
	agg->argdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(agg->argdesc, 1, NULL, type->type, -1, 0);
	agg->transtype = agg->storedType = BYTEAOID;
	get_typlenbyval(BYTEAOID, &agg->storedTypeLen, &agg->storedTypeByVal);
	agg->transtypeLen = agg->storedTypeLen;
	agg->transtypeByVal = agg->storedTypeByVal;
	agg->invertible = true;
}

/*
 * agg_init of an aggregate with ORDER BY inside (see ContinuousAgg): every
 * entry of aggref->args is an input (the arguments, then the keys that are
 * not arguments), and each ORDER BY key sorts one of them.
 */
static void
init_sorted_inputs(ContinuousAgg *agg, Aggref *aggref)
{
	ListCell *lc;

	agg->sortedInputs = true;
	agg->numInputs = list_length(aggref->args);
	foreach(lc, aggref->aggorder)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);
		SortSupport      ssup = &agg->sortKeys[agg->numSortKeys];
		TargetEntry     *tle = get_sortgroupclause_tle(sgc, aggref->args);

		agg->sortKeyInput[agg->numSortKeys++] = tle->resno - 1;
		ssup->ssup_cxt = CurrentMemoryContext;
		ssup->ssup_collation = exprCollation((Node *) tle->expr);
		ssup->ssup_nulls_first = sgc->nulls_first;
		PrepareSortSupportFromOrderingOp(sgc->sortop, ssup);
	}
	agg->storedType = BYTEAOID;
	get_typlenbyval(BYTEAOID, &agg->storedTypeLen, &agg->storedTypeByVal);
	agg->invertible = true;
}

/*
 * agg_init of an aggregate without a combine function, ORDER BY or
 * DISTINCT (see ContinuousAgg): its inputs are its arguments, then its
 * source row and the position of that row, which sorts them.
 */
static void
init_applied_order(ContinuousAgg *agg)
{
	agg->sortedInputs = true;
	agg->appliedOrder = true;
	agg->numInputs = agg->numArgs + AGG_ROW_INPUTS;
	for (int k = 0; k < AGG_POSITION_INPUTS; k++)
	{
		SortSupport ssup = &agg->sortKeys[agg->numSortKeys];

		agg->sortKeyInput[agg->numSortKeys++] = agg->numInputs - AGG_POSITION_INPUTS + k;
		ssup->ssup_cxt = CurrentMemoryContext;
		ssup->ssup_collation = InvalidOid;
		ssup->ssup_nulls_first = false;
		PrepareSortSupportFromOrderingOp(Int8LessOperator, ssup);
	}
	agg->storedType = BYTEAOID;
	get_typlenbyval(BYTEAOID, &agg->storedTypeLen, &agg->storedTypeByVal);
	agg->invertible = true;
}

/*
 * Looks up the aggregate's support functions.  Allocates in the current
 * memory context, which must live as long as the ContinuousAgg.
 */
void
agg_init(ContinuousAgg *agg, Aggref *aggref)
{
	HeapTuple         tup;
	Form_pg_aggregate form;
	Oid               transfn_oid,
		combinefn_oid,
		finalfn_oid;
	Expr *transfnexpr,
		*invtransfnexpr,
		*combinefnexpr,
		*finalfnexpr;
	Datum     textInitVal;
	bool      initValueIsNull;
	bool      applied;
	ListCell *lc;

	memset(agg, 0, sizeof(ContinuousAgg));
	agg->aggref = aggref;
	agg->aggfnoid = aggref->aggfnoid;
	agg->inputCollation = aggref->inputcollid;
	agg->resulttype = aggref->aggtype;
	get_typlenbyval(agg->resulttype, &agg->resulttypeLen, &agg->resulttypeByVal);

	if (aggref->aggkind != AGGKIND_NORMAL)
	{
		init_ordered_set(agg, aggref);
		return;
	}

	foreach(lc, aggref->aggargtypes)
		agg->inputTypes[agg->numArgs++] = lfirst_oid(lc);

	tup = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(aggref->aggfnoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for aggregate %u", aggref->aggfnoid);
	form = (Form_pg_aggregate) GETSTRUCT(tup);
	transfn_oid = form->aggtransfn;
	combinefn_oid = form->aggcombinefn;
	finalfn_oid = form->aggfinalfn;

	agg->transtype = resolve_aggregate_transtype(aggref->aggfnoid, form->aggtranstype,
												 agg->inputTypes, agg->numArgs);
	get_typlenbyval(agg->transtype, &agg->transtypeLen, &agg->transtypeByVal);

	build_aggregate_transfn_expr(agg->inputTypes, agg->numArgs, 0,
								 aggref->aggvariadic, agg->transtype,
								 agg->inputCollation, transfn_oid, InvalidOid,
								 &transfnexpr, &invtransfnexpr);
	fmgr_info(transfn_oid, &agg->transfn);
	fmgr_info_set_expr((Node *) transfnexpr, &agg->transfn);

	/*
	 * A combine function is called like a transition function of one input.
	 * (A DISTINCT aggregate may lack one: its states are never combined.)
	 */
	applied = keeps_applied_order(form);
	if (OidIsValid(combinefn_oid) && !applied)
	{
		build_aggregate_transfn_expr(&agg->transtype, 1, 0, false, agg->transtype,
									 agg->inputCollation, combinefn_oid, InvalidOid,
									 &combinefnexpr, &invtransfnexpr);
		fmgr_info(combinefn_oid, &agg->combinefn);
		fmgr_info_set_expr((Node *) combinefnexpr, &agg->combinefn);
	}

	if (agg->transtype == INTERNALOID && !applied)
	{
		Expr *serialfnexpr,
			*deserialfnexpr;

		build_aggregate_serialfn_expr(form->aggserialfn, &serialfnexpr);
		fmgr_info(form->aggserialfn, &agg->serialfn);
		fmgr_info_set_expr((Node *) serialfnexpr, &agg->serialfn);
		build_aggregate_deserialfn_expr(form->aggdeserialfn, &deserialfnexpr);
		fmgr_info(form->aggdeserialfn, &agg->deserialfn);
		fmgr_info_set_expr((Node *) deserialfnexpr, &agg->deserialfn);
		agg->storedType = BYTEAOID;
	}
	else
		agg->storedType = agg->transtype;
	get_typlenbyval(agg->storedType, &agg->storedTypeLen, &agg->storedTypeByVal);

	if (OidIsValid(finalfn_oid))
	{
		agg->numFinalArgs = form->aggfinalextra ? agg->numArgs + 1 : 1;
		build_aggregate_finalfn_expr(agg->inputTypes, agg->numFinalArgs,
									 agg->transtype, agg->resulttype,
									 agg->inputCollation, finalfn_oid, &finalfnexpr);
		fmgr_info(finalfn_oid, &agg->finalfn);
		fmgr_info_set_expr((Node *) finalfnexpr, &agg->finalfn);
	}

	textInitVal = SysCacheGetAttr(AGGFNOID, tup, Anum_pg_aggregate_agginitval,
								  &initValueIsNull);
	agg->initValueIsNull = initValueIsNull;
	if (!initValueIsNull)
	{
		Oid typinput,
			typioparam;
		char *strInitVal = TextDatumGetCString(textInitVal);

		getTypeInputInfo(agg->transtype, &typinput, &typioparam);
		agg->initValue = OidInputFunctionCall(typinput, strInitVal, typioparam, -1);
	}

	/*
	 * The inverse can be applied to the plain state only when the moving
	 * aggregate is the plain one plus an inverse.
	 */
	if (OidIsValid(form->aggminvtransfn) && aggref->aggdistinct == NIL &&
		form->aggmtransfn == transfn_oid && form->aggmtranstype == form->aggtranstype &&
		form->aggmfinalfn == finalfn_oid && form->aggmfinalextra == form->aggfinalextra &&
		inverse_never_declines(form->aggminvtransfn))
	{
		Datum minit;
		bool  minitIsNull;

		minit = SysCacheGetAttr(AGGFNOID, tup, Anum_pg_aggregate_aggminitval, &minitIsNull);
		if (minitIsNull == initValueIsNull &&
			(minitIsNull || strcmp(TextDatumGetCString(minit), TextDatumGetCString(textInitVal)) == 0))
		{
			build_aggregate_transfn_expr(agg->inputTypes, agg->numArgs, 0,
										 aggref->aggvariadic, agg->transtype,
										 agg->inputCollation, transfn_oid, form->aggminvtransfn,
										 &transfnexpr, &invtransfnexpr);
			fmgr_info(form->aggminvtransfn, &agg->invtransfn);
			fmgr_info_set_expr((Node *) invtransfnexpr, &agg->invtransfn);
			agg->invertible = true;
		}
	}
	ReleaseSysCache(tup);

	agg->numInputs = agg->numArgs;
	if (aggref->aggorder != NIL && aggref->aggdistinct == NIL)
		init_sorted_inputs(agg, aggref);
	else if (aggref->aggdistinct == NIL && applied)
		init_applied_order(agg);
	agg->argdesc = CreateTemplateTupleDesc(agg->numInputs);
	for (int i = 0; i < agg->numInputs; i++)
		TupleDescInitEntry(agg->argdesc, i + 1, NULL,
						   i < list_length(aggref->args)
							   ? exprType((Node *) list_nth_node(TargetEntry, aggref->args, i)->expr)
							   : INT8OID,
						   -1, 0);

	if (aggref->aggdistinct != NIL)
	{
		SortGroupClause *sgc = distinct_clause_of_first(aggref);
		Oid              lhs_hash,
			rhs_hash;

		if (sgc == NULL)
			elog(ERROR, "DISTINCT clause of the first argument of aggregate %u not found", aggref->aggfnoid);
		agg->distinct = true;
		if (!get_op_hash_functions(sgc->eqop, &lhs_hash, &rhs_hash))
			elog(ERROR, "could not find hash function for operator %u", sgc->eqop);
		fmgr_info(lhs_hash, &agg->distincthash);
		fmgr_info(get_opcode(sgc->eqop), &agg->distincteq);
		fmgr_info(get_opcode(sgc->sortop), &agg->distinctlt);
		agg->distinctNullsFirst = sgc->nulls_first;
		(void) distinct_others_constant(aggref, agg->distinctConsts, agg->distinctConstNulls);
		get_typlenbyvalalign(agg->inputTypes[0], &agg->argLen, &agg->argByVal, &agg->argAlign);
		agg->storedType = get_array_type(agg->inputTypes[0]);
		get_typlenbyval(agg->storedType, &agg->storedTypeLen, &agg->storedTypeByVal);
	}

	/* Executor rule: a strict transfn with NULL init needs input = state type. */
	if (agg->transfn.fn_strict && agg->initValueIsNull &&
		(agg->numArgs < 1 || !IsBinaryCoercible(agg->inputTypes[0], agg->transtype)))
		elog(ERROR, "aggregate %u needs an initial value", agg->aggfnoid);
}

static DistinctSet *
new_distinct_set(ContinuousAgg *agg, MemoryContext statecxt)
{
	return distinct_set_create(statecxt, &agg->distincthash, &agg->distincteq,
							   agg->inputCollation, agg->argLen, agg->argByVal, agg->argAlign);
}

static void
init_plain_state(ContinuousAgg *agg, Datum *state, bool *isnull, MemoryContext statecxt)
{
	*isnull = agg->initValueIsNull;
	if (agg->initValueIsNull)
		*state = (Datum) 0;
	else
	{
		MemoryContext old = MemoryContextSwitchTo(statecxt);

		*state = datumCopy(agg->initValue, agg->transtypeByVal, agg->transtypeLen);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Replaces *state by newval, copying a new by-reference value into statecxt
 * and freeing the old one (as the executor does).
 */
static void
agg_keep_result(ContinuousAgg *agg, Datum *state, bool *isnull,
				Datum newval, bool newisnull, MemoryContext statecxt)
{
	if (!agg->transtypeByVal && DatumGetPointer(newval) != DatumGetPointer(*state))
	{
		if (!newisnull)
		{
			MemoryContext old = MemoryContextSwitchTo(statecxt);

			newval = datumCopy(newval, false, agg->transtypeLen);
			MemoryContextSwitchTo(old);
		}
		if (!*isnull)
			pfree(DatumGetPointer(*state));
	}
	*state = newval;
	*isnull = newisnull;
}

/* Folds one input row into a plain (not DISTINCT) transition state. */
static void
advance_plain(ContinuousAgg *agg, Datum *state, bool *isnull,
			  Datum *args, bool *argnulls, MemoryContext statecxt)
{
	LOCAL_FCINFO(fcinfo, CONTINUOUS_MAX_AGG_ARGS + 1);
	Datum result;

	if (agg->transfn.fn_strict)
	{
		for (int i = 0; i < agg->numArgs; i++)
			if (argnulls[i])
				return;
		if (*isnull)
		{
			/* The first non-NULL input becomes the state. */
			MemoryContext old = MemoryContextSwitchTo(statecxt);

			*state = datumCopy(args[0], agg->transtypeByVal, agg->transtypeLen);
			*isnull = false;
			MemoryContextSwitchTo(old);
			return;
		}
	}

	InitFunctionCallInfoData(*fcinfo, &agg->transfn, agg->numArgs + 1,
							 agg->inputCollation, agg_call_context(statecxt), NULL);
	fcinfo->args[0].value = *state;
	fcinfo->args[0].isnull = *isnull;
	for (int i = 0; i < agg->numArgs; i++)
	{
		fcinfo->args[i + 1].value = args[i];
		fcinfo->args[i + 1].isnull = argnulls[i];
	}
	result = FunctionCallInvoke(fcinfo);
	agg_keep_result(agg, state, isnull, result, fcinfo->isnull, statecxt);
}

/*
 * Adds delta to the count of a value of an ordered-set aggregate (NULL
 * values count only for the hypothetical-set ones), or of an input row of
 * an aggregate with ORDER BY inside.
 */
static void
count_ordered_value(ContinuousAgg *agg, Datum state, Datum *args, bool *argnulls, int64 delta)
{
	uint32 len;
	char  *data;

	if (agg->ordered && argnulls[0] && !ORDERED_IS_HYPOTHETICAL(agg->ordered))
		return;
	data = agg_encode_args(agg, args, argnulls, &len);
	multiset_add((Multiset *) DatumGetPointer(state), data, len, delta);
	pfree(data);
}

/*
 * An encoded position (agg_encode_args of the AGG_POSITION_INPUTS int8s,
 * each a NULL flag and 8 bytes), the tail of an input row kept in applied
 * order: rows that differ only there share a Multiset bucket.
 */
#define POSITION_BYTES (AGG_POSITION_INPUTS * (1 + sizeof(int64)))

static int
compare_positions(const char *a, const char *b)
{
	for (int k = 0; k < AGG_POSITION_INPUTS; k++)
	{
		int64 x,
			y;

		memcpy(&x, a + k * (1 + sizeof(int64)) + 1, sizeof(int64));
		memcpy(&y, b + k * (1 + sizeof(int64)) + 1, sizeof(int64));
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* The Multiset of an ordered-set aggregate or one that keeps its input rows. */
static Multiset *
new_multiset(ContinuousAgg *agg, MemoryContext statecxt)
{
	return multiset_create_with_tail(statecxt, agg->appliedOrder ? POSITION_BYTES : 0);
}

/* A new transition state, in statecxt. */
void
agg_init_state(ContinuousAgg *agg, Datum *state, bool *isnull, MemoryContext statecxt)
{
	if (agg->ordered || agg->sortedInputs)
	{
		*state = PointerGetDatum(new_multiset(agg, statecxt));
		*isnull = false;
	}
	else if (agg->distinct)
	{
		*state = PointerGetDatum(new_distinct_set(agg, statecxt));
		*isnull = false;
	}
	else
		init_plain_state(agg, state, isnull, statecxt);
}

/*
 * Folds one input row into a state.  Runs the transition function in the
 * current (per-row) memory context; the state lives in statecxt.
 */
void
agg_advance(ContinuousAgg *agg, Datum *state, bool *isnull,
			Datum *args, bool *argnulls, MemoryContext statecxt)
{
	if (agg->ordered || agg->sortedInputs)
		count_ordered_value(agg, *state, args, argnulls, 1);
	else if (agg->distinct)
		distinct_set_add((DistinctSet *) DatumGetPointer(*state), args[0], argnulls[0]);
	else
		advance_plain(agg, state, isnull, args, argnulls, statecxt);
}

/*
 * Takes one input row out of a state with the inverse transition function
 * (agg->invertible only).  Returns false if the function declined.
 */
bool
agg_retract(ContinuousAgg *agg, Datum *state, bool *isnull,
			Datum *args, bool *argnulls, MemoryContext statecxt)
{
	LOCAL_FCINFO(fcinfo, CONTINUOUS_MAX_AGG_ARGS + 1);
	Datum result;

	Assert(agg->invertible);
	if (agg->appliedOrder)
	{
		/*
		 * The row with the same arguments from the same source row (equal
		 * in every column) that was applied first goes.  Nothing to take
		 * out counts -1, a corrupt state that a read reports.
		 */
		uint32 len;
		char  *data = agg_encode_args(agg, args, argnulls, &len);

		if (!multiset_take_first((Multiset *) DatumGetPointer(*state), data, len, compare_positions))
			multiset_add((Multiset *) DatumGetPointer(*state), data, len, -1);
		pfree(data);
		return true;
	}
	if (agg->ordered || agg->sortedInputs)
	{
		count_ordered_value(agg, *state, args, argnulls, -1);
		return true;
	}
	/* A strict transition function skipped the row: nothing to take out. */
	if (agg->transfn.fn_strict)
		for (int i = 0; i < agg->numArgs; i++)
			if (argnulls[i])
				return true;
	if (agg->invtransfn.fn_strict && *isnull)
		return false;

	InitFunctionCallInfoData(*fcinfo, &agg->invtransfn, agg->numArgs + 1,
							 agg->inputCollation, agg_call_context(statecxt), NULL);
	fcinfo->args[0].value = *state;
	fcinfo->args[0].isnull = *isnull;
	for (int i = 0; i < agg->numArgs; i++)
	{
		fcinfo->args[i + 1].value = args[i];
		fcinfo->args[i + 1].isnull = argnulls[i];
	}
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return false;
	agg_keep_result(agg, state, isnull, result, false, statecxt);
	return true;
}

/*
 * An input row as bytes, in the current memory context: the same values
 * give the same bytes, whether they came toasted, compressed, with a short
 * or a long header.  Per argument: a NULL flag byte, then the value: the
 * bytes of a by-value or fixed-length type, or a uint32 length and the
 * payload of a varlena or cstring.  Unaligned; see agg_decode_args.
 */
char *
agg_encode_args(ContinuousAgg *agg, Datum *args, bool *argnulls, uint32 *len)
{
	const char *payload[CONTINUOUS_MAX_AGG_ARGS];
	uint32      plen[CONTINUOUS_MAX_AGG_ARGS];
	Size        size = 0;
	char       *result;
	char       *p;

	for (int i = 0; i < agg->numInputs; i++)
	{
		Form_pg_attribute att = TupleDescAttr(agg->argdesc, i);

		size += 1;
		if (argnulls[i] || att->attbyval)
		{
			size += argnulls[i] ? 0 : att->attlen;
			continue;
		}
		if (att->attlen == -1)
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(args[i]);

			if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
				v = detoast_attr(v);
			payload[i] = VARDATA_ANY(v);
			plen[i] = VARSIZE_ANY_EXHDR(v);
		}
		else if (att->attlen == -2)
		{
			payload[i] = DatumGetCString(args[i]);
			plen[i] = strlen(payload[i]) + 1;
		}
		else
		{
			payload[i] = DatumGetPointer(args[i]);
			plen[i] = att->attlen;
		}
		size += sizeof(uint32) + plen[i];
	}

	p = result = palloc(Max(size, 1));
	for (int i = 0; i < agg->numInputs; i++)
	{
		Form_pg_attribute att = TupleDescAttr(agg->argdesc, i);

		*p++ = argnulls[i] ? 1 : 0;
		if (argnulls[i])
			continue;
		if (att->attbyval)
		{
			union
			{
				char  c;
				int16 i16;
				int32 i32;
				Datum d;
			} u;

			switch (att->attlen)
			{
				case 1:
					u.c = DatumGetChar(args[i]);
					break;
				case 2:
					u.i16 = DatumGetInt16(args[i]);
					break;
				case 4:
					u.i32 = DatumGetInt32(args[i]);
					break;
				default:
					u.d = args[i];
					break;
			}
			memcpy(p, &u, att->attlen);
			p += att->attlen;
			continue;
		}
		memcpy(p, &plen[i], sizeof(uint32));
		p += sizeof(uint32);
		memcpy(p, payload[i], plen[i]);
		p += plen[i];
	}
	*len = (uint32) size;
	return result;
}

/* The values of an encoded input row, in the current memory context. */
void
agg_decode_args(ContinuousAgg *agg, const char *data, uint32 len, Datum *args, bool *argnulls)
{
	const char *p = data;

	for (int i = 0; i < agg->numInputs; i++)
	{
		Form_pg_attribute att = TupleDescAttr(agg->argdesc, i);
		uint32            plen;

		argnulls[i] = *p++ != 0;
		args[i] = (Datum) 0;
		if (argnulls[i])
			continue;
		if (att->attbyval)
		{
			union
			{
				char  c;
				int16 i16;
				int32 i32;
				Datum d;
			} u;

			memcpy(&u, p, att->attlen);
			p += att->attlen;
			args[i] = att->attlen == 1 ? CharGetDatum(u.c) : att->attlen == 2 ? Int16GetDatum(u.i16)
														 : att->attlen == 4   ? Int32GetDatum(u.i32)
																			  : u.d;
			continue;
		}
		memcpy(&plen, p, sizeof(uint32));
		p += sizeof(uint32);
		if (att->attlen == -1)
		{
			struct varlena *v = palloc(VARHDRSZ + plen);

			SET_VARSIZE(v, VARHDRSZ + plen);
			memcpy(VARDATA(v), p, plen);
			args[i] = PointerGetDatum(v);
		}
		else
		{
			char *copy = palloc(plen);

			memcpy(copy, p, plen);
			args[i] = PointerGetDatum(copy);
		}
		p += plen;
	}
	if (p != data + len)
		elog(ERROR, "corrupt kept input of aggregate %u", agg->aggfnoid);
}

/* Combines another state of the same aggregate into *state. */
void
agg_combine(ContinuousAgg *agg, Datum *state, bool *isnull,
			Datum other, bool otherisnull, MemoryContext statecxt)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum result;

	if (agg->ordered || agg->sortedInputs)
	{
		multiset_add_all((Multiset *) DatumGetPointer(*state), (Multiset *) DatumGetPointer(other));
		return;
	}
	if (agg->distinct)
	{
		distinct_set_union((DistinctSet *) DatumGetPointer(*state),
						   (DistinctSet *) DatumGetPointer(other));
		return;
	}

	if (agg->combinefn.fn_strict)
	{
		if (otherisnull)
			return;
		if (*isnull)
		{
			if (agg->transtype == INTERNALOID)
				*state = other;
			else
			{
				MemoryContext old = MemoryContextSwitchTo(statecxt);

				*state = datumCopy(other, agg->transtypeByVal, agg->transtypeLen);
				MemoryContextSwitchTo(old);
			}
			*isnull = false;
			return;
		}
	}

	InitFunctionCallInfoData(*fcinfo, &agg->combinefn, 2, agg->inputCollation,
							 agg_call_context(statecxt), NULL);
	fcinfo->args[0].value = *state;
	fcinfo->args[0].isnull = *isnull;
	fcinfo->args[1].value = other;
	fcinfo->args[1].isnull = otherisnull;
	result = FunctionCallInvoke(fcinfo);
	agg_keep_result(agg, state, isnull, result, fcinfo->isnull, statecxt);
}

/* The value to keep in shared memory for a state (bytea for internal). */
Datum
agg_to_stored(ContinuousAgg *agg, Datum state, bool isnull)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum result;

	if (agg->ordered || agg->sortedInputs)
	{
		Multiset *ms = (Multiset *) DatumGetPointer(state);
		char     *stored = palloc(multiset_stored_size(ms));

		multiset_write_stored(ms, stored);
		return PointerGetDatum(stored);
	}
	if (agg->distinct)
		return distinct_set_to_array((DistinctSet *) DatumGetPointer(state), agg->inputTypes[0]);
	if (agg->transtype != INTERNALOID || isnull)
		return state;
	InitFunctionCallInfoData(*fcinfo, &agg->serialfn, 1, InvalidOid,
							 agg_call_context(CurrentMemoryContext), NULL);
	fcinfo->args[0].value = state;
	fcinfo->args[0].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "serialization function of aggregate %u returned NULL", agg->aggfnoid);
	return result;
}

/*
 * A live state from a stored one.  By-reference states are copied into
 * statecxt, so the caller may modify them (transition and combine functions
 * update their first argument in place when called as aggregates).
 */
Datum
agg_from_stored(ContinuousAgg *agg, Datum stored, bool isnull, MemoryContext statecxt)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum         result;
	MemoryContext old;

	if (agg->ordered || agg->sortedInputs)
	{
		Multiset *ms = new_multiset(agg, statecxt);

		if (!isnull)
			multiset_add_stored(ms, DatumGetByteaPP(stored));
		return PointerGetDatum(ms);
	}
	if (agg->distinct)
	{
		DistinctSet *set = new_distinct_set(agg, statecxt);

		if (!isnull)
			distinct_set_add_array(set, stored);
		return PointerGetDatum(set);
	}
	if (isnull)
		return (Datum) 0;
	if (agg->transtype != INTERNALOID)
	{
		old = MemoryContextSwitchTo(statecxt);
		result = datumCopy(stored, agg->transtypeByVal, agg->transtypeLen);
		MemoryContextSwitchTo(old);
		return result;
	}
	InitFunctionCallInfoData(*fcinfo, &agg->deserialfn, 2, InvalidOid,
							 agg_call_context(statecxt), NULL);
	fcinfo->args[0].value = stored;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = PointerGetDatum(NULL);
	fcinfo->args[1].isnull = false;
	old = MemoryContextSwitchTo(statecxt);
	result = FunctionCallInvoke(fcinfo);
	MemoryContextSwitchTo(old);
	return result;
}

typedef struct FoldDistinct
{
	ContinuousAgg *agg;
	Datum          state;
	bool           isnull;
	MemoryContext  statecxt;
} FoldDistinct;

static void
fold_distinct_value(Datum value, bool isnull, void *arg)
{
	FoldDistinct *fold = (FoldDistinct *) arg;
	Datum         args[CONTINUOUS_MAX_AGG_ARGS];
	bool          argnulls[CONTINUOUS_MAX_AGG_ARGS];

	args[0] = value;
	argnulls[0] = isnull;
	for (int i = 1; i < fold->agg->numArgs; i++)
	{
		args[i] = fold->agg->distinctConsts[i];
		argnulls[i] = fold->agg->distinctConstNulls[i];
	}
	advance_plain(fold->agg, &fold->state, &fold->isnull, args, argnulls, fold->statecxt);
}

/*
 * The rows of a Multiset state, decoded: row r's inputs are values[r *
 * agg->numInputs ...] (and nulls alike), in one allocation for all rows.
 */
typedef struct SortedRow
{
	int   first; /* index of the row's first input in values and nulls */
	int64 count;
} SortedRow;

typedef struct SortedRows
{
	ContinuousAgg *agg;
	SortedRow     *rows;
	Datum         *values;
	bool          *nulls;
	int            n;
	int            max;
} SortedRows;

static void
collect_row(const char *data, uint32 len, int64 count, void *arg)
{
	SortedRows *c = arg;
	int         width = c->agg->numInputs;

	if (count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a row taken out of aggregate %s was never added to it",
						agg_name(c->agg->aggfnoid))));
	if (c->n == c->max)
	{
		c->max = Max(16, c->max * 2);
		c->rows = c->rows ? repalloc_huge(c->rows, sizeof(SortedRow) * c->max)
						  : palloc(sizeof(SortedRow) * c->max);
		c->values = c->values ? repalloc_huge(c->values, sizeof(Datum) * c->max * width)
							  : palloc(sizeof(Datum) * c->max * width);
		c->nulls = c->nulls ? repalloc_huge(c->nulls, sizeof(bool) * c->max * width)
							: palloc(sizeof(bool) * c->max * width);
	}
	c->rows[c->n].first = c->n * width;
	c->rows[c->n].count = count;
	agg_decode_args(c->agg, data, len, &c->values[c->n * width], &c->nulls[c->n * width]);
	c->n++;
}

static int
compare_sorted_rows(const void *a, const void *b, void *arg)
{
	const SortedRow  *ra = a;
	const SortedRow  *rb = b;
	const SortedRows *c = arg;
	ContinuousAgg    *agg = c->agg;

	for (int k = 0; k < agg->numSortKeys; k++)
	{
		int i = agg->sortKeyInput[k];
		int cmp = ApplySortComparator(c->values[ra->first + i], c->nulls[ra->first + i],
									  c->values[rb->first + i], c->nulls[rb->first + i],
									  &agg->sortKeys[k]);

		if (cmp != 0)
			return cmp;
	}
	return 0;
}

/* The rows of a Multiset state into *c, decoded and sorted by the aggregate's keys. */
static void
sorted_rows(ContinuousAgg *agg, Multiset *ms, SortedRows *c)
{
	memset(c, 0, sizeof(SortedRows));
	c->agg = agg;
	multiset_foreach(ms, collect_row, c);
	if (c->n > 1)
		qsort_arg(c->rows, c->n, sizeof(SortedRow), compare_sorted_rows, c);
}

/*
 * The result of an ordered-set or hypothetical-set aggregate over the
 * values of a state: sorted, with values the sort finds equal made one.
 */
static Datum
finalize_ordered_set(ContinuousAgg *agg, Multiset *ms, bool *resultisnull)
{
	SortedRows    c;
	CountedValue *values;
	int           n = 0;

	sorted_rows(agg, ms, &c);
	values = palloc(sizeof(CountedValue) * Max(c.n, 1));
	for (int i = 0; i < c.n; i++)
	{
		if (n > 0 && compare_sorted_rows(&c.rows[i - 1], &c.rows[i], &c) == 0)
			values[n - 1].count += c.rows[i].count;
		else
		{
			values[n].value = c.values[c.rows[i].first];
			values[n].isnull = c.nulls[c.rows[i].first];
			values[n++].count = c.rows[i].count;
		}
	}
	if (ORDERED_IS_HYPOTHETICAL(agg->ordered))
	{
		*resultisnull = false;
		return ordered_set_hypothetical(agg->ordered, agg->fraction, agg->fractionIsNull, values, n,
										&agg->sortKeys[0]);
	}
	return ordered_set_result(agg->ordered, agg->orderedMulti, &agg->orderedType, agg->fraction,
							  agg->fractionIsNull, values, n, resultisnull);
}

/*
 * The transition state of an aggregate with ORDER BY inside: its
 * transition function run over the kept rows in ORDER BY order, each as
 * many times as it was counted.  Rows with equal keys come in an
 * unspecified order, as in PostgreSQL.
 */
static void
fold_sorted_inputs(ContinuousAgg *agg, Multiset *ms, Datum *state, bool *isnull,
				   MemoryContext statecxt)
{
	SortedRows c;

	sorted_rows(agg, ms, &c);
	init_plain_state(agg, state, isnull, statecxt);
	for (int i = 0; i < c.n; i++)
		for (int64 k = 0; k < c.rows[i].count; k++)
			advance_plain(agg, state, isnull, &c.values[c.rows[i].first], &c.nulls[c.rows[i].first],
						  statecxt);
}

/* The aggregate's result for a state, in the current memory context. */
Datum
agg_finalize(ContinuousAgg *agg, Datum state, bool isnull, bool *resultisnull,
			 MemoryContext statecxt)
{
	LOCAL_FCINFO(fcinfo, CONTINUOUS_MAX_AGG_ARGS + 1);
	Datum result;

	if (agg->ordered)
		return finalize_ordered_set(agg, (Multiset *) DatumGetPointer(state), resultisnull);
	if (agg->sortedInputs)
	{
		/* Run the aggregate over the kept rows in its ORDER BY order. */
		fold_sorted_inputs(agg, (Multiset *) DatumGetPointer(state), &state, &isnull, statecxt);
	}
	if (agg->distinct)
	{
		/* Run the aggregate over the distinct values, as PostgreSQL does. */
		FoldDistinct fold;

		fold.agg = agg;
		fold.statecxt = statecxt;
		init_plain_state(agg, &fold.state, &fold.isnull, statecxt);
		distinct_set_foreach_sorted((DistinctSet *) DatumGetPointer(state), &agg->distinctlt,
									agg->distinctNullsFirst, fold_distinct_value, &fold);
		state = fold.state;
		isnull = fold.isnull;
	}

	if (!OidIsValid(agg->finalfn.fn_oid))
	{
		*resultisnull = isnull;
		return state;
	}
	if (agg->finalfn.fn_strict && (isnull || agg->numFinalArgs > 1))
	{
		*resultisnull = true;
		return (Datum) 0;
	}
	InitFunctionCallInfoData(*fcinfo, &agg->finalfn, agg->numFinalArgs,
							 agg->inputCollation, agg_call_context(statecxt), NULL);
	fcinfo->args[0].value = state;
	fcinfo->args[0].isnull = isnull;
	for (int i = 1; i < agg->numFinalArgs; i++)
	{
		fcinfo->args[i].value = (Datum) 0;
		fcinfo->args[i].isnull = true;
	}
	result = FunctionCallInvoke(fcinfo);
	*resultisnull = fcinfo->isnull;
	return result;
}
