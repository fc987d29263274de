/* lsignal.c -- the Lua module `qxt.signal`: a graceful stop on SIGINT and
 * SIGTERM for flows that keep a journal.
 *
 * The first signal only sets a flag (the flow polls it, stops sending,
 * lets the answers in flight come back and journals them) and arms an
 * alarm: if that takes longer than the grace period, the process exits.
 * A second signal exits at once. Either exit is as safe as a crash: the
 * journal is an SQLite database in WAL mode, so a resumed run loses no
 * committed answer. The handlers call only async-signal-safe functions.
 *
 * SIGHUP is caught only when asked (qxt.signal.catch_hangup(), by
 * `qxtv serve`, where it means "reload the flow, reopen the log"): a flow
 * run in a terminal still ends when the terminal goes away. */
#include "exits.h"

#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t caught;      /* the first signal's number, 0: none */
static unsigned grace_s;                  /* the alarm armed by the first signal */
static int installed;
static struct sigaction old_int, old_term, old_alrm, old_hup;
static volatile sig_atomic_t hangups;     /* SIGHUPs since catch_hangup() */
static int hup_installed;

static void say(const char *msg)
{
    ssize_t r = write(STDERR_FILENO, msg, strlen(msg));
    (void)r;
}

/* Called by the kernel on SIGINT or SIGTERM. */
static void on_signal(int sig)
{
    if (caught) {
        say("\nqxtv: stopped at once; the journal keeps every answer committed so far "
            "(resume with --resume)\n");
        _exit(QXT_EXIT_ABORTED);
    }
    caught = sig;
    if (grace_s > 0)
        alarm(grace_s);
}

/* Called by the kernel when the grace period after the first signal ends. */
static void on_alarm(int sig)
{
    (void)sig;
    say("\nqxtv: answers in flight did not come back in time; stopped "
        "(resume with --resume)\n");
    _exit(QXT_EXIT_ABORTED);
}

/* qxt.signal.catch(grace): from now on SIGINT and SIGTERM ask for a
 * graceful stop instead of killing the process; the process exits anyway
 * `grace` seconds (an integer, 0: never) after the first one. */
static int sig_catch(lua_State *L)
{
    struct sigaction sa;
    lua_Integer s = luaL_optinteger(L, 1, 10);

    luaL_argcheck(L, s >= 0 && s <= 3600, 1, "grace must be between 0 and 3600 seconds");
    grace_s = (unsigned)s;
    if (installed)
        return 0;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, &old_alrm);
    caught = 0;
    installed = 1;
    return 0;
}

/* Called by the kernel on SIGHUP, once catch_hangup() asked for it. */
static void on_hangup(int sig)
{
    (void)sig;
    hangups++;
}

/* qxt.signal.catch_hangup(): from now on SIGHUP is counted (hangups())
 * instead of ending the process; release() gives it back. */
static int sig_catch_hangup(lua_State *L)
{
    struct sigaction sa;

    (void)L;
    if (hup_installed)
        return 0;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_hangup;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, &old_hup);
    hangups = 0;
    hup_installed = 1;
    return 0;
}

/* qxt.signal.hangups() -> n: the SIGHUPs caught so far; a poller compares
 * it with the count it last saw, so two signals between polls are one
 * reload, never a lost one. */
static int sig_hangups(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)hangups);
    return 1;
}

/* qxt.signal.release(): the default handling again. A signal already
 * caught stays reported by interrupted(). */
static int sig_release(lua_State *L)
{
    if (hup_installed) {
        sigaction(SIGHUP, &old_hup, NULL);
        hup_installed = 0;
    }
    if (!installed)
        return 0;
    alarm(0);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGALRM, &old_alrm, NULL);
    installed = 0;
    return 0;
}

/* qxt.signal.interrupted() -> "SIGINT" | "SIGTERM" | nil */
static int sig_interrupted(lua_State *L)
{
    int sig = caught;

    if (sig == 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal");
    return 1;
}

static const luaL_Reg sig_funcs[] = {
    { "catch", sig_catch },
    { "release", sig_release },
    { "interrupted", sig_interrupted },
    { "catch_hangup", sig_catch_hangup },
    { "hangups", sig_hangups },
    { NULL, NULL }
};

int luaopen_qxt_signal(lua_State *L)
{
    luaL_newlib(L, sig_funcs);
    return 1;
}
