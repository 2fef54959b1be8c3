# shellcheck shell=bash
# Benchmark 9: windows that close (issue 15).  A steady stream of
# CLOSE_RATE events per second over CLOSE_GROUPS urls, stamped with the
# time they are inserted, for 10 windows of CLOSE_WIDTH seconds (10x the
# lateness), in commits of a tenth of a second, read by one view
#   SELECT url, continuous.tumble(ts, '<CLOSE_WIDTH> seconds') AS s, count(*) AS n, max(ms) AS top
#   FROM clicks GROUP BY url, s
# with lateness => CLOSE_WIDTH seconds, against the same view without lateness (the
# baseline), in the same run, alternating.  Figures: events per worker
# CPU-second; the view's shared memory sampled every half second (the
# largest sample of the last quarter of the run over the largest of the
# first quarter: flat is 1); and the close latency of each window, from its
# deadline (end + lateness) to its rows' insert into the history table (a
# statement trigger on it notes the time), p50 and p99.

closing_run()
{
	local db=$1 kind=$2 opts wpid cpu0 cpu1 samples n
	case $kind in
		close) opts=", lateness => '$CLOSE_WIDTH seconds'" ;;
		open) opts='' ;;
	esac
	bench_sql "$db" >/dev/null <<SQL || die "creating the $kind view failed"
SELECT continuous.create_view('per_second', \$q\$SELECT url, continuous.tumble(ts, '$CLOSE_WIDTH seconds') AS s, count(*) AS n, max(ms) AS top FROM clicks GROUP BY url, s\$q\$ $opts);
SQL
	if [ "$kind" = close ]; then
		bench_sql "$db" >/dev/null <<SQL || die "the close trigger failed"
CREATE TABLE IF NOT EXISTS close_log (s timestamptz, at timestamptz);
TRUNCATE close_log;
CREATE FUNCTION note_close() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN INSERT INTO public.close_log SELECT DISTINCT s, clock_timestamp() FROM closed; RETURN NULL; END \$f\$;
CREATE TRIGGER note_close AFTER INSERT ON per_second_history REFERENCING NEW TABLE AS closed
	FOR EACH STATEMENT EXECUTE FUNCTION note_close();
SQL
	fi
	wpid=$(worker_pid "$db")
	cpu0=$(proc_cpu_seconds "$wpid")
	samples=$(mktemp)
	bench_sql "$db" >/dev/null <<SQL &
CALL steady($((10 * CLOSE_WIDTH)), $CLOSE_RATE, $CLOSE_GROUPS);
SQL
	local writer=$!
	while kill -0 "$writer" 2>/dev/null; do
		psql_db "$db" "SELECT memory_bytes FROM continuous.views WHERE name = 'per_second'::regclass" >>"$samples"
		sleep 0.5
	done
	wait "$writer" || die "the steady writer failed"
	sync_db "$db"
	cpu1=$(proc_cpu_seconds "$wpid")
	n=$(psql_db "$db" "SELECT coalesce(sum(n), 0) FROM per_second")
	record "b9.$kind.eps" "$(awk -v n="$n" -v a="$cpu0" -v b="$cpu1" 'BEGIN { if (b > a) printf "%.0f", n / (b - a) }')"
	record "b9.$kind.flat" "$(awk '{ v[NR] = $1 } END { q = int(NR / 4); if (q < 1) exit;
		for (i = 1; i <= q; i++) if (v[i] > a) a = v[i]; for (i = NR - q + 1; i <= NR; i++) if (v[i] > b) b = v[i];
		if (a > 0) printf "%.2f", b / a }' "$samples")"
	record "b9.$kind.memory" "$(sort -n "$samples" | tail -n 1)"
	rm -f "$samples"
	if [ "$kind" = close ]; then
		sleep $((2 * CLOSE_WIDTH + 2))
		psql_db "$db" "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), percentile_cont(0.99) WITHIN GROUP (ORDER BY l)
			FROM (SELECT extract(epoch FROM min(at) - (s + 2 * $CLOSE_WIDTH * interval '1 second')) AS l FROM close_log GROUP BY s) d" |
			while IFS='|' read -r p50 p99; do
				record b9.close.p50 "$p50"
				record b9.close.p99 "$p99"
			done
	fi
	bench_sql "$db" >/dev/null <<<"SELECT continuous.drop_view('per_second'); DROP FUNCTION IF EXISTS note_close();"
}

bench_closing()
{
	local db=bench_closing r
	step "9. windows that close: $CLOSE_RATE events/s over $CLOSE_GROUPS urls for $((10 * CLOSE_WIDTH)) s, $CLOSE_WIDTH s windows and lateness, $CLOSE_RUNS runs"
	fresh_db "$db" extension
	bench_sql "$db" >/dev/null <<SQL || die "setup of benchmark 9 failed"
SELECT continuous.create_stream('clicks', 'url int, ts timestamptz, ms int');
CREATE PROCEDURE steady(seconds int, rate int, groups int) LANGUAGE plpgsql AS \$p\$
DECLARE
	stop timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
	WHILE clock_timestamp() < stop LOOP
		INSERT INTO clicks SELECT i % groups, clock_timestamp(), i % 1000 FROM generate_series(1, rate / 10) i;
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
END \$p\$;
SQL
	for ((r = 1; r <= CLOSE_RUNS; r++)); do
		if ((r % 2)); then
			closing_run "$db" close
			closing_run "$db" open
		else
			closing_run "$db" open
			closing_run "$db" close
		fi
		msg "    run $r: with lateness $(samples_of b9.close.eps | awk '{ print $NF }') events/s," \
			"without $(samples_of b9.open.eps | awk '{ print $NF }') events/s (per worker CPU-second)," \
			"memory last/first quarter $(samples_of b9.close.flat | awk '{ print $NF }') against $(samples_of b9.open.flat | awk '{ print $NF }')"
	done
	row 9 "lateness $CLOSE_WIDTH s: events per worker CPU-second" b9.close.eps \
		"the same view without lateness" b9.open.eps m/b ">= 0.9"
	row 9 "lateness $CLOSE_WIDTH s: shared memory, last quarter max / first quarter max" b9.close.flat \
		"without lateness" b9.open.flat m/b "flat: 1"
	row 9 "lateness $CLOSE_WIDTH s: largest shared memory sample, bytes" b9.close.memory \
		"without lateness" b9.open.memory m/b ""
	row 9 "close latency p50, seconds from deadline to history" b9.close.p50 "" - "" ""
	row 9 "close latency p99, seconds from deadline to history" b9.close.p99 "" - "" "< 1"
	print_section 9
	drop_db "$db"
}
