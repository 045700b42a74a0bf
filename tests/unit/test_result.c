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
    p->dscp = 46;
    p->qos_out = (QosSample){TRUE, 80, 80, G_GUINT64_CONSTANT(1) << 46};
    p->qos_in = (QosSample){TRUE, 70, 60, (G_GUINT64_CONSTANT(1) << 46) | 1};
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
    p->local.relay_transport = g_strdup("udp");
}

/* The ICE record of a path where the UDP relay lost to TCP. */
static IceRecord *sample_record(void)
{
    IceRecord *r = ice_record_new();
    CandidateInfo *l = candidate_info_new();
    l->type = g_strdup("relay");
    l->transport = g_strdup("tcp");
    l->address = g_strdup("203.0.113.10:49200");
    l->interface = g_strdup("eth0");
    l->interface_class = g_strdup("physical");
    l->relay_transport = g_strdup("tcp");
    g_ptr_array_add(r->local, l);
    /* IPv6 host candidates: on the home's prefix, and the tunnel's ULA. */
    static const char *const v6[][3] = {{"[2001:db8:1:1::10]:40002", "eth0", "physical"},
                                        {"[fd00:64::2]:40004", "gpd0", "tunnel"}};
    for (gsize i = 0; i < G_N_ELEMENTS(v6); i++) {
        CandidateInfo *h = candidate_info_new();
        h->type = g_strdup("host");
        h->transport = g_strdup("udp");
        h->address = g_strdup(v6[i][0]);
        h->interface = g_strdup(v6[i][1]);
        h->interface_class = g_strdup(v6[i][2]);
        g_ptr_array_add(r->local, h);
    }
    CandidateInfo *rc = candidate_info_new();
    rc->type = g_strdup("relay");
    rc->transport = g_strdup("udp");
    rc->address = g_strdup("203.0.113.10:49300");
    g_ptr_array_add(r->remote, rc);
    IcePair *p = g_new0(IcePair, 1);
    p->local = candidate_info_label(l);
    p->remote = candidate_info_label(rc);
    p->state = g_strdup("succeeded");
    p->nominated = TRUE;
    g_ptr_array_add(r->pairs, p);
    IcePair *q = g_new0(IcePair, 1);
    q->local = g_strdup("host 100.64.0.2:4000/udp");
    q->remote = g_strdup("relay 203.0.113.10:49300/udp");
    q->state = g_strdup("failed");
    q->why = g_strdup("timeout: no answer to its checks");
    g_ptr_array_add(r->pairs, q);
    r->pairs_omitted = 3;
    IceGivenUp *g = g_new0(IceGivenUp, 1);
    g->transport = g_strdup("udp");
    g->what = g_strdup("TURN UDP allocation");
    g->why = g_strdup("no answer");
    g_ptr_array_add(r->given_up, g);
    return r;
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
    p->ice_record = sample_record();
    PathRecord *q = run_result_add_path(r, "relay");
    fill_path(q);
    q->ice_record = sample_record();
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
    assert_int_equal(p->dscp, 46);
    assert_true(p->qos_out.have && p->qos_in.have);
    assert_int_equal(p->qos_in.seen, 70);
    assert_int_equal(p->qos_in.marked, 60);
    assert_true(p->qos_in.values == ((G_GUINT64_CONSTANT(1) << 46) | 1));
    assert_string_equal(p->sides[0]->pair_final, "ready");
    assert_ptr_equal(p->in.codec, emodel_codec_lookup("amr-wb"));
    assert_float_equal(p->in.burst_r, 1.75, 1e-12);
}

/* A relay path's own connection, counted in bytes (SIO_TCP_INFO) or segments:
 * what counted it is said, and the unit with it. */
static void test_a_connection_count_keeps_its_unit(void **state)
{
    const ConnCounter by[] = {CONN_COUNTER_SIO_TCP_INFO, CONN_COUNTER_ESTATS};
    const char *member[] = {"\"tx_bytes\":30000", "\"tx_packets\":30000"};
    const char *name[] = {"\"counted_by\":\"SIO_TCP_INFO\"",
                          "\"counted_by\":\"GetPerTcpConnectionEStats\""};
    for (int i = 0; i < 2; i++) {
        g_autoptr(RunResult) r = run_result_new("t");
        PathRecord *p = run_result_add_path(r, "relay-tcp");
        p->have_counters = TRUE;
        p->tunnel_interface = g_strdup("gpd0");
        p->tunnel_tx = 30000;
        p->tunnel_rx = 20000;
        p->counters_per_connection = TRUE;
        p->counted_by = by[i];
        g_autofree char *text = run_result_to_string(r, FALSE);
        assert_non_null(strstr(text, member[i]));
        assert_non_null(strstr(text, name[i]));
        g_autoptr(GError) error = NULL;
        g_autoptr(RunResult) back = run_result_from_json(text, strlen(text), &error);
        assert_null(error);
        const PathRecord *q = run_result_find_path(back, "relay-tcp");
        assert_int_equal(q->counted_by, by[i]);
        assert_int_equal(q->tunnel_tx, 30000);
        assert_int_equal(q->tunnel_rx, 20000);
        assert_true(q->counters_per_connection);
    }
}

/* A candidate's "ip:port" as an address: both families, a bare one, and no
 * address where there is none. */
static void test_a_candidate_address_parses(void **state)
{
    const char *in[][2] = {{"192.0.2.7:50000", "192.0.2.7"},
                           {"[fd00::5]:50002", "fd00::5"},
                           {"fd00::5", "fd00::5"},
                           {"100.64.0.2", "100.64.0.2"}};
    for (gsize i = 0; i < G_N_ELEMENTS(in); i++) {
        g_autoptr(GInetAddress) a = candidate_inet_address(in[i][0]);
        assert_non_null(a);
        g_autofree char *s = g_inet_address_to_string(a);
        assert_string_equal(s, in[i][1]);
    }
    assert_null(candidate_inet_address(NULL));
    assert_null(candidate_inet_address(""));
    assert_null(candidate_inet_address("edge.example:3478"));
    assert_null(candidate_inet_address("[fd00::5:50002"));
}

static void test_the_ice_record_reads_back(void **state)
{
    g_autoptr(RunResult) r = full_result();
    g_autofree char *text = run_result_to_string(r, FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(RunResult) back = run_result_from_json(text, strlen(text), &error);
    assert_null(error);
    const PathRecord *p = run_result_find_path(back, "natural");
    const IceRecord *ir = p->ice_record;
    assert_non_null(ir);
    assert_int_equal(ir->local->len, 3);
    const CandidateInfo *l = ir->local->pdata[0];
    const CandidateInfo *ula = ir->local->pdata[2];
    assert_string_equal(ula->address, "[fd00:64::2]:40004");
    assert_string_equal(ula->interface_class, "tunnel");
    assert_string_equal(l->relay_transport, "tcp");
    assert_string_equal(l->interface_class, "physical");
    assert_null(l->egress_interface); /* a gathered candidate has no egress */
    assert_int_equal(ir->pairs->len, 2);
    const IcePair *pair = ir->pairs->pdata[0];
    assert_string_equal(pair->local, "relay 203.0.113.10:49200/tcp");
    assert_true(pair->nominated);
    assert_null(pair->why);
    assert_string_equal(((IcePair *)ir->pairs->pdata[1])->why, "timeout: no answer to its checks");
    assert_int_equal(ir->pairs_omitted, 3);
    assert_string_equal(((IceGivenUp *)ir->given_up->pdata[0])->what, "TURN UDP allocation");
    assert_string_equal(p->local.relay_transport, "udp");
    /* A paired run's record is in each side only, not again at the path's top. */
    const PathRecord *q = run_result_find_path(back, "relay");
    assert_null(q->ice_record);
    assert_non_null(q->sides[0]->ice_record);
    assert_null(q->sides[1]->ice_record);
    g_autoptr(PathRecord) copy = path_record_copy(p);
    assert_int_equal(copy->ice_record->given_up->len, 1);
}

static void test_a_document_without_the_ice_record_reads(void **state)
{
    static const char text[] =
        "{\"schema\":\"iceprobe.run/1\",\"run_id\":\"x\",\"profile\":\"p\","
        "\"started_at\":\"2026-11-22T02:00:00Z\",\"verdict\":\"pass\",\"paths\":[{\"name\":"
        "\"natural\",\"verdict\":\"pass\",\"ice\":{\"nomination\":\"aggressive\","
        "\"controlling\":true,\"pair_changes\":[]}},{\"name\":\"relay\",\"verdict\":\"pass\"}]}";
    g_autoptr(GError) error = NULL;
    g_autoptr(RunResult) back = run_result_from_json(text, strlen(text), &error);
    assert_null(error);
    assert_null(((PathRecord *)back->paths->pdata[0])->ice_record);
    assert_null(((PathRecord *)back->paths->pdata[1])->ice_record);
    g_autofree char *again = run_result_to_string(back, FALSE);
    assert_null(strstr(again, "given_up"));
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
#define COUNTERS(egress)                                                                           \
    HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","              \
              "\"tunnel_counters\":{\"interface\":\"gpd0\",\"tx_packets\":1,\"rx_packets\":1,"     \
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
#define CONNECTION(members)                                                                        \
    HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\","              \
              "\"tunnel_counters\":{\"interface\":\"gpd0\"," members "}}]}"
    expect_error(CONNECTION("\"tx_packets\":1,\"source\":\"interface\",\"counted_by\":\"TCP_INFO\""),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.counted_by: only with source connection");
    expect_error(CONNECTION("\"tx_packets\":1,\"source\":\"connection\",\"counted_by\":\"netstat\""),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.counted_by: neither TCP_INFO");
    expect_error(CONNECTION("\"tx_packets\":1,\"source\":\"connection\","
                            "\"counted_by\":\"SIO_TCP_INFO\""),
                 JSONIN_ERROR_FIELD,
                 "paths[0].tunnel_counters.tx_packets: not with counted_by SIO_TCP_INFO");
    expect_error(CONNECTION("\"rx_bytes\":1,\"source\":\"connection\",\"counted_by\":\"TCP_INFO\""),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.rx_bytes: only with counted_by");
    expect_error(CONNECTION("\"tx_bytes\":-1,\"source\":\"connection\","
                            "\"counted_by\":\"SIO_TCP_INFO\""),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.tx_bytes");
    expect_error(CONNECTION("\"tx_bytes\":1,\"source\":\"connection\","
                            "\"counted_by\":\"SIO_TCP_INFO\""),
                 JSONIN_ERROR_FIELD, "paths[0].tunnel_counters.rx_bytes: missing");
#undef CONNECTION
#define QOS(qos) HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\",\"verdict\":\"pass\",\"qos\":" qos "}]}"
    expect_error(QOS("{\"dscp\":64}"), JSONIN_ERROR_FIELD, "paths[0].qos.dscp");
    expect_error(QOS("{\"dscp\":46,\"in\":{\"seen\":5,\"marked\":6,\"values\":[46]}}"),
                 JSONIN_ERROR_FIELD, "paths[0].qos.in.marked: more than seen");
    expect_error(QOS("{\"dscp\":46,\"out\":{\"seen\":5,\"marked\":5,\"values\":[46,64]}}"),
                 JSONIN_ERROR_FIELD, "paths[0].qos.out.values[1]: not a DSCP (0-63)");
    expect_error(QOS("{\"dscp\":46,\"out\":{\"seen\":5,\"marked\":5}}"),
                 JSONIN_ERROR_FIELD, "paths[0].qos.out.values: missing");
#undef QOS
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

/* A document whose path has this "ice" member. */
static char *with_ice(const char *ice)
{
    return g_strdup_printf(HEAD TIME "\"verdict\":\"pass\",\"paths\":[{\"name\":\"n\","
                                     "\"verdict\":\"pass\",\"ice\":%s}]}",
                           ice);
}

/* n copies of item, comma-separated, in brackets. */
static char *json_list(const char *item, guint n)
{
    GString *s = g_string_new("[");
    for (guint i = 0; i < n; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", item);
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

static void test_the_ice_record_is_capped(void **state)
{
    static const char pair[] = "{\"local\":\"a\",\"remote\":\"b\",\"state\":\"failed\"}";
    static const char cand[] = "{\"type\":\"host\",\"transport\":\"udp\",\"address\":\"x\"}";
    static const char gave[] = "{\"transport\":\"udp\",\"what\":\"w\",\"why\":\"y\"}";
    g_autofree char *pairs = json_list(pair, RESULT_ICE_MAX_PAIRS + 1);
    g_autofree char *pairs_ice = g_strdup_printf("{\"pairs\":%s}", pairs);
    g_autofree char *doc1 = with_ice(pairs_ice);
    expect_error(doc1, JSONIN_ERROR_FIELD, "paths[0].ice.pairs: more than 256 items");
    g_autofree char *cands = json_list(cand, RESULT_ICE_MAX_CANDIDATES + 1);
    g_autofree char *cands_ice =
        g_strdup_printf("{\"candidates\":{\"local\":[],\"remote\":%s}}", cands);
    g_autofree char *doc2 = with_ice(cands_ice);
    expect_error(doc2, JSONIN_ERROR_FIELD, "paths[0].ice.candidates.remote: more than 64 items");
    g_autofree char *gaves = json_list(gave, RESULT_ICE_MAX_GIVEN_UP + 1);
    g_autofree char *gave_ice = g_strdup_printf("{\"given_up\":%s}", gaves);
    g_autofree char *doc3 = with_ice(gave_ice);
    expect_error(doc3, JSONIN_ERROR_FIELD, "paths[0].ice.given_up: more than 16 items");
    g_autofree char *long_why = g_strnfill(RESULT_ICE_MAX_STRING + 1, 'w');
    g_autofree char *why_ice = g_strdup_printf(
        "{\"pairs\":[{\"local\":\"a\",\"remote\":\"b\",\"state\":\"failed\",\"why\":\"%s\"}]}",
        long_why);
    g_autofree char *doc4 = with_ice(why_ice);
    expect_error(doc4, JSONIN_ERROR_FIELD, "paths[0].ice.pairs[0].why: longer than 512 bytes");
    g_autofree char *doc5 =
        with_ice("{\"pairs\":[{\"local\":\"a\",\"remote\":\"b\",\"state\":\"melting\"}]}");
    expect_error(doc5, JSONIN_ERROR_FIELD, "paths[0].ice.pairs[0].state: 'melting' is not");
    g_autofree char *doc6 = with_ice("{\"candidates\":{\"local\":[{\"address\":\"x\"}]}}");
    expect_error(doc6, JSONIN_ERROR_FIELD, "paths[0].ice.candidates.local[0].type: missing");
    g_autofree char *doc7 = with_ice("{\"given_up\":[{\"transport\":\"udp\",\"what\":\"w\"}]}");
    expect_error(doc7, JSONIN_ERROR_FIELD, "paths[0].ice.given_up[0].why: missing");
    /* At the caps exactly, it reads. */
    g_autofree char *full = json_list(pair, RESULT_ICE_MAX_PAIRS);
    g_autofree char *full_ice = g_strdup_printf("{\"pairs\":%s}", full);
    g_autofree char *doc8 = with_ice(full_ice);
    g_autoptr(RunResult) ok = run_result_from_json(doc8, strlen(doc8), NULL);
    assert_non_null(ok);
    assert_int_equal(((PathRecord *)ok->paths->pdata[0])->ice_record->pairs->len,
                     RESULT_ICE_MAX_PAIRS);
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
        cmocka_unit_test(test_a_connection_count_keeps_its_unit),
        cmocka_unit_test(test_a_candidate_address_parses),
        cmocka_unit_test(test_the_ice_record_reads_back),
        cmocka_unit_test(test_a_document_without_the_ice_record_reads),
        cmocka_unit_test(test_the_ice_record_is_capped),
        cmocka_unit_test(test_a_time_that_never_came_is_null),
        cmocka_unit_test(test_errors_name_the_member_that_was_wrong),
        cmocka_unit_test(test_sizes_and_depth_are_capped_before_parsing),
        cmocka_unit_test(test_a_findings_severity_comes_from_its_code),
        cmocka_unit_test(test_depth_scan_ignores_brackets_in_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
