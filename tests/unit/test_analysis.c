/* The matrix and its analysis across pairs (controller/analysis.c), from
 * agents and cells as the store gives them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "analysis.h"
#include "config.h"

#define T0 1796600000

typedef struct {
    GPtrArray *agents; /* StoreAgent */
    GPtrArray *cells;  /* AnalysisCell */
    gint64 t;          /* each cell finishes a minute after the one before */
} Ctx;

static int setup(void **state)
{
    Ctx *c = g_new0(Ctx, 1);
    c->agents = g_ptr_array_new_with_free_func((GDestroyNotify)store_agent_free);
    c->cells = g_ptr_array_new_with_free_func((GDestroyNotify)analysis_cell_free);
    c->t = T0;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    Ctx *c = *state;
    g_ptr_array_unref(c->agents);
    g_ptr_array_unref(c->cells);
    g_free(c);
    return 0;
}

/* An agent of groups ("a,b"), its physical interface's address (NULL: no
 * heartbeat yet) and, if given, its tunnel's. */
static void agent(Ctx *c, const char *name, const char *groups, const char *addr,
                  const char *tunnel)
{
    StoreAgent *a = g_new0(StoreAgent, 1);
    a->name = g_strdup(name);
    a->groups = g_strsplit(groups, ",", -1);
    if (addr)
        a->interfaces = g_strdup_printf(
            "[{\"name\":\"lo\",\"class\":\"loopback\",\"addresses\":[\"127.0.0.1/8\"]},"
            "{\"name\":\"eth0\",\"class\":\"physical\",\"addresses\":[\"%s\","
            "\"fe80::1/64\"]}%s%s%s]",
            addr, tunnel ? ",{\"name\":\"gpd0\",\"class\":\"tunnel\",\"addresses\":[\"" : "",
            tunnel ? tunnel : "", tunnel ? "\"]}" : "");
    g_ptr_array_add(c->agents, a);
}

/* A cell: the newest run of a as side a and b as side b; codes
 * space-separated. Ids are r1, r2, ... in the order made. */
static void cell(Ctx *c, const char *a, const char *b, const char *verdict, const char *codes)
{
    g_auto(GStrv) v = g_strsplit(codes ? codes : "", " ", -1);
    g_autofree char *id = g_strdup_printf("r%u", c->cells->len + 1);
    c->t += 60;
    g_ptr_array_add(c->cells,
                    analysis_cell_new("lab", a, b, id, verdict, (const char *const *)v, c->t));
}

static GPtrArray *build(Ctx *c, const GPtrArray *schedules)
{
    GPtrArray *ms = analysis_build(c->cells, c->agents, schedules);
    assert_int_equal(c->cells->len, 0); /* taken */
    return ms;
}

static const AnalysisMatrix *only(GPtrArray *ms)
{
    assert_int_equal(ms->len, 1);
    return ms->pdata[0];
}

/* The lab's four hosts: the VPN laptop, the corp host and the branch host (both
 * internal), an external user. */
static void lab_agents(Ctx *c)
{
    agent(c, "laptop", "vpn-laptops", "10.254.1.10/24", "100.64.0.2/32");
    agent(c, "corp", "internal", "10.1.0.10/24", NULL);
    agent(c, "branch", "internal", "10.2.0.10/24", NULL);
    agent(c, "ext", "external", "10.253.1.10/24", NULL);
}

static void test_seed_003_every_pair_with_the_branch_fails_names_its_side_and_route(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    cell(c, "laptop", "ext", "pass", NULL);
    cell(c, "laptop", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER NO_MEDIA_PATH");
    cell(c, "laptop", "corp", "warn", "QUALITY_JITTER");
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_string_equal(m->profile, "lab");
    assert_int_equal(m->judged, 4);
    assert_int_equal(m->failing, 2);
    assert_null(m->note);
    assert_int_equal(m->patterns->len, 1);
    const AnalysisPattern *p = m->patterns->pdata[0];
    assert_string_equal(p->side, "branch");
    assert_false(p->group);
    assert_string_equal(p->subnet, "10.2.0.0/24");
    assert_string_equal(analysis_cause_key(p->cause), "edge_route");
    assert_int_equal(p->failing_pairs, 2);
    /* The failing runs, newest first. */
    assert_int_equal(p->run_ids->len, 2);
    assert_string_equal(p->run_ids->pdata[0], "r3");
    assert_string_equal(p->run_ids->pdata[1], "r2");
    assert_string_equal(p->sentence,
                        "Every pair with agent branch, on 10.2.0.0/24, fails and every other pair "
                        "passes: the edge lacks its route to that subnet, so relayed media to and "
                        "from it never arrives (add a persistent route to it on the edge's "
                        "internal interface).");
    /* Agents by group, then name. */
    const char *order[] = {"ext", "branch", "corp", "laptop"};
    for (guint i = 0; i < G_N_ELEMENTS(order); i++)
        assert_string_equal(((AnalysisAgent *)m->agents->pdata[i])->name, order[i]);
}

static void test_a_group_whose_every_pair_out_fails_is_the_side(void **state)
{
    Ctx *c = *state;
    agent(c, "laptop", "vpn-laptops", "10.254.1.10/24", NULL);
    agent(c, "ext", "external", "10.253.1.10/24", NULL);
    agent(c, "br1", "branch", "10.2.0.10/24", NULL);
    agent(c, "br2", "branch", "10.2.1.10/24", NULL);
    cell(c, "laptop", "br1", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "br2", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "br1", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "ext", "pass", NULL);
    cell(c, "br1", "br2", "pass", NULL); /* inside the side: direct on its own LAN */
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_int_equal(m->patterns->len, 1);
    const AnalysisPattern *p = m->patterns->pdata[0];
    assert_string_equal(p->side, "branch");
    assert_true(p->group);
    assert_int_equal(g_strv_length(p->agents), 2);
    assert_string_equal(p->subnet, "10.2.0.0/24, 10.2.1.0/24");
    assert_int_equal(p->failing_pairs, 3);
    assert_non_null(strstr(p->sentence, "Every pair with group branch (br1, br2), on 10.2.0.0/24, "
                                        "10.2.1.0/24, fails"));
}

static void test_scattered_failures_are_no_pattern(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    cell(c, "laptop", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "corp", "fail", "NO_MEDIA_PATH");
    cell(c, "laptop", "ext", "pass", NULL);
    cell(c, "laptop", "corp", "pass", NULL);
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_int_equal(m->patterns->len, 0);
    assert_string_equal(m->note, "The 2 failing pairs share no one side's network.");
}

static void test_everything_failing_points_at_no_side(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    cell(c, "laptop", "branch", "fail", "RELAY_UNREACHABLE");
    cell(c, "laptop", "corp", "fail", "RELAY_UNREACHABLE");
    cell(c, "laptop", "ext", "fail", "RELAY_UNREACHABLE");
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    /* Every pair has the laptop in it, yet nothing passes to set it apart. */
    assert_int_equal(m->patterns->len, 0);
    assert_string_equal(m->note, "All 3 pairs with a verdict fail: no one side's network stands "
                                 "out, so look at what they all share (the edge itself, the "
                                 "profile).");
}

static void test_a_pair_never_run_is_shown_as_such_and_does_not_hide_the_pattern(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    agent(c, "spare", "internal", NULL, NULL); /* in the schedule's group, never run */
    cell(c, "laptop", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "ext", "pass", NULL);
    g_autoptr(GPtrArray) schedules = g_ptr_array_new();
    ScheduleConfig nightly = {
        .name = "nightly", .profile = "lab", .a = "laptop", .b = "group:internal"};
    g_ptr_array_add(schedules, &nightly);
    g_autoptr(GPtrArray) ms = build(c, schedules);
    const AnalysisMatrix *m = only(ms);
    /* The schedule's agents are in the matrix, run or not. */
    assert_int_equal(m->agents->len, 5);
    gboolean reversed = TRUE;
    assert_null(analysis_cell(m, "laptop", "corp", &reversed));
    assert_false(reversed);
    assert_null(analysis_cell(m, "spare", "laptop", NULL));
    assert_int_equal(m->judged, 3);
    assert_int_equal(m->patterns->len, 1);
    const AnalysisPattern *p = m->patterns->pdata[0];
    assert_string_equal(p->side, "branch");
    assert_string_equal(((AnalysisAgent *)m->agents->pdata[4])->name, "laptop");
    /* An agent with no heartbeat has no subnets. */
    for (guint i = 0; i < m->agents->len; i++) {
        const AnalysisAgent *a = m->agents->pdata[i];
        if (strcmp(a->name, "spare") == 0)
            assert_null(a->subnets[0]);
    }
}

static void test_a_tie_between_two_sides_is_said_not_chosen(void **state)
{
    Ctx *c = *state;
    /* Both failing pairs have the laptop on one end and a branch host on the
     * other: the laptop's network or the branch's, the runs cannot tell. */
    agent(c, "laptop", "vpn-laptops", "10.254.1.10/24", NULL);
    agent(c, "br1", "branch", "10.2.0.10/24", NULL);
    agent(c, "br2", "branch", "10.2.0.11/24", NULL);
    agent(c, "ext", "external", "10.253.1.10/24", NULL);
    agent(c, "corp", "internal", "10.1.0.10/24", NULL);
    cell(c, "laptop", "br1", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "br2", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "br1", "br2", "pass", NULL);
    cell(c, "ext", "corp", "pass", NULL);
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_int_equal(m->patterns->len, 0);
    assert_string_equal(m->note, "The 2 failing pairs fit agent laptop and group branch alike: a "
                                 "run of one of them with another agent would tell whose network "
                                 "it is.");
    /* One run more tells: the laptop with the external user passes. */
    cell(c, "laptop", "br1", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "br2", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "br1", "br2", "pass", NULL);
    cell(c, "ext", "corp", "pass", NULL);
    cell(c, "laptop", "ext", "pass", NULL);
    g_autoptr(GPtrArray) ms2 = build(c, NULL);
    const AnalysisMatrix *m2 = only(ms2);
    assert_int_equal(m2->patterns->len, 1);
    assert_string_equal(((AnalysisPattern *)m2->patterns->pdata[0])->side, "branch");
}

static void test_a_group_is_not_named_where_its_one_agent_with_runs_is_enough(void **state)
{
    Ctx *c = *state;
    /* br2 has never run: the runs show br1's network, not the whole group's. */
    agent(c, "laptop", "vpn-laptops", "10.254.1.10/24", NULL);
    agent(c, "ext", "external", "10.253.1.10/24", NULL);
    agent(c, "br1", "branch", "10.2.0.10/24", NULL);
    agent(c, "br2", "branch", "10.2.1.10/24", NULL);
    cell(c, "laptop", "br1", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "br1", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "ext", "pass", NULL);
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_int_equal(m->patterns->len, 1);
    const AnalysisPattern *p = m->patterns->pdata[0];
    assert_string_equal(p->side, "br1");
    assert_false(p->group);
}

static void test_the_cause_follows_the_codes_most_failing_runs_show(void **state)
{
    static const struct {
        const char *codes[3];
        const char *cause, *subnet;
    } cases[] = {
        {{"TUNNEL_PATH_OPEN MEDIA_VIA_TUNNEL", "TUNNEL_PATH_OPEN", "TUNNEL_PATH_OPEN"},
         "vpn_block",
         "100.64.0.2/32"}, /* the VPN side's tunnel, not its home LAN */
        {{"EDGE_DNS_INTERNAL", "EDGE_DNS_INTERNAL", "NO_MEDIA_PATH"}, "dns_view", "10.254.1.0/24"},
        {{"NO_MEDIA_PATH", "QUALITY_LOSS", "NO_MEDIA_PATH"}, "unknown", "10.254.1.0/24"},
        /* two of three name the DNS view, one the block */
        {{"EDGE_DNS_INTERNAL", "TUNNEL_PATH_OPEN", "EDGE_DNS_INTERNAL"},
         "dns_view",
         "10.254.1.0/24"},
        /* a tie between causes: the table's order */
        {{"EDGE_DNS_INTERNAL", "EDGE_NO_ROUTE_TO_PEER", ""}, "edge_route", "10.254.1.0/24"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Ctx *c = NULL;
        setup((void **)&c);
        lab_agents(c);
        agent(c, "laptop2", "internal", "10.1.0.11/24", NULL);
        cell(c, "laptop", "corp", "fail", cases[i].codes[0]);
        cell(c, "laptop", "branch", "fail", cases[i].codes[1]);
        cell(c, "laptop", "laptop2", "fail", cases[i].codes[2]);
        cell(c, "ext", "corp", "pass", NULL);
        g_autoptr(GPtrArray) ms = build(c, NULL);
        const AnalysisMatrix *m = only(ms);
        if (m->patterns->len != 1)
            fail_msg("case %zu: no pattern (%s)", i, m->note);
        const AnalysisPattern *p = m->patterns->pdata[0];
        assert_string_equal(p->side, "laptop");
        assert_string_equal(analysis_cause_key(p->cause), cases[i].cause);
        assert_string_equal(p->subnet, cases[i].subnet);
        teardown((void **)&c);
    }
}

static void test_each_direction_is_its_own_cell_and_the_newest_judges_the_pair(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    cell(c, "laptop", "corp", "fail", "NO_MEDIA_PATH"); /* r1, older */
    cell(c, "corp", "laptop", "pass", NULL);            /* r2, newer */
    cell(c, "laptop", "ext", "pass", NULL);             /* r3, one way only */
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    gboolean reversed = TRUE;
    assert_string_equal(analysis_cell(m, "laptop", "corp", &reversed)->run_id, "r1");
    assert_false(reversed);
    assert_string_equal(analysis_cell(m, "corp", "laptop", &reversed)->run_id, "r2");
    assert_false(reversed);
    /* A pair run one way shows in both cells. */
    assert_string_equal(analysis_cell(m, "ext", "laptop", &reversed)->run_id, "r3");
    assert_true(reversed);
    assert_int_equal(m->judged, 2);
    assert_int_equal(m->failing, 0);
    assert_string_equal(m->note, "All 2 pairs with a verdict pass.");
}

static void test_runs_in_error_say_nothing_of_the_network(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    cell(c, "laptop", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "corp", "branch", "error", "AGENT_OFFLINE"); /* not a pass: no contradiction */
    cell(c, "laptop", "ext", "pass", NULL);
    cell(c, "laptop", "corp", "error", "RUN_TIMEOUT");
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_int_equal(m->judged, 3);
    assert_int_equal(m->patterns->len, 1);
    assert_string_equal(((AnalysisPattern *)m->patterns->pdata[0])->side, "branch");
}

static void test_one_failing_pair_is_too_little_to_say_whose_network(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    cell(c, "laptop", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "laptop", "ext", "pass", NULL);
    g_autoptr(GPtrArray) ms = build(c, NULL);
    const AnalysisMatrix *m = only(ms);
    assert_int_equal(m->patterns->len, 0);
    assert_string_equal(m->note, "One pair fails (branch and laptop): one pair alone does not "
                                 "say whose network it is; a run of each with another agent "
                                 "would.");
}

static void test_each_profile_is_its_own_matrix_and_the_document_says_it_all(void **state)
{
    Ctx *c = *state;
    lab_agents(c);
    agent(c, "gone", "internal", NULL, NULL);
    g_ptr_array_remove_index(c->agents, c->agents->len - 1); /* unregistered since */
    cell(c, "laptop", "ext", "pass", NULL);
    cell(c, "laptop", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    cell(c, "ext", "branch", "fail", "EDGE_NO_ROUTE_TO_PEER");
    g_ptr_array_add(c->cells, analysis_cell_new("sfb", "gone", "corp", "s1", "pass", NULL, T0));
    g_autoptr(GPtrArray) ms = build(c, NULL);
    assert_int_equal(ms->len, 2);
    g_autoptr(JsonNode) doc = analysis_to_json(ms, T0);
    g_autofree char *text = json_to_string(doc, FALSE);
    static const char *const want[] = {
        "\"generated_at\":\"2026-12-06T23:33:20Z\"",
        "{\"profile\":\"lab\",\"agents\":[{\"name\":\"ext\",\"groups\":[\"external\"],"
        "\"group\":\"external\",\"registered\":true,\"subnets\":[\"10.253.1.0/24\"],"
        "\"tunnel_subnets\":[]}",
        "\"groups\":[{\"name\":\"external\",\"agents\":[\"ext\"]},{\"name\":\"internal\","
        "\"agents\":[\"branch\"]},{\"name\":\"vpn-laptops\",\"agents\":[\"laptop\"]}]",
        "{\"a\":\"laptop\",\"b\":\"branch\",\"verdict\":\"fail\",\"codes\":"
        "[\"EDGE_NO_ROUTE_TO_PEER\"],\"run_id\":\"r2\",\"finished_at\":\"2026-12-06T23:35:20Z\"}",
        "\"pairs\":{\"judged\":3,\"failing\":2}",
        "\"side\":\"branch\",\"side_kind\":\"agent\",\"agents\":[\"branch\"],"
        "\"subnet\":\"10.2.0.0/24\",\"cause\":\"edge_route\",\"failing_pairs\":2,"
        "\"run_ids\":[\"r3\",\"r2\"]}],\"note\":null}",
        /* a profile of its own; an agent no longer registered, last, in no group */
        "{\"profile\":\"sfb\"",
        "{\"name\":\"gone\",\"groups\":[],\"group\":\"\",\"registered\":false",
        "{\"name\":null,\"agents\":[\"gone\"]}",
        "\"patterns\":[],\"note\":\"The one pair with a verdict passes.\"",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(want); i++) {
        if (!strstr(text, want[i]))
            fail_msg("'%s' is not in:\n%s", want[i], text);
    }
}

int main(void)
{
#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        CASE(test_seed_003_every_pair_with_the_branch_fails_names_its_side_and_route),
        CASE(test_a_group_whose_every_pair_out_fails_is_the_side),
        CASE(test_scattered_failures_are_no_pattern),
        CASE(test_everything_failing_points_at_no_side),
        CASE(test_a_pair_never_run_is_shown_as_such_and_does_not_hide_the_pattern),
        CASE(test_a_tie_between_two_sides_is_said_not_chosen),
        CASE(test_a_group_is_not_named_where_its_one_agent_with_runs_is_enough),
        CASE(test_the_cause_follows_the_codes_most_failing_runs_show),
        CASE(test_each_direction_is_its_own_cell_and_the_newest_judges_the_pair),
        CASE(test_runs_in_error_say_nothing_of_the_network),
        CASE(test_one_failing_pair_is_too_little_to_say_whose_network),
        CASE(test_each_profile_is_its_own_matrix_and_the_document_says_it_all),
    };
#undef CASE
    return cmocka_run_group_tests(tests, NULL, NULL);
}
