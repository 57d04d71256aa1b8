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
#
# Then the same with 6 KB principals and one worker: a pass's lines do not
# fit its 64 KB batch, so lines are written to the batch until it is full,
# the batch is written, and the line that did not fit goes into the
# emptied batch; still nothing lost, nothing out of order.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;

require "$FindBin::Bin/../tools/load.pl";

my $f = EciLoad::run(requests => 2000, connections => 16, max_seconds => 50);
note("eci-load: $f->{client_summary}") if $f->{client_summary};

my $long = EciLoad::run(requests => 600, connections => 48, max_seconds => 50,
                        workers => 1, principal => 'svc-' . ('L' x 6000),
                        denied => 'who-' . ('D' x 6000));
note("eci-load, 6 KB principals: $long->{client_summary}")
    if $long->{client_summary};

done_testing;
