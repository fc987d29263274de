/* lfile.h -- the module qxt.file (lfile.c), and the one piece of it other
 * C code uses: making a file private before someone else opens it by name. */
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

int luaopen_qxt_file(lua_State *L);

#endif
