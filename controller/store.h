/* The controller's store: the one door to its database. SQLite (a file, WAL mode,
 * a busy timeout) or PostgreSQL (libpq; shared by several controllers), behind
 * the same functions: the same numbered migrations (schema_version), the same
 * SQL (no AUTOINCREMENT, no INSERT OR, times as integer Unix seconds), prepared
 * statements kept for the store's life, and each change in one transaction. */
#pragma once

#include "iceprobe/result.h"

#define STORE_ERROR (store_error_quark())
GQuark store_error_quark(void);
typedef enum {
    STORE_ERROR_DB,        /* the database failed (its message) */
    STORE_ERROR_NOT_FOUND, /* no such agent or run */
    STORE_ERROR_EXISTS,    /* the name is taken */
    STORE_ERROR_STATE,     /* the run is not in a state that allows this */
    STORE_ERROR_FULL,      /* a run's inbox holds as many signals as it may */
} StoreError;

typedef struct Store Store;

/* A SQLite file (":memory:" for tests), or a PostgreSQL URL (postgresql://...;
 * a password belongs in a passfile, not in the URL). */
Store *store_open(const char *target, GError **error);
void store_close(Store *s);
/* What a controller's stores (one per server thread) share about their
 * database: PostgreSQL that stopped answering one of them is taken for gone
 * by all (each would otherwise hold its thread up to 10 s finding out). */
typedef struct StoreHealth StoreHealth;
StoreHealth *store_health_new(void);
void store_health_unref(StoreHealth *h);
void store_share_health(Store *s, StoreHealth *h);
gboolean store_is_url(const char *target);
/* What the store is, for messages: the file, or the server and database. */
const char *store_describe(const Store *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, store_close)
int store_schema_version(Store *s);
/* Database errors since the store was opened (for /metrics). */
guint64 store_error_count(const Store *s);

/* ---- agents ---- */
typedef struct {
    char *name;
    char **groups;
    gint64 created_at;
    gint64 last_seen; /* 0: never */
    char *version;
    char *interfaces; /* JSON array, as the agent last sent it; NULL if never */
    char *vpn;        /* JSON object: the VPN's facts as it last sent them; NULL: none */
    char *net_event;  /* JSON object: its last network event (heartbeat's network_event); NULL: none */
} StoreAgent;
void store_agent_free(StoreAgent *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreAgent, store_agent_free)
gboolean store_agent_in_group(const StoreAgent *a, const char *group);

gboolean store_agent_add(Store *s, const char *name, const char *const *groups,
                         const char *token_hash, gint64 now, GError **error);
gboolean store_agent_remove(Store *s, const char *name, GError **error);
StoreAgent *store_agent_by_token_hash(Store *s, const char *token_hash, GError **error);
StoreAgent *store_agent_by_name(Store *s, const char *name, GError **error);
GPtrArray *store_agent_list(Store *s, GError **error); /* StoreAgent, by name */
/* The names of the agents in a group, by name (char*). */
GPtrArray *store_agents_in_group(Store *s, const char *group, GError **error);
/* A heartbeat: version and interfaces when given (NULL keeps them); vpn as sent
 * (NULL: the agent has no tunnel now). */
gboolean store_agent_seen(Store *s, const char *name, gint64 now, const char *version,
                          const char *interfaces_json, const char *vpn_json, GError **error);
/* An agent's network event (its id and the object's JSON text): kept, and
 * *is_new set unless the agent sent this one before (a heartbeat retried, or
 * seen by another controller sharing the store). */
gboolean store_agent_network_event(Store *s, const char *name, const char *event_id,
                                   const char *event_json, gboolean *is_new, GError **error);
/* Many agents' last-seen times (name -> gint64* Unix seconds), in one transaction. */
gboolean store_agents_seen(Store *s, GHashTable *seen, GError **error);

/* ---- runs ---- */
typedef enum {
    RUN_PENDING,
    RUN_DISPATCHED, /* one agent took its order */
    RUN_RUNNING,    /* both did */
    RUN_VERIFYING,  /* both reported */
    RUN_DONE,
    RUN_ERROR,
} RunState;
const char *run_state_to_string(RunState s);
gboolean run_state_is_final(RunState s);

typedef struct {
    char *id;
    gint64 seq; /* creation order, from 1 (set by the store) */
    char *profile;
    char *agent[2]; /* side a, side b */
    char *schedule; /* NULL: ad hoc */
    RunState state;
    char *verdict; /* NULL until done */
    gint64 created_at, offered_at, deadline, finished_at;
    gint64 taken_at[2], reported_at[2];
    gint64 heard_at[2]; /* when each side last called about the run; 0: not since taking it */
    char *note;         /* why it ended in error, or a scheduler remark */
    char *result;       /* the verified document (JSON), when final */
    char *trigger;      /* what started it: api, cron, start-up, vpn-up, vpn-down, network-change */
    gint64 catch_up_until; /* it may wait until then for an agent offline at its creation; 0: no */
    char *waited_for;      /* whom it waited for, and since when (set when it first waited) */
} StoreRun;
void store_run_free(StoreRun *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreRun, store_run_free)

gboolean store_run_create(Store *s, const StoreRun *r, GError **error);
StoreRun *store_run_get(Store *s, const char *id, GError **error);
/* Runs not final yet, oldest first (creation order). */
GPtrArray *store_runs_active(Store *s, GError **error);
/* The unfinished runs in which agent has a side, oldest first. */
GPtrArray *store_runs_active_for_agent(Store *s, const char *agent, GError **error);
/* The offered, unreported runs in which agent has a side, oldest first. */
GPtrArray *store_runs_for_agent(Store *s, const char *agent, GError **error);
/* Offers a run to its agents, unless it is offered already or either agent has
 * another run offered and unfinished (*offered, if given, says whether it was). */
gboolean store_run_offer(Store *s, const char *id, gint64 now, gboolean *offered, GError **error);
/* A run no side has taken goes back to waiting (unoffered) for an agent that is
 * offline; waited_for is kept from the first time it waited. */
gboolean store_run_hold(Store *s, const char *id, const char *waited_for, GError **error);
/* Replaces a run's note. */
gboolean store_run_set_note(Store *s, const char *id, const char *note, GError **error);
/* A side called about its run (a signal, a poll, a report): noted unless already
 * noted for this second. */
gboolean store_run_heard(Store *s, const char *id, int side, gint64 now, GError **error);
/* The agent of side takes its order; when both have, the run is running with
 * the given deadline. Taking again is harmless; a run not offered (held back
 * meanwhile) is STORE_ERROR_STATE. */
StoreRun *store_run_take(Store *s, const char *id, int side, gint64 now, gint64 deadline,
                         GError **error);
/* Keeps a side's report; a second report of the same side is a duplicate (kept
 * once, *duplicate set). When both are in, the run is verifying. */
StoreRun *store_run_add_report(Store *s, const char *id, int side, const char *document,
                               Verdict verdict, gint64 now, gboolean *duplicate, GError **error);
/* The report documents of both sides (NULL where missing). */
gboolean store_run_reports(Store *s, const char *id, char **a, char **b, GError **error);
/* Ends a run: its state (done or error), the verified document, its findings and
 * per-path metrics, in one transaction. */
gboolean store_run_finish(Store *s, const char *id, RunState state, const RunResult *result,
                          const char *note, gint64 now, GError **error);

typedef struct {
    const char *profile; /* NULL: any */
    const char *verdict; /* NULL: any; "pending" for unfinished */
    gint64 since;        /* created at or after; 0: any */
    gint64 before_seq;   /* cursor: the page continues below this run's seq; 0: from the top */
    guint limit;
} StoreRunFilter;
GPtrArray *store_runs_page(Store *s, const StoreRunFilter *f, GError **error);

/* ---- history, for /metrics and the status page ---- */
typedef struct {
    char *path;
    char *side; /* "a" or "b" */
    char *verdict;
    char *local_type, *transport, *egress_class;
    gboolean have_metrics;
    double loss_ratio, jitter_ms, rtt_ms, mos;
} StorePathMetrics;
void store_path_metrics_free(StorePathMetrics *m);
GPtrArray *store_path_metrics(Store *s, const char *run_id, GError **error);
/* The distinct finding codes of a run, sorted (char*). */
GPtrArray *store_run_finding_codes(Store *s, const char *run_id, GError **error);
/* The newest final run of each (profile, a, b). */
GPtrArray *store_latest_per_pair(Store *s, GError **error);
/* The newest final runs of one pair, newest first. */
GPtrArray *store_history(Store *s, const char *profile, const char *a, const char *b, guint limit,
                         GError **error);
/* Finished runs by verdict, and unfinished runs by state (name -> count). */
GHashTable *store_count_verdicts(Store *s, GError **error);
GHashTable *store_count_states(Store *s, GError **error);
/* Deletes at most limit final runs that finished before cutoff (the oldest
 * first), with their reports, findings and metrics; store_count_verdicts()
 * goes on counting them. *deleted: how many went (fewer than limit: no more). */
gboolean store_prune(Store *s, gint64 cutoff, guint limit, guint *deleted, GError **error);

/* ---- schedules ---- */
/* When the schedule last fired (0: never). */
gboolean store_schedule_last_fire(Store *s, const char *name, gint64 *out, GError **error);
gboolean store_schedule_set_last_fire(Store *s, const char *name, gint64 when, GError **error);
/* Claims a firing: sets last fire to when only if it is still seen (0: the
 * schedule has never fired). *won says whether this caller got it: of several
 * controllers sharing the store, one fires each time. */
gboolean store_schedule_claim(Store *s, const char *name, gint64 seen, gint64 when, gboolean *won,
                              GError **error);

/* Claims a network-event firing of a schedule for an agent: *won unless it
 * fired for that agent less than min_interval_s before now (here or on another
 * controller sharing the store). */
gboolean store_event_claim(Store *s, const char *schedule, const char *agent, gint64 now,
                           guint min_interval_s, gboolean *won, GError **error);

/* ---- signals between a run's two agents ---- */
/* Posts body (JSON text) to side `to` of a run that has not ended
 * (STORE_ERROR_STATE otherwise), as its next message; *seq its number, from 1.
 * STORE_ERROR_FULL when the inbox holds max already. A post whose body is the
 * inbox's last message again (an agent retrying a post whose answer it lost) is
 * that message: the same seq, *duplicate set. */
gboolean store_signal_post(Store *s, const char *run_id, int to, const char *body, guint max,
                           guint *seq, gboolean *duplicate, GError **error);
/* The messages for side `to` numbered above after, as a JSON array text of
 * {"seq": n, "message": {...}}; their count in *n. The run's signals are deleted
 * when it ends (store_run_finish). */
char *store_signal_fetch(Store *s, const char *run_id, int to, guint after, guint *n,
                         GError **error);

/* ---- notifications between controllers sharing a PostgreSQL store ---- */
/* Whether other controllers can share this store (PostgreSQL). */
gboolean store_is_shared(const Store *s);
/* Tells every listening controller (this one too) payload, once what was written
 * before is committed: PostgreSQL's NOTIFY. Only for a shared store. */
gboolean store_notify(Store *s, const char *payload, GError **error);

typedef struct StoreListener StoreListener;
/* payload: what store_notify sent; NULL when the listener's connection broke,
 * and again when it is back: notifications may have been missed between. */
typedef void (*StoreNotifyFn)(const char *payload, gpointer user_data);
/* Listens, on a connection of its own watched by the thread-default main
 * context, and reconnects by itself (every second) if it breaks. */
StoreListener *store_listen(Store *s, StoreNotifyFn fn, gpointer user_data, GError **error);
void store_listener_free(StoreListener *l);
/* Notifications received (for /metrics). */
guint64 store_listener_received(const StoreListener *l);
