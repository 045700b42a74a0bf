/* The iceprobe.run/1 document: written from a RunResult, and read back into one.
 *
 * Reading is the controller's side of the agents' reports, so it treats the text
 * as hostile: the byte count and nesting depth are checked before json-glib sees
 * it (its parser recurses), every array and string is capped, and each error
 * names the member that was wrong, as a path ("paths[1].metrics.loss_ratio"). */
#include <math.h>
#include <string.h>

#include "iceprobe/result.h"

G_DEFINE_QUARK(iceprobe - result - error - quark, result_error)

/* ---- writing ------------------------------------------------------------- */

static void add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void add_double(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, v);
}

static void add_object(JsonBuilder *b, const char *name, JsonObject *o)
{
    json_builder_set_member_name(b, name);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(n, o);
    json_builder_add_value(b, n);
}

static void candidate_json(JsonBuilder *b, const char *name, const CandidateInfo *c, gboolean local)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    add_str(b, "type", c->type);
    add_str(b, "transport", c->transport);
    add_str(b, "address", c->address);
    if (local) {
        add_str(b, "base_address", c->base_address);
        add_str(b, "interface", c->interface);
        add_str(b, "interface_class", c->interface_class);
        add_str(b, "egress_interface", c->egress_interface);
        add_str(b, "egress_class", c->egress_class);
    }
    json_builder_end_object(b);
}

static void metrics_members(JsonBuilder *b, const MetricsSummary *m)
{
    add_int(b, "packets_sent", (gint64)m->packets_sent);
    add_int(b, "packets_received", (gint64)m->packets_received);
    add_double(b, "loss_ratio", m->loss_ratio);
    add_double(b, "jitter_ms", m->jitter_ms);
    json_builder_set_member_name(b, "rtt_ms");
    if (m->rtt_samples) {
        json_builder_begin_object(b);
        add_int(b, "samples", (gint64)m->rtt_samples);
        add_double(b, "min", m->rtt_min_ms);
        add_double(b, "median", m->rtt_median_ms);
        add_double(b, "p95", m->rtt_p95_ms);
        add_double(b, "max", m->rtt_max_ms);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    add_int(b, "reordered", (gint64)m->reordered);
    add_int(b, "duplicates", (gint64)m->duplicates);
    add_double(b, "mos", m->mos);
    if (m->codec) {
        json_builder_set_member_name(b, "emodel");
        json_builder_begin_object(b);
        add_str(b, "codec", m->codec->name);
        add_double(b, "r", m->r_factor);
        add_double(b, "burst_r", m->burst_r);
        add_double(b, "delay_ms", m->mos_delay_ms);
        json_builder_end_object(b);
    }
    if (m->have_windows) {
        json_builder_set_member_name(b, "windows");
        json_builder_begin_object(b);
        add_double(b, "loss_15s_max", m->loss_15s_max);
        add_double(b, "burst_loss_200ms_max", m->burst_loss_200ms_max);
        add_double(b, "jitter_15s_max_ms", m->jitter_15s_max_ms);
        add_double(b, "reorder_ratio", m->reorder_ratio);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "owd_variation_ms");
        json_builder_begin_object(b);
        add_double(b, "p50", m->owdv_p50_ms);
        add_double(b, "p95", m->owdv_p95_ms);
        add_double(b, "max", m->owdv_max_ms);
        json_builder_end_object(b);
    }
}

static void metrics_object(JsonBuilder *b, const char *name, const MetricsSummary *m)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    metrics_members(b, m);
    json_builder_end_object(b);
}

/* A time that may not have happened: null then. */
static void optional_ms(JsonBuilder *b, const char *name, double ms)
{
    json_builder_set_member_name(b, name);
    if (ms >= 0)
        json_builder_add_double_value(b, ms);
    else
        json_builder_add_null_value(b);
}

static void path_members(JsonBuilder *b, const PathRecord *p)
{
    add_str(b, "verdict", verdict_to_string(p->verdict));
    add_str(b, "reason", p->reason);
    json_builder_set_member_name(b, "selected_pair");
    if (p->have_pair) {
        json_builder_begin_object(b);
        candidate_json(b, "local", &p->local, TRUE);
        candidate_json(b, "remote", &p->remote, FALSE);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "tunnel_counters");
    if (p->have_counters) {
        json_builder_begin_object(b);
        add_str(b, "interface", p->tunnel_interface);
        add_int(b, "tx_packets", (gint64)p->tunnel_tx);
        add_int(b, "rx_packets", (gint64)p->tunnel_rx);
        add_str(b, "source", p->counters_per_connection ? "connection" : "interface");
        if (p->have_egress) {
            json_builder_set_member_name(b, "egress");
            json_builder_begin_object(b);
            add_int(b, "media_sent", (gint64)p->egress_media_sent);
            add_int(b, "media_seen", (gint64)p->egress_media_seen);
            add_int(b, "media_tunnel", (gint64)p->egress_media_tunnel);
            add_int(b, "other_tunnel", (gint64)p->egress_other_tunnel);
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "metrics");
    if (p->have_metrics) {
        json_builder_begin_object(b);
        metrics_members(b, &p->metrics);
        json_builder_set_member_name(b, "directions");
        json_builder_begin_object(b);
        metrics_object(b, "out", &p->out);
        metrics_object(b, "in", &p->in);
        json_builder_end_object(b);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "timing_ms");
    json_builder_begin_object(b);
    add_double(b, "gather", p->gather_ms);
    add_double(b, "connect", p->connect_ms);
    optional_ms(b, "connected", p->connected_ms);
    optional_ms(b, "ready", p->ready_ms);
    add_double(b, "total", p->total_ms);
    json_builder_end_object(b);
    if (p->nomination || p->pair_changes->len) {
        json_builder_set_member_name(b, "ice");
        json_builder_begin_object(b);
        add_str(b, "nomination", p->nomination);
        json_builder_set_member_name(b, "controlling");
        json_builder_add_boolean_value(b, p->controlling);
        add_str(b, "pair_final", p->pair_final);
        json_builder_set_member_name(b, "pair_changes");
        json_builder_begin_array(b);
        for (guint i = 0; i < p->pair_changes->len; i++) {
            const PairChange *c = p->pair_changes->pdata[i];
            json_builder_begin_object(b);
            add_double(b, "at_ms", c->at_ms);
            add_str(b, "local", c->local);
            add_str(b, "local_interface", c->local_interface);
            add_str(b, "remote", c->remote);
            if (c->have_counters) {
                add_int(b, "tunnel_tx_packets", (gint64)c->tunnel_tx);
                add_int(b, "tunnel_rx_packets", (gint64)c->tunnel_rx);
            }
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
}

static void path_json(JsonBuilder *b, const PathRecord *p)
{
    static const char *const side_names[] = {"a", "b"};
    json_builder_begin_object(b);
    add_str(b, "name", p->name);
    path_members(b, p);
    if (p->sides[0] || p->sides[1]) {
        json_builder_set_member_name(b, "sides");
        json_builder_begin_object(b);
        for (int i = 0; i < 2; i++) {
            if (!p->sides[i])
                continue;
            json_builder_set_member_name(b, side_names[i]);
            json_builder_begin_object(b);
            path_members(b, p->sides[i]);
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
}

JsonNode *run_result_to_json(const RunResult *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_object(b);
    add_str(b, "schema", "iceprobe.run/1");
    add_str(b, "run_id", r->run_id);
    add_str(b, "profile", r->profile);
    g_autofree char *started = g_date_time_format(r->started_at, "%Y-%m-%dT%H:%M:%SZ");
    add_str(b, "started_at", started);
    add_str(b, "verdict", verdict_to_string(r->verdict));
    if (r->error)
        add_str(b, "error", r->error);

    json_builder_set_member_name(b, "findings");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        json_builder_begin_object(b);
        add_str(b, "code", f->code);
        add_str(b, "severity", verdict_to_string(f->severity));
        add_str(b, "message", f->message);
        add_object(b, "evidence", json_object_ref(f->evidence));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    json_builder_set_member_name(b, "probes");
    JsonNode *probes = json_node_new(JSON_NODE_ARRAY);
    json_node_set_array(probes, r->probes);
    json_builder_add_value(b, probes);

    json_builder_set_member_name(b, "checks");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->checks->len; i++) {
        const CheckRecord *c = r->checks->pdata[i];
        json_builder_begin_object(b);
        add_str(b, "name", c->name);
        add_str(b, "verdict", verdict_to_string(c->verdict));
        add_str(b, "reason", c->reason);
        add_double(b, "duration_ms", c->duration_ms);
        JsonObjectIter it;
        const char *member;
        JsonNode *value;
        json_object_iter_init(&it, c->detail);
        while (json_object_iter_next(&it, &member, &value)) {
            json_builder_set_member_name(b, member);
            json_builder_add_value(b, json_node_copy(value));
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    json_builder_set_member_name(b, "paths");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->paths->len; i++)
        path_json(b, r->paths->pdata[i]);
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *run_result_to_string(const RunResult *r, gboolean pretty)
{
    g_autoptr(JsonNode) root = run_result_to_json(r);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, pretty);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* ---- reading ------------------------------------------------------------- */

guint json_text_depth(const char *data, gsize len)
{
    guint depth = 0, max = 0;
    gboolean in_string = FALSE;
    for (gsize i = 0; i < len; i++) {
        char c = data[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = FALSE;
        } else if (c == '"') {
            in_string = TRUE;
        } else if (c == '{' || c == '[') {
            depth++;
            max = MAX(max, depth);
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

/* Where a member lives, for messages: "paths[1].metrics". */
static char *member_path(const char *prefix, const char *member)
{
    return *prefix ? g_strdup_printf("%s.%s", prefix, member) : g_strdup(member);
}

static void field_error(GError **error, const char *prefix, const char *member, const char *what)
{
    g_autofree char *p = member_path(prefix, member);
    g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "%s: %s", p, what);
}

/* The member, or NULL when it is absent or null. */
static JsonNode *member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

static gboolean read_string(JsonObject *o, const char *prefix, const char *name, gboolean required,
                            char **out, GError **error)
{
    JsonNode *n = member(o, name);
    if (!n) {
        if (required) {
            field_error(error, prefix, name, "missing");
            return FALSE;
        }
        return TRUE;
    }
    if (json_node_get_value_type(n) != G_TYPE_STRING) {
        field_error(error, prefix, name, "not a string");
        return FALSE;
    }
    const char *s = json_node_get_string(n);
    if (strlen(s) > RESULT_MAX_STRING) {
        field_error(error, prefix, name, "longer than the cap");
        return FALSE;
    }
    g_free(*out);
    *out = g_strdup(s);
    return TRUE;
}

static gboolean is_number(JsonNode *n)
{
    if (!JSON_NODE_HOLDS_VALUE(n))
        return FALSE;
    GType t = json_node_get_value_type(n);
    return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

static gboolean read_double(JsonObject *o, const char *prefix, const char *name, double min,
                            double max, double *out, GError **error)
{
    JsonNode *n = member(o, name);
    if (!n)
        return TRUE;
    double v = is_number(n) ? json_node_get_double(n) : NAN;
    if (!(v >= min && v <= max)) {
        g_autofree char *what = g_strdup_printf("not a number from %g to %g", min, max);
        field_error(error, prefix, name, what);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean read_count(JsonObject *o, const char *prefix, const char *name, guint64 *out,
                           GError **error)
{
    JsonNode *n = member(o, name);
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0) {
        field_error(error, prefix, name, "not a whole number >= 0");
        return FALSE;
    }
    *out = (guint64)json_node_get_int(n);
    return TRUE;
}

static JsonObject *read_object(JsonObject *o, const char *prefix, const char *name,
                               gboolean required, GError **error)
{
    JsonNode *n = member(o, name);
    if (!n) {
        if (required)
            field_error(error, prefix, name, "missing");
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        field_error(error, prefix, name, "not an object");
        return NULL;
    }
    return json_node_get_object(n);
}

/* An array member, capped; *absent set when there is none (not an error). */
static JsonArray *read_array(JsonObject *o, const char *prefix, const char *name, gboolean *absent,
                             GError **error)
{
    JsonNode *n = member(o, name);
    *absent = n == NULL;
    if (!n)
        return NULL;
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        field_error(error, prefix, name, "not an array");
        return NULL;
    }
    JsonArray *a = json_node_get_array(n);
    if (json_array_get_length(a) > RESULT_MAX_ITEMS) {
        g_autofree char *what = g_strdup_printf("more than %d items", RESULT_MAX_ITEMS);
        field_error(error, prefix, name, what);
        return NULL;
    }
    return a;
}

static gboolean read_verdict(JsonObject *o, const char *prefix, const char *name, Verdict *out,
                             GError **error)
{
    g_autofree char *s = NULL;
    if (!read_string(o, prefix, name, TRUE, &s, error))
        return FALSE;
    if (!verdict_from_string(s, out)) {
        g_autofree char *what = g_strdup_printf("'%s' is not pass, warn, fail, error or skip", s);
        field_error(error, prefix, name, what);
        return FALSE;
    }
    return TRUE;
}

static gboolean read_candidate(JsonObject *pair, const char *prefix, const char *name,
                               CandidateInfo *c, GError **error)
{
    JsonObject *o = read_object(pair, prefix, name, TRUE, error);
    if (!o)
        return FALSE;
    g_autofree char *here = member_path(prefix, name);
    struct {
        const char *name;
        char **field;
    } strings[] = {
        {"type", &c->type},
        {"transport", &c->transport},
        {"address", &c->address},
        {"base_address", &c->base_address},
        {"interface", &c->interface},
        {"interface_class", &c->interface_class},
        {"egress_interface", &c->egress_interface},
        {"egress_class", &c->egress_class},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(strings); i++) {
        if (!read_string(o, here, strings[i].name, FALSE, strings[i].field, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean read_metrics_members(JsonObject *o, const char *here, MetricsSummary *m,
                                     GError **error)
{
    if (!read_count(o, here, "packets_sent", &m->packets_sent, error) ||
        !read_count(o, here, "packets_received", &m->packets_received, error) ||
        !read_double(o, here, "loss_ratio", 0, 1, &m->loss_ratio, error) ||
        !read_double(o, here, "jitter_ms", 0, 1e7, &m->jitter_ms, error) ||
        !read_count(o, here, "reordered", &m->reordered, error) ||
        !read_count(o, here, "duplicates", &m->duplicates, error) ||
        !read_double(o, here, "mos", 0, 5, &m->mos, error))
        return FALSE;
    g_autoptr(GError) e = NULL;
    JsonObject *rtt = read_object(o, here, "rtt_ms", FALSE, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    if (rtt) {
        g_autofree char *rh = member_path(here, "rtt_ms");
        m->rtt_samples = 1;
        if (!read_count(rtt, rh, "samples", &m->rtt_samples, error) ||
            !read_double(rtt, rh, "min", 0, 1e7, &m->rtt_min_ms, error) ||
            !read_double(rtt, rh, "median", 0, 1e7, &m->rtt_median_ms, error) ||
            !read_double(rtt, rh, "p95", 0, 1e7, &m->rtt_p95_ms, error) ||
            !read_double(rtt, rh, "max", 0, 1e7, &m->rtt_max_ms, error))
            return FALSE;
    }
    JsonObject *em = read_object(o, here, "emodel", FALSE, &e);
    JsonObject *win = e ? NULL : read_object(o, here, "windows", FALSE, &e);
    JsonObject *owdv = e ? NULL : read_object(o, here, "owd_variation_ms", FALSE, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    if (em) {
        g_autofree char *eh = member_path(here, "emodel");
        g_autofree char *codec = NULL;
        if (!read_string(em, eh, "codec", TRUE, &codec, error))
            return FALSE;
        m->codec = emodel_codec_lookup(codec);
        if (!m->codec) {
            field_error(error, eh, "codec", "not a codec the E-model knows");
            return FALSE;
        }
        if (!read_double(em, eh, "r", -200, 200, &m->r_factor, error) ||
            !read_double(em, eh, "burst_r", 1, 1e6, &m->burst_r, error) ||
            !read_double(em, eh, "delay_ms", 0, 1e7, &m->mos_delay_ms, error))
            return FALSE;
    }
    if (win) {
        g_autofree char *wh = member_path(here, "windows");
        m->have_windows = TRUE;
        if (!read_double(win, wh, "loss_15s_max", 0, 1, &m->loss_15s_max, error) ||
            !read_double(win, wh, "burst_loss_200ms_max", 0, 1, &m->burst_loss_200ms_max, error) ||
            !read_double(win, wh, "jitter_15s_max_ms", 0, 1e7, &m->jitter_15s_max_ms, error) ||
            !read_double(win, wh, "reorder_ratio", 0, 1, &m->reorder_ratio, error))
            return FALSE;
    }
    if (owdv) {
        g_autofree char *oh = member_path(here, "owd_variation_ms");
        if (!read_double(owdv, oh, "p50", 0, 1e7, &m->owdv_p50_ms, error) ||
            !read_double(owdv, oh, "p95", 0, 1e7, &m->owdv_p95_ms, error) ||
            !read_double(owdv, oh, "max", 0, 1e7, &m->owdv_max_ms, error))
            return FALSE;
    }
    return TRUE;
}

JsonNode *metrics_summary_to_json(const MetricsSummary *m)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    metrics_members(b, m);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gboolean metrics_summary_from_json(JsonObject *o, const char *where, MetricsSummary *m,
                                   GError **error)
{
    memset(m, 0, sizeof(*m));
    return read_metrics_members(o, where, m, error);
}

/* An optional object member: TRUE with *out NULL when absent. */
static gboolean optional_object(JsonObject *o, const char *prefix, const char *name,
                                JsonObject **out, GError **error)
{
    g_autoptr(GError) e = NULL;
    *out = read_object(o, prefix, name, FALSE, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    return TRUE;
}

static gboolean read_pair_change(JsonNode *n, const char *here, PairChange *c, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "%s: not an object", here);
        return FALSE;
    }
    JsonObject *o = json_node_get_object(n);
    c->have_counters = member(o, "tunnel_tx_packets") != NULL;
    return read_double(o, here, "at_ms", 0, 1e9, &c->at_ms, error) &&
           read_string(o, here, "local", TRUE, &c->local, error) &&
           read_string(o, here, "local_interface", FALSE, &c->local_interface, error) &&
           read_string(o, here, "remote", TRUE, &c->remote, error) &&
           read_count(o, here, "tunnel_tx_packets", &c->tunnel_tx, error) &&
           read_count(o, here, "tunnel_rx_packets", &c->tunnel_rx, error);
}

/* The optional "ice" member: how ICE was run and the pair's changes. */
static gboolean read_ice(JsonObject *o, const char *here, PathRecord *p, GError **error)
{
    JsonObject *ice;
    if (!optional_object(o, here, "ice", &ice, error))
        return FALSE;
    if (!ice)
        return TRUE;
    g_autofree char *ih = member_path(here, "ice");
    JsonNode *ctl = member(ice, "controlling");
    if (ctl && (!JSON_NODE_HOLDS_VALUE(ctl) || json_node_get_value_type(ctl) != G_TYPE_BOOLEAN)) {
        field_error(error, ih, "controlling", "not true or false");
        return FALSE;
    }
    p->controlling = ctl && json_node_get_boolean(ctl);
    gboolean absent;
    JsonArray *changes = NULL;
    if (!read_string(ice, ih, "nomination", FALSE, &p->nomination, error) ||
        !read_string(ice, ih, "pair_final", FALSE, &p->pair_final, error))
        return FALSE;
    g_autoptr(GError) e = NULL;
    changes = read_array(ice, ih, "pair_changes", &absent, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    guint n = changes ? json_array_get_length(changes) : 0;
    if (n > RESULT_MAX_PAIR_CHANGES) {
        g_autofree char *what = g_strdup_printf("more than %d changes", RESULT_MAX_PAIR_CHANGES);
        field_error(error, ih, "pair_changes", what);
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        g_autofree char *ch = g_strdup_printf("%s.pair_changes[%u]", ih, i);
        PairChange *c = g_new0(PairChange, 1);
        g_ptr_array_add(p->pair_changes, c);
        if (!read_pair_change(json_array_get_element(changes, i), ch, c, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean read_path_members(JsonObject *o, const char *here, PathRecord *p, GError **error)
{
    if (!read_verdict(o, here, "verdict", &p->verdict, error) ||
        !read_string(o, here, "reason", FALSE, &p->reason, error))
        return FALSE;

    JsonObject *pair, *counters, *metrics, *timing;
    if (!optional_object(o, here, "selected_pair", &pair, error) ||
        !optional_object(o, here, "tunnel_counters", &counters, error) ||
        !optional_object(o, here, "metrics", &metrics, error) ||
        !optional_object(o, here, "timing_ms", &timing, error))
        return FALSE;
    if (pair) {
        g_autofree char *ph = member_path(here, "selected_pair");
        if (!read_candidate(pair, ph, "local", &p->local, error) ||
            !read_candidate(pair, ph, "remote", &p->remote, error))
            return FALSE;
        p->have_pair = TRUE;
    }
    if (counters) {
        g_autofree char *ch = member_path(here, "tunnel_counters");
        if (!read_string(counters, ch, "interface", TRUE, &p->tunnel_interface, error) ||
            !read_count(counters, ch, "tx_packets", &p->tunnel_tx, error) ||
            !read_count(counters, ch, "rx_packets", &p->tunnel_rx, error))
            return FALSE;
        g_autofree char *source = NULL;
        if (!read_string(counters, ch, "source", FALSE, &source, error))
            return FALSE;
        if (source && strcmp(source, "interface") != 0 && strcmp(source, "connection") != 0) {
            field_error(error, ch, "source", "neither interface nor connection");
            return FALSE;
        }
        p->counters_per_connection = g_strcmp0(source, "connection") == 0;
        p->have_counters = TRUE;
        JsonObject *eg;
        if (!optional_object(counters, ch, "egress", &eg, error))
            return FALSE;
        if (eg) {
            g_autofree char *eh = member_path(ch, "egress");
            static const char *const need[] = {"media_sent", "media_seen", "media_tunnel",
                                               "other_tunnel"};
            for (guint i = 0; i < G_N_ELEMENTS(need); i++)
                if (!member(eg, need[i])) {
                    field_error(error, eh, need[i], "missing");
                    return FALSE;
                }
            if (!read_count(eg, eh, "media_sent", &p->egress_media_sent, error) ||
                !read_count(eg, eh, "media_seen", &p->egress_media_seen, error) ||
                !read_count(eg, eh, "media_tunnel", &p->egress_media_tunnel, error) ||
                !read_count(eg, eh, "other_tunnel", &p->egress_other_tunnel, error))
                return FALSE;
            if (p->egress_media_seen > p->egress_media_sent) {
                field_error(error, eh, "media_seen", "more than media_sent");
                return FALSE;
            }
            if (p->egress_media_tunnel > p->egress_media_seen) {
                field_error(error, eh, "media_tunnel", "more than media_seen");
                return FALSE;
            }
            p->have_egress = TRUE;
        }
    }
    if (metrics) {
        g_autofree char *mh = member_path(here, "metrics");
        if (!read_metrics_members(metrics, mh, &p->metrics, error))
            return FALSE;
        JsonObject *dirs;
        if (!optional_object(metrics, mh, "directions", &dirs, error))
            return FALSE;
        if (dirs) {
            g_autofree char *dh = member_path(mh, "directions");
            JsonObject *out, *in;
            if (!optional_object(dirs, dh, "out", &out, error) ||
                !optional_object(dirs, dh, "in", &in, error))
                return FALSE;
            g_autofree char *oh = member_path(dh, "out");
            g_autofree char *ih = member_path(dh, "in");
            if ((out && !read_metrics_members(out, oh, &p->out, error)) ||
                (in && !read_metrics_members(in, ih, &p->in, error)))
                return FALSE;
        }
        p->have_metrics = TRUE;
    }
    if (timing) {
        g_autofree char *th = member_path(here, "timing_ms");
        if (!read_double(timing, th, "gather", 0, 1e9, &p->gather_ms, error) ||
            !read_double(timing, th, "connect", 0, 1e9, &p->connect_ms, error) ||
            !read_double(timing, th, "connected", 0, 1e9, &p->connected_ms, error) ||
            !read_double(timing, th, "ready", 0, 1e9, &p->ready_ms, error) ||
            !read_double(timing, th, "total", 0, 1e9, &p->total_ms, error))
            return FALSE;
    }
    return read_ice(o, here, p, error);
}

static PathRecord *read_path(JsonNode *n, const char *here, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "%s: not an object", here);
        return NULL;
    }
    JsonObject *o = json_node_get_object(n);
    g_autoptr(PathRecord) p = path_record_new(NULL);
    if (!read_string(o, here, "name", TRUE, &p->name, error) ||
        !read_path_members(o, here, p, error))
        return NULL;
    JsonObject *sides;
    if (!optional_object(o, here, "sides", &sides, error))
        return NULL;
    if (sides) {
        static const char *const side_names[] = {"a", "b"};
        g_autofree char *sh = member_path(here, "sides");
        for (int i = 0; i < 2; i++) {
            JsonObject *so;
            if (!optional_object(sides, sh, side_names[i], &so, error))
                return NULL;
            if (!so)
                continue;
            g_autofree char *h = member_path(sh, side_names[i]);
            p->sides[i] = path_record_new(p->name);
            if (!read_path_members(so, h, p->sides[i], error))
                return NULL;
        }
    }
    return g_steal_pointer(&p);
}

static gboolean read_findings(RunResult *r, JsonObject *root, GError **error)
{
    gboolean absent;
    g_autoptr(GError) e = NULL;
    JsonArray *a = read_array(root, "", "findings", &absent, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *here = g_strdup_printf("findings[%u]", i);
        JsonNode *n = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "%s: not an object", here);
            return FALSE;
        }
        JsonObject *o = json_node_get_object(n);
        g_autofree char *code = NULL, *message = NULL;
        if (!read_string(o, here, "code", TRUE, &code, error) ||
            !read_string(o, here, "message", TRUE, &message, error))
            return FALSE;
        const FindingSpec *spec = finding_spec_lookup(code);
        if (!spec) {
            g_autofree char *what = g_strdup_printf("'%s' is not a finding code", code);
            field_error(error, here, "code", what);
            return FALSE;
        }
        JsonObject *evidence;
        if (!optional_object(o, here, "evidence", &evidence, error))
            return FALSE;
        Finding *f = g_new0(Finding, 1);
        f->code = g_steal_pointer(&code);
        f->severity = spec->severity; /* the code decides, not the sender */
        f->message = g_steal_pointer(&message);
        f->evidence = evidence ? json_object_ref(evidence) : json_object_new();
        g_ptr_array_add(r->findings, f);
    }
    return TRUE;
}

static gboolean read_checks(RunResult *r, JsonObject *root, GError **error)
{
    gboolean absent;
    g_autoptr(GError) e = NULL;
    JsonArray *a = read_array(root, "", "checks", &absent, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *here = g_strdup_printf("checks[%u]", i);
        JsonNode *n = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "%s: not an object", here);
            return FALSE;
        }
        JsonObject *o = json_node_get_object(n);
        g_autofree char *name = NULL, *reason = NULL;
        Verdict v;
        double duration = 0;
        if (!read_string(o, here, "name", TRUE, &name, error) ||
            !read_verdict(o, here, "verdict", &v, error) ||
            !read_string(o, here, "reason", FALSE, &reason, error) ||
            !read_double(o, here, "duration_ms", 0, 1e9, &duration, error))
            return FALSE;
        CheckRecord *c = run_result_add_check(r, name, v, "%s", reason ? reason : "");
        c->duration_ms = duration;
        JsonObjectIter it;
        const char *m;
        JsonNode *value;
        json_object_iter_init(&it, o);
        while (json_object_iter_next(&it, &m, &value)) {
            if (strcmp(m, "name") && strcmp(m, "verdict") && strcmp(m, "reason") &&
                strcmp(m, "duration_ms"))
                json_object_set_member(c->detail, m, json_node_copy(value));
        }
    }
    return TRUE;
}

static gboolean read_paths(RunResult *r, JsonObject *root, GError **error)
{
    gboolean absent;
    g_autoptr(GError) e = NULL;
    JsonArray *a = read_array(root, "", "paths", &absent, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *here = g_strdup_printf("paths[%u]", i);
        PathRecord *p = read_path(json_array_get_element(a, i), here, error);
        if (!p)
            return FALSE;
        g_ptr_array_add(r->paths, p);
    }
    return TRUE;
}

static RunResult *from_node(JsonNode *root_node, GError **error)
{
    g_return_val_if_fail(root_node, NULL);
    if (!JSON_NODE_HOLDS_OBJECT(root_node)) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "the document is not a JSON object");
        return NULL;
    }
    JsonObject *root = json_node_get_object(root_node);
    g_autofree char *schema = NULL, *started = NULL;
    if (!read_string(root, "", "schema", TRUE, &schema, error))
        return NULL;
    if (strcmp(schema, "iceprobe.run/1") != 0) {
        g_autofree char *what = g_strdup_printf("'%s' is not iceprobe.run/1", schema);
        field_error(error, "", "schema", what);
        return NULL;
    }
    g_autoptr(RunResult) r = run_result_new(NULL);
    if (!read_string(root, "", "run_id", TRUE, &r->run_id, error) ||
        !read_string(root, "", "profile", TRUE, &r->profile, error) ||
        !read_string(root, "", "started_at", TRUE, &started, error) ||
        !read_verdict(root, "", "verdict", &r->verdict, error) ||
        !read_string(root, "", "error", FALSE, &r->error, error))
        return NULL;
    g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(started, NULL);
    if (!t || g_date_time_get_year(t) < 1970 || g_date_time_get_year(t) > 9999) {
        field_error(error, "", "started_at", "not an RFC 3339 time from 1970 on");
        return NULL;
    }
    g_date_time_unref(r->started_at);
    r->started_at = g_date_time_to_utc(t);

    gboolean absent;
    g_autoptr(GError) e = NULL;
    JsonArray *probes = read_array(root, "", "probes", &absent, &e);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return NULL;
    }
    for (guint i = 0; probes && i < json_array_get_length(probes); i++) {
        JsonNode *n = json_array_get_element(probes, i);
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            g_set_error(error, RESULT_ERROR, RESULT_ERROR_FIELD, "probes[%u]: not an object", i);
            return NULL;
        }
        json_array_add_element(r->probes, json_node_copy(n));
    }
    if (!read_findings(r, root, error) || !read_checks(r, root, error) ||
        !read_paths(r, root, error))
        return NULL;
    return g_steal_pointer(&r);
}

RunResult *run_result_from_json(const char *data, gsize len, GError **error)
{
    g_return_val_if_fail(data || len == 0, NULL);
    if (len > RESULT_MAX_JSON_BYTES) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_SIZE, "the document is over %d bytes",
                    RESULT_MAX_JSON_BYTES);
        return NULL;
    }
    if (json_text_depth(data, len) > RESULT_MAX_DEPTH) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_SIZE, "the document nests deeper than %d",
                    RESULT_MAX_DEPTH);
        return NULL;
    }
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) e = NULL;
    if (!json_parser_load_from_data(parser, data, (gssize)len, &e)) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_SYNTAX, "not JSON: %s", e->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root) {
        g_set_error(error, RESULT_ERROR, RESULT_ERROR_SYNTAX, "not JSON: empty");
        return NULL;
    }
    return from_node(root, error);
}
