/* loop.h -- the event loop: epoll for file descriptors plus a timer heap.
 *
 * One loop per process, single-threaded. It knows nothing of Lua or HTTP:
 * callers embed a struct loop_io or struct loop_timer in their own structs
 * and the loop calls back through them. The caller owns those structs and
 * must stop them (loop_io_watch(..., 0) / loop_timer_stop) before freeing.
 * Times are microseconds on the monotonic clock. */
#ifndef QXT_LOOP_H
#define QXT_LOOP_H

#include <stddef.h>
#include <stdint.h>

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

struct loop;
struct loop_io;
struct loop_timer;

/* Called by the loop when io's descriptor is ready; events is LOOP_READ
 * and/or LOOP_WRITE (an error or hang-up reports both). */
typedef void loop_io_fn(struct loop *loop, struct loop_io *io, int events);

/* Called by the loop once when the timer is due; the timer is already
 * stopped, so the callback may start it again. */
typedef void loop_timer_fn(struct loop *loop, struct loop_timer *timer);

struct loop_io {
    int fd;
    int events;          /* what is watched now; 0 = not registered */
    loop_io_fn *fn;
    void *data;          /* the caller's */
};

struct loop_timer {
    int64_t due_us;      /* set by loop_timer_start */
    uint64_t seq;        /* start order: ties fire first-started first */
    size_t slot;         /* index in the heap + 1; 0 = not running */
    loop_timer_fn *fn;
    void *data;          /* the caller's */
};

/* Monotonic time in microseconds. */
int64_t loop_now_us(void);

/* Returns a new loop, or NULL with errno set. */
struct loop *loop_new(void);

/* Frees the loop. Watchers and timers still registered are forgotten, not
 * called or touched (their owners may already be gone). */
void loop_free(struct loop *loop);

/* Watches io->fd for events (LOOP_READ|LOOP_WRITE); 0 stops watching.
 * io->fd, io->fn and io->data must be set. Returns 0, or -1 with errno. */
int loop_io_watch(struct loop *loop, struct loop_io *io, int events);

/* Starts (or restarts) timer to fire after delay_us (<= 0: on the next
 * iteration, after the timers already due). timer->fn must be set. */
void loop_timer_start(struct loop *loop, struct loop_timer *timer, int64_t delay_us);

/* Stops timer if it is running; harmless otherwise. */
void loop_timer_stop(struct loop *loop, struct loop_timer *timer);

/* Nonzero when something is watched or a timer runs: a loop iteration can
 * still make progress. */
int loop_alive(const struct loop *loop);

/* Runs one iteration: waits for I/O (no longer than the next timer; not at
 * all when nothing is alive), dispatches it, then fires the timers that are
 * due. Returns 0, or -1 when nothing is alive (it would wait forever). */
int loop_run_once(struct loop *loop);

#endif
