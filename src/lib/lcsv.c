/* lcsv.c -- the Lua module `qxt.csv.core`: the CSV reader's common case
 * in C, and the one place where a line without quotes is split into
 * fields (split_fields: at every comma, nothing trimmed).
 *
 * A record that is one complete line without a quote, in the buffer
 * already, becomes a row table here (next_row); anything else (a quote, a
 * line the buffer does not hold yet, the end of the data) goes back to the
 * Lua reader (lua/qxt/csv/reader.lua), which calls split() for the plain
 * lines it finds itself (the header, a line that arrived in the last
 * chunk, the first line of an unterminated quote), so every plain line is
 * split by the same code. The writer's C half is lcsv_write.c. */
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "lcsv.h"

/* True when s[0..len) holds nothing but spaces and tabs. */
static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* Pushes the fields of the line s[0..len) (no quotes in it) as a table
 * mapping names[i] (the table at stack index `names`, or i past its length
 * or without one: names == 0) to the i-th field; returns the number of
 * fields. */
static lua_Integer split_fields(lua_State *L, const char *s, size_t len, int names) {
    lua_Integer n = 0;
    const char *p = s, *end = s + len;
    lua_Integer ncols = names ? (lua_Integer)lua_rawlen(L, names) : 0;
    luaL_checkstack(L, 3, "csv row");
    lua_createtable(L, names ? 0 : 8, names ? (int)(ncols < 64 ? ncols : 64) : 0); /* row */
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *fend = comma ? comma : end;
        if (++n <= ncols)
            lua_rawgeti(L, names, n);                     /* row name */
        else
            lua_pushinteger(L, n);                        /* row n */
        lua_pushlstring(L, p, (size_t)(fend - p));
        lua_rawset(L, -3);
        if (!comma)
            return n;
        p = comma + 1;
    }
}

/* core.split(text [, names]) -> row, nfields
 * Splits a line without quotes (and without its line end) at every comma:
 * row maps names[i] (or i, past the names or without them) to the i-th
 * field, as next_row does. */
static int csv_split(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    int names = lua_isnoneornil(L, 2) ? 0 : 2;
    if (names)
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushinteger(L, split_fields(L, text, len, names));   /* row n */
    return 2;
}

/* core.next_row(buf, pos, eof, names) -> pos, lines [, row, nfields]
 * From buf[pos] (1-based), skips blank lines and reads the next line when
 * it is complete (ends in LF, or the data ends: eof) and has no quote.
 * Returns the position after what was consumed and the number of physical
 * lines consumed (the blank ones, and the row's); then the row, mapping
 * names[i] (or i, past the header) to the i-th field, and the number of
 * fields. Without a row, the Lua reader takes over at the returned pos. */
static int csv_next_row(lua_State *L) {
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    lua_Integer pos = luaL_checkinteger(L, 2);
    int eof = lua_toboolean(L, 3);
    lua_Integer lines = 0;
    luaL_checktype(L, 4, LUA_TTABLE);
    luaL_argcheck(L, pos >= 1, 2, "out of range");
    while ((size_t)pos <= len) {
        const char *start = buf + pos - 1;
        size_t left = len - (size_t)(pos - 1), stop;
        const char *nl = memchr(start, '\n', left);
        if (nl == NULL && !eof)
            break;
        stop = nl ? (size_t)(nl - start) : left;          /* the line's length */
        if (stop > 0 && start[stop - 1] == '\r')
            stop--;
        if (memchr(start, '"', stop))
            break;
        pos += (lua_Integer)(nl ? (size_t)(nl - start) + 1 : left + 1);
        lines++;
        if (is_blank(start, stop))
            continue;
        {
            lua_Integer n = split_fields(L, start, stop, 4);  /* row */
            lua_pushinteger(L, pos);
            lua_pushinteger(L, lines);
            lua_rotate(L, -3, 2);                         /* pos lines row */
            lua_pushinteger(L, n);
            return 4;
        }
    }
    lua_pushinteger(L, pos);
    lua_pushinteger(L, lines);
    return 2;
}

static const luaL_Reg csv_core_funcs[] = {
    {"next_row", csv_next_row},
    {"split", csv_split},
    {NULL, NULL}
};

int luaopen_qxt_csv_core(lua_State *L) {
    luaL_newlib(L, csv_core_funcs);
    return 1;
}
