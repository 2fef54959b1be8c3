#!/usr/bin/env bash
# scripts/demo.sh: what `make demo` runs.  About 40 seconds, self-contained.
#
# Installs what it needs, builds and installs the extension, starts a
# throwaway server, creates a stream "clicks" and three continuous views,
# then writes a few thousand click events per second for 20 seconds while
# showing the views once a second.  It ends by itself, checks every view
# against its defining query run over a plain table that received the same
# events, stops the server and removes its files.
#
# Works without a terminal: frames are then printed one after the other.
# Environment: CONTINUOUS_DEMO_SECONDS (20), CONTINUOUS_DEMO_BATCH (300 rows
# per insert, 10 inserts a second), CONTINUOUS_SKIP_INSTALL=1.

set -uo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUN_SECONDS=${CONTINUOUS_DEMO_SECONDS:-20}
STEP=starting
BATCH_ROWS=${CONTINUOUS_DEMO_BATCH:-300}
SHOW_SECONDS=$((RUN_SECONDS + 2))
DB=postgres
GENERATOR_PID=

on_exit()
{
	local rc=$?
	trap - EXIT
	if [ -n "$GENERATOR_PID" ]; then
		kill_tree "$GENERATOR_PID"
		wait "$GENERATOR_PID" 2>/dev/null
	fi
	stop_all_clusters
	# A failed demo keeps its files (server log, build log) for a look.
	if [ "$rc" -ne 0 ]; then
		remove_work_dir 1
	else
		remove_work_dir "${CONTINUOUS_KEEP_TMP:-0}"
	fi
	exit "$rc"
}
trap_exit_signals

# Fail naming the step, with the end of the server's log; the files stay.
fail_demo()
{
	msg "demo failed while $STEP: $*"
	[ -n "$PGC_WORK" ] && log_tail "$PGC_WORK/server/server.log" 40
	[ -n "$PGC_WORK" ] && msg "the server log is $PGC_WORK/server/server.log (kept)"
	exit 1
}

# psql for the display: errors are shown, not fatal; no pager; UTC.
psql_show()
{
	as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGTZ=UTC \
		"$PG_BINDIR/psql" -X -q -d "$DB" -P pager=off -P footer=off "$@" 2>&1
}

now_ms() { date +%s%3N; }

###########################################################################
# Setup
###########################################################################

step "pg_continuous demo"
STEP="installing packages"
if [ "${CONTINUOUS_SKIP_INSTALL:-0}" != 1 ]; then
	install_deps
fi
make_workdir pg_continuous_demo
STEP="building and installing the extension"
prepare_tree "$PGC_WORK/tree"
build_install "$PGC_WORK/tree" || fail_demo "the extension does not build (log: $PGC_WORK/build.log)"
STEP="starting the server"
start_cluster "$PGC_WORK/server" || fail_demo "the server does not start"

STEP="creating the stream and the continuous views"
step "$STEP"
psql_as -d "$DB" -q <<'SQL' || fail_demo "setup failed"
\set ECHO queries
CREATE EXTENSION pg_continuous;

SELECT continuous.create_stream('clicks',
	'user_id bigint, url text, latency_ms float8, ts timestamptz');

SELECT continuous.create_view('clicks_per_minute', $$
	SELECT url, continuous.tumble(ts, '1 minute') AS minute, count(*) AS hits
	FROM clicks
	GROUP BY url, minute
$$);

SELECT continuous.create_view('latency_by_page', $$
	SELECT url, count(*) AS hits, avg(latency_ms) AS avg_ms, max(latency_ms) AS max_ms
	FROM clicks
	GROUP BY url
$$);

SELECT continuous.create_view('totals', $$
	SELECT count(*) AS events, sum(latency_ms) AS total_latency_ms,
	       min(ts) AS first_event, max(ts) AS last_event
	FROM clicks
$$);
\set ECHO none

-- Not part of the demo proper: a plain table that receives the same events,
-- so that at the end each view can be checked against its defining query.
CREATE TABLE demo_events (batch int, user_id bigint, url text, latency_ms float8, ts timestamptz);
CREATE INDEX ON demo_events (batch);

-- The generator: every "pause" seconds one transaction of batch_rows events.
-- Pages are skewed (the home page is the most visited), latencies are
-- exponential with slower checkout and search pages.
CREATE PROCEDURE demo_generate(run_for interval, batch_rows int, pause float8)
LANGUAGE plpgsql AS $fn$
DECLARE
	stop_at timestamptz := clock_timestamp() + run_for;
	b int := 0;
BEGIN
	WHILE clock_timestamp() < stop_at LOOP
		b := b + 1;
		INSERT INTO demo_events (batch, user_id, url, latency_ms, ts)
		SELECT b, user_id, url,
			   round((4 + 30 * -ln(1 - random())
					  * CASE url WHEN '/checkout' THEN 4 WHEN '/search' THEN 2 ELSE 1 END)::numeric, 2),
			   clock_timestamp()
		FROM (SELECT 1 + floor(random() * 5000)::bigint AS user_id,
					 (ARRAY['/home', '/search', '/product', '/cart',
							'/checkout', '/login', '/about', '/help'])
						[1 + floor(8 * power(random(), 2.2))::int] AS url
			  FROM generate_series(1, batch_rows)) AS r;
		INSERT INTO clicks SELECT user_id, url, latency_ms, ts FROM demo_events WHERE batch = b;
		COMMIT;
		PERFORM pg_sleep(pause);
	END LOOP;
END
$fn$;
SQL

###########################################################################
# Run: the generator in the background, the display in the foreground
###########################################################################

# One frame, fitting an 80x24 terminal: a header, then the top rows of each
# view.  One psql session reads totals first and prints the header and the
# totals table from that one read, so they agree; it also leaves the event
# count in $PGC_WORK/events for the next frame's rate.
frame()
{
	local elapsed=$1 prev_events=$2 dt_ms=$3 title=$4
	psql_show -v title="$title" -v elapsed="$elapsed" -v prev="$prev_events" -v dt="$dt_ms" \
		-v events_file="$PGC_WORK/events" <<'SQL'
SELECT coalesce(events, 0) AS events,
	   CASE WHEN :dt > 0 THEN ((coalesce(events, 0) - :prev) * 1000 / :dt)::text ELSE '-' END AS rate,
	   round(total_latency_ms::numeric) AS total_ms,
	   coalesce(to_char(first_event, 'HH24:MI:SS'), '-') AS first_at,
	   coalesce(to_char(last_event, 'HH24:MI:SS'), '-') AS last_at
FROM totals \gset
\o :events_file
\qecho :events
\o
\echo :title '  t =' :elapsed 's   events:' :events '  rate:' :rate 'events/s'
\echo
\echo 'clicks_per_minute (latest window, top 5 pages):'
SELECT url, to_char(minute, 'HH24:MI') AS minute, hits
FROM clicks_per_minute ORDER BY minute DESC, hits DESC, url LIMIT 5;
\echo 'latency_by_page (top 5 pages):'
SELECT url, hits, round(avg_ms::numeric, 1) AS avg_ms, round(max_ms::numeric, 1) AS max_ms
FROM latency_by_page ORDER BY hits DESC, url LIMIT 5;
\echo 'totals:' :events 'events,' :total_ms 'ms of latency, from' :first_at 'to' :last_at
SQL
}

current_events()
{
	local n
	n=$(head -n 1 "$PGC_WORK/events" 2>/dev/null)
	case $n in ''|*[!0-9]*) echo 0 ;; *) echo "$n" ;; esac
}

step "writing about $((BATCH_ROWS * 10)) events/s into clicks for ${RUN_SECONDS}s; the views, once a second:"
as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" \
	-c "CALL demo_generate('$RUN_SECONDS seconds', $BATCH_ROWS, 0.1)" \
	>"$PGC_WORK/generator.log" 2>&1 &
GENERATOR_PID=$!

if [ -t 1 ]; then TERMINAL=1; else TERMINAL=0; fi
start_ms=$(now_ms)
prev_ms=$start_ms
prev_events=0
for ((tick = 1; tick <= SHOW_SECONDS; tick++)); do
	# sleep until the next whole second since the start
	wait_ms=$((start_ms + tick * 1000 - $(now_ms)))
	[ "$wait_ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
	t_ms=$(now_ms)
	out=$(frame $(((t_ms - start_ms) / 1000)) "$prev_events" $((t_ms - prev_ms)) "pg_continuous demo")
	prev_ms=$t_ms
	prev_events=$(current_events)
	if [ "$TERMINAL" = 1 ]; then
		printf '\033[H\033[2J%s\n' "$out"
	else
		printf '%s\n%s\n' "------------------------------------------------------------------------" "$out"
	fi
done

wait "$GENERATOR_PID"
generator_rc=$?
GENERATOR_PID=
total_ms=$(($(now_ms) - start_ms))
if [ "$generator_rc" -ne 0 ]; then
	msg "the generator failed:"
	sed 's/^/    /' "$PGC_WORK/generator.log"
fi

###########################################################################
# Final state and the check against the defining queries
###########################################################################

psql_db "$DB" "SELECT continuous.sync()" >/dev/null 2>&1 || msg "continuous.sync() failed"
written=$(psql_db "$DB" "SELECT count(*) FROM demo_events" 2>/dev/null || echo "?")
msg "------------------------------------------------------------------------"
frame $((total_ms / 1000)) 0 0 "after continuous.sync():"
events=$(current_events)
echo
psql_show <<'SQL'
\echo continuous.stats
SELECT name, events_applied, groups, pg_size_pretty(memory_bytes::bigint) AS memory, lag_bytes
FROM continuous.stats ORDER BY name::text;
SQL

# Each query returns the number of rows that differ between the view and its
# defining query run over demo_events (floating point: relative 1e-9).
check()
{
	local view=$1 sql=$2 n
	n=$(psql_db "$DB" "$sql" 2>/dev/null | head -n 1)
	case $n in
		0) msg "    $view: equal" ;;
		''|*[!0-9]*) msg "    $view: could not compare"; CHECK_OK=0 ;;
		*) msg "    $view: $n rows differ"; CHECK_OK=0 ;;
	esac
}
CHECK_OK=1
echo
msg "Each view against its defining query run over demo_events,"
msg "a plain table that received the same events:"
check clicks_per_minute "
	SELECT count(*) FROM (
		(SELECT url, minute, hits FROM clicks_per_minute
		 EXCEPT ALL
		 SELECT url, continuous.tumble(ts, '1 minute'), count(*) FROM demo_events GROUP BY 1, 2)
		UNION ALL
		(SELECT url, continuous.tumble(ts, '1 minute'), count(*) FROM demo_events GROUP BY 1, 2
		 EXCEPT ALL
		 SELECT url, minute, hits FROM clicks_per_minute)) AS d"
check latency_by_page "
	SELECT count(*)
	FROM latency_by_page v
	FULL JOIN (SELECT url, count(*) AS hits, avg(latency_ms) AS avg_ms, max(latency_ms) AS max_ms
			   FROM demo_events GROUP BY url) o USING (url)
	WHERE v.hits IS NULL OR o.hits IS NULL OR v.hits <> o.hits OR v.max_ms <> o.max_ms
	   OR abs(v.avg_ms - o.avg_ms) > 1e-9 * greatest(abs(o.avg_ms), 1)"
check totals "
	SELECT count(*)
	FROM totals v,
		 (SELECT count(*) AS events, sum(latency_ms) AS total, min(ts) AS first_event,
				 max(ts) AS last_event FROM demo_events) o
	WHERE v.events <> o.events
	   OR abs(coalesce(v.total_latency_ms, 0) - coalesce(o.total, 0)) > 1e-9 * greatest(abs(o.total), 1)
	   OR v.first_event IS DISTINCT FROM o.first_event OR v.last_event IS DISTINCT FROM o.last_event"

seconds=$((total_ms / 1000))
[ "$seconds" -gt 0 ] || seconds=1
cat <<EOF

What you saw
  - One writer sent $written click events into the stream "clicks" in about
    ${RUN_SECONDS} s: every 100 ms one transaction of $BATCH_ROWS rows (INSERT ... SELECT).
    A stream keeps no rows: each committed batch became logical WAL messages.
  - Three continuous views kept up while the events arrived, without ever
    rescanning them: the pg_continuous worker decoded the WAL and folded each
    committed transaction into aggregate states in shared memory.
      clicks_per_minute  hits per page in one-minute tumbling windows
      latency_by_page    hits, average and maximum latency per page
      totals             one row over every event
    Reading a view is a lookup in shared memory, so it costs the same after
    ten events or ten million.
  - continuous.sync() waited until every committed event was applied; the
    views then matched their defining queries run by PostgreSQL over a plain
    table that had received the same events (checked above).
EOF

if [ "$generator_rc" -ne 0 ] || [ "$CHECK_OK" != 1 ]; then
	log_tail "$PGC_WORK/server/server.log" 30
	msg "the demo did not go as described above"
	exit 1
fi
step "done; stopping the server and removing $PGC_WORK"
