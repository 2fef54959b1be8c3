# shellcheck shell=bash
# Benchmark 2: maintenance throughput.  N events go into a stream read by
# five views in one transaction; we note when the INSERT committed and when
# continuous.sync() returned.  events/s = N / (sync end - commit).  The
# worker already decodes (queues) the transaction's WAL while the INSERT
# runs, so this figure flatters it; the worker's own CPU time over the
# whole run (from /proc) gives a second figure free of that overlap:
# events per CPU-second of the worker.
#
# Baseline: pg_logical_slot_get_binary_changes() with pgoutput decoding the
# WAL of the same number of rows inserted into a plain table, in a database
# without the extension (a slot created before the insert, dropped after).
# It runs in one backend, whose CPU time we read the same way.
#
# Also: the same five views over a plain table (table source).  Then, with
# that table holding N rows, single-row INSERT transactions (pgbench, one
# client) into it: the worker's CPU time per transaction, against the same
# transactions into the stream.  Four of the table's views keep the inputs
# of min/max/float aggregates (view 1 in one group of N rows), so this shows
# whether a small transaction costs in proportion to what it adds or to the
# size of the groups it touches.

# maint_run DB TARGET N: insert N events into TARGET in one transaction,
# then sync; records seconds insert, commit->sync, worker CPU.
maint_run()
{
	local db=$1 target=$2 n=$3 wpid cpu0 cpu1 out ins after
	wpid=$(worker_pid "$db")
	bench_sql "$db" <<<"CHECKPOINT;"
	cpu0=$(proc_cpu_seconds "$wpid")
	out=$(bench_sql "$db" <<SQL
SELECT clock_timestamp() AS t0 \gset
INSERT INTO $target $(event_select 1 "$n");
SELECT clock_timestamp() AS t1 \gset
SELECT continuous.sync('900 s');
SELECT extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz),
       extract(epoch FROM clock_timestamp() - :'t1'::timestamptz);
SQL
)
	cpu1=$(proc_cpu_seconds "$wpid")
	out=$(printf '%s\n' "$out" | tail -n 1)
	ins=${out%%|*}
	after=${out##*|}
	MAINT_INSERT=$ins
	MAINT_AFTER=$after
	MAINT_CPU=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.3f", b - a }')
}

# pgoutput_run DB N: insert N rows into plain (slot created before), then
# time pgoutput decoding them; records seconds and the backend's CPU.
pgoutput_run()
{
	local db=$1 n=$2 out
	out=$(bench_sql "$db" <<SQL
SELECT 1 FROM pg_create_logical_replication_slot('bench_slot', 'pgoutput');
INSERT INTO plain $(event_select 1 "$n");
CHECKPOINT;
SELECT pg_backend_pid() AS bpid \gset
\setenv BENCH_BPID :bpid
\! awk '{ sub(/.*\) /, ""); split(\$0, f, " "); print "cpu0", f[12] + f[13] }' /proc/\$BENCH_BPID/stat
SELECT clock_timestamp() AS t0 \gset
SELECT 'changes', count(*) FROM pg_logical_slot_get_binary_changes('bench_slot', NULL, NULL,
       'proto_version', '1', 'publication_names', 'bench_pub');
SELECT 'secs', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
\! awk '{ sub(/.*\) /, ""); split(\$0, f, " "); print "cpu1", f[12] + f[13] }' /proc/\$BENCH_BPID/stat
SELECT 1 FROM pg_drop_replication_slot('bench_slot');
SQL
) || die "pgoutput baseline failed"
	PGOUT_SECS=$(printf '%s\n' "$out" | awk -F'|' '$1 == "secs" { print $2 }')
	PGOUT_CHANGES=$(printf '%s\n' "$out" | awk -F'|' '$1 == "changes" { print $2 }')
	PGOUT_CPU=$(printf '%s\n' "$out" | awk -v tck="$CLK_TCK" '$1 == "cpu0" { a = $2 } $1 == "cpu1" { b = $2 }
		END { printf "%.3f", (b - a) / tck }')
}

SMALL_TXNS=2000

# small_run DB TARGET: SMALL_TXNS single-row INSERT transactions into TARGET,
# then sync; SMALL_US is the worker's CPU microseconds per transaction.
small_run()
{
	local db=$1 target=$2 wpid cpu0 cpu1
	write_file "small_$target.sql" <<SQL
\set i random(1, 1000000000)
INSERT INTO $target $(event_select :i :i);
SQL
	sync_db "$db"
	wpid=$(worker_pid "$db")
	cpu0=$(proc_cpu_seconds "$wpid")
	pgbench_run "$db" -f "$(bench_file "small_$target.sql")" -t "$SMALL_TXNS" || die "pgbench into $target failed"
	sync_db "$db"
	cpu1=$(proc_cpu_seconds "$wpid")
	SMALL_US=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$SMALL_TXNS" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
}

bench_maintenance()
{
	local db=bench_maint db0=bench_pgout run n=$MAINT_EVENTS what
	step "2. maintenance: $n events in one transaction, $RUNS runs (stream, table source, pgoutput)"
	fresh_db "$db" extension
	fresh_db "$db0"
	bench_sql "$db" >/dev/null <<SQL || die "setup of benchmark 2 failed"
SELECT continuous.create_stream('s', '$EVENT_COLUMNS');
$(five_views s v)
SQL
	bench_sql "$db0" >/dev/null <<SQL || die "setup of benchmark 2 failed"
CREATE TABLE plain ($EVENT_COLUMNS);
CREATE PUBLICATION bench_pub FOR TABLE plain;
SQL
	for ((run = 1; run <= RUNS; run++)); do
		for what in stream table pgoutput; do
			case $what in
				stream)
					maint_run "$db" s "$n"
					record b2.stream.eps "$(eps "$n" "$MAINT_AFTER")"
					record b2.stream.cpu_eps "$(eps "$n" "$MAINT_CPU")"
					record b2.stream.e2e_eps "$(eps "$n" "$(awk -v a="$MAINT_INSERT" -v b="$MAINT_AFTER" 'BEGIN { print a + b }')")"
					record b2.stream.insert_s "$MAINT_INSERT"
					msg "    run $run: stream: insert ${MAINT_INSERT}s, commit->sync ${MAINT_AFTER}s, worker CPU ${MAINT_CPU}s"
					;;
				table)
					# a fresh table each run; sync so that the views' (empty)
					# backfill is over before the measured transaction starts:
					# a backfill waits for transactions already running
					bench_sql "$db" >/dev/null <<SQL || die "setup of the table source failed"
DROP TABLE IF EXISTS t CASCADE;
CREATE TABLE t ($EVENT_COLUMNS);
$(five_views t tv)
SELECT continuous.sync('900 s');
SQL
					maint_run "$db" t "$n"
					record b2.table.eps "$(eps "$n" "$MAINT_AFTER")"
					record b2.table.cpu_eps "$(eps "$n" "$MAINT_CPU")"
					record b2.table.insert_s "$MAINT_INSERT"
					msg "    run $run: table:  insert ${MAINT_INSERT}s, commit->sync ${MAINT_AFTER}s, worker CPU ${MAINT_CPU}s"
					small_run "$db" t
					record b2.small.table_us "$SMALL_US"
					[ "$(psql_db "$db" "SELECT count(*) FROM (TABLE tv1 EXCEPT SELECT count(*), sum(x), min(ts), max(ts) FROM t) d")" = 0 ] \
						|| warn "view tv1 differs from its defining query"
					small_run "$db" s
					record b2.small.stream_us "$SMALL_US"
					msg "    run $run: $SMALL_TXNS one-row transactions: worker CPU per transaction $(samples_of b2.small.table_us | awk '{ print $NF }') us into the table of $n rows, $SMALL_US us into the stream"
					;;
				pgoutput)
					bench_sql "$db0" <<<"TRUNCATE plain;"
					pgoutput_run "$db0" "$n"
					record b2.pgoutput.eps "$(eps "$n" "$PGOUT_SECS")"
					record b2.pgoutput.cpu_eps "$(eps "$n" "$PGOUT_CPU")"
					msg "    run $run: pgoutput: ${PGOUT_SECS}s, backend CPU ${PGOUT_CPU}s, $PGOUT_CHANGES messages"
					;;
			esac
		done
		sync_db "$db"
	done
	local got
	got=$(psql_db "$db" "SELECT n FROM v1")
	[ "$got" = $(((n + SMALL_TXNS) * RUNS)) ] || warn "view v1 counts $got events, expected $(((n + SMALL_TXNS) * RUNS))"
	got=$(psql_db "$db" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bench_slot'")
	[ "$got" = 0 ] || warn "the baseline slot was not dropped"

	row 2 "worker, stream source, 5 views: events/s from commit to sync" b2.stream.eps \
		"pgoutput decoding the same number of rows, events/s" b2.pgoutput.eps m/b ">= 1.0 (~1M/s)"
	row 2 "worker, stream source: events per worker CPU-second" b2.stream.cpu_eps \
		"pgoutput: events per backend CPU-second" b2.pgoutput.cpu_eps m/b "(overlap-free)"
	row 2 "worker, stream source: events/s from INSERT start to sync" b2.stream.e2e_eps \
		"pgoutput decoding, events/s" b2.pgoutput.eps m/b "(information)"
	row 2 "worker, table source, 5 views: events/s from commit to sync" b2.table.eps \
		"worker, stream source, events/s" b2.stream.eps m/b "(information)"
	row 2 "worker, table source: events per worker CPU-second" b2.table.cpu_eps \
		"pgoutput: events per backend CPU-second" b2.pgoutput.cpu_eps m/b "(information)"
	row 2 "worker CPU per one-row transaction into the table of $n rows, us" b2.small.table_us \
		"the same into the stream, us" b2.small.stream_us m/b "(information)"
	print_section 2
	drop_db "$db"
	drop_db "$db0"
}
