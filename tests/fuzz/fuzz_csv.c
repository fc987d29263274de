/* fuzz_csv.c -- libFuzzer harness for the streaming CSV reader
 * (lua/qxt/csv/reader.lua): UTF-8, GB18030 (through qxt.iconv) and automatic
 * detection, any chunk size. The checks live in csv_driver.lua. */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    static int ref;

    if (!L)
        L = fuzz_lua_open(QXTV_FUZZ_DIR "/csv_driver.lua", &ref);
    fuzz_lua_run(L, ref, data, size);
    return 0;
}
