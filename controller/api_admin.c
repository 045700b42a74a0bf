/* The admin side of the API (docs/contract.md, "Controller API"): start runs, read
 * one, page through them newest first, list the agents, the matrix and its
 * analysis. */
#include <string.h>

#include "analysis.h"
#include "api-private.h"
#include "iceprobe/protocol.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     200

static char *rfc3339(gint64 t)
{
    g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
    return g_date_time_format(d, "%Y-%m-%dT%H:%M:%SZ");
}

static void set_time(JsonObject *o, const char *name, gint64 t)
{
    if (t) {
        g_autofree char *s = rfc3339(t);
        json_object_set_string_member(o, name, s);
    } else {
        json_object_set_null_member(o, name);
    }
}

JsonNode *api_run_document(const StoreRun *r)
{
    JsonNode *doc = NULL;
    if (run_state_is_final(r->state) && r->result)
        doc = json_from_string(r->result, NULL);
    if (!doc || !JSON_NODE_HOLDS_OBJECT(doc)) {
        if (doc)
            json_node_unref(doc);
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "schema", "iceprobe.run/1");
        json_object_set_string_member(o, "run_id", r->id);
        json_object_set_string_member(o, "profile", r->profile);
        set_time(o, "started_at", r->created_at);
        json_object_set_string_member(o, "verdict", "pending");
        json_object_set_array_member(o, "findings", json_array_new());
        json_object_set_array_member(o, "probes", json_array_new());
        json_object_set_array_member(o, "checks", json_array_new());
        json_object_set_array_member(o, "paths", json_array_new());
        doc = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(doc, o);
    }
    /* The run's own facts, beside the document's. */
    JsonObject *o = json_node_get_object(doc);
    json_object_set_string_member(o, "state", run_state_to_string(r->state));
    JsonObject *agents = json_object_new();
    json_object_set_string_member(agents, "a", r->agent[0]);
    json_object_set_string_member(agents, "b", r->agent[1]);
    json_object_set_object_member(o, "agents", agents);
    if (r->schedule)
        json_object_set_string_member(o, "schedule", r->schedule);
    else
        json_object_set_null_member(o, "schedule");
    set_time(o, "finished_at", r->finished_at);
    if (r->note)
        json_object_set_string_member(o, "note", r->note);
    /* What started it; runs stored before triggers were kept say what they can. */
    json_object_set_string_member(o, "trigger",
                                  r->trigger ? r->trigger : (r->schedule ? "cron" : "api"));
    if (r->catch_up_until)
        set_time(o, "catch_up_until", r->catch_up_until);
    if (r->waited_for)
        json_object_set_string_member(o, "waited_for", r->waited_for);
    return doc;
}

void api_admin_runs_create(ApiRequest *req)
{
    g_auto(RunRequest) rr = {0};
    g_autoptr(GError) e = NULL;
    if (!protocol_parse_run_request(req->body, req->body_len, &rr, &e)) {
        api_reply_gerror(req, e);
        return;
    }
    g_autoptr(GPtrArray) ids =
        scheduler_create_runs(req->api->scheduler, rr.profile, rr.a, rr.b, NULL, NULL, &e);
    if (!ids) {
        api_reply_gerror(req, e);
        return;
    }
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "run_id", ids->pdata[0]);
    JsonArray *all = json_array_new();
    for (guint i = 0; i < ids->len; i++)
        json_array_add_string_element(all, ids->pdata[i]);
    json_object_set_array_member(o, "run_ids", all);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    g_autofree char *location = g_strdup_printf("/api/v1/runs/%s", (char *)ids->pdata[0]);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Location",
                                 location);
    api_reply_json(req, 201, n);
}

StoreRun *api_run_load(ApiRequest *req)
{
    g_autoptr(GError) e = NULL;
    StoreRun *r = store_run_get(req->api->store, req->params[0], &e);
    if (!r) {
        api_reply_gerror(req, e);
    }
    return r;
}

void api_admin_runs_get(ApiRequest *req)
{
    g_autoptr(StoreRun) r = api_run_load(req);
    if (r)
        api_reply_json(req, 200, api_run_document(r));
}

/* since: RFC 3339 or Unix seconds. */
static gboolean parse_since(const char *s, gint64 *out)
{
    guint64 n;
    if (g_ascii_string_to_unsigned(s, 10, 0, G_MAXINT64, &n, NULL)) {
        *out = (gint64)n;
        return TRUE;
    }
    g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(s, NULL);
    if (!t)
        return FALSE;
    *out = g_date_time_to_unix(t);
    return TRUE;
}

void api_admin_runs_list(ApiRequest *req)
{
    StoreRunFilter f = {.profile = api_query(req, "profile"),
                        .verdict = api_query(req, "verdict"),
                        .limit = PAGE_DEFAULT};
    if (f.profile && !protocol_valid_name(f.profile)) {
        api_reply_error(req, 400, "bad_request", "profile: not a profile name");
        return;
    }
    Verdict v;
    /* A run's verdict (never skip), or pending: not finished yet. */
    if (f.verdict && strcmp(f.verdict, "pending") != 0 &&
        (!verdict_from_string(f.verdict, &v) || v == VERDICT_SKIP)) {
        api_reply_error(req, 400, "bad_request",
                        "verdict: '%s' is not pass, warn, fail, error or pending", f.verdict);
        return;
    }
    const char *since = api_query(req, "since");
    if (since && !parse_since(since, &f.since)) {
        api_reply_error(req, 400, "bad_request", "since: '%s' is not an RFC 3339 time", since);
        return;
    }
    const char *limit = api_query(req, "limit");
    guint64 n;
    if (limit) {
        if (!g_ascii_string_to_unsigned(limit, 10, 1, PAGE_MAX, &n, NULL)) {
            api_reply_error(req, 400, "bad_request", "limit: not a whole number from 1 to %d",
                            PAGE_MAX);
            return;
        }
        f.limit = (guint)n;
    }
    /* The cursor is where the previous page ended (a run's creation number). */
    const char *cursor = api_query(req, "cursor");
    if (cursor) {
        if (!g_ascii_string_to_unsigned(cursor, 10, 1, G_MAXINT64, &n, NULL)) {
            api_reply_error(req, 400, "bad_request", "cursor: not a cursor from a previous page");
            return;
        }
        f.before_seq = (gint64)n;
    }
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) runs = store_runs_page(req->api->store, &f, &e);
    if (!runs) {
        api_reply_gerror(req, e);
        return;
    }
    JsonObject *o = json_object_new();
    JsonArray *a = json_array_new();
    for (guint i = 0; i < runs->len; i++)
        json_array_add_element(a, api_run_document(runs->pdata[i]));
    json_object_set_array_member(o, "runs", a);
    if (runs->len == f.limit) {
        StoreRun *last = runs->pdata[runs->len - 1];
        g_autofree char *next = g_strdup_printf("%" G_GINT64_FORMAT, last->seq);
        json_object_set_string_member(o, "cursor", next);
    } else {
        json_object_set_null_member(o, "cursor");
    }
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, o);
    api_reply_json(req, 200, node);
}

void api_admin_agents_list(ApiRequest *req)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) agents = store_agent_list(req->api->store, &e);
    if (!agents) {
        api_reply_gerror(req, e);
        return;
    }
    JsonArray *a = json_array_new();
    for (guint i = 0; i < agents->len; i++) {
        StoreAgent *ag = agents->pdata[i];
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", ag->name);
        JsonArray *groups = json_array_new();
        for (char **g = ag->groups; *g; g++)
            json_array_add_string_element(groups, *g);
        json_object_set_array_member(o, "groups", groups);
        set_time(o, "created_at", ag->created_at);
        set_time(o, "last_seen", ag->last_seen);
        if (ag->version)
            json_object_set_string_member(o, "version", ag->version);
        else
            json_object_set_null_member(o, "version");
        JsonNode *ifs = ag->interfaces ? json_from_string(ag->interfaces, NULL) : NULL;
        if (!ifs) {
            ifs = json_node_new(JSON_NODE_ARRAY);
            json_node_take_array(ifs, json_array_new());
        }
        json_object_set_member(o, "interfaces", ifs);
        JsonNode *ev = ag->net_event ? json_from_string(ag->net_event, NULL) : NULL;
        if (ev)
            json_object_set_member(o, "network_event", ev);
        json_array_add_object_element(a, o);
    }
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "agents", a);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    api_reply_json(req, 200, n);
}

/* The matrix of each profile and what its failing pairs share (analysis.h). */
void api_admin_analysis(ApiRequest *req)
{
    Api *api = req->api;
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) matrices = analysis_read(api->store, api->config->schedules, &e);
    if (!matrices) {
        api_reply_gerror(req, e);
        return;
    }
    api_reply_json(req, 200, analysis_to_json(matrices, scheduler_now(api->scheduler)));
}
