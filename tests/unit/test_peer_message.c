/* The messages between a paired run's two agents, as one side reads the
 * peer's: outside data, checked member by member, each error naming the
 * member; optional members of newer agents read as an older agent meant. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "peer_message.h"

static JsonObject *object(const char *text)
{
    g_autoptr(JsonNode) n = json_from_string(text, NULL);
    assert_non_null(n);
    return json_object_ref(json_node_get_object(n));
}

static void test_peer_messages_are_checked(void **state)
{
    static const struct {
        const char *text;
        const char *error; /* NULL: accepted */
    } cases[] = {
        {"{\"type\":\"hello\",\"tunnel\":true,\"version\":\"0.3.0\"}", NULL},
        {"{\"type\":\"hello\",\"tunnel\":\"yes\",\"version\":\"0.3.0\"}", "tunnel"},
        {"{\"type\":\"hello\",\"tunnel\":true,\"closes\":1,\"version\":\"0.3.0\"}", "closes"},
        {"{\"type\":\"session\",\"path\":\"natural\",\"ufrag\":\"abcd\",\"pwd\":"
         "\"0123456789012345678901\",\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\"}",
         NULL},
        {"{\"type\":\"session\",\"path\":\"natural\",\"ufrag\":\"abcd\",\"pwd\":\"x\",\"key\":"
         "\"AAEC\"}",
         "key"},
        {"{\"type\":\"candidate\",\"path\":\"sideways\",\"line\":\"a=candidate:1\"}", "path"},
        {"{\"type\":\"sent\",\"path\":\"relay\",\"packets\":-5}", "packets"},
        {"{\"type\":\"stats\",\"path\":\"relay\",\"in\":{\"packets_sent\":10}}", "in"},
        {"{\"type\":\"closing\",\"path\":\"relay\"}", NULL},
        {"{\"type\":\"closing\"}", "path"},
        {"{\"type\":\"hello\",\"tunnel\":true,\"at_once\":\"yes\",\"version\":\"0.6.0\"}",
         "at_once"},
        {"{\"type\":\"reruns\",\"paths\":[]}", NULL},
        {"{\"type\":\"connected\",\"path\":\"relay\"}", NULL},
        {"{\"type\":\"connected\"}", "path"},
        {"{\"type\":\"hello\",\"tunnel\":true,\"starts\":0,\"version\":\"0.6.0\"}", "starts"},
        {"{\"type\":\"reruns\",\"paths\":[\"natural\",\"tunnel-only\"]}", NULL},
        {"{\"type\":\"reruns\"}", "paths: missing"},
        {"{\"type\":\"reruns\",\"paths\":\"natural\"}", "paths: not an array"},
        {"{\"type\":\"reruns\",\"paths\":[\"natural\",\"natural\"]}", "paths[1]"},
        {"{\"type\":\"reruns\",\"paths\":[\"relay\",7]}", "paths[1]"},
        {"{\"type\":\"reruns\",\"paths\":[\"a\",\"b\",\"c\",\"d\"]}", "more than 3"},
        {"{\"type\":\"launch\"}", "type"},
        {"{\"type\":\"hello\",\"tunnel\":true,\"ptime_ms\":20,\"version\":\"0.9.0\"}", NULL},
        {"{\"type\":\"hello\",\"tunnel\":true,\"ptime_ms\":0,\"version\":\"0.9.0\"}",
         "ptime_ms"},
        {"{\"type\":\"hello\",\"tunnel\":true,\"ptime_ms\":\"20\",\"version\":\"0.9.0\"}",
         "ptime_ms"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) o = object(cases[i].text);
        PeerMessage m;
        g_autoptr(GError) e = NULL;
        gboolean ok = peer_message_parse(o, &m, &e);
        if (cases[i].error) {
            if (ok || !strstr(e->message, cases[i].error))
                fail_msg("case %u: want an error naming '%s', got %s", (unsigned)i, cases[i].error,
                         ok ? "success" : e->message);
        } else {
            if (!ok)
                fail_msg("case %u: %s", (unsigned)i, e->message);
            peer_message_clear(&m);
        }
    }
}

/* `ptime_ms` in a hello is optional: an agent that predates it says 0, and its
 * peer then counts from the first packet that arrives. */
static void test_a_hello_says_its_ptime(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        guint64 ptime_ms;
    } cases[] = {
        {"{\"type\":\"hello\",\"tunnel\":false,\"version\":\"0.8.0\"}", 0},
        {"{\"type\":\"hello\",\"tunnel\":false,\"ptime_ms\":30,\"version\":\"0.9.0\"}", 30},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) o = object(cases[i].text);
        PeerMessage m;
        g_autoptr(GError) e = NULL;
        assert_true(peer_message_parse(o, &m, &e));
        assert_int_equal(m.ptime_ms, cases[i].ptime_ms);
        peer_message_clear(&m);
    }
}

/* `closes` in a hello is optional: an agent that predates `closing` leaves it
 * out, and its peer must then neither post `closing` nor wait for one. */
static void test_a_hello_says_whether_its_agent_closes_together(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        gboolean closes;
    } cases[] = {
        {"{\"type\":\"hello\",\"tunnel\":false,\"version\":\"0.3.0\"}", FALSE},
        {"{\"type\":\"hello\",\"tunnel\":false,\"closes\":true,\"version\":\"0.4.0\"}", TRUE},
        {"{\"type\":\"hello\",\"tunnel\":false,\"closes\":false,\"version\":\"0.4.0\"}", FALSE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) o = object(cases[i].text);
        PeerMessage m;
        g_autoptr(GError) e = NULL;
        assert_true(peer_message_parse(o, &m, &e));
        assert_int_equal(m.closes, cases[i].closes);
        peer_message_clear(&m);
    }
}

/* `at_once` is optional too: an agent that predates it runs its paths one
 * after another, and so must its peer. */
static void test_a_hello_says_whether_its_agent_runs_paths_at_once(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        gboolean at_once;
    } cases[] = {
        {"{\"type\":\"hello\",\"tunnel\":true,\"closes\":true,\"version\":\"0.5.0\"}", FALSE},
        {"{\"type\":\"hello\",\"tunnel\":true,\"at_once\":true,\"version\":\"0.6.0\"}", TRUE},
        {"{\"type\":\"hello\",\"tunnel\":true,\"at_once\":false,\"version\":\"0.6.0\"}", FALSE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) o = object(cases[i].text);
        g_autoptr(GError) e = NULL;
        g_autoptr(PeerMessage) m = peer_message_new(o, &e);
        assert_non_null(m);
        assert_int_equal(m->at_once, cases[i].at_once);
    }
}

static void test_reruns_names_the_paths_to_run_again(void **state)
{
    (void)state;
    g_autoptr(JsonObject) o = object("{\"type\":\"reruns\",\"paths\":[\"relay\",\"natural\"]}");
    g_autoptr(GError) e = NULL;
    g_autoptr(PeerMessage) m = peer_message_new(o, &e);
    assert_non_null(m);
    assert_int_equal(m->type, PEER_RERUNS);
    assert_int_equal(g_strv_length(m->paths), 2);
    assert_string_equal(m->paths[0], "relay");
    assert_string_equal(m->paths[1], "natural");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_messages_are_checked),
        cmocka_unit_test(test_a_hello_says_whether_its_agent_closes_together),
        cmocka_unit_test(test_a_hello_says_its_ptime),
        cmocka_unit_test(test_a_hello_says_whether_its_agent_runs_paths_at_once),
        cmocka_unit_test(test_reruns_names_the_paths_to_run_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
