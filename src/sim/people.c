/* people.c -- the people registry: built-in table, CSV loading, lookup;
 * see people.h. CSV is parsed by libcsv, so quoting rules are not ours. */
#include "people.h"
#include "text.h"

#include <csv.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The built-in registry. Covers what the engine must cope with: the
 * document's two examples, all three carriers, a number ported to another
 * carrier (135 is a China Mobile prefix), China Broadnet, a virtual
 * operator, an area without a city, an empty area, compound surnames and a
 * name with the middle dot. The numbers are invented. A copy lives in
 * tests/sim/people.csv; a test keeps the two equal. */
static const char *const builtin[][4] = {
    { "13972565391", "张三",             "湖北-宜昌",     "中国电信" },
    { "18819079212", "曹操",             "广东-深圳",     "中国移动" },
    { "13800138000", "李四",             "北京",          "中国移动" },
    { "13912345678", "王五",             "江苏-南京",     "中国移动" },
    { "15601234567", "赵六",             "上海-上海",     "中国联通" },
    { "18612345678", "孙七",             "浙江-杭州",     "中国联通" },
    { "17012345678", "周八",             "广东-广州",     "虚拟运营商" },
    { "16612345678", "吴九",             "",              "中国联通" },
    { "13312345678", "郑十",             "四川-成都",     "中国电信" },
    { "18912345678", "阿依古丽·买买提",  "新疆-乌鲁木齐", "中国电信" },
    { "19912345678", "欧阳娜娜",         "福建-厦门",     "中国电信" },
    { "14712345678", "关羽",             "山西-运城",     "中国移动" },
    { "15012345678", "张飞",             "河北-保定",     "中国移动" },
    { "13012345678", "诸葛亮",           "山东-临沂",     "中国联通" },
    { "18012345678", "王芳",             "重庆-重庆",     "中国电信" },
    { "19812345678", "陈静",             "湖南-长沙",     "中国移动" },
    { "17712345678", "林小明",           "广西-南宁",     "中国电信" },
    { "13512345678", "黄丽",             "广东-广州",     "中国电信" },
    { "19212345678", "马超",             "甘肃-兰州",     "中国广电" },
    { "15912345678", "司马懿",           "河南-洛阳",     "中国移动" },
};

struct entry {
    struct person pub;
    uint64_t key;         /* the number as an integer, for hashing */
    unsigned line;        /* where it was defined (0: built in) */
};

struct people {
    struct entry *v;
    size_t n, cap;
    uint32_t *slots;      /* open addressing: index + 1, 0 = empty */
    size_t nslots;        /* power of two, > 2 * n */
};

int people_is_mobile(const char *s, size_t len)
{
    if (len != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9')
        return 0;
    for (size_t i = 2; i < 11; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static uint64_t mobile_key(const char *s)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 11; i++)
        k = k * 10 + (uint64_t)(s[i] - '0');
    return k;
}

static size_t slot_of(uint64_t key, size_t nslots)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (nslots - 1);
}

static struct entry *lookup(const struct people *p, uint64_t key)
{
    if (p->nslots == 0)
        return NULL;
    for (size_t i = slot_of(key, p->nslots);; i = (i + 1) & (p->nslots - 1)) {
        uint32_t s = p->slots[i];
        if (s == 0)
            return NULL;
        if (p->v[s - 1].key == key)
            return &p->v[s - 1];
    }
}

static int rehash(struct people *p, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t j = 0; j < p->n; j++) {
        size_t i = slot_of(p->v[j].key, nslots);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)(j + 1);
    }
    free(p->slots);
    p->slots = slots;
    p->nslots = nslots;
    return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Validates one row and appends it. Strings are copied. Returns 0, or -1
 * with the reason (without file and line) in err. */
static int add(struct people *p, const char *mobile, const char *name,
               const char *area, const char *carrier, unsigned line,
               char *err, size_t errlen)
{
    if (!people_is_mobile(mobile, strlen(mobile))) {
        set_err(err, errlen, "mobile \"%.40s\" is not an 11-digit mainland mobile number", mobile);
        return -1;
    }
    if (!*name || !text_utf8_valid(name, strlen(name))) {
        set_err(err, errlen, "name is %s", *name ? "not valid UTF-8 (GBK? convert the file)" : "empty");
        return -1;
    }
    if (!text_utf8_valid(area, strlen(area))) {
        set_err(err, errlen, "area is not valid UTF-8 (GBK? convert the file)");
        return -1;
    }
    if (!*carrier || !text_utf8_valid(carrier, strlen(carrier))) {
        set_err(err, errlen, "carrier is %s", *carrier ? "not valid UTF-8 (GBK? convert the file)" : "empty");
        return -1;
    }
    uint64_t key = mobile_key(mobile);
    const struct entry *dup = lookup(p, key);
    if (dup) {
        if (dup->line)
            set_err(err, errlen, "mobile %s is already listed at line %u", mobile, dup->line);
        else
            set_err(err, errlen, "mobile %s is listed twice", mobile);
        return -1;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        struct entry *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            goto oom;
        p->v = v;
        p->cap = cap;
    }
    if ((p->n + 1) * 2 > p->nslots && rehash(p, p->nslots ? p->nslots * 2 : 64) < 0)
        goto oom;
    struct entry *e = &p->v[p->n];
    e->key = key;
    e->line = line;
    e->pub.mobile = strdup(mobile);
    e->pub.name = strdup(name);
    e->pub.area = strdup(area);
    e->pub.carrier = strdup(carrier);
    if (!e->pub.mobile || !e->pub.name || !e->pub.area || !e->pub.carrier) {
        free((char *)e->pub.mobile);
        free((char *)e->pub.name);
        free((char *)e->pub.area);
        free((char *)e->pub.carrier);
        goto oom;
    }
    p->n++;
    size_t i = slot_of(key, p->nslots);
    while (p->slots[i])
        i = (i + 1) & (p->nslots - 1);
    p->slots[i] = (uint32_t)p->n;
    return 0;
oom:
    set_err(err, errlen, "out of memory");
    return -1;
}

struct people *people_builtin(void)
{
    struct people *p = calloc(1, sizeof *p);
    char err[128];
    if (!p)
        return NULL;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (add(p, builtin[i][0], builtin[i][1], builtin[i][2], builtin[i][3], 0,
                err, sizeof err) < 0) {
            people_free(p);
            return NULL;
        }
    return p;
}

/* ---- CSV loading ------------------------------------------------------ */

enum { COL_MOBILE, COL_NAME, COL_AREA, COL_CARRIER, NCOLS };
static const char *const col_names[NCOLS] = { "mobile", "name", "area", "carrier" };

/* State shared with libcsv's callbacks: the row being assembled, the
 * header's column positions, and the first error (later rows are ignored
 * once one is set). */
struct loader {
    struct people *p;
    const char *path;
    unsigned line;          /* physical line being fed to the parser */
    unsigned row_line;      /* line where the current row started */
    char **fields;
    size_t nfields, capfields;
    int col[NCOLS];         /* field index of each column, -1 until the header */
    size_t header_fields;
    int have_header;
    int failed;
    char *err;
    size_t errlen;
};

static void fail_at(struct loader *ld, unsigned line, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    if (ld->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(ld->err, ld->errlen, "%s:%u: %s", ld->path, line, why);
    ld->failed = 1;
}

/* Called by libcsv for each field; data is NUL-terminated (CSV_APPEND_NULL). */
static void cb_field(void *data, size_t len, void *arg)
{
    struct loader *ld = arg;
    if (ld->failed)
        return;
    if (ld->nfields == 0)
        ld->row_line = ld->line;
    if (data && memchr(data, '\0', len)) {
        fail_at(ld, ld->row_line, "field %zu holds a NUL byte", ld->nfields + 1);
        return;
    }
    if (ld->nfields == ld->capfields) {
        size_t cap = ld->capfields ? ld->capfields * 2 : 8;
        char **f = realloc(ld->fields, cap * sizeof *f);
        if (!f) {
            fail_at(ld, ld->row_line, "out of memory");
            return;
        }
        ld->fields = f;
        ld->capfields = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        fail_at(ld, ld->row_line, "out of memory");
        return;
    }
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    ld->fields[ld->nfields++] = copy;
}

static void clear_row(struct loader *ld)
{
    for (size_t i = 0; i < ld->nfields; i++)
        free(ld->fields[i]);
    ld->nfields = 0;
}

static void take_header(struct loader *ld)
{
    for (int c = 0; c < NCOLS; c++)
        ld->col[c] = -1;
    for (size_t i = 0; i < ld->nfields; i++)
        for (int c = 0; c < NCOLS; c++)
            if (strcmp(ld->fields[i], col_names[c]) == 0) {
                if (ld->col[c] >= 0) {
                    fail_at(ld, ld->row_line, "column \"%s\" appears twice in the header", col_names[c]);
                    return;
                }
                ld->col[c] = (int)i;
            }
    for (int c = 0; c < NCOLS; c++)
        if (ld->col[c] < 0) {
            fail_at(ld, ld->row_line,
                    "header lacks column \"%s\" (expected mobile,name,area,carrier)", col_names[c]);
            return;
        }
    ld->header_fields = ld->nfields;
    ld->have_header = 1;
}

/* Called by libcsv at the end of each row. */
static void cb_row(int term, void *arg)
{
    struct loader *ld = arg;
    (void)term;
    if (!ld->failed && ld->nfields > 0) {
        if (!ld->have_header) {
            take_header(ld);
        } else if (ld->nfields != ld->header_fields) {
            fail_at(ld, ld->row_line, "expected %zu fields as in the header, found %zu",
                    ld->header_fields, ld->nfields);
        } else {
            char why[200];
            if (add(ld->p, ld->fields[ld->col[COL_MOBILE]], ld->fields[ld->col[COL_NAME]],
                    ld->fields[ld->col[COL_AREA]], ld->fields[ld->col[COL_CARRIER]],
                    ld->row_line, why, sizeof why) < 0)
                fail_at(ld, ld->row_line, "%s", why);
        }
    }
    clear_row(ld);
}

struct people *people_load(const char *path, char *err, size_t errlen)
{
    struct loader ld = { .path = path, .err = err, .errlen = errlen };
    struct csv_parser parser;
    char *buf = NULL;
    size_t bufcap = 0;
    ssize_t n;
    int parser_ready = 0;

    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    ld.p = calloc(1, sizeof *ld.p);
    if (!ld.p || csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        set_err(err, errlen, "%s: out of memory", path);
        goto err;
    }
    parser_ready = 1;
    /* Fed one line at a time so the callbacks know the line number. */
    while (!ld.failed && (n = getline(&buf, &bufcap, f)) >= 0) {
        const char *s = buf;
        ld.line++;
        if (ld.line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            n -= 3;
        }
        if (csv_parse(&parser, s, (size_t)n, cb_field, cb_row, &ld) != (size_t)n)
            fail_at(&ld, ld.nfields ? ld.row_line : ld.line, "%s (check the quoting)",
                    csv_strerror(csv_error(&parser)));
    }
    if (ferror(f)) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        goto err;
    }
    if (!ld.failed && csv_fini(&parser, cb_field, cb_row, &ld) != 0)
        fail_at(&ld, ld.row_line, "unterminated quoted field");
    if (!ld.failed && !ld.have_header)
        set_err(err, errlen, "%s: empty file, expected a header mobile,name,area,carrier", path);
    if (ld.failed || !ld.have_header)
        goto err;
    csv_free(&parser);
    free(buf);
    free(ld.fields);
    fclose(f);
    return ld.p;
err:
    clear_row(&ld);
    free(ld.fields);
    if (parser_ready)
        csv_free(&parser);
    free(buf);
    fclose(f);
    people_free(ld.p);
    return NULL;
}

const struct person *people_find(const struct people *p, const char *mobile, size_t len)
{
    if (!people_is_mobile(mobile, len))
        return NULL;
    const struct entry *e = lookup(p, mobile_key(mobile));
    return e ? &e->pub : NULL;
}

size_t people_count(const struct people *p)
{
    return p->n;
}

/* Quotes a field only when a reader would misread it bare. */
static int write_field(FILE *out, const char *s)
{
    size_t len = strlen(s);
    if (len && (strpbrk(s, ",\"\r\n") || s[0] == ' ' || s[0] == '\t' ||
                s[len - 1] == ' ' || s[len - 1] == '\t'))
        return csv_fwrite(out, s, len) == 0 ? 0 : -1;
    return fputs(s, out) < 0 ? -1 : 0;
}

int people_write_csv(const struct people *p, FILE *out)
{
    if (fputs("mobile,name,area,carrier\n", out) < 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        const struct person *x = &p->v[i].pub;
        if (write_field(out, x->mobile) || fputc(',', out) == EOF ||
            write_field(out, x->name) || fputc(',', out) == EOF ||
            write_field(out, x->area) || fputc(',', out) == EOF ||
            write_field(out, x->carrier) || fputc('\n', out) == EOF)
            return -1;
    }
    return fflush(out) == 0 ? 0 : -1;
}

void people_free(struct people *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free((char *)p->v[i].pub.mobile);
        free((char *)p->v[i].pub.name);
        free((char *)p->v[i].pub.area);
        free((char *)p->v[i].pub.carrier);
    }
    free(p->v);
    free(p->slots);
    free(p);
}
