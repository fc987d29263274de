/* fuzz_result.c -- libFuzzer harness for the response decoder
 * (src/engine/lresult.c: lresult_push, with lua-cjson), the C code between any
 * bytes a server sends and the script's result table.
 *
 * Input: byte 0 picks the HTTP status, whether a response arrived at all,
 * whether the request had gone out whole, and whether the apikey is set;
 * the rest is the body (or the transport's error text). Checks the result
 * table's contract (docs/lua-api.md): always a table with a class and a reason; a
 * code exactly when the class is neither transport nor mismatch;
 * possibly_charged exactly for a mismatch or a transport failure after
 * sending; `consistent` only for 一致/不一致; the apikey never in raw or
 * reason. A violation aborts, for libFuzzer to record. */
#include "http.h"
#include "lqxt.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char APIKEY[] = "0123456789abcdef0123456789abcdef";
static const long STATUSES[] = { 200, 200, 200, 404, 500, 502, 302, 0 };

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_result: %s\n", what);
    abort();
}

static const char *field(lua_State *L, const char *key, size_t *len)
{
    lua_getfield(L, 1, key);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    static unsigned runs;
    size_t len;

    if (!L) {
        L = luaL_newstate();
        luaL_openlibs(L);
        lresult_open(L);
    }
    if (size < 1)
        return 0;
    unsigned b = data[0];
    /* The transport NUL-terminates the body it hands over; so do we. */
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';

    struct http_response resp = {
        .ok = (b & 0x80) == 0,
        .status = STATUSES[b & 7],
        .body = body,
        .body_len = size - 1,
        .error = (b & 0x80) ? body : NULL,
        .total_ms = 12.5,
        .sent = (b & 0x20) != 0,
    };
    if (!resp.ok)
        resp.status = 0;
    struct lresult_query q = {
        .mobile = "13972565391", .mobile_len = 11,
        .name = "张三", .name_len = strlen("张三"),
        .apikey = (b & 0x40) ? NULL : APIKEY,
    };

    lua_settop(L, 0);
    lresult_push(L, &q, &resp);
    if (lua_gettop(L) != 1 || !lua_istable(L, 1))
        fail("the result is not one table");

    const char *cls = field(L, "class", &len);
    const char *reason = field(L, "reason", &len);
    if (!cls || !reason)
        fail("no class or no reason");
    static const char *const classes[] = { "ok", "input", "no_record", "account",
                                           "transient", "transport", "mismatch" };
    int known = 0;
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
        known |= strcmp(cls, classes[i]) == 0;
    if (!known)
        fail("an unknown class");
    lua_getfield(L, 1, "code");
    int has_code = lua_isinteger(L, -1);
    if (!has_code && !lua_isnil(L, -1))
        fail("code is neither an integer nor nil");
    lua_pop(L, 1);
    int answer = strcmp(cls, "transport") != 0 && strcmp(cls, "mismatch") != 0;
    if (has_code != answer)
        fail("a code without a provider class, or a provider class without a code");
    lua_getfield(L, 1, "possibly_charged");
    int charged = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (charged != (!answer && (resp.ok || resp.sent)))
        fail("possibly_charged is not exactly: sent whole, and no answer about the person asked");

    lua_getfield(L, 1, "consistent");
    if (!lua_isnil(L, -1)) {
        const char *status = field(L, "status", &len);
        if (!status || (strcmp(status, "一致") != 0 && strcmp(status, "不一致") != 0))
            fail("consistent is set without a verdict status");
    }
    lua_pop(L, 1);

    size_t raw_len, reason_len;
    const char *raw = field(L, "raw", &raw_len);
    reason = field(L, "reason", &reason_len);
    if (!raw)
        fail("no raw");
    if (q.apikey && (memmem(raw, raw_len, APIKEY, strlen(APIKEY)) ||
                     memmem(reason, reason_len, APIKEY, strlen(APIKEY))))
        fail("the apikey reached the result");

    free(body);
    lua_settop(L, 0);
    if (++runs % 1024 == 0)
        lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
