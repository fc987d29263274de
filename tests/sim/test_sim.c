/* test_sim.c -- end-to-end tests of qxt-sim: the real binary, over real
 * HTTP on loopback. Usage: test_sim QXT_SIM_BINARY SOURCE_DIR GROUP|all
 * (one ctest entry per group; see CMakeLists.txt). */
#include "cases.h"

#include <stdio.h>
#include <string.h>

const char *source_dir;

const char *jstr(json_t *doc, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(doc, a), b);
    return json_is_string(v) ? json_string_value(v) : "(missing)";
}

/* Query and check the code in one line. */
void expect_code(struct sim *s, const char *key, const char *mobile, const char *name,
                 int want, const char *why)
{
    int got = query(s, key, mobile, name, NULL);
    CHECK(got == want, "%s: mobile %s: got %d, want %d", why, mobile ? mobile : "(none)", got, want);
}

int main(int argc, char **argv)
{
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "api", test_api },           { "precedence", test_precedence },
        { "accounts", test_accounts }, { "people", test_people },
        { "faults", test_faults },     { "seed", test_seed },
        { "stats", test_stats },       { "log", test_log },
        { "options", test_options },   { "lifecycle", test_lifecycle },
        { "concurrency", test_concurrency },
    };
    if (argc != 4) {
        fprintf(stderr, "usage: test_sim QXT_SIM_BINARY SOURCE_DIR GROUP|all\n");
        return 2;
    }
    source_dir = argv[2];
    harness_init(argv[1]);
    int found = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(argv[3], "all") == 0 || strcmp(argv[3], groups[i].name) == 0) {
            groups[i].fn();
            found = 1;
        }
    if (!found) {
        fprintf(stderr, "test_sim: no group %s\n", argv[3]);
        return 2;
    }
    return harness_finish(argv[3]);
}
