# shellcheck shell=bash
# Benchmark 5: scale of state.  For each group count G, a view
#   SELECT k, count(*) AS n, sum(x) AS s, min(y) AS mn, max(y) AS mx FROM s GROUP BY k
# over a stream fed 2 * G events (two per group); after sync, the view's
# memory_bytes / groups from continuous.views, against the raw size of a
# group: avg(pg_column_size(ROW(k, n, s, mn, mx))) over a plain table
# holding the view's rows (CREATE TABLE AS).  That is a composite datum:
# a 24-byte tuple header plus the five values, as a heap row would store
# them.  Memory figures are deterministic: one run per size.

bench_state()
{
	local db=bench_state g n chunk=1000000 first last out mem groups raw data
	step "5. scale of state: groups ${STATE_GROUPS[*]}"
	fresh_db "$db" extension
	bench_sql "$db" >/dev/null <<<"SELECT continuous.create_stream('s', 'k bigint, x bigint, y float8');" \
		|| die "setup of benchmark 5 failed"
	for g in "${STATE_GROUPS[@]}"; do
		n=$((2 * g))
		bench_sql "$db" >/dev/null <<SQL || die "creating the view for $g groups failed"
SELECT continuous.create_view('sv', \$q\$SELECT k, count(*) AS n, sum(x) AS s, min(y) AS mn, max(y) AS mx FROM s GROUP BY k\$q\$);
SQL
		for ((first = 1; first <= n; first += chunk)); do
			last=$((first + chunk - 1))
			((last > n)) && last=$n
			bench_sql "$db" >/dev/null <<SQL || die "feeding the stream failed"
INSERT INTO s SELECT i % $g, i, i * 0.25 FROM generate_series($first::bigint, $last::bigint) AS i;
SQL
		done
		out=$(bench_sql "$db" <<SQL
SELECT continuous.sync('900 s');
CREATE TABLE sv_plain AS SELECT * FROM sv;
SELECT v.memory_bytes, v.groups,
       (SELECT avg(pg_column_size(ROW(k, n, s, mn, mx))) FROM sv_plain),
       (SELECT avg(pg_column_size(k) + pg_column_size(n) + pg_column_size(s)
                   + pg_column_size(mn) + pg_column_size(mx)) FROM sv_plain)
FROM continuous.views v WHERE v.name = 'sv'::regclass;
DROP TABLE sv_plain;
SELECT continuous.drop_view('sv');
SQL
) || die "measuring the view for $g groups failed"
		out=$(printf '%s\n' "$out" | grep '|' | tail -n 1)
		IFS='|' read -r mem groups raw data <<<"$out"
		[ "$groups" = "$g" ] || warn "the view has $groups groups, expected $g"
		record "b5.$g.bytes" "$(awk -v m="$mem" -v g="$groups" 'BEGIN { if (g > 0) printf "%.1f", m / g }')"
		record "b5.$g.raw" "$raw"
		record "b5.$g.data" "$data"
		msg "    $g groups: $mem bytes of shared memory, $(median "b5.$g.bytes") per group;" \
			"raw row $(fmt "$raw") bytes (values alone $(fmt "$data"))"
		row 5 "$g groups: shared memory per group, bytes" "b5.$g.bytes" \
			"raw group row (pg_column_size of ROW), bytes" "b5.$g.raw" m/b "<= 2.0"
	done
	print_section 5
	drop_db "$db"
}
