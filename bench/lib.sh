# shellcheck shell=bash
# bench/lib.sh: helpers shared by the benchmarks; sourced by bench/run.sh
# after scripts/common.sh (which provides psql_as, as_pg, step, msg, ...).
#
# Figures.  Every measured sample is appended to $BENCH_SAMPLES as
#   id <TAB> value
# and a table row names a figure id and a baseline id; the row shows the
# median of each id's samples and the ratio of the two medians.
#
#   record ID VALUE                 add a sample
#   median ID                       median of ID's samples (empty if none)
#   row SECTION LABEL ID BLABEL BID RATIO TARGET
#                                   add a table row; RATIO is m/b or b/m
#   print_section SECTION           print the rows of one benchmark so far
#   render_table                    the whole table, markdown
#
# Timing.
#   bench_sql DB              run SQL from stdin in one psql session, quiet, tuples only
#   timed_sql DB              the same, printing the seconds the whole script took,
#                             measured with the server's clock_timestamp()
#   pgbench_run DB ARGS...    run pgbench; sets PGB_TPS and PGB_LAT_MS
#   proc_cpu_seconds PID      user+system CPU seconds a process has used
#   worker_pid DB             pid of DB's pg_continuous worker

# Variables here are also used by the benchmark files.
# shellcheck disable=SC2034

BENCH_SAMPLES=${BENCH_SAMPLES:-}
BENCH_ROWS=${BENCH_ROWS:-}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

record()
{
	printf '%s\t%s\n' "$1" "$2" >>"$BENCH_SAMPLES"
}

median()
{
	awk -F'\t' -v id="$1" '$1 == id { v[n++] = $2 + 0 }
		END {
			if (n == 0) exit
			# insertion sort: a handful of samples
			for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
			if (n % 2) m = v[(n - 1) / 2]; else m = (v[n / 2 - 1] + v[n / 2]) / 2
			printf "%.10g\n", m
		}' "$BENCH_SAMPLES"
}

samples_of()
{
	awk -F'\t' -v id="$1" '$1 == id { printf "%s%s", sep, $2; sep = " " } END { print "" }' "$BENCH_SAMPLES"
}

# fmt VALUE: a readable number of significant digits.
fmt()
{
	awk -v v="$1" 'BEGIN {
		if (v == "") { print "n/a"; exit }
		a = v < 0 ? -v : v
		if (a >= 100000) printf "%.0f\n", v
		else if (a >= 100) printf "%.0f\n", v
		else if (a >= 10) printf "%.1f\n", v
		else if (a >= 1) printf "%.2f\n", v
		else if (a == 0) print "0"
		else printf "%.3g\n", v
	}'
}

# eps N SECONDS: N / SECONDS, rounded (events per second).
eps()
{
	awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s }'
}

# row SECTION LABEL ID BASELINE_LABEL BASELINE_ID RATIO TARGET
# RATIO: "m/b" (figure / baseline), "b/m", or "-" (no ratio).
row()
{
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_ROWS"
}

# One table line per row of the rows file, for rows whose section matches
# the pattern (awk regex); markdown.
render_rows()
{
	local pattern=$1 section label id blabel bid ratio target m b r
	while IFS=$'\t' read -r section label id blabel bid ratio target; do
		[[ $section =~ $pattern ]] || continue
		m=$(median "$id")
		b=""
		[ "$bid" != "-" ] && b=$(median "$bid")
		r=""
		if [ -n "$m" ] && [ -n "$b" ]; then
			case $ratio in
				m/b) r=$(awk -v m="$m" -v b="$b" 'BEGIN { if (b != 0) printf "%.3g", m / b }') ;;
				b/m) r=$(awk -v m="$m" -v b="$b" 'BEGIN { if (m != 0) printf "%.3g", b / m }') ;;
			esac
		fi
		local bshown=""
		[ "$bid" != "-" ] && bshown=$(fmt "$b")
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$section" "$label" "$(fmt "$m")" \
			"$blabel" "$bshown" "$r" "$target"
	done <"$BENCH_ROWS"
}

table_header()
{
	echo "| # | figure (median) | value | baseline (same run) | baseline value | ratio | target |"
	echo "|---|---|---:|---|---:|---:|---|"
}

print_section()
{
	echo
	table_header
	render_rows "^$1\$"
	echo
}

render_table()
{
	table_header
	render_rows '.*'
}

# note TEXT: a line for the results file's notes section (and the terminal).
note()
{
	msg "    note: $*"
	printf -- '- %s\n' "$*" >>"$BENCH_NOTES"
}

###########################################################################
# SQL and clients
###########################################################################

# bench_sql DB: run SQL from stdin, quiet, unaligned tuples only.
bench_sql()
{
	{ echo "SET client_min_messages = warning;"; cat; } | psql_as -d "$1" -qAt -P pager=off
}

# timed_sql DB: run SQL from stdin in one session and print the seconds it
# took (server clock).  The script's own output is discarded.
timed_sql()
{
	local db=$1 body
	body=$(cat)
	bench_sql "$db" <<SQL | tail -n 1
SELECT clock_timestamp() AS bench_t0 \gset
\o /dev/null
$body
\o
SELECT extract(epoch FROM clock_timestamp() - :'bench_t0'::timestamptz);
SQL
}

# pgbench_run DB ARGS...: run pgbench as the server user.  Sets PGB_TPS
# (transactions per second, without connection time) and PGB_LAT_MS
# (average latency).  Output goes to $PGC_WORK/pgbench.log.  PGB_OPTIONS, if
# set, is passed as PGOPTIONS (server settings for its sessions).
PGB_TPS=
PGB_LAT_MS=
pgbench_run()
{
	local db=$1 out; shift
	out=$(as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
		PGOPTIONS="${PGB_OPTIONS:-}" "$PG_BINDIR/pgbench" -n "$@" "$db" 2>&1)
	printf '%s\n' "$out" >>"$PGC_WORK/pgbench.log"
	PGB_TPS=$(printf '%s\n' "$out" | awk '/^tps = / { print $3; exit }')
	PGB_LAT_MS=$(printf '%s\n' "$out" | awk '/^latency average = / { print $4; exit }')
	if [ -z "$PGB_TPS" ]; then
		printf '%s\n' "$out" | tail -n 20 >&2
		return 1
	fi
}

# pgbench_bg DB ARGS...: start pgbench in the background; pgbench_wait waits
# for it and sets PGB_TPS and PGB_LAT_MS like pgbench_run.
BENCH_BG_PID=
BENCH_BG_OUT=
pgbench_bg()
{
	local db=$1; shift
	BENCH_BG_OUT=$PGC_WORK/pgbench_bg.out
	as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
		"$PG_BINDIR/pgbench" -n "$@" "$db" >"$BENCH_BG_OUT" 2>&1 &
	BENCH_BG_PID=$!
}

pgbench_wait()
{
	local rc=0
	[ -n "$BENCH_BG_PID" ] || return 1
	wait "$BENCH_BG_PID" || rc=$?
	BENCH_BG_PID=
	cat "$BENCH_BG_OUT" >>"$PGC_WORK/pgbench.log"
	PGB_TPS=$(awk '/^tps = / { print $3; exit }' "$BENCH_BG_OUT")
	PGB_LAT_MS=$(awk '/^latency average = / { print $4; exit }' "$BENCH_BG_OUT")
	if [ "$rc" != 0 ] || [ -z "$PGB_TPS" ]; then
		tail -n 20 "$BENCH_BG_OUT" >&2
		return 1
	fi
}

# stop_bg: end a background pgbench, if one runs (on exit).
stop_bg()
{
	if [ -n "$BENCH_BG_PID" ]; then
		kill_tree "$BENCH_BG_PID"
		wait "$BENCH_BG_PID" 2>/dev/null
		BENCH_BG_PID=
	fi
}

# bench_file NAME: path of a file the server user can read, under the work dir.
bench_file()
{
	echo "$PGC_WORK/files/$1"
}

# write_file NAME: stdin to bench_file NAME, readable by the server user.
write_file()
{
	local f
	f=$(bench_file "$1")
	mkdir -p "$(dirname "$f")"
	cat >"$f"
	chmod 644 "$f"
}

proc_cpu_seconds()
{
	# fields after "pid (comm) ": state is field 1, utime 12, stime 13
	local stat
	stat=$(<"/proc/$1/stat") || { echo 0; return; }
	stat=${stat##*) }
	awk -v s="$stat" -v tck="$CLK_TCK" 'BEGIN { split(s, f, " "); printf "%.3f\n", (f[12] + f[13]) / tck }'
}

worker_pid()
{
	psql_db "$1" "SELECT pid FROM pg_stat_activity
				  WHERE backend_type = 'pg_continuous worker' AND datname = current_database()"
}

# fresh_db DB [extension]: (re)create DB; with "extension", also create the
# extension and wait for its worker's slot.
fresh_db()
{
	local db=$1
	psql_as -d postgres -q -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\"" \
		|| die "could not create database $db"
	if [ "${2:-}" = extension ]; then
		psql_db "$db" "CREATE EXTENSION pg_continuous" >/dev/null || die "CREATE EXTENSION failed in $db"
		wait_for_worker_ready "$db" 60 || die "the pg_continuous worker of $db did not start"
	fi
}

# drop_db DB: drop it; its worker leaves and its slot goes with it.
drop_db()
{
	psql_as -d postgres -q -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS \"$1\"" || warn "could not drop database $1"
}

# sync_db DB: continuous.sync() with a long timeout.
sync_db()
{
	psql_db "$1" "SELECT continuous.sync('900 s')" >/dev/null || die "continuous.sync() failed in $1"
}

# The event schema used by benchmarks 1-3, and its five views.
EVENT_COLUMNS='k bigint, x bigint, y float8, cat text, ts timestamptz'

# event_select FIRST LAST: a SELECT producing events FIRST..LAST (bigint i),
# deterministic; ts advances 1 ms per event unless TS_EXPR is set.
event_select()
{
	local ts=${TS_EXPR:-"'2024-01-01 00:00:00+00'::timestamptz + i * interval '1 millisecond'"}
	echo "SELECT i, (i * 7919) % 100000, (i % 1000) / 7.0, 'cat' || (i % 20), $ts
	      FROM generate_series($1::bigint, $2::bigint) AS i"
}

# five_views SOURCE PREFIX: SQL creating the five continuous views of
# benchmarks 1-3 over SOURCE, named PREFIX1..PREFIX5.
five_views()
{
	local src=$1 p=$2
	cat <<SQL
SELECT continuous.create_view('${p}1', \$q\$SELECT count(*) AS n, sum(x) AS sx, min(ts) AS first_ts, max(ts) AS last_ts FROM $src\$q\$);
SELECT continuous.create_view('${p}2', \$q\$SELECT k % 1000 AS g, count(*) AS n, sum(x) AS sx, avg(y) AS ay FROM $src GROUP BY 1\$q\$);
SELECT continuous.create_view('${p}3', \$q\$SELECT cat, count(*) AS n, max(y) AS max_y FROM $src GROUP BY cat\$q\$);
SELECT continuous.create_view('${p}4', \$q\$SELECT continuous.tumble(ts, '1 minute') AS minute, count(*) AS n, sum(y) AS sy FROM $src GROUP BY 1\$q\$);
SELECT continuous.create_view('${p}5', \$q\$SELECT cat, k % 100 AS g, count(*) AS n, min(x) AS min_x, max(x) AS max_x FROM $src WHERE x > 100 GROUP BY 1, 2\$q\$);
SQL
}
