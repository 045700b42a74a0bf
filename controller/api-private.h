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

typedef struct {
    const char *method;
    const char *pattern; /* segments; '*' matches one; a trailing ".json" may follow '*' */
    ApiWho who;
    gsize max_body;
    ApiHandler handler;
} ApiRoute;

struct Api {
    const ControllerConfig *config;
    Store *store;
    SignalBoard *board;
    StoreListener *listener; /* a shared store: other controllers' wakes */
    Scheduler *scheduler;
    SoupServer *server;
    GHashTable *waiters; /* key -> GQueue of Waiter */
    GQueue *expiring;    /* every Waiter, swept for its deadline */
    GSource *sweeper;
    guint sweeps;
    GHashTable *seen; /* agent -> gint64*: last-seen times not written yet */
    GSource *seen_flush;
    gint64 started;
    guint64 requests, errors_5xx;
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

/* Long-polls. respond() is called once, when woken or when the time is up
 * (timed_out); it must set the reply. The request's strings are copied. */
typedef void (*WaiterRespond)(ApiRequest *req, gboolean timed_out, gpointer data);
void api_wait(ApiRequest *req, const char *key, guint timeout_s, WaiterRespond respond,
              gpointer data, GDestroyNotify data_free);
void api_wake(Api *api, const char *key);
/* Wakes key's waiters on every controller sharing the store (NOTIFY), or on this
 * one (SQLite). What woke them is committed already. */
void api_announce(Api *api, const char *key);
guint api_waiting(Api *api);
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
