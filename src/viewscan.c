/*-------------------------------------------------------------------------
 * viewscan.c
 *	  The view scan: a custom scan that reads a continuous view's rows
 *	  straight from its snapshot, in place of a function scan of
 *	  continuous.read_view().
 *
 * A continuous view is an ordinary view over continuous.read_view(id).  A
 * function scan would have that set-returning function form every row,
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
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "pg_continuous.h"
#include "viewscan.h"
#include "views.h"

#define VIEW_SCAN_NAME "ContinuousViewScan"

typedef struct ViewScanState
{
	CustomScanState css;
	int32		view_id;
	Oid			funcid;
	ViewReader *reader;			/* opened at the first row */
} ViewScanState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static Plan *view_scan_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
							List *tlist, List *clauses, List *custom_plans);
static Node *view_scan_create_state(CustomScan *cscan);
static void view_scan_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *view_scan_exec(CustomScanState *node);
static void view_scan_end(CustomScanState *node);
static void view_scan_rescan(CustomScanState *node);
static void view_scan_explain(CustomScanState *node, List *ancestors, ExplainState *es);

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

/* Whether funcid is continuous.read_view(), whatever schema it is in. */
static bool
is_read_view(Oid funcid)
{
	HeapTuple	proctup;
	bool		is_c;
	FmgrInfo	flinfo;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(proctup))
		return false;
	is_c = ((Form_pg_proc) GETSTRUCT(proctup))->prolang == ClanguageId;
	ReleaseSysCache(proctup);
	if (!is_c)
		return false;
	fmgr_info(funcid, &flinfo);
	return flinfo.fn_addr == continuous_read_view;
}

/*
 * Offers a view scan for a FROM item that is a call of read_view() with a
 * constant view id, and drops the function scan it replaces.
 */
static void
view_scan_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						   RangeTblEntry *rte)
{
	RangeTblFunction *rtfunc;
	FuncExpr   *call;
	Const	   *view_id;
	CustomPath *path;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	if (!continuous_enable_view_scan || rte->rtekind != RTE_FUNCTION ||
		rte->funcordinality || list_length(rte->functions) != 1 ||
		!IS_SIMPLE_REL(rel) || rel->pathlist == NIL)
		return;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr) || rtfunc->funccoltypes == NIL)
		return;
	call = (FuncExpr *) rtfunc->funcexpr;
	if (list_length(call->args) != 1 || !IsA(linitial(call->args), Const))
		return;
	view_id = linitial_node(Const, call->args);
	if (view_id->constisnull || view_id->consttype != INT4OID || !is_read_view(call->funcid))
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
	path->custom_private = list_make2_int(DatumGetInt32(view_id->constvalue), call->funcid);
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
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	RangeTblFunction *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	CustomScan *cscan = makeNode(CustomScan);
	List	   *scan_tlist = NIL;
	ListCell   *ltype,
			   *ltypmod,
			   *lcoll;
	AttrNumber	attno = 0;

	forthree(ltype, rtfunc->funccoltypes, ltypmod, rtfunc->funccoltypmods,
			 lcoll, rtfunc->funccolcollations)
	{
		Var		   *var;

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
	cscan->custom_private = best_path->custom_private;
	cscan->methods = &view_scan_plan_methods;
	return &cscan->scan.plan;
}

static Node *
view_scan_create_state(CustomScan *cscan)
{
	ViewScanState *state = palloc0(sizeof(ViewScanState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &view_scan_exec_methods;
#if PG_VERSION_NUM >= 160000
	state->css.slotOps = &TTSOpsVirtual;	/* 15 always uses virtual slots */
#endif
	state->view_id = linitial_int(cscan->custom_private);
	state->funcid = lsecond_int(cscan->custom_private);
	return (Node *) state;
}

static void
view_scan_begin(CustomScanState *node, EState *estate, int eflags)
{
	/* The snapshot is taken at the first row. */
}

static TupleTableSlot *
view_scan_next(ScanState *ss)
{
	ViewScanState *state = (ViewScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	if (state->reader == NULL)
	{
		EState	   *estate = ss->ps.state;
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
		AclResult	aclresult;

		/* What the function scan's call would have checked. */
		aclresult = pg_proc_aclcheck(state->funcid, GetUserId(), ACL_EXECUTE);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(state->funcid));
		state->reader = view_reader_begin(state->view_id, slot->tts_tupleDescriptor);
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

	char	   *name = view_name_for_id(state->view_id);

	if (name)
		ExplainPropertyText("Continuous View", name, es);
	else
		ExplainPropertyInteger("Continuous View Id", NULL, state->view_id, es);
}

void
view_scan_init(void)
{
	RegisterCustomScanMethods(&view_scan_plan_methods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = view_scan_set_rel_pathlist;
}
