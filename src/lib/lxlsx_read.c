/* lxlsx_read.c -- the Lua module qxt.xlsx.core: one sheet of an .xlsx
 * workbook, row by row (xlsxread.c does the reading; this is the binding).
 * lua/qxt/source/xlsx.lua turns the rows into records.
 *
 *   core.open(path [, sheet [, limits]])     -> book | nil, err
 *   core.open_string(bytes [, sheet [, limits]]) -> book | nil, err
 *   book:next()     -> row_number, cells, kinds, last_col | nil (the end)
 *                      | false, err (the file changed or the disk failed)
 *       cells[col] = text for each cell with a value; kinds[col] = "n"
 *       (number), "d" (number in a date format), "b" (boolean), "e"
 *       (Excel's error text) for those that are not text; kinds is nil when
 *       every cell is text.
 *   book:sheet()    -> the sheet read        book:sheets() -> every sheet's name
 *   book:count()    -> rows with a value     book:header_row() -> the first of them (0: none)
 *   book:hidden()   -> hidden rows with a value, the first of them (0: none)
 *   book:merges()   -> { {r1, c1, r2, c2, ref = "A1:B1"}, ... }
 *   book:date1904() -> true for a workbook whose dates count from 1904
 *   book:close()    (also __gc, __close)
 *   core.cell_name(row, col) -> "C7"
 * limits: { max_sheet, max_part, max_strings, max_cell, max_row, max_ratio,
 * max_merges } (bytes; see xlsxread.h), for tests of the caps. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "xlsxread.h"

#define BOOK_MT "qxt.xlsx.book"

struct book {
    struct xlsx *x;
};

int luaopen_qxt_xlsx_core(lua_State *L) __attribute__((visibility("default")));

static struct xlsx *check_book(lua_State *L)
{
    struct book *b = luaL_checkudata(L, 1, BOOK_MT);
    if (!b->x)
        luaL_error(L, "xlsx: the workbook is closed");
    return b->x;
}

static void read_limits(lua_State *L, int i, struct xlsx_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    if (lua_isnoneornil(L, i))
        return;
    luaL_checktype(L, i, LUA_TTABLE);
#define LIMIT(f) (lua_getfield(L, i, #f), lim->f = (__typeof__(lim->f))luaL_optinteger(L, -1, 0), lua_pop(L, 1))
    LIMIT(max_sheet);
    LIMIT(max_part);
    LIMIT(max_strings);
    LIMIT(max_cell);
    LIMIT(max_row);
    LIMIT(max_ratio);
    LIMIT(max_merges);
#undef LIMIT
}

/* Pushes a book for x, or nil and err. */
static int push_book(lua_State *L, struct xlsx *x, const char *err)
{
    struct book *b;

    if (!x) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    b = lua_newuserdatauv(L, sizeof *b, 1);
    b->x = x;
    luaL_setmetatable(L, BOOK_MT);
    return 1;
}

static int core_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *sheet = luaL_optstring(L, 2, NULL);
    struct xlsx_limits lim;
    char err[512] = "";

    read_limits(L, 3, &lim);
    return push_book(L, xlsx_open(path, sheet, &lim, err, sizeof err), err);
}

static int core_open_string(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len), *sheet = luaL_optstring(L, 2, NULL);
    struct xlsx_limits lim;
    char err[512] = "";
    int n;

    read_limits(L, 3, &lim);
    n = push_book(L, xlsx_open_buffer(data, len, sheet, &lim, err, sizeof err), err);
    if (n == 1) {                /* libzip reads the bytes as long as the book lives */
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
    }
    return n;
}

static int book_next(lua_State *L)
{
    struct xlsx *x = check_book(L);
    struct xlsx_row row;
    char err[512] = "";
    int rc = xlsx_next_row(x, &row, err, sizeof err), kinds = 0;

    if (rc == 0)
        return 0;
    if (rc < 0) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, err);
        return 2;
    }
    for (size_t i = 0; i < row.ncells && !kinds; i++)
        kinds = row.cells[i].kind != XLSX_TEXT;
    lua_pushinteger(L, row.number);
    lua_createtable(L, 0, (int)row.ncells);
    if (kinds)
        lua_newtable(L);
    else
        lua_pushnil(L);
    for (size_t i = 0; i < row.ncells; i++) {
        const struct xlsx_cell *c = &row.cells[i];
        lua_pushlstring(L, c->text, c->len);
        lua_rawseti(L, -3, c->col);
        if (c->kind != XLSX_TEXT) {
            lua_pushlstring(L, &c->kind, 1);
            lua_rawseti(L, -2, c->col);
        }
    }
    lua_pushinteger(L, row.ncells ? row.cells[row.ncells - 1].col : 0);
    return 4;
}

static int book_sheet(lua_State *L)
{
    lua_pushstring(L, xlsx_sheet_name(check_book(L)));
    return 1;
}

static int book_sheets(lua_State *L)
{
    struct xlsx *x = check_book(L);
    size_t n = xlsx_sheet_count(x);

    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, xlsx_sheet_at(x, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int book_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)xlsx_row_count(check_book(L)));
    return 1;
}

static int book_header_row(lua_State *L)
{
    lua_pushinteger(L, xlsx_header_row(check_book(L)));
    return 1;
}

static int book_hidden(lua_State *L)
{
    unsigned first;
    size_t n = xlsx_hidden_rows(check_book(L), &first);

    lua_pushinteger(L, (lua_Integer)n);
    lua_pushinteger(L, first);
    return 2;
}

static int book_merges(lua_State *L)
{
    struct xlsx *x = check_book(L);
    size_t n = xlsx_merge_count(x);

    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const struct xlsx_merge *m = xlsx_merge_at(x, i);
        char a[16], b[16];
        lua_createtable(L, 4, 1);
        lua_pushinteger(L, m->r1);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, m->c1);
        lua_rawseti(L, -2, 2);
        lua_pushinteger(L, m->r2);
        lua_rawseti(L, -2, 3);
        lua_pushinteger(L, m->c2);
        lua_rawseti(L, -2, 4);
        xlsx_cell_name(m->r1, m->c1, a, sizeof a);
        xlsx_cell_name(m->r2, m->c2, b, sizeof b);
        lua_pushfstring(L, "%s:%s", a, b);
        lua_setfield(L, -2, "ref");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int book_date1904(lua_State *L)
{
    lua_pushboolean(L, xlsx_date1904(check_book(L)));
    return 1;
}

static int book_close(lua_State *L)
{
    struct book *b = luaL_checkudata(L, 1, BOOK_MT);
    xlsx_close(b->x);
    b->x = NULL;
    return 0;
}

static int core_cell_name(lua_State *L)
{
    lua_Integer row = luaL_checkinteger(L, 1), col = luaL_checkinteger(L, 2);
    char buf[16];

    luaL_argcheck(L, row >= 0 && row <= 1048576, 1, "row out of range");
    luaL_argcheck(L, col >= 1 && col <= 16384, 2, "column out of range");
    xlsx_cell_name((unsigned)row, (unsigned)col, buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg book_methods[] = {
    { "next", book_next },
    { "sheet", book_sheet },
    { "sheets", book_sheets },
    { "count", book_count },
    { "header_row", book_header_row },
    { "hidden", book_hidden },
    { "merges", book_merges },
    { "date1904", book_date1904 },
    { "close", book_close },
    { NULL, NULL }
};

static const luaL_Reg core_funcs[] = {
    { "open", core_open },
    { "open_string", core_open_string },
    { "cell_name", core_cell_name },
    { NULL, NULL }
};

int luaopen_qxt_xlsx_core(lua_State *L)
{
    luaL_newmetatable(L, BOOK_MT);
    luaL_newlib(L, book_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, book_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, book_close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    luaL_newlib(L, core_funcs);
    return 1;
}
