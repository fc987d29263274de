/* ljournal.h -- what the journal's committer (ljcommit.c) takes from the
 * journal's SQLite binding (ljournal.c): the handles behind its userdata. */
#ifndef QXT_LJOURNAL_H
#define QXT_LJOURNAL_H

#include <lua.h>
#include <sqlite3.h>

/* The open connection of the db userdata at index i; raises if it is not one. */
sqlite3 *ljournal_db(lua_State *L, int i);

/* The prepared statement of the stmt userdata at index i; raises if it is not one. */
sqlite3_stmt *ljournal_stmt(lua_State *L, int i);

/* The module qxtv-journal.so's entry points (module.h). */
__attribute__((visibility("default"))) int luaopen_qxt_journal_core(lua_State *L);
__attribute__((visibility("default"))) int luaopen_qxt_journal_committer(lua_State *L);

#endif
