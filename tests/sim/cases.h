/* cases.h -- the groups of test_sim (one ctest entry each) and what
 * they share. */
#ifndef SIM_CASES_H
#define SIM_CASES_H

#include "harness.h"

/* The project's source directory (for tests/sim/people.csv). */
extern const char *source_dir;

/* The document's example answer, byte for byte. */
#define EXAMPLE "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"13972565391\"," \
                "\"Name\":\"张三\",\"Status\":\"一致\",\"Area\":\"湖北-宜昌\",\"Now_isp\":\"中国电信\"}}"
#define KEY_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define UNKNOWN_KEY "ffffffffffffffffffffffffffffffff"

/* A string two keys deep in a JSON document, "(missing)" when absent. */
const char *jstr(json_t *doc, const char *a, const char *b);
/* Queries and checks the outcome in one line; why names the case. */
void expect_code(struct sim *s, const char *key, const char *mobile, const char *name,
                 int want, const char *why);

void test_api(void);          /* cases_api.c */
void test_precedence(void);
void test_accounts(void);
void test_people(void);       /* cases_data.c */
void test_stats(void);
void test_log(void);
void test_faults(void);       /* cases_faults.c */
void test_seed(void);
void test_concurrency(void);
void test_options(void);      /* cases_cli.c */
void test_lifecycle(void);

#endif
