/*-------------------------------------------------------------------------
 * pg_continuous.h
 *	  Names and settings shared by every module of pg_continuous.
 *-------------------------------------------------------------------------
 */
#ifndef PG_CONTINUOUS_H
#define PG_CONTINUOUS_H

#define CONTINUOUS_EXTENSION_NAME	"pg_continuous"
#define CONTINUOUS_LIBRARY_NAME		"pg_continuous"
#define CONTINUOUS_SCHEMA_NAME		"continuous"
#define CONTINUOUS_CATALOG_TABLE	"view_catalog"

/* Prefixes of the logical messages the extension writes besides events. */
#define CONTINUOUS_SYNC_PREFIX		"pg_continuous.sync"
#define CONTINUOUS_DROP_PREFIX		"pg_continuous.drop"

/* GUCs (see pg_continuous.c and the README) */
extern int	continuous_shared_memory_kb;
extern int	continuous_max_databases;
extern int	continuous_naptime_ms;
extern int	continuous_apply_batch_events;
extern int	continuous_debug_merge_delay_ms;
extern int	continuous_checkpoint_interval_s;
extern bool continuous_enabled;
extern bool continuous_enable_view_scan;
extern int	continuous_debug_checkpoint_delay_ms;

/* The extension's own SQL runs with search_path = pg_catalog, pg_temp. */
extern int	continuous_pin_search_path(void);
extern void continuous_unpin_search_path(int nest_level);

#endif							/* PG_CONTINUOUS_H */
