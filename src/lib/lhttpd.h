/* lhttpd.h -- the entry point of the module qxtv-httpd.so (module.h):
 * `qxt.httpd.core`, the HTTP server of `qxtv serve` (lhttpd.c). */
#ifndef QXT_LHTTPD_H
#define QXT_LHTTPD_H

#include <lua.h>

__attribute__((visibility("default"))) int luaopen_qxt_httpd_core(lua_State *L);

#endif
