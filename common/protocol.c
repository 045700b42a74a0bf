#include "iceprobe/protocol.h"
#include "iceprobe/keyfile.h"
#include "iceprobe/mras.h"

#include <string.h>

#include "iceprobe/result.h"

gboolean protocol_valid_name(const char *s)
{
    gsize n = s ? strlen(s) : 0;
    if (n == 0 || n > PROTOCOL_MAX_NAME)
        return FALSE;
    for (const char *c = s; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
            return FALSE;
    }
    return TRUE;
}

/* Every body of the API: 64 KiB (an order list's order twice that), nested 16 deep. */
static const JsonInLimits body_limits = {"the body", PROTOCOL_MAX_BODY, PROTOCOL_MAX_DEPTH};
static const JsonInLimits order_limits = {"the order", PROTOCOL_MAX_BODY * 2, PROTOCOL_MAX_DEPTH};

const char *const protocol_paired_paths[] = {"natural", "relay", "tunnel-only", NULL};

PolicyPathKind protocol_paired_path_kind(const char *name)
{
    /* relay-udp, -tcp, -tls: a relay-loop report's names, judged alike. */
    return strcmp(name, "tunnel-only") == 0      ? POLICY_PATH_TUNNEL_ONLY
           : g_str_has_prefix(name, "relay")      ? POLICY_PATH_FORCED_RELAY
                                                  : POLICY_PATH_NATURAL;
}

gboolean protocol_run_state_is_final(const char *state)
{
    static const char *const final[] = {"done", "error", NULL};
    return state && g_strv_contains(final, state);
}

/* A body's object, whose members are all in `allowed`. */
static JsonObject *parse_body(const char *data, gsize len, const JsonInLimits *lim,
                              const char *const *allowed, GError **error)
{
    g_autoptr(JsonObject) o = jsonin_parse_object(data, len, lim, error);
    if (!o || !jsonin_only(o, "", allowed, error))
        return NULL;
    return g_steal_pointer(&o);
}

/* An agent or group:NAME. */
static gboolean valid_side(const char *s)
{
    return g_str_has_prefix(s, "group:") ? protocol_valid_name(s + 6) : protocol_valid_name(s);
}

void run_request_clear(RunRequest *r)
{
    g_clear_pointer(&r->profile, g_free);
    g_clear_pointer(&r->a, g_free);
    g_clear_pointer(&r->b, g_free);
}

static void name_error(GError **error, const char *member, gboolean sides)
{
    jsonin_field_error(error, "", member, "a name is 1-%d letters, digits, '.', '_' or '-'%s",
                       PROTOCOL_MAX_NAME, sides ? " (agents: NAME or group:NAME)" : "");
}

gboolean protocol_parse_run_request(const char *data, gsize len, RunRequest *out, GError **error)
{
    static const char *const allowed[] = {"profile", "a", "b", NULL};
    memset(out, 0, sizeof(*out));
    g_auto(RunRequest) r = {0};
    g_autoptr(JsonObject) o = parse_body(data, len, &body_limits, allowed, error);
    if (!o || !jsonin_string(o, "", "profile", TRUE, PROTOCOL_MAX_NAME, &r.profile, error) ||
        !jsonin_string(o, "", "a", TRUE, PROTOCOL_MAX_NAME + 6, &r.a, error) ||
        !jsonin_string(o, "", "b", TRUE, PROTOCOL_MAX_NAME + 6, &r.b, error))
        return FALSE;
    const char *bad = !protocol_valid_name(r.profile) ? "profile"
                      : !valid_side(r.a)              ? "a"
                      : !valid_side(r.b)              ? "b"
                                                      : NULL;
    if (bad) {
        name_error(error, bad, TRUE);
        return FALSE;
    }
    *out = r;
    memset(&r, 0, sizeof(r));
    return TRUE;
}

void heartbeat_clear(Heartbeat *h)
{
    g_clear_pointer(&h->version, g_free);
    g_clear_pointer(&h->name, g_free);
    g_clear_pointer(&h->groups, g_strfreev);
    g_clear_pointer(&h->interfaces, g_free);
    g_clear_pointer(&h->vpn, g_free);
    g_clear_pointer(&h->event_id, g_free);
    g_clear_pointer(&h->event_kind, g_free);
    g_clear_pointer(&h->event_summary, g_free);
    g_clear_pointer(&h->event, g_free);
}

/* One of interfaces[]: {"name", "class", "kind"?, "addresses"?}, re-written to b. */
static gboolean read_interface(JsonArray *a, guint i, JsonBuilder *b, GError **error)
{
    static const char *const classes[] = {"physical", "tunnel", "loopback", "virtual", NULL};
    JsonObject *o = jsonin_item_object(a, "interfaces", i, error);
    if (!o)
        return FALSE;
    g_autofree char *at = g_strdup_printf("interfaces[%u]", i);
    g_autofree char *name = NULL, *klass = NULL, *kind = NULL;
    g_auto(GStrv) addrs = NULL;
    if (!jsonin_string(o, at, "name", TRUE, 64, &name, error) ||
        !jsonin_string(o, at, "class", TRUE, 16, &klass, error) ||
        !jsonin_string(o, at, "kind", FALSE, 32, &kind, error) ||
        !jsonin_strv(o, at, "addresses", FALSE, PROTOCOL_MAX_ADDRESSES, 64, &addrs, error))
        return FALSE;
    if (!g_strv_contains(classes, klass)) {
        jsonin_field_error(error, at, "class", "'%s' is not physical, tunnel, loopback or virtual",
                           klass);
        return FALSE;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, klass);
    if (kind) {
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, kind);
    }
    json_builder_set_member_name(b, "addresses");
    json_builder_begin_array(b);
    for (char **s = addrs; s && *s; s++)
        json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
    json_builder_end_object(b);
    return TRUE;
}

/* interfaces: re-written as the controller keeps them (members it knows only). */
static gboolean read_interfaces(JsonObject *o, char **out, GError **error)
{
    JsonArray *a;
    if (!jsonin_array(o, "", "interfaces", FALSE, PROTOCOL_MAX_INTERFACES, &a, error))
        return FALSE;
    if (!a)
        return TRUE;
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_array(b);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        if (!read_interface(a, i, b, error))
            return FALSE;
    }
    json_builder_end_array(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    *out = json_to_string(root, FALSE);
    return TRUE;
}

/* vpn: the VPN's facts (docs/contract.md, probes[].vpn), re-written with the
 * members the controller knows, each capped. */
static gboolean read_vpn(JsonObject *o, char **out, GError **error)
{
    JsonObject *v;
    if (!jsonin_object(o, "", "vpn", FALSE, &v, error))
        return FALSE;
    if (!v)
        return TRUE;
    static const char *const strings[] = {"interface", "product",      "product_from", "pool_address",
                                          "tunnel",    "gateway",      "gateway_from", NULL};
    static const char *const allowed[] = {"interface", "product", "product_from", "pool_address",
                                          "tunnel",    "gateway", "gateway_from", "mtu",
                                          "in_vpn_ranges", NULL};
    if (!jsonin_only(v, "vpn", allowed, error))
        return FALSE;
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_object(b);
    for (const char *const *k = strings; *k; k++) {
        g_autofree char *value = NULL;
        if (!jsonin_string(v, "vpn", *k, FALSE, 256, &value, error))
            return FALSE;
        if (value) {
            json_builder_set_member_name(b, *k);
            json_builder_add_string_value(b, value);
        }
    }
    gint64 mtu = 0;
    gboolean in_ranges = FALSE;
    if (!jsonin_int(v, "vpn", "mtu", FALSE, 0, 65535, &mtu, error) ||
        !jsonin_bool(v, "vpn", "in_vpn_ranges", FALSE, &in_ranges, error))
        return FALSE;
    if (mtu) {
        json_builder_set_member_name(b, "mtu");
        json_builder_add_int_value(b, mtu);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    *out = json_to_string(root, FALSE);
    return TRUE;
}

const char *const protocol_network_event_kinds[] = {"vpn-up", "vpn-down", "network-change", NULL};

#define EVENT_MAX_CHANGES 32
#define EVENT_MAX_CHANGE  256

/* network_event: {"id", "kind", "at", "changes"}, re-written, its changes joined. */
static gboolean read_network_event(JsonObject *o, Heartbeat *h, GError **error)
{
    static const char *const allowed[] = {"id", "kind", "at", "changes", NULL};
    const char *at = "network_event";
    JsonObject *v;
    gint64 when = 0;
    g_auto(GStrv) changes = NULL;
    if (!jsonin_object(o, "", at, FALSE, &v, error))
        return FALSE;
    if (!v)
        return TRUE;
    if (!jsonin_only(v, at, allowed, error) ||
        !jsonin_string(v, at, "id", TRUE, 64, &h->event_id, error) ||
        !jsonin_string(v, at, "kind", TRUE, 32, &h->event_kind, error) ||
        !jsonin_int(v, at, "at", TRUE, 0, G_GINT64_CONSTANT(1) << 40, &when, error) ||
        !jsonin_strv(v, at, "changes", TRUE, EVENT_MAX_CHANGES, EVENT_MAX_CHANGE, &changes, error))
        return FALSE;
    for (const char *c = h->event_id; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '.' && *c != '-') {
            jsonin_field_error(error, at, "id", "letters, digits, '.' and '-' only");
            return FALSE;
        }
    }
    for (guint i = 0; changes[i]; i++) {
        for (const char *c = changes[i]; *c; c++) {
            if (g_ascii_iscntrl(*c)) { /* they go to the log and the run's note */
                g_autofree char *item = g_strdup_printf("changes[%u]", i);
                jsonin_field_error(error, at, item, "a control character");
                return FALSE;
            }
        }
    }
    if (!g_strv_contains(protocol_network_event_kinds, h->event_kind)) {
        jsonin_field_error(error, at, "kind", "'%s' is not vpn-up, vpn-down or network-change",
                           h->event_kind);
        return FALSE;
    }
    h->event_summary = g_strjoinv("; ", changes);
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, h->event_id);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, h->event_kind);
    json_builder_set_member_name(b, "at");
    json_builder_add_int_value(b, when);
    json_builder_set_member_name(b, "changes");
    json_builder_begin_array(b);
    for (char **c = changes; *c; c++)
        json_builder_add_string_value(b, *c);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    h->event = json_to_string(root, FALSE);
    return TRUE;
}

gboolean protocol_parse_heartbeat(const char *data, gsize len, Heartbeat *out, GError **error)
{
    static const char *const allowed[] = {"version",    "name", "groups",
                                          "interfaces", "vpn",  "network_event", NULL};
    memset(out, 0, sizeof(*out));
    g_auto(Heartbeat) h = {0};
    g_autoptr(JsonObject) o = parse_body(data, len, &body_limits, allowed, error);
    if (!o || !jsonin_string(o, "", "version", TRUE, 64, &h.version, error) ||
        !jsonin_string(o, "", "name", FALSE, PROTOCOL_MAX_NAME, &h.name, error) ||
        !jsonin_strv(o, "", "groups", FALSE, 32, PROTOCOL_MAX_NAME, &h.groups, error) ||
        !read_interfaces(o, &h.interfaces, error) || !read_vpn(o, &h.vpn, error) ||
        !read_network_event(o, &h, error))
        return FALSE;
    for (guint i = 0; h.groups && h.groups[i]; i++) {
        if (!protocol_valid_name(h.groups[i])) {
            g_autofree char *item = g_strdup_printf("groups[%u]", i);
            jsonin_field_error(error, "", item, "not a name");
            return FALSE;
        }
    }
    *out = h;
    memset(&h, 0, sizeof(h));
    return TRUE;
}

gboolean protocol_parse_signal(const char *data, gsize len, char **message, GError **error)
{
    static const char *const allowed[] = {"message", NULL};
    *message = NULL;
    g_autoptr(JsonObject) o = parse_body(data, len, &body_limits, allowed, error);
    JsonObject *m;
    if (!o || !jsonin_object(o, "", "message", TRUE, &m, error))
        return FALSE;
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), m);
    *message = json_to_string(n, FALSE);
    return TRUE;
}

void order_clear(Order *o)
{
    g_clear_pointer(&o->run_id, g_free);
    g_clear_pointer(&o->peer, g_free);
    g_clear_pointer(&o->profile_name, g_free);
    g_clear_pointer(&o->profile_text, g_free);
    g_clear_pointer(&o->edge_ca_pem, g_free);
    g_clear_pointer(&o->paths, g_strfreev);
    g_clear_pointer(&o->turn_username, g_free);
    g_clear_pointer(&o->turn_password, keyfile_secret_free);
}

/* The order's profile {name, text, edge_ca_pem?} and TURN credentials. */
static gboolean read_order_parts(JsonObject *o, const char *at, Order *out, GError **error)
{
    JsonObject *p, *t;
    g_autofree char *pat = jsonin_path(at, "profile"), *tat = jsonin_path(at, "turn");
    return jsonin_object(o, at, "profile", TRUE, &p, error) &&
           jsonin_string(p, pat, "name", TRUE, PROTOCOL_MAX_NAME, &out->profile_name, error) &&
           jsonin_string(p, pat, "text", TRUE, PROTOCOL_MAX_BODY, &out->profile_text, error) &&
           jsonin_string(p, pat, "edge_ca_pem", FALSE, PROTOCOL_MAX_BODY, &out->edge_ca_pem,
                         error) &&
           jsonin_object(o, at, "turn", TRUE, &t, error) &&
           jsonin_string(t, tat, "username", TRUE, MRAS_MAX_VALUE, &out->turn_username, error) &&
           jsonin_string(t, tat, "password", TRUE, MRAS_MAX_VALUE, &out->turn_password, error) &&
           jsonin_int(t, tat, "expires_at", FALSE, 0, G_MAXINT32 * (gint64)4,
                      &out->turn_expires_at, error);
}

/* The order's own members, found at `at`. */
static gboolean read_order(JsonObject *o, const char *at, Order *out, GError **error)
{
    g_autofree char *side = NULL;
    gint64 duration = 0;
    if (!jsonin_string(o, at, "run_id", TRUE, 64, &out->run_id, error) ||
        !jsonin_string(o, at, "side", TRUE, 1, &side, error) ||
        !jsonin_string(o, at, "peer", TRUE, PROTOCOL_MAX_NAME, &out->peer, error) ||
        !jsonin_bool(o, at, "controlling", TRUE, &out->controlling, error) ||
        !jsonin_int(o, at, "duration_s", TRUE, 1, 3600, &duration, error) ||
        !jsonin_int(o, at, "deadline", TRUE, 0, G_MAXINT32 * (gint64)4, &out->deadline, error))
        return FALSE;
    out->duration_s = (guint)duration;
    if (!protocol_valid_name(out->run_id) || !protocol_valid_name(out->peer)) {
        jsonin_field_error(error, at, protocol_valid_name(out->run_id) ? "peer" : "run_id",
                           "not a valid name");
        return FALSE;
    }
    if (strcmp(side, "a") != 0 && strcmp(side, "b") != 0) {
        jsonin_field_error(error, at, "side", "'%s' is not a or b", side);
        return FALSE;
    }
    out->side_b = side[0] == 'b';
    if (!read_order_parts(o, at, out, error) ||
        !jsonin_strv(o, at, "paths", TRUE, PROTOCOL_MAX_PATHS, 16, &out->paths, error))
        return FALSE;
    for (guint i = 0; out->paths[i]; i++) {
        if (!g_strv_contains(protocol_paired_paths, out->paths[i])) {
            g_autofree char *item = g_strdup_printf("paths[%u]", i);
            jsonin_field_error(error, at, item, "not natural, relay or tunnel-only");
            return FALSE;
        }
    }
    if (!out->paths[0]) {
        jsonin_field_error(error, at, "paths", "1 to %d names", PROTOCOL_MAX_PATHS);
        return FALSE;
    }
    return TRUE;
}

gboolean protocol_parse_order(JsonObject *o, Order *out, GError **error)
{
    memset(out, 0, sizeof(*out));
    g_auto(Order) r = {0};
    if (!read_order(o, "order", &r, error))
        return FALSE;
    *out = r;
    memset(&r, 0, sizeof(r));
    return TRUE;
}

gboolean protocol_parse_order_text(const char *data, gsize len, Order *out, GError **error)
{
    static const char *const allowed[] = {"run_id",  "side",  "peer",       "controlling",
                                          "profile", "paths", "duration_s", "deadline",
                                          "turn",    NULL};
    memset(out, 0, sizeof(*out));
    g_autoptr(JsonObject) o = parse_body(data, len, &order_limits, allowed, error);
    return o && protocol_parse_order(o, out, error);
}

void peer_run_request_clear(PeerRunRequest *r)
{
    g_clear_pointer(&r->profile, g_free);
    g_clear_pointer(&r->peer, g_free);
}

gboolean protocol_parse_peer_run_request(const char *data, gsize len, PeerRunRequest *out,
                                         GError **error)
{
    static const char *const allowed[] = {"profile", "peer", NULL};
    memset(out, 0, sizeof(*out));
    g_auto(PeerRunRequest) r = {0};
    g_autoptr(JsonObject) o = parse_body(data, len, &body_limits, allowed, error);
    if (!o || !jsonin_string(o, "", "profile", TRUE, PROTOCOL_MAX_NAME, &r.profile, error) ||
        !jsonin_string(o, "", "peer", TRUE, PROTOCOL_MAX_NAME, &r.peer, error))
        return FALSE;
    const char *bad = !protocol_valid_name(r.profile) ? "profile"
                      : !protocol_valid_name(r.peer)  ? "peer"
                                                      : NULL;
    if (bad) {
        name_error(error, bad, FALSE);
        return FALSE;
    }
    *out = r;
    memset(&r, 0, sizeof(r));
    return TRUE;
}
