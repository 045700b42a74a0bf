/* Reads an iceprobe.run/1 document back (a report from an agent, a stored
 * one): outside data, read through jsonin with the document's caps; an error
 * names the member ("paths[1].metrics.loss_ratio: ..."). */
#include "iceprobe/result.h"

#include <string.h>

#include "iceprobe/jsonin.h"

static const JsonInLimits document_limits = {"the document", RESULT_MAX_JSON_BYTES,
                                             RESULT_MAX_DEPTH};

/* Every string of the document is capped alike. */
static gboolean read_string(JsonObject *o, const char *at, const char *name, gboolean required,
                            char **out, GError **error)
{
    return jsonin_string(o, at, name, required, RESULT_MAX_STRING, out, error);
}

static gboolean read_array(JsonObject *o, const char *at, const char *name, JsonArray **out,
                           GError **error)
{
    return jsonin_array(o, at, name, FALSE, RESULT_MAX_ITEMS, out, error);
}

static gboolean read_verdict(JsonObject *o, const char *prefix, const char *name, Verdict *out,
                             GError **error)
{
    g_autofree char *s = NULL;
    if (!read_string(o, prefix, name, TRUE, &s, error))
        return FALSE;
    if (!verdict_from_string(s, out)) {
        jsonin_field_error(error, prefix, name, "'%s' is not pass, warn, fail, error or skip", s);
        return FALSE;
    }
    return TRUE;
}

/* A candidate's members, each a string of at most max bytes. */
static gboolean read_candidate_fields(JsonObject *o, const char *here, gsize max, CandidateInfo *c,
                                      GError **error)
{
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
        {"relay_transport", &c->relay_transport},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(strings); i++) {
        if (!jsonin_string(o, here, strings[i].name, FALSE, max, strings[i].field, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean read_candidate(JsonObject *pair, const char *prefix, const char *name,
                               CandidateInfo *c, GError **error)
{
    JsonObject *o;
    if (!jsonin_object(pair, prefix, name, TRUE, &o, error))
        return FALSE;
    g_autofree char *here = jsonin_path(prefix, name);
    return read_candidate_fields(o, here, RESULT_MAX_STRING, c, error);
}

/* The figures' optional parts: rtt_ms, emodel, windows, owd_variation_ms. */
static gboolean read_metrics_parts(JsonObject *o, const char *here, MetricsSummary *m,
                                   GError **error)
{
    JsonObject *rtt, *em, *win, *owdv;
    if (!jsonin_object(o, here, "rtt_ms", FALSE, &rtt, error) ||
        !jsonin_object(o, here, "emodel", FALSE, &em, error) ||
        !jsonin_object(o, here, "windows", FALSE, &win, error) ||
        !jsonin_object(o, here, "owd_variation_ms", FALSE, &owdv, error))
        return FALSE;
    if (rtt) {
        g_autofree char *rh = jsonin_path(here, "rtt_ms");
        m->rtt_samples = 1;
        if (!jsonin_count(rtt, rh, "samples", FALSE, &m->rtt_samples, error) ||
            !jsonin_double(rtt, rh, "min", FALSE, 0, 1e7, &m->rtt_min_ms, error) ||
            !jsonin_double(rtt, rh, "median", FALSE, 0, 1e7, &m->rtt_median_ms, error) ||
            !jsonin_double(rtt, rh, "p95", FALSE, 0, 1e7, &m->rtt_p95_ms, error) ||
            !jsonin_double(rtt, rh, "max", FALSE, 0, 1e7, &m->rtt_max_ms, error))
            return FALSE;
    }
    if (em) {
        g_autofree char *eh = jsonin_path(here, "emodel");
        g_autofree char *codec = NULL;
        if (!read_string(em, eh, "codec", TRUE, &codec, error))
            return FALSE;
        m->codec = emodel_codec_lookup(codec);
        if (!m->codec) {
            jsonin_field_error(error, eh, "codec", "not a codec the E-model knows");
            return FALSE;
        }
        if (!jsonin_double(em, eh, "r", FALSE, -200, 200, &m->r_factor, error) ||
            !jsonin_double(em, eh, "burst_r", FALSE, 1, 1e6, &m->burst_r, error) ||
            !jsonin_double(em, eh, "delay_ms", FALSE, 0, 1e7, &m->mos_delay_ms, error))
            return FALSE;
    }
    if (win) {
        g_autofree char *wh = jsonin_path(here, "windows");
        m->have_windows = TRUE;
        if (!jsonin_double(win, wh, "loss_15s_max", FALSE, 0, 1, &m->loss_15s_max, error) ||
            !jsonin_double(win, wh, "burst_loss_200ms_max", FALSE, 0, 1, &m->burst_loss_200ms_max,
                           error) ||
            !jsonin_double(win, wh, "jitter_15s_max_ms", FALSE, 0, 1e7, &m->jitter_15s_max_ms,
                           error) ||
            !jsonin_double(win, wh, "reorder_ratio", FALSE, 0, 1, &m->reorder_ratio, error))
            return FALSE;
    }
    if (owdv) {
        g_autofree char *oh = jsonin_path(here, "owd_variation_ms");
        if (!jsonin_double(owdv, oh, "p50", FALSE, 0, 1e7, &m->owdv_p50_ms, error) ||
            !jsonin_double(owdv, oh, "p95", FALSE, 0, 1e7, &m->owdv_p95_ms, error) ||
            !jsonin_double(owdv, oh, "max", FALSE, 0, 1e7, &m->owdv_max_ms, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean read_metrics_members(JsonObject *o, const char *here, MetricsSummary *m,
                                     GError **error)
{
    return jsonin_count(o, here, "packets_sent", FALSE, &m->packets_sent, error) &&
           jsonin_count(o, here, "packets_received", FALSE, &m->packets_received, error) &&
           jsonin_double(o, here, "loss_ratio", FALSE, 0, 1, &m->loss_ratio, error) &&
           jsonin_double(o, here, "jitter_ms", FALSE, 0, 1e7, &m->jitter_ms, error) &&
           jsonin_count(o, here, "reordered", FALSE, &m->reordered, error) &&
           jsonin_count(o, here, "duplicates", FALSE, &m->duplicates, error) &&
           jsonin_double(o, here, "mos", FALSE, 0, 5, &m->mos, error) &&
           read_metrics_parts(o, here, m, error);
}

gboolean metrics_summary_from_json(JsonObject *o, const char *where, MetricsSummary *m,
                                   GError **error)
{
    memset(m, 0, sizeof(*m));
    return read_metrics_members(o, where, m, error);
}

static gboolean read_pair_change(JsonObject *o, const char *here, PairChange *c, GError **error)
{
    c->have_counters = jsonin_member(o, "tunnel_tx_packets") != NULL;
    return jsonin_double(o, here, "at_ms", FALSE, 0, 1e9, &c->at_ms, error) &&
           read_string(o, here, "local", TRUE, &c->local, error) &&
           read_string(o, here, "local_interface", FALSE, &c->local_interface, error) &&
           read_string(o, here, "remote", TRUE, &c->remote, error) &&
           jsonin_count(o, here, "tunnel_tx_packets", FALSE, &c->tunnel_tx, error) &&
           jsonin_count(o, here, "tunnel_rx_packets", FALSE, &c->tunnel_rx, error);
}

/* The record's strings are capped tighter than the document's. */
static gboolean read_record_string(JsonObject *o, const char *at, const char *name,
                                   gboolean required, char **out, GError **error)
{
    return jsonin_string(o, at, name, required, RESULT_ICE_MAX_STRING, out, error);
}

/* candidates {local: [...], remote: [...]}, at most RESULT_ICE_MAX_CANDIDATES each. */
static gboolean read_record_candidates(JsonObject *ice, const char *ih, IceRecord *r,
                                       GError **error)
{
    JsonObject *cands;
    if (!jsonin_object(ice, ih, "candidates", FALSE, &cands, error))
        return FALSE;
    if (!cands)
        return TRUE;
    g_autofree char *ch = jsonin_path(ih, "candidates");
    static const char *const side_names[] = {"local", "remote"};
    GPtrArray *sides[] = {r->local, r->remote};
    for (int k = 0; k < 2; k++) {
        JsonArray *a;
        if (!jsonin_array(cands, ch, side_names[k], FALSE, RESULT_ICE_MAX_CANDIDATES, &a, error))
            return FALSE;
        g_autofree char *list = jsonin_path(ch, side_names[k]);
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            g_autofree char *here = g_strdup_printf("%s[%u]", list, i);
            JsonObject *o = jsonin_item_object(a, list, i, error);
            if (!o)
                return FALSE;
            CandidateInfo *c = candidate_info_new();
            g_ptr_array_add(sides[k], c);
            if (!read_candidate_fields(o, here, RESULT_ICE_MAX_STRING, c, error) ||
                !read_record_string(o, here, "type", TRUE, &c->type, error))
                return FALSE;
        }
    }
    return TRUE;
}

static gboolean read_record_pair(JsonObject *o, const char *here, IcePair *p, GError **error)
{
    if (!read_record_string(o, here, "local", TRUE, &p->local, error) ||
        !read_record_string(o, here, "remote", TRUE, &p->remote, error) ||
        !read_record_string(o, here, "state", TRUE, &p->state, error) ||
        !jsonin_bool(o, here, "nominated", FALSE, &p->nominated, error) ||
        !read_record_string(o, here, "why", FALSE, &p->why, error))
        return FALSE;
    if (!ice_pair_state_known(p->state)) {
        jsonin_field_error(error, here, "state", "'%s' is not a check pair's state", p->state);
        return FALSE;
    }
    return TRUE;
}

/* pairs [...] (at most RESULT_ICE_MAX_PAIRS), pairs_omitted, given_up [...]. */
static gboolean read_record_lists(JsonObject *ice, const char *ih, IceRecord *r, GError **error)
{
    JsonArray *pairs, *given;
    guint64 omitted = 0;
    if (!jsonin_array(ice, ih, "pairs", FALSE, RESULT_ICE_MAX_PAIRS, &pairs, error) ||
        !jsonin_count(ice, ih, "pairs_omitted", FALSE, &omitted, error) ||
        !jsonin_array(ice, ih, "given_up", FALSE, RESULT_ICE_MAX_GIVEN_UP, &given, error))
        return FALSE;
    r->pairs_omitted = (guint)MIN(omitted, G_MAXUINT);
    g_autofree char *pl = jsonin_path(ih, "pairs");
    for (guint i = 0; pairs && i < json_array_get_length(pairs); i++) {
        g_autofree char *here = g_strdup_printf("%s[%u]", pl, i);
        JsonObject *o = jsonin_item_object(pairs, pl, i, error);
        if (!o)
            return FALSE;
        IcePair *p = g_new0(IcePair, 1);
        g_ptr_array_add(r->pairs, p);
        if (!read_record_pair(o, here, p, error))
            return FALSE;
    }
    g_autofree char *gl = jsonin_path(ih, "given_up");
    for (guint i = 0; given && i < json_array_get_length(given); i++) {
        g_autofree char *here = g_strdup_printf("%s[%u]", gl, i);
        JsonObject *o = jsonin_item_object(given, gl, i, error);
        if (!o)
            return FALSE;
        IceGivenUp *g = g_new0(IceGivenUp, 1);
        g_ptr_array_add(r->given_up, g);
        if (!read_record_string(o, here, "transport", TRUE, &g->transport, error) ||
            !read_record_string(o, here, "what", TRUE, &g->what, error) ||
            !read_record_string(o, here, "why", TRUE, &g->why, error))
            return FALSE;
    }
    return TRUE;
}

/* The ICE record, when the document has one (older probes' documents have
 * none: the path then has no record). */
static gboolean read_ice_record(JsonObject *ice, const char *ih, PathRecord *p, GError **error)
{
    if (!jsonin_member(ice, "candidates") && !jsonin_member(ice, "pairs") &&
        !jsonin_member(ice, "given_up"))
        return TRUE;
    p->ice_record = ice_record_new();
    return read_record_candidates(ice, ih, p->ice_record, error) &&
           read_record_lists(ice, ih, p->ice_record, error);
}

/* The optional "ice" member: how ICE was run and the pair's changes. */
static gboolean read_ice(JsonObject *o, const char *here, PathRecord *p, GError **error)
{
    JsonObject *ice;
    if (!jsonin_object(o, here, "ice", FALSE, &ice, error))
        return FALSE;
    if (!ice)
        return TRUE;
    g_autofree char *ih = jsonin_path(here, "ice");
    p->controlling = FALSE;
    JsonArray *changes;
    if (!jsonin_bool(ice, ih, "controlling", FALSE, &p->controlling, error) ||
        !read_string(ice, ih, "nomination", FALSE, &p->nomination, error) ||
        !read_string(ice, ih, "pair_final", FALSE, &p->pair_final, error) ||
        !jsonin_array(ice, ih, "pair_changes", FALSE, RESULT_MAX_PAIR_CHANGES, &changes, error))
        return FALSE;
    g_autofree char *list = jsonin_path(ih, "pair_changes");
    for (guint i = 0; changes && i < json_array_get_length(changes); i++) {
        g_autofree char *ch = g_strdup_printf("%s[%u]", list, i);
        JsonObject *co = jsonin_item_object(changes, list, i, error);
        if (!co)
            return FALSE;
        PairChange *c = g_new0(PairChange, 1);
        g_ptr_array_add(p->pair_changes, c);
        if (!read_pair_change(co, ch, c, error))
            return FALSE;
    }
    return read_ice_record(ice, ih, p, error);
}

/* tunnel_counters {interface, tx_packets, rx_packets, source?, counted_by?,
 * egress?}; tx_bytes and rx_bytes instead of the packets where counted_by
 * counts bytes. */
static gboolean read_counters(JsonObject *c, const char *here, PathRecord *p, GError **error)
{
    g_autofree char *ch = jsonin_path(here, "tunnel_counters");
    g_autofree char *source = NULL, *counted_by = NULL;
    if (!read_string(c, ch, "interface", TRUE, &p->tunnel_interface, error) ||
        !read_string(c, ch, "source", FALSE, &source, error) ||
        !read_string(c, ch, "counted_by", FALSE, &counted_by, error))
        return FALSE;
    if (source && strcmp(source, "interface") != 0 && strcmp(source, "connection") != 0) {
        jsonin_field_error(error, ch, "source", "neither interface nor connection");
        return FALSE;
    }
    p->counters_per_connection = g_strcmp0(source, "connection") == 0;
    if (counted_by && !p->counters_per_connection) {
        jsonin_field_error(error, ch, "counted_by", "only with source connection");
        return FALSE;
    }
    if (counted_by && !conn_counter_parse(counted_by, &p->counted_by)) {
        jsonin_field_error(error, ch, "counted_by",
                           "neither TCP_INFO, GetPerTcpConnectionEStats nor SIO_TCP_INFO");
        return FALSE;
    }
    /* The unit follows what counted: a member in the other unit is refused. */
    gboolean bytes = conn_counter_bytes(p->counted_by);
    const char *unit[2][2] = {{"tx_packets", "rx_packets"}, {"tx_bytes", "rx_bytes"}};
    for (int i = 0; i < 2; i++)
        if (jsonin_member(c, unit[!bytes][i])) {
            jsonin_field_error(error, ch, unit[!bytes][i],
                               bytes ? "not with counted_by SIO_TCP_INFO, which counts bytes"
                                     : "only with counted_by SIO_TCP_INFO");
            return FALSE;
        }
    /* Optional in documents from before 0.9.0; required where counted_by is said. */
    if (!jsonin_count(c, ch, unit[bytes][0], counted_by != NULL, &p->tunnel_tx, error) ||
        !jsonin_count(c, ch, unit[bytes][1], counted_by != NULL, &p->tunnel_rx, error))
        return FALSE;
    p->have_counters = TRUE;
    JsonObject *eg;
    if (!jsonin_object(c, ch, "egress", FALSE, &eg, error))
        return FALSE;
    if (eg) {
        g_autofree char *eh = jsonin_path(ch, "egress");
        if (!jsonin_count(eg, eh, "media_sent", TRUE, &p->egress_media_sent, error) ||
            !jsonin_count(eg, eh, "media_seen", TRUE, &p->egress_media_seen, error) ||
            !jsonin_count(eg, eh, "media_tunnel", TRUE, &p->egress_media_tunnel, error) ||
            !jsonin_count(eg, eh, "other_tunnel", TRUE, &p->egress_other_tunnel, error))
            return FALSE;
        if (p->egress_media_seen > p->egress_media_sent) {
            jsonin_field_error(error, eh, "media_seen", "more than media_sent");
            return FALSE;
        }
        if (p->egress_media_tunnel > p->egress_media_seen) {
            jsonin_field_error(error, eh, "media_tunnel", "more than media_seen");
            return FALSE;
        }
        p->have_egress = TRUE;
    }
    return TRUE;
}

/* qos {dscp, out?, in?}: each {seen, marked, values: [DSCP...]}. */
static gboolean read_qos_sample(JsonObject *q, const char *qh, const char *name, QosSample *out,
                                GError **error)
{
    JsonObject *o;
    JsonArray *values;
    if (!jsonin_object(q, qh, name, FALSE, &o, error))
        return FALSE;
    if (!o)
        return TRUE;
    g_autofree char *h = jsonin_path(qh, name);
    if (!jsonin_count(o, h, "seen", TRUE, &out->seen, error) ||
        !jsonin_count(o, h, "marked", TRUE, &out->marked, error) ||
        !jsonin_array(o, h, "values", TRUE, 64, &values, error))
        return FALSE;
    if (out->marked > out->seen) {
        jsonin_field_error(error, h, "marked", "more than seen");
        return FALSE;
    }
    for (guint i = 0; i < json_array_get_length(values); i++) {
        JsonNode *n = json_array_get_element(values, i);
        gint64 v = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64
                       ? json_node_get_int(n)
                       : -1;
        if (v < 0 || v > 63) {
            g_autofree char *item = g_strdup_printf("values[%u]", i);
            jsonin_field_error(error, h, item, "not a DSCP (0-63)");
            return FALSE;
        }
        out->values |= G_GUINT64_CONSTANT(1) << v;
    }
    out->have = TRUE;
    return TRUE;
}

static gboolean read_qos(JsonObject *o, const char *here, PathRecord *p, GError **error)
{
    JsonObject *q;
    if (!jsonin_object(o, here, "qos", FALSE, &q, error))
        return FALSE;
    if (!q)
        return TRUE;
    g_autofree char *qh = jsonin_path(here, "qos");
    gint64 dscp = 0;
    if (!jsonin_int(q, qh, "dscp", TRUE, 1, 63, &dscp, error) ||
        !read_qos_sample(q, qh, "out", &p->qos_out, error) ||
        !read_qos_sample(q, qh, "in", &p->qos_in, error))
        return FALSE;
    p->dscp = (guint)dscp;
    return TRUE;
}

/* metrics {figures..., directions?: {out?, in?}}. */
static gboolean read_path_metrics(JsonObject *metrics, const char *here, PathRecord *p,
                                  GError **error)
{
    g_autofree char *mh = jsonin_path(here, "metrics");
    if (!read_metrics_members(metrics, mh, &p->metrics, error))
        return FALSE;
    JsonObject *dirs;
    if (!jsonin_object(metrics, mh, "directions", FALSE, &dirs, error))
        return FALSE;
    if (dirs) {
        g_autofree char *dh = jsonin_path(mh, "directions");
        JsonObject *out, *in;
        if (!jsonin_object(dirs, dh, "out", FALSE, &out, error) ||
            !jsonin_object(dirs, dh, "in", FALSE, &in, error))
            return FALSE;
        g_autofree char *oh = jsonin_path(dh, "out");
        g_autofree char *ih = jsonin_path(dh, "in");
        if ((out && !read_metrics_members(out, oh, &p->out, error)) ||
            (in && !read_metrics_members(in, ih, &p->in, error)))
            return FALSE;
    }
    p->have_metrics = TRUE;
    return TRUE;
}

static gboolean read_path_members(JsonObject *o, const char *here, PathRecord *p, GError **error)
{
    if (!read_verdict(o, here, "verdict", &p->verdict, error) ||
        !read_string(o, here, "reason", FALSE, &p->reason, error))
        return FALSE;

    JsonObject *pair, *counters, *metrics, *timing;
    if (!jsonin_object(o, here, "selected_pair", FALSE, &pair, error) ||
        !jsonin_object(o, here, "tunnel_counters", FALSE, &counters, error) ||
        !jsonin_object(o, here, "metrics", FALSE, &metrics, error) ||
        !jsonin_object(o, here, "timing_ms", FALSE, &timing, error))
        return FALSE;
    if (pair) {
        g_autofree char *ph = jsonin_path(here, "selected_pair");
        if (!read_candidate(pair, ph, "local", &p->local, error) ||
            !read_candidate(pair, ph, "remote", &p->remote, error))
            return FALSE;
        p->have_pair = TRUE;
    }
    if ((counters && !read_counters(counters, here, p, error)) ||
        (metrics && !read_path_metrics(metrics, here, p, error)) || !read_qos(o, here, p, error))
        return FALSE;
    if (timing) {
        g_autofree char *th = jsonin_path(here, "timing_ms");
        if (!jsonin_double(timing, th, "gather", FALSE, 0, 1e9, &p->gather_ms, error) ||
            !jsonin_double(timing, th, "connect", FALSE, 0, 1e9, &p->connect_ms, error) ||
            !jsonin_double(timing, th, "connected", FALSE, 0, 1e9, &p->connected_ms, error) ||
            !jsonin_double(timing, th, "ready", FALSE, 0, 1e9, &p->ready_ms, error) ||
            !jsonin_double(timing, th, "total", FALSE, 0, 1e9, &p->total_ms, error))
            return FALSE;
    }
    return read_ice(o, here, p, error);
}

static PathRecord *read_path(JsonObject *o, const char *here, GError **error)
{
    g_autoptr(PathRecord) p = path_record_new(NULL);
    if (!read_string(o, here, "name", TRUE, &p->name, error) ||
        !read_path_members(o, here, p, error))
        return NULL;
    JsonObject *sides;
    if (!jsonin_object(o, here, "sides", FALSE, &sides, error))
        return NULL;
    if (sides) {
        static const char *const side_names[] = {"a", "b"};
        g_autofree char *sh = jsonin_path(here, "sides");
        for (int i = 0; i < 2; i++) {
            JsonObject *so;
            if (!jsonin_object(sides, sh, side_names[i], FALSE, &so, error))
                return NULL;
            if (!so)
                continue;
            g_autofree char *h = jsonin_path(sh, side_names[i]);
            p->sides[i] = path_record_new(p->name);
            if (!read_path_members(so, h, p->sides[i], error))
                return NULL;
        }
    }
    return g_steal_pointer(&p);
}

static gboolean read_findings(RunResult *r, JsonObject *root, GError **error)
{
    JsonArray *a;
    if (!read_array(root, "", "findings", &a, error))
        return FALSE;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *here = g_strdup_printf("findings[%u]", i);
        JsonObject *o = jsonin_item_object(a, "findings", i, error);
        if (!o)
            return FALSE;
        g_autofree char *code = NULL, *message = NULL;
        if (!read_string(o, here, "code", TRUE, &code, error) ||
            !read_string(o, here, "message", TRUE, &message, error))
            return FALSE;
        const FindingSpec *spec = finding_spec_lookup(code);
        if (!spec) {
            jsonin_field_error(error, here, "code", "'%s' is not a finding code", code);
            return FALSE;
        }
        JsonObject *evidence;
        if (!jsonin_object(o, here, "evidence", FALSE, &evidence, error))
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
    JsonArray *a;
    if (!read_array(root, "", "checks", &a, error))
        return FALSE;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *here = g_strdup_printf("checks[%u]", i);
        JsonObject *o = jsonin_item_object(a, "checks", i, error);
        if (!o)
            return FALSE;
        g_autofree char *name = NULL, *reason = NULL;
        Verdict v;
        double duration = 0;
        if (!read_string(o, here, "name", TRUE, &name, error) ||
            !read_verdict(o, here, "verdict", &v, error) ||
            !read_string(o, here, "reason", FALSE, &reason, error) ||
            !jsonin_double(o, here, "duration_ms", FALSE, 0, 1e9, &duration, error))
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
    JsonArray *a;
    if (!read_array(root, "", "paths", &a, error))
        return FALSE;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_autofree char *here = g_strdup_printf("paths[%u]", i);
        JsonObject *o = jsonin_item_object(a, "paths", i, error);
        PathRecord *p = o ? read_path(o, here, error) : NULL;
        if (!p)
            return FALSE;
        g_ptr_array_add(r->paths, p);
    }
    return TRUE;
}

/* probes: kept as they came, each an object. */
static gboolean read_probes(RunResult *r, JsonObject *root, GError **error)
{
    JsonArray *a;
    if (!read_array(root, "", "probes", &a, error))
        return FALSE;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        if (!jsonin_item_object(a, "probes", i, error))
            return FALSE;
        json_array_add_element(r->probes, json_node_copy(json_array_get_element(a, i)));
    }
    return TRUE;
}

/* "dialect": {"ice": "rfc8445" | "ms-ice2", "turn": "rfc5766" | "ms-turn"} (optional). */
static gboolean read_dialect(RunResult *r, JsonObject *root, GError **error)
{
    JsonObject *d = NULL;
    if (!jsonin_object(root, "", "dialect", FALSE, &d, error))
        return FALSE;
    if (!d)
        return TRUE;
    static const char *const known[][2] = {{"rfc8445", "ms-ice2"}, {"rfc5766", "ms-turn"}};
    static const char *const members[] = {"ice", "turn"};
    char **fields[] = {&r->ice_dialect, &r->turn_dialect};
    for (int i = 0; i < 2; i++) {
        if (!read_string(d, "dialect", members[i], TRUE, fields[i], error))
            return FALSE;
        if (strcmp(*fields[i], known[i][0]) != 0 && strcmp(*fields[i], known[i][1]) != 0) {
            jsonin_field_error(error, "dialect", members[i], "'%s' is neither %s nor %s",
                               *fields[i], known[i][0], known[i][1]);
            return FALSE;
        }
    }
    return TRUE;
}

static RunResult *from_object(JsonObject *root, GError **error)
{
    g_autofree char *schema = NULL, *started = NULL;
    if (!read_string(root, "", "schema", TRUE, &schema, error))
        return NULL;
    if (strcmp(schema, "iceprobe.run/1") != 0) {
        jsonin_field_error(error, "", "schema", "'%s' is not iceprobe.run/1", schema);
        return NULL;
    }
    g_autoptr(RunResult) r = run_result_new(NULL);
    if (!read_string(root, "", "run_id", TRUE, &r->run_id, error) ||
        !read_string(root, "", "profile", TRUE, &r->profile, error) ||
        !read_string(root, "", "started_at", TRUE, &started, error) ||
        !read_verdict(root, "", "verdict", &r->verdict, error) ||
        !read_string(root, "", "error", FALSE, &r->error, error))
        return NULL;
    if (!read_dialect(r, root, error))
        return NULL;
    g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(started, NULL);
    if (!t || g_date_time_get_year(t) < 1970 || g_date_time_get_year(t) > 9999) {
        jsonin_field_error(error, "", "started_at", "not an RFC 3339 time from 1970 on");
        return NULL;
    }
    g_date_time_unref(r->started_at);
    r->started_at = g_date_time_to_utc(t);
    if (!read_probes(r, root, error) || !read_findings(r, root, error) ||
        !read_checks(r, root, error) || !read_paths(r, root, error))
        return NULL;
    return g_steal_pointer(&r);
}

RunResult *run_result_from_json(const char *data, gsize len, GError **error)
{
    g_autoptr(JsonObject) root = jsonin_parse_object(data, len, &document_limits, error);
    return root ? from_object(root, error) : NULL;
}
