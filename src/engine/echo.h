/* echo.h -- whether an answer is about the person asked.
 *
 * The provider echoes the query in result.Mobile and result.Name. An answer
 * whose echo names someone else (a provider or a proxy mixing answers up)
 * must never become this person's verdict. Pure functions, no Lua. */
#ifndef QXT_ECHO_H
#define QXT_ECHO_H

#include <stddef.h>

/* 1 when the mobile echoed is the number asked, once both are normalised:
 * digits only (ASCII and full-width digits; spaces, '-', '+', '(', ')', '.'
 * and full-width spaces dropped), then a leading 86 (13 digits) or 0086
 * (15 digits) dropped. A '*' or '＊' in the echo stands for any one digit
 * (a masked echo); an echo with '…' or "..." cannot be compared and counts
 * as the same. An empty echo names nobody and counts as the same. A value
 * holding anything else (letters) is compared byte for byte. */
int echo_same_mobile(const char *asked, size_t asked_len, const char *echoed, size_t echoed_len);

/* 1 when the name echoed may be the name asked: equal once both are
 * trimmed of white space (ASCII and U+3000), or masked ('*', '＊', '…' or
 * "..." anywhere in it: the provider may show a name as "曹..."), or empty.
 * Masked names are never compared: "differs only by masking" is "same". */
int echo_same_name(const char *asked, size_t asked_len, const char *echoed, size_t echoed_len);

#endif
