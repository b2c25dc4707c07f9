/*  rb_otest: what the recobus-ops suites (test_ops, test_ops_recover,
    test_ops_journal) share: a cluster (the broker actor and a throwaway
    redis-server) with a probe node on the bus, the recobus-db program,
    a temp dir for the journal and input files; recobus-ops runs
    (rb_opsrun) that must end as expected; its JSON lines read back; the
    records in Redis.  */
#ifndef RB_OTEST_H
#define RB_OTEST_H

#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "rb_fixture.h"
#include "rb_opsrun.h"
#include "rb_proc.h"

#define RB_OT_OPS_BIN RECOBUS_BINARY_DIR "/recobus-ops"
#define RB_OT_DB_BIN  RECOBUS_BINARY_DIR "/recobus-db"

/*  One test's world, made by the checked fixture rb_ot_setup.  */
typedef struct {
    rb_cluster_t *c;
    rb_tnode_t probe;  /* asks the DB; pumped while recobus-ops runs */
    char *dir;         /* journal and input files */
    char journal[512]; /* the journal recobus-ops is given */
    rb_proc_t *db;     /* the recobus-db program, or NULL */
} rb_ot_t;

extern rb_ot_t rb_ot;

void rb_ot_setup (void);
void rb_ot_teardown (void);

/*  Starts recobus-db db-1 (creating the dataset with init) and waits
    until service db answers; kills it (SIGKILL, reaped).  */
void rb_ot_db_start (bool init);
void rb_ot_db_kill (void);

/*  recobus-ops --broker BUS --journal J --timeout 5000 ARGS...: started;
    waited for (two minutes at most, keeping the probe alive; the test
    fails if it still runs); both.  */
rb_proc_t *rb_ot_ops_start (const char *const *args);
rb_opsrun_t rb_ot_ops_wait (rb_proc_t **p_p);
rb_opsrun_t rb_ot_ops (const char *const *args);
/*  Runs and expects exit code rc; returns stdout (caller frees). */
char *rb_ot_expect (int rc, const char *const *args);

#define OPS(...)        rb_ot_ops ((const char *[]){__VA_ARGS__, NULL})
#define EXPECT(rc, ...) rb_ot_expect (rc, (const char *[]){__VA_ARGS__, NULL})
#define OK(...)         free (EXPECT (0, __VA_ARGS__))

/*  Line index (0-based) of text as JSON; the caller decrefs. Then an
    integer and a string item of it, which must be there.  */
json_t *rb_ot_json_line (const char *text, int index);
json_int_t rb_ot_int (json_t *obj, const char *name);
const char *rb_ot_str (json_t *obj, const char *name);
/*  status --json, expected to exit rc, parsed (one line). */
json_t *rb_ot_status (int rc);

/*  A file name in the temp dir of lines "KEY<n>\tVALUE<n>" for n in
    from..to-1; its path (caller frees).  */
char *rb_ot_load_file (const char *name, const char *key, const char *value,
                       int from, int to);
/*  The record of key in Redis is value ("-" absent, "(del)" a tombstone)
    at seq.  */
void rb_ot_expect_record (const char *key, const char *value, uint64_t seq);

#endif
