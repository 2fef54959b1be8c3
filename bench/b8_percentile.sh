# shellcheck shell=bash
# Benchmark 8: median latency and click path per page (issue 14).  N
# events over PCT_GROUPS pages go into a stream in one transaction, read
# by one view:
#   SELECT page, percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS median,
#          string_agg(latency::text, ',' ORDER BY ts) AS path, count(*) AS n
#   FROM clicks GROUP BY page
# against the same view with avg() and count() only (the baseline), in the
# same run, alternating.  Latencies are whole milliseconds below 1000, so a
# page keeps up to 1000 distinct latencies for the median, and every event
# for the path.  Figures: events per worker CPU-second (from /proc, over
# insert and sync), shared memory per group, and the bytes each kept input
# costs (the difference in memory over the distinct (page, latency) pairs
# plus the events).

percentile_run()
{
	local db=$1 kind=$2 n=$3 agg wpid cpu0 cpu1 out
	case $kind in
		pct) agg="percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS median, string_agg(latency::text, ',' ORDER BY ts) AS path" ;;
		avg) agg='avg(latency) AS median' ;;
	esac
	bench_sql "$db" >/dev/null <<SQL || die "creating the $kind view failed"
SELECT continuous.create_view('page_latency', \$q\$SELECT page, $agg, count(*) AS n FROM clicks GROUP BY page\$q\$);
SQL
	wpid=$(worker_pid "$db")
	bench_sql "$db" >/dev/null <<<"CHECKPOINT;"
	cpu0=$(proc_cpu_seconds "$wpid")
	out=$(bench_sql "$db" <<SQL
INSERT INTO clicks SELECT i % $PCT_GROUPS, abs(hashint4(i)) % 1000, i FROM generate_series(1, $n) AS i;
SELECT continuous.sync('900 s');
SELECT memory_bytes, groups FROM continuous.views WHERE name = 'page_latency'::regclass;
SELECT continuous.drop_view('page_latency');
SQL
) || die "the $kind run failed"
	cpu1=$(proc_cpu_seconds "$wpid")
	out=$(printf '%s\n' "$out" | grep '|' | tail -n 1)
	record "b8.$kind.eps" "$(awk -v n="$n" -v a="$cpu0" -v b="$cpu1" 'BEGIN { if (b > a) printf "%.0f", n / (b - a) }')"
	record "b8.$kind.bytes" "$(awk -v s="$out" 'BEGIN { split(s, f, "|"); if (f[2] > 0) printf "%.1f", f[1] / f[2] }')"
}

bench_percentile()
{
	local db=bench_percentile r pairs
	step "8. median latency and click path per page: $PCT_EVENTS events over $PCT_GROUPS pages, $RUNS runs"
	fresh_db "$db" extension
	bench_sql "$db" >/dev/null <<<"SELECT continuous.create_stream('clicks', 'page int, latency float8, ts bigint');" \
		|| die "setup of benchmark 8 failed"
	pairs=$(psql_db "$db" "SELECT count(*) FROM (SELECT DISTINCT i % $PCT_GROUPS, abs(hashint4(i)) % 1000 FROM generate_series(1, $PCT_EVENTS) AS i) d")
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			percentile_run "$db" pct "$PCT_EVENTS"
			percentile_run "$db" avg "$PCT_EVENTS"
		else
			percentile_run "$db" avg "$PCT_EVENTS"
			percentile_run "$db" pct "$PCT_EVENTS"
		fi
		msg "    run $r: percentile_cont $(samples_of b8.pct.eps | awk '{ print $NF }') events/s," \
			"avg $(samples_of b8.avg.eps | awk '{ print $NF }') events/s (per worker CPU-second)"
	done
	record b8.pct.value_bytes "$(awk -v p="$(median b8.pct.bytes)" -v a="$(median b8.avg.bytes)" \
		-v g="$PCT_GROUPS" -v d="$((pairs + PCT_EVENTS))" 'BEGIN { if (d > 0) printf "%.1f", (p - a) * g / d }')"
	row 8 "percentile_cont + string_agg(ORDER BY) view: events per worker CPU-second" b8.pct.eps \
		"the same view with avg() and count() only, events per worker CPU-second" b8.avg.eps m/b ""
	row 8 "percentile_cont + string_agg(ORDER BY) view: shared memory per group, bytes" b8.pct.bytes \
		"the same view with avg() and count() only, bytes" b8.avg.bytes m/b ""
	row 8 "bytes per kept input ($pairs (page, latency) pairs + $PCT_EVENTS rows)" b8.pct.value_bytes \
		"" - "" ""
	print_section 8
	drop_db "$db"
}
