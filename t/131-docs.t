# The docs agree with the tree: docs/development.md's layout list names
# every C source (ngx_eci_module/*.{c,h}, tools/*.c, t/unit/*.{c,h},
# fuzz/*.c, bench/*.c) and nothing that does not exist; the Debian
# package's copyright carries LICENSE's terms.  No nginx: files only.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest ();

my $ROOT = "$FindBin::Bin/..";


# "a.{c,h}" -> a.c, a.h
sub expand {
    my ($name) = @_;
    return ($name) unless $name =~ /^(.*)\{([^}]*)\}(.*)$/;
    my ($pre, $alts, $post) = ($1, $2, $3);
    return map { expand("$pre$_$post") } split /,/, $alts;
}

# The paths the layout block names.  A line is "NAME  what it is"; a NAME
# ending in "/" is a directory, and the lines indented below it are in it.
sub layout_paths {
    my ($text) = @_;
    my ($block) = $text =~ /^## Layout\n.*?^```\n(.*?)^```/ms
        or return;
    my (@dirs, @paths);

    for my $line (split /\n/, $block) {
        my ($indent, $name) = $line =~ /^( *)(\S+)/ or next;
        my $depth = length($indent) / 2;
        splice(@dirs, $depth);
        if ($name =~ m{/$}) {
            push @dirs, $name;
            next;
        }
        push @paths, map { join('', @dirs) . $_ } expand($name);
    }
    return @paths;
}

my @listed = layout_paths(EciTest::slurp("$ROOT/docs/development.md"));
ok(@listed > 20, 'docs/development.md has a layout list ('
                 . scalar(@listed) . ' entries)');

my %listed = map { $_ => 1 } @listed;
my @sources = map { substr($_, length("$ROOT/")) }
              map { glob("$ROOT/$_") }
              qw(ngx_eci_module/*.c ngx_eci_module/*.h tools/*.c
                 t/unit/*.c t/unit/*.h fuzz/*.c bench/*.c);
ok(@sources > 40, 'the tree has its C sources (' . scalar(@sources) . ')');

for my $f (sort @sources) {
    ok($listed{$f}, "the layout list names $f");
}

# a glob such as NNN-topic.t stands for a family of files
my @stale = grep { !/NNN|\*/ && !-e "$ROOT/$_" } @listed;
is_deeply(\@stale, [], 'every file the layout list names exists')
    or diag("listed but not in the tree: @stale");

# the package states the repository's licence, word for word
my $license = EciTest::slurp("$ROOT/LICENSE");
my $copyright = EciTest::slurp("$ROOT/packaging/deb/copyright");
my ($terms) = $license =~ /^(Redistribution and use.*)\z/ms;
ok($terms, 'LICENSE has the BSD-2-Clause terms');
my ($deb) = $copyright =~ /^License: BSD-2-clause\n( Redistribution.*)\z/ms;
ok($deb, 'packaging/deb/copyright has a BSD-2-clause licence paragraph');
if ($deb) {
    (my $plain = $deb) =~ s/^ \.$//mg;
    $plain =~ s/^ //mg;
    is($plain, $terms, "packaging/deb/copyright's terms are LICENSE's");
}
my ($holder) = $license =~ /^Copyright \(C\) (.+)$/m;
like($copyright, qr/^Copyright: \Q$holder\E$/m,
     'packaging/deb/copyright names the holder LICENSE names');

done_testing;
