/* loop.c -- epoll plus a binary min-heap of timers; see loop.h. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct loop {
    int epfd;
    size_t nwatched;              /* descriptors registered with epoll */
    struct loop_timer **heap;     /* heap[0] is the earliest */
    size_t nheap, capheap;
    uint64_t next_seq;
    /* While dispatching: the events not yet handled, so that a watcher
     * removed by an earlier callback is not called after its owner freed it. */
    struct epoll_event *dispatching;
    int ndispatching;
};

int64_t loop_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct loop *loop_new(void)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    free(loop->heap);
    free(loop);
}

int loop_io_watch(struct loop *loop, struct loop_io *io, int events)
{
    struct epoll_event ev = { 0 };
    int op;

    if (events == io->events)
        return 0;
    ev.events = (events & LOOP_READ ? EPOLLIN : 0) | (events & LOOP_WRITE ? EPOLLOUT : 0);
    ev.data.ptr = io;
    if (events == 0)
        op = EPOLL_CTL_DEL;
    else
        op = io->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    /* A descriptor closed before removal is already gone from epoll. */
    if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0 && !(op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)))
        return -1;
    if (io->events == 0)
        loop->nwatched++;
    else if (events == 0) {
        loop->nwatched--;
        for (int i = 0; i < loop->ndispatching; i++)
            if (loop->dispatching[i].data.ptr == io)
                loop->dispatching[i].data.ptr = NULL;
    }
    io->events = events;
    return 0;
}

/* Heap order: earlier due first; equal due, earlier start first. */
static int earlier(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void heap_place(struct loop *loop, size_t i, struct loop_timer *t)
{
    loop->heap[i] = t;
    t->slot = i + 1;
}

static void heap_up(struct loop *loop, size_t i)
{
    struct loop_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, loop->heap[parent]))
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_down(struct loop *loop, size_t i)
{
    struct loop_timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->nheap)
            break;
        if (child + 1 < loop->nheap && earlier(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!earlier(loop->heap[child], t))
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

void loop_timer_stop(struct loop *loop, struct loop_timer *timer)
{
    size_t i;
    struct loop_timer *last;

    if (timer->slot == 0)
        return;
    i = timer->slot - 1;
    timer->slot = 0;
    last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    heap_place(loop, i, last);
    heap_down(loop, i);
    heap_up(loop, last->slot - 1);
}

void loop_timer_start(struct loop *loop, struct loop_timer *timer, int64_t delay_us)
{
    loop_timer_stop(loop, timer);
    if (loop->nheap == loop->capheap) {
        size_t cap = loop->capheap ? loop->capheap * 2 : 64;
        struct loop_timer **heap = realloc(loop->heap, cap * sizeof *heap);
        if (!heap)
            abort(); /* out of memory: nothing sensible is left to do */
        loop->heap = heap;
        loop->capheap = cap;
    }
    timer->due_us = loop_now_us() + (delay_us > 0 ? delay_us : 0);
    timer->seq = loop->next_seq++;
    loop->heap[loop->nheap] = timer;
    timer->slot = ++loop->nheap;
    heap_up(loop, loop->nheap - 1);
}

int loop_alive(const struct loop *loop)
{
    return loop->nwatched > 0 || loop->nheap > 0;
}

/* Fires the timers due now, but not those started while firing: a callback
 * that restarts itself with no delay runs again next iteration, after I/O. */
static void fire_due_timers(struct loop *loop)
{
    int64_t now = loop_now_us();
    uint64_t limit = loop->next_seq;

    while (loop->nheap > 0) {
        struct loop_timer *t = loop->heap[0];
        if (t->due_us > now || t->seq >= limit)
            break;
        loop_timer_stop(loop, t);
        t->fn(loop, t);
    }
}

int loop_run_once(struct loop *loop)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    int timeout_ms = -1, n;

    if (!loop_alive(loop))
        return -1;
    if (loop->nheap > 0) {
        int64_t wait_us = loop->heap[0]->due_us - loop_now_us();
        timeout_ms = wait_us <= 0 ? 0 : (int)((wait_us + 999) / 1000);
    }
    n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout_ms);
    loop->dispatching = events;
    loop->ndispatching = n > 0 ? n : 0;
    for (int i = 0; i < n; i++) {
        struct loop_io *io = events[i].data.ptr;
        int ev = 0;
        if (!io)
            continue;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            ev |= LOOP_READ;
        if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            ev |= LOOP_WRITE;
        io->fn(loop, io, ev);
    }
    loop->dispatching = NULL;
    loop->ndispatching = 0;
    fire_due_timers(loop);
    return 0;
}
