/* liconv.c -- the Lua module `qxt.iconv`: character set conversion with
 * glibc's iconv(3), for input files exported as GB18030/GBK.
 *
 * Built for streaming: convert() takes one chunk at a time, and when the
 * chunk ends inside a multibyte character it converts what it can and
 * reports how many trailing bytes it left over, so the caller prepends them
 * to the next chunk. An invalid byte sequence is an outcome of the outside
 * world (a damaged or mislabelled file): it returns nil, message, position
 * rather than raising. Misuse (wrong argument types, a closed converter)
 * raises. */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#include "liconv.h"

#define CONVERTER_MT "qxt.iconv.converter"

struct converter {
    iconv_t cd;        /* (iconv_t)-1 once closed */
};

#define IS_OPEN(c) ((c)->cd != (iconv_t)-1)

static struct converter *check_converter(lua_State *L) {
    return (struct converter *)luaL_checkudata(L, 1, CONVERTER_MT);
}

static struct converter *check_open(lua_State *L) {
    struct converter *c = check_converter(L);
    if (!IS_OPEN(c))
        luaL_argerror(L, 1, "converter is closed");
    return c;
}

/* iconv.new(to, from): a converter from encoding `from` to encoding `to`,
 * names as iconv(1) knows them ("UTF-8", "GB18030"). */
static int iconv_new(lua_State *L) {
    const char *to = luaL_checkstring(L, 1);
    const char *from = luaL_checkstring(L, 2);
    /* The userdata exists before the descriptor, so a failing allocation
     * cannot leak it. */
    struct converter *c = (struct converter *)lua_newuserdatauv(L, sizeof(struct converter), 0);
    c->cd = (iconv_t)-1;
    luaL_setmetatable(L, CONVERTER_MT);
    c->cd = iconv_open(to, from);
    if (!IS_OPEN(c)) {
        int e = errno;
        luaL_pushfail(L);
        if (e == EINVAL)
            lua_pushfstring(L, "conversion from %s to %s is not supported", from, to);
        else
            lua_pushfstring(L, "iconv_open(%s, %s): %s", to, from, strerror(e));
        return 2;
    }
    return 1;
}

/* converter:convert(s) -> converted, pending
 * `pending` counts the bytes at the end of `s` that start a multibyte
 * character which `s` does not complete; they are not in `converted`.
 * On an invalid sequence: nil, message, position (1-based byte index in
 * `s`), and the converter is reset so it can be used again. */
static int converter_convert(lua_State *L) {
    struct converter *c = check_open(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    char *in = (char *)s;              /* iconv's prototype is not const */
    size_t inleft = len;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while (inleft > 0) {
        /* Room for the worst case of this chunk (4 UTF-8 bytes per input
         * byte), so most chunks take one call. */
        size_t room = inleft * 4 < LUAL_BUFFERSIZE ? LUAL_BUFFERSIZE : inleft * 4;
        char *out = luaL_prepbuffsize(&b, room);
        size_t outleft = room;
        size_t r = iconv(c->cd, &in, &inleft, &out, &outleft);
        luaL_addsize(&b, room - outleft);
        if (r != (size_t)-1)
            break;
        if (errno == E2BIG)
            continue;
        if (errno == EINVAL)           /* incomplete sequence at the end */
            break;
        int e = errno;
        size_t position = len - inleft + 1;
        iconv(c->cd, NULL, NULL, NULL, NULL);
        luaL_pushfail(L);
        if (e == EILSEQ)
            lua_pushfstring(L, "invalid byte sequence at byte %I", (lua_Integer)position);
        else
            lua_pushfstring(L, "iconv: %s", strerror(e));
        lua_pushinteger(L, (lua_Integer)position);
        return 3;
    }
    luaL_pushresult(&b);                               /* converted */
    lua_pushinteger(L, (lua_Integer)inleft);           /* pending */
    return 2;
}

/* converter:reset() -> converter: back to the initial shift state,
 * forgetting any state of the previous input. */
static int converter_reset(lua_State *L) {
    struct converter *c = check_open(L);
    iconv(c->cd, NULL, NULL, NULL, NULL);
    lua_settop(L, 1);
    return 1;
}

/* converter:close(); also __gc and __close. Closing twice is harmless. */
static int converter_close(lua_State *L) {
    struct converter *c = check_converter(L);
    if (IS_OPEN(c)) {
        iconv_close(c->cd);
        c->cd = (iconv_t)-1;
    }
    return 0;
}

static int converter_tostring(lua_State *L) {
    struct converter *c = check_converter(L);
    if (IS_OPEN(c))
        lua_pushfstring(L, "iconv converter (%p)", (void *)c);
    else
        lua_pushliteral(L, "iconv converter (closed)");
    return 1;
}

static const luaL_Reg converter_methods[] = {
    {"convert", converter_convert},
    {"reset", converter_reset},
    {"close", converter_close},
    {NULL, NULL}
};

static const luaL_Reg converter_meta[] = {
    {"__index", NULL},                 /* set to converter_methods below */
    {"__gc", converter_close},
    {"__close", converter_close},
    {"__tostring", converter_tostring},
    {NULL, NULL}
};

static const luaL_Reg iconv_funcs[] = {
    {"new", iconv_new},
    {NULL, NULL}
};

int luaopen_qxt_iconv(lua_State *L) {
    luaL_newmetatable(L, CONVERTER_MT);                /* mt */
    luaL_setfuncs(L, converter_meta, 0);
    luaL_newlib(L, converter_methods);                 /* mt methods */
    lua_setfield(L, -2, "__index");                    /* mt */
    lua_pop(L, 1);
    luaL_newlib(L, iconv_funcs);                       /* module */
    return 1;
}
