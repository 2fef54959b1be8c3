/*-------------------------------------------------------------------------
 * closing.c
 *	  Windows that close: the commit and event clocks, late changes, and the
 *	  move of closed windows from shared memory into the view's history
 *	  table.  Worker only.
 *
 * A view created with lateness groups by one window, continuous.tumble(ts,
 * width), shown as one of its columns.  The window [start, start + width)
 * closes at its deadline, end + lateness, by the commit clock: the commit
 * time of the transactions the worker applies.
 *
 * The clock.  Commit timestamps are not in WAL order: a committer takes its
 * timestamp, then inserts its commit record.  But it takes it after marking
 * itself as delaying checkpoints (DELAY_CHKPT_START), and clears the mark
 * once the record is in.  So a probe (closing_clock_step) reads the time
 * t, lists the transactions so marked, waits until none of them still is,
 * then reads the WAL insert position: once the worker has decoded up to
 * there, every transaction with a commit timestamp before t has been
 * applied, and the clock moves to t less a margin (CLOCK_MARGIN_US, for a
 * committer whose mark other processors see late).  Probes run at every
 * pass of the worker, with or without traffic, so windows close within
 * about a second of their deadline while sources are idle.
 *
 * The event clock (clock => 'event').  A view's clock is the largest event
 * time (the window's time argument) of the rows applied to it, moved at
 * each commit (closing_commit_view) and merged into shared memory with the
 * view's groups, as its watermark less lateness; checkpoints write it.  A
 * replay from a checkpoint moves it again exactly as the first time.  When
 * no event has come for idle_timeout by the commit clock, and the commit
 * clock would close a window, the view's clock moves to the commit clock
 * (closing_idle_advance): that depends on when the worker ran, not on the
 * WAL, so the worker checkpoints at once, before it applies anything more,
 * and a replay starts from the clock moved.  A view with no clock yet
 * whose history holds windows (a restored one) starts from the last one's
 * deadline, the same way.
 *
 * Late changes.  A change (an event, or an inserted, updated or deleted
 * row) is late when its window's deadline is not after the view's clock:
 * with the commit clock, the commit time of the change's own transaction;
 * with the event clock, the clock before the transaction (closing_is_late).
 * It is counted, with late_events => 'capture' kept for the late table,
 * and never applied.  That depends on the WAL (and the checkpoint) only, so
 * replaying the same WAL after a crash classifies the same changes as late.
 * A change that is not late is applied before its window closes: the clock
 * guarantees it.
 *
 * Closing.  Due windows close in a transaction of the worker's own
 * (closing_close_due), not decoded, like its checkpoints: their final rows,
 * read through continuous.read_view() as the view's owner, go into the
 * history table, their groups leave the checkpoint tables, the view's
 * checkpoint row records that windows starting at or before a point are
 * closed (closed_before), and the shared groups are marked as moved by
 * that transaction.  A reader whose snapshot sees it committed skips them,
 * one that does not reads them (store_view_snapshot), so a window is read
 * once, from memory or from history.  Once every snapshot sees the
 * transaction, the worker frees the groups (closing_free_moved).  A crash
 * before the commit leaves the windows open; after it, they are in history
 * and not in the checkpoint, and a change to them that the worker decodes
 * again (it replays the WAL from its last checkpoint) is not applied
 * again: each closed window is in history exactly once.  Checkpoints never
 * write the groups of closed windows, store the captured late changes, and
 * record the figures; retention deletes history rows in the closing
 * transaction, when due.  A worker that dies holding captured changes it
 * has not stored leaves the view marked (captures_pending): the next one
 * reloads it from its checkpoint, and the replay captures them again.
 *
 * The history and late tables belong to the view's owner, and their
 * triggers are the view's code (owner_part): an error there, or a run past
 * continuous.view_timeout, fails that view alone.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/security.h"
#include "store/keptinputs.h"
#include "worker/closing.h"
#include "worker/registry.h"

/* See the header comment. */
#define CLOCK_MARGIN_US 100000

/* How often a view on the event clock with no clock looks in its history. */
#define HISTORY_CHECK_MS 5000

/* Longer than any jump of local time (last_closed_start). */
#define DST_LOOKBACK_US (3 * USECS_PER_HOUR)

static struct
{
	bool                  active;
	TimestampTz           started;
	VirtualTransactionId *vxids; /* in TopMemoryContext */
	int                   nvxids;
	XLogRecPtr            wait_lsn; /* valid once the committers are done */
} probe;

/* Every transaction that commits before it has been applied. */
static TimestampTz clock_time = 0;

static TimestampTz to_timestamptz(ApplyView *av, int64 t);

/* Does av close windows now? */
static bool
closes(ApplyView *av)
{
	return av->options.lateness > 0 && av->shared && av->cv && !av->disabled &&
		   !av->initializing && av->shared->state == VIEW_READY && av->cv->window_key >= 0;
}

/*
 * av's watermark when its clock is at t: t less lateness, kept within the
 * range of timestamps (infinite beyond it), and back.
 */
static TimestampTz
watermark_at(ApplyView *av, TimestampTz t)
{
	if (TIMESTAMP_NOT_FINITE(t))
		return t;
	if (t - av->options.lateness < MIN_TIMESTAMP)
		return DT_NOBEGIN;
	if (t - av->options.lateness >= END_TIMESTAMP)
		return DT_NOEND;
	return t - av->options.lateness;
}

static TimestampTz
clock_at(ApplyView *av, TimestampTz watermark)
{
	return TIMESTAMP_NOT_FINITE(watermark) ? watermark : watermark + av->options.lateness;
}

/* A late change kept for the late table until the next checkpoint. */
typedef struct CapturedChange
{
	HeapTuple   row; /* the source row, of the source's descriptor */
	const char *kind;
	TimestampTz commit_time;
	int64       window_start;
	TimestampTz watermark;
} CapturedChange;

/*
 * What the transaction under way (a checkpoint, or closing_close_due) did to
 * one view, made the view's figures when it commits (closing_commit_done).
 * An error in it ends the worker; the next one undoes its marks
 * (closing_free_moved).
 */
typedef struct PendingClose
{
	ApplyView   *av;
	StoreWindows after; /* the figures once it commits */
	int          ncaptured;
} PendingClose;

static List *pending = NIL; /* of PendingClose, in TopMemoryContext */

/*
 * One step of the commit clock's probe (see the header); decoded_upto: the
 * worker has applied every transaction whose commit record ends before it.
 */
void
closing_clock_step(XLogRecPtr decoded_upto)
{
	ListCell *lc;

	if (!probe.active)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		probe.started = GetCurrentTimestamp();
		probe.vxids = GetVirtualXIDsDelayingChkpt(&probe.nvxids, DELAY_CHKPT_START);
		MemoryContextSwitchTo(old);
		probe.wait_lsn = InvalidXLogRecPtr;
		probe.active = true;
	}
	if (XLogRecPtrIsInvalid(probe.wait_lsn))
	{
		uint32 offset;

		if (probe.nvxids > 0 &&
			HaveVirtualXIDsDelayingChkpt(probe.vxids, probe.nvxids, DELAY_CHKPT_START))
			return;
		probe.wait_lsn = GetXLogInsertRecPtr();
		/* Right after a page header: the last record ended at the page's start. */
		offset = probe.wait_lsn % XLOG_BLCKSZ;
		if (offset == (XLogSegmentOffset(probe.wait_lsn, wal_segment_size) < XLOG_BLCKSZ
						   ? SizeOfXLogLongPHD
						   : SizeOfXLogShortPHD))
			probe.wait_lsn -= offset;
	}
	if (decoded_upto < probe.wait_lsn)
		return;
	clock_time = Max(clock_time, probe.started - CLOCK_MARGIN_US);
	pfree(probe.vxids);
	probe.vxids = NULL;
	probe.active = false;
	/* The watermarks of the views on the commit clock move with it. */
	foreach(lc, registry_views())
	{
		ApplyView *av = lfirst(lc);

		if (closes(av) && !av->options.event_clock)
			store_view_advance_watermark(av->shared, watermark_at(av, clock_time));
	}
}

/*
 * The clock by which av's windows close, DT_NOBEGIN before any: the commit
 * clock, or with clock => 'event' the view's own (see the header).
 */
static TimestampTz
view_clock(ApplyView *av)
{
	if (!av->options.event_clock)
		return clock_time != 0 ? clock_time : DT_NOBEGIN;
	if (!av->event_clock_known)
	{
		StoreViewHeader header;

		/* As merged, or loaded from the checkpoint. */
		av->event_clock = DT_NOBEGIN;
		if (av->shared)
		{
			store_view_get_header(av->shared, &header);
			if (header.windows.has_watermark)
				av->event_clock = clock_at(av, header.windows.watermark);
		}
		av->event_clock_known = true;
	}
	return av->event_clock;
}

/*
 * A time of av's window type (timestamptz, or timestamp in the view's
 * TimeZone) as timestamptz, and back.  The time zone is the view's own,
 * looked up once in a transaction.
 */
static bool
knows_time_zone(ApplyView *av)
{
	return av->cv->window.type == TIMESTAMPTZOID || av->window_tz != NULL;
}

static void
learn_time_zone(ApplyView *av)
{
	if (knows_time_zone(av))
		return;
	Assert(IsTransactionState());
	registry_use_view_settings(av);
	av->window_tz = session_timezone;
}

/*
 * Times this close to either end of the range of timestamps convert to
 * infinity, not to an error: a time zone moves them by at most a day.
 */
static bool
near_range_end(int64 t, int64 *infinity)
{
	if (t >= END_TIMESTAMP - 2 * USECS_PER_DAY)
		*infinity = DT_NOEND;
	else if (t < MIN_TIMESTAMP + 2 * USECS_PER_DAY)
		*infinity = DT_NOBEGIN;
	else
		return false;
	return true;
}

/*
 * convert (timestamp_timestamptz or timestamptz_timestamp) applied to t in
 * av's time zone.  Both window types hold microseconds in an int64.
 */
static pg_noinline int64
convert_in_view_zone(ApplyView *av, int64 t, PGFunction convert)
{
	pg_tz *saved = session_timezone;
	int64  result;

	if (av->cv->window.type == TIMESTAMPTZOID || TIMESTAMP_NOT_FINITE(t))
		return t;
	if (near_range_end(t, &result))
		return result;
	session_timezone = av->window_tz;
	PG_TRY();
	{
		result = DatumGetInt64(DirectFunctionCall1(convert, Int64GetDatum(t)));
	}
	PG_FINALLY();
	{
		session_timezone = saved;
	}
	PG_END_TRY();
	return result;
}

static TimestampTz
to_timestamptz(ApplyView *av, int64 t)
{
	return convert_in_view_zone(av, t, timestamp_timestamptz);
}

static int64
from_timestamptz(ApplyView *av, TimestampTz t)
{
	return convert_in_view_zone(av, t, timestamptz_timestamp);
}

/* When the window that starts at start closes: its end plus lateness. */
static TimestampTz
window_deadline(ApplyView *av, int64 start)
{
	int64       width = av->cv->window.width;
	TimestampTz end;

	if (start > PG_INT64_MAX - width - av->options.lateness)
		return DT_NOEND;
	end = to_timestamptz(av, start + width);
	if (end > PG_INT64_MAX - av->options.lateness)
		return DT_NOEND;
	return end + av->options.lateness;
}

/*
 * A start at or before which every window is closed at time t: each one's
 * deadline has passed.
 */
static int64
last_closed_start(ApplyView *av, TimestampTz t)
{
	int64       width = av->cv->window.width;
	TimestampTz cut = t - av->options.lateness; /* windows ending by then */
	int64       before = from_timestamptz(av, cut) - width;
	int64       end = before + width;
	int64       offset,
		earlier_offset;

	if (av->cv->window.type == TIMESTAMPTZOID || before < MIN_TIMESTAMP + DST_LOOKBACK_US)
		return before;

	/*
	 * Local time jumps where daylight saving time starts or ends, and there
	 * deadlines do not grow with starts: a window that ends in the hour
	 * skipped in spring reads as ending an hour later than the windows
	 * after it, and the hour repeated in autumn reads as its second
	 * occurrence.  With the same offset from UTC at the first guess's end
	 * and three hours before (longer than any jump), no jump is in between.
	 * Else a window that ends at a local time e reads as ending at e plus
	 * one of the two offsets: every window ending by the cut less the larger
	 * one has ended, whichever side of the jump it is on.  An earlier start
	 * is safe: fewer windows close now.
	 */
	offset = to_timestamptz(av, end) - end;
	earlier_offset = to_timestamptz(av, end - DST_LOOKBACK_US) - (end - DST_LOOKBACK_US);
	if (offset == earlier_offset)
		return before;
	return Min(before, cut - Max(offset, earlier_offset) - width);
}

/*
 * Is a change to the window that starts at window_start, in a transaction
 * that commits at commit_time, late?  Only the WAL decides (see header).
 */
static bool
closing_is_late(ApplyView *av, int64 window_start, TimestampTz commit_time)
{
	if (av->options.lateness <= 0 || av->cv == NULL || av->cv->window_key < 0)
		return false;
	learn_time_zone(av);
	if (window_start != av->late_start)
	{
		av->late_deadline = window_deadline(av, window_start);
		av->late_start = window_start;
	}
	return av->late_deadline <= (av->options.event_clock ? view_clock(av) : commit_time);
}

/* The event time of the row being applied joins its transaction's. */
static void
note_event_time(ApplyView *av)
{
	bool  isnull;
	Datum t = ExecEvalExpr(av->cv->window_time, av->cv->econtext, &isnull);

	/* infinity would close every window for good: not a time. */
	if (!isnull && !TIMESTAMP_NOT_FINITE(DatumGetInt64(t)))
		av->txn_event_max = Max(av->txn_event_max, DatumGetInt64(t));
}

/*
 * The transaction being applied (or a backfill) ends, committed at
 * commit_time (0: a backfill): with the event clock, its events move av's
 * clock.  In the transaction.
 */
void
closing_commit_view(ApplyView *av, TimestampTz commit_time)
{
	if (av->txn_event_max == PG_INT64_MIN)
		return;
	learn_time_zone(av);
	av->event_clock = Max(view_clock(av), to_timestamptz(av, av->txn_event_max));
	av->txn_event_max = PG_INT64_MIN;
	if (commit_time != 0)
		av->last_event_commit = commit_time;
}

/*
 * The watermark av's next merge brings: with the event clock, its clock
 * less lateness.  The commit clock moves the others' (closing_clock_step).
 */
bool
closing_watermark(ApplyView *av, TimestampTz *watermark)
{
	if (!av->options.event_clock || av->options.lateness <= 0 || view_clock(av) == DT_NOBEGIN)
		return false;
	*watermark = watermark_at(av, view_clock(av));
	return true;
}

/* Keeps a late change for the late table (late_events => 'capture'). */
static void
closing_capture(ApplyView *av, HeapTuple tuple, const char *kind, int64 window_start,
				TimestampTz commit_time)
{
	MemoryContext   old;
	CapturedChange *c;

	if (av->capturecxt == NULL)
		av->capturecxt = AllocSetContextCreate(registry_context(), "continuous late changes",
											   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(av->capturecxt);
	c = palloc(sizeof(CapturedChange));
	c->row = heap_copytuple(tuple);
	c->kind = kind;
	c->commit_time = commit_time;
	c->window_start = window_start;
	c->watermark = watermark_at(av, av->options.event_clock ? view_clock(av) : commit_time);
	av->captured = lappend(av->captured, c);
	MemoryContextSwitchTo(old);
	if (av->shared)
		av->shared->captures_pending = true;
}

/*
 * The name of the history table's column that holds av's window: the
 * view's column, counting the table's columns that were not dropped.
 */
static char *
history_window_column(ApplyView *av, Relation history)
{
	TupleDesc desc = RelationGetDescr(history);
	int       n = 0;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && ++n == av->cv->window.column)
			return pstrdup(NameStr(TupleDescAttr(desc, i)->attname));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
			 errmsg("the history table of continuous view \"%s\" has no column %d", av->name, av->cv->window.column),
			 errhint("Give the history table back the view's columns, or create the view again.")));
	return NULL;
}

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/*
 * The last window av's history table holds, in *last; false if none.  In
 * a transaction, as the worker.
 */
static bool
history_last_window(ApplyView *av, int64 *last)
{
	Relation      history = try_relation_open(av->options.history, AccessShareLock);
	char         *column;
	SavedIdentity saved;
	bool          isnull;
	Datum         d;

	if (history == NULL)
		return false;
	column = history_window_column(av, history);
	relation_close(history, AccessShareLock);
	security_run_as_owner(av->owner, true, &saved);
	SPI_connect();
	if (SPI_execute(psprintf("SELECT max(%s) FROM %s", quote_identifier(column),
							 qualified_name(av->options.history)),
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the history table of continuous view \"%s\"", av->name);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*last = DatumGetInt64(d);
	SPI_finish();
	security_restore(&saved);
	return !isnull;
}

/*
 * Before a backfill of av: the windows its history table holds (a restored
 * view's, say) are closed, and their rows are not applied again.  Sets
 * av->backfill_skip to the last of them (PG_INT64_MIN: none).  In a
 * transaction, as the worker.
 */
void
closing_before_backfill(ApplyView *av)
{
	av->backfill_skip = PG_INT64_MIN;
	if (av->options.lateness <= 0 || av->cv == NULL || av->cv->window_key < 0)
		return;
	(void) history_last_window(av, &av->backfill_skip);
	/* Windows closed with no rows left in history (retention) stay closed. */
	if (av->shared && av->shared->windows.any_closed)
		av->backfill_skip = Max(av->backfill_skip, av->shared->windows.closed_before);
}

/*
 * Is a row of av (a source row with its change's kind, added with sign +1
 * or taken out with -1, in the window that starts at window_start, of a
 * transaction that commits at commit_time) not to be applied?  A backfill
 * leaves out the windows history holds.  A late row is counted and, with
 * late_events => 'capture', kept.  A row that is not late, of a window
 * already closed, is decoded again after a crash: history has it.
 */
bool
closing_skips_row(ApplyView *av, HeapTuple tuple, const char *kind, int sign, int64 window_start,
				  TimestampTz commit_time)
{
	/* Skipped or not, an event moves the event clock: a replay skips more. */
	if (av->options.event_clock && sign > 0)
		note_event_time(av);
	if (av->backfilling)
		return window_start <= av->backfill_skip;
	if (closing_is_late(av, window_start, commit_time))
	{
		av->pending_late++;
		if (av->options.capture_late)
			closing_capture(av, tuple, kind, window_start, commit_time);
		return true;
	}
	return av->shared && av->shared->windows.any_closed &&
		   window_start <= av->shared->windows.closed_before;
}

/* A window start has groups now: the least one may be due earlier. */
void
closing_note_window(ApplyView *av, int64 window_start)
{
	if (av->next_window != PG_INT64_MIN)
		av->next_window = Min(av->next_window, window_start);
}

/*
 * Are history rows of av past retain (or is its oldest window not known)?
 * The time zone is known.
 */
static bool
retention_due(ApplyView *av)
{
	TimestampTz clock = view_clock(av);
	TimestampTz deadline;

	if (av->options.retain <= 0 || clock == DT_NOBEGIN || av->retain_oldest == PG_INT64_MAX)
		return false;
	if (av->retain_oldest == PG_INT64_MIN)
		return true;
	/* Its window ended more than retain before the watermark. */
	deadline = window_deadline(av, av->retain_oldest);
	return deadline <= PG_INT64_MAX - av->options.retain && deadline + av->options.retain <= clock;
}

/*
 * Is a window of some view due to close (or its groups' least start not
 * known yet), or history rows past retain?  Then closing_close_due.
 */
bool
closing_due(void)
{
	ListCell *lc;

	foreach(lc, registry_views())
	{
		ApplyView *av = lfirst(lc);

		if (!closes(av) || TransactionIdIsValid(av->shared->closing_xid) || view_clock(av) == DT_NOBEGIN)
			continue;
		if (!knows_time_zone(av) || av->next_window == PG_INT64_MIN || retention_due(av))
			return true;
		if (av->next_window != PG_INT64_MAX && window_deadline(av, av->next_window) <= view_clock(av))
			return true;
	}
	return false;
}

/*
 * The column definition list of read_view() for a view, from its history
 * table: c1, c2, ... with the types of its columns not dropped.
 */
static char *
history_columns(Relation history)
{
	TupleDesc      desc = RelationGetDescr(history);
	StringInfoData buf;
	int            n = 0;

	initStringInfo(&buf);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%sc%d %s", n > 0 ? ", " : "", n + 1,
						 format_type_with_typemod(att->atttypid, att->atttypmod));
		n++;
	}
	return buf.data;
}

/* What the owner's part of closing does (close_as_owner). */
typedef struct OwnerPart
{
	bool   find_last; /* only look for the last window in history: */
	bool   found;     /* out: there is one, */
	int64  last;      /* out: this one */
	bool   captured;  /* store the captured late changes */
	bool   move;      /* move the windows starting at or before before */
	int64  before;
	bool   retain;        /* delete history rows of windows starting at or */
	int64  retain_before; /* before retain_before */
	uint64 retained;      /* out: the rows it deleted */
	int64  oldest;        /* out: the oldest window left in history */
} OwnerPart;

/*
 * The owner's part of closing av's windows, in a subtransaction (see
 * OwnerPart).
 */
static void
close_as_owner(ApplyView *av, OwnerPart *part)
{
	Relation    history;
	const char *window_name; /* the history table's window column */
	char       *columns;
	char       *hname;
	Oid         wtype = av->cv->window.type;
	ListCell   *lc;

	if (part->find_last)
	{
		part->found = history_last_window(av, &part->last);
		return;
	}
	history = relation_open(av->options.history, AccessShareLock);
	window_name = quote_identifier(history_window_column(av, history));
	columns = history_columns(history);
	hname = qualified_name(av->options.history);
	relation_close(history, AccessShareLock);
	/* The owner's triggers on the tables see an ordinary search_path. */
	(void) set_config_option("search_path", "\"$user\", public", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (part->captured && av->captured != NIL && OidIsValid(av->options.late_table))
	{
		/* The late table's columns: the source's, then what made it late. */
		TupleDesc      desc = av->cv->sourcedesc;
		int            nargs = 0;
		Oid           *argtypes = palloc(sizeof(Oid) * (desc->natts + 4));
		Datum         *args = palloc(sizeof(Datum) * (desc->natts + 4));
		char          *nulls = palloc(desc->natts + 5);
		Datum         *values = palloc(sizeof(Datum) * desc->natts);
		bool          *isnull = palloc(sizeof(bool) * desc->natts);
		StringInfoData sql;

		initStringInfo(&sql);
		appendStringInfo(&sql, "INSERT INTO %s VALUES (", qualified_name(av->options.late_table));
		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
			{
				argtypes[nargs] = TupleDescAttr(desc, i)->atttypid;
				appendStringInfo(&sql, "$%d, ", ++nargs);
			}
		argtypes[nargs] = TEXTOID;
		argtypes[nargs + 1] = TIMESTAMPTZOID;
		argtypes[nargs + 2] = wtype;
		argtypes[nargs + 3] = TIMESTAMPTZOID;
		appendStringInfo(&sql, "$%d, $%d, $%d, $%d)", nargs + 1, nargs + 2, nargs + 3, nargs + 4);
		foreach(lc, av->captured)
		{
			CapturedChange *c = lfirst(lc);
			int             k = 0;

			heap_deform_tuple(c->row, desc, values, isnull);
			for (int i = 0; i < desc->natts; i++)
				if (!TupleDescAttr(desc, i)->attisdropped)
				{
					args[k] = values[i];
					nulls[k++] = isnull[i] ? 'n' : ' ';
				}
			args[k] = CStringGetTextDatum(c->kind);
			args[k + 1] = TimestampTzGetDatum(c->commit_time);
			args[k + 2] = Int64GetDatum(c->window_start);
			args[k + 3] = TimestampTzGetDatum(c->watermark);
			memset(nulls + k, ' ', 4);
			nulls[k + 4] = '\0';
			catalog_execute(sql.data, nargs + 4, argtypes, args, nulls, SPI_OK_INSERT);
		}
	}
	if (part->move)
	{
		Oid   argtypes[2] = {UUIDOID, wtype};
		Datum args[2] = {UUIDPGetDatum(&av->view_key), Int64GetDatum(part->before)};

		/* read_view()'s columns are c1, c2, ... in the history table's order. */
		catalog_execute(psprintf("INSERT INTO %s SELECT r.* FROM continuous.read_view($1) AS r(%s) WHERE r.c%d <= $2",
								 hname, columns, av->cv->window.column),
						2, argtypes, args, NULL, SPI_OK_INSERT);
	}
	if (part->retain)
	{
		Oid   argtypes[1] = {wtype};
		Datum args[1] = {Int64GetDatum(part->retain_before)};
		bool  isnull;
		Datum oldest;

		catalog_execute(psprintf("DELETE FROM %s WHERE %s <= $1", hname, window_name),
						1, argtypes, args, NULL, SPI_OK_DELETE);
		part->retained = SPI_processed;
		catalog_execute(psprintf("SELECT min(%s) FROM %s", window_name, hname), 0, NULL, NULL, NULL, SPI_OK_SELECT);
		oldest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		part->oldest = isnull ? PG_INT64_MAX : DatumGetInt64(oldest);
	}
}

/*
 * close_as_owner in a subtransaction, as av's owner.  An error fails av
 * alone: returns false.
 */
static pg_noinline bool
owner_part(ApplyView *av, OwnerPart *part)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		SavedIdentity saved;

		registry_become_owner_writing(av, &saved);
		close_as_owner(av, part);
		registry_restore_owner(&saved);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData *edata;

		/* Interrupts (shutdown) are not the view's fault. */
		if (ProcDiePending)
			PG_RE_THROW();
		registry_end_view_call();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		registry_disable_view(av, registry_error_text(edata));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * Views with clock => 'event' that had events, but none for idle_timeout
 * (by the commit clock, default a minute), whose oldest open window the
 * commit clock would close: their clock moves to the commit clock.  Only
 * then: each move costs a checkpoint, and an idle worker writes nothing.
 * Returns whether one does; the caller then checkpoints at once, which
 * writes the move and makes it the views' clock (closing_commit_done),
 * before anything is applied with it (see the header).  The worker has
 * merged all it decoded.
 */
bool
closing_idle_advance(void)
{
	ListCell *lc;
	bool      any = false;

	foreach(lc, registry_views())
	{
		ApplyView *av = lfirst(lc);
		int64      idle = av->options.idle_timeout > 0 ? av->options.idle_timeout : USECS_PER_MINUTE;

		if (closes(av) && av->options.event_clock && view_clock(av) == DT_NOBEGIN &&
			TimestampDifferenceExceeds(av->history_checked_at, GetCurrentTimestamp(), HISTORY_CHECK_MS))
		{
			OwnerPart part = {.find_last = true};

			/*
			 * No clock yet, but windows in history (a restored view, whose
			 * history rows a restore may bring after the view): the clock
			 * had passed their deadline.  Looked for every few seconds
			 * until the view has a clock.
			 */
			av->history_checked_at = GetCurrentTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			learn_time_zone(av);
			if (owner_part(av, &part) && part.found)
			{
				av->idle_advance = window_deadline(av, part.last);
				any = true;
			}
			PopActiveSnapshot();
			CommitTransactionCommand();
			continue;
		}
		if (clock_time == 0)
			continue;

		if (!closes(av) || !av->options.event_clock || TransactionIdIsValid(av->shared->closing_xid) ||
			!knows_time_zone(av) || av->next_window == PG_INT64_MIN || view_clock(av) == DT_NOBEGIN)
			continue;
		if (av->last_event_commit == 0)
			av->last_event_commit = clock_time; /* idle since the worker started */
		if (clock_time - av->last_event_commit < idle || clock_time <= view_clock(av))
			continue;
		/* Due by the commit clock, not yet by the event clock. */
		if (av->next_window == PG_INT64_MAX || window_deadline(av, av->next_window) > clock_time ||
			window_deadline(av, av->next_window) <= view_clock(av))
			continue;
		av->idle_advance = clock_time;
		any = true;
	}
	return any;
}

/*
 * Records av's closing figures in its checkpoint row: in_checkpoint, all of
 * them; else (the closing transaction) not the late counts nor the
 * watermark, which are as of the checkpoint's position: a replay from it
 * counts again what came after it, and the event clock moves again.
 */
static void
record_windows(ApplyView *av, const StoreWindows *w, bool in_checkpoint)
{
	Oid   argtypes[8] = {INT4OID, TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum args[8] = {Int32GetDatum(av->view_id), TimestampTzGetDatum(w->watermark),
					 Int64GetDatum((int64) w->closed_windows), TimestampTzGetDatum(w->last_close_time),
					 Int64GetDatum((int64) w->late_changes), Int64GetDatum((int64) w->late_captured),
					 Int64GetDatum((int64) w->retained_rows), Int64GetDatum(w->closed_before)};
	char  nulls[9] = "        ";

	nulls[1] = w->has_watermark ? ' ' : 'n';
	nulls[3] = w->last_close_time ? ' ' : 'n';
	nulls[7] = w->any_closed ? ' ' : 'n';
	if (in_checkpoint)
		catalog_execute("UPDATE continuous.checkpoint_view SET watermark = $2, closed_windows = $3, "
						"last_close_time = $4, late_changes = $5, late_captured = $6, retained_rows = $7, "
						"closed_before = $8 WHERE view_id = $1",
						8, argtypes, args, nulls, SPI_OK_UPDATE);
	else
		catalog_execute("UPDATE continuous.checkpoint_view SET closed_windows = $3, "
						"last_close_time = $4, retained_rows = $7, closed_before = $8 WHERE view_id = $1",
						8, argtypes, args, nulls, SPI_OK_UPDATE);
}

static void
add_pending(PendingClose *p)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}

/*
 * In the checkpoint's transaction, before it writes av (SPI connected, as
 * superuser): stores av's captured late changes.  An error in the owner's
 * part (a trigger on the late table, say) fails av alone, before its
 * groups are copied.
 */
void
closing_checkpoint_view(ApplyView *av)
{
	StoreViewHeader header;
	PendingClose   *p;
	OwnerPart       part = {.captured = true};

	if (!closes(av))
	{
		av->idle_advance = 0;
		return;
	}
	learn_time_zone(av);
	if (av->captured != NIL && !owner_part(av, &part))
		return;
	store_view_get_header(av->shared, &header);
	p = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingClose));
	p->av = av;
	p->after = header.windows;
	if (av->idle_advance != 0)
	{
		/* Written before anything is applied by it (closing_idle_advance). */
		p->after.watermark = watermark_at(av, av->idle_advance);
		p->after.has_watermark = true;
	}
	p->after.late_captured += list_length(av->captured);
	p->ncaptured = list_length(av->captured);
	add_pending(p);
	registry_forget_settings();
}

/*
 * In the checkpoint's transaction, after it wrote av: records its closing
 * figures (those closing_checkpoint_view computed) in its checkpoint row.
 */
void
closing_checkpoint_record(ApplyView *av)
{
	ListCell *lc;

	foreach(lc, pending)
	{
		PendingClose *p = lfirst(lc);

		if (p->av == av && !av->disabled)
			record_windows(av, &p->after, true);
	}
}

/*
 * Moves the due windows of every view into their history tables, in one
 * transaction of the worker's own (not decoded, like its checkpoints): per
 * view, their rows into history, their groups out of the checkpoint, and
 * the view's checkpoint row records that windows starting at or before
 * "before" are closed, so a replay after a crash does not apply their
 * changes again.  A view never checkpointed yet has no row to record it:
 * it waits for the checkpoint this asks for.
 */
void
closing_close_due(void)
{
	ListCell *lc;
	int       nest_level;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	replorigin_session_origin = DoNotReplicateId;
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	nest_level = security_pin_search_path();
	foreach(lc, registry_views())
	{
		ApplyView      *av = lfirst(lc);
		StoreViewHeader header;
		int64           before,
			next_start,
			*ids;
		uint64        nwindows;
		int           n;
		PendingClose *p;
		OwnerPart     part = {0};

		if (!closes(av) || TransactionIdIsValid(av->shared->closing_xid) || view_clock(av) == DT_NOBEGIN)
			continue;
		learn_time_zone(av);
		before = last_closed_start(av, view_clock(av));
		n = store_view_windows_before(av->shared, before, &ids, &nwindows, &next_start);
		av->next_window = next_start;
		part.move = n > 0;
		part.before = before;
		part.retain = retention_due(av);
		if (part.retain)
		{
			part.retain_before = last_closed_start(av, view_clock(av) - av->options.retain);
			/* Near a jump of local time the cut can be below the oldest window: later. */
			part.retain = av->retain_oldest == PG_INT64_MIN || part.retain_before >= av->retain_oldest;
		}
		if (!part.move && !part.retain)
			continue;
		store_view_get_header(av->shared, &header);
		p = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingClose));
		p->av = av;
		p->after = header.windows;
		if (part.move)
		{
			p->after.closed_windows += nwindows;
			p->after.last_close_time = GetCurrentTimestamp();
			p->after.any_closed = true;
			p->after.closed_before = before;
		}
		if (SPI_execute_with_args("SELECT 1 FROM continuous.checkpoint_view WHERE view_id = $1",
								  1, (Oid[]){INT4OID}, (Datum[]){Int32GetDatum(av->view_id)}, NULL,
								  false, 1) != SPI_OK_SELECT ||
			SPI_processed == 0)
		{
			/* Try again after the checkpoint. */
			pfree(p);
			registry_want_checkpoint();
			av->next_window = PG_INT64_MIN;
			continue;
		}
		/*
		 * A lock on the history table that blocks inserts (ALTER TABLE, a
		 * plain CREATE INDEX) holds up neither the worker nor the view's
		 * other work: its windows close at a later pass.
		 */
		if (!ConditionalLockRelationOid(av->options.history, RowExclusiveLock))
		{
			pfree(p);
			av->next_window = PG_INT64_MIN; /* due again at the next pass */
			continue;
		}
		if (!owner_part(av, &part))
		{
			/* av failed. */
			pfree(p);
			continue;
		}
		if (part.retain)
		{
			p->after.retained_rows += part.retained;
			av->retain_oldest = part.oldest;
		}
		if (part.move)
		{
			Oid    argtypes[2] = {INT4OID, INT8ARRAYOID};
			Datum  args[2];
			Datum *idd = palloc(sizeof(Datum) * n);

			for (int i = 0; i < n; i++)
				idd[i] = Int64GetDatum(ids[i]);
			args[0] = Int32GetDatum(av->view_id);
			args[1] = PointerGetDatum(construct_array(idd, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			catalog_execute("DELETE FROM continuous.checkpoint_group WHERE view_id = $1 AND group_id = ANY ($2)",
							2, argtypes, args, NULL, SPI_OK_DELETE);
		}
		record_windows(av, &p->after, false);
		if (part.move)
		{
			/*
			 * The closed windows at once (a checkpoint must not write these
			 * groups); the figures readers see once it commits.
			 */
			store_view_mark_closing(av->shared, GetTopTransactionId(), before);
			/* The windows moved are the oldest in history now, maybe. */
			if (av->options.retain > 0)
				av->retain_oldest = PG_INT64_MIN;
		}
		add_pending(p);
		registry_forget_settings();
	}
	security_unpin_search_path(nest_level);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	replorigin_session_origin = InvalidRepOriginId;
	closing_commit_done();
}

/*
 * After a checkpoint's or a closing transaction committed: the figures are
 * the new ones, and the captured changes are stored.
 */
void
closing_commit_done(void)
{
	ListCell *lc;

	foreach(lc, pending)
	{
		PendingClose *p = lfirst(lc);
		ApplyView    *av = p->av;

		if (av->shared == NULL)
			continue;
		store_view_set_windows(av->shared, &p->after);
		if (av->idle_advance != 0)
		{
			av->event_clock = Max(view_clock(av), av->idle_advance);
			av->idle_advance = 0;
		}
		if (p->ncaptured > 0)
		{
			/* Only those stored: none is added during a checkpoint. */
			av->captured = NIL;
			MemoryContextReset(av->capturecxt);
			av->shared->captures_pending = false;
		}
	}
	list_free_deep(pending);
	pending = NIL;
}

/*
 * The blobs of kept inputs a group row of a view over a table names (its
 * aggregates' run lists), in the current memory context.
 */
static dsa_pointer *
kept_blobs_of(MinimalTuple row, void *arg, int *nblobs)
{
	CompiledView *cv = arg;
	int           natts = cv->groupdesc->natts;
	Datum        *values = palloc(sizeof(Datum) * natts);
	bool         *nulls = palloc(sizeof(bool) * natts);
	KeptBlobs     kb;

	kept_blobs_init(&kb, CurrentMemoryContext);
	compile_deform_group(cv, row, values, nulls);
	for (int a = 0; a < cv->naggs; a++)
	{
		int att = COMPILE_INPUTS_ATT(cv, a);

		if (!nulls[att])
			kept_inputs_retire(DatumGetByteaPP(values[att]), &kb);
	}
	*nblobs = kb.nold;
	return kb.old_blobs;
}

/*
 * Drops the groups of closed windows from av's dirty groups: the
 * checkpoints never write them again, and they are about to be freed.
 */
static void
forget_dirty_closed(ApplyView *av)
{
	HASH_SEQ_STATUS seq;
	dsa_pointer    *dp;
	dsa_pointer    *groups = palloc(sizeof(dsa_pointer) * Max(hash_get_num_entries(av->dirty), 1));
	int             n = 0;
	int             kept;

	hash_seq_init(&seq, av->dirty);
	while ((dp = hash_seq_search(&seq)) != NULL)
		groups[n++] = *dp;
	kept = store_view_drop_closed(av->shared, groups, n, av->shared->closing_before);
	if (kept < n)
	{
		registry_reset_dirty(av);
		for (int i = 0; i < kept; i++)
			(void) hash_search(av->dirty, &groups[i], HASH_ENTER, NULL);
	}
	pfree(groups);
}

/*
 * Frees the groups of windows moved into history once no snapshot can read
 * them from shared memory any more: when every running snapshot sees the
 * moving transaction committed.  A mark whose transaction did not commit
 * (the worker failed in its checkpoint) is undone.
 */
void
closing_free_moved(void)
{
	ListCell *lc;
	bool      started = false;

	foreach(lc, registry_views())
	{
		ApplyView    *av = lfirst(lc);
		TransactionId xid;

		if (av->shared == NULL || !TransactionIdIsValid(av->shared->closing_xid))
			continue;
		xid = av->shared->closing_xid;
		if (TransactionIdIsInProgress(xid))
			continue;
		if (!TransactionIdDidCommit(xid))
		{
			/* The close's figures go too: its windows are open. */
			store_view_unmark_closing(av->shared);
			av->next_window = PG_INT64_MIN;
			continue;
		}
		if (!IsTransactionState())
		{
			StartTransactionCommand();
			started = true;
		}
		{
			/* A user table's horizon: the snapshots of every backend. */
			Relation      history = try_relation_open(av->options.history, AccessShareLock);
			TransactionId horizon = GetOldestNonRemovableTransactionId(history);

			if (history)
				relation_close(history, AccessShareLock);
			if (history == NULL || TransactionIdPrecedes(xid, horizon))
			{
				forget_dirty_closed(av);
				store_view_free_closed(av->shared, av->cv && av->cv->retractable ? kept_blobs_of : NULL, av->cv);
			}
		}
	}
	if (started)
		CommitTransactionCommand();
}
