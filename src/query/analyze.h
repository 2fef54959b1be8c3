/*-------------------------------------------------------------------------
 * analyze.h
 *	  Parse analysis and validation of a continuous view's defining query.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_ANALYZE_H
#define CONTINUOUS_ANALYZE_H

#include "nodes/parsenodes.h"

extern Query *analyze_view_query(const char *query_string, Oid *sourcerelid);
extern void   analyze_position_in(const char *query);

#endif /* CONTINUOUS_ANALYZE_H */
