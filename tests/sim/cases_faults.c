/* cases_faults.c -- faults at their rates, their reproducibility from the
 * seed, and latency under concurrency. */
#include "cases.h"
#include "codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

/* ---- faults: each at its rate ------------------------------------------ */

void test_faults(void)
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

    /* A wrong mobile: a share of the code-0 answers names another number
     * (still charged); other codes are untouched. */
    if (sim_start(&s, (const char *[]){ "--wrong-mobile-rate", "0.5", "--seed", "3", NULL }) == 0) {
        int wrong = 0, right = 0, bad = 0;
        for (int i = 0; i < 200; i++) {
            json_t *j = NULL;
            int o = query(&s, DEFAULT_KEY, "13972565391", "张三", &j);
            const char *m = json_string_value(json_object_get(json_object_get(j, "result"), "Mobile"));
            if (o == 0 && m && strcmp(m, "13972565392") == 0)
                wrong++;
            else if (o == 0 && m && strcmp(m, "13972565391") == 0)
                right++;
            else
                bad++;
            json_decref(j);
        }
        CHECK(bad == 0, "every answer is code 0 with one of the two numbers: %d are not", bad);
        CHECK(wrong >= 70 && wrong <= 130, "wrong-mobile-rate 0.5: %d of 200", wrong);
        CHECK(query(&s, DEFAULT_KEY, "13900000000", "张三", NULL) == -4, "a -4 stays a -4");
        st = get_stats(&s);
        CHECK(jint(st, "faults", "wrong_mobile", NULL) == wrong, "stats wrong_mobile %lld vs %d",
              jint(st, "faults", "wrong_mobile", NULL), wrong);
        CHECK(jint(st, "charged", NULL) == 200, "wrong answers are charged too: %lld",
              jint(st, "charged", NULL));
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

void test_seed(void)
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

/* ---- concurrency: latency honoured for many connections at once -------- */

void test_concurrency(void)
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
