/*  recobus-terminal: asks a service node for records, like a subscriber's
    terminal would, and prints one line (or JSON object) per key.

        recobus-terminal [--service EP] [--json] [--timeout MS] get KEY...

    Every GET goes out at once; answers are printed in the order of the
    keys. Exit 0 when every key got an answer, 69 when the service did not
    answer them all within --timeout.  */
#include <czmq.h>

#include "rb_msg.h"
#include "rb_out.h"
#include "rb_programs.h"

static const rb_program_t *const s_program = &rb_program_terminal;

/*  What came back for one key. */
typedef struct {
    bool answered;
    int status; /* rb_answer_t */
    uint64_t seq;
    bool found;
    char *value; /* owned */
    uint32_t value_len;
} answer_t;

static int
s_send_all (zsock_t *sock, char **keys, int n)
{
    for (int i = 0; i < n; i++) {
        rb_header_t h;
        memset (&h, 0, sizeof h);
        h.kind = RB_K_REQUEST;
        h.type = RB_T_GET;
        h.corr = (uint64_t) i + 1;
        rb_body_t b;
        rb_body_init (&b, RB_T_GET);
        b.key = rb_str (keys[i]);
        if (rb_msg_send (zsock_resolve (sock), &h, &b))
            return -1;
    }
    return 0;
}

/*  Reads answers until all n came or the deadline passes. */
static int
s_collect (zsock_t *sock, answer_t *answers, int n, int64_t deadline)
{
    int got = 0;
    rb_body_t b;
    rb_body_init (&b, RB_T_NONE);
    zpoller_t *poller = zpoller_new (sock, NULL);
    while (got < n && zclock_mono () < deadline && !zsys_interrupted) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ())))
            continue;
        zmsg_t *msg = zmsg_recv (sock);
        rb_header_t h;
        rb_err_t err;
        if (msg && rb_msg_decode (msg, NULL, &h, &b, &err) == RB_OK &&
            h.corr >= 1 && h.corr <= (uint64_t) n &&
            !answers[h.corr - 1].answered) {
            answer_t *a = &answers[h.corr - 1];
            a->answered = true;
            got++;
            bool is_answer = h.kind == RB_K_REPLY && b.type == RB_T_ANSWER;
            a->status = is_answer ? b.answer : RB_ANS_UNAVAILABLE;
            a->seq = is_answer ? b.seq : 0;
            a->found = is_answer && b.has_value;
            a->value = a->found ? rb_str_dup (b.value) : NULL;
            a->value_len = a->found ? b.value.len : 0;
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    rb_body_release (&b);
    return got;
}

static void
s_print (const char *key, const answer_t *a, bool json)
{
    if (json) {
        json_t *obj = json_object ();
        json_object_set_new (obj, "key", json_string (key));
        json_object_set_new (obj, "status",
                             json_string (rb_answer_name (a->status)));
        rb_out_json_uint (obj, "seq", a->seq);
        rb_out_json_bytes (obj, "value", a->found ? a->value : NULL,
                           a->value_len);
        rb_out_json_line (stdout, obj);
        return;
    }
    printf ("%s\t%s\t%llu\t", key, rb_answer_name (a->status),
            (unsigned long long) a->seq);
    if (a->found)
        rb_out_escaped (stdout, a->value, a->value_len);
    putchar ('\n');
}

static int
s_get (rb_config_t *cfg, char **keys, int n)
{
    for (int i = 0; i < n; i++)
        if (!rb_key_valid (keys[i], strlen (keys[i]))) {
            rb_cli_error (s_program,
                          "bad key '%s': 1..64 printable characters, no "
                          "spaces",
                          keys[i]);
            return EX_DATAERR;
        }
    const char *endpoint = rb_config_str (cfg, "service");
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_linger (sock, 0);
    if (zsock_connect (sock, "%s", endpoint)) {
        rb_cli_error (s_program, "bad service endpoint '%s'", endpoint);
        zsock_destroy (&sock);
        return EX_USAGE;
    }
    answer_t *answers = (answer_t *) calloc ((size_t) n, sizeof (answer_t));
    int64_t deadline = zclock_mono () + rb_config_int (cfg, "timeout");
    int got =
        s_send_all (sock, keys, n) ? 0 : s_collect (sock, answers, n, deadline);
    bool json = rb_config_bool (cfg, "json");
    for (int i = 0; i < n; i++) {
        if (answers[i].answered)
            s_print (keys[i], &answers[i], json);
        else
            rb_cli_error (s_program, "%s: no answer from %s within %lld ms",
                          keys[i], endpoint, rb_config_int (cfg, "timeout"));
        free (answers[i].value);
    }
    free (answers);
    zsock_destroy (&sock);
    return got == n ? 0 : EX_UNAVAILABLE;
}

int
main (int argc, char **argv)
{
    rb_cli_t cli;
    int rc = rb_cli_parse (s_program, argc, argv, &cli);
    if (rc)
        return rc == -1 ? 0 : rc;
    zsys_set_logstream (stderr);
    if (cli.argi >= argc || !streq (argv[cli.argi], "get") ||
        cli.argi + 1 >= argc) {
        rb_cli_error (s_program, "usage: %s [options] get KEY...",
                      s_program->name);
        rc = EX_USAGE;
    } else
        rc = s_get (cli.config, argv + cli.argi + 1, argc - cli.argi - 1);
    rb_config_destroy (&cli.config);
    return rc;
}
