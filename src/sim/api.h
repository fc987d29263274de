/* api.h -- the Phone_TwoElements endpoint: what to answer to one query.
 *
 * Knows the provider's rules (validation order, charging, the JSON shape)
 * and the fault plan; knows nothing of HTTP plumbing. server.c collects the
 * parameters and sends (or withholds) whatever api_answer() decides. */
#ifndef SIM_API_H
#define SIM_API_H

#include <stddef.h>
#include <sys/socket.h>

#include "faults.h"

struct people;
struct accounts;
struct stats;
struct reqlog;

/* Everything an answer depends on. Borrowed: all must outlive the server.
 * log may be NULL. */
struct api {
    const struct people *people;
    struct accounts *accounts;
    const struct faults_config *faults;
    struct stats *stats;
    struct reqlog *log;
};

/* One query's parameters as sent (already URL- or form-decoded). A NULL
 * pointer means the parameter was absent; lengths are in bytes. */
struct api_query {
    const char *apikey;
    size_t apikey_len;
    const char *mobile;
    size_t mobile_len;
    const char *name;
    size_t name_len;
    const struct sockaddr *client;   /* may be NULL (then not allow-listed) */
    const char *method;              /* "GET" or "POST", for the log */
};

enum api_action {
    API_RESPOND,     /* send status, content_type and body */
    API_DROP         /* close the connection without any answer */
};

struct api_answer {
    enum api_action action;
    unsigned status;                 /* HTTP status */
    const char *content_type;        /* static string */
    char *body;                      /* malloc'd; the caller owns it */
    size_t body_len;
    unsigned delay_ms;               /* act this long after arrival */
};

/* Decides the answer to q, and accounts for it: charges the balance on code
 * 0, counts it in the stats and writes the request log. Thread-safe.
 * Returns 0, or -1 when out of memory (nothing to send; answer 500). */
int api_answer(struct api *api, const struct api_query *q, struct api_answer *out);

#endif
