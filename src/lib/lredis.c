/* lredis.c -- the Lua module `qxt.redis.core`: one Redis connection (the
 * async API of hiredis 0.14) inside the engine's own event loop, for the
 * state several qxtv processes share (lua/qxt/redis.lua, docs/scale-out.md).
 * It lives in its own module (qxtv-redis.so): a run without --redis never
 * maps hiredis.
 *
 * hiredis does the protocol; redisconn.c is its event-library adapter and
 * keeps the connection up (handshake, connect deadline, back-off); this
 * file is the binding and the calls: a deadline per call (hiredis 0.14 has
 * none), replies into Lua values. A round trip never blocks the loop: the
 * caller waits through lawait.h. hiredis resolves a host name at each connect (getaddrinfo, which
 * blocks): give an address or a unix socket where that matters.
 *
 *   c = core.connect{ host = "127.0.0.1", port = 6379 | path = "/run/redis.sock",
 *                     db = 0, password = nil, timeout = 0.05, connect_timeout = 1 }
 *   c:call(cmd, arg...) -> reply | nil, err
 *       reply: integer, string (bulk or status), false (a nil reply), table
 *       (an array, 1..n); err: the error reply ("ERR ...", "NOSCRIPT ..."),
 *       "timeout" (no reply within timeout s; the late reply is dropped),
 *       "down" (not connected: at once, without waiting) or "closed".
 *   c:state() -> "up" | "connecting" | "down" | "closed", why it last failed (or nil)
 *   c:stats() -> { calls, timeouts, downs, connects, failures }
 *   c:close()
 *
 * The connection keeps itself up: after a failure it reconnects with a
 * back-off (50 ms doubling to 1 s). Until the first connect has ended,
 * calls wait for it (within their timeout); later, a call made while the
 * connection is down fails at once, so a dead Redis costs nothing per
 * call. A connection that owes replies and gets none for max(1 s, 2 x
 * timeout) is dropped and made again: a stopped server does not pile up
 * commands. hiredis callbacks never run Lua: a reply is copied and handed
 * to its caller from a timer, as lhttpd.c hands over requests. */
#include "lredis.h"
#include "lawait.h"
#include "loop.h"
#include "redisconn.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONN_MT "qxt.redis.conn"
#define MAX_ARGS 64

static const char *const state_names[] = { "connecting", "up", "down", "closed" };

/* A reply, copied out of hiredis (which frees its own after the callback). */
struct rval {
    int type;                  /* REDIS_REPLY_* */
    long long integer;
    char *str;                 /* STRING, STATUS, ERROR */
    size_t len;
    size_t n;                  /* ARRAY */
    struct rval *elem;
};

/* One call, waiting: a userdata on the caller's stack (lawait.h). */
struct rwait {
    struct lawait w;
    struct rconn *c;
    struct loop_timer timer;   /* the deadline, then the hand-over */
    struct rticket *ticket;    /* NULL: hiredis no longer answers to this wait */
    struct rval reply;
    const char *err;           /* static; NULL: reply holds the outcome */
};

/* What hiredis holds for a call until its reply callback: malloc'd, freed
 * there; op is NULL once nobody waits (timed out, abandoned). */
struct rticket {
    struct rconn *c;
    struct rwait *op;
};


/* ---- replies ------------------------------------------------------------ */

static void rval_clear(struct rval *v)
{
    for (size_t i = 0; i < v->n; i++)
        rval_clear(&v->elem[i]);
    free(v->elem);
    free(v->str);
    memset(v, 0, sizeof *v);
}

/* 0, or -1 when memory ran out (v is then cleared). */
static int rval_copy(struct rval *v, const redisReply *r)
{
    memset(v, 0, sizeof *v);
    v->type = r->type;
    v->integer = r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) {
        if (!(v->str = malloc(r->len + 1)))
            return -1;
        memcpy(v->str, r->str, r->len);
        v->len = r->len;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        if (!(v->elem = calloc(r->elements, sizeof *v->elem)))
            return -1;
        v->n = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (rval_copy(&v->elem[i], r->element[i]) < 0) {
                rval_clear(v);
                return -1;
            }
    }
    return 0;
}

static void push_rval(lua_State *T, const struct rval *v)
{
    switch (v->type) {
    case REDIS_REPLY_INTEGER:
        lua_pushinteger(T, (lua_Integer)v->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        lua_pushlstring(T, v->str, v->len);
        break;
    case REDIS_REPLY_ARRAY:
        luaL_checkstack(T, 4, "redis reply nested too deep");
        lua_createtable(T, (int)v->n, 0);
        for (size_t i = 0; i < v->n; i++) {
            push_rval(T, &v->elem[i]);
            lua_rawseti(T, -2, (lua_Integer)i + 1);
        }
        break;
    default:                   /* NIL; an error inside an array (EXEC) reads as false too */
        lua_pushboolean(T, 0);
    }
}

/* ---- calls --------------------------------------------------------------- */

/* Called by the loop (op's timer, restarted by finish): hands the outcome
 * to the caller. */
static void on_deliver(struct loop *loop, struct loop_timer *t)
{
    struct rwait *op = t->data;
    lua_State *T = lawait_thread(&op->w, 2);
    int n = 0;

    (void)loop;
    if (T) {
        if (op->err) {
            lua_pushnil(T);
            lua_pushstring(T, op->err);
            n = 2;
        } else if (op->reply.type == REDIS_REPLY_ERROR) {
            lua_pushnil(T);
            lua_pushlstring(T, op->reply.str, op->reply.len);
            n = 2;
        } else {
            push_rval(T, &op->reply);
            n = 1;
        }
    }
    rval_clear(&op->reply);
    lawait_complete(&op->w, n);
}

/* The outcome is in (err NULL: op->reply): handed over from a timer, so
 * no Lua runs inside hiredis. */
static void finish(struct rwait *op, const char *err)
{
    op->err = err;
    op->timer.fn = on_deliver;
    loop_timer_start(op->c->loop, &op->timer, 0);
}

/* Called by the loop when a call's deadline passes. The deadline times
 * Redis, not this loop: the command went out when the call was made
 * (conn_call), and a reply that came while the loop was busy is read
 * before the call is called late. Otherwise the caller gets "timeout";
 * the reply, if it comes, is dropped. */
static void on_call_timeout(struct loop *loop, struct loop_timer *t)
{
    struct rwait *op = t->data;
    struct rconn *c = op->c;

    rconn_read_now(c);
    if (!op->ticket)               /* answered (or down) now: finish() hands it over */
        return;
    op->ticket->op = NULL;
    op->ticket = NULL;
    c->timeouts++;
    if (c->state == RCONN_UP && c->owed > 0 && loop_now_us() - c->progress_us > c->stall_us)
        rconn_drop(c, "no reply from redis for too long");
    op->err = "timeout";
    on_deliver(loop, &op->timer);
}

/* Called by hiredis with a call's reply; NULL when the connection went. */
static void cb_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct rticket *tk = priv;
    struct rwait *op = tk->op;
    struct rconn *c = tk->c;

    (void)ac;
    free(tk);
    c->owed--;
    if (r)
        c->progress_us = loop_now_us();
    if (!op)                   /* timed out or abandoned */
        return;
    op->ticket = NULL;
    loop_timer_stop(c->loop, &op->timer);
    if (!r)
        finish(op, "down");
    else if (rval_copy(&op->reply, r) < 0)
        finish(op, "out of memory");
    else
        finish(op, NULL);
}

/* Called by the engine when the caller no longer waits (its task closed). */
static void cancel_call(struct lawait *w)
{
    struct rwait *op = (struct rwait *)w;

    loop_timer_stop(op->c->loop, &op->timer);
    if (op->ticket)
        op->ticket->op = NULL;
    op->ticket = NULL;
    rval_clear(&op->reply);
}

/* ---- Lua ---------------------------------------------------------------- */

static struct rconn *check_conn(lua_State *L)
{
    return luaL_checkudata(L, 1, CONN_MT);
}

static int64_t opt_seconds(lua_State *L, const char *key, double dflt)
{
    double s;

    lua_getfield(L, 1, key);
    s = luaL_optnumber(L, -1, dflt);
    lua_pop(L, 1);
    if (!(s > 0 && s <= 3600))
        luaL_error(L, "redis: %s must be between 0 and 3600 seconds", key);
    return (int64_t)(s * 1e6);
}

static char *opt_string(lua_State *L, const char *key)
{
    char *s = NULL;

    lua_getfield(L, 1, key);
    if (!lua_isnil(L, -1)) {
        size_t len;
        const char *v = luaL_checklstring(L, -1, &len);
        if (strlen(v) != len)
            luaL_error(L, "redis: %s holds a NUL byte", key);
        if (!(s = strdup(v)))
            luaL_error(L, "redis: out of memory");
    }
    lua_pop(L, 1);
    return s;
}

/* core.connect(opts) -> conn: never waits; the connection is made from the loop. */
static int redis_connect(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    struct rconn *c;
    lua_Integer port, db;

    luaL_checktype(L, 1, LUA_TTABLE);
    c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    c->state = RCONN_CLOSED;      /* until complete: __gc frees what is set */
    luaL_setmetatable(L, CONN_MT);
    c->loop = lawait_loop(e);
    c->host = opt_string(L, "host");
    c->path = opt_string(L, "path");
    c->password = opt_string(L, "password");
    lua_getfield(L, 1, "port");
    port = luaL_optinteger(L, -1, 6379);
    lua_getfield(L, 1, "db");
    db = luaL_optinteger(L, -1, 0);
    lua_pop(L, 2);
    if (!c->host == !c->path)
        return luaL_error(L, "redis: give either host or path");
    if (port < 1 || port > 65535)
        return luaL_error(L, "redis: port %d is not between 1 and 65535", (int)port);
    if (db < 0 || db > 1000000)
        return luaL_error(L, "redis: db %d is not a database number", (int)db);
    c->port = (int)port;
    c->db = (int)db;
    c->timeout_us = opt_seconds(L, "timeout", 0.05);
    c->connect_timeout_us = opt_seconds(L, "connect_timeout", 1.0);
    c->stall_us = c->timeout_us * 2 > 1000000 ? c->timeout_us * 2 : 1000000;
    rconn_start(c);
    return 1;
}

/* c:call(cmd, arg...) -> reply | nil, err */
static int conn_call(lua_State *L)
{
    struct rconn *c = check_conn(L);
    int argc = lua_gettop(L) - 1;
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    struct rwait *op;
    struct rticket *tk;

    luaL_argcheck(L, argc >= 1, 2, "a command");
    luaL_argcheck(L, argc <= MAX_ARGS, MAX_ARGS + 2, "too many arguments");
    for (int i = 0; i < argc; i++) {
        int t = lua_type(L, i + 2);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            return luaL_argerror(L, i + 2, "a string or a number");
        argv[i] = lua_tolstring(L, i + 2, &lens[i]);   /* a number becomes its string in place */
    }
    if (c->state == RCONN_CLOSED) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    c->calls++;
    if (c->state == RCONN_UP && c->owed > 0 && loop_now_us() - c->progress_us > c->stall_us)
        rconn_drop(c, "no reply from redis for too long");
    if (c->state == RCONN_DOWN || (c->state == RCONN_CONNECTING && c->ever_tried)) {
        c->downs++;
        lua_pushnil(L);
        lua_pushliteral(L, "down");
        return 2;
    }
    op = lua_newuserdatauv(L, sizeof *op, 0);
    memset(op, 0, sizeof *op);
    lawait_begin(L, &op->w, "redis call", cancel_call);   /* raises where L cannot wait */
    if (!(tk = malloc(sizeof *tk)))
        return luaL_error(L, "redis: out of memory");
    tk->c = c;
    tk->op = op;
    if (redisAsyncCommandArgv(c->ac, cb_reply, tk, argc, argv, lens) != REDIS_OK) {
        free(tk);
        lua_pushnil(L);
        lua_pushliteral(L, "down");
        return 2;
    }
    op->c = c;
    op->ticket = tk;
    op->timer.fn = on_call_timeout;
    op->timer.data = op;
    if (c->owed++ == 0)
        c->progress_us = loop_now_us();
    loop_timer_start(c->loop, &op->timer, c->timeout_us);
    /* Out now, not at the loop's next turn: a burst of work in this turn
     * must not eat the call's timeout. A failed write ends it through
     * cb_reply ("down"), handed over from a timer like any outcome. */
    if (c->state == RCONN_UP)
        redisAsyncHandleWrite(c->ac);
    return lawait_yield(L, &op->w);
}

/* c:state() -> name, why it last failed or nil */
static int conn_state(lua_State *L)
{
    struct rconn *c = check_conn(L);

    lua_pushstring(L, state_names[c->state]);
    if (c->why[0])
        lua_pushstring(L, c->why);
    else
        lua_pushnil(L);
    return 2;
}

static int conn_stats(lua_State *L)
{
    struct rconn *c = check_conn(L);

    lua_createtable(L, 0, 5);
    lua_pushinteger(L, c->calls);
    lua_setfield(L, -2, "calls");
    lua_pushinteger(L, c->timeouts);
    lua_setfield(L, -2, "timeouts");
    lua_pushinteger(L, c->downs);
    lua_setfield(L, -2, "downs");
    lua_pushinteger(L, c->connects);
    lua_setfield(L, -2, "connects");
    lua_pushinteger(L, c->failures);
    lua_setfield(L, -2, "failures");
    return 1;
}

/* c:close(): waiting calls get "down"; later calls "closed". Also __gc. */
static int conn_close(lua_State *L)
{
    struct rconn *c = check_conn(L);

    if (c->loop)
        rconn_close(c);        /* every waiting call gets "down" */
    c->state = RCONN_CLOSED;
    free(c->host);
    free(c->path);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    c->host = c->path = c->password = NULL;
    return 0;
}

static const luaL_Reg conn_methods[] = {
    { "call", conn_call },
    { "state", conn_state },
    { "stats", conn_stats },
    { "close", conn_close },
    { NULL, NULL }
};

int luaopen_qxt_redis_core(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    luaL_newmetatable(L, CONN_MT);
    lua_newtable(L);
    lua_pushlightuserdata(L, e);      /* each method's upvalue: the engine */
    luaL_setfuncs(L, conn_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, conn_close);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, e);
    lua_pushcclosure(L, redis_connect, 1);
    lua_setfield(L, -2, "connect");
    return 1;
}
