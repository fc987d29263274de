/* redisconn.c -- one Redis connection that keeps itself up in the engine's
 * loop; see redisconn.h. */
#include "redisconn.h"

#include <hiredis/hiredis.h>
#include <stdio.h>

#define BACKOFF_MIN_US 50000
#define BACKOFF_MAX_US 1000000

static void start_connect(struct rconn *c);

/* hiredis' event adapter: one loop_io for the context's socket. */
static void ev_set(struct rconn *c, int events)
{
    loop_io_watch(c->loop, &c->io, events);
}
static void ev_add_read(void *p) { struct rconn *c = p; ev_set(c, c->io.events | LOOP_READ); }
static void ev_del_read(void *p) { struct rconn *c = p; ev_set(c, c->io.events & ~LOOP_READ); }
static void ev_add_write(void *p) { struct rconn *c = p; ev_set(c, c->io.events | LOOP_WRITE); }
static void ev_del_write(void *p) { struct rconn *c = p; ev_set(c, c->io.events & ~LOOP_WRITE); }
static void ev_cleanup(void *p) { struct rconn *c = p; ev_set(c, 0); }

/* Called by the loop when the socket is ready. */
static void on_io(struct loop *loop, struct loop_io *io, int events)
{
    struct rconn *c = io->data;
    redisAsyncContext *ac = c->ac;

    (void)loop;
    if (ac && (events & LOOP_READ))
        redisAsyncHandleRead(ac);
    if (ac && c->ac == ac && (events & LOOP_WRITE))   /* the read may have freed it */
        redisAsyncHandleWrite(ac);
}

void rconn_read_now(struct rconn *c)
{
    if (c->ac && c->state == RCONN_UP)
        redisAsyncHandleRead(c->ac);
}

/* The connection is gone (hiredis frees ac itself, or drop() does): down,
 * and the next attempt after the back-off. */
static void lost(struct rconn *c, const char *why)
{
    c->ac = NULL;
    c->ever_tried = 1;
    if (c->state == RCONN_CLOSED)
        return;
    snprintf(c->why, sizeof c->why, "%s", why);
    c->state = RCONN_DOWN;
    c->failures++;
    loop_timer_start(c->loop, &c->retry, c->backoff_us);
    c->backoff_us = c->backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US : c->backoff_us * 2;
}

/* Drops the connection now: its waiting calls get "down". */
static void drop(struct rconn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;

    if (!ac)
        return;
    lost(c, why);
    redisAsyncFree(ac);        /* cb_reply(NULL) for each owed call; cb_disconnect ignores it */
}

/* Called by hiredis when the connect ended. */
static void cb_connect(const redisAsyncContext *ac, int status)
{
    struct rconn *c = ac->data;

    if (status != REDIS_OK && c->ac == ac)
        lost(c, ac->errstr[0] ? ac->errstr : "cannot connect");   /* hiredis frees ac */
}

/* Called by hiredis when a connected context goes (EOF, error, free). */
static void cb_disconnect(const redisAsyncContext *ac, int status)
{
    struct rconn *c = ac->data;

    (void)status;
    if (c->ac == ac)
        lost(c, ac->errstr[0] ? ac->errstr : "connection closed by redis");
}

/* Called by hiredis with the reply to a handshake command (AUTH, SELECT). */
static void cb_handshake(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *c = ac->data;
    redisReply *reply = r;

    if (!reply || c->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "%s: %.*s", (const char *)priv, (int)reply->len, reply->str);
        drop(c, why);          /* safe in a callback: hiredis frees ac on return */
    }
}

/* Called by hiredis with the PING that ends the handshake: up. */
static void cb_ready(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *c = ac->data;
    redisReply *reply = r;

    (void)priv;
    if (!reply || c->ac != ac || c->state != RCONN_CONNECTING)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "PING: %.*s", (int)reply->len, reply->str);
        drop(c, why);
        return;
    }
    loop_timer_stop(c->loop, &c->retry);
    c->state = RCONN_UP;
    c->ever_tried = 1;
    c->connects++;
    c->backoff_us = BACKOFF_MIN_US;
    c->why[0] = '\0';
}

/* Called by the loop: the next attempt is due (down), or the attempt in
 * progress is over its deadline (connecting). */
static void on_retry(struct loop *loop, struct loop_timer *t)
{
    struct rconn *c = t->data;

    (void)loop;
    if (c->state == RCONN_CONNECTING)
        drop(c, "connect timed out");
    else if (c->state == RCONN_DOWN)
        start_connect(c);
}

static void start_connect(struct rconn *c)
{
    redisAsyncContext *ac = c->path ? redisAsyncConnectUnix(c->path) : redisAsyncConnect(c->host, c->port);

    c->state = RCONN_CONNECTING;
    if (!ac) {
        lost(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        lost(c, why);
        return;
    }
    c->ac = ac;
    ac->data = c;
    c->io.fd = ac->c.fd;
    c->io.events = 0;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, cb_connect);
    redisAsyncSetDisconnectCallback(ac, cb_disconnect);
    /* The handshake goes first: calls queued meanwhile follow it in order. */
    if (c->password) {
        const char *argv[2] = { "AUTH", c->password };
        redisAsyncCommandArgv(ac, cb_handshake, (void *)"AUTH", 2, argv, NULL);
    }
    if (c->db != 0) {
        char db[16];
        const char *argv[2] = { "SELECT", db };
        snprintf(db, sizeof db, "%d", c->db);
        redisAsyncCommandArgv(ac, cb_handshake, (void *)"SELECT", 2, argv, NULL);
    }
    if (c->ac == ac)           /* no failure so far */
        redisAsyncCommand(ac, cb_ready, NULL, "PING");
    if (c->ac == ac) {
        ev_add_write(c);       /* hiredis 0.14 learns of the connect on writability */
        loop_timer_start(c->loop, &c->retry, c->connect_timeout_us);
    }
}

void rconn_start(struct rconn *c)
{
    c->io.fn = on_io;
    c->io.data = c;
    c->retry.fn = on_retry;
    c->retry.data = c;
    c->backoff_us = BACKOFF_MIN_US;
    start_connect(c);
}

void rconn_drop(struct rconn *c, const char *why)
{
    drop(c, why);
}

void rconn_close(struct rconn *c)
{
    redisAsyncContext *ac = c->ac;

    c->state = RCONN_CLOSED;
    loop_timer_stop(c->loop, &c->retry);
    if (ac) {
        c->ac = NULL;
        redisAsyncFree(ac);
    }
}
