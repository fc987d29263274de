/* main.c -- the qxtv command line: parses options and configuration, then
 * hands over to the engine (run, check, -e) or to the simulator (sim). */
#include "engine.h"
#include "exits.h"
#include "module.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://ps.szqxt.com/Phone_TwoElements"

static const char *progname = "qxtv";

static const char usage_text[] =
    "usage: qxtv run [OPTIONS] SCRIPT [ARGS...]      run a Lua flow script\n"
    "       qxtv check [OPTIONS] [--json] MOBILE NAME  one query, for a person or as JSON\n"
    "       qxtv repl [OPTIONS]                        try things interactively\n"
    "       qxtv serve [OPTIONS] FLOW.lua [--listen ADDR:PORT] [--tokens FILE]  the flow as an HTTP service\n"
    "       qxtv -e CODE [ARGS...]                     run a line of Lua\n"
    "       qxtv new NAME                              write NAME.lua, a starter flow\n"
    "       qxtv report SUMMARY.json [REPORT.html]     the HTML report of a finished run\n"
    "       qxtv admin status|resume --redis URL       the state instances share on Redis\n"
    "       qxtv sim [OPTIONS]                         the local provider simulator\n"
    "       qxtv --help | --version | COMMAND --help\n";

static const char options_text[] =
    "\n"
    "Options (after the command word):\n"
    "  --endpoint URL         provider endpoint (env QXT_ENDPOINT; default " DEFAULT_ENDPOINT ")\n"
    "  --apikey-file FILE     read the apikey from FILE (default: env QXT_APIKEY)\n"
    "  --timeout S            whole request, seconds (default 10)\n"
    "  --connect-timeout S    connection set-up, seconds (default 3)\n"
    "  --cafile FILE          trust the CA certificates in FILE for https (verification stays on)\n"
    "  --max-connections N    HTTP connections open at most (default 1024)\n"
    "  --debug                full Lua tracebacks on errors\n"
    "  --sandbox              run: the script gets a safe set and a facade of qxt (no require, no\n"
    "                         files but its own, no endpoint change); memory capped at 1024 MB\n"
    "  --allow-read PATH      run --sandbox: the script may also read PATH (a file or a directory)\n"
    "  --allow-write DIR      run --sandbox: the script may also write in DIR\n"
    "  --memory-limit MB      cap the memory of the Lua state\n"
    "  --allow-core-dump      let a crash write a core file (off: it would hold the apikey)\n"
    "\n"
    "The apikey is never printed. See README.md and docs/.\n"
    "\n";

/* `qxtv COMMAND --help`: what each command does, man-page style. */
static const struct { const char *command, *text; } command_help[] = {
    { "run",
      "qxtv run [OPTIONS] SCRIPT [ARGS...]\n\n"
      "Runs the Lua script SCRIPT in the engine. The script sees the globals verify and qxt;\n"
      "arg holds ARGS as in the stand-alone lua (arg[0] = SCRIPT), and ... holds them too.\n"
      "When the main chunk returns, the engine runs on until every task has ended. The\n"
      "process exits with qxt.exit_status(n) if the script set it, else an integer the\n"
      "chunk returned, else 1 if a task failed, else 0.\n"
      "Example: qxtv run scripts/verify_csv.lua applicants.csv --out out/\n" },
    { "check",
      "qxtv check [OPTIONS] [--json] MOBILE NAME\n\n"
      "Sends one query and prints the answer for a person, or with --json as one JSON\n"
      "object with every field of verify()'s result. Exits 0 when the provider gave a\n"
      "verdict (code 0), 1 otherwise, 2 without an apikey (nothing is sent).\n"
      "Example: qxtv check --json 13972565391 张三\n" },
    { "repl",
      "qxtv repl [OPTIONS]\n\n"
      "An interactive Lua prompt with line editing, verify() and the flow library loaded.\n"
      "Each line's values are printed; verify() results as tables. Lines are not saved\n"
      "to a history file (they hold personal data). Ctrl-D quits.\n" },
    { "serve",
      "qxtv serve [OPTIONS] FLOW.lua [--listen ADDR:PORT] [--tokens FILE] [--port-file FILE]\n\n"
      "Serves the decision FLOW.lua exports (loaded with qxt.serving = true; see docs/serve.md)\n"
      "over HTTP/1.1: POST /v1/verify, GET /livez, GET /readyz. --listen defaults to\n"
      "127.0.0.1:8088 (port 0: a free one, written to --port-file). --tokens FILE: callers need\n"
      "a bearer token whose SHA-256 is on a `name sha256hex` line of FILE. SIGTERM or SIGINT:\n"
      "stops accepting, finishes the requests in flight, exits 0.\n"
      "Example: qxtv serve scripts/serve_flow.lua --listen 127.0.0.1:8088\n" },
    { "admin",
      "qxtv admin status|resume --redis URL [--redis-password-file FILE] [--redis-prefix P]\n\n"
      "What an operator does to the state qxtv instances share on Redis (docs/scale-out.md).\n"
      "status: whether sending is halted and why, and today's shared budget count. resume:\n"
      "clears the halt a fatal provider code (-1, -5, -9) set, so every instance sends again\n"
      "within a second (fix the account first). The password comes only from the file.\n"
      "Example: qxtv admin resume --redis unix:///run/redis/redis.sock\n" },
    { "-e",
      "qxtv -e CODE [ARGS...]\n\n"
      "Runs CODE as a Lua chunk, as `qxtv run` runs a file.\n" },
    { "new",
      "qxtv new NAME\n\n"
      "Writes NAME.lua, a commented starter flow (source, cleaning, sinks, retry, rules,\n"
      "summary and report) that runs as is against the simulator. Never overwrites.\n" },
    { "report",
      "qxtv report SUMMARY.json [REPORT.html]\n\n"
      "Writes one self-contained HTML page with charts (outcomes, codes, carriers,\n"
      "provinces, latency, throughput and error rate over time, retries) from the\n"
      "summary.json of a finished run. Default output: report.html beside it.\n" },
};

static int print_command_help(const char *command)
{
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (strcmp(command, command_help[i].command) == 0) {
            printf("%s%s", command_help[i].text, strcmp(command, "new") && strcmp(command, "report") && strcmp(command, "admin")
                   ? options_text : "\n");
            qxt_exit_print(stdout);
            return QXT_EXIT_OK;
        }
    printf("%s%s", usage_text, options_text);
    qxt_exit_print(stdout);
    return QXT_EXIT_OK;
}

static void usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n%sTry 'qxtv --help'.\n", usage_text);
    exit(QXT_EXIT_USAGE);
}

static long parse_seconds_ms(const char *opt, const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v <= 3600)) {
        fprintf(stderr, "%s: %s wants seconds between 0 and 3600, not '%s'\n", progname, opt, s);
        exit(QXT_EXIT_USAGE);
    }
    return (long)(v * 1000.0) > 0 ? (long)(v * 1000.0) : 1;
}

/* Reads the apikey from path: one line, blanks around it ignored. Never
 * prints the key, not even part of it. */
static char *read_apikey_file(const char *path)
{
    char buf[512], *key;
    size_t n, start = 0;
    struct stat st;
    FILE *f = fopen(path, "r");

    if (!f) {
        fprintf(stderr, "%s: cannot read the apikey file %s: %s\n", progname, path, strerror(errno));
        exit(QXT_EXIT_USAGE);
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
        fprintf(stderr, "%s: warning: the apikey file %s can be read by other users (chmod 600 %s)\n",
                progname, path, path);
    setvbuf(f, NULL, _IONBF, 0);       /* no stdio buffer left holding the key */
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    while (start < n && isspace((unsigned char)buf[start]))
        start++;
    key = strdup(buf + start);
    explicit_bzero(buf, sizeof buf);
    return key;
}

/* Takes QXT_APIKEY out of the environment: a copy (NULL when unset or
 * empty), and the variable's value overwritten where it lies (the initial
 * environment, which /proc/<pid>/environ shows) and then unset, so that no
 * child a trusted flow starts inherits it. */
static char *take_env_apikey(void)
{
    char *env = getenv("QXT_APIKEY"), *key = NULL;

    if (!env)
        return NULL;
    if (*env)
        key = strdup(env);
    explicit_bzero(env, strlen(env));
    unsetenv("QXT_APIKEY");
    return key;
}

/* No core dumps unless asked for: a core of a running qxtv holds the
 * apikey and the records in flight. Not dumpable also keeps other
 * processes of the same user from attaching (ptrace) or reading
 * /proc/<pid>/mem and environ. With --allow-core-dump the soft limit is
 * raised to the hard one, since whoever asks wants the core. */
static void set_core_dumps(int allow)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_CORE, &rl) != 0)
        return;
    if (allow) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_CORE, &rl);
        return;
    }
    /* Only the soft limit: a child that wants cores may raise it again. */
    rl.rlim_cur = 0;
    if (setrlimit(RLIMIT_CORE, &rl) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fprintf(stderr, "%s: cannot turn core dumps off: %s\n", progname, strerror(errno));
        exit(QXT_EXIT_FAILED);
    }
}

/* Frees a string that held the key, overwritten first (explicit_bzero:
 * a plain memset before free may be optimised away). */
static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* A key with blanks or control characters in it is a copy-paste mistake. */
static void check_apikey(const char *key, const char *source)
{
    size_t len = strlen(key);

    if (len == 0) {
        fprintf(stderr, "%s: the apikey from %s is empty\n", progname, source);
        exit(QXT_EXIT_USAGE);
    }
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)key[i])) {
            fprintf(stderr, "%s: the apikey from %s contains a blank or control character "
                    "(character %zu); check for a stray line break or space\n", progname, source, i + 1);
            exit(QXT_EXIT_USAGE);
        }
    if (len != 32)
        fprintf(stderr, "%s: warning: the apikey from %s has %zu characters; the provider's keys have 32\n",
                progname, source, len);
}

static int is_command(const char *c)
{
    static const char *const commands[] = { "run", "check", "-e", "repl", "new", "report", "serve", "admin" };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(c, commands[i]) == 0)
            return QXT_EXIT_FAILED;
    return 0;
}

static int is_loopback_url(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost", 9) == 0 || strncmp(host, "[::1]", 5) == 0;
}

static void check_endpoint(const char *url)
{
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "%s: the endpoint must be an http:// or https:// URL, not '%s'\n", progname, url);
        exit(QXT_EXIT_USAGE);
    }
    if (strncmp(url, "http://", 7) == 0 && !is_loopback_url(url))
        fprintf(stderr, "%s: warning: the endpoint uses plain http: the apikey, mobiles and names "
                "cross the network unencrypted; prefer https\n", progname);
}

/* The engine's Lua library: share/qxtv/lua beside an installed binary, else
 * the source tree the binary was built from. */
static char *find_lua_dir(void)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];

    if (exe_dir(exe, sizeof exe) == 0) {
        snprintf(path, sizeof path, "%s/%s/qxt/init.lua", exe, QXTV_LUA_REL_FROM_BIN);
        if (access(path, R_OK) == 0) {
            snprintf(path, sizeof path, "%s/%s", exe, QXTV_LUA_REL_FROM_BIN);
            return strdup(path);
        }
    }
    return strdup(QXTV_SOURCE_LUA_DIR);
}

/* qxtv sim ...: the simulator is its own executable beside this one. */
static int run_sim(int argc, char **argv)
{
    char exe[PATH_MAX], path[PATH_MAX + 16];

    if (exe_dir(exe, sizeof exe) < 0)
        return perror("qxtv: cannot find my own executable"), QXT_EXIT_FAILED;
    snprintf(path, sizeof path, "%s/qxt-sim", exe);
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "%s: cannot start the simulator %s: %s\n", progname, path, strerror(errno));
    return QXT_EXIT_FAILED;
}

enum { OPT_ENDPOINT = 256, OPT_APIKEY_FILE, OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_CAFILE,
       OPT_MAX_CONNECTIONS, OPT_JSON, OPT_DEBUG, OPT_SANDBOX, OPT_MEMORY_LIMIT, OPT_ALLOW_READ,
       OPT_ALLOW_WRITE, OPT_ALLOW_CORE_DUMP };

static const struct option long_options[] = {
    { "endpoint", required_argument, NULL, OPT_ENDPOINT },
    { "apikey-file", required_argument, NULL, OPT_APIKEY_FILE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
    { "cafile", required_argument, NULL, OPT_CAFILE },
    { "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
    { "json", no_argument, NULL, OPT_JSON },
    { "debug", no_argument, NULL, OPT_DEBUG },
    { "sandbox", no_argument, NULL, OPT_SANDBOX },
    { "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
    { "allow-read", required_argument, NULL, OPT_ALLOW_READ },
    { "allow-write", required_argument, NULL, OPT_ALLOW_WRITE },
    { "allow-core-dump", no_argument, NULL, OPT_ALLOW_CORE_DUMP },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

/* --allow-read / --allow-write values, NULL-terminated lists (argv owns the
 * strings); they live until the process exits. */
static const char **allow_read, **allow_write;
static int n_read, n_write;

static void allow(const char ***list, int *n, int argc, const char *path)
{
    if (!*list && !(*list = calloc((size_t)argc, sizeof **list))) {
        fprintf(stderr, "%s: out of memory\n", progname);
        exit(QXT_EXIT_FAILED);
    }
    (*list)[(*n)++] = path;
}

int main(int argc, char **argv)
{
    struct qxt_config cfg = { 0 };
    const char *command, *apikey_file = NULL, *env;
    char *apikey = NULL, *env_apikey, *lua_dir, err[512];
    int json = 0, allow_core_dump = 0, status, opt;
    struct engine *e;

    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        usage_error("%s", "missing command");
    command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        printf("qxtv %s -- a scriptable carrier two-element verification engine\n\n%s%s",
               QXTV_VERSION, usage_text, options_text);
        qxt_exit_print(stdout);
        return QXT_EXIT_OK;
    }
    if (strcmp(command, "--version") == 0) {
        printf("qxtv %s\n", QXTV_VERSION);
        return 0;
    }
    if (strcmp(command, "sim") == 0)
        return run_sim(argc - 1, argv + 1);
    if (!is_command(command))
        usage_error("unknown command '%s'", command);
    cfg.timeout_ms = 10000;
    cfg.connect_timeout_ms = 3000;
    cfg.max_connections = 1024;
    cfg.endpoint = (env = getenv("QXT_ENDPOINT")) && *env ? env : DEFAULT_ENDPOINT;

    /* run and -e stop at the script (what follows is the script's own);
     * check takes options anywhere. */
    optind = 2;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, strcmp(command, "check") == 0 ? "h" : "+h",
                              long_options, NULL)) != -1) {
        switch (opt) {
        case OPT_ENDPOINT: cfg.endpoint = optarg; break;
        case OPT_APIKEY_FILE: apikey_file = optarg; break;
        case OPT_TIMEOUT: cfg.timeout_ms = parse_seconds_ms("--timeout", optarg); break;
        case OPT_CONNECT_TIMEOUT: cfg.connect_timeout_ms = parse_seconds_ms("--connect-timeout", optarg); break;
        case OPT_CAFILE:
            if (access(optarg, R_OK) != 0) {
                fprintf(stderr, "%s: cannot read the CA file %s: %s\n", progname, optarg, strerror(errno));
                return QXT_EXIT_USAGE;
            }
            cfg.cafile = optarg;
            break;
        case OPT_MAX_CONNECTIONS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 65536)
                usage_error("--max-connections wants a number from 1 to 65536, not '%s'", optarg);
            cfg.max_connections = v;
            break;
        }
        case OPT_JSON:
            if (strcmp(command, "check") != 0)
                usage_error("--json is an option of check, not of %s", command);
            json = 1;
            break;
        case OPT_DEBUG: cfg.debug = 1; break;
        case OPT_SANDBOX:
            /* Only `run` loads the script sandboxed; elsewhere it would be a false comfort. */
            if (strcmp(command, "run") != 0)
                usage_error("--sandbox is an option of run, not of %s", command);
            cfg.sandbox = 1;
            break;
        case OPT_MEMORY_LIMIT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1048576)
                usage_error("--memory-limit wants megabytes from 1 to 1048576, not '%s'", optarg);
            cfg.memory_limit = (size_t)v << 20;
            break;
        }
        case OPT_ALLOW_READ: allow(&allow_read, &n_read, argc, optarg); break;
        case OPT_ALLOW_WRITE: allow(&allow_write, &n_write, argc, optarg); break;
        case OPT_ALLOW_CORE_DUMP: allow_core_dump = 1; break;
        case 'h':
            return print_command_help(command);
        default:
            if (optopt)
                usage_error("unknown option for this command: %s", argv[optind - 1]);
            usage_error("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if ((n_read || n_write) && !cfg.sandbox)
        usage_error("%s is an option of run --sandbox", n_read ? "--allow-read" : "--allow-write");
    cfg.allow_read = allow_read;
    cfg.allow_write = allow_write;
    if (cfg.sandbox && !cfg.memory_limit)
        cfg.memory_limit = (size_t)1024 << 20;   /* a string.rep bomb fails instead of the host */
    /* Before the key is read: from here on it is in our memory. */
    set_core_dumps(allow_core_dump);
    check_endpoint(cfg.endpoint);
    env_apikey = take_env_apikey();
    if (apikey_file) {
        apikey = read_apikey_file(apikey_file);
        check_apikey(apikey, apikey_file);
    } else if (env_apikey) {
        apikey = env_apikey;
        env_apikey = NULL;
        check_apikey(apikey, "QXT_APIKEY");
    }
    wipe_free(env_apikey);
    cfg.apikey = apikey;

    if (strcmp(command, "check") == 0) {
        if (argc - optind != 2)
            usage_error("%s", "check wants exactly two arguments: MOBILE NAME");
        if (!apikey) {
            fprintf(stderr, "%s: no apikey: set QXT_APIKEY or pass --apikey-file FILE "
                    "(nothing was sent)\n", progname);
            return QXT_EXIT_USAGE;
        }
    } else if (strcmp(command, "new") == 0) {
        if (argc - optind != 1)
            usage_error("%s", "new wants one NAME");
    } else if (strcmp(command, "report") == 0) {
        if (argc - optind < 1 || argc - optind > 2)
            usage_error("%s", "report wants SUMMARY.json and, optionally, REPORT.html");
    } else if (strcmp(command, "serve") == 0) {
        if (optind >= argc)
            usage_error("%s", "serve wants a FLOW.lua");
    } else if (strcmp(command, "admin") == 0) {
        if (optind >= argc)
            usage_error("%s", "admin wants an action: status or resume");
    } else if (strcmp(command, "repl") == 0) {
        if (optind != argc)
            usage_error("%s", "repl takes no arguments");
    } else if (optind >= argc) {
        usage_error("%s", strcmp(command, "run") == 0 ? "run wants a SCRIPT" : "-e wants CODE");
    }

    lua_dir = find_lua_dir();
    cfg.lua_dir = lua_dir;
    e = engine_new(&cfg, err, sizeof err);
    wipe_free(apikey);                     /* the engine holds its own copy */
    free(lua_dir);
    if (!e) {
        fprintf(stderr, "%s: %s\n", progname, err);
        return QXT_EXIT_FAILED;
    }
    if (strcmp(command, "run") == 0) {
        status = engine_run_file(e, argv[optind], argc - optind - 1, argv + optind + 1);
    } else if (strcmp(command, "-e") == 0) {
        status = engine_run_string(e, argv[optind], argc - optind - 1, argv + optind + 1);
    } else if (strcmp(command, "repl") == 0) {
        status = engine_repl(e);
    } else if (strcmp(command, "check") == 0) {
        char *args[3] = { argv[optind], argv[optind + 1], json ? "json" : "text" };
        status = engine_run_module(e, "qxt.cli.check", 3, args);
    } else {
        char module[32];
        snprintf(module, sizeof module, "qxt.cli.%s", command);  /* new, report, serve, admin */
        status = engine_run_module(e, module, argc - optind, argv + optind);
    }
    engine_free(e);
    return status;
}
