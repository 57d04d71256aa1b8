/*
 * eci-keytool: manages the sealed keystore of ngx_eci.
 *
 * Keys are read from standard input only, never from the command line
 * (argv is visible to every local user in ps and /proc), and no command
 * prints a key: list shows names and SHA-256 fingerprints.
 *
 * Exit status: 0 done, 1 failed, 2 usage error.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "eci_keystore.h"
#include "eci_chain.h"


#define ECI_KT_OK      0
#define ECI_KT_FAIL    1
#define ECI_KT_USAGE   2


typedef struct {
    const char  *cmd;
    const char  *file;         /* FILE or STORE */
    const char  *master;
    const char  *new_master;
    const char  *name;
    int          plain;
} eci_kt_args_t;


typedef struct {
    const char  *name;
    int        (*run)(eci_kt_args_t *args, eci_keystore_t *ks);
    int          store;        /* run gets the store, open */
    const char  *usage;
    const char  *help;
    const char  *options;      /* getopt_long names this command takes */
} eci_kt_cmd_t;


static int eci_kt_genmaster(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_set(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_list(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_remove(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_rekey(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_audit_key(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_pubkey(eci_kt_args_t *args, eci_keystore_t *ks);
static int eci_kt_signing_key_add(eci_keystore_t *ks);
static int eci_kt_save(eci_keystore_t *ks, const char *file,
    const char *master);
static int eci_kt_parse(const eci_kt_cmd_t *cmd, int argc, char **argv,
    eci_kt_args_t *args);
static int eci_kt_key_read(const char *name, char *buf, size_t size,
    size_t *len);
static int eci_kt_usage_error(const eci_kt_cmd_t *cmd, const char *fmt,
    const char *arg);
static void eci_kt_help(FILE *f);
static void eci_kt_cmd_help(FILE *f, const eci_kt_cmd_t *cmd);


static const eci_kt_cmd_t  eci_kt_cmds[] = {

    { "genmaster", eci_kt_genmaster, 0,
      "genmaster FILE",
      "Writes a new master key: 32 random bytes, mode 0400.  An existing\n"
      "FILE is never overwritten.\n",
      "" },

    { "set", eci_kt_set, 0,
      "set STORE --master FILE [--name NAME]",
      "Reads a key from standard input (one trailing newline is dropped)\n"
      "and stores it as NAME, \"" ECI_KEY_DEFAULT "\" by default.  "
      "STORE is created if\n"
      "missing; it is sealed under the master key and replaced atomically,\n"
      "mode 0600.  Prints the key's fingerprint, never the key.  The audit's\n"
      "own keys (\"" ECI_KEY_AUDIT_SIGNING "\", \"" ECI_KEY_AUDIT_CHAIN
      "\") cannot be set by name.\n"
      "\n"
      "  printf '%s' \"$KEY\" | eci-keytool set keys.sealed --master m.key\n",
      "mn" },

    { "list", eci_kt_list, 1,
      "list STORE (--master FILE | --plain)",
      "Prints one line per key: its name and the first 16 hex digits of\n"
      "the SHA-256 of the key.  --plain reads an unsealed JSON store of\n"
      "mode 0600.\n",
      "mp" },

    { "remove", eci_kt_remove, 1,
      "remove STORE --master FILE --name NAME",
      "Removes the key NAME; fails if there is none.\n",
      "mn" },

    { "rekey", eci_kt_rekey, 1,
      "rekey STORE --master OLD --new-master NEW",
      "Re-seals STORE under the master key NEW, atomically.  Make NEW\n"
      "with genmaster first; afterwards OLD no longer opens STORE.\n",
      "mN" },

    { "audit-key", eci_kt_audit_key, 1,
      "audit-key STORE --master FILE",
      "Adds the key \"" ECI_KEY_AUDIT_SIGNING "\" (a new Ed25519 private "
      "key, 32 random\n"
      "bytes in hex) with which the gateway signs its audit chain.  A new\n"
      "STORE made by set gets one already.  An existing one is never\n"
      "replaced: auditors hold its public key (see pubkey).\n",
      "m" },

    { "pubkey", eci_kt_pubkey, 1,
      "pubkey STORE (--master FILE | --plain)",
      "Prints the public key of \"" ECI_KEY_AUDIT_SIGNING "\" as PEM: all "
      "that eci-audit\n"
      "verify --pubkey needs.  It prints nothing secret: give it to\n"
      "auditors.\n"
      "\n"
      "  eci-keytool pubkey keys.sealed --master m.key > audit.pub\n",
      "mp" },

    { NULL, NULL, 0, NULL, NULL, NULL }
};


int
main(int argc, char **argv)
{
    int                  rc;
    eci_err_t            err;
    eci_kt_args_t        args;
    eci_keystore_t      *ks;
    const eci_kt_cmd_t  *cmd;

    if (argc < 2) {
        eci_kt_help(stderr);
        return ECI_KT_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0)
    {
        eci_kt_help(stdout);
        return ECI_KT_OK;
    }

    for (cmd = eci_kt_cmds; cmd->name != NULL; cmd++) {
        if (strcmp(argv[1], cmd->name) == 0) {
            break;
        }
    }

    if (cmd->name == NULL) {
        fprintf(stderr, "eci-keytool: unknown command \"%s\"; "
                "see eci-keytool --help\n", argv[1]);
        return ECI_KT_USAGE;
    }

    memset(&args, 0, sizeof(eci_kt_args_t));
    args.cmd = cmd->name;

    switch (eci_kt_parse(cmd, argc - 1, argv + 1, &args)) {

    case -1:
        return ECI_KT_USAGE;

    case 1:
        eci_kt_cmd_help(stdout, cmd);
        return ECI_KT_OK;

    default:
        break;
    }

    if (!cmd->store) {
        return cmd->run(&args, NULL);
    }

    /* only list and pubkey take --plain */
    ks = eci_keystore_open(args.file, args.plain ? NULL : args.master, &err);
    if (ks == NULL) {
        fprintf(stderr, "eci-keytool: %s\n", err.msg);
        return ECI_KT_FAIL;
    }

    rc = cmd->run(&args, ks);

    eci_keystore_free(ks);

    return rc;
}


/* 0: run the command, 1: --help was asked for, -1: usage error (printed) */

static int
eci_kt_parse(const eci_kt_cmd_t *cmd, int argc, char **argv,
    eci_kt_args_t *args)
{
    int     c, idx;
    char    opt[32];
    size_t  len;

    static const struct option  longopts[] = {
        { "master",     required_argument, NULL, 'm' },
        { "new-master", required_argument, NULL, 'N' },
        { "name",       required_argument, NULL, 'n' },
        { "plain",      no_argument,       NULL, 'p' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    /* our own messages, in our own format */
    opterr = 0;
    optind = 1;

    for ( ;; ) {
        idx = 0;
        c = getopt_long(argc, argv, ":h", longopts, &idx);

        if (c == -1) {
            break;
        }

        if (c == 'h') {
            return 1;
        }

        if (c == '?' || c == ':') {
            /*
             * not the whole argument: "--key=..." or "-k..." may carry
             * the key that belongs on standard input
             */
            if (optopt != 0) {
                opt[0] = '-';
                opt[1] = (char) optopt;
                opt[2] = '\0';

            } else {
                len = strcspn(argv[optind - 1], "=");
                if (len > sizeof(opt) - 1) {
                    len = sizeof(opt) - 1;
                }

                memcpy(opt, argv[optind - 1], len);
                opt[len] = '\0';
            }

            return eci_kt_usage_error(cmd, (c == '?')
                                      ? "unknown option \"%s\""
                                      : "option \"%s\" needs a value", opt);
        }

        if (strchr(cmd->options, c) == NULL) {
            return eci_kt_usage_error(cmd, "option \"--%s\" does not apply",
                                      longopts[idx].name);
        }

        switch (c) {

        case 'm':
            args->master = optarg;
            break;

        case 'N':
            args->new_master = optarg;
            break;

        case 'n':
            args->name = optarg;
            break;

        case 'p':
            args->plain = 1;
            break;
        }
    }

    if (optind >= argc) {
        return eci_kt_usage_error(cmd, "missing %s",
                                  strcmp(cmd->name, "genmaster") == 0
                                  ? "FILE" : "STORE");
    }

    if (optind + 1 < argc) {
        /* not printed: it may well be a key */
        return eci_kt_usage_error(cmd, "%s", "too many arguments (a key "
                                  "is read from standard input)");
    }

    args->file = argv[optind];

    if (strchr(cmd->options, 'm') != NULL && args->master == NULL
        && args->plain == 0)
    {
        return eci_kt_usage_error(cmd, "%s is required",
                                  strchr(cmd->options, 'p') != NULL
                                  ? "--master FILE (or --plain)"
                                  : "--master FILE");
    }

    if (args->master != NULL && args->plain) {
        return eci_kt_usage_error(cmd, "%s",
                                  "--master and --plain exclude each other");
    }

    if (strchr(cmd->options, 'N') != NULL && args->new_master == NULL) {
        return eci_kt_usage_error(cmd, "%s is required", "--new-master FILE");
    }

    if (strcmp(cmd->name, "remove") == 0 && args->name == NULL) {
        /* no default: removing "default" by accident would hurt */
        return eci_kt_usage_error(cmd, "%s is required", "--name NAME");
    }

    if (args->name == NULL) {
        args->name = ECI_KEY_DEFAULT;
    }

    return 0;
}


static int
eci_kt_usage_error(const eci_kt_cmd_t *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "eci-keytool: %s: ", cmd->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: eci-keytool %s\n", cmd->usage);

    return -1;
}


static void
eci_kt_help(FILE *f)
{
    const eci_kt_cmd_t  *cmd;

    fprintf(f, "usage: eci-keytool COMMAND [ARGS]\n"
            "\n"
            "Manages the sealed keystore of ngx_eci.  Keys are read from\n"
            "standard input and never printed.\n"
            "\n"
            "commands:\n");

    for (cmd = eci_kt_cmds; cmd->name != NULL; cmd++) {
        fprintf(f, "  eci-keytool %s\n", cmd->usage);
    }

    fprintf(f, "\n"
            "eci-keytool COMMAND --help describes one command.\n"
            "Exit status: 0 done, 1 failed, 2 usage error.\n");
}


static void
eci_kt_cmd_help(FILE *f, const eci_kt_cmd_t *cmd)
{
    fprintf(f, "usage: eci-keytool %s\n\n%s", cmd->usage, cmd->help);
}


static int
eci_kt_genmaster(eci_kt_args_t *args, eci_keystore_t *ks)
{
    int            fd;
    ssize_t        n;
    unsigned char  key[ECI_MASTER_KEY_LEN];

    /* O_EXCL: overwriting a master key would lose every store it seals */
    fd = open(args->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
              S_IRUSR);
    if (fd == -1) {
        if (errno == EEXIST) {
            fprintf(stderr, "eci-keytool: \"%s\": already exists; a master "
                    "key is never overwritten\n", args->file);

        } else {
            fprintf(stderr, "eci-keytool: \"%s\": cannot create: %s\n",
                    args->file, strerror(errno));
        }

        return ECI_KT_FAIL;
    }

    /* the umask could only have narrowed it; make it exact */
    if (fchmod(fd, S_IRUSR) == -1) {
        fprintf(stderr, "eci-keytool: \"%s\": cannot chmod: %s\n",
                args->file, strerror(errno));
        goto failed;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        fprintf(stderr, "eci-keytool: cannot get random bytes\n");
        goto failed;
    }

    n = write(fd, key, sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));

    if (n != (ssize_t) sizeof(key)) {
        fprintf(stderr, "eci-keytool: \"%s\": write failed: %s\n",
                args->file, n == -1 ? strerror(errno) : "short write");
        goto failed;
    }

    if (fsync(fd) == -1) {
        fprintf(stderr, "eci-keytool: \"%s\": fsync failed: %s\n",
                args->file, strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        fprintf(stderr, "eci-keytool: \"%s\": close failed: %s\n",
                args->file, strerror(errno));
        fd = -1;
        goto failed;
    }

    printf("wrote master key \"%s\" (mode 0400); keep a copy offline\n",
           args->file);

    return ECI_KT_OK;

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    (void) unlink(args->file);

    return ECI_KT_FAIL;
}


/* set opens the store itself: a missing one is made, with a signing key */
static int
eci_kt_set(eci_kt_args_t *args, eci_keystore_t *ks)
{
    int               rc, created;
    char              buf[ECI_KEY_VALUE_MAX + 2];
    size_t            len;
    struct stat       st;
    eci_err_t         err;
    const eci_key_t  *key;

    created = 0;

    if (stat(args->file, &st) == 0) {
        ks = eci_keystore_open(args->file, args->master, &err);

    } else if (errno == ENOENT) {
        ks = eci_keystore_new(&err);
        created = 1;

    } else {
        fprintf(stderr, "eci-keytool: \"%s\": %s\n", args->file,
                strerror(errno));
        return ECI_KT_FAIL;
    }

    if (ks == NULL) {
        fprintf(stderr, "eci-keytool: %s\n", err.msg);
        return ECI_KT_FAIL;
    }

    rc = ECI_KT_FAIL;
    len = 0;

    if (eci_key_reserved(args->name)) {
        fprintf(stderr, "eci-keytool: \"%s\" is a key of the audit, not "
                "an ECI API key: it is never set by name (see audit-key)\n",
                args->name);
        goto done;
    }

    if (eci_kt_key_read(args->name, buf, sizeof(buf), &len) != 0) {
        goto done;
    }

    if (eci_keystore_set(ks, args->name, buf, len, &err) != 0) {
        fprintf(stderr, "eci-keytool: %s\n", err.msg);
        goto done;
    }

    /* a new store comes with its audit signing key */
    if (created && eci_keystore_get(ks, ECI_KEY_AUDIT_SIGNING) == NULL
        && eci_kt_signing_key_add(ks) != 0)
    {
        goto done;
    }

    if (eci_kt_save(ks, args->file, args->master) != 0) {
        goto done;
    }

    if (created) {
        printf("created \"%s\" with an \"" ECI_KEY_AUDIT_SIGNING "\" key "
               "to sign the audit chain\n", args->file);
    }

    key = eci_keystore_get(ks, args->name);

    printf("set \"%s\" (fingerprint %s)\n", args->name,
           key != NULL ? key->fingerprint : "?");

    rc = ECI_KT_OK;

done:

    OPENSSL_cleanse(buf, sizeof(buf));
    eci_keystore_free(ks);

    return rc;
}


/*
 * Reads the key from standard input: everything up to end of file, or on
 * a terminal one line typed without echo.
 */

static int
eci_kt_key_read(const char *name, char *buf, size_t size, size_t *len)
{
    int             tty, restore;
    size_t          n;
    ssize_t         r;
    struct termios  old, quiet;

    tty = isatty(STDIN_FILENO);
    restore = 0;
    r = 0;

    if (tty) {
        fprintf(stderr, "key for \"%s\" (not echoed): ", name);

        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t) ECHO;
            restore = (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0);
        }
    }

    n = 0;

    while (n < size) {
        r = read(STDIN_FILENO, buf + n, size - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            break;
        }

        if (r == 0) {
            break;
        }

        n += (size_t) r;

        if (tty && buf[n - 1] == '\n') {
            break;
        }
    }

    if (restore) {
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    }

    if (tty) {
        fputc('\n', stderr);
    }

    if (r == -1) {
        fprintf(stderr, "eci-keytool: cannot read the key from standard "
                "input: %s\n", strerror(errno));
        return -1;
    }

    /* the buffer holds the longest key, its newline and one byte more */
    if (n > 0 && n < size && buf[n - 1] == '\n') {
        n--;
    }

    if (n > ECI_KEY_VALUE_MAX) {
        fprintf(stderr, "eci-keytool: the key on standard input is longer "
                "than %d bytes\n", ECI_KEY_VALUE_MAX);
        return -1;
    }

    if (n == 0) {
        fprintf(stderr, "eci-keytool: no key on standard input\n");
        return -1;
    }

    *len = n;

    return 0;
}


static int
eci_kt_list(eci_kt_args_t *args, eci_keystore_t *ks)
{
    size_t            i;
    const eci_key_t  *key;

    for (i = 0; i < eci_keystore_count(ks); i++) {
        key = eci_keystore_at(ks, i);
        printf("%s  %s\n", key->name, key->fingerprint);
    }

    return ECI_KT_OK;
}


static int
eci_kt_remove(eci_kt_args_t *args, eci_keystore_t *ks)
{
    if (eci_keystore_remove(ks, args->name) != 0) {
        fprintf(stderr, "eci-keytool: \"%s\": no key named \"%s\"\n",
                args->file, args->name);
        return ECI_KT_FAIL;
    }

    if (eci_kt_save(ks, args->file, args->master) != 0) {
        return ECI_KT_FAIL;
    }

    printf("removed \"%s\"\n", args->name);

    return ECI_KT_OK;
}


static int
eci_kt_rekey(eci_kt_args_t *args, eci_keystore_t *ks)
{
    if (eci_kt_save(ks, args->file, args->new_master) != 0) {
        return ECI_KT_FAIL;
    }

    printf("re-sealed \"%s\" under \"%s\" (%zu key%s)\n", args->file,
           args->new_master, eci_keystore_count(ks),
           eci_keystore_count(ks) == 1 ? "" : "s");

    return ECI_KT_OK;
}


static int
eci_kt_audit_key(eci_kt_args_t *args, eci_keystore_t *ks)
{
    const eci_key_t  *key;

    if (eci_keystore_get(ks, ECI_KEY_AUDIT_SIGNING) != NULL) {
        fprintf(stderr, "eci-keytool: \"%s\" already has an \""
                ECI_KEY_AUDIT_SIGNING "\" key; replacing it would leave "
                "auditors with a public key that no longer verifies\n",
                args->file);
        return ECI_KT_FAIL;
    }

    if (eci_kt_signing_key_add(ks) != 0
        || eci_kt_save(ks, args->file, args->master) != 0)
    {
        return ECI_KT_FAIL;
    }

    key = eci_keystore_get(ks, ECI_KEY_AUDIT_SIGNING);

    printf("set \"" ECI_KEY_AUDIT_SIGNING "\" (fingerprint %s); give "
           "auditors its public key: eci-keytool pubkey\n",
           key != NULL ? key->fingerprint : "?");

    return ECI_KT_OK;
}


static int
eci_kt_pubkey(eci_kt_args_t *args, eci_keystore_t *ks)
{
    int                  rc;
    char                 pem[512];
    eci_err_t            err;
    const eci_key_t     *key;
    eci_chain_signer_t  *signer;

    key = eci_keystore_get(ks, ECI_KEY_AUDIT_SIGNING);
    if (key == NULL) {
        fprintf(stderr, "eci-keytool: \"%s\" has no \"" ECI_KEY_AUDIT_SIGNING
                "\" key; add one with eci-keytool audit-key\n", args->file);
        return ECI_KT_FAIL;
    }

    signer = eci_chain_signer_new(key->value, key->len, &err);
    if (signer == NULL) {
        fprintf(stderr, "eci-keytool: \"%s\": %s\n", args->file, err.msg);
        return ECI_KT_FAIL;
    }

    rc = ECI_KT_FAIL;

    if (eci_chain_signer_pem(signer, pem, sizeof(pem)) == 0) {
        fprintf(stderr, "eci-keytool: cannot write the public key\n");

    } else if (fputs(pem, stdout) == EOF || fflush(stdout) != 0) {
        fprintf(stderr, "eci-keytool: cannot write the public key: %s\n",
                strerror(errno));

    } else {
        rc = ECI_KT_OK;
    }

    eci_chain_signer_free(signer);

    return rc;
}


/* the store saved (sealed under master), or the reason printed */
static int
eci_kt_save(eci_keystore_t *ks, const char *file, const char *master)
{
    eci_err_t  err;

    if (eci_keystore_save(ks, file, master, &err) != 0) {
        fprintf(stderr, "eci-keytool: %s\n", err.msg);
        return -1;
    }

    return 0;
}


/* a new Ed25519 private key: 32 random bytes, as 64 hex digits */
static int
eci_kt_signing_key_add(eci_keystore_t *ks)
{
    int            rc;
    eci_err_t      err;
    unsigned char  raw[ECI_CHAIN_SEED_LEN];
    char           hex[2 * sizeof(raw) + 1];

    if (RAND_priv_bytes(raw, sizeof(raw)) != 1) {
        fprintf(stderr, "eci-keytool: no random bytes for the audit signing "
                "key\n");
        return -1;
    }

    eci_hex(hex, raw, sizeof(raw));
    hex[2 * sizeof(raw)] = '\0';

    rc = eci_keystore_set(ks, ECI_KEY_AUDIT_SIGNING, hex, 2 * sizeof(raw),
                          &err);
    if (rc != 0) {
        fprintf(stderr, "eci-keytool: %s\n", err.msg);
    }

    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));

    return rc;
}
