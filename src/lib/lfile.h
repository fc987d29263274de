/* lfile.h -- the module qxt.file (lfile.c), and the pieces of it other C
 * code uses: making a file private before someone else opens it by name,
 * and saying why that failed in qxt.file's words. */
#ifndef QXT_LFILE_H
#define QXT_LFILE_H

#include <lua.h>

/* Flags of lfile_make_private. */
#define LFILE_IF_EXISTS 1   /* a missing file is fine: not created */
#define LFILE_NOFOLLOW  2   /* a symbolic link at path is refused (ELOOP) */

/* Creates path (mode 0600) unless it is there or LFILE_IF_EXISTS, and
 * narrows a regular file to 0600, its content kept; a device or a pipe is
 * left as it is. Returns 0, or an errno (ENOENT is 0 with LFILE_IF_EXISTS).
 * Used by qxt.file.make_private and the SQLite binding (lsqlite.c), whose
 * databases SQLite opens by name. */
int lfile_make_private(const char *path, int flags);

/* Opens path for writing as qxt.file.open_private does: a regular file
 * there is replaced by a new one of mode 0600 (so whoever holds the old one,
 * or a hard link to it, sees nothing written now), a missing one created
 * so; a device or a pipe, or a symbolic link to one (/dev/stdout), is opened
 * as it is; a symbolic link to anything else is refused (ELOOP). Returns
 * the fd, which the caller owns, or -1 with errno set. Used by the .xlsx
 * writer (lxlsx_write.c), which closes it and lets libxlsxwriter write the
 * file by name. */
int lfile_open_private(const char *path);

/* Pushes nil and "PATH: why" for errno err, as qxt.file's functions fail
 * (ELOOP is said as "is a symbolic link, which qxtv does not follow ...");
 * returns 2. */
int lfile_fail(lua_State *L, const char *path, int err);

int luaopen_qxt_file(lua_State *L);

#endif
