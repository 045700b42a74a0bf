/* The long-running agent (the command: cmd_agent.c): a heartbeat with its version and interfaces, a
 * long-poll for orders, each order carried out as a paired run (paired.c), its
 * report spooled and uploaded until the controller acknowledges it (spool.c).
 * Connection failures are retried with exponential backoff and jitter, on the
 * next controller when several share one store (http.c); a controller whose
 * store is down says when to come back (Retry-After) and is taken at its word.
 * SIGTERM ends the run under way cleanly (its report says so) and the agent
 * exits. A change of the network (netwatch.c: a VPN up or down, an address, the
 * default route) cuts a long-poll short and goes out in a heartbeat at once. */
#include <stdio.h>
#include <string.h>

#include "iceprobe/cli.h"
#include "iceprobe/keyfile.h"
#include "iceprobe/protocol.h"
#include "agent-main.h"
#include "backoff.h"
#include "http.h"
#include "netif.h"
#include "netwatch.h"
#include "vpn.h"
#include "paired.h"
#include "places.h"
#include "spool.h"
#include "stop.h"
#include "iceprobe-config.h"

#define HEARTBEAT_EVERY_S     60
#define SPOOL_TTL_S           (7 * 24 * 3600)
#define SETTLE_DEFAULT_S      5

static void agent_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void agent_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_logv("iceprobe agent", fmt, ap);
    va_end(ap);
}

char *agent_read_token(const char *path, GError **error)
{
    g_autoptr(GError) e = NULL;
    char *token = keyfile_read_secret(path, 16, 256, &e);
    gboolean ok = token != NULL;
    for (const char *c = token; ok && *c; c++)
        ok = g_ascii_isgraph(*c);
    if (ok)
        return token;
    keyfile_secret_free(token);
    if (e && keyfile_error_is_unreadable(e))
        g_set_error(error, e->domain, e->code, "--token-file: %s", e->message);
    else
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--token-file %s: not a token (16-256 printable characters on one line)", path);
    return NULL;
}

char *agent_default_spool(void)
{
    return places_default_spool();
}

/* The interfaces for the heartbeat (classified without a profile: kernel facts),
 * and the VPN's facts into *vpn (NULL without a tunnel). */
static JsonArray *interfaces_json(JsonObject **vpn)
{
    JsonArray *a = json_array_new();
    g_autoptr(GError) e = NULL;
    g_autoptr(NetifInventory) inv = netif_inventory_new(NULL, &e);
    g_autoptr(GPtrArray) routes = inv ? netif_routes(NULL) : NULL;
    *vpn = inv ? vpn_facts(inv, NULL, routes) : NULL;
    if (*vpn)
        vpn_facts_for_heartbeat(*vpn);
    for (guint i = 0; inv && i < inv->interfaces->len && i < PROTOCOL_MAX_INTERFACES; i++)
        json_array_add_object_element(
            a, netif_interface_to_json(inv->interfaces->pdata[i], 0, PROTOCOL_MAX_ADDRESSES));
    return a;
}

typedef struct {
    const AgentOptions *opt;
    Http *http;
    Spool *spool;
    gint64 longpoll_s;
    guint runs;
    guint failovers;       /* http_failovers() last logged */
    GCancellable *stop;    /* cancelled by SIGTERM or SIGINT (stop.h): stop cleanly */
    guint failures;        /* calls failed in a row */
    gint64 next_heartbeat; /* monotonic; 0: at once */
    /* The newest network event not yet acknowledged, from the watcher's thread. */
    GMutex net_lock;
    NetWatchEvent *net_event;
    guint net_merged; /* events replaced by a newer one before they went out */
    /* Set with each event: cuts a long-poll short (http_set_cancel) and asks for
     * a heartbeat at once. */
    volatile gint wake;
} Agent;

/* The handle moved to another controller (the one it used did not answer). */
static gboolean note_failover(Agent *A)
{
    if (http_failovers(A->http) == A->failovers)
        return FALSE;
    A->failovers = http_failovers(A->http);
    agent_log("connected to the controller %s (the one before did not answer)",
              http_current_url(A->http));
    return TRUE;
}

/* Called on the watcher's thread: the newest event replaces one not sent yet. */
static void on_network_event(NetWatchEvent *event, gpointer data)
{
    Agent *A = data;
    g_autofree char *text = netwatch_event_describe(event);
    g_mutex_lock(&A->net_lock);
    gboolean replaces = A->net_event != NULL;
    if (replaces)
        A->net_merged++;
    netwatch_event_free(A->net_event);
    A->net_event = event;
    guint merged = A->net_merged;
    g_mutex_unlock(&A->net_lock);
    if (replaces)
        agent_log("network: %s (replaces one not sent yet; %u so far)", text, merged);
    else
        agent_log("network: %s", text);
    g_atomic_int_set(&A->wake, 1);
}

/* The pending event as the heartbeat's network_event; its id, NULL without one. */
static char *network_event_json(Agent *A, JsonObject *heartbeat_body)
{
    g_mutex_lock(&A->net_lock);
    char *id = A->net_event ? g_strdup(A->net_event->id) : NULL;
    if (id)
        json_object_set_object_member(heartbeat_body, "network_event",
                                      netwatch_event_to_json(A->net_event));
    g_mutex_unlock(&A->net_lock);
    return id;
}

/* The controller took the event sent: forget it, unless a newer one came meanwhile. */
static void network_event_delivered(Agent *A, const char *id)
{
    g_mutex_lock(&A->net_lock);
    if (A->net_event && strcmp(A->net_event->id, id) == 0)
        g_clear_pointer(&A->net_event, netwatch_event_free);
    g_mutex_unlock(&A->net_lock);
}

static gboolean heartbeat(Agent *A, GError **error)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "version", ICEPROBE_VERSION);
    if (A->opt->name)
        json_object_set_string_member(o, "name", A->opt->name);
    if (A->opt->groups) {
        JsonArray *g = json_array_new();
        for (char **p = A->opt->groups; *p; p++)
            json_array_add_string_element(g, *p);
        json_object_set_array_member(o, "groups", g);
    }
    JsonObject *vpn = NULL;
    json_object_set_array_member(o, "interfaces", interfaces_json(&vpn));
    if (vpn)
        json_object_set_object_member(o, "vpn", vpn);
    g_autofree char *event_id = network_event_json(A, o);
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    g_autofree char *body = json_to_string(n, FALSE);
    long status = 0;
    g_autoptr(JsonObject) answer =
        http_call(A->http, "POST", "/api/v1/agent/heartbeat", body, 15, &status, error);
    if (!answer && event_id && status == 400) {
        /* A controller before 0.8.0 knows no network_event: without it, the
         * heartbeat it takes; the event is dropped, not sent for ever. */
        agent_log("the controller refused the network event %s (%s): dropped", event_id,
                  (*error)->message);
        network_event_delivered(A, event_id);
        g_clear_error(error);
        return heartbeat(A, error);
    }
    if (!answer)
        return FALSE;
    if (event_id) {
        network_event_delivered(A, event_id);
        /* The controller says what it made of it. */
        JsonObject *ack = json_object_get_member(answer, "network_event") &&
                                  JSON_NODE_HOLDS_OBJECT(json_object_get_member(answer, "network_event"))
                              ? json_object_get_object_member(answer, "network_event")
                              : NULL;
        if (ack && json_object_has_member(ack, "runs"))
            agent_log("network event %s: the controller started %" G_GINT64_FORMAT " run(s)", event_id,
                      json_object_get_int_member_with_default(ack, "runs", 0));
    }
    A->longpoll_s =
        CLAMP(json_object_get_int_member_with_default(answer, "longpoll_s", 30), 1, 300);
    return TRUE;
}

static SpoolOutcome upload(const char *run_id, const char *doc, char **why, gpointer data)
{
    Agent *A = data;
    g_autofree char *path = g_strdup_printf("/api/v1/runs/%s/report", run_id);
    g_autoptr(GError) e = NULL;
    long status = 0;
    g_autoptr(JsonObject) answer = http_call(A->http, "POST", path, doc, 30, &status, &e);
    if (answer) {
        gboolean dup = json_object_get_boolean_member_with_default(answer, "duplicate", FALSE);
        agent_log("report of run %s acknowledged%s", run_id, dup ? " (it was already stored)" : "");
        return SPOOL_SENT;
    }
    *why = g_strdup(e->message);
    agent_log("uploading the report of run %s failed: %s", run_id, e->message);
    /* 409: the run has ended without it; 400/413: the controller will never take this
     * document; 403/404: not ours, or no such run. Retrying cannot help. */
    if (status == 400 || status == 403 || status == 404 || status == 409 || status == 413)
        return SPOOL_REJECTED;
    return SPOOL_RETRY;
}

/* A wait before a retry, cut short by a stop. */
static void sleep_s(Agent *A, double s)
{
    stop_wait_ms(A->stop, (guint)(s * 1000));
}

/* Half a second doubling to 30 s, ±50 %: agents do not retry in step. */
static const Backoff retry_backoff = {500, 30000, 0.5};

/* How long to wait after a failed call: the controller's Retry-After when it
 * gave one (spread a little, so that a fleet does not come back in step), else
 * the backoff. */
static double retry_wait_s(Http *h, guint failures)
{
    long after = http_retry_after_s(h);
    if (after > 0)
        return (double)MIN(after, 300L) * g_random_double_range(1.0, 1.2);
    return backoff_ms(&retry_backoff, failures + 1) / 1000.0;
}

static void carry_out(Agent *A, JsonObject *o)
{
    g_auto(Order) order = {0};
    g_autoptr(GError) e = NULL;
    if (!protocol_parse_order(o, &order, &e)) {
        agent_log("an order was refused: %s", e->message);
        return;
    }
    if (spool_has(A->spool, order.run_id)) {
        /* Handed out again because its report is not acknowledged yet: upload, don't re-run. */
        return;
    }
    agent_log("run %s: %s against %s (side %s), paths %u, %u s streams", order.run_id,
              order.profile_name, order.peer, order.side_b ? "b" : "a", g_strv_length(order.paths),
              order.duration_s);
    PairedEnv env = {.url = A->opt->controller,
                     .token = A->opt->token,
                     .ca_file = A->opt->ca_file,
                     .stop = A->stop};
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(RunResult) r = paired_execute(&order, &env);
    g_autofree char *doc = run_result_to_string(r, FALSE);
    agent_log("run %s: %s in %.1f s%s%s", order.run_id, verdict_to_string(r->verdict),
              (double)(g_get_monotonic_time() - t0) / 1e6, r->error ? ": " : "",
              r->error ? r->error : "");
    if (!spool_put(A->spool, order.run_id, doc, &e))
        agent_log("spool: %s", e->message);
    A->runs++;
}

typedef enum {
    STEP_ON,    /* go on with the turn */
    STEP_AGAIN, /* start the next turn */
    STEP_STOP,
} Step;

/* The heartbeat, when it is due or a network event asks for it at once. */
static Step heartbeat_step(Agent *A)
{
    /* Cleared before the call: an event during it sets it again, for one more heartbeat. */
    if (g_atomic_int_compare_and_exchange(&A->wake, 1, 0))
        A->next_heartbeat = 0;
    if (g_get_monotonic_time() < A->next_heartbeat)
        return STEP_ON;
    g_autoptr(GError) err = NULL;
    if (!heartbeat(A, &err)) {
        if (g_error_matches(err, HTTP_ERROR, HTTP_ERROR_STOPPED))
            return stop_requested(A->stop) ? STEP_STOP : STEP_AGAIN;
        double b = retry_wait_s(A->http, A->failures++);
        agent_log("heartbeat failed: %s; again in %.1f s", err->message, b);
        sleep_s(A, b);
        return STEP_AGAIN;
    }
    if (!note_failover(A) && A->failures)
        agent_log("connected to the controller %s again", http_current_url(A->http));
    A->failures = 0;
    A->next_heartbeat = g_get_monotonic_time() + HEARTBEAT_EVERY_S * G_USEC_PER_SEC;
    return STEP_ON;
}

/* The long-poll for orders, and the orders it brings. A network event cuts it
 * short (the controller hands an order lost on the way out again). */
static Step poll_orders(Agent *A)
{
    gint wait = (gint)MIN(A->longpoll_s, (gint64)spool_next_due_s(A->spool));
    g_autofree char *path = g_strdup_printf("/api/v1/agent/orders?wait=%d", MAX(wait, 0));
    g_autoptr(GError) err = NULL;
    /* The wake aborts this call only: never a heartbeat or an upload. */
    http_set_cancel(A->http, &A->wake);
    g_autoptr(JsonObject) answer = http_call(A->http, "GET", path, NULL, wait + 15, NULL, &err);
    http_set_cancel(A->http, NULL);
    if (!answer) {
        if (stop_requested(A->stop))
            return STEP_STOP;
        if (g_error_matches(err, HTTP_ERROR, HTTP_ERROR_STOPPED))
            return STEP_AGAIN; /* woken: the heartbeat goes at once */
        double b = retry_wait_s(A->http, A->failures++);
        agent_log("polling for orders failed: %s; again in %.1f s", err->message, b);
        A->next_heartbeat = 0; /* say hello again once it answers */
        sleep_s(A, b);
        return STEP_AGAIN;
    }
    A->failures = 0;
    if (note_failover(A))
        A->next_heartbeat = 0; /* say hello there */
    JsonNode *on = json_object_get_member(answer, "orders");
    JsonArray *orders = on && JSON_NODE_HOLDS_ARRAY(on) ? json_node_get_array(on) : NULL;
    for (guint i = 0; orders && i < json_array_get_length(orders) && !stop_requested(A->stop);
         i++) {
        JsonNode *n = json_array_get_element(orders, i);
        if (JSON_NODE_HOLDS_OBJECT(n))
            carry_out(A, json_node_get_object(n)); /* an event meanwhile waits for the next turn */
        spool_flush(A->spool, upload, A);
    }
    return STEP_ON;
}

int agent_main(const AgentOptions *opt)
{
    g_autoptr(GCancellable) stop = g_cancellable_new();
    g_autoptr(StopSignals) signals = stop_signals_new(stop);
    (void)signals; /* held for its cleanup: clang would call it unused */

    g_autoptr(GError) e = NULL;
    g_autoptr(Spool) spool = spool_open(opt->spool, SPOOL_TTL_S, &e);
    if (!spool) {
        cli_error("iceprobe agent", "%s", e->message);
        return CLI_EXIT_ERROR;
    }
    g_autoptr(Http) http = http_new(opt->controller, opt->token, opt->ca_file, stop);
    Agent A = {.opt = opt, .http = http, .spool = spool, .longpoll_s = 30, .stop = stop};
    g_mutex_init(&A.net_lock);
    agent_log("%s starting: controller %s, spool %s (%u report(s) waiting)", ICEPROBE_VERSION,
              opt->controller, opt->spool, spool_pending(spool));
    guint settle_s = opt->settle_s ? opt->settle_s : SETTLE_DEFAULT_S;
    NetWatch *watch = netwatch_start(settle_s * 1000, on_network_event, &A, &e);
    if (!watch)
        agent_log("not watching the network, its changes will not be reported: %s", e->message);
    g_clear_error(&e);
    while (!stop_requested(stop)) {
        if (spool_pending(spool))
            spool_flush(spool, upload, &A);
        if (note_failover(&A))
            A.next_heartbeat = 0; /* say hello there */
        if (opt->max_runs && A.runs >= opt->max_runs && !spool_pending(spool))
            break;
        Step step = heartbeat_step(&A);
        if (step == STEP_ON)
            step = poll_orders(&A);
        if (step == STEP_STOP)
            break;
    }
    netwatch_free(watch);
    /* Stopping: one last try for what is spooled (a second signal ends it);
     * what is left stays on disk. */
    g_cancellable_reset(stop);
    if (spool_pending(spool)) {
        spool_make_due(spool);
        spool_flush(spool, upload, &A);
    }
    agent_log("stopped; %u report(s) left in the spool%s", spool_pending(spool),
              A.net_event ? ", a network event not delivered" : "");
    netwatch_event_free(A.net_event);
    g_mutex_clear(&A.net_lock);
    return CLI_EXIT_PASS;
}
