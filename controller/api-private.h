/* Shared by api.c and the handler files (api_agent.c, api_admin.c, export.c,
 * status.c); not part of any other module's interface. */
#pragma once

#include <libsoup/soup.h>

#include "api.h"

typedef enum {
    WHO_ADMIN,
    WHO_AGENT,
    WHO_METRICS, /* public when [auth] metrics_public, else admin */
    WHO_STATUS,  /* public when [auth] status_public, else admin */
} ApiWho;

typedef struct {
    Api *api;
    SoupServerMessage *msg;
    const char *params[2]; /* the '*' segments of the route, in order */
    StoreAgent *agent;     /* the calling agent (WHO_AGENT) */
    const char *body;
    gsize body_len;
    GHashTable *query; /* may be NULL */
} ApiRequest;

typedef void (*ApiHandler)(ApiRequest *req);

/* Counters one server thread writes and /metrics (any thread) reads. */
#define API_COUNTER_ADD(x, n) __atomic_fetch_add(&(x), (guint64)(n), __ATOMIC_RELAXED)
#define API_COUNTER_GET(x)    __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The connections between requests (api_conn.c): kept alive, a client's
 * hang-up closing them (libsoup 3.2 would leak them), parked out of libsoup's
 * hands when idle (no main-loop source each), and counted. Made on the
 * server's thread-default context. */
typedef struct ApiConns ApiConns;
ApiConns *api_conns_new(SoupServer *server, gboolean tls, GError **error);
void api_conns_free(ApiConns *c);
/* The socket of a message's connection (one given back after it was parked has
 * none in libsoup's eyes); NULL if it is gone. */
GSocket *api_conns_socket(ApiConns *c, SoupServerMessage *msg);
guint64 api_conns_accepted(const ApiConns *c); /* since start; with HTTPS, TLS handshakes */
guint64 api_conns_idle(const ApiConns *c);     /* kept alive, between requests, now */
guint64 api_conns_parked(const ApiConns *c);   /* of those, held out of libsoup's hands */
guint64 api_conns_closed_idle(const ApiConns *c);
/* The most layers of libsoup's (SoupIOStream) over a parked connection's own
 * stream; on the server's thread. */
guint api_conns_parked_layers(ApiConns *c);

typedef struct {
    const char *method;
    const char *pattern; /* segments; '*' matches one; a trailing ".json" may follow '*' */
    ApiWho who;
    gsize max_body;
    ApiHandler handler;
} ApiRoute;

/* The hub of the server threads (api_hub.c). */
gboolean api_hub_join(ApiHub *hub, Api *api, gboolean *first, GError **error);
void api_hub_leave(ApiHub *hub, Api *api);
/* What the threads' schedulers share (parsed reports, sides heard). */
SchedulerShared *api_hub_scheduler_shared(ApiHub *hub);
/* A thread's first long-poll of key came (waiting), or its last went. */
void api_hub_track(ApiHub *hub, Api *api, const char *key, gboolean waiting);
/* Wakes key (NULL: everything) in the other threads that hold long-polls of it. */
void api_hub_post(ApiHub *hub, Api *from, const char *key);
typedef struct {
    guint64 waiting, requests, errors_5xx, connections, idle, wakes_received, store_errors;
} ApiTotals;
/* Summed over the hub's threads (hub NULL: api alone), for /metrics. */
void api_hub_totals(ApiHub *hub, Api *api, ApiTotals *t);

struct Api {
    const ControllerConfig *config;
    Store *store;
    ApiHub *hub; /* NULL: the controller's only thread */
    guint hub_index;
    SignalBoard *board;
    StoreListener *listener; /* a shared store: other controllers' wakes */
    Scheduler *scheduler;
    SoupServer *server;
    ApiConns *conns;     /* NULL: libsoup before 3.2, every answer closes its connection */
    GHashTable *waiters; /* key -> GQueue of Waiter */
    GHashTable *reading; /* key -> count: requests reading the store before they wait */
    GQueue *expiring;    /* every Waiter, swept for its deadline */
    GSource *sweeper;
    guint sweeps;
    GHashTable *seen; /* agent -> gint64*: last-seen times not written yet */
    GSource *seen_flush;
    gint64 started;
    guint64 requests, errors_5xx; /* API_COUNTER_* */
    guint64 waiting;              /* API_COUNTER_*: long-polls held */
};

void api_reply_json(ApiRequest *req, guint status, JsonNode *node);
void api_reply_text(ApiRequest *req, guint status, const char *content_type, char *text);
void api_reply_error(ApiRequest *req, guint status, const char *code, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* The reply for an error a handler passes on: its status from one table of
 * (domain, code) (api.c); the store's failures are 503. */
void api_reply_gerror(ApiRequest *req, const GError *e);
/* A query parameter, or NULL. */
const char *api_query(ApiRequest *req, const char *name);

/* Long-polls. ready() answers at once if what the request waits for is there
 * (it sets the reply and returns TRUE); else the request is held, and
 * respond() is called once, when key is woken or when the time is up
 * (timed_out); it must set the reply. The key is followed (the hub: the other
 * threads' wakes of it come here) before ready() reads the store, so a wake
 * that another thread posts after that read is not lost. data is freed either
 * way; the request's strings are copied. */
typedef gboolean (*WaiterReady)(ApiRequest *req, gpointer data);
typedef void (*WaiterRespond)(ApiRequest *req, gboolean timed_out, gpointer data);
void api_wait(ApiRequest *req, const char *key, guint timeout_s, WaiterReady ready,
              WaiterRespond respond, gpointer data, GDestroyNotify data_free);
void api_wake(Api *api, const char *key);
/* Wakes key's waiters on every controller sharing the store (NOTIFY), or on this
 * one (SQLite). What woke them is committed already. */
void api_announce(Api *api, const char *key);
guint api_waiting(Api *api);
/* Every waiter answers now (the listener's connection broke: wakes may be lost). */
void api_wake_all(Api *api);
/* api_wait.c's parts of the Api's life: a key's queue of waiters, freed (its
 * waiters let go), and the store's NOTIFY of a wake (NULL payload: every key). */
void api_waiter_queue_free(gpointer queue);
void api_on_notify(const char *payload, gpointer data);

/* Handlers. */
void api_agent_heartbeat(ApiRequest *req);
void api_agent_orders(ApiRequest *req);
void api_agent_signal_post(ApiRequest *req);
void api_agent_signal_get(ApiRequest *req);
void api_agent_report(ApiRequest *req);
void api_agent_runs_create(ApiRequest *req);
void api_agent_runs_get(ApiRequest *req);
void api_admin_runs_create(ApiRequest *req);
void api_admin_runs_get(ApiRequest *req);
void api_admin_runs_list(ApiRequest *req);
void api_admin_agents_list(ApiRequest *req);
void api_admin_analysis(ApiRequest *req);
void export_metrics(ApiRequest *req);
void status_page(ApiRequest *req);
void status_run_page(ApiRequest *req);
void status_run_json(ApiRequest *req);

/* The document a run has now: the verified result when final, else a pending
 * one with its state (shared by the admin API and the status page). */
JsonNode *api_run_document(const StoreRun *r);
/* The run named by the route's first parameter; NULL with the reply set (404, 503). */
StoreRun *api_run_load(ApiRequest *req);

/* An agent called: its last-seen time is written with the others', every few
 * seconds, in one transaction (not a write per long-poll). */
void api_agent_seen(Api *api, const char *agent, gint64 now);

/* Wake keys. */
char *api_orders_key(const char *agent);
char *api_signal_key(const char *run_id, int side);
