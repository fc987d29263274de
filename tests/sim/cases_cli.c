/* cases_cli.c -- options, the start-up line, signals. */
#include "cases.h"
#include "codes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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

void test_options(void)
{
    struct sim s;
    char *out = NULL;

    CHECK(sim_run((const char *[]){ "--help", NULL }, &out, NULL) == 0, "--help exits 0");
    const char *opts[] = { "--port ", "--port-file", "--bind", "--people", "--apikey", "--allow-ip",
                           "--latency", "--jitter", "--seed", "--fail-rate", "--http-error-rate",
                           "--drop-rate", "--slow-rate", "--slow ", "--garbage-rate", "--wrong-mobile-rate", "--log",
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
    expect_usage_error((const char *[]){ "--wrong-mobile-rate", "2", NULL }, "--wrong-mobile-rate");
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

void test_lifecycle(void)
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
