/* lawait.h -- how Lua waits on C: the one blocking-call protocol.
 *
 * A binding function (verify, qxt.sleep, the journal commit; later a server
 * handler or a Redis call) starts an operation whose outcome comes later,
 * from an event-loop callback, and makes its Lua caller wait for it:
 *
 *   struct op { struct lawait w; ... };            -- the caller's own state
 *
 *   static int l_call(lua_State *L) {              -- the binding function
 *       struct op *op = lua_newuserdatauv(L, sizeof *op, 0);   -- lives on L's stack
 *       lawait_begin(L, &op->w, "call()", cancel_op);          -- raises if L cannot wait
 *       ... start the operation, with op as its callback data ...
 *       return lawait_yield(L, &op->w);            -- must be returned at once
 *   }
 *   static void on_op_done(...) {                  -- the loop calls it, on the loop's thread
 *       lua_State *T = lawait_thread(&op->w, 2);   -- push the results there
 *       ... push 2 values onto T ...
 *       lawait_complete(&op->w, 2);                -- op may be gone after this
 *   }
 *   static void cancel_op(struct lawait *w) {      -- the wait was abandoned
 *       ... stop the operation: on_op_done must never run for it ...
 *   }
 *
 * Where L is a task, lawait_yield suspends it and the results become the
 * values the blocking call returns when the completion resumes it. Where L
 * is the main chunk (or a plain coroutine of it), lawait_yield drives the
 * loop itself until the completion, then returns the results.
 *
 * Ownership: the struct lawait is the caller's, embedded in state that
 * lives until the completion or the cancel (a userdata on L's stack does:
 * the stack is kept while the task is suspended or the loop driven).
 * Between lawait_yield and the completion the engine counts the operation
 * as in flight (so the loop keeps running and no deadlock is reported).
 *
 * Exactly one of lawait_complete and the cancel hook happens per wait:
 *  - lawait_complete, from a loop callback on the loop's thread. An
 *    operation finished on another thread (the journal committer) wakes
 *    the loop (an eventfd watched by it) and completes from that callback;
 *    the engine is never touched from another thread.
 *  - cancel, called by the engine when nobody can take the outcome any
 *    more: the main chunk's wait can never end (deadlock: the call then
 *    raises "what: reason"), or the task is closed while it waits (the
 *    engine is freed with it still waiting). The hook must make sure the
 *    completion never comes (stop the timer, cancel the request, or tell
 *    the worker thread to drop the result); it must not touch Lua.
 *
 * A task that waits is closed, when the engine is freed, after its wait is
 * cancelled: its <close> variables run then, once (see ltask.c). */
#ifndef QXT_LAWAIT_H
#define QXT_LAWAIT_H

#include <lua.h>

struct engine;
struct loop;
struct task;
struct lawait;

/* Called by the engine when the wait is abandoned (see above). */
typedef void lawait_cancel_fn(struct lawait *w);

struct lawait {                  /* the fields are lawait.c's */
    struct engine *e;
    lua_State *L;                /* where the results go */
    struct task *task;           /* the task that waits; NULL: the loop is driven */
    lawait_cancel_fn *cancel;
    const char *what;            /* a static string, for messages */
    int done;                    /* driven: the results are on L */
};

/* The engine of a binding function: every engine binding, and every opener
 * of a module (module.h), gets it as its first upvalue. */
#define lqxt_engine(L) ((struct engine *)lua_touserdata((L), lua_upvalueindex(1)))

/* The engine's event loop, to start operations on (loop.h). */
struct loop *lawait_loop(struct engine *e);

/* Prepares w for a wait of the caller L (what: "verify()", for messages;
 * a static string). Raises where L cannot wait (inside a metamethod, a C
 * iterator, a coroutine that is not a task). Call it before starting the
 * operation, so a raise leaves nothing running. cancel may not be NULL. */
void lawait_begin(lua_State *L, struct lawait *w, const char *what, lawait_cancel_fn *cancel);

/* Waits for the completion; `return lawait_yield(L, w);` from the binding
 * function, once the operation runs. Returns (or resumes the task with)
 * the values the completion pushed. */
int lawait_yield(lua_State *L, struct lawait *w);

/* The thread on which the completion pushes its n results, with room for
 * them and LUA_MINSTACK more slots to build them; NULL when the room cannot be had (the memory limit): then push
 * nothing and complete with 0 results. */
lua_State *lawait_thread(struct lawait *w, int n);

/* The outcome is in: the n values on top of lawait_thread(w) are the
 * results. Resumes the task now (or ends the driven loop). w may be freed
 * by the time it returns. */
void lawait_complete(struct lawait *w, int n);

#endif
