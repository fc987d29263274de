/* lcsv_reader.c -- the Lua module `qxt.csv.core`: the reader's common
 * case in C. A record that is one complete line without a quote, in the
 * buffer already, becomes a row table here; anything else (a quote, a line
 * the buffer does not hold yet, the end of the data) goes back to the Lua
 * reader, which handles every case (lua/qxt/csv.lua). The two must split
 * plain lines the same way: at every comma, a CR before the LF left out,
 * blank lines (nothing but spaces and tabs) skipped. */
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "lcsv_reader.h"

/* True when s[0..len) holds nothing but spaces and tabs. */
static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
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
            lua_Integer n = 0;
            const char *p = start, *end = start + stop;
            lua_Integer ncols = (lua_Integer)lua_rawlen(L, 4);
            lua_createtable(L, 0, (int)(ncols < 64 ? ncols : 64));    /* row */
            for (;;) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                const char *fend = comma ? comma : end;
                if (++n <= ncols)
                    lua_rawgeti(L, 4, n);                 /* row name */
                else
                    lua_pushinteger(L, n);                /* row n */
                lua_pushlstring(L, p, (size_t)(fend - p));
                lua_rawset(L, -3);
                if (!comma)
                    break;
                p = comma + 1;
            }
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
    {NULL, NULL}
};

int luaopen_qxt_csv_core(lua_State *L) {
    luaL_newlib(L, csv_core_funcs);
    return 1;
}
