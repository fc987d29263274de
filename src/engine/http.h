/* http.h -- the HTTP transport: POST requests over libcurl's multi
 * interface, driven by the event loop (curl's socket and timer callbacks).
 *
 * Knows nothing of Lua or of the provider's format. Hardened for a paid API
 * that carries personal data: http/https only, redirects never followed,
 * TLS verification always on, response bodies capped. Easy handles are
 * pooled and connections kept alive between requests. */
#ifndef QXT_HTTP_H
#define QXT_HTTP_H

#include <stddef.h>

struct loop;
struct http;
struct http_request;

struct http_options {
    long timeout_ms;           /* whole request; > 0 */
    long connect_timeout_ms;   /* connection set-up; > 0 */
    const char *cafile;        /* CA bundle to trust instead of the system's; NULL = system */
    size_t max_body;           /* larger responses fail with a transport error */
    long max_connections;      /* open connections at most; more requests queue */
};

/* What came back. Valid only during the done callback. */
struct http_response {
    int ok;                    /* 1: a complete HTTP response arrived */
    long status;               /* HTTP status (0 when !ok) */
    const char *content_type;  /* may be NULL */
    const char *body;          /* NUL-terminated; may hold NULs itself */
    size_t body_len;
    const char *error;         /* when !ok: why, for people; never holds the request body */
    int sent;                  /* 1: the whole request was handed to a connection, so the
                                * provider may have received (and charged) it, answer or
                                * not; 0: it never went out whole (connection refused,
                                * DNS, connect or TLS failure, a reset while sending) */
    double total_ms;           /* from submission to completion */
};

/* Called by the transport exactly once per request that was not cancelled,
 * from the event loop, after the request is finished. */
typedef void http_done_fn(void *data, const struct http_response *resp);

/* Per-request overrides; 0 fields take the transport's defaults. */
struct http_request_options {
    long timeout_ms;
    long connect_timeout_ms;
};

/* The transport is the module qxtv-http.so (module.h), so that libcurl is
 * loaded only by a script that sends: the engine calls it through this
 * table, the module's one exported symbol (HTTP_API_SYMBOL). */
struct http_api {
    /* Returns a transport bound to loop, or NULL with a reason in err. */
    struct http *(*create)(struct loop *loop, const struct http_options *opts, char *err, size_t errlen);

    /* Cancels every request still running (without calling back) and frees
     * the transport. */
    void (*destroy)(struct http *http);

    /* Starts a POST of body (copied) with content type
     * application/x-www-form-urlencoded to url; ro may be NULL. done is
     * called later from the loop, never from inside this call. Returns the
     * request (valid until done is called or it is cancelled), or NULL with
     * a reason in err. */
    struct http_request *(*post)(struct http *http, const char *url, const char *body, size_t body_len,
                                 const struct http_request_options *ro, http_done_fn *done, void *data,
                                 char *err, size_t errlen);

    /* Cancels a running request; done is not called. */
    void (*cancel)(struct http_request *req);

    /* Requests submitted and not yet done or cancelled. */
    size_t (*running)(const struct http *http);

    /* New connections opened by finished requests so far (keep-alive keeps
     * this well below the number of requests). */
    long (*connects)(const struct http *http);
};
#define HTTP_API_SYMBOL "qxt_http_api"

#endif
