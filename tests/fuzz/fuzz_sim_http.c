/* fuzz_sim_http.c -- libFuzzer harness for the simulator's request
 * handling over HTTP: the real server (src/sim/server.c, libmicrohttpd,
 * api.c) started once in this process on a loopback port; each input is
 * written as it is to a fresh connection (request line, headers, body,
 * whatever the bytes are), the write side is shut, and the answer is read
 * to the end. libmicrohttpd itself is Debian's (not instrumented), but
 * ASan sees every byte server.c and api.c touch.
 *
 * Checks: the server never crashes; what it answers starts with an HTTP
 * status line; after a request it left unanswered, it still answers a
 * probe within 5 s; a 200 from /Phone_TwoElements carries
 * JSON with a code. The simulator runs with seeded faults at low rates so
 * their paths are exercised too. */
#include "accounts.h"
#include "api.h"
#include "delay.h"
#include "people.h"
#include "server.h"
#include "stats.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned port;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_sim_http: %s\n", what);
    abort();
}

static void setup(void)
{
    static struct api api;
    static const struct faults_config faults = {
        .seed = 11, .fail_rate = 0.1, .http_error_rate = 0.02, .drop_rate = 0.02,
        .garbage_rate = 0.02,
    };
    char err[256];
    struct accounts *accounts = accounts_new();
    struct people *people = people_builtin();
    struct delay *delay = delay_start(err, sizeof err);
    if (!accounts || !people || !delay || accounts_add_default(accounts) < 0)
        fail("set-up");
    struct stats *stats = stats_new(accounts);
    api = (struct api){ people, accounts, &faults, stats, NULL };
    struct server_config cfg = {
        .bind = "127.0.0.1", .port = 0, .threads = 1, .max_conns = 1024,
        .api = &api, .stats = stats, .delay = delay,
    };
    struct server *srv = server_start(&cfg, err, sizeof err);
    if (!srv)
        fail(err);
    port = server_port(srv);
    signal(SIGPIPE, SIG_IGN);
    /* The server lives until the process ends: libFuzzer never returns. */
}

/* True when buf[0..len) holds a whole response with a Content-Length
 * (all of the simulator's): no need to wait for the close. */
static int complete(char *buf, size_t len)
{
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!end || !cl || cl > end)
        return 0;
    return (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10) <= len;
}

/* Connects to the simulator; exits the run on failure. */
static int connect_sim(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail("cannot connect to the simulator");
    return fd;
}

/* Closes with a reset, which libmicrohttpd cannot miss (see below). */
static void reset_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Reads an answer into buf: waits first_ms for its first byte, then until
 * it is complete or the server closes. Returns the bytes kept. */
static size_t read_answer(int fd, char *buf, size_t size, int first_ms)
{
    size_t have = 0, total = 0;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, total ? 2000 : first_ms) == 0)
            break;
        ssize_t n = read(fd, buf + have, size - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        total += (size_t)n;
        if (have == size - 1)
            have = 0;                  /* keep reading; only the start matters */
        if (complete(buf, have))
            break;
    }
    buf[have] = '\0';
    return total ? have : 0;
}

/* The simulator still answers: a probe on a new connection. */
static void probe(void)
{
    static const char req[] = "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[65536];
    int fd = connect_sim();
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        fail("cannot send the probe");
    if (read_answer(fd, buf, sizeof buf, 5000) == 0 || strncmp(buf, "HTTP/1.1 200", 12) != 0)
        fail("the simulator stopped answering");
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[65536];

    if (!port)
        setup();
    int fd = connect_sim();
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            break;                     /* the server closed early: fine */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    /* An incomplete request is never answered, and when the client's FIN
     * comes with the request libmicrohttpd (edge-triggered epoll) may miss
     * it and keep the connection open: silence is not a failure as long as
     * the server still answers others. The reset frees the connection. */
    /* Without the blank line ending the head, nothing will come. */
    int head = memmem(data, size, "\n\r\n", 3) || memmem(data, size, "\n\n", 2);
    size_t have = read_answer(fd, buf, sizeof buf, head ? 30 : 1);
    reset_close(fd);
    if (have == 0) {
        static unsigned silent;
        if (++silent % 16 == 0)
            probe();
        return 0;
    }
    if (strncmp(buf, "HTTP/1.", 7) != 0)
        fail("an answer that is not HTTP");
    /* Only the first answer counts: a pipelined second request (the input
     * may hold several) gets its own right after it. */
    char *end = strstr(buf, "\r\n\r\n");
    char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (strncmp(buf, "HTTP/1.1 200", 12) == 0 && end && cl && cl < end &&
        memmem(buf, (size_t)(end - buf), "application/json", 16)) {
        size_t len = strtoul(cl + 17, NULL, 10);
        const char *body = end + 4;
        end[4 + len < strlen(end) ? 4 + len : strlen(end)] = '\0';
        /* The garbage fault: an empty or cut JSON body is deliberate. */
        if (len > 0 && !strstr(body, "\"code\"") && !strstr(body, "\"requests\"") &&
            !strstr(body, "\"reset\""))
            fail("a JSON 200 without a code");
    }
    return 0;
}
