/* server.h -- the HTTP side: libmicrohttpd daemon, routing, parameter
 * collection, and sending (now or after a delay) what api.c decides.
 *
 * Routes: /Phone_TwoElements (GET, POST), GET /stats, POST /stats/reset;
 * anything else 404, a wrong method 405. */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct api;
struct stats;
struct delay;
struct server;

struct server_config {
    const char *bind;      /* IPv4 or IPv6 literal to listen on */
    unsigned port;         /* 0: any free port (see server_port) */
    unsigned threads;      /* worker threads, each with its own epoll set */
    unsigned max_conns;    /* open connections at most */
    struct api *api;       /* borrowed, as are the two below */
    struct stats *stats;
    struct delay *delay;
};

/* True when addr is an IPv4 or IPv6 literal server_start() accepts. */
bool server_bind_valid(const char *addr);

/* Starts listening and serving on worker threads. NULL with the reason in
 * err when the address cannot be bound. */
struct server *server_start(const struct server_config *cfg, char *err, size_t errlen);

/* The port actually bound (the chosen one when cfg->port was 0). */
unsigned server_port(const struct server *s);

/* Stops serving, closes every connection, and frees s. Call delay_stop()
 * first: no connection may still be suspended. */
void server_stop(struct server *s);

#endif
