#include "peer_message.h"

#include <string.h>

#include "iceprobe/keyfile.h"
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
    keyfile_wipe(m->key, sizeof(m->key));
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

/* reruns' `paths`: distinct paired path names (at most one each). */
static gboolean paths_member(JsonObject *o, PeerMessage *out, GError **error)
{
    guint most = g_strv_length((char **)protocol_paired_paths);
    if (!jsonin_strv(o, "", "paths", TRUE, most, 16, &out->paths, error))
        return FALSE;
    for (guint i = 0; out->paths[i]; i++) {
        gboolean twice = FALSE;
        for (guint j = 0; j < i; j++)
            twice = twice || strcmp(out->paths[j], out->paths[i]) == 0;
        if (twice || !g_strv_contains(protocol_paired_paths, out->paths[i])) {
            g_autofree char *item = g_strdup_printf("paths[%u]", i);
            jsonin_field_error(error, "", item, "not a path, or named twice");
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean parse_hello(JsonObject *o, PeerMessage *out, GError **error)
{
    /* `closes`, `at_once`, `starts` and `ptime_ms` are optional: an agent that
     * predates them says nothing (FALSE, 0). */
    gint64 ptime = 0;
    gboolean ok = jsonin_bool(o, "", "tunnel", TRUE, &out->tunnel, error) &&
                  jsonin_bool(o, "", "closes", FALSE, &out->closes, error) &&
                  jsonin_bool(o, "", "at_once", FALSE, &out->at_once, error) &&
                  jsonin_bool(o, "", "starts", FALSE, &out->starts, error) &&
                  jsonin_int(o, "", "ptime_ms", FALSE, 1, 1000, &ptime, error);
    out->ptime_ms = (guint64)ptime;
    return ok &&
           jsonin_string(o, "", "version", TRUE, 64, &out->version, error);
}

static gboolean parse_session(JsonObject *o, PeerMessage *out, GError **error)
{
    g_autofree char *k = NULL;
    if (!jsonin_string(o, "", "ufrag", TRUE, 256, &out->ufrag, error) ||
        !jsonin_string(o, "", "pwd", TRUE, 256, &out->pwd, error) ||
        !jsonin_string(o, "", "key", TRUE, 64, &k, error))
        return FALSE;
    gsize n = 0;
    g_autofree guchar *raw = g_base64_decode(k, &n);
    gboolean ok = n == STREAM_KEY_LEN;
    if (ok)
        memcpy(out->key, raw, n);
    else
        jsonin_field_error(error, "", "key", "not %d bytes of base64", STREAM_KEY_LEN);
    keyfile_wipe(raw, n);
    keyfile_wipe(k, strlen(k));
    return ok;
}

static gboolean parse_candidate(JsonObject *o, PeerMessage *out, GError **error)
{
    return jsonin_string(o, "", "line", TRUE, 1024, &out->line, error);
}

static gboolean parse_sent(JsonObject *o, PeerMessage *out, GError **error)
{
    return jsonin_count(o, "", "packets", TRUE, &out->packets, error);
}

static gboolean parse_stats(JsonObject *o, PeerMessage *out, GError **error)
{
    JsonObject *in;
    guint64 n;
    /* The counts are required here (a document may leave them out). */
    return jsonin_object(o, "", "in", TRUE, &in, error) &&
           jsonin_count(in, "in", "packets_sent", TRUE, &n, error) &&
           jsonin_count(in, "in", "packets_received", TRUE, &n, error) &&
           metrics_summary_from_json(in, "in", &out->in, error);
}

static gboolean parse_skip(JsonObject *o, PeerMessage *out, GError **error)
{
    return jsonin_string(o, "", "reason", TRUE, 512, &out->reason, error);
}

/* Each type, in PeerMessageType's order: whether it names a path, and what
 * else it carries. */
static const struct {
    const char *name;
    gboolean has_path;
    gboolean (*body)(JsonObject *o, PeerMessage *out, GError **error);
} kinds[] = {
    {"hello", FALSE, parse_hello},        {"session", TRUE, parse_session},
    {"candidate", TRUE, parse_candidate}, {"gathered", TRUE, NULL},
    {"sent", TRUE, parse_sent},           {"stats", TRUE, parse_stats},
    {"skip", TRUE, parse_skip},           {"closing", TRUE, NULL},
    {"reruns", FALSE, paths_member},      {"connected", TRUE, NULL},
};
G_STATIC_ASSERT(G_N_ELEMENTS(kinds) == PEER_CONNECTED + 1);

gboolean peer_message_parse(JsonObject *o, PeerMessage *out, GError **error)
{
    memset(out, 0, sizeof(*out));
    g_auto(PeerMessage) m = {0};
    g_autofree char *type = NULL;
    if (!jsonin_string(o, "", "type", TRUE, 16, &type, error))
        return FALSE;
    gint t = -1;
    for (gint i = 0; i < (gint)G_N_ELEMENTS(kinds); i++)
        if (strcmp(kinds[i].name, type) == 0)
            t = i;
    if (t < 0) {
        jsonin_field_error(error, "", "type", "unknown '%s'", type);
        return FALSE;
    }
    m.type = (PeerMessageType)t;
    if (kinds[t].has_path) {
        if (!jsonin_string(o, "", "path", TRUE, 16, &m.path, error))
            return FALSE;
        if (!g_strv_contains(protocol_paired_paths, m.path)) {
            jsonin_field_error(error, "", "path", "unknown '%s'", m.path);
            return FALSE;
        }
    }
    if (kinds[t].body && !kinds[t].body(o, &m, error))
        return FALSE;
    *out = m;
    memset(&m, 0, sizeof(m));
    return TRUE;
}
