/* lcrypto.c -- the Lua module `qxt.crypto`: the hashes and random bytes
 * the journal (lua/qxt/journal.lua) and the dedupe spill (lua/qxt/step/dedupe.lua)
 * use: HMAC-SHA256 and SHA-256 from OpenSSL's libcrypto, random bytes from
 * the kernel. Loaded on first use (module.h), so a run without a journal
 * never maps libcrypto.
 *
 *   local crypto = require("qxt.crypto")
 *   crypto.hmac(key, msg)            -- 32 raw bytes
 *   local h = crypto.pair_hasher(key); h(msg) -- 32 hex digits (128 bits)
 *   crypto.hex(bytes), crypto.random(n), crypto.sha256_file(path), crypto.sha256(s)
 */
#include "lcrypto.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define HASHER_MT "qxt.crypto.hasher"

/* crypto.hmac(key, message) -> 32 raw bytes of HMAC-SHA256 */
static int crypto_hmac(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;

    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &outlen))
        return luaL_error(L, "HMAC-SHA256 failed");
    lua_pushlstring(L, (const char *)out, outlen);
    return 1;
}

/* crypto.pair_hasher(key) -> h; h(message) -> the first 128 bits of
 * HMAC-SHA256(key, message) in hex: how the journal and the dedupe spill
 * know a pair. The MAC is set up once per key: re-keying it for every
 * message (as HMAC() does) costs ~5x more, once per record. */
static int hasher_call(lua_State *L)
{
    EVP_MAC_CTX **ctx = luaL_checkudata(L, 1, HASHER_MT);
    size_t mlen, outlen = 0;
    const char *msg = luaL_checklstring(L, 2, &mlen);
    static const char digits[] = "0123456789abcdef";
    unsigned char out[EVP_MAX_MD_SIZE];
    char hex[32];

    if (!*ctx || !EVP_MAC_init(*ctx, NULL, 0, NULL)
        || !EVP_MAC_update(*ctx, (const unsigned char *)msg, mlen)
        || !EVP_MAC_final(*ctx, out, &outlen, sizeof out) || outlen < 16)
        return luaL_error(L, "HMAC-SHA256 failed");
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[out[i] >> 4];
        hex[2 * i + 1] = digits[out[i] & 15];
    }
    lua_pushlstring(L, hex, sizeof hex);
    return 1;
}

static int hasher_gc(lua_State *L)
{
    EVP_MAC_CTX **ctx = luaL_checkudata(L, 1, HASHER_MT);
    EVP_MAC_CTX_free(*ctx);
    *ctx = NULL;
    return 0;
}

static int crypto_pair_hasher(lua_State *L)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    EVP_MAC_CTX **ctx = lua_newuserdatauv(L, sizeof *ctx, 0);
    EVP_MAC *mac;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()
    };

    *ctx = NULL;
    luaL_setmetatable(L, HASHER_MT);
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac)
        *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);           /* the context keeps its own reference */
    if (!*ctx || !EVP_MAC_init(*ctx, (const unsigned char *)key, klen, params))
        return luaL_error(L, "HMAC-SHA256 is not available");
    return 1;
}

/* crypto.hex(bytes) -> lower-case hex */
static int crypto_hex(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    static const char digits[] = "0123456789abcdef";
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, 2 * len);

    for (size_t i = 0; i < len; i++) {
        p[2 * i] = digits[s[i] >> 4];
        p[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

/* crypto.sha256_file(path) -> size, hex digest | nil, message */
static int crypto_sha256_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    lua_Integer size = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), ok;
    EVP_MD_CTX *ctx;

    if (fd < 0)
        return luaL_fileresult(L, 0, path);
    ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while (ok && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))) {
        if (n > 0) {
            ok = EVP_DigestUpdate(ctx, buf, (size_t)n);
            size += n;
        }
    }
    if (ok && n < 0) {
        int err = errno;
        EVP_MD_CTX_free(ctx);
        close(fd);
        errno = err;
        return luaL_fileresult(L, 0, path);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    close(fd);
    if (!ok)
        return luaL_error(L, "SHA-256 failed");
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    lua_pushinteger(L, size);
    lua_pushlstring(L, hex, 2 * mdlen);
    return 2;
}

/* crypto.sha256(s) -> 32 raw bytes (serve's token file holds these, in hex) */
static int crypto_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL))
        return luaL_error(L, "SHA-256 failed");
    lua_pushlstring(L, (const char *)md, mdlen);
    return 1;
}

/* crypto.random(n) -> n bytes from the kernel's random source */
static int crypto_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_Buffer b;
    char *p;
    size_t got = 0;

    luaL_argcheck(L, n > 0 && n <= 256, 1, "1 to 256 bytes");
    p = luaL_buffinitsize(L, &b, (size_t)n);
    while (got < (size_t)n) {
        ssize_t r = getrandom(p + got, (size_t)n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return luaL_error(L, "getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

static const luaL_Reg crypto_funcs[] = {
    { "hmac", crypto_hmac },
    { "pair_hasher", crypto_pair_hasher },
    { "hex", crypto_hex },
    { "sha256_file", crypto_sha256_file },
    { "sha256", crypto_sha256 },
    { "random", crypto_random },
    { NULL, NULL }
};

int luaopen_qxt_crypto(lua_State *L)
{
    luaL_newmetatable(L, HASHER_MT);
    lua_pushcfunction(L, hasher_call);
    lua_setfield(L, -2, "__call");
    lua_pushcfunction(L, hasher_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, crypto_funcs);
    return 1;
}
