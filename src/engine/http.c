/* http.c -- libcurl multi driven by the loop; see http.h.
 * The shape follows curl's docs/examples/multi-event.c: curl tells us which
 * sockets and which single timeout to watch (cb_*), the loop tells curl
 * what happened (on_*), and finished transfers are drained after each
 * curl_multi_socket_action. */
#include "http.h"
#include "loop.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_request {
    struct http *http;
    CURL *easy;
    char *body;                  /* request body (ours: curl does not copy it) */
    size_t body_cap;
    size_t body_len;
    char *resp;                  /* response body, NUL-terminated */
    size_t resp_len, resp_cap;
    int too_large;
    int sends;                   /* times curl was about to send this request */
    char errbuf[CURL_ERROR_SIZE];
    http_done_fn *done;
    void *data;
    struct http_request *prev, *next;  /* running list, or free list (next) */
};

/* One per socket curl asks us to watch (attached with curl_multi_assign). */
struct http_socket {
    struct loop_io io;
    struct http *http;
    struct http_socket *prev, *next;
};

struct http {
    struct loop *loop;
    CURLM *multi;
    struct loop_timer timer;     /* curl's one timeout */
    struct http_options opts;
    char *cafile;
    struct http_request *running;  /* doubly linked */
    struct http_request *pool;     /* finished requests kept for reuse */
    struct http_socket *sockets;   /* doubly linked */
    size_t nrunning;
    long connects;                 /* new connections opened, ever */
};

static void check_finished(struct http *http);
static loop_io_fn on_socket;

/* Called by curl when a socket's watch set changes. */
static int cb_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http *http = userp;
    struct http_socket *sock = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (sock) {
            loop_io_watch(http->loop, &sock->io, 0);
            if (sock->prev) sock->prev->next = sock->next; else http->sockets = sock->next;
            if (sock->next) sock->next->prev = sock->prev;
            free(sock);
            curl_multi_assign(http->multi, fd, NULL);
        }
        return 0;
    }
    if (!sock) {
        sock = calloc(1, sizeof *sock);
        if (!sock)
            return -1;
        sock->io.fd = fd;
        sock->io.fn = on_socket;
        sock->io.data = sock;
        sock->http = http;
        sock->next = http->sockets;
        if (http->sockets) http->sockets->prev = sock;
        http->sockets = sock;
        curl_multi_assign(http->multi, fd, sock);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= LOOP_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= LOOP_WRITE;
    return loop_io_watch(http->loop, &sock->io, events) < 0 ? -1 : 0;
}

/* Called by the loop when a socket curl watches is ready. */
static void on_socket(struct loop *loop, struct loop_io *io, int events)
{
    struct http_socket *sock = io->data;
    struct http *http = sock->http;
    int flags = 0, running;

    if (events & LOOP_READ)  flags |= CURL_CSELECT_IN;
    if (events & LOOP_WRITE) flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(http->multi, io->fd, flags, &running);
    check_finished(http);
}

/* Called by the loop when curl's timeout is due. */
static void on_timeout(struct loop *loop, struct loop_timer *timer)
{
    struct http *http = timer->data;
    int running;

    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_finished(http);
}

/* Called by curl when its single timeout changes (-1: none). */
static int cb_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http *http = userp;

    if (timeout_ms < 0)
        loop_timer_stop(http->loop, &http->timer);
    else
        loop_timer_start(http->loop, &http->timer, (int64_t)timeout_ms * 1000);
    return 0;
}

/* Called by curl with response body bytes. */
static size_t cb_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct http_request *req = userp;
    size_t n = size * nmemb;

    if (req->resp_len + n > req->http->opts.max_body) {
        req->too_large = 1;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (req->resp_len + n + 1 > req->resp_cap) {
        size_t cap = req->resp_cap ? req->resp_cap : 1024;
        char *p;
        while (cap < req->resp_len + n + 1)
            cap *= 2;
        p = realloc(req->resp, cap);
        if (!p)
            return 0;
        req->resp = p;
        req->resp_cap = cap;
    }
    memcpy(req->resp + req->resp_len, ptr, n);
    req->resp_len += n;
    req->resp[req->resp_len] = '\0';
    return n;
}

/* Called by curl right before it sends the request on a connection. A
 * second call means curl is resending it by itself: a reused connection
 * died after the request went out. The provider may have received (and
 * charged) the first one, so the resend is refused here and the failure
 * goes back to the script, whose retry policy decides in the open. */
static int cb_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port)
{
    struct http_request *req = userp;

    return ++req->sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

static void unlink_running(struct http_request *req)
{
    struct http *http = req->http;

    if (req->prev) req->prev->next = req->next; else http->running = req->next;
    if (req->next) req->next->prev = req->prev;
    req->prev = req->next = NULL;
    http->nrunning--;
}

/* Back to the pool, every time a request ends: the request body (it holds
 * the apikey) and the response (a mobile and a name, or an echo of the
 * key) are overwritten now, not when the pool is freed, so a finished
 * request leaves no copy behind in our buffers. */
static void release(struct http_request *req)
{
    if (req->body)
        explicit_bzero(req->body, req->body_cap);
    if (req->resp)
        explicit_bzero(req->resp, req->resp_len);
    req->next = req->http->pool;
    req->http->pool = req;
}

/* Whether the provider may have received the whole request. curl calls
 * cb_prereq once a connection (and TLS) is up, right before it writes the
 * request; CURLINFO_SIZE_UPLOAD_T then counts the body bytes written to the
 * socket (curl 7.88 counts a small body sent with the headers too). Only a
 * request whose every body byte was written can have been acted on: a
 * form POST cut short is incomplete for the server. A second prereq call
 * means the request went out once already (cb_prereq refused the resend),
 * so it counts as sent. Written to the socket is not received, so this
 * errs on the side of "possibly charged", never the other way. */
static int was_sent(struct http_request *req, CURLcode rc)
{
    curl_off_t up = 0;

    if (rc == CURLE_OK || req->sends > 1)
        return 1;
    if (req->sends == 0)
        return 0;
    curl_easy_getinfo(req->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    return up >= (curl_off_t)req->body_len;
}

static void finish(struct http_request *req, CURLcode rc)
{
    struct http *http = req->http;
    struct http_response resp = { 0 };
    curl_off_t total_us = 0;
    char reason[CURL_ERROR_SIZE + 64];

    curl_multi_remove_handle(http->multi, req->easy);
    unlink_running(req);
    long connects = 0;
    curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects);
    http->connects += connects;
    curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    resp.total_ms = (double)total_us / 1000.0;
    resp.body = req->resp ? req->resp : "";
    resp.body_len = req->resp_len;
    resp.sent = was_sent(req, rc);
    if (rc == CURLE_OK) {
        char *ct = NULL;
        resp.ok = 1;
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        curl_easy_getinfo(req->easy, CURLINFO_CONTENT_TYPE, &ct);
        resp.content_type = ct;
    } else {
        if (req->too_large)
            snprintf(reason, sizeof reason, "response larger than %zu bytes", http->opts.max_body);
        else if (req->sends > 1)
            snprintf(reason, sizeof reason, "the connection closed after the request was sent and "
                     "before an answer (the provider may have received it; not resent automatically)");
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(reason, sizeof reason, "timeout: %s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc));
        else
            snprintf(reason, sizeof reason, "%s", req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc));
        resp.error = reason;
    }
    req->done(req->data, &resp);
    release(req);
}

/* Drains curl's finished transfers. A done callback may start new
 * requests; they are picked up by later calls. */
static void check_finished(struct http *http)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(http->multi, &left))) {
        struct http_request *req;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        finish(req, msg->data.result);
    }
}

/* Options that never change for a handle: set once when it is created. */
static CURL *new_easy(struct http *http, struct http_request *req)
{
    CURL *easy = curl_easy_init();

    if (!easy)
        return NULL;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (http->cafile)
        curl_easy_setopt(easy, CURLOPT_CAINFO, http->cafile);
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)http->opts.max_body);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "qxtv/" QXTV_VERSION);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, cb_prereq);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, req);
    return easy;
}

static struct http_request *http_post(struct http *http, const char *url,
                                      const char *body, size_t body_len,
                                      const struct http_request_options *ro,
                                      http_done_fn *done, void *data,
                                      char *err, size_t errlen)
{
    struct http_request *req = http->pool;
    long timeout_ms = ro && ro->timeout_ms > 0 ? ro->timeout_ms : http->opts.timeout_ms;
    long connect_ms = ro && ro->connect_timeout_ms > 0 ? ro->connect_timeout_ms : http->opts.connect_timeout_ms;
    CURLMcode mc;

    if (req) {
        http->pool = req->next;
    } else {
        req = calloc(1, sizeof *req);
        if (!req || !(req->easy = new_easy(http, req))) {
            free(req);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        req->http = http;
    }
    req->next = req->prev = NULL;
    if (body_len + 1 > req->body_cap) {
        char *p = realloc(req->body, body_len + 1);
        if (!p) {
            release(req);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        req->body = p;
        req->body_cap = body_len + 1;
    }
    memcpy(req->body, body, body_len);
    req->body[body_len] = '\0';
    req->body_len = body_len;
    req->resp_len = 0;
    if (req->resp)
        req->resp[0] = '\0';
    req->too_large = 0;
    req->sends = 0;
    req->errbuf[0] = '\0';
    req->done = done;
    req->data = data;
    curl_easy_setopt(req->easy, CURLOPT_URL, url);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);

    mc = curl_multi_add_handle(http->multi, req->easy);
    if (mc != CURLM_OK) {
        release(req);
        snprintf(err, errlen, "cannot start request: %s", curl_multi_strerror(mc));
        return NULL;
    }
    req->next = http->running;
    if (http->running) http->running->prev = req;
    http->running = req;
    http->nrunning++;
    return req;
}

static void http_cancel(struct http_request *req)
{
    curl_multi_remove_handle(req->http->multi, req->easy);
    unlink_running(req);
    release(req);
}

static size_t http_running(const struct http *http)
{
    return http->nrunning;
}

static long http_connects(const struct http *http)
{
    return http->connects;
}

static struct http *http_new(struct loop *loop, const struct http_options *opts, char *err, size_t errlen)
{
    struct http *http;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return NULL;
    }
    http = calloc(1, sizeof *http);
    if (!http || !(http->multi = curl_multi_init())) {
        free(http);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    http->loop = loop;
    http->opts = *opts;
    if (opts->cafile) {
        http->cafile = strdup(opts->cafile);
        http->opts.cafile = http->cafile;
    }
    http->timer.fn = on_timeout;
    http->timer.data = http;
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, cb_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, cb_timer);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->max_connections);
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, opts->max_connections);
    return http;
}

static void http_free(struct http *http)
{
    if (!http)
        return;
    while (http->running)
        http_cancel(http->running);
    while (http->pool) {
        struct http_request *req = http->pool;
        http->pool = req->next;
        curl_easy_cleanup(req->easy);
        free(req->body);
        free(req->resp);
        free(req);
    }
    curl_multi_cleanup(http->multi);
    while (http->sockets) {
        struct http_socket *sock = http->sockets;
        http->sockets = sock->next;
        loop_io_watch(http->loop, &sock->io, 0);
        free(sock);
    }
    loop_timer_stop(http->loop, &http->timer);
    free(http->cafile);
    free(http);
    curl_global_cleanup();
}

__attribute__((visibility("default")))
const struct http_api qxt_http_api = {
    http_new, http_free, http_post, http_cancel, http_running, http_connects
};
