/* lawait.c -- how Lua waits on C (see lawait.h): the one place that parks
 * a task, counts its operation in flight, and resumes it; or drives the
 * loop for the main chunk. */
#include "lawait.h"
#include "lqxt.h"

#include <lauxlib.h>

struct loop *lawait_loop(struct engine *e)
{
    return e->loop;
}

void lawait_begin(lua_State *L, struct lawait *w, const char *what, lawait_cancel_fn *cancel)
{
    struct engine *e = lqxt_engine(L);

    w->e = e;
    w->L = L;
    w->task = ltask_prepare_block(e, L, what);   /* raises where L cannot wait */
    w->cancel = cancel;
    w->what = what;
    w->done = 0;
}

int lawait_yield(lua_State *L, struct lawait *w)
{
    struct engine *e = w->e;
    char err[200];
    int top;

    e->pending_ops++;
    if (w->task) {
        ltask_suspend(w->task, w);
        return lua_yield(L, 0);       /* resumed by lawait_complete with the results */
    }
    top = lua_gettop(L);
    if (lqxt_drive(e, &w->done, err, sizeof err) < 0) {
        w->cancel(w);                 /* nothing may call back into this frame */
        e->pending_ops--;
        return luaL_error(L, "%s: %s", w->what, err);
    }
    return lua_gettop(L) - top;
}

lua_State *lawait_thread(struct lawait *w, int n)
{
    return lua_checkstack(w->L, n + LUA_MINSTACK) ? w->L : NULL;
}

void lawait_complete(struct lawait *w, int n)
{
    struct engine *e = w->e;
    struct task *t = w->task;

    e->pending_ops--;
    if (t) {
        ltask_resume(e, t, n);        /* the task's own frame may free w */
        return;
    }
    w->done = 1;
}

/* Called by ltask.c when a task is closed while it waits. */
void lawait_abandon(struct lawait *w)
{
    w->cancel(w);
    w->e->pending_ops--;
}
