/* lcrypto.h -- the entry point of the module qxtv-crypto.so (module.h):
 * `qxt.crypto`, HMAC-SHA256, SHA-256 and random bytes for Lua (lcrypto.c). */
#ifndef QXT_LCRYPTO_H
#define QXT_LCRYPTO_H

#include <lua.h>

__attribute__((visibility("default"))) int luaopen_qxt_crypto(lua_State *L);

#endif
