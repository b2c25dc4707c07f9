/*  rb_testing: what every Check suite shares: running one suite in fork
    mode and turning its failures into the exit status CTest reads.  */
#ifndef RB_TESTING_H
#define RB_TESTING_H

#include <check.h>

static inline int
rb_test_run (Suite *suite)
{
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}

#endif
