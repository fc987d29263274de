/* xlsxpart.c -- the archive's entries, the XML parser and the small parts
 * of a workbook (see xlsxpart.h). */
#include "xlsxpart.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK (64 * 1024)
#define RATIO_FLOOR (1u << 20)   /* small parts compress well; only big ones are judged */

/* Makes room for need elements of each bytes in the array *pp, which has
 * room for *cap: the room doubles (n items cost about log2 n reallocs, not
 * n), but never past max (the caller's limit on the count) unless need
 * does. Returns 0, or -1 when out of memory (*pp and *cap unchanged). */
static int grow(void *pp, size_t *cap, size_t need, size_t each, size_t max)
{
    size_t n = *cap ? *cap : 16;
    void *q;

    if (need <= *cap)
        return 0;
    while (n < need && n <= max / 2)
        n *= 2;
    if (n > max)
        n = max;
    if (n < need)
        n = need;
    q = realloc(*(void **)pp, n * each);
    if (!q)
        return -1;
    *(void **)pp = q;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Entries */

int xpart_open(zip_t *z, const char *name, uint64_t cap, unsigned ratio, struct xpart *p,
               char *err, size_t errlen)
{
    zip_stat_t zs;
    zip_int64_t i = zip_name_locate(z, name, ZIP_FL_NOCASE);

    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (i < 0)
        return 1;
    zip_stat_init(&zs);
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &zs) != 0) {
        snprintf(err, errlen, "%s: %s", name, zip_strerror(z));
        return -1;
    }
    if ((zs.valid & ZIP_STAT_SIZE) && zs.size > cap) {
        snprintf(err, errlen, "%s is %llu bytes uncompressed, over the limit of %llu: refused "
                 "(a damaged file, or a zip bomb)", name, (unsigned long long)zs.size,
                 (unsigned long long)cap);
        return -1;
    }
    p->f = zip_fopen_index(z, (zip_uint64_t)i, 0);
    if (!p->f) {
        snprintf(err, errlen, "%s: %s", name, zip_strerror(z));
        return -1;
    }
    p->cap = cap;
    p->ratio = ratio;
    p->comp = (zs.valid & ZIP_STAT_COMP_SIZE) ? zs.comp_size : 0;
    return 0;
}

long xpart_read(struct xpart *p, void *buf, size_t n, char *err, size_t errlen)
{
    zip_int64_t got = zip_fread(p->f, buf, n);

    if (got < 0) {
        zip_error_t *e = zip_file_get_error(p->f);
        snprintf(err, errlen, "%s cannot be read: %s (the file is damaged)", p->name,
                 zip_error_strerror(e));
        return -1;
    }
    p->got += (uint64_t)got;
    if (p->got > p->cap) {
        snprintf(err, errlen, "%s holds more than %llu bytes uncompressed: refused (a damaged "
                 "file, or a zip bomb)", p->name, (unsigned long long)p->cap);
        return -1;
    }
    if (p->got > RATIO_FLOOR && p->got / (p->comp ? p->comp : 1) > p->ratio) {
        snprintf(err, errlen, "%s expands more than %u times its compressed size: refused "
                 "(a zip bomb?)", p->name, p->ratio);
        return -1;
    }
    return (long)got;
}

void xpart_close(struct xpart *p)
{
    if (p->f)
        zip_fclose(p->f);
    p->f = NULL;
}

/* ------------------------------------------------------------------ */
/* The parser */

void xml_fail(struct xstate *st, const char *fmt, ...)
{
    va_list ap;

    if (st->failed)
        return;
    st->failed = 1;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    XML_StopParser(st->p, XML_FALSE);
}

/* Called by expat at <!DOCTYPE: an .xlsx has none, and a DTD is how XML
 * files declare entities (billion laughs, external files). */
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal)
{
    xml_fail(ud, "has a DOCTYPE, which an .xlsx never has: refused");
}

XML_Parser xml_new(void *ud)
{
    struct xstate *st = ud;
    XML_Parser p = XML_ParserCreateNS("UTF-8", '|');

    if (!p)
        return NULL;
    st->p = p;
    st->failed = 0;
    st->err[0] = '\0';
    XML_SetUserData(p, ud);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    return p;
}

const char *xml_local(const char *name)
{
    const char *bar = strrchr(name, '|');
    return bar ? bar + 1 : name;
}

const char *xml_attr(const char **atts, const char *name, const char *ns)
{
    for (size_t i = 0; atts[i]; i += 2) {
        const char *bar = strrchr(atts[i], '|');
        const char *loc = bar ? bar + 1 : atts[i];
        if (strcmp(loc, name) != 0)
            continue;
        if (ns ? (bar && memmem(atts[i], (size_t)(bar - atts[i]), ns, strlen(ns))) : !bar)
            return atts[i + 1];
    }
    return NULL;
}

void xml_error(XML_Parser p, struct xstate *st, const char *name, char *err, size_t errlen)
{
    if (st->failed)
        snprintf(err, errlen, "%s %s", name, st->err);
    else
        snprintf(err, errlen, "%s is not well-formed XML: %s at line %lu", name,
                 XML_ErrorString(XML_GetErrorCode(p)), (unsigned long)XML_GetCurrentLineNumber(p));
}

int xml_parse_part(zip_t *z, const char *name, uint64_t cap, unsigned ratio, XML_Parser p,
                   char *err, size_t errlen)
{
    struct xpart part;
    int rc = xpart_open(z, name, cap, ratio, &part, err, errlen);

    if (rc != 0)
        return rc;
    for (;;) {
        void *buf = XML_GetBuffer(p, CHUNK);
        long n = buf ? xpart_read(&part, buf, CHUNK, err, errlen) : -1;
        if (!buf)
            snprintf(err, errlen, "%s: out of memory", name);
        if (n < 0)
            break;
        if (XML_ParseBuffer(p, (int)n, n == 0) != XML_STATUS_OK) {
            xml_error(p, XML_GetUserData(p), name, err, errlen);
            break;
        }
        if (n == 0) {
            xpart_close(&part);
            return 0;
        }
    }
    xpart_close(&part);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Relationships: _rels/.rels and the workbook's */

/* The part a relationship's target names, from the part holding it. */
static void resolve(const char *from, const char *target, char *out, size_t size)
{
    char path[512];
    size_t n = 0;
    const char *slash = strrchr(from, '/');

    if (target[0] == '/') {
        snprintf(path, sizeof path, "%s", target + 1);
    } else {
        snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - from + 1) : 0, from, target);
    }
    /* Drop "." and "x/.." segments. */
    out[0] = '\0';
    for (char *seg = strtok(path, "/"); seg; seg = strtok(NULL, "/")) {
        if (strcmp(seg, ".") == 0)
            continue;
        if (strcmp(seg, "..") == 0) {
            char *up = strrchr(out, '/');
            n = up ? (size_t)(up - out) : 0;
            out[n] = '\0';
            continue;
        }
        n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? "/" : "", seg);
        if (n >= size) {
            out[0] = '\0';
            return;
        }
    }
}

struct rels {
    struct xstate base;
    const char *from;        /* the part the relationships belong to */
    struct xbook *b;
    int top;                 /* _rels/.rels: only the office document matters */
};

static int type_is(const char *type, const char *what)
{
    size_t t = strlen(type), w = strlen(what);
    return t > w && type[t - w - 1] == '/' && strcmp(type + t - w, what) == 0;
}

/* Called by expat at each element of a relationships part. */
static void on_rel(void *ud, const XML_Char *el, const XML_Char **atts)
{
    struct rels *r = ud;
    const char *id, *type, *target;
    char path[256];

    if (r->base.failed || strcmp(xml_local(el), "Relationship") != 0)
        return;
    id = xml_attr(atts, "Id", NULL);
    type = xml_attr(atts, "Type", NULL);
    target = xml_attr(atts, "Target", NULL);
    if (!id || !type || !target || (xml_attr(atts, "TargetMode", NULL)
                                    && strcmp(xml_attr(atts, "TargetMode", NULL), "External") == 0))
        return;
    resolve(r->from, target, path, sizeof path);
    if (r->top) {
        if (type_is(type, "officeDocument"))
            snprintf(r->b->workbook, sizeof r->b->workbook, "%s", path);
        return;
    }
    if (type_is(type, "sharedStrings"))
        snprintf(r->b->strings, sizeof r->b->strings, "%s", path);
    else if (type_is(type, "styles"))
        snprintf(r->b->styles, sizeof r->b->styles, "%s", path);
    else if (type_is(type, "worksheet"))
        for (size_t i = 0; i < r->b->nsheets; i++)
            if (r->b->sheets[i].path && !r->b->sheets[i].path[0] && strcmp(r->b->sheets[i].path + 1, id) == 0) {
                free(r->b->sheets[i].path);
                r->b->sheets[i].path = strdup(path);
            }
}

/* The workbook's sheet list: each sheet's path holds "\0" + its r:id until
 * the relationships resolve it (a sheet never resolved is not a worksheet). */
struct wb {
    struct xstate base;
    struct xbook *b;
    size_t cap;          /* room in b->sheets */
};

static void on_workbook(void *ud, const XML_Char *el, const XML_Char **atts)
{
    struct wb *w = ud;
    const char *loc = xml_local(el);

    if (w->base.failed)
        return;
    if (strcmp(loc, "workbookPr") == 0) {
        const char *d = xml_attr(atts, "date1904", NULL);
        w->b->date1904 = d && (strcmp(d, "1") == 0 || strcmp(d, "true") == 0);
    } else if (strcmp(loc, "sheet") == 0) {
        const char *name = xml_attr(atts, "name", NULL), *id = xml_attr(atts, "id", "relationships");
        const char *state = xml_attr(atts, "state", NULL);
        struct xsheet *s;
        if (!name || !id)
            return;
        if (w->b->nsheets >= 4096) {
            xml_fail(&w->base, "lists more than 4096 sheets: refused");
            return;
        }
        if (grow(&w->b->sheets, &w->cap, w->b->nsheets + 1, sizeof *s, 4096) < 0) {
            xml_fail(&w->base, "needs more memory than there is");
            return;
        }
        s = w->b->sheets + w->b->nsheets++;
        s->name = strdup(name);
        s->path = malloc(strlen(id) + 2);
        if (s->path) {
            s->path[0] = '\0';
            strcpy(s->path + 1, id);
        }
        s->hidden = state && strcmp(state, "visible") != 0;
        if (!s->name || !s->path)
            xml_fail(&w->base, "needs more memory than there is");
    }
}

static int parse_with(zip_t *z, const char *name, uint64_t cap, unsigned ratio, void *st,
                      XML_StartElementHandler start, char *err, size_t errlen)
{
    XML_Parser p = xml_new(st);
    int rc;

    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    XML_SetStartElementHandler(p, start);
    rc = xml_parse_part(z, name, cap, ratio, p, err, errlen);
    XML_ParserFree(p);
    return rc;
}

int xbook_load(zip_t *z, const struct xlsx_limits *lim, struct xbook *b, char *err, size_t errlen)
{
    struct rels r = { .from = "", .b = b, .top = 1 };
    struct wb w = { .b = b };
    char relpath[300];
    const char *slash;
    int rc;

    memset(b, 0, sizeof *b);
    rc = parse_with(z, "_rels/.rels", lim->max_part, lim->max_ratio, &r, on_rel, err, errlen);
    if (rc < 0)
        return -1;
    if (!b->workbook[0])
        snprintf(b->workbook, sizeof b->workbook, "xl/workbook.xml");
    rc = parse_with(z, b->workbook, lim->max_part, lim->max_ratio, &w, on_workbook, err, errlen);
    if (rc == 1)
        snprintf(err, errlen, "it is a zip archive but not an Excel workbook (no %s): "
                 "save it from the spreadsheet as .xlsx", b->workbook);
    if (rc != 0)
        return -1;
    if (b->nsheets == 0) {
        snprintf(err, errlen, "the workbook has no sheets");
        return -1;
    }
    slash = strrchr(b->workbook, '/');
    snprintf(relpath, sizeof relpath, "%.*s_rels/%s.rels", slash ? (int)(slash - b->workbook + 1) : 0,
             b->workbook, slash ? slash + 1 : b->workbook);
    r.from = b->workbook;
    r.top = 0;
    rc = parse_with(z, relpath, lim->max_part, lim->max_ratio, &r, on_rel, err, errlen);
    if (rc == 1)
        snprintf(err, errlen, "the workbook has no relationships part (%s)", relpath);
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < b->nsheets; i++)
        if (b->sheets[i].path && !b->sheets[i].path[0]) {     /* not a worksheet: a chart */
            free(b->sheets[i].path);
            b->sheets[i].path = NULL;
        }
    return 0;
}

void xbook_free(struct xbook *b)
{
    for (size_t i = 0; i < b->nsheets; i++) {
        free(b->sheets[i].name);
        free(b->sheets[i].path);
    }
    free(b->sheets);
    b->sheets = NULL;
    b->nsheets = 0;
}

/* ------------------------------------------------------------------ */
/* Styles: which cell formats are dates */

/* Built-in formats that show a date or time, including the East Asian
 * ones Chinese Excel uses (27-36, 50-58). */
static int builtin_date(unsigned id)
{
    return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47)
        || (id >= 50 && id <= 58) || (id >= 71 && id <= 81);
}

/* A format code shows a date or time when it has d, m, y, h or s outside
 * quoted text, escapes, fills and [colour] or [$-locale] sections. */
static int code_is_date(const char *s)
{
    for (; *s; s++) {
        if (*s == '"') {
            while (s[1] && s[1] != '"')
                s++;
            if (s[1])
                s++;
        } else if (*s == '\\' || *s == '_' || *s == '*') {
            if (s[1])
                s++;
        } else if (*s == '[') {
            while (s[1] && s[1] != ']')
                s++;
        } else if (strchr("dmyhsDMYHS", *s)) {
            return 1;
        } else if (*s == ';') {
            return 0;           /* only the first section: positive numbers */
        }
    }
    return 0;
}

struct styles {
    struct xstate base;
    unsigned *custom_ids;    /* custom formats that are dates */
    size_t ncustom, custom_cap;
    int in_xfs;
    unsigned char *dates;
    size_t n, dates_cap;
};

static void on_style(void *ud, const XML_Char *el, const XML_Char **atts)
{
    struct styles *st = ud;
    const char *loc = xml_local(el), *id;

    if (st->base.failed)
        return;
    if (strcmp(loc, "numFmt") == 0) {
        const char *code = xml_attr(atts, "formatCode", NULL);
        id = xml_attr(atts, "numFmtId", NULL);
        if (id && code && code_is_date(code)) {
            if (st->ncustom >= 65536 || grow(&st->custom_ids, &st->custom_cap, st->ncustom + 1, sizeof *st->custom_ids, 65536) < 0) {
                xml_fail(&st->base, "has too many number formats");
                return;
            }
            st->custom_ids[st->ncustom++] = (unsigned)strtoul(id, NULL, 10);
        }
    } else if (strcmp(loc, "cellXfs") == 0) {
        st->in_xfs = 1;
    } else if (strcmp(loc, "xf") == 0 && st->in_xfs) {
        unsigned fmt;
        int date;
        id = xml_attr(atts, "numFmtId", NULL);
        fmt = id ? (unsigned)strtoul(id, NULL, 10) : 0;
        date = builtin_date(fmt);
        for (size_t i = 0; i < st->ncustom && !date; i++)
            date = st->custom_ids[i] == fmt;
        if (st->n >= 1u << 20 || grow(&st->dates, &st->dates_cap, st->n + 1, 1, 1u << 20) < 0) {
            xml_fail(&st->base, "has too many cell formats");
            return;
        }
        st->dates[st->n++] = (unsigned char)date;
    }
}

static void on_style_end(void *ud, const XML_Char *el)
{
    struct styles *st = ud;
    if (strcmp(xml_local(el), "cellXfs") == 0)
        st->in_xfs = 0;
}

int xstyles_load(zip_t *z, const char *name, const struct xlsx_limits *lim, unsigned char **dates,
                 size_t *n, char *err, size_t errlen)
{
    struct styles st = { 0 };
    XML_Parser p;
    int rc = 0;

    *dates = NULL;
    *n = 0;
    if (!name[0])
        return 0;
    p = xml_new(&st);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    XML_SetElementHandler(p, on_style, on_style_end);
    rc = xml_parse_part(z, name, lim->max_part, lim->max_ratio, p, err, errlen);
    XML_ParserFree(p);
    free(st.custom_ids);
    if (rc < 0) {
        free(st.dates);
        return -1;
    }
    *dates = st.dates;
    *n = st.n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Shared strings: <si> holds <t>, or rich text runs <r><t>; the phonetic
 * guide (<rPh>, furigana) is not part of the text. */

struct sst {
    struct xstate base;
    struct xstrings *s;
    size_t len, cap, max_cell, max_bytes, item_start;
    size_t off_cap;          /* room in s->off */
    int in_t, rph;
};

static void sst_start(void *ud, const XML_Char *el, const XML_Char **atts)
{
    struct sst *st = ud;
    const char *loc = xml_local(el);

    if (st->base.failed)
        return;
    if (strcmp(loc, "si") == 0) {
        st->item_start = st->len;
    } else if (strcmp(loc, "rPh") == 0) {
        st->rph++;
    } else if (strcmp(loc, "t") == 0 && !st->rph) {
        st->in_t = 1;
    }
}

static void sst_end(void *ud, const XML_Char *el)
{
    struct sst *st = ud;
    const char *loc = xml_local(el);

    if (st->base.failed)
        return;
    if (strcmp(loc, "t") == 0) {
        st->in_t = 0;
    } else if (strcmp(loc, "rPh") == 0) {
        st->rph--;
    } else if (strcmp(loc, "si") == 0) {
        struct xstrings *s = st->s;
        /* Empty strings cost no text but an offset each: count both. */
        if (st->len + (s->n + 2) * sizeof *s->off > st->max_bytes) {
            xml_fail(&st->base, "takes more than %zu bytes of memory: refused", st->max_bytes);
            return;
        }
        if (grow(&s->off, &st->off_cap, s->n + 2, sizeof *s->off, st->max_bytes / sizeof *s->off) < 0) {
            xml_fail(&st->base, "needs more memory than there is");
            return;
        }
        s->off[s->n++] = st->item_start;
        s->off[s->n] = st->len;
    }
}

static void sst_text(void *ud, const XML_Char *text, int len)
{
    struct sst *st = ud;

    if (st->base.failed || !st->in_t)
        return;
    if (st->len - st->item_start + (size_t)len > st->max_cell) {
        xml_fail(&st->base, "has a string of more than %zu bytes: refused", st->max_cell);
        return;
    }
    if (st->len + (size_t)len > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64 * 1024;
        char *q;
        while (cap < st->len + (size_t)len)
            cap *= 2;
        q = realloc(st->s->text, cap);
        if (!q) {
            xml_fail(&st->base, "needs more memory than there is");
            return;
        }
        st->s->text = q;
        st->cap = cap;
    }
    memcpy(st->s->text + st->len, text, (size_t)len);
    st->len += (size_t)len;
}

int xstrings_load(zip_t *z, const char *name, const struct xlsx_limits *lim, struct xstrings *s,
                  char *err, size_t errlen)
{
    struct sst st = { .s = s, .max_cell = lim->max_cell, .max_bytes = lim->max_strings };
    XML_Parser p;
    int rc;

    memset(s, 0, sizeof *s);
    if (!name[0])
        return 0;
    p = xml_new(&st);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    XML_SetElementHandler(p, sst_start, sst_end);
    XML_SetCharacterDataHandler(p, sst_text);
    rc = xml_parse_part(z, name, lim->max_strings, lim->max_ratio, p, err, errlen);
    XML_ParserFree(p);
    if (rc < 0) {
        xstrings_free(s);
        return -1;
    }
    return 0;
}

void xstrings_free(struct xstrings *s)
{
    free(s->text);
    free(s->off);
    memset(s, 0, sizeof *s);
}
