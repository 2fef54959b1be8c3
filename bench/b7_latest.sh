# shellcheck shell=bash
# Benchmark 7: the latest reading of each device (issue 14).  N events over
# LATEST_DEVICES devices go into a stream in one transaction, read by one
# view:
#   SELECT device, continuous.last(temperature, ts) AS temperature,
#          continuous.last(status, ts) AS status, max(ts) AS seen_at
#   FROM readings GROUP BY device
# against the same view with max() in place of continuous.last() (the
# baseline), in the same run, alternating.  Figures: events per worker
# CPU-second (from /proc, over insert and sync), and shared memory per
# group from continuous.views.  Target: within 2x of the max() view.

latest_run()
{
	local db=$1 kind=$2 n=$3 agg wpid cpu0 cpu1 out
	case $kind in
		last) agg='continuous.last(temperature, ts) AS temperature, continuous.last(status, ts) AS status' ;;
		max) agg='max(temperature) AS temperature, max(status) AS status' ;;
	esac
	bench_sql "$db" >/dev/null <<SQL || die "creating the $kind view failed"
SELECT continuous.create_view('device_now', \$q\$SELECT device, $agg, max(ts) AS seen_at FROM readings GROUP BY device\$q\$);
SQL
	wpid=$(worker_pid "$db")
	bench_sql "$db" >/dev/null <<<"CHECKPOINT;"
	cpu0=$(proc_cpu_seconds "$wpid")
	out=$(bench_sql "$db" <<SQL
INSERT INTO readings
SELECT i % $LATEST_DEVICES, 15 + (i % 97) * 0.25, (ARRAY['ok', 'warm', 'hot', 'off'])[1 + i % 4],
       timestamptz '2026-01-01 00:00:00+00' + (i % 86400) * interval '1 second'
FROM generate_series(1, $n) AS i;
SELECT continuous.sync('900 s');
SELECT memory_bytes, groups FROM continuous.views WHERE name = 'device_now'::regclass;
SELECT continuous.drop_view('device_now');
SQL
) || die "the $kind run failed"
	cpu1=$(proc_cpu_seconds "$wpid")
	out=$(printf '%s\n' "$out" | grep '|' | tail -n 1)
	record "b7.$kind.eps" "$(awk -v n="$n" -v a="$cpu0" -v b="$cpu1" 'BEGIN { if (b > a) printf "%.0f", n / (b - a) }')"
	record "b7.$kind.bytes" "$(awk -v s="$out" 'BEGIN { split(s, f, "|"); if (f[2] > 0) printf "%.1f", f[1] / f[2] }')"
}

bench_latest()
{
	local db=bench_latest r
	step "7. latest value per device: $LATEST_EVENTS events over $LATEST_DEVICES devices, $RUNS runs"
	fresh_db "$db" extension
	bench_sql "$db" >/dev/null <<<"SELECT continuous.create_stream('readings', 'device bigint, temperature float8, status text, ts timestamptz');" \
		|| die "setup of benchmark 7 failed"
	for ((r = 1; r <= RUNS; r++)); do
		if ((r % 2)); then
			latest_run "$db" last "$LATEST_EVENTS"
			latest_run "$db" max "$LATEST_EVENTS"
		else
			latest_run "$db" max "$LATEST_EVENTS"
			latest_run "$db" last "$LATEST_EVENTS"
		fi
		msg "    run $r: last $(samples_of b7.last.eps | awk '{ print $NF }') events/s," \
			"max $(samples_of b7.max.eps | awk '{ print $NF }') events/s (per worker CPU-second)"
	done
	row 7 "continuous.last view: events per worker CPU-second" b7.last.eps \
		"the same view with max(), events per worker CPU-second" b7.max.eps b/m "<= 2.0"
	row 7 "continuous.last view: shared memory per group, bytes" b7.last.bytes \
		"the same view with max(), bytes" b7.max.bytes m/b "<= 2.0"
	print_section 7
	drop_db "$db"
}
