/*
 * ngx_eci: JSON strings read and written by hand.
 *
 * eci_js_string() decodes a string for the response scanner
 * (eci_response.c); eci_json_escape() writes one for the audit line
 * (eci_audit_line.c) and the chain's lines (eci_chain.c).  Both check
 * UTF-8 the same way (eci_utf8_check()), and both pass over the bytes that
 * stand for themselves with one table (eci_json_plain, eci_json_int.h).
 */

#include <stdlib.h>
#include <string.h>

#include "eci_json.h"
#include "eci_json_int.h"


#define eci_min(a, b)    ((a) < (b) ? (a) : (b))


static int eci_js_hex4(eci_js_t *s, uint32_t *cp);
static size_t eci_utf8_check(const unsigned char *p, size_t n, int *valid);


static int
eci_js_hex4(eci_js_t *s, uint32_t *cp)
{
    int       i;
    uint32_t  c, d;

    if (s->end - s->p < 4) {
        return -1;
    }

    c = 0;

    for (i = 0; i < 4; i++) {
        d = s->p[i];

        if (d >= '0' && d <= '9') {
            d -= '0';

        } else if ((d | 0x20) >= 'a' && (d | 0x20) <= 'f') {
            d = (d | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        c = (c << 4) | d;
    }

    s->p += 4;
    *cp = c;

    return 0;
}


/*
 * A string, s->p at its '"'.  With dst, the decoded text goes there (whole
 * characters only, at most cap - 1 bytes, NUL-terminated); with hash, an
 * FNV-1a hash of all of it.  *dlen is the decoded length (all of it).
 */
int
eci_js_string(eci_js_t *s, char *dst, size_t cap, size_t *dlen,
    uint64_t *hash)
{
    int                   valid;
    size_t                n, k, i, used;
    uint32_t              cp, lo;
    uint64_t              h;
    unsigned char         c, buf[4];
    const unsigned char  *p;

    s->p++;     /* '"' */
    used = 0;
    n = 0;
    h = 0xcbf29ce484222325ULL;

    for ( ;; ) {

        if (s->p == s->end) {
            return -1;
        }

        c = *s->p;

        if (c == '"') {
            s->p++;
            break;
        }

        if (c < 0x20) {
            return -1;
        }

        if (c < 0x80 && c != '\\') {
            /* a run of plain ASCII: the common case, taken whole */
            p = s->p;
            s->p = eci_json_run(s->p, s->end, 0);
            k = s->p - p;

            if (hash != NULL) {
                for (i = 0; i < k; i++) {
                    h = (h ^ p[i]) * 0x100000001b3ULL;
                }
            }

            if (dst != NULL && used + 1 < cap) {
                i = eci_min(k, cap - 1 - used);
                memcpy(dst + used, p, i);
                used += i;

                if (i < k) {
                    cap = used + 1;     /* cut: nothing more fits */
                }
            }

            n += k;
            continue;
        }

        if (c == '\\') {
            s->p++;

            if (s->p == s->end) {
                return -1;
            }

            c = *s->p++;

            switch (c) {
            case '"': case '\\': case '/':
                buf[0] = c;
                k = 1;
                break;
            case 'b':
                buf[0] = '\b';
                k = 1;
                break;
            case 'f':
                buf[0] = '\f';
                k = 1;
                break;
            case 'n':
                buf[0] = '\n';
                k = 1;
                break;
            case 'r':
                buf[0] = '\r';
                k = 1;
                break;
            case 't':
                buf[0] = '\t';
                k = 1;
                break;

            case 'u':
                if (eci_js_hex4(s, &cp) != 0) {
                    return -1;
                }

                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (s->end - s->p < 6 || s->p[0] != '\\'
                        || s->p[1] != 'u')
                    {
                        return -1;
                    }

                    s->p += 2;

                    if (eci_js_hex4(s, &lo) != 0
                        || lo < 0xdc00 || lo > 0xdfff)
                    {
                        return -1;
                    }

                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);

                } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                    /* a lone low surrogate; NUL, as jansson refuses it */
                    return -1;
                }

                if (cp < 0x80) {
                    buf[0] = (unsigned char) cp;
                    k = 1;

                } else if (cp < 0x800) {
                    buf[0] = 0xc0 | (cp >> 6);
                    buf[1] = 0x80 | (cp & 0x3f);
                    k = 2;

                } else if (cp < 0x10000) {
                    buf[0] = 0xe0 | (cp >> 12);
                    buf[1] = 0x80 | ((cp >> 6) & 0x3f);
                    buf[2] = 0x80 | (cp & 0x3f);
                    k = 3;

                } else {
                    buf[0] = 0xf0 | (cp >> 18);
                    buf[1] = 0x80 | ((cp >> 12) & 0x3f);
                    buf[2] = 0x80 | ((cp >> 6) & 0x3f);
                    buf[3] = 0x80 | (cp & 0x3f);
                    k = 4;
                }

                break;

            default:
                return -1;
            }

            p = buf;

        } else {
            k = eci_utf8_check(s->p, s->end - s->p, &valid);

            if (!valid) {
                return -1;
            }

            p = s->p;
            s->p += k;
        }

        if (hash != NULL) {
            for (i = 0; i < k; i++) {
                h = (h ^ p[i]) * 0x100000001b3ULL;
            }
        }

        /* whole characters only: a cut never splits one */
        if (dst != NULL && used + k < cap) {
            memcpy(dst + used, p, k);
            used += k;

        } else if (dst != NULL) {
            cap = used + 1;     /* nothing more fits after a cut */
        }

        n += k;
    }

    if (dst != NULL) {
        dst[used] = '\0';
    }

    if (hash != NULL) {
        *hash = h;
    }

    *dlen = n;

    return 0;
}


size_t
eci_json_escape(char *dst, const char *src, size_t len)
{
    return eci_json_escape_cap(dst, (size_t) -1, src, len);
}


/*
 * The length of the well-formed UTF-8 sequence at p (*valid = 1), or of
 * its maximal ill-formed subpart (*valid = 0), after Unicode's Table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF.
 */
static size_t
eci_utf8_check(const unsigned char *p, size_t n, int *valid)
{
    size_t         need, i;
    unsigned char  c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        *valid = 0;
        return 1;
    }

    for (i = 1; i < need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *valid = 0;
            return i;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    *valid = 1;

    return need;
}


/* eci_json_escape() into cap bytes; (size_t) -1 when it does not fit */
size_t
eci_json_escape_cap(char *dst, size_t cap, const char *src, size_t len)
{
    int                   valid;
    size_t                i, o, start, n;
    unsigned char         c;
    const char           *esc;
    const unsigned char  *s;

    static const char     hex[] = "0123456789abcdef";


    s = (const unsigned char *) src;
    i = 0;
    o = 0;

    while (i < len) {

        /* the common case: a run of printable ASCII copied at once */
        start = i;
        i = eci_json_run(s + i, s + len, 1) - s;

        if (i > start) {
            n = i - start;

            if (cap - o < n) {
                return (size_t) -1;
            }

            memcpy(dst + o, src + start, n);
            o += n;

            if (i == len) {
                break;
            }
        }

        c = s[i];
        esc = NULL;
        n = 1;

        if (c < 0x80) {
            switch (c) {

            case '"':
                esc = "\\\"";
                break;

            case '\\':
                esc = "\\\\";
                break;

            case '\b':
                esc = "\\b";
                break;

            case '\f':
                esc = "\\f";
                break;

            case '\n':
                esc = "\\n";
                break;

            case '\r':
                esc = "\\r";
                break;

            case '\t':
                esc = "\\t";
                break;

            default:
                break;
            }

            if (esc != NULL) {
                if (cap - o < 2) {
                    return (size_t) -1;
                }

                dst[o++] = esc[0];
                dst[o++] = esc[1];
                i++;
                continue;
            }

            /* other controls and DEL */
            if (cap - o < 6) {
                return (size_t) -1;
            }

            memcpy(dst + o, "\\u00", 4);
            dst[o + 4] = hex[c >> 4];
            dst[o + 5] = hex[c & 0x0f];
            o += 6;
            i++;
            continue;
        }

        n = eci_utf8_check(s + i, len - i, &valid);

        if (!valid) {
            esc = "\\ufffd";

        } else if (n == 3 && c == 0xe2 && s[i + 1] == 0x80
                   && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
        {
            /* line and paragraph separators end a JavaScript string */
            esc = (s[i + 2] == 0xa8) ? "\\u2028" : "\\u2029";
        }

        if (esc != NULL) {
            if (cap - o < 6) {
                return (size_t) -1;
            }

            memcpy(dst + o, esc, 6);
            o += 6;

        } else {
            if (cap - o < n) {
                return (size_t) -1;
            }

            memcpy(dst + o, src + i, n);
            o += n;
        }

        i += n;
    }

    return o;
}
