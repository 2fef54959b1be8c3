# shellcheck shell=bash
# Benchmark 4: reads.  A view with 10k groups over a stream that received
# READ_EVENTS events; the same events in a plain table raw_events.  Per-read
# latency with pgbench (one client, READ_SECONDS per measurement) of:
#   - SELECT count(*) FROM view WHERE (all columns) IS NOT NULL
#                                                        (rows built, not sent)
#   - SELECT * FROM view                                 (all rows sent to the client)
#   - the same two over a plain table holding the view's rows
#     (CREATE TABLE AS SELECT * FROM view, with a unique index on k)
#   - the defining query over raw_events (all rows sent);
#   - one group by a random key (WHERE k = :k), from the view (a group
#     lookup) and from the plain table (an index scan);
#   - the three reads of the view again through a function scan of read_view()
#     (continuous.enable_view_scan = off), as views were read before the
#     view scan.
# PostgreSQL may run the defining query in parallel (default
# max_parallel_workers_per_gather = 2); we leave it at its defaults.

reads_query()
{
	echo "SELECT k, count(*) AS n, sum(x) AS sx, avg(y) AS ay, min(ts) AS first_ts, max(ts) AS last_ts FROM $1 GROUP BY k"
}

bench_reads()
{
	local db=bench_reads n=$READ_EVENTS chunk=1000000 first last run what
	step "4. reads: a 10k-group view over $n events; ${READ_SECONDS}s of reads per figure, $RUNS runs"
	fresh_db "$db" extension
	bench_sql "$db" >/dev/null <<SQL || die "setup of benchmark 4 failed"
SELECT continuous.create_stream('s', 'k bigint, x bigint, y float8, ts timestamptz');
SELECT continuous.create_view('rv', \$q\$$(reads_query s)\$q\$);
CREATE TABLE raw_events (k bigint, x bigint, y float8, ts timestamptz);
SQL
	# the table and the stream get the same events, a chunk per transaction
	local gen
	for ((first = 1; first <= n; first += chunk)); do
		last=$((first + chunk - 1))
		((last > n)) && last=$n
		gen="SELECT i % 10000, (i * 7919) % 100000, (i % 1000) / 7.0,
		            '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 millisecond'
		     FROM generate_series($first::bigint, $last::bigint) AS i"
		bench_sql "$db" <<<"INSERT INTO raw_events $gen; INSERT INTO s $gen;" \
			|| die "loading events failed"
	done
	bench_sql "$db" >/dev/null <<SQL || die "setup of benchmark 4 failed"
SELECT continuous.sync('900 s');
CREATE TABLE rv_plain AS SELECT * FROM rv;
CREATE UNIQUE INDEX ON rv_plain (k);
VACUUM ANALYZE rv_plain;
VACUUM ANALYZE raw_events;
SQL
	local groups diff
	groups=$(psql_db "$db" "SELECT count(*) FROM rv")
	diff=$(psql_db "$db" "SELECT count(*) FROM (
			(SELECT k, n, sx, first_ts, last_ts FROM rv
			 EXCEPT ALL SELECT k, count(*), sum(x), min(ts), max(ts) FROM raw_events GROUP BY k)
			UNION ALL
			(SELECT k, count(*), sum(x), min(ts), max(ts) FROM raw_events GROUP BY k
			 EXCEPT ALL SELECT k, n, sx, first_ts, last_ts FROM rv)) d")
	msg "    view rv: $groups groups; rows differing from the defining query: $diff"
	[ "$diff" = 0 ] || warn "view rv differs from its defining query in $diff rows"

	# count(*) with every column tested, so a plain table's scan must deform
	# its rows too (a bare count(*) would not look at the columns)
	local allcols="(k, n, sx, ay, first_ts, last_ts) IS NOT NULL"
	write_file read_view_count.sql <<<"SELECT count(*) FROM rv WHERE $allcols;"
	write_file read_plain_count.sql <<<"SELECT count(*) FROM rv_plain WHERE $allcols;"
	write_file read_view_all.sql <<<"SELECT * FROM rv;"
	write_file read_plain_all.sql <<<"SELECT * FROM rv_plain;"
	write_file read_defq_all.sql <<<"$(reads_query raw_events);"
	write_file read_view_point.sql <<<"\set k random(0, 9999)
SELECT * FROM rv WHERE k = :k;"
	write_file read_plain_point.sql <<<"\set k random(0, 9999)
SELECT * FROM rv_plain WHERE k = :k;"
	for ((run = 1; run <= RUNS; run++)); do
		for what in view_count plain_count view_all plain_all defq_all view_point plain_point; do
			pgbench_run "$db" -c 1 -T "$READ_SECONDS" -f "$(bench_file "read_$what.sql")" \
				|| die "pgbench failed"
			record "b4.$what" "$PGB_LAT_MS"
		done
		# the view's reads through a function scan of read_view(), as before
		# the view scan
		for what in count all point; do
			PGB_OPTIONS="-c continuous.enable_view_scan=off" pgbench_run "$db" -c 1 \
				-T "$READ_SECONDS" -f "$(bench_file "read_view_$what.sql")" || die "pgbench failed"
			record "b4.view_fscan_$what" "$PGB_LAT_MS"
		done
		msg "    run $run: ms per read: view $(samples_of b4.view_all | awk '{print $NF}')," \
			"plain $(samples_of b4.plain_all | awk '{print $NF}')," \
			"defining query $(samples_of b4.defq_all | awk '{print $NF}')" \
			"(count(*) wrapped: view $(samples_of b4.view_count | awk '{print $NF}')," \
			"plain $(samples_of b4.plain_count | awk '{print $NF}'))"
	done

	row 4 "SELECT * FROM the 10k-group view, ms" b4.view_all \
		"SELECT * FROM a plain table of the same rows, ms" b4.plain_all m/b "<= 2.0"
	row 4 "count(*) of the view, every column tested, ms" b4.view_count \
		"the same over the plain table, ms" b4.plain_count m/b "<= 2.0"
	row 4 "SELECT * FROM the view, ms" b4.view_all \
		"defining query over $n raw events, ms" b4.defq_all b/m ">= 100"
	row 4 "SELECT * FROM the view (view scan), ms" b4.view_all \
		"the same through a function scan of read_view(), ms" b4.view_fscan_all m/b "(information)"
	row 4 "count(*) of the view (view scan), ms" b4.view_count \
		"the same through a function scan of read_view(), ms" b4.view_fscan_count m/b "(information)"
	row 4 "one group by key, WHERE k = random (group lookup), ms" b4.view_point \
		"the same from the plain table with an index on k, ms" b4.plain_point m/b "(information)"
	row 4 "one group by key (group lookup), ms" b4.view_point \
		"the same through a function scan of read_view(), ms" b4.view_fscan_point m/b "(information)"
	print_section 4
	drop_db "$db"
}
