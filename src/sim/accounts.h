/* accounts.h -- the simulated provider's accounts: apikeys, balances and
 * the IP allow-list.
 *
 * Accounts and the allow-list are set up before the server starts and are
 * fixed afterwards; only balances change, atomically, so any thread may
 * charge. */
#ifndef SIM_ACCOUNTS_H
#define SIM_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The account that exists when no --apikey is given: unlimited balance. */
#define ACCOUNTS_DEFAULT_KEY "0123456789abcdef0123456789abcdef"

/* accounts_balance() of an account without a limit. */
#define ACCOUNTS_UNLIMITED (-1LL)

/* Length of every apikey, in characters (the provider's rule). */
#define ACCOUNTS_KEY_LEN 32

struct accounts;

struct accounts *accounts_new(void);
void accounts_free(struct accounts *a);

/* Adds an account from "KEY[:BALANCE]": KEY is 32 printable ASCII
 * characters without ':' or spaces, BALANCE a non-negative integer
 * (absent: unlimited). Returns 0, or -1 with the reason in err. */
int accounts_add(struct accounts *a, const char *spec, char *err, size_t errlen);

/* Adds the default account when none was added. */
int accounts_add_default(struct accounts *a);

/* Adds "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6) to the allow-list. Once the
 * list holds an entry, only listed callers are served. Returns 0, or -1
 * with the reason in err. */
int accounts_allow(struct accounts *a, const char *spec, char *err, size_t errlen);

/* Index of the account whose key is key[0..len), or -1. */
int accounts_find(const struct accounts *a, const char *key, size_t len);

/* True when the caller at addr may query (always, with an empty list). */
bool accounts_ip_allowed(const struct accounts *a, const struct sockaddr *addr);

/* Atomically: false when the account's balance is below 1; otherwise true,
 * and when charge is set the balance is decremented (unlimited accounts are
 * never decremented). Checking and charging in one step keeps concurrent
 * queries from spending the same unit twice. */
bool accounts_spend(struct accounts *a, int idx, bool charge);

/* The current balance, or ACCOUNTS_UNLIMITED. */
long long accounts_balance(const struct accounts *a, int idx);

/* "0123****cdef": how stats and logs name an account. Static per account. */
const char *accounts_label(const struct accounts *a, int idx);

size_t accounts_count(const struct accounts *a);

#endif
