# shellcheck shell=bash
# Benchmark 3: freshness.  pgbench offers a steady load (100-event INSERTs,
# ts = clock_timestamp(), rate-limited with -R to FRESH_RATE events/s) into
# a stream read by the five views and by a marker view.  Meanwhile the
# procedure bench_freshness samples, again and again:
#   - baseline: INSERT a marker row into a plain table, COMMIT; the time
#     from before the INSERT until COMMIT returned (what a writer waits for
#     its own commit under this load);
#   - INSERT a marker event into the stream, COMMIT, then poll the marker
#     view (every 0.5 ms) until it shows the marker: the latency from the
#     return of COMMIT to visibility, and from before the INSERT.
# Percentiles are over all samples of the load period(s).

bench_freshness()
{
	local db=bench_fresh run rate=$FRESH_RATE tps clients=2 period
	step "3. freshness: $FRESH_SAMPLES samples per run under ${rate} events/s for ${FRESH_SECONDS}s, $FRESH_RUNS run(s)"
	fresh_db "$db" extension
	bench_sql "$db" >/dev/null <<SQL || die "setup of benchmark 3 failed"
SELECT continuous.create_stream('s', '$EVENT_COLUMNS');
$(five_views s v)
SELECT continuous.create_view('marker', \$q\$SELECT max(k) AS mk FROM s WHERE cat = 'marker'\$q\$);
CREATE TABLE plain_marker (k bigint, ts timestamptz);
CREATE TABLE fresh_samples (run int, i int, commit_ms float8, visible_ms float8, from_insert_ms float8);

CREATE PROCEDURE bench_freshness(p_run int, p_samples int, p_gap float8)
LANGUAGE plpgsql AS \$p\$
DECLARE
	m bigint;
	seen bigint;
	t0 timestamptz;
	t1 timestamptz;
	t2 timestamptz;
	c_ms float8[] := '{}';
	v_ms float8[] := '{}';
	i_ms float8[] := '{}';
BEGIN
	SELECT coalesce(max(mk), 0) INTO m FROM marker;
	FOR i IN 1 .. p_samples LOOP
		m := m + 1;
		-- baseline: a plain table's insert and commit
		t0 := clock_timestamp();
		INSERT INTO plain_marker VALUES (m, t0);
		COMMIT;
		c_ms := c_ms || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
		-- the stream: commit, then poll the view
		t0 := clock_timestamp();
		INSERT INTO s VALUES (m, 0, 0, 'marker', t0);
		COMMIT;
		t1 := clock_timestamp();
		LOOP
			SELECT mk INTO seen FROM marker;
			EXIT WHEN seen >= m;
			PERFORM pg_sleep(0.0005);
		END LOOP;
		t2 := clock_timestamp();
		v_ms := v_ms || (extract(epoch FROM t2 - t1) * 1000)::float8;
		i_ms := i_ms || (extract(epoch FROM t2 - t0) * 1000)::float8;
		PERFORM pg_sleep(p_gap);
	END LOOP;
	INSERT INTO fresh_samples
	SELECT p_run, o, c_ms[o], v_ms[o], i_ms[o] FROM generate_series(1, p_samples) AS o;
END
\$p\$;
SQL
	write_file fresh_load.sql <<SQL
INSERT INTO s $(TS_EXPR='clock_timestamp()' event_select 1 100);
SQL
	tps=$((rate / 100))
	for ((run = 1; run <= FRESH_RUNS; run++)); do
		pgbench_bg "$db" -c "$clients" -j "$clients" -R "$tps" -T "$FRESH_SECONDS" -f "$(bench_file fresh_load.sql)"
		sleep 1	# let the load settle
		# spread the samples over the load period, leaving a second at the end
		period=$(awk -v s="$FRESH_SECONDS" -v n="$FRESH_SAMPLES" 'BEGIN { g = (s - 2.5) / n - 0.004; if (g < 0.001) g = 0.001; printf "%.4f", g }')
		bench_sql "$db" <<<"CALL bench_freshness($run, $FRESH_SAMPLES, $period);" \
			|| die "the freshness procedure failed"
		pgbench_wait || die "the load generator failed"
		record b3.load_eps "$(awk -v t="$PGB_TPS" 'BEGIN { printf "%.0f", t * 100 }')"
		msg "    run $run: offered load $(awk -v t="$PGB_TPS" 'BEGIN { printf "%.0f", t * 100 }') events/s," \
			"latency p50/p99/max $(psql_db "$db" "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY visible_ms)::numeric, 2) || ' / ' ||
				round(percentile_cont(0.99) WITHIN GROUP (ORDER BY visible_ms)::numeric, 2) || ' / ' ||
				round(max(visible_ms)::numeric, 2) FROM fresh_samples WHERE run = $run") ms"
		sync_db "$db"
	done
	local line
	line=$(psql_db "$db" "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY visible_ms),
							     percentile_cont(0.99) WITHIN GROUP (ORDER BY visible_ms),
							     max(visible_ms),
							     percentile_cont(0.5) WITHIN GROUP (ORDER BY from_insert_ms),
							     percentile_cont(0.99) WITHIN GROUP (ORDER BY from_insert_ms),
							     percentile_cont(0.5) WITHIN GROUP (ORDER BY commit_ms),
							     percentile_cont(0.99) WITHIN GROUP (ORDER BY commit_ms),
							     max(commit_ms), count(*)
						  FROM fresh_samples")
	IFS='|' read -r v50 v99 vmax i50 i99 c50 c99 cmax cnt <<<"$line"
	record b3.visible.p50 "$v50"; record b3.visible.p99 "$v99"; record b3.visible.max "$vmax"
	record b3.insert.p50 "$i50"; record b3.insert.p99 "$i99"
	record b3.commit.p50 "$c50"; record b3.commit.p99 "$c99"; record b3.commit.max "$cmax"
	note "freshness: $cnt samples; offered load median $(median b3.load_eps) events/s (target $rate)"

	row 3 "offered load (pgbench -R), events/s" b3.load_eps "-" "-" - "~$rate"
	row 3 "commit -> visible in a view, p50, ms" b3.visible.p50 \
		"plain-table INSERT+COMMIT, p50, ms" b3.commit.p50 m/b "-"
	row 3 "commit -> visible in a view, p99, ms" b3.visible.p99 \
		"plain-table INSERT+COMMIT, p99, ms" b3.commit.p99 m/b "< 50 ms"
	row 3 "commit -> visible in a view, max, ms" b3.visible.max \
		"plain-table INSERT+COMMIT, max, ms" b3.commit.max m/b "-"
	row 3 "INSERT start -> visible in a view, p50, ms" b3.insert.p50 \
		"plain-table INSERT+COMMIT, p50, ms" b3.commit.p50 m/b "(information)"
	row 3 "INSERT start -> visible in a view, p99, ms" b3.insert.p99 \
		"plain-table INSERT+COMMIT, p99, ms" b3.commit.p99 m/b "(information)"
	print_section 3
	drop_db "$db"
}
