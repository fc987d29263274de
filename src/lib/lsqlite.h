/* lsqlite.h -- qxtv's one SQLite binding (lsqlite.c), the Lua module
 * `qxt.sqlite.core`, and what other C code (the journal's committer,
 * ljcommit.c) takes from it: the handles behind its userdata. */
#ifndef QXT_LSQLITE_H
#define QXT_LSQLITE_H

#include <lua.h>
#include <sqlite3.h>

/* The open connection of the db userdata at index i; raises if it is not
 * one or is closed. Owned by the userdata: keep the userdata alive (e.g. as
 * a uservalue) as long as the handle is used. */
sqlite3 *lsqlite_db(lua_State *L, int i);

/* The prepared statement of the stmt userdata at index i; raises if it is
 * not one or is finalized. Owned by the userdata, as above. */
sqlite3_stmt *lsqlite_stmt(lua_State *L, int i);

/* The module qxtv-sqlite.so's entry points (module.h). */
__attribute__((visibility("default"))) int luaopen_qxt_sqlite_core(lua_State *L);
__attribute__((visibility("default"))) int luaopen_qxt_journal_committer(lua_State *L);

#endif
