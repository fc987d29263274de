/* codes.c -- the provider's code table; see codes.h. */
#include "codes.h"

#include <stddef.h>

struct code_row {
    long code;
    qxt_class cls;
    const char *reason;   /* provider's text (its document, verbatim) */
    const char *meaning;  /* for people reading a summary */
};

static const struct code_row code_table[] = {
    { QXT_OK,            QXT_CLASS_OK,        "Succ",
      "success: the carrier gave a verdict" },
    { QXT_BAD_PARAM,     QXT_CLASS_INPUT,     "请求参数缺失,apikey长度不对,查询的手机号码长度不对,查询的手机号码有误",
      "parameter missing, apikey or mobile malformed" },
    { QXT_BAD_APIKEY,    QXT_CLASS_ACCOUNT,   "apikey信息不匹配(用户信息不正确)apikey不正确",
      "apikey matches no account" },
    { QXT_MOBILE_LENGTH, QXT_CLASS_INPUT,     "查询的手机号码长度不对",
      "mobile number has the wrong length" },
    { QXT_NOT_MOBILE,    QXT_CLASS_INPUT,     "请填写正确的手机号码",
      "not a valid mobile number" },
    { QXT_NO_RECORD,     QXT_CLASS_NO_RECORD, "未查询到相关信息或填写正确的手机号码再查询",
      "no information found for this number" },
    { QXT_NO_BALANCE,    QXT_CLASS_ACCOUNT,   "当前余额不足发起本次查询请求,请与供应商联系",
      "account balance too low" },
    { QXT_SYSTEM_ERROR,  QXT_CLASS_TRANSIENT, "系统错误,请稍候再试",
      "provider system error, try again later" },
    { QXT_IP_DENIED,     QXT_CLASS_ACCOUNT,   "ip地址鉴权失败",
      "caller IP address not authorised" },
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

/* The classes, in qxt_class order. */
static const struct {
    const char *name;
    int final;
} class_table[QXT_CLASS_COUNT] = {
    [QXT_CLASS_OK]        = { "ok",        1 },
    [QXT_CLASS_INPUT]     = { "input",     1 },
    [QXT_CLASS_NO_RECORD] = { "no_record", 0 },
    [QXT_CLASS_ACCOUNT]   = { "account",   1 },
    [QXT_CLASS_TRANSIENT] = { "transient", 0 },
    [QXT_CLASS_TRANSPORT] = { "transport", 0 },
    [QXT_CLASS_MISMATCH]  = { "mismatch",  1 },
};

const char *qxt_class_name(qxt_class cls)
{
    return (unsigned)cls < QXT_CLASS_COUNT ? class_table[cls].name : "transport";
}

int qxt_class_final(qxt_class cls)
{
    return (unsigned)cls < QXT_CLASS_COUNT ? class_table[cls].final : 0;
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
