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

static gboolean read_candidate_members(JsonObject *o, const char *here, CandidateInfo *c,
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
    };
    for (gsize i = 0; i < G_N_ELEMENTS(strings); i++) {
        if (!read_string(o, here, strings[i].name, FALSE, strings[i].field, error))
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
    return read_candidate_members(o, here, c, error);
}

/* ice.host_candidates (optional): [{transport, address, interface, interface_class}]. */
static gboolean read_host_candidates(JsonObject *ice, const char *ih, PathRecord *p,
                                     GError **error)
{
    JsonArray *hosts;
    if (!jsonin_array(ice, ih, "host_candidates", FALSE, RESULT_MAX_HOST_CANDIDATES, &hosts, error))
        return FALSE;
    g_autofree char *list = jsonin_path(ih, "host_candidates");
    for (guint i = 0; hosts && i < json_array_get_length(hosts); i++) {
        g_autofree char *at = g_strdup_printf("%s[%u]", list, i);
        JsonObject *ho = jsonin_item_object(hosts, list, i, error);
        if (!ho)
            return FALSE;
        CandidateInfo *h = candidate_info_new();
        g_ptr_array_add(p->host_candidates, h);
        if (!read_candidate_members(ho, at, h, error))
            return FALSE;
        if (!h->address) {
            jsonin_field_error(error, at, "address", "missing");
            return FALSE;
        }
    }
    return TRUE;
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
    return read_host_candidates(ice, ih, p, error);
}

/* tunnel_counters {interface, tx_packets, rx_packets, source?, egress?}. */
static gboolean read_counters(JsonObject *c, const char *here, PathRecord *p, GError **error)
{
    g_autofree char *ch = jsonin_path(here, "tunnel_counters");
    if (!read_string(c, ch, "interface", TRUE, &p->tunnel_interface, error) ||
        !jsonin_count(c, ch, "tx_packets", FALSE, &p->tunnel_tx, error) ||
        !jsonin_count(c, ch, "rx_packets", FALSE, &p->tunnel_rx, error))
        return FALSE;
    g_autofree char *source = NULL;
    if (!read_string(c, ch, "source", FALSE, &source, error))
        return FALSE;
    if (source && strcmp(source, "interface") != 0 && strcmp(source, "connection") != 0) {
        jsonin_field_error(error, ch, "source", "neither interface nor connection");
        return FALSE;
    }
    p->counters_per_connection = g_strcmp0(source, "connection") == 0;
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
        (metrics && !read_path_metrics(metrics, here, p, error)))
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
