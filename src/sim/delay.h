/* delay.h -- holds answered requests until their answer is due.
 *
 * A waiting request costs no thread: its connection is suspended in
 * libmicrohttpd and its wake-up time goes on a min-heap, which one timer
 * thread services by resuming due connections. libmicrohttpd then calls the
 * access handler again, which sends the answer prepared earlier. Thousands
 * of requests can wait at once for the price of a heap entry each. */
#ifndef SIM_DELAY_H
#define SIM_DELAY_H

#include <stddef.h>

struct MHD_Connection;
struct delay;

/* Starts the timer thread. NULL with the reason in err on failure. */
struct delay *delay_start(char *err, size_t errlen);

/* Suspends conn and resumes it ms milliseconds from now. Must be called
 * from libmicrohttpd's access handler for conn (that is where suspending is
 * allowed), which must then return MHD_YES without queueing a response.
 * Returns 0, or -1 when delay_stop() has begun: conn is then not suspended
 * and the caller should close it (return MHD_NO). */
int delay_add(struct delay *d, struct MHD_Connection *conn, unsigned ms);

/* Resumes every waiting connection at once, refuses new ones, and stops
 * the timer thread. Call before MHD_stop_daemon(), which must not find
 * connections suspended. */
void delay_stop(struct delay *d);

/* Frees a stopped queue. */
void delay_free(struct delay *d);

#endif
