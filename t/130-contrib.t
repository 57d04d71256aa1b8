#!/usr/bin/perl

# The alerts and the dashboard that ship with the module (issue 15):
# promtool checks the rules and runs their unit tests, and every metric the
# rules and the dashboard use is one that eci_status serves.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;

my $t = EciTest->new;
my $root = $t->root;
my $rules = "$root/contrib/prometheus/alerts.yml";
my $dash  = "$root/contrib/grafana/ngx_eci.json";

my $promtool = `command -v promtool 2>/dev/null`;
chomp $promtool;

if ($promtool eq '') {
    # CI installs Debian's prometheus package, which has promtool
    if ($ENV{CI}) {
        fail('promtool is installed (apt-get install prometheus)');
        done_testing;
        exit;
    }
    plan skip_all => 'promtool is missing: apt-get install prometheus';
}

{
    my ($rc, $out) = $t->_run([$promtool, 'check', 'rules', $rules]);
    is($rc, 0, 'promtool check rules: the rules are valid') or diag $out;
    like($out, qr/SUCCESS: (\d+) rules found/, 'promtool found the rules');

    ($rc, $out) = $t->_run(['sh', '-c', 'cd "$1" && exec "$2" test rules '
                            . 'alerts_test.yml', 'sh',
                            "$root/contrib/prometheus", $promtool]);
    is($rc, 0, 'promtool test rules: every alert fires when it should and '
       . 'not before') or diag $out;
}

# what eci_status serves: its "# TYPE" lines
my ($store, $master) = $t->make_keystore;
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

$t->write_config($t->gateway_config($acl, access_log => 'off', metrics => 1,
                                    directives => 'eci_exec_guard 60s;'));
$t->start;

my $body = $t->request('GET', '/metrics')->{body} // '';
my %served = map { $_ => 1 } $body =~ /^# TYPE (eci_\w+) /mg;
ok(scalar(keys %served) >= 10, 'eci_status serves its metrics ('
   . scalar(keys %served) . ')');

for my $file ($rules, $dash) {
    open(my $fh, '<', $file) or die "$file: $!";
    local $/;
    my $text = <$fh>;
    close $fh;

    # a metric selector: the name followed by its labels or a range
    my %used = map { $_ => 1 } $text =~ /\b(eci_[a-z_]+)(?=[{\[])/g;
    my $name = $file =~ s{.*/contrib/}{contrib/}r;
    ok(scalar(keys %used) >= 5, "$name uses eci_status's metrics ("
       . scalar(keys %used) . ')');
    is_deeply([sort grep { !$served{$_} } keys %used], [],
              "$name uses only metrics eci_status serves");
}

$t->done;
done_testing;
