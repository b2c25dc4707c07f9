/*  rb_testing: what every Check suite shares: running one suite in fork
    mode and turning its failures into the exit status CTest reads.  */
#ifndef RB_TESTING_H
#define RB_TESTING_H

#include <check.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/*  Runs the suite. Processes a failed test leaves behind (its forked
    child exits at once, skipping clean-up) are re-parented to us rather
    than to init, and reaped at the end.  */
static inline int
rb_test_run (Suite *suite)
{
    prctl (PR_SET_CHILD_SUBREAPER, 1);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    while (waitpid (-1, NULL, WNOHANG) > 0)
        ;
    return failed ? 1 : 0;
}

#endif
