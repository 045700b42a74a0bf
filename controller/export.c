/* /metrics: the Prometheus text exposition format, version 0.0.4. Names follow
 * Prometheus' conventions (base units, _seconds, _ratio, _total, _info); labels
 * are bounded: profile, the agent pair (a, b), path, side, and the classes of
 * the selected pair; never a run id. Run series come from the newest finished
 * run of each (profile, a, b), so a scrape sees the current state of the matrix. */
#include <string.h>

#include "analysis.h"
#include "api-private.h"
#include "iceprobe-config.h"

/* A label value, escaped as the format requires (backslash, quote, newline). */
static void label(GString *s, const char *name, const char *value, gboolean first)
{
    g_string_append_printf(s, "%s%s=\"", first ? "" : ",", name);
    for (const char *c = value ? value : ""; *c; c++) {
        if (*c == '\\' || *c == '"')
            g_string_append_c(s, '\\');
        if (*c == '\n')
            g_string_append(s, "\\n");
        else
            g_string_append_c(s, *c);
    }
    g_string_append_c(s, '"');
}

static void family(GString *s, const char *name, const char *type, const char *help)
{
    g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(GString *s, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf(s, "} %s\n", g_ascii_dtostr(buf, sizeof(buf), v));
}

static void plain(GString *s, const char *name, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf(s, "%s %s\n", name, g_ascii_dtostr(buf, sizeof(buf), v));
}

static void pair_labels(GString *s, const char *metric, const StoreRun *r)
{
    g_string_append_printf(s, "%s{", metric);
    label(s, "profile", r->profile, TRUE);
    label(s, "a", r->agent[0], FALSE);
    label(s, "b", r->agent[1], FALSE);
}

static void path_labels(GString *s, const char *metric, const StoreRun *r,
                        const StorePathMetrics *m)
{
    pair_labels(s, metric, r);
    label(s, "path", m->path, FALSE);
    label(s, "side", m->side, FALSE);
}

/* One family of per-path series; which == the StorePathMetrics field to show. */
typedef enum { M_LOSS, M_JITTER, M_RTT, M_MOS, M_INFO } PathMetric;

static void path_family(GString *s, GPtrArray *runs, GPtrArray **metrics, PathMetric which)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"iceprobe_loss_ratio", "gauge", "Packet loss of the test stream (0-1), both directions."},
        {"iceprobe_jitter_seconds", "gauge", "RFC 3550 interarrival jitter, the worse direction."},
        {"iceprobe_rtt_seconds", "gauge", "Median round-trip time of the test stream."},
        {"iceprobe_mos", "gauge", "E-model (ITU-T G.107) mean opinion score estimate, 1-4.5."},
        {"iceprobe_selected_pair_info", "gauge",
         "The candidate pair ICE selected: local candidate type, egress interface class, "
         "transport."},
    };
    family(s, fams[which].name, fams[which].type, fams[which].help);
    for (guint i = 0; i < runs->len; i++) {
        const StoreRun *r = runs->pdata[i];
        for (guint k = 0; metrics[i] && k < metrics[i]->len; k++) {
            const StorePathMetrics *m = metrics[i]->pdata[k];
            if (which == M_INFO) {
                if (!m->local_type)
                    continue;
                path_labels(s, fams[which].name, r, m);
                label(s, "local_type", m->local_type, FALSE);
                label(s, "egress_class", m->egress_class, FALSE);
                label(s, "transport", m->transport, FALSE);
                value(s, 1);
                continue;
            }
            if (!m->have_metrics || (which == M_RTT && m->rtt_ms < 0))
                continue;
            double v = which == M_LOSS     ? m->loss_ratio
                       : which == M_JITTER ? m->jitter_ms / 1000
                       : which == M_RTT    ? m->rtt_ms / 1000
                                           : m->mos;
            path_labels(s, fams[which].name, r, m);
            value(s, v);
        }
    }
}

/* The newest finished run of each profile and agent pair: its verdict, each
 * path's figures, its findings. */
static void run_families(GString *s, Store *st, GPtrArray *runs, GPtrArray **metrics)
{
    family(s, "iceprobe_run_verdict", "gauge",
           "Verdict of the newest finished run of a profile and agent pair: 0 pass, 1 warn, 2 "
           "fail, 3 error.");
    for (guint i = 0; i < runs->len; i++) {
        const StoreRun *r = runs->pdata[i];
        pair_labels(s, "iceprobe_run_verdict", r);
        value(s, verdict_name_exit_code(r->verdict));
    }
    for (PathMetric m = M_LOSS; m <= M_INFO; m++)
        path_family(s, runs, metrics, m);
    family(s, "iceprobe_run_finding", "gauge",
           "A finding of the newest finished run of a profile and agent pair, by code (1).");
    for (guint i = 0; i < runs->len; i++) {
        const StoreRun *r = runs->pdata[i];
        g_autoptr(GPtrArray) codes = store_run_finding_codes(st, r->id, NULL);
        for (guint k = 0; codes && k < codes->len; k++) {
            pair_labels(s, "iceprobe_run_finding", r);
            label(s, "code", codes->pdata[k], FALSE);
            value(s, 1);
        }
    }
}

/* Each pattern the analysis across pairs found (analysis.h): the side, its
 * subnet and the likely cause, valued by its failing pairs. No series when
 * there is none; bounded by the profiles (one pattern each at most). */
static void analysis_family(GString *s, const GPtrArray *matrices)
{
    family(s, "iceprobe_analysis_pattern", "gauge",
           "Failing pairs that share one side's network (an agent or a group), with its subnet "
           "and the likely cause: edge_route, vpn_block, dns_view or unknown.");
    for (guint i = 0; i < matrices->len; i++) {
        const AnalysisMatrix *m = matrices->pdata[i];
        for (guint k = 0; k < m->patterns->len; k++) {
            const AnalysisPattern *p = m->patterns->pdata[k];
            g_string_append(s, "iceprobe_analysis_pattern{");
            label(s, "profile", m->profile, TRUE);
            label(s, "side", p->side, FALSE);
            label(s, "subnet", p->subnet, FALSE);
            label(s, "cause", analysis_cause_key(p->cause), FALSE);
            value(s, p->failing_pairs);
        }
    }
}

static void schedule_family(GString *s, Api *api, Store *st)
{
    family(s, "iceprobe_schedule_last_fire_timestamp_seconds", "gauge",
           "When a schedule last fired (Unix time); absent until it has.");
    for (guint i = 0; i < api->config->schedules->len; i++) {
        const ScheduleConfig *sc = api->config->schedules->pdata[i];
        gint64 when = 0;
        if (!store_schedule_last_fire(st, sc->name, &when, NULL) || !when)
            continue;
        g_string_append(s, "iceprobe_schedule_last_fire_timestamp_seconds{");
        label(s, "schedule", sc->name, TRUE);
        value(s, (double)when);
    }
}

/* When each pair last ran and each agent last called; runs by verdict. */
static void history_families(GString *s, GPtrArray *runs, GPtrArray *agents, GHashTable *verdicts)
{
    family(s, "iceprobe_last_run_timestamp_seconds", "gauge",
           "When the newest run of a profile and agent pair finished (Unix time).");
    for (guint i = 0; i < runs->len; i++) {
        const StoreRun *r = runs->pdata[i];
        pair_labels(s, "iceprobe_last_run_timestamp_seconds", r);
        value(s, (double)r->finished_at);
    }
    family(s, "iceprobe_agent_last_seen_timestamp_seconds", "gauge",
           "When an agent last called the controller (Unix time).");
    for (guint i = 0; i < agents->len; i++) {
        const StoreAgent *a = agents->pdata[i];
        if (!a->last_seen)
            continue;
        g_string_append(s, "iceprobe_agent_last_seen_timestamp_seconds{");
        label(s, "agent", a->name, TRUE);
        value(s, (double)a->last_seen);
    }
    family(s, "iceprobe_runs_total", "counter", "Finished runs by verdict.");
    /* A run's verdicts: every one but skip, which only a check has. */
    for (Verdict v = VERDICT_PASS; v < VERDICT_SKIP; v++) {
        const char *name = verdict_to_string(v);
        g_string_append(s, "iceprobe_runs_total{");
        label(s, "verdict", name, TRUE);
        value(s, (double)GPOINTER_TO_SIZE(g_hash_table_lookup(verdicts, name)));
    }
}

static void controller_families(GString *s, Api *api, GPtrArray *agents, GHashTable *states)
{
    /* The controller's own health. */
    family(s, "iceprobe_controller_runs", "gauge", "Runs not finished yet, by state.");
    for (RunState state = RUN_PENDING; !run_state_is_final(state); state++) {
        const char *name = run_state_to_string(state);
        g_string_append(s, "iceprobe_controller_runs{");
        label(s, "state", name, TRUE);
        value(s, (double)GPOINTER_TO_SIZE(g_hash_table_lookup(states, name)));
    }
    gint64 now = scheduler_now(api->scheduler);
    guint seen = 0;
    for (guint i = 0; i < agents->len; i++) {
        const StoreAgent *a = agents->pdata[i];
        if (a->last_seen && now - a->last_seen <= 2 * (gint64)api->config->longpoll_s + 60)
            seen++;
    }
    family(s, "iceprobe_controller_agents", "gauge",
           "Registered agents, and those seen within two long-polls and a minute.");
    g_string_append(s, "iceprobe_controller_agents{");
    label(s, "state", "registered", TRUE);
    value(s, agents->len);
    g_string_append(s, "iceprobe_controller_agents{");
    label(s, "state", "seen", TRUE);
    value(s, seen);
    /* Summed over the controller's server threads. */
    ApiTotals t;
    api_hub_totals(api->hub, api, &t);
    const struct {
        const char *name, *type, *help;
        double value;
    } totals[] = {
        {"iceprobe_controller_long_polls", "gauge", "Requests held open (orders, signalling).",
         (double)t.waiting},
        {"iceprobe_controller_store_errors_total", "counter",
         "Database errors since the controller started.", (double)t.store_errors},
        {"iceprobe_controller_wakes_received_total", "counter",
         "Wakes from the controllers sharing the store (PostgreSQL NOTIFY) since the start.",
         (double)t.wakes_received},
        {"iceprobe_controller_http_requests_total", "counter",
         "HTTP requests since the controller started.", (double)t.requests},
        {"iceprobe_controller_http_server_errors_total", "counter",
         "HTTP answers with a 5xx status since the controller started.", (double)t.errors_5xx},
        {"iceprobe_controller_connections_total", "counter",
         "HTTP connections accepted since the start (with HTTPS, each one TLS handshake).",
         (double)t.connections},
        {"iceprobe_controller_connections_idle", "gauge",
         "Connections kept alive between two requests.", (double)t.idle},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(totals); i++) {
        family(s, totals[i].name, totals[i].type, totals[i].help);
        plain(s, totals[i].name, totals[i].value);
    }
    family(s, "iceprobe_controller_start_time_seconds", "gauge",
           "When the controller started (Unix time).");
    plain(s, "iceprobe_controller_start_time_seconds", (double)api->started);
    const ControllerConfig *cfg = api->config;
    if (cfg->mras_response_file || cfg->mras_username_file) {
        /* Read as the orders read it: a file that went bad shows here at once. */
        TurnCredentials tc = {0};
        gint64 expires = 0;
        gboolean ok = config_mras_read(cfg, &tc, &expires, NULL);
        turncred_clear(&tc);
        family(s, "iceprobe_mras_credentials_readable", "gauge",
               "1 when the controller can read the MRAS credentials it hands to ms-turn runs, "
               "0 when not (those runs end in error).");
        plain(s, "iceprobe_mras_credentials_readable", ok ? 1 : 0);
        if (ok && expires) {
            family(s, "iceprobe_mras_credentials_expiry_timestamp_seconds", "gauge",
                   "When the MRAS credentials the controller hands to ms-turn runs lapse (Unix "
                   "time): the answer's duration from when it was issued.");
            plain(s, "iceprobe_mras_credentials_expiry_timestamp_seconds", (double)expires);
        }
    }
    family(s, "iceprobe_controller_build_info", "gauge", "The controller's version.");
    g_string_append(s, "iceprobe_controller_build_info{");
    label(s, "version", ICEPROBE_VERSION, TRUE);
    value(s, 1);
}

static char *metrics_text(Api *api, GError **error)
{
    Store *st = api->store;
    g_autoptr(GPtrArray) runs = store_latest_per_pair(st, error);
    if (!runs)
        return NULL;
    g_autoptr(GPtrArray) agents = store_agent_list(st, error);
    if (!agents)
        return NULL;
    g_autoptr(GHashTable) verdicts = store_count_verdicts(st, error);
    if (!verdicts)
        return NULL;
    g_autoptr(GHashTable) states = store_count_states(st, error);
    if (!states)
        return NULL;
    g_autoptr(GPtrArray) matrices = analysis_load(st, runs, agents, api->config->schedules, error);
    if (!matrices)
        return NULL;
    GPtrArray **metrics = g_new0(GPtrArray *, runs->len + 1);
    for (guint i = 0; i < runs->len; i++)
        metrics[i] = store_path_metrics(st, ((StoreRun *)runs->pdata[i])->id, NULL);
    GString *s = g_string_new(NULL);
    run_families(s, st, runs, metrics);
    analysis_family(s, matrices);
    schedule_family(s, api, st);
    history_families(s, runs, agents, verdicts);
    controller_families(s, api, agents, states);
    for (guint i = 0; i < runs->len; i++) {
        if (metrics[i])
            g_ptr_array_unref(metrics[i]);
    }
    g_free(metrics);
    return g_string_free(s, FALSE);
}

void export_metrics(ApiRequest *req)
{
    g_autoptr(GError) e = NULL;
    char *text = metrics_text(req->api, &e);
    if (!text) {
        api_reply_gerror(req, e);
        return;
    }
    api_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}
