/* api.c -- the Phone_TwoElements rules; see api.h. */
#include "api.h"
#include "accounts.h"
#include "codes.h"
#include "people.h"
#include "reqlog.h"
#include "stats.h"
#include "text.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"

static const char STATUS_MATCH[] = "一致";
static const char STATUS_MISMATCH[] = "不一致";

/* What a gateway in front of a busy provider sends: an nginx-style page. */
static const char html_502[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n";
static const char html_503[] =
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/* Status-200 bodies a client must not take for an answer: a maintenance
 * page, a JSON answer cut short, and nothing at all. */
static const struct { const char *ctype, *body; } garbage[] = {
    { CT_HTML, "<html><body><h1>系统维护中</h1><p>请稍候再试</p></body></html>\n" },
    { CT_JSON, "{\"code\":0,\"reason\":\"Succ\",\"result\":{\"Mobile\":\"1" },
    { CT_JSON, "" },
};

static int set_body(struct api_answer *out, unsigned status, const char *ctype,
                    const char *body)
{
    out->status = status;
    out->content_type = ctype;
    out->body_len = strlen(body);
    out->body = malloc(out->body_len + 1);
    if (!out->body)
        return -1;
    memcpy(out->body, body, out->body_len + 1);
    return 0;
}

/* A JSON string for text a client sent; NULL when out of memory. */
static json_t *echo(const char *s, size_t len)
{
    size_t n;
    char *clean = text_utf8_sanitize(s, len, &n);
    if (!clean)
        return NULL;
    json_t *j = json_stringn(clean, n);
    free(clean);
    return j;
}

/* The wrong-mobile fault: the number asked with its last digit changed,
 * as a provider mixing up two answers would send (q->mobile is a valid
 * 11-digit number here: code 0 passed the checks). */
static json_t *other_mobile(const struct api_query *q)
{
    char m[11];
    memcpy(m, q->mobile, sizeof m);
    m[10] = (char)('0' + (m[10] - '0' + 1) % 10);
    return json_stringn(m, sizeof m);
}

/* The provider's JSON for code (and, for code 0, the person's record). */
static int set_json(struct api_answer *out, int code, const struct api_query *q,
                    const struct person *who, const char *status, bool wrong_mobile)
{
    json_t *result;
    if (code == QXT_OK)
        result = json_pack("{s:o?,s:o?,s:s,s:s,s:s}",
                           "Mobile", wrong_mobile ? other_mobile(q) : echo(q->mobile, q->mobile_len),
                           "Name", echo(q->name, q->name_len),
                           "Status", status,
                           "Area", who->area,
                           "Now_isp", who->carrier);
    else
        result = json_null();
    json_t *root = json_pack("{s:i,s:s,s:o}", "code", code, "reason",
                             qxt_code_reason(code), "result", result);
    if (!root)
        return -1;
    out->body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!out->body)
        return -1;
    out->body_len = strlen(out->body);
    out->status = 200;
    out->content_type = CT_JSON;
    return 0;
}

static bool present(const char *s, size_t len)
{
    return s && len > 0;
}

/* The provider's checks, in the order its codes take precedence (the first
 * that applies wins), and the charge for a code 0. */
static int decide(struct api *api, const struct api_query *q, const struct fault_plan *plan,
                  int *account, const struct person **who)
{
    *account = -1;
    *who = NULL;
    if (!present(q->apikey, q->apikey_len) || !present(q->mobile, q->mobile_len) ||
        !present(q->name, q->name_len) ||
        text_utf8_count(q->apikey, q->apikey_len) != ACCOUNTS_KEY_LEN)
        return QXT_BAD_PARAM;
    *account = accounts_find(api->accounts, q->apikey, q->apikey_len);
    if (*account < 0)
        return QXT_BAD_APIKEY;
    if (!accounts_ip_allowed(api->accounts, q->client))
        return QXT_IP_DENIED;
    if (text_utf8_count(q->mobile, q->mobile_len) != 11)
        return QXT_MOBILE_LENGTH;
    if (!people_is_mobile(q->mobile, q->mobile_len))
        return QXT_NOT_MOBILE;
    /* The balance check comes before -8 and -4 in precedence, but whether
     * to charge depends on them: look them up first (they have no side
     * effects), then check and charge in one atomic step. */
    *who = people_find(api->people, q->mobile, q->mobile_len);
    bool charge = !plan->fail && *who;
    if (!accounts_spend(api->accounts, *account, charge))
        return QXT_NO_BALANCE;
    if (plan->fail)
        return QXT_SYSTEM_ERROR;
    if (!*who)
        return QXT_NO_RECORD;
    return QXT_OK;
}

static const char *client_ip(const struct sockaddr *sa, char *buf, size_t len)
{
    buf[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
    return buf;
}

int api_answer(struct api *api, const struct api_query *q, struct api_answer *out)
{
    struct stats_pair *pair = NULL;
    uint64_t n = 0;
    struct stats_event ev = { .account = -1 };
    const struct person *who = NULL;
    const char *status = NULL, *fault = NULL;
    int rc = 0;

    memset(out, 0, sizeof *out);
    /* Only complete pairs are counted: n for a malformed query is 0, which
     * still makes its faults a function of the seed and the query. */
    if (present(q->mobile, q->mobile_len) && present(q->name, q->name_len))
        n = stats_pair_next(api->stats, q->mobile, q->mobile_len, q->name, q->name_len, &pair);
    struct fault_plan plan = faults_plan(api->faults, q->mobile ? q->mobile : "", q->mobile_len,
                                         q->name ? q->name : "", q->name_len, n);
    out->delay_ms = plan.delay_ms;
    ev.pair = pair;
    ev.slow = plan.slow;
    ev.transport = plan.transport;

    switch (plan.transport) {
    case FAULT_DROP:
        out->action = API_DROP;
        fault = "drop";
        break;
    case FAULT_HTTP_ERROR:
        rc = plan.variant & 1 ? set_body(out, 503, CT_HTML, html_503)
                              : set_body(out, 502, CT_HTML, html_502);
        fault = "http_error";
        break;
    case FAULT_GARBAGE: {
        unsigned v = plan.variant % (sizeof garbage / sizeof garbage[0]);
        rc = set_body(out, 200, garbage[v].ctype, garbage[v].body);
        fault = "garbage";
        break;
    }
    case FAULT_NONE:
        /* The account is known only once the apikey is checked; a
         * transport fault never gets that far. */
        ev.code = decide(api, q, &plan, &ev.account, &who);
        ev.answered = true;
        ev.fail = ev.code == QXT_SYSTEM_ERROR;
        ev.charged = ev.code == QXT_OK;
        if (ev.code == QXT_OK)
            status = q->name_len == strlen(who->name) &&
                     memcmp(q->name, who->name, q->name_len) == 0 ? STATUS_MATCH
                                                                  : STATUS_MISMATCH;
        ev.wrong_mobile = ev.code == QXT_OK && plan.wrong_mobile;
        if (ev.fail)
            fault = "fail";
        else if (ev.wrong_mobile)
            fault = "wrong_mobile";
        rc = set_json(out, ev.code, q, who, status, ev.wrong_mobile);
        break;
    }
    if (!fault && plan.slow)
        fault = "slow";
    stats_record(api->stats, &ev);
    if (api->log) {
        char ip[INET6_ADDRSTRLEN];
        struct reqlog_entry e = {
            .ip = client_ip(q->client, ip, sizeof ip),
            .method = q->method,
            .account = ev.account >= 0 ? accounts_label(api->accounts, ev.account) : NULL,
            .mobile = q->mobile, .mobile_len = q->mobile_len,
            .name = q->name, .name_len = q->name_len,
            .answered = ev.answered, .code = ev.code, .status = status,
            .fault = fault, .delay_ms = out->delay_ms,
        };
        reqlog_write(api->log, &e);
    }
    if (rc < 0) {
        free(out->body);
        out->body = NULL;
    }
    return rc;
}
