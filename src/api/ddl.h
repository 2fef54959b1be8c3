/*-------------------------------------------------------------------------
 * ddl.h
 *	  create_view, drop_view and releasing dropped views (see ddl.c).
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_DDL_H
#define CONTINUOUS_DDL_H

#include "access/xact.h"

extern void ddl_xact_callback(XactEvent event);
extern void ddl_subxact_callback(SubXactEvent event, SubTransactionId mySubid);

#endif /* CONTINUOUS_DDL_H */
