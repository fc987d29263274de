/* fuzz_clean.c -- libFuzzer harness for the mobile and name normaliser
 * (lua/qxt/step/clean.lua) and the masks (lua/qxt/mask.lua). The checks live in
 * clean_driver.lua. */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    static int ref;

    if (!L)
        L = fuzz_lua_open(QXTV_FUZZ_DIR "/clean_driver.lua", &ref);
    fuzz_lua_run(L, ref, data, size);
    return 0;
}
