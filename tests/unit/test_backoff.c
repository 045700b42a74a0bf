/* The agent's one backoff: doubling from the first wait to the cap, spread by
 * its jitter and never beyond it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void test_the_wait_doubles_to_its_cap(void **state)
{
    (void)state;
    const Backoff b = {50, 1000, 0};
    static const guint want[] = {50, 50, 100, 200, 400, 800, 1000, 1000};
    for (guint n = 0; n < G_N_ELEMENTS(want); n++)
        assert_int_equal(backoff_ms(&b, n), want[n]);
    assert_int_equal(backoff_ms(&b, 1000), 1000); /* no overflow after many failures */
}

static void test_jitter_spreads_each_wait_within_its_bounds(void **state)
{
    (void)state;
    const Backoff b = {1000, 60000, 0.2};
    guint lo = G_MAXUINT, hi = 0;
    for (int i = 0; i < 2000; i++) {
        guint ms = backoff_ms(&b, 3); /* 4 s, ±20 % */
        lo = MIN(lo, ms);
        hi = MAX(hi, ms);
    }
    assert_true(lo >= 3200 && hi <= 4800);
    assert_true(hi - lo > 800); /* really spread: agents do not retry in step */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_wait_doubles_to_its_cap),
        cmocka_unit_test(test_jitter_spreads_each_wait_within_its_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
