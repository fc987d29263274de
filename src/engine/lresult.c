/* lresult.c -- the response decoder: turns what the transport got into
 * verify()'s result table (docs/lua-api.md). JSON is parsed by lua-cjson; this
 * file only decides what the parsed value means. Tolerates what docs/provider-api.md
 * lists: code as a string, a null or missing result, any content type, a
 * non-200 status carrying JSON. Anything else without a valid code is a
 * transport failure, never an error raised into the script.
 *
 * Money: a result is never sent (class transport, the request did not go
 * out whole: free to ask again), answered (a provider code), or possibly
 * charged (`possibly_charged = true`: the request went out whole and no
 * decodable answer about this person came back). */
#include "lqxt.h"
#include "codes.h"
#include "echo.h"
#include "http.h"
#include "qxt.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char DECODER_KEY = 'd';   /* registry key: cjson.safe.decode */
static const char ENCODER_KEY = 'e';   /* registry key: cjson.safe.encode (for raw) */

void lresult_open(lua_State *L)
{
    /* A private instance: a script that reconfigures its own cjson cannot
     * change how answers are read. */
    luaopen_cjson_safe(L);                      /* cjson.safe */
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);                          /* cjson.safe, inst */
    lua_getfield(L, -1, "decode_max_depth");   /* configures its own instance */
    lua_pushinteger(L, 32);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "decode");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &DECODER_KEY);
    lua_getfield(L, -1, "encode");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ENCODER_KEY);
    lua_pop(L, 2);
}

/* Pushes the string at idx with every spelling of apikey masked. */
static void push_redacted_string(lua_State *L, int idx, const char *apikey)
{
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    luaL_Buffer b;

    if (!apikey || !*apikey || len < strlen(apikey)) {
        lua_pushvalue(L, idx);
        return;
    }
    char *p = luaL_buffinitsize(L, &b, len);
    memcpy(p, s, len);
    qxt_redact(p, len, apikey);
    luaL_pushresultsize(&b, len);
}

static int needs_redaction(lua_State *L, int idx, const char *apikey)
{
    return apikey && *apikey && lua_type(L, idx) == LUA_TSTRING && lua_rawlen(L, idx) >= strlen(apikey);
}

/* Masks apikey in every spelling (qxt_redact) in every string of the
 * decoded value at idx, table keys included, in place. Values are replaced
 * while the table is traversed (allowed for existing keys); keys that
 * change are moved afterwards. Depth is bounded by the decoder's (32). */
static void redact_decoded(lua_State *L, int idx, const char *apikey)
{
    int moves = 0;

    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 8, "decoded answer too deep");
    lua_pushnil(L);
    while (lua_next(L, idx)) {                       /* k, v */
        if (lua_type(L, -1) == LUA_TTABLE) {
            redact_decoded(L, -1, apikey);
        } else if (needs_redaction(L, -1, apikey)) {
            lua_pushvalue(L, -2);
            push_redacted_string(L, -2, apikey);     /* k, v, k, v' */
            lua_rawset(L, idx);
        }
        lua_pop(L, 1);                               /* k */
        if (needs_redaction(L, -1, apikey)) {
            if (moves++ == 0) {
                lua_newtable(L);                     /* k, moves */
                lua_insert(L, -2);                   /* moves, k */
            }
            lua_pushvalue(L, -1);
            lua_rawseti(L, -3, moves);               /* moves, k */
        }
    }
    for (int i = 1; i <= moves; i++) {               /* moves */
        lua_rawgeti(L, -1, i);                       /* moves, k */
        push_redacted_string(L, -1, apikey);         /* moves, k, k' */
        lua_pushvalue(L, -2);
        lua_rawget(L, idx);                          /* moves, k, k', v */
        lua_pushvalue(L, -3);
        lua_pushnil(L);
        lua_rawset(L, idx);                          /* t[k] = nil */
        lua_rawset(L, idx);                          /* t[k'] = v; moves, k */
        lua_pop(L, 1);
    }
    if (moves)
        lua_pop(L, 1);
}

/* Pushes what the body decodes to, every string redacted; nil when it is
 * not JSON. Everything the result holds of a server's answer comes from
 * here: the key reflected in any spelling is masked once, at the source. */
static void push_decoded(lua_State *L, const char *body, size_t len, const char *apikey)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &DECODER_KEY);
    lua_pushlstring(L, body, len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {           /* cjson.safe: nil for bad JSON */
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    if (lua_type(L, -1) == LUA_TTABLE) {
        redact_decoded(L, -1, apikey);
    } else if (needs_redaction(L, -1, apikey)) {
        push_redacted_string(L, -1, apikey);
        lua_remove(L, -2);
    }
}

/* result.raw, for audit: the decoded answer encoded again as JSON (key
 * order and number format are cjson's), never the bytes as they came; a
 * body that is not JSON is not kept, only its size is said. */
static void set_raw(lua_State *L, int result, int decoded, size_t len)
{
    if (!lua_isnil(L, decoded)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &ENCODER_KEY);
        lua_pushvalue(L, decoded);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
            lua_setfield(L, result, "raw");
            return;
        }
        lua_pop(L, 1);
    }
    if (len == 0)
        lua_pushliteral(L, "");
    else
        lua_pushfstring(L, "(%I bytes that are not JSON, not kept)", (lua_Integer)len);
    lua_setfield(L, result, "raw");
}

static void set_str(lua_State *L, const char *key, const char *s, size_t len)
{
    lua_pushlstring(L, s, len);
    lua_setfield(L, -2, key);
}

/* Copies the string field `key` of the table at idx into the result (at the
 * top) under `as`; anything else (null, a number) is left out. */
static void copy_str_field(lua_State *L, int idx, const char *key, const char *as)
{
    if (lua_getfield(L, idx, key) == LUA_TSTRING)
        lua_setfield(L, -2, as);
    else
        lua_pop(L, 1);
}

/* The provider's code: an integer, or a string holding one. */
static int get_code(lua_State *L, int idx, lua_Integer *code)
{
    int ok = 0;

    lua_getfield(L, idx, "code");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (lua_stringtonumber(L, s) == len + 1) {
            lua_replace(L, -2);
        }
    }
    if (lua_type(L, -1) == LUA_TNUMBER) {
        int isint;
        *code = lua_tointegerx(L, -1, &isint);
        ok = isint;
    }
    lua_pop(L, 1);
    return ok;
}

/* Verdict fields of a code-0 answer: result.Status/Area/Now_isp, copied
 * into the result table at index result. */
static void decode_verdict(lua_State *L, int result, int decoded)
{
    const char *status, *area;
    size_t area_len = 0;
    struct qxt_verdict v;
    int top = lua_gettop(L);

    if (lua_getfield(L, decoded, "result") != LUA_TTABLE) {
        lua_settop(L, top);
        return;
    }
    int res = lua_gettop(L);
    lua_pushvalue(L, result);
    copy_str_field(L, res, "Status", "status");
    copy_str_field(L, res, "Area", "area");
    copy_str_field(L, res, "Now_isp", "isp");

    /* The one rule for verdict fields (codes.h), as the journal applies
     * it to stored answers through qxt.core.verdict. */
    lua_getfield(L, result, "status");
    status = lua_tostring(L, -1);
    lua_getfield(L, result, "area");
    area = lua_tolstring(L, -1, &area_len);
    qxt_verdict_of(status, area, area ? area_len : 0, &v);
    if (v.consistent >= 0) {
        lua_pushboolean(L, v.consistent);
        lua_setfield(L, result, "consistent");
    }
    if (v.province_len > 0) {
        lua_pushlstring(L, v.province, v.province_len);
        lua_setfield(L, result, "province");
    }
    if (v.city_len > 0) {
        lua_pushlstring(L, v.city, v.city_len);
        lua_setfield(L, result, "city");
    }
    lua_settop(L, top);
}

/* A failure without an answer, into the result at the top. sent: the
 * request went out whole, so the provider may have charged it. */
static void set_transport(lua_State *L, const char *reason, int sent)
{
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, qxt_class_name(QXT_CLASS_TRANSPORT));
    lua_setfield(L, -2, "class");
    if (sent) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "possibly_charged");
    }
}

/* "mobile" or "name" when the answer's result (a table at index decoded)
 * names someone other than q asked, else NULL. */
static const char *names_another(lua_State *L, int decoded, const struct lresult_query *q)
{
    const char *which = NULL, *s;
    size_t len;
    int top = lua_gettop(L);

    if (lua_getfield(L, decoded, "result") == LUA_TTABLE) {
        if (lua_getfield(L, -1, "Mobile") == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &len);
            if (!echo_same_mobile(q->mobile, q->mobile_len, s, len))
                which = "mobile";
        }
        lua_pop(L, 1);
        if (!which && lua_getfield(L, -1, "Name") == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &len);
            if (!echo_same_name(q->name, q->name_len, s, len))
                which = "name";
        }
    }
    lua_settop(L, top);
    return which;
}

/* Decodes a complete HTTP response into the result at index result; the
 * body, decoded and redacted, is at index decoded (nil: not JSON). */
static void decode_body(lua_State *L, const struct lresult_query *q, const struct http_response *resp,
                        int result, int decoded)
{
    const char *other;
    char why[128];
    lua_Integer code;

    if (lua_type(L, decoded) != LUA_TTABLE || !get_code(L, decoded, &code)) {
        if (resp->status < 200 || resp->status > 299)
            snprintf(why, sizeof why, "HTTP %ld from the server, with no provider answer", resp->status);
        else if (lua_type(L, decoded) == LUA_TTABLE)
            snprintf(why, sizeof why, "the response has no valid code");
        else
            snprintf(why, sizeof why, "the response is not JSON");
        lua_settop(L, result);
        set_transport(L, why, 1);     /* an HTTP answer came: the request was sent */
        return;
    }
    qxt_class cls = qxt_code_class((long)code);

    /* An answer about someone else is no answer about this person: nothing
     * of it is taken, and it was possibly charged. An account code keeps
     * its class: stopping the spending matters more. */
    if (cls != QXT_CLASS_ACCOUNT && (other = names_another(L, decoded, q))) {
        snprintf(why, sizeof why, "the answer (code %ld) names another %s than the one asked; "
                 "not taken as this person's answer", (long)code, other);
        lua_pushstring(L, why);
        lua_setfield(L, result, "reason");
        lua_pushstring(L, qxt_class_name(QXT_CLASS_MISMATCH));
        lua_setfield(L, result, "class");
        lua_pushboolean(L, 1);
        lua_setfield(L, result, "possibly_charged");
        lua_settop(L, result);
        return;
    }

    lua_pushinteger(L, code);
    lua_setfield(L, result, "code");
    if (lua_getfield(L, decoded, "reason") != LUA_TSTRING) {
        const char *known = qxt_code_reason((long)code);
        lua_pop(L, 1);
        lua_pushstring(L, known ? known : "unknown code");
    }
    lua_setfield(L, result, "reason");
    lua_pushstring(L, qxt_class_name(cls));
    lua_setfield(L, result, "class");
    if (code == QXT_OK)
        decode_verdict(L, result, decoded);
    lua_settop(L, result);
}

void lresult_push(lua_State *L, const struct lresult_query *q, const struct http_response *resp)
{
    int result, decoded;

    lua_createtable(L, 0, 16);
    result = lua_gettop(L);
    set_str(L, "mobile", q->mobile, q->mobile_len);
    set_str(L, "name", q->name, q->name_len);
    lua_pushnumber(L, resp->total_ms);
    lua_setfield(L, -2, "latency_ms");

    /* Whatever a server sends back, the key it was given never reaches
     * the script's output, in any spelling. */
    push_decoded(L, resp->body, resp->body_len, q->apikey);
    decoded = lua_gettop(L);
    set_raw(L, result, decoded, resp->body_len);
    if (resp->ok) {
        lua_pushinteger(L, resp->status);
        lua_setfield(L, result, "http_status");
        decode_body(L, q, resp, result, decoded);
    } else {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", resp->error ? resp->error : "transport failure");
        qxt_redact(reason, strlen(reason), q->apikey);
        lua_settop(L, result);
        set_transport(L, reason, resp->sent);
    }
    lua_settop(L, result);
}
