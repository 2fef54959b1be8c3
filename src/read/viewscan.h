/*-------------------------------------------------------------------------
 * viewscan.h
 *	  The custom scan that reads continuous views without a tuplestore.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_VIEWSCAN_H
#define CONTINUOUS_VIEWSCAN_H

extern void view_scan_init(void);

#endif /* CONTINUOUS_VIEWSCAN_H */
