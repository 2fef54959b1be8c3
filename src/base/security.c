/*-------------------------------------------------------------------------
 * security.c
 *	  Identity changes: every place pg_continuous runs code as another role
 *	  goes through here, so there is one way to do it and one place to
 *	  review.
 *
 * Three brackets, each opened and closed by the same backend within one
 * transaction; an error in between is cleaned up by the abort (the user id
 * and security context are reset, GUC nest levels unwound):
 *
 *	- security_run_as_owner: a view's definition (its expressions, functions,
 *	  operators and aggregates) runs with its owner's privileges, in a
 *	  security-restricted operation, as REFRESH MATERIALIZED VIEW runs a
 *	  materialized view's query, and read-only: a view's code must not
 *	  write (the worker runs it inside the transactions logical decoding
 *	  replays, which must never get a transaction ID; see
 *	  registry_fail_if_wrote for what read-only does not stop).  The worker, a superuser, brackets every
 *	  call into a definition with it (compiling, applying rows, merging,
 *	  backfilling).  With undo_settings, settings the owner's code changes
 *	  (set_config()) are rolled back at security_restore, so they reach
 *	  neither the worker nor other views.  Undoing costs a scan of every
 *	  setting on PostgreSQL 15 once any changed in the transaction, so the
 *	  caller asks for it only when the definition calls functions that are
 *	  not built in: only those can change settings.
 *	- security_run_as_catalog_owner: continuous.view_catalog is not readable
 *	  or writable by ordinary roles; backends run their fixed catalog
 *	  statements (catalog.c) as the bootstrap superuser, after their own
 *	  privilege checks, with search_path pinned and in a security-restricted
 *	  operation.
 *	- security_pin_search_path: the extension's own SQL (catalog and
 *	  checkpoint statements) runs as a superuser, and function and operator
 *	  names in it are looked up through search_path, where any schema a role
 *	  can create objects in (public, or one named by ALTER DATABASE ... SET
 *	  search_path) could offer a better match than pg_catalog's and have it
 *	  run as superuser.  Pinned, search_path is pg_catalog, pg_temp.
 *	  View definitions are not pinned: they compile and run in the session's
 *	  search_path (SQL function bodies resolve names at run time).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/rls.h"

#include "base/security.h"

/*
 * Becomes owner inside a security-restricted operation, with the transaction
 * read-only; saved receives what security_restore needs.
 */
void
security_run_as_owner(Oid owner, bool undo_settings, SavedIdentity *saved)
{
	Assert(OidIsValid(owner));
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
									  SECURITY_RESTRICTED_OPERATION);
	saved->guc_nest_level = undo_settings ? NewGUCNestLevel() : -1;
	saved->keep_settings = false;
	saved->read_only = XactReadOnly;
	XactReadOnly = true;
}

/*
 * Becomes owner inside a security-restricted operation, able to write (the
 * worker writing a view's history table as its owner); settings the
 * owner's code changes are undone by security_restore.
 */
void
security_run_as_owner_writing(Oid owner, SavedIdentity *saved)
{
	security_run_as_owner(owner, true, saved);
	XactReadOnly = saved->read_only;
}

/* Becomes the catalog's owner with search_path pinned (see the file header). */
void
security_run_as_catalog_owner(SavedIdentity *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	saved->guc_nest_level = security_pin_search_path();
	saved->keep_settings = true;
	saved->read_only = XactReadOnly;
}

/* Ends either bracket: undoes its settings, then restores the identity. */
void
security_restore(const SavedIdentity *saved)
{
	if (saved->guc_nest_level >= 0)
		AtEOXact_GUC(saved->keep_settings, saved->guc_nest_level);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
	XactReadOnly = saved->read_only;
}

/*
 * Sets search_path = pg_catalog, pg_temp until security_unpin_search_path
 * with the nest level returned; an error in between restores it when the
 * transaction aborts.
 */
int
security_pin_search_path(void)
{
	int nest_level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

void
security_unpin_search_path(int nest_level)
{
	Assert(nest_level > 0);
	AtEOXact_GUC(true, nest_level);
}

/*
 * Would row-level security filter what role reads of relation relid?  Not
 * for a superuser, a role with BYPASSRLS, or the table's owner unless the
 * table has FORCE ROW LEVEL SECURITY; as PostgreSQL decides for a query.
 * A continuous view keeps every row of its source in its aggregates, so it
 * cannot apply policies: such a source is refused, or fails the view.
 */
bool
security_row_security_applies(Oid relid, Oid role)
{
	return check_enable_rls(relid, role, true) == RLS_ENABLED;
}
