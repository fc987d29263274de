/* textscan.c -- evidence about a text's encoding (see textscan.h).
 *
 * Two small state machines read every byte that is not plain ASCII between
 * characters: one for UTF-8, one for GB18030. Runs of ASCII, most of a CSV
 * (digits, commas, line ends), take a tight loop of their own. */
#include <string.h>

#include "textscan.h"

/* GB18030 four-byte characters, as b1 b2 b3 b4 -> a linear index: glibc
 * maps 81308130..8431A439 to the BMP and 90308130..E3329A35 beyond it,
 * except two small holes (iconv_spec compares every code with iconv). */
#define GB4_LINEAR(b1, b2, b3, b4) \
    ((((uint32_t)(b1) - 0x81) * 10 + ((b2) - 0x30)) * 1260 + ((uint32_t)(b3) - 0x81) * 10 + ((b4) - 0x30))
#define GB4_BMP_LAST GB4_LINEAR(0x84, 0x31, 0xA4, 0x39)
#define GB4_SUPP_FIRST GB4_LINEAR(0x90, 0x30, 0x81, 0x30)
#define GB4_SUPP_LAST GB4_LINEAR(0xE3, 0x32, 0x9A, 0x35)
#define GB4_HOLE(k) ((k >= GB4_LINEAR(0x82, 0x35, 0x90, 0x37) && k <= GB4_LINEAR(0x82, 0x35, 0x91, 0x34)) \
                     || (k >= GB4_LINEAR(0x84, 0x31, 0x82, 0x36) && k <= GB4_LINEAR(0x84, 0x31, 0x83, 0x35)))

void textscan_init(struct textscan *s) {
    memset(s, 0, sizeof *s);
    s->utf8_first = s->gb_first = -1;
    s->line_no = 1;
    s->u_lo = 0x80;
    s->u_hi = 0xBF;
}

static void utf8_error(struct textscan *s, uint64_t at) {
    s->utf8_bad_seqs++;
    s->line_utf8_bad = 1;
    if (s->utf8_first < 0) {
        s->utf8_first = (int64_t)at;
        s->utf8_first_line = s->line_no;
    }
}

static void gb_error(struct textscan *s, uint64_t at) {
    s->gb_bad_seqs++;
    s->line_gb_bad = 1;
    if (s->gb_first < 0) {
        s->gb_first = (int64_t)at;
        s->gb_first_line = s->line_no;
    }
}

/* The UTF-8 sequence a lead byte starts: sets what the next byte may be
 * and returns how many continuation bytes follow; 0 for ASCII, -1 for a
 * byte no sequence starts with. */
static int utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80)
        return 0;
    if (c >= 0xC2 && c <= 0xDF)
        return 1;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            *lo = 0xA0;                  /* no overlongs */
        else if (c == 0xED)
            *hi = 0x9F;                  /* no surrogates */
        return 2;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            *lo = 0x90;
        else if (c == 0xF4)
            *hi = 0x8F;                  /* nothing past U+10FFFF */
        return 3;
    }
    return -1;
}

static void utf8_step(struct textscan *s, unsigned char c, uint64_t off) {
    int need;
    if (s->u_need) {
        if (c >= s->u_lo && c <= s->u_hi) {
            s->u_lo = 0x80;
            s->u_hi = 0xBF;
            if (--s->u_need == 0 && s->u_len >= 3)
                s->line_utf8_long = 1;
            return;
        }
        utf8_error(s, s->u_start);       /* cut short: c starts afresh */
        s->u_need = 0;
    }
    need = utf8_lead(c, &s->u_lo, &s->u_hi);
    if (need < 0) {
        utf8_error(s, off);
    } else if (need > 0) {
        s->u_need = need;
        s->u_len = need + 1;
        s->u_start = off;
    }
}

static void gb_step(struct textscan *s, unsigned char c, uint64_t off) {
    for (;;) {
        switch (s->g_state) {
        case 0:
            if (c < 0x80)
                return;
            if (c >= 0x81 && c <= 0xFE) {
                s->g_state = 1;
                s->g_bytes[0] = c;
                s->g_start = off;
            } else {
                gb_error(s, off);        /* 0x80 and 0xFF */
            }
            return;
        case 1:
            if ((c >= 0x40 && c <= 0x7E) || (c >= 0x80 && c <= 0xFE)) {
                s->g_state = 0;
                return;
            }
            if (c >= 0x30 && c <= 0x39) {
                s->g_state = 2;
                s->g_bytes[1] = c;
                return;
            }
            break;
        case 2:
            if (c >= 0x81 && c <= 0xFE) {
                s->g_state = 3;
                s->g_bytes[2] = c;
                return;
            }
            break;
        default:
            if (c >= 0x30 && c <= 0x39) {
                uint32_t k = GB4_LINEAR(s->g_bytes[0], s->g_bytes[1], s->g_bytes[2], c);
                s->g_state = 0;
                if (!((k <= GB4_BMP_LAST && !GB4_HOLE(k)) || (k >= GB4_SUPP_FIRST && k <= GB4_SUPP_LAST)))
                    gb_error(s, s->g_start);
                return;
            }
            break;
        }
        gb_error(s, s->g_start);         /* cut short: c starts afresh */
        s->g_state = 0;
    }
}

static void end_line(struct textscan *s) {
    if (s->line_nonascii) {
        s->lines_nonascii++;
        if (s->line_utf8_bad)
            s->utf8_bad++;
        else if (s->line_utf8_long)
            s->utf8_strong++;
        else
            s->utf8_weak++;
    }
    if (s->line_gb_bad)
        s->gb_bad++;
    s->lines++;
    s->line_no++;
    s->line_nonascii = s->line_utf8_bad = s->line_utf8_long = s->line_gb_bad = 0;
}

void textscan_feed(struct textscan *s, const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c;
        if (s->u_need == 0 && s->g_state == 0) {
            /* ASCII between characters: only line ends matter, and only
             * counting them when the line so far is plain ASCII. */
            size_t j = i;
            uint64_t newlines = 0;
            while (j < n && p[j] < 0x80) {
                if (p[j] == '\n') {
                    if (s->line_nonascii || s->line_gb_bad || s->line_utf8_bad) {
                        s->line_no += newlines;
                        s->lines += newlines;
                        newlines = 0;
                        end_line(s);
                    } else {
                        newlines++;
                    }
                }
                j++;
            }
            s->line_no += newlines;
            s->lines += newlines;
            i = j;
            if (i == n)
                break;
        }
        c = p[i];
        utf8_step(s, c, s->bytes + i);
        gb_step(s, c, s->bytes + i);
        if (c >= 0x80)
            s->line_nonascii = 1;
        else if (c == '\n')
            end_line(s);                 /* after both machines saw it */
        i++;
    }
    s->bytes += n;
    if (n > 0)
        s->line_open = p[n - 1] != '\n';
}

void textscan_end(struct textscan *s) {
    if (s->u_need) {
        utf8_error(s, s->u_start);
        s->u_need = 0;
    }
    if (s->g_state) {
        gb_error(s, s->g_start);
        s->g_state = 0;
    }
    if (s->line_open) {
        end_line(s);
        s->line_open = 0;
    }
}

size_t utf8_errors(const unsigned char *p, size_t n, int final, size_t *out, size_t max,
                   size_t *pending) {
    size_t i = 0, count = 0;
    *pending = 0;
    while (i < n) {
        unsigned char lo, hi;
        int need;
        size_t k;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        need = utf8_lead(p[i], &lo, &hi);
        for (k = 1; need > 0 && k <= (size_t)need; k++) {
            if (i + k == n)
                break;
            if (p[i + k] < lo || p[i + k] > hi)
                break;
            lo = 0x80;
            hi = 0xBF;
        }
        if (need > 0 && k > (size_t)need) {
            i += k;                      /* a whole character */
            continue;
        }
        if (need > 0 && i + k == n && !final) {
            *pending = n - i;            /* may complete in the next piece */
            break;
        }
        if (count < max)
            out[count] = i + 1;
        count++;
        i += need > 0 ? k : 1;           /* the maximal invalid part */
    }
    return count;
}
