/* lverify.c -- verify(mobile, name [, opts]): one provider query.
 *
 * It submits the request and waits for it (lawait.h): in a task it yields
 * and the transport's completion resumes it with the result table; in the
 * main chunk it drives the loop until its own answer is in. Either way the caller gets a table,
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
    struct lawait w;
    struct lresult_query q;      /* strings point into the caller's stack */
    struct http_request *req;    /* in flight */
};

/* Called by the transport when the answer (or a failure) is in. */
static void on_answer(void *data, const struct http_response *resp)
{
    struct verify_call *call = data;
    lua_State *T = lawait_thread(&call->w, 1);

    call->req = NULL;
    if (!T) {
        lawait_complete(&call->w, 0);
        return;
    }
    lresult_push(T, &call->q, resp);
    lawait_complete(&call->w, 1);
}

/* Called by the engine when nobody waits for the answer any more. */
static void cancel_call(struct lawait *w)
{
    struct verify_call *call = (struct verify_call *)w;

    if (call->req)
        call->w.e->http_api->cancel(call->req);
    call->req = NULL;
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

    lua_settop(L, 3);
    call = lua_newuserdatauv(L, sizeof *call, 0);
    memset(call, 0, sizeof *call);
    lawait_begin(L, &call->w, "verify()", cancel_call);
    call->q.mobile = mobile;
    call->q.mobile_len = mlen;
    call->q.name = name;
    call->q.name_len = nlen;
    call->q.apikey = e->cfg.apikey;

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
    call->req = e->http_api->post(e->http, endpoint, body, blen, &ro, on_answer, call, err, sizeof err);
    wipe_body(body, blen, stackbuf);   /* the transport has its own copy */
    if (!call->req) {
        /* Not even started: still an outcome of the outside world. */
        struct http_response resp = { .error = err, .body = "" };
        lresult_push(L, &call->q, &resp);
        return 1;
    }
    return lawait_yield(L, &call->w);  /* the result table from on_answer */
}
