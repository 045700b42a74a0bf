#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/jsonin.h"
#include "iceprobe/result.h"

static void fill_metrics(MetricsSummary *m, double base)
{
    m->packets_sent = 500;
    m->packets_received = 498;
    m->loss_ratio = 0.004;
    m->jitter_ms = base;
    m->reordered = 1;
    m->duplicates = 2;
    m->rtt_samples = 480;
    m->rtt_min_ms = 0.25;
    m->rtt_median_ms = 0.5;
    m->rtt_p95_ms = 1.5;
    m->rtt_max_ms = 3.25;
    m->mos = 4.375;
    m->codec = emodel_codec_lookup("amr-wb");
    m->r_factor = 112.5;
    m->burst_r = 1.75;
    m->mos_delay_ms = 21.5;
}

static void fill_path(PathRecord *p)
{
    p->verdict = VERDICT_WARN;
    p->reason = g_strdup("relay/udp via eth0");
    p->have_pair = TRUE;
    p->local.type = g_strdup("relay");
    p->local.transport = g_strdup("udp");
    p->local.address = g_strdup("203.0.113.10:49200");
    p->local.base_address = g_strdup("10.254.1.10:40000");
    p->local.interface = g_strdup("eth0");
    p->local.interface_class = g_strdup("physical");
    p->local.egress_interface = g_strdup("eth0");
    p->local.egress_class = g_strdup("physical");
    p->remote.type = g_strdup("relay");
    p->remote.transport = g_strdup("udp");
    p->remote.address = g_strdup("203.0.113.10:49300");
    p->have_counters = TRUE;
    p->tunnel_interface = g_strdup("gpd0");
    p->tunnel_tx = 3;
    p->tunnel_rx = 1;
    p->have_egress = TRUE;
    p->egress_media_sent = 500;
    p->egress_media_seen = 499;
    p->egress_media_tunnel = 2;
    p->egress_other_tunnel = 1;
    p->have_metrics = TRUE;
    fill_metrics(&p->metrics, 1.25);
    fill_metrics(&p->out, 1.0);
    fill_metrics(&p->in, 1.25);
    p->gather_ms = 12.5;
    p->connect_ms = 40.25;
    p->connected_ms = 12.75;
    p->ready_ms = 40.25;
    p->total_ms = 2100;
    p->nomination = g_strdup("aggressive");
    p->controlling = TRUE;
    p->pair_final = g_strdup("ready");
    PairChange *c = g_new0(PairChange, 1);
    c->at_ms = 12.75;
    c->local = g_strdup("relay 203.0.113.10:49200/udp");
    c->local_interface = g_strdup("eth0");
    c->remote = g_strdup("relay 203.0.113.10:49300/udp");
    c->have_counters = TRUE;
    c->tunnel_tx = 7;
    g_ptr_array_add(p->pair_changes, c);
    static const char *const hosts[][4] = {
        {"udp", "10.254.1.10:40000", "eth0", "physical"},
        {"udp", "[2001:db8:1:1::10]:40002", "eth0", "physical"},
        {"tcp-passive", "[fd00:64::2]:40004", "gpd0", "tunnel"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(hosts); i++) {
        CandidateInfo *h = candidate_info_new();
        h->type = g_strdup("host");
        h->transport = g_strdup(hosts[i][0]);
        h->address = g_strdup(hosts[i][1]);
        h->interface = g_strdup(hosts[i][2]);
        h->interface_class = g_strdup(hosts[i][3]);
        g_ptr_array_add(p->host_candidates, h);
    }
}

static RunResult *full_result(void)
{
    RunResult *r = run_result_new("corp-vpn");
    r->ice_dialect = g_strdup("ms-ice2");
    r->turn_dialect = g_strdup("ms-turn");
    CheckRecord *c = run_result_add_check(r, "dns", VERDICT_PASS, "%s", "edge resolves right");
    c->duration_ms = 3.5;
    json_object_set_string_member(c->detail, "host", "av.corp.example");
    JsonObject *probe = json_object_new();
    json_object_set_string_member(probe, "name", "laptop");
    json_array_add_object_element(r->probes, probe);
    PathRecord *p = run_result_add_path(r, "natural");
    fill_path(p);
    PathRecord *q = run_result_add_path(r, "relay");
    fill_path(q);
    q->sides[0] = path_record_copy(q);
    q->sides[1] = path_record_new("relay");
    JsonObject *e = json_object_new();
    json_object_set_string_member(e, "path", "natural");
    run_result_add_finding(r, "TCP_RELAY_ONLY", e, "%s", "over TCP.");
    run_result_conclude(r);
    return r;
}

static void test_a_document_reads_back_to_the_same_document(void **state)
{
    g_autoptr(RunResult) r = full_result();
    g_autofree char *first = run_result_to_string(r, TRUE);
    g_autoptr(GError) error = NULL;
    g_autoptr(RunResult) back = run_result_from_json(first, strlen(first), &error);
    assert_null(error);
    assert_non_null(back);
    g_autofree char *second = run_result_to_string(back, TRUE);
    assert_string_equal(first, second);
    assert_int_equal(back->verdict, VERDICT_WARN);
    assert_string_equal(back->ice_dialect, "ms-ice2");
    assert_string_equal(back->turn_dialect, "ms-turn");
    const PathRecord *p = run_result_find_path(back, "relay");
    assert_non_null(p->sides[0]);
    assert_non_null(p->sides[1]);
    assert_string_equal(p->sides[0]->local.egress_class, "physical");
    assert_int_equal(p->out.packets_received, 498);
    assert_int_equal(p->pair_changes->len, 1);
    const PairChange *c = p->pair_changes->pdata[0];
    assert_string_equal(c->local_interface, "eth0");
    assert_int_equal(c->tunnel_tx, 7);
    assert_true(p->have_egress);
    assert_int_equal(p->egress_media_seen, 499);
    assert_int_equal(p->sides[0]->egress_media_tunnel, 2);
    assert_string_equal(p->sides[0]->pair_final, "ready");
    assert_int_equal(p->sides[0]->host_candidates->len, 3);
    const CandidateInfo *h = p->sides[0]->host_candidates->pdata[2];
    assert_string_equal(h->address, "[fd00:64::2]:40004");
    assert_string_equal(h->interface_class, "tunnel");
    assert_ptr_equal(p->in.codec, emodel_codec_lookup("amr-wb"));
    assert_float_equal(p->in.burst_r, 1.75, 1e-12);
}

static void test_a_time_that_never_came_is_null(void **state)
{
    g_autoptr(RunResult) r = run_result_new("p");
    PathRecord *p = run_result_add_path(r, "natural");
    p->connected_ms = 5;
    g_autofree char *text = run_result_to_string(r, FALSE);
    assert_non_null(strstr(text, "\"connected\":5"));
    assert_non_null(strstr(text, "\"ready\":null"));
    assert_null(strstr(text, "\"ice\"")); /* no ICE was run */
    g_autoptr(RunResult) back = run_result_from_json(text, strlen(text), NULL);
    assert_non_null(back);
    assert_true(((PathRecord *)back->paths->pdata[0])->ready_ms < 0);
}

static void expect_error(const char *text, JsonInError code, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(RunResult) r = run_result_from_json(text, strlen(text), &error);
    assert_null(r);
    assert_non_null(error);
    assert_int_equal(error->code, code);
    if (!strstr(error->message, message_part))
        fail_msg("'%s' does not say '%s'", error->message, message_part);
}

#define HEAD "{\"schema\":\"iceprobe.run/1\",\"run_id\":\"x\",\"profile\":\"p\","
#define TIME "\"started_at\":\"2026-11-22T02:00:00Z\","

static void test_errors_name_the_member_that_was_wrong(void **state)
{
    expect_error("[1]", JSONIN_ERROR_FIELD, "not a JSON object");
    expect_error("{", JSONIN_ERROR_SYNTAX, "not JSON");
    expect_error("{\"schema\":\"other/2\"}", JSONIN_ERROR_FIELD, "schema: 'other/2'");
    expect_error(HEAD "\"verdict\":\"pass\"}", JSONIN_ERROR_FIELD, "started_at: missing");
    expect_error(HEAD "\"started_at\":\"yesterday\",\"verdict\":\"pass\"}", JSONIN_ERROR_FIELD,
                 "started_at: not an RFC 3339 time");
    expect_error(HEAD TIME "\"verdict\":\"great\"}", JSONIN_ERROR_FIELD, "verdict: 'great'");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","
                           "\"metrics\":{\"loss_ratio\":2}}]}",
                 JSONIN_ERROR_FIELD, "paths[0].metrics.loss_ratio: not a number from 0 to 1");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","
                           "\"sides\":{\"b\":{\"verdict\":\"pass\",\"selected_pair\":{}}}}]}",
                 JSONIN_ERROR_FIELD, "paths[0].sides.b.selected_pair.local: missing");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","
                           "\"ice\":{\"controlling\":1}}]}",
                 JSONIN_ERROR_FIELD, "paths[0].ice.controlling: not true or false");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","
                           "\"ice\":{\"pair_changes\":[{\"at_ms\":1}]}}]}",
                 JSONIN_ERROR_FIELD, "paths[0].ice.pair_changes[0].local: missing");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","
                           "\"ice\":{\"host_candidates\":[{\"interface\":\"eth0\"}]}}]}",
                 JSONIN_ERROR_FIELD, "paths[0].ice.host_candidates[0].address: missing");
    expect_error(HEAD TIME
                 "\"verdict\":\"pass\",\"findings\":[{\"code\":\"NOPE\",\"message\":\"m\"}]}",
                 JSONIN_ERROR_FIELD, "findings[0].code: 'NOPE' is not a finding code");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","
                           "\"metrics\":{\"emodel\":{\"codec\":\"opus\"}}}]}",
                 JSONIN_ERROR_FIELD,
                 "paths[0].metrics.emodel.codec: not a codec the E-model knows");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"checks\":{}}", JSONIN_ERROR_FIELD,
                 "checks: not an array");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"dialect\":{\"ice\":\"ms-ice\","
                           "\"turn\":\"ms-turn\"}}",
                 JSONIN_ERROR_FIELD, "dialect.ice: 'ms-ice' is neither rfc8445 nor ms-ice2");
    expect_error(HEAD TIME "\"verdict\":\"pass\",\"dialect\":{\"ice\":\"rfc8445\"}}",
                 JSONIN_ERROR_FIELD, "dialect.turn: missing");
#define COUNTERS(egress)                                                                       \
    HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","              \
              "\"tunnel_counters\":{\"interface\":\"gpd0\",\"tx_packets\":1,\"rx_packets\":1,"      \
              "\"source\":\"interface\",\"egress\":" egress "}}]}"
    expect_error(COUNTERS("[]"), JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.egress: not");
    expect_error(COUNTERS("{\"media_sent\":5,\"media_seen\":5,\"media_tunnel\":5}"),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.egress.other_tunnel: missing");
    expect_error(COUNTERS("{\"media_sent\":5,\"media_seen\":6,\"media_tunnel\":0,"
                          "\"other_tunnel\":0}"),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.egress.media_seen: more than");
    expect_error(COUNTERS("{\"media_sent\":5,\"media_seen\":4,\"media_tunnel\":5,"
                          "\"other_tunnel\":0}"),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.egress.media_tunnel: more than");
    expect_error(COUNTERS("{\"media_sent\":-1,\"media_seen\":0,\"media_tunnel\":0,"
                          "\"other_tunnel\":0}"),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.egress.media_sent");
#undef COUNTERS
}

static void test_sizes_and_depth_are_capped_before_parsing(void **state)
{
    GString *deep = g_string_new(HEAD TIME "\"verdict\":\"pass\",\"probes\":[");
    for (int i = 0; i < RESULT_MAX_DEPTH + 1; i++)
        g_string_append_c(deep, '[');
    expect_error(deep->str, JSONIN_ERROR_SIZE, "nests deeper");
    g_string_free(deep, TRUE);

    gsize big = RESULT_MAX_JSON_BYTES + 1;
    g_autofree char *huge = g_malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    expect_error(huge, JSONIN_ERROR_SIZE, "over");

    GString *many = g_string_new(HEAD TIME "\"verdict\":\"pass\",\"checks\":[");
    for (int i = 0; i <= RESULT_MAX_ITEMS; i++)
        g_string_append_printf(many, "%s{\"name\":\"c\",\"verdict\":\"pass\"}", i ? "," : "");
    g_string_append(many, "]}");
    expect_error(many->str, JSONIN_ERROR_FIELD, "checks: more than");
    g_string_free(many, TRUE);
}

static void test_a_findings_severity_comes_from_its_code(void **state)
{
    const char *text =
        HEAD TIME "\"verdict\":\"pass\",\"findings\":[{\"code\":\"MEDIA_VIA_TUNNEL\","
                  "\"severity\":\"pass\",\"message\":\"m\"}]}";
    g_autoptr(RunResult) r = run_result_from_json(text, strlen(text), NULL);
    assert_non_null(r);
    assert_int_equal(((Finding *)r->findings->pdata[0])->severity, VERDICT_FAIL);
}

static void test_depth_scan_ignores_brackets_in_strings(void **state)
{
    const char *s = "{\"a\":\"[[[[\\\"{{{\",\"b\":[[1]]}";
    assert_int_equal(jsonin_depth(s, strlen(s)), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_document_reads_back_to_the_same_document),
        cmocka_unit_test(test_a_time_that_never_came_is_null),
        cmocka_unit_test(test_errors_name_the_member_that_was_wrong),
        cmocka_unit_test(test_sizes_and_depth_are_capped_before_parsing),
        cmocka_unit_test(test_a_findings_severity_comes_from_its_code),
        cmocka_unit_test(test_depth_scan_ignores_brackets_in_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
