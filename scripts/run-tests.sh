#!/usr/bin/env bash
# scripts/run-tests.sh: the whole test suite, what `make test` runs.
#
#   1. install the Debian packages needed (fast when present), build the
#      extension in a temporary copy of the repository and install it;
#   2. pg_regress: sql/*.sql against expected/*.out, in sorted order, in one
#      fresh database (contrib_regression) of a throwaway server; the tests
#      create the extension themselves;
#   3. isolation: specs/*.spec against expected/<spec>.out, on the same server,
#      in database isolation_regression where the extension is already created
#      and its worker ready;
#   4. TAP: t/*.pl one file at a time with prove; each test makes its own
#      servers with PostgreSQL::Test::Cluster (t/lib/ContinuousCluster.pm).
#
# It ends with the line "N passed, N failed" (counting regress tests,
# isolation specs and TAP files) and exits non-zero when anything failed or
# nothing ran.  On failure the logs are copied to log/ in the repository.
#
# Environment:
#   CONTINUOUS_TESTS=REGEX        run only tests whose name matches (grep -E),
#                                 e.g. 'basic|crash'; names are sql/spec/t file
#                                 names without extension
#   CONTINUOUS_TEST_SEED, CONTINUOUS_TEST_ROUNDS   passed to the TAP tests
#   CONTINUOUS_CRASH_POINTS=N     kill points of t/030_crash_recovery.pl (default 10)
#   CONTINUOUS_TEST_TIMEOUT       seconds per layer / per TAP file (default 600)
#   CONTINUOUS_KEEP_TMP=1         keep the temporary directory
#   CONTINUOUS_SKIP_INSTALL=1     skip the package install step
#   TEMP_CONFIG=FILE              extra postgresql.conf lines for every server
#   PG_TEST_EXTRA, PG_TEST_TIMEOUT_DEFAULT, PG_TEST_NOCLEAN  as for PostgreSQL

set -uo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TIMEOUT=${CONTINUOUS_TEST_TIMEOUT:-600}
PASSED=0
FAILED=0
FAILED_NAMES=()
SUMMARY_DONE=0

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); }

summary()
{
	[ "$SUMMARY_DONE" = 1 ] && return
	SUMMARY_DONE=1
	echo
	if [ ${#FAILED_NAMES[@]} -gt 0 ]; then
		msg "failed: ${FAILED_NAMES[*]}"
	fi
	if [ $((PASSED + FAILED)) -eq 0 ]; then
		msg "no test ran"
	fi
	msg "$PASSED passed, $FAILED failed"
}

# Copy what explains a failure (server logs, diffs, TAP logs) to log/ in the
# repository, since the temporary directory is removed.
save_logs()
{
	local dest=$PGC_REPO/log
	[ -n "$PGC_WORK" ] && [ -d "$PGC_WORK" ] || return 0
	[ -w "$PGC_REPO" ] || return 0
	rm -rf "$dest" && mkdir -p "$dest" || return 0
	(cd "$PGC_WORK" && find . \( -name data -o -name pgdata -o -name tree \) -prune -o -type f \
		\( -name '*.log' -o -name 'regress_log_*' -o -name 'regression.*' -o -name '*.out' -o -name '*.diffs' \) \
		-print0 | xargs -0 -r cp --parents -t "$dest") 2>/dev/null
	if [ -d "$PGC_WORK/tree/tmp_check/log" ]; then
		mkdir -p "$dest/tap" && cp -r "$PGC_WORK/tree/tmp_check/log/." "$dest/tap/" 2>/dev/null
	fi
	msg "logs of this run copied to $dest"
}

on_exit()
{
	local rc=$?
	trap - EXIT
	stop_running
	stop_all_clusters
	summary
	if [ "$FAILED" -gt 0 ] || [ "$PASSED" -eq 0 ] || [ "$rc" -ne 0 ]; then
		save_logs
		[ "$rc" -eq 0 ] && rc=1
	fi
	remove_work_dir "${CONTINUOUS_KEEP_TMP:-0}"
	exit "$rc"
}
trap_exit_signals

# names_of DIR EXT: sorted basenames of DIR/*.EXT that match CONTINUOUS_TESTS.
names_of()
{
	local dir=$1 ext=$2 f name
	[ -d "$dir" ] || return 0
	for f in "$dir"/*."$ext"; do
		[ -f "$f" ] || continue
		name=$(basename "$f" ".$ext")
		if [ -n "${CONTINUOUS_TESTS:-}" ] && ! grep -qE -- "$CONTINUOUS_TESTS" <<<"$name"; then
			continue
		fi
		echo "$name"
	done | LC_ALL=C sort
}

# count_regress_results OUTPUT LAYER NAME...: read pg_regress's per-test
# lines ("test foo ... ok", "     foo ... FAILED"); a test without an ok
# line counts as failed, so a driver that died early fails what it skipped.
count_regress_results()
{
	local out=$1 layer=$2; shift 2
	local name status
	declare -A seen=()
	while IFS=' ' read -r name status; do
		seen[$name]=$status
	done < <(awk '/ \.\.\. / {
			line = $0; sub(/^test /, "", line);
			split(line, part, / \.\.\. /);
			name = part[1]; gsub(/[ \t]/, "", name);
			print name, (part[2] ~ /^ok/ ? "ok" : "failed") }' "$out")
	for name in "$@"; do
		if [ "${seen[$name]:-}" = ok ]; then
			pass
		else
			fail "$layer/$name"
		fi
	done
}

###########################################################################
# Preparation
###########################################################################

step "pg_continuous test suite ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
[ -n "${CONTINUOUS_TESTS:-}" ] && msg "only tests matching: $CONTINUOUS_TESTS"
[ -n "${CONTINUOUS_TEST_SEED:-}" ] && msg "CONTINUOUS_TEST_SEED=$CONTINUOUS_TEST_SEED"
[ -n "${CONTINUOUS_TEST_ROUNDS:-}" ] && msg "CONTINUOUS_TEST_ROUNDS=$CONTINUOUS_TEST_ROUNDS"

if [ "${CONTINUOUS_SKIP_INSTALL:-0}" != 1 ]; then
	install_deps
fi
for tool in "$PG_REGRESS" "$PG_ISOLATION_REGRESS" "$PG_BINDIR/initdb" "$PG_BINDIR/pg_ctl"; do
	[ -x "$tool" ] || die "missing $tool (is postgresql-server-dev-$PG_MAJOR installed?)"
done

make_workdir pg_continuous_test
TREE=$PGC_WORK/tree
msg "work directory: $PGC_WORK"
prepare_tree "$TREE"
if ! build_install "$TREE"; then
	msg "the build failed: no test ran"
	exit 1
fi

mapfile -t REGRESS_TESTS < <(names_of "$TREE/sql" sql)
mapfile -t ISOLATION_SPECS < <(names_of "$TREE/specs" spec)
mapfile -t TAP_TESTS < <(names_of "$TREE/t" pl)
msg "tests: ${#REGRESS_TESTS[@]} pg_regress, ${#ISOLATION_SPECS[@]} isolation, ${#TAP_TESTS[@]} TAP"

# pg_regress stops at the first test without an expected file.  Give such a
# test an empty one in the copy: it then fails, and its whole output shows in
# regression.diffs (and in log/), ready to be reviewed and saved.
for t in "${REGRESS_TESTS[@]}" "${ISOLATION_SPECS[@]}"; do
	if [ ! -f "$TREE/expected/$t.out" ]; then
		msg "missing expected/$t.out: $t will fail; its output will be in the diffs"
		mkdir -p "$TREE/expected" && : >"$TREE/expected/$t.out"
	fi
done
if [ "$(id -u)" = 0 ]; then chown -R "$PG_OS_USER": "$PGC_WORK"; fi

###########################################################################
# pg_regress and isolation, on one throwaway server
###########################################################################

SERVER=$PGC_WORK/server
if [ ${#REGRESS_TESTS[@]} -gt 0 ] || [ ${#ISOLATION_SPECS[@]} -gt 0 ]; then
	if ! start_cluster "$SERVER"; then
		msg "could not start the server: the pg_regress and isolation tests fail"
		for t in "${REGRESS_TESTS[@]}"; do fail "regress/$t"; done
		for t in "${ISOLATION_SPECS[@]}"; do fail "isolation/$t"; done
	else
		if [ ${#REGRESS_TESTS[@]} -gt 0 ]; then
			step "pg_regress: ${REGRESS_TESTS[*]}"
			OUT=$PGC_WORK/regress
			as_pg mkdir -p "$OUT"
			RUN_RC=2
			if ! create_test_db contrib_regression >"$OUT/setup.log" 2>&1; then
				msg "could not create database contrib_regression:"
				cat "$OUT/setup.log"
				: >"$PGC_WORK/pg_regress.log"
			else
				run_tee "$PGC_WORK/pg_regress.log" \
					as_pg timeout -k 30 "$TIMEOUT" "$PG_REGRESS" --bindir="$PG_BINDIR" \
					--host="$PGHOST" --port="$PGPORT" --user="$PG_OS_USER" \
					--inputdir="$TREE" --outputdir="$OUT" --dbname=contrib_regression --use-existing \
					"${REGRESS_TESTS[@]}"
			fi
			rc=$RUN_RC
			before=$FAILED
			count_regress_results "$PGC_WORK/pg_regress.log" regress "${REGRESS_TESTS[@]}"
			if [ "$FAILED" -gt "$before" ] || [ "$rc" -ne 0 ]; then
				[ "$rc" -eq 124 ] && msg "pg_regress timed out after ${TIMEOUT}s"
				if [ -s "$OUT/regression.diffs" ]; then
					msg "---- regression.diffs (first 300 lines) ----"
					head -n 300 "$OUT/regression.diffs"
					msg "---- end of regression.diffs ----"
				fi
				log_tail "$SERVER/server.log" 60
			fi
		fi

		if [ ${#ISOLATION_SPECS[@]} -gt 0 ]; then
			step "isolation: ${ISOLATION_SPECS[*]}"
			OUT=$PGC_WORK/isolation
			as_pg mkdir -p "$OUT"
			# The specs find the extension created and its worker holding
			# its replication slot, as in a database in real use: a view
			# over a stream of its own keeps the slot for the whole run (a
			# worker with no views holds none, and the first view would
			# then wait for every transaction that has written).  The specs
			# neither read nor count it.
			ISO_DB=isolation_regression
			RUN_RC=2
			if ! create_test_db "$ISO_DB" >"$OUT/setup.log" 2>&1 \
				|| ! psql_as -d "$ISO_DB" -q -c "CREATE EXTENSION IF NOT EXISTS ${PGC_EXTENSION:-pg_continuous}" >>"$OUT/setup.log" 2>&1; then
				msg "could not prepare database $ISO_DB:"
				cat "$OUT/setup.log"
				: >"$PGC_WORK/pg_isolation_regress.log"
			else
				if [ -z "${PGC_EXTENSION:-}" ] && { ! wait_for_worker_ready "$ISO_DB" 60 \
					|| ! psql_as -d "$ISO_DB" -q -c "SELECT continuous.create_stream('slot_keeper', 'x int')" \
						-c "SELECT continuous.create_view('slot_keeper_n', 'SELECT count(*) AS n FROM slot_keeper')" \
						>>"$OUT/setup.log" 2>&1; }; then
					msg "WARNING: the pg_continuous worker of $ISO_DB is not ready after 60 s; running the specs anyway"
				fi
				run_tee "$PGC_WORK/pg_isolation_regress.log" \
					as_pg timeout -k 30 "$TIMEOUT" "$PG_ISOLATION_REGRESS" --bindir="$PG_BINDIR" \
					--host="$PGHOST" --port="$PGPORT" --user="$PG_OS_USER" \
					--inputdir="$TREE" --outputdir="$OUT" --dbname="$ISO_DB" --use-existing \
					"${ISOLATION_SPECS[@]}"
			fi
			rc=$RUN_RC
			before=$FAILED
			count_regress_results "$PGC_WORK/pg_isolation_regress.log" isolation "${ISOLATION_SPECS[@]}"
			if [ "$FAILED" -gt "$before" ] || [ "$rc" -ne 0 ]; then
				[ "$rc" -eq 124 ] && msg "pg_isolation_regress timed out after ${TIMEOUT}s"
				if [ -s "$OUT/regression.diffs" ]; then
					msg "---- isolation regression.diffs (first 300 lines) ----"
					head -n 300 "$OUT/regression.diffs"
					msg "---- end of regression.diffs ----"
				fi
				log_tail "$SERVER/server.log" 60
			fi
		fi
	fi
	step "stopping the server"
	stop_cluster "$SERVER"
fi

###########################################################################
# TAP, one file at a time
###########################################################################

if [ ${#TAP_TESTS[@]} -gt 0 ]; then
	TAP_LOGDIR=$TREE/tmp_check/log
	# File::Temp, hence the tests' socket directories, under the work dir:
	# nothing stays behind in /tmp, even after a test killed by the timeout.
	TAP_TMP=$PGC_WORK/tmp
	as_pg mkdir -p "$TAP_TMP"
	for t in "${TAP_TESTS[@]}"; do
		step "TAP: t/$t.pl"
		run_tee "$PGC_WORK/prove_$t.log" \
			as_pg_in "$TREE" env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
			PATH="$PG_BINDIR:$PATH" LANG=C.UTF-8 \
			PERL5LIB="$PG_TAP_PERL:$TREE/t/lib:$TREE/t${PERL5LIB:+:$PERL5LIB}" \
			TESTDIR="$TREE" PG_REGRESS="$PG_REGRESS" TMPDIR="$TAP_TMP" \
			timeout -k 30 "$TIMEOUT" prove --timer "t/$t.pl"
		rc=$RUN_RC
		if [ "$rc" -eq 0 ]; then
			pass
		else
			fail "tap/$t"
			[ "$rc" -eq 124 ] && msg "t/$t.pl timed out after ${TIMEOUT}s"
			log_tail "$TAP_LOGDIR/regress_log_$t" 80
			for f in "$TAP_LOGDIR/${t}"_*.log; do
				[ -f "$f" ] && log_tail "$f" 40
			done
			# a test killed by the timeout leaves its servers running
			stop_all_clusters
		fi
	done
fi

summary
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
