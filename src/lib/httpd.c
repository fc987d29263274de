/* httpd.c -- libmicrohttpd in the engine's loop: the server and its
 * requests, without Lua (see httpd.h; the binding is lhttpd.c). */
#include "httpd.h"
#include "loop.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CT_JSON "application/json"

/* One request, from the first call of the access handler until MHD reports
 * it completed (then freed). Owned by the server's list. */
struct httpd_req {
    struct httpd *srv;
    struct MHD_Connection *conn;
    struct httpd_req *prev, *next;     /* srv->all */
    struct httpd_req *qnext;           /* srv->ready */
    struct httpd_req **slot;           /* the caller's handle, NULL: none */
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

struct httpd {
    struct loop *loop;
    struct MHD_Daemon *d;
    struct loop_io io;                 /* MHD's epoll descriptor */
    struct loop_timer run;             /* MHD's timeout, or "run now" */
    struct loop_timer hand;            /* tells a waiter a request is queued */
    struct httpd_req *all;
    struct httpd_req *ready, **ready_tail;
    httpd_ready_fn *waiter;
    void *waiter_data;
    size_t max_body;
    size_t inflight;
    unsigned port;
    int quiesced;
    int ended;                         /* next() said "no more": nobody takes requests */
    int closed;
};

static void schedule_run(struct httpd *s, int now);

/* ---- requests ---------------------------------------------------------- */

static void unbind(struct httpd_req *r)
{
    if (r->slot)
        *r->slot = NULL;
    r->slot = NULL;
}

static void drop_request(struct httpd_req *r)
{
    struct httpd *s = r->srv;

    unbind(r);
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
    struct httpd_req *r = cls;
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

static void take_remote(struct httpd_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->remote, sizeof r->remote);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->remote, sizeof r->remote);
}

/* The whole request is in: suspend it and queue it for httpd_next(). */
static void enqueue(struct httpd *s, struct httpd_req *r)
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

/* Called by MHD for each request: first with no data (the headers are
 * in), then with each piece of the body, then once more with none. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct httpd *s = cls;
    struct httpd_req *r = *con_cls;

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
    if (r->resp) {                      /* resumed with the caller's answer */
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

/* Called by MHD when a request is over (answered, or the client gone). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct httpd_req *r = *con_cls;

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

static void run_mhd(struct httpd *s)
{
    if (s->d && !s->closed)
        MHD_run(s->d);
    schedule_run(s, 0);
}

static void schedule_run(struct httpd *s, int now)
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

/* Called by the loop when MHD's epoll descriptor is readable. */
static void on_io(struct loop *loop, struct loop_io *io, int events)
{
    (void)loop;
    (void)events;
    run_mhd(io->data);
}

/* Called by the loop when MHD's timeout ends, or at once when asked. */
static void on_run(struct loop *loop, struct loop_timer *t)
{
    (void)loop;
    run_mhd(t->data);
}

/* Called by the loop after a request was queued or the server quiesced:
 * tells the waiter, never from inside MHD_run. */
static void on_hand(struct loop *loop, struct loop_timer *t)
{
    struct httpd *s = t->data;
    httpd_ready_fn *fn = s->waiter;

    (void)loop;
    if (!fn || (!s->ready && !s->quiesced))
        return;
    s->waiter = NULL;
    fn(s, s->waiter_data);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;                           /* MHD's messages may quote request lines */
}

struct httpd *httpd_start(struct loop *loop, const struct sockaddr *sa, size_t max_body,
                          unsigned timeout_s, char *err, size_t errlen)
{
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    struct httpd *s = calloc(1, sizeof *s);

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->loop = loop;
    s->max_body = max_body;
    s->ready_tail = &s->ready;
    s->run.fn = on_run;
    s->run.data = s;
    s->hand.fn = on_hand;
    s->hand.data = s;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                            MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen");
        goto err;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    if (info)
        s->port = info->port;
    else
        s->port = ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                                  : ((const struct sockaddr_in *)sa)->sin_port);
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) {
        snprintf(err, errlen, "no epoll descriptor from libmicrohttpd");
        goto err;
    }
    s->io.fd = info->epoll_fd;
    s->io.fn = on_io;
    s->io.data = s;
    if (loop_io_watch(s->loop, &s->io, LOOP_READ) < 0) {
        snprintf(err, errlen, "cannot watch the server's descriptor");
        goto err;
    }
    schedule_run(s, 1);
    return s;
err:
    if (s->d)
        MHD_stop_daemon(s->d);
    free(s);
    return NULL;
}

unsigned httpd_port(const struct httpd *s)
{
    return s->port;
}

struct httpd_req *httpd_next(struct httpd *s, int *ended)
{
    struct httpd_req *r = s->ready;

    *ended = 0;
    if (r) {
        s->ready = r->qnext;
        if (!s->ready)
            s->ready_tail = &s->ready;
        return r;
    }
    if (s->quiesced) {
        s->ended = 1;
        *ended = 1;
    }
    return NULL;
}

void httpd_wait(struct httpd *s, httpd_ready_fn *fn, void *data)
{
    s->waiter = fn;
    s->waiter_data = data;
    if (!fn)
        loop_timer_stop(s->loop, &s->hand);
    else if (s->ready || s->quiesced)
        loop_timer_start(s->loop, &s->hand, 0);
}

int httpd_waiting(const struct httpd *s)
{
    return s->waiter != NULL;
}

void httpd_quiesce(struct httpd *s)
{
    MHD_socket fd;

    if (s->quiesced)
        return;
    s->quiesced = 1;
    fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    if (s->waiter)
        loop_timer_start(s->loop, &s->hand, 0);
    schedule_run(s, 1);
}

size_t httpd_inflight(const struct httpd *s)
{
    return s->inflight;
}

void httpd_close(struct httpd *s)
{
    if (!s)
        return;
    /* Whatever still waits for an answer is answered, so MHD can stop cleanly. */
    s->ready = NULL;
    s->ready_tail = &s->ready;
    for (struct httpd_req *r = s->all; r; r = r->next) {
        if (r->suspended && !r->answered) {
            r->answered = 1;
            r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            r->resp = static_response("{\"error\":\"shutting down\"}", 1);
            unbind(r);
            MHD_resume_connection(r->conn);
            r->suspended = 0;
        }
    }
    MHD_run(s->d);
    s->closed = 1;
    loop_io_watch(s->loop, &s->io, 0);
    loop_timer_stop(s->loop, &s->run);
    loop_timer_stop(s->loop, &s->hand);
    MHD_stop_daemon(s->d);         /* completes (and frees) every request left */
    free(s);
}

/* ---- a request ---------------------------------------------------------- */

void httpd_req_bind(struct httpd_req *r, struct httpd_req **slot)
{
    r->slot = slot;
    *slot = r;
}

const char *httpd_req_method(const struct httpd_req *r) { return r->method; }
const char *httpd_req_path(const struct httpd_req *r) { return r->path; }
const char *httpd_req_remote(const struct httpd_req *r) { return r->remote; }

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
    *len = r->len;
    return r->body ? r->body : "";
}

const char *httpd_req_headers(const struct httpd_req *r, size_t *len)
{
    *len = r->headers_len;
    return r->headers;
}

struct httpd_resp *httpd_resp_new(const char *body, size_t len)
{
    return (struct httpd_resp *)MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
}

int httpd_resp_header(struct httpd_resp *resp, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -1;
    MHD_add_response_header((struct MHD_Response *)resp, name, value);
    return 0;
}

void httpd_resp_free(struct httpd_resp *resp)
{
    if (resp)
        MHD_destroy_response((struct MHD_Response *)resp);
}

void httpd_req_answer(struct httpd_req *r, unsigned status, struct httpd_resp *resp)
{
    unbind(r);
    r->answered = 1;
    r->status = status;
    r->resp = resp ? (struct MHD_Response *)resp : static_response("{\"error\":\"internal error\"}", 0);
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
    schedule_run(r->srv, 1);
}
