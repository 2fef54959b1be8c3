/*-------------------------------------------------------------------------
 * decoder.h
 *	  The extension's output plugin (see decoder.c).  Worker only.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_DECODER_H
#define CONTINUOUS_DECODER_H

#include "datatype/timestamp.h"

extern bool        decoder_drop_requested(void);
extern TimestampTz decoder_last_commit_time(void);

#endif /* CONTINUOUS_DECODER_H */
