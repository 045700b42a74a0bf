#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "iceprobe/metrics.h"

#define MS 1000000LL

/* Feeds packets sent every 20 ms with the given transit times (ms). */
static void feed(MetricsStream *m, const guint16 *seq, const double *transit_ms, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        gint64 sent = (gint64)seq[i] * 20 * MS;
        gint64 arrived = sent + (gint64)(transit_ms ? transit_ms[i] * MS : 5 * MS);
        metrics_stream_add_packet(m, seq[i], sent, arrived);
    }
}

static MetricsSummary summarize(const MetricsStream *m, guint64 sent)
{
    MetricsSummary s;
    metrics_stream_summarize(m, sent, 20, NULL, &s);
    return s;
}

static void test_complete_stream_has_no_loss(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 10);
    assert_int_equal(s.packets_received, 10);
    assert_float_equal(s.loss_ratio, 0.0, 1e-12);
    assert_int_equal(s.reordered, 0);
    assert_int_equal(s.duplicates, 0);
}

static void test_loss_is_counted_against_what_was_sent(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 1, 3, 4}; /* 2 lost, and 5 (the last) never came */
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 6);
    assert_int_equal(s.packets_received, 4);
    assert_float_equal(s.loss_ratio, 2.0 / 6.0, 1e-12);
}

static void test_late_packet_counts_as_reordered_not_lost(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 2, 1, 3, 5, 4};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 6);
    assert_int_equal(s.packets_received, 6);
    assert_int_equal(s.reordered, 2);
    assert_float_equal(s.loss_ratio, 0.0, 1e-12);
}

static void test_duplicate_is_counted_once_and_not_as_received(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 1, 1, 2, 1};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 3);
    assert_int_equal(s.packets_received, 3);
    assert_int_equal(s.duplicates, 2);
    assert_int_equal(s.reordered, 0);
}

static void test_sequence_wrap_at_65535_is_not_loss_or_reordering(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {65533, 65534, 65535, 0, 1, 2};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 6);
    assert_int_equal(s.packets_received, 6);
    assert_int_equal(s.reordered, 0);
    assert_int_equal(s.duplicates, 0);
}

static void test_reordering_across_the_wrap_is_seen(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {65534, 0, 65535, 1, 0};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 4);
    assert_int_equal(s.packets_received, 4);
    assert_int_equal(s.reordered, 1);
    assert_int_equal(s.duplicates, 1);
}

static void test_packet_older_than_the_first_is_reordered(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 65535, 1};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    MetricsSummary s = summarize(m, 3);
    assert_int_equal(s.packets_received, 3);
    assert_int_equal(s.reordered, 1);
}

static void test_jitter_matches_rfc3550_for_a_known_delay_pattern(void **state)
{
    /* Transit 10, 12, 10, 14 ms: |D| = 2, 2, 4.
     * J1 = 2/16 = 0.125; J2 = 0.125 + (2 - 0.125)/16 = 0.2421875;
     * J3 = 0.2421875 + (4 - 0.2421875)/16 = 0.47705078125 ms. */
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 1, 2, 3};
    const double transit[] = {10, 12, 10, 14};
    feed(m, seq, transit, 4);
    MetricsSummary s = summarize(m, 4);
    assert_float_equal(s.jitter_ms, 0.47705078125, 1e-9);
}

static void test_constant_delay_has_zero_jitter_whatever_the_clock_offset(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    for (guint16 i = 0; i < 50; i++)
        metrics_stream_add_packet(m, i, i * 20 * MS, i * 20 * MS + 123456789 * MS);
    MetricsSummary s = summarize(m, 50);
    assert_float_equal(s.jitter_ms, 0.0, 1e-12);
}

/* 30 s of packets (1500 at 20 ms): 10 lost one by one in the first 15 s, a
 * burst of 4 at index 1000, and the last 5 lost at the end. */
static void test_windows_find_the_worst_15_s_and_200_ms(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    for (guint16 i = 0; i < 1495; i++) {
        gboolean single = i < 700 && i % 70 == 35;
        gboolean burst = i >= 1000 && i < 1004;
        if (single || burst)
            continue;
        gint64 sent = (gint64)i * 20 * MS;
        metrics_stream_add_packet(m, i, sent, sent + 5 * MS);
    }
    MetricsSummary s = summarize(m, 1500);
    assert_true(s.have_windows);
    assert_int_equal(s.packets_received, 1500 - 10 - 4 - 5);
    /* The worst 750 packets: the 10 singles (indexes 35-665) cannot share a window
     * with the burst (1000) and the 5 lost at the end (1495-1499): 9 + 0 or 4 + 5. */
    assert_float_equal(s.loss_15s_max, 10.0 / 750, 1e-9);
    assert_float_equal(s.burst_loss_200ms_max, 0.5, 1e-9); /* 5 of 10 at the end */
    assert_float_equal(s.jitter_15s_max_ms, 0, 1e-9);      /* constant transit */
    assert_float_equal(s.owdv_max_ms, 0, 1e-9);
}

static void test_one_way_delay_variation_and_window_jitter(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    /* Transit 5 ms, then 25 ms for one second (packets 500-549): a 20 ms step. */
    for (guint16 i = 0; i < 1000; i++) {
        gint64 sent = (gint64)i * 20 * MS + 777 * MS; /* another clock: the offset cancels */
        gint64 transit = (i >= 500 && i < 550 ? 25 : 5) * MS;
        metrics_stream_add_packet(m, i, sent, sent + transit);
    }
    MetricsSummary s = summarize(m, 1000);
    assert_float_equal(s.owdv_p50_ms, 0, 1e-9);
    assert_float_equal(s.owdv_max_ms, 20, 1e-9);
    /* 5 % of the packets are 20 ms later: the 95th percentile falls between the
     * last early one and the first late one (rank 949.05 of 0-999). */
    assert_float_equal(s.owdv_p95_ms, 1.0, 1e-9);
    /* Two steps of 20 ms: the estimator jumps by 20/16 each and decays, about
     * 20 ms in all (1.25 ms x 16) spread over a window of 750 packets. */
    assert_true(s.jitter_15s_max_ms > 0.04 && s.jitter_15s_max_ms < 0.06);
    assert_float_equal(s.reorder_ratio, 0, 1e-12);
}

static void test_percentile_interpolates_between_ranks(void **state)
{
    const double v[] = {1, 2, 3, 4};
    assert_float_equal(metrics_percentile(v, 4, 50), 2.5, 1e-12);
    assert_float_equal(metrics_percentile(v, 4, 95), 3.85, 1e-12);
    assert_float_equal(metrics_percentile(v, 4, 0), 1, 1e-12);
    assert_float_equal(metrics_percentile(v, 4, 100), 4, 1e-12);
    const double one[] = {7};
    assert_float_equal(metrics_percentile(one, 1, 95), 7, 1e-12);
}

static void test_rtt_summary_has_min_median_p95_max(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const double rtt[] = {5, 1, 4, 2, 3}; /* sorted 1..5: median 3, p95 = 4 + 0.8 = 4.8 */
    for (gsize i = 0; i < G_N_ELEMENTS(rtt); i++)
        metrics_stream_add_rtt(m, rtt[i]);
    metrics_stream_add_rtt(m, -1); /* nonsense is ignored */
    MetricsSummary s = summarize(m, 0);
    assert_int_equal(s.rtt_samples, 5);
    assert_float_equal(s.rtt_min_ms, 1, 1e-12);
    assert_float_equal(s.rtt_median_ms, 3, 1e-12);
    assert_float_equal(s.rtt_p95_ms, 4.8, 1e-12);
    assert_float_equal(s.rtt_max_ms, 5, 1e-12);
}

static void test_mos_rates_the_summary_for_its_codec(void **state)
{
    /* The delay budget for RTT 1, jitter 1, ptime 20: 0.5 + 2 + 20 = 22.5 ms;
     * 5 % random loss on G.711 with concealment. */
    MetricsSummary s = {.rtt_median_ms = 1, .jitter_ms = 1, .loss_ratio = 0.05, .burst_r = 1};
    metrics_rate(&s, NULL, 20);
    assert_ptr_equal(s.codec, emodel_codec_default());
    assert_float_equal(s.mos_delay_ms, 22.5, 1e-12);
    assert_float_equal(s.r_factor, emodel_r(s.codec, 22.5, 5, 1, NULL), 1e-12);
    assert_float_equal(s.mos, emodel_mos_from_r(s.r_factor), 1e-12);
    double random_mos = s.mos;
    /* The same loss in bursts rates lower; G.729A lower still. */
    s.burst_r = 4;
    metrics_rate(&s, NULL, 20);
    assert_true(s.mos < random_mos);
    metrics_rate(&s, emodel_codec_lookup("g729a"), 20);
    assert_true(s.mos < 3.6);
}

static void test_copies_stopped_by_srtp_are_duplicates(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    const guint16 seq[] = {0, 1, 2};
    feed(m, seq, NULL, G_N_ELEMENTS(seq));
    metrics_stream_add_duplicate(m);
    MetricsSummary s = summarize(m, 3);
    assert_int_equal(s.packets_received, 3);
    assert_int_equal(s.duplicates, 1);
    assert_float_equal(s.loss_ratio, 0, 1e-12);
}

static void test_bursty_losses_have_a_burst_ratio(void **state)
{
    /* 495 packets, lost in runs of 5 every 50 (45 of them): p = 9/449, q = 9/45,
     * BurstR = 1 / (p + q) = 4.545. */
    g_autoptr(MetricsStream) m = metrics_stream_new();
    for (guint i = 0; i < 495; i++) {
        if (i % 50 < 45)
            metrics_stream_add_packet(m, (guint16)i, (gint64)i * 20 * MS,
                                      (gint64)i * 20 * MS + 5 * MS);
    }
    MetricsSummary s = summarize(m, 495);
    assert_float_equal(s.loss_ratio, 45.0 / 495, 1e-12);
    assert_float_equal(s.burst_r, 4.545, 0.001);
    assert_float_equal(
        s.mos, emodel_mos_from_r(emodel_r(NULL, s.mos_delay_ms, 100.0 * 45 / 495, s.burst_r, NULL)),
        1e-12);
}

/* The stream of test_bursty_losses_have_a_burst_ratio, shifted so that its
 * first burst opens it: the first 5 packets are lost. Given the sender's first
 * sequence number (across the 16-bit wrap here), the losses before the first
 * packet seen are placed: 9 bursts of 5, and a 200 ms window of 5 lost of 10
 * at the start. */
static void test_the_origin_places_losses_before_the_first_packet_seen(void **state)
{
    for (int given = 0; given <= 1; given++) {
        g_autoptr(MetricsStream) m = metrics_stream_new();
        guint16 seq0 = 65533;
        if (given)
            metrics_stream_set_origin(m, seq0);
        for (guint i = 0; i < 495; i++) {
            if (i >= 450 || i % 50 >= 5)
                metrics_stream_add_packet(m, (guint16)(seq0 + i), (gint64)i * 20 * MS,
                                          (gint64)i * 20 * MS + 5 * MS);
        }
        MetricsSummary s = summarize(m, 495);
        assert_int_equal(s.packets_received, 495 - 45);
        assert_int_equal(s.reordered, 0);
        if (given) {
            /* p = 8/449 (the last packet has no successor), q = 9/45 */
            assert_float_equal(s.burst_r, 1.0 / (8.0 / 449 + 9.0 / 45), 1e-9);
            assert_float_equal(s.burst_loss_200ms_max, 0.5, 1e-9);
        } else {
            /* Without it the leading burst lands after the last packet. */
            assert_true(fabs(s.burst_r - 1.0 / (8.0 / 449 + 9.0 / 45)) > 0.05);
        }
    }
}

/* The origin known, a packet reordered ahead of the first one: it is still
 * tracked (a copy of the first is a duplicate, not a second arrival). */
static void test_with_the_origin_a_packet_before_the_first_seen_is_tracked(void **state)
{
    g_autoptr(MetricsStream) m = metrics_stream_new();
    metrics_stream_set_origin(m, 100);
    guint16 order[] = {101, 100, 100, 102, 103};
    feed(m, order, NULL, G_N_ELEMENTS(order));
    MetricsSummary s = summarize(m, 4);
    assert_int_equal(s.packets_received, 4);
    assert_int_equal(s.reordered, 1);
    assert_int_equal(s.duplicates, 1);
    assert_float_equal(s.burst_loss_200ms_max, 0, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_stream_has_no_loss),
        cmocka_unit_test(test_loss_is_counted_against_what_was_sent),
        cmocka_unit_test(test_late_packet_counts_as_reordered_not_lost),
        cmocka_unit_test(test_duplicate_is_counted_once_and_not_as_received),
        cmocka_unit_test(test_sequence_wrap_at_65535_is_not_loss_or_reordering),
        cmocka_unit_test(test_reordering_across_the_wrap_is_seen),
        cmocka_unit_test(test_packet_older_than_the_first_is_reordered),
        cmocka_unit_test(test_jitter_matches_rfc3550_for_a_known_delay_pattern),
        cmocka_unit_test(test_constant_delay_has_zero_jitter_whatever_the_clock_offset),
        cmocka_unit_test(test_windows_find_the_worst_15_s_and_200_ms),
        cmocka_unit_test(test_one_way_delay_variation_and_window_jitter),
        cmocka_unit_test(test_percentile_interpolates_between_ranks),
        cmocka_unit_test(test_rtt_summary_has_min_median_p95_max),
        cmocka_unit_test(test_mos_rates_the_summary_for_its_codec),
        cmocka_unit_test(test_copies_stopped_by_srtp_are_duplicates),
        cmocka_unit_test(test_bursty_losses_have_a_burst_ratio),
        cmocka_unit_test(test_the_origin_places_losses_before_the_first_packet_seen),
        cmocka_unit_test(test_with_the_origin_a_packet_before_the_first_seen_is_tracked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
