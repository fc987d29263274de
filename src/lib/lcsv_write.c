/* lcsv_write.c -- the Lua module `qxt.csv.writer.core`: rows to CSV
 * lines, buffered and written to a Lua file handle in large chunks.
 *
 * The format is qxt.csv's (lua/qxt/csv/init.lua, docs/lua-api.md): RFC 4180
 * quotes only where needed (a comma, a quote, CR or LF anywhere, a space at
 * either end); a cell starting with = + - @ TAB or CR gets a leading
 * apostrophe against formula injection, unless the whole cell is a plain
 * number (-8, +86...); numbers as %d when integral, else %.14g; booleans as
 * true/false; anything else (nil, cjson.null) is an empty cell.
 *
 * Lines wait in a buffer (a userdata, so it counts against the engine's
 * memory limit) until buffer_rows of them are pending or it holds
 * DRAIN_BYTES. A failed write to the file is an outcome of the outside
 * world (a full disk): nil, message. Misuse raises. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "lcsv.h"

#define WRITER_MT "qxt.csv.writer"

#define DRAIN_BYTES ((size_t)1 << 20)     /* write out at least this often */
#define MIN_BUFFER ((size_t)16 << 10)
#define NUMBER_TEXT 64                    /* %.14g of any double fits */

/* A writer's uservalues. */
enum { UV_FILE = 1, UV_COLUMNS, UV_BIND, UV_BUFFER, UV_EOL, UV_COUNT = UV_EOL };

struct csv_writer {
    char *buf;               /* the userdata in UV_BUFFER; NULL: none yet */
    size_t len;              /* bytes of complete lines in buf */
    size_t cap;
    lua_Integer pending;     /* lines (and a BOM) in buf */
    lua_Number buffer_rows;  /* drain when pending reaches it */
    const char *eol;         /* the string in UV_EOL */
    size_t eol_len;
    int ncols;
    int open;                /* 0 once closed: the file is gone */
    int owned;               /* close() closes the file too */
    int bound;               /* _bind() has said where values come from */
};

static struct csv_writer *check_writer(lua_State *L) {
    return (struct csv_writer *)luaL_checkudata(L, 1, WRITER_MT);
}

/* ---- one cell ---- */

/* Bytes that force quotes: 1, or 2 for the quote, which is also doubled. */
static const unsigned char SPECIAL[256] = { [','] = 1, ['\r'] = 1, ['\n'] = 1, ['"'] = 2 };

struct cell_plan {
    int guard;               /* prefix an apostrophe */
    int quote;               /* enclose in quotes */
    size_t quotes;           /* quotes inside, to double */
};

static int is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

/* True when s is a plain number: ^[-+]?%d+%.?%d*$ (which -8, +86 and -1.5
 * are, and =1+1 is not). */
static int plain_number(const char *s, size_t len) {
    size_t i = 0, digits;
    if (len > 0 && (s[0] == '-' || s[0] == '+'))
        i++;
    digits = i;
    while (i < len && is_digit((unsigned char)s[i]))
        i++;
    if (i == digits)
        return 0;
    if (i < len && s[i] == '.')
        i++;
    while (i < len && is_digit((unsigned char)s[i]))
        i++;
    return i == len;
}

/* Decides how s (len > 0) is written; returns the size of the cell. */
static size_t plan_cell(const char *s, size_t len, struct cell_plan *p) {
    unsigned char first = (unsigned char)s[0];
    int special = 0;
    p->quotes = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char k = SPECIAL[(unsigned char)s[i]];
        if (k) {
            special = 1;
            p->quotes += k >> 1;
        }
    }
    p->guard = (first == '=' || first == '+' || first == '-' || first == '@' || first == '\t'
                || first == '\r') && !plain_number(s, len);
    /* A space cannot be guarded, so the first byte is still s[0]. */
    p->quote = special || first == ' ' || s[len - 1] == ' ';
    return len + (size_t)p->guard + p->quotes + (p->quote ? 2 : 0);
}

/* Writes the cell planned by plan_cell at out; returns where it ends. */
static char *put_cell(char *out, const char *s, size_t len, const struct cell_plan *p) {
    if (p->quote)
        *out++ = '"';
    if (p->guard)
        *out++ = '\'';
    if (p->quotes == 0) {
        memcpy(out, s, len);
        out += len;
    } else {
        for (size_t i = 0; i < len; i++) {
            *out++ = s[i];
            if (s[i] == '"')
                *out++ = '"';
        }
    }
    if (p->quote)
        *out++ = '"';
    return out;
}

static size_t integer_text(char *out, lua_Integer v) {
    char digits[24];
    size_t n = 0, k = 0;
    lua_Unsigned u = v < 0 ? 0u - (lua_Unsigned)v : (lua_Unsigned)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = digits[--n];
    return k;
}

/* The text of the value at idx before quoting, or NULL for an empty cell.
 * A number is written into tmp. Never raises. */
static const char *value_text(lua_State *L, int idx, char tmp[NUMBER_TEXT], size_t *len) {
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return lua_tolstring(L, idx, len);
    case LUA_TNUMBER: {
        int exact;
        lua_Integer i = lua_tointegerx(L, idx, &exact);   /* as math.tointeger */
        if (exact)
            *len = integer_text(tmp, i);
        else
            *len = (size_t)snprintf(tmp, NUMBER_TEXT, "%.14g", (double)lua_tonumber(L, idx));
        return tmp;
    }
    case LUA_TBOOLEAN:
        *len = lua_toboolean(L, idx) ? 4 : 5;
        return lua_toboolean(L, idx) ? "true" : "false";
    default:
        return NULL;         /* nil, and null markers such as cjson.null */
    }
}

/* ---- the buffer ---- */

/* Makes room for `need` bytes in all, keeping the first `used`. */
static void reserve(lua_State *L, int widx, struct csv_writer *w, size_t used, size_t need) {
    size_t cap = w->cap ? w->cap : MIN_BUFFER;
    char *bigger;
    if (need <= w->cap)
        return;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2)
            luaL_error(L, "csv writer: row too large");
        cap *= 2;
    }
    bigger = (char *)lua_newuserdatauv(L, cap, 0);
    if (used)
        memcpy(bigger, w->buf, used);
    lua_setiuservalue(L, widx, UV_BUFFER);   /* the old one is garbage */
    w->buf = bigger;
    w->cap = cap;
}

/* Appends len bytes at *pos. */
static void put_bytes(lua_State *L, int widx, struct csv_writer *w, size_t *pos, const char *s, size_t len) {
    reserve(L, widx, w, *pos, *pos + len);
    memcpy(w->buf + *pos, s, len);
    *pos += len;
}

/* Appends the n values from stack index first as one line. The line
 * counts only once complete: if anything raises, the buffer is unchanged. */
static void put_line(lua_State *L, int widx, struct csv_writer *w, int first, int n) {
    size_t pos = w->len;
    for (int i = 0; i < n; i++) {
        char tmp[NUMBER_TEXT];
        size_t len;
        const char *s = value_text(L, first + i, tmp, &len);
        if (i > 0)
            put_bytes(L, widx, w, &pos, ",", 1);
        if (s && len > 0) {
            struct cell_plan p;
            size_t size = plan_cell(s, len, &p);
            reserve(L, widx, w, pos, pos + size);
            /* reserve() may collect: s is still anchored on the stack */
            pos = (size_t)(put_cell(w->buf + pos, s, len, &p) - w->buf);
        }
    }
    put_bytes(L, widx, w, &pos, w->eol, w->eol_len);
    w->len = pos;
    w->pending++;
}

/* The FILE * of the writer's file; raises, as Lua's io does, once the
 * file has been closed under the writer. */
static FILE *file_of(lua_State *L, int widx) {
    luaL_Stream *p;
    lua_getiuservalue(L, widx, UV_FILE);
    p = (luaL_Stream *)luaL_testudata(L, -1, LUA_FILEHANDLE);
    lua_pop(L, 1);                       /* still anchored as a uservalue */
    if (p == NULL || p->closef == NULL)
        luaL_error(L, "attempt to use a closed file");
    return p->f;
}

/* Writes out the pending lines. Returns 1, or 0 with the error message
 * pushed; the lines are dropped either way, as a failed write leaves the
 * file in an unknown state. */
static int drain(lua_State *L, int widx, struct csv_writer *w) {
    FILE *f;
    size_t len = w->len;
    if (w->pending == 0)
        return 1;
    f = file_of(L, widx);
    w->len = 0;
    w->pending = 0;
    errno = 0;
    if (len > 0 && fwrite(w->buf, 1, len, f) != len) {
        lua_pushstring(L, strerror(errno));
        return 0;
    }
    if (w->cap > 4 * DRAIN_BYTES) {      /* after a huge row: give it back */
        lua_pushnil(L);
        lua_setiuservalue(L, widx, UV_BUFFER);
        w->buf = NULL;
        w->cap = 0;
    }
    return 1;
}

/* After a line: drains when it is time. Pushes true | nil, err. */
static int line_result(lua_State *L, int widx, struct csv_writer *w) {
    if ((lua_Number)w->pending >= w->buffer_rows || w->len >= DRAIN_BYTES) {
        if (!drain(L, widx, w)) {
            luaL_pushfail(L);
            lua_insert(L, -2);
            return 2;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- Lua functions ---- */

/* core.cell(v) -> the CSV text of one value (quoted, formula-guarded). */
static int csv_cell(lua_State *L) {
    char tmp[NUMBER_TEXT];
    size_t len;
    const char *s;
    lua_settop(L, 1);
    s = value_text(L, 1, tmp, &len);
    if (s == NULL || len == 0) {
        lua_pushliteral(L, "");
    } else {
        struct cell_plan p;
        luaL_Buffer b;
        size_t size = plan_cell(s, len, &p);
        char *out = luaL_buffinitsize(L, &b, size);
        luaL_pushresultsize(&b, (size_t)(put_cell(out, s, len, &p) - out));
    }
    return 1;
}

/* core.text(v) -> the text of one value as a cell holds it, before any
 * quoting or guard, or nil for an empty cell: the one number rule of every
 * sink that writes text (the .xlsx sink's input fields too). */
static int csv_text(lua_State *L) {
    char tmp[NUMBER_TEXT];
    size_t len;
    const char *s;
    lua_settop(L, 1);
    s = value_text(L, 1, tmp, &len);
    if (s == NULL)
        lua_pushnil(L);
    else
        lua_pushlstring(L, s, len);
    return 1;
}

/* writer:write(row) -> true | nil, err
 * row maps column names to values; missing values are empty cells. */
static int writer_write(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    if (!w->open)
        return luaL_error(L, "csv writer: write after close");
    lua_settop(L, 2);
    luaL_checkstack(L, w->ncols + 8, "too many columns");
    lua_getiuservalue(L, 1, UV_COLUMNS);                  /* w row columns */
    for (int i = 1; i <= w->ncols; i++) {
        lua_rawgeti(L, 3, i);
        lua_gettable(L, 2);                               /* ... value_i */
    }
    put_line(L, 1, w, 4, w->ncols);
    lua_settop(L, 1);
    return line_result(L, 1, w);
}

/* writer:_bind(fields, results): for _write_record (qxt.sink.csv), where
 * the value of column i comes from: record.fields[fields[i]] when that is a
 * string, else the result column results[i]. */
static int writer_bind(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    int n = w->ncols;
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_createtable(L, 2 * n, 0);                         /* w fields results bind */
    for (int i = 1; i <= n; i++) {
        if (lua_geti(L, 2, i) == LUA_TSTRING) {
            lua_rawseti(L, 4, i);
            continue;
        }
        lua_pop(L, 1);
        if (lua_geti(L, 3, i) != LUA_TSTRING)
            return luaL_error(L, "csv writer: column %d has no source", i);
        lua_rawseti(L, 4, n + i);
    }
    lua_setiuservalue(L, 1, UV_BIND);
    w->bound = 1;
    return 0;
}

/* writer:_write_record(record, result) -> true | nil, err
 * One line straight from a record, without a row table: an input column
 * takes (record.fields or record)[name]; a result column takes
 * result[name], else record[name], and `reason` falls back to
 * record.error. */
static int writer_write_record(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    int n = w->ncols, has_result;
    if (!w->open)
        return luaL_error(L, "csv writer: write after close");
    if (!w->bound)
        return luaL_error(L, "csv writer: _write_record before _bind");
    lua_settop(L, 3);
    luaL_checkstack(L, n + 8, "too many columns");
    lua_getfield(L, 2, "fields");                         /* w rec res fields */
    if (!lua_toboolean(L, 4)) {
        lua_pop(L, 1);
        lua_pushvalue(L, 2);
    }
    lua_getiuservalue(L, 1, UV_BIND);                     /* w rec res fields bind */
    has_result = lua_toboolean(L, 3);
    for (int i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 5, i) == LUA_TSTRING) {
            lua_gettable(L, 4);                           /* ... value */
            continue;
        }
        lua_pop(L, 1);
        lua_rawgeti(L, 5, n + i);                         /* ... name */
        if (has_result) {
            lua_pushvalue(L, -1);
            lua_gettable(L, 3);
        } else {
            lua_pushvalue(L, 3);                          /* `result and ...` */
        }                                                 /* ... name value */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_gettable(L, 2);
            if (lua_isnil(L, -1)) {
                size_t len;
                const char *name = lua_tolstring(L, -2, &len);
                if (len == 6 && memcmp(name, "reason", 6) == 0) {
                    lua_pop(L, 1);
                    lua_getfield(L, 2, "error");
                }
            }
        }
        lua_remove(L, -2);                                /* ... value */
    }
    put_line(L, 1, w, 6, n);
    lua_settop(L, 1);
    return line_result(L, 1, w);
}

/* Drains and flushes; returns 1, or 0 with the error message pushed. */
static int flush_all(lua_State *L, int widx, struct csv_writer *w) {
    FILE *f;
    if (!drain(L, widx, w))
        return 0;
    f = file_of(L, widx);
    errno = 0;
    if (fflush(f) != 0) {
        lua_pushstring(L, strerror(errno));
        return 0;
    }
    return 1;
}

/* writer:flush() -> true | nil, err */
static int writer_flush(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    lua_settop(L, 1);
    if (w->open && !flush_all(L, 1, w)) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* writer:close() -> true | nil, err; also __close. Flushes; closes the file
 * if the writer opened it. Closing twice is harmless. */
static int writer_close(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    int ok;
    lua_settop(L, 1);
    if (!w->open) {
        lua_pushboolean(L, 1);
        return 1;
    }
    ok = flush_all(L, 1, w);                              /* w [err] */
    w->open = 0;
    lua_getiuservalue(L, 1, UV_FILE);                     /* w [err] file */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, UV_FILE);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, UV_BUFFER);
    w->buf = NULL;
    w->cap = w->len = 0;
    if (w->owned) {
        lua_getfield(L, -1, "close");
        lua_insert(L, -2);
        lua_call(L, 1, 2);                                /* w [err] closed why */
        if (ok && !lua_toboolean(L, -2)) {
            luaL_pushfail(L);
            lua_pushvalue(L, -2);
            return 2;
        }
        lua_pop(L, 2);
    } else {
        lua_pop(L, 1);
    }
    if (!ok) {                                            /* w err */
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* __gc: closes, ignoring any error, as nobody is left to hear it. */
static int writer_gc(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    if (w->open) {
        lua_pushcfunction(L, writer_close);
        lua_pushvalue(L, 1);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
    }
    return 0;
}

static int writer_tostring(lua_State *L) {
    struct csv_writer *w = check_writer(L);
    if (w->open)
        lua_pushfstring(L, "csv writer (%p)", (void *)w);
    else
        lua_pushliteral(L, "csv writer (closed)");
    return 1;
}

/* core.new(file, owned, columns, eol, buffer_rows, bom, header)
 *   -> writer | nil, err
 * file is an open Lua file; columns an array of strings (copied); the BOM
 * and the header row are buffered at once, as the first lines. */
static int csv_new(lua_State *L) {
    struct csv_writer *w;
    lua_Integer n;
    size_t eol_len;
    const char *eol;
    lua_settop(L, 7);
    luaL_checkudata(L, 1, LUA_FILEHANDLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    eol = luaL_checklstring(L, 4, &eol_len);              /* now a string */
    n = luaL_len(L, 3);
    luaL_argcheck(L, n >= 1 && n <= INT_MAX / 4, 3, "expected a non-empty array of column names");
    luaL_checkstack(L, (int)n + 8, "too many columns");
    w = (struct csv_writer *)lua_newuserdatauv(L, sizeof *w, UV_COUNT);   /* ... w */
    memset(w, 0, sizeof *w);
    luaL_setmetatable(L, WRITER_MT);
    w->ncols = (int)n;
    w->owned = lua_toboolean(L, 2);
    w->buffer_rows = luaL_checknumber(L, 5);
    w->eol = eol;
    w->eol_len = eol_len;
    lua_pushvalue(L, 4);
    lua_setiuservalue(L, 8, UV_EOL);
    lua_createtable(L, (int)n, 0);                        /* ... w columns */
    for (int i = 1; i <= (int)n; i++) {
        if (lua_geti(L, 3, i) != LUA_TSTRING)
            return luaL_error(L, "csv writer: column %d is not a string", i);
        lua_rawseti(L, 9, i);
    }
    lua_setiuservalue(L, 8, UV_COLUMNS);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 8, UV_FILE);
    w->open = 1;
    if (lua_toboolean(L, 6)) {
        size_t pos = 0;
        put_bytes(L, 8, w, &pos, "\357\273\277", 3);
        w->len = pos;
        w->pending++;
        if (line_result(L, 8, w) == 2)   /* buffer_rows = 1: written at once */
            return 2;
        lua_settop(L, 8);
    }
    if (lua_toboolean(L, 7)) {
        lua_getiuservalue(L, 8, UV_COLUMNS);              /* ... w columns */
        for (int i = 1; i <= (int)n; i++)
            lua_rawgeti(L, 9, i);
        put_line(L, 8, w, 10, (int)n);
        lua_settop(L, 8);
        if (line_result(L, 8, w) == 2)                    /* w fail err */
            return 2;
        lua_settop(L, 8);
    }
    return 1;
}

static const luaL_Reg writer_methods[] = {
    {"write", writer_write},
    {"flush", writer_flush},
    {"close", writer_close},
    {"_bind", writer_bind},
    {"_write_record", writer_write_record},
    {NULL, NULL}
};

static const luaL_Reg writer_meta[] = {
    {"__index", NULL},                 /* set to writer_methods below */
    {"__gc", writer_gc},
    {"__close", writer_close},
    {"__tostring", writer_tostring},
    {NULL, NULL}
};

static const luaL_Reg csv_writer_funcs[] = {
    {"cell", csv_cell},
    {"new", csv_new},
    {"text", csv_text},
    {NULL, NULL}
};

int luaopen_qxt_csv_writer_core(lua_State *L) {
    luaL_newmetatable(L, WRITER_MT);                      /* mt */
    luaL_setfuncs(L, writer_meta, 0);
    luaL_newlib(L, writer_methods);                       /* mt methods */
    lua_setfield(L, -2, "__index");                       /* mt */
    lua_pop(L, 1);
    luaL_newlib(L, csv_writer_funcs);                     /* module */
    return 1;
}
