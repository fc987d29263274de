/* xlsxread.c -- one sheet's rows, streamed (see xlsxread.h). The sheet is
 * parsed twice by the same handlers: once whole at open (the check pass:
 * counts, the header row, merged cells, every error), then row by row, the
 * parser suspended at the end of each row with a value. */
#include "xlsxread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xlsxpart.h"

#define CHUNK (64 * 1024)
#define MAX_ROW 1048576u         /* Excel's last row */
#define MAX_COL 16384u           /* Excel's last column, XFD */

struct sheet {
    struct xstate base;
    struct xlsx *x;
    int check;                   /* the check pass: count, never suspend */
    /* where we are */
    unsigned row, last_row, col, last_col;
    int in_data, in_cell, in_v, in_is, in_t, rph;
    char type;                   /* the cell's t: 's' shared, 'i' inline, 'S' str, 'b', 'e', 'n', 'd' */
    int date;                    /* the cell's format shows a date */
    size_t cell_start;
    /* the row being built: its text, its cells (text as offsets until handed out) */
    char *text;
    size_t len, cap;
    struct xlsx_cell *cells;
    size_t *offs;
    size_t ncells, ccap;
    int ready;                   /* a row with a value ended: suspended */
    int hidden;                  /* the row is hidden (a filter, or by hand) */
};

struct xlsx {
    zip_t *zip;
    struct xlsx_limits lim;
    struct xbook book;
    size_t sheet;                /* index in book.sheets */
    unsigned char *dates;
    size_t ndates;
    struct xstrings strings;
    /* from the check pass */
    size_t rows, hidden;
    unsigned header, first_hidden;
    struct xlsx_merge *merges;
    size_t nmerges;
    /* the streaming pass */
    struct xpart part;
    XML_Parser p;
    struct sheet st;
    int suspended, done;
};

static const struct xlsx_limits DEFAULTS = {
    .max_sheet = 4ull << 30, .max_part = 16u << 20, .max_strings = 256u << 20,
    .max_cell = 128u << 10, .max_row = 16u << 20, .max_ratio = 200, .max_merges = 100000,
};

void xlsx_cell_name(unsigned row, unsigned col, char *buf, size_t size)
{
    char letters[4];
    int n = 0;

    for (unsigned c = col; c > 0 && n < 3; c = (c - 1) / 26)
        letters[n++] = (char)('A' + (c - 1) % 26);
    for (int i = 0; i < n / 2; i++) {
        char t = letters[i];
        letters[i] = letters[n - 1 - i];
        letters[n - 1 - i] = t;
    }
    snprintf(buf, size, "%.*s%u", n, letters, row);
}

/* "C7" -> (7, 3); the row part may be absent (a range like "A:C" is not a
 * cell). Returns the end of what was read, or NULL when it is no cell name. */
static const char *parse_ref(const char *s, unsigned *row, unsigned *col)
{
    unsigned c = 0, r = 0;
    int letters = 0, digits = 0;

    for (; *s >= 'A' && *s <= 'Z' && letters < 4; s++, letters++)
        c = c * 26 + (unsigned)(*s - 'A' + 1);
    if (*s == '$')
        s++;
    for (; *s >= '0' && *s <= '9' && digits < 8; s++, digits++)
        r = r * 10 + (unsigned)(*s - '0');
    if (letters == 0 || letters > 3 || c > MAX_COL || r > MAX_ROW)
        return NULL;
    *row = r;
    *col = c;
    return s;
}

static int reserve(struct sheet *st, size_t more)
{
    if (st->len + more > st->x->lim.max_row) {
        xml_fail(&st->base, "row %u holds more than %zu bytes: refused", st->row, st->x->lim.max_row);
        return -1;
    }
    if (st->len + more <= st->cap)
        return 0;
    size_t cap = st->cap ? st->cap : 4096;
    while (cap < st->len + more)
        cap *= 2;
    char *q = realloc(st->text, cap);
    if (!q) {
        xml_fail(&st->base, "needs more memory than there is");
        return -1;
    }
    st->text = q;
    st->cap = cap;
    return 0;
}

static void add_text(struct sheet *st, const char *s, size_t n)
{
    if (st->len - st->cell_start + n > st->x->lim.max_cell) {
        char ref[16];
        xlsx_cell_name(st->row, st->col, ref, sizeof ref);
        xml_fail(&st->base, "cell %s holds more than %zu bytes: refused", ref, st->x->lim.max_cell);
        return;
    }
    if (reserve(st, n) == 0) {
        memcpy(st->text + st->len, s, n);
        st->len += n;
    }
}

static void merge_ref(struct sheet *st, const char *ref)
{
    struct xlsx *x = st->x;
    struct xlsx_merge m;
    const char *e = parse_ref(ref, &m.r1, &m.c1);

    if (!e || m.r1 == 0)
        return;
    m.r2 = m.r1;
    m.c2 = m.c1;
    if (*e == ':' && !parse_ref(e + 1, &m.r2, &m.c2))
        return;
    if (x->nmerges >= x->lim.max_merges) {
        xml_fail(&st->base, "has more than %zu merged ranges: refused", x->lim.max_merges);
        return;
    }
    if (x->nmerges % 256 == 0) {
        struct xlsx_merge *q = realloc(x->merges, (x->nmerges + 256) * sizeof *q);
        if (!q) {
            xml_fail(&st->base, "needs more memory than there is");
            return;
        }
        x->merges = q;
    }
    x->merges[x->nmerges++] = m;
}

/* Called by expat at each start tag of the sheet. */
static void on_start(void *ud, const XML_Char *el, const XML_Char **atts)
{
    struct sheet *st = ud;
    const char *loc = xml_local(el), *a;

    if (st->base.failed)
        return;
    if (strcmp(loc, "sheetData") == 0) {
        st->in_data = 1;
    } else if (!st->in_data) {
        if (st->check && strcmp(loc, "mergeCell") == 0 && (a = xml_attr(atts, "ref", NULL)))
            merge_ref(st, a);
    } else if (strcmp(loc, "row") == 0) {
        a = xml_attr(atts, "r", NULL);
        st->row = a ? (unsigned)strtoul(a, NULL, 10) : st->last_row + 1;
        if (st->row == 0 || st->row > MAX_ROW || st->row <= st->last_row) {
            xml_fail(&st->base, "has row %s after row %u: rows must go 1 to %u, in order",
                            a ? a : "?", st->last_row, MAX_ROW);
            return;
        }
        st->last_row = st->row;
        st->last_col = 0;
        a = xml_attr(atts, "hidden", NULL);
        st->hidden = a && (strcmp(a, "1") == 0 || strcmp(a, "true") == 0);
        st->len = 0;
        st->ncells = 0;
    } else if (strcmp(loc, "c") == 0) {
        unsigned r = st->row, c = st->last_col + 1;
        const char *t = xml_attr(atts, "t", NULL), *s = xml_attr(atts, "s", NULL);
        if ((a = xml_attr(atts, "r", NULL)) && (!parse_ref(a, &r, &c) || (r && r != st->row) || c == 0)) {
            xml_fail(&st->base, "has a cell named '%.20s' in row %u", a, st->row);
            return;
        }
        if (c <= st->last_col || c > MAX_COL) {
            xml_fail(&st->base, "has cells out of order in row %u", st->row);
            return;
        }
        st->col = st->last_col = c;
        st->in_cell = 1;
        st->cell_start = st->len;
        st->type = !t || strcmp(t, "n") == 0 ? 'n' : strcmp(t, "s") == 0 ? 's'
                 : strcmp(t, "inlineStr") == 0 ? 'i' : strcmp(t, "str") == 0 ? 'S'
                 : strcmp(t, "b") == 0 ? 'b' : strcmp(t, "e") == 0 ? 'e' : strcmp(t, "d") == 0 ? 'd' : 0;
        if (!st->type) {
            xml_fail(&st->base, "has a cell of unknown type '%.20s' in row %u", t, st->row);
            return;
        }
        unsigned long xf = s ? strtoul(s, NULL, 10) : 0;
        st->date = st->type == 'n' && xf < st->x->ndates && st->x->dates[xf];
    } else if (!st->in_cell) {
        return;
    } else if (strcmp(loc, "v") == 0) {
        st->in_v = 1;
    } else if (strcmp(loc, "is") == 0) {
        st->in_is = 1;
    } else if (strcmp(loc, "rPh") == 0) {
        st->rph++;
    } else if (strcmp(loc, "t") == 0 && st->in_is && !st->rph) {
        st->in_t = 1;
    }
}

/* The cell just closed: its text in place, or dropped when empty. */
static void end_cell(struct sheet *st)
{
    struct xlsx *x = st->x;
    char kind = XLSX_TEXT;

    st->in_cell = st->in_v = st->in_is = st->in_t = 0;
    if (st->type == 's') {
        /* The value was the string's index: replace it with the string. */
        char num[24];
        size_t n = st->len - st->cell_start;
        char *end;
        unsigned long long i;
        if (n == 0 || n >= sizeof num)
            goto empty;
        memcpy(num, st->text + st->cell_start, n);
        num[n] = '\0';
        i = strtoull(num, &end, 10);
        while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
            end++;               /* pretty-printed XML */
        if (*end || end == num || i >= x->strings.n) {
            char ref[16];
            xlsx_cell_name(st->row, st->col, ref, sizeof ref);
            xml_fail(&st->base, "cell %s names shared string '%s', which is not there", ref, num);
            return;
        }
        st->len = st->cell_start;
        add_text(st, x->strings.text + x->strings.off[i], x->strings.off[i + 1] - x->strings.off[i]);
        if (st->base.failed)
            return;
    } else if (st->type == 'n') {
        kind = st->date ? XLSX_DATE : XLSX_NUMBER;
    } else if (st->type == 'b') {
        int yes = st->len > st->cell_start && st->text[st->cell_start] == '1';
        if (st->len == st->cell_start)
            goto empty;
        st->len = st->cell_start;
        add_text(st, yes ? "TRUE" : "FALSE", yes ? 4 : 5);
        kind = XLSX_BOOL;
    } else if (st->type == 'e') {
        kind = XLSX_ERROR;
    }
    if (st->len == st->cell_start)
        goto empty;
    if (st->ncells == st->ccap) {
        size_t cap = st->ccap ? st->ccap * 2 : 64;
        struct xlsx_cell *c = realloc(st->cells, cap * sizeof *c);
        size_t *o = c ? realloc(st->offs, cap * sizeof *o) : NULL;
        if (c)
            st->cells = c;
        if (!o) {
            xml_fail(&st->base, "needs more memory than there is");
            return;
        }
        st->offs = o;
        st->ccap = cap;
    }
    st->cells[st->ncells].col = st->col;
    st->cells[st->ncells].kind = kind;
    st->cells[st->ncells].len = st->len - st->cell_start;
    st->offs[st->ncells++] = st->cell_start;
    return;
empty:
    st->len = st->cell_start;
}

static void on_end(void *ud, const XML_Char *el)
{
    struct sheet *st = ud;
    const char *loc = xml_local(el);

    if (st->base.failed || !st->in_data)
        return;
    if (strcmp(loc, "sheetData") == 0) {
        st->in_data = 0;
    } else if (strcmp(loc, "c") == 0) {
        end_cell(st);
    } else if (strcmp(loc, "v") == 0) {
        st->in_v = 0;
    } else if (strcmp(loc, "t") == 0) {
        st->in_t = 0;
    } else if (strcmp(loc, "rPh") == 0) {
        st->rph--;
    } else if (strcmp(loc, "is") == 0) {
        st->in_is = 0;
    } else if (strcmp(loc, "row") == 0 && st->ncells > 0) {
        if (st->check) {
            st->x->rows++;
            if (!st->x->header)
                st->x->header = st->row;
            if (st->hidden && !st->x->hidden++)
                st->x->first_hidden = st->row;
        } else {
            st->ready = 1;
            XML_StopParser(st->base.p, XML_TRUE);
        }
    }
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct sheet *st = ud;

    if (st->base.failed || !st->in_cell)
        return;
    /* A formula string's value is in <v>; an inline string's in <is><t>. */
    if ((st->in_v && st->type != 'i') || st->in_t)
        add_text(st, s, (size_t)len);
}

/* A parser over the sheet, at its start. */
static int sheet_begin(struct xlsx *x, int check, char *err, size_t errlen)
{
    const char *path = x->book.sheets[x->sheet].path;
    int rc;

    free(x->st.text);
    free(x->st.cells);
    free(x->st.offs);
    memset(&x->st, 0, sizeof x->st);
    x->st.x = x;
    x->st.check = check;
    x->suspended = x->done = 0;
    if (x->p)
        XML_ParserFree(x->p);
    x->p = xml_new(&x->st);
    if (!x->p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    xpart_close(&x->part);
    rc = xpart_open(x->zip, path, x->lim.max_sheet, x->lim.max_ratio, &x->part, err, errlen);
    if (rc == 1)
        snprintf(err, errlen, "sheet '%s' is missing from the archive (%s)",
                 x->book.sheets[x->sheet].name, path);
    return rc == 0 ? 0 : -1;
}

/* Parses on until a row with a value is ready (1), the end (0), or a failure (-1). */
static int sheet_step(struct xlsx *x, char *err, size_t errlen)
{
    const char *path = x->book.sheets[x->sheet].path;

    for (;;) {
        enum XML_Status s;
        if (x->st.ready) {
            x->st.ready = 0;
            return 1;
        }
        if (x->suspended) {
            s = XML_ResumeParser(x->p);
        } else if (x->done) {
            return 0;
        } else {
            void *buf = XML_GetBuffer(x->p, CHUNK);
            long n = buf ? xpart_read(&x->part, buf, CHUNK, err, errlen) : -1;
            if (!buf)
                snprintf(err, errlen, "out of memory");
            if (n < 0)
                return -1;
            x->done = n == 0;
            s = XML_ParseBuffer(x->p, (int)n, n == 0);
        }
        x->suspended = s == XML_STATUS_SUSPENDED;
        if (s == XML_STATUS_ERROR) {
            xml_error(x->p, &x->st.base, path, err, errlen);
            return -1;
        }
    }
}

static struct xlsx *open_zip(zip_t *z, const char *sheet, const struct xlsx_limits *limits,
                             char *err, size_t errlen)
{
    struct xlsx *x = calloc(1, sizeof *x);
    int rc;

    if (!x) {
        zip_discard(z);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    x->zip = z;
    x->lim = DEFAULTS;
    /* A caller may only lower a cap (a flow cannot make the reader hold more). */
#define LOWER(f) if (limits && limits->f && limits->f < x->lim.f) x->lim.f = limits->f
    LOWER(max_sheet);
    LOWER(max_part);
    LOWER(max_strings);
    LOWER(max_cell);
    LOWER(max_row);
    LOWER(max_ratio);
    LOWER(max_merges);
#undef LOWER
    if (zip_get_num_entries(z, 0) > 100000) {
        snprintf(err, errlen, "the archive has more than 100000 entries: refused");
        goto fail;
    }
    if (xbook_load(z, &x->lim, &x->book, err, errlen) < 0)
        goto fail;
    x->sheet = x->book.nsheets;
    for (size_t i = 0; i < x->book.nsheets && x->sheet == x->book.nsheets; i++)
        if (sheet ? strcmp(x->book.sheets[i].name, sheet) == 0 : !x->book.sheets[i].hidden)
            x->sheet = i;
    for (size_t i = 0; sheet && i < x->book.nsheets && x->sheet == x->book.nsheets; i++)
        if (strcasecmp(x->book.sheets[i].name, sheet) == 0)
            x->sheet = i;
    if (x->sheet == x->book.nsheets) {
        size_t n = (size_t)snprintf(err, errlen, sheet ? "there is no sheet '%s'; the sheets are:"
                                    : "every sheet is hidden; the sheets are:", sheet);
        for (size_t i = 0; i < x->book.nsheets && n < errlen; i++)
            n += (size_t)snprintf(err + n, errlen - n, "%s '%s'", i ? "," : "", x->book.sheets[i].name);
        goto fail;
    }
    if (!x->book.sheets[x->sheet].path) {
        snprintf(err, errlen, "sheet '%s' is a chart, not a table", x->book.sheets[x->sheet].name);
        goto fail;
    }
    if (xstyles_load(z, x->book.styles, &x->lim, &x->dates, &x->ndates, err, errlen) < 0
        || xstrings_load(z, x->book.strings, &x->lim, &x->strings, err, errlen) < 0)
        goto fail;
    /* The check pass, then the parser back at the start for the rows. */
    if (sheet_begin(x, 1, err, errlen) < 0)
        goto fail;
    while ((rc = sheet_step(x, err, errlen)) > 0)
        ;
    if (rc < 0 || sheet_begin(x, 0, err, errlen) < 0)
        goto fail;
    return x;
fail:
    xlsx_close(x);
    return NULL;
}

struct xlsx *xlsx_open(const char *path, const char *sheet, const struct xlsx_limits *limits,
                       char *err, size_t errlen)
{
    int code = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);

    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, code);
        if (code == ZIP_ER_NOZIP)
            snprintf(err, errlen, "not an .xlsx workbook: not a zip archive, or one cut short (the archive's directory, at its end, is missing)");
        else
            snprintf(err, errlen, "cannot be opened as an .xlsx workbook: %s", zip_error_strerror(&e));
        zip_error_fini(&e);
        return NULL;
    }
    return open_zip(z, sheet, limits, err, errlen);
}

struct xlsx *xlsx_open_buffer(const void *data, size_t size, const char *sheet,
                              const struct xlsx_limits *limits, char *err, size_t errlen)
{
    zip_error_t e;
    zip_source_t *src;
    zip_t *z;

    zip_error_init(&e);
    src = zip_source_buffer_create(data, size, 0, &e);
    z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &e) : NULL;
    if (!z) {
        if (zip_error_code_zip(&e) == ZIP_ER_NOZIP)
            snprintf(err, errlen, "not an .xlsx workbook: not a zip archive, or one cut short (the archive's directory, at its end, is missing)");
        else
            snprintf(err, errlen, "cannot be opened as an .xlsx workbook: %s", zip_error_strerror(&e));
        zip_error_fini(&e);
        if (src)
            zip_source_free(src);
        return NULL;
    }
    zip_error_fini(&e);
    return open_zip(z, sheet, limits, err, errlen);
}

int xlsx_next_row(struct xlsx *x, struct xlsx_row *row, char *err, size_t errlen)
{
    int rc = sheet_step(x, err, errlen);

    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < x->st.ncells; i++)
        x->st.cells[i].text = x->st.text + x->st.offs[i];
    row->number = x->st.row;
    row->ncells = x->st.ncells;
    row->cells = x->st.cells;
    return 1;
}

const char *xlsx_sheet_name(const struct xlsx *x) { return x->book.sheets[x->sheet].name; }
const char *xlsx_sheet_at(const struct xlsx *x, size_t i) { return x->book.sheets[i].name; }
size_t xlsx_sheet_count(const struct xlsx *x) { return x->book.nsheets; }
size_t xlsx_row_count(const struct xlsx *x) { return x->rows; }
size_t xlsx_hidden_rows(const struct xlsx *x, unsigned *first)
{
    *first = x->first_hidden;
    return x->hidden;
}
unsigned xlsx_header_row(const struct xlsx *x) { return x->header; }
size_t xlsx_merge_count(const struct xlsx *x) { return x->nmerges; }
const struct xlsx_merge *xlsx_merge_at(const struct xlsx *x, size_t i) { return &x->merges[i]; }
int xlsx_date1904(const struct xlsx *x) { return x->book.date1904; }

void xlsx_close(struct xlsx *x)
{
    if (!x)
        return;
    xpart_close(&x->part);
    if (x->p)
        XML_ParserFree(x->p);
    free(x->st.text);
    free(x->st.cells);
    free(x->st.offs);
    free(x->merges);
    free(x->dates);
    xstrings_free(&x->strings);
    xbook_free(&x->book);
    if (x->zip)
        zip_discard(x->zip);
    free(x);
}
