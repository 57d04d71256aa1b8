# eci_exec_guard: a second exec of the same report distribution with the
# same recipients inside the window is refused with 409 across workers,
# naming the first request; X-ECI-Allow-Duplicate only where the ACL
# grants allowDuplicateExec.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;

my $t = EciTest->new;

my ($store, $master) = $t->make_keystore;
my $acl = $t->write_acl({
    principals => {
        alice => EciTest::grant('*', '*'),
        ops => { %{ EciTest::grant('*') },
                 allowDuplicateExec => JSON::PP::true() },
    },
});

$t->write_config($t->gateway_config($acl, workers => 2, metrics => 1,
                                    directives => 'eci_exec_guard 2s;'));

$t->start;
my $mock = $t->mock;

sub exec_as {
    my ($who, $target, @h) = @_;
    return $t->request('POST', "/api/v202106/reportdistribution/$target",
                       headers => ['X-Caller' => $who, @h]);
}

sub forwarded { scalar(my @r = $mock->requests) }

my $r1 = exec_as('alice', '42/exec?overrideUserIds=7,8');
is($r1->{status}, 200, 'the first exec goes through');

my $r2 = exec_as('alice', '42/exec?overrideUserIds=8&overrideUserIds=7');
is($r2->{status}, 409, 'the same exec again (same recipients, other order) '
   . 'inside the window: 409');
my $err = $t->json($r2);
is($err->{error}, 'duplicate_exec', 'error duplicate_exec');
like($err->{message}, qr/\Q$r1->{headers}{'x-request-id'}\E/,
     'naming the first request\'s requestId');
is(forwarded(), 1, 'the duplicate was not forwarded');

# several tries: whichever worker takes them, all are refused
my @st = map { exec_as('alice', '42/exec?overrideUserIds=7,8')->{status} }
         1 .. 6;
is_deeply(\@st, [(409) x 6], 'refused across both workers');
is(forwarded(), 1, 'none forwarded');

is(exec_as('alice', '42/exec?overrideUserIds=7')->{status}, 200,
   'other recipients are another exec');
is(exec_as('alice', '42/exec')->{status}, 200,
   'no override is another exec too');
is(exec_as('alice', '43/exec?overrideUserIds=7,8')->{status}, 200,
   'so is another report distribution');
is(forwarded(), 4, 'those three were forwarded');

is(exec_as('alice', '42/exec?overrideUserIds=7,8',
           'X-ECI-Allow-Duplicate' => '1')->{status}, 409,
   'X-ECI-Allow-Duplicate does not bypass without the ACL grant');

is(exec_as('ops', '5/exec')->{status}, 200, 'ops runs 5');
is(exec_as('ops', '5/exec')->{status}, 409, 'ops is guarded too');
is(exec_as('ops', '5/exec', 'X-ECI-Allow-Duplicate' => '1')->{status}, 200,
   'but may send it again with X-ECI-Allow-Duplicate: 1, granted by the ACL');

is(exec_as('alice', '42/exec?overrideUserIds=7,8')->{status}, 409,
   'still refused inside the window');

sleep 2;
select(undef, undef, undef, 0.3);
is(exec_as('alice', '42/exec?overrideUserIds=7,8')->{status}, 200,
   'after the window the exec may run again');

my $m = $t->request('GET', '/metrics')->{body};
like($m, qr/^eci_exec_guard_hits_total 10$/m, 'eci_status counts the hits');
like($m, qr/^eci_requests_total\{decision="deny",error="duplicate_exec"\} 10$/m,
     'and the refusals by error code');

$t->wait_for_lines('audit.log', 1);
my @dups = grep { ($_->{error} // '') eq 'duplicate_exec' }
           $t->audit_lines('audit.log');
is(scalar @dups, 10, 'every refused duplicate is audited');
is($dups[0]{decision}, 'deny', 'as a denial');
is($dups[0]{status}, 409, 'with its status');

$t->done;
done_testing;
