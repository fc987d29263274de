/* lhttpd.c -- the Lua module `qxt.httpd.core`: the HTTP server of `qxtv
 * serve` (httpd.c: libmicrohttpd inside the engine's own event loop) as Lua
 * objects. It lives in its own module (qxtv-httpd.so) so a plain `qxtv run`
 * never maps libmicrohttpd.
 *
 * Lua takes requests with srv:next() (a blocking call, lawait.h) and answers
 * each with req:respond(status, headers, body), which resumes the
 * connection. The server never calls Lua from inside MHD_run: a request is
 * handed over from a loop timer (httpd_wait), where srv:close() is safe.
 *
 *   srv = core.listen(host, port [, { max_body = 16384, connection_timeout = 120 }])
 *   srv:port() -> the bound port (port 0 picks a free one)
 *   srv:next() -> req, { method, path, headers (lower-cased names), body, remote }
 *                | nil once the server is quiesced and every queued request taken
 *   req:respond(status, { [name] = value }, body)   once; later calls return false
 *   srv:quiesce()   stops accepting; requests that start afterwards get 503
 *   srv:inflight()  requests begun and not yet fully answered
 *   srv:close()     stops; whatever is still suspended is answered 503
 * A req collected without an answer is answered 500 (a handler that lost it). */
#include "lhttpd.h"
#include "httpd.h"
#include "lawait.h"

#include <arpa/inet.h>
#include <lauxlib.h>
#include <lua.h>
#include <netinet/in.h>
#include <string.h>

#define SERVER_MT "qxt.httpd.server"
#define REQUEST_MT "qxt.httpd.request"

struct next_op;

/* The Lua server: a full userdata. s is NULL once closed (or never started). */
struct lsrv {
    struct httpd *s;
    struct next_op *waiter;            /* srv:next() waiting, or NULL */
};

/* The Lua handle of a request: a full userdata. r is NULL once answered
 * or once the request went away (the client left, the server closed):
 * httpd_req_bind keeps it so. */
struct href {
    struct httpd_req *r;
};

struct next_op {                       /* srv:next() waiting */
    struct lawait w;
    struct lsrv *ls;
};

/* ---- Lua: the server ----------------------------------------------------- */

static struct lsrv *check_srv(lua_State *L)
{
    struct lsrv *ls = luaL_checkudata(L, 1, SERVER_MT);
    if (!ls->s)
        luaL_error(L, "httpd: the server is closed");
    return ls;
}

static void push_request(lua_State *T, struct httpd_req *r)
{
    struct href *h = lua_newuserdatauv(T, sizeof *h, 0);
    size_t hlen, blen;
    const char *p = httpd_req_headers(r, &hlen), *end = p + hlen;
    const char *body = httpd_req_body(r, &blen);

    httpd_req_bind(r, &h->r);
    luaL_setmetatable(T, REQUEST_MT);
    lua_createtable(T, 0, 5);
    lua_pushstring(T, httpd_req_method(r));
    lua_setfield(T, -2, "method");
    lua_pushstring(T, httpd_req_path(r));
    lua_setfield(T, -2, "path");
    lua_pushlstring(T, body, blen);
    lua_setfield(T, -2, "body");
    lua_pushstring(T, httpd_req_remote(r));
    lua_setfield(T, -2, "remote");
    lua_newtable(T);
    while (p && p < end) {
        const char *v = p + strlen(p) + 1;
        lua_pushstring(T, v);
        lua_setfield(T, -2, p);          /* a repeated header: the last one */
        p = v + strlen(v) + 1;
    }
    lua_setfield(T, -2, "headers");
}

/* Called by the server (from a loop timer) once next() need not wait:
 * hands the first queued request, or nil when quiesced and none is left. */
static void on_ready(struct httpd *s, void *data)
{
    struct next_op *op = data;
    struct httpd_req *r;
    lua_State *T;
    int ended;

    op->ls->waiter = NULL;
    T = lawait_thread(&op->w, 2);
    if (!T) {
        lawait_complete(&op->w, 0);
        return;
    }
    r = httpd_next(s, &ended);
    if (r) {
        push_request(T, r);
    } else {
        lua_pushnil(T);
        lua_pushnil(T);
    }
    lawait_complete(&op->w, 2);
}

static int srv_listen(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    lua_Integer max_body = 16384, timeout = 120;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    struct lsrv *ls;
    char err[128];

    luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port must be 0 to 65535");
    if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "max_body") != LUA_TNIL)
            max_body = luaL_checkinteger(L, -1);
        if (lua_getfield(L, 3, "connection_timeout") != LUA_TNIL)
            timeout = luaL_checkinteger(L, -1);
        lua_pop(L, 2);
    }
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
    } else {
        return luaL_error(L, "httpd: '%s' is not an IP address", host);
    }
    ls = lua_newuserdatauv(L, sizeof *ls, 0);
    memset(ls, 0, sizeof *ls);
    luaL_setmetatable(L, SERVER_MT);
    ls->s = httpd_start(lawait_loop(e), sa, (size_t)max_body, (unsigned)timeout, err, sizeof err);
    if (!ls->s)
        return luaL_error(L, "httpd: %s on %s port %d", err, host, (int)port);
    return 1;
}

static int srv_port(lua_State *L)
{
    lua_pushinteger(L, httpd_port(check_srv(L)->s));
    return 1;
}

static void cancel_next(struct lawait *w)
{
    struct next_op *op = (struct next_op *)w;

    if (op->ls->waiter == op) {
        op->ls->waiter = NULL;
        if (op->ls->s)
            httpd_wait(op->ls->s, NULL, NULL);
    }
}

static int srv_next(lua_State *L)
{
    struct lsrv *ls = check_srv(L);
    struct httpd_req *r;
    struct next_op *op;
    int ended;

    if (ls->waiter)
        return luaL_error(L, "httpd: next() is already waiting in another task");
    r = httpd_next(ls->s, &ended);
    if (r) {                            /* one is queued: no wait */
        push_request(L, r);
        return 2;
    }
    if (ended) {
        lua_pushnil(L);
        lua_pushnil(L);
        return 2;
    }
    op = lua_newuserdatauv(L, sizeof *op, 0);
    op->ls = ls;
    lawait_begin(L, &op->w, "httpd next()", cancel_next);
    ls->waiter = op;
    httpd_wait(ls->s, on_ready, op);
    return lawait_yield(L, &op->w);
}

/* Stops accepting: the listening socket is closed now. */
static int srv_quiesce(lua_State *L)
{
    httpd_quiesce(check_srv(L)->s);
    return 0;
}

static int srv_inflight(lua_State *L)
{
    struct lsrv *ls = luaL_checkudata(L, 1, SERVER_MT);
    lua_pushinteger(L, ls->s ? (lua_Integer)httpd_inflight(ls->s) : 0);
    return 1;
}

static int srv_close(lua_State *L)
{
    struct lsrv *ls = luaL_checkudata(L, 1, SERVER_MT);
    struct httpd *s = ls->s;

    ls->s = NULL;
    httpd_close(s);
    return 0;
}

/* ---- Lua: a request ---------------------------------------------------- */

static int req_respond(lua_State *L)
{
    struct href *h = luaL_checkudata(L, 1, REQUEST_MT);
    lua_Integer status = luaL_checkinteger(L, 2);
    size_t len = 0;
    const char *body = luaL_optlstring(L, 4, "", &len);
    struct httpd_resp *resp;
    struct httpd_req *r = h->r;

    luaL_argcheck(L, status >= 100 && status <= 599, 2, "an HTTP status (100 to 599)");
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    if (!r) {
        /* Answered already, or the client went away (or the server closed):
         * nothing to send. Only a second answer is the caller's bug. */
        lua_pushboolean(L, 0);
        return 1;
    }
    resp = httpd_resp_new(body, len);
    if (!resp)
        return luaL_error(L, "httpd: out of memory");
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING &&
                httpd_resp_header(resp, lua_tostring(L, -2), lua_tostring(L, -1)) != 0) {
                httpd_resp_free(resp);
                return luaL_error(L, "httpd: a header with a line break");
            }
            lua_pop(L, 1);
        }
    }
    httpd_req_answer(r, (unsigned)status, resp);
    lua_pushboolean(L, 1);
    return 1;
}

/* A request nobody answered: 500, never a connection left hanging. */
static int req_gc(lua_State *L)
{
    struct href *h = luaL_checkudata(L, 1, REQUEST_MT);

    if (h->r)
        httpd_req_answer(h->r, 500, NULL);
    return 0;
}

static const luaL_Reg srv_methods[] = {
    { "port", srv_port },
    { "next", srv_next },
    { "quiesce", srv_quiesce },
    { "inflight", srv_inflight },
    { "close", srv_close },
    { NULL, NULL }
};

int luaopen_qxt_httpd_core(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    luaL_newmetatable(L, SERVER_MT);
    lua_newtable(L);
    lua_pushlightuserdata(L, e);      /* each method's upvalue: the engine */
    luaL_setfuncs(L, srv_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, srv_close);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, REQUEST_MT);
    lua_newtable(L);
    lua_pushcfunction(L, req_respond);
    lua_setfield(L, -2, "respond");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, req_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, e);
    lua_pushcclosure(L, srv_listen, 1);
    lua_setfield(L, -2, "listen");
    return 1;
}
