/* lhttpd.c -- the Lua module `qxt.httpd.core`: an HTTP/1.1 server (libmicrohttpd)
 * inside the engine's own event loop, for `qxtv serve`. It lives in its own
 * module (qxtv-httpd.so) so a plain `qxtv run` never maps libmicrohttpd.
 *
 * MHD runs without a thread of its own: its epoll descriptor is watched by
 * the loop, MHD_get_timeout drives a loop timer, and MHD_run is called when
 * either fires. A request's body is collected (over max_body: 413 before it
 * is read, from the Content-Length; a chunked body that grows over it closes
 * the connection), then the connection is suspended and the request queued.
 * Lua takes requests with srv:next() (a blocking call, lawait.h), answers
 * each with req:respond(status, headers, body), which resumes the connection.
 * MHD callbacks never touch Lua: a request is handed over from a timer, so
 * no Lua code runs inside MHD_run (where srv:close() would be fatal).
 *
 *   srv = core.listen(host, port [, { max_body = 16384, connection_timeout = 120 }])
 *   srv:port() -> the bound port (port 0 picks a free one)
 *   srv:next() -> req, { method, path, headers (lower-cased names), body, remote }
 *                | nil once the server is quiesced and every queued request taken
 *   req:respond(status, { [name] = value }, body)   once; a second call raises
 *   srv:quiesce()   stops accepting; requests that start afterwards get 503
 *   srv:inflight()  requests begun and not yet fully answered
 *   srv:close()     stops; whatever is still suspended is answered 503
 * A req collected without an answer is answered 500 (a handler that lost it). */
#include "lhttpd.h"
#include "lawait.h"
#include "loop.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERVER_MT "qxt.httpd.server"
#define REQUEST_MT "qxt.httpd.request"
#define CT_JSON "application/json"

struct hsrv;

/* One request, from the first call of the access handler until MHD reports
 * it completed (then freed). Owned by the server's list. */
struct hreq {
    struct hsrv *srv;
    struct MHD_Connection *conn;
    struct hreq *prev, *next;          /* srv->all */
    struct hreq *qnext;                /* srv->ready */
    struct href *ref;                  /* the Lua handle, NULL: none or collected */
    char *method, *path;
    char *headers;                     /* "name\0value\0" ..., names lower-cased */
    size_t headers_len;
    char *body;
    size_t len, cap;
    char remote[INET6_ADDRSTRLEN];
    int suspended;
    int answered;                      /* a response is set or sent */
    struct MHD_Response *resp;         /* to queue when resumed */
    unsigned status;
};

/* The Lua handle of a request: a full userdata. r is NULL once answered
 * or once MHD dropped the request (the client went away). */
struct href {
    struct hreq *r;
};

struct next_op {                       /* srv:next() waiting */
    struct lawait w;
    struct hsrv *srv;
};

struct hsrv {
    struct loop *loop;
    struct MHD_Daemon *d;
    struct loop_io io;                 /* MHD's epoll descriptor */
    struct loop_timer run;             /* MHD's timeout, or "run now" */
    struct loop_timer hand;            /* hands queued requests to a waiting next() */
    struct hreq *all;
    struct hreq *ready, **ready_tail;
    struct next_op *waiter;
    size_t max_body;
    size_t inflight;
    unsigned port;
    int quiesced;
    int ended;                         /* next() returned nil: nobody takes requests */
    int closed;
};

static void schedule_run(struct hsrv *s, int now);

/* ---- requests ---------------------------------------------------------- */

static void drop_request(struct hreq *r)
{
    struct hsrv *s = r->srv;

    if (r->ref)
        r->ref->r = NULL;
    if (r->prev)
        r->prev->next = r->next;
    else
        s->all = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->method);
    free(r->path);
    free(r->headers);
    free(r->body);
    free(r);
    s->inflight--;
}

static struct MHD_Response *static_response(const char *body, int close_conn)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CT_JSON);
        if (close_conn)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    return resp;
}

static enum MHD_Result queue_static(struct MHD_Connection *conn, unsigned status, const char *body,
                                    int close_conn)
{
    struct MHD_Response *resp = static_response(body, close_conn);
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct hreq *r = cls;
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    char *p = realloc(r->headers, r->headers_len + kl + vl + 2);

    (void)kind;
    if (!p)
        return MHD_NO;
    r->headers = p;
    for (size_t i = 0; i < kl; i++)
        p[r->headers_len + i] = (char)tolower((unsigned char)key[i]);
    p[r->headers_len + kl] = '\0';
    if (vl)
        memcpy(p + r->headers_len + kl + 1, value, vl);
    p[r->headers_len + kl + 1 + vl] = '\0';
    r->headers_len += kl + vl + 2;
    return MHD_YES;
}

static void take_remote(struct hreq *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->remote, sizeof r->remote);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->remote, sizeof r->remote);
}

/* The whole request is in: suspend it and queue it for srv:next(). */
static void enqueue(struct hsrv *s, struct hreq *r)
{
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header, r);
    take_remote(r);
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
    r->qnext = NULL;
    *s->ready_tail = r;
    s->ready_tail = &r->qnext;
    if (s->waiter)
        loop_timer_start(s->loop, &s->hand, 0);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct hsrv *s = cls;
    struct hreq *r = *con_cls;

    (void)version;
    if (!r) {
        const char *cl;

        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->next = s->all;
        if (s->all)
            s->all->prev = r;
        s->all = r;
        s->inflight++;
        *con_cls = r;
        r->method = strdup(method);
        r->path = strdup(url);
        if (!r->method || !r->path)
            return MHD_NO;
        if (s->quiesced) {
            r->answered = 1;
            return queue_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "{\"error\":\"shutting down\"}", 1);
        }
        /* Refused before a byte of the body is read. */
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            r->answered = 1;
            return queue_static(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                "{\"error\":\"body too large\"}", 1);
        }
        return MHD_YES;
    }
    if (r->resp) {                      /* resumed with Lua's answer */
        enum MHD_Result ret = MHD_queue_response(conn, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
        return ret;
    }
    if (*upload_size) {
        size_t n = *upload_size;

        if (r->len + n > s->max_body)
            return MHD_NO;              /* a chunked body past the limit: closed */
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 1024;
            char *p;

            while (cap < r->len + n)
                cap *= 2;
            if (!(p = realloc(r->body, cap)))
                return MHD_NO;
            r->body = p;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->answered && !r->suspended) {
        if (s->ended) {                 /* completed after the last next(): nobody would answer */
            r->answered = 1;
            return queue_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"shutting down\"}", 1);
        }
        enqueue(s, r);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct hreq *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r) {
        /* A queued request is always suspended, and MHD never completes a
         * suspended one except at stop, where the queue is dropped first. */
        drop_request(r);
        *con_cls = NULL;
    }
}

/* ---- the loop side ----------------------------------------------------- */

static void run_mhd(struct hsrv *s)
{
    if (s->d && !s->closed)
        MHD_run(s->d);
    schedule_run(s, 0);
}

static void schedule_run(struct hsrv *s, int now)
{
    MHD_UNSIGNED_LONG_LONG ms;

    if (!s->d || s->closed)
        return;
    if (now)
        loop_timer_start(s->loop, &s->run, 0);
    else if (MHD_get_timeout(s->d, &ms) == MHD_YES)
        loop_timer_start(s->loop, &s->run, (int64_t)(ms > 3600000 ? 3600000 : ms) * 1000);
    else
        loop_timer_stop(s->loop, &s->run);
}

static void on_io(struct loop *loop, struct loop_io *io, int events)
{
    (void)loop;
    (void)events;
    run_mhd(io->data);
}

static void on_run(struct loop *loop, struct loop_timer *t)
{
    (void)loop;
    run_mhd(t->data);
}

static void push_request(lua_State *T, struct hreq *r)
{
    struct href *h = lua_newuserdatauv(T, sizeof *h, 0);
    const char *p = r->headers, *end = r->headers + r->headers_len;

    h->r = r;
    r->ref = h;
    luaL_setmetatable(T, REQUEST_MT);
    lua_createtable(T, 0, 5);
    lua_pushstring(T, r->method);
    lua_setfield(T, -2, "method");
    lua_pushstring(T, r->path);
    lua_setfield(T, -2, "path");
    lua_pushlstring(T, r->body ? r->body : "", r->len);
    lua_setfield(T, -2, "body");
    lua_pushstring(T, r->remote);
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

/* Hands the first queued request (or, quiesced and none left, nil) to the
 * waiting next(). Runs from a timer: never inside MHD_run. */
static void on_hand(struct loop *loop, struct loop_timer *t)
{
    struct hsrv *s = t->data;
    struct next_op *op = s->waiter;
    struct hreq *r = s->ready;
    lua_State *T;

    (void)loop;
    if (!op || (!r && !s->quiesced))
        return;
    s->waiter = NULL;
    if (r) {
        s->ready = r->qnext;
        if (!s->ready)
            s->ready_tail = &s->ready;
    }
    T = lawait_thread(&op->w, 2);
    if (!T) {
        lawait_complete(&op->w, 0);
        return;
    }
    if (r) {
        push_request(T, r);
    } else {
        s->ended = 1;
        lua_pushnil(T);
        lua_pushnil(T);
    }
    lawait_complete(&op->w, 2);
}

/* ---- Lua: the server ----------------------------------------------------- */

static struct hsrv *check_srv(lua_State *L)
{
    struct hsrv *s = luaL_checkudata(L, 1, SERVER_MT);
    if (s->closed)
        luaL_error(L, "httpd: the server is closed");
    return s;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;                           /* MHD's messages may quote request lines */
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
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    struct hsrv *s;

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
        flags |= MHD_USE_IPv6;
    } else {
        return luaL_error(L, "httpd: '%s' is not an IP address", host);
    }
    s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->loop = lawait_loop(e);
    s->max_body = (size_t)max_body;
    s->ready_tail = &s->ready;
    s->run.fn = on_run;
    s->run.data = s;
    s->hand.fn = on_hand;
    s->hand.data = s;
    s->closed = 1;                      /* until it runs */
    luaL_setmetatable(L, SERVER_MT);
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access, s,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                            MHD_OPTION_END);
    if (!s->d)
        return luaL_error(L, "httpd: cannot listen on %s port %d", host, (int)port);
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : (unsigned)port;
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) {
        MHD_stop_daemon(s->d);
        s->d = NULL;
        return luaL_error(L, "httpd: no epoll descriptor from libmicrohttpd");
    }
    s->io.fd = info->epoll_fd;
    s->io.fn = on_io;
    s->io.data = s;
    if (loop_io_watch(s->loop, &s->io, LOOP_READ) < 0) {
        MHD_stop_daemon(s->d);
        s->d = NULL;
        return luaL_error(L, "httpd: cannot watch the server's descriptor");
    }
    s->closed = 0;
    schedule_run(s, 1);
    return 1;
}

static int srv_port(lua_State *L)
{
    lua_pushinteger(L, check_srv(L)->port);
    return 1;
}

static void cancel_next(struct lawait *w)
{
    struct next_op *op = (struct next_op *)w;
    if (op->srv->waiter == op)
        op->srv->waiter = NULL;
    loop_timer_stop(op->srv->loop, &op->srv->hand);
}

static int srv_next(lua_State *L)
{
    struct hsrv *s = check_srv(L);
    struct hreq *r = s->ready;
    struct next_op *op;

    if (s->waiter)
        return luaL_error(L, "httpd: next() is already waiting in another task");
    if (r) {                            /* one is queued: no wait */
        s->ready = r->qnext;
        if (!s->ready)
            s->ready_tail = &s->ready;
        push_request(L, r);
        return 2;
    }
    if (s->quiesced) {
        s->ended = 1;
        lua_pushnil(L);
        lua_pushnil(L);
        return 2;
    }
    op = lua_newuserdatauv(L, sizeof *op, 0);
    op->srv = s;
    lawait_begin(L, &op->w, "httpd next()", cancel_next);
    s->waiter = op;
    return lawait_yield(L, &op->w);
}

/* Stops accepting: the listening socket is closed now. */
static int srv_quiesce(lua_State *L)
{
    struct hsrv *s = check_srv(L);
    MHD_socket fd;

    if (s->quiesced)
        return 0;
    s->quiesced = 1;
    fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    if (s->waiter)
        loop_timer_start(s->loop, &s->hand, 0);
    schedule_run(s, 1);
    return 0;
}

static int srv_inflight(lua_State *L)
{
    struct hsrv *s = luaL_checkudata(L, 1, SERVER_MT);
    lua_pushinteger(L, (lua_Integer)s->inflight);
    return 1;
}

static int srv_close(lua_State *L)
{
    struct hsrv *s = luaL_checkudata(L, 1, SERVER_MT);

    if (s->closed || !s->d)
        return 0;
    /* Whatever still waits for Lua is answered, so MHD can stop cleanly. */
    s->ready = NULL;
    s->ready_tail = &s->ready;
    for (struct hreq *r = s->all; r; r = r->next) {
        if (r->suspended && !r->answered) {
            r->answered = 1;
            r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            r->resp = static_response("{\"error\":\"shutting down\"}", 1);
            if (r->ref)
                r->ref->r = NULL;
            r->ref = NULL;
            MHD_resume_connection(r->conn);
            r->suspended = 0;
        }
    }
    MHD_run(s->d);
    s->closed = 1;
    loop_io_watch(s->loop, &s->io, 0);
    loop_timer_stop(s->loop, &s->run);
    loop_timer_stop(s->loop, &s->hand);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    return 0;
}

/* ---- Lua: a request ---------------------------------------------------- */

static void answer(struct hreq *r, unsigned status, struct MHD_Response *resp)
{
    r->ref = NULL;
    r->answered = 1;
    r->status = status;
    r->resp = resp;
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
    schedule_run(r->srv, 1);
}

static int req_respond(lua_State *L)
{
    struct href *h = luaL_checkudata(L, 1, REQUEST_MT);
    lua_Integer status = luaL_checkinteger(L, 2);
    size_t len = 0;
    const char *body = luaL_optlstring(L, 4, "", &len);
    struct MHD_Response *resp;
    struct hreq *r = h->r;

    luaL_argcheck(L, status >= 100 && status <= 599, 2, "an HTTP status (100 to 599)");
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    if (!r) {
        /* Answered already, or the client went away (or the server closed):
         * nothing to send. Only a second answer is the caller's bug. */
        lua_pushboolean(L, 0);
        return 1;
    }
    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return luaL_error(L, "httpd: out of memory");
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
                if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n")) {
                    MHD_destroy_response(resp);
                    return luaL_error(L, "httpd: a header with a line break");
                }
                MHD_add_response_header(resp, k, v);
            }
            lua_pop(L, 1);
        }
    }
    h->r = NULL;
    answer(r, (unsigned)status, resp);
    lua_pushboolean(L, 1);
    return 1;
}

/* A request nobody answered: 500, never a connection left hanging. */
static int req_gc(lua_State *L)
{
    struct href *h = luaL_checkudata(L, 1, REQUEST_MT);
    struct hreq *r = h->r;

    if (r) {
        h->r = NULL;
        answer(r, MHD_HTTP_INTERNAL_SERVER_ERROR, static_response("{\"error\":\"internal error\"}", 0));
    }
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

static void set_methods(lua_State *L, struct engine *e, const luaL_Reg *fns)
{
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, e);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
}

int luaopen_qxt_httpd_core(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    luaL_newmetatable(L, SERVER_MT);
    lua_newtable(L);
    set_methods(L, e, srv_methods);
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
