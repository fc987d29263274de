/* echo.c -- whether an answer is about the person asked; see echo.h. */
#include "echo.h"

#include <string.h>

#define WILD 'x'    /* a masked digit in a normalised echo */

static const char FW_STAR[] = "\xef\xbc\x8a";      /* ＊ U+FF0A */
static const char ELLIPSIS[] = "\xe2\x80\xa6";     /* … U+2026 */
static const char FW_SPACE[] = "\xe3\x80\x80";     /* U+3000 */

static int has(const char *s, size_t len, const char *what)
{
    return memmem(s, len, what, strlen(what)) != NULL;
}

/* The digits of a mobile number into out (at most cap), or -1 when it
 * holds something that is neither a digit nor a separator. */
static long digits(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char d = 0;
        if (c >= '0' && c <= '9')
            d = (char)c;
        else if (c == '*')
            d = WILD;
        else if (c == ' ' || c == '\t' || c == '-' || c == '+' || c == '(' || c == ')' || c == '.')
            continue;
        else if (c == 0xef && i + 2 < len && (unsigned char)s[i + 1] == 0xbc &&
                 (unsigned char)s[i + 2] >= 0x90 && (unsigned char)s[i + 2] <= 0x99) {
            d = (char)('0' + (unsigned char)s[i + 2] - 0x90);     /* full-width digit */
            i += 2;
        } else if (i + 2 < len && memcmp(s + i, FW_STAR, 3) == 0) {
            d = WILD;
            i += 2;
        } else if (i + 2 < len && memcmp(s + i, FW_SPACE, 3) == 0) {
            i += 2;
            continue;
        } else {
            return -1;
        }
        if (n == cap)
            return -1;
        out[n++] = d;
    }
    /* 86 13972565391 or 0086 13972565391: the country code, not the number */
    if (n == 13 && out[0] == '8' && out[1] == '6') {
        memmove(out, out + 2, 11);
        n = 11;
    } else if (n == 15 && memcmp(out, "0086", 4) == 0) {
        memmove(out, out + 4, 11);
        n = 11;
    }
    return (long)n;
}

int echo_same_mobile(const char *asked, size_t asked_len, const char *echoed, size_t echoed_len)
{
    char a[32], e[32];
    long na, ne;

    if (echoed_len == 0 || has(echoed, echoed_len, ELLIPSIS) || has(echoed, echoed_len, "..."))
        return 1;
    na = digits(asked, asked_len, a, sizeof a);
    ne = digits(echoed, echoed_len, e, sizeof e);
    if (na < 0 || ne < 0)
        return asked_len == echoed_len && memcmp(asked, echoed, asked_len) == 0;
    if (na != ne)
        return 0;
    for (long i = 0; i < na; i++)
        if (a[i] != e[i] && e[i] != WILD)
            return 0;
    return 1;
}

/* s[0..*len) without leading and trailing white space (ASCII, U+3000). */
static const char *trim(const char *s, size_t *len)
{
    size_t n = *len;

    for (;;) {
        if (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
            s++;
            n--;
        } else if (n >= 3 && memcmp(s, FW_SPACE, 3) == 0) {
            s += 3;
            n -= 3;
        } else if (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
            n--;
        } else if (n >= 3 && memcmp(s + n - 3, FW_SPACE, 3) == 0) {
            n -= 3;
        } else {
            break;
        }
    }
    *len = n;
    return s;
}

int echo_same_name(const char *asked, size_t asked_len, const char *echoed, size_t echoed_len)
{
    asked = trim(asked, &asked_len);
    echoed = trim(echoed, &echoed_len);
    if (echoed_len == 0 || memchr(echoed, '*', echoed_len) || has(echoed, echoed_len, FW_STAR) ||
        has(echoed, echoed_len, ELLIPSIS) || has(echoed, echoed_len, "..."))
        return 1;
    return asked_len == echoed_len && memcmp(asked, echoed, asked_len) == 0;
}
