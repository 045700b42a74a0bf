#include "peer_message.h"

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
    memset(m->key, 0, sizeof(m->key));
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

gboolean peer_message_parse(JsonObject *o, PeerMessage *out, GError **error)
{
    static const char *const types[] = {"hello", "session", "candidate", "gathered", "sent",
                                        "stats", "skip",    "closing",   NULL};
    static const char *const paths[] = {"natural", "relay", "tunnel-only", NULL};
    memset(out, 0, sizeof(*out));
    const char *type = str_member(o, "type", 16, error);
    if (!type)
        return FALSE;
    gint t = -1;
    for (gint i = 0; types[i]; i++)
        if (strcmp(types[i], type) == 0)
            t = i;
    if (t < 0) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "type: unknown '%.16s'", type);
        return FALSE;
    }
    out->type = (PeerMessageType)t;
    if (out->type == PEER_HELLO) {
        /* `closes` is optional: an agent that predates `closing` says nothing. */
        if (!bool_member(o, "tunnel", FALSE, &out->tunnel, error) ||
            !bool_member(o, "closes", TRUE, &out->closes, error))
            return FALSE;
        const char *v = str_member(o, "version", 64, error);
        if (!v)
            return FALSE;
        out->version = g_strdup(v);
        return TRUE;
    }
    const char *path = str_member(o, "path", 16, error);
    if (!path)
        return FALSE;
    if (!g_strv_contains(paths, path)) {
        g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "path: unknown '%s'", path);
        return FALSE;
    }
    out->path = g_strdup(path);
    switch (out->type) {
    case PEER_SESSION: {
        const char *u = str_member(o, "ufrag", 256, error),
                   *p = u ? str_member(o, "pwd", 256, error) : NULL;
        const char *k = p ? str_member(o, "key", 64, error) : NULL;
        if (!k) {
            peer_message_clear(out);
            return FALSE;
        }
        gsize n = 0;
        g_autofree guchar *raw = g_base64_decode(k, &n);
        if (n != STREAM_KEY_LEN) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "key: not %d bytes of base64",
                        STREAM_KEY_LEN);
            peer_message_clear(out);
            return FALSE;
        }
        memcpy(out->key, raw, n);
        memset(raw, 0, n);
        out->ufrag = g_strdup(u);
        out->pwd = g_strdup(p);
        return TRUE;
    }
    case PEER_CANDIDATE: {
        const char *l = str_member(o, "line", 1024, error);
        if (!l) {
            peer_message_clear(out);
            return FALSE;
        }
        out->line = g_strdup(l);
        return TRUE;
    }
    case PEER_SENT: {
        JsonNode *n = json_object_get_member(o, "packets");
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
            json_node_get_int(n) < 0) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                        "packets: not a count of packets");
            peer_message_clear(out);
            return FALSE;
        }
        out->packets = (guint64)json_node_get_int(n);
        return TRUE;
    }
    case PEER_STATS: {
        JsonNode *n = json_object_get_member(o, "in");
        if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD, "in: not an object");
            peer_message_clear(out);
            return FALSE;
        }
        JsonObject *in = json_node_get_object(n);
        if (!json_object_has_member(in, "packets_sent") ||
            !json_object_has_member(in, "packets_received")) {
            g_set_error(error, PROTOCOL_ERROR, PROTOCOL_ERROR_FIELD,
                        "in: packets_sent and packets_received are required");
            peer_message_clear(out);
            return FALSE;
        }
        if (!metrics_summary_from_json(in, "in", &out->in, error)) {
            peer_message_clear(out);
            return FALSE;
        }
        return TRUE;
    }
    case PEER_SKIP: {
        const char *r = str_member(o, "reason", 512, error);
        if (!r) {
            peer_message_clear(out);
            return FALSE;
        }
        out->reason = g_strdup(r);
        return TRUE;
    }
    default:
        return TRUE;
    }
}
