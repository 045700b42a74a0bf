/* The controller API's JSON bodies and the agent's orders (common/protocol.c,
 * docs/contract.md "Controller API"): each parser fills its struct exactly from
 * a well-formed body, and refuses anything else in JSONIN_ERROR with a message
 * naming the member's path, leaving its struct empty. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iceprobe/protocol.h"

/* What a parser must overwrite or clear: a refused body leaves none of it. */
static char junk[] = "junk";

static char *repeat(char c, gsize n)
{
    return g_strnfill(n, c);
}

static JsonObject *object(const char *text)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(JsonNode) n = json_from_string(text, &e);
    if (!n)
        fail_msg("'%s': %s", text, e->message);
    return json_object_ref(json_node_get_object(n));
}

/* Refused in JSONIN_ERROR with CODE and exactly MESSAGE. */
static void assert_refused(const char *input, gboolean ok, const GError *e, gint code,
                           const char *message)
{
    if (ok)
        fail_msg("'%.100s': accepted, want '%s'", input, message);
    if (!e || e->domain != JSONIN_ERROR || e->code != code || strcmp(e->message, message) != 0)
        fail_msg("'%.100s': want code %d '%s', got code %d '%s'", input, code, message,
                 e ? e->code : -1, e ? e->message : "(no error)");
}

/* Each parser behind one signature; a refusal must leave its struct empty. */
typedef gboolean (*ParseFn)(const char *text, gsize len, GError **error);

static gboolean parse_run_request(const char *text, gsize len, GError **error)
{
    RunRequest r = {junk, junk, junk};
    if (protocol_parse_run_request(text, len, &r, error)) {
        run_request_clear(&r);
        return TRUE;
    }
    assert_null(r.profile);
    assert_null(r.a);
    assert_null(r.b);
    return FALSE;
}

static gboolean parse_peer_run_request(const char *text, gsize len, GError **error)
{
    PeerRunRequest r = {junk, junk};
    if (protocol_parse_peer_run_request(text, len, &r, error)) {
        peer_run_request_clear(&r);
        return TRUE;
    }
    assert_null(r.profile);
    assert_null(r.peer);
    return FALSE;
}

static gboolean parse_heartbeat(const char *text, gsize len, GError **error)
{
    static char *groups[] = {junk, NULL};
    Heartbeat h = {junk, junk, groups, junk, junk, junk, junk, junk, junk};
    if (protocol_parse_heartbeat(text, len, &h, error)) {
        heartbeat_clear(&h);
        return TRUE;
    }
    assert_null(h.version);
    assert_null(h.name);
    assert_null(h.vpn);
    assert_null(h.groups);
    assert_null(h.interfaces);
    assert_null(h.event_id);
    assert_null(h.event_kind);
    assert_null(h.event_summary);
    assert_null(h.event);
    return FALSE;
}

static gboolean parse_signal(const char *text, gsize len, GError **error)
{
    char *message = junk;
    if (protocol_parse_signal(text, len, &message, error)) {
        g_free(message);
        return TRUE;
    }
    assert_null(message);
    return FALSE;
}

static void assert_order_empty(const Order *o)
{
    assert_null(o->run_id);
    assert_false(o->side_b);
    assert_null(o->peer);
    assert_false(o->controlling);
    assert_null(o->profile_name);
    assert_null(o->profile_text);
    assert_null(o->edge_ca_pem);
    assert_null(o->paths);
    assert_int_equal(o->duration_s, 0);
    assert_int_equal(o->deadline, 0);
    assert_null(o->turn_username);
    assert_null(o->turn_password);
    assert_int_equal(o->turn_expires_at, 0);
}

static void fill_with_junk(Order *o)
{
    static char *paths[] = {junk, NULL};
    *o = (Order){junk, TRUE, junk, TRUE, junk, junk, junk, paths, 7, 7, junk, junk, 7};
}

static gboolean parse_order_text(const char *text, gsize len, GError **error)
{
    Order o;
    fill_with_junk(&o);
    if (protocol_parse_order_text(text, len, &o, error)) {
        order_clear(&o);
        return TRUE;
    }
    assert_order_empty(&o);
    return FALSE;
}

typedef struct {
    const char *text;
    const char *message; /* every one a JSONIN_ERROR_FIELD */
} Refusal;

static void assert_field_refusals(ParseFn parse, const Refusal *cases, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        g_autoptr(GError) e = NULL;
        gboolean ok = parse(cases[i].text, strlen(cases[i].text), &e);
        assert_refused(cases[i].text, ok, e, JSONIN_ERROR_FIELD, cases[i].message);
    }
}

#define NAME_RULE  "a name is 1-64 letters, digits, '.', '_' or '-'"
#define SIDES_RULE NAME_RULE " (agents: NAME or group:NAME)"

/* ---- names ---- */

static void test_a_name_is_1_to_64_letters_digits_dots_underscores_or_dashes(void **state)
{
    g_autofree char *n64 = repeat('a', 64), *n65 = repeat('a', 65);
    const char *good[] = {"a", "7", "edge-lab_2.corp", "v1.2", "-", "_", n64,
                          /* a name never becomes a path on its own: a spool file is NAME.json */
                          ".", ".."};
    const char *bad[] = {"",          n65,   "a b",         "a/b", "a\\b", "a:b",
                         "group:lab", "a\n", "caf\xc3\xa9", "a*",  "a\"b"};
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        if (!protocol_valid_name(good[i]))
            fail_msg("'%s' refused", good[i]);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        if (protocol_valid_name(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    }
    assert_false(protocol_valid_name(NULL));
}

/* ---- POST /api/v1/runs ---- */

static void test_a_run_request_fills_its_profile_and_both_sides(void **state)
{
    const char *text =
        "{\"profile\":\"office\",\"a\":\"edge-lab.2\",\"b\":\"group:branch_offices\"}";
    g_autoptr(GError) e = NULL;
    g_auto(RunRequest) r = {0};
    assert_true(protocol_parse_run_request(text, strlen(text), &r, &e));
    assert_null(e);
    assert_string_equal(r.profile, "office");
    assert_string_equal(r.a, "edge-lab.2");
    assert_string_equal(r.b, "group:branch_offices");
}

static void test_a_run_request_side_may_be_a_group_of_a_64_character_name(void **state)
{
    g_autofree char *n64 = repeat('g', 64);
    g_autofree char *text =
        g_strdup_printf("{\"profile\":\"office\",\"a\":\"group:%s\",\"b\":\"%s\"}", n64, n64);
    g_autofree char *want = g_strconcat("group:", n64, NULL);
    g_autoptr(GError) e = NULL;
    g_auto(RunRequest) r = {0};
    if (!protocol_parse_run_request(text, strlen(text), &r, &e))
        fail_msg("%s", e->message);
    assert_string_equal(r.a, want);
    assert_string_equal(r.b, n64);
}

static void test_a_run_request_names_the_member_it_refuses_and_leaves_nothing(void **state)
{
    g_autofree char *n65 = repeat('x', 65);
    g_autofree char *long_profile =
        g_strdup_printf("{\"profile\":\"%s\",\"a\":\"x\",\"b\":\"y\"}", n65);
    g_autofree char *long_a = g_strdup_printf("{\"profile\":\"p\",\"a\":\"%s\",\"b\":\"y\"}", n65);
    g_autofree char *long_group =
        g_strdup_printf("{\"profile\":\"p\",\"a\":\"x\",\"b\":\"group:%s\"}", n65);
    const Refusal cases[] = {
        {"{\"profile\":\"office\",\"a\":\"x\"}", "b: missing"},
        {"{\"profile\":\"office\",\"a\":\"x\",\"b\":null}", "b: missing"},
        {"{\"a\":\"x\",\"b\":\"y\"}", "profile: missing"},
        {"{\"profile\":\"office\",\"a\":\"x\",\"b\":\"y\",\"c\":\"z\"}", "c: unknown member"},
        {"{\"profile\":\"office\",\"a\":7,\"b\":\"y\"}", "a: not a string"},
        {"{\"profile\":\"off ice\",\"a\":\"x\",\"b\":\"y\"}", "profile: " SIDES_RULE},
        {"{\"profile\":\"group:lab\",\"a\":\"x\",\"b\":\"y\"}", "profile: " SIDES_RULE},
        {"{\"profile\":\"office\",\"a\":\"\",\"b\":\"y\"}", "a: " SIDES_RULE},
        {"{\"profile\":\"office\",\"a\":\"x\",\"b\":\"group:\"}", "b: " SIDES_RULE},
        {"{\"profile\":\"office\",\"a\":\"x\",\"b\":\"group:group:lab\"}", "b: " SIDES_RULE},
        {"{\"profile\":\"office\",\"a\":\"Group:lab\",\"b\":\"y\"}", "a: " SIDES_RULE},
        {"{\"profile\":\"office\",\"a\":\"x\",\"b\":\"lab/../y\"}", "b: " SIDES_RULE},
        {long_profile, "profile: longer than 64 bytes"},
        /* under the member's cap (group: and 64), over a name's */
        {long_a, "a: " SIDES_RULE},
        {long_group, "b: longer than 70 bytes"},
    };
    assert_field_refusals(parse_run_request, cases, G_N_ELEMENTS(cases));
}

/* ---- POST /api/v1/agent/runs ---- */

static void test_a_peer_run_request_fills_its_profile_and_peer(void **state)
{
    const char *text = "{\"profile\":\"office\",\"peer\":\"edge-lab.2\"}";
    g_autoptr(GError) e = NULL;
    g_auto(PeerRunRequest) r = {0};
    assert_true(protocol_parse_peer_run_request(text, strlen(text), &r, &e));
    assert_string_equal(r.profile, "office");
    assert_string_equal(r.peer, "edge-lab.2");
}

static void test_a_peer_run_request_peer_is_one_agent_never_a_group(void **state)
{
    g_autofree char *n65 = repeat('x', 65);
    g_autofree char *long_peer = g_strdup_printf("{\"profile\":\"p\",\"peer\":\"%s\"}", n65);
    const Refusal cases[] = {
        {"{\"profile\":\"office\",\"peer\":\"group:lab\"}", "peer: " NAME_RULE},
        {"{\"profile\":\"office\",\"peer\":\"\"}", "peer: " NAME_RULE},
        {"{\"profile\":\"a b\",\"peer\":\"x\"}", "profile: " NAME_RULE},
        {"{\"profile\":\"office\"}", "peer: missing"},
        {"{\"profile\":\"office\",\"peer\":true}", "peer: not a string"},
        {"{\"profile\":\"office\",\"peer\":\"x\",\"a\":\"y\"}", "a: unknown member"},
        {long_peer, "peer: longer than 64 bytes"},
    };
    assert_field_refusals(parse_peer_run_request, cases, G_N_ELEMENTS(cases));
}

/* ---- POST /api/v1/agent/heartbeat ---- */

static void test_a_heartbeat_fills_its_version_name_and_groups(void **state)
{
    const char *text =
        "{\"version\":\"0.7.0\",\"name\":\"edge-lab.2\",\"groups\":[\"lab\",\"edge\"]}";
    g_autoptr(GError) e = NULL;
    g_auto(Heartbeat) h = {0};
    assert_true(protocol_parse_heartbeat(text, strlen(text), &h, &e));
    assert_string_equal(h.version, "0.7.0");
    assert_string_equal(h.name, "edge-lab.2");
    assert_int_equal(g_strv_length(h.groups), 2);
    assert_string_equal(h.groups[0], "lab");
    assert_string_equal(h.groups[1], "edge");
    assert_null(h.interfaces);
}

static void test_a_heartbeat_rewrites_its_interfaces_with_known_members_only(void **state)
{
    const char *text = "{\"version\":\"0.7.0\",\"interfaces\":["
                       "{\"name\":\"eth0\",\"class\":\"physical\",\"kind\":\"ethernet\","
                       "\"addresses\":[\"192.0.2.10\",\"2001:db8::10\"],\"mtu\":1500},"
                       "{\"name\":\"wg0\",\"class\":\"tunnel\",\"kind\":null},"
                       "{\"name\":\"lo\",\"class\":\"loopback\",\"addresses\":[]},"
                       "{\"name\":\"docker0\",\"class\":\"virtual\",\"up\":true}]}";
    g_autoptr(GError) e = NULL;
    g_auto(Heartbeat) h = {0};
    assert_true(protocol_parse_heartbeat(text, strlen(text), &h, &e));
    assert_string_equal(h.interfaces,
                        "[{\"name\":\"eth0\",\"class\":\"physical\",\"kind\":\"ethernet\","
                        "\"addresses\":[\"192.0.2.10\",\"2001:db8::10\"]},"
                        "{\"name\":\"wg0\",\"class\":\"tunnel\",\"addresses\":[]},"
                        "{\"name\":\"lo\",\"class\":\"loopback\",\"addresses\":[]},"
                        "{\"name\":\"docker0\",\"class\":\"virtual\",\"addresses\":[]}]");
    assert_null(h.name);
    assert_null(h.groups);
}

static void test_a_heartbeat_carries_the_vpns_facts(void **state)
{
    const char *text = "{\"version\":\"0.7.0\",\"interfaces\":[],\"vpn\":{\"interface\":\"gpd0\","
                       "\"product\":\"Palo Alto GlobalProtect (PANGP)\",\"tunnel\":\"full\","
                       "\"mtu\":1400,\"gateway\":\"198.51.100.3\",\"gateway_from\":\"a route\"}}";
    g_auto(Heartbeat) h = {0};
    g_autoptr(GError) e = NULL;
    if (!protocol_parse_heartbeat(text, strlen(text), &h, &e))
        fail_msg("%s", e->message);
    assert_non_null(strstr(h.vpn, "\"tunnel\":\"full\""));
    assert_non_null(strstr(h.vpn, "\"mtu\":1400"));
    g_auto(Heartbeat) none = {0};
    const char *bare = "{\"version\":\"0.7.0\"}";
    assert_true(protocol_parse_heartbeat(bare, strlen(bare), &none, NULL));
    assert_null(none.vpn);
    static const struct {
        const char *vpn, *says;
    } bad[] = {{"{\"secret\":1}", "vpn.secret"},
               {"{\"mtu\":70000}", "vpn.mtu: not a whole number"},
               {"{\"tunnel\":7}", "vpn.tunnel"},
               {"[]", "vpn: not an object"}};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *t = g_strdup_printf("{\"version\":\"0.7.0\",\"vpn\":%s}", bad[i].vpn);
        g_autoptr(GError) err = NULL;
        assert_false(parse_heartbeat(t, strlen(t), &err));
        if (!strstr(err->message, bad[i].says))
            fail_msg("'%s' does not say '%s'", err->message, bad[i].says);
    }
}

static void test_a_heartbeat_carries_a_network_event(void **state)
{
    const char *text = "{\"version\":\"0.8.0\",\"network_event\":{\"id\":\"0f3a9c.2\","
                       "\"kind\":\"vpn-up\",\"at\":1796000000,\"changes\":[\"gpd0 came up "
                       "(100.64.0.2/32)\",\"default route via 10.254.1.1 dev eth0\"],"
                       "\"extra\":1}}";
    g_autoptr(GError) e = NULL;
    assert_false(parse_heartbeat(text, strlen(text), &e));
    assert_non_null(strstr(e->message, "network_event.extra: unknown member"));
    g_autofree char *good = g_strdup(text);
    *strstr(good, ",\"extra\":1") = '\0';
    g_autofree char *closed = g_strconcat(good, "}}", NULL);
    g_auto(Heartbeat) h = {0};
    if (!protocol_parse_heartbeat(closed, strlen(closed), &h, &e))
        fail_msg("%s", e->message);
    assert_string_equal(h.event_id, "0f3a9c.2");
    assert_string_equal(h.event_kind, "vpn-up");
    assert_string_equal(h.event_summary,
                        "gpd0 came up (100.64.0.2/32); default route via 10.254.1.1 dev eth0");
    assert_string_equal(h.event, "{\"id\":\"0f3a9c.2\",\"kind\":\"vpn-up\",\"at\":1796000000,"
                                 "\"changes\":[\"gpd0 came up (100.64.0.2/32)\",\"default route "
                                 "via 10.254.1.1 dev eth0\"]}");
    GString *many = g_string_new("{\"version\":\"1\",\"network_event\":{\"id\":\"a.1\","
                                 "\"kind\":\"network-change\",\"at\":1,\"changes\":[");
    for (guint i = 0; i < 33; i++)
        g_string_append_printf(many, "%s\"c%u\"", i ? "," : "", i);
    g_string_append(many, "]}}");
    g_autofree char *c257 = repeat('c', 257);
    g_autofree char *long_change = g_strdup_printf(
        "{\"version\":\"1\",\"network_event\":{\"id\":\"a.1\",\"kind\":\"vpn-up\",\"at\":1,"
        "\"changes\":[\"%s\"]}}",
        c257);
    const Refusal cases[] = {
        {"{\"version\":\"1\",\"network_event\":{\"id\":\"a.1\",\"kind\":\"vpn-sideways\","
         "\"at\":1,\"changes\":[]}}",
         "network_event.kind: 'vpn-sideways' is not vpn-up, vpn-down or network-change"},
        {"{\"version\":\"1\",\"network_event\":{\"id\":\"a b\",\"kind\":\"vpn-up\","
         "\"at\":1,\"changes\":[]}}",
         "network_event.id: letters, digits, '.' and '-' only"},
        {"{\"version\":\"1\",\"network_event\":{\"id\":\"a.1\",\"kind\":\"vpn-up\","
         "\"changes\":[]}}",
         "network_event.at: missing"},
        {"{\"version\":\"1\",\"network_event\":[]}", "network_event: not an object"},
        {many->str, "network_event.changes: more than 32 items"},
        {"{\"version\":\"1\",\"network_event\":{\"id\":\"a.1\",\"kind\":\"vpn-up\",\"at\":1,"
         "\"changes\":[\"ok\",\"gpd0 came up\\n2026-12-07 controller: forged\"]}}",
         "network_event.changes[1]: a control character"},
        {long_change, "network_event.changes[0]: longer than 256 bytes"},
    };
    assert_field_refusals(parse_heartbeat, cases, G_N_ELEMENTS(cases));
    g_string_free(many, TRUE);
}

static void test_a_heartbeat_with_no_interfaces_keeps_an_empty_list(void **state)
{
    const char *text = "{\"version\":\"0.7.0\",\"interfaces\":[]}";
    g_auto(Heartbeat) h = {0};
    assert_true(protocol_parse_heartbeat(text, strlen(text), &h, NULL));
    assert_string_equal(h.interfaces, "[]");
}

static void test_a_heartbeat_names_the_member_it_refuses_and_leaves_nothing(void **state)
{
    g_autofree char *n65 = repeat('v', 65);
    g_autofree char *long_version = g_strdup_printf("{\"version\":\"%s\"}", n65);
    g_autofree char *long_name = g_strdup_printf("{\"version\":\"1\",\"name\":\"%s\"}", n65);
    const Refusal cases[] = {
        {"{}", "version: missing"},
        {"{\"version\":1}", "version: not a string"},
        {"{\"version\":\"1\",\"nick\":\"x\"}", "nick: unknown member"},
        {long_version, "version: longer than 64 bytes"},
        {long_name, "name: longer than 64 bytes"},
        {"{\"version\":\"1\",\"groups\":\"lab\"}", "groups: not an array"},
        {"{\"version\":\"1\",\"groups\":[\"lab\",7]}", "groups[1]: not a string"},
        /* the interfaces read well first: what they made is freed too */
        {"{\"version\":\"1\",\"groups\":[\"lab\",\"bad group\"],"
         "\"interfaces\":[{\"name\":\"eth0\",\"class\":\"physical\"}]}",
         "groups[1]: not a name"},
        {"{\"version\":\"1\",\"groups\":[\"\"]}", "groups[0]: not a name"},
        {"{\"version\":\"1\",\"interfaces\":{}}", "interfaces: not an array"},
        {"{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":\"physical\"},\"wg0\"]}",
         "interfaces[1]: not an object"},
        {"{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":\"physical\"},"
         "{\"name\":\"x\",\"class\":\"weird\"}]}",
         "interfaces[1].class: 'weird' is not physical, tunnel, loopback or virtual"},
        {"{\"version\":\"1\",\"interfaces\":[{\"class\":\"physical\"}]}",
         "interfaces[0].name: missing"},
        {"{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\"}]}",
         "interfaces[0].class: missing"},
        {"{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":\"physical\","
         "\"kind\":5}]}",
         "interfaces[0].kind: not a string"},
        {"{\"version\":\"1\",\"interfaces\":[{\"name\":\"eth0\",\"class\":\"physical\","
         "\"addresses\":[\"192.0.2.1\",7]}]}",
         "interfaces[0].addresses[1]: not a string"},
    };
    assert_field_refusals(parse_heartbeat, cases, G_N_ELEMENTS(cases));
}

static void test_a_heartbeat_caps_its_groups_interfaces_and_addresses(void **state)
{
    GString *groups = g_string_new("{\"version\":\"1\",\"groups\":[");
    for (guint i = 0; i < 33; i++)
        g_string_append_printf(groups, "%s\"g%u\"", i ? "," : "", i);
    g_string_append(groups, "]}");
    GString *ifaces = g_string_new("{\"version\":\"1\",\"interfaces\":[");
    for (guint i = 0; i < PROTOCOL_MAX_INTERFACES + 1; i++)
        g_string_append_printf(ifaces, "%s{\"name\":\"e%u\",\"class\":\"physical\"}", i ? "," : "",
                               i);
    g_string_append(ifaces, "]}");
    GString *addrs =
        g_string_new("{\"version\":\"1\",\"interfaces\":[{\"name\":\"e\",\"class\":\"physical\","
                     "\"addresses\":[");
    for (guint i = 0; i < PROTOCOL_MAX_ADDRESSES + 1; i++)
        g_string_append_printf(addrs, "%s\"192.0.2.%u\"", i ? "," : "", i);
    g_string_append(addrs, "]}]}");
    g_autofree char *n65 = repeat('a', 65);
    g_autofree char *long_addr =
        g_strdup_printf("{\"version\":\"1\",\"interfaces\":[{\"name\":\"e\",\"class\":\"physical\","
                        "\"addresses\":[\"%s\"]}]}",
                        n65);
    const Refusal cases[] = {
        {groups->str, "groups: more than 32 items"},
        {ifaces->str, "interfaces: more than 64 items"},
        {addrs->str, "interfaces[0].addresses: more than 32 items"},
        {long_addr, "interfaces[0].addresses[0]: longer than 64 bytes"},
    };
    assert_field_refusals(parse_heartbeat, cases, G_N_ELEMENTS(cases));
    g_string_free(groups, TRUE);
    g_string_free(ifaces, TRUE);
    g_string_free(addrs, TRUE);
}

/* ---- POST /api/v1/runs/{id}/signal ---- */

static void test_a_signal_hands_back_its_message_object_as_text(void **state)
{
    const char *text = "{\"message\":{\"type\":\"candidate\",\"path\":\"relay\","
                       "\"line\":\"a=candidate:1 1 udp 5 192.0.2.1 3478 typ relay\",\"n\":[1,2]}}";
    g_autoptr(GError) e = NULL;
    g_autofree char *message = NULL;
    assert_true(protocol_parse_signal(text, strlen(text), &message, &e));
    assert_string_equal(message, "{\"type\":\"candidate\",\"path\":\"relay\","
                                 "\"line\":\"a=candidate:1 1 udp 5 192.0.2.1 3478 typ relay\","
                                 "\"n\":[1,2]}");
}

static void test_a_signal_names_the_member_it_refuses_and_leaves_nothing(void **state)
{
    const Refusal cases[] = {
        {"{}", "message: missing"},
        {"{\"message\":null}", "message: missing"},
        {"{\"message\":\"hello\"}", "message: not an object"},
        {"{\"message\":[1]}", "message: not an object"},
        {"{\"message\":{},\"seq\":1}", "seq: unknown member"},
    };
    assert_field_refusals(parse_signal, cases, G_N_ELEMENTS(cases));
}

/* ---- orders ---- */

/* As controller/scheduler.c's order_for writes one: "turn" carries ttl_s too.
 * Its deadline is past 2^31: 2100-01-01. */
static const char good_order[] =
    "{\"run_id\":\"r-20261201-0001\",\"side\":\"b\",\"peer\":\"edge-lab.2\",\"controlling\":false,"
    "\"profile\":{\"name\":\"office\",\"text\":\"[stream]\\nduration_s = 5\\n\","
    "\"edge_ca_pem\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"},"
    "\"paths\":[\"natural\",\"relay\",\"tunnel-only\"],\"duration_s\":5,\"deadline\":4102444800,"
    "\"turn\":{\"username\":\"4102445100:r-20261201-0001\",\"password\":\"c2VjcmV0LXBhc3M=\","
    "\"ttl_s\":1200}}";

/* An ms-turn profile's order: the MRAS set, and when it lapses. */
static void test_an_ms_turn_orders_credentials_carry_their_expiry(void **state)
{
    static const char order[] =
        "{\"run_id\":\"r-1\",\"side\":\"a\",\"peer\":\"p\",\"controlling\":true,"
        "\"profile\":{\"name\":\"sfb\",\"text\":\"\"},\"paths\":[\"natural\"],"
        "\"duration_s\":5,\"deadline\":1796544000,"
        "\"turn\":{\"username\":\"QWdBQUpQ\",\"password\":\"djBaQQ==\",\"ttl_s\":1800,"
        "\"expires_at\":1796545800}}";
    g_autoptr(GError) e = NULL;
    g_auto(Order) o = {0};
    if (!protocol_parse_order_text(order, strlen(order), &o, &e))
        fail_msg("%s", e->message);
    assert_int_equal(o.turn_expires_at, 1796545800);
    assert_string_equal(o.turn_username, "QWdBQUpQ");
    g_auto(Order) bad = {0};
    g_autofree char *neg = g_strdup(order);
    memcpy(strstr(neg, "1796545800"), "-796545800", 10);
    assert_false(protocol_parse_order_text(neg, strlen(neg), &bad, &e));
    assert_non_null(strstr(e->message, "order.turn.expires_at"));
}

static void test_an_order_fills_every_field(void **state)
{
    g_autoptr(GError) e = NULL;
    g_auto(Order) o = {0};
    if (!protocol_parse_order_text(good_order, strlen(good_order), &o, &e))
        fail_msg("%s", e->message);
    assert_string_equal(o.run_id, "r-20261201-0001");
    assert_true(o.side_b);
    assert_string_equal(o.peer, "edge-lab.2");
    assert_false(o.controlling);
    assert_string_equal(o.profile_name, "office");
    assert_string_equal(o.profile_text, "[stream]\nduration_s = 5\n");
    assert_string_equal(o.edge_ca_pem,
                        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    assert_int_equal(g_strv_length(o.paths), 3);
    assert_string_equal(o.paths[0], "natural");
    assert_string_equal(o.paths[1], "relay");
    assert_string_equal(o.paths[2], "tunnel-only");
    assert_int_equal(o.duration_s, 5);
    assert_true(o.deadline == G_GINT64_CONSTANT(4102444800));
    assert_string_equal(o.turn_username, "4102445100:r-20261201-0001");
    assert_string_equal(o.turn_password, "c2VjcmV0LXBhc3M=");
}

/* Sets MEMBER ("turn.password": one level down) of O to the JSON VALUE, or removes it (NULL). */
static void set_member(JsonObject *o, const char *member, const char *value)
{
    g_auto(GStrv) parts = g_strsplit(member, ".", 2);
    if (parts[1]) {
        o = json_object_get_object_member(o, parts[0]);
        member = parts[1];
    } else {
        member = parts[0];
    }
    if (!value) {
        json_object_remove_member(o, member);
        return;
    }
    g_autoptr(GError) e = NULL;
    JsonNode *n = json_from_string(value, &e);
    if (!n)
        fail_msg("'%s': %s", value, e->message);
    json_object_set_member(o, member, n);
}

static void test_an_order_for_side_a_without_an_edge_ca_reads_as_such(void **state)
{
    g_autoptr(JsonObject) j = object(good_order);
    set_member(j, "side", "\"a\"");
    set_member(j, "controlling", "true");
    set_member(j, "profile.edge_ca_pem", NULL);
    set_member(j, "paths", "[\"relay\"]");
    g_autoptr(GError) e = NULL;
    g_auto(Order) o = {0};
    if (!protocol_parse_order(j, &o, &e))
        fail_msg("%s", e->message);
    assert_false(o.side_b);
    assert_true(o.controlling);
    assert_null(o.edge_ca_pem);
    assert_int_equal(g_strv_length(o.paths), 1);
    assert_string_equal(o.paths[0], "relay");
}

static void test_an_order_names_the_member_it_refuses_and_leaves_nothing(void **state)
{
    static const struct {
        const char *member;
        const char *value; /* NULL: removed */
        const char *message;
    } cases[] = {
        {"run_id", NULL, "order.run_id: missing"},
        {"run_id", "\"../x\"", "order.run_id: not a valid name"},
        {"side", "\"c\"", "order.side: 'c' is not a or b"},
        {"side", "\"\"", "order.side: '' is not a or b"},
        {"side", "\"ab\"", "order.side: longer than 1 bytes"},
        {"peer", "\"bad peer\"", "order.peer: not a valid name"},
        {"peer", "\"group:lab\"", "order.peer: not a valid name"},
        {"controlling", "\"yes\"", "order.controlling: not true or false"},
        {"duration_s", "0", "order.duration_s: not a whole number from 1 to 3600"},
        {"duration_s", "3601", "order.duration_s: not a whole number from 1 to 3600"},
        {"duration_s", "5.5", "order.duration_s: not a whole number from 1 to 3600"},
        {"deadline", "-1", "order.deadline: not a whole number from 0 to 8589934588"},
        {"deadline", "\"soon\"", "order.deadline: not a whole number from 0 to 8589934588"},
        {"profile", "\"office\"", "order.profile: not an object"},
        {"profile.name", NULL, "order.profile.name: missing"},
        {"profile.text", "7", "order.profile.text: not a string"},
        {"profile.edge_ca_pem", "[]", "order.profile.edge_ca_pem: not a string"},
        {"turn", NULL, "order.turn: missing"},
        {"turn.username", NULL, "order.turn.username: missing"},
        {"turn.password", "7", "order.turn.password: not a string"},
        {"paths", NULL, "order.paths: missing"},
        {"paths", "\"natural\"", "order.paths: not an array"},
        {"paths", "[]", "order.paths: 1 to 8 names"},
        {"paths", "[\"natural\",\"sideways\"]",
         "order.paths[1]: not natural, relay or tunnel-only"},
        /* a relay-loop report's name, not a paired path */
        {"paths", "[\"relay-udp\"]", "order.paths[0]: not natural, relay or tunnel-only"},
        {"paths", "[\"natural\",7]", "order.paths[1]: not a string"},
        {"paths",
         "[\"relay\",\"relay\",\"relay\",\"relay\",\"relay\",\"relay\",\"relay\",\"relay\","
         "\"relay\"]",
         "order.paths: more than 8 items"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonObject) j = object(good_order);
        set_member(j, cases[i].member, cases[i].value);
        Order o;
        fill_with_junk(&o);
        g_autoptr(GError) e = NULL;
        gboolean ok = protocol_parse_order(j, &o, &e);
        assert_refused(cases[i].member, ok, e, JSONIN_ERROR_FIELD, cases[i].message);
        assert_order_empty(&o);
    }
}

static void test_an_order_text_refuses_a_member_it_does_not_know(void **state)
{
    g_autoptr(GString) text = g_string_new(good_order);
    g_string_insert(text, 1, "\"priority\":1,");
    g_autoptr(GError) e = NULL;
    gboolean ok = parse_order_text(text->str, text->len, &e);
    assert_refused(text->str, ok, e, JSONIN_ERROR_FIELD, "priority: unknown member");
}

/* The order's cap is twice a body's: a profile text at its own cap fits, and one
 * byte more is that member's fault (400), not the document's (413). */
static void
test_an_order_over_its_caps_is_a_size_error_and_a_member_over_its_own_a_field_error(void **state)
{
    g_autoptr(JsonObject) j = object(good_order);
    g_autofree char *at_cap = repeat('p', PROTOCOL_MAX_BODY);
    json_object_set_string_member(json_object_get_object_member(j, "profile"), "text", at_cap);
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), j);
    g_autofree char *fits = json_to_string(n, FALSE);
    assert_true(parse_order_text(fits, strlen(fits), NULL));

    g_autofree char *over = repeat('p', PROTOCOL_MAX_BODY + 1);
    json_object_set_string_member(json_object_get_object_member(j, "profile"), "text", over);
    g_autofree char *member_over = json_to_string(n, FALSE);
    g_autoptr(GError) e1 = NULL;
    gboolean ok = parse_order_text(member_over, strlen(member_over), &e1);
    assert_refused("profile text over 64 KiB", ok, e1, JSONIN_ERROR_FIELD,
                   "order.profile.text: longer than 65536 bytes");

    g_autoptr(GString) big = g_string_new(good_order);
    g_autofree char *pad = repeat(' ', PROTOCOL_MAX_BODY * 2 + 1 - big->len);
    g_string_append(big, pad);
    g_autoptr(GError) e2 = NULL;
    ok = parse_order_text(big->str, big->len, &e2);
    assert_refused("an order over 128 KiB", ok, e2, JSONIN_ERROR_SIZE,
                   "the order is over 131072 bytes");

    g_autoptr(GString) deep = g_string_new("{\"run_id\":");
    for (guint i = 0; i < PROTOCOL_MAX_DEPTH; i++)
        g_string_append_c(deep, '[');
    for (guint i = 0; i < PROTOCOL_MAX_DEPTH; i++)
        g_string_append_c(deep, ']');
    g_string_append_c(deep, '}');
    g_autoptr(GError) e3 = NULL;
    ok = parse_order_text(deep->str, deep->len, &e3);
    assert_refused(deep->str, ok, e3, JSONIN_ERROR_SIZE, "the order nests deeper than 16");
}

static void test_order_clear_empties_the_order_and_may_be_called_twice(void **state)
{
    Order o;
    assert_true(protocol_parse_order_text(good_order, strlen(good_order), &o, NULL));
    assert_non_null(o.turn_password);
    order_clear(&o);
    /* side_b, controlling, duration_s and deadline are values: clear leaves them. */
    assert_null(o.run_id);
    assert_null(o.peer);
    assert_null(o.profile_name);
    assert_null(o.profile_text);
    assert_null(o.edge_ca_pem);
    assert_null(o.paths);
    assert_null(o.turn_username);
    assert_null(o.turn_password);
    order_clear(&o);
    assert_null(o.turn_password);
    Order empty = {0};
    order_clear(&empty);
    assert_order_empty(&empty);
}

/* ---- what every body shares ---- */

static const struct {
    const char *what;
    ParseFn parse;
    const char *member; /* a string member it reads */
} body_parsers[] = {
    {"run request", parse_run_request, "profile"},
    {"peer run request", parse_peer_run_request, "profile"},
    {"heartbeat", parse_heartbeat, "version"},
    {"signal", parse_signal, "message"},
};

static void test_every_body_over_64_KiB_or_16_deep_is_a_size_error(void **state)
{
    for (gsize i = 0; i < G_N_ELEMENTS(body_parsers); i++) {
        g_autofree char *fill = repeat('x', PROTOCOL_MAX_BODY);
        g_autofree char *big = g_strdup_printf("{\"%s\":\"%s\"}", body_parsers[i].member, fill);
        g_autoptr(GError) e1 = NULL;
        gboolean ok = body_parsers[i].parse(big, strlen(big), &e1);
        assert_refused(body_parsers[i].what, ok, e1, JSONIN_ERROR_SIZE,
                       "the body is over 65536 bytes");

        g_autoptr(GString) deep = g_string_new(NULL);
        g_string_printf(deep, "{\"%s\":", body_parsers[i].member);
        for (guint d = 0; d < PROTOCOL_MAX_DEPTH; d++)
            g_string_append_c(deep, '[');
        for (guint d = 0; d < PROTOCOL_MAX_DEPTH; d++)
            g_string_append_c(deep, ']');
        g_string_append_c(deep, '}');
        g_autoptr(GError) e2 = NULL;
        ok = body_parsers[i].parse(deep->str, deep->len, &e2);
        assert_refused(body_parsers[i].what, ok, e2, JSONIN_ERROR_SIZE,
                       "the body nests deeper than 16");
    }
}

static void test_text_that_is_not_one_json_object_is_refused_by_every_parser(void **state)
{
    static const struct {
        const char *text;
        gint code;
        const char *start; /* of the message: json-glib words the rest */
    } cases[] = {
        {"", JSONIN_ERROR_SYNTAX, "the body is not JSON: "},
        {"{\"profile\":", JSONIN_ERROR_SYNTAX, "the body is not JSON: "},
        {"{'profile':'x'}", JSONIN_ERROR_SYNTAX,
         "the body is not JSON: a comment or a single-quoted string"},
        {"[]", JSONIN_ERROR_FIELD, "the body is not a JSON object"},
        {"\"profile\"", JSONIN_ERROR_FIELD, "the body is not a JSON object"},
    };
    for (gsize p = 0; p < G_N_ELEMENTS(body_parsers); p++) {
        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
            g_autoptr(GError) e = NULL;
            gboolean ok = body_parsers[p].parse(cases[i].text, strlen(cases[i].text), &e);
            if (ok || !g_error_matches(e, JSONIN_ERROR, cases[i].code) ||
                !g_str_has_prefix(e->message, cases[i].start))
                fail_msg("%s '%s': want code %d '%s...', got %s", body_parsers[p].what,
                         cases[i].text, cases[i].code, cases[i].start, ok ? "success" : e->message);
        }
    }
    g_autoptr(GError) e = NULL;
    assert_false(parse_order_text("{\"run_id\":", 10, &e));
    assert_true(g_error_matches(e, JSONIN_ERROR, JSONIN_ERROR_SYNTAX));
    assert_true(g_str_has_prefix(e->message, "the order is not JSON: "));
}

/* ---- paired paths ---- */

static void test_the_paired_paths_are_natural_relay_and_tunnel_only(void **state)
{
    assert_int_equal(g_strv_length((char **)protocol_paired_paths), 3);
    assert_string_equal(protocol_paired_paths[0], "natural");
    assert_string_equal(protocol_paired_paths[1], "relay");
    assert_string_equal(protocol_paired_paths[2], "tunnel-only");
}

static void test_a_path_is_judged_relay_by_its_relay_prefix_and_natural_when_unknown(void **state)
{
    static const struct {
        const char *name;
        PolicyPathKind kind;
    } cases[] = {
        {"natural", POLICY_PATH_NATURAL},        {"relay", POLICY_PATH_FORCED_RELAY},
        {"relay-udp", POLICY_PATH_FORCED_RELAY}, {"relay-tcp", POLICY_PATH_FORCED_RELAY},
        {"relay-tls", POLICY_PATH_FORCED_RELAY}, {"tunnel-only", POLICY_PATH_TUNNEL_ONLY},
        {"sideways", POLICY_PATH_NATURAL},       {"", POLICY_PATH_NATURAL},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        PolicyPathKind got = protocol_paired_path_kind(cases[i].name);
        if (got != cases[i].kind)
            fail_msg("'%s': want kind %d, got %d", cases[i].name, cases[i].kind, got);
    }
}

static void test_only_done_and_error_are_final_run_states(void **state)
{
    assert_true(protocol_run_state_is_final("done"));
    assert_true(protocol_run_state_is_final("error"));
    static const char *const open[] = {"pending", "dispatched", "running", "verifying", "Done", ""};
    for (gsize i = 0; i < G_N_ELEMENTS(open); i++) {
        if (protocol_run_state_is_final(open[i]))
            fail_msg("'%s' is not a final state", open[i]);
    }
    assert_false(protocol_run_state_is_final(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_name_is_1_to_64_letters_digits_dots_underscores_or_dashes),
        cmocka_unit_test(test_a_run_request_fills_its_profile_and_both_sides),
        cmocka_unit_test(test_a_run_request_side_may_be_a_group_of_a_64_character_name),
        cmocka_unit_test(test_a_run_request_names_the_member_it_refuses_and_leaves_nothing),
        cmocka_unit_test(test_a_peer_run_request_fills_its_profile_and_peer),
        cmocka_unit_test(test_a_peer_run_request_peer_is_one_agent_never_a_group),
        cmocka_unit_test(test_a_heartbeat_fills_its_version_name_and_groups),
        cmocka_unit_test(test_a_heartbeat_rewrites_its_interfaces_with_known_members_only),
        cmocka_unit_test(test_a_heartbeat_with_no_interfaces_keeps_an_empty_list),
        cmocka_unit_test(test_a_heartbeat_carries_the_vpns_facts),
        cmocka_unit_test(test_a_heartbeat_carries_a_network_event),
        cmocka_unit_test(test_a_heartbeat_names_the_member_it_refuses_and_leaves_nothing),
        cmocka_unit_test(test_a_heartbeat_caps_its_groups_interfaces_and_addresses),
        cmocka_unit_test(test_a_signal_hands_back_its_message_object_as_text),
        cmocka_unit_test(test_a_signal_names_the_member_it_refuses_and_leaves_nothing),
        cmocka_unit_test(test_an_order_fills_every_field),
        cmocka_unit_test(test_an_ms_turn_orders_credentials_carry_their_expiry),
        cmocka_unit_test(test_an_order_for_side_a_without_an_edge_ca_reads_as_such),
        cmocka_unit_test(test_an_order_names_the_member_it_refuses_and_leaves_nothing),
        cmocka_unit_test(test_an_order_text_refuses_a_member_it_does_not_know),
        cmocka_unit_test(
            test_an_order_over_its_caps_is_a_size_error_and_a_member_over_its_own_a_field_error),
        cmocka_unit_test(test_order_clear_empties_the_order_and_may_be_called_twice),
        cmocka_unit_test(test_every_body_over_64_KiB_or_16_deep_is_a_size_error),
        cmocka_unit_test(test_text_that_is_not_one_json_object_is_refused_by_every_parser),
        cmocka_unit_test(test_the_paired_paths_are_natural_relay_and_tunnel_only),
        cmocka_unit_test(test_a_path_is_judged_relay_by_its_relay_prefix_and_natural_when_unknown),
        cmocka_unit_test(test_only_done_and_error_are_final_run_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
