/*  rb_names: the names of kinds, types, roles, codes, answers and ops
    (see rb_msg.h), the word lookups the body decoder uses (rb_dec.h), key
    and name checks, and the borrowed-string helpers.  */
#include "rb_msg.h"
#include "rb_dec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*  --- names ---------------------------------------------------------- */

static const char *const s_kind_names[] = {"?",         "HELLO", "WELCOME",
                                           "HEARTBEAT", "BYE",   "ERROR",
                                           "REQUEST",   "REPLY", "PUSH"};

static const char *const s_type_names[RB_T_COUNT_] = {
    "NONE",         "HELLO",    "WELCOME", "ERROR",         "GET",
    "DATA",         "ORDER",    "ACK",     "RECOVERY_LIST", "DIFF",
    "RECOVERY_END", "STATUS",   "INFO",    "BACKUP",        "BACKUP_DONE",
    "RESTORE",      "RESTORED", "RESET",   "UPDATE",        "RECOVERED",
    "NODES",        "ANSWER",   "ECHO",    "GETS",          "RECORDS",
    "SUBMIT"};

static const char *const s_role_names[] = {"none", "db",      "service",
                                           "ops",  "monitor", "bench"};

static const char *const s_answer_names[] = {"?", "ok", "not_found", "stale",
                                             "unavailable"};

static const char *const s_op_names[] = {"?", "put", "delete"};

#define COUNT_OF(a) ((int) (sizeof (a) / sizeof ((a)[0])))

static const char *
s_name (const char *const *names, int count, int value)
{
    return value >= 0 && value < count ? names[value] : "?";
}

static int
s_lookup (const char *const *names, int count, int first, const char *name)
{
    for (int i = first; i < count; i++)
        if (name && strcmp (names[i], name) == 0)
            return i;
    return -1;
}

const char *
rb_kind_name (int kind)
{
    return s_name (s_kind_names, COUNT_OF (s_kind_names), kind);
}

const char *
rb_type_name (int type)
{
    return s_name (s_type_names, COUNT_OF (s_type_names), type);
}

const char *
rb_role_name (int role)
{
    return s_name (s_role_names, COUNT_OF (s_role_names), role);
}

const char *
rb_answer_name (int answer)
{
    return s_name (s_answer_names, COUNT_OF (s_answer_names), answer);
}

const char *
rb_op_name (int op)
{
    return s_name (s_op_names, COUNT_OF (s_op_names), op);
}

int
rb_role_lookup (const char *name)
{
    return s_lookup (s_role_names, COUNT_OF (s_role_names), 1, name);
}

int
rb_type_lookup (const char *name)
{
    return s_lookup (s_type_names, COUNT_OF (s_type_names), 1, name);
}

int
rb_answer_lookup (const char *name)
{
    return s_lookup (s_answer_names, COUNT_OF (s_answer_names), 1, name);
}

const char *
rb_code_name (int code)
{
    switch (code) {
        case RB_OK: return "ok";
        case RB_E_TRUNCATED: return "truncated";
        case RB_E_SIGNATURE: return "bad_signature";
        case RB_E_VERSION: return "bad_version";
        case RB_E_KIND: return "unknown_kind";
        case RB_E_TYPE: return "unknown_type";
        case RB_E_SHAPE: return "bad_shape";
        case RB_E_WRONG_TYPE: return "wrong_type";
        case RB_E_MISSING: return "missing_field";
        case RB_E_EXTRA: return "extra_field";
        case RB_E_KEY: return "bad_key";
        case RB_E_VALUE: return "value_too_long";
        case RB_E_BATCH: return "batch_too_large";
        case RB_E_TEXT: return "bad_text";
        case RB_E_ENUM: return "bad_word";
        case RB_E_TRAILING: return "trailing_bytes";
        case RB_E_FRAMES: return "bad_frames";
        case RB_S_MALFORMED: return "malformed";
        case RB_S_UNKNOWN_NODE: return "unknown_node";
        case RB_S_UNKNOWN_SERVICE: return "unknown_service";
        case RB_S_NAME_TAKEN: return "name_taken";
        case RB_S_BAD_ROLE: return "bad_role";
        case RB_S_WORKER_LOST: return "worker_lost";
        case RB_S_TIMEOUT: return "timeout";
        case RB_S_OVERLOADED: return "overloaded";
        case RB_S_UNAVAILABLE: return "unavailable";
        case RB_S_FORBIDDEN: return "forbidden";
        case RB_S_BAD_REQUEST: return "bad_request";
        case RB_S_WRONG_STATE: return "wrong_state";
        case RB_S_INCOMPLETE: return "incomplete";
        case RB_S_CORRUPT: return "corrupt";
        case RB_S_IO: return "io_error";
        case RB_S_INTERNAL: return "internal";
        default: return "?";
    }
}

/*  --- words ------------------------------------------------------------ */

static int
s_word (rb_str_t s, const char *const *names, int count)
{
    for (int i = 1; i < count; i++)
        if (rb_str_eq (s, names[i]))
            return i;
    return -1;
}

int
rb_word_lookup (rb_str_t s, int set)
{
    switch (set) {
        case RB_WORD_ROLE:
            return s_word (s, s_role_names, COUNT_OF (s_role_names));
        case RB_WORD_OP: return s_word (s, s_op_names, COUNT_OF (s_op_names));
        case RB_WORD_ANSWER:
            return s_word (s, s_answer_names, COUNT_OF (s_answer_names));
    }
    return -1;
}

/*  --- checks ----------------------------------------------------------- */

bool
rb_key_valid (const char *key, size_t len)
{
    if (len < 1 || len > RB_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) key[i] < 0x21 || (unsigned char) key[i] > 0x7e)
            return false;
    return true;
}

bool
rb_name_valid (const char *name, size_t len)
{
    if (len < 1 || len > RB_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/*  --- borrowed strings ------------------------------------------------- */

rb_str_t
rb_str (const char *cstr)
{
    rb_str_t s = {cstr, cstr ? (uint32_t) strlen (cstr) : 0};
    return s;
}

rb_str_t
rb_strn (const void *ptr, size_t len)
{
    rb_str_t s = {(const char *) ptr, (uint32_t) len};
    return s;
}

bool
rb_str_eq (rb_str_t s, const char *cstr)
{
    size_t n = strlen (cstr);
    return s.len == n && memcmp (s.ptr, cstr, n) == 0;
}

void
rb_str_to (char *dst, size_t cap, rb_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    const char *nul = n ? (const char *) memchr (s.ptr, '\0', n) : NULL;
    if (nul)
        n = (size_t) (nul - s.ptr);
    if (n)
        memcpy (dst, s.ptr, n);
    dst[n] = '\0';
}

char *
rb_str_dup (rb_str_t s)
{
    char *copy = (char *) malloc ((size_t) s.len + 1);
    assert (copy);
    if (s.len)
        memcpy (copy, s.ptr, s.len);
    copy[s.len] = '\0';
    return copy;
}
