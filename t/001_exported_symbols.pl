# The library exports only what PostgreSQL looks up by name: the magic
# block, _PG_init, the output plugin's init function, the background
# workers' entry points, and each C function the install and upgrade
# scripts declare (with its pg_finfo_ record).  Everything else is built
# hidden (-fvisibility=hidden), so no internal name can collide with the
# server's or another extension's.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
my $library = "$pkglibdir/pg_continuous.so";
ok(-f $library, "the installed library is $library") or BAIL_OUT('no library');

my %expected = map { $_ => 1 } qw(Pg_magic_func _PG_init _PG_output_plugin_init
  continuous_launcher_main continuous_worker_main);
my @scripts = glob('pg_continuous--*.sql');
ok(@scripts > 0, 'the install scripts are found');
for my $script (@scripts)
{
	my $sql = slurp_file($script);
	while ($sql =~ /'MODULE_PATHNAME'\s*,\s*'(\w+)'/g)
	{
		$expected{$1} = 1;
		$expected{"pg_finfo_$1"} = 1;
	}
}

my ($stdout, $stderr);
IPC::Run::run([ 'nm', '-D', '--defined-only', $library ], '>', \$stdout, '2>', \$stderr)
  or BAIL_OUT("nm failed: $stderr");
my %exported;
for my $line (split /\n/, $stdout)
{
	# address, type, name; only code and data count (T, D, B, R...)
	my ($type, $name) = $line =~ /^\S+\s+(\S)\s+(\S+)$/ or next;
	$exported{$name} = 1 if $type =~ /[TtDdBbRrVvWwiu]/;
}

my @extra = sort grep { !$expected{$_} } keys %exported;
my @missing = sort grep { !$exported{$_} } keys %expected;
is_deeply(\@extra, [], 'no symbol is exported beyond the list')
  or diag("exported but not expected: @extra");
is_deeply(\@missing, [], 'every symbol PostgreSQL looks up is exported')
  or diag("expected but not exported: @missing");
cmp_ok(scalar(keys %exported), '>=', 7, 'the list is not empty');

done_testing();
