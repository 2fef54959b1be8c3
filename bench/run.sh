#!/usr/bin/env bash
# bench/run.sh: pg_continuous's benchmark suite (issue 5).  See bench/README.md.
#
#   bash bench/run.sh [--quick] [--only LIST] [--keep]
#
# Installs what it needs, builds and installs the extension (scripts/common.sh),
# starts a throwaway server tuned for benchmarking, runs the benchmarks, and
# prints a table of medians, each against a baseline measured in the same
# run; the table also goes to bench/results/<timestamp>-<mode>.md.  Benchmarks
# print figures; they never fail on a time.

# The sizes below are read by the benchmark files.
# shellcheck disable=SC2034

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/common.sh
source "$BENCH_DIR/../scripts/common.sh"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
for f in "$BENCH_DIR"/b[0-9]_*.sh; do
	# shellcheck source=/dev/null
	source "$f"
done

usage()
{
	cat <<'EOF'
usage: bash bench/run.sh [--quick] [--only LIST] [--keep]
  --quick      smaller sizes and 3 runs per figure; under two minutes
  --only LIST  comma-separated benchmark numbers to run (1-9), e.g. --only 2,6
  --keep       keep the temporary directory (server, logs, generated files)
Environment: CONTINUOUS_SKIP_INSTALL=1 skips apt-get (packages already present).
EOF
}

QUICK=0
ONLY=1,2,3,4,5,6,7,8
KEEP=${CONTINUOUS_KEEP_TMP:-0}
while [ $# -gt 0 ]; do
	case $1 in
		--quick) QUICK=1 ;;
		--only) shift; ONLY=${1:-} ;;
		--only=*) ONLY=${1#--only=} ;;
		--keep) KEEP=1 ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
	esac
	shift
done

NCORES=$(nproc 2>/dev/null || echo 1)
if [ "$QUICK" = 1 ]; then
	MODE=quick
	RUNS=3
	INGEST_EVENTS=200000
	INSERT_SECONDS=2
	MAINT_EVENTS=200000
	FRESH_RATE=10000 FRESH_SECONDS=8 FRESH_SAMPLES=50 FRESH_RUNS=1
	READ_EVENTS=1000000 READ_SECONDS=1
	STATE_GROUPS=(1000 10000 100000)
	NEXMARK_EVENTS=500000 NEXMARK_RUNS=3
	LATEST_EVENTS=200000 LATEST_DEVICES=100000
	PCT_EVENTS=200000 PCT_GROUPS=1000
	CLOSE_RATE=10000 CLOSE_GROUPS=1000 CLOSE_WIDTH=${CLOSE_WIDTH:-1} CLOSE_RUNS=1
else
	MODE=full
	RUNS=5
	INGEST_EVENTS=1000000
	INSERT_SECONDS=8
	MAINT_EVENTS=1000000
	FRESH_RATE=10000 FRESH_SECONDS=20 FRESH_SAMPLES=70 FRESH_RUNS=3
	READ_EVENTS=10000000 READ_SECONDS=3
	STATE_GROUPS=(1000 10000 100000 1000000)
	NEXMARK_EVENTS=5000000 NEXMARK_RUNS=3
	LATEST_EVENTS=1000000 LATEST_DEVICES=100000
	PCT_EVENTS=1000000 PCT_GROUPS=1000
	CLOSE_RATE=10000 CLOSE_GROUPS=1000 CLOSE_WIDTH=${CLOSE_WIDTH:-5} CLOSE_RUNS=3
fi

# Server settings for benchmarking (appended after scripts/common.sh's own,
# so they win):
#   fsync = on, synchronous_commit = on: commits cost what they cost in
#     production (common.sh turns fsync off for tests);
#   shared_buffers = 1GB: the data of every benchmark stays in memory;
#   continuous.shared_memory = 1GB: room for the 1M-group view;
#   max_wal_size = 32GB, checkpoint_timeout = 1d: no checkpoint starts in
#     the middle of a measurement; we run CHECKPOINT before measured writes
#     so that each starts with the same full-page-write state;
#   logical_decoding_work_mem = 256MB: neither the worker nor the pgoutput
#     baseline spills a benchmark's large transaction to disk;
#   autovacuum = off: no vacuum competes for the two cores mid-measurement
#     (the benchmarks VACUUM ANALYZE the tables they read);
#   everything else (parallel query, JIT, wal_buffers) at PostgreSQL's defaults.
BENCH_SETTINGS=(
	"fsync = on"
	"synchronous_commit = on"
	"shared_buffers = 1GB"
	"continuous.shared_memory = 1GB"
	"max_wal_size = 32GB"
	"checkpoint_timeout = 1d"
	"logical_decoding_work_mem = 256MB"
	"autovacuum = off"
)

on_exit()
{
	local rc=$?
	trap - EXIT
	stop_bg
	stop_all_clusters
	remove_work_dir "$KEEP"
	exit "$rc"
}
trap_exit_signals

die()
{
	printf 'ERROR: %s\n' "$*" >&2
	[ -n "${PGC_WORK:-}" ] && log_tail "$PGC_WORK/server/server.log" 30 >&2
	exit 1
}

START_SECONDS=$SECONDS
STAMP=$(date -u +%Y%m%d-%H%M%S)
step "pg_continuous benchmarks, $MODE mode"
if [ "${CONTINUOUS_SKIP_INSTALL:-0}" != 1 ]; then
	install_deps
fi
[ -x "$PG_BINDIR/pgbench" ] || die "pgbench not found in $PG_BINDIR (package postgresql-$PG_MAJOR)"
make_workdir pg_continuous_bench
BENCH_SAMPLES=$PGC_WORK/samples.tsv
BENCH_ROWS=$PGC_WORK/rows.tsv
BENCH_NOTES=$PGC_WORK/notes.md
: >"$BENCH_SAMPLES"; : >"$BENCH_ROWS"; : >"$BENCH_NOTES"
mkdir -p "$PGC_WORK/files"
chown "$PG_OS_USER": "$PGC_WORK/files" 2>/dev/null || true
# The commit built, taken just before the working tree is copied.
commit=$(git -C "$PGC_REPO" rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$PGC_REPO" status --porcelain --untracked-files=no -- src Makefile '*.sql' '*.control' 2>/dev/null \
	| awk '{ printf "%s%s", sep, $2; sep = ", " }')
[ -n "$dirty" ] && dirty=" plus uncommitted changes to: $dirty"
prepare_tree "$PGC_WORK/tree"
build_install "$PGC_WORK/tree" || die "the extension does not build"
start_cluster "$PGC_WORK/server" "${BENCH_SETTINGS[@]}" || die "the server does not start"

# Machine description.
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
pg_version=$(psql_db postgres "SELECT version()")
MACHINE=$(cat <<EOF
- date (UTC): $(date -u '+%Y-%m-%d %H:%M:%S')
- mode: $MODE ($RUNS runs per figure unless stated; figures are medians)
- commit: $commit$dirty
- cores (nproc): $NCORES
- CPU: ${cpu_model:-unknown}
- memory: ${mem_gib:-?} GiB
- kernel: $(uname -r)
- load average before the benchmarks (other work on the machine skews figures): $(cut -d' ' -f1-3 /proc/loadavg)
- server: $pg_version
- settings: $(printf '%s, ' "${BENCH_SETTINGS[@]}" | sed 's/, $//')
EOF
)
echo
echo "$MACHINE"
echo

run_one()
{
	case ",$ONLY," in *",$1,"*) ;; *) return 0 ;; esac
	local t=$SECONDS
	"$2"
	msg "    (benchmark $1 took $((SECONDS - t)) s)"
}
run_one 1 bench_ingest
run_one 2 bench_maintenance
run_one 3 bench_freshness
run_one 4 bench_reads
run_one 5 bench_state
run_one 6 bench_nexmark
run_one 7 bench_latest
run_one 8 bench_percentile
run_one 9 bench_closing

ELAPSED=$((SECONDS - START_SECONDS))
mkdir -p "$BENCH_DIR/results"
RESULT_FILE=$BENCH_DIR/results/$STAMP-$MODE.md
{
	echo "# pg_continuous benchmarks, $MODE mode, $STAMP"
	echo
	echo "$MACHINE"
	echo "- wall time of the whole run: ${ELAPSED} s"
	echo
	render_table
	echo
	if [ -s "$BENCH_NOTES" ]; then
		echo "Notes:"
		echo
		cat "$BENCH_NOTES"
		echo
	fi
	echo "Ratios are median / median.  Samples (id: values):"
	echo
	echo '```'
	awk -F'\t' '{ v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
		END { for (i = 0; i < n; i++) print order[i] ":" v[order[i]] }' "$BENCH_SAMPLES"
	echo '```'
} >"$RESULT_FILE"

echo
step "results ($MODE mode, ${ELAPSED} s)"
echo
render_table
if [ -s "$BENCH_NOTES" ]; then
	echo
	cat "$BENCH_NOTES"
fi
echo
msg "written to $RESULT_FILE"
