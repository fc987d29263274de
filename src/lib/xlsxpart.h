/* xlsxpart.h -- what xlsxread.c builds on (private to the reader): one
 * entry of the archive read with its caps, an expat parser that refuses a
 * DOCTYPE and reports names without their namespace, and the small parts of
 * a workbook (relationships, the sheet list, the styles, the shared
 * strings). Every function reports a failure as a message in the parser
 * state or in err; none of them exits or aborts. */
#ifndef QXT_XLSXPART_H
#define QXT_XLSXPART_H

#include <expat.h>
#include <stdint.h>
#include <zip.h>

#include "xlsxread.h"

/* One entry of the archive, read in chunks. Its uncompressed size is
 * counted as it is read: over cap, or over max_ratio times its compressed
 * size (past 1 MiB), reading fails. */
struct xpart {
    zip_file_t *f;
    uint64_t got, cap, comp;
    unsigned ratio;
    char name[256];
};

/* 0 and p open; 1 when there is no such entry; -1 with a message. The
 * name is looked up ignoring case, as OOXML part names are. */
int xpart_open(zip_t *z, const char *name, uint64_t cap, unsigned ratio, struct xpart *p,
               char *err, size_t errlen);
/* Bytes read into buf (0 at the end), or -1 with a message. */
long xpart_read(struct xpart *p, void *buf, size_t n, char *err, size_t errlen);
void xpart_close(struct xpart *p);

/* What every parser's user data starts with: a failure stops the parser
 * (XML_StopParser) and keeps the first message. */
struct xstate {
    XML_Parser p;
    int failed;
    char err[256];
};

/* A parser with namespaces split off ("uri|local") whose user data is st
 * (which starts with a struct xstate); a DOCTYPE fails it. NULL if out of
 * memory. */
XML_Parser xml_new(void *st);
/* Records the first failure and stops the parser. */
void xml_fail(struct xstate *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The local part of an element or attribute name. */
const char *xml_local(const char *name);
/* The value of the attribute whose local name is name (with the namespace
 * containing ns, when ns is not NULL); NULL when absent. */
const char *xml_attr(const char **atts, const char *name, const char *ns);

/* Feeds the whole entry to the parser. 0, 1 (no such entry), or -1 with a
 * message (the parser's own failure first, else expat's, with the line). */
int xml_parse_part(zip_t *z, const char *name, uint64_t cap, unsigned ratio, XML_Parser p,
                   char *err, size_t errlen);
/* The message for an expat failure of p on part name (st's, if any). */
void xml_error(XML_Parser p, struct xstate *st, const char *name, char *err, size_t errlen);

/* The workbook: its part, its sheets (tab order), where each lives, and
 * the parts the sheets use. */
struct xsheet {
    char *name;
    char *path;          /* resolved part name; NULL for a chart sheet */
    int hidden;
};
struct xbook {
    char workbook[256];
    char strings[256];   /* "" when the workbook has no shared strings */
    char styles[256];
    struct xsheet *sheets;
    size_t nsheets;
    int date1904;
};
int xbook_load(zip_t *z, const struct xlsx_limits *lim, struct xbook *b, char *err, size_t errlen);
void xbook_free(struct xbook *b);

/* For each cell format (the s attribute of a cell), whether it shows a
 * date or a time. *dates is malloc'd, *n entries; both 0 without styles. */
int xstyles_load(zip_t *z, const char *name, const struct xlsx_limits *lim, unsigned char **dates,
                 size_t *n, char *err, size_t errlen);

/* The shared strings: string i is text + off[i], off[i + 1] - off[i] bytes. */
struct xstrings {
    char *text;
    size_t *off;
    size_t n;
};
int xstrings_load(zip_t *z, const char *name, const struct xlsx_limits *lim, struct xstrings *s,
                  char *err, size_t errlen);
void xstrings_free(struct xstrings *s);

#endif
