/* The run result and its JSON document, schema iceprobe.run/1. */
#include "iceprobe/result.h"

#include <string.h>

const char *verdict_to_string(Verdict v)
{
    static const char *const names[] = {"pass", "warn", "fail", "error", "skip"};
    return (guint)v < G_N_ELEMENTS(names) ? names[v] : "error";
}

Verdict verdict_worst(Verdict a, Verdict b)
{
    if (a == VERDICT_SKIP)
        a = VERDICT_PASS;
    if (b == VERDICT_SKIP)
        b = VERDICT_PASS;
    return MAX(a, b);
}

int verdict_exit_code(Verdict v)
{
    static const int codes[] = {0, 1, 2, 3, 0};
    return (guint)v < G_N_ELEMENTS(codes) ? codes[v] : 3;
}

static void finding_free(gpointer p)
{
    Finding *f = p;
    g_free(f->code);
    g_free(f->message);
    if (f->evidence)
        json_object_unref(f->evidence);
    g_free(f);
}

static void check_free(gpointer p)
{
    CheckRecord *c = p;
    g_free(c->name);
    g_free(c->reason);
    if (c->detail)
        json_object_unref(c->detail);
    g_free(c);
}

void candidate_info_clear(CandidateInfo *c)
{
    g_free(c->type);
    g_free(c->transport);
    g_free(c->address);
    g_free(c->base_address);
    g_free(c->interface);
    g_free(c->interface_class);
    g_free(c->egress_interface);
    g_free(c->egress_class);
    memset(c, 0, sizeof(*c));
}

static void path_free(gpointer p)
{
    PathRecord *r = p;
    g_free(r->name);
    g_free(r->reason);
    candidate_info_clear(&r->local);
    candidate_info_clear(&r->remote);
    g_free(r->tunnel_interface);
    g_free(r);
}

RunResult *run_result_new(const char *profile_name)
{
    RunResult *r = g_new0(RunResult, 1);
    r->run_id = g_uuid_string_random();
    r->profile = g_strdup(profile_name ? profile_name : "");
    r->started_at = g_date_time_new_now_utc();
    r->findings = g_ptr_array_new_with_free_func(finding_free);
    r->checks = g_ptr_array_new_with_free_func(check_free);
    r->paths = g_ptr_array_new_with_free_func(path_free);
    r->probes = json_array_new();
    return r;
}

void run_result_free(RunResult *r)
{
    if (!r)
        return;
    g_free(r->run_id);
    g_free(r->profile);
    g_date_time_unref(r->started_at);
    g_free(r->error);
    g_ptr_array_unref(r->findings);
    g_ptr_array_unref(r->checks);
    g_ptr_array_unref(r->paths);
    json_array_unref(r->probes);
    g_free(r);
}

CheckRecord *run_result_add_check(RunResult *r, const char *name, Verdict v, const char *fmt, ...)
{
    g_return_val_if_fail(r && name && fmt, NULL);
    va_list ap;
    va_start(ap, fmt);
    CheckRecord *c = g_new0(CheckRecord, 1);
    c->name = g_strdup(name);
    c->verdict = v;
    c->reason = g_strdup_vprintf(fmt, ap);
    c->detail = json_object_new();
    va_end(ap);
    g_ptr_array_add(r->checks, c);
    return c;
}

PathRecord *run_result_add_path(RunResult *r, const char *name)
{
    g_return_val_if_fail(r && name, NULL);
    PathRecord *p = g_new0(PathRecord, 1);
    p->name = g_strdup(name);
    p->verdict = VERDICT_PASS;
    g_ptr_array_add(r->paths, p);
    return p;
}

const CheckRecord *run_result_find_check(const RunResult *r, const char *name)
{
    for (guint i = 0; i < r->checks->len; i++) {
        const CheckRecord *c = r->checks->pdata[i];
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

const PathRecord *run_result_find_path(const RunResult *r, const char *name)
{
    for (guint i = 0; i < r->paths->len; i++) {
        const PathRecord *p = r->paths->pdata[i];
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

gboolean run_result_has_finding(const RunResult *r, const char *code)
{
    for (guint i = 0; i < r->findings->len; i++) {
        const Finding *f = r->findings->pdata[i];
        if (strcmp(f->code, code) == 0)
            return TRUE;
    }
    return FALSE;
}

Finding *run_result_add_finding(RunResult *r, const char *code, JsonObject *evidence,
                                const char *fmt, ...)
{
    g_return_val_if_fail(r && code && fmt, NULL);
    const FindingSpec *spec = finding_spec_lookup(code);
    g_return_val_if_fail(spec, NULL);
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    Finding *f = g_new0(Finding, 1);
    f->code = g_strdup(code);
    f->severity = spec->severity;
    f->message = g_strdup_printf("%s %s", what, spec->remedy);
    f->evidence = evidence ? evidence : json_object_new();
    g_ptr_array_add(r->findings, f);
    return f;
}

void run_result_conclude(RunResult *r)
{
    Verdict v = VERDICT_PASS;
    for (guint i = 0; i < r->findings->len; i++)
        v = verdict_worst(v, ((Finding *)r->findings->pdata[i])->severity);
    if (r->error)
        v = VERDICT_ERROR;
    r->verdict = v;
}

/* ---- JSON ---------------------------------------------------------------- */

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
}

static void path_json(JsonBuilder *b, const PathRecord *p)
{
    json_builder_begin_object(b);
    add_str(b, "name", p->name);
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
        json_builder_set_member_name(b, "up");
        json_builder_begin_object(b);
        metrics_members(b, &p->up);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "down");
        json_builder_begin_object(b);
        metrics_members(b, &p->down);
        json_builder_end_object(b);
        json_builder_end_object(b);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "timing_ms");
    json_builder_begin_object(b);
    add_double(b, "gather", p->gather_ms);
    add_double(b, "connect", p->connect_ms);
    add_double(b, "total", p->total_ms);
    json_builder_end_object(b);
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
