/* ltask.c -- tasks: Lua coroutines resumed by the event loop.
 *
 * A task is a full userdata (metatable "qxt.task") holding a struct task;
 * its user values are 1: the coroutine, 2: the tasks waiting for it, 3: its
 * outcome ({n=..., ...} results, or the error message). The coroutine's
 * extra space points back at the task, so a binding finds "the task I am
 * in" without a lookup. A blocking call (verify, sleep, wait) in a task
 * sets up its wait and yields; whatever completes it resumes the task with
 * the results (cf. lcorolib.c's auxresume, OpenResty's cosockets); how a
 * C function waits is lawait.h's protocol. In the main chunk the same calls
 * drive the loop until their own outcome is in.
 *
 * A task's <close> variables run once however it ends: on return (Lua does
 * it), on an error (lua_closethread, here), or when the engine is freed
 * with the task still live (ltask_close_all). */
#include "lqxt.h"
#include "loop.h"
#include "qxt.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_MT "qxt.task"

enum task_state { TASK_READY, TASK_RUNNING, TASK_WAITING, TASK_DONE, TASK_FAILED };

struct task {
    struct engine *e;
    lua_State *co;
    int anchor;                  /* registry ref keeping an unfinished task alive */
    enum task_state state;
    int nargs;                   /* values to pass on the next timer resume */
    int pending;                 /* tasks still awaited by qxt.wait */
    int timer_counted;           /* the timer counts in e->pending_ops */
    struct loop_timer timer;     /* "run me on the next turn" */
    struct lawait *await;        /* the C operation it waits for, or NULL */
    struct task *prev, *next;    /* in e->tasks while live */
};

/* lua_closethread is Lua 5.4.6's name (and signature) for lua_resetthread. */
#if LUA_VERSION_RELEASE_NUM >= 50406
#define close_thread(co, from) lua_closethread((co), (from))
#else
#define close_thread(co, from) ((void)(from), lua_resetthread(co))
#endif

enum { UV_THREAD = 1, UV_WAITERS = 2, UV_OUTCOME = 3 };

static inline struct task **extra(lua_State *co)
{
    return (struct task **)lua_getextraspace(co);
}

struct task *ltask_of(lua_State *L)
{
    return *extra(L);
}

void lqxt_report(struct engine *e, const char *msg)
{
    /* The last guard where an error leaves the process: whatever a script
     * put in it, the key does not go out in any spelling. */
    size_t len = msg ? strlen(msg) : 0;
    char *copy = malloc(len + 1);

    if (copy) {
        memcpy(copy, msg ? msg : "", len + 1);
        qxt_redact(copy, len, e->cfg.apikey);
    }
    fflush(stdout);
    fprintf(stderr, "qxtv: %s\n", copy ? copy : "(an error; no memory left to show it)");
    fflush(stderr);
    free(copy);
}

/* Called by the loop: a ready task gets its turn. */
static void on_timer(struct loop *loop, struct loop_timer *timer)
{
    struct task *t = timer->data;
    int nargs = t->nargs;

    t->timer_counted = 0;
    t->e->pending_ops--;
    t->nargs = 0;
    ltask_resume(t->e, t, nargs);
}

static void start_timer(struct task *t, int64_t delay_us, int nargs)
{
    if (!t->timer_counted) {
        t->timer_counted = 1;
        t->e->pending_ops++;
    }
    t->nargs = nargs;
    loop_timer_start(t->e->loop, &t->timer, delay_us);
}

/* Pushes the task userdata of t onto L (from its anchor). */
static void push_task(lua_State *L, struct task *t)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->anchor);
}

static void link_task(struct engine *e, struct task *t)
{
    t->prev = NULL;
    t->next = e->tasks;
    if (e->tasks)
        e->tasks->prev = t;
    e->tasks = t;
    e->live_tasks++;
}

static void unlink_task(struct engine *e, struct task *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        e->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    e->live_tasks--;
}

/* The task has ended: wake whoever waits for it and let it be collected. */
static void finish(struct engine *e, struct task *t, enum task_state state)
{
    lua_State *L = e->L;
    int ud;

    t->state = state;
    luaL_checkstack(L, 6, NULL);   /* no-op: a callback runs within LUA_MINSTACK */
    push_task(L, t);                                  /* ..., outcome, task */
    ud = lua_gettop(L);
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, ud, UV_OUTCOME);
    if (lua_getiuservalue(L, ud, UV_WAITERS) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            struct task *w;
            lua_rawgeti(L, -1, i);
            w = lua_touserdata(L, -1);
            lua_pop(L, 1);
            if (--w->pending == 0 && w->state == TASK_WAITING) {
                w->state = TASK_READY;
                start_timer(w, 0, 0);  /* resumed on the next turn, not nested */
            }
        }
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setiuservalue(L, ud, UV_WAITERS);
    *extra(t->co) = NULL;
    t->co = NULL;
    lua_pushnil(L);
    lua_setiuservalue(L, ud, UV_THREAD);              /* the coroutine can go */
    lua_pop(L, 2);
    luaL_unref(L, LUA_REGISTRYINDEX, t->anchor);
    t->anchor = LUA_NOREF;
    unlink_task(e, t);
}

/* Runs the <close> variables of t's coroutine, unwound (by an error, whose
 * object is on top of it and at index err of e->L) or suspended (err 0).
 * An error raised by a handler is reported. */
static void close_task(struct engine *e, struct task *t, int err)
{
    lua_State *L = e->L, *co = t->co;
    struct task *outer = e->running;

    luaL_checkstack(L, 3, NULL);
    err = err ? lua_absindex(L, err) : 0;
    e->running = t;                /* a blocking call in a handler is told it cannot wait */
    if (close_thread(co, L) != LUA_OK) {
        lua_xmove(co, L, 1);
        if (!err || !lua_rawequal(L, -1, err)) {
            const char *msg = luaL_tolstring(L, -1, NULL);
            lua_pushfstring(L, "error closing a task: %s", msg);
            lqxt_report(e, lua_tostring(L, -1));
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
    e->running = outer;
}

void ltask_resume(struct engine *e, struct task *t, int nargs)
{
    lua_State *L = e->L, *co = t->co;
    struct task *outer = e->running;
    int nres, status;

    e->running = t;
    t->state = TASK_RUNNING;
    t->await = NULL;
    status = lua_resume(co, L, nargs, &nres);
    e->running = outer;

    if (status == LUA_YIELD) {
        lua_pop(co, nres);
        if (t->state == TASK_RUNNING) {  /* a bare coroutine.yield(): let others run */
            t->state = TASK_READY;
            start_timer(t, 0, 0);
        }
        return;
    }
    if (status == LUA_OK) {
        int outcome;
        luaL_checkstack(L, nres + 2, "too many results");
        lua_createtable(L, nres, 1);
        outcome = lua_gettop(L);
        lua_pushinteger(L, nres);
        lua_setfield(L, outcome, "n");
        lua_xmove(co, L, nres);
        for (int i = nres; i >= 1; i--)
            lua_rawseti(L, outcome, i);
        finish(e, t, TASK_DONE);
        return;
    }
    /* An error: report it where it happened, keep every other task going. */
    luaL_checkstack(L, 5, NULL);
    lua_xmove(co, L, 1);                              /* the error */
    lua_pushvalue(L, -1);
    lua_xmove(L, co, 1);                              /* back: for the <close> handlers */
    const char *msg = luaL_tolstring(L, -1, NULL);    /* outcome: the message */
    if (e->cfg.debug) {
        luaL_traceback(L, co, msg, 0);                /* before closing unwinds co */
        lqxt_report(e, lua_tostring(L, -1));
        lua_pop(L, 1);
    } else {
        lua_pushfstring(L, "error in a task: %s", msg);
        lqxt_report(e, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    close_task(e, t, -2);
    lua_remove(L, -2);
    e->failed_tasks++;
    finish(e, t, TASK_FAILED);
}

struct task *ltask_prepare_block(struct engine *e, lua_State *L, const char *what)
{
    struct task *t = ltask_of(L);

    if (t) {
        if (!lua_isyieldable(L))
            luaL_error(L, "%s cannot wait here: it is called inside a metamethod, an iterator "
                          "or a C function (such as table.sort or string.gsub)", what);
        return t;
    }
    if (e->running)
        luaL_error(L, "%s cannot wait here: it is called from a coroutine that is not a qxt task "
                      "(start it with qxt.spawn instead)", what);
    return NULL;
}

void ltask_suspend(struct task *t, struct lawait *w)
{
    t->state = TASK_WAITING;
    t->await = w;
}

void ltask_close_all(struct engine *e)
{
    /* A handler may spawn: those are closed too (they have not run). */
    while (e->tasks) {
        struct task *t = e->tasks;
        unlink_task(e, t);
        if (t->timer_counted) {
            loop_timer_stop(e->loop, &t->timer);
            t->timer_counted = 0;
            e->pending_ops--;
        }
        if (t->await) {
            struct lawait *w = t->await;
            t->await = NULL;
            lawait_abandon(w);
        }
        t->state = TASK_FAILED;
        close_task(e, t, 0);
        *extra(t->co) = NULL;
        t->co = NULL;
    }
}

/* Runs one turn of the loop. Returns -1 with the reason in err when no turn
 * can ever make progress again: nothing is in flight or sleeping, yet the
 * caller still waits (tasks waiting for each other). */
static int turn(struct engine *e, char *err, size_t errlen)
{
    if (e->pending_ops > 0 && loop_run_once(e->loop) == 0)
        return 0;
    snprintf(err, errlen, "%zu task(s) wait for each other and can never finish (deadlock)",
             e->live_tasks);
    return -1;
}

int lqxt_drive(struct engine *e, const int *done, char *err, size_t errlen)
{
    while (!*done)
        if (turn(e, err, errlen) < 0)
            return -1;
    return 0;
}

int ltask_run_all(struct engine *e)
{
    char msg[160];

    while (e->live_tasks > 0)
        if (turn(e, msg, sizeof msg) < 0) {
            lqxt_report(e, msg);
            return -1;
        }
    return 0;
}

/* qxt.spawn(fn, ...) -> task: runs fn(...) as a task, starting on the
 * loop's next turn. */
int ltask_spawn(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    int n = lua_gettop(L);
    struct task *t;
    lua_State *co;

    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checkstack(L, n + 3, "too many arguments");
    t = lua_newuserdatauv(L, sizeof *t, 3);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, TASK_MT);
    co = lua_newthread(L);
    if (!lua_checkstack(co, n))
        return luaL_error(L, "too many arguments");
    lua_setiuservalue(L, -2, UV_THREAD);
    for (int i = 1; i <= n; i++)
        lua_pushvalue(L, i);
    lua_xmove(L, co, n);                      /* fn and its arguments */
    t->e = e;
    t->co = co;
    *extra(co) = t;
    lua_pushvalue(L, -1);
    t->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
    t->timer.fn = on_timer;
    t->timer.data = t;
    t->state = TASK_READY;
    link_task(e, t);
    start_timer(t, 0, n - 1);
    return 1;
}

static struct task *check_task(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, TASK_MT);
}

static int is_over(const struct task *t)
{
    return t->state == TASK_DONE || t->state == TASK_FAILED;
}

/* The tasks named by argument 1 (a task or an array of tasks), pushed as
 * an array at the top. */
static void targets(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TUSERDATA) {
        check_task(L, 1);
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 1);
        lua_rawseti(L, -2, 1);
        return;
    }
    luaL_argexpected(L, lua_type(L, 1) == LUA_TTABLE, 1, "task or array of tasks");
    lua_Integer n = luaL_len(L, 1);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        if (!luaL_testudata(L, -1, TASK_MT))
            luaL_error(L, "bad argument #1 to 'wait' (element %d is not a task)", (int)i);
        lua_rawseti(L, -2, i);
    }
}

/* Results of qxt.wait: for one task, its return values (nil, message when
 * it failed); for an array, an array of each task's first result (nil for
 * a failed one) with n set. */
static int collect(lua_State *L, int list)
{
    lua_Integer n = luaL_len(L, list);

    if (lua_type(L, 1) == LUA_TUSERDATA) {
        struct task *t = lua_touserdata(L, 1);
        lua_getiuservalue(L, 1, UV_OUTCOME);
        if (t->state == TASK_FAILED) {
            lua_pushnil(L);
            lua_insert(L, -2);
            return 2;
        }
        int k = lua_gettop(L);
        lua_Integer nres = (lua_getfield(L, k, "n"), lua_tointeger(L, -1));
        lua_pop(L, 1);
        luaL_checkstack(L, (int)nres, "too many results");
        for (lua_Integer i = 1; i <= nres; i++)
            lua_rawgeti(L, k, i);
        return (int)nres;
    }
    lua_createtable(L, (int)n, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        struct task *t = lua_touserdata(L, -1);
        lua_getiuservalue(L, -1, UV_OUTCOME);
        if (t->state == TASK_DONE)
            lua_rawgeti(L, -1, 1);
        else
            lua_pushnil(L);
        lua_rawseti(L, -4, i);
        lua_pop(L, 2);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    return 1;
}

static int wait_continue(lua_State *L, int status, lua_KContext list)
{
    return collect(L, (int)list);
}

/* qxt.wait(task | {tasks}): waits until they have all ended. */
int ltask_wait(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    struct task *self;
    int list, pending = 0;
    lua_Integer n;

    lua_settop(L, 1);
    targets(L);
    list = lua_gettop(L);
    n = luaL_len(L, list);
    self = ltask_prepare_block(e, L, "qxt.wait");
    if (self) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, list, i);
            struct task *t = lua_touserdata(L, -1);
            if (t == self)
                luaL_error(L, "a task cannot wait for itself");
            if (!is_over(t)) {
                if (lua_getiuservalue(L, -1, UV_WAITERS) != LUA_TTABLE) {
                    lua_pop(L, 1);
                    lua_newtable(L);
                    lua_pushvalue(L, -1);
                    lua_setiuservalue(L, -3, UV_WAITERS);
                }
                push_task(L, self);
                lua_rawseti(L, -2, luaL_len(L, -2) + 1);
                lua_pop(L, 1);
                pending++;
            }
            lua_pop(L, 1);
        }
        if (pending == 0)
            return collect(L, list);
        self->pending = pending;
        ltask_suspend(self, NULL);   /* waits for tasks, not for C */
        return lua_yieldk(L, 0, (lua_KContext)list, wait_continue);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        char err[200];
        lua_rawgeti(L, list, i);
        struct task *t = lua_touserdata(L, -1);
        lua_pop(L, 1);
        /* Polled after each loop turn: the main chunk is not a task, so
         * nobody resumes it; it simply keeps the loop going. */
        while (!is_over(t))
            if (turn(e, err, sizeof err) < 0)
                return luaL_error(L, "qxt.wait: %s", err);
    }
    return collect(L, list);
}

/* One qxt.sleep: a userdata on the sleeper's stack (lawait.h). */
struct sleep {
    struct lawait w;
    struct loop_timer timer;
};

/* Called by the loop when the sleep ends. */
static void on_wake(struct loop *loop, struct loop_timer *timer)
{
    struct sleep *sl = timer->data;

    lawait_complete(&sl->w, 0);
}

/* Called by the engine when nobody waits for the sleep any more. */
static void cancel_sleep(struct lawait *w)
{
    struct sleep *sl = (struct sleep *)w;

    loop_timer_stop(lawait_loop(w->e), &sl->timer);
}

/* qxt.sleep(seconds): suspends the caller; other tasks keep running. */
int ltask_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct sleep *sl;

    luaL_argcheck(L, s >= 0 && s <= 31 * 86400.0, 1, "seconds must be between 0 and 31 days");
    lua_settop(L, 1);
    sl = lua_newuserdatauv(L, sizeof *sl, 0);
    lawait_begin(L, &sl->w, "qxt.sleep", cancel_sleep);
    sl->timer = (struct loop_timer){ .fn = on_wake, .data = sl };
    loop_timer_start(lawait_loop(sl->w.e), &sl->timer, (int64_t)(s * 1e6));
    return lawait_yield(L, &sl->w);
}

static int task_tostring(lua_State *L)
{
    struct task *t = check_task(L, 1);
    static const char *const names[] = { "ready", "running", "waiting", "done", "failed" };
    lua_pushfstring(L, "task (%s): %p", names[t->state], (void *)t);
    return 1;
}

/* task:status() -> "ready" | "running" | "waiting" | "done" | "failed" */
static int task_status(lua_State *L)
{
    struct task *t = check_task(L, 1);
    static const char *const names[] = { "ready", "running", "waiting", "done", "failed" };
    lua_pushstring(L, names[t->state]);
    return 1;
}

static const luaL_Reg task_methods[] = {
    { "status", task_status },
    { NULL, NULL }
};

static const luaL_Reg task_meta[] = {
    { "__tostring", task_tostring },
    { "__index", NULL },
    { NULL, NULL }
};

void ltask_open(lua_State *L)
{
    *extra(L) = NULL;   /* the main thread is no task; new threads copy this */
    luaL_newmetatable(L, TASK_MT);
    luaL_setfuncs(L, task_meta, 0);
    luaL_newlib(L, task_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
