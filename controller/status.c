/* GET /: the status page, server-rendered HTML with inline SVG charts; no
 * script, no framework, nothing fetched from elsewhere (it must work on an
 * isolated network). GET /runs/{id}: one run in words; /runs/{id}.json: its
 * document. */
#include <math.h>
#include <string.h>

#include "api-private.h"
#include "iceprobe-config.h"

#define HISTORY_RUNS      60
#define STATUS_MAX_CHARTS 24
#define CHART_W           280
#define CHART_H           90

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.3em .5em;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}"
    ".v{font-weight:600;padding:.1em .5em;border-radius:.3em;color:#fff}"
    ".pass{background:#2e7d32}.warn{background:#ef8f00}.fail{background:#c62828}"
    ".error{background:#6a1b9a}.pending{background:#757575}"
    ".charts{display:flex;flex-wrap:wrap;gap:.8em}.chart{background:#fff;border:1px solid #ddd;"
    "padding:.3em}.muted{color:#777}code{font-size:.95em}ul{margin:.2em 0;padding-left:1.2em}";

static void esc(GString *s, const char *text)
{
    g_autofree char *e = g_markup_escape_text(text ? text : "", -1);
    g_string_append(s, e);
}

static void head(GString *s, const char *title)
{
    g_string_append(s, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width\">"
                       "<link rel=\"icon\" href=\"data:,\"><title>");
    esc(s, title);
    g_string_append_printf(s, "</title><style>%s</style></head><body>", style);
}

static char *when(gint64 t)
{
    if (!t)
        return g_strdup("never");
    g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
    return g_date_time_format(d, "%Y-%m-%d %H:%M:%S UTC");
}

static void verdict_badge(GString *s, const char *v)
{
    const char *k = v ? v : "pending";
    g_string_append_printf(s, "<span class=\"v %s\">", k);
    esc(s, k);
    g_string_append(s, "</span>");
}

/* The findings of a finished run, in words. */
static void findings_list(GString *s, const StoreRun *r)
{
    g_autoptr(RunResult) res =
        r->result ? run_result_from_json(r->result, strlen(r->result), NULL) : NULL;
    if (!res || res->findings->len == 0) {
        g_string_append(s, res ? "<span class=\"muted\">no findings</span>" : "");
        return;
    }
    g_string_append(s, "<ul>");
    for (guint i = 0; i < res->findings->len; i++) {
        const Finding *f = res->findings->pdata[i];
        g_string_append(s, "<li><code>");
        esc(s, f->code);
        g_string_append(s, "</code> ");
        esc(s, f->message);
        g_string_append(s, "</li>");
    }
    g_string_append(s, "</ul>");
}

typedef struct {
    const char *title;
    const char *unit;
    double scale;
    int field; /* 0 loss, 1 jitter, 2 rtt, 3 mos */
} ChartSpec;

static const ChartSpec charts[] = {
    {"Loss", "%", 100, 0},
    {"Jitter", "ms", 1, 1},
    {"RTT (median)", "ms", 1, 2},
    {"MOS", "", 1, 3},
};

static double field_of(const StorePathMetrics *m, int f)
{
    switch (f) {
    case 0:
        return m->loss_ratio;
    case 1:
        return m->jitter_ms;
    case 2:
        return m->rtt_ms;
    default:
        return m->mos;
    }
}

/* The natural path as side a saw it, oldest run first. */
typedef struct {
    const char *run_id;
    gint64 t;
    double v[4];
    gboolean have[4];
} Point;

static void chart(GString *s, const ChartSpec *c, const Point *pts, guint n)
{
    double lo = INFINITY, hi = -INFINITY;
    guint have = 0;
    for (guint i = 0; i < n; i++) {
        if (!pts[i].have[c->field])
            continue;
        double v = pts[i].v[c->field] * c->scale;
        lo = MIN(lo, v);
        hi = MAX(hi, v);
        have++;
    }
    g_string_append_printf(s, "<div class=\"chart\"><div>%s%s%s%s</div>", c->title,
                           *c->unit ? " (" : "", c->unit, *c->unit ? ")" : "");
    g_string_append_printf(s, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">",
                           CHART_W, CHART_H, CHART_W, CHART_H);
    if (!have) {
        g_string_append(s, "<text x=\"8\" y=\"50\" fill=\"#777\">no data</text></svg></div>");
        return;
    }
    if (c->field == 3) {
        lo = MIN(lo, 1);
        hi = MAX(hi, 4.5);
    } else {
        lo = MIN(lo, 0);
    }
    if (hi - lo < 1e-9)
        hi = lo + 1;
    const double left = 44, right = CHART_W - 6, top = 6, bottom = CHART_H - 16;
    g_string_append_printf(s,
                           "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#bbb\"/>"
                           "<text x=\"2\" y=\"%.0f\" font-size=\"10\">%.3g</text>"
                           "<text x=\"2\" y=\"%.0f\" font-size=\"10\">%.3g</text>",
                           left, bottom, right, bottom, top + 8, hi, bottom, lo);
    GString *line = g_string_new(NULL);
    GString *dots = g_string_new(NULL);
    guint k = 0;
    for (guint i = 0; i < n; i++) {
        if (!pts[i].have[c->field])
            continue;
        double v = pts[i].v[c->field] * c->scale;
        double x = have == 1 ? (left + right) / 2 : left + (right - left) * k / (have - 1);
        double y = bottom - (bottom - top) * (v - lo) / (hi - lo);
        g_string_append_printf(line, "%s%.1f,%.1f", k ? " " : "", x, y);
        g_autofree char *t = when(pts[i].t);
        g_string_append_printf(dots,
                               "<a href=\"/runs/%s\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                               "fill=\"#1565c0\"><title>%s: %.3g</title></circle></a>",
                               pts[i].run_id, x, y, t, v);
        k++;
    }
    g_string_append_printf(s,
                           "<polyline points=\"%s\" fill=\"none\" stroke=\"#1565c0\" "
                           "stroke-width=\"1.5\"/>%s",
                           line->str, dots->str);
    g_string_free(line, TRUE);
    g_string_free(dots, TRUE);
    g_string_append(s, "</svg></div>");
}

static void history(GString *s, Api *api, const StoreRun *latest)
{
    g_autoptr(GPtrArray) runs = store_history(api->store, latest->profile, latest->agent[0],
                                              latest->agent[1], HISTORY_RUNS, NULL);
    if (!runs)
        return;
    g_autofree Point *pts = g_new0(Point, runs->len + 1);
    guint n = 0;
    for (guint i = runs->len; i-- > 0;) {
        const StoreRun *r = runs->pdata[i];
        g_autoptr(GPtrArray) ms = store_path_metrics(api->store, r->id, NULL);
        Point *p = &pts[n++];
        p->run_id = r->id;
        p->t = r->finished_at;
        for (guint k = 0; ms && k < ms->len; k++) {
            const StorePathMetrics *m = ms->pdata[k];
            if (strcmp(m->path, "natural") != 0 || strcmp(m->side, "a") != 0 || !m->have_metrics)
                continue;
            for (int f = 0; f < 4; f++) {
                p->v[f] = field_of(m, f);
                p->have[f] = f != 2 || m->rtt_ms >= 0;
            }
        }
    }
    g_string_append(s, "<h2>");
    esc(s, latest->profile);
    g_string_append(s, ": ");
    esc(s, latest->agent[0]);
    g_string_append(s, " &#8596; ");
    esc(s, latest->agent[1]);
    g_string_append_printf(s,
                           " <span class=\"muted\">(natural path, side a; last %u runs)</span>"
                           "</h2><div class=\"charts\">",
                           n);
    for (gsize i = 0; i < G_N_ELEMENTS(charts); i++)
        chart(s, &charts[i], pts, n);
    g_string_append(s, "</div>");
}

static gint worst_first(gconstpointer a, gconstpointer b)
{
    const StoreRun *x = *(StoreRun *const *)a, *y = *(StoreRun *const *)b;
    int d = verdict_name_exit_code(y->verdict) - verdict_name_exit_code(x->verdict);
    if (d)
        return d;
    return (y->finished_at > x->finished_at) - (y->finished_at < x->finished_at);
}

static void reply_html(ApiRequest *req, GString *s)
{
    g_string_append(s, "</body></html>\n");
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                 "Content-Security-Policy",
                                 "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    api_reply_text(req, 200, "text/html; charset=utf-8", g_string_free(s, FALSE));
}

/* What started a run: its trigger (cron, start-up, vpn-up, vpn-down,
 * network-change; api for an ad-hoc run) and its schedule. */
static void started_by(GString *s, const StoreRun *r)
{
    esc(s, r->trigger ? r->trigger : (r->schedule ? "cron" : "api"));
    if (r->schedule) {
        g_string_append(s, " (");
        esc(s, r->schedule);
        g_string_append(s, ")");
    }
}

/* The latest verdict of each profile and pair, and the history charts of the
 * pairs that need looking at first. */
static void latest_section(GString *s, Api *api, GPtrArray *latest)
{
    g_string_append(s, "<h2>Latest verdict of each profile and pair</h2>");
    if (latest->len == 0)
        g_string_append(s, "<p class=\"muted\">No run has finished yet.</p>");
    else
        g_string_append(s, "<table><tr><th>Profile</th><th>Side a</th><th>Side b</th>"
                           "<th>Verdict</th><th>Finished</th><th>Started by</th><th>Findings</th>"
                           "<th>Run</th></tr>");
    for (guint i = 0; i < latest->len; i++) {
        const StoreRun *r = latest->pdata[i];
        g_string_append(s, "<tr><td>");
        esc(s, r->profile);
        g_string_append(s, "</td><td>");
        esc(s, r->agent[0]);
        g_string_append(s, "</td><td>");
        esc(s, r->agent[1]);
        g_string_append(s, "</td><td>");
        verdict_badge(s, r->verdict);
        g_autofree char *t = when(r->finished_at);
        g_string_append_printf(s, "</td><td>%s</td><td>", t);
        started_by(s, r);
        g_string_append(s, "</td><td>");
        findings_list(s, r);
        g_string_append_printf(s,
                               "</td><td><a href=\"/runs/%s\">page</a> &middot; <a "
                               "href=\"/runs/%s.json\">JSON</a></td></tr>",
                               r->id, r->id);
    }
    if (latest->len)
        g_string_append(s, "</table>");
    /* Charts for the pairs that need looking at first (worst verdict, then newest),
     * at most STATUS_MAX_CHARTS of them: a page, not a dump of the fleet. */
    g_autoptr(GPtrArray) charted = g_ptr_array_sized_new(latest->len); /* borrows latest's runs */
    for (guint i = 0; i < latest->len; i++)
        g_ptr_array_add(charted, latest->pdata[i]);
    g_ptr_array_sort(charted, worst_first);
    for (guint i = 0; i < charted->len && i < STATUS_MAX_CHARTS; i++)
        history(s, api, charted->pdata[i]);
    if (charted->len > STATUS_MAX_CHARTS)
        g_string_append_printf(
            s,
            "<p class=\"muted\">History charts of %u more pairs: each run's page, "
            "or /api/v1/runs and Prometheus.</p>",
            charted->len - STATUS_MAX_CHARTS);
}

static void active_section(GString *s, GPtrArray *active)
{
    g_string_append(s, "<h2>Runs under way</h2>");
    if (active->len == 0)
        g_string_append(s, "<p class=\"muted\">None.</p>");
    else
        g_string_append(s, "<table><tr><th>Run</th><th>Profile</th><th>Side a</th><th>Side b</th>"
                           "<th>State</th><th>Created</th><th>Started by</th></tr>");
    for (guint i = 0; i < active->len; i++) {
        const StoreRun *r = active->pdata[i];
        g_autofree char *t = when(r->created_at);
        g_string_append_printf(s, "<tr><td><a href=\"/runs/%s\">%.8s</a></td><td>", r->id, r->id);
        esc(s, r->profile);
        g_string_append(s, "</td><td>");
        esc(s, r->agent[0]);
        g_string_append(s, "</td><td>");
        esc(s, r->agent[1]);
        g_string_append_printf(s, "</td><td>%s", run_state_to_string(r->state));
        if (r->waited_for && !r->offered_at) {
            g_string_append(s, ", waits for ");
            esc(s, r->waited_for);
        }
        g_string_append_printf(s, "</td><td>%s</td><td>", t);
        started_by(s, r);
        g_string_append(s, "</td></tr>");
    }
    if (active->len)
        g_string_append(s, "</table>");
}

/* The VPN's facts as the agent last sent them: "gpd0: Palo Alto GlobalProtect
 * (PANGP), split tunnel, MTU 1400, pool 100.64.0.2, gateway 198.51.100.3". */
static void vpn_cell(GString *s, const char *json)
{
    g_autoptr(JsonNode) n = json ? json_from_string(json, NULL) : NULL;
    JsonObject *o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    if (!o) {
        g_string_append(s, "<span class=\"muted\">no tunnel</span>");
        return;
    }
    esc(s, json_object_get_string_member_with_default(o, "interface", "?"));
    g_string_append(s, ": ");
    esc(s, json_object_get_string_member_with_default(o, "product", "unknown"));
    g_string_append(s, ", ");
    esc(s, json_object_get_string_member_with_default(o, "tunnel", "unknown"));
    g_string_append(s, " tunnel");
    if (json_object_has_member(o, "mtu"))
        g_string_append_printf(s, ", MTU %" G_GINT64_FORMAT, json_object_get_int_member(o, "mtu"));
    if (json_object_has_member(o, "pool_address")) {
        g_string_append(s, ", pool ");
        esc(s, json_object_get_string_member(o, "pool_address"));
    }
    if (json_object_has_member(o, "gateway")) {
        g_string_append(s, ", gateway ");
        esc(s, json_object_get_string_member(o, "gateway"));
    }
}

/* An agent's last network event (as the heartbeat's network_event): its kind,
 * when it settled, and what changed. */
static void event_cell(GString *s, const char *json)
{
    g_autoptr(JsonNode) n = json ? json_from_string(json, NULL) : NULL;
    JsonObject *o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    if (!o) {
        g_string_append(s, "<span class=\"muted\">none</span>");
        return;
    }
    esc(s, json_object_get_string_member_with_default(o, "kind", "?"));
    g_autofree char *t = when(json_object_get_int_member_with_default(o, "at", 0));
    g_string_append_printf(s, " at %s", t);
    JsonArray *changes = json_object_get_array_member(o, "changes");
    for (guint i = 0; changes && i < json_array_get_length(changes); i++) {
        g_string_append(s, i ? "; " : ": ");
        esc(s, json_array_get_string_element(changes, i));
    }
}

static void agents_section(GString *s, GPtrArray *agents)
{
    g_string_append(s, "<h2>Agents</h2>");
    if (agents->len == 0)
        g_string_append(s, "<p class=\"muted\">No agent is registered (iceprobe-controller "
                           "agent-add).</p>");
    else
        g_string_append(s, "<table><tr><th>Agent</th><th>Groups</th><th>Last seen</th>"
                           "<th>Version</th><th>Interfaces</th><th>VPN</th>"
                           "<th>Last network event</th></tr>");
    for (guint i = 0; i < agents->len; i++) {
        const StoreAgent *a = agents->pdata[i];
        g_autofree char *groups = g_strjoinv(", ", a->groups);
        g_autofree char *seen = when(a->last_seen);
        g_string_append(s, "<tr><td>");
        esc(s, a->name);
        g_string_append(s, "</td><td>");
        esc(s, groups);
        g_string_append_printf(s, "</td><td>%s</td><td>", seen);
        esc(s, a->version ? a->version : "-");
        g_string_append(s, "</td><td>");
        g_autoptr(JsonNode) ifs = a->interfaces ? json_from_string(a->interfaces, NULL) : NULL;
        JsonArray *arr = ifs && JSON_NODE_HOLDS_ARRAY(ifs) ? json_node_get_array(ifs) : NULL;
        for (guint k = 0; arr && k < json_array_get_length(arr); k++) {
            JsonObject *o = json_array_get_object_element(arr, k);
            if (!o)
                continue;
            g_string_append(s, k ? ", " : "");
            esc(s, json_object_get_string_member_with_default(o, "name", "?"));
            g_string_append(s, " (");
            esc(s, json_object_get_string_member_with_default(o, "class", "?"));
            g_string_append(s, ")");
        }
        g_string_append(s, "</td><td>");
        vpn_cell(s, a->vpn);
        g_string_append(s, "</td><td>");
        event_cell(s, a->net_event);
        g_string_append(s, "</td></tr>");
    }
    if (agents->len)
        g_string_append(s, "</table>");
}

void status_page(ApiRequest *req)
{
    Api *api = req->api;
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) latest = store_latest_per_pair(api->store, &e);
    g_autoptr(GPtrArray) agents = latest ? store_agent_list(api->store, &e) : NULL;
    g_autoptr(GPtrArray) active = agents ? store_runs_active(api->store, &e) : NULL;
    if (!active) {
        api_reply_gerror(req, e);
        return;
    }
    GString *s = g_string_new(NULL);
    head(s, "iceprobe controller");
    g_autofree char *now = when(scheduler_now(api->scheduler));
    g_string_append_printf(s,
                           "<h1>iceprobe controller</h1><div class=\"muted\">%s &middot; version "
                           "%s &middot; %u agents &middot; %u runs under way</div>",
                           now, ICEPROBE_VERSION, agents->len, active->len);
    latest_section(s, api, latest);
    active_section(s, active);
    agents_section(s, agents);
    reply_html(req, s);
}

static void side_row(GString *s, const char *path, const char *side, const PathRecord *p)
{
    g_string_append(s, "<tr><td>");
    esc(s, path);
    g_string_append_printf(s, "</td><td>%s</td><td>", side);
    verdict_badge(s, verdict_to_string(p->verdict));
    g_string_append(s, "</td><td>");
    if (p->have_pair) {
        g_autofree char *pair = g_strdup_printf(
            "%s/%s %s on %s (%s), leaves by %s (%s) to %s", p->local.type, p->local.transport,
            p->local.address, p->local.interface, p->local.interface_class,
            p->local.egress_interface, p->local.egress_class, p->remote.address);
        esc(s, pair);
    } else {
        g_string_append(s, "<span class=\"muted\">no pair</span>");
    }
    g_string_append(s, "</td><td>");
    if (p->have_metrics)
        g_string_append_printf(s, "loss %.2f %%, jitter %.2f ms, RTT %.2f ms, MOS %.2f",
                               p->metrics.loss_ratio * 100, p->metrics.jitter_ms,
                               p->metrics.rtt_median_ms, p->metrics.mos);
    if (p->qos_in.have) /* each side's own arrivals: the other side's row has the other way */
        g_string_append_printf(s, "; DSCP %u kept by %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                  " arriving",
                               p->dscp, p->qos_in.marked, p->qos_in.seen);
    g_string_append(s, "</td></tr>");
}

/* One candidate of the ICE record as a table row. */
static void candidate_row(GString *s, const char *side, const CandidateInfo *c)
{
    const char *cells[] = {side,
                           c->type,
                           c->transport,
                           c->address,
                           c->interface,
                           c->interface_class,
                           c->relay_transport};
    g_string_append(s, "<tr>");
    for (gsize i = 0; i < G_N_ELEMENTS(cells); i++) {
        g_string_append(s, "<td>");
        esc(s, cells[i] ? cells[i] : "");
        g_string_append(s, "</td>");
    }
    g_string_append(s, "</tr>");
}

static void ice_pairs_table(GString *s, const IceRecord *ir)
{
    g_string_append(s, "<table><tr><th>Local</th><th>Remote</th><th>State</th>"
                       "<th>Nominated</th><th>Why</th></tr>");
    for (guint i = 0; i < ir->pairs->len; i++) {
        const IcePair *p = ir->pairs->pdata[i];
        const char *cells[] = {p->local, p->remote, p->state, p->nominated ? "yes" : "", p->why};
        g_string_append(s, "<tr>");
        for (gsize k = 0; k < G_N_ELEMENTS(cells); k++) {
            g_string_append(s, "<td>");
            esc(s, cells[k] ? cells[k] : "");
            g_string_append(s, "</td>");
        }
        g_string_append(s, "</tr>");
    }
    g_string_append(s, "</table>");
    if (ir->pairs_omitted)
        g_string_append_printf(s, "<p class=\"muted\">%u more pairs not kept.</p>",
                               ir->pairs_omitted);
}

/* A path side's ICE record, collapsed under its row: what was given up and
 * why, every candidate, every pair as libnice reported it. */
static void ice_record_row(GString *s, const IceRecord *ir)
{
    g_string_append_printf(s,
                           "<tr><td colspan=\"5\"><details><summary>ICE record: %u local and "
                           "%u remote candidates, %u pairs, %u given up</summary>",
                           ir->local->len, ir->remote->len, ir->pairs->len + ir->pairs_omitted,
                           ir->given_up->len);
    if (ir->given_up->len) {
        g_string_append(s, "<p>Given up:</p><ul>");
        for (guint i = 0; i < ir->given_up->len; i++) {
            const IceGivenUp *g = ir->given_up->pdata[i];
            g_string_append(s, "<li><code>");
            esc(s, g->transport);
            g_string_append(s, "</code> ");
            esc(s, g->what);
            g_string_append(s, ": ");
            esc(s, g->why);
            g_string_append(s, "</li>");
        }
        g_string_append(s, "</ul>");
    }
    g_string_append(s, "<table><tr><th>Candidate</th><th>Type</th><th>Transport</th>"
                       "<th>Address</th><th>Interface</th><th>Class</th><th>Relay over</th></tr>");
    for (guint i = 0; i < ir->local->len; i++)
        candidate_row(s, "local", ir->local->pdata[i]);
    for (guint i = 0; i < ir->remote->len; i++)
        candidate_row(s, "remote", ir->remote->pdata[i]);
    g_string_append(s, "</table>");
    ice_pairs_table(s, ir);
    g_string_append(s, "</details></td></tr>");
}

void status_run_page(ApiRequest *req)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(StoreRun) r = store_run_get(req->api->store, req->params[0], &e);
    if (!r) {
        api_reply_gerror(req, e);
        return;
    }
    GString *s = g_string_new(NULL);
    g_autofree char *title = g_strdup_printf("run %s", r->id);
    head(s, title);
    g_string_append(s, "<p><a href=\"/\">&larr; status</a></p><h1>");
    esc(s, r->profile);
    g_string_append(s, ": ");
    esc(s, r->agent[0]);
    g_string_append(s, " &#8596; ");
    esc(s, r->agent[1]);
    g_string_append(s, "</h1><p>");
    verdict_badge(s, r->verdict);
    g_autofree char *created = when(r->created_at);
    g_autofree char *finished = when(r->finished_at);
    g_string_append_printf(
        s, " state %s &middot; created %s &middot; finished %s &middot; started by ",
        run_state_to_string(r->state), created, finished);
    started_by(s, r);
    g_string_append_printf(s, " &middot; <a href=\"/runs/%s.json\">JSON</a></p>", r->id);
    if (r->note) {
        g_string_append(s, "<p>");
        esc(s, r->note);
        g_string_append(s, "</p>");
    }
    g_string_append(s, "<h2>Findings</h2>");
    findings_list(s, r);
    g_autoptr(RunResult) res =
        r->result ? run_result_from_json(r->result, strlen(r->result), NULL) : NULL;
    if (res && res->paths->len) {
        g_string_append(s, "<h2>Paths</h2><table><tr><th>Path</th><th>Side</th><th>Verdict</th>"
                           "<th>Selected pair</th><th>Quality</th></tr>");
        for (guint i = 0; i < res->paths->len; i++) {
            const PathRecord *p = res->paths->pdata[i];
            for (int k = 0; k < 2; k++) {
                const PathRecord *sp = p->sides[k] ? p->sides[k] : (k == 0 ? p : NULL);
                if (!sp)
                    continue;
                side_row(s, p->name, k ? "b" : "a", sp);
                if (sp->ice_record)
                    ice_record_row(s, sp->ice_record);
            }
        }
        g_string_append(s, "</table>");
    }
    reply_html(req, s);
}

void status_run_json(ApiRequest *req)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(StoreRun) r = store_run_get(req->api->store, req->params[0], &e);
    if (!r) {
        api_reply_gerror(req, e);
        return;
    }
    api_reply_json(req, 200, api_run_document(r));
}
