#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cron.h"

/* Unix time of a wall-clock time in tz. */
static gint64 at(GTimeZone *tz, int y, int mo, int d, int h, int mi)
{
    g_autoptr(GDateTime) t = g_date_time_new(tz, y, mo, d, h, mi, 0);
    assert_non_null(t);
    return g_date_time_to_unix(t);
}

static char *show(GTimeZone *tz, gint64 t)
{
    g_autoptr(GDateTime) u = g_date_time_new_from_unix_utc(t);
    g_autoptr(GDateTime) l = g_date_time_to_timezone(u, tz);
    return g_date_time_format(l, "%Y-%m-%d %H:%M %z");
}

static void expect_next(const char *expr, GTimeZone *tz, gint64 after, const char *want)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(CronSchedule) c = cron_parse(expr, &e);
    assert_non_null(c);
    gint64 next = cron_next(c, tz, after);
    g_autofree char *got = show(tz, next);
    if (g_strcmp0(got, want) != 0)
        fail_msg("'%s' after %s: got %s, want %s", expr, show(tz, after), got, want);
}

static void test_nightly_fires_at_two_the_next_day(void **state)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    expect_next("0 2 * * *", utc, at(utc, 2026, 11, 24, 2, 0), "2026-11-25 02:00 +0000");
    expect_next("0 2 * * *", utc, at(utc, 2026, 11, 24, 1, 59), "2026-11-24 02:00 +0000");
    expect_next("*/15 * * * *", utc, at(utc, 2026, 11, 24, 10, 7), "2026-11-24 10:15 +0000");
    expect_next("5/20 9-10 * * *", utc, at(utc, 2026, 11, 24, 9, 46), "2026-11-24 10:05 +0000");
}

static void test_month_ends_and_leap_days(void **state)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    expect_next("0 0 31 * *", utc, at(utc, 2026, 4, 1, 0, 0), "2026-05-31 00:00 +0000");
    expect_next("30 23 28-31 2 *", utc, at(utc, 2027, 2, 28, 23, 30), "2028-02-28 23:30 +0000");
    expect_next("0 12 29 2 *", utc, at(utc, 2026, 3, 1, 0, 0), "2028-02-29 12:00 +0000");
    expect_next("59 23 31 12 *", utc, at(utc, 2026, 12, 31, 23, 59), "2027-12-31 23:59 +0000");
}

static void test_day_of_month_or_day_of_week_as_vixie_cron(void **state)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    /* 2026-11-24 is a Tuesday: the 1st (Tuesday 1 December) or a Friday. */
    expect_next("0 3 1 * 5", utc, at(utc, 2026, 11, 24, 12, 0), "2026-11-27 03:00 +0000");
    expect_next("0 3 * * 7", utc, at(utc, 2026, 11, 24, 12, 0), "2026-11-29 03:00 +0000");
    expect_next("0 3 * * 1-5", utc, at(utc, 2026, 11, 27, 12, 0), "2026-11-30 03:00 +0000");
}

static void test_spring_forward_fires_once_after_the_gap(void **state)
{
    g_autoptr(GTimeZone) berlin = g_time_zone_new_identifier("Europe/Berlin");
    assert_non_null(berlin);
    /* 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist. */
    gint64 before = at(berlin, 2026, 3, 29, 1, 0);
    expect_next("30 2 * * *", berlin, before, "2026-03-29 03:00 +0200");
    g_autoptr(CronSchedule) c = cron_parse("30 2 * * *", NULL);
    gint64 fired = cron_next(c, berlin, before);
    g_autofree char *next = show(berlin, cron_next(c, berlin, fired));
    assert_string_equal(next, "2026-03-30 02:30 +0200");
}

static void test_fall_back_fires_once_in_the_repeated_hour(void **state)
{
    g_autoptr(GTimeZone) berlin = g_time_zone_new_identifier("Europe/Berlin");
    assert_non_null(berlin);
    /* 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice. */
    g_autoptr(CronSchedule) c = cron_parse("30 2 * * *", NULL);
    gint64 t = cron_next(c, berlin, at(berlin, 2026, 10, 25, 0, 0));
    gint64 again = cron_next(c, berlin, t);
    g_autofree char *first = show(berlin, t);
    g_autofree char *second = show(berlin, again);
    assert_string_equal(second, "2026-10-26 02:30 +0100");
    assert_true(g_str_has_prefix(first, "2026-10-25 02:30"));
}

static void test_bad_expressions_are_named(void **state)
{
    const char *bad[] = {"0 2 * *",   "60 * * * *",  "* 24 * * *",  "* * 0 * *", "* * * 13 *",
                         "* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "* * * JAN *"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(CronSchedule) c = cron_parse(bad[i], &e);
        if (c)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(e);
    }
    g_autoptr(GError) e = NULL;
    g_autoptr(CronSchedule) c = cron_parse("61 2 * * *", &e);
    assert_non_null(strstr(e->message, "minute field '61'"));
    assert_true(g_error_matches(e, CRON_ERROR, CRON_ERROR_VALUE));
    g_autoptr(GError) e2 = NULL;
    g_autoptr(CronSchedule) c2 = cron_parse("0 2 * *", &e2);
    assert_true(g_error_matches(e2, CRON_ERROR, CRON_ERROR_FIELDS));
}

static void test_a_day_that_never_comes_gives_no_time(void **state)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(CronSchedule) c = cron_parse("0 0 31 2 *", NULL);
    assert_non_null(c);
    assert_int_equal(cron_next(c, utc, at(utc, 2026, 1, 1, 0, 0)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nightly_fires_at_two_the_next_day),
        cmocka_unit_test(test_month_ends_and_leap_days),
        cmocka_unit_test(test_day_of_month_or_day_of_week_as_vixie_cron),
        cmocka_unit_test(test_spring_forward_fires_once_after_the_gap),
        cmocka_unit_test(test_fall_back_fires_once_in_the_repeated_hour),
        cmocka_unit_test(test_bad_expressions_are_named),
        cmocka_unit_test(test_a_day_that_never_comes_gives_no_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
