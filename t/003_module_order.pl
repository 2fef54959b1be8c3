# src/README.md lists the modules in dependency order, and a module may use
# only modules listed before it (or itself).  This test keeps that true: it
# reads the order from the README's table, checks that every source file is
# listed and that the Makefile builds them in the same order, and fails on
# any #include of a module listed later, that is on a dependency that runs
# upward or in a circle.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;

my $readme = slurp_file('src/README.md');
my @order;
my $layer = '';
for my $line (split /\n/, $readme)
{
	next unless $line =~ /^\|\s*([^|]*?)\s*\|\s*`([\w.]+)`\s*\|/;
	my ($cell, $file) = ($1, $2);
	$layer = $cell if $cell ne '';
	my $dir = $layer =~ /^`(\w+)\/`$/ ? "$1/" : '';
	(my $module = "$dir$file") =~ s/\.[ch]$//;
	push @order, $module;
}
cmp_ok(scalar(@order), '>', 20, 'src/README.md lists the modules');
my %position;
@position{@order} = (0 .. $#order);

# Headers private to a layer belong to the module that owns them.
my %owner = ('store/store_internal' => 'store/store');

my @sources = sort(glob('src/*.[ch]'), glob('src/*/*.[ch]'));
my @unlisted = grep {
	(my $m = $_) =~ s{^src/}{};
	$m =~ s/\.[ch]$//;
	!defined $position{ $owner{$m} // $m }
} @sources;
is_deeply(\@unlisted, [], 'every source file is in src/README.md')
  or diag("not listed: @unlisted");

my $makefile = slurp_file('Makefile');
my @objs = $makefile =~ m{src/([\w/]+)\.o}g;
my @listed_c = grep { -f "src/$_.c" } @order;
is_deeply(\@objs, \@listed_c, 'the Makefile builds the modules in the README\'s order');

my @upward;
for my $file (@sources)
{
	(my $module = $file) =~ s{^src/}{};
	$module =~ s/\.[ch]$//;
	$module = $owner{$module} // $module;
	next unless defined $position{$module};
	for my $included (slurp_file($file) =~ /^#include "(\w+\/\w+)\.h"/mg)
	{
		my $target = $owner{$included} // $included;
		next unless defined $position{$target};	# a PostgreSQL header
		push @upward, "$file -> $included.h"
		  if $position{$target} > $position{$module};
	}
}
is_deeply(\@upward, [], 'no module includes one listed after it')
  or diag("upward dependencies: @upward");

done_testing();
