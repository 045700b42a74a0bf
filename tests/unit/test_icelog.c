/* libnice's own reports of an agent's checks and allocations: its debug lines,
 * routed by the agent they name (icecapture.c) and read (icelog.c). The logs
 * in data/ are libnice 0.1.21's own output for two agents on loopback, one of
 * them with TURN servers on a coturn there (credentials and keys removed):
 * libnice-udp-relay-redundant.log, an unanswered UDP server, then TCP and UDP
 * servers on coturn (the TCP allocation answers first, and libnice drops the
 * UDP one's relay candidate as redundant); libnice-turn-401.log, the same with
 * a wrong password for the TCP server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "icecapture.h"
#include "icelog.h"

/* Feeds a log of "domain<TAB>message" lines through the capture, with both
 * agents it names ("AGENTS<TAB>a b") attached; the two agents' logs. */
static void replay(const char *name, IceLog **a, IceLog **b)
{
    g_autofree char *path = g_build_filename(UNIT_DATA_DIR, name, NULL);
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint64 agents[2] = {0, 0};
    assert_int_equal(sscanf(lines[0], "AGENTS\t%" G_GINT64_MODIFIER "x %" G_GINT64_MODIFIER "x",
                            &agents[0], &agents[1]),
                     2);
    for (int i = 0; i < 2; i++)
        icecapture_attach((gconstpointer)(guintptr)agents[i]);
    for (guint i = 1; lines[i]; i++) {
        char *tab = strchr(lines[i], '\t');
        if (!tab)
            continue;
        *tab = '\0';
        icecapture_line(lines[i], tab + 1);
    }
    *a = icecapture_copy((gconstpointer)(guintptr)agents[0]);
    *b = icecapture_copy((gconstpointer)(guintptr)agents[1]);
    for (int i = 0; i < 2; i++)
        icecapture_detach((gconstpointer)(guintptr)agents[i]);
    assert_non_null(*a);
    assert_non_null(*b);
}

static const IceLogPair *pair_from(const IceLog *l, guint local_port, guint remote_port)
{
    for (guint i = 0; i < icelog_n_pairs(l); i++) {
        const IceLogPair *p = icelog_pair(l, i);
        if (p->local_port == local_port && p->remote_port == remote_port)
            return p;
    }
    return NULL;
}

static void test_each_line_goes_to_the_agent_it_names(void **state)
{
    g_autoptr(IceLog) a = NULL;
    g_autoptr(IceLog) b = NULL;
    replay("libnice-udp-relay-redundant.log", &a, &b);
    /* Agent a had TURN servers, b none: b's record has no server, no item. */
    assert_int_equal(icelog_n_servers(a), 3);
    assert_int_equal(icelog_n_servers(b), 0);
    assert_int_equal(icelog_n_items(b), 0);
    /* Each pair's local port is one of its own agent's (a: 57492, 50001,
     * 0, 41003; b: 58012 and its TCP ports), never the other's. */
    assert_non_null(pair_from(a, 57492, 58012));
    assert_null(pair_from(b, 57492, 58012));
    assert_non_null(pair_from(b, 58012, 57492));
    assert_null(pair_from(a, 58012, 57492));
    guint unknown = 0;
    assert_true(icelog_lines(a, &unknown) > unknown);
}

static void test_the_nominated_pair_is_the_one_libnice_marked(void **state)
{
    g_autoptr(IceLog) a = NULL;
    g_autoptr(IceLog) b = NULL;
    replay("libnice-udp-relay-redundant.log", &a, &b);
    const IceLogPair *p = pair_from(a, 57492, 58012);
    assert_non_null(p);
    assert_int_equal(p->state, ICELOG_STATE_SUCCEEDED);
    assert_true(p->nominated);
    assert_string_equal(p->local_ip, "127.0.0.1");
    assert_string_equal(p->local_transport, "udp");
    assert_string_equal(p->remote_transport, "udp");
    /* The relay candidate's pair to the same remote was pruned once the host
     * pair was nominated ("pair %p removed."): cancelled, not checked. */
    const IceLogPair *relay = pair_from(a, 50001, 58012);
    assert_non_null(relay);
    assert_int_equal(relay->state, ICELOG_STATE_CANCELLED);
    assert_int_equal(relay->why, ICELOG_WHY_PRUNED);
    assert_false(relay->nominated);
    /* A peer-discovered pair is kept, with its transports. */
    const IceLogPair *d = pair_from(a, 41003, 57551);
    assert_non_null(d);
    assert_int_equal(d->state, ICELOG_STATE_DISCOVERED);
    assert_string_equal(d->local_transport, "tcp-act");
}

static void test_each_allocation_is_tied_to_its_server(void **state)
{
    g_autoptr(IceLog) a = NULL;
    g_autoptr(IceLog) b = NULL;
    replay("libnice-udp-relay-redundant.log", &a, &b);
    /* Servers in libnice's order: 34799/udp (nothing there), 34780/tcp,
     * 34780/udp. The UDP host candidate asks all three, the TCP-active one
     * the TCP server only (agent.c:2895). */
    assert_int_equal(icelog_server(a, 1)->type, 1);
    assert_int_equal(icelog_server(a, 2)->port, 34780);
    assert_int_equal(icelog_n_items(a), 4);
    static const struct {
        int server;
        const char *base_transport;
        gboolean allocated, redundant;
        guint answers;
    } want[] = {
        {0, "udp", FALSE, FALSE, 0},
        {1, "udp", TRUE, FALSE, 2},
        {2, "udp", TRUE, TRUE, 2},
        {1, "tcp-act", TRUE, TRUE, 2},
    };
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        const IceLogItem *it = icelog_item(a, i);
        assert_true(it->relay);
        assert_int_equal(it->server, want[i].server);
        assert_string_equal(it->base_transport, want[i].base_transport);
        assert_int_equal(it->allocated, want[i].allocated);
        assert_int_equal(it->redundant, want[i].redundant);
        assert_int_equal(it->answers, want[i].answers);
    }
    /* The first answer of each was the 401 challenge, its code from the STUN
     * library's line just before on the same thread. */
    assert_int_equal(icelog_item(a, 1)->first_code, 401);
    assert_true(icelog_gathered(a));
    assert_true(icelog_timeouts(a) >= 1);
}

static void test_refused_credentials_are_two_401s(void **state)
{
    g_autoptr(IceLog) a = NULL;
    g_autoptr(IceLog) b = NULL;
    replay("libnice-turn-401.log", &a, &b);
    guint refused = 0;
    for (guint i = 0; i < icelog_n_items(a); i++) {
        const IceLogItem *it = icelog_item(a, i);
        if (it->server != 1)
            continue;
        assert_false(it->allocated);
        assert_int_equal(it->errors, 2);
        assert_int_equal(it->first_code, 401);
        assert_int_equal(it->last_code, 401);
        refused++;
    }
    assert_int_equal(refused, 2);
    /* The UDP server on coturn allocated, and nothing was redundant. */
    assert_true(icelog_item(a, 2)->allocated);
    assert_false(icelog_item(a, 2)->redundant);
}

static void test_agents_are_read_from_every_form_libnice_writes(void **state)
{
    static const struct {
        const char *line;
        guint64 agent;
        const char *rest; /* NULL: names no agent */
    } cases[] = {
        {"Agent 0x55ba739890a0 : pair 0x1 removed.", 0x55ba739890a0, "pair 0x1 removed."},
        {"Agent 0x55ba739890a0: added relay server", 0x55ba739890a0, "added relay server"},
        {"Agent:0x12 s:1/1: Resolving TURN server x", 0x12, "s:1/1: Resolving TURN server x"},
        {"priv_foo: Agent 0xabc : Packet received", 0xabc, "Packet received"},
        {"Agent (nil) : odd", 0, "odd"},
        /* Windows: GLib's %p there prints 16 hex digits without "0x". */
        {"Agent 000000000021FD34 : pair 00000000002A0010 removed.", 0x21fd34,
         "pair 00000000002A0010 removed."},
        {"Agent 21fd34 : not a pointer of either form", 0, NULL},
        {"Interface:  lo", 0, NULL},
        {"Agent 0x : nothing", 0, NULL},
        {"Agent 0x12345678901234567 : too long", 0, NULL},
        {"", 0, NULL},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint64 agent = 0;
        const char *rest = NULL;
        gboolean ok = icelog_agent_of(cases[i].line, &agent, &rest);
        assert_int_equal(ok, cases[i].rest != NULL);
        if (ok) {
            assert_true(agent == cases[i].agent);
            assert_string_equal(rest, cases[i].rest);
        }
    }
    guint code = 0;
    assert_true(icelog_stun_error_code(" STUN error message received (code: 403)", &code));
    assert_int_equal(code, 403);
    assert_false(icelog_stun_error_code(" STUN error message received (code: 4031)", &code));
    assert_false(icelog_stun_error_code("STUN demux: OK!", &code));
}

static void feed_all(IceLog *l, const char *const *lines, gsize n, guint code)
{
    for (gsize i = 0; i < n; i++)
        icelog_feed(l, lines[i], code);
}

static void test_why_a_pair_failed_is_what_libnice_said(void **state)
{
    g_autoptr(IceLog) l = icelog_new();
    static const char *const lines[] = {
        "creating a new pair",
        "pair 0xa state FROZEN (priv_add_new_check_pair)",
        "new pair 0xa : [192.0.2.7]:4000 --> [198.51.100.9]:5000",
        "creating a new pair",
        "pair 0xb state FROZEN (priv_add_new_check_pair)",
        "creating a new pair",
        "pair 0xc state FROZEN (priv_add_new_check_pair)",
        "creating a new pair",
        "pair 0xd state FROZEN (priv_add_new_check_pair)",
        "pair 0xa state IN_PROGRESS (priv_conn_check_initiate)",
        "Retransmissions failed, giving up on pair 0xa",
        "Failed pair is [192.0.2.7]:4000 --> [198.51.100.9]:5000",
        "pair 0xa state FAILED (candidate_check_pair_fail)",
        "pair 0xb state IN_PROGRESS (priv_conn_check_initiate)",
        "pair 0xb will not be retransmitted.",
        "Retransmissions failed, giving up on pair 0xb",
        "Failed pair is [192.0.2.7]:4001 --> [198.51.100.9]:5000",
        "pair 0xb state FAILED (candidate_check_pair_fail)",
        "pair 0xc removed.",
        "pair 0xd state IN_PROGRESS (priv_conn_check_initiate)",
        "pair 0xd MATCHED.",
        "pair 0xd state FAILED (candidate_check_pair_fail)",
        "pair 0xd FAILED (mismatch of source address).",
    };
    feed_all(l, lines, G_N_ELEMENTS(lines), 0);
    /* A pair whose TCP socket closed under it (conn_check_prune_socket). */
    icelog_feed(l, "creating a new pair", 0);
    icelog_feed(l, "pair 0xf state IN_PROGRESS (priv_conn_check_initiate)", 0);
    icelog_feed(l, "Retransmissions failed, giving up on pair 0xf", 0);
    icelog_feed(l, "pair 0xf state FAILED (candidate_check_pair_fail)", 0);
    /* An error answer, with the code the STUN library logged just before. */
    icelog_feed(l, "creating a new pair", 0);
    icelog_feed(l, "pair 0xe state IN_PROGRESS (priv_conn_check_initiate)", 0);
    icelog_feed(l, "stun_bind_process/conncheck for 0xe: controlling,res=error,stun#=0.", 403);
    icelog_feed(l, "pair 0xe state FAILED (candidate_check_pair_fail)", 0);
    static const struct {
        IceLogState state;
        IceLogWhy why;
        guint code;
    } want[] = {
        {ICELOG_STATE_FAILED, ICELOG_WHY_TIMEOUT, 0},
        {ICELOG_STATE_FAILED, ICELOG_WHY_STOPPED, 0},
        {ICELOG_STATE_CANCELLED, ICELOG_WHY_PRUNED, 0},
        {ICELOG_STATE_FAILED, ICELOG_WHY_SOURCE_MISMATCH, 0},
        {ICELOG_STATE_FAILED, ICELOG_WHY_SOCKET, 0},
        {ICELOG_STATE_FAILED, ICELOG_WHY_ERROR, 403},
    };
    assert_int_equal(icelog_n_pairs(l), G_N_ELEMENTS(want));
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        const IceLogPair *p = icelog_pair(l, i);
        assert_int_equal(p->state, want[i].state);
        assert_int_equal(p->why, want[i].why);
        assert_int_equal(p->code, want[i].code);
    }
    assert_string_equal(icelog_pair(l, 0)->remote_ip, "198.51.100.9");
    assert_string_equal(icelog_pair(l, 5)->detail, "error");
    assert_string_equal(icelog_state_name(ICELOG_STATE_IN_PROGRESS), "in-progress");
}

static void test_a_freed_pairs_pointer_makes_a_new_pair(void **state)
{
    g_autoptr(IceLog) l = icelog_new();
    static const char *const lines[] = {
        "creating a new pair",
        "pair 0xa state FROZEN (priv_add_new_check_pair)",
        "pair 0xa removed.",
        "creating a new pair",
        "pair 0xa state WAITING (priv_add_new_check_pair)",
        "pair 0xa state SUCCEEDED (priv_process_response_check_for_reflexive)",
        "marking pair 0xa (1:1) as nominated",
    };
    feed_all(l, lines, G_N_ELEMENTS(lines), 0);
    assert_int_equal(icelog_n_pairs(l), 2);
    assert_int_equal(icelog_pair(l, 0)->state, ICELOG_STATE_CANCELLED);
    assert_false(icelog_pair(l, 0)->nominated);
    assert_int_equal(icelog_pair(l, 1)->state, ICELOG_STATE_SUCCEEDED);
    assert_true(icelog_pair(l, 1)->nominated);
}

static void test_lines_not_known_or_broken_change_nothing(void **state)
{
    g_autoptr(IceLog) l = icelog_new();
    g_autofree char *huge = g_strnfill(ICELOG_MAX_LINE + 1, 'x');
    g_autofree char *ones = g_strnfill(60, '1');
    g_autofree char *long_ip = g_strdup_printf("new pair 0xa : [%s]:1 --> [1.2.3.4]:2", ones);
    static const char *const lines[] = {
        "pair 0xa state FROZEN (",
        "pair 0xa state MELTING (somewhere)",
        "new pair 0xa : [1.2.3.4]:99999 --> [1.2.3.4]:2",
        "stun_turn_process/disc for 0x5 res 2.",
        "relay cand 0x1 redundant, ignoring.",
        "marking pair 0xa (1:1) as nominated",
        "added relay server [1.2.3.4]:3478 of type 77",
        "Adding new something candidate discovery 0x1",
        "s1/c1 : something else",
        "",
    };
    feed_all(l, lines, G_N_ELEMENTS(lines), 401);
    icelog_feed(l, huge, 0);
    icelog_feed(l, long_ip, 0);
    guint unknown = 0;
    assert_int_equal(icelog_lines(l, &unknown), G_N_ELEMENTS(lines) + 2);
    assert_int_equal(unknown, G_N_ELEMENTS(lines) + 2);
    assert_int_equal(icelog_n_pairs(l), 0);
    assert_int_equal(icelog_n_items(l), 0);
    assert_int_equal(icelog_n_servers(l), 0);
}

static void test_what_is_kept_is_capped(void **state)
{
    g_autoptr(IceLog) l = icelog_new();
    for (guint i = 0; i < ICELOG_MAX_PAIRS + 88; i++) {
        g_autofree char *line = g_strdup_printf("pair 0x%x state FROZEN (x)", i + 1);
        icelog_feed(l, "creating a new pair", 0);
        icelog_feed(l, line, 0);
    }
    assert_int_equal(icelog_n_pairs(l), ICELOG_MAX_PAIRS);
    assert_int_equal(icelog_pairs_over(l), 88);
    for (guint i = 0; i < ICELOG_MAX_ITEMS + 5; i++) {
        g_autofree char *line =
            g_strdup_printf("Adding new relay-rflx candidate discovery 0x%x", i + 1);
        icelog_feed(l, line, 0);
    }
    for (guint i = 0; i < ICELOG_MAX_SERVERS + 3; i++)
        icelog_feed(l, "added relay server [192.0.2.1]:3478 of type 0 to s/c 1/1", 0);
    assert_int_equal(icelog_n_items(l), ICELOG_MAX_ITEMS);
    assert_int_equal(icelog_n_servers(l), ICELOG_MAX_SERVERS);
    g_autoptr(IceLog) copy = icelog_copy(l);
    assert_int_equal(icelog_n_pairs(copy), ICELOG_MAX_PAIRS);
    assert_true(icelog_pair(copy, 3)->id == icelog_pair(l, 3)->id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_line_goes_to_the_agent_it_names),
        cmocka_unit_test(test_the_nominated_pair_is_the_one_libnice_marked),
        cmocka_unit_test(test_each_allocation_is_tied_to_its_server),
        cmocka_unit_test(test_refused_credentials_are_two_401s),
        cmocka_unit_test(test_agents_are_read_from_every_form_libnice_writes),
        cmocka_unit_test(test_why_a_pair_failed_is_what_libnice_said),
        cmocka_unit_test(test_a_freed_pairs_pointer_makes_a_new_pair),
        cmocka_unit_test(test_lines_not_known_or_broken_change_nothing),
        cmocka_unit_test(test_what_is_kept_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
