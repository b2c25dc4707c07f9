/*  test_monitor: the monitor's formatter, labels and counters on encoded
    tap messages of every type and on junk (rb_monitor). The real
    recobus-monitor on a cluster's tap is test_monitor_program's.  */
#include <check.h>
#include <czmq.h>

#include "rb_monitor.h"
#include "rb_mtest.h"
#include "rb_testing.h"

/*  --------------------------------------------------------------------
    Tap messages, as the broker publishes them */

/*  A request from sender (of role) to service db. */
static zmsg_t *
s_request (const char *sender, int role, const rb_body_t *b)
{
    return rb_mt_tap (RB_K_REQUEST, sender, role, RB_ADDR_SERVICE, "db", b, 0);
}

/*  A reply from db-1 to requester. */
static zmsg_t *
s_reply (const char *requester, const rb_body_t *b)
{
    return rb_mt_tap (RB_K_REPLY, "db-1", RB_ROLE_DB, RB_ADDR_NODE, requester,
                      b, 0);
}

static zmsg_t *
s_push (int addr, const char *dest, const rb_body_t *b)
{
    return rb_mt_tap (RB_K_PUSH, "db-1", RB_ROLE_DB, addr, dest, b, 0);
}

static rb_body_t
s_body (int type, const char *key)
{
    rb_body_t b;
    rb_body_init (&b, (rb_type_t) type);
    if (key)
        b.key = rb_str (key);
    return b;
}

/*  Takes msg (destroyed) at t_ms; returns the label. */
static int
s_take_at (rb_monitor_t *mon, zmsg_t *msg, int64_t t_ms)
{
    const rb_mon_msg_t *m = rb_monitor_take (mon, msg, t_ms);
    ck_assert_msg (m->decoded, "%s", m->why);
    int label = m->label;
    zmsg_destroy (&msg);
    return label;
}

static int
s_take (rb_monitor_t *mon, zmsg_t *msg)
{
    return s_take_at (mon, msg, 1000);
}

/*  The line rb_monitor_print writes for m (caller frees). */
static char *
s_line (const rb_mon_msg_t *m)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&text, &size);
    ck_assert_ptr_nonnull (f);
    rb_monitor_print (m, f);
    fclose (f);
    return text;
}

/*  rb_monitor_json as compact text (caller frees). */
static char *
s_json (const rb_mon_msg_t *m)
{
    json_t *obj = rb_monitor_json (m);
    char *text = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (obj);
    ck_assert_ptr_nonnull (text);
    return text;
}

/*  --------------------------------------------------------------------
    Labels */

START_TEST (monitor_labels_every_step_of_a_recovery)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_body_t b = s_body (RB_T_RESTORE, NULL);
    ck_assert_int_eq (s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &b)),
                      RB_MON_S1_RESTORE);
    b = s_body (RB_T_RESET, NULL);
    b.epoch = 2;
    ck_assert_int_eq (s_take (mon, s_push (RB_ADDR_ROLE, "service", &b)),
                      RB_MON_RESET);
    b = s_body (RB_T_RESTORED, NULL);
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &b)),
                      RB_MON_S2_RECOVERING);
    /* a service node polls k1 and is told it is recovering */
    b = s_body (RB_T_GET, "k1");
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &b)),
                      RB_MON_NONE);
    b = s_body (RB_T_DATA, "k1");
    b.recovering = true;
    ck_assert_int_eq (s_take (mon, s_reply ("svc-a", &b)), RB_MON_S5_FLAGGED);
    b = s_body (RB_T_GET, "k1");
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &b)),
                      RB_MON_S7_REPOLL);
    /* not a re-poll: another node, another key, or not a service */
    ck_assert_int_eq (s_take (mon, s_request ("svc-b", RB_ROLE_SERVICE, &b)),
                      RB_MON_NONE);
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_OPS, &b)),
                      RB_MON_NONE);
    b = s_body (RB_T_GET, "k2");
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &b)),
                      RB_MON_NONE);
    /* the list and its ACK */
    rb_entry_t e = {rb_str ("k1"), 2};
    b = s_body (RB_T_RECOVERY_LIST, NULL);
    b.entries = &e, b.n_entries = 1, b.last = true;
    ck_assert_int_eq (s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &b)),
                      RB_MON_S3_LIST);
    b = s_body (RB_T_ACK, NULL);
    b.flagged = 1;
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &b)), RB_MON_S4_FLAGGED);
    /* the diff and its ACK, then the push */
    rb_order_t o = {2, rb_str ("k1"), RB_OP_PUT, true, rb_str ("v2")};
    b = s_body (RB_T_DIFF, NULL);
    b.orders = &o, b.n_orders = 1;
    ck_assert_int_eq (s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &b)),
                      RB_MON_S8_DIFF);
    b = s_body (RB_T_ACK, NULL);
    b.applied = 1, b.cleared = 1;
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &b)), RB_MON_S9_CLEARED);
    b = s_body (RB_T_RECOVERED, "k1");
    ck_assert_int_eq (s_take (mon, s_push (RB_ADDR_NODE, "svc-a", &b)),
                      RB_MON_RECOVERED);
    /* still a re-poll until an answer without the flag */
    b = s_body (RB_T_GET, "k1");
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &b)),
                      RB_MON_S7_REPOLL);
    b = s_body (RB_T_DATA, "k1");
    ck_assert_int_eq (s_take (mon, s_reply ("svc-a", &b)), RB_MON_S11_FRESH);
    ck_assert_int_eq (s_take (mon, s_reply ("svc-a", &b)), RB_MON_NONE);
    b = s_body (RB_T_GET, "k1");
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &b)),
                      RB_MON_NONE);
    /* the end */
    b = s_body (RB_T_RECOVERY_END, NULL);
    ck_assert_int_eq (s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &b)),
                      RB_MON_S10_END);
    b = s_body (RB_T_ACK, NULL);
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &b)), RB_MON_S10_NORMAL);
    /* normal operation: an order, its ACK, the UPDATE push */
    b = s_body (RB_T_ORDER, "k1");
    b.seq = 3, b.op = RB_OP_PUT, b.has_value = true, b.value = rb_str ("v3");
    ck_assert_int_eq (s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &b)),
                      RB_MON_NONE);
    b = s_body (RB_T_ACK, NULL);
    b.applied = 1;
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &b)), RB_MON_NONE);
    b = s_body (RB_T_UPDATE, "k1");
    b.has_value = true, b.value = rb_str ("v3");
    ck_assert_int_eq (s_take (mon, s_push (RB_ADDR_NODE, "svc-a", &b)),
                      RB_MON_UPDATE);
    const rb_mon_stats_t *s = rb_monitor_stats (mon);
    ck_assert_uint_eq (s->labels[RB_MON_S7_REPOLL], 2);
    ck_assert_uint_eq (s->labels[RB_MON_S4_FLAGGED], 1);
    ck_assert_uint_eq (s->total, 23);
    rb_monitor_destroy (&mon);
    ck_assert_ptr_null (mon);
}
END_TEST

START_TEST (monitor_pairs_acks_with_requests_per_requester)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_entry_t e = {rb_str ("k1"), 2};
    rb_body_t list = s_body (RB_T_RECOVERY_LIST, NULL);
    list.entries = &e, list.n_entries = 1;
    rb_order_t o = {2, rb_str ("k1"), RB_OP_DELETE, false, rb_str (NULL)};
    rb_body_t diff = s_body (RB_T_DIFF, NULL);
    diff.orders = &o, diff.n_orders = 1;
    rb_body_t ack = s_body (RB_T_ACK, NULL); /* all zero: only pairing helps */
    s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &list));
    s_take (mon, s_request ("ops-2", RB_ROLE_OPS, &diff));
    s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &diff));
    ck_assert_int_eq (s_take (mon, s_reply ("ops-2", &ack)), RB_MON_S9_CLEARED);
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &ack)), RB_MON_S4_FLAGGED);
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &ack)), RB_MON_S9_CLEARED);
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &ack)), RB_MON_NONE);
    /* an ERROR answers the oldest request: the next ACK is the list's */
    s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &diff));
    s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &list));
    rb_body_t err = s_body (RB_T_ERROR, NULL);
    err.text = rb_str ("no");
    s_take (mon, rb_mt_tap (RB_K_ERROR, "db-1", RB_ROLE_DB, RB_ADDR_NODE,
                            "ops-1", &err, RB_S_WRONG_STATE));
    ck_assert_int_eq (s_take (mon, s_reply ("ops-1", &ack)), RB_MON_S4_FLAGGED);
    /* a request forgotten past its deadline (the broker answered it) */
    s_take_at (mon, s_request ("ops-1", RB_ROLE_OPS, &list), 1000);
    ck_assert_int_eq (s_take_at (mon, s_reply ("ops-1", &ack), 60000),
                      RB_MON_NONE);
    /* an ACK whose request we missed is known by what it counts */
    ack.flagged = 3;
    ck_assert_int_eq (s_take (mon, s_reply ("ops-9", &ack)), RB_MON_S4_FLAGGED);
    ack.flagged = 0, ack.cleared = 2;
    ck_assert_int_eq (s_take (mon, s_reply ("ops-9", &ack)), RB_MON_S9_CLEARED);
    rb_monitor_destroy (&mon);
}
END_TEST

START_TEST (monitor_reset_forgets_flagged_keys)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_body_t data = s_body (RB_T_DATA, "k1");
    data.recovering = true;
    rb_body_t get = s_body (RB_T_GET, "k1");
    rb_body_t reset = s_body (RB_T_RESET, NULL);
    s_take (mon, s_reply ("svc-a", &data));
    s_take (mon, s_push (RB_ADDR_ROLE, "service", &reset));
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &get)),
                      RB_MON_NONE);
    rb_monitor_destroy (&mon);
}
END_TEST

START_TEST (monitor_remembers_a_bounded_number_of_flagged_keys)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_body_t data = s_body (RB_T_DATA, NULL);
    data.recovering = true;
    char key[32];
    const int n = 65536 + 10; /* ten more than it keeps */
    for (int i = 0; i < n; i++) {
        snprintf (key, sizeof key, "k%d", i);
        data.key = rb_str (key);
        s_take (mon, s_reply ("svc-a", &data));
    }
    rb_body_t get = s_body (RB_T_GET, "k0");
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &get)),
                      RB_MON_NONE);
    snprintf (key, sizeof key, "k%d", n - 1);
    get.key = rb_str (key);
    ck_assert_int_eq (s_take (mon, s_request ("svc-a", RB_ROLE_SERVICE, &get)),
                      RB_MON_S7_REPOLL);
    rb_monitor_destroy (&mon);
}
END_TEST

/*  --------------------------------------------------------------------
    Every message type, as a line and as JSON */

static rb_entry_t s_entries[] = {{{"k1", 2}, 5}, {{"k2", 2}, 6}};
static rb_order_t s_orders[] = {{5, {"k1", 2}, RB_OP_PUT, true, {"v5", 2}},
                                {6, {"k2", 2}, RB_OP_DELETE, false, {0, 0}}};
static rb_item_t s_items[] = {{{"state", 5}, true, {"recovering", 10}, 0},
                              {{"keys", 4}, false, {0, 0}, 12}};
static rb_node_t s_nodes[] = {{{"db-1", 4}, RB_ROLE_DB, {"db", 2}, 5, 0}};

/*  A message of each type: how it travels, and what its line and its
    JSON object must say.  */
typedef struct {
    int type, kind;
    const char *line; /* in the text line, after the type name */
    const char *json; /* in the JSON object */
} sample_t;

static const sample_t s_samples[] = {
    {RB_T_HELLO, RB_K_HELLO, " role=service name=svc-a services=1",
     "\"hello_role\":\"service\",\"name\":\"svc-a\",\"services\":[\"web\"]"},
    {RB_T_WELCOME, RB_K_WELCOME, " heartbeat=1000 liveness=3",
     "\"heartbeat\":1000,\"liveness\":3"},
    {RB_T_ERROR, RB_K_ERROR, " status=unavailable message=\"db\\trestoring\"",
     "\"status\":\"unavailable\",\"message\":\"db\\trestoring\""},
    {RB_T_GET, RB_K_REQUEST, " key=k1", "\"key\":\"k1\""},
    {RB_T_DATA, RB_K_REPLY,
     " key=k1 seq=7 epoch=2 len=2 recovering [S5 flagged answer]",
     "\"seq\":7,\"epoch\":2,\"found\":true,\"value_len\":2,\"recovering\":true,"
     "\"step\":\"S5\",\"label\":\"S5 flagged answer\""},
    {RB_T_ORDER, RB_K_REQUEST, " seq=7 key=k1 op=put len=2",
     "\"seq\":7,\"key\":\"k1\",\"op\":\"put\",\"value_len\":2"},
    {RB_T_ACK, RB_K_REPLY,
     " flagged=1 current=2 cleared=3 applied=4 skipped=5 watermark=6 [S4 "
     "flagged]",
     "\"applied\":4,\"skipped\":5,\"cleared\":3,\"flagged\":1,\"current\":2,"
     "\"watermark\":6,\"step\":\"S4\""},
    {RB_T_RECOVERY_LIST, RB_K_REQUEST, " entries=2 last=yes [S3 list]",
     "\"entries\":2,\"last\":true,\"step\":\"S3\",\"label\":\"S3 list\""},
    {RB_T_DIFF, RB_K_REQUEST, " orders=2 seq=5..6 [S8 diff]",
     "\"orders\":2,\"first_seq\":5,\"last_seq\":6,\"step\":\"S8\""},
    {RB_T_RECOVERY_END, RB_K_REQUEST, " [S10 end]",
     "\"step\":\"S10\",\"label\":\"S10 end\""},
    {RB_T_STATUS, RB_K_REQUEST, "\n", "\"corr\":42}"},
    {RB_T_INFO, RB_K_REPLY, " items=2 state=recovering", "\"items\":2"},
    {RB_T_BACKUP, RB_K_REQUEST, "\n", "\"type\":\"BACKUP\""},
    {RB_T_BACKUP_DONE, RB_K_REPLY,
     " path=\"/b/x\\xffy\" records=3 watermark=4 bytes=5 ms=6",
     "\"path\":\"L2IveP95\",\"path_encoding\":\"base64\",\"records\":3,"
     "\"watermark\":4,\"bytes\":5,\"ms\":6"},
    {RB_T_RESTORE, RB_K_REQUEST, " path=\"\" [S1 restore]",
     "\"path\":\"\",\"step\":\"S1\""},
    {RB_T_RESTORED, RB_K_REPLY,
     " path=\"/b/x\" records=3 watermark=4 epoch=2 ms=6 [S2 recovering]",
     "\"records\":3,\"watermark\":4,\"epoch\":2,\"ms\":6,\"step\":\"S2\""},
    {RB_T_RESET, RB_K_PUSH, " epoch=2 [RESET]",
     "\"dest\":\"service\",\"addr\":\"role\",\"corr\":42,\"epoch\":2,"
     "\"step\":\"RESET\""},
    {RB_T_UPDATE, RB_K_PUSH, " key=k1 seq=7 epoch=2 deleted [UPDATE push]",
     "\"found\":false,\"value_len\":0,\"step\":\"UPDATE\""},
    {RB_T_RECOVERED, RB_K_PUSH, " key=k1 [RECOVERED push]",
     "\"key\":\"k1\",\"step\":\"RECOVERED\",\"label\":\"RECOVERED push\""},
    {RB_T_NODES, RB_K_REPLY, " nodes=1", "\"nodes\":1"},
    {RB_T_ANSWER, RB_K_REPLY, " key=k1 status=stale seq=7",
     "\"answer\":\"stale\",\"seq\":7,\"found\":true"},
    {RB_T_ECHO, RB_K_REQUEST, " len=2", "\"found\":true,\"value_len\":2"},
};

static rb_body_t
s_sample_body (int type)
{
    rb_body_t b = s_body (type, "k1");
    b.seq = 7, b.epoch = 2;
    b.has_value = true, b.value = rb_str ("v7");
    b.recovering = true, b.last = true;
    b.op = RB_OP_PUT, b.answer = RB_ANS_STALE, b.role = RB_ROLE_SERVICE;
    b.name = rb_str ("svc-a");
    b.services[0] = rb_str ("web"), b.n_services = 1;
    b.heartbeat_ms = 1000, b.liveness = 3;
    b.flagged = 1, b.current = 2, b.cleared = 3, b.applied = 4;
    b.skipped = 5, b.watermark = 6;
    b.records = 3, b.watermark = b.type == RB_T_ACK ? 6 : 4;
    b.bytes = 5, b.ms = 6;
    b.text = rb_str (type == RB_T_ERROR         ? "db\trestoring"
                     : type == RB_T_RESTORE     ? ""
                     : type == RB_T_BACKUP_DONE ? "/b/x\xffy"
                                                : "/b/x");
    b.entries = s_entries, b.n_entries = 2;
    b.orders = s_orders, b.n_orders = 2;
    b.items = s_items, b.n_items = 2;
    b.nodes = s_nodes, b.n_nodes = 1;
    if (type == RB_T_UPDATE)
        b.has_value = false;
    return b;
}

START_TEST (monitor_formats_every_message_type)
{
    const sample_t *sample = &s_samples[_i];
    rb_monitor_t *mon = rb_monitor_new ();
    /* the request an ACK answers, so that it is labelled */
    rb_body_t list = s_sample_body (RB_T_RECOVERY_LIST);
    s_take (mon, s_request ("ops-1", RB_ROLE_OPS, &list));
    rb_body_t b = s_sample_body (sample->type);
    bool push = sample->kind == RB_K_PUSH;
    bool role = sample->type == RB_T_RESET;
    zmsg_t *msg = rb_mt_tap (
        sample->kind, push ? "db-1" : "ops-1", push ? RB_ROLE_DB : RB_ROLE_OPS,
        role ? RB_ADDR_ROLE : RB_ADDR_SERVICE, role ? "service" : "db", &b,
        sample->kind == RB_K_ERROR ? RB_S_UNAVAILABLE : 0);
    if (sample->kind == RB_K_REPLY) { /* from the DB, back to ops-1 */
        zmsg_destroy (&msg);
        msg = s_reply ("ops-1", &b);
    }
    const rb_mon_msg_t *m = rb_monitor_take (mon, msg, 1000);
    ck_assert_msg (m->decoded, "%s", m->why);
    ck_assert (m->shown);
    char *line = s_line (m);
    char expect[256];
    snprintf (expect, sizeof expect, " %s%s", rb_type_name (sample->type),
              sample->line);
    ck_assert_msg (strstr (line, expect), "line '%s' lacks '%s'", line, expect);
    ck_assert_msg (strstr (line, " → "), "%s", line);
    ck_assert_int_eq (strchr (line, '\n') - line, (int) strlen (line) - 1);
    char *json = s_json (m);
    ck_assert_msg (strstr (json, sample->json), "JSON %s lacks %s", json,
                   sample->json);
    snprintf (expect, sizeof expect, "\"type\":\"%s\"",
              rb_type_name (sample->type));
    ck_assert_msg (strstr (json, expect), "%s", json);
    ck_assert (strstr (json, "{\"t_ms\":1000,\"kind\":\"") == json);
    free (line);
    free (json);
    zmsg_destroy (&msg);
    rb_monitor_destroy (&mon);
}
END_TEST

START_TEST (monitor_line_shows_time_sender_and_destination)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_body_t b = s_body (RB_T_GET, "k\x21");
    zmsg_t *msg = s_request ("svc-a", RB_ROLE_SERVICE, &b);
    /* local time, so compare with what localtime says */
    int64_t t = 1700000000123;
    time_t secs = (time_t) (t / 1000);
    struct tm tm;
    localtime_r (&secs, &tm);
    char expect[128];
    snprintf (expect, sizeof expect,
              "%02d:%02d:%02d.123 REQUEST svc-a → db GET key=k!\n", tm.tm_hour,
              tm.tm_min, tm.tm_sec);
    char *line = s_line (rb_monitor_take (mon, msg, t));
    ck_assert_str_eq (line, expect);
    free (line);
    zmsg_destroy (&msg);
    /* the broker's own error: no destination, no body fields but status */
    rb_body_t e = s_body (RB_T_ERROR, NULL);
    e.text = rb_str ("no free worker");
    msg = rb_mt_tap (RB_K_ERROR, "broker", RB_ROLE_NONE, RB_ADDR_NONE, "", &e,
                     RB_S_TIMEOUT);
    line = s_line (rb_monitor_take (mon, msg, t));
    ck_assert (strstr (line, " ERROR broker → - ERROR status=timeout "
                             "message=\"no free worker\"\n"));
    free (line);
    zmsg_destroy (&msg);
    rb_monitor_destroy (&mon);
}
END_TEST

/*  --------------------------------------------------------------------
    Junk */

/*  Takes msg (destroyed); asserts it is reported undecodable, in a line
    and in JSON, with reason (if not NULL) in it.  */
static void
s_expect_junk (rb_monitor_t *mon, zmsg_t *msg, const char *reason)
{
    const rb_mon_msg_t *m = rb_monitor_take (mon, msg, 5);
    ck_assert (!m->decoded);
    ck_assert (m->shown);
    ck_assert_int_eq (m->label, RB_MON_NONE);
    char *line = s_line (m);
    ck_assert_msg (strstr (line, " undecodable: "), "%s", line);
    if (reason)
        ck_assert_msg (strstr (line, reason), "'%s' lacks '%s'", line, reason);
    char *json = s_json (m);
    ck_assert_msg (strstr (json, "\"undecodable\":\""), "%s", json);
    json_t *back = json_loads (json, 0, NULL);
    ck_assert_ptr_nonnull (back);
    json_decref (back);
    free (line);
    free (json);
    zmsg_destroy (&msg);
}

static zmsg_t *
s_frames (int n, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, n);
    for (int i = 0; i < n; i++) {
        const char *data = va_arg (args, const char *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    return msg;
}

START_TEST (monitor_reports_undecodable_messages_and_goes_on)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_body_t get = s_body (RB_T_GET, "k1");
    zmsg_t *good = s_request ("svc-a", RB_ROLE_SERVICE, &get);
    zframe_t *topic = zmsg_first (good), *hf = zmsg_next (good);
    zframe_t *bf = zmsg_next (good);
    const char *h = (const char *) zframe_data (hf);
    size_t hlen = zframe_size (hf);

    s_expect_junk (mon, s_frames (1, "GET", (size_t) 3), "1 frames");
    s_expect_junk (mon, s_frames (4, "a", 1, "b", 1, "c", 1, "d", 1),
                   "4 frames");
    s_expect_junk (mon, zmsg_new (), "0 frames");
    s_expect_junk (mon, s_frames (2, "GET", 3, "\xc1\x00\xff", 3), "header: ");
    s_expect_junk (mon, s_frames (3, "GET", 3, "hello", 5, "x", 1), NULL);
    /* a good header whose body is missing, or junk */
    s_expect_junk (mon, s_frames (2, "GET", 3, h, hlen),
                   "GET: body frame "
                   "missing");
    s_expect_junk (mon, s_frames (3, "GET", 3, h, hlen, "\x81\xa1z\x01", 4),
                   "(extra_field)");
    s_expect_junk (mon, s_frames (3, "G\x01T", 3, h, hlen, "\x90", 1),
                   "[topic G?T]");
    /* every truncation of a good message */
    for (size_t cut = 0; cut < zframe_size (bf); cut++)
        s_expect_junk (mon,
                       s_frames (3, "GET", 3, h, hlen,
                                 (const char *) zframe_data (bf), cut),
                       NULL);
    for (size_t cut = 0; cut < hlen; cut++)
        s_expect_junk (mon,
                       s_frames (3, "GET", 3, h, cut,
                                 (const char *) zframe_data (bf),
                                 zframe_size (bf)),
                       NULL);
    /* random bytes: reported or decoded, never a crash */
    unsigned seed = 7;
    char junk[64];
    for (int i = 0; i < 5000; i++) {
        size_t len = (size_t) (rand_r (&seed) % (int) sizeof junk);
        for (size_t j = 0; j < len; j++)
            junk[j] = (char) rand_r (&seed);
        zmsg_t *msg = s_frames (3, "DATA", (size_t) 4, h, hlen, junk, len);
        if (i % 2) { /* junk for a header too */
            zmsg_first (msg);
            zframe_reset (zmsg_next (msg), junk, len);
        }
        const rb_mon_msg_t *m = rb_monitor_take (mon, msg, 5);
        char *line = s_line (m);
        free (line);
        json_decref (rb_monitor_json (m));
        zmsg_destroy (&msg);
    }
    /* and the good message still decodes */
    const rb_mon_msg_t *m = rb_monitor_take (mon, good, 5);
    ck_assert_msg (m->decoded, "%s", m->why);
    ck_assert_str_eq (m->topic, "GET");
    ck_assert_uint_ge (rb_monitor_stats (mon)->undecodable, 8 + hlen);
    (void) topic;
    zmsg_destroy (&good);
    rb_monitor_destroy (&mon);
}
END_TEST

/*  --------------------------------------------------------------------
    Filter and counters */

START_TEST (monitor_filter_shows_one_type_and_listens_for_its_context)
{
    rb_monitor_t *mon = rb_monitor_new ();
    const char *const *topics = rb_monitor_topics (mon);
    ck_assert_str_eq (topics[0], "");
    ck_assert_ptr_null (topics[1]);
    ck_assert_int_eq (rb_monitor_filter (mon, "BOGUS"), -1);
    ck_assert_int_eq (rb_monitor_filter (mon, ""), -1);
    ck_assert_int_eq (rb_monitor_filter (mon, "NONE"), -1);
    ck_assert_int_eq (rb_monitor_filter (mon, "ack"), 0);
    topics = rb_monitor_topics (mon);
    ck_assert_str_eq (topics[0], "ACK");
    bool list = false;
    for (int i = 1; topics[i]; i++)
        list |= strcmp (topics[i], "RECOVERY_LIST") == 0;
    ck_assert (list);
    rb_body_t b = s_body (RB_T_RECOVERY_LIST, NULL);
    const rb_mon_msg_t *m;
    zmsg_t *msg = s_request ("ops-1", RB_ROLE_OPS, &b);
    m = rb_monitor_take (mon, msg, 1);
    ck_assert (!m->shown);
    ck_assert_int_eq (m->label, RB_MON_S3_LIST);
    zmsg_destroy (&msg);
    b = s_body (RB_T_ACK, NULL);
    msg = s_reply ("ops-1", &b);
    m = rb_monitor_take (mon, msg, 1);
    ck_assert (m->shown);
    ck_assert_int_eq (m->label, RB_MON_S4_FLAGGED);
    zmsg_destroy (&msg);
    /* junk under another topic is not shown; under ACK it is */
    msg = s_frames (2, "DATA", 4, "x", 1);
    ck_assert (!rb_monitor_take (mon, msg, 1)->shown);
    zmsg_destroy (&msg);
    msg = s_frames (2, "ACK", 3, "x", 1);
    ck_assert (rb_monitor_take (mon, msg, 1)->shown);
    zmsg_destroy (&msg);
    const rb_mon_stats_t *s = rb_monitor_stats (mon);
    ck_assert_uint_eq (s->total, 2);
    ck_assert_uint_eq (s->types[RB_T_ACK], 1);
    ck_assert_uint_eq (s->types[RB_T_RECOVERY_LIST], 0);
    /* a prefix of another type's name is not that type */
    ck_assert_int_eq (rb_monitor_filter (mon, "restore"), 0);
    b = s_body (RB_T_RESTORED, NULL);
    msg = s_reply ("ops-1", &b);
    ck_assert (!rb_monitor_take (mon, msg, 1)->shown);
    zmsg_destroy (&msg);
    rb_monitor_destroy (&mon);
}
END_TEST

START_TEST (monitor_counts_types_flags_and_errors)
{
    rb_monitor_t *mon = rb_monitor_new ();
    rb_body_t d = s_body (RB_T_DATA, "k1");
    d.recovering = true, d.has_value = true, d.value = rb_str ("v");
    for (int i = 0; i < 3; i++)
        s_take (mon, s_reply ("svc-a", &d));
    d.recovering = false, d.has_value = false;
    s_take (mon, s_reply ("svc-b", &d));
    rb_body_t e = s_body (RB_T_ERROR, NULL);
    for (int i = 0; i < 2; i++)
        s_take (mon, rb_mt_tap (RB_K_ERROR, "db-1", RB_ROLE_DB, RB_ADDR_NODE,
                                "svc-a", &e, RB_S_UNAVAILABLE));
    s_take (mon, rb_mt_tap (RB_K_ERROR, "broker", 0, 0, "", &e, RB_S_TIMEOUT));
    zmsg_t *junk = s_frames (1, "x", 1);
    rb_monitor_take (mon, junk, 1000);
    zmsg_destroy (&junk);
    const rb_mon_stats_t *s = rb_monitor_stats (mon);
    ck_assert_uint_eq (s->total, 8);
    ck_assert_uint_eq (s->undecodable, 1);
    ck_assert_uint_eq (s->types[RB_T_DATA], 4);
    ck_assert_uint_eq (s->types[RB_T_ERROR], 3);
    ck_assert_uint_eq (s->data_flagged, 3);
    ck_assert_uint_eq (s->data_current, 1);
    ck_assert_uint_eq (s->data_not_found, 1);
    ck_assert_uint_eq (s->errors[RB_S_UNAVAILABLE], 2);
    ck_assert_uint_eq (s->errors[RB_S_TIMEOUT], 1);
    ck_assert_uint_eq (s->labels[RB_MON_S5_FLAGGED], 3);

    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&text, &size);
    rb_monitor_stats_print (mon, f, 3000, false); /* 2 s after the first */
    fclose (f);
    ck_assert_msg (strstr (text, "messages 8 (4/s), undecodable 1"), "%s",
                   text);
    ck_assert_msg (strstr (text, "  DATA                        4         2\n"),
                   "%s", text);
    ck_assert (strstr (text, "  DATA flagged (S5)                 3   "));
    ck_assert (strstr (text, "  DATA current                      1\n"));
    ck_assert (strstr (text, "  ERROR unavailable                 2   "));
    ck_assert (strstr (text, "ERROR timeout"));
    ck_assert (strstr (text, "steps: S5 flagged answer 3\n"));
    ck_assert (!strchr (text, '\033'));
    free (text);

    json_t *obj = rb_monitor_stats_json (mon, 4000);
    char *json = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ck_assert_msg (strstr (json, "\"total\":8,\"rate\":0,\"undecodable\":1,"
                                 "\"types\":{\"ERROR\":3,\"DATA\":4},"
                                 "\"data\":{\"flagged\":3,\"current\":1,"
                                 "\"not_found\":1},\"errors\":{"
                                 "\"timeout\":1,\"unavailable\":2},"
                                 "\"labels\":{\"S5 flagged answer\":3}}"),
                   "%s", json);
    free (json);
    json_decref (obj);

    text = NULL;
    f = open_memstream (&text, &size);
    rb_monitor_stats_print (mon, f, 5000, true);
    fclose (f);
    ck_assert (strncmp (text, "\033[H\033[2J", 7) == 0);
    free (text);
    rb_monitor_destroy (&mon);
}
END_TEST

/*  --------------------------------------------------------------------
    Runner */

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("monitor");
    TCase *labels = tcase_create ("labels");
    tcase_add_test (labels, monitor_labels_every_step_of_a_recovery);
    tcase_add_test (labels, monitor_pairs_acks_with_requests_per_requester);
    tcase_add_test (labels, monitor_reset_forgets_flagged_keys);
    tcase_add_test (labels, monitor_remembers_a_bounded_number_of_flagged_keys);
    suite_add_tcase (suite, labels);

    TCase *format = tcase_create ("format");
    tcase_add_loop_test (format, monitor_formats_every_message_type, 0,
                         (int) (sizeof s_samples / sizeof s_samples[0]));
    tcase_add_test (format, monitor_line_shows_time_sender_and_destination);
    tcase_add_test (format, monitor_reports_undecodable_messages_and_goes_on);
    tcase_add_test (format,
                    monitor_filter_shows_one_type_and_listens_for_its_context);
    tcase_add_test (format, monitor_counts_types_flags_and_errors);
    suite_add_tcase (suite, format);
    return suite;
}

int
main (void)
{
    return rb_test_run (s_suite ());
}
