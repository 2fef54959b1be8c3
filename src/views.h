/*-------------------------------------------------------------------------
 * views.h
 *	  SQL-callable functions: create_view, drop_view, read_view, sync, and
 *	  the catalog views' state functions.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_VIEWS_H
#define CONTINUOUS_VIEWS_H

#include "access/xact.h"

extern void views_xact_callback(XactEvent event);
extern void views_subxact_callback(SubXactEvent event, SubTransactionId mySubid);

#endif							/* CONTINUOUS_VIEWS_H */
