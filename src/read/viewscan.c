/*-------------------------------------------------------------------------
 * viewscan.c
 *	  The view scan: a custom scan that reads a continuous view's rows
 *	  straight from its snapshot, in place of a function scan of
 *	  continuous.read_view().
 *
 * A continuous view is an ordinary view over continuous.read_view(key), its
 * definition and settings kept beside in two CTEs that nothing references
 * (api/ddl.c).  The planner would leave such a subquery unflattened (a
 * Subquery Scan over the scan); a planner hook first removes the two CTEs,
 * which it would not plan anyway.  A function scan would have that set-returning function form every row,
 * store it in a tuplestore and read it back: for a read of many groups that
 * is most of the cost.  When the planner meets read_view() as the only
 * function of a FROM item, with a constant view id and no ORDINALITY, this
 * module replaces the function scan with a ContinuousViewScan, which
 * finalizes one group per call into its scan slot; quals and projection run
 * on that slot as in any scan.  Both paths read through the same ViewReader
 * (views.c), so they return the same rows and raise the same errors.
 *
 * Like a function scan, the scan takes its snapshot at its first row (not at
 * executor start, so EXPLAIN does not read the view) and keeps it across
 * rescans.  It is neither parallel-aware nor parallel-safe, and supports no
 * backward scan or mark/restore; the planner adds a Material node where
 * those are needed.
 *
 * continuous.enable_view_scan = off keeps the function scan (for comparing
 * the two, and as a way out should the scan misbehave).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/hash.h"
#include "access/sysattr.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_am.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planner.h"
#include "optimizer/paths.h"
#include "optimizer/prep.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "base/continuous.h"
#include "base/guc.h"
#include "read/reader.h"
#include "read/viewscan.h"
#include "store/store.h"

/* GUC (registered in pg_continuous.c) */
bool continuous_enable_view_scan = true;

#define VIEW_SCAN_NAME "ContinuousViewScan"

/*
 * custom_private of the plan: view id, read_view()'s oid, and for a key
 * lookup the hash function of each lookup value's type.  custom_exprs: for
 * a lookup, per key the restriction "key = value" it comes from (the value
 * may be either argument: lookup_sides says which).
 */
/*
 * The view scans of one view in one statement (one EState).  When there is
 * more than one (a self-join, a view and a subquery over it), they share one
 * snapshot of all the groups, taken by the first to read: a statement sees
 * one state of each view, as it sees one snapshot of each table.  Entries
 * live in the statement's memory, and leave the list when it is freed.
 */
typedef struct ViewScanGroup
{
	EState               *estate;
	int32                 view_id;
	int                   nscans;
	StoreSnapshot         snapshot;
	MemoryContextCallback forget;
} ViewScanGroup;

static List *scan_groups = NIL; /* of ViewScanGroup, cells in TopMemoryContext */

typedef struct ViewScanState
{
	CustomScanState css;
	int32           view_id;
	Oid             funcid;
	List           *lookup_quals;  /* in key order; NIL: read every group */
	List           *lookup_values; /* ExprStates of their value sides */
	Oid            *lookup_hashfns;
	int             lookup_list_key; /* the key of key IN (...), or -1 */
	Bitmapset      *needed;          /* columns the plan reads (attnos from 1) */
	ViewScanGroup  *group;
	ViewReader     *reader; /* opened at the first row */
} ViewScanState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static Plan           *view_scan_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
									  List *tlist, List *clauses, List *custom_plans);
static Node           *view_scan_create_state(CustomScan *cscan);
static void            view_scan_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *view_scan_exec(CustomScanState *node);
static void            view_scan_end(CustomScanState *node);
static void            view_scan_rescan(CustomScanState *node);
static void            view_scan_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomPathMethods view_scan_path_methods = {
	.CustomName = VIEW_SCAN_NAME,
	.PlanCustomPath = view_scan_plan,
};

static const CustomScanMethods view_scan_plan_methods = {
	.CustomName = VIEW_SCAN_NAME,
	.CreateCustomScanState = view_scan_create_state,
};

static const CustomExecMethods view_scan_exec_methods = {
	.CustomName = VIEW_SCAN_NAME,
	.BeginCustomScan = view_scan_begin,
	.ExecCustomScan = view_scan_exec,
	.EndCustomScan = view_scan_end,
	.ReScanCustomScan = view_scan_rescan,
	.ExplainCustomScan = view_scan_explain,
};

/*
 * Whether expr is a value a lookup can use: fixed for one execution of the
 * plan (no Vars, no volatile functions, no parameters set by outer plan
 * nodes, which would change at rescans when the scan keeps its snapshot).
 */
static bool
is_lookup_value_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) || IsA(node, SubLink) || IsA(node, SubPlan) ||
		IsA(node, PlaceHolderVar) || IsA(node, Aggref))
		return true;
	if (IsA(node, Param) && ((Param *) node)->paramkind != PARAM_EXTERN)
		return true;
	return expression_tree_walker(node, is_lookup_value_walker, context);
}

static bool
is_lookup_value(Node *expr)
{
	return !is_lookup_value_walker(expr, NULL) && !contain_volatile_functions(expr);
}

/*
 * The hash function for the value of a restriction "key opno value" (the
 * key is argument var_side of opno) that hashes it as the worker hashes the
 * key, whose GROUP BY equality is key_eqop: the function, for opno's input
 * type on the value side, of a hash operator family holding both operators
 * and whose function for key_eqop's input type is the one the worker uses
 * (compile.c); InvalidOid if there is none.  Across types, a family's
 * functions hash equal values alike; a nondeterministic collation is only
 * trusted when the value has the key's type.
 */
static Oid
lookup_hash_function(Oid opno, int var_side, Oid key_eqop, Oid collation)
{
	CatCList *members;
	Oid       key_hashfn;
	Oid       unused;
	Oid       keytype;
	Oid       optypes[2];
	Oid       valuetype;
	Oid       result = InvalidOid;

	if (!get_op_hash_functions(key_eqop, &key_hashfn, &unused))
		return InvalidOid;
	op_input_types(key_eqop, &keytype, &unused);
	op_input_types(opno, &optypes[0], &optypes[1]);
	valuetype = optypes[1 - var_side];
	if (valuetype != keytype && OidIsValid(collation) && !get_collation_isdeterministic(collation))
		return InvalidOid;
	members = SearchSysCacheList1(AMOPOPID, ObjectIdGetDatum(opno));
	for (int i = 0; i < members->n_members && !OidIsValid(result); i++)
	{
		Form_pg_amop amop = (Form_pg_amop) GETSTRUCT(&members->members[i]->tuple);

		if (amop->amopmethod != HASH_AM_OID || !op_in_opfamily(key_eqop, amop->amopfamily) ||
			get_opfamily_proc(amop->amopfamily, keytype, keytype, HASHSTANDARD_PROC) != key_hashfn)
			continue;
		result = get_opfamily_proc(amop->amopfamily, valuetype, valuetype, HASHSTANDARD_PROC);
	}
	ReleaseSysCacheList(members);
	return result;
}

/*
 * The restrictions "key = value" that pin every group key of the view, in
 * key order, with the hash function of each value's type; NIL if some key
 * is not pinned.  One of them may be "key IN (...)" or "key = ANY (array)"
 * instead.  Groups are hashed by key with the key's hash functions; a
 * value equal to a key by an operator of the same hash family hashes alike,
 * so the groups a lookup finds include every group the restrictions keep.
 */
static List *
find_lookup_quals(RelOptInfo *rel, int32 view_id, List **hashfns)
{
	ViewKeyColumn *keys;
	Expr         **quals;
	Oid           *fns;
	int            nkeys;
	int            lists = 0;
	List          *result = NIL;
	ListCell      *lc;
	bool           candidate = false;

	*hashfns = NIL;
	/* Read the view's definition only for queries that could use it. */
	foreach(lc, rel->baserestrictinfo)
		if (IsA(lfirst_node(RestrictInfo, lc)->clause, OpExpr) ||
			IsA(lfirst_node(RestrictInfo, lc)->clause, ScalarArrayOpExpr))
			candidate = true;
	if (!candidate)
		return NIL;
	nkeys = view_key_columns(view_id, &keys);
	if (nkeys <= 0)
		return NIL;

	quals = palloc0(sizeof(Expr *) * nkeys);
	fns = palloc0(sizeof(Oid) * nkeys);
	foreach(lc, rel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr         *clause = ri->clause;
		bool          is_list = IsA(clause, ScalarArrayOpExpr);
		Oid           opno;
		Oid           collation;
		List         *args;
		Node         *sides[2];
		int           var_side;
		Var          *var;

		if (ri->pseudoconstant)
			continue;
		if (IsA(clause, OpExpr))
		{
			opno = ((OpExpr *) clause)->opno;
			collation = ((OpExpr *) clause)->inputcollid;
			args = ((OpExpr *) clause)->args;
		}
		else if (is_list && ((ScalarArrayOpExpr *) clause)->useOr)
		{
			opno = ((ScalarArrayOpExpr *) clause)->opno;
			collation = ((ScalarArrayOpExpr *) clause)->inputcollid;
			args = ((ScalarArrayOpExpr *) clause)->args;
		}
		else
			continue;
		if (list_length(args) != 2)
			continue;
		sides[0] = linitial(args);
		sides[1] = lsecond(args);
		/* key IN (...) has the key on the left only. */
		for (var_side = 0; var_side < (is_list ? 1 : 2); var_side++)
		{
			Node *v = sides[var_side];

			if (IsA(v, RelabelType))
				v = (Node *) ((RelabelType *) v)->arg;
			if (IsA(v, Var) && ((Var *) v)->varno == rel->relid &&
				((Var *) v)->varlevelsup == 0 && is_lookup_value(sides[1 - var_side]))
				break;
		}
		if (var_side == (is_list ? 1 : 2))
			continue;
		var = (Var *) (IsA(sides[var_side], RelabelType) ? (Node *) ((RelabelType *) sides[var_side])->arg : sides[var_side]);
		for (int k = 0; k < nkeys; k++)
		{
			Oid fn;

			/* key = value wins over key IN (...) for the same key. */
			if (keys[k].attno != var->varattno || collation != keys[k].collation ||
				(quals[k] != NULL && (is_list || !IsA(quals[k], ScalarArrayOpExpr))))
				continue;
			fn = lookup_hash_function(opno, var_side, keys[k].eqop, collation);
			if (!OidIsValid(fn))
				continue;
			quals[k] = clause;
			fns[k] = fn;
		}
	}
	for (int k = 0; k < nkeys; k++)
	{
		if (quals[k] == NULL)
			return NIL;
		if (IsA(quals[k], ScalarArrayOpExpr) && ++lists > 1)
			return NIL; /* one list of values at most */
	}
	for (int k = 0; k < nkeys; k++)
	{
		result = lappend(result, quals[k]);
		*hashfns = lappend_oid(*hashfns, fns[k]);
	}
	return result;
}

/*
 * Whether the query needs the function's row as a whole (a whole-row
 * reference, or a row mark, which UPDATE ... FROM and FOR UPDATE of other
 * tables add): the scan emits columns only, so the function scan stays.
 */
static bool
needs_whole_row(PlannerInfo *root, RelOptInfo *rel, Index rti)
{
	Bitmapset *attnos = NULL;
	ListCell  *lc;

	if (get_plan_rowmark(root->rowMarks, rti) != NULL)
		return true;
	pull_varattnos((Node *) rel->reltarget->exprs, rti, &attnos);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, rti, &attnos);
	return bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attnos);
}

/*
 * Offers a view scan for a FROM item that is a call of read_view() with a
 * constant view key (or a 1.0 view's id), and drops the function scan it
 * replaces.
 */
static void
view_scan_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						   RangeTblEntry *rte)
{
	RangeTblFunction *rtfunc;
	FuncExpr         *call;
	Const            *view_key;
	int32             view_id;
	CustomPath       *path;
	List             *lookup_quals;
	List             *lookup_hashfns;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	if (!continuous_enable_view_scan || rte->rtekind != RTE_FUNCTION ||
		rte->funcordinality || list_length(rte->functions) != 1 ||
		!IS_SIMPLE_REL(rel) || rel->pathlist == NIL || IS_DUMMY_REL(rel) ||
		!bms_is_empty(rel->lateral_relids) || needs_whole_row(root, rel, rti))
		return;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr) || rtfunc->funccoltypes == NIL)
		return;
	call = (FuncExpr *) rtfunc->funcexpr;
	if (list_length(call->args) != 1 || !IsA(linitial(call->args), Const))
		return;
	view_key = linitial_node(Const, call->args);
	if (view_key->constisnull || (view_key->consttype != UUIDOID && view_key->consttype != INT4OID) ||
		!reader_is_read_view(call->funcid))
		return;
	/* A key no view has: the function scan reports it. */
	view_id = view_key->consttype == UUIDOID ? reader_view_id_for_key(DatumGetUUIDP(view_key->constvalue))
											 : DatumGetInt32(view_key->constvalue);
	if (view_id == 0)
		return;

	path = makeNode(CustomPath);
	path->path.pathtype = T_CustomScan;
	path->path.parent = rel;
	path->path.pathtarget = rel->reltarget;
	path->path.param_info = NULL;
	path->path.parallel_aware = false;
	path->path.parallel_safe = false;
	path->path.parallel_workers = 0;
	path->path.rows = rel->rows;
	/* Cheaper than the function scan it replaces, which is the only other. */
	path->path.startup_cost = ((Path *) linitial(rel->pathlist))->startup_cost;
	path->path.total_cost = ((Path *) linitial(rel->pathlist))->total_cost;
	path->path.pathkeys = NIL;
	path->flags = CUSTOMPATH_SUPPORT_PROJECTION;
	lookup_quals = find_lookup_quals(rel, view_id, &lookup_hashfns);
	path->custom_private = list_make4(list_make1_int(view_id),
									  list_make1_oid(call->funcid), lookup_hashfns,
									  lookup_quals);
	path->methods = &view_scan_path_methods;

	rel->pathlist = NIL;
	add_path(rel, &path->path);
}

/*
 * The plan scans no relation (scanrelid 0): its scan tuple is the function's
 * row, described by custom_scan_tlist, to which setrefs.c points the quals
 * and target list.
 */
static Plan *
view_scan_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
			   List *tlist, List *clauses, List *custom_plans)
{
	RangeTblEntry    *rte = planner_rt_fetch(rel->relid, root);
	RangeTblFunction *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	CustomScan       *cscan = makeNode(CustomScan);
	List             *scan_tlist = NIL;
	ListCell         *ltype,
		*ltypmod,
		*lcoll;
	AttrNumber attno = 0;

	forthree(ltype, rtfunc->funccoltypes, ltypmod, rtfunc->funccoltypmods,
			 lcoll, rtfunc->funccolcollations)
	{
		Var *var;

		attno++;
		var = makeVar(rel->relid, attno, lfirst_oid(ltype), lfirst_int(ltypmod),
					  lfirst_oid(lcoll), 0);
		scan_tlist = lappend(scan_tlist, makeTargetEntry((Expr *) var, attno, NULL, false));
	}

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = extract_actual_clauses(clauses, false);
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->custom_private = list_make3(linitial(best_path->custom_private),
									   lsecond(best_path->custom_private),
									   lthird(best_path->custom_private));
	cscan->custom_exprs = lfourth(best_path->custom_private);
	cscan->methods = &view_scan_plan_methods;
	return &cscan->scan.plan;
}

/*
 * The value side of a lookup restriction: the argument that is not the
 * scan's column (after setrefs.c, a Var of INDEX_VAR, maybe relabeled);
 * the array of key IN (...).
 */
static Node *
lookup_value_side(Expr *qual)
{
	List *args;
	Node *left;

	if (IsA(qual, ScalarArrayOpExpr))
		return lsecond(((ScalarArrayOpExpr *) qual)->args);
	args = castNode(OpExpr, qual)->args;
	left = linitial(args);
	if (IsA(left, RelabelType))
		left = (Node *) ((RelabelType *) left)->arg;
	if (IsA(left, Var) && ((Var *) left)->varno == INDEX_VAR)
		return lsecond(args);
	return linitial(args);
}

static Node *
view_scan_create_state(CustomScan *cscan)
{
	ViewScanState *state = palloc0(sizeof(ViewScanState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &view_scan_exec_methods;
#if PG_VERSION_NUM >= 160000
	state->css.slotOps = &TTSOpsVirtual; /* 15 always uses virtual slots */
#endif
	state->view_id = linitial_int(linitial(cscan->custom_private));
	state->funcid = linitial_oid(lsecond(cscan->custom_private));
	state->lookup_quals = cscan->custom_exprs;
	return (Node *) state;
}

static void
forget_scan_group(void *arg)
{
	scan_groups = list_delete_ptr(scan_groups, arg);
}

/* Joins (or starts) the group of the statement's scans of this view. */
static ViewScanGroup *
join_scan_group(EState *estate, int32 view_id)
{
	ListCell      *lc;
	ViewScanGroup *group;
	MemoryContext  old;

	foreach(lc, scan_groups)
	{
		group = lfirst(lc);
		if (group->estate == estate && group->view_id == view_id)
		{
			group->nscans++;
			return group;
		}
	}
	group = MemoryContextAllocZero(estate->es_query_cxt, sizeof(ViewScanGroup));
	group->estate = estate;
	group->view_id = view_id;
	group->nscans = 1;
	group->forget.func = forget_scan_group;
	group->forget.arg = group;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &group->forget);
	old = MemoryContextSwitchTo(TopMemoryContext);
	scan_groups = lappend(scan_groups, group);
	MemoryContextSwitchTo(old);
	return group;
}

/*
 * Checks EXECUTE on read_view(), as the function scan's initialization
 * would, joins the statement's scans of the view, and prepares the lookup
 * values, if any; the snapshot is taken at the first row.
 */
static void
view_scan_begin(CustomScanState *node, EState *estate, int eflags)
{
	ViewScanState *state = (ViewScanState *) node;
	CustomScan    *cscan = (CustomScan *) node->ss.ps.plan;
	List          *hashfns = lthird(cscan->custom_private);
	ListCell      *lc,
		*lf;
	int        k = 0;
	AclResult  aclresult;
	Bitmapset *attnos = NULL;
	int        attno = -1;

	/* What the function scan's initialization would have checked. */
	aclresult = pg_proc_aclcheck(state->funcid, GetUserId(), ACL_EXECUTE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(state->funcid));

	state->group = join_scan_group(estate, state->view_id);

	/* The columns the target list and quals read; the rest are not computed. */
	pull_varattnos((Node *) node->ss.ps.plan->targetlist, INDEX_VAR, &attnos);
	pull_varattnos((Node *) node->ss.ps.plan->qual, INDEX_VAR, &attnos);
	while ((attno = bms_next_member(attnos, attno)) >= 0)
		state->needed = bms_add_member(state->needed, attno + FirstLowInvalidHeapAttributeNumber);

	if (state->lookup_quals == NIL)
		return;
	state->lookup_hashfns = palloc(sizeof(Oid) * list_length(hashfns));
	state->lookup_list_key = -1;
	forboth(lc, state->lookup_quals, lf, hashfns)
	{
		Expr *qual = lfirst(lc);
		Node *value = lookup_value_side(qual);

		if (IsA(qual, ScalarArrayOpExpr))
			state->lookup_list_key = k;

		state->lookup_values = lappend(state->lookup_values,
									   ExecInitExpr((Expr *) value, &node->ss.ps));
		state->lookup_hashfns[k++] = lfirst_oid(lf);
	}
}

/*
 * The non-NULL elements of the array of key IN (...): NULLs match no group
 * (a NULL array, none at all).
 */
static void
list_values(ArrayType *array, ViewKeyLookup *lookup)
{
	int16  typlen;
	bool   typbyval;
	char   typalign;
	Datum *elems;
	bool  *nulls;
	int    nelems;

	get_typlenbyvalalign(ARR_ELEMTYPE(array), &typlen, &typbyval, &typalign);
	deconstruct_array(array, ARR_ELEMTYPE(array), typlen, typbyval, typalign,
					  &elems, &nulls, &nelems);
	lookup->listed = palloc(sizeof(Datum) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
		if (!nulls[i])
			lookup->listed[lookup->nlisted++] = elems[i];
}

static TupleTableSlot *
view_scan_next(ScanState *ss)
{
	ViewScanState  *state = (ViewScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	if (state->reader == NULL)
	{
		EState        *estate = ss->ps.state;
		MemoryContext  old = MemoryContextSwitchTo(estate->es_query_cxt);
		StoreSnapshot *shared = state->group->nscans > 1 ? &state->group->snapshot : NULL;

		if (state->lookup_values != NIL && shared == NULL)
		{
			ExprContext  *econtext = ss->ps.ps_ExprContext;
			int           nkeys = list_length(state->lookup_values);
			ViewKeyLookup lookup;
			ListCell     *lc;
			int           k = 0;

			lookup.nkeys = nkeys;
			lookup.hashfns = state->lookup_hashfns;
			lookup.values = palloc(sizeof(Datum) * nkeys);
			lookup.nulls = palloc(sizeof(bool) * nkeys);
			lookup.list_key = state->lookup_list_key;
			lookup.nlisted = 0;
			lookup.listed = NULL;
			foreach(lc, state->lookup_values)
			{
				/* Allocated in query memory, the current context. */
				lookup.values[k] = ExecEvalExpr(lfirst(lc), econtext, &lookup.nulls[k]);
				if (k == lookup.list_key && !lookup.nulls[k])
					list_values(DatumGetArrayTypeP(lookup.values[k]), &lookup);
				k++;
			}
			state->reader = view_reader_begin(state->view_id, slot->tts_tupleDescriptor, &lookup,
											  state->needed, NULL);
		}
		else
			state->reader = view_reader_begin(state->view_id, slot->tts_tupleDescriptor, NULL,
											  state->needed, shared);
		MemoryContextSwitchTo(old);
	}

	ExecClearTuple(slot);
	if (!view_reader_next(state->reader, slot->tts_values, slot->tts_isnull))
		return slot;
	return ExecStoreVirtualTuple(slot);
}

/* Every row the scan returns is final: there is nothing to recheck. */
static bool
view_scan_recheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
view_scan_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, view_scan_next, view_scan_recheck);
}

static void
view_scan_end(CustomScanState *node)
{
	ViewScanState *state = (ViewScanState *) node;

	if (state->reader)
		view_reader_end(state->reader);
	state->reader = NULL;
}

static void
view_scan_rescan(CustomScanState *node)
{
	ViewScanState *state = (ViewScanState *) node;

	if (state->reader)
		view_reader_rewind(state->reader);
	ExecScanReScan(&node->ss);
}

static void
view_scan_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	ViewScanState *state = (ViewScanState *) node;

	char *name = view_name_for_id(state->view_id);

	if (name)
		ExplainPropertyText("Continuous View", name, es);
	else
		ExplainPropertyInteger("Continuous View Id", NULL, state->view_id, es);
	if (state->lookup_quals != NIL)
	{
		List *context = set_deparse_context_plan(es->deparse_cxt, node->ss.ps.plan,
												 ancestors);

		ExplainPropertyText("Group Lookup",
							deparse_expression((Node *) make_ands_explicit(state->lookup_quals),
											   context, es->verbose, false),
							es);
	}
}

static planner_hook_type prev_planner_hook = NULL;

/*
 * Removes the two unreferenced SELECT CTEs of a continuous view's body from
 * every (sub)query that has exactly them, so that the planner can pull the
 * view's subquery up as it would any simple view's.
 */
static bool
strip_body_ctes(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query *query = (Query *) node;

		if (list_length(query->cteList) == 2)
		{
			CommonTableExpr *def = linitial_node(CommonTableExpr, query->cteList);
			CommonTableExpr *settings = lsecond_node(CommonTableExpr, query->cteList);

			if (strcmp(def->ctename, CONTINUOUS_DEFINITION_CTE) == 0 &&
				strcmp(settings->ctename, CONTINUOUS_SETTINGS_CTE) == 0 && def->cterefcount == 0 &&
				settings->cterefcount == 0 && IsA(def->ctequery, Query) &&
				IsA(settings->ctequery, Query) &&
				((Query *) def->ctequery)->commandType == CMD_SELECT &&
				((Query *) settings->ctequery)->commandType == CMD_SELECT)
				query->cteList = NIL;
		}
		return query_tree_walker(query, strip_body_ctes, context, 0);
	}
	return expression_tree_walker(node, strip_body_ctes, context);
}

static PlannedStmt *
view_scan_planner(Query *parse, const char *query_string, int cursor_options,
				  ParamListInfo bound_params)
{
	(void) strip_body_ctes((Node *) parse, NULL);
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursor_options, bound_params);
	return standard_planner(parse, query_string, cursor_options, bound_params);
}

void
view_scan_init(void)
{
	RegisterCustomScanMethods(&view_scan_plan_methods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = view_scan_set_rel_pathlist;
	prev_planner_hook = planner_hook;
	planner_hook = view_scan_planner;
}
