/* The iceprobe.run/1 document written from a RunResult (result_read.c reads
 * it back). */
#include <math.h>
#include <string.h>

#include "iceprobe/result.h"

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

/* A member only when it has a value. */
static void add_some(JsonBuilder *b, const char *name, const char *value)
{
    if (value)
        add_str(b, name, value);
}

static void candidate_members(JsonBuilder *b, const CandidateInfo *c, gboolean local)
{
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
    add_some(b, "relay_transport", c->relay_transport);
}

static void candidate_json(JsonBuilder *b, const char *name, const CandidateInfo *c, gboolean local)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    candidate_members(b, c, local);
    json_builder_end_object(b);
}

/* The ICE record's members of "ice": candidates {local, remote}, pairs,
 * pairs_omitted (when some were), given_up. A gathered candidate has only the
 * members it knows (no egress: no packet was sent on most of them). */
static void ice_record_members(JsonBuilder *b, const IceRecord *r)
{
    json_builder_set_member_name(b, "candidates");
    json_builder_begin_object(b);
    const GPtrArray *sides[] = {r->local, r->remote};
    static const char *const side_names[] = {"local", "remote"};
    for (int k = 0; k < 2; k++) {
        json_builder_set_member_name(b, side_names[k]);
        json_builder_begin_array(b);
        for (guint i = 0; i < sides[k]->len; i++) {
            const CandidateInfo *c = sides[k]->pdata[i];
            json_builder_begin_object(b);
            add_str(b, "type", c->type);
            add_str(b, "transport", c->transport);
            add_str(b, "address", c->address);
            add_some(b, "base_address", c->base_address);
            add_some(b, "interface", c->interface);
            add_some(b, "interface_class", c->interface_class);
            add_some(b, "relay_transport", c->relay_transport);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "pairs");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->pairs->len; i++) {
        const IcePair *p = r->pairs->pdata[i];
        json_builder_begin_object(b);
        add_str(b, "local", p->local);
        add_str(b, "remote", p->remote);
        add_str(b, "state", p->state);
        json_builder_set_member_name(b, "nominated");
        json_builder_add_boolean_value(b, p->nominated);
        add_some(b, "why", p->why);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (r->pairs_omitted)
        add_int(b, "pairs_omitted", r->pairs_omitted);
    json_builder_set_member_name(b, "given_up");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->given_up->len; i++) {
        const IceGivenUp *g = r->given_up->pdata[i];
        json_builder_begin_object(b);
        add_str(b, "transport", g->transport);
        add_str(b, "what", g->what);
        add_str(b, "why", g->why);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
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


/* A direction's QoS sample: {seen, marked, values: [DSCP...]}, when there is one. */
static void qos_sample_json(JsonBuilder *b, const char *name, const QosSample *q)
{
    if (!q->have)
        return;
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    add_int(b, "seen", (gint64)q->seen);
    add_int(b, "marked", (gint64)q->marked);
    json_builder_set_member_name(b, "values");
    json_builder_begin_array(b);
    for (guint v = 0; v < 64; v++) {
        if (q->values & (G_GUINT64_CONSTANT(1) << v))
            json_builder_add_int_value(b, v);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}


/* "ice": how ICE ran, the pair's changes, and the ICE record (may be NULL);
 * absent when no ICE ran. */
static void ice_json(JsonBuilder *b, const PathRecord *p, const IceRecord *record)
{
    if (!p->nomination && !p->pair_changes->len && !record)
        return;
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
    if (record)
        ice_record_members(b, record);
    json_builder_end_object(b);
}

/* with_record: the ICE record too (a paired run's has it in each side only). */
static void path_members(JsonBuilder *b, const PathRecord *p, gboolean with_record)
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
        gboolean bytes = p->counters_per_connection && conn_counter_bytes(p->counted_by);
        add_int(b, bytes ? "tx_bytes" : "tx_packets", (gint64)p->tunnel_tx);
        add_int(b, bytes ? "rx_bytes" : "rx_packets", (gint64)p->tunnel_rx);
        add_str(b, "source", p->counters_per_connection ? "connection" : "interface");
        if (p->counters_per_connection && conn_counter_name(p->counted_by))
            add_str(b, "counted_by", conn_counter_name(p->counted_by));
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
    if (p->dscp) {
        json_builder_set_member_name(b, "qos");
        json_builder_begin_object(b);
        add_int(b, "dscp", p->dscp);
        qos_sample_json(b, "out", &p->qos_out);
        qos_sample_json(b, "in", &p->qos_in);
        json_builder_end_object(b);
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
    ice_json(b, p, with_record ? p->ice_record : NULL);
}

static void path_json(JsonBuilder *b, const PathRecord *p)
{
    static const char *const side_names[] = {"a", "b"};
    json_builder_begin_object(b);
    add_str(b, "name", p->name);
    gboolean paired = p->sides[0] || p->sides[1];
    path_members(b, p, !paired);
    if (paired) {
        json_builder_set_member_name(b, "sides");
        json_builder_begin_object(b);
        for (int i = 0; i < 2; i++) {
            if (!p->sides[i])
                continue;
            json_builder_set_member_name(b, side_names[i]);
            json_builder_begin_object(b);
            path_members(b, p->sides[i], TRUE);
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
    if (r->ice_dialect) {
        json_builder_set_member_name(b, "dialect");
        json_builder_begin_object(b);
        add_str(b, "ice", r->ice_dialect);
        add_str(b, "turn", r->turn_dialect);
        json_builder_end_object(b);
    }

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

JsonNode *metrics_summary_to_json(const MetricsSummary *m)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    metrics_members(b, m);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
