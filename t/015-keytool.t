#!/usr/bin/perl

# eci-keytool: master keys, sealed stores, and that no key ever leaves
# standard input for argv, the output or the store file in the clear.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Spec;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use POSIX qw(_exit);
use Test::More;
use EciTest ();

my $root = File::Spec->catdir($FindBin::Bin, File::Spec->updir);
my $keytool = $ENV{ECI_TEST_KEYTOOL}
    || File::Spec->catfile($root, 'build', 'eci-keytool');

plan(skip_all => "$keytool not built (make build/eci-keytool)")
    unless -x $keytool;

my $dir = tempdir('eci-keytool-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $KEY = 'sk-live-Zq9.x_7~k3Y!p4ss';
my $KEY2 = 'sk-other-0123456789abcdef';

# runs eci-keytool with $stdin on standard input; no shell in between
sub keytool {
    my ($stdin, @args) = @_;

    my $in = "$dir/.stdin";
    my $out = "$dir/.stdout";
    my $err = "$dir/.stderr";

    open(my $fh, '>', $in) or die "$in: $!";
    print $fh $stdin // '';
    close($fh);

    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        open(STDIN, '<', $in) or _exit(127);
        open(STDOUT, '>', $out) or _exit(127);
        open(STDERR, '>', $err) or _exit(127);
        exec($keytool, @args) or _exit(127);
    }

    waitpid($pid, 0);
    my $rc = $? >> 8;

    return ($rc, EciTest::slurp($out), EciTest::slurp($err));
}


sub mode { return (stat($_[0]))[2] & 07777 }

sub fpr { return substr(sha256_hex($_[0]), 0, 16) }

my ($rc, $out, $err);

my $master = "$dir/master.key";
my $store = "$dir/keys.sealed";

# help

($rc, $out) = keytool(undef, '--help');
is($rc, 0, '--help exits 0');
like($out, qr/^  eci-keytool \Q$_\E /m, "--help lists $_")
    for qw(genmaster set list remove rekey audit-key);
unlike($out, qr/\bget\b/, 'there is no command that prints a key');

for my $cmd (qw(genmaster set list remove rekey audit-key)) {
    ($rc, $out) = keytool(undef, $cmd, '--help');
    is($rc, 0, "$cmd --help exits 0");
    like($out, qr/^usage: eci-keytool \Q$cmd\E/, "$cmd --help shows usage");
}

($rc, $out, $err) = keytool(undef, 'frobnicate');
is($rc, 2, 'unknown command is a usage error');
like($err, qr/^eci-keytool: unknown command "frobnicate"/, 'and says so');

($rc) = keytool(undef);
is($rc, 2, 'no command is a usage error');

# genmaster

($rc, $out, $err) = keytool(undef, 'genmaster', $master);
is($rc, 0, 'genmaster') or diag($err);
is(mode($master), 0400, 'master key file has mode 0400');
is(-s $master, 32, 'master key is 32 bytes');

my $before = EciTest::slurp($master);
($rc, $out, $err) = keytool(undef, 'genmaster', $master);
is($rc, 1, 'genmaster refuses an existing file');
like($err, qr/^eci-keytool: "\Q$master\E": already exists/, 'and says so');
is(EciTest::slurp($master), $before, 'the existing master key is untouched');

($rc) = keytool(undef, 'genmaster');
is($rc, 2, 'genmaster without FILE is a usage error');

# set and list

($rc, $out, $err) = keytool("$KEY\n", 'set', $store, '--master', $master);
is($rc, 0, 'set reads the key from standard input') or diag($err);
is($out, qq{created "$store" with an "audit-signing" key to sign the audit }
        . qq{chain\n}
        . 'set "default" (fingerprint ' . fpr($KEY) . ")\n",
   'set prints the name and the fingerprint (trailing newline dropped), '
   . 'and that a new store got its audit signing key');
unlike($out . $err, qr/\Q$KEY\E/, 'set does not print the key');

is(mode($store), 0600, 'store has mode 0600');
my $sealed = EciTest::slurp($store);
is(substr($sealed, 0, 12), "ECIKSTR\0\x01\x01\0\0", 'store is sealed, v1');
unlike($sealed, qr/\Q$KEY\E/, 'the key is not in the store file');
unlike($sealed, qr/default/, 'nor is its name');
my @tmp = glob("$dir/*.tmp.*");
is(scalar(@tmp), 0, 'no temporary file left behind');

($rc, $out, $err) = keytool($KEY2, 'set', $store, '--master', $master,
                            '--name', 'svc.reporting-2');
is($rc, 0, 'set a second key without a trailing newline') or diag($err);
is($out, 'set "svc.reporting-2" (fingerprint ' . fpr($KEY2) . ")\n",
   'second fingerprint');

($rc, $out, $err) = keytool(undef, 'list', $store, '--master', $master);
is($rc, 0, 'list') or diag($err);
like($out, qr/^audit-signing  [0-9a-f]{16}\n/,
     'list shows the audit signing key a new store got');
$out =~ s/^audit-signing  [0-9a-f]{16}\n//;
is($out, "default  " . fpr($KEY) . "\nsvc.reporting-2  " . fpr($KEY2) . "\n",
   'list shows names and fingerprints in name order');

# the audit signing key

($rc, $out, $err) = keytool(undef, 'audit-key', $store, '--master', $master);
is($rc, 1, 'audit-key never replaces an existing signing key');
like($err, qr/already has an "audit-signing" key/, 'and says why');

# the audit's own keys are never set by name: set would replace them with
# whatever standard input holds
for my $name ('audit-signing', 'audit-chain') {
    my ($before) = keytool(undef, 'list', $store, '--master', $master);
    ($rc, $out, $err) = keytool("attacker-chosen-value\n", 'set', $store,
                                '--master', $master, '--name', $name);
    is($rc, 1, "set --name $name is refused");
    like($err, qr/"\Q$name\E" is a key of the audit, not an ECI API key/,
         'saying why');
    my (undef, $after) = keytool(undef, 'list', $store, '--master', $master);
    unlike($after, qr/^\Q$name\E  \Q@{[ fpr('attacker-chosen-value') ]}\E/m,
           "and $name does not hold the value given");
}

# pubkey: the public key for auditors, as PEM, and nothing secret
($rc, $out, $err) = keytool(undef, 'pubkey', $store, '--master', $master);
is($rc, 0, 'pubkey') or diag($err);
like($out, qr/\A-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+\/=]+\n-----END PUBLIC KEY-----\n\z/,
     'prints one PEM public key');
my $pem_file = "$dir/audit.pub";
open(my $pfh, '>', $pem_file) or die;
print $pfh $out;
close $pfh;
my $der = `openssl pkey -pubin -in $pem_file -noout -text 2>&1`;
like($der, qr/ED25519 Public-Key/i, 'an Ed25519 key, as openssl reads it');
my ($rc2, $out2) = keytool(undef, 'pubkey', $store, '--master', $master);
is($out2, $out, 'the same key every time');

# a store from before the signed chain: only the old HMAC key
my $old = "$dir/old.sealed";
keytool("x\n", 'set', $old, '--master', $master);
keytool(undef, 'remove', $old, '--master', $master, '--name',
        'audit-signing');
($rc, $out, $err) = keytool(undef, 'pubkey', $old, '--master', $master);
is($rc, 1, 'pubkey of a store without a signing key fails');
like($err, qr/has no "audit-signing" key; add one with eci-keytool audit-key/,
     'and says how to make one');
($rc, $out, $err) = keytool(undef, 'audit-key', $old, '--master', $master);
is($rc, 0, 'audit-key adds the signing key to an old store') or diag($err);
like($out, qr/^set "audit-signing" \(fingerprint [0-9a-f]{16}\)/,
     'and prints its fingerprint only');
($rc) = keytool(undef, 'pubkey', $old, '--master', $master);
is($rc, 0, 'whose public key can then be exported');
unlike($out . $err, qr/\Q$KEY\E|\Q$KEY2\E/, 'list does not print keys');

isnt(EciTest::slurp($store), $sealed, 'the store was rewritten');

# a key can only come from standard input

($rc, $out, $err) = keytool(undef, 'set', $store, '--master', $master,
                            "--key=$KEY2");
is($rc, 2, '--key is an unknown option');
like($err, qr/unknown option "--key"/, 'and says so');
unlike($err, qr/\Q$KEY2\E/, 'without echoing the key');

($rc, $out, $err) = keytool(undef, 'set', $store, $KEY2, '--master', $master);
is($rc, 2, 'a key as an argument is a usage error');
unlike($err, qr/\Q$KEY2\E/, 'without echoing the key');

($rc, $out, $err) = keytool('', 'set', $store, '--master', $master);
is($rc, 1, 'empty standard input is refused');
like($err, qr/^eci-keytool: no key on standard input/, 'and says so');

($rc, $out, $err) = keytool("\n", 'set', $store, '--master', $master);
is($rc, 1, 'a lone newline is refused');

($rc, $out, $err) = keytool("sk-live with space\n", 'set', $store,
                            '--master', $master);
is($rc, 1, 'a key with a space is refused');
like($err, qr/printable ASCII characters without spaces/, 'and says why');
unlike($err, qr/sk-live/, 'without echoing the key');

($rc, $out, $err) = keytool(('x' x 1025), 'set', $store,
                            '--master', $master);
is($rc, 1, 'a key over 1024 bytes is refused');
like($err, qr/longer than 1024 bytes/, 'and says so');

($rc, $out, $err) = keytool(('y' x 1024) . "\n", 'set', $store,
                            '--master', $master, '--name', 'long');
is($rc, 0, 'a key of 1024 bytes and a newline is accepted') or diag($err);

($rc, $out, $err) = keytool("$KEY\n", 'set', $store, '--master', $master,
                            '--name', 'bad name');
is($rc, 1, 'a bad name is refused');
like($err, qr/invalid key name/, 'and says so');

($rc, $out, $err) = keytool("$KEY\n", 'set', $store);
is($rc, 2, 'set without --master is a usage error');

# remove

($rc, $out, $err) = keytool(undef, 'remove', $store, '--master', $master,
                            '--name', 'long');
is($rc, 0, 'remove') or diag($err);
is($out, "removed \"long\"\n", 'remove says what it removed');

($rc, $out, $err) = keytool(undef, 'remove', $store, '--master', $master,
                            '--name', 'long');
is($rc, 1, 'removing an absent key fails');
like($err, qr/^eci-keytool: "\Q$store\E": no key named "long"/,
     'and says so');

($rc) = keytool(undef, 'remove', $store, '--master', $master);
is($rc, 2, 'remove needs --name');

# wrong master

my $other = "$dir/other.key";
keytool(undef, 'genmaster', $other);

$before = EciTest::slurp($store);
($rc, $out, $err) = keytool(undef, 'list', $store, '--master', $other);
is($rc, 1, 'list with the wrong master key fails');
like($err, qr/^eci-keytool:\ "\Q$store\E":\ cannot\ unseal:
             \ wrong\ master\ key\ or\ the\ file\ was\ modified$/mx,
     'with a clear message');
unlike($out . $err, qr/\Q$KEY\E|\Q$KEY2\E/, 'not containing a key');

($rc, $out, $err) = keytool("sk-new\n", 'set', $store, '--master', $other);
is($rc, 1, 'set with the wrong master key fails');
is(EciTest::slurp($store), $before, 'and leaves the store untouched');

# rekey

my $new = "$dir/new.key";
keytool(undef, 'genmaster', $new);

($rc, $out, $err) = keytool(undef, 'rekey', $store, '--master', $master,
                            '--new-master', $new);
is($rc, 0, 'rekey') or diag($err);
is(mode($store), 0600, 'rekeyed store has mode 0600');

($rc, $out, $err) = keytool(undef, 'list', $store, '--master', $master);
is($rc, 1, 'the old master no longer opens the store');
like($err, qr/cannot unseal: wrong master key/, 'and says so');

($rc, $out, $err) = keytool(undef, 'list', $store, '--master', $new);
is($rc, 0, 'the new master opens it');
$out =~ s/^audit-signing  [0-9a-f]{16}\n//;
is($out, "default  " . fpr($KEY) . "\nsvc.reporting-2  " . fpr($KEY2) . "\n",
   'with the same keys');

($rc) = keytool(undef, 'rekey', $store, '--master', $new);
is($rc, 2, 'rekey needs --new-master');

# master key file formats and modes

my $hex = "$dir/hex.key";
open(my $fh, '>', $hex) or die;
print $fh unpack('H*', EciTest::slurp($new)), "\n";
close($fh);
chmod(0440, $hex);

($rc, $out, $err) = keytool(undef, 'list', $store, '--master', $hex);
is($rc, 0, 'a master of 64 hex digits and a newline, mode 0440, works')
    or diag($err);

chmod(0644, $hex);
($rc, $out, $err) = keytool(undef, 'list', $store, '--master', $hex);
is($rc, 1, 'a world-readable master key file is refused');
like($err, qr/must not be accessible by others \(mode 0644\)/,
     'and says so');

open($fh, '>', "$dir/short.key") or die;
print $fh 'x' x 31;
close($fh);
chmod(0400, "$dir/short.key");
($rc, $out, $err) = keytool(undef, 'list', $store, '--master',
                            "$dir/short.key");
is($rc, 1, 'a 31-byte master key file is refused');
like($err, qr/expected 32 raw bytes or 64 hex digits, found 31 bytes/,
     'and says so');

# plain stores

my $plain = "$dir/plain.json";
open($fh, '>', $plain) or die;
print $fh qq({"default": "$KEY"}\n);
close($fh);

chmod(0644, $plain);
($rc, $out, $err) = keytool(undef, 'list', $plain, '--plain');
is($rc, 1, 'list --plain refuses a store of mode 0644');
like($err, qr/plain\ keystore\ must\ not\ be\ readable\ by\ group
             \ or\ others\ \(mode\ 0644\);\ chmod\ 600\ it/x,
     'and says why');

chmod(0600, $plain);
($rc, $out, $err) = keytool(undef, 'list', $plain, '--plain');
is($rc, 0, 'list --plain reads a store of mode 0600') or diag($err);
is($out, "default  " . fpr($KEY) . "\n", 'and shows the fingerprint');
unlike($out . $err, qr/\Q$KEY\E/, 'not the key');

($rc) = keytool(undef, 'list', $plain, '--plain', '--master', $new);
is($rc, 2, '--plain and --master exclude each other');

# root updating a store that belongs to another user keeps it theirs
SKIP: {
    skip('needs root and the user nobody', 3)
        unless $> == 0 && defined getpwnam('nobody');

    my $uid = (getpwnam('nobody'))[2];
    my $gid = (getpwnam('nobody'))[3];

    chown($uid, $gid, $store) or die "chown $store: $!";
    ($rc, $out, $err) = keytool($KEY, 'set', $store, '--master', $new,
                                '--name', 'owned');
    is($rc, 0, "root updates nobody's store") or diag($err);
    is((stat($store))[4], $uid, 'the updated store still belongs to nobody');
    is(mode($store), 0600, 'and keeps mode 0600');
}

done_testing();
