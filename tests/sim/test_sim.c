/* test_sim.c -- end-to-end tests of qxt-sim: the real binary, over real
 * HTTP on loopback. Usage: test_sim QXT_SIM_BINARY SOURCE_DIR GROUP
 * (one ctest entry per group; see CMakeLists.txt). */
#include "harness.h"
#include "codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static const char *source_dir;

#define EXAMPLE "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13972565391\"," \
                "\"Name\":\"张三\",\"Status\":\"一致\",\"Area\":\"湖北-宜昌\",\"Now_isp\":\"中国电信\"}}"
#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define UNKNOWN_KEY "ffffffffffffffffffffffffffffffff"

static const char *jstr(json_t *doc, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(doc, a), b);
    return json_is_string(v) ? json_string_value(v) : "(missing)";
}

/* Query and check the code in one line. */
static void expect_code(struct sim *s, const char *key, const char *mobile, const char *name,
                        int want, const char *why)
{
    int got = query(s, key, mobile, name, NULL);
    CHECK(got == want, "%s: mobile %s: got %d, want %d", why, mobile ? mobile : "(none)", got, want);
}

/* ---- api: the answer's shape, GET and POST, the registry --------------- */

static void test_api(void)
{
    struct sim s;
    struct reply r;
    json_t *j;
    char *body, want[512];

    if (sim_start(&s, NULL) < 0)
        return;
    body = form(DEFAULT_KEY, "13972565391", "张三");
    http(&s, "POST", "/Phone_TwoElements", body, &r);
    CHECK(r.status == 200, "status %ld", r.status);
    CHECK(strcmp(r.body, EXAMPLE) == 0, "POST body:\n    %s", r.body);
    CHECK(strcmp(r.ctype, "application/json; charset=utf-8") == 0, "content type %s", r.ctype);
    reply_free(&r);

    char path[512];
    snprintf(path, sizeof path, "/Phone_TwoElements?%s", body);
    http(&s, "GET", path, NULL, &r);
    CHECK(strcmp(r.body, EXAMPLE) == 0, "GET body:\n    %s", r.body);
    CHECK(r.new_connections == 0, "keep-alive: the GET opened %ld connection(s)", r.new_connections);
    reply_free(&r);
    free(body);

    /* Parameters split between the query string and the body. */
    snprintf(path, sizeof path, "/Phone_TwoElements?apikey=%s", DEFAULT_KEY);
    body = form(NULL, "13972565391", "张三");
    http(&s, "POST", path, body, &r);
    CHECK(strcmp(r.body, EXAMPLE) == 0, "query string + body: %s", r.body);
    reply_free(&r);
    free(body);
    /* '+' for a space in a form body, and a space is part of the name. */
    http(&s, "POST", "/Phone_TwoElements",
         "apikey=" DEFAULT_KEY "&mobile=13972565391&name=%E5%BC%A0%E4%B8%89+", &r);
    j = json_loads(r.body, 0, NULL);
    CHECK(strcmp(jstr(j, "result", "Status"), "不一致") == 0, "name with a space: %s", r.body);
    CHECK(strcmp(jstr(j, "result", "Name"), "张三 ") == 0, "name echoed as sent: %s", r.body);
    json_decref(j);
    reply_free(&r);

    CHECK(query(&s, DEFAULT_KEY, "18819079212", "曹操", &j) == 0, "document's second example");
    CHECK(strcmp(jstr(j, "result", "Status"), "一致") == 0, "曹操 一致");
    CHECK(strcmp(jstr(j, "result", "Area"), "广东-深圳") == 0, "曹操 area");
    CHECK(strcmp(jstr(j, "result", "Now_isp"), "中国移动") == 0, "曹操 isp");
    json_decref(j);

    CHECK(query(&s, DEFAULT_KEY, "13972565391", "李四", &j) == 0, "mismatch is code 0");
    CHECK(strcmp(jstr(j, "result", "Status"), "不一致") == 0, "李四 不一致");
    CHECK(strcmp(jstr(j, "result", "Name"), "李四") == 0, "the name as sent is echoed");
    json_decref(j);

    struct { const char *mobile, *name, *area, *isp; } rows[] = {
        { "13800138000", "李四", "北京", "中国移动" },
        { "16612345678", "吴九", "", "中国联通" },
        { "17012345678", "周八", "广东-广州", "虚拟运营商" },
        { "18912345678", "阿依古丽·买买提", "新疆-乌鲁木齐", "中国电信" },
        { "13512345678", "黄丽", "广东-广州", "中国电信" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK(query(&s, DEFAULT_KEY, rows[i].mobile, rows[i].name, &j) == 0, "%s", rows[i].mobile);
        CHECK(strcmp(jstr(j, "result", "Status"), "一致") == 0, "%s status", rows[i].mobile);
        CHECK(strcmp(jstr(j, "result", "Area"), rows[i].area) == 0, "%s area %s",
              rows[i].mobile, jstr(j, "result", "Area"));
        CHECK(strcmp(jstr(j, "result", "Now_isp"), rows[i].isp) == 0, "%s isp", rows[i].mobile);
        json_decref(j);
    }

    /* -4 in exactly the document's shape, reason from the code table. */
    body = form(DEFAULT_KEY, "13900000000", "张三");
    http(&s, "POST", "/Phone_TwoElements", body, &r);
    snprintf(want, sizeof want, "{\"code\":-4,\"reason\":\"%s\",\"result\":null}",
             qxt_code_reason(-4));
    CHECK(strcmp(r.body, want) == 0, "-4 body: %s", r.body);
    reply_free(&r);
    free(body);

    /* A GBK name (张三 in GBK) never matches, and the answer stays JSON. */
    http(&s, "POST", "/Phone_TwoElements",
         "apikey=" DEFAULT_KEY "&mobile=13972565391&name=%D5%C5%C8%FD", &r);
    j = json_loads(r.body, 0, NULL);
    CHECK(j != NULL, "GBK name: body is not JSON: %s", r.body);
    CHECK(strcmp(jstr(j, "result", "Status"), "不一致") == 0, "GBK name: %s", r.body);
    json_decref(j);
    reply_free(&r);

    http(&s, "GET", "/nowhere", NULL, &r);
    CHECK(r.status == 404, "unknown path: %ld", r.status);
    reply_free(&r);
    http(&s, "PUT", "/Phone_TwoElements", NULL, &r);
    CHECK(r.status == 405, "PUT: %ld", r.status);
    reply_free(&r);
    http(&s, "DELETE", "/stats", NULL, &r);
    CHECK(r.status == 405, "DELETE /stats: %ld", r.status);
    reply_free(&r);
    http(&s, "GET", "/stats/reset", NULL, &r);
    CHECK(r.status == 405, "GET /stats/reset: %ld", r.status);
    reply_free(&r);
    sim_stop(&s);
}

/* ---- precedence: every code, and which wins ---------------------------- */

static void test_precedence(void)
{
    struct sim s, denied, broke, failing;
    struct reply r;

    if (sim_start(&s, (const char *[]){ "--apikey", DEFAULT_KEY, NULL }) < 0)
        return;
    expect_code(&s, NULL, NULL, NULL, 1, "no parameters");
    expect_code(&s, NULL, "13972565391", "张三", 1, "no apikey");
    expect_code(&s, DEFAULT_KEY, NULL, "张三", 1, "no mobile");
    expect_code(&s, DEFAULT_KEY, "13972565391", NULL, 1, "no name");
    expect_code(&s, DEFAULT_KEY, "13972565391", "", 1, "empty name");
    expect_code(&s, "", "13972565391", "张三", 1, "empty apikey");
    expect_code(&s, DEFAULT_KEY "0", "13972565391", "张三", 1, "33-character apikey");
    expect_code(&s, "0123456789abcdef0123456789abcde", "13972565391", "张三", 1, "31 characters");
    expect_code(&s, UNKNOWN_KEY, "13972565391", NULL, 1, "1 before -1");
    expect_code(&s, "0123456789abcdef0123456789abcde", "12", "张三", 1, "1 before -2");
    http(&s, "GET", "/Phone_TwoElements?apikey=" DEFAULT_KEY "&mobile&name=x", NULL, &r);
    CHECK(outcome(&r) == 1, "mobile without '=': %s", r.body);
    reply_free(&r);

    expect_code(&s, UNKNOWN_KEY, "13972565391", "张三", -1, "unknown key");
    expect_code(&s, UNKNOWN_KEY, "123", "张三", -1, "-1 before -2");
    expect_code(&s, UNKNOWN_KEY, "12972565391", "张三", -1, "-1 before -3");

    expect_code(&s, DEFAULT_KEY, "1397256539", "张三", -2, "10 digits");
    expect_code(&s, DEFAULT_KEY, "139725653911", "张三", -2, "12 digits");
    expect_code(&s, DEFAULT_KEY, "+8613972565391", "张三", -2, "with +86");
    expect_code(&s, DEFAULT_KEY, "139 7256 5391", "张三", -2, "with spaces");
    /* Length counts characters as sent: a full-width digit is one. */
    expect_code(&s, DEFAULT_KEY, "1397256539１", "张三", -3, "full-width digit, 11 characters");
    expect_code(&s, DEFAULT_KEY, "一二三四五六七八九十一", "张三", -3, "11 Chinese characters");
    expect_code(&s, DEFAULT_KEY, "12972565391", "张三", -3, "second digit 2");
    expect_code(&s, DEFAULT_KEY, "23972565391", "张三", -3, "first digit 2");
    expect_code(&s, DEFAULT_KEY, "1397256539a", "张三", -3, "a letter");
    expect_code(&s, DEFAULT_KEY, "13900000000", "张三", -4, "not registered");
    json_t *st = get_stats(&s);
    CHECK(jint(st, "charged", NULL) == 0, "nothing was charged: %lld", jint(st, "charged", NULL));
    json_decref(st);
    /* --apikey was given: the default account exists only without it. */
    expect_code(&s, DEFAULT_KEY, "13972565391", "张三", 0, "listed key");
    sim_stop(&s);

    if (sim_start(&s, (const char *[]){ "--apikey", KEY_A, NULL }) == 0) {
        expect_code(&s, DEFAULT_KEY, "13972565391", "张三", -1, "default key gone with --apikey");
        sim_stop(&s);
    }

    if (sim_start(&denied, (const char *[]){ "--allow-ip", "10.1.2.3", NULL }) == 0) {
        expect_code(&denied, DEFAULT_KEY, "13972565391", "张三", -9, "IP not allowed");
        expect_code(&denied, DEFAULT_KEY, "123", "张三", -9, "-9 before -2");
        expect_code(&denied, DEFAULT_KEY, "12972565391", "张三", -9, "-9 before -3");
        expect_code(&denied, UNKNOWN_KEY, "13972565391", "张三", -1, "-1 before -9");
        expect_code(&denied, DEFAULT_KEY, NULL, "张三", 1, "1 before -9");
        sim_stop(&denied);
    }

    if (sim_start(&broke, (const char *[]){ "--apikey", KEY_A ":0", "--fail-rate", "1", NULL }) == 0) {
        expect_code(&broke, KEY_A, "13972565391", "张三", -5, "balance 0");
        expect_code(&broke, KEY_A, "13900000000", "张三", -5, "-5 before -4");
        expect_code(&broke, KEY_A, "13972565391", "李四", -5, "-5 before -8");
        expect_code(&broke, KEY_A, "1397256539", "张三", -2, "-2 before -5");
        expect_code(&broke, KEY_A, "12972565391", "张三", -3, "-3 before -5");
        sim_stop(&broke);
    }

    if (sim_start(&failing, (const char *[]){ "--fail-rate", "1", NULL }) == 0) {
        expect_code(&failing, DEFAULT_KEY, "13972565391", "张三", -8, "fail-rate 1");
        expect_code(&failing, DEFAULT_KEY, "13900000000", "张三", -8, "-8 before -4");
        expect_code(&failing, DEFAULT_KEY, "12972565391", "张三", -3, "-3 before -8");
        json_t *j = NULL;
        CHECK(query(&failing, DEFAULT_KEY, "13972565391", "张三", &j) == -8, "-8 body");
        CHECK(json_is_null(json_object_get(j, "result")), "-8 result is null");
        CHECK(strcmp(json_string_value(json_object_get(j, "reason")), qxt_code_reason(-8)) == 0,
              "-8 reason");
        json_decref(j);
        json_t *st2 = get_stats(&failing);
        CHECK(jint(st2, "charged", NULL) == 0, "-8 is not charged");
        CHECK(jint(st2, "faults", "fail", NULL) == 3, "fail faults: %lld",
              jint(st2, "faults", "fail", NULL));
        json_decref(st2);
        sim_stop(&failing);
    }
}

/* ---- accounts: balances and the allow-list ----------------------------- */

static void test_accounts(void)
{
    struct sim s;
    json_t *st;

    if (sim_start(&s, (const char *[]){ "--apikey", KEY_A ":3", "--apikey", KEY_B, NULL }) == 0) {
        expect_code(&s, KEY_A, "13900000000", "张三", -4, "-4 before the balance runs out");
        expect_code(&s, KEY_A, "13972565391", "李四", 0, "charged 1 (a mismatch is an answer)");
        expect_code(&s, KEY_A, "13972565391", "张三", 0, "charged 2");
        expect_code(&s, KEY_A, "1397256539", "张三", -2, "-2 is free");
        expect_code(&s, KEY_A, "18819079212", "曹操", 0, "charged 3");
        expect_code(&s, KEY_A, "18819079212", "曹操", -5, "balance exhausted");
        expect_code(&s, KEY_A, "13900000000", "张三", -5, "still exhausted");
        expect_code(&s, KEY_B, "18819079212", "曹操", 0, "the other account is unlimited");
        st = get_stats(&s);
        CHECK(jint(st, "by_apikey", "aaaa****aaaa", "charged", NULL) == 3, "A charged 3");
        CHECK(jint(st, "by_apikey", "aaaa****aaaa", "requests", NULL) == 7, "A requests");
        CHECK(jint(st, "by_apikey", "aaaa****aaaa", "balance", NULL) == 0, "A balance 0");
        CHECK(json_is_null(json_object_get(json_object_get(json_object_get(st, "by_apikey"),
                                                           "bbbb****bbbb"), "balance")),
              "B balance is null (unlimited)");
        CHECK(jint(st, "charged", NULL) == 4, "charged 4 in all");
        CHECK(jint(st, "by_code", "-5", NULL) == 2, "two -5");
        json_decref(st);
        sim_stop(&s);
    }

    /* Concurrent spending never goes below zero. */
    if (sim_start(&s, (const char *[]){ "--apikey", KEY_A ":25", NULL }) == 0) {
        char *bodies[60];
        struct reply replies[60];
        int ok = 0, poor = 0;
        for (int i = 0; i < 60; i++)
            bodies[i] = form(KEY_A, "13972565391", "张三");
        batch(&s, 60, bodies, replies);
        for (int i = 0; i < 60; i++) {
            int o = outcome(&replies[i]);
            ok += o == 0;
            poor += o == -5;
            reply_free(&replies[i]);
            free(bodies[i]);
        }
        CHECK(ok == 25 && poor == 35, "60 concurrent queries on balance 25: %d answers, %d -5", ok, poor);
        sim_stop(&s);
    }

    const char *lists[][5] = {
        { "--allow-ip", "127.0.0.1", NULL },
        { "--allow-ip", "10.0.0.1", "--allow-ip", "127.0.0.0/8", NULL },
        { "--allow-ip", "::1", "--allow-ip", "127.0.0.1", NULL },
    };
    for (size_t i = 0; i < 3; i++)
        if (sim_start(&s, lists[i]) == 0) {
            expect_code(&s, DEFAULT_KEY, "13972565391", "张三", 0, lists[i][1]);
            sim_stop(&s);
        }
    const char *denying[][5] = {
        { "--allow-ip", "10.1.2.3", NULL },
        { "--allow-ip", "127.0.0.2", "--allow-ip", "10.0.0.0/8", NULL },
    };
    for (size_t i = 0; i < 2; i++)
        if (sim_start(&s, denying[i]) == 0) {
            expect_code(&s, DEFAULT_KEY, "13972565391", "张三", -9, denying[i][1]);
            st = get_stats(&s);
            CHECK(jint(st, "by_code", "-9", NULL) == 1, "-9 counted");
            json_decref(st);
            sim_stop(&s);
        }
}

/* ---- people: --people files, --print-people ----------------------------- */

/* Runs qxt-sim --people FILE on a bad file: exit 2 and a message naming
 * the file and line. */
static void expect_bad_people(const char *name, const char *csv, const char *where,
                              const char *why)
{
    const char *path = write_tmp(name, csv);
    char *err = NULL, want[600];
    int status = sim_run((const char *[]){ "--people", path, NULL }, NULL, &err);
    snprintf(want, sizeof want, "%s%s", path, where);
    CHECK(status == 2, "%s: exit status %d", name, status);
    CHECK(err && strstr(err, want), "%s: message should name %s: %s", name, want, err ? err : "");
    CHECK(err && strstr(err, why), "%s: message should say '%s': %s", name, why, err ? err : "");
    free(err);
}

static void test_people(void)
{
    struct sim s;
    char path[600], *out = NULL, *copy = NULL;
    json_t *j;

    /* The built-in table and its copy for tests and demos stay equal. */
    snprintf(path, sizeof path, "%s/tests/sim/people.csv", source_dir);
    copy = read_file(path, NULL);
    CHECK(sim_run((const char *[]){ "--print-people", NULL }, &out, NULL) == 0, "--print-people");
    CHECK(copy && out && strcmp(copy, out) == 0, "--print-people differs from tests/sim/people.csv");
    CHECK(out && strstr(out, "mobile,name,area,carrier\n") == out, "CSV header: %.40s", out ? out : "");
    int rows = 0;
    for (const char *p = out; p && *p; p++)
        rows += *p == '\n';
    CHECK(rows >= 20, "built-in registry has %d lines", rows);
    free(out);

    if (sim_start(&s, (const char *[]){ "--people", path, NULL }) == 0) {
        expect_code(&s, DEFAULT_KEY, "13972565391", "张三", 0, "tests/sim/people.csv");
        sim_stop(&s);
    }
    free(copy);

    /* BOM, CRLF, columns in another order, an extra column, RFC 4180
     * quoting, a blank line, an empty area. */
    const char *custom = write_tmp("custom.csv",
        "\xEF\xBB\xBF" "name,carrier,extra,mobile,area\r\n"
        "\"Smith, John\",中国联通,x,13100000001,\"广东-深圳\"\r\n"
        "\r\n"
        "\"He said \"\"hi\"\"\",中国移动,,13100000002,\r\n"
        "\"多行\n名字\",中国电信,,13100000003,北京\r\n");
    if (sim_start(&s, (const char *[]){ "--people", custom, NULL }) == 0) {
        CHECK(query(&s, DEFAULT_KEY, "13100000001", "Smith, John", &j) == 0, "quoted comma");
        CHECK(strcmp(jstr(j, "result", "Status"), "一致") == 0, "quoted comma matches");
        CHECK(strcmp(jstr(j, "result", "Now_isp"), "中国联通") == 0, "carrier column moved");
        CHECK(strcmp(jstr(j, "result", "Area"), "广东-深圳") == 0, "area column moved");
        json_decref(j);
        CHECK(query(&s, DEFAULT_KEY, "13100000002", "He said \"hi\"", &j) == 0, "doubled quotes");
        CHECK(strcmp(jstr(j, "result", "Status"), "一致") == 0, "doubled quotes match");
        CHECK(strcmp(jstr(j, "result", "Area"), "") == 0, "empty area");
        json_decref(j);
        CHECK(query(&s, DEFAULT_KEY, "13100000003", "多行\n名字", &j) == 0, "newline in a field");
        CHECK(strcmp(jstr(j, "result", "Status"), "一致") == 0, "newline in a field matches");
        json_decref(j);
        expect_code(&s, DEFAULT_KEY, "13972565391", "张三", -4, "built-in people are replaced");
        sim_stop(&s);
    }
    CHECK(sim_run((const char *[]){ "--people", custom, "--print-people", NULL }, &out, NULL) == 0,
          "--print-people with --people");
    CHECK(out && strstr(out, "13100000001,\"Smith, John\",广东-深圳,中国联通\n"),
          "printed with quoting: %s", out ? out : "");
    free(out);

    expect_bad_people("badmobile.csv", "mobile,name,area,carrier\n13100000001,甲,,中国移动\n"
                      "2310000000,乙,,中国移动\n", ":3:", "mobile");
    expect_bad_people("dup.csv", "mobile,name,area,carrier\n13100000001,甲,,中国移动\n"
                      "13100000002,乙,,中国移动\n13100000001,丙,,中国移动\n", ":4:",
                      "already listed at line 2");
    expect_bad_people("fields.csv", "mobile,name,area,carrier\n13100000001,甲,中国移动\n",
                      ":2:", "fields");
    expect_bad_people("header.csv", "mobile,name,carrier\n13100000001,甲,中国移动\n",
                      ":1:", "area");
    expect_bad_people("quote.csv", "mobile,name,area,carrier\n13100000001,\"甲,,中国移动\n",
                      ":2:", "quoted");
    expect_bad_people("stray.csv", "mobile,name,area,carrier\n13100000001,甲\"乙,,中国移动\n",
                      ":2:", "quoting");
    expect_bad_people("gbk.csv", "mobile,name,area,carrier\n13100000001,\xD5\xC5\xC8\xFD,,中国移动\n",
                      ":2:", "UTF-8");
    expect_bad_people("noname.csv", "mobile,name,area,carrier\n13100000001,,,中国移动\n",
                      ":2:", "name is empty");
    expect_bad_people("empty.csv", "", "", "empty");
    char *err = NULL;
    CHECK(sim_run((const char *[]){ "--people", "/nonexistent/people.csv", NULL }, NULL, &err) == 2,
          "missing file");
    CHECK(err && strstr(err, "/nonexistent/people.csv"), "missing file named: %s", err ? err : "");
    free(err);
}

/* ---- faults: each at its rate ------------------------------------------ */

static void test_faults(void)
{
    struct sim s;
    json_t *st;
    struct reply r;
    int count[OUT_OTHER + 1];

    if (sim_start(&s, (const char *[]){ "--fail-rate", "0.3", "--seed", "5", NULL }) == 0) {
        int fails = 0, answers = 0;
        for (int i = 0; i < 1000; i++) {
            int o = query(&s, DEFAULT_KEY, "13972565391", "张三", NULL);
            fails += o == -8;
            answers += o == 0;
        }
        CHECK(fails >= 250 && fails <= 350, "fail-rate 0.3: %d of 1000", fails);
        CHECK(fails + answers == 1000, "others are answers: %d", answers);
        st = get_stats(&s);
        CHECK(jint(st, "faults", "fail", NULL) == fails, "stats fail %lld", jint(st, "faults", "fail", NULL));
        CHECK(jint(st, "by_code", "-8", NULL) == fails, "by_code -8");
        CHECK(jint(st, "charged", NULL) == answers, "only answers charged");
        json_decref(st);
        sim_stop(&s);
    }

    fresh_connections = 1;
    if (sim_start(&s, (const char *[]){ "--drop-rate", "0.2", "--http-error-rate", "0.2",
                                        "--garbage-rate", "0.2", NULL }) == 0) {
        int html = 0, s502 = 0, s503 = 0;
        memset(count, 0, sizeof count);
        char *body = form(DEFAULT_KEY, "13972565391", "张三");
        for (int i = 0; i < 1000; i++) {
            http(&s, "POST", "/Phone_TwoElements", body, &r);
            int o = outcome(&r);
            if (o >= 0 && o <= OUT_OTHER)
                count[o]++;
            if (o == OUT_HTTP_ERROR) {
                html += strncmp(r.ctype, "text/html", 9) == 0 && strstr(r.body, "<html>") != NULL;
                s502 += r.status == 502;
                s503 += r.status == 503;
            }
            if (o == OUT_GARBAGE)
                CHECK(r.status == 200, "garbage comes with HTTP 200: %ld", r.status);
            reply_free(&r);
        }
        free(body);
        CHECK(count[OUT_DROP] >= 150 && count[OUT_DROP] <= 250, "drops: %d of 1000", count[OUT_DROP]);
        CHECK(count[OUT_HTTP_ERROR] >= 150 && count[OUT_HTTP_ERROR] <= 250, "HTTP errors: %d",
              count[OUT_HTTP_ERROR]);
        CHECK(count[OUT_GARBAGE] >= 150 && count[OUT_GARBAGE] <= 250, "garbage: %d", count[OUT_GARBAGE]);
        CHECK(count[0] >= 330 && count[0] <= 470, "answers: %d", count[0]);
        CHECK(count[OUT_OTHER] == 0, "other outcomes: %d", count[OUT_OTHER]);
        CHECK(html == count[OUT_HTTP_ERROR], "HTTP errors carry HTML: %d", html);
        CHECK(s502 > 0 && s503 > 0, "both 502 (%d) and 503 (%d)", s502, s503);
        st = get_stats(&s);
        CHECK(jint(st, "faults", "drop", NULL) == count[OUT_DROP], "stats drop");
        CHECK(jint(st, "faults", "http_error", NULL) == count[OUT_HTTP_ERROR], "stats http_error");
        CHECK(jint(st, "faults", "garbage", NULL) == count[OUT_GARBAGE], "stats garbage");
        CHECK(jint(st, "requests", NULL) == 1000, "every query counted");
        CHECK(jint(st, "charged", NULL) == count[0], "faults are not charged");
        json_decref(st);
        sim_stop(&s);
    }
    fresh_connections = 0;

    /* Slow answers: a share of the queries waits --slow instead. */
    if (sim_start(&s, (const char *[]){ "--slow-rate", "0.5", "--slow", "400ms", NULL }) == 0) {
        enum { N = 40 };
        char *bodies[N];
        struct reply rs[N];
        int slow = 0, fast = 0;
        for (int i = 0; i < N; i++) {
            char m[16];
            snprintf(m, sizeof m, "139%08d", i);
            bodies[i] = form(DEFAULT_KEY, m, "张三");
        }
        batch(&s, N, bodies, rs);
        for (int i = 0; i < N; i++) {
            CHECK(outcome(&rs[i]) == -4, "slow answers are answers: %d", outcome(&rs[i]));
            slow += rs[i].secs >= 0.4;
            fast += rs[i].secs < 0.3;
            reply_free(&rs[i]);
            free(bodies[i]);
        }
        CHECK(slow >= 10 && slow <= 30, "slow-rate 0.5: %d of %d", slow, N);
        CHECK(slow + fast == N, "each is slow (>= 400 ms) or fast (< 300 ms): %d + %d", slow, fast);
        st = get_stats(&s);
        CHECK(jint(st, "faults", "slow", NULL) == slow, "stats slow %lld vs %d",
              jint(st, "faults", "slow", NULL), slow);
        json_decref(st);
        sim_stop(&s);
    }
}

/* ---- seed: faults are a function of the seed and the queries ----------- */

#define SEQ 300

static void run_sequence(const char *seed, int *out)
{
    struct sim s;
    memset(out, 0xff, SEQ * sizeof *out);
    if (sim_start(&s, (const char *[]){ "--seed", seed, "--fail-rate", "0.2", "--drop-rate", "0.1",
                                        "--http-error-rate", "0.1", "--garbage-rate", "0.1",
                                        NULL }) < 0)
        return;
    /* 30 pairs, each queried 10 times, interleaved. */
    for (int i = 0; i < SEQ; i++) {
        char m[16];
        snprintf(m, sizeof m, "139725653%02d", i % 30);
        out[i] = query(&s, DEFAULT_KEY, m, "张三", NULL);
    }
    sim_stop(&s);
}

static void run_concurrent(const char *seed, int *out)
{
    struct sim s;
    char *bodies[SEQ];
    struct reply rs[SEQ];
    if (sim_start(&s, (const char *[]){ "--seed", seed, "--fail-rate", "0.2", "--drop-rate", "0.1",
                                        "--http-error-rate", "0.1", "--garbage-rate", "0.1",
                                        "--latency", "50ms", "--jitter", "40ms", NULL }) < 0)
        return;
    for (int i = 0; i < SEQ; i++) {
        char m[16];
        snprintf(m, sizeof m, "1380000%04d", i);
        bodies[i] = form(DEFAULT_KEY, m, "张三");
    }
    batch(&s, SEQ, bodies, rs);
    for (int i = 0; i < SEQ; i++) {
        out[i] = outcome(&rs[i]);
        reply_free(&rs[i]);
        free(bodies[i]);
    }
    sim_stop(&s);
}

static void run_sequential_distinct(const char *seed, int *out)
{
    struct sim s;
    if (sim_start(&s, (const char *[]){ "--seed", seed, "--fail-rate", "0.2", "--drop-rate", "0.1",
                                        "--http-error-rate", "0.1", "--garbage-rate", "0.1",
                                        NULL }) < 0)
        return;
    for (int i = 0; i < SEQ; i++) {
        char m[16];
        snprintf(m, sizeof m, "1380000%04d", i);
        out[i] = query(&s, DEFAULT_KEY, m, "张三", NULL);
    }
    sim_stop(&s);
}

static void test_seed(void)
{
    static int a[SEQ], b[SEQ], c[SEQ], d[SEQ], e[SEQ];
    int differ = 0, kinds[OUT_OTHER + 1] = { 0 }, fails = 0, answers = 0, same = 0;

    fresh_connections = 1;       /* see harness.h: drops must be seen */
    run_sequence("7", a);
    run_sequence("7", b);
    run_sequence("8", c);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same outcomes");
    for (int i = 0; i < SEQ; i++) {
        differ += a[i] != c[i];
        if (a[i] >= 0 && a[i] <= OUT_OTHER)
            kinds[a[i]]++;
        fails += a[i] == -8;
        answers += a[i] == -4;
    }
    CHECK(differ >= 30, "another seed changes the outcomes: %d of %d differ", differ, SEQ);
    CHECK(fails > 0 && kinds[OUT_DROP] > 0 && kinds[OUT_HTTP_ERROR] > 0 &&
          kinds[OUT_GARBAGE] > 0 && answers > 0, "the sequence mixes outcomes: -8 %d, drop %d, "
          "HTTP error %d, garbage %d, -4 %d", fails, kinds[OUT_DROP], kinds[OUT_HTTP_ERROR],
          kinds[OUT_GARBAGE], answers);

    /* Arrival order does not matter: 300 concurrent queries (latency with
     * jitter shuffles them) get what the same queries get one by one. */
    run_sequential_distinct("7", d);
    run_concurrent("7", e);
    for (int i = 0; i < SEQ; i++)
        same += d[i] == e[i];
    CHECK(same == SEQ, "concurrent vs sequential: %d of %d equal", same, SEQ);
}

/* ---- stats ------------------------------------------------------------- */

static void test_stats(void)
{
    struct sim s;
    struct reply r;
    json_t *st;

    if (sim_start(&s, (const char *[]){ "--apikey", KEY_A ":5", "--apikey", KEY_B, NULL }) < 0)
        return;
    expect_code(&s, KEY_A, "13972565391", "张三", 0, "first");
    expect_code(&s, KEY_A, "13972565391", "张三", 0, "the same pair again");
    expect_code(&s, KEY_B, "13900000000", "张三", -4, "unregistered");
    expect_code(&s, KEY_B, "13900000000", "张三", -4, "unregistered again");
    expect_code(&s, KEY_B, "18819079212", "曹操", 0, "once");
    expect_code(&s, UNKNOWN_KEY, "18819079212", "曹操", -1, "unknown key");
    expect_code(&s, NULL, "18819079212", "曹操", 1, "no key");

    http(&s, "GET", "/stats", NULL, &r);
    CHECK(strncmp(r.ctype, "application/json", 16) == 0, "stats content type %s", r.ctype);
    st = json_loads(r.body, 0, NULL);
    CHECK(st != NULL, "stats is JSON: %s", r.body);
    CHECK(jint(st, "requests", NULL) == 7, "requests %lld", jint(st, "requests", NULL));
    CHECK(jint(st, "charged", NULL) == 3, "charged %lld", jint(st, "charged", NULL));
    CHECK(jint(st, "by_code", "0", NULL) == 3, "by_code 0");
    CHECK(jint(st, "by_code", "-4", NULL) == 2, "by_code -4");
    CHECK(jint(st, "by_code", "-1", NULL) == 1, "by_code -1");
    CHECK(jint(st, "by_code", "1", NULL) == 1, "by_code 1");
    CHECK(jint(st, "by_code", "-9", NULL) == 0, "by_code lists every code, even at 0");
    CHECK(jint(st, "faults", "drop", NULL) == 0, "faults listed");
    CHECK(jint(st, "by_apikey", "aaaa****aaaa", "requests", NULL) == 2, "A requests");
    CHECK(jint(st, "by_apikey", "aaaa****aaaa", "balance", NULL) == 3, "A balance");
    CHECK(jint(st, "by_apikey", "bbbb****bbbb", "requests", NULL) == 3, "B requests");
    CHECK(jint(st, "by_apikey", "bbbb****bbbb", "charged", NULL) == 1, "B charged");
    CHECK(json_object_size(json_object_get(st, "by_apikey")) == 2, "only known accounts");
    CHECK(jint(st, "pairs", "13972565391,张三", NULL) == 2, "pair count");
    CHECK(jint(st, "pairs", "13900000000,张三", NULL) == 2, "pair count -4");
    CHECK(jint(st, "pairs", "18819079212,曹操", NULL) == 3, "pair count with bad keys");
    CHECK(jint(st, "repeated_pairs", NULL) == 3, "repeated_pairs %lld", jint(st, "repeated_pairs", NULL));
    CHECK(jint(st, "repeated_charged_pairs", NULL) == 1, "repeated_charged_pairs %lld",
          jint(st, "repeated_charged_pairs", NULL));
    CHECK(!strstr(r.body, KEY_A) && !strstr(r.body, KEY_B), "stats never show a key");
    json_decref(st);
    reply_free(&r);

    http(&s, "POST", "/stats/reset", "", &r);
    CHECK(r.status == 200, "reset status %ld", r.status);
    reply_free(&r);
    st = get_stats(&s);
    CHECK(jint(st, "requests", NULL) == 0, "reset requests");
    CHECK(jint(st, "charged", NULL) == 0, "reset charged");
    CHECK(jint(st, "by_code", "0", NULL) == 0, "reset by_code");
    CHECK(json_object_size(json_object_get(st, "pairs")) == 0, "reset pairs");
    CHECK(jint(st, "repeated_pairs", NULL) == 0, "reset repeated_pairs");
    CHECK(jint(st, "by_apikey", "aaaa****aaaa", "balance", NULL) == 3, "balance survives a reset");
    json_decref(st);
    expect_code(&s, KEY_A, "13972565391", "张三", 0, "after reset");
    st = get_stats(&s);
    CHECK(jint(st, "pairs", "13972565391,张三", NULL) == 1, "counting starts over");
    json_decref(st);
    sim_stop(&s);
}

/* ---- the request log --------------------------------------------------- */

static void test_log(void)
{
    struct sim s;
    const char *path = tmp_path("requests.log");
    char logpath[600];
    snprintf(logpath, sizeof logpath, "%s", path);

    if (sim_start(&s, (const char *[]){ "--log", logpath, "--apikey", KEY_A, NULL }) < 0)
        return;
    expect_code(&s, KEY_A, "13972565391", "张三", 0, "logged");
    expect_code(&s, KEY_A, "18912345678", "阿依古丽·买买提", 0, "logged");
    expect_code(&s, UNKNOWN_KEY, "18819079212", "曹操", -1, "logged");
    expect_code(&s, KEY_A, "1397256539", "张三", -2, "logged");
    sim_stop(&s);

    char *text = read_file(logpath, NULL);
    CHECK(text != NULL, "log file written");
    if (!text)
        return;
    int lines = 0, valid = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        json_t *j = json_loads(line, 0, NULL);
        valid += j != NULL;
        if (lines == 1) {
            CHECK(json_is_string(json_object_get(j, "mobile")) &&
                  strcmp(json_string_value(json_object_get(j, "mobile")), "139****5391") == 0,
                  "masked mobile: %s", line);
            CHECK(json_is_string(json_object_get(j, "name")) &&
                  strcmp(json_string_value(json_object_get(j, "name")), "张*") == 0,
                  "masked name: %s", line);
            CHECK(jint(j, "code", NULL) == 0, "code logged: %s", line);
            CHECK(strcmp(json_string_value(json_object_get(j, "status")), "一致") == 0, "status: %s", line);
            CHECK(strcmp(json_string_value(json_object_get(j, "account")), "aaaa****aaaa") == 0,
                  "account label: %s", line);
        }
        json_decref(j);
    }
    free(text);
    text = read_file(logpath, NULL);
    CHECK(lines == 4 && valid == 4, "4 JSON lines, got %d (%d valid)", lines, valid);
    CHECK(strstr(text, "\"阿*******\"") != NULL, "one * per hidden character: %s", text);
    CHECK(strstr(text, "\"139***6539\"") != NULL, "short mobile masked: %s", text);
    const char *secrets[] = { KEY_A, UNKNOWN_KEY, "13972565391", "18912345678", "18819079212",
                              "张三", "曹操", "买买提", "1397256539" };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        CHECK(strstr(text, secrets[i]) == NULL, "log holds \"%s\"", secrets[i]);
    free(text);
}

/* ---- options ----------------------------------------------------------- */

static void expect_usage_error(const char *const *args, const char *mention)
{
    char *err = NULL;
    int status = sim_run(args, NULL, &err);
    CHECK(status == 2, "%s %s: exit status %d", args[0], args[1] ? args[1] : "", status);
    CHECK(err && strstr(err, mention), "%s: message should mention %s: %s", args[0], mention,
          err ? err : "");
    free(err);
}

static void test_options(void)
{
    struct sim s;
    char *out = NULL;

    CHECK(sim_run((const char *[]){ "--help", NULL }, &out, NULL) == 0, "--help exits 0");
    const char *opts[] = { "--port ", "--port-file", "--bind", "--people", "--apikey", "--allow-ip",
                           "--latency", "--jitter", "--seed", "--fail-rate", "--http-error-rate",
                           "--drop-rate", "--slow-rate", "--slow ", "--garbage-rate", "--log",
                           "--print-people", "--version", DEFAULT_KEY };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        CHECK(out && strstr(out, opts[i]), "--help mentions %s", opts[i]);
    free(out);
    CHECK(sim_run((const char *[]){ "--version", NULL }, &out, NULL) == 0, "--version exits 0");
    CHECK(out && strncmp(out, "qxt-sim ", 8) == 0, "--version: %s", out ? out : "");
    free(out);

    expect_usage_error((const char *[]){ "--port", "abc", NULL }, "--port");
    expect_usage_error((const char *[]){ "--port", "70000", NULL }, "--port");
    expect_usage_error((const char *[]){ "--latency", "100", NULL }, "--latency");
    expect_usage_error((const char *[]){ "--latency", "-1s", NULL }, "--latency");
    expect_usage_error((const char *[]){ "--latency", "2h", NULL }, "--latency");
    expect_usage_error((const char *[]){ "--jitter", "5x", NULL }, "--jitter");
    expect_usage_error((const char *[]){ "--slow", "", NULL }, "--slow");
    expect_usage_error((const char *[]){ "--fail-rate", "1.5", NULL }, "--fail-rate");
    expect_usage_error((const char *[]){ "--drop-rate", "abc", NULL }, "--drop-rate");
    expect_usage_error((const char *[]){ "--garbage-rate", "-0.1", NULL }, "--garbage-rate");
    expect_usage_error((const char *[]){ "--http-error-rate", "0.5x", NULL }, "--http-error-rate");
    expect_usage_error((const char *[]){ "--drop-rate", "0.6", "--garbage-rate", "0.6", NULL },
                       "add up");
    expect_usage_error((const char *[]){ "--slow-rate", "0.5", NULL }, "--slow");
    expect_usage_error((const char *[]){ "--seed", "-1", NULL }, "--seed");
    expect_usage_error((const char *[]){ "--apikey", "short", NULL }, "--apikey");
    expect_usage_error((const char *[]){ "--apikey", KEY_A ":lots", NULL }, "--apikey");
    expect_usage_error((const char *[]){ "--apikey", KEY_A, "--apikey", KEY_A ":3", NULL }, "twice");
    expect_usage_error((const char *[]){ "--allow-ip", "999.1.1.1", NULL }, "--allow-ip");
    expect_usage_error((const char *[]){ "--allow-ip", "10.0.0.0/33", NULL }, "--allow-ip");
    expect_usage_error((const char *[]){ "--bind", "localhost", NULL }, "--bind");
    expect_usage_error((const char *[]){ "--log", "/nonexistent/dir/log", NULL }, "--log");
    expect_usage_error((const char *[]){ "--bogus", NULL }, "--bogus");
    expect_usage_error((const char *[]){ "--port", NULL }, "--port");
    expect_usage_error((const char *[]){ "stray", NULL }, "stray");

    /* Durations in seconds with a fraction, and a fixed port. */
    if (sim_start(&s, (const char *[]){ "--latency", "0.15s", NULL }) == 0) {
        struct reply r;
        char *body = form(DEFAULT_KEY, "13972565391", "张三");
        http(&s, "POST", "/Phone_TwoElements", body, &r);
        CHECK(r.secs >= 0.15, "--latency 0.15s: answered after %.3f s", r.secs);
        reply_free(&r);
        free(body);
        int port = s.port;
        sim_stop(&s);
        char portarg[16];
        snprintf(portarg, sizeof portarg, "%d", port);
        /* The port was just freed; another process could take it, so a
         * failure to start here is not the simulator's fault. */
        if (sim_start(&s, (const char *[]){ "--port", portarg, NULL }) == 0) {
            CHECK(s.port == port, "--port %d: listening on %d", port, s.port);
            /* A second simulator on the same port fails with status 1. */
            char *err = NULL;
            int st = sim_run((const char *[]){ "--port", portarg, NULL }, NULL, &err);
            CHECK(st == 1, "port in use: exit status %d: %s", st, err ? err : "");
            free(err);
            sim_stop(&s);
        }
    }
}

/* ---- lifecycle: start-up line, port file, signals ---------------------- */

static void test_lifecycle(void)
{
    struct sim s;
    char want[128];

    if (sim_start(&s, NULL) == 0) {
        char *out = read_file(s.out, NULL);
        snprintf(want, sizeof want, "qxt-sim listening on http://127.0.0.1:%d/Phone_TwoElements\n",
                 s.port);
        CHECK(out && strcmp(out, want) == 0, "start-up line: %s", out ? out : "");
        free(out);
        int st = sim_signal_wait(&s, SIGINT);
        CHECK(st == 0, "SIGINT: exit status %d", st);
    }
    /* SIGTERM with 50 requests waiting out a long latency: a prompt, clean
     * exit. */
    if (sim_start(&s, (const char *[]){ "--latency", "10s", NULL }) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            char *bodies[50];
            struct reply rs[50];
            for (int i = 0; i < 50; i++)
                bodies[i] = form(DEFAULT_KEY, "13972565391", "张三");
            batch(&s, 50, bodies, rs);
            _exit(0);
        }
        /* Wait until all 50 are in (stats counts them on arrival). */
        long long n = 0;
        for (int i = 0; i < 300 && n < 50; i++) {
            json_t *st = get_stats(&s);
            n = jint(st, "requests", NULL);
            json_decref(st);
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
        }
        CHECK(n == 50, "%lld requests waiting", n);
        double t0 = now_s();
        int st = sim_signal_wait(&s, SIGTERM);
        CHECK(st == 0, "SIGTERM with requests waiting: exit status %d", st);
        CHECK(now_s() - t0 < 3, "SIGTERM took %.1f s", now_s() - t0);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

/* ---- concurrency: latency honoured for many connections at once -------- */

static void test_concurrency(void)
{
    struct sim s;
    enum { N = 200 };
    char *bodies[N];
    struct reply rs[N];

    for (int i = 0; i < N; i++)
        bodies[i] = form(DEFAULT_KEY, "13972565391", "张三");
    if (sim_start(&s, (const char *[]){ "--latency", "100ms", NULL }) == 0) {
        double wall = batch(&s, N, bodies, rs);
        int answers = 0, early = 0, connections = 0;
        for (int i = 0; i < N; i++) {
            answers += outcome(&rs[i]) == 0;
            early += rs[i].secs < 0.1;
            connections += (int)rs[i].new_connections;
            reply_free(&rs[i]);
        }
        CHECK(answers == N, "%d of %d answered", answers, N);
        CHECK(early == 0, "%d answers came before 100 ms", early);
        CHECK(connections == N, "%d connections for %d requests", connections, N);
        CHECK(wall < 2.0, "%d requests with 100 ms latency took %.2f s in all", N, wall);
        json_t *st = get_stats(&s);
        CHECK(jint(st, "requests", NULL) == N, "stats requests");
        json_decref(st);
        sim_stop(&s);
    }
    if (sim_start(&s, (const char *[]){ "--latency", "100ms", "--jitter", "50ms", NULL }) == 0) {
        double lo = 1e9, hi = 0;
        batch(&s, N, bodies, rs);
        for (int i = 0; i < N; i++) {
            if (rs[i].secs < lo) lo = rs[i].secs;
            if (rs[i].secs > hi) hi = rs[i].secs;
            reply_free(&rs[i]);
        }
        CHECK(lo >= 0.05, "jitter: fastest %.3f s, below latency - jitter", lo);
        CHECK(hi - lo >= 0.04, "jitter: answers spread over only %.3f s", hi - lo);
        sim_stop(&s);
    }
    for (int i = 0; i < N; i++)
        free(bodies[i]);
}

int main(int argc, char **argv)
{
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "api", test_api },           { "precedence", test_precedence },
        { "accounts", test_accounts }, { "people", test_people },
        { "faults", test_faults },     { "seed", test_seed },
        { "stats", test_stats },       { "log", test_log },
        { "options", test_options },   { "lifecycle", test_lifecycle },
        { "concurrency", test_concurrency },
    };
    if (argc != 4) {
        fprintf(stderr, "usage: test_sim QXT_SIM_BINARY SOURCE_DIR GROUP|all\n");
        return 2;
    }
    source_dir = argv[2];
    harness_init(argv[1]);
    int found = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(argv[3], "all") == 0 || strcmp(argv[3], groups[i].name) == 0) {
            groups[i].fn();
            found = 1;
        }
    if (!found) {
        fprintf(stderr, "test_sim: no group %s\n", argv[3]);
        return 2;
    }
    return harness_finish(argv[3]);
}
