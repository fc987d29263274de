/* module.c -- loads the engine's own modules (see module.h). */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int exe_dir(char *dir, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    char *slash;

    if (n <= 0)
        return -1;
    dir[n] = '\0';
    slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/* Where the module of name lives: the first candidate that exists. */
static int find_module(const char *name, char *path, size_t size)
{
    char exe[PATH_MAX];

    if (exe_dir(exe, sizeof exe) == 0) {
        snprintf(path, size, "%s/%s/%s", exe, QXTV_MODULE_REL_FROM_BIN, name);
        if (access(path, R_OK) == 0)
            return 0;
        snprintf(path, size, "%s/%s", exe, name);
        if (access(path, R_OK) == 0)
            return 0;
    }
    snprintf(path, size, "%s/%s", QXTV_BUILD_MODULE_DIR, name);
    return access(path, R_OK) == 0 ? 0 : -1;
}

void *module_symbol(const char *module, const char *symbol, char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    void *handle, *sym;

    if (find_module(module, path, sizeof path) < 0) {
        snprintf(err, errlen, "cannot find %s (looked beside qxtv, in ../%s, and in %s); "
                 "reinstall qxtv", module, QXTV_MODULE_REL_FROM_BIN, QXTV_BUILD_MODULE_DIR);
        return NULL;
    }
    /* Loaded once and never unloaded: its code may be on a stack or
     * referenced by a callback until exit. */
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
        return NULL;
    }
    sym = dlsym(handle, symbol);
    if (!sym) {
        snprintf(err, errlen, "%s has no %s: a module from another qxtv version?", path, symbol);
        return NULL;
    }
    return sym;
}
