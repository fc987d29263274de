/* delay.c -- timer heap of suspended connections; see delay.h. */
#include "delay.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct timer {
    uint64_t due_ns;             /* CLOCK_MONOTONIC */
    uint64_t seq;                /* ties resume in arrival order */
    struct MHD_Connection *conn;
};

struct delay {
    pthread_mutex_t lock;
    pthread_cond_t wake;         /* new earliest timer, or stopping */
    pthread_t thread;
    struct timer *heap;
    size_t n, cap;
    uint64_t seq;
    bool stopping;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool earlier(const struct timer *a, const struct timer *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void sift_up(struct timer *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(&h[i], &h[parent]))
            break;
        struct timer t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

static void sift_down(struct timer *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && earlier(&h[l], &h[m]))
            m = l;
        if (r < n && earlier(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct timer t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static struct timer pop(struct delay *d)
{
    struct timer top = d->heap[0];
    d->heap[0] = d->heap[--d->n];
    sift_down(d->heap, d->n, 0);
    return top;
}

/* The timer thread: sleeps until the earliest timer is due, then resumes
 * every due connection. Resuming happens outside the lock, in batches, so
 * request threads adding timers are not held up by libmicrohttpd. */
static void *timer_main(void *arg)
{
    struct delay *d = arg;
    struct MHD_Connection *batch[256];

    pthread_mutex_lock(&d->lock);
    for (;;) {
        if (d->n == 0) {
            if (d->stopping)
                break;
            pthread_cond_wait(&d->wake, &d->lock);
            continue;
        }
        uint64_t now = now_ns();
        if (!d->stopping && d->heap[0].due_ns > now) {
            uint64_t due = d->heap[0].due_ns;
            struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u),
                                   .tv_nsec = (long)(due % 1000000000u) };
            pthread_cond_timedwait(&d->wake, &d->lock, &ts);
            continue;
        }
        size_t k = 0;
        while (k < sizeof batch / sizeof batch[0] && d->n > 0 &&
               (d->stopping || d->heap[0].due_ns <= now))
            batch[k++] = pop(d).conn;
        pthread_mutex_unlock(&d->lock);
        for (size_t i = 0; i < k; i++)
            MHD_resume_connection(batch[i]);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

struct delay *delay_start(char *err, size_t errlen)
{
    struct delay *d = calloc(1, sizeof *d);
    pthread_condattr_t attr;
    int rc;

    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->lock, NULL);
    /* Timed waits on the monotonic clock: a wall-clock jump must not
     * stretch or cut a latency. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &attr);
    pthread_condattr_destroy(&attr);
    rc = pthread_create(&d->thread, NULL, timer_main, d);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the timer thread: %s", strerror(rc));
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    return d;
}

int delay_add(struct delay *d, struct MHD_Connection *conn, unsigned ms)
{
    struct timer t = { .due_ns = now_ns() + (uint64_t)ms * 1000000u, .conn = conn };

    pthread_mutex_lock(&d->lock);
    if (d->stopping)
        goto refuse;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        struct timer *h = realloc(d->heap, cap * sizeof *h);
        if (!h)
            goto refuse;
        d->heap = h;
        d->cap = cap;
    }
    /* Suspended under the lock, so the timer thread cannot resume conn
     * before libmicrohttpd knows it is suspended. */
    MHD_suspend_connection(conn);
    t.seq = d->seq++;
    d->heap[d->n] = t;
    sift_up(d->heap, d->n);
    d->n++;
    if (d->heap[0].seq == t.seq)
        pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    return 0;
refuse:
    pthread_mutex_unlock(&d->lock);
    return -1;
}

void delay_stop(struct delay *d)
{
    pthread_mutex_lock(&d->lock);
    bool was = d->stopping;
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    if (!was)
        pthread_join(d->thread, NULL);
}

void delay_free(struct delay *d)
{
    if (!d)
        return;
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d->heap);
    free(d);
}
