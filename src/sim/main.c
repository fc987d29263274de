/* main.c -- qxt-sim: build the pieces from the options, serve until
 * SIGINT or SIGTERM, take everything down in order. */
#include "accounts.h"
#include "api.h"
#include "delay.h"
#include "options.h"
#include "people.h"
#include "reqlog.h"
#include "server.h"
#include "stats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Writes the port to path through a temporary file and rename(), so a test
 * polling for the file never reads half a number. */
static int write_port_file(const char *path, unsigned port)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp)
        return -1;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%u\n", port) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "qxt-sim: --port-file: %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

/* Hundreds of concurrent connections need more descriptors than the usual
 * soft limit of 1024: take what the hard limit allows. Returns how many
 * connections to accept, leaving room for files and the epoll sets. */
static unsigned raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 900;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t n = rl.rlim_cur > 100000 ? 100000 : rl.rlim_cur;
    return n > 128 ? (unsigned)(n - 64) : 64;
}

/* One libmicrohttpd worker per core: the work per answer is small, so more
 * threads than cores only add switching. */
static unsigned worker_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

/* The address to print: where a client on this host can reach us. */
static void print_url(const char *bind, unsigned port)
{
    const char *host = bind;
    int v6 = strchr(bind, ':') != NULL;
    if (strcmp(bind, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(bind, "::") == 0)
        host = "::1";
    printf(v6 ? "qxt-sim listening on http://[%s]:%u/Phone_TwoElements\n"
              : "qxt-sim listening on http://%s:%u/Phone_TwoElements\n", host, port);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct sim_options opt;
    struct people *people = NULL;
    struct accounts *accounts = NULL;
    struct stats *stats = NULL;
    struct reqlog *log = NULL;
    struct delay *delay = NULL;
    struct server *server = NULL;
    char err[512];
    int status = 2;
    sigset_t sigs;
    int sig;

    switch (options_parse(argc, argv, &opt)) {
    case OPTIONS_RUN:
        break;
    case OPTIONS_EXIT_OK:
        options_free(&opt);
        return 0;
    default:
        options_free(&opt);
        return 2;
    }

    if (opt.people_file) {
        people = people_load(opt.people_file, err, sizeof err);
        if (!people) {
            fprintf(stderr, "qxt-sim: --people: %s\n", err);
            goto out;
        }
    } else if (!(people = people_builtin())) {
        fprintf(stderr, "qxt-sim: out of memory\n");
        goto out;
    }
    if (opt.print_people) {
        status = people_write_csv(people, stdout) == 0 ? 0 : 1;
        goto out;
    }

    if (!(accounts = accounts_new()))
        goto oom;
    for (size_t i = 0; i < opt.napikeys; i++)
        if (accounts_add(accounts, opt.apikeys[i], err, sizeof err) < 0) {
            fprintf(stderr, "qxt-sim: --apikey: %s\n", err);
            goto out;
        }
    if (accounts_add_default(accounts) < 0)
        goto oom;
    for (size_t i = 0; i < opt.nallow_ips; i++)
        if (accounts_allow(accounts, opt.allow_ips[i], err, sizeof err) < 0) {
            fprintf(stderr, "qxt-sim: --allow-ip: %s\n", err);
            goto out;
        }
    if (!server_bind_valid(opt.bind)) {
        fprintf(stderr, "qxt-sim: --bind: \"%s\" is not an IPv4 or IPv6 address\n", opt.bind);
        goto out;
    }
    if (opt.log_file && !(log = reqlog_open(opt.log_file, err, sizeof err))) {
        fprintf(stderr, "qxt-sim: --log: %s\n", err);
        goto out;
    }
    if (!(stats = stats_new(accounts)))
        goto oom;

    /* From here on a failure is the system's, not the caller's: status 1. */
    status = 1;
    /* Worker threads inherit this mask, so the signals reach only the
     * sigwait() below; SIGPIPE from a vanished client must not kill us. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!(delay = delay_start(err, sizeof err))) {
        fprintf(stderr, "qxt-sim: %s\n", err);
        goto out;
    }
    struct api api = {
        .people = people, .accounts = accounts, .faults = &opt.faults,
        .stats = stats, .log = log,
    };
    struct server_config cfg = {
        .bind = opt.bind, .port = opt.port, .threads = worker_threads(),
        .max_conns = raise_fd_limit(), .api = &api, .stats = stats, .delay = delay,
    };
    if (!(server = server_start(&cfg, err, sizeof err))) {
        fprintf(stderr, "qxt-sim: %s\n", err);
        goto out;
    }
    /* The line first: whoever sees the port file can also read the line. */
    print_url(opt.bind, server_port(server));
    if (opt.port_file && write_port_file(opt.port_file, server_port(server)) < 0)
        goto out;

    while (sigwait(&sigs, &sig) != 0)
        ;
    status = 0;
out:
    /* Waiting requests are resumed (and so answered early or closed)
     * before the daemon stops, which must find none suspended. */
    if (delay)
        delay_stop(delay);
    server_stop(server);
    delay_free(delay);
    reqlog_close(log);
    stats_free(stats);
    accounts_free(accounts);
    people_free(people);
    options_free(&opt);
    return status;
oom:
    fprintf(stderr, "qxt-sim: out of memory\n");
    status = 1;
    goto out;
}
