/* The scheduler: runs from cron schedules and from the API, group expansion into
 * pairs, one run at a time per agent (in creation order), orders handed to the
 * agents, deadlines, and the end of every run (verified, or error with
 * AGENT_OFFLINE / RUN_TIMEOUT). Time comes from an injectable clock, so the
 * tests can walk it through month ends and DST changes.
 *
 * A run is offered to its agents when it is the oldest unfinished run of both
 * (passing over runs that wait for an absent agent: [schedule.NAME] catch_up_s),
 * and neither has another run offered (the store keeps that, whichever
 * controller offers). Runs form one total order (created_at, id), so the
 * oldest unfinished run of all is always offerable, or waits for at most its
 * catch_up_s: nothing waits for ever. An offered run must be taken by both
 * agents within order_timeout_s (AGENT_OFFLINE; a catch-up run neither took
 * waits again), then reported by its deadline: setup_s plus its paths'
 * streams (RUN_TIMEOUT). Runs also come from agents' network events
 * (scheduler_network_event). */
#pragma once

#include "config.h"
#include "signalling.h"
#include "store.h"

typedef gint64 (*SchedulerClock)(gpointer user_data); /* Unix seconds */

#define SCHEDULER_N_PAIRED_PATHS 3

typedef struct Scheduler Scheduler;

typedef struct {
    /* An agent has new orders (a run was offered to it). */
    void (*agent_work)(const char *agent, gpointer user_data);
    /* A run ended (done or error). */
    void (*run_ended)(const char *run_id, gpointer user_data);
    gpointer user_data;
} SchedulerHooks;

/* What a controller's server threads' schedulers share (scheduler_share): the
 * reports parsed on arrival, kept until their run is verified (a run whose two
 * reports came to two threads is verified without parsing them again), and
 * when each side of a run was last heard (pruned at each tick of the thread
 * that ticks, whichever thread heard it). */
typedef struct SchedulerShared SchedulerShared;
SchedulerShared *scheduler_shared_new(void);
SchedulerShared *scheduler_shared_ref(SchedulerShared *sh);
void scheduler_shared_unref(SchedulerShared *sh);

Scheduler *scheduler_new(const ControllerConfig *config, Store *store, SignalBoard *board,
                         GTimeZone *tz, SchedulerClock clock, gpointer clock_data,
                         const SchedulerHooks *hooks);
void scheduler_free(Scheduler *s);
/* From now on, s keeps what it parses and hears in sh (and finds there what
 * another scheduler sharing sh did). */
void scheduler_share(Scheduler *s, SchedulerShared *sh);
/* The sides noted as heard (the table pruned at each tick). */
guint scheduler_heard_count(Scheduler *s);
/* Reports parsed on arrival and kept for their run's verification (tests). */
guint scheduler_parsed_count(Scheduler *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Scheduler, scheduler_free)

/* At start-up: a schedule missed while the controller was down runs once now,
 * and the log says so. Then ticks every second on the thread-default context. */
gboolean scheduler_start(Scheduler *s, GError **error);
/* One pass: schedules due, runs to offer, deadlines. Exposed for tests. */
void scheduler_tick(Scheduler *s);

#define SCHEDULER_ERROR (scheduler_error_quark())
GQuark scheduler_error_quark(void);
typedef enum {
    SCHEDULER_ERROR_FIELD,     /* a request names something unknown (message names the field) */
    SCHEDULER_ERROR_FORBIDDEN, /* an agent acting outside its runs */
    SCHEDULER_ERROR_NOT_FOUND,
    SCHEDULER_ERROR_CONFLICT, /* the run ended, or is not at that step */
    SCHEDULER_ERROR_STORE,
} SchedulerError;

/* New runs of profile between a and b (agent names or group:NAME), one per pair,
 * never an agent with itself. Their ids, oldest first. */
GPtrArray *scheduler_create_runs(Scheduler *s, const char *profile, const char *a, const char *b,
                                 const char *schedule, const char *note, GError **error);

/* An agent reported a network event (kind vpn-up, vpn-down or network-change;
 * summary: what changed, for the runs' notes): every schedule whose `on` fires
 * on it and has the agent on a side gets runs of that agent's pairs, unless it
 * fired for the agent within its min_interval_s. How many runs were created. */
guint scheduler_network_event(Scheduler *s, const char *agent, const char *kind,
                              const char *summary);

/* The orders for an agent: offered runs it has not reported yet (an order taken
 * but lost on the way is handed out again). Taking marks the run. A JSON array. */
JsonArray *scheduler_take_orders(Scheduler *s, const char *agent, GError **error);
/* Which side of run_id the agent is (0 or 1); FORBIDDEN if none, NOT_FOUND. */
int scheduler_side_of(Scheduler *s, const char *run_id, const char *agent, GError **error);
/* An agent's report for its side. Idempotent: a re-sent report is acknowledged
 * (*duplicate) and stored once. When both are in, the run is verified. */
gboolean scheduler_report(Scheduler *s, const char *run_id, const char *agent, const char *document,
                          gsize len, gboolean *duplicate, GError **error);
gint64 scheduler_now(Scheduler *s);
