/*-------------------------------------------------------------------------
 * registry.h
 *	  The worker's record of the continuous views it maintains: the header
 *	  shared by the modules of the worker (registry.c, apply.c, merge.c,
 *	  checkpoint.c, backfill.c, decoder.c).  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_REGISTRY_H
#define CONTINUOUS_REGISTRY_H

#include "access/tupconvert.h"
#include "access/xlogdefs.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"

#include "agg/multiset.h"
#include "base/catalog.h"
#include "base/security.h"
#include "query/compile.h"
#include "store/store.h"

/*
 * One group of a view's delta: what the transactions decoded since the last
 * merge did to it.
 */
typedef struct DeltaGroup
{
	struct DeltaGroup *next;
	uint32             hash;
	Datum             *keys;
	bool              *keynulls;
	Datum             *states; /* the rows added, folded */
	bool              *statenulls;
	/* Views over tables only (CompiledView.retractable): */
	int64      rows;      /* rows added minus rows taken out */
	Multiset **inputs;    /* per aggregate, or NULL: see apply.c */
	bool      *retracted; /* per aggregate: a row was taken out */
} DeltaGroup;

/*
 * The worker's record of one continuous view: its compiled definition, its
 * shared state, and its delta.
 *
 * Life of a view: registered (registry_register_view) when its catalog row
 * is decoded or found at start; over a table it is initializing (changes
 * ignored) until backfill.c has scanned the table; then ready; disabled
 * for good when it fails (registry_disable_view) or its relation is gone;
 * unregistered when its catalog row's deletion is decoded.
 */
typedef struct ApplyView
{
	int32             view_id;
	char             *name; /* for messages: see continuous_view_name */
	Oid               viewrelid;
	Oid               owner; /* the definition runs as this role */
	CompiledView     *cv;
	SharedView       *shared;
	bool              disabled;       /* failed or dropped: changes are ignored */
	bool              uses_settings;  /* calls stable functions: see registry_use_view_settings */
	bool              runs_user_code; /* calls functions that are not built in */
	char             *timezone;       /* the creator's settings */
	char             *datestyle;
	char             *intervalstyle;
	XLogRecPtr        skip_until;       /* transactions ending at or before: merged */
	bool              reset_pending;    /* the next merge replaces every group */
	bool              is_table;         /* the source is a table, not a stream */
	bool              initializing;     /* waits for a backfill: changes are ignored */
	bool              backfilling;      /* the backfill is merging into the view */
	bool              ready_pending;    /* the next merge ends the backfill */
	HTAB             *dirty;            /* shared groups changed since the last checkpoint */
	pg_uuid_t         view_key;         /* see CatalogRow */
	ContinuousOptions options;          /* see CatalogRow */
	bool              state_restored;   /* holds a checkpoint restored from a dump (restore.c) */
	bool              restore_consumed; /* restored rows were dealt with: the next
									 * checkpoint deletes them */

	MemoryContext deltacxt;
	DeltaGroup  **buckets;
	uint32        nbuckets;
	uint32        ngroups;
	uint64        pending_events;
	XLogRecPtr    pending_lsn;
	TimestampTz   pending_commit_time;

	Datum *keybuf; /* scratch for one row's key and arguments */
	bool  *keynullbuf;

	/* Windows that close (closing.c) */
	int64         next_window;  /* least window start among open groups:
								 * PG_INT64_MAX none, PG_INT64_MIN unknown */
	uint64        pending_late; /* late changes since the last merge */
	MemoryContext capturecxt;   /* late changes to capture, until the next
								 * checkpoint stores them (captured) */
	List         *captured;
	int64         late_start;    /* the last window classified, */
	TimestampTz   late_deadline; /* and its deadline (closing_is_late) */
	struct pg_tz *window_tz;     /* the view's TimeZone, for timestamp windows */
	int64         backfill_skip; /* a backfill skips windows starting at or
								  * before it: their rows are in history */
	int64         retain_oldest; /* the oldest window in history (retain):
								  * PG_INT64_MIN unknown, PG_INT64_MAX none */
	/* clock => 'event' (closing.c): */
	bool        event_clock_known;  /* event_clock is read from shared memory */
	TimestampTz event_clock;        /* the largest event time of the changes
									  * applied, or DT_NOBEGIN */
	int64       txn_event_max;      /* of the transaction being applied, in
									  * the window's type: PG_INT64_MIN none */
	TimestampTz last_event_commit;  /* commit time of the last transaction
									  * with events (0: since the worker
									  * started) */
	TimestampTz idle_advance;       /* an idle advance to write (see
									  * closing_idle_advance), or 0 */
	TimestampTz history_checked_at; /* a clock was last looked for in
									   * history (closing_idle_advance) */
} ApplyView;

/* A view that reads a relation (its source, or a partition of it). */
typedef struct RelationTarget
{
	ApplyView          *view;
	TupleConversionMap *map; /* partition row -> source row, or NULL */
} RelationTarget;

extern void          registry_init(StoreDb *db, Oid catalogrelid);
extern bool          registry_is_worker(void);
extern StoreDb      *registry_db(void);
extern Oid           registry_catalog_relid(void);
extern MemoryContext registry_context(void);

extern List      *registry_views(void);
extern ApplyView *registry_find_view(int32 view_id);
extern ApplyView *registry_find_view_by_key(const pg_uuid_t *view_key);
extern void       registry_want_checkpoint(void);
extern bool       registry_checkpoint_wanted(void);
extern ApplyView *registry_register_view(const CatalogRow *row);
extern void       registry_unregister_view(int32 view_id);
extern bool       registry_has_views(void);
extern bool       registry_has_changes(void);
extern List      *registry_forgotten_views(void);
extern void       registry_forget_view(int32 view_id);
extern void       registry_clear_forgotten(void);

extern List *registry_targets(Relation relation);
extern void  registry_map_reset(void);
extern void  registry_check_owners(bool only_if_stale);

extern void        registry_use_view_settings(ApplyView *av);
extern void        registry_forget_settings(void);
extern void        registry_become_owner(ApplyView *av, SavedIdentity *saved);
extern void        registry_become_owner_writing(ApplyView *av, SavedIdentity *saved);
extern void        registry_end_view_call(void);
extern void        registry_restore_owner(const SavedIdentity *saved);
extern void        registry_arm_view_timeout(void);
extern void        registry_view_pause(void);
extern void        registry_view_resume(void);
extern const char *registry_error_text(ErrorData *edata);

extern void registry_reset_delta(ApplyView *av);
extern void registry_reset_dirty(ApplyView *av);
extern void registry_disable_view(ApplyView *av, const char *error);
extern void registry_fail_if_wrote(ApplyView *av);

#endif /* CONTINUOUS_REGISTRY_H */
