/*-------------------------------------------------------------------------
 * reader.h
 *	  The reader of a continuous view's rows (see reader.c).
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_READER_H
#define CONTINUOUS_READER_H

#include "access/tupdesc.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "utils/uuid.h"

struct StoreSnapshot;

/* A pass over one continuous view's rows (see reader.c). */
typedef struct ViewReader ViewReader;

/*
 * Values to look groups up by, one per group key (see view_reader_begin);
 * one key, list_key, may instead have a list of values (key IN (...)).
 */
typedef struct ViewKeyLookup
{
	int    nkeys;
	Oid   *hashfns; /* per key: hash function of the value's type */
	Datum *values;
	bool  *nulls;
	int    list_key; /* -1, or the key whose values are listed */
	int    nlisted;
	Datum *listed; /* its non-NULL values */
} ViewKeyLookup;

/* A group key that is an output column (see view_key_columns). */
typedef struct ViewKeyColumn
{
	AttrNumber attno; /* output column, 0 if none */
	Oid        eqop;  /* GROUP BY's equality operator */
	Oid        collation;
} ViewKeyColumn;

extern ViewReader *view_reader_begin(int32 view_id, TupleDesc coldesc,
									 const ViewKeyLookup *lookup, const Bitmapset *needed,
									 struct StoreSnapshot *shared);
extern bool        view_reader_next(ViewReader *reader, Datum *values, bool *isnull);
extern void        view_reader_rewind(ViewReader *reader);
extern void        view_reader_end(ViewReader *reader);
extern char       *view_name_for_id(int32 view_id);
extern int32       reader_view_id_for_key(const pg_uuid_t *view_key);
extern bool        reader_is_read_view(Oid funcid);
extern bool        reader_sees_closed(TransactionId xid);
extern Datum       continuous_read_view(PG_FUNCTION_ARGS);
extern int         view_key_columns(int32 view_id, ViewKeyColumn **keys);

#endif /* CONTINUOUS_READER_H */
