/* redisconn.h -- one Redis connection that keeps itself up inside the
 * engine's loop: hiredis' async context on a loop_io (its event adapter),
 * the handshake (AUTH, SELECT, then a PING that marks it up), a deadline
 * for connecting, and a back-off between attempts (50 ms doubling to 1 s).
 * No Lua here: lredis.c is its binding, and owns the calls.
 *
 * The caller owns struct rconn (lredis.c: a userdata), sets loop, host and
 * port or path, db, password (or NULL) and connect_timeout_us, then calls
 * rconn_start; it queues commands on ac while state is UP (or CONNECTING
 * before any attempt ended: they follow the handshake), and counts owed
 * and progress_us itself. Strings are the caller's (malloc'd). */
#ifndef QXT_REDISCONN_H
#define QXT_REDISCONN_H

#include "loop.h"

#include <hiredis/async.h>
#include <stddef.h>
#include <stdint.h>

enum rconn_state { RCONN_CONNECTING, RCONN_UP, RCONN_DOWN, RCONN_CLOSED };

struct rconn {
    struct loop *loop;
    redisAsyncContext *ac;     /* NULL: not connected */
    struct loop_io io;         /* ac's socket */
    struct loop_timer retry;   /* connecting: its deadline; down: the next attempt */
    char *host, *path, *password;
    int port, db;
    int64_t timeout_us, connect_timeout_us, stall_us, backoff_us;
    enum rconn_state state;
    int ever_tried;            /* a connect attempt has ended (either way) */
    size_t owed;               /* calls whose reply hiredis owes */
    int64_t progress_us;       /* the last reply, or when owed went from 0 */
    char why[160];             /* the last failure */
    long long calls, timeouts, downs;  /* counted by the binding */
    long long connects, failures;
};

/* Starts the first attempt (fields set as above). */
void rconn_start(struct rconn *c);

/* Reads what the socket holds now, as the loop would on a read event:
 * replies that came while the loop was busy (their callbacks run). Harmless
 * when not connected or nothing came. Not inside a hiredis callback. */
void rconn_read_now(struct rconn *c);

/* Drops the connection now, saying why (a static or copied string): the
 * reply callback of every command hiredis owes runs with a NULL reply, and
 * the next attempt follows after the back-off. Harmless when not connected.
 * Safe inside a hiredis callback (hiredis frees the context on return). */
void rconn_drop(struct rconn *c, const char *why);

/* Closed for good: dropped, no more attempts. Not inside a hiredis callback. */
void rconn_close(struct rconn *c);

#endif
