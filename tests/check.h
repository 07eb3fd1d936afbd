/* check.h - the PASS / FAIL lines every C test prints (tests/lib.sh's run_c
 * counts them), and the count of failures the test's exit status reports. */
#ifndef GETP_TESTS_CHECK_H
#define GETP_TESTS_CHECK_H

#include <stdio.h>

static int failures;

static void check(int ok, const char *name, const char *detail) {
    if (ok) printf("PASS %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, detail);
        failures++;
    }
}

#endif
