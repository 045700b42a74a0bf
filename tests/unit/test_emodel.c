/* The E-model against figures ITU-T publishes: G.107's default rating, its
 * R-to-MOS mapping at the G.109 category bounds, the delay and loss terms
 * worked by hand from G.107's equations, G.107.1's wideband scale, and the
 * burst ratio of known loss patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "iceprobe/emodel.h"

static const EmodelCodec *codec(const char *name)
{
    const EmodelCodec *c = emodel_codec_lookup(name);
    assert_non_null(c);
    return c;
}

static void test_defaults_give_g107s_rating(void **state)
{
    /* G.107 §7.7: with every parameter at its default, R = 93.2 (Ro = 94.77).
     * Ie = 0 and no loss, so any G.711 shape is the default connection. */
    EmodelTerms t;
    double r = emodel_r(codec("g711-noplc"), 0, 0, 1, &t);
    assert_float_equal(r, 93.2, 0.05);
    assert_float_equal(t.ro, 94.77, 0.01);
    assert_float_equal(t.is, 1.41, 0.01);
    assert_float_equal(t.idte, 0, 1e-12); /* T = 0 */
    assert_float_equal(t.idle, 0.15, 0.01);
    assert_float_equal(t.idd, 0, 1e-12);
    assert_float_equal(t.ie_eff, 0, 1e-12);
    assert_float_equal(emodel_r(codec("g711"), 0, 0, 1, NULL), r, 1e-12);
}

static void test_mos_at_g109_category_bounds(void **state)
{
    /* G.109 Table 1 (from G.107 Annex B): R 90, 80, 70, 60, 50 are MOS 4.34,
     * 4.03, 3.60, 3.10, 2.58, to the table's two decimals (the formula gives
     * 4.024 at 80); the ends clamp. */
    assert_float_equal(emodel_mos_from_r(90), 4.34, 0.01);
    assert_float_equal(emodel_mos_from_r(80), 4.03, 0.01);
    assert_float_equal(emodel_mos_from_r(70), 3.60, 0.01);
    assert_float_equal(emodel_mos_from_r(60), 3.10, 0.01);
    assert_float_equal(emodel_mos_from_r(50), 2.58, 0.01);
    assert_float_equal(emodel_mos_from_r(93.2), 4.409285824, 1e-9);
    assert_float_equal(emodel_mos_from_r(-5), 1.0, 1e-12);
    assert_float_equal(emodel_mos_from_r(120), 4.5, 1e-12);
}

static void test_absolute_delay_term(void **state)
{
    /* (7-27, 7-28) by hand: no impairment up to mT = 100 ms; at Ta = 200 ms
     * X = 1 and Idd = 25 (2^(1/6) - 3 (1 + 3^-6)^(1/6) + 2) = 3.0444; at 400 ms
     * X = 2 and Idd = 25 (65^(1/6) - 3 (1 + (2/3)^6)^(1/6) + 2) = 24.070. */
    assert_float_equal(emodel_idd(50), 0, 1e-12);
    assert_float_equal(emodel_idd(100), 0, 1e-12);
    assert_float_equal(emodel_idd(200), 3.0444, 0.0005);
    assert_float_equal(emodel_idd(400), 24.070, 0.001);
    /* Delay costs the rating: the talker echo term (TELR 65 dB) grows with T,
     * then Idd from 100 ms; G.114's curve keeps R near 90 at 150 ms. */
    EmodelTerms t;
    double r150 = emodel_r(codec("g711"), 150, 0, 1, &t);
    assert_true(t.idte > 2 && t.idte < 3.5);
    assert_true(r150 > 88.5 && r150 < 91);
    assert_true(emodel_r(codec("g711"), 300, 0, 1, NULL) < 80);
}

static void test_effective_equipment_impairment(void **state)
{
    /* (7-29): G.711 with PLC (Bpl 25.1), 2 % random loss: 95 * 2 / 27.1. */
    assert_float_equal(emodel_ie_eff(0, 25.1, 2, 1), 7.0111, 0.0001);
    /* the same losses in bursts (BurstR 2): 95 * 2 / (1 + 25.1) */
    assert_float_equal(emodel_ie_eff(0, 25.1, 2, 2), 7.2797, 0.0001);
    /* G.729A (Ie 11, Bpl 19), 1 %: 11 + 84 / 20 */
    assert_float_equal(emodel_ie_eff(11, 19, 1, 1), 15.2, 1e-9);
    /* without concealment the same 1 % costs far more: 95 / 5.3 */
    assert_float_equal(emodel_ie_eff(0, 4.3, 1, 1), 17.9245, 0.0001);
    assert_float_equal(emodel_ie_eff(11, 19, 0, 1), 11, 1e-12);
    /* all lost: Ie,eff = 95 * 100 / 125.1 = 75.9, MOS near the bottom */
    assert_float_equal(emodel_ie_eff(0, 25.1, 100, 1), 75.94, 0.01);
    assert_true(emodel_mos(codec("g711"), emodel_r(codec("g711"), 20, 100, 1, NULL)) < 1.5);
    /* the codec's Ie counts with no loss at all */
    assert_float_equal(emodel_r(codec("g729a"), 0, 0, 1, NULL),
                       emodel_r(codec("g711"), 0, 0, 1, NULL) - 11, 1e-9);
}

static void test_wideband_scale(void **state)
{
    /* G.107.1: Ro,WB = 129, AMR-WB 12.65 kbit/s Ie,WB = 13 (G.113 Table IV.1),
     * and its MOS is G.107's mapping of R / 1.29 (Annex A): 116 / 1.29 = 89.92,
     * MOS 4.337. */
    const EmodelCodec *wb = codec("amr-wb");
    assert_true(wb->wideband);
    double r = emodel_r(wb, 0, 0, 1, NULL);
    assert_float_equal(r, 116, 1e-9);
    assert_float_equal(emodel_mos(wb, r), 4.3371, 0.0005);
    /* Loss uses the same (7-29) with the wideband Bpl, 4.3: 1 % costs 17.3 R. */
    assert_float_equal(emodel_r(wb, 0, 1, 1, NULL), 116 - (95 - 13) * 1 / 5.3, 1e-9);
    /* Delay costs the same Idd as narrowband. */
    assert_float_equal(emodel_r(wb, 200, 0, 1, NULL), 116 - emodel_idd(200), 1e-9);
}

static void pattern(guint8 *got, gsize n, gsize good, gsize bad)
{
    for (gsize i = 0; i < n; i++)
        got[i] = i % (good + bad) < good;
}

static void test_burst_ratio_of_known_patterns(void **state)
{
    guint8 got[1000];
    /* 10 % lost in runs of 5: p = 1/45, q = 1/5, BurstR = 1 / (p + q) = 4.5,
     * which G.107 also writes (Ppl / 100) / p = 0.1 * 45. Over 995 packets
     * (19 runs, ending on arrivals) p = 19/899, q = 19/95: 4.522. */
    pattern(got, 995, 45, 5);
    assert_float_equal(emodel_burst_ratio(got, 995), 4.522, 0.001);
    /* every tenth lost: more scattered than random, counted as random */
    pattern(got, 1000, 9, 1);
    assert_float_equal(emodel_burst_ratio(got, 1000), 1, 1e-12);
    /* nothing lost, everything lost, nothing at all */
    memset(got, 1, sizeof(got));
    assert_float_equal(emodel_burst_ratio(got, 1000), 1, 1e-12);
    memset(got, 0, sizeof(got));
    assert_float_equal(emodel_burst_ratio(got, 1000), 1, 1e-12);
    assert_float_equal(emodel_burst_ratio(got, 0), 1, 1e-12);
    /* A seeded random 5 % loss comes out near 1. */
    GRand *rand = g_rand_new_with_seed(7);
    for (gsize i = 0; i < 1000; i++)
        got[i] = g_rand_double(rand) >= 0.05;
    g_rand_free(rand);
    double b = emodel_burst_ratio(got, 1000);
    assert_true(b >= 1 && b < 1.3);
}

static void test_codecs_by_name(void **state)
{
    assert_ptr_equal(emodel_codec_lookup("G711"), emodel_codec_default());
    assert_null(emodel_codec_lookup("opus"));
    assert_null(emodel_codec_lookup(NULL));
    assert_non_null(strstr(emodel_codec_names(), "amr-wb"));
    /* A NULL codec is the default one. */
    assert_float_equal(emodel_r(NULL, 40, 1, 1, NULL), emodel_r(codec("g711"), 40, 1, 1, NULL),
                       1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_give_g107s_rating),
        cmocka_unit_test(test_mos_at_g109_category_bounds),
        cmocka_unit_test(test_absolute_delay_term),
        cmocka_unit_test(test_effective_equipment_impairment),
        cmocka_unit_test(test_wideband_scale),
        cmocka_unit_test(test_burst_ratio_of_known_patterns),
        cmocka_unit_test(test_codecs_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
