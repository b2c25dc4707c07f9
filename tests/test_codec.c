/*  test_codec: every message type round-trips at its limits, and hostile
    bytes (truncated, wrong-typed, random, foreign) decode to the right
    error code without crashing or allocating without bound.  */
#include <check.h>

#include "rb_testing.h"
#include <stdlib.h>
#include <string.h>

#include "rb_mp.h"
#include "rb_msg.h"

static char s_key64[RB_KEY_MAX + 2];
static char s_text[RB_TEXT_MAX + 2];
static uint8_t *s_value; /* RB_VALUE_DEFAULT + 1 bytes */

static void
s_setup (void)
{
    memset (s_key64, 'k', sizeof s_key64 - 1);
    s_key64[RB_KEY_MAX] = '\0';
    memset (s_text, 't', sizeof s_text - 1);
    s_text[RB_TEXT_MAX] = '\0';
    s_value = malloc (RB_VALUE_DEFAULT + 1);
    for (int i = 0; i < RB_VALUE_DEFAULT + 1; i++)
        s_value[i] = (uint8_t) (i * 7);
}

static void
s_teardown (void)
{
    free (s_value);
}

/*  Sizes of a sample body: each at its limit, or one over. */
typedef struct {
    uint32_t key, value, text, name, batch, nodes, items, gets;
} rb_sizes_t;

static const rb_limits_t s_small = {RB_VALUE_DEFAULT, 16};
static const rb_sizes_t s_at_limit = {
    RB_KEY_MAX, RB_VALUE_DEFAULT, RB_TEXT_MAX, RB_NAME_MAX, 16,
    1024,       RB_ITEMS_MAX,     RB_GETS_MAX};

/*  Fills b with a sample of every field of its type, sized by z. */
static void
s_sample (rb_body_t *b, int type, rb_sizes_t z)
{
    rb_body_init (b, type);
    rb_str_t key = rb_strn (s_key64, z.key);
    b->key = key;
    b->has_value = true;
    b->value = rb_strn (s_value, z.value);
    b->seq = UINT64_MAX;
    b->epoch = 7;
    b->recovering = true;
    b->last = true;
    b->op = RB_OP_PUT;
    b->answer = RB_ANS_STALE;
    b->role = RB_ROLE_SERVICE;
    b->name = rb_strn (s_key64, z.name);
    b->text = rb_strn (s_text, z.text);
    b->n_services = RB_SERVICES_MAX;
    for (int i = 0; i < RB_SERVICES_MAX; i++)
        b->services[i] = rb_str ("db");
    b->heartbeat_ms = 1000, b->liveness = 3;
    b->applied = 1, b->skipped = 2, b->cleared = 3, b->flagged = 4;
    b->current = 5, b->watermark = 6, b->records = 8, b->bytes = 9;
    b->ms = 10;
    b->journal_seq = UINT64_MAX - 1, b->force = true;
    uint32_t n = z.nodes + z.batch + z.items + z.gets;
    b->entries = calloc (n, sizeof (rb_entry_t));
    b->orders = calloc (n, sizeof (rb_order_t));
    b->items = calloc (n, sizeof (rb_item_t));
    b->nodes = calloc (n, sizeof (rb_node_t));
    b->cap_entries = b->cap_orders = b->cap_items = b->cap_nodes = n;
    b->n_entries = b->n_orders = z.batch;
    b->n_items = z.items, b->n_nodes = z.nodes;
    b->keys = calloc (n, sizeof (rb_str_t));
    b->recs = calloc (n, sizeof (rb_record_t));
    b->cap_keys = b->cap_recs = n;
    b->n_keys = b->n_recs = z.gets;
    for (uint32_t i = 0; i < n; i++) {
        bool del = i % 2;
        b->entries[i] = (rb_entry_t){key, i};
        b->orders[i] = (rb_order_t){i + 1, key, del ? RB_OP_DELETE : RB_OP_PUT,
                                    !del, rb_strn (s_value, del ? 0 : z.value)};
        b->items[i] = (rb_item_t){rb_str ("state"), del, rb_str ("normal"), i};
        b->nodes[i] = (rb_node_t){rb_strn (s_key64, z.name), RB_ROLE_DB,
                                  rb_str ("db"), i, i};
        b->keys[i] = key;
        b->recs[i] = (rb_record_t){
            key, !del, rb_strn (s_value, del ? 0 : z.value), i, del};
    }
}

/*  Encodes into a fresh buffer; *len gets the size. Caller frees. */
static uint8_t *
s_encode (const rb_body_t *b, size_t *len)
{
    *len = rb_body_encode (b, NULL, 0);
    uint8_t *buf = malloc (*len ? *len : 1);
    ck_assert_uint_eq (rb_body_encode (b, buf, *len), *len);
    return buf;
}

START_TEST (str_to_copies_cuts_and_stops_at_nul)
{
    char buf[6];
    rb_str_to (buf, sizeof buf, rb_str ("abc"));
    ck_assert_str_eq (buf, "abc");
    rb_str_to (buf, sizeof buf, rb_str ("abcdefgh")); /* cut to 5 */
    ck_assert_str_eq (buf, "abcde");
    rb_str_to (buf, sizeof buf, rb_strn ("ab\0cd", 5)); /* as snprintf */
    ck_assert_str_eq (buf, "ab");
    rb_str_to (buf, sizeof buf, rb_strn (NULL, 0));
    ck_assert_str_eq (buf, "");
    rb_str_to (buf, 1, rb_str ("abc"));
    ck_assert_str_eq (buf, "");
}
END_TEST

START_TEST (codec_round_trips_every_type_at_its_limits)
{
    int type = _i;
    rb_body_t in, out;
    s_sample (&in, type, s_at_limit);
    rb_body_init (&out, RB_T_NONE);
    size_t len;
    uint8_t *buf = s_encode (&in, &len);
    rb_err_t err = {0};
    int rc = rb_body_decode (buf, len, type, &s_small, &out, &err);
    ck_assert_msg (rc == RB_OK, "%s: %s", rb_type_name (type), err.text);
    ck_assert_int_eq (out.type, type);
    /* re-encoding what was decoded gives the same bytes: every field of
       the type survived, whatever it is */
    size_t len2;
    uint8_t *buf2 = s_encode (&out, &len2);
    ck_assert_uint_eq (len, len2);
    ck_assert_mem_eq (buf, buf2, len);
    /* the decoded value points into the frame: no copy was made */
    if (out.has_value && out.value.len > 0)
        ck_assert (out.value.ptr >= (char *) buf &&
                   out.value.ptr < (char *) buf + len);
    free (buf);
    free (buf2);
    rb_body_release (&in);
    rb_body_release (&out);
}
END_TEST

/*  Encodes a sample of type sized by z and decodes it with s_small. */
static int
s_round (int type, rb_sizes_t z, uint8_t **buf, size_t *len, rb_err_t *err)
{
    rb_body_t in, out;
    s_sample (&in, type, z);
    rb_body_init (&out, RB_T_NONE);
    *buf = s_encode (&in, len);
    int rc = rb_body_decode (*buf, *len, type, &s_small, &out, err);
    rb_body_release (&in);
    rb_body_release (&out);
    return rc;
}

START_TEST (codec_refuses_each_limit_plus_one)
{
    int type = _i;
    struct {
        uint32_t *size; /* which size grows by one */
        int code;       /* the error expected */
    } cases[] = {
        {NULL, RB_E_KEY},   {NULL, RB_E_VALUE}, {NULL, RB_E_TEXT},
        {NULL, RB_E_TEXT},  {NULL, RB_E_BATCH}, {NULL, RB_E_BATCH},
        {NULL, RB_E_BATCH}, {NULL, RB_E_BATCH},
    };
    rb_sizes_t z[8];
    for (int c = 0; c < 8; c++)
        z[c] = s_at_limit;
    cases[0].size = &z[0].key, cases[1].size = &z[1].value;
    cases[2].size = &z[2].text, cases[3].size = &z[3].name;
    cases[4].size = &z[4].batch, cases[5].size = &z[5].nodes;
    cases[6].size = &z[6].items, cases[7].size = &z[7].gets;
    uint8_t *base;
    size_t base_len;
    rb_err_t err;
    ck_assert_int_eq (s_round (type, s_at_limit, &base, &base_len, &err),
                      RB_OK);
    int applied = 0;
    for (int c = 0; c < 8; c++) {
        (*cases[c].size)++;
        uint8_t *buf;
        size_t len;
        int rc = s_round (type, z[c], &buf, &len, &err);
        /* a size the type does not carry leaves its bytes unchanged */
        if (len == base_len && memcmp (buf, base, len) == 0)
            ck_assert_int_eq (rc, RB_OK);
        else {
            ck_assert_msg (rc == cases[c].code, "%s case %d: got %s (%s)",
                           rb_type_name (type), c, rb_code_name (rc), err.text);
            applied++;
        }
        free (buf);
    }
    free (base);
    /* the types with no sized field are the empty requests and a few
       all-number bodies */
    int fixed[] = {RB_T_WELCOME, RB_T_ACK,    RB_T_RECOVERY_END,
                   RB_T_STATUS,  RB_T_BACKUP, RB_T_RESET};
    bool is_fixed = false;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        is_fixed |= fixed[i] == type;
    ck_assert_msg (is_fixed == (applied == 0), "%s: %d limits",
                   rb_type_name (type), applied);
}
END_TEST

START_TEST (codec_reports_truncation_at_every_offset)
{
    int type = _i;
    uint8_t *buf;
    size_t len;
    rb_err_t err;
    rb_sizes_t z = {RB_KEY_MAX, 40, 30, 10, 3, 2, 2, 2};
    ck_assert_int_eq (s_round (type, z, &buf, &len, &err), RB_OK);
    rb_body_t out;
    rb_body_init (&out, RB_T_NONE);
    for (size_t cut = 0; cut < len; cut++) {
        /* a copy of exactly cut bytes, so ASan sees any over-read */
        uint8_t *part = malloc (cut ? cut : 1);
        memcpy (part, buf, cut);
        int rc = rb_body_decode (part, cut, type, &s_small, &out, &err);
        ck_assert_msg (rc == RB_E_TRUNCATED, "%s cut at %zu/%zu: %s (%s)",
                       rb_type_name (type), cut, len, rb_code_name (rc),
                       err.text);
        free (part);
    }
    free (buf);
    rb_body_release (&out);
}
END_TEST

/*  One msgpack item of each type, for replacing fields. */
static const struct {
    const char *name;
    uint8_t bytes[4];
    size_t len;
} s_items[] = {
    {"nil", {0xc0}, 1},
    {"bool", {0xc3}, 1},
    {"uint", {0x07}, 1},
    {"int", {0xfd}, 1},
    {"float", {0xca, 0, 0, 0}, 4},
    {"str", {0xa1, 's'}, 2},
    {"bin", {0xc4, 1, 'b'}, 3},
    {"array", {0x90}, 1},
    {"map", {0x80}, 1},
};

/*  Where each pair of a body map lies: key start, value start, end. */
typedef struct {
    size_t key, val, end;
} rb_pair_t;

static uint32_t
s_pairs (const uint8_t *buf, size_t len, rb_pair_t *pairs)
{
    rb_mp_reader_t r;
    rb_mp_reader_init (&r, buf, len);
    uint32_t n;
    ck_assert_int_eq (rb_mp_read_map (&r, &n), 0);
    for (uint32_t i = 0; i < n; i++) {
        pairs[i].key = len - rb_mp_remaining (&r);
        ck_assert_int_eq (rb_mp_skip (&r, 8), 0);
        pairs[i].val = len - rb_mp_remaining (&r);
        ck_assert_int_eq (rb_mp_skip (&r, 8), 0);
        pairs[i].end = len - rb_mp_remaining (&r);
    }
    return n;
}

/*  Builds a map of the pairs of buf, pair `swap` with its value replaced
    by item (or dropped when item is NULL), plus an extra pair if asked. */
static size_t
s_rebuild (const uint8_t *buf, const rb_pair_t *pairs, uint32_t n,
           uint32_t swap, const uint8_t *item, size_t item_len,
           const uint8_t *extra, size_t extra_len, uint8_t *out)
{
    uint32_t count = n - (swap < n && !item ? 1 : 0) + (extra ? 1 : 0);
    size_t o = 0;
    out[o++] = 0xde;
    out[o++] = (uint8_t) (count >> 8);
    out[o++] = (uint8_t) count;
    for (uint32_t i = 0; i < n; i++) {
        if (i == swap && !item)
            continue;
        size_t upto = i == swap ? pairs[i].val : pairs[i].end;
        memcpy (out + o, buf + pairs[i].key, upto - pairs[i].key);
        o += upto - pairs[i].key;
        if (i == swap) {
            memcpy (out + o, item, item_len);
            o += item_len;
        }
    }
    if (extra) {
        memcpy (out + o, extra, extra_len);
        o += extra_len;
    }
    return o;
}

START_TEST (codec_refuses_each_field_of_each_wrong_type)
{
    int type = _i;
    uint8_t *buf;
    size_t len;
    rb_err_t err;
    rb_sizes_t z = {8, 5, 5, 5, 2, 2, 2, 2};
    ck_assert_int_eq (s_round (type, z, &buf, &len, &err), RB_OK);
    rb_pair_t pairs[16];
    uint32_t n = s_pairs (buf, len, pairs);
    uint8_t *out = malloc (len + 64);
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    for (uint32_t f = 0; f < n; f++) {
        rb_mp_reader_t r;
        rb_mp_reader_init (&r, buf + pairs[f].val, len - pairs[f].val);
        const char *orig = rb_mp_peek_name (&r);
        bool nullable = pairs[f].val - pairs[f].key == 6 &&
                        memcmp (buf + pairs[f].key + 1, "value", 5) == 0;
        for (size_t t = 0; t < sizeof s_items / sizeof s_items[0]; t++) {
            if (strcmp (orig, s_items[t].name) == 0)
                continue;
            if (nullable && (strcmp (s_items[t].name, "nil") == 0 ||
                             strcmp (s_items[t].name, "bin") == 0))
                continue;
            size_t olen = s_rebuild (buf, pairs, n, f, s_items[t].bytes,
                                     s_items[t].len, NULL, 0, out);
            int rc = rb_body_decode (out, olen, type, &s_small, &b, &err);
            ck_assert_msg (rc == RB_E_WRONG_TYPE, "%s field %u as %s: %s",
                           rb_type_name (type), f, s_items[t].name,
                           rb_code_name (rc));
        }
        /* dropped: missing */
        size_t olen = s_rebuild (buf, pairs, n, f, NULL, 0, NULL, 0, out);
        ck_assert_int_eq (rb_body_decode (out, olen, type, &s_small, &b, &err),
                          RB_E_MISSING);
        /* repeated: extra */
        olen = s_rebuild (buf, pairs, n, n, NULL, 0, buf + pairs[f].key,
                          pairs[f].end - pairs[f].key, out);
        ck_assert_int_eq (rb_body_decode (out, olen, type, &s_small, &b, &err),
                          RB_E_EXTRA);
    }
    /* an unknown field, and a trailing byte */
    static const uint8_t zzz[] = {0xa3, 'z', 'z', 'z', 0x01};
    size_t olen = s_rebuild (buf, pairs, n, n, NULL, 0, zzz, sizeof zzz, out);
    ck_assert_int_eq (rb_body_decode (out, olen, type, &s_small, &b, &err),
                      RB_E_EXTRA);
    ck_assert_str_eq (err.text + strlen (err.text) - 5, "'zzz'");
    memcpy (out, buf, len);
    out[len] = 0xc0;
    ck_assert_int_eq (rb_body_decode (out, len + 1, type, &s_small, &b, &err),
                      RB_E_TRAILING);
    free (out);
    free (buf);
    rb_body_release (&b);
}
END_TEST

START_TEST (codec_refuses_a_ninth_service_in_hello)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_HELLO);
    uint8_t buf[128];
    size_t o = 0;
    buf[o++] = 0x83;
    static const char head[] = "\xa4role\xa2"
                               "db\xa4name\xa2"
                               "d1\xa8services\x99";
    memcpy (buf + o, head, sizeof head - 1);
    o += sizeof head - 1;
    for (int i = 0; i < 9; i++) {
        memcpy (buf + o,
                "\xa2"
                "db",
                3);
        o += 3;
    }
    rb_err_t err;
    ck_assert_int_eq (rb_body_decode (buf, o, RB_T_HELLO, NULL, &b, &err),
                      RB_E_BATCH);
    buf[sizeof head - 1] = 0x98; /* eight services, one byte left over */
    ck_assert_int_eq (rb_body_decode (buf, o, RB_T_HELLO, NULL, &b, &err),
                      RB_E_TRAILING);
    ck_assert_int_eq (rb_body_decode (buf, o - 3, RB_T_HELLO, NULL, &b, &err),
                      RB_OK);
    ck_assert_uint_eq (b.n_services, 8);
    ck_assert (rb_str_eq (b.name, "d1"));
    ck_assert_int_eq (b.role, RB_ROLE_DB);
    rb_body_release (&b);
}
END_TEST

START_TEST (codec_refuses_unknown_words_and_bad_ops)
{
    rb_body_t b, out;
    rb_err_t err;
    rb_body_init (&out, RB_T_NONE);
    rb_body_init (&b, RB_T_ORDER);
    b.seq = 1, b.key = rb_str ("k"), b.op = RB_OP_DELETE;
    b.has_value = true, b.value = rb_str ("v");
    size_t len;
    uint8_t *buf = s_encode (&b, &len);
    ck_assert_int_eq (rb_body_decode (buf, len, RB_T_ORDER, NULL, &out, &err),
                      RB_E_WRONG_TYPE); /* a delete with a value */
    free (buf);
    b.op = RB_OP_PUT, b.has_value = false;
    buf = s_encode (&b, &len);
    ck_assert_int_eq (rb_body_decode (buf, len, RB_T_ORDER, NULL, &out, &err),
                      RB_E_WRONG_TYPE); /* a put without one */
    free (buf);
    b.op = 0, b.has_value = true; /* encodes as "?" */
    buf = s_encode (&b, &len);
    ck_assert_int_eq (rb_body_decode (buf, len, RB_T_ORDER, NULL, &out, &err),
                      RB_E_ENUM);
    free (buf);
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str ("has space");
    buf = s_encode (&b, &len);
    ck_assert_int_eq (rb_body_decode (buf, len, RB_T_GET, NULL, &out, &err),
                      RB_E_KEY);
    free (buf);
    b.key = rb_str ("");
    buf = s_encode (&b, &len);
    ck_assert_int_eq (rb_body_decode (buf, len, RB_T_GET, NULL, &out, &err),
                      RB_E_KEY);
    free (buf);
    ck_assert_int_eq (rb_body_decode ("\x80", 1, RB_T_NONE, NULL, &out, &err),
                      RB_E_TYPE);
    ck_assert_int_eq (rb_body_decode ("\x80", 1, 99, NULL, &out, &err),
                      RB_E_TYPE);
    rb_body_release (&out);
}
END_TEST

static rb_header_t
s_header (void)
{
    rb_header_t h = {.kind = RB_K_REQUEST,
                     .type = RB_T_GET,
                     .addr = RB_ADDR_SERVICE,
                     .role = RB_ROLE_OPS,
                     .status = 0,
                     .timeout_ms = 2000,
                     .corr = UINT64_MAX};
    strcpy (h.dest, "db");
    memset (h.sender, 'n', RB_NAME_MAX);
    return h;
}

START_TEST (header_round_trips_and_is_small)
{
    rb_header_t h = s_header (), out;
    uint8_t buf[256];
    size_t len = rb_header_encode (&h, buf, sizeof buf);
    ck_assert_uint_le (len, 120);
    rb_err_t err;
    ck_assert_int_eq (rb_header_decode (buf, len, &out, &err), RB_OK);
    ck_assert_mem_eq (&h, &out, sizeof h);
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq (rb_header_decode (buf, cut, &out, &err),
                          RB_E_TRUNCATED);
    buf[len] = 0;
    ck_assert_int_eq (rb_header_decode (buf, len + 1, &out, &err),
                      RB_E_TRAILING);
}
END_TEST

/*  Re-encodes a header with field `field` (0..10) replaced by item. */
static size_t
s_header_with (int field, const uint8_t *item, size_t item_len, uint8_t *out)
{
    rb_header_t h = s_header ();
    uint8_t buf[256];
    size_t len = rb_header_encode (&h, buf, sizeof buf);
    rb_mp_reader_t r;
    rb_mp_reader_init (&r, buf, len);
    uint32_t n;
    rb_mp_read_array (&r, &n);
    size_t o = 1;
    out[0] = buf[0];
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *start = r.p;
        rb_mp_skip (&r, 2);
        if ((int) i == field) {
            memcpy (out + o, item, item_len);
            o += item_len;
        } else {
            memcpy (out + o, start, (size_t) (r.p - start));
            o += (size_t) (r.p - start);
        }
    }
    return o;
}

START_TEST (header_refuses_foreign_and_bad_fields)
{
    uint8_t out[256];
    rb_header_t h;
    rb_err_t err;
    struct {
        int field;
        const char *item;
        size_t len;
        int code;
    } cases[] = {
        {0, "\xa2XX", 3, RB_E_SIGNATURE},
        {0, "\x01", 1, RB_E_SIGNATURE},
        {1, "\x01", 1, RB_E_VERSION}, /* version 1 is no longer spoken */
        {1, "\x03", 1, RB_E_VERSION},
        {1,
         "\xa1"
         "1",
         2, RB_E_VERSION},
        {2, "\x00", 1, RB_E_KIND},
        {2, "\x09", 1, RB_E_KIND},
        {3, "\x7f", 1, RB_E_TYPE},
        {4, "\xa1x", 2, RB_E_WRONG_TYPE},
        {5, "\x04", 1, RB_E_KIND},
        {6,
         "\xa2"
         "a b",
         3, RB_E_TEXT},
        {7, "\x05", 1, RB_E_WRONG_TYPE},
        {8, "\x06", 1, RB_E_ENUM},
        {9, "\xce\x00\x01\x00\x00", 5, RB_E_ENUM},
        {10, "\xc3", 1, RB_E_WRONG_TYPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = s_header_with (
            cases[i].field, (const uint8_t *) cases[i].item, cases[i].len, out);
        int rc = rb_header_decode (out, len, &h, &err);
        ck_assert_msg (rc == cases[i].code, "case %zu: %s (%s)", i,
                       rb_code_name (rc), err.text);
    }
    /* not an array at all; too few and too many fields */
    ck_assert_int_eq (rb_header_decode ("\xa2RB", 3, &h, &err), RB_E_SIGNATURE);
    ck_assert_int_eq (rb_header_decode ("\x92\xa2RB\x02", 5, &h, &err),
                      RB_E_SHAPE);
}
END_TEST

START_TEST (codec_survives_random_and_mutated_bytes)
{
    unsigned seed = 20261124;
    srand (seed);
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    rb_header_t h;
    rb_err_t err;
    uint8_t buf[96];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t) (rand () % (int) sizeof buf);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t) rand ();
        int rc = rb_header_decode (buf, len, &h, &err);
        ck_assert (rc >= RB_OK && rc <= RB_E_TRAILING);
        int type = 1 + i % (RB_T_COUNT_ - 1);
        rc = rb_body_decode (buf, len, type, &s_small, &b, &err);
        ck_assert (rc >= RB_OK && rc <= RB_E_TRAILING);
    }
    /* valid encodings with one byte changed: never a crash or overread */
    rb_sizes_t z = {8, 5, 5, 5, 2, 2, 2, 2};
    for (int type = 1; type < RB_T_COUNT_; type++) {
        uint8_t *enc;
        size_t len;
        ck_assert_int_eq (s_round (type, z, &enc, &len, &err), RB_OK);
        for (int k = 0; k < 300; k++) {
            uint8_t *copy = malloc (len);
            memcpy (copy, enc, len);
            copy[(size_t) rand () % len] = (uint8_t) rand ();
            int rc = rb_body_decode (copy, len, type, &s_small, &b, &err);
            ck_assert (rc >= RB_OK && rc <= RB_E_TRAILING);
            free (copy);
        }
        free (enc);
    }
    rb_body_release (&b);
}
END_TEST

START_TEST (codec_huge_declared_sizes_are_refused_without_allocating)
{
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    rb_err_t err;
    /* map of 4 billion pairs; array of 4 billion entries; bin of 4 GB */
    ck_assert_int_eq (
        rb_body_decode ("\xdf\xff\xff\xff\xff", 5, RB_T_GET, NULL, &b, &err),
        RB_E_TRUNCATED);
    ck_assert_int_eq (rb_body_decode ("\x81\xa7"
                                      "entries\xdd\xff\xff\xff\xff",
                                      14, RB_T_RECOVERY_LIST, NULL, &b, &err),
                      RB_E_TRUNCATED);
    ck_assert_int_eq (rb_body_decode ("\x81\xa5value\xc6\xff\xff\xff\xff", 12,
                                      RB_T_ECHO, NULL, &b, &err),
                      RB_E_TRUNCATED);
    ck_assert_ptr_null (b.entries);
    rb_body_release (&b);
}
END_TEST

START_TEST (msg_frames_round_trip_and_refuse_bad_framing)
{
    rb_header_t h = s_header (), out;
    rb_body_t b, ob;
    rb_body_init (&b, RB_T_GET);
    rb_body_init (&ob, RB_T_NONE);
    b.key = rb_str ("+81-3-1234");
    zmsg_t *msg = rb_msg_new (&h, &b);
    rb_err_t err;
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &out, &ob, &err), RB_OK);
    ck_assert (rb_str_eq (ob.key, "+81-3-1234"));
    zmsg_addstr (msg, "extra");
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &out, &ob, &err), RB_E_FRAMES);
    zmsg_destroy (&msg);
    msg = rb_msg_new (&h, NULL); /* GET without its body */
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &out, &ob, &err), RB_E_FRAMES);
    zmsg_destroy (&msg);
    h.type = RB_T_NONE, h.kind = RB_K_HEARTBEAT;
    msg = rb_msg_new (&h, NULL);
    ck_assert_int_eq (rb_msg_decode (msg, NULL, &out, &ob, &err), RB_OK);
    zmsg_destroy (&msg);
    rb_body_release (&ob);
}
END_TEST

START_TEST (codec_encodes_empty_strings_given_as_null)
{
    rb_body_t b, out;
    rb_body_init (&b, RB_T_RESTORE); /* path: {NULL, 0} */
    rb_body_init (&out, RB_T_NONE);
    size_t len;
    uint8_t *buf = s_encode (&b, &len);
    rb_err_t err;
    ck_assert_int_eq (rb_body_decode (buf, len, RB_T_RESTORE, NULL, &out, &err),
                      RB_OK);
    ck_assert_uint_eq (out.text.len, 0);
    free (buf);
    rb_body_release (&out);
}
END_TEST

START_TEST (names_cover_every_type_and_code)
{
    for (int t = 1; t < RB_T_COUNT_; t++) {
        ck_assert_str_ne (rb_type_name (t), "?");
        ck_assert_int_eq (rb_type_lookup (rb_type_name (t)), t);
    }
    for (int c = RB_E_TRUNCATED; c <= RB_E_FRAMES; c++)
        ck_assert_str_ne (rb_code_name (c), "?");
    for (int c = RB_S_MALFORMED; c <= RB_S_INTERNAL; c++)
        ck_assert_str_ne (rb_code_name (c), "?");
    ck_assert_int_eq (rb_role_lookup ("ops"), RB_ROLE_OPS);
    ck_assert_int_eq (rb_role_lookup ("none"), -1);
    ck_assert_int_eq (rb_answer_lookup ("stale"), RB_ANS_STALE);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("codec");
    TCase *tc = tcase_create ("codec");
    tcase_set_timeout (tc, 60);
    tcase_add_unchecked_fixture (tc, s_setup, s_teardown);
    tcase_add_loop_test (tc, codec_round_trips_every_type_at_its_limits, 1,
                         RB_T_COUNT_);
    tcase_add_loop_test (tc, codec_refuses_each_limit_plus_one, 1, RB_T_COUNT_);
    tcase_add_loop_test (tc, codec_reports_truncation_at_every_offset, 1,
                         RB_T_COUNT_);
    tcase_add_loop_test (tc, codec_refuses_each_field_of_each_wrong_type, 1,
                         RB_T_COUNT_);
    tcase_add_test (tc, codec_refuses_a_ninth_service_in_hello);
    tcase_add_test (tc, codec_refuses_unknown_words_and_bad_ops);
    tcase_add_test (tc, str_to_copies_cuts_and_stops_at_nul);
    tcase_add_test (tc, header_round_trips_and_is_small);
    tcase_add_test (tc, header_refuses_foreign_and_bad_fields);
    tcase_add_test (tc, codec_survives_random_and_mutated_bytes);
    tcase_add_test (tc,
                    codec_huge_declared_sizes_are_refused_without_allocating);
    tcase_add_test (tc, msg_frames_round_trip_and_refuse_bad_framing);
    tcase_add_test (tc, codec_encodes_empty_strings_given_as_null);
    tcase_add_test (tc, names_cover_every_type_and_code);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
