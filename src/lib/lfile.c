/* lfile.c -- the Lua module `qxt.file`: how qxtv holds the files it
 * writes. A file with personal data in it is a new file of mode 0600,
 * whatever was at its path and whatever the umask; an output directory or
 * a journal is used by one run at a time, through a lock that the kernel
 * drops when the process ends, however it ends (a SIGKILLed run blocks
 * nothing).
 *
 *   local file = require("qxt.file")
 *   local f = assert(file.open_private("out/consistent.csv"))  -- a Lua file, for writing
 *   assert(file.make_private("out/results.sqlite"))            -- created or narrowed in place
 *   assert(file.write_private("out/journal.key", key))         -- whole, 0600, fsynced
 *   local log = assert(file.append_private("decisions.jsonl")) -- kept, appended to, 0600
 *   local text, err = file.read_private("tokens")             -- refused if others may read it
 *   local lock, err, pid = file.lock("out/.qxtv.lock")        -- nil, message, holder's pid
 *   lock:release()
 *
 * Not for sandboxed code: these touch any path the process may write. */
#include "lfile.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_MT "qxt.file.lock"
#define HELD "qxt.file.held"     /* registry: the locks held, so the collector never drops one */

struct lock {
    int fd;      /* -1 once released */
};

/* Pushes nil and "PATH: what went wrong"; returns 2. */
int lfile_fail(lua_State *L, const char *path, int err)
{
    lua_pushnil(L);
    if (err == ELOOP)
        lua_pushfstring(L, "%s: is a symbolic link, which qxtv does not follow for a file it "
                        "writes (name the file itself)", path);
    else
        lua_pushfstring(L, "%s: %s", path, strerror(err));
    return 2;
}

/* Creates path as a new file, mode exactly 0600 (the umask may take bits
 * off at creation). Returns the fd, or -1 with errno set. */
static int create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);

    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        int err = errno;
        close(fd);
        unlink(path);
        errno = err;
        return -1;
    }
    return fd;
}

/* Opens path for writing, emptied and private. Returns the fd, or -1 with
 * errno set. */
int lfile_open_private(const char *path)
{
    struct stat st;
    int fd;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? create_private(path) : -1;
    if (S_ISREG(st.st_mode)) {
        /* A new file rather than the old one emptied: whoever still has
         * the old one open, or reaches it by another name (a hard link),
         * sees nothing of what is written now. */
        if (unlink(path) == 0)
            return create_private(path);
        if (errno != EACCES && errno != EPERM)
            return -1;
        /* A directory we may not change, a file we may: narrow it in place. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd >= 0 && fchmod(fd, 0600) != 0) {
            int err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        return fd;
    }
    /* A device or a pipe, or a link to one (/dev/stdout, a link to
     * /dev/full): the operator's stream, written as it is. A link to a
     * file is refused, checked on what was opened, so a link swapped in
     * between cannot lead a write into someone's file. */
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0 && S_ISLNK(st.st_mode) && (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))) {
        close(fd);
        errno = ELOOP;       /* said as "is a symbolic link" */
        return -1;
    }
    return fd;
}

/* Called by Lua's io library when the file is closed or collected. */
static int private_close(lua_State *L)
{
    luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    errno = 0;
    return luaL_fileresult(L, fclose(p->f) == 0, NULL);
}

/* Pushes fd (from open: -1 with errno set, then nil and the message) as a
 * Lua file of the io library, opened with mode, closed by private_close. */
static int push_stream(lua_State *L, const char *path, int fd, const char *mode)
{
    luaL_Stream *p;

    if (fd < 0)
        return lfile_fail(L, path, errno);
    p = (luaL_Stream *)lua_newuserdatauv(L, sizeof *p, 0);
    p->closef = NULL;        /* a closed file until it is open */
    p->f = NULL;
    luaL_setmetatable(L, LUA_FILEHANDLE);
    p->f = fdopen(fd, mode);
    if (!p->f) {
        int err = errno;
        close(fd);
        return lfile_fail(L, path, err);
    }
    p->closef = &private_close;
    return 1;
}

/* file.open_private(path) -> file | nil, message: a Lua file (io.type
 * "file") open for writing at path, empty, mode 0600. A regular file
 * already there is replaced by a new one; a symbolic link is refused; a
 * device or pipe (/dev/stdout) is written as it is. */
static int file_open_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);

    return push_stream(L, path, lfile_open_private(path), "wb");
}

/* file.append_private(path) -> file | nil, message: a Lua file open for
 * appending at path, its content kept, mode 0600 (created so, or narrowed
 * in place: a log that rotates keeps one name). A symbolic link is
 * refused (so is /dev/stdout, a link: use io.stdout). For serve's
 * decision log, which a restart must not empty. */
static int file_append_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);

    if (fd >= 0 && (fstat(fd, &st) != 0 || (S_ISREG(st.st_mode) && fchmod(fd, 0600) != 0))) {
        int err = errno;
        close(fd);
        errno = err;
        fd = -1;
    }
    return push_stream(L, path, fd, "ab");
}

int lfile_make_private(const char *path, int flags)
{
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd, err = 0;
    struct stat st;

    if (flags & LFILE_NOFOLLOW)
        oflags |= O_NOFOLLOW;
    if (!(flags & LFILE_IF_EXISTS))
        oflags |= O_CREAT;
    fd = open(path, oflags, 0600);
    if (fd < 0)
        return (flags & LFILE_IF_EXISTS) && errno == ENOENT ? 0 : errno;
    if (fstat(fd, &st) != 0 || (S_ISREG(st.st_mode) && fchmod(fd, 0600) != 0))
        err = errno;
    close(fd);
    return err;
}

/* file.make_private(path [, if_exists]) -> true | nil, message: path is a
 * file of mode 0600, its content kept; created empty if missing (unless
 * if_exists); a symbolic link refused. For files others open by name (an
 * SQLite database). */
static int file_make_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int err = lfile_make_private(path, LFILE_NOFOLLOW | (lua_toboolean(L, 2) ? LFILE_IF_EXISTS : 0));

    if (err)
        return lfile_fail(L, path, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* file.write_private(path, bytes) -> true | nil, message: a small file
 * of the given bytes, mode 0600 before a byte is in it (as open_private),
 * made durable (fsync) before this returns. For the journal's key. */
static int file_write_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len, done = 0;
    const char *data = luaL_checklstring(L, 2, &len);
    int fd = lfile_open_private(path), ok;

    if (fd < 0)
        return lfile_fail(L, path, errno);
    ok = 1;
    while (ok && done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            done += (size_t)n;
    }
    ok = ok && fsync(fd) == 0;
    if (!ok || close(fd) != 0) {
        int err = errno;
        if (!ok)
            close(fd);
        return lfile_fail(L, path, err);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* file.read_private(path [, max_bytes]) -> bytes | nil, message: the
 * whole of a small secret file (serve's --tokens), refused unless it is a
 * regular file that neither its group nor others may read or write (mode
 * 0600 or 0400, as ssh asks of a private key), and unless it is at most
 * max_bytes (default 1 MiB). The mode is checked on what was opened, so a
 * file swapped in between is the one judged. */
static int file_read_private(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, 1 << 20);
    struct stat st;
    luaL_Buffer b;
    size_t done = 0;
    char *p;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return lfile_fail(L, path, errno);
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return lfile_fail(L, path, err);
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_size > max) {
        close(fd);
        lua_pushnil(L);
        if (!S_ISREG(st.st_mode))
            lua_pushfstring(L, "%s: not a regular file", path);
        else if (st.st_mode & 077) {
            char mode[8];
            snprintf(mode, sizeof mode, "%03o", (unsigned)(st.st_mode & 0777));
            lua_pushfstring(L, "%s: readable or writable by others (mode %s); "
                            "make it private: chmod 600 %s", path, mode, path);
        }
        else
            lua_pushfstring(L, "%s: larger than %I bytes", path, max);
        return 2;
    }
    p = luaL_buffinitsize(L, &b, (size_t)st.st_size);
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, p + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return lfile_fail(L, path, err);
        }
        if (n == 0)
            break;                       /* shrunk meanwhile: what is there */
        done += (size_t)n;
    }
    close(fd);
    luaL_pushresultsize(&b, done);
    return 1;
}

/* The pid the holder of fd's lock wrote into it, or 0. The holder writes
 * it right after taking the lock: an empty file is a holder about to. */
static long holder_pid(int fd)
{
    char buf[32];
    const struct timespec pause = { 0, 2000000 };        /* 2 ms, at most 50 times */

    for (int i = 0; i < 50; i++) {
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            char *end;
            long pid;
            buf[n] = '\0';
            pid = strtol(buf, &end, 10);
            if (pid > 0 && *end == '\n')
                return pid;
        }
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* file.lock(path) -> lock | nil, message [, holder's pid]: an exclusive
 * lock on the file at path (created 0600), holding this process's pid.
 * Never waits: a lock held elsewhere is refused at once, with the pid its
 * holder wrote. Held until lock:release() or the end of the process (the
 * kernel drops it even on SIGKILL); the file stays, its pid stale. A
 * second lock() of the same file in one process is refused too. */
static int file_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
    struct lock *lk;
    char pid[32];
    int len;

    if (fd < 0)
        return lfile_fail(L, path, errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        long holder = err == EWOULDBLOCK ? holder_pid(fd) : 0;
        close(fd);
        if (err != EWOULDBLOCK)
            return lfile_fail(L, path, err);
        lua_pushnil(L);
        if (holder == 0) {
            lua_pushfstring(L, "%s: in use by another run", path);
            return 2;
        }
        lua_pushfstring(L, "%s: in use by another run (pid %I)", path, (lua_Integer)holder);
        lua_pushinteger(L, holder);
        return 3;
    }
    /* A lock file someone made readable says only a pid: narrowed anyway. */
    len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int err = errno;
        close(fd);
        return lfile_fail(L, path, err);
    }
    lk = (struct lock *)lua_newuserdatauv(L, sizeof *lk, 0);
    lk->fd = fd;
    luaL_setmetatable(L, LOCK_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, HELD);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);                   /* held[lock] = true */
    lua_pop(L, 1);
    return 1;
}

/* lock:release(): lets the next run in; releasing twice is harmless. */
static int lock_release(lua_State *L)
{
    struct lock *lk = (struct lock *)luaL_checkudata(L, 1, LOCK_MT);

    if (lk->fd >= 0) {
        close(lk->fd);                   /* drops the flock */
        lk->fd = -1;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, HELD);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);                   /* held[lock] = nil */
    return 0;
}

/* Called by the collector at the end of the state (held locks are
 * anchored until released). */
static int lock_gc(lua_State *L)
{
    struct lock *lk = (struct lock *)luaL_checkudata(L, 1, LOCK_MT);

    if (lk->fd >= 0)
        close(lk->fd);
    lk->fd = -1;
    return 0;
}

static const luaL_Reg lock_methods[] = {
    { "release", lock_release },
    { NULL, NULL }
};

static const luaL_Reg file_funcs[] = {
    { "open_private", file_open_private },
    { "append_private", file_append_private },
    { "make_private", file_make_private },
    { "write_private", file_write_private },
    { "read_private", file_read_private },
    { "lock", file_lock },
    { NULL, NULL }
};

int luaopen_qxt_file(lua_State *L)
{
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, HELD);
    luaL_newmetatable(L, LOCK_MT);
    luaL_newlib(L, lock_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lock_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, file_funcs);
    return 1;
}
