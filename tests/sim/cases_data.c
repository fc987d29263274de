/* cases_data.c -- the people registry, the stats endpoint, the request
 * log. */
#include "cases.h"
#include "codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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

void test_people(void)
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

/* ---- stats ------------------------------------------------------------- */

void test_stats(void)
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
    {
        /* per_second: the 7 queries, in the second or two they took. */
        json_t *ps = json_object_get(st, "per_second");
        const char *sec;
        json_t *n;
        long long sum = 0;
        CHECK(json_is_object(ps) && json_object_size(ps) >= 1 && json_object_size(ps) <= 2,
              "per_second: %s", r.body);
        json_object_foreach(ps, sec, n) sum += json_integer_value(n);
        CHECK(sum == 7, "per_second adds up to the requests: %lld", sum);
        CHECK(jint(st, "max_per_second", NULL) >= 4 && jint(st, "max_per_second", NULL) <= 7,
              "max_per_second %lld", jint(st, "max_per_second", NULL));
    }
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

void test_log(void)
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
