#!/usr/bin/perl

# Configuration load: every bad config, keystore and ACL makes `nginx -t`
# fail naming the file, the place and the problem, and never printing key
# material; a good config with sealed or plain stores and a non-default
# eci_api_key passes and sends that key upstream.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $KEY     = 'cfg-secret-default-key-5f1e0c';
my $KEY_RPT = 'cfg-secret-reports-key-a9c4d2';
my $PKEY    = 'cfg-plain-default-key-77b3e1';
my $PKEY_OT = 'cfg-plain-other-key-0d9a6f';
my $EXEC    = $EciTest::EXEC;

my $t = EciTest->new;
$t->allow_log(qr/\[emerg\]/);

my ($store, $master) = $t->make_keystore(
    keys => { default => $KEY, reports => $KEY_RPT });
my ($plain) = $t->make_keystore(
    sealed => 0, keys => { default => $PKEY, other => $PKEY_OT });
my $PLAIN_SIGNING = $EciTest::PLAIN_SIGNING;      # the harness's

# the master key in both forms it could leak in
my $master_raw = EciTest::slurp($master);
my @SECRETS = ($KEY, $KEY_RPT, $PKEY, $PKEY_OT, $PLAIN_SIGNING, $master_raw,
               unpack('H*', $master_raw));

my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });


# --- helpers -------------------------------------------------------------


# A copy of the sealed store with byte $at xor 0x01 (or cut to $cut bytes)
sub altered_store {
    my ($name, %o) = @_;
    my $bytes = EciTest::slurp($store);
    if (defined $o{flip}) {
        substr($bytes, $o{flip}, 1) = chr(ord(substr($bytes, $o{flip}, 1))
                                          ^ 0x01);
    }
    $bytes = substr($bytes, 0, $o{cut}) if defined $o{cut};
    return $t->write_file($name, $bytes, 0600);
}

# The config: each location directive can be replaced (a string) or left
# out (an empty string); keystore likewise at http level.
sub conf {
    my (%o) = @_;
    my %d = (
        keystore => "eci_keystore $store master=$master;",
        gateway  => 'eci_gateway on;',
        principal => 'eci_principal $http_x_caller;',
        acl      => "eci_acl $acl;",
        api_key  => '',
        audit    => 'eci_audit_log %%DIR%%/audit.log;',
        %o,
    );
    my $server_extra = $o{server_extra} // '';
    my $loc_extra    = $o{loc_extra} // '';

    return EciTest::conf_head() . <<"EOF";
http {
    %%HTTP_PATHS%%

    $d{keystore}

    server {
        listen 127.0.0.1:%%PORT%%;
        $server_extra

        location /api/ {
            $d{gateway}
            $d{principal}
            $d{acl}
            $d{api_key}
            $d{audit}
            $loc_extra

            proxy_pass http://127.0.0.1:%%MOCK%%;
            proxy_http_version 1.1;
        }
    }
}
EOF
}

# "nginx.conf:N" for the first line of nginx.conf matching $re
sub conf_place {
    my ($re) = @_;
    my $path = $t->path('nginx.conf');
    my $n = 0;
    for my $line (split /\n/, EciTest::slurp($path)) {
        $n++;
        return "$path:$n" if $line =~ $re;
    }
    die "no line matching $re in $path\n";
}

sub no_secrets {
    my ($text, $what) = @_;
    my @found = grep { index($text, $_) >= 0 } @SECRETS;
    ok(!@found, "$what contains no key material")
        or diag("found: @found");
}

# nginx -t with this config fails; its output matches every pattern of
# @$like (the file, the place, the problem) and holds no key material.
# $place: a regexp for the nginx.conf line the error must name.
sub fails {
    my ($name, $conf, %o) = @_;
    subtest $name => sub {
        $t->write_config($conf);
        my $place = $o{place} ? conf_place($o{place}) : undef;
        my ($rc, $out) = $t->nginx_test;
        isnt($rc, 0, 'nginx -t fails');
        note($out);
        like($out, qr/\[emerg\]/, 'an emerg line says why');
        like($out, qr/\Q$place\E\b/, "the error names $place")
            if defined $place;
        like($out, $_, "the error says $_") for @{ $o{like} || [] };
        no_secrets($out, 'the output');
        unlike($out, qr/test is successful/, 'nginx does not call it good');
    };
}

sub passes {
    my ($name, $conf) = @_;
    subtest $name => sub {
        $t->write_config($conf);
        my ($rc, $out) = $t->nginx_test;
        is($rc, 0, 'nginx -t succeeds') or diag($out);
        like($out, qr/test is successful/, 'nginx says the test is successful');
        no_secrets($out, 'the output');
    };
}


# --- eci_gateway on without its companions --------------------------------

my $GW = qr/^\s*eci_gateway on;/;

# each companion left out of conf() in turn
for my $left (qw(principal acl keystore audit)) {
    my $directive = $left eq 'audit' ? 'eci_audit_log' : "eci_$left";
    fails("eci_gateway on without $directive", conf($left => ''),
          place => $GW, like => [qr/$directive/]);
}

passes('eci_audit_log off is accepted', conf(audit => 'eci_audit_log off;'));

# a keystore from before the signed chain has only the old HMAC key
my ($oldstore) = $t->make_keystore(
    sealed => 0, signing => 0, name => 'old-keys.json',
    keys => { default => $PKEY,
              'audit-chain' => 'test-audit-chain-key-0123456789abcdef' });
fails('a keystore without an audit signing key (only the old HMAC key)',
      conf(keystore => "eci_keystore $oldstore;"),
      place => $GW,
      like => [qr/has no "audit-signing" key to sign the audit chain with; /,
               qr/create one with "eci-keytool audit-key \Q$oldstore\E/]);
passes('... which it does not need with eci_audit_log off',
       conf(keystore => "eci_keystore $oldstore;",
            audit => 'eci_audit_log off;'));
fails('eci_api_key may not name the audit signing key',
      conf(api_key => 'eci_api_key audit-signing;'),
      place => $GW, like => [qr/"audit-signing" is a key of the audit/]);
fails('... nor the old audit chain key',
      conf(keystore => "eci_keystore $oldstore;",
           audit => 'eci_audit_log off;',
           api_key => 'eci_api_key audit-chain;'),
      place => $GW, like => [qr/"audit-chain" is a key of the audit/]);

passes('a principal, ACL and audit log at server level are inherited',
       conf(principal => '', acl => '', audit => '',
            server_extra => "eci_principal \$http_x_caller; eci_acl $acl; "
                            . 'eci_audit_log %%DIR%%/audit.log;'));


# --- eci_keystore ---------------------------------------------------------

my $KS = qr/^\s*eci_keystore /;
my $missing = $t->path('nope.sealed');

fails('eci_keystore: the file is missing',
      conf(keystore => "eci_keystore $missing master=$master;"),
      place => $KS,
      like => [qr/eci_keystore/, qr/\Q"$missing"\E/,
               qr/No such file|cannot open|not found|does not exist/i]);

my $master2 = $t->path('master2.key');
system("'" . $t->keytool . "' genmaster '$master2' >/dev/null 2>&1") == 0
    or die "eci-keytool genmaster $master2 failed\n";
fails('eci_keystore: the wrong master key',
      conf(keystore => "eci_keystore $store master=$master2;"),
      place => $KS,
      like => [qr/eci_keystore/, qr/\Q"$store"\E/,
               qr/wrong master key|authenticat|cannot unseal/i]);

my $size = length EciTest::slurp($store);
my $UNSEAL = qr/modified|authenticat|cannot unseal/i;
for my $c (
    # [what, file, how it is altered (altered_store), what the error says]
    ['one byte changed in the middle of the store', 'mid.sealed',
     { flip => int($size / 2) }, $UNSEAL],
    # bytes 10-11 are reserved and 12-23 the nonce: neither is checked on
    # its own, only as the AAD / IV of AES-GCM
    ['one reserved header byte changed', 'hdr.sealed', { flip => 10 },
     $UNSEAL],
    ['one nonce byte of the header changed', 'nonce.sealed', { flip => 16 },
     $UNSEAL],
    ['a truncated store', 'cut.sealed', { cut => int($size / 2) },
     qr/truncated|modified|authenticat|cannot unseal/i],
    ['a store cut inside its header', 'cuthdr.sealed', { cut => 20 },
     qr/truncated/i])
{
    my ($what, $name, $how, $says) = @$c;
    my $bad = altered_store($name, %$how);
    fails("eci_keystore: $what",
          conf(keystore => "eci_keystore $bad master=$master;"),
          place => $KS, like => [qr/eci_keystore/, qr/\Q"$bad"\E/, $says]);
}

for my $mode (0644, 0640) {
    my $open = $t->write_file(sprintf('plain-%04o.json', $mode),
                              EciTest::slurp($plain), $mode);
    fails(sprintf('eci_keystore: a plain store of mode %04o is refused',
                  $mode),
          conf(keystore => "eci_keystore $open;"),
          place => $KS,
          like => [qr/eci_keystore/, qr/\Q"$open"\E/,
                   qr/readable|0600|mode|permission/i]);
}

passes('eci_keystore: a plain store of mode 0600 is accepted',
       conf(keystore => "eci_keystore $plain;"));

passes('eci_keystore: a plain store of mode 0400 is accepted',
       conf(keystore => 'eci_keystore '
            . $t->write_file('ro.json', EciTest::slurp($plain), 0400) . ';'));

fails('eci_api_key: a name not in the keystore',
      conf(api_key => 'eci_api_key no-such-key;'),
      place => $GW,
      like => [qr/eci_api_key/, qr/"no-such-key"/, qr/\Q"$store"\E/,
               qr/not in/i]);

fails('eci_api_key: a name not in the plain keystore',
      conf(keystore => "eci_keystore $plain;",
           api_key => 'eci_api_key reports;'),
      place => $GW,
      like => [qr/eci_api_key/, qr/"reports"/, qr/\Q"$plain"\E/,
               qr/not in/i]);

fails('eci_keystore: a typo in master= is an invalid parameter',
      conf(keystore => "eci_keystore $store mastr=/x;"),
      place => $KS,
      like => [qr/invalid parameter "mastr=\/x"/]);

fails('eci_keystore: an empty master= is an invalid parameter',
      conf(keystore => "eci_keystore $store master=;"),
      place => $KS,
      like => [qr/invalid parameter "master="/]);

fails('eci_keystore in a server block is refused',
      conf(keystore => '',
           server_extra => "eci_keystore $store master=$master;"),
      place => qr/^\s*eci_keystore /,
      like => [qr/"eci_keystore" directive is not allowed here/]);

fails('eci_keystore in a location block is refused',
      conf(keystore => '',
           loc_extra => "eci_keystore $store master=$master;"),
      place => qr/^\s*eci_keystore /,
      like => [qr/"eci_keystore" directive is not allowed here/]);


# --- eci_acl --------------------------------------------------------------

my $ACL_AT = qr/^\s*eci_acl /;

# Each bad ACL: nginx -t fails, naming eci_acl, the ACL file, the place in
# it (@where) and the problem (@what), and the eci_acl line of nginx.conf.
sub bad_acl {
    my ($name, $text, $where, @what) = @_;
    my $file = $t->write_file("bad-acl-$name.json", $text, 0644);
    $file = $t->path("bad-acl-$name.json");
    (my $title = $name) =~ tr/-/ /;
    fails("eci_acl: $title",
          conf(acl => "eci_acl $file;"),
          place => $ACL_AT,
          like => [qr/eci_acl/, qr/\Q$file\E/, $where, @what]);
}

bad_acl('syntax-error', <<'EOF', qr/line 4 column \d+/);
{
  "principals": {
    "alice": { "permissions": ["DistributedReportsSettings (Manage)"] }
    "bob": { "permissions": ["DistributedReportsSettings (Manage)"] }
  }
}
EOF

bad_acl('unknown-key', <<'EOF', qr/principals\."svc-reporting"\.colour/,
{
  "principals": {
    "svc-reporting": {
      "permissions": ["DistributedReportsSettings (Manage)"],
      "colour": "blue"
    }
  }
}
EOF
        qr/unknown key/i);

bad_acl('unknown-top-level-key', <<'EOF', qr/"?principal"?: unknown key/,
{
  "principals": {},
  "principal": {}
}
EOF
        qr/unknown key/i);

bad_acl('wrong-type', <<'EOF',
{
  "principals": {
    "svc-reporting": {
      "permissions": "DistributedReportsSettings (Manage)"
    }
  }
}
EOF
        qr/principals\."svc-reporting"\.permissions/,
        qr/array|list|type|expected/i);

bad_acl('wrong-type-id', <<'EOF',
{
  "principals": {
    "svc-reporting": {
      "permissions": ["DistributedReportsSettings (Manage)"],
      "reportDistributionIds": ["42"]
    }
  }
}
EOF
        qr/principals\."svc-reporting"\.reportDistributionIds/,
        qr/integer|number|type|expected/i);

bad_acl('duplicate-key', <<'EOF', qr/line 4 column \d+/,
{
  "principals": {
    "alice": { "permissions": ["DistributedReportsSettings (Manage)"] },
    "alice": { "permissions": [] }
  }
}
EOF
        qr/duplicate/i);

bad_acl('unknown-group', <<'EOF', qr/principals\.(?:"alice"|alice)\.groups/,
{
  "principals": {
    "alice": { "groups": ["report-operators", "no-such-group"] }
  },
  "groups": {
    "report-operators": {
      "permissions": ["DistributedReportsSettings (Manage)"]
    }
  }
}
EOF
        qr/no-such-group/, qr/unknown group|not defined|no such group/i);

# ids outside 1 .. 2^31-1, in alice's entry: [name, field, its value,
# what the error says]
for my $c (['id-above-int32', 'reportDistributionIds', '[1, 2147483648]',
            qr/range|2147483647|int32/i],
           ['override-id-above-int32', 'overrideUserIds', '[2147483648]',
            qr/range|2147483647|int32/i],
           ['id-zero', 'reportDistributionIds', '[0]',
            qr/range|at least 1|below 1|1\.\.2147483647|1 to 2147483647/i])
{
    my ($name, $field, $value, $says) = @$c;
    bad_acl($name, <<"EOF", qr/principals\.(?:"alice"|alice)\.$field/, $says);
{
  "principals": {
    "alice": {
      "permissions": ["$EciTest::PERM"],
      "$field": $value
    }
  }
}
EOF
}

bad_acl('empty-principal-name', <<'EOF', qr/principals\.""/,
{
  "principals": {
    "": { "permissions": ["DistributedReportsSettings (Manage)"] }
  }
}
EOF
        qr/empty/i);

bad_acl('empty-group-name', <<'EOF', qr/groups\.""/,
{
  "principals": {},
  "groups": {
    "": { "permissions": ["DistributedReportsSettings (Manage)"] }
  }
}
EOF
        qr/empty/i);

{
    my $nofile = $t->path('no-such-acl.json');
    fails('eci_acl: the file is missing',
          conf(acl => "eci_acl $nofile;"),
          place => $ACL_AT,
          like => [qr/eci_acl/, qr/\Q$nofile\E/,
                   qr/No such file|cannot open|not found|does not exist/i]);
}


# --- contexts and duplicates ---------------------------------------------

fails('eci_gateway in a server block is refused (location only)',
      conf(gateway => '', server_extra => 'eci_gateway on;'),
      place => qr/^\s*eci_gateway on;/,
      like => [qr/"eci_gateway" directive is not allowed here/]);

fails('eci_gateway in the http block is refused (location only)',
      conf(gateway => '',
           keystore => "eci_keystore $store master=$master; eci_gateway on;"),
      place => qr/eci_gateway on;/,
      like => [qr/"eci_gateway" directive is not allowed here/]);

for my $dup (['eci_gateway',        'eci_gateway on;'],
             ['eci_principal',      'eci_principal $http_x_other;'],
             ['eci_acl',            "eci_acl $acl;"],
             ['eci_api_key',        'eci_api_key default;'],
             ['eci_audit_log',      'eci_audit_log %%DIR%%/audit2.log;'],
             ['eci_audit_body_max', 'eci_audit_body_max 8k;'])
{
    my ($name, $line) = @$dup;
    my %o = (loc_extra => "$line  # again");
    $o{api_key} = 'eci_api_key default;' if $name eq 'eci_api_key';
    $o{loc_extra} = "eci_audit_body_max 4k;\n$line  # again"
        if $name eq 'eci_audit_body_max';
    fails("$name given twice in one location",
          conf(%o),
          place => qr/# again$/,
          like => [qr/"\Q$name\E" directive is duplicate/]);
}

fails('eci_keystore given twice in the http block',
      conf(keystore => "eci_keystore $store master=$master;\n"
                       . "    eci_keystore $plain;"),
      place => qr/^\s*eci_keystore \Q$plain\E;/,
      like => [qr/"eci_keystore" directive is duplicate/]);


# --- good configs, started -------------------------------------------------

sub exec_as {
    my ($caller, $id, $port) = @_;
    return $t->exec_as($caller, $id, port => $port // $t->port(0), json => 1);
}

# Two servers: the default key, and a key selected with eci_api_key
sub good_conf {
    my ($keystore, $other) = @_;
    return EciTest::conf_head() . <<"EOF";
http {
    %%HTTP_PATHS%%

    $keystore

    eci_principal \$http_x_caller;
    eci_acl       $acl;
    eci_audit_log %%DIR%%/audit.log;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /api/ {
            eci_gateway on;
            proxy_pass http://127.0.0.1:%%MOCK%%;
            proxy_http_version 1.1;
        }

    }

    server {
        listen 127.0.0.1:%%PORT1%%;

        location /api/ {
            eci_gateway on;
            eci_api_key $other;
            proxy_pass http://127.0.0.1:%%MOCK%%;
            proxy_http_version 1.1;
        }
    }
}
EOF
}

my @responses;

# the two stores sign with two keys: the second gateway cannot verify the
# first one's last signature, and says so (the key was changed)
$t->allow_log(qr/discontinuity: the signed line at seq \d+ of chain \S+ does not verify/);

for my $case (['sealed', "eci_keystore $store master=$master;",
               'reports', $KEY, $KEY_RPT],
              ['plain', "eci_keystore $plain;", 'other', $PKEY, $PKEY_OT])
{
    my ($kind, $ks, $name, $default_key, $selected_key) = @$case;

    passes("a $kind store with eci_api_key $name passes nginx -t",
           good_conf($ks, $name));

    subtest "a $kind store: each location sends its own key" => sub {
        $t->start;
        $t->mock->clear;

        my $r = exec_as('alice', 42, $t->port(1));
        push @responses, $r;
        is($r->{status}, 200, "an exec in the eci_api_key $name location "
                              . 'is forwarded');
        my @got = $t->mock->requests;
        is(scalar @got, 1, 'the upstream received one request');
        is($got[0]{target}, "$EXEC/42/exec",
           'the upstream received the canonical exec')
            if @got;
        is_deeply([MockEci::header_values($got[0] // {}, 'ECI-ApiKey')],
                  [$selected_key], "exactly the \"$name\" key went upstream");

        $t->mock->clear;
        $r = exec_as('alice', 43);
        push @responses, $r;
        is($r->{status}, 200, 'an exec in the default location is forwarded');
        @got = $t->mock->requests;
        is(scalar @got, 1, 'the upstream received one request');
        is_deeply([MockEci::header_values($got[0] // {}, 'ECI-ApiKey')],
                  [$default_key], 'exactly the "default" key went upstream');

        $t->stop;
    };
}

$t->done;

no_secrets(join('', map { $_->{raw} // '' } @responses), 'the responses');
no_secrets($t->error_log, 'the error log');
no_secrets(join("\n", $t->audit_raw('audit.log')), 'the audit log');
is(scalar(grep { ($_->{event} // '') eq 'result' }
            $t->audit_lines('audit.log')), 4,
   'the four execs were audited (one result line each)');

done_testing;
