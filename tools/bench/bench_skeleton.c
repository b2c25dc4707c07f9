/*  bench skeleton: the bare skeleton of the GET miss path (see
    rb_bench_cluster.h), the baseline that says what the product's own
    logic costs on top of its processes and hops.

    Each part is a forked child of the bench. A child of a threaded
    process may use only what fork left usable: it closes every inherited
    descriptor but its report pipe (the parent's sockets, its Redis
    connections), makes a libzmq context of its own, never touches czmq's
    (the parent's, copied and dead), reports on the pipe and ends with
    _exit, so no atexit handler of the parent's runs. It dies with the
    bench (PR_SET_PDEATHSIG) and by SIGTERM, set back to its default.  */
#define _GNU_SOURCE /* close_range */
#include "rb_bench_cluster.h"
#include "rb_msg.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SK_BURST     512 /* requests read per wake-up, as the DB node */
#define SK_PARTS     8   /* frames of one request, envelope included */
#define SK_REPORT_MS 5000
#define SK_STOP_MS   2000

typedef enum { SK_PROXY, SK_WORKER } sk_role_t;

/*  One request of a burst: its frames, and what it asks.  */
typedef struct {
    zmq_msg_t part[SK_PARTS];
    int n;   /* frames received (and to close) */
    bool ok; /* a terminal's GET that decoded */
    uint64_t corr;
    rb_str_t key; /* into part[n - 1] */
} sk_req_t;

/*  --- in the child ------------------------------------------------------ */

static void
s_child_init (int report, pid_t parent)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent) /* the bench died before prctl */
        _exit (1);
    signal (SIGTERM, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    if (report != 3) {
        dup2 (report, 3);
        close (report);
    }
    if (close_range (4, ~0U, 0))
        for (int fd = 4; fd < 65536; fd++)
            close (fd);
}

/*  Writes the line to the report pipe (fd 3) and closes it.  */
static void
s_report (const char *line)
{
    size_t len = strlen (line), done = 0;
    while (done < len) {
        ssize_t n = write (3, line + done, len - done);
        if (n <= 0 && errno != EINTR)
            break;
        done += n > 0 ? (size_t) n : 0;
    }
    close (3);
}

static void *
s_socket (void *ctx, int type, const char *endpoint, bool bind, char *bound,
          size_t size)
{
    void *sock = zmq_socket (ctx, type);
    if (!sock)
        return NULL;
    int rc = bind ? zmq_bind (sock, endpoint) : zmq_connect (sock, endpoint);
    if (rc == 0 && bound &&
        zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, bound, &size) == 0)
        return sock;
    if (rc == 0 && !bound)
        return sock;
    zmq_close (sock);
    return NULL;
}

/*  A ROUTER frontend bound on a free port and a DEALER backend bound too
    (the broker) or connected to `next` (the service node); reports "FRONT
    BACK" and runs zmq_proxy until killed.  */
static void
s_proxy_main (const char *next)
{
    void *ctx = zmq_ctx_new ();
    char front[256], back[256] = "-", line[600] = "";
    void *f = s_socket (ctx, ZMQ_ROUTER, "tcp://127.0.0.1:*", true, front,
                        sizeof front);
    void *b = next ? s_socket (ctx, ZMQ_DEALER, next, false, NULL, 0)
                   : s_socket (ctx, ZMQ_DEALER, "tcp://127.0.0.1:*", true, back,
                               sizeof back);
    if (f && b)
        snprintf (line, sizeof line, "%s %s\n", front, back);
    s_report (line);
    if (f && b)
        zmq_proxy (f, b, NULL);
    _exit (1);
}

/*  Reads one request without waiting: its frames, the last two decoded
    as a terminal's [header][body]. -1: nothing to read.  */
static int
s_recv_req (void *sock, sk_req_t *r, rb_body_t *body)
{
    r->n = 0;
    r->ok = false;
    int more = 1, flags = ZMQ_DONTWAIT;
    while (more) {
        zmq_msg_t scratch, *m = r->n < SK_PARTS ? &r->part[r->n] : &scratch;
        zmq_msg_init (m);
        if (zmq_msg_recv (m, sock, flags) < 0) {
            zmq_msg_close (m);
            return r->n ? 0 : -1;
        }
        flags = 0; /* the rest of a multipart message is there already */
        more = zmq_msg_more (m);
        if (m == &scratch)
            zmq_msg_close (m);
        else
            r->n++;
    }
    if (r->n < 3 || r->n == SK_PARTS) /* no envelope, or frames dropped */
        return 0;
    zmq_msg_t *hf = &r->part[r->n - 2], *bf = &r->part[r->n - 1];
    rb_header_t h;
    r->ok = rb_header_decode (zmq_msg_data (hf), zmq_msg_size (hf), &h, NULL) ==
                0 &&
            h.kind == RB_K_REQUEST && h.type == RB_T_GET &&
            rb_body_decode (zmq_msg_data (bf), zmq_msg_size (bf), RB_T_GET,
                            &rb_limits_default, body, NULL) == 0;
    r->corr = h.corr;
    r->key = body->key;
    return 0;
}

/*  Sends the envelope back, then ANSWER as a service node sends it.  */
static void
s_answer (void *sock, sk_req_t *r, const redisReply *reply, uint8_t *buf,
          size_t cap)
{
    bool found = reply && reply->type == REDIS_REPLY_STRING;
    rb_header_t h;
    memset (&h, 0, sizeof h);
    h.kind = RB_K_REPLY;
    h.type = RB_T_ANSWER;
    h.corr = r->corr;
    rb_body_t a;
    rb_body_init (&a, RB_T_ANSWER);
    a.key = r->key;
    a.answer = found ? RB_ANS_OK : RB_ANS_NOT_FOUND;
    a.seq = found ? 1 : 0; /* rb_bcluster_fill's records are at seq 1 */
    a.has_value = found;
    a.value = found ? rb_strn (reply->str, reply->len) : rb_strn (NULL, 0);
    size_t hlen = rb_header_encode (&h, buf, cap);
    size_t blen = rb_body_encode (&a, buf + hlen, cap - hlen);
    if (hlen + blen > cap)
        return; /* not sent: the terminal's 5 s timeout says so */
    for (int i = 0; i < r->n - 2; i++)
        zmq_msg_send (&r->part[i], sock, ZMQ_SNDMORE);
    zmq_send (sock, buf, hlen, ZMQ_SNDMORE);
    zmq_send (sock, buf + hlen, blen, 0);
}

/*  The worker: a DEALER on the second proxy's backend and one Redis
    connection; reports "ready" once both are there.  */
static void
s_worker_main (const char *backend, const char *redis)
{
    void *ctx = zmq_ctx_new ();
    void *sock = s_socket (ctx, ZMQ_DEALER, backend, false, NULL, 0);
    redisContext *r = rb_redis_connect_at (redis);
    sk_req_t *reqs = (sk_req_t *) calloc (SK_BURST, sizeof (sk_req_t));
    rb_body_t *bodies = (rb_body_t *) calloc (SK_BURST, sizeof (rb_body_t));
    size_t cap = 2 * RB_VALUE_DEFAULT;
    uint8_t *buf = (uint8_t *) malloc (cap);
    bool ready = sock && r && reqs && bodies && buf;
    s_report (ready ? "ready\n" : "");
    if (!ready)
        _exit (1);
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    while (zmq_poll (&item, 1, -1) >= 0 || errno == EINTR) {
        int n = 0;
        while (n < SK_BURST && s_recv_req (sock, &reqs[n], &bodies[n]) == 0)
            n++;
        for (int i = 0; i < n; i++)
            if (reqs[i].ok)
                redisAppendCommand (r, "GET b%b", reqs[i].key.ptr,
                                    (size_t) reqs[i].key.len);
        for (int i = 0; i < n; i++) {
            if (reqs[i].ok) {
                void *reply = NULL;
                if (redisGetReply (r, &reply) != REDIS_OK)
                    _exit (1); /* Redis gone: the terminal sees a timeout */
                s_answer (sock, &reqs[i], (redisReply *) reply, buf, cap);
                freeReplyObject (reply);
            }
            for (int p = 0; p < reqs[i].n; p++)
                zmq_msg_close (&reqs[i].part[p]);
        }
    }
    _exit (1);
}

/*  --- in the bench ------------------------------------------------------ */

/*  Reads the child's one line (up to '\n') within SK_REPORT_MS. */
static int
s_read_report (int fd, char *line, size_t size)
{
    size_t len = 0;
    double deadline = rb_now_us () + SK_REPORT_MS * 1e3;
    while (len < size - 1) {
        int left = (int) ((deadline - rb_now_us ()) / 1e3);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll (&p, 1, left) <= 0)
            break;
        ssize_t n = read (fd, line + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
        line[len] = '\0';
        char *nl = strchr (line, '\n');
        if (nl) {
            *nl = '\0';
            return 0;
        }
    }
    line[len] = '\0';
    return -1;
}

/*  Forks one part; its report line goes into line. The pid, or -1.  */
static pid_t
s_spawn (sk_role_t role, const char *a, const char *b, char *line, size_t size)
{
    int fds[2];
    if (pipe (fds))
        return -1;
    pid_t parent = getpid ();
    fflush (NULL); /* nothing buffered is written twice */
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds[0]);
        s_child_init (fds[1], parent);
        if (role == SK_PROXY)
            s_proxy_main (a);
        else
            s_worker_main (a, b);
        _exit (1);
    }
    close (fds[1]);
    int rc = pid > 0 ? s_read_report (fds[0], line, size) : -1;
    close (fds[0]);
    if (rc == 0 && line[0])
        return pid;
    if (pid > 0) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
    }
    return -1;
}

void
rb_skeleton_stop (rb_skeleton_t *s)
{
    for (int i = 0; i < 3; i++)
        if (s->pids[i] > 0)
            kill (s->pids[i], SIGTERM);
    double deadline = rb_now_us () + SK_STOP_MS * 1e3;
    for (int i = 0; i < 3; i++) {
        while (s->pids[i] > 0) {
            pid_t rc = waitpid (s->pids[i], NULL, WNOHANG);
            if (rc == s->pids[i] || (rc < 0 && errno != EINTR))
                s->pids[i] = 0;
            else if (rb_now_us () > deadline) {
                kill (s->pids[i], SIGKILL);
                waitpid (s->pids[i], NULL, 0);
                s->pids[i] = 0;
            } else
                usleep (2000);
        }
    }
}

int
rb_skeleton_start (rb_skeleton_t *s, const rb_bench_opts_t *o)
{
    memset (s, 0, sizeof *s);
    char line[600], front[256], back[256];
    /* the broker's stand-in first: the others connect to it */
    s->pids[0] = s_spawn (SK_PROXY, NULL, NULL, line, sizeof line);
    if (s->pids[0] > 0 && sscanf (line, "%255s %255s", front, back) == 2) {
        s->pids[1] = s_spawn (SK_PROXY, front, NULL, line, sizeof line);
        if (s->pids[1] > 0 &&
            sscanf (line, "%255s", s->terminals) == 1) /* the service's */
            s->pids[2] = s_spawn (SK_WORKER, back, o->redis, line, sizeof line);
    }
    if (s->pids[0] > 0 && s->pids[1] > 0 && s->pids[2] > 0)
        return 0;
    fprintf (stderr, "skeleton: a part would not start\n");
    rb_skeleton_stop (s);
    return -1;
}
