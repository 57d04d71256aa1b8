# Reload under load: while a background client sends a bounded stream of
# allowed execs, a reload with a broken ACL, a reload with a tampered
# keystore and a key rotation (eci-keytool set + reload) fail no request;
# across the rotation the upstream sees the old key, then the new one,
# never none.  The audit chain verifies afterwards.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use File::Copy ();
use POSIX ();
use Time::HiRes ();

my $OLD  = 'eci-reload-old-key-0a1b2c3d';
my $NEW  = 'eci-reload-new-key-9f8e7d6c';
my $EXEC = $EciTest::EXEC;
my $N    = 150;         # requests in each stream
my $GAP  = 0.015;       # seconds between them: about 3 s a stream

my $t = EciTest->new;
$t->requires_master;

my ($store, $master) = $t->make_keystore(keys => { default => $OLD });
my $good_acl = {
    principals => {
        alice => EciTest::grant('*'),
    },
};
my $acl = $t->write_acl($good_acl);

$t->write_config($t->gateway_config($acl, workers => 2, location => '/',
                                    keepalive => 1));

$t->start;
my $mock = $t->mock;
my $total = 0;

# A child sends $N execs one after another and writes "i status" lines.
sub start_stream {
    my ($name) = @_;
    my $file = $t->path("stream-$name.txt");
    unlink $file;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(my $fh, '>>', $file) or POSIX::_exit(1);
        $fh->autoflush(1);
        for my $i (1 .. $N) {
            my $r = $t->request('POST', "$EXEC/" . (100 + $i) . '/exec',
                                headers => ['X-Caller' => 'alice'], timeout => 10);
            print $fh "$i " . ($r->{status} // 'none') . "\n";
            Time::HiRes::sleep($GAP);
        }
        close $fh;
        POSIX::_exit(0);
    }
    $total += $N;
    return { pid => $pid, file => $file, name => $name };
}

sub stream_lines {
    my ($s) = @_;
    open(my $fh, '<', $s->{file}) or return ();
    my @l = <$fh>;
    close $fh;
    return grep { /\n\z/ } @l;
}

sub wait_lines {
    my ($s, $n) = @_;
    my $deadline = Time::HiRes::time() + 20;
    while (Time::HiRes::time() < $deadline) {
        my @l = stream_lines($s);
        last if @l >= $n;
        Time::HiRes::sleep(0.02);
    }
}

sub finish_stream {
    my ($s) = @_;
    my $deadline = Time::HiRes::time() + 60;
    while (waitpid($s->{pid}, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $s->{pid};
            waitpid($s->{pid}, 0);
            last;
        }
        Time::HiRes::sleep(0.05);
    }
    my @l = stream_lines($s);
    my @failed = grep { !/^\d+ 200$/ } @l;
    is(scalar @l, $N, "$s->{name}: every request of the stream was answered");
    is(scalar @failed, 0, "$s->{name}: zero failed requests")
        or diag(join '', @failed[0 .. ($#failed < 4 ? $#failed : 4)]);
}

sub wait_log {
    my ($re) = @_;
    my $deadline = Time::HiRes::time() + 10;
    Time::HiRes::sleep(0.05)
        until $t->error_log =~ $re || Time::HiRes::time() > $deadline;
    return $t->error_log =~ $re;
}


# --- (1) a reload with a broken ACL ------------------------------------------

{
    my @workers = $t->worker_pids;
    my $s = start_stream('broken ACL');
    wait_lines($s, 30);
    $t->allow_log(qr/\[emerg\].*eci_acl "\Q$acl\E"/);
    $t->write_acl('{"principals": {"alice": {"permissions": [' . "\n");
    kill 'HUP', $t->master_pid;
    ok(wait_log(qr/\[emerg\].*eci_acl "\Q$acl\E"/),
       'broken ACL: the reload fails naming the ACL');
    wait_lines($s, 60);
    is_deeply([$t->worker_pids], \@workers, 'broken ACL: the running workers keep serving');
    $t->write_acl($good_acl);
    finish_stream($s);
}


# --- (2) a reload with a tampered keystore -----------------------------------

{
    my @workers = $t->worker_pids;
    File::Copy::copy($store, "$store.good") or die "copy: $!";
    my $s = start_stream('tampered keystore');
    wait_lines($s, 30);
    my $before = () = $t->error_log =~ /\[emerg\]/g;
    $t->allow_log(qr/\[emerg\].*eci_keystore/);
    {
        open(my $fh, '+<:raw', $store) or die "$store: $!";
        seek($fh, 40, 0);
        read($fh, my $b, 1);
        seek($fh, 40, 0);
        print $fh chr(ord($b) ^ 0x01);
        close $fh;
    }
    kill 'HUP', $t->master_pid;
    my $deadline = Time::HiRes::time() + 10;
    Time::HiRes::sleep(0.05)
        until (() = $t->error_log =~ /\[emerg\]/g) > $before
              || Time::HiRes::time() > $deadline;
    like((split /\n/, $t->error_log)[-1] // '', qr/\[emerg\].*eci_keystore/,
         'tampered keystore: the reload fails naming the keystore');
    wait_lines($s, 60);
    is_deeply([$t->worker_pids], \@workers,
              'tampered keystore: the running workers keep serving');
    File::Copy::copy("$store.good", $store) or die "copy: $!";
    chmod 0600, $store;
    finish_stream($s);
}


# --- (3) key rotation under load ---------------------------------------------

{
    $mock->clear;
    my $s = start_stream('key rotation');
    wait_lines($s, 50);
    my ($rc, $out) = $t->_run([$t->keytool, 'set', $store, '--master', $master,
                               '--name', 'default'], stdin => $NEW);
    is($rc, 0, 'rotation: eci-keytool set replaces the default key') or diag($out);
    ok($t->reload, 'rotation: the reload brings new workers');
    finish_stream($s);

    my @keys = map { my @k = MockEci::header_values($_, 'ECI-ApiKey');
                     @k == 1 ? ($k[0] eq $OLD ? 'old' : $k[0] eq $NEW ? 'new' : 'other')
                             : 'count' . scalar @k } $mock->requests;
    is(scalar @keys, $N, 'rotation: every exec reached the upstream');
    is(scalar(grep { !/^(old|new)\z/ } @keys), 0,
       'rotation: each exec carried exactly one key, the old or the new');
    # During nginx's graceful hand-over old and new workers both accept
    # for a moment, so old and new may interleave there; before it only the
    # old key goes upstream, after it only the new one, and never none.
    my $seq = join ' ', @keys;
    like($seq, qr/\A(?:old )+(?:(?:old|new) )*new(?: new){9,}\z/,
         'rotation: the upstream saw the old key, then the new one for good');
}


# --- the audit ---------------------------------------------------------------

{
    $t->wait_for_lines('audit.log', 2 * $total);
    my @l = $t->audit_lines('audit.log');
    my @res = grep { $_->{event} eq 'result' } @l;
    my %intent = map { $_->{requestId} => 1 } grep { $_->{event} eq 'intent' } @l;
    is(scalar @res, $total, 'every request has its result line');
    is(scalar(grep { !$intent{$_->{requestId}} } @res), 0,
       'every exec has its intent line');
    is(scalar(grep { $_->{status} != 200 } @res), 0, 'every result is a 200');
    my @all = $t->audit_lines('audit.log', all => 1);
    my @seq = map { $_->{seq} } @all;
    is_deeply(\@seq, [1 .. scalar @all],
              'one gapless sequence across reloads');

    my ($rc, $out) = $t->verify($t->pubkey($store, $master),
                                $t->path('audit.log'));
    is($rc, 0, 'the audit chain verifies after the reloads and the rotation')
        or diag($out);
}

$t->stop;
my $all = join '', map { -f $_ ? do { local (@ARGV, $/) = ($_); <> } : '' }
                   $t->path('audit.log'), $t->path('error.log'),
                   $t->path('access.log');
unlike($all, qr/\Q$OLD\E|\Q$NEW\E/, 'neither key is in the audit, access or error log');

$t->done;
done_testing;
