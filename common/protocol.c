#include "iceprobe/protocol.h"

#include <openssl/crypto.h>

#include <string.h>

#include "iceprobe/result.h"

G_DEFINE_QUARK(iceprobe - protocol - error - quark, protocol_error)

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

/* Parses a body into its object, after the size and depth checks; members not
 * in `allowed` are an error naming them. */
static JsonNode *parse_object(const char *data, gsize len, gsize max, const char *const *allowed,
                              GError **error)
{
    if (len > max) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_SIZE, "the body is over %zu bytes", max);
        return NULL;
    }
    if (json_text_depth(data, len) > PROTOCOL_MAX_DEPTH) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_SIZE, "the body nests deeper than %d",
                    PROTOCOL_MAX_DEPTH);
        return NULL;
    }
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    g_autoptr(GError) e = NULL;
    if (!json_parser_load_from_data(p, data, (gssize)len, &e)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_SYNTAX, "the body is not JSON: %s",
                    e->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "the body is not a JSON object");
        return NULL;
    }
    JsonObjectIter it;
    const char *name;
    JsonNode *value;
    json_object_iter_init(&it, json_node_get_object(root));
    while (json_object_iter_next(&it, &name, &value)) {
        if (!g_strv_contains(allowed, name)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: unknown member", name);
            return NULL;
        }
    }
    return json_node_copy(root);
}

static gboolean get_string(JsonObject *o, const char *name, gboolean required, gsize max,
                           char **out, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        if (required)
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: missing", name);
        return !required;
    }
    if (json_node_get_value_type(n) != G_TYPE_STRING) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: not a string", name);
        return FALSE;
    }
    const char *s = json_node_get_string(n);
    if (strlen(s) > max) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: longer than %zu characters",
                    name, max);
        return FALSE;
    }
    *out = g_strdup(s);
    return TRUE;
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

gboolean protocol_parse_run_request(const char *data, gsize len, RunRequest *out, GError **error)
{
    static const char *const allowed[] = {"profile", "a", "b", NULL};
    memset(out, 0, sizeof(*out));
    g_autoptr(JsonNode) root = parse_object(data, len, PROTOCOL_MAX_BODY, allowed, error);
    if (!root)
        return FALSE;
    JsonObject *o = json_node_get_object(root);
    if (!get_string(o, "profile", TRUE, PROTOCOL_MAX_NAME, &out->profile, error) ||
        !get_string(o, "a", TRUE, PROTOCOL_MAX_NAME + 6, &out->a, error) ||
        !get_string(o, "b", TRUE, PROTOCOL_MAX_NAME + 6, &out->b, error)) {
        run_request_clear(out);
        return FALSE;
    }
    const char *bad = !protocol_valid_name(out->profile) ? "profile"
                      : !valid_side(out->a)              ? "a"
                      : !valid_side(out->b)              ? "b"
                                                         : NULL;
    if (bad) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                    "%s: a name is 1-%d letters, digits, '.', '_' or '-' (agents: NAME or "
                    "group:NAME)",
                    bad, PROTOCOL_MAX_NAME);
        run_request_clear(out);
        return FALSE;
    }
    return TRUE;
}

void heartbeat_clear(Heartbeat *h)
{
    g_clear_pointer(&h->version, g_free);
    g_clear_pointer(&h->name, g_free);
    g_clear_pointer(&h->groups, g_strfreev);
    g_clear_pointer(&h->interfaces, g_free);
}

/* interfaces: [{"name", "class", "kind"?, "addresses": [..]?}], re-written. */
static gboolean read_interfaces(JsonNode *n, char **out, GError **error)
{
    static const char *const classes[] = {"physical", "tunnel", "loopback", "virtual", NULL};
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "interfaces: not an array");
        return FALSE;
    }
    JsonArray *a = json_node_get_array(n);
    if (json_array_get_length(a) > PROTOCOL_MAX_INTERFACES) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "interfaces: more than %d",
                    PROTOCOL_MAX_INTERFACES);
        return FALSE;
    }
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_array(b);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        g_autofree char *where = g_strdup_printf("interfaces[%u]", i);
        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: not an object", where);
            return FALSE;
        }
        JsonObject *o = json_node_get_object(e);
        g_autofree char *name = NULL, *klass = NULL, *kind = NULL;
        g_autoptr(GError) ee = NULL;
        if (!get_string(o, "name", TRUE, 64, &name, &ee) ||
            !get_string(o, "class", TRUE, 16, &klass, &ee) ||
            !get_string(o, "kind", FALSE, 32, &kind, &ee)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s.%s", where, ee->message);
            return FALSE;
        }
        if (!g_strv_contains(classes, klass)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                        "%s.class: '%s' is not physical, tunnel, loopback or virtual", where,
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
        JsonNode *addrs = json_object_get_member(o, "addresses");
        if (addrs && !JSON_NODE_HOLDS_NULL(addrs) && !JSON_NODE_HOLDS_ARRAY(addrs)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s.addresses: not an array",
                        where);
            return FALSE;
        }
        if (addrs && JSON_NODE_HOLDS_ARRAY(addrs)) {
            JsonArray *aa = json_node_get_array(addrs);
            if (json_array_get_length(aa) > PROTOCOL_MAX_ADDRESSES) {
                g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                            "%s.addresses: more than %d", where, PROTOCOL_MAX_ADDRESSES);
                return FALSE;
            }
            for (guint k = 0; k < json_array_get_length(aa); k++) {
                JsonNode *an = json_array_get_element(aa, k);
                const char *s =
                    JSON_NODE_HOLDS_VALUE(an) && json_node_get_value_type(an) == G_TYPE_STRING
                        ? json_node_get_string(an)
                        : NULL;
                if (!s || strlen(s) > 64) {
                    g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                                "%s.addresses[%u]: not an address", where, k);
                    return FALSE;
                }
                json_builder_add_string_value(b, s);
            }
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    *out = json_to_string(root, FALSE);
    return TRUE;
}

gboolean protocol_parse_heartbeat(const char *data, gsize len, Heartbeat *out, GError **error)
{
    static const char *const allowed[] = {"version", "name", "groups", "interfaces", NULL};
    memset(out, 0, sizeof(*out));
    g_autoptr(JsonNode) root = parse_object(data, len, PROTOCOL_MAX_BODY, allowed, error);
    if (!root)
        return FALSE;
    JsonObject *o = json_node_get_object(root);
    if (!get_string(o, "version", TRUE, 64, &out->version, error) ||
        !get_string(o, "name", FALSE, PROTOCOL_MAX_NAME, &out->name, error)) {
        heartbeat_clear(out);
        return FALSE;
    }
    JsonNode *groups = json_object_get_member(o, "groups");
    if (groups && !JSON_NODE_HOLDS_NULL(groups)) {
        JsonArray *ga = JSON_NODE_HOLDS_ARRAY(groups) ? json_node_get_array(groups) : NULL;
        if (!ga || json_array_get_length(ga) > 32) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                        "groups: not an array of at most 32 names");
            heartbeat_clear(out);
            return FALSE;
        }
        g_autoptr(GStrvBuilder) sb = g_strv_builder_new();
        for (guint i = 0; i < json_array_get_length(ga); i++) {
            JsonNode *gn = json_array_get_element(ga, i);
            const char *s =
                JSON_NODE_HOLDS_VALUE(gn) && json_node_get_value_type(gn) == G_TYPE_STRING
                    ? json_node_get_string(gn)
                    : NULL;
            if (!protocol_valid_name(s)) {
                g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "groups[%u]: not a name",
                            i);
                heartbeat_clear(out);
                return FALSE;
            }
            g_strv_builder_add(sb, s);
        }
        out->groups = g_strv_builder_end(sb);
    }
    JsonNode *ifs = json_object_get_member(o, "interfaces");
    if (ifs && !JSON_NODE_HOLDS_NULL(ifs) && !read_interfaces(ifs, &out->interfaces, error)) {
        heartbeat_clear(out);
        return FALSE;
    }
    return TRUE;
}

gboolean protocol_parse_signal(const char *data, gsize len, char **message, GError **error)
{
    static const char *const allowed[] = {"message", NULL};
    *message = NULL;
    g_autoptr(JsonNode) root = parse_object(data, len, PROTOCOL_MAX_BODY, allowed, error);
    if (!root)
        return FALSE;
    JsonNode *m = json_object_get_member(json_node_get_object(root), "message");
    if (!m || !JSON_NODE_HOLDS_OBJECT(m)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "message: %s",
                    m ? "not an object" : "missing");
        return FALSE;
    }
    *message = json_to_string(m, FALSE);
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
    if (o->turn_password)
        OPENSSL_cleanse(o->turn_password, strlen(o->turn_password));
    g_clear_pointer(&o->turn_username, g_free);
    g_clear_pointer(&o->turn_password, g_free);
}

static JsonObject *get_object(JsonObject *o, const char *name, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: %s", name,
                    n ? "not an object" : "missing");
        return NULL;
    }
    return json_node_get_object(n);
}

static gboolean get_int(JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *out,
                        GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: %s", name,
                    n ? "not an integer" : "missing");
        return FALSE;
    }
    gint64 v = json_node_get_int(n);
    if (v < min || v > max) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                    "%s: %" G_GINT64_FORMAT " is out of range", name, v);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean get_bool(JsonObject *o, const char *name, gboolean *out, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: %s", name,
                    n ? "not a boolean" : "missing");
        return FALSE;
    }
    *out = json_node_get_boolean(n);
    return TRUE;
}

/* The order's own members; errors prefixed by the caller. */
static gboolean read_order(JsonObject *o, Order *out, GError **error)
{
    static const char *const known_paths[] = {"natural", "relay", "tunnel-only", NULL};
    g_autofree char *side = NULL;
    gint64 duration = 0;
    if (!get_string(o, "run_id", TRUE, 64, &out->run_id, error) ||
        !get_string(o, "side", TRUE, 1, &side, error) ||
        !get_string(o, "peer", TRUE, PROTOCOL_MAX_NAME, &out->peer, error) ||
        !get_bool(o, "controlling", &out->controlling, error) ||
        !get_int(o, "duration_s", 1, 3600, &duration, error) ||
        !get_int(o, "deadline", 0, G_MAXINT32 * (gint64)4, &out->deadline, error))
        return FALSE;
    out->duration_s = (guint)duration;
    if (!protocol_valid_name(out->run_id) || !protocol_valid_name(out->peer)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: not a valid name",
                    protocol_valid_name(out->run_id) ? "peer" : "run_id");
        return FALSE;
    }
    if (strcmp(side, "a") != 0 && strcmp(side, "b") != 0) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "side: '%s' is not a or b", side);
        return FALSE;
    }
    out->side_b = side[0] == 'b';
    JsonObject *p = get_object(o, "profile", error);
    if (!p || !get_string(p, "name", TRUE, PROTOCOL_MAX_NAME, &out->profile_name, error) ||
        !get_string(p, "text", TRUE, PROTOCOL_MAX_BODY, &out->profile_text, error) ||
        !get_string(p, "edge_ca_pem", FALSE, PROTOCOL_MAX_BODY, &out->edge_ca_pem, error)) {
        if (p && error && *error)
            g_prefix_error(error, "profile.");
        return FALSE;
    }
    JsonNode *pn = json_object_get_member(o, "paths");
    if (!pn || !JSON_NODE_HOLDS_ARRAY(pn)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "paths: %s",
                    pn ? "not an array" : "missing");
        return FALSE;
    }
    JsonArray *pa = json_node_get_array(pn);
    guint n = json_array_get_length(pa);
    if (n == 0 || n > PROTOCOL_MAX_PATHS) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "paths: 1 to %d names",
                    PROTOCOL_MAX_PATHS);
        return FALSE;
    }
    out->paths = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(pa, i);
        const char *s = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                            ? json_node_get_string(e)
                            : NULL;
        if (!s || !g_strv_contains(known_paths, s)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                        "paths[%u]: not natural, relay or tunnel-only", i);
            return FALSE;
        }
        out->paths[i] = g_strdup(s);
    }
    JsonObject *t = get_object(o, "turn", error);
    if (!t || !get_string(t, "username", TRUE, 256, &out->turn_username, error) ||
        !get_string(t, "password", TRUE, 256, &out->turn_password, error)) {
        if (t && error && *error)
            g_prefix_error(error, "turn.");
        return FALSE;
    }
    return TRUE;
}

gboolean protocol_parse_order(JsonObject *o, Order *out, GError **error)
{
    memset(out, 0, sizeof(*out));
    g_autoptr(GError) e = NULL;
    if (!read_order(o, out, &e)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "order: %s", e->message);
        order_clear(out);
        return FALSE;
    }
    return TRUE;
}

gboolean protocol_parse_order_text(const char *data, gsize len, Order *out, GError **error)
{
    static const char *const allowed[] = {"run_id",  "side",  "peer",       "controlling",
                                          "profile", "paths", "duration_s", "deadline",
                                          "turn",    NULL};
    memset(out, 0, sizeof(*out));
    g_autoptr(JsonNode) root = parse_object(data, len, PROTOCOL_MAX_BODY * 2, allowed, error);
    return root && protocol_parse_order(json_node_get_object(root), out, error);
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
    g_autoptr(JsonNode) root = parse_object(data, len, PROTOCOL_MAX_BODY, allowed, error);
    if (!root)
        return FALSE;
    JsonObject *o = json_node_get_object(root);
    if (!get_string(o, "profile", TRUE, PROTOCOL_MAX_NAME, &out->profile, error) ||
        !get_string(o, "peer", TRUE, PROTOCOL_MAX_NAME, &out->peer, error)) {
        peer_run_request_clear(out);
        return FALSE;
    }
    const char *bad = !protocol_valid_name(out->profile) ? "profile"
                      : !protocol_valid_name(out->peer)  ? "peer"
                                                         : NULL;
    if (bad) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                    "%s: a name is 1-%d letters, digits, '.', '_' or '-'", bad, PROTOCOL_MAX_NAME);
        peer_run_request_clear(out);
        return FALSE;
    }
    return TRUE;
}
