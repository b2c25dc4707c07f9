/*  rb_testing: what every Check suite shares: running one suite in fork
    mode, with the harness's failures failing the running test, and
    turning its failures into the exit status CTest reads.  */
#ifndef RB_TESTING_H
#define RB_TESTING_H

#include <check.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "rb_proc.h"

/*  rb_harness_fail's end in a suite: the running test fails there.  */
static inline void
rb_test_failed (const char *file, int line, const char *msg)
{
    ck_abort_msg ("%s:%d: %s", file, line, msg);
}

/*  Runs the suite. Processes a failed test leaves behind (its forked
    child exits at once, skipping clean-up) are re-parented to us rather
    than to init, and reaped at the end.  */
static inline int
rb_test_run (Suite *suite)
{
    prctl (PR_SET_CHILD_SUBREAPER, 1);
    rb_harness_on_fail (rb_test_failed);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    while (waitpid (-1, NULL, WNOHANG) > 0)
        ;
    return failed ? 1 : 0;
}

#endif
