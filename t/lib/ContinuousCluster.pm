# t/lib/ContinuousCluster.pm: servers configured for pg_continuous in TAP tests.
#
#   use lib 't/lib';          # scripts/run-tests.sh puts t/lib on PERL5LIB already
#   use ContinuousCluster;
#
#   my $node = ContinuousCluster::new_node('main', 'continuous.checkpoint_interval' => '1s');
#   $node->safe_psql('postgres', 'CREATE EXTENSION pg_continuous');
#   ok(ContinuousCluster::wait_for_worker($node, 'postgres'), 'worker runs');
#
# new_node() returns a started PostgreSQL::Test::Cluster with the settings the
# extension needs: shared_preload_libraries, wal_level = logical, enough slots
# and worker processes, and, on servers that have it (15.19 and later),
# output_plugin_libraries including pg_continuous.  Extra settings are given
# as name => value pairs and come last, so they override the defaults.
# Pass the pseudo-setting '_start' => 0 to get the node initialized but not
# started (append more configuration, then $node->start).
#
# Helpers for tests that restart, crash and reconfigure servers (each takes
# the node first; $db is a database name):
#
#   worker_pid($node, $db)         pid of $db's worker, or undef
#   wait_for_new_worker($node, $db, $old_pid [, $timeout_s])
#                                  after a crash or restart: wait until the
#                                  server accepts connections and $db has a
#                                  worker whose pid is not $old_pid; 1 or 0
#   wait_until($node, $db, $query [, $timeout_s])
#                                  poll until $query returns 't' (default
#                                  60 s, shorter than poll_query_until's);
#                                  1, or 0 with a diagnostic
#   set_config($node, name => value, ...)
#                                  ALTER SYSTEM SET each (RESET when value is
#                                  undef), then reload
#   slot_name($node, $db)          the name of $db's worker slot,
#                                  pg_continuous_<database oid>
#   lsn_value($lsn)                an LSN 'X/Y' as a number, for comparisons
#   log_lsns($node, $offset, $regex)
#                                  every LSN captured by $regex (one capture
#                                  group) in the server log after byte $offset
#   query_rows($node, $db, $sql [, $order_by])
#                                  rows of $sql as arrays (undef for NULL),
#                                  ordered by $order_by (column names) if
#                                  given; returns (\@rows, undef) or
#                                  (undef, error text)
#   view_diff($node, $db, $view, $query, $order_by)
#                                  compares SELECT * FROM $view with $query
#                                  (same columns; rows matched by order after
#                                  ORDER BY $order_by, which must name the
#                                  group keys; undef for one-row views);
#                                  returns difference messages, none when
#                                  equal.  Values compare as text, except
#                                  that two numbers of which one is written
#                                  with a decimal point or exponent (a float
#                                  or numeric) may differ by a relative 1e-9
#   view_equals_ok($node, $db, $view, $query, $order_by, $name)
#                                  one test: view_diff finds nothing

package ContinuousCluster;

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# The settings every server for pg_continuous needs, as name => value.
# PGC_NO_PRELOAD=1 leaves shared_preload_libraries out; it exists only to
# test the test scripts before the library builds.
sub required_settings
{
	my @settings = (
		wal_level             => 'logical',
		max_replication_slots => '10',
		max_worker_processes  => '16',
		max_wal_senders       => '10',
		max_connections       => '30',
		shared_buffers        => '16MB',
		lc_messages           => 'C',
	);
	push @settings, shared_preload_libraries => 'pg_continuous'
	  unless $ENV{PGC_NO_PRELOAD};
	return @settings;
}

# Quote a value for postgresql.conf: every setting accepts a quoted string.
sub conf_quote
{
	my ($value) = @_;
	$value =~ s/'/''/g;
	return "'$value'";
}

# Does this server know the output_plugin_libraries setting?  It exists from
# PostgreSQL 15.19 on; on older minors naming it would stop the server from
# starting.  Asks "postgres -C", which reads the data directory's config.
sub knows_output_plugin_libraries
{
	my ($node) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[
			$node->installed_command('postgres'), '-D',
			$node->data_dir, '-C', 'output_plugin_libraries'
		],
		'>', \$out, '2>', \$err);
	return $ok ? 1 : 0;
}

# new_node($name, %extra_conf): init, configure, start; returns the node.
sub new_node
{
	my ($name, %extra_conf) = @_;
	my $start = exists $extra_conf{_start} ? delete $extra_conf{_start} : 1;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(
		allows_streaming => 'logical',
		extra            => [ '--locale=C', '--encoding=UTF8' ]);

	my @settings = required_settings();
	push @settings,
	  output_plugin_libraries => 'pgoutput, test_decoding, pg_continuous'
	  if knows_output_plugin_libraries($node);

	my $conf = "\n# pg_continuous (t/lib/ContinuousCluster.pm)\n";
	while (my ($guc, $value) = splice(@settings, 0, 2))
	{
		$conf .= "$guc = " . conf_quote($value) . "\n";
	}
	foreach my $guc (sort keys %extra_conf)
	{
		$conf .= "$guc = " . conf_quote($extra_conf{$guc}) . "\n";
	}
	$node->append_conf('postgresql.conf', $conf);

	$node->start if $start;
	return $node;
}

# wait_for_worker($node, $db [, $timeout_s]): poll pg_stat_activity until a
# pg_continuous worker is connected to $db.  Returns 1 when it is, 0 (with a
# diagnostic) after the timeout, 60 s by default.  Use as
# ok(wait_for_worker($node, 'postgres'), 'worker started').
sub wait_for_worker
{
	my ($node, $db, $timeout_s) = @_;
	$timeout_s //= 60;
	my $quoted_db = $db;
	$quoted_db =~ s/'/''/g;
	my $query =
	    "SELECT count(*) FROM pg_stat_activity "
	  . "WHERE backend_type = 'pg_continuous worker' AND datname = '$quoted_db'";
	my $deadline = time() + $timeout_s;
	while (time() < $deadline)
	{
		my ($rc, $out, $err) = $node->psql('postgres', $query);
		return 1 if $rc == 0 && defined $out && $out =~ /^\s*[1-9]/;
		usleep(200_000);
	}
	diag("no pg_continuous worker for database \"$db\" after ${timeout_s}s");
	return 0;
}

# worker_pid($node, $db): the pid of $db's pg_continuous worker, or undef
# when none runs (or the server does not answer).
sub worker_pid
{
	my ($node, $db) = @_;
	my $quoted_db = $db;
	$quoted_db =~ s/'/''/g;
	my ($rc, $out, $err) = $node->psql('postgres',
		    "SELECT pid FROM pg_stat_activity "
		  . "WHERE backend_type = 'pg_continuous worker' AND datname = '$quoted_db'");
	return undef unless $rc == 0 && defined $out && $out =~ /^\s*(\d+)\s*$/;
	return $1;
}

# wait_for_new_worker($node, $db, $old_pid [, $timeout_s]): after a crash,
# an immediate shutdown or a restart, poll until the server accepts
# connections again and $db has a worker other than $old_pid (undef: any
# worker).  Until the postmaster has reset shared memory after a crash,
# pg_stat_activity may still list the dead worker; requiring a new pid skips
# that.  Returns 1, or 0 with a diagnostic after $timeout_s (default 60).
sub wait_for_new_worker
{
	my ($node, $db, $old_pid, $timeout_s) = @_;
	$timeout_s //= 60;
	my $deadline = time() + $timeout_s;
	while (time() < $deadline)
	{
		my $pid = worker_pid($node, $db);
		return 1 if defined $pid && (!defined $old_pid || $pid != $old_pid);
		usleep(100_000);
	}
	diag("no new pg_continuous worker for database \"$db\" after ${timeout_s}s"
		  . (defined $old_pid ? " (old pid $old_pid)" : ''));
	return 0;
}

# wait_until($node, $db, $query [, $timeout_s]): poll every 0.1 s until
# $query returns 't'; errors (the server restarting) count as not yet.
# Returns 1, or 0 after $timeout_s (default 60) with the last output.
sub wait_until
{
	my ($node, $db, $query, $timeout_s) = @_;
	$timeout_s //= 60;
	my $deadline = time() + $timeout_s;
	my ($rc, $out, $err);
	while (time() < $deadline)
	{
		($rc, $out, $err) = $node->psql($db, $query);
		return 1 if $rc == 0 && defined $out && $out eq 't';
		usleep(100_000);
	}
	diag("timed out after ${timeout_s}s waiting for: $query\n"
		  . 'last output: ' . ($out // '') . "\nstderr: " . ($err // ''));
	return 0;
}

# set_config($node, name => value, ...): ALTER SYSTEM SET name = value for
# each pair (ALTER SYSTEM RESET name when value is undef), then reload.
# Dies when a setting is refused (say, the server does not know it).
sub set_config
{
	my ($node, @pairs) = @_;
	my $sql = '';
	while (my ($guc, $value) = splice(@pairs, 0, 2))
	{
		if (defined $value)
		{
			my $quoted = $value;
			$quoted =~ s/'/''/g;
			$sql .= "ALTER SYSTEM SET $guc = '$quoted';\n";
		}
		else
		{
			$sql .= "ALTER SYSTEM RESET $guc;\n";
		}
	}
	$sql .= "SELECT pg_reload_conf();\n";
	$node->safe_psql('postgres', $sql);
	return;
}

# slot_name($node, $db): the replication slot of $db's worker.
sub slot_name
{
	my ($node, $db) = @_;
	my $quoted_db = $db;
	$quoted_db =~ s/'/''/g;
	return $node->safe_psql('postgres',
		"SELECT 'pg_continuous_' || oid FROM pg_database WHERE datname = '$quoted_db'");
}

# lsn_value($lsn): 'X/Y' (hexadecimal halves) as one number; undef stays
# undef.  Perl's integers are 64 bits wide where these tests run.
sub lsn_value
{
	my ($lsn) = @_;
	return undef unless defined $lsn && $lsn =~ m{^\s*([0-9A-Fa-f]+)/([0-9A-Fa-f]+)\s*$};
	return hex($1) * 4294967296 + hex($2);
}

# log_lsns($node, $offset, $regex): the LSNs that $regex captures (its first
# group) in the server log from byte $offset on, in order.
sub log_lsns
{
	my ($node, $offset, $regex) = @_;
	my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset);
	my @lsns;
	while ($log =~ /$regex/g)
	{
		push @lsns, $1;
	}
	return @lsns;
}

# psql output for query_rows: fields and records split by control
# characters the data never holds, and a NULL marker no value can equal.
my $QR_FS   = "\x1f";
my $QR_RS   = "\x1e";
my $QR_NULL = "\x01NULL\x01";

# query_rows($node, $db, $sql [, $order_by]): see the header.
sub query_rows
{
	my ($node, $db, $sql, $order_by) = @_;
	my $query = "SELECT 'R' AS r_marker_, * FROM ($sql) AS q";
	$query .= " ORDER BY $order_by" if defined $order_by;
	my ($rc, $out, $err) = $node->psql(
		$db, $query,
		timeout      => $PostgreSQL::Test::Utils::timeout_default,
		extra_params => [ '-F', $QR_FS, '-R', $QR_RS, '-P', "null=$QR_NULL" ]);
	$out //= '';
	$err //= '';
	return (undef, "psql exit code $rc: $err") if $rc != 0;
	return (undef, "unexpected messages: $err") if $err =~ /WARNING|ERROR/;
	my @rows;
	foreach my $rec (split(/$QR_RS/, $out))
	{
		my @f = split(/$QR_FS/, $rec, -1);
		my $marker = shift @f;
		return (undef, "malformed output record: $rec")
		  unless defined $marker && $marker eq 'R';
		push @rows, [ map { $_ eq $QR_NULL ? undef : $_ } @f ];
	}
	return (\@rows, undef);
}

sub show_row
{
	my ($row) = @_;
	return '(none)' unless $row;
	return '(' . join(', ', map { defined $_ ? "'$_'" : 'NULL' } @$row) . ')';
}

# Do two output values match?  Text equality, or for numbers of which one
# is written with a decimal point or an exponent, a relative 1e-9.
sub value_close
{
	my ($got, $want) = @_;
	return !defined $want if !defined $got;
	return 0 if !defined $want;
	return 1 if $got eq $want;
	my $num = qr/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
	return 0 unless $got =~ $num && $want =~ $num;
	return 0 unless "$got$want" =~ /[.eE]/;
	my $scale = abs($got) > abs($want) ? abs($got) : abs($want);
	return abs($got - $want) <= 1e-9 * $scale;
}

# view_diff($node, $db, $view, $query, $order_by): see the header.
sub view_diff
{
	my ($node, $db, $view, $query, $order_by) = @_;
	my ($vrows, $verr) = query_rows($node, $db, "SELECT * FROM $view", $order_by);
	return ("reading $view failed: $verr") if $verr;
	my ($orows, $oerr) = query_rows($node, $db, $query, $order_by);
	return ("the defining query failed: $oerr") if $oerr;
	my @diffs;
	push @diffs, scalar(@$vrows) . ' rows in the view, ' . scalar(@$orows) . ' from the query'
	  if @$vrows != @$orows;
	my $n = @$vrows > @$orows ? scalar @$vrows : scalar @$orows;
	for my $i (0 .. $n - 1)
	{
		my ($got, $want) = ($vrows->[$i], $orows->[$i]);
		my $same = $got && $want && @$got == @$want;
		if ($same)
		{
			for my $c (0 .. $#$got)
			{
				$same = 0 unless value_close($got->[$c], $want->[$c]);
			}
		}
		push @diffs, "row " . ($i + 1) . ": view " . show_row($got) . ' query ' . show_row($want)
		  unless $same;
	}
	return @diffs;
}

# view_equals_ok($node, $db, $view, $query, $order_by, $name): one test.
sub view_equals_ok
{
	my ($node, $db, $view, $query, $order_by, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @diffs = view_diff($node, $db, $view, $query, $order_by);
	my $ok = ok(!@diffs, $name);
	if (!$ok)
	{
		my $count = @diffs;
		splice(@diffs, 10) if @diffs > 10;
		diag(join("\n", "$view: $count differences", "  query: $query", map { "  $_" } @diffs));
	}
	return $ok;
}

1;
