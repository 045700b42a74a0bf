#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/policy.h"
#include "verify.h"

static Profile *profile(void)
{
    const char *text = "[profile]\nname=corp-vpn\n[edge]\nhost=203.0.113.10\nusername=u\n"
                       "password_file=" UNIT_DATA_DIR "/turn.password\n";
    Profile *p = profile_load_from_data(text, strlen(text), NULL, "t", NULL);
    assert_non_null(p);
    return p;
}

/* One side's path: NULL klass means no pair. */
static void add_path(RunResult *r, const char *name, const char *type, const char *klass)
{
    PathRecord *p = run_result_add_path(r, name);
    if (!klass)
        return;
    gboolean tunnel = strcmp(klass, "tunnel") == 0;
    p->have_pair = TRUE;
    p->local.type = g_strdup(type);
    p->local.transport = g_strdup("udp");
    p->local.address = g_strdup(tunnel ? "100.64.0.2:50000" : "198.51.100.2:50000");
    p->local.interface = g_strdup(tunnel ? "gpd0" : "eth0");
    p->local.interface_class = g_strdup(klass);
    p->local.egress_interface = g_strdup(p->local.interface);
    p->local.egress_class = g_strdup(klass);
    p->remote.address = g_strdup("10.1.0.10:50000");
    p->have_metrics = TRUE;
    p->metrics.packets_sent = p->out.packets_sent = p->in.packets_sent = 100;
    p->metrics.packets_received = p->out.packets_received = p->in.packets_received = 100;
    p->metrics.rtt_samples = 100;
    p->metrics.rtt_median_ms = 1;
    p->metrics.mos = p->out.mos = p->in.mos = 4.4;
}

typedef struct {
    const char *name;
    const char *natural_a, *natural_b; /* class of each side's natural pair */
    gboolean tunnel_open_a, tunnel_open_b;
    const char *extra_b; /* a check finding in side b's report */
    gboolean lie_a;      /* side a reports no findings and verdict pass whatever it saw */
    Verdict verdict;
    const char *codes; /* the findings, "CODE/side" joined by ' ' */
} Case;

static const Case cases[] = {
    {"both sides relay through physical interfaces", "physical", "physical", FALSE, FALSE, NULL,
     FALSE, VERDICT_PASS, ""},
    {"the laptop's media leaves by its tunnel", "tunnel", "physical", FALSE, FALSE, NULL, FALSE,
     VERDICT_FAIL, "MEDIA_VIA_TUNNEL/a"},
    {"two VPN laptops hair-pin through the tunnel", "tunnel", "tunnel", FALSE, FALSE, NULL, FALSE,
     VERDICT_FAIL, "MEDIA_VIA_TUNNEL/a MEDIA_VIA_TUNNEL/b"},
    {"a tunnel-only path that connects is found once", "physical", "physical", TRUE, TRUE, NULL,
     FALSE, VERDICT_FAIL, "TUNNEL_PATH_OPEN/a"},
    {"an agent's own verdict is not taken on trust", "tunnel", "physical", FALSE, FALSE, NULL, TRUE,
     VERDICT_FAIL, "MEDIA_VIA_TUNNEL/a"},
    {"a check finding of side b is kept with its side", "physical", "physical", FALSE, FALSE,
     "EDGE_DNS_INTERNAL", FALSE, VERDICT_FAIL, "EDGE_DNS_INTERNAL/b"},
    {"no pair on either side", NULL, NULL, FALSE, FALSE, NULL, FALSE, VERDICT_FAIL,
     "NO_MEDIA_PATH/a"},
};

static RunResult *side_report(const Case *c, int side, const Profile *prof)
{
    RunResult *r = run_result_new("corp-vpn");
    const char *klass = side ? c->natural_b : c->natural_a;
    add_path(r, "natural", "host", klass);
    add_path(r, "relay", "relay", "physical");
    gboolean open = side ? c->tunnel_open_b : c->tunnel_open_a;
    add_path(r, "tunnel-only", "host", open ? "tunnel" : NULL);
    if (side && c->extra_b)
        run_result_add_finding(r, c->extra_b, NULL, "%s", "av.corp.example resolved to 10.1.0.5.");
    if (!(side == 0 && c->lie_a)) {
        for (guint i = 0; i < r->paths->len; i++) {
            PathRecord *p = r->paths->pdata[i];
            PolicyPathKind kind = strcmp(p->name, "tunnel-only") == 0 ? POLICY_PATH_TUNNEL_ONLY
                                  : strcmp(p->name, "relay") == 0     ? POLICY_PATH_FORCED_RELAY
                                                                      : POLICY_PATH_NATURAL;
            policy_judge_path(r, p, kind, prof);
        }
    }
    run_result_conclude(r);
    return r;
}

/* The document's findings as "CODE/side" joined by ' '. */
static char *codes_of(const RunResult *r)
{
    GString *codes = g_string_new(NULL);
    for (guint k = 0; k < r->findings->len; k++) {
        const Finding *f = r->findings->pdata[k];
        g_string_append_printf(codes, "%s%s/%s", k ? " " : "", f->code,
                               json_object_get_string_member(f->evidence, "side"));
    }
    return g_string_free(codes, FALSE);
}

static void test_report_pairs_make_the_expected_verdicts(void **state)
{
    g_autoptr(Profile) prof = profile();
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const Case *c = &cases[i];
        g_autoptr(RunResult) a = side_report(c, 0, prof);
        g_autoptr(RunResult) b = side_report(c, 1, prof);
        VerifyRun run = {"run-1", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
        g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
        g_autofree char *codes = codes_of(r);
        if (r->verdict != c->verdict || strcmp(codes, c->codes) != 0)
            fail_msg("%s: verdict %s, findings '%s'; want %s, '%s'", c->name,
                     verdict_to_string(r->verdict), codes, verdict_to_string(c->verdict),
                     c->codes);
        assert_string_equal(r->run_id, "run-1");
        assert_int_equal(r->paths->len, 3);
        const PathRecord *natural = r->paths->pdata[0];
        assert_non_null(natural->sides[0]);
        assert_non_null(natural->sides[1]);
        assert_int_equal(json_array_get_length(r->probes), 2);
    }
}

/* A side whose route to the edge is physical, yet whose relay path allocated
 * through the tunnel: the controller's own judgement names the gateway, from
 * the side's route check. */
static void test_the_route_check_travels_with_the_side(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) a = run_result_new("corp-vpn");
    CheckRecord *route =
        run_result_add_check(a, "route", VERDICT_PASS, "%s", "203.0.113.10 via eth0");
    JsonArray *routes = json_array_new();
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "destination", "203.0.113.10");
    json_array_add_object_element(routes, o);
    json_object_set_array_member(route->detail, "routes", routes);
    add_path(a, "natural", "host", "physical");
    add_path(a, "relay", "relay", "tunnel");
    run_result_conclude(a);
    g_autoptr(RunResult) b = side_report(&cases[0], 1, prof);
    VerifyRun run = {"run-3", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
    g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
    const Finding *relay = NULL;
    for (guint i = 0; i < r->findings->len; i++)
        if (strcmp(((Finding *)r->findings->pdata[i])->code, "RELAY_VIA_TUNNEL") == 0)
            relay = r->findings->pdata[i];
    assert_non_null(relay);
    assert_string_equal(json_object_get_string_member(relay->evidence, "cause"),
                        "gateway-passes-pool");
    assert_null(strstr(relay->message, "Add a split-tunnel exclusion"));
}

/* A Windows laptop with seed 002's rules for its call clients' programs (the
 * check firewall passed, programs_only) whose tunnel-only path connected to the
 * corp host: its side says GATEWAY_BLOCK_MISSING (a warning) after the
 * controller's own judgement, and the corp side's end of the same pair is not
 * a TUNNEL_PATH_OPEN of its own. Without the laptop's record, it fails. */
static void test_a_laptop_firewall_holding_for_call_clients_warns_on_both_sides(void **state)
{
    g_autoptr(Profile) prof = profile();
    for (int with_firewall = 1; with_firewall >= 0; with_firewall--) {
        g_autoptr(RunResult) a = run_result_new("corp-vpn");
        if (with_firewall) {
            CheckRecord *fw = run_result_add_check(a, "firewall", VERDICT_PASS, "%s", "blocked");
            json_object_set_boolean_member(fw->detail, "programs_only", TRUE);
            JsonArray *addrs = json_array_new(), *ranges = json_array_new();
            json_array_add_string_element(addrs, "100.64.0.2");
            json_array_add_string_element(ranges, "10.0.0.0/8");
            json_object_set_array_member(fw->detail, "addresses", addrs);
            json_object_set_array_member(fw->detail, "ranges", ranges);
        }
        add_path(a, "natural", "relay", "physical");
        add_path(a, "tunnel-only", "host", "tunnel"); /* 100.64.0.2 to the corp host 10.1.0.10 */
        run_result_conclude(a);
        g_autoptr(RunResult) b = run_result_new("corp-vpn");
        add_path(b, "natural", "relay", "physical");
        add_path(b, "tunnel-only", "host", "physical");
        PathRecord *bt = b->paths->pdata[1];
        g_free(bt->local.address);
        bt->local.address = g_strdup("10.1.0.10:50000");
        g_free(bt->remote.address);
        bt->remote.address = g_strdup("100.64.0.2:50000"); /* the laptop's tunnel address */
        run_result_conclude(b);
        VerifyRun run = {"run-7", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
        g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
        g_autofree char *got = codes_of(r);
        const PathRecord *t = r->paths->pdata[1];
        assert_string_equal(t->name, "tunnel-only");
        if (with_firewall) {
            assert_string_equal(got, "GATEWAY_BLOCK_MISSING/a");
            assert_int_equal(r->verdict, VERDICT_WARN);
            assert_int_equal(t->verdict, VERDICT_WARN);
            assert_int_equal(t->sides[1]->verdict, VERDICT_PASS);
        } else {
            assert_string_equal(got, "TUNNEL_PATH_OPEN/a");
            assert_int_equal(r->verdict, VERDICT_FAIL);
        }
    }
}

static void test_the_combined_document_reads_back(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) a = side_report(&cases[1], 0, prof);
    g_autoptr(RunResult) b = side_report(&cases[1], 1, prof);
    VerifyRun run = {"run-2", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
    g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
    g_autofree char *text = run_result_to_string(r, FALSE);
    g_autoptr(RunResult) back = run_result_from_json(text, strlen(text), NULL);
    assert_non_null(back);
    const PathRecord *p = run_result_find_path(back, "natural");
    assert_string_equal(p->sides[0]->local.egress_class, "tunnel");
    assert_string_equal(p->sides[1]->local.egress_class, "physical");
    assert_int_equal(p->verdict, VERDICT_FAIL);
    const Finding *f = back->findings->pdata[0];
    assert_string_equal(json_object_get_string_member(f->evidence, "agent"), "laptop1");
    assert_true(g_str_has_prefix(f->message, "Side a (laptop1): "));
}

/* A side's ICE record: one given-up transport, named for the side. */
static IceRecord *record_of(const char *why)
{
    IceRecord *ir = ice_record_new();
    IceGivenUp *g = g_new0(IceGivenUp, 1);
    g->transport = g_strdup("udp");
    g->what = g_strdup("TURN UDP allocation");
    g->why = g_strdup(why);
    g_ptr_array_add(ir->given_up, g);
    return ir;
}

static void test_each_sides_ice_record_is_kept(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) a = side_report(&cases[1], 0, prof);
    g_autoptr(RunResult) b = side_report(&cases[1], 1, prof);
    PathRecord *pa = (PathRecord *)run_result_find_path(a, "natural");
    PathRecord *pb = (PathRecord *)run_result_find_path(b, "natural");
    pa->ice_record = record_of("side a's why");
    pb->ice_record = record_of("side b's why");
    VerifyRun run = {"run-3", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
    g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
    g_autofree char *text = run_result_to_string(r, FALSE);
    g_autoptr(RunResult) back = run_result_from_json(text, strlen(text), NULL);
    assert_non_null(back);
    const PathRecord *p = run_result_find_path(back, "natural");
    const char *whys[2] = {"side a's why", "side b's why"};
    for (int i = 0; i < 2; i++) {
        assert_non_null(p->sides[i]->ice_record);
        const IceGivenUp *g = p->sides[i]->ice_record->given_up->pdata[0];
        assert_string_equal(g->why, whys[i]);
    }
    /* Once per side in the document, not again at the path's top. */
    assert_null(p->ice_record);
    assert_non_null(strstr(text, "side a's why"));
    assert_null(strstr(strstr(text, "side a's why") + 1, "side a's why"));
}

static void test_a_missing_report_makes_an_error(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) a = side_report(&cases[0], 0, prof);
    VerifyRun run = {"run-3", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
    g_autoptr(RunResult) r = verify_paired(&run, prof, a, NULL);
    assert_int_equal(r->verdict, VERDICT_ERROR);
    assert_string_equal(r->error, "side b (corp1) sent no report");
}

static void test_a_run_not_carried_out_names_its_agents(void **state)
{
    VerifyRun run = {"run-4", "corp-vpn", {"laptop1", "corp1"}, 1795500000};
    const char *late[] = {"corp1", NULL};
    g_autoptr(RunResult) r =
        verify_failed_run(&run, "AGENT_OFFLINE", late, "corp1 did not take it.");
    assert_int_equal(r->verdict, VERDICT_ERROR);
    const Finding *f = r->findings->pdata[0];
    assert_string_equal(f->code, "AGENT_OFFLINE");
    JsonArray *who = json_object_get_array_member(f->evidence, "agents");
    assert_int_equal(json_array_get_length(who), 1);
    assert_string_equal(json_array_get_string_element(who, 0), "corp1");
}

static void add_probe(RunResult *r, const char *prefix)
{
    JsonObject *probe = json_object_new();
    json_object_set_string_member(probe, "name", "host");
    JsonArray *ifs = json_array_new();
    JsonObject *eth = json_object_new();
    json_object_set_string_member(eth, "name", "eth0");
    json_object_set_string_member(eth, "class", "physical");
    JsonArray *addrs = json_array_new();
    json_array_add_string_element(addrs, prefix);
    json_object_set_array_member(eth, "addresses", addrs);
    json_array_add_object_element(ifs, eth);
    json_object_set_array_member(probe, "interfaces", ifs);
    json_array_add_object_element(r->probes, probe);
}

static const Finding *find_code(const RunResult *r, const char *code)
{
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        if (strcmp(f->code, code) == 0)
            return f;
    }
    return NULL;
}

/* Seed 003: the edge answers the laptop but never the branch host, whose route to
 * the edge is fine: the edge has no route back to the branch's network. */
static void test_an_edge_that_never_answers_one_side_has_no_route_to_it(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) a = side_report(&cases[0], 0, prof);
    g_autoptr(RunResult) b = side_report(&cases[0], 1, prof);
    add_probe(a, "10.254.1.10/24");
    add_probe(b, "10.2.0.10/24");
    run_result_add_check(a, "turn-udp", VERDICT_PASS, "allocated");
    run_result_add_check(b, "route", VERDICT_PASS, "10.1.0.20 via eth0 (physical)");
    run_result_add_check(b, "turn-udp", VERDICT_FAIL, "timeout: no answer from 10.1.0.20:3478/udp");
    run_result_add_check(b, "turn-tcp", VERDICT_FAIL, "connect to 10.1.0.20:3478: timed out");
    VerifyRun run = {"run-5", "corp-vpn", {"laptop1", "branch1"}, 1795500000};
    g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
    const Finding *f = find_code(r, "EDGE_NO_ROUTE_TO_PEER");
    assert_non_null(f);
    assert_string_equal(json_object_get_string_member(f->evidence, "side"), "b");
    assert_string_equal(json_object_get_string_member(f->evidence, "network"), "10.2.0.10/24");
    assert_string_equal(json_object_get_string_member(f->evidence, "direction"), "edge to side b");
    assert_int_equal(r->verdict, VERDICT_FAIL);

    /* A refusal (an answer) is not a missing route. */
    g_autoptr(RunResult) b2 = side_report(&cases[0], 1, prof);
    run_result_add_check(b2, "route", VERDICT_PASS, "ok");
    run_result_add_check(b2, "turn-udp", VERDICT_FAIL, "TURN allocate: 401 Unauthorized");
    run_result_add_check(b2, "turn-tcp", VERDICT_FAIL, "TURN allocate: 401 Unauthorized");
    g_autoptr(RunResult) r2 = verify_paired(&run, prof, a, b2);
    assert_null(find_code(r2, "EDGE_NO_ROUTE_TO_PEER"));
}

/* Both allocate, but relayed media reaches side a only: the way to b is missing. */
static void test_relayed_media_one_way_only_names_the_direction(void **state)
{
    g_autoptr(Profile) prof = profile();
    g_autoptr(RunResult) a = side_report(&cases[0], 0, prof);
    g_autoptr(RunResult) b = side_report(&cases[0], 1, prof);
    add_probe(b, "10.2.0.10/24");
    PathRecord *relay_b = (PathRecord *)run_result_find_path(b, "relay");
    relay_b->in.packets_received = 0;
    VerifyRun run = {"run-6", "corp-vpn", {"laptop1", "branch1"}, 1795500000};
    g_autoptr(RunResult) r = verify_paired(&run, prof, a, b);
    const Finding *f = find_code(r, "EDGE_NO_ROUTE_TO_PEER");
    assert_non_null(f);
    assert_string_equal(json_object_get_string_member(f->evidence, "direction"), "edge to side b");
    assert_non_null(strstr(f->message, "relayed media towards side b's network 10.2.0.10/24"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_pairs_make_the_expected_verdicts),
        cmocka_unit_test(test_the_route_check_travels_with_the_side),
        cmocka_unit_test(test_a_laptop_firewall_holding_for_call_clients_warns_on_both_sides),
        cmocka_unit_test(test_the_combined_document_reads_back),
        cmocka_unit_test(test_each_sides_ice_record_is_kept),
        cmocka_unit_test(test_a_missing_report_makes_an_error),
        cmocka_unit_test(test_a_run_not_carried_out_names_its_agents),
        cmocka_unit_test(test_an_edge_that_never_answers_one_side_has_no_route_to_it),
        cmocka_unit_test(test_relayed_media_one_way_only_names_the_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
