/* harness.c -- see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int checks_run, checks_failed;
int fresh_connections;

static const char *sim_binary;
static char tmpdir[256];
static CURL *easy;
static int sim_counter;

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

void harness_init(const char *binary)
{
    const char *base = getenv("TMPDIR");
    sim_binary = binary;
    snprintf(tmpdir, sizeof tmpdir, "%s/qxt-sim-test.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(2);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    easy = curl_easy_init();
    signal(SIGPIPE, SIG_IGN);
}

int harness_finish(const char *group)
{
    char cmd[300];
    curl_easy_cleanup(easy);
    curl_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    /* The plain closing line that test runners and CI read. */
    printf("sim %s: %d passed, %d failed\n", group, checks_run - checks_failed, checks_failed);
    return checks_failed ? 1 : 0;
}

const char *tmp_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

const char *write_tmp(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            if (!buf)
                exit(2);
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* fork + exec of the simulator with stdout and stderr sent to files. */
static pid_t spawn(const char *const *args, const char *extra1, const char *extra2,
                   const char *extra3, const char *out, const char *err)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = sim_binary;
    if (extra1) {
        argv[n++] = extra1;
        argv[n++] = extra2;
        argv[n++] = "--port-file";
        argv[n++] = extra3;
    }
    for (size_t i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0)
            _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(sim_binary, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int sim_start(struct sim *s, const char *const *args)
{
    char name[64];
    int id = sim_counter++;
    memset(s, 0, sizeof *s);
    snprintf(name, sizeof name, "sim%d.port", id);
    const char *port_file = tmp_path(name);
    char port_copy[512];
    snprintf(port_copy, sizeof port_copy, "%s", port_file);
    snprintf(name, sizeof name, "sim%d.out", id);
    snprintf(s->out, sizeof s->out, "%s", tmp_path(name));
    snprintf(name, sizeof name, "sim%d.err", id);
    snprintf(s->err, sizeof s->err, "%s", tmp_path(name));

    s->pid = spawn(args, "--port", "0", port_copy, s->out, s->err);
    for (int i = 0; i < 500; i++) {
        char *text = read_file(port_copy, NULL);
        if (text) {
            /* Written by rename(), so whatever is there is complete. */
            s->port = atoi(text);
            free(text);
            if (s->port > 0)
                return 0;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            char *e = read_file(s->err, NULL);
            CHECK(0, "qxt-sim exited at start: %s", e ? e : "");
            free(e);
            s->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    CHECK(0, "qxt-sim did not write its port file within 5 s");
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

/* Waits up to 5 s for pid; returns its exit status, -1 when killed or hung. */
static int wait_exit(pid_t pid)
{
    int st;
    for (int i = 0; i < 500; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

int sim_signal_wait(struct sim *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    /* Connections kept alive by the shared handle belong to this server. */
    curl_easy_cleanup(easy);
    easy = curl_easy_init();
    kill(s->pid, sig);
    int status = wait_exit(s->pid);
    s->pid = 0;
    return status;
}

void sim_stop(struct sim *s)
{
    if (s->pid <= 0)
        return;
    int status = sim_signal_wait(s, SIGTERM);
    CHECK(status == 0, "qxt-sim exit status after SIGTERM: %d", status);
}

int sim_run(const char *const *args, char **out, char **err)
{
    char o[512], e[512];
    int id = sim_counter++;
    snprintf(o, sizeof o, "%s/run%d.out", tmpdir, id);
    snprintf(e, sizeof e, "%s/run%d.err", tmpdir, id);
    pid_t pid = spawn(args, NULL, NULL, NULL, o, e);
    int status = wait_exit(pid);
    if (out)
        *out = read_file(o, NULL);
    if (err)
        *err = read_file(e, NULL);
    return status;
}

/* ---- HTTP ------------------------------------------------------------- */

struct sink {
    char *buf;
    size_t len;
};

static size_t cb_write(char *data, size_t size, size_t n, void *arg)
{
    struct sink *k = arg;
    size_t add = size * n;
    char *b = realloc(k->buf, k->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + k->len, data, add);
    k->len += add;
    b[k->len] = '\0';
    k->buf = b;
    return add;
}

void reply_free(struct reply *r)
{
    free(r->body);
    r->body = NULL;
}

static void setup(CURL *h, struct sim *s, const char *method, const char *path,
                  const char *body, struct sink *k, char *errbuf)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

static void collect(CURL *h, CURLcode rc, struct sink *k, struct reply *r)
{
    char *ct = NULL;
    memset(r, 0, sizeof *r);
    r->rc = rc;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &r->secs);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->new_connections);
    r->body = k->buf ? k->buf : strdup("");
    r->len = k->buf ? k->len : 0;
}

void http(struct sim *s, const char *method, const char *path, const char *body,
          struct reply *r)
{
    struct sink k = { 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_reset(easy);
    setup(easy, s, method, path, body, &k, errbuf);
    if (fresh_connections)
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    CURLcode rc = curl_easy_perform(easy);
    collect(easy, rc, &k, r);
}

static void add_param(char **buf, size_t *len, const char *key, const char *value)
{
    if (!value)
        return;
    char *esc = curl_easy_escape(NULL, value, (int)strlen(value));
    size_t need = *len + strlen(key) + strlen(esc) + 3;
    *buf = realloc(*buf, need);
    *len += (size_t)sprintf(*buf + *len, "%s%s=%s", *len ? "&" : "", key, esc);
    curl_free(esc);
}

char *form(const char *apikey, const char *mobile, const char *name)
{
    char *buf = calloc(1, 1);
    size_t len = 0;
    add_param(&buf, &len, "apikey", apikey);
    add_param(&buf, &len, "mobile", mobile);
    add_param(&buf, &len, "name", name);
    return buf;
}

int outcome(const struct reply *r)
{
    if (r->rc == CURLE_GOT_NOTHING)
        return OUT_DROP;
    if (r->rc != CURLE_OK)
        return OUT_OTHER;
    if (r->status == 502 || r->status == 503)
        return OUT_HTTP_ERROR;
    if (r->status != 200)
        return OUT_OTHER;
    json_t *j = json_loads(r->body, 0, NULL);
    json_t *code = json_object_get(j, "code");
    int out = json_is_integer(code) ? (int)json_integer_value(code) : OUT_GARBAGE;
    json_decref(j);
    return out;
}

int query(struct sim *s, const char *apikey, const char *mobile, const char *name,
          json_t **json)
{
    struct reply r;
    char *body = form(apikey, mobile, name);
    http(s, "POST", "/Phone_TwoElements", body, &r);
    free(body);
    int out = outcome(&r);
    if (json)
        *json = json_loads(r.body, 0, NULL);
    reply_free(&r);
    return out;
}

json_t *get_stats(struct sim *s)
{
    struct reply r;
    http(s, "GET", "/stats", NULL, &r);
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    reply_free(&r);
    return j;
}

long long jint(json_t *doc, ...)
{
    va_list ap;
    const char *key;
    va_start(ap, doc);
    while (doc && (key = va_arg(ap, const char *)))
        doc = json_object_get(doc, key);
    va_end(ap);
    return json_is_integer(doc) ? (long long)json_integer_value(doc) : -1;
}

double batch(struct sim *s, size_t n, char **bodies, struct reply *replies)
{
    CURLM *multi = curl_multi_init();
    CURL **h = calloc(n, sizeof *h);
    struct sink *k = calloc(n, sizeof *k);
    char (*errs)[CURL_ERROR_SIZE] = calloc(n, CURL_ERROR_SIZE);
    int running = 0;
    double t0 = now_s();

    for (size_t i = 0; i < n; i++) {
        h[i] = curl_easy_init();
        setup(h[i], s, "POST", "/Phone_TwoElements", bodies[i], &k[i], errs[i]);
        curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)i);
        curl_multi_add_handle(multi, h[i]);
    }
    do {
        curl_multi_perform(multi, &running);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            void *priv;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            size_t i = (size_t)priv;
            collect(h[i], m->data.result, &k[i], &replies[i]);
        }
    } while (running);
    double wall = now_s() - t0;
    for (size_t i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(multi);
    free(h);
    free(k);
    free(errs);
    return wall;
}
