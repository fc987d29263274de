/* module.h -- the engine's own shared modules, loaded on first use.
 *
 * What needs a heavy library lives in a module of its own: qxtv-http.so
 * (libcurl and its ~35 dependencies), qxtv-sqlite.so (SQLite), qxtv-crypto.so
 * (libcrypto), qxtv-edit.so (libedit). Mapping those at exec costs ~15 ms of page faults
 * on a small VM, for a script that may never send a query. */
#ifndef QXT_MODULE_H
#define QXT_MODULE_H

#include <stddef.h>

/* The directory of the running qxtv executable (where its other parts are
 * looked for) in dir. 0, or -1 when /proc/self/exe cannot be read. */
int exe_dir(char *dir, size_t size);

/* The address of symbol in module (a file name such as "qxtv-http.so"),
 * loading the module the first time. Looked for beside the binary's
 * library directory (installed), beside the binary (build tree), then in
 * the build tree it was built in. NULL with a reason in err. */
void *module_symbol(const char *module, const char *symbol, char *err, size_t errlen);

#endif
