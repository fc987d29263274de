/* codes.c -- the provider's code table; see codes.h. */
#include "codes.h"

#include <stddef.h>
#include <string.h>

struct code_row {
    long code;
    qxt_class cls;
    const char *reason;   /* provider's text (its document, verbatim) */
    const char *meaning;  /* for people reading a summary */
    int charged;          /* billed by the provider (assumed: code 0 only) */
};

static const struct code_row code_table[] = {
    { QXT_OK,            QXT_CLASS_OK,        "Succ",
      "success: the carrier gave a verdict", 1 },
    { QXT_BAD_PARAM,     QXT_CLASS_INPUT,     "请求参数缺失,apikey长度不对,查询的手机号码长度不对,查询的手机号码有误",
      "parameter missing, apikey or mobile malformed", 0 },
    { QXT_BAD_APIKEY,    QXT_CLASS_ACCOUNT,   "apikey信息不匹配(用户信息不正确)apikey不正确",
      "apikey matches no account", 0 },
    { QXT_MOBILE_LENGTH, QXT_CLASS_INPUT,     "查询的手机号码长度不对",
      "mobile number has the wrong length", 0 },
    { QXT_NOT_MOBILE,    QXT_CLASS_INPUT,     "请填写正确的手机号码",
      "not a valid mobile number", 0 },
    { QXT_NO_RECORD,     QXT_CLASS_NO_RECORD, "未查询到相关信息或填写正确的手机号码再查询",
      "no information found for this number", 0 },
    { QXT_NO_BALANCE,    QXT_CLASS_ACCOUNT,   "当前余额不足发起本次查询请求,请与供应商联系",
      "account balance too low", 0 },
    { QXT_SYSTEM_ERROR,  QXT_CLASS_TRANSIENT, "系统错误,请稍候再试",
      "provider system error, try again later", 0 },
    { QXT_IP_DENIED,     QXT_CLASS_ACCOUNT,   "ip地址鉴权失败",
      "caller IP address not authorised", 0 },
};

static const struct code_row *find(long code)
{
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (code_table[i].code == code)
            return &code_table[i];
    return NULL;
}

qxt_class qxt_code_class(long code)
{
    const struct code_row *row = find(code);
    return row ? row->cls : QXT_CLASS_ACCOUNT;
}

/* The classes, in qxt_class order: never retried (final), kept by the
 * journal (answer), default outcome without a verdict. */
static const struct {
    const char *name;
    int final;
    int answer;
    const char *outcome;
} class_table[QXT_CLASS_COUNT] = {
    [QXT_CLASS_OK]        = { "ok",        1, 1, "unverified" },
    [QXT_CLASS_INPUT]     = { "input",     1, 1, "invalid" },
    [QXT_CLASS_NO_RECORD] = { "no_record", 0, 1, "unverified" },
    [QXT_CLASS_ACCOUNT]   = { "account",   1, 0, "unverified" },
    [QXT_CLASS_TRANSIENT] = { "transient", 0, 0, "unverified" },
    [QXT_CLASS_TRANSPORT] = { "transport", 0, 0, "unverified" },
    [QXT_CLASS_MISMATCH]  = { "mismatch",  1, 0, "unverified" },
};

const char *qxt_class_name(qxt_class cls)
{
    return (unsigned)cls < QXT_CLASS_COUNT ? class_table[cls].name : "transport";
}

int qxt_class_final(qxt_class cls)
{
    return (unsigned)cls < QXT_CLASS_COUNT ? class_table[cls].final : 0;
}

int qxt_class_answer(qxt_class cls)
{
    return (unsigned)cls < QXT_CLASS_COUNT ? class_table[cls].answer : 0;
}

const char *qxt_class_outcome(qxt_class cls)
{
    return (unsigned)cls < QXT_CLASS_COUNT ? class_table[cls].outcome : "unverified";
}

int qxt_code_charged(long code)
{
    const struct code_row *row = find(code);
    return row ? row->charged : 0;
}

void qxt_verdict_of(const char *status, const char *area, size_t area_len, struct qxt_verdict *v)
{
    v->consistent = -1;
    if (status && strcmp(status, "一致") == 0)
        v->consistent = 1;
    else if (status && strcmp(status, "不一致") == 0)
        v->consistent = 0;
    v->province = v->city = NULL;
    v->province_len = v->city_len = 0;
    if (!area || area_len == 0)
        return;
    const char *dash = memchr(area, '-', area_len);
    v->province = area;
    v->province_len = dash ? (size_t)(dash - area) : area_len;
    if (dash) {
        v->city = dash + 1;
        v->city_len = (size_t)(area + area_len - dash - 1);
    }
}

const char *qxt_code_reason(long code)
{
    const struct code_row *row = find(code);
    return row ? row->reason : NULL;
}

const char *qxt_code_meaning(long code)
{
    const struct code_row *row = find(code);
    return row ? row->meaning : "unknown code";
}
