/* server.c -- libmicrohttpd plumbing; see server.h. */
#include "server.h"
#include "api.h"
#include "delay.h"
#include "stats.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"

/* A longer parameter is cut here; a cut value is still judged (an apikey
 * or mobile that long is wrong anyway) and a client cannot make us buffer
 * an unbounded body. */
#define FIELD_MAX 4096

enum route { ROUTE_API, ROUTE_STATS, ROUTE_RESET, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };
enum { F_APIKEY, F_MOBILE, F_NAME, NFIELDS };
static const char *const field_names[NFIELDS] = { "apikey", "mobile", "name" };

struct field {
    char *s;
    size_t len;
    int set;
};

/* Per-request state, from the first call of the access handler until
 * libmicrohttpd reports the request completed. */
struct request {
    enum route route;
    const char *allow;               /* Allow header for a 405 */
    struct MHD_PostProcessor *pp;    /* POST bodies only */
    struct field body[NFIELDS];      /* parameters from a POST body */
    int waiting;                     /* suspended in the delay queue */
    int drop;                        /* on resume, close without answer */
    struct MHD_Response *resp;       /* on resume, send this */
    unsigned status;
};

struct server {
    struct MHD_Daemon *daemon;
    struct server_config cfg;
    unsigned port;
};

/* ---- responses -------------------------------------------------------- */

/* Wraps a malloc'd body (ownership passes to the response). */
static struct MHD_Response *make_response(char *body, size_t len, const char *ctype)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body ? body : "", body ? MHD_RESPMEM_MUST_FREE
                                                                    : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    return r;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, unsigned status,
                                     struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, unsigned status,
                                   const char *ctype, const char *body, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    return send_response(conn, status, r);
}

/* ---- parameters ------------------------------------------------------- */

/* Called by libmicrohttpd's post processor for each piece of a form field;
 * a long value arrives in several pieces at increasing offsets. */
static enum MHD_Result cb_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size)
{
    struct request *req = cls;
    /* A multipart part without name="..." comes with no key (found by
     * fuzz_sim_http: strcmp(NULL) took the simulator down). */
    if (!key)
        return MHD_YES;
    for (int i = 0; i < NFIELDS; i++) {
        if (strcmp(key, field_names[i]) != 0)
            continue;
        struct field *f = &req->body[i];
        /* A repeated parameter: the first one counts, as for the query
         * string (libmicrohttpd's lookup returns the first). */
        if (f->set && off == 0)
            return MHD_YES;
        f->set = 1;
        if (!f->s && !(f->s = malloc(FIELD_MAX)))
            return MHD_NO;
        size_t room = FIELD_MAX - f->len;
        if (size > room)
            size = room;
        if (size && data)
            memcpy(f->s + f->len, data, size);
        f->len += size;
        return MHD_YES;
    }
    return MHD_YES;
}

/* The value of a parameter: from the POST body if it was there, else from
 * the query string. *s = NULL when absent. */
static void param(struct MHD_Connection *conn, struct request *req, int i,
                  const char **s, size_t *len)
{
    if (req->body[i].set) {
        *s = req->body[i].s ? req->body[i].s : "";
        *len = req->body[i].len;
        return;
    }
    *s = NULL;
    *len = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, field_names[i],
                                      strlen(field_names[i]), s, len) == MHD_YES && !*s) {
        *s = "";                       /* "?mobile" without '=' */
        *len = 0;
    }
    if (*s && *len > FIELD_MAX)
        *len = FIELD_MAX;
}

/* ---- the endpoints ---------------------------------------------------- */

static enum MHD_Result serve_api(struct server *srv, struct MHD_Connection *conn,
                                 struct request *req, const char *method)
{
    struct api_query q = { .method = method };
    struct api_answer a;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    q.client = ci ? ci->client_addr : NULL;
    param(conn, req, F_APIKEY, &q.apikey, &q.apikey_len);
    param(conn, req, F_MOBILE, &q.mobile, &q.mobile_len);
    param(conn, req, F_NAME, &q.name, &q.name_len);
    if (api_answer(srv->cfg.api, &q, &a) < 0)
        return send_static(conn, 500, CT_TEXT, "out of memory\n", NULL);

    struct MHD_Response *r = NULL;
    if (a.action == API_RESPOND) {
        r = make_response(a.body, a.body_len, a.content_type);
        if (!r)
            return MHD_NO;
    }
    if (a.delay_ms == 0)
        return r ? send_response(conn, a.status, r) : MHD_NO;

    req->resp = r;
    req->status = a.status;
    req->drop = a.action == API_DROP;
    if (delay_add(srv->cfg.delay, conn, a.delay_ms) < 0)
        return MHD_NO;                 /* shutting down: close it */
    req->waiting = 1;
    return MHD_YES;
}

static enum MHD_Result serve_stats(struct server *srv, struct MHD_Connection *conn)
{
    char *body = stats_json(srv->cfg.stats);
    if (!body)
        return send_static(conn, 500, CT_TEXT, "out of memory\n", NULL);
    return send_response(conn, 200, make_response(body, strlen(body), CT_JSON));
}

static enum route route_of(const char *url, const char *method, const char **allow)
{
    if (strcmp(url, "/Phone_TwoElements") == 0) {
        *allow = "GET, POST";
        return strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ? ROUTE_API
                                                                         : ROUTE_BAD_METHOD;
    }
    if (strcmp(url, "/stats") == 0) {
        *allow = "GET";
        return strcmp(method, "GET") == 0 ? ROUTE_STATS : ROUTE_BAD_METHOD;
    }
    if (strcmp(url, "/stats/reset") == 0) {
        *allow = "POST";
        return strcmp(method, "POST") == 0 ? ROUTE_RESET : ROUTE_BAD_METHOD;
    }
    *allow = NULL;
    return ROUTE_NOT_FOUND;
}

/* Called by libmicrohttpd: once when the headers are in, once per piece of
 * the body, once when the body is complete, and once more after a resume. */
static enum MHD_Result cb_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    struct server *srv = cls;
    struct request *req = *req_cls;

    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->route = route_of(url, method, &req->allow);
        if (req->route == ROUTE_API && strcmp(method, "POST") == 0)
            /* NULL for a body that is not a form: then only the query
             * string counts, as for GET. */
            req->pp = MHD_create_post_processor(conn, 1024, cb_post_field, req);
        *req_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->pp && MHD_post_process(req->pp, upload_data, *upload_data_size) != MHD_YES) {
            MHD_destroy_post_processor(req->pp);   /* malformed: stop parsing */
            req->pp = NULL;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->waiting) {
        struct MHD_Response *r = req->resp;
        req->waiting = 0;
        req->resp = NULL;
        if (req->drop)
            return MHD_NO;
        return send_response(conn, req->status, r);
    }
    switch (req->route) {
    case ROUTE_API:
        return serve_api(srv, conn, req, method);
    case ROUTE_STATS:
        return serve_stats(srv, conn);
    case ROUTE_RESET:
        stats_reset(srv->cfg.stats);
        return send_static(conn, 200, CT_JSON, "{\"reset\":true}", NULL);
    case ROUTE_BAD_METHOD:
        return send_static(conn, 405, CT_TEXT, "method not allowed\n", req->allow);
    case ROUTE_NOT_FOUND:
        break;
    }
    return send_static(conn, 404, CT_TEXT, "not found\n", NULL);
}

/* Called by libmicrohttpd when a request is done, answered or not. */
static void cb_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *req = *req_cls;
    if (!req)
        return;
    if (req->pp)
        MHD_destroy_post_processor(req->pp);
    if (req->resp)
        MHD_destroy_response(req->resp);
    for (int i = 0; i < NFIELDS; i++)
        free(req->body[i].s);
    free(req);
    *req_cls = NULL;
}

/* Called by libmicrohttpd for its own diagnostics. A handler returning
 * MHD_NO is how a dropped connection is made, so that complaint is the
 * simulator working as asked, not an error worth a line per request. */
static void cb_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (strstr(msg, "Application reported internal error"))
        return;
    fprintf(stderr, "qxt-sim: %s%s", msg, strchr(msg, '\n') ? "" : "\n");
}

/* ---- start and stop --------------------------------------------------- */

union addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

static int parse_bind(const char *text, unsigned port, union addr *a)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, text, &a->in4.sin_addr) == 1) {
        a->in4.sin_family = AF_INET;
        a->in4.sin_port = htons((uint16_t)port);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, text, &a->in6.sin6_addr) == 1) {
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons((uint16_t)port);
        return AF_INET6;
    }
    return -1;
}

bool server_bind_valid(const char *addr)
{
    union addr a;
    return parse_bind(addr, 0, &a) >= 0;
}

struct server *server_start(const struct server_config *cfg, char *err, size_t errlen)
{
    union addr a;
    int family = parse_bind(cfg->bind, cfg->port, &a);
    struct server *srv = calloc(1, sizeof *srv);

    if (!srv || family < 0) {
        snprintf(err, errlen, srv ? "\"%s\" is not an IP address" : "out of memory", cfg->bind);
        free(srv);
        return NULL;
    }
    srv->cfg = *cfg;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, cb_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, cb_log, srv,     /* first, to catch all */
        MHD_OPTION_SOCK_ADDR, &a.sa,
        MHD_OPTION_THREAD_POOL_SIZE, cfg->threads > 1 ? cfg->threads : 0u,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns,
        MHD_OPTION_NOTIFY_COMPLETED, cb_completed, srv,
        MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s port %u (see the message above)",
                 cfg->bind, cfg->port);
        free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    return srv;
}

unsigned server_port(const struct server *s)
{
    return s->port;
}

void server_stop(struct server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
