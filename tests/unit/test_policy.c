#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/policy.h"

static Profile *profile(void)
{
    const char *text = "[profile]\nname=t\n[edge]\nhost=h\nusername=u\npassword_file=" UNIT_DATA_DIR
                       "/turn.password\n";
    Profile *p = profile_load_from_data(text, strlen(text), NULL, "t", NULL);
    assert_non_null(p);
    return p;
}

static void set_pair(PathRecord *p, const char *type, const char *transport, const char *klass,
                     const char *egress_class)
{
    p->have_pair = TRUE;
    p->local.type = g_strdup(type);
    p->local.transport = g_strdup(transport);
    p->local.address = g_strdup("192.0.2.7:50000");
    p->local.interface = g_strdup(strcmp(klass, "tunnel") == 0 ? "gpd0" : "eth0");
    p->local.interface_class = g_strdup(klass);
    p->local.egress_interface = g_strdup(strcmp(egress_class, "tunnel") == 0 ? "gpd0" : "eth0");
    p->local.egress_class = g_strdup(egress_class);
    p->remote.address = g_strdup("203.0.113.10:49200");
}

static void set_good_metrics(PathRecord *p)
{
    p->have_metrics = TRUE;
    MetricsSummary m = {.packets_sent = 500,
                        .packets_received = 500,
                        .rtt_samples = 500,
                        .rtt_median_ms = 1,
                        .jitter_ms = 0.5,
                        .mos = 4.4};
    p->metrics = p->out = p->in = m;
}

static void test_relay_through_physical_interface_passes(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "udp", "physical", "physical");
    set_good_metrics(p);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    assert_int_equal(r->findings->len, 0);
    assert_int_equal(r->verdict, VERDICT_PASS);
}

static void test_host_pair_on_the_tunnel_is_media_via_tunnel(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "host", "udp", "tunnel", "tunnel");
    set_good_metrics(p);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    assert_true(run_result_has_finding(r, "MEDIA_VIA_TUNNEL"));
    assert_int_equal(p->verdict, VERDICT_FAIL);
    assert_int_equal(verdict_exit_code(r->verdict), 2);
    const Finding *f = r->findings->pdata[0];
    assert_non_null(strstr(f->message, "leaves through gpd0"));
    assert_non_null(strstr(f->message, "Block the VPN client pool"));
}

static void test_tunnel_counters_catch_what_ice_does_not_say(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "udp", "physical", "physical");
    set_good_metrics(p);
    p->have_counters = TRUE;
    p->tunnel_interface = g_strdup("gpd0");
    p->tunnel_tx = 499;
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_true(run_result_has_finding(r, "MEDIA_VIA_TUNNEL"));
}

static void test_a_few_tunnel_packets_are_background_not_media(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "udp", "physical", "physical");
    set_good_metrics(p);
    p->have_counters = TRUE;
    p->tunnel_interface = g_strdup("gpd0");
    p->tunnel_tx = 3;
    p->tunnel_rx = 1;
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_int_equal(r->findings->len, 0);
}

/* A relay pair from eth0 with a good stream, as on a correct configuration. */
static PathRecord *relay_path(RunResult *r, const char *name, const char *transport)
{
    PathRecord *p = run_result_add_path(r, name);
    set_pair(p, "relay", transport, "physical", "physical");
    set_good_metrics(p);
    return p;
}

/* A busy tunnel: mail and file shares crossed it during the stream, far more
 * packets than the stream's. The kernel named eth0 for every media packet. */
static void busy_tunnel(PathRecord *p, guint64 media_seen, guint64 media_tunnel)
{
    p->have_counters = TRUE;
    g_free(p->tunnel_interface);
    p->tunnel_interface = g_strdup("gpd0");
    p->tunnel_tx = 2000;
    p->tunnel_rx = 1900;
    p->have_egress = TRUE;
    p->egress_media_sent = 500;
    p->egress_media_seen = media_seen;
    p->egress_media_tunnel = media_tunnel;
    p->egress_other_tunnel = 0;
}

/* relay-tcp counted on its own connection, by `by`, with no egress facts. */
static PathRecord *own_connection(RunResult *r, ConnCounter by)
{
    PathRecord *p = relay_path(r, "relay-tcp", "tcp");
    busy_tunnel(p, 0, 0);
    p->have_egress = FALSE;
    p->counters_per_connection = TRUE;
    p->counted_by = by;
    return p;
}

static void test_busy_tunnel_with_media_out_the_physical_interface_passes(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = relay_path(r, "natural", "udp");
    busy_tunnel(p, 500, 0);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    assert_int_equal(r->findings->len, 0);
    assert_int_equal(p->verdict, VERDICT_PASS);
}

static void test_kernel_egress_catches_media_rerouted_into_the_tunnel(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = relay_path(r, "natural", "udp");
    busy_tunnel(p, 498, 498);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_true(run_result_has_finding(r, "MEDIA_VIA_TUNNEL"));
    const Finding *f = r->findings->pdata[0];
    assert_non_null(strstr(f->message, "the kernel sent 498 of its 498 media packets through gpd0"));
    assert_int_equal(json_object_get_int_member(f->evidence, "media_tunnel"), 498);
    assert_string_equal(json_object_get_string_member(f->evidence, "cause"), "policy-routed");
    assert_non_null(strstr(f->message, "a policy rule"));

    g_autoptr(RunResult) r2 = run_result_new("t");
    PathRecord *q = relay_path(r2, "relay-udp", "udp");
    busy_tunnel(q, 500, 260); /* the mark matched part of the stream */
    policy_judge_path(r2, q, POLICY_PATH_FORCED_RELAY, prof);
    assert_true(run_result_has_finding(r2, "RELAY_VIA_TUNNEL"));
}

static void test_a_few_media_packets_through_the_tunnel_are_not_the_stream(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = relay_path(r, "natural", "udp");
    busy_tunnel(p, 500, 4); /* below five: never the stream */
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_int_equal(r->findings->len, 0);
    busy_tunnel(p, 500, 249); /* below half */
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_int_equal(r->findings->len, 0);
}

static void test_incomplete_egress_falls_back_to_the_counters(void **state)
{
    g_autoptr(Profile) prof = profile();
    /* Under nine in ten media packets named (a pair on ICE-TCP, a kernel that
     * dropped timestamps): the interface's counters decide, busy or not. */
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = relay_path(r, "natural", "udp");
    busy_tunnel(p, 449, 0);
    assert_false(policy_egress_complete(p));
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_true(run_result_has_finding(r, "MEDIA_VIA_TUNNEL"));
    const Finding *f = r->findings->pdata[0];
    assert_non_null(strstr(f->message, "counted 2000 packets out"));
    /* A path on its own TCP connection is judged by the connection's segments. */
    g_autoptr(RunResult) r2 = run_result_new("t");
    PathRecord *q = relay_path(r2, "relay-tcp", "tcp");
    busy_tunnel(q, 500, 500);
    q->counters_per_connection = TRUE;
    q->tunnel_tx = q->tunnel_rx = 0;
    policy_judge_path(r2, q, POLICY_PATH_FORCED_RELAY, prof);
    assert_false(run_result_has_finding(r2, "RELAY_VIA_TUNNEL"));
    /* Counted in bytes (SIO_TCP_INFO, Windows unelevated): the threshold is in
     * bytes too. 500 bytes are not 250 media packets' worth; 30,000 are. */
    g_autoptr(RunResult) r3 = run_result_new("t");
    PathRecord *b = own_connection(r3, CONN_COUNTER_SIO_TCP_INFO);
    assert_int_equal(policy_tunnel_threshold(b), 250 * POLICY_MEDIA_MIN_BYTES);
    b->tunnel_tx = b->tunnel_rx = 500;
    policy_judge_path(r3, b, POLICY_PATH_FORCED_RELAY, prof);
    assert_false(run_result_has_finding(r3, "RELAY_VIA_TUNNEL"));
    b->tunnel_tx = 30000;
    policy_judge_path(r3, b, POLICY_PATH_FORCED_RELAY, prof);
    assert_true(run_result_has_finding(r3, "RELAY_VIA_TUNNEL"));
    const Finding *fb = r3->findings->pdata[0];
    assert_non_null(strstr(fb->message, "carried 30000 bytes out and 500 in"));
    assert_true(json_object_has_member(fb->evidence, "tunnel_tx_bytes"));
    /* The same figures as segments: 500 are past 250 packets. */
    g_autoptr(RunResult) r4 = run_result_new("t");
    PathRecord *g = own_connection(r4, CONN_COUNTER_TCP_INFO);
    g->tunnel_tx = g->tunnel_rx = 500;
    policy_judge_path(r4, g, POLICY_PATH_FORCED_RELAY, prof);
    assert_true(run_result_has_finding(r4, "RELAY_VIA_TUNNEL"));
    assert_non_null(strstr(((const Finding *)r4->findings->pdata[0])->message, "500 segments out"));
    /* No media sent at all: nothing to be complete about. */
    PathRecord none = {.have_egress = TRUE};
    assert_false(policy_egress_complete(&none));
}

static void test_tcp_relay_is_a_warning(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "tcp", "physical", "physical");
    set_good_metrics(p);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    assert_true(run_result_has_finding(r, "TCP_RELAY_ONLY"));
    assert_int_equal(r->verdict, VERDICT_WARN);
    assert_int_equal(verdict_exit_code(r->verdict), 1);
}

/* With UDP allocations working, TCP won libnice's relay race (docs/libnice.md §9):
 * said in the path's reason, not a finding. */
static void test_tcp_relay_with_udp_working_is_no_finding(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    run_result_add_check(r, "turn-udp", VERDICT_PASS, "allocated");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "tcp", "physical", "physical");
    p->reason = g_strdup("relay over tcp");
    set_good_metrics(p);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    assert_false(run_result_has_finding(r, "TCP_RELAY_ONLY"));
    assert_int_equal(r->verdict, VERDICT_PASS);
    assert_non_null(strstr(p->reason, "although UDP allocations work"));
}

static void test_no_pair_on_the_natural_path_is_no_media_path(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    assert_true(run_result_has_finding(r, "NO_MEDIA_PATH"));
    assert_int_equal(p->verdict, VERDICT_FAIL);
}

static void test_quality_thresholds_give_named_warnings(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "udp", "physical", "physical");
    set_good_metrics(p);
    /* Bad one way only: the findings name the direction. */
    p->in.loss_ratio = 0.05;
    p->in.jitter_ms = 45;
    p->metrics.rtt_median_ms = 180;
    p->in.mos = 3.1;
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    assert_true(run_result_has_finding(r, "QUALITY_LOSS"));
    assert_true(run_result_has_finding(r, "QUALITY_JITTER"));
    assert_true(run_result_has_finding(r, "QUALITY_RTT"));
    assert_true(run_result_has_finding(r, "QUALITY_MOS"));
    assert_int_equal(r->findings->len, 4);
    assert_int_equal(r->verdict, VERDICT_WARN);
    const Finding *loss = r->findings->pdata[0];
    assert_string_equal(loss->code, "QUALITY_LOSS");
    assert_true(
        g_str_has_prefix(loss->message, "Path natural, direction in: loss 5.00 %, limit 1.00 %."));
    assert_string_equal(json_object_get_string_member(loss->evidence, "direction"), "in");
    const Finding *mos = r->findings->pdata[3];
    assert_true(
        g_str_has_prefix(mos->message, "Path natural, direction in: MOS 3.10, minimum 3.60."));
    assert_float_equal(json_object_get_double_member(mos->evidence, "threshold"), 3.6, 1e-12);
}

static void test_windowed_figures_are_judged_on_the_worst_window(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "relay", "udp", "physical", "physical");
    set_good_metrics(p);
    MetricsSummary *out = &p->out;
    out->have_windows = TRUE;
    out->loss_ratio = 0.005;         /* the whole stream is within 1 %... */
    out->loss_15s_max = 0.02;        /* ...but one 15 s window is not */
    out->burst_loss_200ms_max = 0.3; /* 3 of 10 packets in a row */
    out->jitter_15s_max_ms = 31;
    out->reorder_ratio = 0.001;
    p->in.have_windows = TRUE;
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    const char *codes[] = {"QUALITY_LOSS", "QUALITY_BURST_LOSS", "QUALITY_JITTER",
                           "QUALITY_REORDER"};
    assert_int_equal(r->findings->len, G_N_ELEMENTS(codes));
    for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
        const Finding *f = r->findings->pdata[i];
        assert_string_equal(f->code, codes[i]);
        assert_string_equal(json_object_get_string_member(f->evidence, "direction"), "out");
    }
    assert_non_null(
        strstr(((Finding *)r->findings->pdata[0])->message, "loss in the worst 15 s 2.00 %"));
    assert_non_null(strstr(((Finding *)r->findings->pdata[1])->message,
                           "loss in the worst 200 ms 30.00 %, limit 10.00 %"));
}

static void test_forced_relay_through_tunnel_is_relay_via_tunnel(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *p = run_result_add_path(r, "relay-udp");
    set_pair(p, "relay", "udp", "tunnel", "tunnel");
    policy_judge_path(r, p, POLICY_PATH_FORCED_RELAY, prof);
    assert_true(run_result_has_finding(r, "RELAY_VIA_TUNNEL"));
    assert_false(run_result_has_finding(r, "MEDIA_VIA_TUNNEL"));
}

/* The route check as the probe writes it: the edge's address and its route. */
static void add_route_check(RunResult *r, gboolean through_tunnel)
{
    CheckRecord *c = run_result_add_check(r, "route", through_tunnel ? VERDICT_FAIL : VERDICT_PASS,
                                          "%s", "route");
    JsonArray *routes = json_array_new();
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "destination", "203.0.113.10");
    json_object_set_string_member(o, "class", through_tunnel ? "tunnel" : "physical");
    json_array_add_object_element(routes, o);
    json_object_set_array_member(c->detail, "routes", routes);
}

static const char *cause_of(const RunResult *r, const char *code)
{
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        if (strcmp(f->code, code) == 0)
            return json_object_get_string_member_with_default(f->evidence, "cause", "");
    }
    return NULL;
}

static void test_tunnel_reaching_the_edge_with_a_physical_route_blames_the_gateway(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    add_route_check(r, FALSE);
    PathRecord *relay = run_result_add_path(r, "relay-udp");
    set_pair(relay, "relay", "udp", "tunnel", "tunnel");
    policy_judge_path(r, relay, POLICY_PATH_FORCED_RELAY, prof);
    PathRecord *nat = run_result_add_path(r, "natural");
    set_pair(nat, "host", "udp", "tunnel", "tunnel"); /* remote: the edge's relay */
    policy_judge_path(r, nat, POLICY_PATH_NATURAL, prof);
    PathRecord *tun = run_result_add_path(r, "tunnel-only");
    set_pair(tun, "host", "udp", "tunnel", "tunnel");
    policy_judge_path(r, tun, POLICY_PATH_TUNNEL_ONLY, prof);
    assert_string_equal(cause_of(r, "RELAY_VIA_TUNNEL"), "gateway-passes-pool");
    assert_string_equal(cause_of(r, "MEDIA_VIA_TUNNEL"), "gateway-passes-pool");
    assert_string_equal(cause_of(r, "TUNNEL_PATH_OPEN"), "gateway-passes-pool");
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        assert_null(strstr(f->message, "Add a split-tunnel exclusion"));
        assert_non_null(strstr(f->message, "at the VPN gateway"));
    }
}

static void test_tunnel_route_or_an_internal_peer_keeps_the_usual_advice(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    add_route_check(r, TRUE); /* the edge is routed into the tunnel */
    PathRecord *relay = run_result_add_path(r, "relay-udp");
    set_pair(relay, "relay", "udp", "tunnel", "tunnel");
    policy_judge_path(r, relay, POLICY_PATH_FORCED_RELAY, prof);
    assert_string_equal(cause_of(r, "RELAY_VIA_TUNNEL"), "");

    g_autoptr(RunResult) q = run_result_new("t");
    add_route_check(q, FALSE);
    PathRecord *nat = run_result_add_path(q, "natural");
    set_pair(nat, "host", "udp", "tunnel", "tunnel");
    g_free(nat->remote.address);
    nat->remote.address = g_strdup("10.1.0.10:50000"); /* an internal peer, not the edge */
    policy_judge_path(q, nat, POLICY_PATH_NATURAL, prof);
    assert_string_equal(cause_of(q, "MEDIA_VIA_TUNNEL"), "");
}

/* [stream] dscp_survives = relay: a relay path whose media arrived re-marked is
 * QOS_MARKING_LOST (warn), naming the direction and the values; the natural
 * path, where no survival was promised, and a sample too small, are not. */
static void test_a_marking_lost_where_it_should_survive_is_a_warning(void **state)
{
    const char *text = "[profile]\nname=t\n[edge]\nhost=h\nusername=u\npassword_file=" UNIT_DATA_DIR
                       "/turn.password\n[stream]\ndscp_survives = relay\n";
    g_autoptr(Profile) prof = profile_load_from_data(text, strlen(text), NULL, "t", NULL);
    assert_non_null(prof);
    assert_int_equal(prof->stream.dscp, 46);
    g_autoptr(RunResult) r = run_result_new("t");
    PathRecord *relay = run_result_add_path(r, "relay-udp");
    set_pair(relay, "relay", "udp", "physical", "physical");
    relay->dscp = 46;
    relay->qos_out = (QosSample){TRUE, 60, 60, G_GUINT64_CONSTANT(1) << 46};
    relay->qos_in = (QosSample){TRUE, 58, 3, (G_GUINT64_CONSTANT(1) << 46) | 1};
    policy_judge_path(r, relay, POLICY_PATH_FORCED_RELAY, prof);
    PathRecord *natural = run_result_add_path(r, "natural");
    set_pair(natural, "srflx", "udp", "physical", "physical");
    natural->dscp = 46;
    natural->qos_in = (QosSample){TRUE, 50, 0, 1};
    policy_judge_path(r, natural, POLICY_PATH_NATURAL, prof);
    PathRecord *few = run_result_add_path(r, "relay-tcp");
    set_pair(few, "relay", "tcp", "physical", "physical");
    few->dscp = 46;
    few->qos_in = (QosSample){TRUE, POLICY_QOS_MIN_SAMPLE - 1, 0, 1};
    policy_judge_path(r, few, POLICY_PATH_FORCED_RELAY, prof);
    run_result_conclude(r);
    assert_int_equal(r->findings->len, 1);
    const Finding *f = r->findings->pdata[0];
    assert_string_equal(f->code, "QOS_MARKING_LOST");
    assert_int_equal(f->severity, VERDICT_WARN);
    assert_true(g_str_has_prefix(f->message,
                                 "Path relay-udp, direction in: 3 of 58 media packets sampled "
                                 "on arrival kept DSCP 46 (EF); the rest arrived as 0 (CS0) "
                                 "([stream] dscp_survives expects it on this path). Keep the "));
    assert_string_equal(json_object_get_string_member(f->evidence, "direction"), "in");
    assert_int_equal(r->verdict, VERDICT_WARN);
    g_autofree char *af41 = policy_dscp_name(34);
    g_autofree char *cs5 = policy_dscp_name(40);
    g_autofree char *odd = policy_dscp_name(47);
    assert_string_equal(af41, "34 (AF41)");
    assert_string_equal(cs5, "40 (CS5)");
    assert_string_equal(odd, "47");
}

static void test_json_document_has_the_contract_shape(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("corp-vpn");
    run_result_add_check(r, "dns", VERDICT_PASS, "all names resolve externally");
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "host", "udp", "tunnel", "tunnel");
    set_good_metrics(p);
    policy_judge_path(r, p, POLICY_PATH_NATURAL, prof);
    run_result_conclude(r);
    g_autoptr(JsonNode) root = run_result_to_json(r);
    JsonObject *o = json_node_get_object(root);
    assert_string_equal(json_object_get_string_member(o, "schema"), "iceprobe.run/1");
    assert_string_equal(json_object_get_string_member(o, "verdict"), "fail");
    assert_int_equal(strlen(json_object_get_string_member(o, "run_id")), 36);
    assert_true(g_str_has_suffix(json_object_get_string_member(o, "started_at"), "Z"));
    JsonObject *path = json_array_get_object_element(json_object_get_array_member(o, "paths"), 0);
    JsonObject *local = json_object_get_object_member(
        json_object_get_object_member(path, "selected_pair"), "local");
    assert_string_equal(json_object_get_string_member(local, "egress_class"), "tunnel");
    JsonObject *m = json_object_get_object_member(path, "metrics");
    assert_int_equal(json_object_get_int_member(m, "packets_sent"), 500);
    assert_true(JSON_NODE_HOLDS_VALUE(json_object_get_member(m, "loss_ratio")));
    JsonObject *f = json_array_get_object_element(json_object_get_array_member(o, "findings"), 0);
    assert_string_equal(json_object_get_string_member(f, "code"), "MEDIA_VIA_TUNNEL");
    assert_string_equal(json_object_get_string_member(f, "severity"), "fail");
}

static JsonArray *strings(const char *const *v)
{
    JsonArray *a = json_array_new();
    for (; *v; v++)
        json_array_add_string_element(a, *v);
    return a;
}

/* The check firewall's record as the judge leaves it: seed 002's rules for
 * the call clients' programs, or for every program, judged for the tunnel's
 * two addresses and the ranges of both families. */
static CheckRecord *add_firewall_pass(RunResult *r, gboolean programs_only)
{
    static const char *const clients[] = {"lync.exe", "Teams.exe", NULL};
    static const char *const addresses[] = {"100.64.0.2", "fd00:64::2", NULL};
    static const char *const ranges[] = {"10.0.0.0/8", "192.168.0.0/16", "100.64.0.0/10",
                                         "fc00::/7", NULL};
    CheckRecord *c = run_result_add_check(r, "firewall", VERDICT_PASS, "blocked");
    json_object_set_boolean_member(c->detail, "programs_only", programs_only);
    json_object_set_array_member(c->detail, "call_clients_judged", strings(clients));
    json_object_set_array_member(c->detail, "addresses", strings(addresses));
    json_object_set_array_member(c->detail, "ranges", strings(ranges));
    return c;
}

static PathRecord *tunnel_path(RunResult *r, const char *name, const char *type,
                               const char *local, const char *remote)
{
    PathRecord *p = run_result_add_path(r, name);
    set_pair(p, type, "udp", "tunnel", "tunnel");
    g_free(p->local.address);
    p->local.address = g_strdup(local);
    g_free(p->remote.address);
    p->remote.address = g_strdup(remote);
    set_good_metrics(p);
    return p;
}

/* Judges one path on a laptop with the firewall's record (or none: -1) and
 * says whether it warned GATEWAY_BLOCK_MISSING (TRUE) or failed with `code`. */
static gboolean laptop_warns(int programs_only, PolicyPathKind kind, PathRecord *(*make)(RunResult *),
                             const char *code)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    if (programs_only >= 0)
        add_firewall_pass(r, programs_only);
    PathRecord *p = make(r);
    policy_judge_path(r, p, kind, prof);
    gboolean warned = run_result_has_finding(r, "GATEWAY_BLOCK_MISSING");
    assert_true(warned != run_result_has_finding(r, code));
    assert_int_equal(p->verdict, warned ? VERDICT_WARN : VERDICT_FAIL);
    return warned;
}

static PathRecord *to_internal_peer(RunResult *r)
{
    return tunnel_path(r, "tunnel-only", "host", "100.64.0.2:50000", "10.1.0.5:50002");
}

static PathRecord *to_the_edge(RunResult *r)
{
    return tunnel_path(r, "tunnel-only", "host", "100.64.0.2:50000", "203.0.113.10:3478");
}

static PathRecord *from_another_tunnel(RunResult *r)
{
    return tunnel_path(r, "tunnel-only", "host", "100.64.9.9:50000", "10.1.0.5:50002");
}

static PathRecord *natural_v6_internal(RunResult *r)
{
    return tunnel_path(r, "natural", "host", "[fd00:64::2]:50000", "[fd00::5]:50002");
}

static PathRecord *natural_v6_public(RunResult *r)
{
    return tunnel_path(r, "natural", "host", "[fd00:64::2]:50000", "[2001:db8::5]:50002");
}

static PathRecord *natural_srflx(RunResult *r)
{
    PathRecord *p = tunnel_path(r, "natural", "srflx", "198.51.100.9:40000", "192.168.7.9:50002");
    p->local.base_address = g_strdup("100.64.0.2:50000");
    return p;
}

static PathRecord *natural_relay(RunResult *r)
{
    return tunnel_path(r, "natural", "relay", "100.64.0.2:50000", "10.1.0.5:50002");
}

/* A physical candidate whose packets a policy rule routed into the tunnel:
 * the rules' local address (the pool's) is not its own. */
static PathRecord *natural_policy_routed(RunResult *r)
{
    PathRecord *p = run_result_add_path(r, "natural");
    set_pair(p, "host", "udp", "physical", "tunnel");
    g_free(p->remote.address);
    p->remote.address = g_strdup("10.1.0.5:50002");
    set_good_metrics(p);
    return p;
}

/* Seed 002's fix is a Windows Firewall rule for the call client's program:
 * iceprobe.exe is not held by it, so its own tunnel path may connect where a
 * call client's could not. That is the VPN gateway's block missing, a warning,
 * only where the laptop's rules hold for that pair. */
static void test_a_tunnel_path_the_laptop_firewall_blocks_for_call_clients_warns(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) r = run_result_new("t");
    add_firewall_pass(r, TRUE);
    PathRecord *t = to_internal_peer(r);
    policy_judge_path(r, t, POLICY_PATH_TUNNEL_ONLY, prof);
    assert_false(run_result_has_finding(r, "TUNNEL_PATH_OPEN"));
    assert_true(run_result_has_finding(r, "GATEWAY_BLOCK_MISSING"));
    assert_int_equal(t->verdict, VERDICT_WARN);
    const Finding *f = r->findings->pdata[0];
    assert_non_null(strstr(f->message, "blocks lync.exe, Teams.exe on that pair"));
    assert_string_equal(json_object_get_string_member(f->evidence, "call_clients"),
                        "lync.exe, Teams.exe");
    /* No FIREWALL_BLOCK_MISSING after the paths: the block is there. */
    policy_judge_firewall(r);
    run_result_conclude(r);
    assert_int_equal(r->findings->len, 1);
    assert_int_equal(r->verdict, VERDICT_WARN);
    /* The natural path's media on such a pair, IPv6 or from a server-reflexive
     * candidate whose base is the tunnel's: the same warning. */
    assert_true(laptop_warns(TRUE, POLICY_PATH_NATURAL, natural_v6_internal, "MEDIA_VIA_TUNNEL"));
    assert_true(laptop_warns(TRUE, POLICY_PATH_NATURAL, natural_srflx, "MEDIA_VIA_TUNNEL"));
    /* A profile's own call_clients (no call_clients_judged) are named. */
    g_autoptr(RunResult) r2 = run_result_new("t");
    CheckRecord *c = add_firewall_pass(r2, TRUE);
    json_object_remove_member(c->detail, "call_clients_judged");
    static const char *const own[] = {"communicator.exe", NULL};
    json_object_set_array_member(c->detail, "call_clients", strings(own));
    PathRecord *t2 = to_internal_peer(r2);
    policy_judge_path(r2, t2, POLICY_PATH_TUNNEL_ONLY, prof);
    assert_non_null(strstr(((const Finding *)r2->findings->pdata[0])->message,
                           "blocks communicator.exe on that pair"));
}

/* Where the laptop's rules do not hold for the pair, or hold for every program
 * alike, or were not found, an open tunnel path fails as before. */
static void test_a_tunnel_path_the_laptop_firewall_does_not_hold_fails(void **state)
{
    const PolicyPathKind tunnel = POLICY_PATH_TUNNEL_ONLY, natural = POLICY_PATH_NATURAL;
    assert_false(laptop_warns(TRUE, tunnel, to_the_edge, "TUNNEL_PATH_OPEN")); /* no rule's range */
    assert_false(laptop_warns(FALSE, tunnel, to_internal_peer, "TUNNEL_PATH_OPEN")); /* iceprobe held too */
    assert_false(laptop_warns(-1, tunnel, to_internal_peer, "TUNNEL_PATH_OPEN")); /* no check */
    assert_false(laptop_warns(TRUE, tunnel, from_another_tunnel, "TUNNEL_PATH_OPEN")); /* not judged */
    assert_false(laptop_warns(TRUE, natural, natural_v6_public, "MEDIA_VIA_TUNNEL"));
    assert_false(laptop_warns(TRUE, natural, natural_relay, "MEDIA_VIA_TUNNEL")); /* the edge's */
    assert_false(laptop_warns(TRUE, natural, natural_policy_routed, "MEDIA_VIA_TUNNEL"));
}

static void test_every_contract_code_has_a_spec(void **state)
{
    const char *codes[] = {
        "MEDIA_VIA_TUNNEL",  "RELAY_VIA_TUNNEL",  "EDGE_DNS_INTERNAL",     "TUNNEL_PATH_OPEN",
        "TLS_INTERCEPTED",   "RELAY_UNREACHABLE", "EDGE_NO_ROUTE_TO_PEER", "NO_MEDIA_PATH",
        "UDP_RELAY_BLOCKED", "TCP_RELAY_ONLY",    "QUALITY_LOSS",          "QUALITY_JITTER",
        "QUALITY_RTT",       "QUALITY_MOS",       "AGENT_OFFLINE",         "RUN_TIMEOUT",
        "GATEWAY_BLOCK_MISSING", "FIREWALL_BLOCK_MISSING"};
    for (gsize i = 0; i < G_N_ELEMENTS(codes); i++)
        assert_non_null(finding_spec_lookup(codes[i]));
    assert_int_equal(finding_spec_lookup("UDP_RELAY_BLOCKED")->severity, VERDICT_WARN);
    assert_int_equal(finding_spec_lookup("TLS_INTERCEPTED")->severity, VERDICT_FAIL);
    assert_int_equal(finding_spec_lookup("AGENT_OFFLINE")->severity, VERDICT_ERROR);
    assert_int_equal(finding_spec_lookup("GATEWAY_BLOCK_MISSING")->severity, VERDICT_WARN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_through_physical_interface_passes),
        cmocka_unit_test(test_host_pair_on_the_tunnel_is_media_via_tunnel),
        cmocka_unit_test(test_tunnel_counters_catch_what_ice_does_not_say),
        cmocka_unit_test(test_a_few_tunnel_packets_are_background_not_media),
        cmocka_unit_test(test_busy_tunnel_with_media_out_the_physical_interface_passes),
        cmocka_unit_test(test_kernel_egress_catches_media_rerouted_into_the_tunnel),
        cmocka_unit_test(test_a_few_media_packets_through_the_tunnel_are_not_the_stream),
        cmocka_unit_test(test_incomplete_egress_falls_back_to_the_counters),
        cmocka_unit_test(test_tcp_relay_is_a_warning),
        cmocka_unit_test(test_tcp_relay_with_udp_working_is_no_finding),
        cmocka_unit_test(test_no_pair_on_the_natural_path_is_no_media_path),
        cmocka_unit_test(test_quality_thresholds_give_named_warnings),
        cmocka_unit_test(test_windowed_figures_are_judged_on_the_worst_window),
        cmocka_unit_test(test_forced_relay_through_tunnel_is_relay_via_tunnel),
        cmocka_unit_test(test_tunnel_reaching_the_edge_with_a_physical_route_blames_the_gateway),
        cmocka_unit_test(test_tunnel_route_or_an_internal_peer_keeps_the_usual_advice),
        cmocka_unit_test(test_a_marking_lost_where_it_should_survive_is_a_warning),
        cmocka_unit_test(test_json_document_has_the_contract_shape),
        cmocka_unit_test(test_a_tunnel_path_the_laptop_firewall_blocks_for_call_clients_warns),
        cmocka_unit_test(test_a_tunnel_path_the_laptop_firewall_does_not_hold_fails),
        cmocka_unit_test(test_every_contract_code_has_a_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
