/* linput.c -- the Lua module `qxt.input.core`: what an input file is (its
 * identity, to notice it changing under a run) and what its bytes say about
 * its encoding (textscan.h). lua/qxt/input.lua builds the checks and the
 * encoding rule on these.
 *
 * A file that cannot be examined is an outcome of the outside world:
 * nil, message. Misuse (a closed file, wrong types) raises. */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"

#include "linput.h"
#include "textscan.h"

#define SCAN_BLOCK ((size_t)1 << 20)

/* The FILE * of a Lua file at idx; raises if it is closed. */
static FILE *checkfile(lua_State *L, int idx) {
    luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, idx, LUA_FILEHANDLE);
    if (p->closef == NULL)
        luaL_argerror(L, idx, "attempt to use a closed file");
    return p->f;
}

/* Pushes { dev, ino, size, mtime_ns, regular } of st. */
static void push_identity(lua_State *L, const struct stat *st) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)st->st_dev);
    lua_setfield(L, -2, "dev");
    lua_pushinteger(L, (lua_Integer)st->st_ino);
    lua_setfield(L, -2, "ino");
    lua_pushinteger(L, (lua_Integer)st->st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
    lua_setfield(L, -2, "mtime_ns");
    lua_pushboolean(L, S_ISREG(st->st_mode));
    lua_setfield(L, -2, "regular");
}

static int fail_errno(lua_State *L, const char *what) {
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", what, strerror(e));
    return 2;
}

/* core.identity(file) -> { dev, ino, size, mtime_ns, regular } | nil, err
 * Of the open file itself (fstat), whatever its name now points to. */
static int input_identity(lua_State *L) {
    struct stat st;
    if (fstat(fileno(checkfile(L, 1)), &st) != 0)
        return fail_errno(L, "fstat");
    push_identity(L, &st);
    return 1;
}

/* core.stat(path) -> { dev, ino, size, mtime_ns, regular } | nil, err
 * Of what the name points to now (stat follows symbolic links). */
static int input_stat(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return fail_errno(L, path);
    push_identity(L, &st);
    return 1;
}

/* Pushes the results of a finished scan as a table. */
static void push_scan(lua_State *L, const struct textscan *s) {
    static const struct { const char *name; size_t offset; } counts[] = {
        {"bytes", offsetof(struct textscan, bytes)},
        {"lines", offsetof(struct textscan, lines)},
        {"lines_nonascii", offsetof(struct textscan, lines_nonascii)},
        {"utf8_bad", offsetof(struct textscan, utf8_bad)},
        {"utf8_strong", offsetof(struct textscan, utf8_strong)},
        {"utf8_weak", offsetof(struct textscan, utf8_weak)},
        {"gb_bad", offsetof(struct textscan, gb_bad)},
        {"utf8_bad_seqs", offsetof(struct textscan, utf8_bad_seqs)},
        {"gb_bad_seqs", offsetof(struct textscan, gb_bad_seqs)},
    };
    lua_createtable(L, 0, 13);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        lua_pushinteger(L, (lua_Integer)*(const uint64_t *)((const char *)s + counts[i].offset));
        lua_setfield(L, -2, counts[i].name);
    }
    if (s->utf8_first >= 0) {
        lua_pushinteger(L, (lua_Integer)s->utf8_first);
        lua_setfield(L, -2, "utf8_first");
        lua_pushinteger(L, (lua_Integer)s->utf8_first_line);
        lua_setfield(L, -2, "utf8_first_line");
    }
    if (s->gb_first >= 0) {
        lua_pushinteger(L, (lua_Integer)s->gb_first);
        lua_setfield(L, -2, "gb_first");
        lua_pushinteger(L, (lua_Integer)s->gb_first_line);
        lua_setfield(L, -2, "gb_first_line");
    }
}

/* core.scan(file [, size]) -> counts | nil, err
 * Scans the file's bytes from offset 0 to `size` (default: to its end)
 * with pread, so the file's own position and buffer are left alone. The
 * counts are textscan.h's, by the same names; utf8_first, gb_first (0-based
 * offsets) and their lines are there only when such a sequence exists. */
static int input_scan(lua_State *L) {
    int fd = fileno(checkfile(L, 1));
    lua_Integer size = luaL_optinteger(L, 2, -1);
    /* a userdata, so an error cannot leak it and it counts against the
     * engine's memory limit */
    unsigned char *buf = (unsigned char *)lua_newuserdatauv(L, SCAN_BLOCK, 0);
    struct textscan s;
    off_t at = 0;
    textscan_init(&s);
    while (size < 0 || at < (off_t)size) {
        size_t want = SCAN_BLOCK;
        ssize_t got;
        if (size >= 0 && (lua_Integer)want > size - (lua_Integer)at)
            want = (size_t)(size - (lua_Integer)at);
        got = pread(fd, buf, want, at);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno(L, "read");
        }
        if (got == 0)
            break;
        textscan_feed(&s, buf, (size_t)got);
        at += got;
    }
    textscan_end(&s);
    push_scan(L, &s);
    return 1;
}

/* core.scan_string(s) -> counts: as scan, over a string (the part of a
 * stream read so far). */
static int input_scan_string(lua_State *L) {
    size_t len;
    const char *p = luaL_checklstring(L, 1, &len);
    struct textscan s;
    textscan_init(&s);
    textscan_feed(&s, (const unsigned char *)p, len);
    textscan_end(&s);
    push_scan(L, &s);
    return 1;
}

/* core.utf8_errors(s, final) -> positions, pending
 * positions: an array of the 1-based positions in s where an invalid UTF-8
 * sequence starts (all of them: meant for one chunk at a time).
 * pending: when final is false, the length of a sequence s ends inside,
 * for the caller to prepend to the next piece; else 0. */
static int input_utf8_errors(lua_State *L) {
    size_t len, pending, n;
    const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
    int final = lua_toboolean(L, 2);
    size_t *out;
    if (utf8_errors(p, len, final, NULL, 0, &pending) == 0) {
        lua_createtable(L, 0, 0);                         /* the common case */
        lua_pushinteger(L, (lua_Integer)pending);
        return 2;
    }
    /* at most one error a byte */
    out = (size_t *)lua_newuserdatauv(L, len * sizeof(size_t), 0);   /* s final buf */
    n = utf8_errors(p, len, final, out, len, &pending);
    lua_createtable(L, (int)n, 0);                        /* s final buf positions */
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)out[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, (lua_Integer)pending);
    return 2;
}

static const luaL_Reg input_funcs[] = {
    {"identity", input_identity},
    {"stat", input_stat},
    {"scan", input_scan},
    {"scan_string", input_scan_string},
    {"utf8_errors", input_utf8_errors},
    {NULL, NULL}
};

int luaopen_qxt_input_core(lua_State *L) {
    luaL_newlib(L, input_funcs);
    return 1;
}
