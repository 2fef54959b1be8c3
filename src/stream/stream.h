/*-------------------------------------------------------------------------
 * stream.h
 *	  Streams: foreign tables whose inserted rows become transactional
 *	  logical WAL messages instead of heap tuples.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_STREAM_H
#define CONTINUOUS_STREAM_H

#include "access/htup.h"

/* Prefix of the transactional logical messages that carry stream events. */
#define CONTINUOUS_EVENTS_PREFIX "pg_continuous.events"

/* Name of the foreign server every stream belongs to. */
#define CONTINUOUS_STREAM_SERVER "continuous_streams"

/* Called once per event of a message; the tuple is valid only during the call. */
typedef void (*StreamEventCallback)(Oid streamrelid, HeapTuple tuple, void *arg);

/* Relation OID a message's events belong to (reads only the header). */
extern Oid stream_message_relid(const char *message, Size size);

/* Calls cb for every event in a message, in insertion order. */
extern void stream_decode_message(const char *message, Size size,
								  StreamEventCallback cb, void *arg);

/* Is relid a stream (a foreign table of CONTINUOUS_STREAM_SERVER)? */
extern bool stream_relation_is_stream(Oid relid);

#endif /* CONTINUOUS_STREAM_H */
