# Load, nothing lost (the small version; `make load` runs the full one):
# 2,000 mixed exec requests (allowed, denied, invalid) over 16 keep-alive
# connections to nginx with 2 workers and the mock upstream behind an
# upstream block with keepalive.  Every request got its expected status
# and an X-Request-Id; every request has its audit line(s) (allowed: an
# intent then a result with the same requestId; refused: one result) and
# nothing else is in the file; every line is valid JSON; eci-audit verify
# finds the chain intact; the upstream received each allowed exec exactly
# once with exactly one key and nothing else; no crash in the error log.
# The set-up and the checks are tools/load.pl's (EciLoad::run).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;

require "$FindBin::Bin/../tools/load.pl";

my $f = EciLoad::run(requests => 2000, connections => 16, max_seconds => 50);
note("eci-load: $f->{client_summary}") if $f->{client_summary};

done_testing;
