/* drill_server.c -- a deliberately hostile HTTP(S) server for the fault
 * drills (tests/e2e/drills_spec.lua, docs/hardening.md). Each connection
 * gets the misbehaviour named on the command line, whatever it asks:
 *
 *   drill_server MODE [--port-file F] [--tls CERT KEY] [--target URL]
 *
 *   ok          the provider's JSON answer for 13972565391 张三 (code 0)
 *   slowloris   a 200 with Content-Length 1000, then one byte a second
 *   endless     a chunked 200 that never ends (64 KiB chunks, flat out)
 *   big         a 200 announcing and sending 100 MB
 *   big-chunked 100 MB, chunked, no length announced
 *   redirect-file   302 to file:///etc/passwd
 *   redirect-host   302 to --target URL (another host: a simulator)
 *   reset       headers and half a JSON body, then a TCP reset
 *   silent      reads the request, never answers
 *   echo        code 1, the request body sent back as the reason (a server
 *               that reflects the apikey: it must never reach an output)
 *   masked-name the code-0 answer with Name echoed masked ("张*"), as the
 *               provider's own document shows it once
 *   other-name  the code-0 answer with another person's Name ("李四")
 *   echo-encoded    code 0 for the mobile asked, with the apikey it was sent
 *               spelled every way we know (spellings() below) in reason,
 *               Status, Area, Now_isp, an extra field and an extra array
 *   echo-text   the same spellings and the plain key in a 200 text/html body
 *               that is not JSON
 *
 * Listens on 127.0.0.1, a free port written to --port-file (via a
 * temporary file and a rename). One process per connection (fork), so a
 * slow drill never holds up the next request; each child lives at most 120
 * s. With --tls, every connection is TLS (OpenSSL) with that certificate. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char OK_BODY[] =
    "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13972565391\",\"Name\":\"张三\","
    "\"Status\":\"一致\",\"Area\":\"湖北-宜昌\",\"Now_isp\":\"中国电信\"}}";
static const char MASKED_NAME_BODY[] =
    "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13972565391\",\"Name\":\"张*\","
    "\"Status\":\"一致\",\"Area\":\"湖北-宜昌\",\"Now_isp\":\"中国电信\"}}";
static const char OTHER_NAME_BODY[] =
    "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13972565391\",\"Name\":\"李四\","
    "\"Status\":\"一致\",\"Area\":\"湖北-宜昌\",\"Now_isp\":\"中国电信\"}}";

struct conn {
    int fd;
    SSL *ssl;      /* NULL: plain TCP */
};

static int conn_write(struct conn *c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = c->ssl ? SSL_write(c->ssl, p, (int)len) : write(c->fd, p, len);
        if (n <= 0) {
            if (!c->ssl && n < 0 && errno == EINTR)
                continue;
            return -1;             /* the client went away: the drill is over */
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int conn_printf(struct conn *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return conn_write(c, buf, (size_t)n);
}

static ssize_t conn_read(struct conn *c, char *buf, size_t len)
{
    return c->ssl ? SSL_read(c->ssl, buf, (int)len) : read(c->fd, buf, len);
}

/* Reads the request head and its Content-Length body, so that closing
 * afterwards is an orderly close, not a reset. The start of the body goes
 * to body (NUL-terminated, at most bodysz - 1 bytes). */
static void read_request(struct conn *c, char *body, size_t bodysz)
{
    char buf[16384];
    size_t kept = 0;
    size_t have = 0;
    char *end = NULL;
    while (!end && have < sizeof buf - 1) {
        ssize_t n = conn_read(c, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            return;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return;
    long want = 0;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl)
        want = strtol(cl + 17, NULL, 10);
    long got = (long)(have - (size_t)(end + 4 - buf));
    kept = (size_t)got < bodysz - 1 ? (size_t)got : bodysz - 1;
    memcpy(body, end + 4, kept);
    body[kept] = '\0';
    while (got < want) {
        ssize_t n = conn_read(c, buf, sizeof buf);
        if (n <= 0)
            return;
        size_t take = bodysz - 1 - kept < (size_t)n ? bodysz - 1 - kept : (size_t)n;
        memcpy(body + kept, buf, take);
        kept += take;
        body[kept] = '\0';
        got += n;
    }
}

/* The value of form field `name` in body, percent-decoded into out. */
static void form_value(const char *body, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name), n = 0;
    const char *p = body;

    out[0] = '\0';
    while (p && *p) {
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            for (p += nlen + 1; *p && *p != '&' && n < outsz - 1; p++) {
                unsigned v;
                if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
                    out[n++] = (char)v;
                    p += 2;
                } else {
                    out[n++] = *p == '+' ? ' ' : *p;
                }
            }
            out[n] = '\0';
            return;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
}

/* Appends the base64 of in[0..len) (URL-safe alphabet when url) to out at
 * *n, without padding: what follows the key is the server's business. */
static void base64(const unsigned char *in, size_t len, int url, char *out, size_t *n)
{
    const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned long bits = 0;
    int have = 0;

    for (size_t i = 0; i < len; i++) {
        bits = (bits << 8) | in[i];
        have += 8;
        while (have >= 6) {
            have -= 6;
            out[(*n)++] = abc[(bits >> have) & 63];
        }
    }
    if (have > 0)
        out[(*n)++] = abc[(bits << (6 - have)) & 63];
}

/* The key spelled every way a server might send it back, as the inside of
 * a JSON string (json) or as plain text, separated by blanks: \u escapes
 * (hex case alternating; every character, or every other one), percent
 * encoding (upper, lower and mixed hex case, some characters left as they
 * are), base64 and base64url with the key at each of the three byte
 * alignments, hex, upper case, and JSON escapes written out as text
 * (\\u0037 in JSON source is the six characters \u0037 once decoded). */
static size_t spellings(const char *key, int json, char *out)
{
    size_t n = 0, klen = strlen(key);
    unsigned char buf[600];

    n += (size_t)sprintf(out + n, "u:");
    for (size_t i = 0; i < klen; i++)
        n += (size_t)sprintf(out + n, i % 2 ? "\\u%04X" : "\\u%04x", (unsigned char)key[i]);
    n += (size_t)sprintf(out + n, " um:");
    for (size_t i = 0; i < klen; i++)
        if (i % 2)
            n += (size_t)sprintf(out + n, "\\u%04x", (unsigned char)key[i]);
        else
            out[n++] = key[i];
    if (json) {
        n += (size_t)sprintf(out + n, " jj:");
        for (size_t i = 0; i < klen; i++)
            n += (size_t)sprintf(out + n, "\\\\u%04x", (unsigned char)key[i]);
    }
    n += (size_t)sprintf(out + n, " pU:");
    for (size_t i = 0; i < klen; i++)
        n += (size_t)sprintf(out + n, "%%%02X", (unsigned char)key[i]);
    n += (size_t)sprintf(out + n, " pl:");
    for (size_t i = 0; i < klen; i++)
        n += (size_t)sprintf(out + n, "%%%02x", (unsigned char)key[i]);
    n += (size_t)sprintf(out + n, " pm:");
    for (size_t i = 0; i < klen; i++)
        if (i % 3 == 0)
            out[n++] = key[i];
        else
            n += (size_t)sprintf(out + n, i % 3 == 1 ? "%%%02X" : "%%%02x", (unsigned char)key[i]);
    for (int url = 0; url <= 1; url++)
        for (size_t a = 0; a < 3; a++) {
            memcpy(buf, "xy", a);
            memcpy(buf + a, key, klen);
            n += (size_t)sprintf(out + n, " b%s%zu:", url ? "u" : "", a);
            base64(buf, a + klen, url, out, &n);
        }
    n += (size_t)sprintf(out + n, " hx:");
    for (size_t i = 0; i < klen; i++)
        n += (size_t)sprintf(out + n, "%02x", (unsigned char)key[i]);
    n += (size_t)sprintf(out + n, " uc:");
    for (size_t i = 0; i < klen; i++)
        out[n++] = (char)(key[i] >= 'a' && key[i] <= 'z' ? key[i] - 32 : key[i]);
    out[n] = '\0';
    return n;
}

/* echo-encoded and echo-text: the key the request carried, in every
 * spelling, where a result or a log would pick it up. */
static void serve_echo_encoded(struct conn *c, const char *body, int text)
{
    char key[256], mobile[64], s[8192], out[65536];
    size_t n;

    form_value(body, "apikey", key, sizeof key);
    form_value(body, "mobile", mobile, sizeof mobile);
    for (char *p = mobile; *p; p++)
        if (*p < '0' || *p > '9')
            *p = '0';     /* goes into JSON as is */
    if (strlen(key) > 160 || strpbrk(key, "\"\\"))
        strcpy(key, "unusable key");
    spellings(key, !text, s);
    if (text)
        n = (size_t)snprintf(out, sizeof out, "<html><body><pre>key %s in %s</pre></body></html>\n", key, s);
    else
        n = (size_t)snprintf(out, sizeof out,
                             "{\"code\":0,\"reason\":\"%s\",\"result\":{\"Mobile\":\"%s\",\"Status\":\"%s\","
                             "\"Area\":\"%s\",\"Now_isp\":\"%s\",\"Echo\":\"%s\"},\"extra\":[\"%s\",{\"%s\":1}]}",
                             s, mobile, s, s, s, s, s, s);
    conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                text ? "text/html" : "application/json", n);
    conn_write(c, out, n);
}

static void send_body(struct conn *c, size_t total, int chunked)
{
    static char block[65536];
    memset(block, 'x', sizeof block);
    for (size_t sent = 0; total == 0 || sent < total; sent += sizeof block) {
        if (chunked && conn_printf(c, "%zx\r\n", sizeof block) < 0)
            return;
        if (conn_write(c, block, sizeof block) < 0)
            return;
        if (chunked && conn_write(c, "\r\n", 2) < 0)
            return;
    }
    if (chunked)
        conn_write(c, "0\r\n\r\n", 5);
}

static void serve(struct conn *c, const char *mode, const char *target)
{
    char body[4096] = "";
    read_request(c, body, sizeof body);
    if (strcmp(mode, "ok") == 0 || strcmp(mode, "masked-name") == 0 || strcmp(mode, "other-name") == 0) {
        const char *json = mode[0] == 'o' && mode[1] == 'k' ? OK_BODY
                         : mode[0] == 'm' ? MASKED_NAME_BODY : OTHER_NAME_BODY;
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(json));
        conn_write(c, json, strlen(json));
    } else if (strcmp(mode, "slowloris") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{");
        for (int i = 0; i < 1000; i++) {
            sleep(1);
            if (conn_write(c, " ", 1) < 0)
                return;
        }
    } else if (strcmp(mode, "endless") == 0 || strcmp(mode, "big-chunked") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n");
        send_body(c, mode[0] == 'e' ? 0 : (size_t)100 << 20, 1);
    } else if (strcmp(mode, "big") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n", (size_t)100 << 20);
        send_body(c, (size_t)100 << 20, 0);
    } else if (strncmp(mode, "redirect-", 9) == 0) {
        const char *to = strcmp(mode, "redirect-file") == 0 ? "file:///etc/passwd" : target;
        const char page[] = "<html><body>moved</body></html>\n";
        conn_printf(c, "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Type: text/html\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                    to ? to : "http://127.0.0.1:9/", strlen(page), page);
    } else if (strcmp(mode, "reset") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n", strlen(OK_BODY));
        conn_write(c, OK_BODY, strlen(OK_BODY) / 2);
        usleep(100 * 1000);
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };   /* close = RST */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c->fd);
        _exit(0);
    } else if (strcmp(mode, "echo") == 0) {
        char json[8192];
        size_t n = (size_t)snprintf(json, sizeof json, "{\"code\":1,\"reason\":\"you sent ");
        for (const char *p = body; *p && n < sizeof json - 16; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                json[n++] = *p;
        n += (size_t)snprintf(json + n, sizeof json - n, "\"}");
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n", n);
        conn_write(c, json, n);
    } else if (strcmp(mode, "echo-encoded") == 0 || strcmp(mode, "echo-text") == 0) {
        serve_echo_encoded(c, body, mode[5] == 't');
    } else if (strcmp(mode, "silent") == 0) {
        sleep(120);
    }
}

static void write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *mode = NULL, *port_file = NULL, *cert = NULL, *key = NULL, *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
            port_file = argv[++i];
        else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = argv[++i];
        else if (!mode && argv[i][0] != '-')
            mode = argv[i];
        else {
            fprintf(stderr, "usage: drill_server MODE [--port-file F] [--tls CERT KEY] [--target URL]\n");
            return 2;
        }
    }
    if (!mode) {
        fprintf(stderr, "drill_server: which drill? (ok, slowloris, endless, big, ...)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);      /* children reap themselves */

    SSL_CTX *ctx = NULL;
    if (cert) {
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("drill_server");
        return 1;
    }
    printf("drill_server %s listening on %s://127.0.0.1:%u/\n", mode, cert ? "https" : "http",
           ntohs(a.sin_port));
    fflush(stdout);
    if (port_file)
        write_port_file(port_file, ntohs(a.sin_port));

    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("accept");
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            alarm(120);
            struct conn c = { .fd = fd };
            if (ctx) {
                c.ssl = SSL_new(ctx);
                SSL_set_fd(c.ssl, fd);
                if (SSL_accept(c.ssl) != 1)   /* e.g. the client refused our certificate */
                    _exit(0);
            }
            serve(&c, mode, target);
            if (c.ssl)
                SSL_shutdown(c.ssl);
            close(fd);
            _exit(0);
        }
        close(fd);
    }
}
