/* codes.h -- the provider's code table (QXT Phone_TwoElements).
 *
 * Shared by the engine and the simulator: the one place that says what a
 * code means and how the engine treats it. Pure data, no dependencies. */
#ifndef QXT_CODES_H
#define QXT_CODES_H

#include <stddef.h>

/* Codes as documented by the provider (see docs/provider-api.md). */
enum {
    QXT_OK            = 0,   /* success: result.Status holds the verdict */
    QXT_BAD_PARAM     = 1,   /* parameter missing, apikey or mobile wrong */
    QXT_BAD_APIKEY    = -1,  /* apikey matches no account */
    QXT_MOBILE_LENGTH = -2,  /* mobile wrong length */
    QXT_NOT_MOBILE    = -3,  /* not a correct mobile number */
    QXT_NO_RECORD     = -4,  /* no information found */
    QXT_NO_BALANCE    = -5,  /* balance too low for this query */
    QXT_SYSTEM_ERROR  = -8,  /* system error, try again later */
    QXT_IP_DENIED     = -9   /* caller IP not authorised */
};

/* How the engine treats an outcome; the names are the `class` field of
 * verify()'s result. Two classes are never a provider code's class:
 * QXT_CLASS_TRANSPORT marks answers that never came (timeouts, resets,
 * non-JSON bodies), QXT_CLASS_MISMATCH answers about someone else (their
 * result.Mobile, or unmasked result.Name, is not the one asked). */
typedef enum {
    QXT_CLASS_OK,
    QXT_CLASS_INPUT,
    QXT_CLASS_NO_RECORD,
    QXT_CLASS_ACCOUNT,
    QXT_CLASS_TRANSIENT,
    QXT_CLASS_TRANSPORT,
    QXT_CLASS_MISMATCH
} qxt_class;
#define QXT_CLASS_COUNT 7

/* Class of a provider code. A code the document does not list is
 * QXT_CLASS_ACCOUNT: the provider said something we do not understand, so
 * a run stops spending money until a person looks. */
qxt_class qxt_code_class(long code);

/* The class's name as scripts see it ("ok", "input", ...). Static string. */
const char *qxt_class_name(qxt_class cls);

/* 1 when no retry policy may ask again after an outcome of this class:
 * ok, input and account (asking again spends money or hammers a closed
 * account) and mismatch (the provider mixed answers up; asking again pays
 * again for an answer that cannot be trusted). */
int qxt_class_final(qxt_class cls);

/* 1 when the provider bills an answer with this code. The document is
 * silent on billing (QXT-API.md, "Open points"): we assume code 0 is
 * charged and every other code, and an unknown one, is not. What went out
 * whole and got no answer about the person asked is *possibly charged*, a
 * property of the result (lresult.c), not of a code. */
int qxt_code_charged(long code);

/* 1 when an outcome of this class is an answer about the person asked that
 * a journal keeps and a resumed run reuses instead of asking again: ok,
 * input, no_record. Account codes, -8, transport failures and mismatches
 * are not: a resumed run asks again. */
int qxt_class_answer(qxt_class cls);

/* The default outcome (a sink name of qxt.route) of a result of this class
 * when it carries no verdict: "invalid" for input, else "unverified". A
 * code-0 answer with 一致 / 不一致 goes to consistent / inconsistent
 * instead (qxt.route). Static string. */
const char *qxt_class_outcome(qxt_class cls);

/* The verdict fields of a code-0 answer, derived from result.Status and
 * result.Area: the one rule, used by the decoder (lresult.c) and, through
 * qxt.core.verdict, by the journal for stored answers. consistent: 1 for
 * 一致, 0 for 不一致, -1 for any other text (NULL status: -1). province:
 * Area before the first '-', city: after it; each left empty (len 0) when
 * that part is empty. The pointers point into area (not copied). */
struct qxt_verdict {
    int consistent;
    const char *province;
    size_t province_len;
    const char *city;
    size_t city_len;
};
void qxt_verdict_of(const char *status, const char *area, size_t area_len, struct qxt_verdict *v);

/* The provider's reason text for a known code (as the provider sends it,
 * e.g. "Succ"), or NULL for an unknown code. Static string. */
const char *qxt_code_reason(long code);

/* A one-line English meaning of a code for people (summaries, docs), or
 * "unknown code" when not listed. Static string. */
const char *qxt_code_meaning(long code);

#endif
