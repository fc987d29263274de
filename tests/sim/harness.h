/* harness.h -- what the simulator tests need: start and stop the real
 * qxt-sim binary, talk HTTP to it with libcurl, count checks.
 *
 * Every simulator runs on a free port (--port 0 --port-file) with its own
 * stdout and stderr files in a private temporary directory. */
#ifndef SIM_HARNESS_H
#define SIM_HARNESS_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define DEFAULT_KEY "0123456789abcdef0123456789abcdef"

extern int checks_run, checks_failed;

/* Records a check; on failure prints the condition and a printf-style
 * explanation with the file and line. */
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks_run++;                                                        \
        if (!(cond)) {                                                       \
            checks_failed++;                                                 \
            fprintf(stderr, "%s:%d: FAILED: %s\n    ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

/* Sets the binary under test and creates the temporary directory. */
void harness_init(const char *sim_binary);
/* Removes the temporary directory; returns the process exit status. */
int harness_finish(const char *group);
/* A path inside the temporary directory (static buffer, rotated 8 deep). */
const char *tmp_path(const char *name);
/* Writes text to a file in the temporary directory; returns its path. */
const char *write_tmp(const char *name, const char *text);
/* A whole file, NUL-terminated, malloc'd; NULL when unreadable. */
char *read_file(const char *path, size_t *len);

struct sim {
    pid_t pid;
    int port;
    char out[512], err[512];     /* its stdout and stderr files */
};

/* Starts qxt-sim with --port 0 --port-file and args (NULL-terminated) and
 * waits until it listens. Returns 0, or -1 (with a failed check). */
int sim_start(struct sim *s, const char *const *args);
/* Sends sig and returns the exit status (-1: killed by a signal or hung). */
int sim_signal_wait(struct sim *s, int sig);
/* SIGTERM, and checks the exit status is 0. */
void sim_stop(struct sim *s);

/* Runs qxt-sim with args to completion (5 s at most); returns its exit
 * status and, when asked, its stdout/stderr (malloc'd). */
int sim_run(const char *const *args, char **out, char **err);

struct reply {
    CURLcode rc;                 /* CURLE_OK when an HTTP answer came */
    long status;
    char ctype[128];
    char *body;                  /* NUL-terminated, malloc'd */
    size_t len;
    double secs;                 /* total time of the transfer */
    long new_connections;        /* connections this transfer opened */
};

void reply_free(struct reply *r);

/* When set, http() and query() open a new connection for every request.
 * Needed to observe dropped connections: libcurl silently re-sends a
 * request once when a reused connection closes without an answer. */
extern int fresh_connections;

/* One request on a shared easy handle (connections are kept alive).
 * method "GET" (body NULL), "POST" (form body), or any other verb. */
void http(struct sim *s, const char *method, const char *path_and_query,
          const char *body, struct reply *r);

/* "apikey=..&mobile=..&name=.." percent-encoded; a NULL value leaves the
 * parameter out. malloc'd. */
char *form(const char *apikey, const char *mobile, const char *name);

/* What came back, comparable across runs: the provider's code, or one of
 * these for the transport faults. */
enum { OUT_DROP = 1000, OUT_HTTP_ERROR, OUT_GARBAGE, OUT_OTHER };
int outcome(const struct reply *r);

/* POSTs a query and returns outcome(); *json receives the parsed body
 * (caller decrefs) when json is not NULL. */
int query(struct sim *s, const char *apikey, const char *mobile, const char *name,
          json_t **json);

/* GET /stats, parsed; NULL on failure. Caller decrefs. */
json_t *get_stats(struct sim *s);
/* An integer inside a JSON document by a path of object keys, e.g.
 * jint(st, "by_code", "-4", NULL); -1 when missing. */
long long jint(json_t *doc, ...);

/* Sends n requests at once, each on its own connection (curl multi);
 * bodies[i] is a POST form body. Fills replies[i]; returns the wall time
 * of the whole batch in seconds. */
double batch(struct sim *s, size_t n, char **bodies, struct reply *replies);

/* Monotonic seconds. */
double now_s(void);

#endif
