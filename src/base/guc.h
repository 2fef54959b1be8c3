/*-------------------------------------------------------------------------
 * guc.h
 *	  The extension's settings (continuous.*).  pg_continuous.c registers
 *	  them; each variable is defined in the module that reads it, named
 *	  beside it.  The README describes them for users.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_GUC_H
#define CONTINUOUS_GUC_H

/* store/store.c */
extern int continuous_shared_memory_kb; /* continuous.shared_memory */
extern int continuous_max_databases;    /* continuous.max_databases */

/* worker/registry.c */
extern int continuous_view_timeout_ms; /* continuous.view_timeout */

/* worker/merge.c */
extern int continuous_apply_batch_events;   /* continuous.apply_batch_events */
extern int continuous_debug_merge_delay_ms; /* continuous.debug_merge_delay */

/* worker/checkpoint.c */
extern int continuous_debug_checkpoint_delay_ms; /* continuous.debug_checkpoint_delay */

/* worker/worker.c */
extern int  continuous_naptime_ms;            /* continuous.naptime */
extern int  continuous_checkpoint_interval_s; /* continuous.checkpoint_interval */
extern bool continuous_enabled;               /* continuous.enabled */

/* read/viewscan.c */
extern bool continuous_enable_view_scan; /* continuous.enable_view_scan */

#endif /* CONTINUOUS_GUC_H */
