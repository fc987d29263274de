/* test_wire.c -- unit tests of the provider's wire format: request
 * encoding (qxt.c), the code table (codes.c) and response decoding
 * (lresult.c) through a real Lua state and the real lua-cjson. */
#include "codes.h"
#include "echo.h"
#include "http.h"
#include "lqxt.h"
#include "qxt.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

#define CHECK(cond) do { checks++; if (!(cond)) { failures++; \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

static const char *KEY = "0123456789abcdef0123456789abcdef";

static void test_form_body(void)
{
    size_t len;
    char *b = qxt_form_body(KEY, "13972565391", 11, "张三", strlen("张三"), &len);
    CHECK(b && strcmp(b, "apikey=0123456789abcdef0123456789abcdef&mobile=13972565391&name=%E5%BC%A0%E4%B8%89") == 0);
    CHECK(b && len == strlen(b));
    free(b);
    /* Separators and blanks inside values cannot break the form apart. */
    b = qxt_form_body("k&y=1", "1 2+3", 5, "a&name=b", 8, &len);
    CHECK(b && strcmp(b, "apikey=k%26y%3D1&mobile=1%202%2B3&name=a%26name%3Db") == 0);
    free(b);
    /* Middle dot and a character beyond the BMP are sent as UTF-8 bytes. */
    b = qxt_form_body(KEY, "1", 1, "阿·𠀀", strlen("阿·𠀀"), &len);
    CHECK(b && strstr(b, "name=%E9%98%BF%C2%B7%F0%A0%80%80") != NULL);
    free(b);
    /* Into a caller's buffer: the same bytes; too small a buffer is left
     * untouched and the length needed comes back. */
    char buf[128];
    memset(buf, 'x', sizeof buf);
    CHECK(qxt_form_body_into(buf, 20, KEY, "13972565391", 11, "张三", strlen("张三")) == 82 && buf[0] == 'x');
    CHECK(qxt_form_body_into(buf, 82, KEY, "13972565391", 11, "张三", strlen("张三")) == 82 && buf[0] == 'x');
    CHECK(qxt_form_body_into(buf, 83, KEY, "13972565391", 11, "张三", strlen("张三")) == 82 &&
          strcmp(buf, "apikey=0123456789abcdef0123456789abcdef&mobile=13972565391&name=%E5%BC%A0%E4%B8%89") == 0);
}

static void test_redact(void)
{
    char buf[] = "echo 0123456789abcdef0123456789abcdef and 0123456789abcdef0123456789abcdef!";
    CHECK(qxt_redact(buf, strlen(buf), KEY) == 2);
    CHECK(strstr(buf, KEY) == NULL);
    CHECK(strncmp(buf, "echo ****", 9) == 0);
    CHECK(qxt_redact(buf, strlen(buf), NULL) == 0);
    CHECK(qxt_redact(buf, strlen(buf), "") == 0);
}

/* Base64 of bytes (URL-safe alphabet when url), no padding. */
static void b64(const char *in, size_t len, int url, char *out)
{
    const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned long bits = 0;
    int have = 0;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        bits = bits << 8 | (unsigned char)in[i];
        for (have += 8; have >= 6; have -= 6)
            out[n++] = abc[(bits >> (have - 6)) & 63];
    }
    if (have)
        out[n++] = abc[(bits << (6 - have)) & 63];
    out[n] = '\0';
}

/* text holds the key once in some spelling: after redaction nothing of the
 * spelling is left, the text around it is, and the length is the same. */
static int masks_after(const char *key, const char *text, size_t keep)
{
    char buf[4096];
    size_t len = strlen(text);
    int n;

    snprintf(buf, sizeof buf, "<<%s>>", text);
    n = qxt_redact(buf + 2, len, key);
    if (n < 1 || strlen(buf) != len + 4 || strncmp(buf, "<<", 2) || strcmp(buf + len + 2, ">>")) {
        fprintf(stderr, "not masked (%d): %s -> %s\n", n, text, buf);
        return 0;
    }
    for (size_t i = 2 + keep; i < len + 2; i++)
        if (buf[i] != '*' && !strchr(" :", buf[i])) {
            fprintf(stderr, "left over: %s -> %s\n", text, buf);
            return 0;
        }
    return 1;
}

static int masks(const char *key, const char *text)
{
    return masks_after(key, text, 0);
}

static void test_redact_spellings(void)
{
    /* '?' and '>' make base64 use '/' and '+' (base64url: '_' and '-'). */
    static const char *const keys[] = { "0123456789abcdef0123456789abcdef", "Qx7pT2mZ9vL4rW8nC6yB1dF5hJ3k?0>E" };
    char text[2048], enc[512], in[64];

    for (size_t k = 0; k < 2; k++) {
        const char *key = keys[k];
        size_t n, klen = strlen(key);

        /* Letter case: the key in upper case. */
        for (n = 0; n < klen; n++)
            text[n] = (char)(key[n] >= 'a' && key[n] <= 'z' ? key[n] - 32 : key[n]);
        text[n] = '\0';
        CHECK(masks(key, text));
        /* JSON \u escapes, every character or every other, hex case mixed. */
        for (int every = 1; every <= 2; every++) {
            n = 0;
            for (size_t i = 0; i < klen; i++)
                n += (size_t)(i % every ? sprintf(text + n, "%c", key[i])
                                        : sprintf(text + n, i % 4 ? "\\u%04x" : "\\u%04X", (unsigned char)key[i]));
            CHECK(masks(key, text));
        }
        /* Percent escapes: upper, lower, mixed with plain characters. */
        for (int style = 0; style < 3; style++) {
            n = 0;
            for (size_t i = 0; i < klen; i++) {
                unsigned char c = (unsigned char)key[i];
                if (style == 2 && i % 3 == 0)
                    text[n++] = (char)c;
                else
                    n += (size_t)sprintf(text + n, style == 1 || i % 3 == 2 ? "%%%02x" : "%%%02X", c);
            }
            text[n] = '\0';
            CHECK(masks(key, text));
        }
        /* Escapes of escapes: %25 is '%', \\ is '\'. */
        n = 0;
        for (size_t i = 0; i < klen; i++)
            n += (size_t)sprintf(text + n, "%%25%02X", (unsigned char)key[i]);
        CHECK(masks(key, text));
        n = 0;
        for (size_t i = 0; i < klen; i++)
            n += (size_t)sprintf(text + n, "\\\\u%04x", (unsigned char)key[i]);
        CHECK(masks(key, text));
        /* HTML character references and \x escapes. */
        n = 0;
        for (size_t i = 0; i < klen; i++)
            n += (size_t)sprintf(text + n, i % 3 == 0 ? "&#%d;" : i % 3 == 1 ? "&#x%x;" : "\\x%02x",
                                 (unsigned char)key[i]);
        CHECK(masks(key, text));
        /* Hex. */
        n = 0;
        for (size_t i = 0; i < klen; i++)
            n += (size_t)sprintf(text + n, "%02X", (unsigned char)key[i]);
        CHECK(masks(key, text));
        /* Base64 and base64url at each alignment (the characters that
         * encode only what comes before the key may stay); and wrapped
         * across lines. */
        for (int url = 0; url <= 1; url++)
            for (size_t a = 0; a < 3; a++) {
                memcpy(in, "xy", a);
                memcpy(in + a, key, klen);
                b64(in, a + klen, url, enc);
                CHECK(masks_after(key, enc, a));
                snprintf(text, sizeof text, "%.20s\r\n%s", enc, enc + 20);
                CHECK(masks_after(key, text, a));
            }
        /* Base64 of the key after other text: the key is masked, what
         * encodes the text before it stays (but for one character). */
        memcpy(in, "hello ", 6);
        memcpy(in + 6, key, klen);
        b64(in, 6 + klen, 0, enc);
        CHECK(qxt_redact(enc, strlen(enc), key) == 1 && strncmp(enc, "aGVsbG8*", 8) == 0);
    }
    /* What is not the key stays as it was. */
    char other[] = "0123456789abcdef0123456789abcdeX %30%31 \\u0030 MDEyMzQ1Njc4OWFi";
    char copy[sizeof other];
    memcpy(copy, other, sizeof other);
    CHECK(qxt_redact(other, strlen(other), KEY) == 0 && strcmp(other, copy) == 0);
}

static void test_codes(void)
{
    CHECK(qxt_code_class(0) == QXT_CLASS_OK);
    CHECK(qxt_code_class(1) == QXT_CLASS_INPUT);
    CHECK(qxt_code_class(-1) == QXT_CLASS_ACCOUNT);
    CHECK(qxt_code_class(-2) == QXT_CLASS_INPUT);
    CHECK(qxt_code_class(-3) == QXT_CLASS_INPUT);
    CHECK(qxt_code_class(-4) == QXT_CLASS_NO_RECORD);
    CHECK(qxt_code_class(-5) == QXT_CLASS_ACCOUNT);
    CHECK(qxt_code_class(-8) == QXT_CLASS_TRANSIENT);
    CHECK(qxt_code_class(-9) == QXT_CLASS_ACCOUNT);
    CHECK(qxt_code_class(42) == QXT_CLASS_ACCOUNT);   /* unknown: stop and look */
    CHECK(strcmp(qxt_class_name(QXT_CLASS_NO_RECORD), "no_record") == 0);
    CHECK(strcmp(qxt_code_reason(0), "Succ") == 0);
    CHECK(qxt_code_reason(7) == NULL);
    CHECK(strcmp(qxt_code_meaning(7), "unknown code") == 0);
}

/* Decodes one response into a result table left at the top of L. */
static void decode(lua_State *L, long status, const char *body, int ok, const char *error)
{
    struct lresult_query q = { "13972565391", "张三", 11, strlen("张三"), KEY };
    struct http_response r = { .ok = ok, .status = status, .body = body ? body : "",
                               .body_len = body ? strlen(body) : 0, .error = error, .total_ms = 12.5 };
    lua_settop(L, 0);
    lresult_push(L, &q, &r);
}

static const char *str(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

static int is_nil(lua_State *L, const char *field)
{
    int t = lua_getfield(L, 1, field);
    lua_pop(L, 1);
    return t == LUA_TNIL;
}

static lua_Integer integer(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}

static int boolean(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    int v = lua_type(L, -1) == LUA_TBOOLEAN ? lua_toboolean(L, -1) : -1;
    lua_pop(L, 1);
    return v;
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void test_decode_success(lua_State *L)
{
    decode(L, 200, "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13972565391\",\"Name\":\"张三\","
                   "\"Status\":\"一致\",\"Area\":\"湖北-宜昌\",\"Now_isp\":\"中国电信\"}}", 1, NULL);
    CHECK(integer(L, "code") == 0);
    CHECK(streq(str(L, "reason"), "Succ"));
    CHECK(streq(str(L, "class"), "ok"));
    CHECK(boolean(L, "consistent") == 1);
    CHECK(streq(str(L, "status"), "一致"));
    CHECK(streq(str(L, "area"), "湖北-宜昌"));
    CHECK(streq(str(L, "province"), "湖北"));
    CHECK(streq(str(L, "city"), "宜昌"));
    CHECK(streq(str(L, "isp"), "中国电信"));
    CHECK(streq(str(L, "mobile"), "13972565391"));
    CHECK(streq(str(L, "name"), "张三"));
    lua_getfield(L, 1, "latency_ms");
    CHECK(fabs(lua_tonumber(L, -1) - 12.5) < 1e-9);
    lua_pop(L, 1);
    CHECK(str(L, "raw") && strstr(str(L, "raw"), "湖北-宜昌"));

    decode(L, 200, "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Status\":\"不一致\",\"Area\":\"北京\",\"Now_isp\":\"中国移动\"}}", 1, NULL);
    CHECK(boolean(L, "consistent") == 0);
    CHECK(streq(str(L, "province"), "北京"));
    CHECK(is_nil(L, "city"));

    /* Any other status text is kept verbatim, with no verdict. */
    decode(L, 200, "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Status\":\"未知\",\"Area\":\"\"}}", 1, NULL);
    CHECK(is_nil(L, "consistent"));
    CHECK(streq(str(L, "status"), "未知"));
    CHECK(is_nil(L, "province"));
    CHECK(is_nil(L, "isp"));
}

static void test_decode_tolerated(lua_State *L)
{
    /* code as a string, null result, extra fields, odd content type, non-200 with JSON */
    decode(L, 200, "{\"code\":\"-4\",\"reason\":\"none\",\"result\":null,\"extra\":[1,2]}", 1, NULL);
    CHECK(integer(L, "code") == -4);
    CHECK(streq(str(L, "class"), "no_record"));
    CHECK(is_nil(L, "consistent"));
    CHECK(is_nil(L, "status"));

    decode(L, 500, "{\"code\":-8,\"reason\":\"busy\"}", 1, NULL);
    CHECK(integer(L, "code") == -8);
    CHECK(streq(str(L, "class"), "transient"));

    decode(L, 200, "{\"code\":\"0\",\"result\":{\"Status\":null,\"Area\":7}}", 1, NULL);
    CHECK(integer(L, "code") == 0);
    CHECK(streq(str(L, "reason"), "Succ"));          /* missing reason: the table's */
    CHECK(is_nil(L, "status") && is_nil(L, "area"));

    /* Every documented code gets its class. */
    static const struct { const char *body; const char *cls; } cases[] = {
        { "{\"code\":1}", "input" }, { "{\"code\":-1}", "account" }, { "{\"code\":-2}", "input" },
        { "{\"code\":-3}", "input" }, { "{\"code\":-5}", "account" }, { "{\"code\":-9}", "account" },
        { "{\"code\":99,\"reason\":\"new\"}", "account" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        decode(L, 200, cases[i].body, 1, NULL);
        CHECK(streq(str(L, "class"), cases[i].cls));
        CHECK(!is_nil(L, "code"));
    }
}

static void test_decode_transport(lua_State *L)
{
    decode(L, 502, "<html><body>502 Bad Gateway</body></html>", 1, NULL);
    CHECK(is_nil(L, "code"));
    CHECK(streq(str(L, "class"), "transport"));
    CHECK(strstr(str(L, "reason"), "HTTP 502") != NULL);
    /* A body that is not JSON is not kept: only its size. */
    CHECK(strstr(str(L, "raw"), "Bad Gateway") == NULL);
    CHECK(streq(str(L, "raw"), "(41 bytes that are not JSON, not kept)"));

    static const char *const bad[] = {
        "", "not json", "{\"code\":", "[1,2,3]", "{\"reason\":\"no code\"}", "{\"code\":0.5}",
        "{\"code\":\"x\"}", "{\"code\":null}", "{\"code\":true}", "\"0\"", "null",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        decode(L, 200, bad[i], 1, NULL);
        CHECK(is_nil(L, "code"));
        CHECK(streq(str(L, "class"), "transport"));
        CHECK(str(L, "reason") != NULL);
    }

    decode(L, 0, NULL, 0, "timeout: Operation timed out after 3001 milliseconds");
    CHECK(streq(str(L, "class"), "transport"));
    CHECK(strstr(str(L, "reason"), "timeout") != NULL);
    CHECK(is_nil(L, "code") && is_nil(L, "http_status"));
}

static void test_decode_redacts_key(lua_State *L)
{
    decode(L, 200, "{\"code\":-1,\"reason\":\"bad key 0123456789abcdef0123456789abcdef\"}", 1, NULL);
    CHECK(strstr(str(L, "raw"), KEY) == NULL);
    CHECK(strstr(str(L, "reason"), KEY) == NULL);
    decode(L, 0, NULL, 0, "failed for 0123456789abcdef0123456789abcdef");
    CHECK(strstr(str(L, "reason"), KEY) == NULL);
    decode(L, 0, NULL, 0, "failed for %30%31%32%33%34%35%36%37%38%39abcdef0123456789abcdef");
    CHECK(strstr(str(L, "reason"), "%30%31") == NULL);

    /* The key as cjson decodes it (\u escapes become the key itself), in
     * the reason, the verdict's fields, an extra field's name and value:
     * masked in each field and in raw, which is that answer encoded again. */
    decode(L, 200, "{\"code\":0,\"reason\":\"k=\\u0030123456789abcdef0123456789abcdef\","
                   "\"result\":{\"Status\":\"0123456789ABCDEF0123456789abcdef\","
                   "\"Area\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=-x\",\"Now_isp\":\"\\u0030123456789abcdef0123456789abcdef\"},"
                   "\"0123456789abcdef0123456789abcdef\":[\"0123456789abcdef0123456789abcdef\"]}", 1, NULL);
    CHECK(integer(L, "code") == 0);
    CHECK(streq(str(L, "reason"), "k=********************************"));
    CHECK(streq(str(L, "status"), "********************************"));
    CHECK(str(L, "area") && strncmp(str(L, "area"), "*******", 7) == 0 && strstr(str(L, "area"), "MDEy") == NULL);
    CHECK(str(L, "province") && strstr(str(L, "province"), "MDEy") == NULL);
    CHECK(streq(str(L, "isp"), "********************************"));
    const char *raw = str(L, "raw");
    CHECK(raw && raw[0] == '{' && strstr(raw, "0123456789") == NULL && strstr(raw, "\\u0030") == NULL);
    CHECK(raw && strstr(raw, "\"k=********************************\"") != NULL);
}

#define SAME_MOBILE(a, b) echo_same_mobile(a, strlen(a), b, strlen(b))
#define SAME_NAME(a, b) echo_same_name(a, strlen(a), b, strlen(b))

static void test_echo(void)
{
    CHECK(SAME_MOBILE("13972565391", "13972565391"));
    CHECK(SAME_MOBILE("13972565391", "+86 139 7256 5391"));
    CHECK(SAME_MOBILE("13972565391", "8613972565391"));
    CHECK(SAME_MOBILE("13972565391", "0086-139-7256-5391"));
    CHECK(SAME_MOBILE("+8613972565391", "13972565391"));
    CHECK(SAME_MOBILE("13972565391", "１３９７２５６５３９１"));     /* full-width digits */
    CHECK(SAME_MOBILE("13972565391", "139****5391"));               /* masked echo */
    CHECK(SAME_MOBILE("13972565391", "139…"));                      /* cannot be compared */
    CHECK(SAME_MOBILE("13972565391", ""));
    CHECK(!SAME_MOBILE("13972565391", "13972565392"));
    CHECK(!SAME_MOBILE("13972565391", "139****5392"));
    CHECK(!SAME_MOBILE("13972565391", "1397256539"));
    CHECK(!SAME_MOBILE("13972565391", "8813972565391"));            /* not China's code */
    CHECK(!SAME_MOBILE("13972565391", "13972565391x"));
    CHECK(SAME_NAME("张三", "张三"));
    CHECK(SAME_NAME(" 张三 ", "张三"));
    CHECK(SAME_NAME("张三", "\xe3\x80\x80张三 "));
    CHECK(SAME_NAME("曹操", "曹..."));
    CHECK(SAME_NAME("曹操", "曹…"));
    CHECK(SAME_NAME("曹操", "曹*"));
    CHECK(SAME_NAME("曹操", "*操"));
    CHECK(SAME_NAME("曹操", "曹＊"));
    CHECK(SAME_NAME("曹操", ""));
    CHECK(!SAME_NAME("张三", "李四"));
    CHECK(!SAME_NAME("张三", "张三丰"));
    CHECK(!SAME_NAME("张三", "张"));
}

/* Decodes with a transport outcome saying whether the request went out. */
static void decode_sent(lua_State *L, int sent, const char *error)
{
    struct lresult_query q = { "13972565391", "张三", 11, strlen("张三"), KEY };
    struct http_response r = { .ok = 0, .body = "", .error = error, .sent = sent };
    lua_settop(L, 0);
    lresult_push(L, &q, &r);
}

static void test_decode_money(lua_State *L)
{
    /* never sent, possibly charged, answered */
    decode_sent(L, 0, "Failed to connect to 127.0.0.1 port 1: Connection refused");
    CHECK(streq(str(L, "class"), "transport") && is_nil(L, "possibly_charged"));
    decode_sent(L, 1, "timeout: Operation timed out after 1000 milliseconds");
    CHECK(streq(str(L, "class"), "transport") && boolean(L, "possibly_charged") == 1);
    decode(L, 503, "<html>503</html>", 1, NULL);
    CHECK(streq(str(L, "class"), "transport") && boolean(L, "possibly_charged") == 1);
    decode(L, 200, "{\"code\":", 1, NULL);
    CHECK(boolean(L, "possibly_charged") == 1);
    decode(L, 200, "{\"reason\":\"no code\"}", 1, NULL);
    CHECK(boolean(L, "possibly_charged") == 1);
    decode(L, 200, "{\"code\":-4,\"result\":null}", 1, NULL);
    CHECK(integer(L, "code") == -4 && is_nil(L, "possibly_charged"));

    /* an answer about someone else: nothing taken from it */
    decode(L, 200, "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13800138000\",\"Name\":\"张三\","
                   "\"Status\":\"一致\",\"Area\":\"北京\",\"Now_isp\":\"中国移动\"}}", 1, NULL);
    CHECK(streq(str(L, "class"), "mismatch"));
    CHECK(boolean(L, "possibly_charged") == 1);
    CHECK(is_nil(L, "code") && is_nil(L, "consistent") && is_nil(L, "status") && is_nil(L, "area"));
    CHECK(is_nil(L, "province") && is_nil(L, "isp"));
    CHECK(strstr(str(L, "reason"), "another mobile") && !strstr(str(L, "reason"), "13800138000"));
    decode(L, 200, "{\"code\":0,\"result\":{\"Mobile\":\"13972565391\",\"Name\":\"李四\",\"Status\":\"一致\"}}",
           1, NULL);
    CHECK(streq(str(L, "class"), "mismatch") && strstr(str(L, "reason"), "another name"));
    decode(L, 200, "{\"code\":0,\"result\":{\"Mobile\":\"+86 13972565391\",\"Name\":\"张*\",\"Status\":\"一致\"}}",
           1, NULL);
    CHECK(streq(str(L, "class"), "ok") && boolean(L, "consistent") == 1 && is_nil(L, "possibly_charged"));
    /* an account code halts whatever it names */
    decode(L, 200, "{\"code\":-5,\"result\":{\"Mobile\":\"13800138000\"}}", 1, NULL);
    CHECK(streq(str(L, "class"), "account"));
    CHECK(qxt_class_final(QXT_CLASS_MISMATCH) && !qxt_class_final(QXT_CLASS_TRANSPORT));
    CHECK(strcmp(qxt_class_name(QXT_CLASS_MISMATCH), "mismatch") == 0);
}

int main(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lresult_open(L);

    test_form_body();
    test_redact();
    test_redact_spellings();
    test_codes();
    test_decode_success(L);
    test_decode_tolerated(L);
    test_decode_transport(L);
    test_decode_redacts_key(L);
    test_echo();
    test_decode_money(L);

    lua_close(L);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
