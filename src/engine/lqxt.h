/* lqxt.h -- what the Lua binding files (l*.c) share. Private to them: the
 * loop and the transport never see a lua_State. */
#ifndef QXT_LQXT_H
#define QXT_LQXT_H

#include <lua.h>
#include <stddef.h>

#include "engine.h"
#include "lawait.h"

struct loop;
struct http;
struct http_api;
struct task;

struct engine {
    lua_State *L;
    struct loop *loop;
    struct http *http;           /* NULL until the first query (lqxt_http) */
    const struct http_api *http_api;
    struct qxt_config cfg;       /* strings below are our own copies */
    char *apikey, *endpoint, *cafile, *lua_dir;
    struct task *running;        /* task being resumed now; NULL: main chunk */
    struct task *tasks;          /* the live ones (spawned and not ended), a list */
    size_t live_tasks;           /* spawned and not ended */
    size_t pending_ops;          /* waits in flight (lawait.h), tasks ready to run */
    int failed_tasks;
    int exit_status;             /* set by qxt.exit_status(); -1: not set */
};

/* The transport, loaded and made on first use (libcurl is loaded then).
 * NULL with a reason in err. */
struct http *lqxt_http(struct engine *e, char *err, size_t errlen);

/* Prints "qxtv: " msg to stderr, the apikey masked in it (qxt_redact). */
void lqxt_report(struct engine *e, const char *msg);

/* ---- tasks (ltask.c) ---- */

/* The task whose coroutine is L, or NULL (main chunk, or a plain coroutine). */
struct task *ltask_of(lua_State *L);

/* How a blocking call must behave where L runs: returns the task to
 * suspend, or NULL when the call must drive the loop itself (the main
 * chunk). Raises a Lua error where neither is possible. For lawait.c. */
struct task *ltask_prepare_block(struct engine *e, lua_State *L, const char *what);

/* Marks t as waiting: for the completion of w (lawait.c), or, w NULL,
 * for other tasks (qxt.wait). */
void ltask_suspend(struct task *t, struct lawait *w);

/* Resumes t with the nargs values on top of t's coroutine stack. */
void ltask_resume(struct engine *e, struct task *t, int nargs);

/* Cancels w's operation and stops counting it (lawait.h's cancel): the task
 * that waited is being closed. */
void lawait_abandon(struct lawait *w);

/* Closes every task still live (engine_free, before anything they may wait
 * on goes): cancels its wait, then runs its <close> variables, once. */
void ltask_close_all(struct engine *e);

/* Runs the loop until *done becomes nonzero. Returns 0, or -1 with a reason
 * in err when it never can (nothing left that could set it). Never raises:
 * the caller cleans up what lives on its C stack, then raises. */
int lqxt_drive(struct engine *e, const int *done, char *err, size_t errlen);

/* Runs the loop until every task has ended; reports a deadlock. Returns 0 or -1. */
int ltask_run_all(struct engine *e);

/* Module functions (luaL_Reg tables, registered by lqxt.c). */
int ltask_spawn(lua_State *L);
int ltask_wait(lua_State *L);
int ltask_sleep(lua_State *L);
void ltask_open(lua_State *L);      /* creates the task metatable */

/* ---- verify (lverify.c) ---- */
int lverify_verify(lua_State *L);

/* lua-cjson's "safe" variant (decode returns nil, err instead of raising):
 * exported by Debian's liblua5.4-cjson but not declared in lua-cjson.h. */
int luaopen_cjson_safe(lua_State *L);

/* ---- results (lresult.c) ---- */

struct http_response;

/* What verify() needs to build its result table. */
struct lresult_query {
    const char *mobile, *name;   /* as sent */
    size_t mobile_len, name_len;
    const char *apikey;          /* masked out of raw and reason; may be NULL */
};

/* Prepares the decoder (a private lua-cjson instance) in L's registry. */
void lresult_open(lua_State *L);

/* Pushes verify()'s result table for resp (see docs/lua-api.md) onto L. */
void lresult_push(lua_State *L, const struct lresult_query *q, const struct http_response *resp);

#endif
