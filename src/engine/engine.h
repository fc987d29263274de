/* engine.h -- the host: one Lua state, one event loop, one HTTP transport,
 * and the scripts they run. This is what main.c (the CLI) calls; it does not
 * expose Lua. */
#ifndef QXT_ENGINE_H
#define QXT_ENGINE_H

#include <stddef.h>

/* Configuration, owned by the caller; copied by engine_new. */
struct qxt_config {
    const char *apikey;          /* NULL: verify() raises "no apikey" */
    const char *endpoint;        /* http:// or https:// URL */
    long timeout_ms;             /* whole request */
    long connect_timeout_ms;
    const char *cafile;          /* NULL: the system's CA bundle */
    long max_connections;        /* HTTP connections open at most */
    const char *lua_dir;         /* where lua/qxt/... lives */
    int debug;                   /* full tracebacks on errors */
    int sandbox;                 /* run: the script's chunk gets the sandbox env (text only) */
    size_t memory_limit;         /* bytes the Lua state may hold; 0 = no cap */
    const char *const *allow_read;   /* run --sandbox: paths it may read, NULL-terminated; */
    const char *const *allow_write;  /* directories it may write. NULL: none. Owned by the
                                      * caller, and must outlive the engine */
};

struct engine;

/* Returns a ready engine, or NULL with a reason in err. */
struct engine *engine_new(const struct qxt_config *cfg, char *err, size_t errlen);

/* Runs the script at path with arg = {[0]=path, argv...} (as the stand-alone
 * lua does), then runs the loop until every task has ended. Returns the
 * process exit status: 0; 1 after a script or task error; or what the
 * script asked for (qxt.exit_status, or an integer returned by the chunk). */
int engine_run_file(struct engine *e, const char *path, int argc, char **argv);

/* Same, for a chunk of code given as a string (qxtv -e). */
int engine_run_string(struct engine *e, const char *code, int argc, char **argv);

/* Same, for a library module that returns a function: require(module) is
 * called with argv as strings. Used by CLI commands written in Lua. */
int engine_run_module(struct engine *e, const char *module, int argc, char **argv);

/* The interactive loop (qxtv repl): reads Lua lines with line editing,
 * prints what they return (verify() results as tables). Returns 0 at EOF. */
int engine_repl(struct engine *e);

/* Cancels whatever still runs and frees everything. */
void engine_free(struct engine *e);

#endif
