/*
 * eci-audit: reads the gateway's audit log.
 *
 *   eci-audit verify FILE... --pubkey FILE
 *   eci-audit show FILE... [--principal P] [--id N] [--decision D]
 *                          [--event E] [--since T] [--until T]
 *
 * verify checks every chain in the files (eci_chain.h): each line's hash,
 * each signed line's Ed25519 signature under the gateway's public key, and
 * names the first line that was changed, removed, inserted or reordered;
 * show prints the lines as a table, so daily work needs no jq.  Each
 * command has its file: eci-audit-verify.c, eci-audit-show.c.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "eci_keystore.h"
#include "eci-audit.h"


static void eci_au_usage(FILE *f);
static int eci_au_parse(int argc, char **argv, eci_au_args_t *args,
    int verify);


int
main(int argc, char **argv)
{
    eci_au_args_t  args;

    if (argc < 2) {
        eci_au_usage(stderr);
        return ECI_AU_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0)
    {
        eci_au_usage(stdout);
        return ECI_AU_OK;
    }

    memset(&args, 0, sizeof(eci_au_args_t));
    args.id = -1;
    args.max_line = ECI_AU_LINE_MAX;

    if (strcmp(argv[1], "verify") == 0) {
        switch (eci_au_parse(argc - 1, argv + 1, &args, 1)) {
        case 1:
            eci_au_usage(stdout);
            return ECI_AU_OK;
        case -1:
            return ECI_AU_USAGE;
        }

        return eci_au_verify(&args);
    }

    if (strcmp(argv[1], "show") == 0) {
        switch (eci_au_parse(argc - 1, argv + 1, &args, 0)) {
        case 1:
            eci_au_usage(stdout);
            return ECI_AU_OK;
        case -1:
            return ECI_AU_USAGE;
        }

        return eci_au_show(&args);
    }

    fprintf(stderr, "eci-audit: unknown command \"%s\"; see eci-audit "
            "--help\n", argv[1]);

    return ECI_AU_USAGE;
}


static void
eci_au_usage(FILE *f)
{
    fprintf(f,
        "usage: eci-audit verify FILE... --pubkey FILE [--max-line BYTES]\n"
        "       eci-audit show FILE... [--principal P] [--id N] "
        "[--decision allow|deny]\n"
        "                      [--event EVENT] [--since TIME] "
        "[--until TIME]\n"
        "                      [--outcome sent|refused|failed|unknown]\n"
        "                      [--max-line BYTES]\n"
        "\n"
        "verify  checks every chain of audit lines in the files, in any\n"
        "        interleaving: the hashes that link its lines and the\n"
        "        signatures of its checkpoints under the gateway's public key\n"
        "        (eci-keytool pubkey), and names the first line that was\n"
        "        changed, removed, inserted or reordered.  Lines after a\n"
        "        chain's last signed line are reported as not yet signed.\n"
        "        Give rotated files oldest first.  It also lists execs whose\n"
        "        intent line has no result line (the gateway stopped in "
        "between).\n"
        "        Exit 0: intact; 1: not intact; 3: intact, but a gateway\n"
        "        reported a discontinuity (its file's end cut or unsigned).\n"
        "        A line longer than --max-line (1 MiB) is not parsed: it\n"
        "        fails the file.  At most 100,000 intents waiting for their\n"
        "        result are tracked; more are counted, not listed.\n"
        "show    prints the lines as a table, control characters escaped;\n"
        "        EVENT is intent or result, or start, checkpoint,\n"
        "        discontinuity or stop for the chain's own signed lines;\n"
        "        TIME is a prefix of RFC 3339,\n"
        "        e.g. 2026-11-29 or 2026-11-29T07:30 (UTC); --until is\n"
        "        inclusive.  --outcome lists the result lines with that\n"
        "        outcome; unknown also lists every intent that has no result\n"
        "        line (the worker died, or the line was lost): reconcile\n"
        "        those with ECI's distribution log.\n");
}


/* 0: run, 1: --help, -1: usage error (printed) */
static int
eci_au_parse(int argc, char **argv, eci_au_args_t *args, int verify)
{
    int             c, i;
    char           *end;
    unsigned long   ul;

    static struct option  opts[] = {
        { "pubkey",    required_argument, NULL, 'k' },
        { "keystore",  required_argument, NULL, 'K' },
        { "master",    required_argument, NULL, 'K' },
        { "principal", required_argument, NULL, 'p' },
        { "id",        required_argument, NULL, 'i' },
        { "decision",  required_argument, NULL, 'd' },
        { "event",     required_argument, NULL, 'e' },
        { "since",     required_argument, NULL, 's' },
        { "until",     required_argument, NULL, 'u' },
        { "outcome",   required_argument, NULL, 'o' },
        { "max-line",  required_argument, NULL, 'm' },
        { "help",      no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    optind = 1;
    opterr = 0;

    /* GNU getopt permutes: options may follow the files */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return 1;
        case 'k':
            args->pubkey = optarg;
            break;
        case 'K':
            /* the HMAC chain's options: verifying needs no secret now */
            fprintf(stderr, "eci-audit: verify takes the gateway's public "
                    "key (--pubkey FILE, written by eci-keytool pubkey), "
                    "not the keystore\n");
            return -1;
        case 'p':
            args->principal = optarg;
            break;
        case 'i':
            errno = 0;
            args->id = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || args->id < 1
                || args->id > 2147483647)
            {
                fprintf(stderr, "eci-audit: --id takes a report "
                        "distribution id from 1 to 2147483647\n");
                return -1;
            }
            break;
        case 'd':
            args->decision = optarg;
            break;
        case 'e':
            args->event = optarg;
            break;
        case 's':
            args->since = optarg;
            break;
        case 'u':
            args->until = optarg;
            break;
        case 'o':
            for (i = 0; i < ECI_AUDIT_NOUTCOMES; i++) {
                if (strcmp(optarg, eci_audit_outcomes[i]) == 0) {
                    break;
                }
            }
            if (i == ECI_AUDIT_NOUTCOMES) {
                fprintf(stderr, "eci-audit: --outcome takes sent, refused, "
                        "failed or unknown\n");
                return -1;
            }
            args->outcome = optarg;
            break;
        case 'm':
            errno = 0;
            ul = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' || ul < 4096
                || ul > 1024UL * 1024 * 1024)
            {
                fprintf(stderr, "eci-audit: --max-line takes bytes from "
                        "4096 to 1073741824\n");
                return -1;
            }
            args->max_line = ul;
            break;
        default:
            fprintf(stderr, "eci-audit: unknown or incomplete option; see "
                    "eci-audit --help\n");
            return -1;
        }
    }

    args->files = argv + optind;
    args->nfiles = argc - optind;

    if (args->nfiles == 0) {
        fprintf(stderr, "eci-audit: no audit file given\n");
        return -1;
    }

    if (verify && args->pubkey == NULL) {
        fprintf(stderr, "eci-audit: verify needs --pubkey FILE, the "
                "gateway's public key (eci-keytool pubkey)\n");
        return -1;
    }

    return 0;
}


/*
 * Reads one line; *complete is ECI_AU_LINE_CUT when the file ended before
 * a newline, ECI_AU_LINE_LONG when the line is longer than max: it is
 * read to its end but only its first bytes are kept (*len is its whole
 * length), so memory stays bounded.  NULL at end of file.
 */
char *
eci_au_line_read(FILE *f, size_t max, size_t *len, int *complete)
{
    int      c;
    char    *buf, *nbuf;
    size_t   n, cap, total;

    cap = 4096;
    buf = malloc(cap);
    if (buf == NULL) {
        return NULL;
    }

    n = 0;
    total = 0;
    *complete = ECI_AU_LINE_CUT;

    while ((c = getc(f)) != EOF) {
        total++;

        if (c == '\n' && total <= max) {
            buf[n++] = (char) c;
            *complete = ECI_AU_LINE_WHOLE;
            break;
        }

        if (c == '\n') {
            *complete = ECI_AU_LINE_LONG;
            break;
        }

        if (total > max) {
            continue;       /* too long: skipped to its newline */
        }

        if (n + 1 >= cap) {
            cap *= 2;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL) {
                free(buf);
                return NULL;
            }

            buf = nbuf;
        }

        buf[n++] = (char) c;
    }

    if (total == 0) {
        free(buf);
        return NULL;
    }

    if (total > max) {
        *complete = ECI_AU_LINE_LONG;
    }

    buf[n] = '\0';
    *len = (*complete == ECI_AU_LINE_LONG) ? total : n;

    return buf;
}
