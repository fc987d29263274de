/* httpd.h -- an HTTP/1.1 server (libmicrohttpd) inside the engine's loop,
 * for `qxtv serve`; no Lua here (its binding is lhttpd.c, `qxt.httpd.core`).
 *
 * MHD runs without a thread of its own: its epoll descriptor is watched by
 * the loop, MHD_get_timeout drives a loop timer, and MHD_run is called when
 * either fires. A request's body is collected (over max_body: 413 before it
 * is read, from the Content-Length; a chunked body that grows over it closes
 * the connection), then the connection is suspended and the request queued
 * until the caller takes it (httpd_next) and answers it (httpd_req_answer),
 * which resumes the connection.
 *
 * Ownership: the server owns every request, from its first byte until MHD
 * reports it completed; the caller holds a request through a slot it gives
 * (httpd_req_bind), which the server sets to NULL when the request goes
 * away (answered, the client gone, the server closed), so a handle never
 * points at freed memory. Callbacks to the caller (the ready function) run
 * from a loop timer, never inside MHD_run, so they may close the server. */
#ifndef QXT_HTTPD_H
#define QXT_HTTPD_H

#include <stddef.h>
#include <sys/socket.h>

struct loop;
struct httpd;
struct httpd_req;
struct httpd_resp;

/* Called from a loop timer once httpd_next would not wait: a request is
 * queued, or the server is quiesced. One-shot: set again to wait again. */
typedef void httpd_ready_fn(struct httpd *s, void *data);

/* Starts listening on sa (IPv4 or IPv6); max_body in bytes, timeout_s the
 * idle connection timeout in seconds. NULL on failure, with why in err. */
struct httpd *httpd_start(struct loop *loop, const struct sockaddr *sa, size_t max_body,
                          unsigned timeout_s, char *err, size_t errlen);

/* The bound port (the one the kernel picked when asked for 0). */
unsigned httpd_port(const struct httpd *s);

/* The first queued request (the caller answers it), or NULL: *ended is 1
 * when the server is quiesced and nothing is queued (no request will ever
 * come: a request completing after that is answered 503 by the server),
 * else 0 (wait: httpd_wait). */
struct httpd_req *httpd_next(struct httpd *s, int *ended);

/* Calls fn(s, data) once httpd_next would not wait; one waiter at a time
 * (a second call replaces the first). httpd_wait(s, NULL, NULL) cancels. */
void httpd_wait(struct httpd *s, httpd_ready_fn *fn, void *data);
int httpd_waiting(const struct httpd *s);

/* Stops accepting (the listening socket is closed now); requests that
 * start afterwards get 503 and Connection: close. */
void httpd_quiesce(struct httpd *s);

/* Requests begun and not yet fully answered. */
size_t httpd_inflight(const struct httpd *s);

/* Stops and frees the server: whatever is still waiting for an answer is
 * answered 503 first. s may be NULL. */
void httpd_close(struct httpd *s);

/* ---- a request ---- */

/* The caller's handle: *slot is set to r now and to NULL when r goes away. */
void httpd_req_bind(struct httpd_req *r, struct httpd_req **slot);

/* Owned by the request, valid while it is: method, path, the remote
 * address as text ("" when unknown), the body (len bytes, not NUL-ended),
 * and the headers as "name\0value\0"... (names lower-cased), len bytes. */
const char *httpd_req_method(const struct httpd_req *r);
const char *httpd_req_path(const struct httpd_req *r);
const char *httpd_req_remote(const struct httpd_req *r);
const char *httpd_req_body(const struct httpd_req *r, size_t *len);
const char *httpd_req_headers(const struct httpd_req *r, size_t *len);

/* A response: the body copied; headers added one by one. NULL: no memory. */
struct httpd_resp *httpd_resp_new(const char *body, size_t len);
/* 0, or -1 for a name or value with a line break (or a ':' in the name). */
int httpd_resp_header(struct httpd_resp *resp, const char *name, const char *value);
void httpd_resp_free(struct httpd_resp *resp);

/* Answers r with status and resp (taken over) and resumes its connection;
 * the bound slot is set to NULL. resp NULL: a static 500. */
void httpd_req_answer(struct httpd_req *r, unsigned status, struct httpd_resp *resp);

#endif
