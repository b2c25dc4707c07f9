/*  rb_ctest: what the config suites (test_config, test_cli) share: the
    test tables (the example config's keys, plus a few test-only entries
    on the broker, curve, mode, init and label, to reach every type) and
    writing a temp config file.  */
#ifndef RB_CTEST_H
#define RB_CTEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_config.h"

#define N_OF(array) ((int) (sizeof (array) / sizeof ((array)[0])))

static const rb_opt_t rb_ct_broker_opts[] = {
    {"bind", "bind", 'b', RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL,
     "EP", "bus endpoint"},
    {"tap", "tap", 0, RB_OPT_STR, "tcp://127.0.0.1:5556", 1, 255, NULL, "EP",
     "tap endpoint"},
    {"heartbeat", "heartbeat", 0, RB_OPT_INT, "1000", 100, 60000, NULL, "MS",
     "heartbeat interval"},
    {"liveness", NULL, 0, RB_OPT_INT, "3", 1, 100, NULL, NULL,
     "missed heartbeats before a peer is dead"},
    {"queue-max", NULL, 0, RB_OPT_INT, "10000", 1, 10000000, NULL, NULL,
     "queued requests"},
    {"queue-timeout", NULL, 0, RB_OPT_INT, "2000", 1, 600000, NULL, NULL,
     "queue wait"},
    {"max-frame", NULL, 0, RB_OPT_INT, "1048576", 1024, 268435456, NULL, NULL,
     "largest frame"},
    {"curve", "curve", 0, RB_OPT_BOOL, "false", 0, 0, NULL, NULL,
     "encrypt the bus"},
    {"mode", "mode", 'm', RB_OPT_ENUM, "fast", 0, 0, "fast|safe", NULL,
     "how to run"},
    {"init", "init", 0, RB_OPT_FLAG, NULL, 0, 0, NULL, NULL, "start afresh"},
    {"label", "label", 0, RB_OPT_STR, NULL, 0, 0, NULL, "TEXT", "a label"},
    {0}};

static const rb_opt_t rb_ct_service_opts[] = {
    {"name", "name", 'n', RB_OPT_STR, NULL, 1, 64, NULL, "NAME", "node"},
    {"policy", "policy", 'p', RB_OPT_ENUM, "latest-only", 0, 0,
     "latest-only|stale-ok", NULL, "answer policy"},
    {"listen", "listen", 0, RB_OPT_STR, "tcp://127.0.0.1:5570", 1, 255, NULL,
     "EP", "terminal endpoint"},
    {"broker", "broker", 0, RB_OPT_STR, "tcp://127.0.0.1:5555", 1, 255, NULL,
     "EP", "broker"},
    {"max-wait", "max-wait", 0, RB_OPT_INT, "5000", 1, 600000, NULL, "MS",
     "longest wait"},
    {"cache-size", "cache-size", 0, RB_OPT_INT, "100000", 1, 100000000, NULL,
     "N", "cache bound"},
    {0}};

/*  Writes size bytes to a new file under /tmp; its name goes into
    path.  */
static inline void
rb_ct_write_bytes (const char *data, size_t size, char path[64])
{
    snprintf (path, 64, "/tmp/rb-test-config-XXXXXX");
    int fd = mkstemp (path);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (write (fd, data, size), (ssize_t) size);
    close (fd);
}

static inline void
rb_ct_write (const char *text, char path[64])
{
    rb_ct_write_bytes (text, strlen (text), path);
}

#endif
