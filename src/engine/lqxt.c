/* lqxt.c -- the Lua module `qxt.core`: the engine's primitives. The
 * friendlier `qxt` module (lua/qxt/init.lua) builds on it. */
#include "lqxt.h"
#include "http.h"
#include "loop.h"

#include <errno.h>
#include <lauxlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codes.h"
#include "exits.h"

/* qxt.now() -> seconds on a monotonic clock (for intervals only). */
static int core_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)loop_now_us() / 1e6);
    return 1;
}

/* qxt.config() -> the engine's configuration, without the apikey itself. */
static int core_config(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    lua_createtable(L, 0, 6);
    lua_pushstring(L, e->cfg.endpoint);
    lua_setfield(L, -2, "endpoint");
    lua_pushboolean(L, e->cfg.apikey != NULL);
    lua_setfield(L, -2, "has_apikey");
    lua_pushnumber(L, e->cfg.timeout_ms / 1000.0);
    lua_setfield(L, -2, "timeout");
    lua_pushnumber(L, e->cfg.connect_timeout_ms / 1000.0);
    lua_setfield(L, -2, "connect_timeout");
    lua_pushinteger(L, e->cfg.max_connections);
    lua_setfield(L, -2, "max_connections");
    lua_pushboolean(L, e->cfg.debug);
    lua_setfield(L, -2, "debug");
    return 1;
}

/* qxt.stats() -> { tasks = live tasks, requests = HTTP requests in flight,
 * connections = connections opened so far } */
static int core_stats(lua_State *L)
{
    struct engine *e = lqxt_engine(L);

    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)e->live_tasks);
    lua_setfield(L, -2, "tasks");
    lua_pushinteger(L, e->http ? (lua_Integer)e->http_api->running(e->http) : 0);
    lua_setfield(L, -2, "requests");
    lua_pushinteger(L, e->http ? e->http_api->connects(e->http) : 0);
    lua_setfield(L, -2, "connections");
    return 1;
}

/* qxt.exit_status(n): the process exits with n once every task has ended. */
static int core_exit_status(lua_State *L)
{
    struct engine *e = lqxt_engine(L);
    lua_Integer n = luaL_checkinteger(L, 1);

    luaL_argcheck(L, n >= 0 && n <= 125, 1, "exit status must be between 0 and 125");
    e->exit_status = (int)n;
    return 0;
}

/* qxt.core.code_info(code) -> class, meaning, provider reason (or nil),
 * charged (boolean: the provider bills an answer with this code) */
static int core_code_info(lua_State *L)
{
    lua_Integer code = luaL_checkinteger(L, 1);

    lua_pushstring(L, qxt_class_name(qxt_code_class((long)code)));
    lua_pushstring(L, qxt_code_meaning((long)code));
    lua_pushstring(L, qxt_code_reason((long)code));
    lua_pushboolean(L, qxt_code_charged((long)code));
    return 4;
}

/* qxt.core.classes() -> { [class name] = final (boolean) }, { [class name] =
 * { final =, answer =, outcome = } }: every class a result can have; final:
 * no retry policy may ask again after it; answer: the journal keeps it;
 * outcome: its default sink without a verdict (codes.h). */
static int core_classes(lua_State *L)
{
    lua_createtable(L, 0, QXT_CLASS_COUNT);
    lua_createtable(L, 0, QXT_CLASS_COUNT);          /* finals, infos */
    for (int c = 0; c < QXT_CLASS_COUNT; c++) {
        const char *name = qxt_class_name((qxt_class)c);
        lua_pushboolean(L, qxt_class_final((qxt_class)c));
        lua_setfield(L, -3, name);
        lua_createtable(L, 0, 3);                    /* finals, infos, info */
        lua_pushboolean(L, qxt_class_final((qxt_class)c));
        lua_setfield(L, -2, "final");
        lua_pushboolean(L, qxt_class_answer((qxt_class)c));
        lua_setfield(L, -2, "answer");
        lua_pushstring(L, qxt_class_outcome((qxt_class)c));
        lua_setfield(L, -2, "outcome");
        lua_setfield(L, -2, name);
    }
    return 2;
}

/* qxt.core.verdict(status, area) -> consistent (boolean or nil), province
 * (or nil), city (or nil): the decoder's rule (qxt_verdict_of), for
 * answers read back from a journal. */
static int core_verdict(lua_State *L)
{
    size_t area_len = 0;
    const char *status = luaL_optstring(L, 1, NULL);
    const char *area = luaL_optlstring(L, 2, NULL, &area_len);
    struct qxt_verdict v;

    qxt_verdict_of(status, area, area_len, &v);
    if (v.consistent >= 0)
        lua_pushboolean(L, v.consistent);
    else
        lua_pushnil(L);
    if (v.province_len > 0)
        lua_pushlstring(L, v.province, v.province_len);
    else
        lua_pushnil(L);
    if (v.city_len > 0)
        lua_pushlstring(L, v.city, v.city_len);
    else
        lua_pushnil(L);
    return 3;
}

/* qxt.core.exits() -> { {status =, name =, meaning =}, ... }: the exit
 * statuses of qxtv (exits.c), in increasing status; qxt.exit names them. */
static int core_exits(lua_State *L)
{
    const struct qxt_exit *x;

    lua_newtable(L);
    for (size_t i = 0; (x = qxt_exit_at(i)) != NULL; i++) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, x->status);
        lua_setfield(L, -2, "status");
        lua_pushstring(L, x->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, x->meaning);
        lua_setfield(L, -2, "meaning");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* qxt.isatty(fd) -> whether fd (0, 1, 2) is a terminal: progress display
 * redraws a line for people, prints plain lines for logs. */
static int core_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* qxt.mkdir(path) -> true | nil, message: creates path and its parents
 * (mode 0700: outputs hold personal data), like mkdir -p. */
static int core_mkdir(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, len + 1);

    memcpy(p, path, len + 1);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                lua_pushnil(L);
                lua_pushfstring(L, "cannot create directory %s: %s", p, strerror(errno));
                return 2;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* qxt.termwidth(fd) -> columns of the terminal on fd, or nil */
static int core_termwidth(lua_State *L)
{
    struct winsize ws;

    if (ioctl((int)luaL_checkinteger(L, 1), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        lua_pushinteger(L, ws.ws_col);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg core_funcs[] = {
    { "termwidth", core_termwidth },
    { "mkdir", core_mkdir },
    { "code_info", core_code_info },
    { "classes", core_classes },
    { "verdict", core_verdict },
    { "exits", core_exits },
    { "isatty", core_isatty },
    { "verify", lverify_verify },
    { "spawn", ltask_spawn },
    { "wait", ltask_wait },
    { "sleep", ltask_sleep },
    { "now", core_now },
    { "config", core_config },
    { "stats", core_stats },
    { "exit_status", core_exit_status },
    { NULL, NULL }
};

/* Opened with the engine as upvalue 1 (see lengine.c). */
int luaopen_qxt_core(lua_State *L)
{
    luaL_newlibtable(L, core_funcs);
    lua_pushvalue(L, lua_upvalueindex(1));
    luaL_setfuncs(L, core_funcs, 1);
    lua_pushstring(L, QXTV_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
