/* cases_api.c -- the answer's shape, every code and its precedence,
 * accounts and the allow-list. */
#include "cases.h"
#include "codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

/* ---- api: the answer's shape, GET and POST, the registry --------------- */

void test_api(void)
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

void test_precedence(void)
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

void test_accounts(void)
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
