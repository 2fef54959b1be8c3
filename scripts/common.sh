# shellcheck shell=bash
# scripts/common.sh: helpers sourced by run-tests.sh, demo.sh and .ci/run.
#
# Everything here works as root (CI: a fresh clone, no terminal) and as an
# ordinary user with the packages already installed.  PostgreSQL refuses to
# run as root, so servers and clients run as the "postgres" OS user when we
# are root, and as ourselves otherwise.
#
# Functions:
#   install_deps            install the Debian packages the build and tests need
#   prepare_tree DEST       copy the repository (minus .git and build output) to DEST
#   build_install TREE      build the extension in TREE and install it
#   start_cluster DIR       initdb + start a throwaway server in DIR; exports PGHOST/PGPORT
#   stop_cluster DIR        stop it (fast, then immediate)
#   stop_all_clusters       stop every server started here, and any postmaster left under $PGC_WORK
#   as_pg CMD...            run CMD as the server's OS user (cwd: $PGC_WORK or /)
#   as_pg_in DIR CMD...     the same, in DIR
#   psql_as [ARGS...]       psql -X as that user, ON_ERROR_STOP, against PGHOST/PGPORT
#   psql_db DB SQL          one statement, tuples only, unaligned
#   wait_for_worker_ready DB [SECONDS]   until DB's pg_continuous worker runs
#   create_test_db DB       a database set up the way pg_regress sets up its own
#   log_tail FILE [N]       print the last N lines of FILE, indented
#   make_workdir PREFIX     create a temp dir owned by the server user; sets PGC_WORK
#
# For testing these scripts before the library exists: PGC_NO_PRELOAD=1
# leaves shared_preload_libraries out (here and in t/lib/ContinuousCluster.pm),
# and run-tests.sh takes PGC_EXTENSION=name for the extension of the isolation
# database.

# Variables below are used by the scripts that source this file.
# shellcheck disable=SC2034

: "${PG_MAJOR:=15}"
: "${PG_BINDIR:=/usr/lib/postgresql/$PG_MAJOR/bin}"
: "${PG_CONFIG:=$PG_BINDIR/pg_config}"
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config || echo "$PG_CONFIG")
PGXS_TESTDIR=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test
PG_REGRESS=$PGXS_TESTDIR/regress/pg_regress
PG_ISOLATION_REGRESS=$PGXS_TESTDIR/isolation/pg_isolation_regress
PG_TAP_PERL=$PGXS_TESTDIR/perl
PGC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The OS user that runs servers and clients.
if [ "$(id -u)" = 0 ]; then
	PG_OS_USER=postgres
else
	PG_OS_USER=$(id -un)
fi

PGC_CLUSTERS=()			# data directories of the servers started by start_cluster
PGC_WORK=${PGC_WORK:-}	# the run's temporary directory

msg() { printf '%s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root()
{
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# Run a command as the server's OS user.  The working directory changes to
# the run's temp dir (or /), because the repository may sit in a directory
# that user cannot enter.
as_pg()
{
	as_pg_in "${PGC_WORK:-/}" "$@"
}

# as_pg_in DIR CMD...: the same, in directory DIR.
as_pg_in()
{
	local dir=$1; shift
	[ -d "$dir" ] || dir=/
	if [ "$(id -u)" = 0 ]; then
		(cd "$dir" && exec runuser -u "$PG_OS_USER" -- "$@")
	else
		(cd "$dir" && exec "$@")
	fi
}

log_tail()
{
	local file=$1 n=${2:-40}
	if [ -f "$file" ]; then
		msg "---- last $n lines of $file ----"
		tail -n "$n" "$file" | sed 's/^/    /'
		msg "---- end of $file ----"
	else
		msg "(no file $file)"
	fi
}

# descendants PID: the pids of every process below PID, children first
# listed after their parent.  Reads /proc, so it needs no procps.
descendants()
{
	local parent=$1 f stat pid ppid kids=()
	for f in /proc/[0-9]*/stat; do
		stat=$(<"$f") 2>/dev/null || continue
		pid=${stat%% *}
		stat=${stat##*) }		# after "pid (comm) ": state ppid ...
		ppid=${stat#* }
		ppid=${ppid%% *}
		[ "$ppid" = "$parent" ] && kids+=("$pid")
	done
	for pid in "${kids[@]}"; do
		echo "$pid"
		descendants "$pid"
	done
}

# kill_tree PID: TERM a process we started and everything below it.
kill_tree()
{
	local pid=$1 all
	mapfile -t all < <(descendants "$pid")
	kill -TERM "$pid" "${all[@]}" 2>/dev/null || true
}

# run_tee LOG CMD...: run CMD with its output shown and saved in LOG; the
# exit status of CMD is left in RUN_RC.  CMD runs in the background while
# we wait for it, so a TERM or INT reaches our traps at once;
# PGC_RUNNING holds its pid meanwhile, for on_exit to end it.
PGC_RUNNING=
run_tee()
{
	local log=$1; shift
	( "$@" 2>&1 | tee "$log"; exit "${PIPESTATUS[0]}" ) &
	PGC_RUNNING=$!
	wait "$PGC_RUNNING"
	RUN_RC=$?
	PGC_RUNNING=
}

# stop_running: end the command run_tee is waiting for, if any.
stop_running()
{
	if [ -n "$PGC_RUNNING" ]; then
		kill_tree "$PGC_RUNNING"
		wait "$PGC_RUNNING" 2>/dev/null
		PGC_RUNNING=
	fi
}

###########################################################################
# Dependencies
###########################################################################

# postgresql-NN-hll and -tdigest: aggregates from other extensions, which the
# tests maintain in continuous views (sql/extension_aggregates.sql).
PGC_PACKAGES=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" libipc-run-perl perl make gcc
	"postgresql-$PG_MAJOR-hll" "postgresql-$PG_MAJOR-tdigest" clang-format)
PGC_APT_UPDATED=${PGC_APT_UPDATED:-}

pkg_installed()
{
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

install_deps()
{
	local missing=() p
	if ! command -v dpkg-query >/dev/null 2>&1; then
		warn "not a Debian system: not installing packages, assuming they are present"
		return 0
	fi
	for p in "${PGC_PACKAGES[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		step "dependencies present (${PGC_PACKAGES[*]})"
		return 0
	fi
	step "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "$PGC_APT_UPDATED" ]; then
		as_root apt-get update -qq </dev/null || die "apt-get update failed"
		PGC_APT_UPDATED=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		-o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		--no-install-recommends "${missing[@]}" </dev/null \
		|| die "apt-get install ${missing[*]} failed"
	for p in "${PGC_PACKAGES[@]}"; do
		pkg_installed "$p" || die "package $p is still not installed"
	done
	id "$PG_OS_USER" >/dev/null 2>&1 || die "OS user $PG_OS_USER does not exist"
}

###########################################################################
# Work directory, build, install
###########################################################################

# make_workdir PREFIX: a fresh temp dir the server user owns; sets PGC_WORK.
make_workdir()
{
	PGC_WORK=$(mktemp -d "/tmp/${1:-pgc}.XXXXXX")
	chmod 755 "$PGC_WORK"
	if [ "$(id -u)" = 0 ]; then chown "$PG_OS_USER": "$PGC_WORK"; fi
	export PGC_WORK
}

# prepare_tree DEST: copy the repository's files (tracked or not, except
# .git and build or test output) to DEST.  Builds and tests run on the copy,
# so they always start clean, never race with a build in the repository, and
# the server user can read and write everything.
prepare_tree()
{
	local dest=$1
	mkdir -p "$dest"
	tar -C "$PGC_REPO" \
		--exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./output_iso --exclude=./tmp_check \
		--exclude=./log --exclude=./regression.diffs --exclude=./regression.out \
		-cf - . | tar -C "$dest" -xf - || die "could not copy $PGC_REPO to $dest"
}

# build_install TREE: compile and install the extension from TREE.
build_install()
{
	local tree=$1 log=${PGC_WORK:-/tmp}/build.log
	step "building pg_continuous with $PG_CONFIG ($("$PG_CONFIG" --version))"
	if ! make -C "$tree" -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" >"$log" 2>&1; then
		grep -v '^make\[[0-9]*\]: \(Entering\|Leaving\)' "$log" | tail -n 80
		msg "build failed (full log: $log)"
		return 1
	fi
	grep -E 'warning:|error:' "$log" | head -n 40 || true
	step "installing into $("$PG_CONFIG" --pkglibdir) and $("$PG_CONFIG" --sharedir)/extension"
	if ! as_root make -C "$tree" PG_CONFIG="$PG_CONFIG" install >>"$log" 2>&1; then
		tail -n 30 "$log"
		msg "install failed (full log: $log)"
		return 1
	fi
}

###########################################################################
# Throwaway servers
###########################################################################

# Is this port free?  Nothing may listen on it over TCP, and no socket file
# for it may exist in the usual socket directories.
port_is_free()
{
	local port=$1 d
	for d in /tmp /var/run/postgresql /run/postgresql; do
		[ -e "$d/.s.PGSQL.$port" ] && return 1
	done
	if command -v ss >/dev/null 2>&1; then
		ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 1
	fi
	# a stale lock file of a server on that port
	[ -e "/tmp/.s.PGSQL.$port.lock" ] && return 1
	return 0
}

# free_port: a free port from 54321 upward, skipping those our clusters use.
free_port()
{
	local port=${PGC_NEXT_PORT:-54321}
	while [ "$port" -lt 60000 ]; do
		if port_is_free "$port"; then
			PGC_NEXT_PORT=$((port + 1))
			echo "$port"
			return 0
		fi
		port=$((port + 1))
	done
	die "no free port between 54321 and 60000"
}

# Does this server know the output_plugin_libraries GUC (PostgreSQL 15.19+)?
server_knows_output_plugin_libraries()
{
	local datadir=$1
	as_pg "$PG_BINDIR/postgres" -D "$datadir" -C output_plugin_libraries >/dev/null 2>&1
}

# start_cluster DIR [EXTRA_CONF_LINE...]: initdb in DIR/data, configure for
# pg_continuous, start with the log in DIR/server.log and the Unix socket in
# DIR.  Exports PGHOST, PGPORT, PGUSER, PGDATABASE.  Set
# PGC_NO_PRELOAD=1 to leave shared_preload_libraries empty (for testing the
# scripts themselves).  A TEMP_CONFIG file, if set, is appended last.
start_cluster()
{
	local dir=$1; shift
	local data=$dir/data port line
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then chown "$PG_OS_USER": "$dir"; fi
	step "initdb in $data"
	if ! as_pg "$PG_BINDIR/initdb" -D "$data" -A trust -U "$PG_OS_USER" --no-sync \
			-E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
		log_tail "$dir/initdb.log" 30
		return 1
	fi
	port=$(free_port)
	{
		echo
		echo "# added by scripts/common.sh for pg_continuous"
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		echo "lc_messages = 'C'"
		echo "log_line_prefix = '%m [%p] %b %q%a '"
		echo "wal_level = logical"
		echo "max_replication_slots = 10"
		echo "max_worker_processes = 16"
		echo "max_wal_senders = 10"
		if [ "${PGC_NO_PRELOAD:-0}" != 1 ]; then
			echo "shared_preload_libraries = 'pg_continuous'"
		fi
	} >>"$data/postgresql.conf"
	if server_knows_output_plugin_libraries "$data"; then
		echo "output_plugin_libraries = 'pgoutput, test_decoding, pg_continuous'" >>"$data/postgresql.conf"
	fi
	for line in "$@"; do
		echo "$line" >>"$data/postgresql.conf"
	done
	if [ -n "${TEMP_CONFIG:-}" ] && [ -f "$TEMP_CONFIG" ]; then
		cat "$TEMP_CONFIG" >>"$data/postgresql.conf"
	fi
	PGC_CLUSTERS+=("$dir")
	step "starting server on port $port (socket in $dir, log $dir/server.log)"
	if ! as_pg "$PG_BINDIR/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
		cat "$dir/pg_ctl.log"
		log_tail "$dir/server.log" 40
		return 1
	fi
	export PGHOST=$dir PGPORT=$port PGUSER=$PG_OS_USER PGDATABASE=postgres
}

# stop_cluster DIR: stop the server of DIR/data, if it runs.
stop_cluster()
{
	local dir=$1 data=$1/data
	[ -f "$data/postmaster.pid" ] || return 0
	if ! as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1; then
		as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	if [ -f "$data/postmaster.pid" ]; then
		kill_postmaster_of "$data"
	fi
}

# kill_postmaster_of DATADIR: last resort, by the pid in its postmaster.pid.
kill_postmaster_of()
{
	local data=$1 pid
	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || return 0
	case $pid in ''|*[!0-9]*) return 0 ;; esac
	if kill -0 "$pid" 2>/dev/null && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
		kill -QUIT "$pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

# stop_all_clusters: every server started by start_cluster, then any server
# whose data directory lies under $PGC_WORK (TAP tests killed by a timeout
# leave theirs running).
stop_all_clusters()
{
	local dir pidfile data
	for dir in "${PGC_CLUSTERS[@]}"; do
		stop_cluster "$dir"
	done
	if [ -n "$PGC_WORK" ] && [ -d "$PGC_WORK" ]; then
		while IFS= read -r pidfile; do
			data=$(dirname "$pidfile")
			as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 \
				|| kill_postmaster_of "$data"
		done < <(find "$PGC_WORK" -name postmaster.pid -type f 2>/dev/null)
	fi
}

###########################################################################
# Clients
###########################################################################

# psql_as [ARGS...]: psql as the server user against PGHOST/PGPORT.
psql_as()
{
	as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
		"$PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 "$@"
}

# psql_db DB SQL: run SQL, print tuples only, unaligned.
psql_db()
{
	psql_as -d "$1" -qAt -c "$2"
}

# wait_for_worker_ready DB [SECONDS]: wait until the pg_continuous worker of
# DB runs.  (It holds a replication slot only while views exist: the first
# create_view waits for it.)  Default 60 s; returns 1 on timeout.
wait_for_worker_ready()
{
	local db=$1 timeout=${2:-60} deadline ready
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		ready=$(psql_db "$db" "
			SELECT EXISTS (SELECT 1 FROM pg_stat_activity
						   WHERE backend_type = 'pg_continuous worker' AND datname = current_database())" 2>/dev/null)
		if [ "$ready" = t ]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# create_test_db DB: (re)create DB from template0 with the settings
# pg_regress gives the databases it creates, so that tests run with
# --use-existing see the same environment.
create_test_db()
{
	local db=$1
	psql_as -d postgres -q <<SQL
DROP DATABASE IF EXISTS "$db";
CREATE DATABASE "$db" TEMPLATE=template0;
ALTER DATABASE "$db" SET lc_messages TO 'C';
ALTER DATABASE "$db" SET lc_monetary TO 'C';
ALTER DATABASE "$db" SET lc_numeric TO 'C';
ALTER DATABASE "$db" SET lc_time TO 'C';
ALTER DATABASE "$db" SET bytea_output TO 'hex';
ALTER DATABASE "$db" SET timezone_abbreviations TO 'Default';
SQL
}

###########################################################################
# Exit handling shared by the scripts
###########################################################################

# remove_work_dir KEEP: remove the temporary directory $PGC_WORK, unless KEEP
# is 1 (then say where it is).
remove_work_dir()
{
	if [ -n "$PGC_WORK" ] && [ -d "$PGC_WORK" ]; then
		if [ "$1" = 1 ]; then
			msg "kept $PGC_WORK"
		else
			rm -rf "$PGC_WORK"
		fi
	fi
}

# trap_exit_signals: run the caller's on_exit at exit, and turn INT, TERM and
# HUP into exits (so on_exit cleans up then too).
trap_exit_signals()
{
	trap on_exit EXIT
	trap 'msg "interrupted"; exit 130' INT
	trap 'msg "terminated"; exit 143' TERM HUP
}
