#include "scheduler.h"

#include "iceprobe/protocol.h"

#include <string.h>

#include "iceprobe/turncred.h"
#include "cron.h"
#include "verify.h"

G_DEFINE_QUARK(iceprobe - scheduler - error - quark, scheduler_error)

/* TURN credentials outlive the run's deadline by this much. */
#define TURN_MARGIN_S 300

typedef struct {
    const ScheduleConfig *config;
    CronSchedule *cron;
} Schedule;

struct Scheduler {
    const ControllerConfig *config;
    Store *store;
    SignalBoard *board;
    GTimeZone *tz;
    SchedulerClock clock;
    gpointer clock_data;
    SchedulerHooks hooks;
    GArray *schedules; /* Schedule */
    GSource *timer;
    /* What a controller's server threads share: the reports parsed on arrival,
     * and when each side was last heard (SchedulerShared). */
    SchedulerShared *shared;
    /* When this controller started, or its store answered again after an
     * outage: the agents could not be heard before, and get a grace. */
    gint64 started;
    gboolean store_down;
    gint64 prune_next; /* when [scheduler] history_days next looks for old runs */
    GHashTable *presence; /* agent -> Presence, for the second presence_at */
    gint64 presence_at;
};

/* A controller that restarted gives the agents this long to find it again. */
#define RESTART_GRACE_S 30
/* history_days: old runs go a batch a tick (a short hold on the main loop
 * each second) until none is left, then the store is looked at again hourly. */
#define PRUNE_BATCH   500
#define PRUNE_EVERY_S 3600

struct SchedulerShared {
    gint ref;
    GMutex lock; /* both tables */
    /* Reports parsed on arrival, "<run id>\n<side>" -> RunResult, until their
     * run is verified: verify needs no second parse (the two reports may come
     * to two threads). A restart loses only the cache. A run verified by
     * another controller sharing the store never comes back here, so what is
     * older than PARSED_KEEP_S goes at a tick (verify reads it back from the
     * store if it is wanted after all). */
    GHashTable *parsed; /* key -> Parsed */
    /* When each side of a running run was last heard (signals, report), same
     * keys -> gint64: an agent killed mid-run is noticed in [scheduler]
     * silence_s, not at the deadline. What counts is in the store
     * (runs.a_heard_at, b_heard_at), which every controller sharing it reads;
     * this only keeps the write to once a second per side, so what is older
     * than the second goes at each tick (a run ended by another thread, or
     * another controller, leaves nothing behind). */
    GHashTable *heard;
};

/* Far beyond any run's deadline: a report this old is of a run that ended. */
#define PARSED_KEEP_S 900

typedef struct {
    RunResult *result;
    gint64 at; /* the scheduler's clock, seconds */
} Parsed;

static void parsed_free(gpointer p)
{
    Parsed *x = p;
    run_result_free(x->result);
    g_free(x);
}

SchedulerShared *scheduler_shared_new(void)
{
    SchedulerShared *sh = g_new0(SchedulerShared, 1);
    sh->ref = 1;
    g_mutex_init(&sh->lock);
    sh->parsed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, parsed_free);
    sh->heard = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return sh;
}

SchedulerShared *scheduler_shared_ref(SchedulerShared *sh)
{
    g_atomic_int_inc(&sh->ref);
    return sh;
}

void scheduler_shared_unref(SchedulerShared *sh)
{
    if (!sh || !g_atomic_int_dec_and_test(&sh->ref))
        return;
    g_hash_table_unref(sh->parsed);
    g_hash_table_unref(sh->heard);
    g_mutex_clear(&sh->lock);
    g_free(sh);
}

void scheduler_share(Scheduler *s, SchedulerShared *sh)
{
    scheduler_shared_unref(s->shared);
    s->shared = scheduler_shared_ref(sh);
}

/* key (taken) -> result (taken) parsed at now, or NULL (result NULL) to
 * forget key. */
static void reports_put(SchedulerShared *sh, char *key, RunResult *result, gint64 now)
{
    g_mutex_lock(&sh->lock);
    if (result) {
        Parsed *x = g_new(Parsed, 1);
        x->result = result;
        x->at = now;
        g_hash_table_replace(sh->parsed, key, x);
    } else
        g_hash_table_remove(sh->parsed, key);
    g_mutex_unlock(&sh->lock);
    if (!result)
        g_free(key);
}

/* The result kept under key, taken out of the cache; NULL if none. */
static RunResult *reports_take(SchedulerShared *sh, const char *key)
{
    gpointer k = NULL, v = NULL;
    g_mutex_lock(&sh->lock);
    gboolean found = g_hash_table_steal_extended(sh->parsed, key, &k, &v);
    g_mutex_unlock(&sh->lock);
    g_free(k);
    if (!found)
        return NULL;
    Parsed *x = v;
    RunResult *r = x->result;
    g_free(x);
    return r;
}

static gboolean parsed_before(gpointer key, gpointer value, gpointer cutoff)
{
    return ((const Parsed *)value)->at < *(const gint64 *)cutoff;
}

/* Reports of runs verified elsewhere (see SchedulerShared). */
static void reports_prune(SchedulerShared *sh, gint64 now)
{
    gint64 cutoff = now - PARSED_KEEP_S;
    g_mutex_lock(&sh->lock);
    g_hash_table_foreach_remove(sh->parsed, parsed_before, &cutoff);
    g_mutex_unlock(&sh->lock);
}

guint scheduler_parsed_count(Scheduler *s)
{
    g_mutex_lock(&s->shared->lock);
    guint n = g_hash_table_size(s->shared->parsed);
    g_mutex_unlock(&s->shared->lock);
    return n;
}

/* TRUE the first time key is heard in the second now (it is noted). */
static gboolean heard_first_in(SchedulerShared *sh, const char *key, gint64 now)
{
    g_mutex_lock(&sh->lock);
    const gint64 *noted = g_hash_table_lookup(sh->heard, key);
    gboolean first = !noted || *noted < now;
    if (first) {
        gint64 *when = g_new(gint64, 1);
        *when = now;
        g_hash_table_replace(sh->heard, g_strdup(key), when);
    }
    g_mutex_unlock(&sh->lock);
    return first;
}

static void heard_forget(SchedulerShared *sh, const char *key)
{
    g_mutex_lock(&sh->lock);
    g_hash_table_remove(sh->heard, key);
    g_mutex_unlock(&sh->lock);
}

static gboolean heard_before(gpointer key, gpointer value, gpointer now)
{
    return *(const gint64 *)value < *(const gint64 *)now;
}

/* What is older than the second now says nothing any more. */
static void heard_prune(SchedulerShared *sh, gint64 now)
{
    g_mutex_lock(&sh->lock);
    g_hash_table_foreach_remove(sh->heard, heard_before, &now);
    g_mutex_unlock(&sh->lock);
}

guint scheduler_heard_count(Scheduler *s)
{
    g_mutex_lock(&s->shared->lock);
    guint n = g_hash_table_size(s->shared->heard);
    g_mutex_unlock(&s->shared->lock);
    return n;
}

static char *parsed_key(const char *run_id, int side)
{
    return g_strdup_printf("%s\n%d", run_id, side);
}

static void schedule_clear(gpointer p)
{
    cron_free(((Schedule *)p)->cron);
}

Scheduler *scheduler_new(const ControllerConfig *config, Store *store, SignalBoard *board,
                         GTimeZone *tz, SchedulerClock clock, gpointer clock_data,
                         const SchedulerHooks *hooks)
{
    g_return_val_if_fail(config && store && board && clock, NULL);
    Scheduler *s = g_new0(Scheduler, 1);
    s->config = config;
    s->store = store;
    s->board = board;
    s->tz = tz ? g_time_zone_ref(tz) : g_time_zone_new_local();
    s->clock = clock;
    s->clock_data = clock_data;
    if (hooks)
        s->hooks = *hooks;
    s->schedules = g_array_new(FALSE, TRUE, sizeof(Schedule));
    s->shared = scheduler_shared_new();
    s->presence = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    s->started = clock(clock_data);
    g_array_set_clear_func(s->schedules, schedule_clear);
    return s;
}

void scheduler_free(Scheduler *s)
{
    if (!s)
        return;
    if (s->timer) {
        g_source_destroy(s->timer);
        g_source_unref(s->timer);
    }
    g_array_unref(s->schedules);
    scheduler_shared_unref(s->shared);
    g_hash_table_unref(s->presence);
    g_time_zone_unref(s->tz);
    g_free(s);
}

gint64 scheduler_now(Scheduler *s)
{
    return s->clock(s->clock_data);
}

static char *format_time(GTimeZone *tz, gint64 t)
{
    g_autoptr(GDateTime) u = g_date_time_new_from_unix_utc(t);
    g_autoptr(GDateTime) l = g_date_time_to_timezone(u, tz);
    return g_date_time_format(l, "%Y-%m-%d %H:%M %Z");
}

/* ---- creating runs ---- */

/* The agents named by a side of a request: one name, or every member of a group. */
static GPtrArray *expand(Scheduler *s, const char *field, const char *spec, GError **error)
{
    g_autoptr(GError) e = NULL;
    if (g_str_has_prefix(spec, "group:")) {
        const char *group = spec + strlen("group:");
        g_autoptr(GPtrArray) names = store_agents_in_group(s->store, group, &e);
        if (!names) {
            g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_STORE, "%s", e->message);
            return NULL;
        }
        if (names->len == 0) {
            g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD,
                        "%s: no agent is in group '%s'", field, group);
            return NULL;
        }
        return g_steal_pointer(&names);
    }
    g_autoptr(StoreAgent) a = store_agent_by_name(s->store, spec, &e);
    if (!a) {
        if (g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND))
            g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD,
                        "%s: no agent named '%s' (give an agent's name or group:NAME)", field,
                        spec);
        else
            g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_STORE, "%s", e->message);
        return NULL;
    }
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(out, g_steal_pointer(&a->name));
    return out;
}

/* ---- agents present, runs that wait for them ---- */

/* An idle agent renews its long-poll at least every longpoll_s; this much more
 * covers a slow round trip and a retry. */
#define PRESENT_MARGIN_S 15

/* Whether an agent is present now: it called within a long-poll and the margin,
 * or it is carrying out a run it took. *last_seen: when it last called (0:
 * never). */
static gboolean agent_present_now(Scheduler *s, const char *name, gint64 now, gint64 *last_seen)
{
    *last_seen = 0;
    g_autoptr(StoreAgent) a = store_agent_by_name(s->store, name, NULL);
    if (!a)
        return FALSE;
    *last_seen = a->last_seen;
    if (a->last_seen && now - a->last_seen <= (gint64)s->config->longpoll_s + PRESENT_MARGIN_S)
        return TRUE;
    g_autoptr(GPtrArray) mine = store_runs_active_for_agent(s->store, name, NULL);
    for (guint i = 0; mine && i < mine->len; i++) {
        const StoreRun *r = mine->pdata[i];
        int side = strcmp(r->agent[0], name) == 0 ? 0 : 1;
        if (r->taken_at[side] && !r->reported_at[side])
            return TRUE;
    }
    return FALSE;
}

/* Presence asked once a second per agent: a firing of a group's schedule asks
 * about the same agents for each of its runs. */
typedef struct {
    gboolean present;
    gint64 last_seen;
} Presence;

static gboolean agent_present(Scheduler *s, const char *name, gint64 now, gint64 *last_seen)
{
    if (s->presence_at != now) {
        g_hash_table_remove_all(s->presence);
        s->presence_at = now;
    }
    Presence *p = g_hash_table_lookup(s->presence, name);
    if (!p) {
        p = g_new0(Presence, 1);
        p->present = agent_present_now(s, name, now, &p->last_seen);
        g_hash_table_insert(s->presence, g_strdup(name), p);
    }
    *last_seen = p->last_seen;
    return p->present;
}

/* The agents of a run that are absent now, as "NAME (last seen WHEN)" joined,
 * their names in late[] (NULL-terminated); NULL when both are present. */
static char *absent_agents(Scheduler *s, const StoreRun *r, gint64 now, const char *late[3])
{
    GString *g = NULL;
    int n = 0;
    for (int k = 0; k < 2; k++) {
        gint64 seen = 0;
        if (agent_present(s, r->agent[k], now, &seen))
            continue;
        if (!g)
            g = g_string_new(NULL);
        else
            g_string_append(g, " and ");
        g_autofree char *when = seen ? format_time(s->tz, seen) : g_strdup("never");
        g_string_append_printf(g, "%s (offline, last seen %s)", r->agent[k], when);
        if (late)
            late[n++] = r->agent[k];
    }
    if (late)
        late[n] = NULL;
    return g ? g_string_free(g, FALSE) : NULL;
}

/* A run that waits: one of [schedule.NAME] catch_up_s, not offered, with an
 * agent absent. Its agents' other runs go on meanwhile. */
static gboolean run_waits(Scheduler *s, const StoreRun *r, gint64 now)
{
    if (!r->catch_up_until || r->offered_at)
        return FALSE;
    g_autofree char *absent = absent_agents(s, r, now, NULL);
    return absent != NULL;
}

/* Whether run may be offered as far as agent is concerned: no other run of its
 * is offered, and every older one is waiting for an absent agent. */
static gboolean offerable_for(Scheduler *s, const StoreRun *run, const char *agent, gint64 now)
{
    g_autoptr(GPtrArray) mine = store_runs_active_for_agent(s->store, agent, NULL);
    if (!mine)
        return FALSE;
    gboolean older = TRUE;
    for (guint i = 0; i < mine->len; i++) {
        const StoreRun *r = mine->pdata[i];
        if (strcmp(r->id, run->id) == 0) {
            older = FALSE;
            continue;
        }
        if (r->offered_at || (older && !run_waits(s, r, now)))
            return FALSE;
    }
    return !older; /* the run is among them */
}

/* The run is offered now; one that waited for an absent agent says so in its
 * note (with what its note said before). */
static void offer_run(Scheduler *s, const StoreRun *run, gint64 now)
{
    g_autoptr(GError) e = NULL;
    gboolean offered = FALSE;
    if (!store_run_offer(s->store, run->id, now, &offered, &e)) {
        g_warning("run %s: %s", run->id, e->message);
        return;
    }
    if (!offered) /* offered already, or one of its agents has another (another controller) */
        return;
    if (run->waited_for && !g_str_has_prefix(run->note ? run->note : "", "ran late: ")) {
        g_autofree char *late = g_strdup_printf(
            "ran late: it waited for %s; it started %" G_GINT64_FORMAT
            " s after it was created, once its agents were present ([schedule.%s] catch_up_s)",
            run->waited_for, now - run->created_at, run->schedule ? run->schedule : "?");
        g_autofree char *note =
            run->note ? g_strdup_printf("%s; %s", late, run->note) : g_strdup(late);
        if (!store_run_set_note(s->store, run->id, note, &e))
            g_warning("run %s: %s", run->id, e->message);
        g_message("run %s: %s", run->id, late);
    }
    if (s->hooks.agent_work) {
        for (int k = 0; k < 2; k++)
            s->hooks.agent_work(run->agent[k], s->hooks.user_data);
    }
}

/* A run of catch_up_s with an agent absent waits for it (once noted), or ends
 * AGENT_OFFLINE when its time to catch up has passed. */
static gboolean fail_run(Scheduler *s, const StoreRun *run, const char *code,
                         const char *const *agents, const char *message, GError **error);
static void hold_or_end(Scheduler *s, const StoreRun *run, const char *absent,
                        const char *const *late, gint64 now)
{
    g_autoptr(GError) e = NULL;
    if (now >= run->catch_up_until) {
        g_autofree char *msg = g_strdup_printf(
            "Run %s waited %" G_GINT64_FORMAT " s ([schedule.%s] catch_up_s) for %s, "
            "which did not come back.",
            run->id, run->catch_up_until - run->created_at, run->schedule ? run->schedule : "?",
            absent);
        if (!fail_run(s, run, "AGENT_OFFLINE", late, msg, &e))
            g_warning("run %s: %s", run->id, e->message);
        return;
    }
    if (run->waited_for && !run->offered_at)
        return; /* noted already */
    if (!store_run_hold(s->store, run->id, absent, &e)) {
        g_warning("run %s: %s", run->id, e->message);
        return;
    }
    g_autofree char *until = format_time(s->tz, run->catch_up_until);
    g_message("run %s waits until %s for %s", run->id, until, absent);
}

/* Offers run to its agents if it is the oldest unfinished run of both that does
 * not wait for an absent agent, and nothing else of theirs is offered. */
static void try_offer(Scheduler *s, const StoreRun *run, gint64 now)
{
    if (run->offered_at)
        return;
    for (int k = 0; k < 2; k++) {
        if (!offerable_for(s, run, run->agent[k], now))
            return;
    }
    if (run->catch_up_until) {
        const char *late[3];
        g_autofree char *absent = absent_agents(s, run, now, late);
        if (absent) {
            hold_or_end(s, run, absent, late, now);
            return;
        }
    }
    offer_run(s, run, now);
}

/* After a run of agent ended: its next run may start. */
static void offer_next(Scheduler *s, const char *agent, gint64 now)
{
    g_autoptr(GPtrArray) mine = store_runs_active_for_agent(s->store, agent, NULL);
    for (guint i = 0; mine && i < mine->len; i++) {
        const StoreRun *r = mine->pdata[i];
        if (r->offered_at)
            return;
        if (!run_waits(s, r, now)) {
            try_offer(s, r, now);
            return;
        }
    }
}

/* ---- runs from a request ---- */

/* Where runs come from: their schedule (NULL: ad hoc), what started them, a
 * note, and until when they may wait for an absent agent (0: they do not). */
typedef struct {
    const char *profile, *schedule, *trigger, *note;
    gint64 catch_up_until;
} RunOrigin;

/* A run of this schedule and pair already waits for an absent agent: a later
 * firing is the same catch-up, not another run. */
static gboolean waiting_already(Scheduler *s, const RunOrigin *o, const char *x, const char *y)
{
    if (!o->schedule || !o->catch_up_until)
        return FALSE;
    g_autoptr(GPtrArray) mine = store_runs_active_for_agent(s->store, x, NULL);
    for (guint i = 0; mine && i < mine->len; i++) {
        const StoreRun *r = mine->pdata[i];
        if (!r->offered_at && r->catch_up_until && g_strcmp0(r->schedule, o->schedule) == 0 &&
            ((strcmp(r->agent[0], x) == 0 && strcmp(r->agent[1], y) == 0) ||
             (strcmp(r->agent[0], y) == 0 && strcmp(r->agent[1], x) == 0)))
            return TRUE;
    }
    return FALSE;
}

/* Runs for every pair of as x bs (only those with agent `only` when given),
 * each pair once, never an agent with itself; *pairs counts the pairs there
 * were (a pair whose catch-up run waits already gets none). */
static GPtrArray *create_pairs(Scheduler *s, const RunOrigin *o, GPtrArray *as, GPtrArray *bs,
                               const char *only, guint *pairs, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) e = NULL;
    gint64 now = scheduler_now(s);
    *pairs = 0;
    for (guint i = 0; i < as->len; i++) {
        for (guint j = 0; j < bs->len; j++) {
            const char *x = as->pdata[i], *y = bs->pdata[j];
            if (strcmp(x, y) == 0 || (only && strcmp(x, only) != 0 && strcmp(y, only) != 0))
                continue;
            const char *lo = strcmp(x, y) < 0 ? x : y, *hi = lo == x ? y : x;
            g_autofree char *key = g_strdup_printf("%s\n%s", lo, hi);
            if (g_hash_table_contains(seen, key))
                continue;
            g_hash_table_add(seen, g_steal_pointer(&key));
            (*pairs)++;
            if (waiting_already(s, o, x, y)) {
                g_message("schedule %s: the run of %s and %s waiting for its agent stands for "
                          "this firing too",
                          o->schedule, x, y);
                continue;
            }
            g_autofree char *id = g_uuid_string_random();
            StoreRun r = {.id = id,
                          .profile = (char *)o->profile,
                          .agent = {(char *)x, (char *)y},
                          .schedule = (char *)o->schedule,
                          .created_at = now,
                          .note = (char *)o->note,
                          .trigger = (char *)o->trigger,
                          .catch_up_until = o->catch_up_until};
            if (!store_run_create(s->store, &r, &e)) {
                g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_STORE, "%s", e->message);
                return NULL;
            }
            g_ptr_array_add(ids, g_steal_pointer(&id));
        }
    }
    /* Offer what can start now (each run's agents, in creation order). */
    for (guint i = 0; i < ids->len; i++) {
        g_autoptr(StoreRun) r = store_run_get(s->store, ids->pdata[i], NULL);
        if (r)
            try_offer(s, r, now);
    }
    return g_steal_pointer(&ids);
}

static GPtrArray *create_runs(Scheduler *s, const RunOrigin *o, const char *a, const char *b,
                              const char *only, GError **error)
{
    g_return_val_if_fail(s && o->profile && a && b, NULL);
    if (!config_profile(s->config, o->profile)) {
        g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD, "profile: no profile named '%s'",
                    o->profile);
        return NULL;
    }
    g_autoptr(GPtrArray) as = expand(s, "a", a, error);
    if (!as)
        return NULL;
    g_autoptr(GPtrArray) bs = expand(s, "b", b, error);
    if (!bs)
        return NULL;
    guint pairs = 0;
    g_autoptr(GPtrArray) ids = create_pairs(s, o, as, bs, only, &pairs, error);
    if (ids && pairs == 0) {
        if (only)
            g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD,
                        "'%s' and '%s' leave no pair with %s", a, b, only);
        else
            g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD,
                        "b: '%s' and '%s' leave no pair of two different agents", a, b);
        return NULL;
    }
    return g_steal_pointer(&ids);
}

GPtrArray *scheduler_create_runs(Scheduler *s, const char *profile, const char *a, const char *b,
                                 const char *schedule, const char *note, GError **error)
{
    RunOrigin o = {profile, schedule, schedule ? "cron" : "api", note, 0};
    return create_runs(s, &o, a, b, NULL, error);
}

/* ---- ending runs ---- */

static VerifyRun verify_run_of(const StoreRun *r)
{
    VerifyRun v = {r->id, r->profile, {r->agent[0], r->agent[1]}, r->created_at};
    return v;
}

/* A run ended: its mailbox goes, and its agents' next runs are offered now
 * rather than at the next tick. */
static void ended(Scheduler *s, const StoreRun *run)
{
    for (int k = 0; k < 2; k++) {
        g_autofree char *key = parsed_key(run->id, k);
        reports_put(s->shared, g_strdup(key), NULL, 0);
        heard_forget(s->shared, key);
    }
    signal_close(s->board, run->id);
    if (s->hooks.run_ended)
        s->hooks.run_ended(run->id, s->hooks.user_data);
    for (int k = 0; k < 2; k++)
        offer_next(s, run->agent[k], scheduler_now(s));
}

/* The run was ended already: by another controller sharing the store, which
 * enforced the same deadline or verified the same reports first. */
static gboolean ended_elsewhere(const GError *e)
{
    if (!g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE))
        return FALSE;
    g_debug("%s (ended by another controller)", e->message);
    return TRUE;
}

/* Ends a run now with verdict error (code AGENT_OFFLINE or RUN_TIMEOUT; NULL:
 * no finding, the message is the run's error). */
static gboolean fail_run(Scheduler *s, const StoreRun *run, const char *code,
                         const char *const *agents, const char *message, GError **error)
{
    VerifyRun v = verify_run_of(run);
    g_autoptr(RunResult) r = verify_failed_run(&v, code, agents, message);
    g_autoptr(GError) e = NULL;
    if (!store_run_finish(s->store, run->id, RUN_ERROR, r, message, scheduler_now(s), &e)) {
        if (ended_elsewhere(e)) {
            ended(s, run); /* what this controller held for it goes too */
            return TRUE;
        }
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    g_message("run %s (%s, %s and %s) ended in error: %s: %s", run->id, run->profile, run->agent[0],
              run->agent[1], code ? code : "-", message);
    ended(s, run);
    return TRUE;
}

/* A side's report: from the cache. */
static RunResult *take_report(Scheduler *s, const char *run_id, int side)
{
    g_autofree char *key = parsed_key(run_id, side);
    return reports_take(s->shared, key);
}

static void verify_and_finish(Scheduler *s, const StoreRun *run)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(RunResult) rep_a = take_report(s, run->id, 0);
    g_autoptr(RunResult) rep_b = take_report(s, run->id, 1);
    /* Not cached (parsed before a restart): read back from the store. */
    if (!rep_a || !rep_b) {
        g_autofree char *doc_a = NULL, *doc_b = NULL;
        if (!store_run_reports(s->store, run->id, &doc_a, &doc_b, &e)) {
            g_warning("run %s: %s", run->id, e->message);
            return;
        }
        if (!rep_a && doc_a)
            rep_a = run_result_from_json(doc_a, strlen(doc_a), NULL);
        if (!rep_b && doc_b)
            rep_b = run_result_from_json(doc_b, strlen(doc_b), NULL);
    }
    const ControllerProfile *cp = config_profile(s->config, run->profile);
    VerifyRun v = verify_run_of(run);
    g_autoptr(RunResult) r = NULL;
    if (cp) {
        r = verify_paired(&v, cp->profile, rep_a, rep_b);
    } else {
        r = verify_failed_run(&v, "RUN_TIMEOUT", NULL,
                              "The run's profile is no longer configured.");
    }
    if (!store_run_finish(s->store, run->id, r->error ? RUN_ERROR : RUN_DONE, r, NULL,
                          scheduler_now(s), &e)) {
        if (ended_elsewhere(e))
            ended(s, run);
        else
            g_warning("run %s: %s", run->id, e->message);
        return;
    }
    g_message("run %s (%s, %s and %s): %s", run->id, run->profile, run->agent[0], run->agent[1],
              verdict_to_string(r->verdict));
    ended(s, run);
}

/* ---- orders ---- */

static guint run_duration_s(Scheduler *s, const StoreRun *run)
{
    const ControllerProfile *cp = config_profile(s->config, run->profile);
    guint stream = cp ? cp->profile->stream.duration_s : 10;
    return s->config->setup_s + SCHEDULER_N_PAIRED_PATHS * stream;
}

/* The TURN credentials of a run's order: the MRAS set the controller's files
 * hold now (ms-turn; *expires when the answer says), or TURN REST ones named
 * after the run. */
static gboolean order_credentials(Scheduler *s, const StoreRun *run, guint ttl, gint64 now,
                                  TurnCredentials *tc, gint64 *expires, GError **error)
{
    const ControllerProfile *cp = config_profile(s->config, run->profile);
    *expires = 0;
    if (cp && cp->profile->edge.ms_turn)
        return config_mras_read(s->config, tc, expires, error);
    /* "<expiry>:<run id>" */
    if (s->config->turn_secret && turncred_make(s->config->turn_secret, run->id, now, ttl, tc))
        return TRUE;
    g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_STORE, "no TURN credentials for %s",
                run->profile);
    return FALSE;
}

static JsonObject *order_for(Scheduler *s, const StoreRun *run, int side, gint64 now,
                             const TurnCredentials *tc, gint64 expires)
{
    const ControllerProfile *cp = config_profile(s->config, run->profile);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "run_id", run->id);
    json_object_set_string_member(o, "side", side ? "b" : "a");
    json_object_set_string_member(o, "peer", run->agent[!side]);
    json_object_set_boolean_member(o, "controlling", side == 0);
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "name", run->profile);
    json_object_set_string_member(p, "text", cp ? cp->text : "");
    if (cp && cp->ca_pem)
        json_object_set_string_member(p, "edge_ca_pem", cp->ca_pem);
    json_object_set_object_member(o, "profile", p);
    JsonArray *paths = json_array_new();
    for (const char *const *n = protocol_paired_paths; *n; n++)
        json_array_add_string_element(paths, *n);
    json_object_set_array_member(o, "paths", paths);
    json_object_set_int_member(o, "duration_s", cp ? cp->profile->stream.duration_s : 10);
    gint64 deadline = run->deadline ? run->deadline : now + run_duration_s(s, run);
    json_object_set_int_member(o, "deadline", deadline);
    guint ttl = (guint)(deadline - now) + s->config->order_timeout_s + TURN_MARGIN_S;
    JsonObject *t = json_object_new();
    json_object_set_string_member(t, "username", tc->username);
    json_object_set_string_member(t, "password", tc->password);
    json_object_set_int_member(t, "ttl_s", expires ? MAX(expires - now, 0) : ttl);
    if (expires) /* the MRAS set the operator keeps fresh; the agent refuses it once lapsed */
        json_object_set_int_member(t, "expires_at", expires);
    json_object_set_object_member(o, "turn", t);
    return o;
}

JsonArray *scheduler_take_orders(Scheduler *s, const char *agent, GError **error)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) runs = store_runs_for_agent(s->store, agent, &e);
    if (!runs) {
        g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_STORE, "%s", e->message);
        return NULL;
    }
    JsonArray *out = json_array_new();
    gint64 now = scheduler_now(s);
    for (guint i = 0; i < runs->len; i++) {
        StoreRun *r = runs->pdata[i];
        int side = strcmp(r->agent[0], agent) == 0 ? 0 : 1;
        /* Credentials first: a run that cannot have them ends here, saying why
         * (an order without them would be refused by the agent as malformed). */
        TurnCredentials tc = {0};
        gint64 expires = 0;
        gint64 deadline = r->deadline ? r->deadline : now + run_duration_s(s, r);
        guint ttl = (guint)MAX(deadline - now, 0) + s->config->order_timeout_s + TURN_MARGIN_S;
        if (!order_credentials(s, r, ttl, now, &tc, &expires, &e)) {
            g_autofree char *why =
                g_strdup_printf("the controller has no TURN credentials for it: %s", e->message);
            g_clear_error(&e);
            if (!fail_run(s, r, NULL, NULL, why, &e)) {
                g_warning("run %s: %s", r->id, e->message);
                g_clear_error(&e);
            }
            continue;
        }
        g_autoptr(StoreRun) taken =
            store_run_take(s->store, r->id, side, now, now + run_duration_s(s, r), &e);
        if (!taken) {
            g_warning("run %s: %s", r->id, e->message);
            g_clear_error(&e);
            turncred_clear(&tc);
            continue;
        }
        json_array_add_object_element(out, order_for(s, taken, side, now, &tc, expires));
        turncred_clear(&tc);
    }
    return out;
}

int scheduler_side_of(Scheduler *s, const char *run_id, const char *agent, GError **error)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(StoreRun) r = store_run_get(s->store, run_id, &e);
    if (!r) {
        g_set_error(error, SCHEDULER_ERROR,
                    g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND)
                        ? SCHEDULER_ERROR_NOT_FOUND
                        : SCHEDULER_ERROR_STORE,
                    "%s", e->message);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (strcmp(r->agent[i], agent) == 0) {
            if (!run_state_is_final(r->state)) {
                gint64 now = scheduler_now(s);
                g_autofree char *key = parsed_key(run_id, i);
                g_autoptr(GError) he = NULL;
                if (heard_first_in(s->shared, key, now) &&
                    !store_run_heard(s->store, run_id, i, now, &he))
                    g_warning("run %s: %s", run_id, he->message);
            }
            return i;
        }
    }
    g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FORBIDDEN,
                "agent '%s' is not part of run %s", agent, run_id);
    return -1;
}

gboolean scheduler_report(Scheduler *s, const char *run_id, const char *agent, const char *document,
                          gsize len, gboolean *duplicate, GError **error)
{
    int side = scheduler_side_of(s, run_id, agent, error);
    if (side < 0)
        return FALSE;
    g_autoptr(GError) e = NULL;
    g_autoptr(RunResult) parsed = run_result_from_json(document, len, &e);
    if (!parsed) {
        g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD, "report: %s", e->message);
        return FALSE;
    }
    if (strcmp(parsed->run_id, run_id) != 0) {
        g_set_error(error, SCHEDULER_ERROR, SCHEDULER_ERROR_FIELD,
                    "run_id: the report is for run '%s', not %s", parsed->run_id, run_id);
        return FALSE;
    }
    /* The raw document is kept as the agent sent it (it parsed, within the caps). */
    g_autofree char *raw = g_strndup(document, len);
    g_autoptr(StoreRun) r = store_run_add_report(s->store, run_id, side, raw, parsed->verdict,
                                                 scheduler_now(s), duplicate, &e);
    if (!r) {
        g_set_error(error, SCHEDULER_ERROR,
                    g_error_matches(e, STORE_ERROR, STORE_ERROR_STATE) ? SCHEDULER_ERROR_CONFLICT
                                                                       : SCHEDULER_ERROR_STORE,
                    "%s", e->message);
        return FALSE;
    }
    if (*duplicate)
        return TRUE;
    reports_put(s->shared, parsed_key(run_id, side), g_steal_pointer(&parsed), scheduler_now(s));
    if (r->state == RUN_VERIFYING)
        verify_and_finish(s, r);
    return TRUE;
}

/* ---- ticking ---- */

/* Fires a schedule last seen firing at last, if this controller claims it
 * (another one sharing the store may have). */
static gint64 catch_up_until(const ScheduleConfig *sc, gint64 now)
{
    return sc->catch_up_s ? now + sc->catch_up_s : 0;
}

static void fire_schedule(Scheduler *s, const Schedule *sc, gint64 last, gint64 now,
                          const char *note)
{
    g_autoptr(GError) e = NULL;
    gboolean won = FALSE;
    /* Claimed first: whatever happens to its runs, this firing is spent. */
    if (!store_schedule_claim(s->store, sc->config->name, last, now, &won, &e)) {
        g_warning("schedule %s: %s", sc->config->name, e->message);
        return;
    }
    if (!won)
        return;
    RunOrigin o = {sc->config->profile, sc->config->name, note ? "start-up" : "cron", note,
                   catch_up_until(sc->config, now)};
    g_autoptr(GPtrArray) ids = create_runs(s, &o, sc->config->a, sc->config->b, NULL, &e);
    if (!ids)
        g_warning("schedule %s: no runs: %s", sc->config->name, e->message);
    else
        g_message("schedule %s: %u run(s) of %s%s%s", sc->config->name, ids->len,
                  sc->config->profile, note ? ": " : "", note ? note : "");
}

static gboolean names_contain(GPtrArray *names, const char *name)
{
    for (guint i = 0; names && i < names->len; i++) {
        if (strcmp(names->pdata[i], name) == 0)
            return TRUE;
    }
    return FALSE;
}

/* One schedule's firing for an agent's network event, if the agent is one of
 * its sides and it did not fire for it within min_interval_s. */
static guint fire_on_event(Scheduler *s, const ScheduleConfig *sc, const char *agent,
                           const char *kind, const char *note, gint64 now)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) as = expand(s, "a", sc->a, &e);
    g_autoptr(GPtrArray) bs = as ? expand(s, "b", sc->b, &e) : NULL;
    if (!bs) {
        g_warning("schedule %s: %s", sc->name, e->message);
        return 0;
    }
    if (!names_contain(as, agent) && !names_contain(bs, agent))
        return 0;
    gboolean won = FALSE;
    if (!store_event_claim(s->store, sc->name, agent, now, sc->min_interval_s, &won, &e)) {
        g_warning("schedule %s: %s", sc->name, e->message);
        return 0;
    }
    if (!won) {
        g_message("schedule %s: %s's %s comes within %u s (min_interval_s) of the last run it "
                  "started: no run",
                  sc->name, agent, kind, sc->min_interval_s);
        return 0;
    }
    RunOrigin o = {sc->profile, sc->name, kind, note, catch_up_until(sc, now)};
    guint pairs = 0;
    g_autoptr(GPtrArray) ids = create_pairs(s, &o, as, bs, agent, &pairs, &e);
    if (!ids) {
        g_warning("schedule %s: no runs: %s", sc->name, e->message);
        return 0;
    }
    g_message("schedule %s: %u run(s) of %s: %s", sc->name, ids->len, sc->profile, note);
    return ids->len;
}

guint scheduler_network_event(Scheduler *s, const char *agent, const char *kind,
                              const char *summary)
{
    g_return_val_if_fail(s && agent && kind, 0);
    gint64 now = scheduler_now(s);
    g_autofree char *note = g_strdup_printf("%s on %s%s%s", kind, agent, summary ? ": " : "",
                                            summary ? summary : "");
    guint n = 0;
    for (guint i = 0; i < s->config->schedules->len; i++) {
        const ScheduleConfig *sc = s->config->schedules->pdata[i];
        if (config_schedule_fires_on(sc, kind))
            n += fire_on_event(s, sc, agent, kind, note, now);
    }
    return n;
}

static void tick_schedules(Scheduler *s, gint64 now)
{
    for (guint i = 0; i < s->schedules->len; i++) {
        Schedule *sc = &g_array_index(s->schedules, Schedule, i);
        gint64 last = 0;
        if (!sc->cron)
            continue; /* fires on network events only */
        if (!store_schedule_last_fire(s->store, sc->config->name, &last, NULL))
            continue;
        gint64 next = cron_next(sc->cron, s->tz, last);
        if (next && next <= now)
            fire_schedule(s, sc, last, now, NULL);
    }
}

/* The safety net under the incremental offers, and the deadlines: one pass over
 * the unfinished runs. */
/* The sides of a running run that have not reported and have not called about
 * it for [scheduler] silence_s (their agent died, or lost its network). */
static int silent_sides(Scheduler *s, const StoreRun *r, gint64 now, const char *late[3])
{
    int n = 0;
    for (int k = 0; k < 2; k++) {
        if (r->reported_at[k])
            continue;
        gint64 last = r->taken_at[k];
        if (last < s->started) /* in flight when it started, or when the store came back */
            last = s->started + RESTART_GRACE_S;
        last = MAX(last, r->heard_at[k]); /* heard by any controller */
        if (now - last > (gint64)s->config->silence_s)
            late[n++] = r->agent[k];
    }
    return n;
}

static void tick_runs(Scheduler *s, gint64 now)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) runs = store_runs_active(s->store, &e);
    if (!runs) {
        if (!s->store_down)
            g_warning("scheduler: %s", e->message);
        s->store_down = TRUE;
        return;
    }
    if (s->store_down) {
        /* Nobody could be heard while the store was away: no side of a run
         * is silent for it. */
        g_message("scheduler: the store answers again; running runs have %d s to be heard from",
                  RESTART_GRACE_S);
        s->store_down = FALSE;
        s->started = now;
    }
    /* An agent's runs go one at a time, oldest first: "earlier" holds the agents
     * that have an older run to go first, or one offered (which may be younger
     * than a run that waited for an absent agent). */
    g_autoptr(GHashTable) earlier = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < runs->len; i++) {
        StoreRun *r = runs->pdata[i];
        if (r->offered_at) {
            g_hash_table_add(earlier, r->agent[0]);
            g_hash_table_add(earlier, r->agent[1]);
        }
    }
    for (guint i = 0; i < runs->len; i++) {
        StoreRun *r = runs->pdata[i];
        if (r->state == RUN_VERIFYING) { /* a controller stopped while verifying */
            verify_and_finish(s, r);
            continue;
        }
        if (!r->offered_at) {
            const char *late[3];
            g_autofree char *absent =
                r->catch_up_until ? absent_agents(s, r, now, late) : NULL;
            if (absent) { /* waits; its agents' other runs go on */
                hold_or_end(s, r, absent, late, now);
                continue;
            }
            gboolean first = !g_hash_table_contains(earlier, r->agent[0]) &&
                             !g_hash_table_contains(earlier, r->agent[1]);
            g_hash_table_add(earlier, r->agent[0]);
            g_hash_table_add(earlier, r->agent[1]);
            if (first)
                offer_run(s, r, now);
            continue;
        }
        const char *late[3] = {NULL, NULL, NULL};
        int n = 0;
        if (r->state == RUN_PENDING && r->catch_up_until && now < r->catch_up_until &&
            now >= r->offered_at + s->config->order_timeout_s) {
            /* Neither side took it: it waits for its agents rather than ending. */
            g_autofree char *absent = absent_agents(s, r, now, late);
            g_autofree char *who =
                absent ? NULL
                       : g_strdup_printf("%s and %s (neither took its order within %u s)",
                                         r->agent[0], r->agent[1], s->config->order_timeout_s);
            if (!store_run_hold(s->store, r->id, absent ? absent : who, &e))
                g_warning("run %s: %s", r->id, e->message);
            g_clear_error(&e);
            continue;
        } else if (r->state != RUN_RUNNING && now >= r->offered_at + s->config->order_timeout_s) {
            for (int k = 0; k < 2; k++) {
                if (!r->taken_at[k])
                    late[n++] = r->agent[k];
            }
            g_autofree char *msg = g_strdup_printf(
                "%s%s%s did not take the order of run %s within %u s.", late[0],
                n > 1 ? " and " : "", n > 1 ? late[1] : "", r->id, s->config->order_timeout_s);
            if (!fail_run(s, r, "AGENT_OFFLINE", late, msg, &e))
                g_warning("run %s: %s", r->id, e->message);
            g_clear_error(&e);
        } else if (r->state == RUN_RUNNING && r->deadline && now >= r->deadline) {
            for (int k = 0; k < 2; k++) {
                if (!r->reported_at[k])
                    late[n++] = r->agent[k];
            }
            g_autofree char *msg =
                g_strdup_printf("%s%s%s sent no report of run %s by its deadline.", late[0],
                                n > 1 ? " and " : "", n > 1 ? late[1] : "", r->id);
            if (!fail_run(s, r, "RUN_TIMEOUT", late, msg, &e))
                g_warning("run %s: %s", r->id, e->message);
            g_clear_error(&e);
        } else if (r->state == RUN_RUNNING && (n = silent_sides(s, r, now, late)) > 0) {
            g_autofree char *msg = g_strdup_printf(
                "%s%s%s went silent during run %s (no call about it for %u s) and sent no "
                "report.",
                late[0], n > 1 ? " and " : "", n > 1 ? late[1] : "", r->id, s->config->silence_s);
            if (!fail_run(s, r, "RUN_TIMEOUT", late, msg, &e))
                g_warning("run %s: %s", r->id, e->message);
            g_clear_error(&e);
        }
    }
}

/* [scheduler] history_days: finished runs older than that leave the store, a
 * batch at a time (their counts stay in iceprobe_runs_total). */
static void tick_prune(Scheduler *s, gint64 now)
{
    if (!s->config->history_days || now < s->prune_next)
        return;
    gint64 cutoff = now - (gint64)s->config->history_days * 86400;
    guint deleted = 0;
    g_autoptr(GError) e = NULL;
    if (!store_prune(s->store, cutoff, PRUNE_BATCH, &deleted, &e)) {
        g_warning("history: %s (tried again in %d s)", e->message, PRUNE_EVERY_S);
        s->prune_next = now + PRUNE_EVERY_S;
        return;
    }
    if (deleted)
        g_message("history: %u run(s) older than %u days pruned", deleted, s->config->history_days);
    s->prune_next = deleted == PRUNE_BATCH ? now + 1 : now + PRUNE_EVERY_S;
}

void scheduler_tick(Scheduler *s)
{
    gint64 now = scheduler_now(s);
    tick_schedules(s, now);
    tick_runs(s, now);
    tick_prune(s, now);
    heard_prune(s->shared, now);
    reports_prune(s->shared, now);
}

static gboolean on_timer(gpointer data)
{
    scheduler_tick(data);
    return G_SOURCE_CONTINUE;
}

gboolean scheduler_start(Scheduler *s, GError **error)
{
    gint64 now = scheduler_now(s);
    for (guint i = 0; i < s->config->schedules->len; i++) {
        const ScheduleConfig *sc = s->config->schedules->pdata[i];
        Schedule entry = {sc, sc->cron ? cron_parse(sc->cron, error) : NULL};
        if (sc->cron && !entry.cron) {
            g_prefix_error(error, "%s: [schedule.%s] cron: ", s->config->path, sc->name);
            return FALSE;
        }
        g_array_append_val(s->schedules, entry);
        if (!entry.cron)
            continue;
        gint64 last = 0;
        if (!store_schedule_last_fire(s->store, sc->name, &last, error))
            return FALSE;
        if (last == 0) { /* new: it starts from now, nothing is owed */
            gboolean won;
            if (!store_schedule_claim(s->store, sc->name, 0, now, &won, error))
                return FALSE;
            continue;
        }
        guint missed = 0;
        gint64 first = cron_next(entry.cron, s->tz, last);
        for (gint64 t = first; t && t <= now && missed < 100000;
             t = cron_next(entry.cron, s->tz, t))
            missed++;
        if (missed) {
            g_autofree char *when = format_time(s->tz, first);
            g_autofree char *note = g_strdup_printf(
                "missed %u firing%s while the controller was down (the first at %s); run once "
                "at start-up",
                missed, missed == 1 ? "" : "s", when);
            g_message("schedule %s: %s", sc->name, note);
            fire_schedule(s, &g_array_index(s->schedules, Schedule, i), last, now, note);
        }
    }
    scheduler_tick(s);
    s->timer = g_timeout_source_new_seconds(1);
    g_source_set_callback(s->timer, on_timer, s, NULL);
    g_source_attach(s->timer, g_main_context_get_thread_default());
    return TRUE;
}
