/* lxlsx_write.c -- the Lua module qxt.xlsx.writer: an .xlsx workbook
 * written with libxlsxwriter, for lua/qxt/sink/xlsx.lua.
 *
 *   w.new(path [, tmpdir])  -> book (nothing is written before close)
 *   book:sheet(name)        -> index | nil, err (an invalid or taken name)
 *   book:header(i, names)   the sheet's first row, bold, frozen; columns 16 wide
 *   book:row(i, values, n)  -> true | nil, err: the sheet's next row, values[1..n]
 *   book:cut()              -> how many texts were cut to Excel's 32767 characters
 *   book:close()            -> true | nil, "PATH: why" (also __gc, which writes nothing)
 *
 * Values: a string is written as a string cell (worksheet_write_string:
 * never a formula, whatever it starts with; a formula cell is only ever
 * made by worksheet_write_formula, which this file does not call), its
 * bytes that are not UTF-8 replaced by U+FFFD (Excel refuses the file
 * otherwise) and cut at 32767 characters (Excel's limit); a number is a
 * number cell; a boolean the text "true" / "false"; nil an empty cell.
 *
 * Memory: libxlsxwriter's constant_memory mode: each sheet's rows go to a
 * temporary file (unlinked at once, mode 0600) in tmpdir, the output's own
 * directory, not /tmp. At close the file is made a new file of mode 0600
 * (lfile_open_private: a symbolic link refused, as by every sink) before
 * libxlsxwriter writes the archive into it. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "lfile.h"

#define BOOK_MT "qxt.xlsx.wbook"
#define MAX_CHARS 32767          /* Excel's limit for one cell */
#define MAX_SHEETS 256

struct wbook {
    lxw_workbook *wb;
    lxw_format *bold;
    lxw_worksheet *sheets[MAX_SHEETS];
    lxw_row_t next[MAX_SHEETS];
    int nsheets;
    lua_Integer cut;
    char *path;
    char *buf;                   /* the current string, cleaned */
    size_t cap;
};

int luaopen_qxt_xlsx_writer(lua_State *L) __attribute__((visibility("default")));

static struct wbook *check_book(lua_State *L)
{
    struct wbook *b = luaL_checkudata(L, 1, BOOK_MT);
    if (!b->wb)
        luaL_error(L, "xlsx: the workbook is closed");
    return b;
}

static int check_sheet(lua_State *L, struct wbook *b, int i)
{
    lua_Integer s = luaL_checkinteger(L, i);
    luaL_argcheck(L, s >= 1 && s <= b->nsheets, i, "no such sheet");
    return (int)s - 1;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, cp = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, cp = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* Whether s starts like the file format's escape of a character, _xHHHH_,
 * which Excel would decode: such text is written with its '_' escaped. */
static int is_escape(const char *s, size_t n)
{
    if (n < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_')
        return 0;
    for (int i = 2; i < 6; i++)
        if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    return 1;
}

/* s cleaned into b->buf, NUL-terminated: UTF-8 throughout, a NUL byte as
 * U+FFFD too (a C string ends there), at most MAX_CHARS characters, and
 * a text that looks like an escape (_x0041_) kept as text. Control
 * characters are escaped by libxlsxwriter itself (_x0001_). */
static const char *clean_text(lua_State *L, struct wbook *b, const char *s, size_t n)
{
    size_t chars = 0, out = 0;
    /* Each character written takes at most 7 bytes ("_x005F_" for one
     * '_'), and at most MAX_CHARS are written, however long s is. */
    size_t need = (n < MAX_CHARS ? n : MAX_CHARS) * 7 + 1;

    if (b->cap < need) {
        char *q = realloc(b->buf, need);
        if (!q)
            luaL_error(L, "xlsx: out of memory");
        b->buf = q;
        b->cap = need;
    }
    for (size_t i = 0; i < n; chars++) {
        size_t len = s[i] ? utf8_seq((const unsigned char *)s + i, n - i) : 0;
        if (chars == MAX_CHARS) {
            b->cut++;
            break;
        }
        if (len == 1 && is_escape(s + i, n - i)) {
            memcpy(b->buf + out, "_x005F_", 7);     /* the text "_x0041_", not "A" */
            out += 7;
            i++;
        } else if (len) {
            memcpy(b->buf + out, s + i, len);
            out += len;
            i += len;
        } else {
            memcpy(b->buf + out, "\xEF\xBF\xBD", 3);
            out += 3;
            i++;
        }
    }
    b->buf[out] = '\0';
    return b->buf;
}

static int failed(lua_State *L, struct wbook *b, lxw_error e)
{
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", b->path, lxw_strerror(e));
    return 2;
}

/* Writes the value at the top of the stack; pops it. */
static lxw_error write_value(lua_State *L, struct wbook *b, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c)
{
    lxw_error e = LXW_NO_ERROR;
    size_t n;
    const char *s;

    switch (lua_type(L, -1)) {
    case LUA_TNIL:
        break;
    case LUA_TNUMBER:
        e = worksheet_write_number(ws, r, c, lua_tonumber(L, -1), NULL);
        break;
    case LUA_TBOOLEAN:
        e = worksheet_write_string(ws, r, c, lua_toboolean(L, -1) ? "true" : "false", NULL);
        break;
    default:
        s = luaL_tolstring(L, -1, &n);
        e = worksheet_write_string(ws, r, c, clean_text(L, b, s, n), NULL);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return e;
}

static int w_new(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *tmpdir = luaL_optstring(L, 2, NULL);
    lxw_workbook_options opts = { .constant_memory = LXW_TRUE, .tmpdir = (char *)tmpdir };
    struct wbook *b = lua_newuserdatauv(L, sizeof *b, 0);

    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOOK_MT);
    b->path = strdup(path);
    b->wb = b->path ? workbook_new_opt(path, &opts) : NULL;
    if (!b->wb)
        return luaL_error(L, "xlsx: cannot start a workbook for %s", path);
    b->bold = workbook_add_format(b->wb);
    format_set_bold(b->bold);
    return 1;
}

static int book_sheet(lua_State *L)
{
    struct wbook *b = check_book(L);
    const char *name = luaL_checkstring(L, 2);
    lxw_error e = workbook_validate_sheet_name(b->wb, name);

    if (b->nsheets == MAX_SHEETS)
        return luaL_error(L, "xlsx: more than %d sheets", MAX_SHEETS);
    if (e != LXW_NO_ERROR) {
        luaL_pushfail(L);
        lua_pushfstring(L, "sheet name '%s': %s", name, lxw_strerror(e));
        return 2;
    }
    b->sheets[b->nsheets] = workbook_add_worksheet(b->wb, name);
    if (!b->sheets[b->nsheets])
        return luaL_error(L, "xlsx: cannot add sheet '%s'", name);
    b->next[b->nsheets] = 0;
    lua_pushinteger(L, ++b->nsheets);
    return 1;
}

static int book_header(lua_State *L)
{
    struct wbook *b = check_book(L);
    int s = check_sheet(L, b, 2);
    lxw_worksheet *ws = b->sheets[s];
    lua_Integer n;

    luaL_checktype(L, 3, LUA_TTABLE);
    n = luaL_len(L, 3);
    luaL_argcheck(L, b->next[s] == 0 && n >= 1 && n <= 16384, 3, "a header is the sheet's first row");
    worksheet_freeze_panes(ws, 1, 0);
    worksheet_set_column(ws, 0, (lxw_col_t)(n - 1), 16, NULL);
    for (lua_Integer i = 1; i <= n; i++) {
        lxw_error e;
        size_t len;
        const char *name;
        lua_rawgeti(L, 3, i);
        name = luaL_tolstring(L, -1, &len);
        e = worksheet_write_string(ws, 0, (lxw_col_t)(i - 1), clean_text(L, b, name, len), b->bold);
        lua_pop(L, 2);
        if (e != LXW_NO_ERROR)
            return failed(L, b, e);
    }
    b->next[s] = 1;
    lua_pushboolean(L, 1);
    return 1;
}

static int book_row(lua_State *L)
{
    struct wbook *b = check_book(L);
    int s = check_sheet(L, b, 2);
    lua_Integer n = luaL_checkinteger(L, 4);
    lxw_row_t r = b->next[s];

    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_argcheck(L, n >= 0 && n <= 16384, 4, "0 to 16384 columns");
    if (r >= LXW_ROW_MAX) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: more than %d rows in one sheet, Excel's limit", b->path, LXW_ROW_MAX);
        return 2;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lxw_error e;
        lua_rawgeti(L, 3, i);
        e = write_value(L, b, b->sheets[s], r, (lxw_col_t)(i - 1));
        if (e != LXW_NO_ERROR)
            return failed(L, b, e);
    }
    b->next[s] = r + 1;
    lua_pushboolean(L, 1);
    return 1;
}

static int book_cut(lua_State *L)
{
    lua_pushinteger(L, check_book(L)->cut);
    return 1;
}

static int book_close(lua_State *L)
{
    struct wbook *b = check_book(L);
    lxw_workbook *wb = b->wb;
    lxw_error e;
    int fd;

    b->wb = NULL;
    /* A new file, 0600 before a byte is in it, as every sink's: one left
     * by an earlier run (or a hard link to someone's file) is not written
     * through, and a symbolic link is refused, not replaced. */
    fd = lfile_open_private(b->path);
    if (fd < 0 || close(fd) != 0) {
        int err = errno;
        lxw_workbook_free(wb);
        return lfile_fail(L, b->path, err);
    }
    e = workbook_close(wb);
    if (e != LXW_NO_ERROR)
        return failed(L, b, e);
    lua_pushboolean(L, 1);
    return 1;
}

/* Called by Lua when a book is collected: what was not closed is dropped. */
static int book_gc(lua_State *L)
{
    struct wbook *b = luaL_checkudata(L, 1, BOOK_MT);
    if (b->wb)
        lxw_workbook_free(b->wb);
    b->wb = NULL;
    free(b->path);
    free(b->buf);
    b->path = b->buf = NULL;
    return 0;
}

static const luaL_Reg book_methods[] = {
    { "sheet", book_sheet },
    { "header", book_header },
    { "row", book_row },
    { "cut", book_cut },
    { "close", book_close },
    { NULL, NULL }
};

static const luaL_Reg w_funcs[] = {
    { "new", w_new },
    { NULL, NULL }
};

int luaopen_qxt_xlsx_writer(lua_State *L)
{
    luaL_newmetatable(L, BOOK_MT);
    luaL_newlib(L, book_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, book_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, w_funcs);
    return 1;
}
