/* ljournal.c -- the Lua module `qxt.journal.core`: what the run journal
 * (lua/qxt/journal.lua) needs from C. A thin SQLite handle whose every
 * failure raises (a journal that cannot be written must stop the run, never
 * be retried or ignored), HMAC-SHA256 and SHA-256 (OpenSSL's libcrypto), and
 * random bytes from the kernel.
 *
 *   local db = core.open(path)            -- created with mode 0600
 *   db:exec("PRAGMA journal_mode=WAL")
 *   local st = db:prepare("SELECT code FROM answers WHERE seq = ?")
 *   local row = st:first(17)              -- { code = 0 } or nil
 *   st:run(...) -> rows changed;  st:all(...) -> array of rows
 */
#include "ljournal.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_MT "qxt.journal.db"
#define STMT_MT "qxt.journal.stmt"
#define HASHER_MT "qxt.journal.hasher"

struct db {
    sqlite3 *h;          /* NULL once closed */
    char path[512];      /* for messages */
};

struct stmt {
    sqlite3_stmt *h;     /* NULL once finalized */
    struct db *db;       /* kept alive: the statement's uservalue is the db */
};

/* Raises "journal PATH: what: sqlite's message". */
static int db_fail(lua_State *L, struct db *db, const char *what)
{
    lua_pushfstring(L, "journal %s: %s: %s", db->path, what, db->h ? sqlite3_errmsg(db->h) : "closed");
    return lua_error(L);     /* no script position: the message names the file */
}

static struct db *check_db(lua_State *L, int i)
{
    struct db *db = luaL_checkudata(L, i, DB_MT);
    if (!db->h)
        luaL_error(L, "journal %s: already closed", db->path);
    return db;
}

static struct stmt *check_stmt(lua_State *L, int i)
{
    struct stmt *st = luaL_checkudata(L, i, STMT_MT);
    if (!st->h || !st->db->h)
        luaL_error(L, "journal statement used after close");
    return st;
}

sqlite3 *ljournal_db(lua_State *L, int i)
{
    return check_db(L, i)->h;
}

sqlite3_stmt *ljournal_stmt(lua_State *L, int i)
{
    return check_stmt(L, i)->h;
}

/* core.open(path) -> db. The file is created with mode 0600 before SQLite
 * sees it (its -wal and -shm files then get the same mode): it holds the
 * outcomes of personal checks. */
static int core_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct db *db = lua_newuserdatauv(L, sizeof *db, 0);
    int fd, rc;

    db->h = NULL;
    snprintf(db->path, sizeof db->path, "%s", path);
    luaL_setmetatable(L, DB_MT);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return luaL_error(L, "journal %s: cannot open: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0) {
        int err = errno;
        close(fd);
        return luaL_error(L, "journal %s: cannot make it private (chmod 600): %s", path, strerror(err));
    }
    close(fd);
    /* Serialized: the committer's thread (ljcommit.c) writes on it while
     * the loop's thread may read. */
    rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
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

    st->h = NULL;
    st->db = db;
    luaL_setmetatable(L, STMT_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (sqlite3_prepare_v2(db->h, sql, (int)len, &st->h, NULL) != SQLITE_OK)
        return db_fail(L, db, sql);
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
            lua_pushfstring(L, "journal %s: close: %s", db->path, sqlite3_errmsg(db->h));
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
        luaL_error(L, "journal: %d values for %d parameters", n, sqlite3_bind_parameter_count(st->h));
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

static int stmt_gc(lua_State *L)
{
    struct stmt *st = luaL_checkudata(L, 1, STMT_MT);
    /* After db:close() finalized it, the handle is dangling: leave it. */
    if (st->h && st->db->h)
        sqlite3_finalize(st->h);
    st->h = NULL;
    return 0;
}

/* core.hmac(key, message) -> 32 raw bytes of HMAC-SHA256 */
static int core_hmac(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;

    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &outlen))
        return luaL_error(L, "HMAC-SHA256 failed");
    lua_pushlstring(L, (const char *)out, outlen);
    return 1;
}

/* core.pair_hasher(key) -> h; h(message) -> the first 128 bits of
 * HMAC-SHA256(key, message) in hex: how the journal and the dedupe spill
 * know a pair. The MAC is set up once per key: re-keying it for every
 * message (as HMAC() does) costs ~5x more, once per record. */
static int hasher_call(lua_State *L)
{
    EVP_MAC_CTX **ctx = luaL_checkudata(L, 1, HASHER_MT);
    size_t mlen, outlen = 0;
    const char *msg = luaL_checklstring(L, 2, &mlen);
    static const char digits[] = "0123456789abcdef";
    unsigned char out[EVP_MAX_MD_SIZE];
    char hex[32];

    if (!*ctx || !EVP_MAC_init(*ctx, NULL, 0, NULL)
        || !EVP_MAC_update(*ctx, (const unsigned char *)msg, mlen)
        || !EVP_MAC_final(*ctx, out, &outlen, sizeof out) || outlen < 16)
        return luaL_error(L, "HMAC-SHA256 failed");
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[out[i] >> 4];
        hex[2 * i + 1] = digits[out[i] & 15];
    }
    lua_pushlstring(L, hex, sizeof hex);
    return 1;
}

static int hasher_gc(lua_State *L)
{
    EVP_MAC_CTX **ctx = luaL_checkudata(L, 1, HASHER_MT);
    EVP_MAC_CTX_free(*ctx);
    *ctx = NULL;
    return 0;
}

static int core_pair_hasher(lua_State *L)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    EVP_MAC_CTX **ctx = lua_newuserdatauv(L, sizeof *ctx, 0);
    EVP_MAC *mac;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()
    };

    *ctx = NULL;
    luaL_setmetatable(L, HASHER_MT);
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac)
        *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);           /* the context keeps its own reference */
    if (!*ctx || !EVP_MAC_init(*ctx, (const unsigned char *)key, klen, params))
        return luaL_error(L, "HMAC-SHA256 is not available");
    return 1;
}

/* core.hex(bytes) -> lower-case hex */
static int core_hex(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    static const char digits[] = "0123456789abcdef";
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, 2 * len);

    for (size_t i = 0; i < len; i++) {
        p[2 * i] = digits[s[i] >> 4];
        p[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

/* core.sha256_file(path) -> size, hex digest | nil, message */
static int core_sha256_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    lua_Integer size = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), ok;
    EVP_MD_CTX *ctx;

    if (fd < 0)
        return luaL_fileresult(L, 0, path);
    ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while (ok && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))) {
        if (n > 0) {
            ok = EVP_DigestUpdate(ctx, buf, (size_t)n);
            size += n;
        }
    }
    if (ok && n < 0) {
        int err = errno;
        EVP_MD_CTX_free(ctx);
        close(fd);
        errno = err;
        return luaL_fileresult(L, 0, path);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    close(fd);
    if (!ok)
        return luaL_error(L, "SHA-256 failed");
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    lua_pushinteger(L, size);
    lua_pushlstring(L, hex, 2 * mdlen);
    return 2;
}

/* core.random(n) -> n bytes from the kernel's random source */
static int core_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_Buffer b;
    char *p;
    size_t got = 0;

    luaL_argcheck(L, n > 0 && n <= 256, 1, "1 to 256 bytes");
    p = luaL_buffinitsize(L, &b, (size_t)n);
    while (got < (size_t)n) {
        ssize_t r = getrandom(p + got, (size_t)n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return luaL_error(L, "getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* core.write_private(path, bytes) -> true | nil, message: writes a small
 * file readable by its owner only (mode 0600 before a byte is in it) and
 * makes it durable (fsync). For the journal's key. */
static int core_write_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len, done = 0;
    const char *data = luaL_checklstring(L, 2, &len);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ok;

    if (fd < 0)
        return luaL_fileresult(L, 0, path);
    ok = fchmod(fd, 0600) == 0;
    while (ok && done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            done += (size_t)n;
    }
    ok = ok && fsync(fd) == 0;
    if (!ok) {
        int err = errno;
        close(fd);
        errno = err;
        return luaL_fileresult(L, 0, path);
    }
    return luaL_fileresult(L, close(fd) == 0, path);
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
    { NULL, NULL }
};

static const luaL_Reg core_funcs[] = {
    { "open", core_open },
    { "hmac", core_hmac },
    { "pair_hasher", core_pair_hasher },
    { "hex", core_hex },
    { "sha256_file", core_sha256_file },
    { "random", core_random },
    { "write_private", core_write_private },
    { NULL, NULL }
};

int luaopen_qxt_journal_core(lua_State *L)
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
    luaL_newmetatable(L, HASHER_MT);
    lua_pushcfunction(L, hasher_call);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, hasher_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 3);
    luaL_newlib(L, core_funcs);
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "sqlite_version");
    return 1;
}
