/* textscan.h -- evidence about a text's encoding: one pass over its bytes
 * says, line by line, what reads as UTF-8 and what reads as GB18030.
 *
 * Nothing here decides: the counts go to lua/qxt/input.lua, which applies
 * the rule documented there (and in docs/troubleshooting.md). The scan is
 * incremental (feed any split of the bytes, then end), knows nothing of
 * files or Lua, and allocates nothing.
 *
 * A "line" is what lies between two LF bytes; a line "with non-ASCII" has a
 * byte >= 0x80. Such a line is counted in exactly one of:
 *   utf8_bad     it has a byte sequence that is not UTF-8;
 *   utf8_strong  it is UTF-8 and has a sequence of 3 or 4 bytes (CJK text);
 *   utf8_weak    it is UTF-8 with 2-byte sequences only (Latin accents,
 *                and GBK text that happens to form them: the weak kind).
 * Independently, gb_bad counts the lines that are not GB18030.
 *
 * Validity follows Unicode's UTF-8 (no overlongs, no surrogates, at most
 * U+10FFFF) and GB18030 as glibc's iconv decodes it: ASCII; a lead byte
 * 81-FE with a trail byte 40-7E or 80-FE; or four bytes 81-FE 30-39 81-FE
 * 30-39 in the ranges that map to U+0080..U+FFFF and U+10000..U+10FFFF. */
#ifndef QXT_TEXTSCAN_H
#define QXT_TEXTSCAN_H

#include <stddef.h>
#include <stdint.h>

struct textscan {
    /* results, valid after textscan_end */
    uint64_t bytes;            /* bytes fed */
    uint64_t lines;            /* lines seen (a last line without LF counts) */
    uint64_t lines_nonascii;   /* = utf8_bad + utf8_strong + utf8_weak */
    uint64_t utf8_bad, utf8_strong, utf8_weak;
    uint64_t gb_bad;           /* lines that are not GB18030 */
    uint64_t utf8_bad_seqs;    /* invalid UTF-8 sequences, over all lines */
    uint64_t gb_bad_seqs;      /* invalid GB18030 sequences */
    int64_t utf8_first;        /* offset (0-based) of the first invalid UTF-8
                                * sequence, -1 when none */
    uint64_t utf8_first_line;  /* its line, 1-based; 0 when none */
    int64_t gb_first;          /* the same for GB18030 */
    uint64_t gb_first_line;

    /* running state */
    uint64_t line_no;          /* the current line, 1-based */
    int line_nonascii, line_utf8_bad, line_utf8_long, line_gb_bad;
    int line_open;             /* the last byte fed was not LF */
    int u_need;                /* continuation bytes still expected */
    int u_len;                 /* length of the sequence being read */
    unsigned char u_lo, u_hi;  /* range of the next continuation byte */
    uint64_t u_start;          /* offset of its lead byte */
    int g_state;               /* 0 idle; 1, 2, 3 bytes of a character read */
    unsigned char g_bytes[3];
    uint64_t g_start;
};

/* Starts a scan; `s` is the caller's, and holds no pointers. */
void textscan_init(struct textscan *s);

/* Feeds the next n bytes of the text. */
void textscan_feed(struct textscan *s, const unsigned char *p, size_t n);

/* Ends the text: a sequence left open is invalid, the last line counts. */
void textscan_end(struct textscan *s);

/* The 1-based positions in p[0..n) where an invalid UTF-8 sequence starts,
 * at most `max` of them into out[] (returns how many there are in all, so
 * more than max means some were left out). When `final` is 0, a sequence
 * that p ends before completing is not an error: *pending gets its length,
 * for the caller to prepend to the next piece; otherwise *pending is 0. */
size_t utf8_errors(const unsigned char *p, size_t n, int final, size_t *out, size_t max,
                   size_t *pending);

#endif
