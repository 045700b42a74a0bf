#include "peer_message.h"

#include <openssl/crypto.h>

#include <string.h>

#include "iceprobe/protocol.h"
#include "iceprobe/result.h"

void peer_message_clear(PeerMessage *m)
{
    g_clear_pointer(&m->path, g_free);
    g_clear_pointer(&m->version, g_free);
    g_clear_pointer(&m->ufrag, g_free);
    g_clear_pointer(&m->pwd, g_free);
    g_clear_pointer(&m->line, g_free);
    g_clear_pointer(&m->reason, g_free);
    g_clear_pointer(&m->paths, g_strfreev);
    OPENSSL_cleanse(m->key, sizeof(m->key));
}

PeerMessage *peer_message_new(JsonObject *o, GError **error)
{
    PeerMessage *m = g_new(PeerMessage, 1);
    if (!peer_message_parse(o, m, error)) {
        g_free(m);
        return NULL;
    }
    return m;
}

void peer_message_free(PeerMessage *m)
{
    if (!m)
        return;
    peer_message_clear(m);
    g_free(m);
}

static const char *const paired_paths[] = {"natural", "relay", "tunnel-only", NULL};

/* reruns' `paths`: an array of distinct path names (at most one each). */
static gboolean paths_member(JsonObject *o, PeerMessage *out, GError **error)
{
    JsonNode *n = json_object_get_member(o, "paths");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "paths: %s",
                    n ? "not an array" : "missing");
        return FALSE;
    }
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    if (len > G_N_ELEMENTS(paired_paths) - 1) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "paths: more than %u",
                    (guint)G_N_ELEMENTS(paired_paths) - 1);
        return FALSE;
    }
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_autoptr(GPtrArray) seen = g_ptr_array_new();
    for (guint i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *name = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                               ? json_node_get_string(e)
                               : NULL;
        if (!name || !g_strv_contains(paired_paths, name) ||
            g_ptr_array_find_with_equal_func(seen, name, g_str_equal, NULL)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                        "paths[%u]: not a path, or named twice", i);
            return FALSE;
        }
        g_ptr_array_add(seen, (gpointer)name);
        g_strv_builder_add(b, name);
    }
    out->paths = g_strv_builder_end(b);
    return TRUE;
}

static const char *str_member(JsonObject *o, const char *name, gsize max, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: %s", name,
                    n ? "not a string" : "missing");
        return NULL;
    }
    const char *s = json_node_get_string(n);
    if (strlen(s) > max) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: longer than %zu", name, max);
        return NULL;
    }
    return s;
}

/* A missing optional member reads FALSE. */
static gboolean bool_member(JsonObject *o, const char *name, gboolean optional, gboolean *out,
                            GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    *out = FALSE;
    if (!n && optional)
        return TRUE;
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "%s: not a boolean", name);
        return FALSE;
    }
    *out = json_node_get_boolean(n);
    return TRUE;
}

static gboolean parse_hello(JsonObject *o, PeerMessage *out, GError **error)
{
    /* `closes`, `at_once` and `starts` are optional: an agent that predates
     * them says nothing. */
    if (!bool_member(o, "tunnel", FALSE, &out->tunnel, error) ||
        !bool_member(o, "closes", TRUE, &out->closes, error) ||
        !bool_member(o, "at_once", TRUE, &out->at_once, error) ||
        !bool_member(o, "starts", TRUE, &out->starts, error))
        return FALSE;
    const char *v = str_member(o, "version", 64, error);
    out->version = g_strdup(v);
    return v != NULL;
}

static gboolean parse_session(JsonObject *o, PeerMessage *out, GError **error)
{
    const char *u = str_member(o, "ufrag", 256, error), *p = u ? str_member(o, "pwd", 256, error) : NULL;
    const char *k = p ? str_member(o, "key", 64, error) : NULL;
    if (!k)
        return FALSE;
    gsize n = 0;
    g_autofree guchar *raw = g_base64_decode(k, &n);
    if (n != STREAM_KEY_LEN) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "key: not %d bytes of base64",
                    STREAM_KEY_LEN);
        OPENSSL_cleanse(raw, n);
        return FALSE;
    }
    memcpy(out->key, raw, n);
    OPENSSL_cleanse(raw, n);
    out->ufrag = g_strdup(u);
    out->pwd = g_strdup(p);
    return TRUE;
}

static gboolean parse_candidate(JsonObject *o, PeerMessage *out, GError **error)
{
    const char *l = str_member(o, "line", 1024, error);
    out->line = g_strdup(l);
    return l != NULL;
}

static gboolean parse_sent(JsonObject *o, PeerMessage *out, GError **error)
{
    JsonNode *n = json_object_get_member(o, "packets");
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "packets: not a count of packets");
        return FALSE;
    }
    out->packets = (guint64)json_node_get_int(n);
    return TRUE;
}

static gboolean parse_stats(JsonObject *o, PeerMessage *out, GError **error)
{
    JsonNode *n = json_object_get_member(o, "in");
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "in: not an object");
        return FALSE;
    }
    JsonObject *in = json_node_get_object(n);
    if (!json_object_has_member(in, "packets_sent") ||
        !json_object_has_member(in, "packets_received")) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                    "in: packets_sent and packets_received are required");
        return FALSE;
    }
    return metrics_summary_from_json(in, "in", &out->in, error);
}

static gboolean parse_skip(JsonObject *o, PeerMessage *out, GError **error)
{
    const char *r = str_member(o, "reason", 512, error);
    out->reason = g_strdup(r);
    return r != NULL;
}

/* Each type, in PeerMessageType's order: whether it names a path, and what
 * else it carries. */
static const struct {
    const char *name;
    gboolean has_path;
    gboolean (*body)(JsonObject *o, PeerMessage *out, GError **error);
} kinds[] = {
    {"hello", FALSE, parse_hello},    {"session", TRUE, parse_session}, {"candidate", TRUE, parse_candidate},
    {"gathered", TRUE, NULL},         {"sent", TRUE, parse_sent},       {"stats", TRUE, parse_stats},
    {"skip", TRUE, parse_skip},       {"closing", TRUE, NULL},          {"reruns", FALSE, paths_member},
    {"connected", TRUE, NULL},
};
G_STATIC_ASSERT(G_N_ELEMENTS(kinds) == PEER_CONNECTED + 1);

gboolean peer_message_parse(JsonObject *o, PeerMessage *out, GError **error)
{
    memset(out, 0, sizeof(*out));
    const char *type = str_member(o, "type", 16, error);
    if (!type)
        return FALSE;
    gint t = -1;
    for (gint i = 0; i < (gint)G_N_ELEMENTS(kinds); i++)
        if (strcmp(kinds[i].name, type) == 0)
            t = i;
    if (t < 0) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "type: unknown '%.16s'", type);
        return FALSE;
    }
    out->type = (PeerMessageType)t;
    if (kinds[t].has_path) {
        const char *path = str_member(o, "path", 16, error);
        if (!path)
            return FALSE;
        if (!g_strv_contains(paired_paths, path)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "path: unknown '%s'", path);
            return FALSE;
        }
        out->path = g_strdup(path);
    }
    if (kinds[t].body && !kinds[t].body(o, out, error)) {
        peer_message_clear(out);
        return FALSE;
    }
    return TRUE;
}
