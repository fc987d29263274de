/* codes.h -- the provider's code table (QXT Phone_TwoElements).
 *
 * Shared by the engine and the simulator: the one place that says what a
 * code means and how the engine treats it. Pure data, no dependencies. */
#ifndef QXT_CODES_H
#define QXT_CODES_H

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

/* The provider's reason text for a known code (as the provider sends it,
 * e.g. "Succ"), or NULL for an unknown code. Static string. */
const char *qxt_code_reason(long code);

/* A one-line English meaning of a code for people (summaries, docs), or
 * "unknown code" when not listed. Static string. */
const char *qxt_code_meaning(long code);

#endif
