/* lengine.c -- the host: creates the Lua state, the loop and the transport,
 * runs a script's main chunk under lua_pcall (as lua.c does), then runs the
 * loop until every task has ended. */
#include "lqxt.h"
#include "lcsv.h"
#include "linput.h"
#include "edit.h"
#include "http.h"
#include "lfile.h"
#include "lsandbox.h"
#include "loop.h"
#include "module.h"

#include <lauxlib.h>
#include <locale.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int luaopen_qxt_core(lua_State *L);
int luaopen_qxt_iconv(lua_State *L);
int luaopen_qxt_signal(lua_State *L);

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Message handler for the main chunk: adds a traceback only for --debug,
 * since people reading the error want the script's line, not our frames. */
static int msghandler(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    const char *msg = lua_tostring(L, 1);

    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (e->cfg.debug)
        luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below the nargs arguments at the top; reports an
 * error. Leaves nothing on the stack for an error, nres results otherwise. */
static int docall(struct engine *e, int nargs, int nres)
{
    lua_State *L = e->L;
    int base = lua_gettop(L) - nargs;
    int status;

    lua_pushlightuserdata(L, e);
    lua_pushcclosure(L, msghandler, 1);
    lua_insert(L, base);
    status = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    if (status == LUA_ERRMEM && e->cfg.memory_limit) {
        char msg[80];      /* no Lua allocation: the state is at its cap */
        snprintf(msg, sizeof msg, "not enough memory (--memory-limit %zu MB)", e->cfg.memory_limit >> 20);
        lqxt_report(e, msg);
        lua_pop(L, 1);
    } else if (status != LUA_OK) {
        lqxt_report(e, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

static void preload(lua_State *L, const char *name, lua_CFunction open, struct engine *e)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    if (e) {
        lua_pushlightuserdata(L, e);
        lua_pushcclosure(L, open, 1);
    } else {
        lua_pushcfunction(L, open);
    }
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* require(name) of a Lua module that lives in one of the engine's own
 * shared modules (module.h): loaded then, not at start. Upvalues: the
 * engine, the file, the symbol; the opener gets the engine as its upvalue. */
static int open_from_module(lua_State *L)
{
    char err[512];
    lua_CFunction open = (lua_CFunction)module_symbol(lua_tostring(L, lua_upvalueindex(2)),
                                                      lua_tostring(L, lua_upvalueindex(3)),
                                                      err, sizeof err);
    if (!open)
        return luaL_error(L, "%s", err);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, open, 1);
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static void preload_module(lua_State *L, const char *name, const char *file, const char *symbol,
                           struct engine *e)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushlightuserdata(L, e);
    lua_pushstring(L, file);
    lua_pushstring(L, symbol);
    lua_pushcclosure(L, open_from_module, 3);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

/* Puts the engine's Lua library first on package.path. */
static void set_path(lua_State *L, const char *dir)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

/* Globals every script sees: qxt (the library) and verify. */
static int open_globals(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "qxt");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "qxt");
    lua_getfield(L, -1, "verify");
    lua_setglobal(L, "verify");
    return 0;
}

struct http *lqxt_http(struct engine *e, char *err, size_t errlen)
{
    struct http_options ho;

    if (e->http)
        return e->http;
    if (!e->http_api && !(e->http_api = module_symbol("qxtv-http.so", HTTP_API_SYMBOL, err, errlen)))
        return NULL;
    ho.timeout_ms = e->cfg.timeout_ms;
    ho.connect_timeout_ms = e->cfg.connect_timeout_ms;
    ho.cafile = e->cfg.cafile;
    ho.max_body = 1 << 20;      /* answers are ~200 bytes; 1 MiB is plenty */
    ho.max_connections = e->cfg.max_connections;
    e->http = e->http_api->create(e->loop, &ho, err, errlen);
    return e->http;
}

struct engine *engine_new(const struct qxt_config *cfg, char *err, size_t errlen)
{
    struct engine *e = calloc(1, sizeof *e);

    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    e->cfg.apikey = e->apikey = dup_or_null(cfg->apikey);
    e->cfg.endpoint = e->endpoint = dup_or_null(cfg->endpoint);
    e->cfg.cafile = e->cafile = dup_or_null(cfg->cafile);
    e->cfg.lua_dir = e->lua_dir = dup_or_null(cfg->lua_dir);
    e->exit_status = -1;

    e->loop = loop_new();
    if (!e->loop) {
        snprintf(err, errlen, "cannot create the event loop");
        goto fail;
    }

    e->L = lsandbox_newstate(cfg->memory_limit);
    if (!e->L) {
        snprintf(err, errlen, "cannot create the Lua state");
        goto fail;
    }
    luaL_openlibs(e->L);
    ltask_open(e->L);
    lresult_open(e->L);
    preload(e->L, "cjson", luaopen_cjson, NULL);
    preload(e->L, "cjson.safe", luaopen_cjson_safe, NULL);
    preload(e->L, "qxt.core", luaopen_qxt_core, e);
    preload_module(e->L, "qxt.sqlite.core", "qxtv-sqlite.so", "luaopen_qxt_sqlite_core", e);
    preload_module(e->L, "qxt.journal.committer", "qxtv-sqlite.so", "luaopen_qxt_journal_committer", e);
    preload_module(e->L, "qxt.crypto", "qxtv-crypto.so", "luaopen_qxt_crypto", e);
    preload_module(e->L, "qxt.httpd.core", "qxtv-httpd.so", "luaopen_qxt_httpd_core", e);
    preload_module(e->L, "qxt.xlsx.core", "qxtv-xlsx.so", "luaopen_qxt_xlsx_core", e);
    preload_module(e->L, "qxt.xlsx.writer", "qxtv-xlsx.so", "luaopen_qxt_xlsx_writer", e);
    preload_module(e->L, "qxt.redis.core", "qxtv-redis.so", "luaopen_qxt_redis_core", e);
    preload(e->L, "qxt.signal", luaopen_qxt_signal, NULL);
    preload(e->L, "qxt.file", luaopen_qxt_file, NULL);
    preload(e->L, "qxt.sandbox.core", luaopen_qxt_sandbox_core, NULL);
    preload(e->L, "qxt.csv.core", luaopen_qxt_csv_core, NULL);
    preload(e->L, "qxt.input.core", luaopen_qxt_input_core, NULL);
    preload(e->L, "qxt.csv.writer.core", luaopen_qxt_csv_writer_core, NULL);
#ifdef QXTV_HAVE_ICONV
    preload(e->L, "qxt.iconv", luaopen_qxt_iconv, NULL);
#endif
    set_path(e->L, e->cfg.lua_dir);
    lua_pushcfunction(e->L, open_globals);
    if (docall(e, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "cannot load the qxt library from %s", e->cfg.lua_dir);
        goto fail;
    }
    return e;
fail:
    engine_free(e);
    return NULL;
}

static void push_args(lua_State *L, const char *script, int argc, char **argv)
{
    lua_createtable(L, argc, 2);
    lua_pushstring(L, "qxtv");
    lua_rawseti(L, -2, -1);
    lua_pushstring(L, script);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
}

/* Runs the function under its argc string arguments, then every task. */
static int run_main(struct engine *e, int argc, char **argv)
{
    lua_State *L = e->L;
    int status = 0;

    luaL_checkstack(L, argc + 4, "too many arguments");
    for (int i = 0; i < argc; i++)
        lua_pushstring(L, argv[i]);
    if (docall(e, argc, 1) != LUA_OK)
        return 1;
    if (lua_isinteger(L, -1))
        status = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (ltask_run_all(e) < 0)
        return 1;
    if (e->exit_status >= 0)
        return e->exit_status;     /* the script decided, knowing its tasks */
    if (status == 0 && e->failed_tasks > 0)
        status = 1;
    return status;
}

/* Pushes a list of the NULL-terminated strings (none for NULL). */
static void push_list(lua_State *L, const char *const *list)
{
    lua_newtable(L);
    for (int i = 0; list && list[i]; i++) {
        lua_pushstring(L, list[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* The environment of a --sandbox script (upvalue: the engine):
 * require("qxt.sandbox").script_env{ allow_read =, allow_write = }. */
static int sandbox_env(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "qxt.sandbox");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "script_env");
    lua_createtable(L, 0, 2);
    push_list(L, e->cfg.allow_read);
    lua_setfield(L, -2, "allow_read");
    push_list(L, e->cfg.allow_write);
    lua_setfield(L, -2, "allow_write");
    lua_call(L, 1, 1);
    return 1;
}

int engine_run_file(struct engine *e, const char *path, int argc, char **argv)
{
    push_args(e->L, path, argc, argv);
    if (luaL_loadfilex(e->L, path, e->cfg.sandbox ? "t" : NULL) != LUA_OK) {
        lqxt_report(e, lua_tostring(e->L, -1));
        lua_pop(e->L, 1);
        return 1;
    }
    if (e->cfg.sandbox) {
        lua_pushlightuserdata(e->L, e);
        lua_pushcclosure(e->L, sandbox_env, 1);
        if (docall(e, 0, 1) != LUA_OK) {
            lua_pop(e->L, 1);
            return 1;
        }
        if (!lua_setupvalue(e->L, -2, 1))   /* the chunk's _ENV */
            lua_pop(e->L, 1);
    }
    return run_main(e, argc, argv);
}

int engine_run_string(struct engine *e, const char *code, int argc, char **argv)
{
    push_args(e->L, "-e", argc, argv);
    if (luaL_loadbuffer(e->L, code, strlen(code), "=(command line)") != LUA_OK) {
        lqxt_report(e, lua_tostring(e->L, -1));
        lua_pop(e->L, 1);
        return 1;
    }
    return run_main(e, argc, argv);
}

static int require_module(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_insert(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

int engine_run_module(struct engine *e, const char *module, int argc, char **argv)
{
    lua_State *L = e->L;

    push_args(L, module, argc, argv);
    lua_pushcfunction(L, require_module);
    lua_pushstring(L, module);
    if (docall(e, 1, 1) != LUA_OK)
        return 1;
    return run_main(e, argc, argv);
}

/* Loads one REPL entry: as an expression first (so `verify(...)` prints
 * its result), else as statements. Returns LUA_OK, LUA_ERRSYNTAX with the
 * message pushed, or -1 when the chunk is incomplete (read more lines). */
static int load_entry(lua_State *L, const char *code)
{
    const char *ret = lua_pushfstring(L, "return %s;", code);
    int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");

    lua_remove(L, -2);
    if (status == LUA_OK)
        return LUA_OK;
    lua_pop(L, 1);
    status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
    if (status == LUA_ERRSYNTAX) {
        size_t len;
        const char *msg = lua_tolstring(L, -1, &len);
        if (len >= 5 && strcmp(msg + len - 5, "<eof>") == 0) {
            lua_pop(L, 1);
            return -1;
        }
    }
    return status;
}

int engine_repl(struct engine *e)
{
    lua_State *L = e->L;
    luaL_Buffer entry;
    char *line, err[512];
    int more = 0;
    const struct edit_api *edit = module_symbol("qxtv-edit.so", "qxt_edit_api", err, sizeof err);

    if (!edit) {
        lqxt_report(e, err);
        return 1;
    }

    /* Line editing must know that 张三 is two characters of UTF-8; only the
     * character type changes, so Lua's number formatting stays as it is. */
    const char *loc = setlocale(LC_CTYPE, "");
    if (!loc || strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0)
        setlocale(LC_CTYPE, "C.UTF-8");
    /* No history file: lines typed here hold mobiles and names. */
    printf("qxtv %s: verify(mobile, name), qxt.* and the flow library are loaded. Ctrl-D quits.\n",
           QXTV_VERSION);
    push_args(L, "repl", 0, NULL);
    while ((line = edit->readline(more ? ">> " : "qxt> ")) != NULL) {
        int status, base;
        if (*line)
            edit->add_history(line);
        if (!more)
            luaL_buffinit(L, &entry);
        else
            luaL_addchar(&entry, '\n');
        luaL_addstring(&entry, line);
        free(line);
        luaL_pushresult(&entry);                     /* the entry so far */
        status = load_entry(L, lua_tostring(L, -1));
        if (status == -1) {                          /* incomplete: keep reading */
            const char *sofar = lua_tostring(L, -1);
            luaL_buffinit(L, &entry);
            luaL_addstring(&entry, sofar);
            lua_remove(L, -2);
            more = 1;
            continue;
        }
        more = 0;
        lua_remove(L, -2);                           /* the entry text */
        if (status != LUA_OK) {
            lqxt_report(e, lua_tostring(L, -1));
            lua_pop(L, 1);
            continue;
        }
        base = lua_gettop(L);
        if (docall(e, 0, LUA_MULTRET) != LUA_OK)
            continue;
        if (lua_gettop(L) >= base) {
            int n = lua_gettop(L) - base + 1;
            lua_getglobal(L, "require");
            lua_pushliteral(L, "qxt.cli.repl");
            lua_call(L, 1, 1);
            lua_getfield(L, -1, "show");
            lua_remove(L, -2);
            lua_insert(L, base);
            docall(e, n, 0);
        }
        lua_settop(L, 0);
        ltask_run_all(e);                            /* what the line spawned */
    }
    printf("\n");
    return 0;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    /* Tasks first, while what they wait on still exists: each one's wait
     * is cancelled and its <close> variables run. Then the requests: their
     * completions point into Lua stacks. */
    if (e->L)
        ltask_close_all(e);
    if (e->http)
        e->http_api->destroy(e->http);
    if (e->L)
        lsandbox_close(e->L);
    loop_free(e->loop);
    if (e->apikey)
        explicit_bzero(e->apikey, strlen(e->apikey));
    free(e->apikey);
    free(e->endpoint);
    free(e->cafile);
    free(e->lua_dir);
    free(e);
}
