/* lverify.c -- verify(mobile, name [, opts]): one provider query.
 *
 * In a task it submits the request and yields; the transport's completion
 * resumes the task with the result table. In the main chunk it drives the
 * loop until its own answer is in. Either way the caller gets a table,
 * never an error, for anything the provider or the network did; errors are
 * raised only for mistakes in the script (bad arguments, no apikey). */
#include "lqxt.h"
#include "http.h"
#include "qxt.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* One verify() in flight. A userdata on the caller's stack, so it lives
 * exactly as long as the call waits (the stack is kept while yielded). */
struct verify_call {
    struct engine *e;
    struct task *task;           /* resume it; NULL: the main chunk waits */
    struct lresult_query q;      /* strings point into the caller's stack */
    int done;                    /* main chunk: the answer is in */
    int result_ref;              /* main chunk: the answer, in the registry */
};

/* Called by the transport when the answer (or a failure) is in. */
static void on_answer(void *data, const struct http_response *resp)
{
    struct verify_call *call = data;
    struct engine *e = call->e;

    e->pending_ops--;
    lresult_push(e->L, &call->q, resp);
    if (call->task) {
        lua_xmove(e->L, ltask_thread(call->task), 1);
        ltask_resume(e, call->task, 1);
    } else {
        call->result_ref = luaL_ref(e->L, LUA_REGISTRYINDEX);
        call->done = 1;
    }
}

/* Timeouts in opts are seconds; 0 keeps the configured one. */
static long opt_ms(lua_State *L, int opts, const char *key)
{
    lua_Number s;
    long ms = 0;

    if (lua_isnoneornil(L, opts))
        return 0;
    if (lua_getfield(L, opts, key) != LUA_TNIL) {
        int isnum;
        s = lua_tonumberx(L, -1, &isnum);
        if (!isnum || s <= 0 || s > 3600)
            luaL_error(L, "bad option '%s' to 'verify' (seconds between 0 and 3600 expected)", key);
        ms = (long)(s * 1000.0);
        if (ms < 1)
            ms = 1;
    }
    lua_pop(L, 1);
    return ms;
}

/* opts.endpoint: another http(s) URL for this query (a staging endpoint,
 * a second simulator in tests). The string stays anchored in opts. */
static const char *opt_endpoint(lua_State *L, int opts, const char *dflt)
{
    const char *url = dflt;

    if (lua_isnoneornil(L, opts))
        return dflt;
    if (lua_getfield(L, opts, "endpoint") != LUA_TNIL) {
        url = lua_tostring(L, -1);
        if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
            luaL_error(L, "bad option 'endpoint' to 'verify' (an http:// or https:// URL expected)");
    }
    lua_pop(L, 1);
    return url;
}

/* The form body holds the apikey: overwritten before its memory is given
 * back (explicit_bzero, which the compiler may not drop), freed when it
 * is not the caller's stack buffer. */
static void wipe_body(char *body, size_t len, char *stackbuf)
{
    explicit_bzero(body, len);
    if (body != stackbuf)
        free(body);
}

int lverify_verify(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    struct http_request_options ro;
    struct verify_call *call;
    struct http_request *req;
    struct task *task;
    size_t mlen, nlen, blen;
    const char *mobile, *name, *endpoint;
    char *body, err[256], stackbuf[512];

    mobile = luaL_checklstring(L, 1, &mlen);
    name = luaL_checklstring(L, 2, &nlen);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    ro.timeout_ms = opt_ms(L, 3, "timeout");
    ro.connect_timeout_ms = opt_ms(L, 3, "connect_timeout");
    endpoint = opt_endpoint(L, 3, e->cfg.endpoint);
    if (!e->cfg.apikey)
        return luaL_error(L, "no apikey configured: set QXT_APIKEY or pass --apikey-file FILE");
    task = ltask_prepare_block(e, L, "verify()");

    lua_settop(L, 3);
    call = lua_newuserdatauv(L, sizeof *call, 0);
    memset(call, 0, sizeof *call);
    call->e = e;
    call->task = task;
    call->q.mobile = mobile;
    call->q.mobile_len = mlen;
    call->q.name = name;
    call->q.name_len = nlen;
    call->q.apikey = e->cfg.apikey;
    call->result_ref = LUA_NOREF;

    /* The usual body fits on the stack: no allocation per query. */
    body = stackbuf;
    blen = qxt_form_body_into(stackbuf, sizeof stackbuf, e->cfg.apikey, mobile, mlen, name, nlen);
    if (blen >= sizeof stackbuf &&
        !(body = qxt_form_body(e->cfg.apikey, mobile, mlen, name, nlen, &blen)))
        return luaL_error(L, "verify(): out of memory");
    if (!lqxt_http(e, err, sizeof err)) {
        /* qxtv itself is broken (a missing module), not the network. */
        wipe_body(body, blen, stackbuf);
        return luaL_error(L, "verify(): %s", err);
    }
    req = e->http_api->post(e->http, endpoint, body, blen, &ro, on_answer, call, err, sizeof err);
    wipe_body(body, blen, stackbuf);   /* the transport has its own copy */
    if (!req) {
        /* Not even started: still an outcome of the outside world. */
        struct http_response resp = { .error = err, .body = "" };
        lresult_push(L, &call->q, &resp);
        return 1;
    }
    e->pending_ops++;
    if (task) {
        ltask_suspend(task);
        return lua_yield(L, 0);       /* resumed by on_answer with the result */
    }
    if (lqxt_drive(e, &call->done, err, sizeof err) < 0) {
        e->http_api->cancel(req);     /* nothing may call back into this frame */
        e->pending_ops--;
        return luaL_error(L, "verify(): %s", err);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, call->result_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, call->result_ref);
    return 1;
}
