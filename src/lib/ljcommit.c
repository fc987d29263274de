/* ljcommit.c -- the Lua module `qxt.journal.committer`: runs the journal's
 * write transactions, and the fsync that ends each, on a thread of its own.
 *
 * An fsync takes ~0.5-4 ms. Done on the loop's thread it stops every task
 * for that long, hundreds of times a second; here the loop goes on (answers
 * come in, rows are cleaned, other queries are sent) while the disk works,
 * and only the task that waits for the commit waits. What is durable and
 * when a row is released do not change: the waiting task is resumed only
 * once COMMIT has returned.
 *
 *   local c = committer.new(db)       -- db from qxt.sqlite.core.open
 *   local ok, err = c:commit(ops)     -- from a task (yields) or the main chunk
 *   c:close()                         -- joins the thread; also on collection
 *
 * ops is an array of operations { stmt, arg1, ..., argk, n = k + 1 }: the
 * statements (from db:prepare) run in order inside one BEGIN ... COMMIT;
 * args are integers, numbers, strings, booleans (1/0) or nil. On any failure
 * the transaction is rolled back and commit returns nil, "journal PATH: ...".
 * One commit at a time: a second while one runs is a programming mistake.
 *
 * The connection is opened in SQLite's serialized mode (lsqlite.c), so a
 * lookup on the loop's thread during a commit waits for SQLite's mutex
 * rather than racing the committer.
 *
 * The waiting is lawait.h's protocol; the thread's answer reaches the loop
 * through an eventfd, so only the loop's thread touches Lua and the engine. */
#include "lawait.h"
#include "lsqlite.h"
#include "loop.h"

#include <errno.h>
#include <lauxlib.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define COMMITTER_MT "qxt.journal.committer"

struct value {
    int type;                    /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL */
    sqlite3_int64 i;
    double d;
    char *s;                     /* our own copy */
    size_t len;
};

struct op {
    sqlite3_stmt *stmt;
    int nvalues;
    struct value *values;
};

struct committer {
    struct lawait w;             /* the commit's caller, while waiting */
    struct loop *loop;
    sqlite3 *db;
    char path[512];              /* for messages */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* the thread waits here for a job or a stop */
    pthread_cond_t done_cv;      /* close waits here for a running job */
    int started, stopping;
    /* the job: set by the loop's thread, run by the committer's */
    struct op *ops;
    int nops;
    int submitted;               /* a job waits for the thread or runs */
    int finished;                /* the thread is done with it (under mu) */
    char *error;                 /* malloc'd message, or NULL: committed */
    /* completion: the thread writes efd; the loop reads it */
    int efd;
    struct loop_io io;
    int waiting;                 /* w waits for the job's outcome */
};

static void free_ops(struct committer *c)
{
    for (int i = 0; i < c->nops; i++) {
        for (int j = 0; j < c->ops[i].nvalues; j++)
            free(c->ops[i].values[j].s);
        free(c->ops[i].values);
    }
    free(c->ops);
    c->ops = NULL;
    c->nops = 0;
}

static char *message(struct committer *c, const char *what)
{
    const char *why = sqlite3_errmsg(c->db);
    size_t n = strlen(c->path) + strlen(what) + strlen(why) + 16;
    char *m = malloc(n);
    if (m)
        snprintf(m, n, "journal %s: %s: %s", c->path, what, why);
    return m;
}

static int bind(sqlite3_stmt *st, int i, const struct value *v)
{
    switch (v->type) {
    case SQLITE_INTEGER: return sqlite3_bind_int64(st, i, v->i);
    case SQLITE_FLOAT:   return sqlite3_bind_double(st, i, v->d);
    case SQLITE_TEXT:    return sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC);
    default:             return sqlite3_bind_null(st, i);
    }
}

/* The transaction, on the committer's thread. Returns NULL or a message. */
static char *run_job(struct committer *c)
{
    char *err = NULL;

    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return message(c, "BEGIN");
    for (int i = 0; i < c->nops && !err; i++) {
        struct op *op = &c->ops[i];
        int rc = SQLITE_OK;
        sqlite3_reset(op->stmt);
        sqlite3_clear_bindings(op->stmt);
        for (int j = 0; j < op->nvalues && rc == SQLITE_OK; j++)
            rc = bind(op->stmt, j + 1, &op->values[j]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(op->stmt);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            err = message(c, sqlite3_sql(op->stmt));
        sqlite3_reset(op->stmt);
    }
    /* COMMIT is the fsync of the WAL: from here on the batch is durable. */
    if (!err && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        err = message(c, "COMMIT");
    if (err && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stopping && !(c->submitted && !c->finished))
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->mu);
        char *err = run_job(c);
        pthread_mutex_lock(&c->mu);
        c->error = err;
        c->finished = 1;
        pthread_cond_signal(&c->done_cv);
        /* A failed write leaves the job finished: the loop reads it on its
         * next turn either way (an eventfd write cannot fail here but for
         * an overflow that needs 2^64 - 1 writes). */
        while (write(c->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The loop's side: the job is finished; hand its outcome to the waiter. */
static void on_done(struct loop *loop, struct loop_io *io, int events)
{
    struct committer *c = io->data;
    uint64_t n;
    char *err;
    (void)loop;
    (void)events;

    if (read(c->efd, &n, sizeof n) < 0 && errno == EAGAIN)
        return;
    pthread_mutex_lock(&c->mu);
    if (!c->finished) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    err = c->error;
    c->error = NULL;
    c->submitted = c->finished = 0;
    pthread_mutex_unlock(&c->mu);
    free_ops(c);
    loop_io_watch(c->loop, &c->io, 0);
    if (!c->waiting) {           /* cancelled: nobody takes it */
        free(err);
        return;
    }
    c->waiting = 0;
    lua_State *T = lawait_thread(&c->w, 2);
    if (!T) {
        free(err);
        lawait_complete(&c->w, 0);
        return;
    }
    if (err) {
        lua_pushnil(T);
        lua_pushstring(T, err);
    } else {
        lua_pushboolean(T, 1);
        lua_pushnil(T);
    }
    free(err);
    lawait_complete(&c->w, 2);
}

/* Called by the engine when nobody waits for the commit any more (the
 * engine is freed): the thread still finishes it, and its outcome is
 * dropped (on_done, or close). */
static void cancel_commit(struct lawait *w)
{
    struct committer *c = (struct committer *)w;

    c->waiting = 0;
}

static struct committer *check_committer(lua_State *L, int i)
{
    struct committer *c = luaL_checkudata(L, i, COMMITTER_MT);
    if (!c->started)
        luaL_error(L, "journal committer used after close");
    return c;
}

/* Copies op i (a table on the stack at index t) into c->ops[i]. */
static void copy_op(lua_State *L, struct committer *c, int t, int i)
{
    struct op *op = &c->ops[i];
    lua_Integer n;

    if (lua_rawgeti(L, t, 1) == LUA_TNIL)
        luaL_error(L, "journal commit: operation %d has no statement", i + 1);
    op->stmt = lsqlite_stmt(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, t, "n");
    n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (n < 1 || n > 64)
        luaL_error(L, "journal commit: operation %d needs n (1 + its arguments)", i + 1);
    op->nvalues = (int)n - 1;
    op->values = calloc((size_t)op->nvalues + 1, sizeof *op->values);
    if (!op->values)
        luaL_error(L, "journal commit: out of memory");
    for (int j = 0; j < op->nvalues; j++) {
        struct value *v = &op->values[j];
        switch (lua_rawgeti(L, t, j + 2)) {
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1)) {
                v->type = SQLITE_INTEGER;
                v->i = lua_tointeger(L, -1);
            } else {
                v->type = SQLITE_FLOAT;
                v->d = lua_tonumber(L, -1);
            }
            break;
        case LUA_TBOOLEAN:
            v->type = SQLITE_INTEGER;
            v->i = lua_toboolean(L, -1);
            break;
        case LUA_TSTRING: {
            const char *s = lua_tolstring(L, -1, &v->len);
            v->s = malloc(v->len + 1);
            if (!v->s)
                luaL_error(L, "journal commit: out of memory");
            memcpy(v->s, s, v->len + 1);
            v->type = SQLITE_TEXT;
            break;
        }
        case LUA_TNIL:
            v->type = SQLITE_NULL;
            break;
        default:
            luaL_error(L, "journal commit: operation %d, argument %d: a %s cannot be stored",
                       i + 1, j + 1, luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
}

/* c:commit(ops) -> true | nil, message */
static int committer_commit(lua_State *L)
{
    struct committer *c = check_committer(L, 1);
    lua_Integer n;

    luaL_checktype(L, 2, LUA_TTABLE);
    if (c->submitted)
        return luaL_error(L, "journal commit: the previous commit is still running");
    lawait_begin(L, &c->w, "journal commit", cancel_commit);
    free_ops(c);                     /* what a failed copy left */
    n = luaL_len(L, 2);
    if (n < 0 || n > 10000000)
        return luaL_error(L, "journal commit: bad number of operations");
    c->ops = calloc((size_t)n + 1, sizeof *c->ops);
    if (!c->ops)
        return luaL_error(L, "journal commit: out of memory");
    c->nops = (int)n;
    for (int i = 0; i < c->nops; i++) {
        lua_rawgeti(L, 2, i + 1);
        if (!lua_istable(L, -1)) {
            free_ops(c);
            return luaL_error(L, "journal commit: operation %d is not a table", i + 1);
        }
        copy_op(L, c, lua_gettop(L), i);   /* raises: the next commit or close frees the ops */
        lua_pop(L, 1);
    }
    if (loop_io_watch(c->loop, &c->io, LOOP_READ) != 0) {
        free_ops(c);
        return luaL_error(L, "journal commit: cannot watch the committer: %s", strerror(errno));
    }
    pthread_mutex_lock(&c->mu);
    c->submitted = 1;
    c->finished = 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    c->waiting = 1;
    return lawait_yield(L, &c->w);   /* true | nil, message, from on_done */
}

/* c:close(): waits for a commit that runs, then joins the thread. */
static int committer_close(lua_State *L)
{
    struct committer *c = luaL_checkudata(L, 1, COMMITTER_MT);

    if (!c->started)
        return 0;
    pthread_mutex_lock(&c->mu);
    /* Only at exit with a commit still running (its waiter cancelled):
     * let it end, so the database is not closed under it. */
    while (c->submitted && !c->finished)
        pthread_cond_wait(&c->done_cv, &c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    c->started = 0;
    if (c->io.events)
        loop_io_watch(c->loop, &c->io, 0);
    close(c->efd);
    free_ops(c);
    free(c->error);
    c->error = NULL;
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->done_cv);
    pthread_mutex_destroy(&c->mu);
    return 0;
}

/* committer.new(db) -> c; the db must outlive c (journal.lua closes c first). */
static int committer_new(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    sqlite3 *db = lsqlite_db(L, 1);
    struct committer *c;

    if (!sqlite3_threadsafe())
        return luaL_error(L, "journal committer: this SQLite is built without threads");
    c = lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    c->loop = lawait_loop(e);
    c->db = db;
    snprintf(c->path, sizeof c->path, "%s", sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "?");
    c->efd = -1;
    luaL_setmetatable(L, COMMITTER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);     /* keeps the db alive as long as c */
    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->efd < 0)
        return luaL_error(L, "journal committer: eventfd: %s", strerror(errno));
    c->io.fd = c->efd;
    c->io.fn = on_done;
    c->io.data = c;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->done_cv, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        close(c->efd);
        return luaL_error(L, "journal committer: cannot start a thread");
    }
    c->started = 1;
    return 1;
}

static const luaL_Reg committer_methods[] = {
    { "commit", committer_commit },
    { "close", committer_close },
    { NULL, NULL }
};

int luaopen_qxt_journal_committer(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    luaL_newmetatable(L, COMMITTER_MT);
    lua_newtable(L);
    for (const luaL_Reg *r = committer_methods; r->name; r++) {
        lua_pushlightuserdata(L, e);
        lua_pushcclosure(L, r->func, 1);
        lua_setfield(L, -2, r->name);
    }
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, e);
    lua_pushcclosure(L, committer_close, 1);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, e);
    lua_pushcclosure(L, committer_new, 1);
    lua_setfield(L, -2, "new");
    return 1;
}
