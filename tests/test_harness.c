/*  test_harness: the system-test harness itself: child programs are
    started, watched, signalled and reaped with their output captured;
    recobus-ops' command line is built from its settings; a throwaway
    redis-server starts, answers, restarts empty and leaves nothing
    behind when stopped; a cluster on a Redis it is given flushes it and
    leaves it running; a process's RSS and CPU time, and Redis's
    used_memory, are read.  */
#include <check.h>

#include "rb_testing.h"
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_cluster.h"
#include "rb_opsrun.h"
#include "rb_proc.h"
#include "rb_redis.h"

/*  True if pid is no process, not even a zombie.  */
static bool
s_gone (pid_t pid)
{
    return kill (pid, 0) == -1 && errno == ESRCH;
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

START_TEST (harness_run_captures_output_and_exit_status)
{
    char *const echo[] = {"/bin/echo", "hello", "world", NULL};
    char *out, *err;
    ck_assert_int_eq (rb_proc_run (echo, 5000, &out, &err), 0);
    ck_assert_str_eq (out, "hello world\n");
    ck_assert_str_eq (err, "");
    free (out);
    free (err);

    char *const sh[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 4",
                        NULL};
    ck_assert_int_eq (rb_proc_run (sh, 5000, &out, &err), 4);
    ck_assert_str_eq (out, "out\n");
    ck_assert_str_eq (err, "err\n");
    free (out);
    free (err);
    ck_assert_int_eq (rb_proc_run (echo, 5000, NULL, NULL), 0);
}
END_TEST

START_TEST (harness_run_kills_a_program_past_its_timeout)
{
    char *const sleeper[] = {"/bin/sleep", "30", NULL};
    char *out;
    int64_t start = rb_clock_ms ();
    ck_assert_int_eq (rb_proc_run (sleeper, 100, &out, NULL), -1);
    ck_assert_int_lt (rb_clock_ms () - start, 5000);
    ck_assert_str_eq (out, "");
    free (out);
}
END_TEST

START_TEST (harness_start_of_a_missing_program_fails)
{
    char *const missing[] = {"/nonexistent/recobus-nothing", NULL};
    ck_assert_ptr_null (rb_proc_start (missing, NULL));
    char *out = (char *) "x";
    ck_assert_int_eq (rb_proc_run (missing, 1000, &out, NULL), -1);
    ck_assert_ptr_null (out);
}
END_TEST

START_TEST (harness_wait_output_finds_line_and_sigkill_gives_137)
{
    char *const sh[] = {"/bin/sh", "-c", "echo ready; sleep 30", NULL};
    rb_proc_t *p = rb_proc_start (sh, NULL);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_gt (rb_proc_pid (p), 0);
    ck_assert_int_eq (rb_proc_wait_output (p, "ready", 5000), 0);
    /* a line that never comes: waits its timeout, no more */
    int64_t start = rb_clock_ms ();
    ck_assert_int_eq (rb_proc_wait_output (p, "never", 100), -1);
    ck_assert_int_ge (rb_clock_ms () - start, 100);
    ck_assert_int_eq (rb_proc_wait (p, 50), -1); /* still running */
    ck_assert_int_eq (rb_proc_kill (p, SIGKILL), 0);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 128 + 9);
    ck_assert_int_eq (rb_proc_wait (p, 0), 128 + 9); /* and stays so */
    char *out = rb_proc_stdout (p);
    ck_assert_str_eq (out, "ready\n");
    free (out);
    rb_proc_destroy (&p);
    ck_assert_ptr_null (p);
    rb_proc_destroy (&p); /* NULL-safe */
}
END_TEST

START_TEST (harness_wait_output_stops_when_the_child_exits)
{
    char *const sh[] = {"/bin/sh", "-c", "echo other; exit 3", NULL};
    rb_proc_t *p = rb_proc_start (sh, NULL);
    ck_assert_ptr_nonnull (p);
    int64_t start = rb_clock_ms ();
    ck_assert_int_eq (rb_proc_wait_output (p, "ready", 10000), -1);
    ck_assert_int_lt (rb_clock_ms () - start, 5000);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 3);
    rb_proc_destroy (&p);
}
END_TEST

START_TEST (harness_child_exit_status_is_returned)
{
    char *const sh[] = {"/bin/sh", "-c", "exit 3", NULL};
    rb_proc_t *p = rb_proc_start (sh, NULL);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 3);
    rb_proc_destroy (&p);
    char *const term[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    ck_assert_int_eq (rb_proc_run (term, 5000, NULL, NULL), 128 + SIGTERM);
}
END_TEST

START_TEST (harness_destroy_kills_what_the_child_started)
{
    char *const sh[] = {"/bin/sh", "-c", "sleep 30 & echo sleeper $!; wait",
                        NULL};
    rb_proc_t *p = rb_proc_start (sh, NULL);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait_output (p, "sleeper", 5000), 0);
    char *out = rb_proc_stdout (p);
    int sleeper = 0;
    ck_assert_int_eq (sscanf (out, "sleeper %d", &sleeper), 1);
    free (out);
    pid_t pid = rb_proc_pid (p);
    rb_proc_destroy (&p);
    ck_assert (s_gone (pid));
    ck_assert (s_gone ((pid_t) sleeper)); /* killed and reaped too */
}
END_TEST

START_TEST (harness_log_path_gets_both_streams_and_stays)
{
    char *dir = rb_temp_dir ("test_harness");
    ck_assert_ptr_nonnull (dir);
    char log[512];
    snprintf (log, sizeof log, "%s/child.log", dir);
    char *const first[] = {"/bin/sh", "-c", "echo one; echo two >&2", NULL};
    rb_proc_t *p = rb_proc_start (first, log);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 0);
    rb_proc_destroy (&p);
    ck_assert (s_exists (log));
    /* a second child appends; each sees only its own output */
    char *const second[] = {"/bin/sh", "-c", "echo three", NULL};
    p = rb_proc_start (second, log);
    ck_assert_ptr_nonnull (p);
    ck_assert_int_eq (rb_proc_wait_output (p, "three", 5000), 0);
    ck_assert_int_eq (rb_proc_wait_output (p, "one", 0), -1);
    ck_assert_int_eq (rb_proc_wait (p, 5000), 0);
    char *out = rb_proc_stdout (p);
    ck_assert_str_eq (out, "three\n");
    free (out);
    rb_proc_destroy (&p);
    char *const cat[] = {"/bin/cat", log, NULL};
    ck_assert_int_eq (rb_proc_run (cat, 5000, &out, NULL), 0);
    ck_assert_str_eq (out, "one\ntwo\nthree\n");
    free (out);
    ck_assert_int_eq (rb_remove_tree (dir), 0);
    ck_assert (!s_exists (dir));
    free (dir);
}
END_TEST

START_TEST (harness_free_port_can_be_bound)
{
    int port = rb_free_port ();
    ck_assert_int_gt (port, 0);
    ck_assert_int_lt (port, 65536);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ne (fd, -1);
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t) port);
    ck_assert_int_eq (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    ck_assert_int_eq (listen (fd, 1), 0);
    close (fd);
}
END_TEST

START_TEST (harness_reads_a_process_memory_and_cpu)
{
    pid_t me = getpid ();
    long rss = rb_proc_rss_kb (me);
    ck_assert_int_gt (rss, 0);
    ck_assert_int_ge (rb_proc_peak_kb (me), rss);
    /* 64 MB touched: the RSS and its peak grow by about as much */
    size_t size = 64u << 20;
    char *block = (char *) malloc (size);
    ck_assert_ptr_nonnull (block);
    volatile char *page = block; /* touched: the compiler keeps it */
    for (size_t i = 0; i < size; i += 4096)
        page[i] = 1;
    ck_assert_int_gt (rb_proc_rss_kb (me), rss + 60 * 1024);
    free (block);
    /* a peak stays (the kernel's counters are exact to some 100 kB) */
    ck_assert_int_gt (rb_proc_peak_kb (me), rss + 60 * 1024);
    /* spinning shows as CPU time: 100 ms of it within 5 s, however busy
       the machine */
    long cpu = rb_proc_cpu_ms (me);
    ck_assert_int_ge (cpu, 0);
    int64_t until = rb_clock_ms () + 5000;
    volatile uint64_t spin = 0;
    while (rb_proc_cpu_ms (me) - cpu < 100 && rb_clock_ms () < until)
        for (int i = 0; i < 1000000; i++)
            spin++;
    ck_assert_int_ge (rb_proc_cpu_ms (me) - cpu, 100);
    /* a process that is gone: -1 */
    char *argv[] = {"/bin/true", NULL};
    rb_proc_t *p = rb_proc_start (argv, NULL);
    pid_t pid = rb_proc_pid (p);
    rb_proc_destroy (&p);
    ck_assert_int_eq (rb_proc_rss_kb (pid), -1);
    ck_assert_int_eq (rb_proc_cpu_ms (pid), -1);
}
END_TEST

START_TEST (harness_reads_redis_used_memory)
{
    rb_redis_t *r = rb_redis_start ();
    ck_assert_ptr_nonnull (r);
    long long before = rb_redis_used_memory (rb_redis_address (r));
    ck_assert_int_gt (before, 0);
    char *value = (char *) calloc (1, 1 << 20);
    redisReply *reply = rb_redis_cmd (r, "SET big %b", value, 1 << 20);
    free (value);
    freeReplyObject (reply);
    ck_assert_int_gt (rb_redis_used_memory (rb_redis_address (r)),
                      before + (1 << 20));
    ck_assert_int_eq (rb_redis_used_memory ("127.0.0.1:1"), -1);
    rb_redis_stop (&r);
}
END_TEST

START_TEST (harness_redis_answers_set_and_get)
{
    rb_redis_t *r = rb_redis_start ();
    ck_assert_ptr_nonnull (r);
    char address[32];
    snprintf (address, sizeof address, "127.0.0.1:%d", rb_redis_port (r));
    ck_assert_str_eq (rb_redis_address (r), address);
    redisReply *reply = rb_redis_cmd (r, "SET %s %s", "greeting", "hello");
    ck_assert_int_eq (reply->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq (reply->str, "OK");
    freeReplyObject (reply);
    reply = rb_redis_cmd (r, "GET %s", "greeting");
    ck_assert_int_eq (reply->type, REDIS_REPLY_STRING);
    ck_assert_str_eq (reply->str, "hello");
    freeReplyObject (reply);
    /* an error reply comes back as one, not as a failure */
    reply = rb_redis_cmd (r, "NOSUCHCOMMAND");
    ck_assert_int_eq (reply->type, REDIS_REPLY_ERROR);
    freeReplyObject (reply);
    redisContext *c = rb_redis_connect (r);
    reply = (redisReply *) redisCommand (c, "GET greeting");
    ck_assert_str_eq (reply->str, "hello");
    freeReplyObject (reply);
    redisFree (c);
    rb_redis_stop (&r);
    ck_assert_ptr_null (r);
    rb_redis_stop (&r); /* NULL-safe */
}
END_TEST

START_TEST (harness_redis_restart_loses_data_and_answers_ping)
{
    rb_redis_t *r = rb_redis_start ();
    ck_assert_ptr_nonnull (r);
    int port = rb_redis_port (r);
    pid_t before = rb_redis_pid (r);
    freeReplyObject (rb_redis_cmd (r, "SET key value"));
    ck_assert_int_eq (rb_redis_restart (r), 0);
    ck_assert_int_eq (rb_redis_port (r), port);
    ck_assert_int_ne (rb_redis_pid (r), before);
    ck_assert (s_gone (before));
    redisReply *reply = rb_redis_cmd (r, "GET key");
    ck_assert_int_eq (reply->type, REDIS_REPLY_NIL);
    freeReplyObject (reply);
    reply = rb_redis_cmd (r, "PING");
    ck_assert_int_eq (reply->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq (reply->str, "PONG");
    freeReplyObject (reply);
    rb_redis_stop (&r);
}
END_TEST

START_TEST (harness_redis_stop_leaves_no_process_and_no_dir)
{
    rb_redis_t *r = rb_redis_start ();
    ck_assert_ptr_nonnull (r);
    pid_t pid = rb_redis_pid (r);
    ck_assert_int_gt (pid, 0);
    char *dir = strdup (rb_redis_dir (r));
    ck_assert (s_exists (dir));
    rb_redis_stop (&r);
    ck_assert (s_gone (pid));
    ck_assert (!s_exists (dir));
    free (dir);
}
END_TEST

START_TEST (harness_two_redis_servers_run_side_by_side)
{
    rb_redis_t *a = rb_redis_start ();
    rb_redis_t *b = rb_redis_start ();
    ck_assert_ptr_nonnull (a);
    ck_assert_ptr_nonnull (b);
    ck_assert_int_ne (rb_redis_port (a), rb_redis_port (b));
    freeReplyObject (rb_redis_cmd (a, "SET only a"));
    redisReply *reply = rb_redis_cmd (b, "GET only");
    ck_assert_int_eq (reply->type, REDIS_REPLY_NIL);
    freeReplyObject (reply);
    rb_redis_stop (&a);
    rb_redis_stop (&b);
}
END_TEST

START_TEST (harness_opsrun_builds_the_command_line_and_captures_it)
{
    /* /bin/echo in recobus-ops' place prints the command line it got */
    rb_opsrun_opts_t o = {
        "/bin/echo", "tcp://127.0.0.1:1", "/j", 5000, true, NULL, NULL};
    int64_t before = rb_clock_ms () * 1000;
    rb_opsrun_t r =
        rb_opsrun (&o, (const char *[]){"put", "k", "v", NULL}, 5000);
    ck_assert_int_eq (r.rc, 0);
    ck_assert_str_eq (r.out, "--broker tcp://127.0.0.1:1 --journal /j "
                             "--timeout 5000 --json put k v\n");
    ck_assert_str_eq (r.err, "");
    ck_assert_int_ge (r.exited_us, before);
    rb_opsrun_done (&r);
    ck_assert_ptr_null (r.out);
    o.timeout_ms = 0;
    o.json = false;
    r = rb_opsrun (&o, (const char *[]){"sync", NULL}, 5000);
    ck_assert_str_eq (r.out, "--broker tcp://127.0.0.1:1 --journal /j sync\n");
    rb_opsrun_done (&r);
    o.bin = "/nonexistent/recobus-ops";
    r = rb_opsrun (&o, (const char *[]){"sync", NULL}, 5000);
    ck_assert_int_eq (r.rc, -1);
    rb_opsrun_done (&r);
}
END_TEST

START_TEST (harness_cluster_on_a_given_redis_flushes_it_and_leaves_it_running)
{
    rb_redis_t *redis = rb_redis_start ();
    ck_assert_ptr_nonnull (redis);
    freeReplyObject (rb_redis_cmd (redis, "SET before cluster"));
    rb_cluster_opts_t o = {.redis = rb_redis_address (redis), .tap = true};
    rb_cluster_t *c = rb_cluster_new (&o);
    ck_assert_ptr_nonnull (c);
    ck_assert_ptr_null (c->redis); /* not its own */
    ck_assert_str_eq (c->redis_address, rb_redis_address (redis));
    ck_assert_str_ne (c->bus, "");
    ck_assert_str_ne (c->tap, "");
    redisReply *reply = rb_redis_cmd (redis, "EXISTS before");
    ck_assert_int_eq (reply->integer, 0); /* flushed */
    freeReplyObject (reply);
    char *backups = strdup (c->backups);
    ck_assert (s_exists (backups));
    rb_cluster_destroy (&c);
    ck_assert_ptr_null (c);
    ck_assert (!s_exists (backups));
    free (backups);
    reply = rb_redis_cmd (redis, "PING"); /* still there */
    ck_assert_str_eq (reply->str, "PONG");
    freeReplyObject (reply);
    rb_redis_stop (&redis);
    /* a Redis that is not there: no cluster, and nothing left running */
    o.redis = "127.0.0.1:1";
    ck_assert_ptr_null (rb_cluster_new (&o));
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("harness");
    TCase *proc = tcase_create ("proc");
    tcase_set_timeout (proc, 30);
    tcase_add_test (proc, harness_run_captures_output_and_exit_status);
    tcase_add_test (proc, harness_run_kills_a_program_past_its_timeout);
    tcase_add_test (proc, harness_start_of_a_missing_program_fails);
    tcase_add_test (proc, harness_wait_output_finds_line_and_sigkill_gives_137);
    tcase_add_test (proc, harness_wait_output_stops_when_the_child_exits);
    tcase_add_test (proc, harness_child_exit_status_is_returned);
    tcase_add_test (proc, harness_destroy_kills_what_the_child_started);
    tcase_add_test (proc, harness_log_path_gets_both_streams_and_stays);
    tcase_add_test (proc, harness_free_port_can_be_bound);
    tcase_add_test (proc, harness_reads_a_process_memory_and_cpu);
    tcase_add_test (proc,
                    harness_opsrun_builds_the_command_line_and_captures_it);
    suite_add_tcase (s, proc);
    TCase *redis = tcase_create ("redis");
    tcase_set_timeout (redis, 30);
    tcase_add_test (redis, harness_redis_answers_set_and_get);
    tcase_add_test (redis, harness_reads_redis_used_memory);
    tcase_add_test (redis, harness_redis_restart_loses_data_and_answers_ping);
    tcase_add_test (redis, harness_redis_stop_leaves_no_process_and_no_dir);
    tcase_add_test (redis, harness_two_redis_servers_run_side_by_side);
    tcase_add_test (
        redis,
        harness_cluster_on_a_given_redis_flushes_it_and_leaves_it_running);
    suite_add_tcase (s, redis);
    return rb_test_run (s);
}
