# The C sources are formatted with the repository's .clang-format: `make
# format` rewrites them, and this test fails on any file that differs, so
# the tree stays in one style.  Skipped without clang-format 14 (Debian
# 12's, which `make test` installs): other versions format differently.
use strict;
use warnings;

use IPC::Run;
use Test::More;

my ($version_out, $err) = ('', '');
my $have = eval {
	IPC::Run::run([ 'clang-format', '--version' ], '>', \$version_out, '2>', \$err);
};
plan skip_all => 'clang-format is not installed' unless $have;
plan skip_all => "clang-format 14 is needed, found: $version_out"
  unless $version_out =~ /version 14\./;

ok(-f '.clang-format', 'the repository has a .clang-format');
my @files = sort(glob('src/*.c'), glob('src/*.h'), glob('src/*/*.c'), glob('src/*/*.h'));
cmp_ok(scalar(@files), '>', 20, 'the C sources are found');

my @differ;
for my $file (@files)
{
	my ($formatted, $stderr) = ('', '');
	IPC::Run::run([ 'clang-format', '--style=file', $file ], '>', \$formatted, '2>', \$stderr)
	  or BAIL_OUT("clang-format failed on $file: $stderr");
	open my $fh, '<', $file or die "could not read $file: $!";
	local $/;
	my $content = <$fh>;
	close $fh;
	push @differ, $file if $content ne $formatted;
}
is_deeply(\@differ, [], 'every C source is formatted (make format)')
  or diag("formatted differently by clang-format: @differ");

done_testing();
