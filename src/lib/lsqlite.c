/* lsqlite.c -- the Lua module `qxt.sqlite.core`: qxtv's one SQLite
 * binding, used by the run journal (lua/qxt/journal.lua and its committer,
 * ljcommit.c), the dedupe spill (lua/qxt/step/dedupe.lua) and the SQLite source
 * and sink. Prepared statements only: values are always bound, never
 * written into SQL text; a statement is one statement (a second one after
 * it is refused, so user SQL cannot smuggle a second). Every failure
 * raises, naming the database (a journal that cannot be written must stop
 * the run; the source and sink turn the raise into their `nil, err`).
 *
 *   local db = core.open(path [, { readonly = true, label = "journal" }])
 *   db:exec("PRAGMA journal_mode=WAL")     -- fixed SQL of our own, no values
 *   local st = db:prepare("SELECT code FROM answers WHERE seq = ?")
 *   local row = st:first(17)               -- { code = 0 } or nil
 *   st:run(...) -> rows changed;  st:all(...) -> array of rows
 *   for row in st:rows(...) do ... end     -- one row at a time
 *   st:columns() -> { name, ... }
 */
#include "lsqlite.h"
#include "lfile.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_MT "qxt.sqlite.db"
#define STMT_MT "qxt.sqlite.stmt"

struct db {
    sqlite3 *h;          /* NULL once closed */
    char path[512];      /* for messages */
    char label[32];      /* what the database is, for messages ("journal") */
};

struct stmt {
    sqlite3_stmt *h;     /* NULL once finalized */
    struct db *db;       /* kept alive: the statement's uservalue is the db */
};

/* Raises "LABEL PATH: what: sqlite's message". */
static int db_fail(lua_State *L, struct db *db, const char *what)
{
    lua_pushfstring(L, "%s %s: %s: %s", db->label, db->path, what, db->h ? sqlite3_errmsg(db->h) : "closed");
    return lua_error(L);     /* no script position: the message names the file */
}

static struct db *check_db(lua_State *L, int i)
{
    struct db *db = luaL_checkudata(L, i, DB_MT);
    if (!db->h)
        luaL_error(L, "%s %s: already closed", db->label, db->path);
    return db;
}

static struct stmt *check_stmt(lua_State *L, int i)
{
    struct stmt *st = luaL_checkudata(L, i, STMT_MT);
    if (!st->h || !st->db->h)
        luaL_error(L, "sqlite: statement used after close");
    return st;
}

sqlite3 *lsqlite_db(lua_State *L, int i)
{
    return check_db(L, i)->h;
}

sqlite3_stmt *lsqlite_stmt(lua_State *L, int i)
{
    return check_stmt(L, i)->h;
}

/* core.open(path [, opts]) -> db. opts.readonly: the file must exist and
 * is never written; otherwise it is created (or narrowed) to mode 0600
 * first. opts.label names the database in messages (default "sqlite").
 * ":memory:" and "" are SQLite's own scratch databases, not files. */
static int core_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int readonly = 0, rc, flags, err;
    const char *label = "sqlite";
    struct db *db;

    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        readonly = lua_getfield(L, 2, "readonly") != LUA_TNIL && lua_toboolean(L, -1);
        if (lua_getfield(L, 2, "label") != LUA_TNIL)
            label = luaL_checkstring(L, -1);
        lua_pop(L, 2);
    }
    db = lua_newuserdatauv(L, sizeof *db, 0);
    db->h = NULL;
    snprintf(db->path, sizeof db->path, "%s", path);
    snprintf(db->label, sizeof db->label, "%s", label);
    luaL_setmetatable(L, DB_MT);
    /* Created, or narrowed, to 0600 before SQLite sees it (its -wal, -shm
     * and rollback files then get the same mode): they hold personal data. */
    if (!readonly && *path && strcmp(path, ":memory:") != 0 && (err = lfile_make_private(path, 0)) != 0)
        return luaL_error(L, "%s %s: cannot make it private (0600): %s", db->label, path, strerror(err));
    /* Serialized: the journal's committer thread (ljcommit.c) writes on it
     * while the loop's thread may read. */
    flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_FULLMUTEX;
    rc = sqlite3_open_v2(path, &db->h, flags, NULL);
    if (rc != SQLITE_OK)
        return db_fail(L, db, "cannot open");
    sqlite3_extended_result_codes(db->h, 1);
    return 1;
}

/* db:exec(sql): runs statements that return no rows we want. */
static int db_exec(lua_State *L)
{
    struct db *db = check_db(L, 1);
    const char *sql = luaL_checkstring(L, 2);

    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(L, db, sql);
    return 0;
}

/* db:prepare(sql) -> stmt */
static int db_prepare(lua_State *L)
{
    struct db *db = check_db(L, 1);
    size_t len;
    const char *sql = luaL_checklstring(L, 2, &len);
    struct stmt *st = lua_newuserdatauv(L, sizeof *st, 1);
    const char *tail = NULL;

    st->h = NULL;
    st->db = db;
    luaL_setmetatable(L, STMT_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (sqlite3_prepare_v2(db->h, sql, (int)len, &st->h, &tail) != SQLITE_OK)
        return db_fail(L, db, sql);
    if (!st->h)
        return luaL_error(L, "%s %s: no SQL statement in \"%s\"", db->label, db->path, sql);
    while (tail && tail < sql + len && strchr(" \t\r\n;", *tail))
        tail++;
    if (tail && tail < sql + len)
        return luaL_error(L, "%s %s: one SQL statement at a time: \"%s\"", db->label, db->path, sql);
    return 1;
}

/* db:changes() -> rows changed by the last statement */
static int db_changes(lua_State *L)
{
    lua_pushinteger(L, sqlite3_changes(check_db(L, 1)->h));
    return 1;
}

static int db_close(lua_State *L)
{
    struct db *db = luaL_checkudata(L, 1, DB_MT);
    if (db->h) {
        sqlite3_stmt *s;
        while ((s = sqlite3_next_stmt(db->h, NULL)) != NULL)
            sqlite3_finalize(s);
        /* Closing checkpoints the WAL; a failure there loses nothing
         * (the WAL stays and is replayed on the next open) but is said. */
        if (sqlite3_close(db->h) != SQLITE_OK) {
            lua_pushnil(L);
            lua_pushfstring(L, "%s %s: close: %s", db->label, db->path, sqlite3_errmsg(db->h));
            db->h = NULL;
            return 2;
        }
        db->h = NULL;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Binds the arguments from stack index `from` on: nil, integer, number,
 * string (as text), boolean (as 0/1). */
static void bind_args(lua_State *L, struct stmt *st, int from)
{
    int n = lua_gettop(L) - from + 1, rc = SQLITE_OK;

    sqlite3_reset(st->h);
    sqlite3_clear_bindings(st->h);
    if (n > sqlite3_bind_parameter_count(st->h))
        luaL_error(L, "%s %s: %d values for %d parameters", st->db->label, st->db->path, n,
                   sqlite3_bind_parameter_count(st->h));
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        int idx = from + i;
        switch (lua_type(L, idx)) {
        case LUA_TNIL:
            rc = sqlite3_bind_null(st->h, i + 1);
            break;
        case LUA_TBOOLEAN:
            rc = sqlite3_bind_int(st->h, i + 1, lua_toboolean(L, idx));
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, idx))
                rc = sqlite3_bind_int64(st->h, i + 1, lua_tointeger(L, idx));
            else
                rc = sqlite3_bind_double(st->h, i + 1, lua_tonumber(L, idx));
            break;
        case LUA_TSTRING: {
            size_t len;
            const char *s = lua_tolstring(L, idx, &len);
            rc = sqlite3_bind_text(st->h, i + 1, s, (int)len, SQLITE_TRANSIENT);
            break;
        }
        default:
            luaL_argerror(L, idx, "nil, boolean, number or string expected");
        }
    }
    if (rc != SQLITE_OK)
        db_fail(L, st->db, "bind");
}

/* Pushes the current row as a table keyed by column name (NULLs absent). */
static void push_row(lua_State *L, sqlite3_stmt *s)
{
    int n = sqlite3_column_count(s);

    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        switch (sqlite3_column_type(s, i)) {
        case SQLITE_INTEGER:
            lua_pushinteger(L, sqlite3_column_int64(s, i));
            break;
        case SQLITE_FLOAT:
            lua_pushnumber(L, sqlite3_column_double(s, i));
            break;
        case SQLITE_NULL:
            continue;
        default:
            lua_pushlstring(L, (const char *)sqlite3_column_blob(s, i), (size_t)sqlite3_column_bytes(s, i));
        }
        lua_setfield(L, -2, sqlite3_column_name(s, i));
    }
}

/* Steps once; raises on an error. Returns SQLITE_ROW or SQLITE_DONE. */
static int step(lua_State *L, struct stmt *st)
{
    int rc = sqlite3_step(st->h);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_reset(st->h);
        db_fail(L, st->db, sqlite3_sql(st->h));
    }
    return rc;
}

/* stmt:run(...) -> rows changed */
static int stmt_run(lua_State *L)
{
    struct stmt *st = check_stmt(L, 1);

    bind_args(L, st, 2);
    while (step(L, st) == SQLITE_ROW)
        ;
    sqlite3_reset(st->h);
    lua_pushinteger(L, sqlite3_changes(st->db->h));
    return 1;
}

/* stmt:first(...) -> the first row, or nil */
static int stmt_first(lua_State *L)
{
    struct stmt *st = check_stmt(L, 1);

    bind_args(L, st, 2);
    if (step(L, st) == SQLITE_ROW)
        push_row(L, st->h);
    else
        lua_pushnil(L);
    sqlite3_reset(st->h);
    return 1;
}

/* stmt:all(...) -> { row, ... } */
static int stmt_all(lua_State *L)
{
    struct stmt *st = check_stmt(L, 1);
    lua_Integer n = 0;

    bind_args(L, st, 2);
    lua_newtable(L);
    while (step(L, st) == SQLITE_ROW) {
        push_row(L, st->h);
        lua_rawseti(L, -2, ++n);
    }
    sqlite3_reset(st->h);
    return 1;
}

/* Called by the generic for: the next row of st, or nil at the end (the
 * statement is then reset, its locks released). */
static int rows_next(lua_State *L)
{
    struct stmt *st = check_stmt(L, 1);

    if (step(L, st) == SQLITE_ROW) {
        push_row(L, st->h);
        return 1;
    }
    sqlite3_reset(st->h);
    lua_pushnil(L);
    return 1;
}

/* stmt:rows(...) -> iterator, stmt: for row in st:rows(...) do ... end,
 * one row in memory at a time. */
static int stmt_rows(lua_State *L)
{
    struct stmt *st = check_stmt(L, 1);

    bind_args(L, st, 2);
    lua_pushcfunction(L, rows_next);
    lua_pushvalue(L, 1);
    return 2;
}

/* stmt:columns() -> { name, ... }: the names of the result's columns, in
 * order (empty for a statement that gives no rows). */
static int stmt_columns(lua_State *L)
{
    struct stmt *st = check_stmt(L, 1);
    int n = sqlite3_column_count(st->h);

    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, sqlite3_column_name(st->h, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* stmt:readonly() -> true if the statement writes nothing to the database */
static int stmt_readonly(lua_State *L)
{
    lua_pushboolean(L, sqlite3_stmt_readonly(check_stmt(L, 1)->h));
    return 1;
}

static int stmt_gc(lua_State *L)
{
    struct stmt *st = luaL_checkudata(L, 1, STMT_MT);
    /* After db:close() finalized it, the handle is dangling: leave it. */
    if (st->h && st->db->h)
        sqlite3_finalize(st->h);
    st->h = NULL;
    return 0;
}

static const luaL_Reg db_methods[] = {
    { "exec", db_exec },
    { "prepare", db_prepare },
    { "changes", db_changes },
    { "close", db_close },
    { NULL, NULL }
};

static const luaL_Reg stmt_methods[] = {
    { "run", stmt_run },
    { "first", stmt_first },
    { "all", stmt_all },
    { "rows", stmt_rows },
    { "columns", stmt_columns },
    { "readonly", stmt_readonly },
    { NULL, NULL }
};

static const luaL_Reg core_funcs[] = {
    { "open", core_open },
    { NULL, NULL }
};

int luaopen_qxt_sqlite_core(lua_State *L)
{
    luaL_newmetatable(L, DB_MT);
    luaL_newlib(L, db_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, db_close);
    lua_setfield(L, -2, "__gc");
    luaL_newmetatable(L, STMT_MT);
    luaL_newlib(L, stmt_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, stmt_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 2);
    luaL_newlib(L, core_funcs);
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "sqlite_version");
    return 1;
}
