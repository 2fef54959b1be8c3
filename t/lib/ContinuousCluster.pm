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

1;
