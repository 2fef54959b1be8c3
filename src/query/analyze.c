/*-------------------------------------------------------------------------
 * analyze.c
 *	  Parse analysis of a continuous view's defining query, and every
 *	  refusal of a shape the worker cannot maintain exactly.
 *
 * A supported query has one source (a stream, or an ordinary or
 * partitioned table that is WAL-logged), optional WHERE, optional GROUP BY
 * on hashable expressions, optional HAVING, and aggregates with a combine
 * function.  Each refusal names the construct and, where the parser
 * recorded one, its position in the query text.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_node.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "base/continuous.h"
#include "utils/regproc.h"
#include "utils/rel.h"

#include "agg/aggregate.h"
#include "query/analyze.h"
#include "query/compile.h"
#include "stream/stream.h"

static const char *view_query_text;

static int
error_position(int location)
{
	if (location < 0 || view_query_text == NULL)
		return 0;
	return errposition(pg_mbstrlen_with_len(view_query_text, location) + 1);
}

/*
 * Positions in errors raised while analyzing the definition point into the
 * definition's text, not into the statement calling create_view(): report
 * them as an internal query and position, as SQL functions do.
 */
static void
definition_error_callback(void *arg)
{
	analyze_position_in((const char *) arg);
}

/*
 * In an error context callback for a statement the extension parses on the
 * user's behalf (a definition, create_stream's statement): the error's
 * position points into query, shown as an internal query, not into the
 * caller's statement.
 */
void
analyze_position_in(const char *query)
{
	int pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(query);
	}
}

static void
refuse(const char *construct, int location, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s are not supported in a continuous view", construct),
			 hint ? errhint("%s", hint) : 0,
			 error_position(location)));
}

static bool
volatile_function_checker(Oid funcid, void *context)
{
	if (func_volatile(funcid) == PROVOLATILE_VOLATILE)
	{
		*(Oid *) context = funcid;
		return true;
	}
	return false;
}

typedef struct ShapeContext
{
	Oid volatile_funcid;
	int volatile_location;
} ShapeContext;

static bool
reading_time_function_checker(Oid funcid, void *context)
{
	return funcid == F_NOW || funcid == F_TRANSACTION_TIMESTAMP ||
		   funcid == F_STATEMENT_TIMESTAMP;
}

/* Finds constructs the query-level flags do not reveal with a location. */
static bool
shape_walker(Node *node, ShapeContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, SQLValueFunction))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("SQL value functions such as CURRENT_TIMESTAMP and CURRENT_USER are not supported in a continuous view"),
				 errdetail("Their value depends on the session and the moment that reads the view."),
				 errhint("Compute the value before inserting, or use a column of the source."),
				 error_position(exprLocation(node))));
	if (check_functions_in_node(node, reading_time_function_checker, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("functions of the current time such as now() are not supported in a continuous view"),
				 errdetail("The view would count rows as of when they were applied, not when it is read."),
				 errhint("Group by continuous.tumble() of an event time column instead."),
				 error_position(exprLocation(node))));
	if (check_functions_in_node(node, volatile_function_checker, &ctx->volatile_funcid))
	{
		ctx->volatile_location = exprLocation(node);
		return true;
	}
	if (IsA(node, Aggref))
		agg_check_supported((Aggref *) node);
	return expression_tree_walker(node, shape_walker, (void *) ctx);
}

static void
check_source(RangeTblEntry *rte)
{
	char  relkind = get_rel_relkind(rte->relid);
	char *relname = get_rel_name(rte->relid);

	switch (relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			break;
		case RELKIND_FOREIGN_TABLE:
			if (stream_relation_is_stream(rte->relid))
				break;
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("foreign table \"%s\" cannot be the source of a continuous view", relname),
					 errdetail("Only streams and tables whose changes are written to WAL can be sources."),
					 errhint("Create a stream with continuous.create_stream().")));
			break;
		case RELKIND_VIEW:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("view \"%s\" cannot be the source of a continuous view", relname),
					 errhint("Define the continuous view over the tables or streams the view reads.")));
			break;
		case RELKIND_MATVIEW:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("materialized view \"%s\" cannot be the source of a continuous view", relname),
					 errhint("Define the continuous view over the tables or streams it reads.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("relation \"%s\" cannot be the source of a continuous view", relname)));
	}

	/* The worker skips its own writes to the checkpoint tables. */
	if (get_rel_namespace(rte->relid) == get_namespace_oid(CONTINUOUS_SCHEMA_NAME, true))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"%s\" cannot be the source of a continuous view", relname),
				 errdetail("Tables of schema %s belong to pg_continuous.", CONTINUOUS_SCHEMA_NAME)));

	/* Rows of inheritance children are neither decoded into nor backfilled into the view. */
	if (relkind == RELKIND_RELATION && rte->inh && has_subclass(rte->relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" with inheritance children cannot be the source of a continuous view", relname),
				 errhint("Use a partitioned table, or one continuous view per table.")));

	if (relkind == RELKIND_PARTITIONED_TABLE)
	{
		ListCell *lc;

		foreach(lc, find_all_inheritors(rte->relid, AccessShareLock, NULL))
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_FOREIGN_TABLE)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("partitioned table \"%s\" cannot be the source of a continuous view", relname),
						 errdetail("Its partition \"%s\" is a foreign table or a stream.",
								   get_rel_name(lfirst_oid(lc))),
						 errhint("Define one continuous view per stream, or use a partitioned table of ordinary tables.")));
	}

	if (relkind != RELKIND_FOREIGN_TABLE)
	{
		Relation rel = table_open(rte->relid, AccessShareLock);
		char     persistence = rel->rd_rel->relpersistence;

		table_close(rel, AccessShareLock);
		if (persistence == RELPERSISTENCE_TEMP)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("temporary table \"%s\" cannot be the source of a continuous view", relname),
					 errdetail("Changes to temporary tables are not decoded from WAL."),
					 errhint("Use an ordinary table or a stream.")));
		if (persistence == RELPERSISTENCE_UNLOGGED)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("unlogged table \"%s\" cannot be the source of a continuous view", relname),
					 errdetail("Changes to unlogged tables are not written to WAL."),
					 errhint("Use a logged table or a stream.")));
	}
}

/*
 * Parses and analyzes the defining query and checks that it can be
 * maintained; returns the analyzed Query and the source relation.
 */
Query *
analyze_view_query(const char *query_string, Oid *sourcerelid)
{
	List                *raw;
	RawStmt             *rawstmt;
	Query               *query;
	RangeTblEntry       *rte;
	ShapeContext         shape = {InvalidOid, -1};
	ListCell            *lc;
	ErrorContextCallback errcallback;

	view_query_text = query_string;
	errcallback.callback = definition_error_callback;
	errcallback.arg = (void *) query_string;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	raw = pg_parse_query(query_string);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the definition of a continuous view must be exactly one SELECT statement")));
	rawstmt = linitial_node(RawStmt, raw);
	if (!IsA(rawstmt->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the definition of a continuous view must be a SELECT statement")));
	if (((SelectStmt *) rawstmt->stmt)->intoClause)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SELECT INTO is not allowed in a continuous view")));

	query = parse_analyze_fixedparams(rawstmt, query_string, NULL, 0, NULL);

	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the definition of a continuous view must be a SELECT statement")));
	if (query->setOperations)
		refuse("set operations (UNION, INTERSECT, EXCEPT)", -1,
			   "Create one continuous view per branch.");
	if (query->cteList)
		refuse("WITH queries", -1, "Write the query without WITH.");
	if (query->hasRecursive)
		refuse("recursive queries", -1, NULL);
	if (query->hasWindowFuncs)
		refuse("window functions", -1,
			   "Use continuous.tumble() in GROUP BY for time windows.");
	if (query->hasSubLinks)
		refuse("subqueries", -1, NULL);
	if (query->hasTargetSRFs)
		refuse("set-returning functions", -1, NULL);
	if (query->hasDistinctOn)
		refuse("DISTINCT ON clauses", -1, NULL);
	if (query->distinctClause)
		refuse("SELECT DISTINCT clauses", -1, "Use GROUP BY instead.");
	if (query->sortClause)
		refuse("ORDER BY clauses", -1, "Order the rows when reading the view.");
	if (query->limitCount || query->limitOffset)
		refuse("LIMIT and OFFSET clauses", -1, "Apply LIMIT when reading the view.");
	if (query->groupingSets)
		refuse("GROUPING SETS, ROLLUP and CUBE", -1, "Create one continuous view per grouping.");
	if (query->rowMarks)
		refuse("FOR UPDATE and FOR SHARE clauses", -1, NULL);
	/* GROUP BY a primary key with other columns of its table in the output. */
	if (query->constraintDeps)
		refuse("columns that depend on a primary key in GROUP BY", -1,
			   "Add the columns to GROUP BY.");

	if (list_length(query->jointree->fromlist) != 1 || list_length(query->rtable) != 1)
	{
		if (query->jointree->fromlist == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a continuous view needs a source in FROM"),
					 errhint("Select from a stream or a table.")));
		refuse("joins and multiple sources", -1,
			   "A continuous view reads exactly one stream or table.");
	}
	rte = linitial_node(RangeTblEntry, query->rtable);
	if (rte->rtekind == RTE_SUBQUERY)
		refuse("subqueries in FROM", -1, NULL);
	if (rte->rtekind == RTE_FUNCTION)
		refuse("functions in FROM", -1, "Select from a stream or a table.");
	if (rte->rtekind != RTE_RELATION)
		refuse("sources other than a stream or a table", -1, NULL);
	check_source(rte);
	if (!rte->inh && get_rel_relkind(rte->relid) != RELKIND_FOREIGN_TABLE)
		refuse("ONLY clauses", -1, "Select from the table without ONLY.");

	if (!query->hasAggs && query->groupClause == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a continuous view must use aggregates or GROUP BY"),
				 errdetail("Without them the view would have to store every event."),
				 errhint("Add an aggregate such as count(*), or a GROUP BY clause.")));

	/* Aggregates, then volatile functions anywhere. */
	if (shape_walker((Node *) query->targetList, &shape) ||
		shape_walker(query->havingQual, &shape) ||
		shape_walker(query->jointree->quals, &shape))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("volatile function %s is not supported in a continuous view",
						format_procedure(shape.volatile_funcid)),
				 errdetail("The view must give the same result as its query run over the same rows."),
				 errhint("Use an immutable or stable function, or compute the value before inserting."),
				 error_position(shape.volatile_location)));

	foreach(lc, query->groupClause)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);

		if (!sgc->hashable)
		{
			TargetEntry *tle = get_sortgroupclause_tle(sgc, query->targetList);

			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("GROUP BY on type %s is not supported in a continuous view",
							format_type_be(exprType((Node *) tle->expr))),
					 errdetail("Group keys must have a hash operator class."),
					 error_position(exprLocation((Node *) tle->expr))));
		}
	}

	/* Creating a view needs SELECT on its source. */
#if PG_VERSION_NUM >= 160000
	ExecCheckPermissions(query->rtable, query->rteperminfos, true);
#else
	ExecCheckRTPerms(query->rtable, true);
#endif

	error_context_stack = errcallback.previous;
	view_query_text = NULL;
	*sourcerelid = rte->relid;
	return query;
}
