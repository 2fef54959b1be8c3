/*-------------------------------------------------------------------------
 * security.h
 *	  The one way pg_continuous changes identity: running a view's code as
 *	  its owner, running the extension's catalog SQL as the catalog's owner,
 *	  and pinning search_path for the extension's own statements.
 *-------------------------------------------------------------------------
 */
#ifndef CONTINUOUS_SECURITY_H
#define CONTINUOUS_SECURITY_H

/* What security_restore puts back. */
typedef struct SavedIdentity
{
	Oid  userid;
	int  sec_context;
	int  guc_nest_level; /* -1: no settings to undo */
	bool keep_settings;  /* AtEOXact_GUC's isCommit when undoing them */
	bool read_only;      /* XactReadOnly before the bracket */
} SavedIdentity;

extern void security_run_as_owner_writing(Oid owner, SavedIdentity *saved);
extern void security_run_as_owner(Oid owner, bool undo_settings, SavedIdentity *saved);
extern void security_run_as_catalog_owner(SavedIdentity *saved);
extern void security_restore(const SavedIdentity *saved);

extern bool security_row_security_applies(Oid relid, Oid role);

extern int  security_pin_search_path(void);
extern void security_unpin_search_path(int nest_level);

#endif /* CONTINUOUS_SECURITY_H */
