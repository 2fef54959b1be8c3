# shellcheck shell=bash
# Benchmark 1: ingest.  COPY of N events into a stream read by five views,
# against COPY of the same file into a plain logged table with no views in
# the same database (and, for reference, in a database without the
# extension).  Then multi-row INSERTs (100 rows each) from 4 concurrent
# pgbench clients, stream against plain table.  Only the writers' time is
# measured; the worker catches up (continuous.sync(), untimed) after each
# stream run so that its backlog never overlaps the next measurement.

bench_ingest()
{
	local db=bench_ingest db0=bench_plain csv run order secs
	local n=$INGEST_EVENTS
	step "1. ingest: COPY of $n events, $RUNS runs; 4-client INSERT for ${INSERT_SECONDS}s, $RUNS runs"

	fresh_db "$db" extension
	fresh_db "$db0"
	csv=$(bench_file events.csv)
	mkdir -p "$(dirname "$csv")"
	chown "$PG_OS_USER": "$(dirname "$csv")" 2>/dev/null || true
	bench_sql "$db" >/dev/null <<SQL || die "setup of benchmark 1 failed"
SELECT continuous.create_stream('s', '$EVENT_COLUMNS');
$(five_views s v)
COPY ($(event_select 1 "$n")) TO '$csv' (FORMAT csv);
SQL

	for ((run = 1; run <= RUNS; run++)); do
		# alternate the order, so that drift favours neither side
		if ((run % 2)); then order="plain stream other"; else order="stream plain other"; fi
		for what in $order; do
			case $what in
				plain)
					bench_sql "$db" <<<"DROP TABLE IF EXISTS plain; CREATE TABLE plain ($EVENT_COLUMNS); CHECKPOINT;"
					secs=$(timed_sql "$db" <<<"COPY plain FROM '$csv' (FORMAT csv);")
					record b1.copy.plain "$secs"
					sync_db "$db"	# the worker decodes (and skips) the table's WAL too
					;;
				other)
					bench_sql "$db0" <<<"DROP TABLE IF EXISTS plain; CREATE TABLE plain ($EVENT_COLUMNS); CHECKPOINT;"
					secs=$(timed_sql "$db0" <<<"COPY plain FROM '$csv' (FORMAT csv);")
					record b1.copy.plain_noext "$secs"
					sync_db "$db"
					;;
				stream)
					bench_sql "$db" <<<"CHECKPOINT;"
					secs=$(timed_sql "$db" <<<"COPY s FROM '$csv' (FORMAT csv);")
					record b1.copy.stream "$secs"
					secs=$(timed_sql "$db" <<<"SELECT continuous.sync('900 s');")
					record b1.copy.catchup "$secs"
					;;
			esac
		done
		msg "    run $run: COPY plain $(samples_of b1.copy.plain | awk '{print $NF}') s," \
			"stream $(samples_of b1.copy.stream | awk '{print $NF}') s," \
			"plain (db without extension) $(samples_of b1.copy.plain_noext | awk '{print $NF}') s"
	done
	local got
	got=$(psql_db "$db" "SELECT n FROM v1")
	[ "$got" = $((n * RUNS)) ] || warn "view v1 counts $got events, expected $((n * RUNS))"

	# multi-row INSERT from 4 clients
	write_file ins_stream.sql <<SQL
INSERT INTO s $(TS_EXPR='clock_timestamp()' event_select 1 100);
SQL
	write_file ins_plain.sql <<SQL
INSERT INTO plain $(TS_EXPR='clock_timestamp()' event_select 1 100);
SQL
	for ((run = 1; run <= RUNS; run++)); do
		if ((run % 2)); then order="plain stream"; else order="stream plain"; fi
		for what in $order; do
			if [ "$what" = plain ]; then
				bench_sql "$db" <<<"DROP TABLE IF EXISTS plain; CREATE TABLE plain ($EVENT_COLUMNS); CHECKPOINT;"
			else
				bench_sql "$db" <<<"CHECKPOINT;"
			fi
			pgbench_run "$db" -c 4 -j 2 -T "$INSERT_SECONDS" -f "$(bench_file "ins_$what.sql")" \
				|| die "pgbench failed"
			record "b1.insert.$what" "$(awk -v t="$PGB_TPS" 'BEGIN { printf "%.0f", t * 100 }')"
			sync_db "$db"
		done
		msg "    run $run: 4-client INSERT plain $(samples_of b1.insert.plain | awk '{print $NF}') events/s," \
			"stream $(samples_of b1.insert.stream | awk '{print $NF}') events/s"
	done

	row 1 "COPY $n events into a stream read by 5 views, s" b1.copy.stream \
		"COPY into a plain table, same database, s" b1.copy.plain b/m ">= 1.0"
	row 1 "the same stream COPY, s" b1.copy.stream \
		"COPY into a plain table, database without the extension, s" b1.copy.plain_noext b/m "(reference)"
	row 1 "worker catch-up after the stream COPY ends, s" b1.copy.catchup \
		"the stream COPY itself, s" b1.copy.stream "-" "(information)"
	row 1 "INSERT 100 rows/stmt, 4 clients, into the stream, events/s" b1.insert.stream \
		"the same into a plain table, events/s" b1.insert.plain m/b ">= 1.0"
	print_section 1
	drop_db "$db"
	drop_db "$db0"
	rm -f "$csv"
}
