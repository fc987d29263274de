/* people.h -- the registry of people the simulated carriers know.
 *
 * A registry maps a mobile number to the name registered to it, its home
 * area and the carrier now serving it. It is filled once at start-up (from
 * a CSV file or the built-in table) and read-only afterwards, so lookups
 * from many threads need no lock. */
#ifndef SIM_PEOPLE_H
#define SIM_PEOPLE_H

#include <stddef.h>
#include <stdio.h>

struct person {
    const char *mobile;   /* 11 digits, ^1[3-9][0-9]{9}$ */
    const char *name;     /* non-empty UTF-8, compared byte for byte */
    const char *area;     /* UTF-8 "省-市", "省", or "" */
    const char *carrier;  /* non-empty UTF-8, e.g. "中国移动" */
};

struct people;

/* The built-in deterministic table (about twenty people, see people.c and
 * docs/simulator.md). Never NULL except when out of memory. */
struct people *people_builtin(void);

/* Loads a UTF-8 CSV file (RFC 4180 quoting, optional BOM, LF or CRLF) whose
 * header names the columns mobile, name, area and carrier in any order;
 * other columns are ignored. Returns NULL and writes "FILE:LINE: why" (or
 * "FILE: why") into err on the first bad row, duplicate number, or I/O
 * error. */
struct people *people_load(const char *path, char *err, size_t errlen);

/* The person registered to mobile[0..len), or NULL. Thread-safe. */
const struct person *people_find(const struct people *p, const char *mobile, size_t len);

size_t people_count(const struct people *p);

/* Writes the registry as CSV (header mobile,name,area,carrier, then one row
 * per person in load order, quoting only where needed). Returns 0, or -1
 * on a write error. */
int people_write_csv(const struct people *p, FILE *out);

/* True when s[0..len) is a mainland mobile number: ^1[3-9][0-9]{9}$. */
int people_is_mobile(const char *s, size_t len);

void people_free(struct people *p);

#endif
