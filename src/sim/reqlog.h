/* reqlog.h -- the optional request log: one JSON object per line.
 *
 * Personal data is masked before it is written (mobile "139****5391", name
 * "张*"); the apikey never appears, only its account's label. Thread-safe:
 * each line is written and flushed whole under a lock, so a reader tailing
 * the file sees complete lines. */
#ifndef SIM_REQLOG_H
#define SIM_REQLOG_H

#include <stdbool.h>
#include <stddef.h>

struct reqlog;

/* Opens path for appending. Returns NULL with the reason in err. */
struct reqlog *reqlog_open(const char *path, char *err, size_t errlen);
void reqlog_close(struct reqlog *log);

struct reqlog_entry {
    const char *ip;              /* caller's address, text */
    const char *method;
    const char *account;         /* account label, NULL when unknown */
    const char *mobile;          /* as sent (masked here); NULL: absent */
    size_t mobile_len;
    const char *name;            /* as sent (masked here); NULL: absent */
    size_t name_len;
    bool answered;               /* false: a transport fault replaced the answer */
    int code;
    const char *status;          /* "一致"/"不一致" for code 0, else NULL */
    const char *fault;           /* "drop", "http_error", "garbage", "fail", "wrong_mobile", "slow" or NULL */
    unsigned delay_ms;
};

/* Appends one line. Write errors are ignored: the log must never take the
 * server down. */
void reqlog_write(struct reqlog *log, const struct reqlog_entry *e);

#endif
