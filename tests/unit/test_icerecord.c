/* The ICE record of a path, made from two real libnice agents on loopback
 * (icerecord.c): the candidates, every pair as libnice reported it, and a TURN
 * server that never answers given up with why. Two such pairs of agents on
 * two threads at once: each record holds its own agent's pairs only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "loop.h"
#include "loopback-pair.h"
#include "run-private.h"

/* A UDP port on loopback where nothing answers (bound here, never read). */
static GSocket *silent_port(guint *port)
{
    g_autoptr(GSocket) s =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    assert_true(g_socket_bind(s, any, FALSE, NULL));
    g_autoptr(GSocketAddress) bound = g_socket_get_local_address(s, NULL);
    *port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    return g_steal_pointer(&s);
}

typedef struct {
    GMainContext *ctx;
    LoopbackSide a, b;
    GSocket *silent;
    Profile *profile;
    NetifInventory *inv;
    RunCtx c;
    PathRecord *rec;
} Run;

/* Side a records, with a TURN server on loopback that never answers. */
static gboolean open_recording(Run *r, GError **error)
{
    guint port;
    r->silent = silent_port(&port);
    g_autoptr(GPtrArray) lo = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(lo, g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4));
    r->a.lines = g_ptr_array_new_with_free_func(g_free);
    SessionConfig cfg = {.name = "a",
                         .controlling = TRUE,
                         .only_addresses = lo,
                         .on_candidate = loopback_collect,
                         .on_candidate_data = r->a.lines,
                         .turn_username = "u",
                         .turn_password = "p",
                         .record_ice = TRUE};
    paths_add_turn(&cfg, "127.0.0.1", port, NICE_RELAY_TYPE_TURN_UDP);
    r->a.s = session_new(r->ctx, &cfg, error);
    return r->a.s && session_gather(r->a.s, error);
}

static void run_open(Run *r)
{
    const char *text = "[profile]\nname=t\n[edge]\nhost=h\nusername=u\npassword_file=" UNIT_DATA_DIR
                       "/turn.password\n";
    r->profile = profile_load_from_data(text, strlen(text), NULL, "t", NULL);
    assert_non_null(r->profile);
    r->inv = netif_inventory_new(r->profile, NULL);
    assert_non_null(r->inv);
    r->c = (RunCtx){.profile = r->profile, .inv = r->inv, .edge_ip = "127.0.0.1"};
    r->ctx = g_main_context_new();
    g_autoptr(GError) error = NULL;
    assert_true(open_recording(r, &error));
    assert_true(loopback_side_open(&r->b, r->ctx, "b", FALSE, &error));
    Session *both[] = {r->a.s, r->b.s};
    session_wait_all(r->ctx, both, 2, SESSION_STATE_GATHERED, 300);
    assert_true(loopback_sides_connect(&r->a, &r->b, &error));
    session_wait_all(r->ctx, both, 2, SESSION_STATE_READY, 10000);
    assert_int_equal(session_state(r->a.s), SESSION_STATE_READY);
    r->rec = path_record_new("natural");
    paths_note_ice(&r->c, r->a.s, NULL, NULL, r->rec);
}

static void run_close(Run *r)
{
    loopback_side_clear(&r->a);
    loopback_side_clear(&r->b);
    g_object_unref(r->silent);
    g_main_context_unref(r->ctx);
    path_record_free(r->rec);
    netif_inventory_free(r->inv);
    profile_free(r->profile);
}

static const IcePair *nominated(const IceRecord *ir)
{
    for (guint i = 0; i < ir->pairs->len; i++) {
        const IcePair *p = ir->pairs->pdata[i];
        if (p->nominated)
            return p;
    }
    return NULL;
}

static void test_the_record_has_every_candidate_and_pair(void **state)
{
    Run r = {0};
    run_open(&r);
    const IceRecord *ir = r.rec->ice_record;
    assert_non_null(ir);
    /* Host candidates on lo, each with its interface. */
    assert_true(ir->local->len >= 1);
    assert_true(ir->remote->len >= 1);
    for (guint i = 0; i < ir->local->len; i++) {
        const CandidateInfo *c = ir->local->pdata[i];
        assert_string_equal(c->type, "host");
        assert_string_equal(c->interface_class, "loopback");
        assert_null(c->relay_transport);
    }
    /* The pair libnice nominated succeeded, between two known candidates. */
    const IcePair *p = nominated(ir);
    assert_non_null(p);
    assert_string_equal(p->state, "succeeded");
    assert_true(g_str_has_prefix(p->local, "host 127.0.0.1:"));
    assert_true(g_str_has_prefix(p->remote, "host 127.0.0.1:"));
    assert_null(p->why);
    for (guint i = 0; i < ir->pairs->len; i++) {
        const IcePair *q = ir->pairs->pdata[i];
        assert_true(ice_pair_state_known(q->state));
        assert_false(g_str_has_prefix(q->local, "?"));
    }
    run_close(&r);
}

static void test_a_turn_server_that_never_answers_is_given_up(void **state)
{
    Run r = {0};
    run_open(&r);
    const IceRecord *ir = r.rec->ice_record;
    assert_int_equal(ir->given_up->len, 1);
    const IceGivenUp *g = ir->given_up->pdata[0];
    assert_string_equal(g->transport, "udp");
    assert_string_equal(g->what, "TURN UDP allocation");
    if (!strstr(g->why, "no answer to 1 Allocate request") || !strstr(g->why, "from 127.0.0.1 (lo"))
        fail_msg("why: %s", g->why);
    run_close(&r);
}

static gpointer run_thread(gpointer data)
{
    Run *r = data;
    run_open(r);
    return NULL;
}

static void test_agents_at_once_on_threads_each_keep_their_own_pairs(void **state)
{
    Run runs[2] = {{0}, {0}};
    GThread *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = g_thread_new("record", run_thread, &runs[i]);
    for (int i = 0; i < 2; i++)
        g_thread_join(t[i]);
    for (int i = 0; i < 2; i++) {
        const IceRecord *ir = runs[i].rec->ice_record;
        assert_non_null(nominated(ir));
        /* Every pair's local end is one of this agent's own candidates:
         * another agent's pair would name a port it does not have ("?"). */
        for (guint k = 0; k < ir->pairs->len; k++)
            assert_false(g_str_has_prefix(((IcePair *)ir->pairs->pdata[k])->local, "?"));
    }
    for (int i = 0; i < 2; i++)
        run_close(&runs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_record_has_every_candidate_and_pair),
        cmocka_unit_test(test_a_turn_server_that_never_answers_is_given_up),
        cmocka_unit_test(test_agents_at_once_on_threads_each_keep_their_own_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
