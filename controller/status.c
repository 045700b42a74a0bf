/* GET /: the status page, server-rendered HTML with inline SVG charts; no
 * script, no framework, nothing fetched from elsewhere (it must work on an
 * isolated network). GET /runs/{id}: one run in words; /runs/{id}.json: its
 * document. */
#include <string.h>

#include "iceprobe-config.h"
#include "status-private.h"

#define STATUS_MAX_CHARTS 24

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.3em .5em;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}"
    ".v{font-weight:600;padding:.1em .5em;border-radius:.3em;color:#fff}"
    ".pass{background:#2e7d32}.warn{background:#ef8f00}.fail{background:#c62828}"
    ".error{background:#6a1b9a}.pending{background:#757575}"
    ".charts{display:flex;flex-wrap:wrap;gap:.8em}.chart{background:#fff;border:1px solid #ddd;"
    "padding:.3em}.muted{color:#777}code{font-size:.95em}ul{margin:.2em 0;padding-left:1.2em}"
    "h3{font-size:1em;margin:1em 0 .3em}"
    ".matrix td,.matrix th{text-align:center;font-size:.9em;padding:.25em .4em}"
    ".matrix th.grp{background:#e3e7f3}.matrix th.ag{background:#f5f5f5}"
    ".matrix th.corner{font-weight:normal;color:#777;font-size:.8em}"
    ".matrix td.self{background:#eee;color:#999}.matrix td.never{color:#999;font-style:italic}"
    ".matrix td a{display:block;color:inherit;text-decoration:none}"
    ".matrix td code{display:block;font-size:.75em;margin-top:.15em}"
    ".c-fail{background:#fdecea}.c-warn{background:#fff4e0}.c-pass{background:#edf7ee}"
    ".c-error{background:#f3e5f5}"
    ".analysis{background:#fff;border-left:4px solid #c62828;padding:.2em .8em;margin:.6em 0;"
    "max-width:60em}.analysis p{margin:.3em 0}.note{color:#555;max-width:60em}";

void status_esc(GString *s, const char *text)
{
    g_autofree char *e = g_markup_escape_text(text ? text : "", -1);
    g_string_append(s, e);
}

static void head(GString *s, const char *title)
{
    g_string_append(s, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width\">"
                       "<link rel=\"icon\" href=\"data:,\"><title>");
    status_esc(s, title);
    g_string_append_printf(s, "</title><style>%s</style></head><body>", style);
}

void status_pair_title(GString *s, const StoreRun *r)
{
    status_esc(s, r->profile);
    g_string_append(s, ": ");
    status_esc(s, r->agent[0]);
    g_string_append(s, " &#8596; ");
    status_esc(s, r->agent[1]);
}

char *status_when(gint64 t)
{
    if (!t)
        return g_strdup("never");
    g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
    return g_date_time_format(d, "%Y-%m-%d %H:%M:%S UTC");
}

void status_verdict_badge(GString *s, const char *v)
{
    static const char *const known[] = {"pass", "warn", "fail", "error", "skip", NULL};
    const char *k = v ? v : "pending";
    /* the class from a fixed list: the store's text never reaches an attribute raw */
    g_string_append_printf(s, "<span class=\"v %s\">", g_strv_contains(known, k) ? k : "pending");
    status_esc(s, k);
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
        status_esc(s, f->code);
        g_string_append(s, "</code> ");
        status_esc(s, f->message);
        g_string_append(s, "</li>");
    }
    g_string_append(s, "</ul>");
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
    status_esc(s, r->trigger ? r->trigger : (r->schedule ? "cron" : "api"));
    if (r->schedule) {
        g_string_append(s, " (");
        status_esc(s, r->schedule);
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
        status_esc(s, r->profile);
        g_string_append(s, "</td><td>");
        status_esc(s, r->agent[0]);
        g_string_append(s, "</td><td>");
        status_esc(s, r->agent[1]);
        g_string_append(s, "</td><td>");
        status_verdict_badge(s, r->verdict);
        g_autofree char *t = status_when(r->finished_at);
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
        status_history(s, api, charted->pdata[i]);
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
        g_autofree char *t = status_when(r->created_at);
        g_string_append_printf(s, "<tr><td><a href=\"/runs/%s\">%.8s</a></td><td>", r->id, r->id);
        status_esc(s, r->profile);
        g_string_append(s, "</td><td>");
        status_esc(s, r->agent[0]);
        g_string_append(s, "</td><td>");
        status_esc(s, r->agent[1]);
        g_string_append_printf(s, "</td><td>%s", run_state_to_string(r->state));
        if (r->waited_for && !r->offered_at) {
            g_string_append(s, ", waits for ");
            status_esc(s, r->waited_for);
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
    status_esc(s, json_object_get_string_member_with_default(o, "interface", "?"));
    g_string_append(s, ": ");
    status_esc(s, json_object_get_string_member_with_default(o, "product", "unknown"));
    g_string_append(s, ", ");
    status_esc(s, json_object_get_string_member_with_default(o, "tunnel", "unknown"));
    g_string_append(s, " tunnel");
    if (json_object_has_member(o, "mtu"))
        g_string_append_printf(s, ", MTU %" G_GINT64_FORMAT, json_object_get_int_member(o, "mtu"));
    if (json_object_has_member(o, "pool_address")) {
        g_string_append(s, ", pool ");
        status_esc(s, json_object_get_string_member(o, "pool_address"));
    }
    if (json_object_has_member(o, "gateway")) {
        g_string_append(s, ", gateway ");
        status_esc(s, json_object_get_string_member(o, "gateway"));
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
    status_esc(s, json_object_get_string_member_with_default(o, "kind", "?"));
    g_autofree char *t = status_when(json_object_get_int_member_with_default(o, "at", 0));
    g_string_append_printf(s, " at %s", t);
    JsonArray *changes = json_object_get_array_member(o, "changes");
    for (guint i = 0; changes && i < json_array_get_length(changes); i++) {
        g_string_append(s, i ? "; " : ": ");
        status_esc(s, json_array_get_string_element(changes, i));
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
        g_autofree char *seen = status_when(a->last_seen);
        g_string_append(s, "<tr><td>");
        status_esc(s, a->name);
        g_string_append(s, "</td><td>");
        status_esc(s, groups);
        g_string_append_printf(s, "</td><td>%s</td><td>", seen);
        status_esc(s, a->version ? a->version : "-");
        g_string_append(s, "</td><td>");
        g_autoptr(JsonNode) ifs = a->interfaces ? json_from_string(a->interfaces, NULL) : NULL;
        JsonArray *arr = ifs && JSON_NODE_HOLDS_ARRAY(ifs) ? json_node_get_array(ifs) : NULL;
        for (guint k = 0; arr && k < json_array_get_length(arr); k++) {
            JsonObject *o = json_array_get_object_element(arr, k);
            if (!o)
                continue;
            g_string_append(s, k ? ", " : "");
            status_esc(s, json_object_get_string_member_with_default(o, "name", "?"));
            g_string_append(s, " (");
            status_esc(s, json_object_get_string_member_with_default(o, "class", "?"));
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
    g_autoptr(GPtrArray) matrices =
        active ? analysis_load(api->store, latest, agents, api->config->schedules, &e) : NULL;
    if (!matrices) {
        api_reply_gerror(req, e);
        return;
    }
    GString *s = g_string_new(NULL);
    head(s, "iceprobe controller");
    g_autofree char *now = status_when(scheduler_now(api->scheduler));
    g_string_append_printf(s,
                           "<h1>iceprobe controller</h1><div class=\"muted\">%s &middot; version "
                           "%s &middot; %u agents &middot; %u runs under way</div>",
                           now, ICEPROBE_VERSION, agents->len, active->len);
    status_matrix_section(s, matrices);
    latest_section(s, api, latest);
    active_section(s, active);
    agents_section(s, agents);
    reply_html(req, s);
}

static void side_row(GString *s, const char *path, const char *side, const PathRecord *p)
{
    g_string_append(s, "<tr><td>");
    status_esc(s, path);
    g_string_append_printf(s, "</td><td>%s</td><td>", side);
    status_verdict_badge(s, verdict_to_string(p->verdict));
    g_string_append(s, "</td><td>");
    if (p->have_pair) {
        g_autofree char *pair = g_strdup_printf(
            "%s/%s %s on %s (%s), leaves by %s (%s) to %s", p->local.type, p->local.transport,
            p->local.address, p->local.interface, p->local.interface_class,
            p->local.egress_interface, p->local.egress_class, p->remote.address);
        status_esc(s, pair);
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
        status_esc(s, cells[i] ? cells[i] : "");
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
            status_esc(s, cells[k] ? cells[k] : "");
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
            status_esc(s, g->transport);
            g_string_append(s, "</code> ");
            status_esc(s, g->what);
            g_string_append(s, ": ");
            status_esc(s, g->why);
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
    status_pair_title(s, r);
    g_string_append(s, "</h1><p>");
    status_verdict_badge(s, r->verdict);
    g_autofree char *created = status_when(r->created_at);
    g_autofree char *finished = status_when(r->finished_at);
    g_string_append_printf(
        s, " state %s &middot; created %s &middot; finished %s &middot; started by ",
        run_state_to_string(r->state), created, finished);
    started_by(s, r);
    g_string_append_printf(s, " &middot; <a href=\"/runs/%s.json\">JSON</a></p>", r->id);
    if (r->note) {
        g_string_append(s, "<p>");
        status_esc(s, r->note);
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
