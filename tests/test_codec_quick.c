/*  test_codec_quick: the terminals' hot path (rb_quick.c) is the general
    codec's twin. rb_get_quick, the service node's quick decode of a
    terminal's GET, takes what the full decoders (rb_header_decode,
    rb_body_decode) take and reads it the same, or declines: it never
    accepts what they refuse nor reads a field differently. Checked on
    GETs as terminals send them, on other valid messages it must decline,
    and on many thousand mutated and cut copies. rb_answer_quick writes
    the bytes rb_header_encode and rb_body_encode write, at every width
    of every field.  */
#include <check.h>

#include "rb_testing.h"
#include <stdlib.h>
#include <string.h>

#include "rb_msg.h"

/*  A message as two frames' bytes. */
typedef struct {
    uint8_t head[256];
    size_t head_len;
    uint8_t body[256];
    size_t body_len;
} frames_t;

static void
s_frames (frames_t *f, const rb_header_t *h, const rb_body_t *b)
{
    f->head_len = rb_header_encode (h, f->head, sizeof f->head);
    f->body_len = rb_body_encode (b, f->body, sizeof f->body);
}

/*  A terminal's GET of key with corr. */
static void
s_get (frames_t *f, uint64_t corr, const char *key)
{
    rb_header_t h = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = corr};
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str (key);
    s_frames (f, &h, &b);
}

/*  What the full decoders make of f: RB_OK, or their error. */
static int
s_full (const frames_t *f, rb_header_t *h, rb_body_t *b)
{
    rb_err_t err;
    int rc = rb_header_decode (f->head, f->head_len, h, &err);
    if (rc == RB_OK)
        rc = rb_body_decode (f->body, f->body_len, h->type, NULL, b, &err);
    if (rc == RB_OK && (h->kind != RB_K_REQUEST || h->type != RB_T_GET))
        rc = RB_E_TYPE; /* the service's own check */
    return rc;
}

/*  The property: quick accepts only what the full path accepts, and
    reads the same header and key. Returns whether quick accepted.  */
static bool
s_agree (const frames_t *f)
{
    rb_header_t quick, full;
    rb_str_t key = {NULL, 0};
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    bool took = rb_get_quick (f->head, f->head_len, f->body, f->body_len,
                              &quick, &key) == RB_OK;
    int rc = s_full (f, &full, &b);
    if (took) {
        ck_assert_int_eq (rc, RB_OK);
        ck_assert (memcmp (&quick, &full, sizeof quick) == 0);
        ck_assert (key.ptr == b.key.ptr && key.len == b.key.len);
    }
    rb_body_release (&b);
    return took;
}

START_TEST (quick_takes_terminal_gets_as_the_full_decoders_read_them)
{
    static const uint64_t corrs[] = {0,   1,     127,   128,        255,
                                     256, 65535, 65536, UINT32_MAX, UINT64_MAX};
    char key64[RB_KEY_MAX + 1];
    memset (key64, '~', RB_KEY_MAX);
    key64[RB_KEY_MAX] = '\0';
    const char *keys[] = {"k", "k0", "subscriber:4711", key64};
    frames_t f;
    for (size_t c = 0; c < sizeof corrs / sizeof corrs[0]; c++)
        for (size_t k = 0; k < 4; k++) {
            s_get (&f, corrs[c], keys[k]);
            ck_assert_msg (s_agree (&f), "corr %zu key %zu", c, k);
        }
}
END_TEST

START_TEST (quick_declines_what_terminals_do_not_send)
{
    rb_header_t h;
    rb_str_t key;
    frames_t f;
    /* valid messages of another shape: the full path says what they are */
    rb_header_t heads[] = {
        {.kind = RB_K_REPLY, .type = RB_T_GET, .corr = 1},
        {.kind = RB_K_REQUEST, .type = RB_T_GETS, .corr = 1},
        {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = 1, .dest = "db"},
        {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = 1, .sender = "t"},
    };
    rb_body_t b;
    rb_body_init (&b, RB_T_GET);
    b.key = rb_str ("k1");
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        s_frames (&f, &heads[i], &b);
        ck_assert_int_eq (
            rb_get_quick (f.head, f.head_len, f.body, f.body_len, &h, &key),
            -1);
        s_agree (&f);
    }
    /* a bad key, and a body that is not GET's */
    s_get (&f, 1, "k 1");
    ck_assert (!s_agree (&f));
    rb_body_init (&b, RB_T_ANSWER);
    b.key = rb_str ("k1");
    rb_header_t get = {.kind = RB_K_REQUEST, .type = RB_T_GET, .corr = 1};
    s_frames (&f, &get, &b);
    ck_assert (!s_agree (&f));
    /* nothing, and trailing bytes after either frame */
    ck_assert_int_eq (rb_get_quick (NULL, 0, NULL, 0, &h, &key), -1);
    s_get (&f, 1, "k1");
    f.body[f.body_len++] = 0xc0;
    ck_assert (!s_agree (&f));
    s_get (&f, 1, "k1");
    f.head[f.head_len++] = 0xc0;
    ck_assert (!s_agree (&f));
}
END_TEST

START_TEST (quick_never_takes_more_than_the_full_decoders)
{
    srand (20260513);
    frames_t base, f;
    long took = 0;
    for (int i = 0; i < 200000; i++) {
        s_get (&base, (uint64_t) rand () << (i % 40), i % 2 ? "k42" : "ab:c");
        f = base;
        /* one to three bytes of either frame changed, or a frame cut */
        int changes = 1 + rand () % 3;
        for (int c = 0; c < changes; c++) {
            bool head = rand () % 2;
            uint8_t *p = head ? f.head : f.body;
            size_t len = head ? f.head_len : f.body_len;
            if (len == 0)
                continue;
            if (rand () % 8 == 0)
                *(head ? &f.head_len : &f.body_len) = (size_t) rand () % len;
            else
                p[(size_t) rand () % len] = (uint8_t) rand ();
        }
        took += s_agree (&f);
    }
    /* some mutants stay GETs (a corr or key byte changed): they were
       compared field by field above */
    ck_assert_int_gt (took, 1000);
}
END_TEST
START_TEST (quick_answers_are_the_general_encoders_bytes)
{
    static const uint64_t nums[] = {
        0,         1,     127,   128,        255,
        256,       65535, 65536, UINT32_MAX, UINT32_MAX + 1ull,
        UINT64_MAX};
    static const uint32_t key_lens[] = {1, 31, 32, RB_KEY_MAX};
    static const uint32_t value_lens[] = {0,   1,     31,    32,    255,
                                          256, 65535, 65536, 100000};
    size_t n_nums = sizeof nums / sizeof nums[0];
    char key[RB_KEY_MAX];
    memset (key, 'k', sizeof key);
    uint8_t *value = malloc (100000);
    for (int i = 0; i < 100000; i++)
        value[i] = (uint8_t) (i * 13);
    size_t cap = RB_KEY_MAX + 100000 + RB_QUICK_BODY_MAX;
    uint8_t *quick = malloc (cap), *general = malloc (cap);
    uint8_t qh[RB_QUICK_HEAD_MAX], gh[256];
    long cases = 0;
    for (size_t c = 0; c < n_nums; c++)
        for (size_t k = 0; k < 4; k++)
            for (int status = RB_ANS_OK; status <= RB_ANS_UNAVAILABLE; status++)
                for (size_t v = 0; v <= 9; v++) {
                    bool has_value = v < 9; /* the last: nil */
                    uint32_t vlen = has_value ? value_lens[v] : 0;
                    uint64_t seq = nums[(c + v) % n_nums];
                    rb_str_t ks = rb_strn (key, key_lens[k]);
                    rb_str_t vs = rb_strn (value, vlen);
                    size_t qh_len;
                    size_t q_len =
                        rb_answer_quick (qh, &qh_len, quick, nums[c], ks,
                                         status, seq, has_value, vs);
                    rb_header_t h = {.kind = RB_K_REPLY,
                                     .type = RB_T_ANSWER,
                                     .corr = nums[c]};
                    rb_body_t a;
                    rb_body_init (&a, RB_T_ANSWER);
                    a.key = ks;
                    a.answer = (uint8_t) status;
                    a.seq = seq;
                    a.has_value = has_value;
                    a.value = has_value ? vs : rb_strn (NULL, 0);
                    size_t gh_len = rb_header_encode (&h, gh, sizeof gh);
                    size_t g_len = rb_body_encode (&a, general, cap);
                    ck_assert_uint_eq (qh_len, gh_len);
                    ck_assert (memcmp (qh, gh, gh_len) == 0);
                    ck_assert_uint_eq (q_len, g_len);
                    ck_assert (memcmp (quick, general, g_len) == 0);
                    ck_assert_uint_le (q_len,
                                       ks.len + vlen + RB_QUICK_BODY_MAX);
                    cases++;
                }
    ck_assert_int_eq (cases, (long) n_nums * 4 * 4 * 10);
    free (quick);
    free (general);
    free (value);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("codec_quick");
    TCase *tc = tcase_create ("codec_quick");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc,
                    quick_takes_terminal_gets_as_the_full_decoders_read_them);
    tcase_add_test (tc, quick_declines_what_terminals_do_not_send);
    tcase_add_test (tc, quick_never_takes_more_than_the_full_decoders);
    tcase_add_test (tc, quick_answers_are_the_general_encoders_bytes);
    suite_add_tcase (s, tc);
    return rb_test_run (s);
}
