/* The agents' side of the API: heartbeat, orders (long-poll), signalling
 * (post, and long-poll for the peer's messages), report upload. An agent's token
 * acts only as its agent, and only on runs it is part of (403 otherwise). */
#include <string.h>

#include "api-private.h"
#include "iceprobe/protocol.h"
#include "iceprobe-config.h"

static guint query_uint(ApiRequest *req, const char *name, guint max, gboolean *ok)
{
    const char *v = api_query(req, name);
    guint64 n = 0;
    *ok = TRUE;
    if (v && !g_ascii_string_to_unsigned(v, 10, 0, max, &n, NULL)) {
        api_reply_error(req, 400, "bad_request", "%s: '%s' is not a whole number from 0 to %u",
                        name, v, max);
        *ok = FALSE;
    }
    return (guint)n;
}

static gint64 now_of(ApiRequest *req)
{
    return scheduler_now(req->api->scheduler);
}

/* A heartbeat's network event, if the agent has not sent it before: the
 * schedules that fire on it get their runs. *runs: how many (-1: seen before). */
static gboolean network_event(ApiRequest *req, const Heartbeat *hb, gint64 *runs, GError **error)
{
    gboolean is_new = FALSE;
    *runs = -1;
    if (!store_agent_network_event(req->api->store, req->agent->name, hb->event_id, hb->event,
                                   &is_new, error))
        return FALSE;
    if (!is_new)
        return TRUE;
    g_message("agent %s: %s: %s", req->agent->name, hb->event_kind, hb->event_summary);
    *runs = scheduler_network_event(req->api->scheduler, req->agent->name, hb->event_kind,
                                    hb->event_summary);
    return TRUE;
}

void api_agent_heartbeat(ApiRequest *req)
{
    g_auto(Heartbeat) hb = {0};
    g_autoptr(GError) e = NULL;
    if (!protocol_parse_heartbeat(req->body, req->body_len, &hb, &e)) {
        api_reply_gerror(req, e);
        return;
    }
    const StoreAgent *a = req->agent;
    if (hb.name && strcmp(hb.name, a->name) != 0) {
        api_reply_error(req, 400, "bad_request", "name: this token is agent '%s', not '%s'",
                        a->name, hb.name);
        return;
    }
    for (char **g = hb.groups; g && *g; g++) {
        if (!store_agent_in_group(a, *g)) {
            api_reply_error(req, 400, "bad_request",
                            "groups: agent '%s' is not in group '%s' (it was added with %s)",
                            a->name, *g, a->groups[0] ? a->groups[0] : "no group");
            return;
        }
    }
    gint64 runs = -1;
    if (!store_agent_seen(req->api->store, a->name, now_of(req), hb.version, hb.interfaces, hb.vpn,
                          &e) ||
        (hb.event_id && !network_event(req, &hb, &runs, &e))) {
        api_reply_gerror(req, e);
        return;
    }
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "name", a->name);
    JsonArray *groups = json_array_new();
    for (char **g = a->groups; *g; g++)
        json_array_add_string_element(groups, *g);
    json_object_set_array_member(o, "groups", groups);
    json_object_set_int_member(o, "server_time", now_of(req));
    json_object_set_int_member(o, "longpoll_s", req->api->config->longpoll_s);
    json_object_set_string_member(o, "controller_version", ICEPROBE_VERSION);
    if (hb.event_id) { /* acknowledged: the agent may forget it */
        JsonObject *ev = json_object_new();
        json_object_set_string_member(ev, "id", hb.event_id);
        if (runs >= 0)
            json_object_set_int_member(ev, "runs", runs);
        else
            json_object_set_boolean_member(ev, "duplicate", TRUE);
        json_object_set_object_member(o, "network_event", ev);
    }
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    api_reply_json(req, 200, n);
}

static gboolean reply_orders(ApiRequest *req, gboolean only_if_any)
{
    g_autoptr(GError) e = NULL;
    JsonArray *orders = scheduler_take_orders(req->api->scheduler, req->agent->name, &e);
    if (!orders) {
        api_reply_gerror(req, e);
        return TRUE;
    }
    if (only_if_any && json_array_get_length(orders) == 0) {
        json_array_unref(orders);
        return FALSE;
    }
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "orders", orders);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    api_reply_json(req, 200, n);
    return TRUE;
}

static gboolean orders_ready(ApiRequest *req, gpointer data)
{
    return reply_orders(req, TRUE);
}

static void orders_respond(ApiRequest *req, gboolean timed_out, gpointer data)
{
    reply_orders(req, FALSE);
}

void api_agent_orders(ApiRequest *req)
{
    gboolean ok;
    guint wait = query_uint(req, "wait", 3600, &ok);
    if (!ok)
        return;
    api_agent_seen(req->api, req->agent->name, now_of(req));
    if (wait == 0) {
        reply_orders(req, FALSE);
        return;
    }
    g_autofree char *key = api_orders_key(req->agent->name);
    api_wait(req, key, MIN(wait, req->api->config->longpoll_s), orders_ready, orders_respond, NULL,
             NULL);
}

/* The caller's side of the run in params[0], or -1 with the reply set. */
static int side_or_reply(ApiRequest *req)
{
    g_autoptr(GError) e = NULL;
    int side = scheduler_side_of(req->api->scheduler, req->params[0], req->agent->name, &e);
    if (side < 0)
        api_reply_gerror(req, e);
    return side;
}

void api_agent_signal_post(ApiRequest *req)
{
    int side = side_or_reply(req);
    if (side < 0)
        return;
    g_autofree char *message = NULL;
    g_autoptr(GError) e = NULL;
    if (!protocol_parse_signal(req->body, req->body_len, &message, &e)) {
        api_reply_gerror(req, e);
        return;
    }
    guint seq = 0;
    /* The store checks, under the run's lock, that it has not ended. */
    if (!signal_post(req->api->board, req->params[0], side, message, &seq, &e)) {
        api_reply_gerror(req, e);
        return;
    }
    JsonObject *o = json_object_new();
    json_object_set_int_member(o, "seq", seq);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    api_reply_json(req, 200, n);
}

typedef struct {
    int side;
    guint after;
} SignalWait;

/* Messages for the caller after `after`, with the run's state. FALSE when there
 * are none and the run goes on (only_if_any). */
static gboolean reply_signal(ApiRequest *req, int side, guint after, gboolean only_if_any)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(StoreRun) run = store_run_get(req->api->store, req->params[0], &e);
    if (!run && !g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND)) {
        api_reply_gerror(req, e);
        return TRUE;
    }
    g_clear_error(&e); /* no such run: it has ended, and its messages with it */
    const char *state = run ? run_state_to_string(run->state) : "error";
    gboolean ended = !run || run_state_is_final(run->state);
    guint n = 0;
    g_autofree char *messages = signal_fetch(req->api->board, req->params[0], side, after, &n, &e);
    if (!messages) {
        api_reply_gerror(req, e);
        return TRUE;
    }
    if (only_if_any && n == 0 && !ended)
        return FALSE;
    char *text = g_strdup_printf("{\"run_id\":\"%s\",\"state\":\"%s\",\"messages\":%s}",
                                 req->params[0], state, messages);
    api_reply_text(req, 200, "application/json", text);
    return TRUE;
}

static gboolean signal_ready(ApiRequest *req, gpointer data)
{
    SignalWait *w = data;
    return reply_signal(req, w->side, w->after, TRUE);
}

static void signal_respond(ApiRequest *req, gboolean timed_out, gpointer data)
{
    SignalWait *w = data;
    reply_signal(req, w->side, w->after, FALSE);
}

void api_agent_signal_get(ApiRequest *req)
{
    int side = side_or_reply(req);
    if (side < 0)
        return;
    gboolean ok;
    guint after = query_uint(req, "after", SIGNAL_MAX_MESSAGES, &ok);
    if (!ok)
        return;
    guint wait = query_uint(req, "wait", 3600, &ok);
    if (!ok)
        return;
    if (wait == 0) {
        reply_signal(req, side, after, FALSE);
        return;
    }
    SignalWait *w = g_new0(SignalWait, 1);
    w->side = side;
    w->after = after;
    g_autofree char *key = api_signal_key(req->params[0], side);
    api_wait(req, key, MIN(wait, req->api->config->longpoll_s), signal_ready, signal_respond, w,
             g_free);
}

void api_agent_report(ApiRequest *req)
{
    gboolean duplicate = FALSE;
    g_autoptr(GError) e = NULL;
    if (!scheduler_report(req->api->scheduler, req->params[0], req->agent->name, req->body,
                          req->body_len, &duplicate, &e)) {
        api_reply_gerror(req, e);
        return;
    }
    JsonObject *o = json_object_new();
    json_object_set_boolean_member(o, "stored", TRUE);
    json_object_set_boolean_member(o, "duplicate", duplicate);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    api_reply_json(req, 200, n);
}

/* POST /api/v1/agent/runs: a run of the calling agent (side a) against a named
 * peer (side b), ad hoc: what `iceprobe run --peer` asks for. */
void api_agent_runs_create(ApiRequest *req)
{
    g_auto(PeerRunRequest) pr = {0};
    g_autoptr(GError) e = NULL;
    if (!protocol_parse_peer_run_request(req->body, req->body_len, &pr, &e)) {
        api_reply_gerror(req, e);
        return;
    }
    if (strcmp(pr.peer, req->agent->name) == 0) {
        api_reply_error(req, 400, "bad_request", "peer: '%s' is this agent itself", pr.peer);
        return;
    }
    g_autoptr(GPtrArray) ids = scheduler_create_runs(req->api->scheduler, pr.profile,
                                                     req->agent->name, pr.peer, NULL, NULL, &e);
    if (!ids) {
        api_reply_gerror(req, e);
        return;
    }
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "run_id", ids->pdata[0]);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    api_reply_json(req, 201, n);
}

/* GET /api/v1/agent/runs/{id}: the run's document, for one of its two agents. */
void api_agent_runs_get(ApiRequest *req)
{
    g_autoptr(StoreRun) r = api_run_load(req);
    if (!r)
        return;
    if (strcmp(r->agent[0], req->agent->name) != 0 && strcmp(r->agent[1], req->agent->name) != 0) {
        api_reply_error(req, 403, "forbidden", "run %s is not one of agent '%s'", r->id,
                        req->agent->name);
        return;
    }
    api_reply_json(req, 200, api_run_document(r));
}
