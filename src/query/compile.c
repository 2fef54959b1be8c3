/*-------------------------------------------------------------------------
 * compile.c
 *	  Turns a continuous view's analyzed defining query (stored as
 *	  nodeToString text in continuous.view_catalog) into executor
 *	  expressions and aggregate descriptors.
 *
 * Vocabulary
 *	source row: a row of the view's stream or table; the WHERE clause, the
 *		group key expressions and the aggregate arguments are evaluated on
 *		it, with the source as range-table entry 1 (scan tuple).
 *	group row: what shared memory keeps per group (compile->groupdesc):
 *		the key values followed by one stored state per aggregate; for a
 *		view over a table also the group's row count and the aggregates'
 *		kept input rows (compile.h).
 *	final row (finaldesc): the key values followed by each aggregate's
 *		final value.  The view's target list and HAVING are rewritten to
 *		read it: every GROUP BY expression and every Aggref becomes a Var of
 *		the final row, the way the planner's setrefs does for an Agg node.
 *
 * Both the worker (apply side) and reading backends (read side) compile the
 * same text, so they agree on the group row layout.  Expressions are run
 * through expression_planner(), which folds constants and inlines SQL
 * functions such as continuous.tumble().
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "access/transam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_clause.h"
#include "port/pg_bitutils.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/memutils.h"

#include "query/compile.h"

typedef struct CollectContext
{
	List *aggrefs;
} CollectContext;

static bool
collect_aggrefs_walker(Node *node, CollectContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		ListCell *lc;

		foreach(lc, ctx->aggrefs)
			if (equal(lfirst(lc), node))
				return false;
		ctx->aggrefs = lappend(ctx->aggrefs, node);
		return false; /* aggregates do not nest */
	}
	return expression_tree_walker(node, collect_aggrefs_walker, (void *) ctx);
}

/* Distinct Aggrefs of the target list and HAVING, in order of appearance. */
List *
compile_collect_aggrefs(Query *query)
{
	CollectContext ctx = {NIL};

	collect_aggrefs_walker((Node *) query->targetList, &ctx);
	collect_aggrefs_walker(query->havingQual, &ctx);
	return ctx.aggrefs;
}

/*
 * Is expr a call of continuous.tumble()?  Its value, a window start of type
 * timestamptz, timestamp or bigint, is what eviction of closed windows will
 * look at, so the store keeps it beside each group (SharedGroup.window_start).
 */
static bool
is_window_call(Expr *expr)
{
	FuncExpr *func;
	char     *nspname;

	if (!IsA(expr, FuncExpr))
		return false;
	func = (FuncExpr *) expr;
	if (strcmp(get_func_name(func->funcid), "tumble") != 0)
		return false;
	nspname = get_namespace_name(get_func_namespace(func->funcid));
	return nspname && strcmp(nspname, "continuous") == 0;
}

/*
 * The continuous.tumble() keys of a definition: returns how many GROUP BY
 * keys are windows, and describes the first in *window.
 */
int
compile_find_window(Query *query, WindowSpec *window)
{
	ListCell *lc;
	int       n = 0;
	int       i = 0;

	memset(window, 0, sizeof(WindowSpec));
	foreach(lc, query->groupClause)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);
		TargetEntry     *tle = get_sortgroupclause_tle(sgc, query->targetList);
		FuncExpr        *call = (FuncExpr *) tle->expr;
		Node            *width;

		if (!is_window_call(tle->expr) || n++ > 0)
		{
			i++;
			continue;
		}
		window->key = i++;
		window->type = call->funcresulttype;
		width = eval_const_expressions(NULL, copyObject(lsecond(call->args)));
		if (IsA(width, Const) && !((Const *) width)->constisnull)
		{
			Const *c = (Const *) width;

			if (c->consttype == INTERVALOID)
			{
				Interval *iv = DatumGetIntervalP(c->constvalue);

				window->fixed_width = iv->month == 0;
				window->width = iv->time + (int64) iv->day * USECS_PER_DAY;
			}
			else if (c->consttype == INT8OID)
			{
				window->fixed_width = true;
				window->width = DatumGetInt64(c->constvalue);
			}
			window->fixed_width = window->fixed_width && window->width > 0;
		}
		/* The output column showing it: the key's own entry, if not junk. */
		if (!tle->resjunk)
		{
			ListCell *lc2;
			int       column = 0;

			foreach(lc2, query->targetList)
			{
				TargetEntry *t = lfirst_node(TargetEntry, lc2);

				if (t->resjunk)
					continue;
				column++;
				if (t == tle)
					window->column = column;
			}
		}
	}
	return n;
}

/*
 * Parses and describes a view.  Everything is allocated in a new context
 * that is a child of the current one; compile_view_free() releases it.
 */
CompiledView *
compile_view(int32 view_id, Oid sourcerelid, const char *querytree)
{
	MemoryContext cxt;
	MemoryContext old;
	CompiledView *cv;
	List         *aggrefs;
	ListCell     *lc;
	int           i;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "continuous view",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	cv = palloc0(sizeof(CompiledView));
	cv->cxt = cxt;
	cv->view_id = view_id;
	cv->sourcerelid = sourcerelid;
	cv->query = (Query *) stringToNode(querytree);
	if (!IsA(cv->query, Query))
		elog(ERROR, "continuous view %d has a malformed definition", view_id);

	cv->nkeys = list_length(cv->query->groupClause);
	cv->keyexprs = palloc0(sizeof(Expr *) * Max(cv->nkeys, 1));
	cv->keycolls = palloc0(sizeof(Oid) * Max(cv->nkeys, 1));
	cv->keyhashfns = palloc0(sizeof(FmgrInfo) * Max(cv->nkeys, 1));
	cv->keyeqfns = palloc0(sizeof(FmgrInfo) * Max(cv->nkeys, 1));
	cv->window_key = -1;
	if (compile_find_window(cv->query, &cv->window) > 0)
		cv->window_key = cv->window.key;
	i = 0;
	foreach(lc, cv->query->groupClause)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);
		TargetEntry     *tle = get_sortgroupclause_tle(sgc, cv->query->targetList);
		Oid              lhs_hash,
			rhs_hash;

		cv->keyexprs[i] = tle->expr;
		cv->keycolls[i] = exprCollation((Node *) tle->expr);
		if (!get_op_hash_functions(sgc->eqop, &lhs_hash, &rhs_hash))
			elog(ERROR, "could not find hash function for operator %u", sgc->eqop);
		fmgr_info(lhs_hash, &cv->keyhashfns[i]);
		fmgr_info(get_opcode(sgc->eqop), &cv->keyeqfns[i]);
		i++;
	}

	aggrefs = compile_collect_aggrefs(cv->query);
	cv->naggs = list_length(aggrefs);
	cv->aggs = palloc0(sizeof(ContinuousAgg) * Max(cv->naggs, 1));
	i = 0;
	foreach(lc, aggrefs)
		agg_init(&cv->aggs[i++], lfirst_node(Aggref, lc));

	cv->retractable = get_rel_relkind(sourcerelid) != RELKIND_FOREIGN_TABLE;
	cv->rows_att = cv->nkeys + cv->naggs;
	cv->groupdesc = CreateTemplateTupleDesc(cv->nkeys + cv->naggs +
											(cv->retractable ? 1 + cv->naggs : 0));
	cv->finaldesc = CreateTemplateTupleDesc(cv->nkeys + cv->naggs);
	for (i = 0; i < cv->nkeys; i++)
	{
		Node *e = (Node *) cv->keyexprs[i];

		TupleDescInitEntry(cv->groupdesc, i + 1, NULL, exprType(e), exprTypmod(e), 0);
		TupleDescInitEntry(cv->finaldesc, i + 1, NULL, exprType(e), exprTypmod(e), 0);
		TupleDescInitEntryCollation(cv->finaldesc, i + 1, cv->keycolls[i]);
	}
	for (i = 0; i < cv->naggs; i++)
	{
		ContinuousAgg *agg = &cv->aggs[i];

		TupleDescInitEntry(cv->groupdesc, cv->nkeys + i + 1, NULL, agg->storedType, -1, 0);
		TupleDescInitEntry(cv->finaldesc, cv->nkeys + i + 1, NULL, agg->resulttype, -1, 0);
		if (cv->retractable)
			TupleDescInitEntry(cv->groupdesc, COMPILE_INPUTS_ATT(cv, i) + 1, NULL, BYTEAOID, -1, 0);
	}
	if (cv->retractable)
		TupleDescInitEntry(cv->groupdesc, cv->rows_att + 1, NULL, INT8OID, -1, 0);

	cv->inputs_owner = palloc(sizeof(int) * Max(cv->naggs, 1));
	for (i = 0; i < cv->naggs; i++)
	{
		Aggref *aggref = cv->aggs[i].aggref;

		cv->inputs_owner[i] = -1;
		if (!cv->retractable || cv->aggs[i].invertible)
			continue;
		cv->inputs_owner[i] = i;
		for (int j = 0; j < i; j++)
		{
			if (cv->inputs_owner[j] == j &&
				equal(cv->aggs[j].aggref->args, aggref->args) &&
				equal(cv->aggs[j].aggref->aggfilter, aggref->aggfilter))
			{
				cv->inputs_owner[i] = j;
				break;
			}
		}
	}

	MemoryContextSwitchTo(old);
	return cv;
}

void
compile_view_free(CompiledView *cv)
{
	if (cv->econtext)
		FreeExprContext(cv->econtext, false);
	if (cv->sourceslot)
		ExecDropSingleTupleTableSlot(cv->sourceslot);
	MemoryContextDelete(cv->cxt);
}

static ExprState *
init_source_expr(Expr *expr)
{
	return ExecInitExpr(expression_planner(expr), NULL);
}

/*
 * Builds the expressions the worker evaluates on each source row.  sourcedesc
 * is the descriptor of the rows the worker will pass (the source's own).
 */
void
compile_view_for_apply(CompiledView *cv, TupleDesc sourcedesc)
{
	MemoryContext old = MemoryContextSwitchTo(cv->cxt);
	Query        *q = cv->query;
	int           i;

	cv->sourcedesc = CreateTupleDescCopy(sourcedesc);
	cv->econtext = CreateStandaloneExprContext();
	cv->sourceslot = MakeSingleTupleTableSlot(cv->sourcedesc, &TTSOpsHeapTuple);
	cv->econtext->ecxt_scantuple = cv->sourceslot;

	if (q->jointree && q->jointree->quals)
	{
		Expr *qual = expression_planner((Expr *) q->jointree->quals);

		cv->qual = ExecInitQual(make_ands_implicit(qual), NULL);
	}

	cv->keystates = palloc0(sizeof(ExprState *) * Max(cv->nkeys, 1));
	for (i = 0; i < cv->nkeys; i++)
		cv->keystates[i] = init_source_expr(cv->keyexprs[i]);
	if (cv->window_key >= 0)
		cv->window_time = init_source_expr(linitial(((FuncExpr *) cv->keyexprs[cv->window_key])->args));

	cv->argstates = palloc0(sizeof(ExprState *) * Max(cv->naggs, 1) * CONTINUOUS_MAX_AGG_ARGS);
	cv->filterstates = palloc0(sizeof(ExprState *) * Max(cv->naggs, 1));
	for (i = 0; i < cv->naggs; i++)
	{
		ListCell *lc;
		int       a = 0;

		if (cv->aggs[i].aggref->aggfilter)
			cv->filterstates[i] = ExecInitQual(make_ands_implicit(expression_planner(cv->aggs[i].aggref->aggfilter)),
											   NULL);

		foreach(lc, cv->aggs[i].aggref->args)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);

			cv->argstates[i * CONTINUOUS_MAX_AGG_ARGS + a++] = init_source_expr(tle->expr);
		}
	}
	MemoryContextSwitchTo(old);
}

/* Replaces grouped expressions and Aggrefs by Vars of the final row. */
static Node *
final_row_mutator(Node *node, CompiledView *cv)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Aggref))
	{
		for (int i = 0; i < cv->naggs; i++)
			if (equal(cv->aggs[i].aggref, node))
				return (Node *) makeVar(1, cv->nkeys + i + 1, exprType(node),
										exprTypmod(node), exprCollation(node), 0);
		elog(ERROR, "aggregate not found in continuous view %d", cv->view_id);
	}
	for (int i = 0; i < cv->nkeys; i++)
		if (equal(cv->keyexprs[i], node))
			return (Node *) makeVar(1, i + 1, exprType(node), exprTypmod(node),
									exprCollation(node), 0);
	return expression_tree_mutator(node, final_row_mutator, (void *) cv);
}

/* The aggregates (0-based) an expression over the final row reads. */
static Bitmapset *
final_row_aggs(CompiledView *cv, Node *expr)
{
	Bitmapset *attnos = NULL;
	Bitmapset *aggs = NULL;
	int        attno = -1;

	pull_varattnos(expr, 1, &attnos);
	while ((attno = bms_next_member(attnos, attno)) >= 0)
	{
		int col = attno + FirstLowInvalidHeapAttributeNumber - 1;

		if (col >= cv->nkeys && col < cv->nkeys + cv->naggs)
			aggs = bms_add_member(aggs, col - cv->nkeys);
	}
	return aggs;
}

/* Builds the output expressions a reader evaluates on each final row. */
void
compile_view_for_read(CompiledView *cv)
{
	MemoryContext old = MemoryContextSwitchTo(cv->cxt);
	ListCell     *lc;
	int           ncols = 0;
	int           attno = 0;

	foreach(lc, cv->query->targetList)
		if (!lfirst_node(TargetEntry, lc)->resjunk)
			ncols++;
	cv->resultdesc = CreateTemplateTupleDesc(ncols);
	foreach(lc, cv->query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node        *expr;

		if (tle->resjunk)
			continue;
		attno++;
		TupleDescInitEntry(cv->resultdesc, attno, tle->resname,
						   exprType((Node *) tle->expr), exprTypmod((Node *) tle->expr), 0);
		expr = final_row_mutator((Node *) tle->expr, cv);
		cv->output_aggs = lappend(cv->output_aggs, final_row_aggs(cv, expr));
		cv->outputstates = lappend(cv->outputstates,
								   ExecInitExpr(expression_planner((Expr *) expr), NULL));
	}
	if (cv->query->havingQual)
	{
		Node *having = final_row_mutator(cv->query->havingQual, cv);

		cv->having_aggs = final_row_aggs(cv, having);
		cv->having = ExecInitQual(make_ands_implicit(expression_planner((Expr *) having)), NULL);
	}
	MemoryContextSwitchTo(old);
}

typedef struct CallsContext
{
	check_function_callback checker;
	void                   *context;
} CallsContext;

static bool
calls_walker(Node *node, CallsContext *cc)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, cc->checker, cc->context))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_walker, cc, 0);
	return expression_tree_walker(node, calls_walker, cc);
}

/*
 * Whether checker accepts a function the definition calls: a function,
 * operator, aggregate or I/O conversion anywhere in it.
 */
bool
compile_query_calls(CompiledView *cv, check_function_callback checker, void *context)
{
	CallsContext cc = {checker, context};

	return query_tree_walker(cv->query, calls_walker, &cc, 0);
}

static bool
is_user_function(Oid funcid, void *context)
{
	return funcid >= FirstNormalObjectId;
}

/*
 * Does the definition call a function that is not built in (a user's, an
 * extension's)?  Only such code can change settings (set_config() is
 * volatile, so not allowed in a definition itself).
 */
bool
compile_calls_user_functions(CompiledView *cv)
{
	return compile_query_calls(cv, is_user_function, NULL);
}

/*
 * Does evaluating the view on a source row call a function that is not
 * immutable (whose result may depend on settings such as TimeZone)?
 */
bool
compile_uses_session_settings(CompiledView *cv)
{
	Query *q = cv->query;

	if (q->jointree && contain_mutable_functions(q->jointree->quals))
		return true;
	for (int i = 0; i < cv->naggs; i++)
		if (contain_mutable_functions((Node *) cv->aggs[i].aggref->aggfilter))
			return true;
	for (int i = 0; i < cv->nkeys; i++)
		if (contain_mutable_functions((Node *) cv->keyexprs[i]))
			return true;
	for (int i = 0; i < cv->naggs; i++)
		if (contain_mutable_functions((Node *) cv->aggs[i].aggref->args))
			return true;
	return false;
}

/*
 * Hash of a group key, combining the key types' hash functions.  With
 * hashfns given, key i is hashed with hashfns[i] instead: a hash function
 * of another type of the key's hash operator family, which hashes values
 * equal to a key value as the key's own function does.
 */
uint32
compile_hash_key(CompiledView *cv, FmgrInfo *hashfns, Datum *keys, bool *keynulls)
{
	uint32 hash = 0;

	if (hashfns == NULL)
		hashfns = cv->keyhashfns;
	for (int i = 0; i < cv->nkeys; i++)
	{
		hash = pg_rotate_left32(hash, 1);
		if (!keynulls[i])
			hash ^= DatumGetUInt32(FunctionCall1Coll(&hashfns[i], cv->keycolls[i], keys[i]));
	}
	return murmurhash32(hash);
}

/* Group key equality as GROUP BY sees it: NULLs group together. */
bool
compile_keys_equal(CompiledView *cv, Datum *a, bool *anulls, Datum *b, bool *bnulls)
{
	for (int i = 0; i < cv->nkeys; i++)
	{
		if (anulls[i] != bnulls[i])
			return false;
		if (anulls[i])
			continue;
		if (!DatumGetBool(FunctionCall2Coll(&cv->keyeqfns[i], cv->keycolls[i], a[i], b[i])))
			return false;
	}
	return true;
}
