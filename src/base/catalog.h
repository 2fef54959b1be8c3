/*-------------------------------------------------------------------------
 * catalog.h
 *	  Every read and write of continuous.view_catalog, and how messages name
 *	  a continuous view.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_CATALOG_H
#define CONTINUOUS_CATALOG_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "nodes/pg_list.h"
#include "utils/uuid.h"

/* Columns of continuous.view_catalog, as created by the install script. */
#define Anum_view_catalog_id            1
#define Anum_view_catalog_viewrelid     2
#define Anum_view_catalog_sourcerelid   3
#define Anum_view_catalog_definition    4
#define Anum_view_catalog_querytree     5
#define Anum_view_catalog_created_at    6
#define Anum_view_catalog_timezone      7
#define Anum_view_catalog_datestyle     8
#define Anum_view_catalog_intervalstyle 9
#define Anum_view_catalog_view_key      10
#define Anum_view_catalog_restored_at   11
#define Anum_view_catalog_max_memory    12
#define Anum_view_catalog_lateness      13
#define Anum_view_catalog_clock         14
#define Anum_view_catalog_history_relid 15
#define Anum_view_catalog_retain        16
#define Anum_view_catalog_late_events   17
#define Anum_view_catalog_late_relid    18
#define Anum_view_catalog_idle_timeout  19
#define Natts_view_catalog              19

/*
 * create_view's options (1.2): how windows close, and the memory cap.
 * Intervals are in microseconds of fixed length; 0 when not given.
 */
typedef struct ContinuousOptions
{
	int64 max_memory;   /* bytes; 0: no cap */
	int64 lateness;     /* 0: windows never close */
	bool  event_clock;  /* clock => 'event' (else 'commit') */
	Oid   history;      /* the history table, with lateness */
	int64 retain;       /* 0: history kept forever */
	bool  capture_late; /* late_events => 'capture' (else 'drop') */
	Oid   late_table;   /* where captured late changes go */
	int64 idle_timeout; /* event clock: 0 for the default */
} ContinuousOptions;

/* One view's catalog row (the columns the extension reads). */
typedef struct CatalogRow
{
	int32             id;
	Oid               viewrelid;   /* the user-facing view */
	Oid               sourcerelid; /* the stream or table it reads */
	char             *querytree;   /* nodeToString of the analyzed query */
	char             *timezone;    /* the creator's settings */
	char             *datestyle;
	char             *intervalstyle;
	pg_uuid_t         view_key; /* what the view's body reads: survives dump and restore */
	bool              restored; /* made from a restored view body, not by create_view */
	ContinuousOptions options;
	TransactionId     xmin; /* set by catalog_lookup only */
} CatalogRow;

/* In backends, as the catalog's owner */
extern bool  catalog_has_view_keys(void);
extern bool  catalog_has_view_options(void);
extern bool  catalog_lookup(int32 view_id, CatalogRow *row);
extern int32 catalog_id_for_key(const pg_uuid_t *view_key);
extern bool  catalog_has_view_relation(Oid viewrelid);
extern int32 catalog_next_view_id(void);
extern void  catalog_new_view_key(pg_uuid_t *view_key);
extern void  catalog_insert_view(int32 view_id, Oid viewrelid, Oid sourcerelid,
								 const char *definition, const char *querytree,
								 const pg_uuid_t *view_key, bool restored,
								 const char *const *settings, const ContinuousOptions *options);

/* In the worker */
extern List *catalog_read_views(void);
extern bool  catalog_has_views(void);
extern void  catalog_row_from_tuple(TupleDesc desc, HeapTuple tuple, CatalogRow *row);
extern int32 catalog_id_from_tuple(TupleDesc desc, HeapTuple tuple);

extern Oid   catalog_relation_oid(bool missing_ok);
extern void  catalog_execute(const char *sql, int nargs, Oid *argtypes, Datum *args,
							 const char *nulls, int expected);
extern char *continuous_view_name(Oid viewrelid, int32 view_id);

#endif /* CONTINUOUS_CATALOG_H */
