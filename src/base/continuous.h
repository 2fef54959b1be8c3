/*-------------------------------------------------------------------------
 * continuous.h
 *	  Names shared by every module of pg_continuous.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_H
#define CONTINUOUS_H

#include "fmgr.h"

#define CONTINUOUS_EXTENSION_NAME "pg_continuous"
#define CONTINUOUS_LIBRARY_NAME   "pg_continuous"
#define CONTINUOUS_SCHEMA_NAME    "continuous"
#define CONTINUOUS_CATALOG_TABLE  "view_catalog"

/* Prefixes of the logical messages the extension writes besides events. */
#define CONTINUOUS_SYNC_PREFIX "pg_continuous.sync"
#define CONTINUOUS_DROP_PREFIX "pg_continuous.drop"

/*
 * The unreferenced CTEs of a continuous view's body (api/ddl.c), which the
 * planner hook of read/viewscan.c removes.
 */
#define CONTINUOUS_DEFINITION_CTE "continuous_definition"
#define CONTINUOUS_SETTINGS_CTE   "continuous_settings"

/*
 * The library is built with -fvisibility=hidden: only what PostgreSQL looks
 * up by name is exported (t/001_exported_symbols.pl checks the list).
 * PostgreSQL 16 marks the functions PG_FUNCTION_INFO_V1 declares as
 * exported; on 15 this declaration does, for every SQL-callable function.
 */
#define CONTINUOUS_SQL_FUNCTION(name)                \
	extern PGDLLEXPORT Datum name(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(name)

#endif /* CONTINUOUS_H */
