/* reqlog.c -- JSON-lines request log; see reqlog.h. */
#include "reqlog.h"
#include "text.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct reqlog {
    pthread_mutex_t lock;
    FILE *f;
};

struct reqlog *reqlog_open(const char *path, char *err, size_t errlen)
{
    struct reqlog *log = calloc(1, sizeof *log);
    if (!log) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    log->f = fopen(path, "a");
    if (!log->f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(log);
        return NULL;
    }
    pthread_mutex_init(&log->lock, NULL);
    return log;
}

void reqlog_close(struct reqlog *log)
{
    if (!log)
        return;
    fclose(log->f);
    pthread_mutex_destroy(&log->lock);
    free(log);
}

/* Masked text as a JSON value; null when the field was absent. Masks are
 * sized for any field the server accepts (it caps fields at 4 KiB). */
static json_t *masked(const char *s, size_t len, char *(*mask)(const char *, size_t, char *, size_t))
{
    char buf[16384];
    if (!s)
        return json_null();
    return json_string(mask(s, len, buf, sizeof buf));
}

void reqlog_write(struct reqlog *log, const struct reqlog_entry *e)
{
    char ts[40];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}",
                          "ts", ts,
                          "ip", e->ip ? e->ip : "",
                          "method", e->method,
                          "account", e->account ? json_string(e->account) : json_null(),
                          "mobile", masked(e->mobile, e->mobile_len, text_mask_mobile),
                          "name", masked(e->name, e->name_len, text_mask_name));
    if (!o)
        return;
    json_object_set_new(o, "code", e->answered ? json_integer(e->code) : json_null());
    json_object_set_new(o, "status", e->status ? json_string(e->status) : json_null());
    json_object_set_new(o, "fault", e->fault ? json_string(e->fault) : json_null());
    json_object_set_new(o, "delay_ms", json_integer(e->delay_ms));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return;
    pthread_mutex_lock(&log->lock);
    fputs(line, log->f);
    fputc('\n', log->f);
    fflush(log->f);
    pthread_mutex_unlock(&log->lock);
    free(line);
}
