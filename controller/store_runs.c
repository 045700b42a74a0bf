/* Runs, their reports and their history, behind store.h (see store.c). */
#include <string.h>

#include "store-private.h"

static const char *const state_names[] = {"pending",   "dispatched", "running",
                                          "verifying", "done",       "error"};

const char *run_state_to_string(RunState s)
{
    return (guint)s < G_N_ELEMENTS(state_names) ? state_names[s] : "error";
}

static RunState run_state_from_string(const char *s)
{
    for (guint i = 0; i < G_N_ELEMENTS(state_names); i++) {
        if (s && strcmp(s, state_names[i]) == 0)
            return (RunState)i;
    }
    return RUN_ERROR;
}

gboolean run_state_is_final(RunState s)
{
    return s == RUN_DONE || s == RUN_ERROR;
}

/* ---- runs ---- */

void store_run_free(StoreRun *r)
{
    if (!r)
        return;
    g_free(r->id);
    g_free(r->profile);
    g_free(r->agent[0]);
    g_free(r->agent[1]);
    g_free(r->schedule);
    g_free(r->verdict);
    g_free(r->note);
    g_free(r->result);
    g_free(r->trigger);
    g_free(r->waited_for);
    g_free(r);
}

#define RUN_COLUMNS                                                                                \
    "seq, id, profile, agent_a, agent_b, schedule, state, verdict, created_at, offered_at, "       \
    "a_taken_at, b_taken_at, a_reported_at, b_reported_at, deadline, finished_at, note, result, "  \
    "a_heard_at, b_heard_at, run_trigger, catch_up_until, waited_for"

static gpointer run_from_row(StoreStmt *st)
{
    StoreRun *r = g_new0(StoreRun, 1);
    r->seq = store_col_int(st, 0);
    r->id = store_col_text(st, 1);
    r->profile = store_col_text(st, 2);
    r->agent[0] = store_col_text(st, 3);
    r->agent[1] = store_col_text(st, 4);
    r->schedule = store_col_text(st, 5);
    g_autofree char *state = store_col_text(st, 6);
    r->state = run_state_from_string(state);
    r->verdict = store_col_text(st, 7);
    r->created_at = store_col_int(st, 8);
    r->offered_at = store_col_int(st, 9);
    r->taken_at[0] = store_col_int(st, 10);
    r->taken_at[1] = store_col_int(st, 11);
    r->reported_at[0] = store_col_int(st, 12);
    r->reported_at[1] = store_col_int(st, 13);
    r->deadline = store_col_int(st, 14);
    r->finished_at = store_col_int(st, 15);
    r->note = store_col_text(st, 16);
    r->result = store_col_text(st, 17);
    r->heard_at[0] = store_col_int(st, 18);
    r->heard_at[1] = store_col_int(st, 19);
    r->trigger = store_col_text(st, 20);
    r->catch_up_until = store_col_int(st, 21);
    r->waited_for = store_col_text(st, 22);
    return r;
}

static GPtrArray *runs_query(Store *s, StoreStmt *st, GError **error)
{
    return store_rows(s, st, run_from_row, (GDestroyNotify)store_run_free, "read runs", error);
}

/* A transaction that holds the runs' write lock: SQLite's (BEGIN IMMEDIATE), or
 * on PostgreSQL the table's against other writers (other controllers). FALSE:
 * roll back if s->in_tx. */
static gboolean begin_runs_locked(Store *s, GError **error)
{
    if (!store_begin(s, error))
        return FALSE;
    return s->backend != STORE_POSTGRES ||
           store_exec(s, "LOCK TABLE runs IN SHARE ROW EXCLUSIVE MODE", error);
}

gboolean store_run_create(Store *s, const StoreRun *r, GError **error)
{
    /* seq is the next number: in a transaction that holds the runs' write lock
     * (SQLite's, or PostgreSQL's lock on the table against other writers), so
     * two controllers cannot take the same one. */
    gboolean ok =
        begin_runs_locked(s, error) &&
        store_done(s,
                   store_q(s, error,
                           "INSERT INTO runs (id, seq, profile, agent_a, agent_b, schedule, state, "
                           "created_at, note, run_trigger, catch_up_until) VALUES (?, (SELECT "
                           "COALESCE(MAX(seq), 0) + 1 FROM runs), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           "ssssssissi", r->id, r->profile, r->agent[0], r->agent[1], r->schedule,
                           run_state_to_string(RUN_PENDING), r->created_at, r->note, r->trigger,
                           r->catch_up_until),
                   error);
    if (!ok) {
        if (s->in_tx)
            store_rollback(s);
        return FALSE;
    }
    return store_commit(s, error);
}

static StoreRun *run_get(Store *s, const char *id, gboolean lock, GError **error)
{
    StoreStmt *st = store_q(s, error,
                            lock && s->backend == STORE_POSTGRES
                                ? "SELECT " RUN_COLUMNS " FROM runs WHERE id = ? FOR UPDATE"
                                : "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?",
                            "s", id);
    if (!st)
        return NULL;
    g_autoptr(GError) e = NULL;
    StoreRun *r = store_step(st, &e) ? run_from_row(st) : NULL;
    store_reset(st);
    if (e)
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "read run: ");
    else if (!r)
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no run '%s'", id);
    return r;
}

StoreRun *store_run_get(Store *s, const char *id, GError **error)
{
    return run_get(s, id, FALSE, error);
}

GPtrArray *store_runs_active(Store *s, GError **error)
{
    return runs_query(s,
                      store_q(s, error,
                              "SELECT " RUN_COLUMNS " FROM runs WHERE state IN ('pending', "
                              "'dispatched', 'running', 'verifying') ORDER BY seq",
                              ""),
                      error);
}

GPtrArray *store_runs_active_for_agent(Store *s, const char *agent, GError **error)
{
    return runs_query(
        s,
        store_q(s, error,
                "SELECT " RUN_COLUMNS " FROM runs WHERE (agent_a = ? OR agent_b = ?) AND "
                "state IN ('pending', 'dispatched', 'running', 'verifying') ORDER BY seq",
                "ss", agent, agent),
        error);
}

GPtrArray *store_runs_for_agent(Store *s, const char *agent, GError **error)
{
    return runs_query(
        s,
        store_q(s, error,
                "SELECT " RUN_COLUMNS
                " FROM runs WHERE state IN ('pending', 'dispatched', 'running') "
                "AND offered_at IS NOT NULL AND ((agent_a = ? AND a_reported_at IS NULL) OR "
                "(agent_b = ? AND b_reported_at IS NULL)) ORDER BY seq",
                "ss", agent, agent),
        error);
}

gboolean store_run_offer(Store *s, const char *id, gint64 now, gboolean *offered, GError **error)
{
    /* One offered run per agent, whichever controller offers: the check and the
     * offer in one transaction that holds the runs' write lock (SQLite's; on
     * PostgreSQL the table's, against the other controllers' offers). */
    if (offered)
        *offered = FALSE;
    gboolean ok =
        begin_runs_locked(s, error) &&
        store_done(s,
                   store_q(s, error,
                           "UPDATE runs SET offered_at = ? WHERE id = ? AND offered_at IS NULL "
                           "AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.id <> runs.id AND "
                           "o.offered_at IS NOT NULL AND o.state IN ('pending', 'dispatched', "
                           "'running', 'verifying') AND (o.agent_a IN (runs.agent_a, runs.agent_b) "
                           "OR o.agent_b IN (runs.agent_a, runs.agent_b)))",
                           "is", now, id),
                   error);
    gboolean changed = ok && store_changes(s) == 1;
    if (!ok) {
        if (s->in_tx)
            store_rollback(s);
        return FALSE;
    }
    if (!store_commit(s, error))
        return FALSE;
    if (offered)
        *offered = changed;
    return TRUE;
}

gboolean store_run_hold(Store *s, const char *id, const char *waited_for, GError **error)
{
    return store_done(s,
                      store_q(s, error,
                              "UPDATE runs SET offered_at = NULL, waited_for = COALESCE(waited_for, "
                              "?) WHERE id = ? AND state = 'pending'",
                              "ss", waited_for, id),
                      error);
}

gboolean store_run_set_note(Store *s, const char *id, const char *note, GError **error)
{
    return store_done(s, store_q(s, error, "UPDATE runs SET note = ? WHERE id = ?", "ss", note, id),
                      error);
}

/* The run, locked for the transaction that changes it, if it has not ended. */
gboolean store_run_heard(Store *s, const char *id, int side, gint64 now, GError **error)
{
    g_return_val_if_fail(side == 0 || side == 1, FALSE);
    return store_done(s,
                      store_q(s, error,
                              side == 0 ? "UPDATE runs SET a_heard_at = ? WHERE id = ? AND "
                                          "(a_heard_at IS NULL OR a_heard_at < ?)"
                                        : "UPDATE runs SET b_heard_at = ? WHERE id = ? AND "
                                          "(b_heard_at IS NULL OR b_heard_at < ?)",
                              "isi", now, id, now),
                      error);
}

StoreRun *store_get_active(Store *s, const char *id, GError **error)
{
    StoreRun *r = run_get(s, id, TRUE, error);
    if (r && run_state_is_final(r->state)) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_STATE, "run %s has ended (%s)", id,
                    run_state_to_string(r->state));
        store_run_free(r);
        return NULL;
    }
    return r;
}

StoreRun *store_run_take(Store *s, const char *id, int side, gint64 now, gint64 deadline,
                         GError **error)
{
    g_return_val_if_fail(side == 0 || side == 1, NULL);
    if (!store_begin(s, error))
        return NULL;
    g_autoptr(StoreRun) r = store_get_active(s, id, error);
    if (!r) {
        store_rollback(s);
        return NULL;
    }
    if (!r->offered_at) { /* held back meanwhile (an agent went away): not its order now */
        store_rollback(s);
        g_set_error(error, STORE_ERROR, STORE_ERROR_STATE, "run %s is not offered now", id);
        return NULL;
    }
    if (!r->taken_at[side]) {
        r->taken_at[side] = now;
        gboolean both = r->taken_at[!side] != 0;
        r->state = both ? RUN_RUNNING : RUN_DISPATCHED;
        if (both)
            r->deadline = deadline;
        StoreStmt *st =
            store_q(s, error,
                    side == 0 ? "UPDATE runs SET a_taken_at = ?, state = ?, deadline = ? "
                                "WHERE id = ?"
                              : "UPDATE runs SET b_taken_at = ?, state = ?, deadline = ? "
                                "WHERE id = ?",
                    "isis", now, run_state_to_string(r->state), r->deadline, id);
        if (!store_done(s, st, error)) {
            store_rollback(s);
            return NULL;
        }
    }
    if (!store_commit(s, error))
        return NULL;
    return g_steal_pointer(&r);
}

StoreRun *store_run_add_report(Store *s, const char *id, int side, const char *document,
                               Verdict verdict, gint64 now, gboolean *duplicate, GError **error)
{
    g_return_val_if_fail((side == 0 || side == 1) && document && duplicate, NULL);
    *duplicate = FALSE;
    if (!store_begin(s, error))
        return NULL;
    g_autoptr(StoreRun) r = run_get(s, id, TRUE, error);
    if (!r) {
        store_rollback(s);
        return NULL;
    }
    if (r->reported_at[side]) {
        *duplicate = TRUE;
        store_rollback(s);
        return g_steal_pointer(&r);
    }
    if (run_state_is_final(r->state) || !r->taken_at[side]) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_STATE, "run %s is %s: it takes no report%s", id,
                    run_state_to_string(r->state),
                    r->taken_at[side] ? "" : " from an agent that has not taken its order");
        store_rollback(s);
        return NULL;
    }
    r->reported_at[side] = now;
    if (r->reported_at[!side])
        r->state = RUN_VERIFYING;
    if (!store_done(s,
                    store_q(s, error,
                            "INSERT INTO reports (run_id, side, received_at, verdict, document) "
                            "VALUES (?, ?, ?, ?, ?)",
                            "ssiss", id, side ? "b" : "a", now, verdict_to_string(verdict),
                            document),
                    error) ||
        !store_done(s,
                    store_q(s, error,
                            side == 0 ? "UPDATE runs SET a_reported_at = ?, state = ? WHERE id = ?"
                                      : "UPDATE runs SET b_reported_at = ?, state = ? WHERE id = ?",
                            "iss", now, run_state_to_string(r->state), id),
                    error)) {
        store_rollback(s);
        return NULL;
    }
    if (!store_commit(s, error))
        return NULL;
    return g_steal_pointer(&r);
}

gboolean store_run_reports(Store *s, const char *id, char **a, char **b, GError **error)
{
    *a = *b = NULL;
    StoreStmt *st = store_q(
        s, error, "SELECT side, document FROM reports WHERE run_id = ? ORDER BY side", "s", id);
    if (!st)
        return FALSE;
    g_autoptr(GError) e = NULL;
    while (store_step(st, &e)) {
        g_autofree char *side = store_col_text(st, 0);
        char **slot = side && strcmp(side, "b") == 0 ? b : a;
        g_free(*slot);
        *slot = store_col_text(st, 1);
    }
    store_reset(st);
    if (e) {
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "read reports: ");
        return FALSE;
    }
    return TRUE;
}

static gboolean insert_path_metrics(Store *s, const char *id, const PathRecord *p, const char *side,
                                    GError **error)
{
    const char *sql = "INSERT INTO path_metrics (run_id, path, side, verdict, local_type, "
                      "transport, egress_class, loss_ratio, jitter_ms, rtt_ms, mos) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const MetricsSummary *m = p->have_metrics ? &p->metrics : NULL;
    StoreStmt *st =
        store_q(s, error, sql, "sssssssDDDD", id, p->name, side, verdict_to_string(p->verdict),
                p->have_pair ? p->local.type : NULL, p->have_pair ? p->local.transport : NULL,
                p->have_pair ? p->local.egress_class : NULL, m ? &m->loss_ratio : NULL,
                m ? &m->jitter_ms : NULL, m && m->rtt_samples ? &m->rtt_median_ms : NULL,
                m ? &m->mos : NULL);
    return store_done(s, st, error);
}

gboolean store_run_finish(Store *s, const char *id, RunState state, const RunResult *result,
                          const char *note, gint64 now, GError **error)
{
    g_return_val_if_fail(run_state_is_final(state) && result, FALSE);
    g_autofree char *doc = run_result_to_string(result, FALSE);
    if (!store_begin(s, error))
        return FALSE;
    g_autoptr(StoreRun) r = store_get_active(s, id, error);
    gboolean ok = r != NULL;
    ok = ok && store_done(s,
                          store_q(s, error,
                                  "UPDATE runs SET state = ?, verdict = ?, finished_at = ?, note = "
                                  "COALESCE(?, note), result = ? WHERE id = ?",
                                  "ssisss", run_state_to_string(state),
                                  verdict_to_string(result->verdict), now, note, doc, id),
                          error);
    /* The run's signals (ICE credentials, addresses, SRTP keys) do not outlive it. */
    ok = ok &&
         store_done(s, store_q(s, error, "DELETE FROM signals WHERE run_id = ?", "s", id), error);
    for (guint i = 0; ok && i < result->findings->len; i++) {
        const Finding *f = result->findings->pdata[i];
        ok = store_done(s,
                        store_q(s, error,
                                "INSERT INTO findings (run_id, seq, code, severity, message) "
                                "VALUES (?, ?, ?, ?, ?)",
                                "sisss", id, (gint64)i, f->code, verdict_to_string(f->severity),
                                f->message),
                        error);
    }
    for (guint i = 0; ok && i < result->paths->len; i++) {
        const PathRecord *p = result->paths->pdata[i];
        if (p->sides[0] || p->sides[1]) {
            for (int k = 0; ok && k < 2; k++) {
                if (p->sides[k])
                    ok = insert_path_metrics(s, id, p->sides[k], k ? "b" : "a", error);
            }
        } else {
            ok = insert_path_metrics(s, id, p, "a", error);
        }
    }
    if (!ok) {
        store_rollback(s);
        return FALSE;
    }
    return store_commit(s, error);
}

GPtrArray *store_runs_page(Store *s, const StoreRunFilter *f, GError **error)
{
    /* One statement for every filter: a null parameter matches everything. */
    const char *sql = "SELECT " RUN_COLUMNS " FROM runs WHERE (? IS NULL OR profile = ?) "
                      "AND (? IS NULL OR (? = 'pending' AND verdict IS NULL) OR verdict = ?) "
                      "AND created_at >= ? "
                      "AND (? = 0 OR seq < ?) ORDER BY seq DESC LIMIT ?";
    return runs_query(s,
                      store_q(s, error, sql, "sssssiiii", f->profile, f->profile, f->verdict,
                              f->verdict, f->verdict, f->since, f->before_seq, f->before_seq,
                              (gint64)(f->limit ? f->limit : 50)),
                      error);
}

/* ---- history ---- */

void store_path_metrics_free(StorePathMetrics *m)
{
    if (!m)
        return;
    g_free(m->path);
    g_free(m->side);
    g_free(m->verdict);
    g_free(m->local_type);
    g_free(m->transport);
    g_free(m->egress_class);
    g_free(m);
}

static gpointer path_metrics_from_row(StoreStmt *st)
{
    StorePathMetrics *m = g_new0(StorePathMetrics, 1);
    m->path = store_col_text(st, 0);
    m->side = store_col_text(st, 1);
    m->verdict = store_col_text(st, 2);
    m->local_type = store_col_text(st, 3);
    m->transport = store_col_text(st, 4);
    m->egress_class = store_col_text(st, 5);
    m->have_metrics = !store_col_null(st, 6);
    m->loss_ratio = store_col_double(st, 6);
    m->jitter_ms = store_col_double(st, 7);
    m->rtt_ms = store_col_null(st, 8) ? -1 : store_col_double(st, 8);
    m->mos = store_col_double(st, 9);
    return m;
}

GPtrArray *store_path_metrics(Store *s, const char *run_id, GError **error)
{
    StoreStmt *st = store_q(s, error,
                            "SELECT path, side, verdict, local_type, transport, egress_class, "
                            "loss_ratio, jitter_ms, rtt_ms, mos FROM path_metrics WHERE run_id = ? "
                            "ORDER BY path, side",
                            "s", run_id);
    return store_rows(s, st, path_metrics_from_row, (GDestroyNotify)store_path_metrics_free,
                      "read path metrics", error);
}

static gpointer code_from_row(StoreStmt *st)
{
    return store_col_text(st, 0);
}

GPtrArray *store_run_finding_codes(Store *s, const char *run_id, GError **error)
{
    StoreStmt *st = store_q(
        s, error, "SELECT DISTINCT code FROM findings WHERE run_id = ? ORDER BY code", "s", run_id);
    return store_rows(s, st, code_from_row, g_free, "read findings", error);
}

GPtrArray *store_latest_per_pair(Store *s, GError **error)
{
    return runs_query(
        s,
        store_q(
            s, error,
            "SELECT " RUN_COLUMNS " FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY profile, "
            "agent_a, agent_b ORDER BY finished_at DESC, seq DESC) AS rn FROM runs WHERE state IN "
            "('done', 'error')) latest WHERE rn = 1 ORDER BY profile, agent_a, agent_b",
            ""),
        error);
}

GPtrArray *store_history(Store *s, const char *profile, const char *a, const char *b, guint limit,
                         GError **error)
{
    return runs_query(
        s,
        store_q(s, error,
                "SELECT " RUN_COLUMNS " FROM runs WHERE profile = ? AND agent_a = ? AND "
                "agent_b = ? AND state IN ('done', 'error') ORDER BY finished_at DESC, "
                "seq DESC LIMIT ?",
                "sssi", profile, a, b, (gint64)limit),
        error);
}

static GHashTable *count_by(Store *s, const char *sql, GError **error)
{
    StoreStmt *st = store_q(s, error, sql, "");
    if (!st)
        return NULL;
    GHashTable *out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GError) e = NULL;
    while (store_step(st, &e)) {
        char *key = store_col_text(st, 0);
        g_hash_table_insert(out, key ? key : g_strdup(""),
                            GSIZE_TO_POINTER((gsize)store_col_int(st, 1)));
    }
    store_reset(st);
    if (e) {
        g_hash_table_unref(out);
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "count runs: ");
        return NULL;
    }
    return out;
}

GHashTable *store_count_verdicts(Store *s, GError **error)
{
    /* The runs pruned count still: a Prometheus counter never goes back. */
    return count_by(s,
                    "SELECT verdict, SUM(n) FROM ("
                    "  SELECT COALESCE(verdict, '') AS verdict, COUNT(*) AS n FROM runs"
                    "  WHERE state IN ('done', 'error') GROUP BY COALESCE(verdict, '')"
                    "  UNION ALL SELECT verdict, runs AS n FROM pruned_runs"
                    ") AS counts GROUP BY verdict",
                    error);
}

GHashTable *store_count_states(Store *s, GError **error)
{
    return count_by(s, "SELECT state, COUNT(*) FROM runs GROUP BY state", error);
}

/* The oldest finished runs before cutoff, limit at a time, with what they
 * take out of the runs' counts added to pruned_runs in the same transaction:
 * the totals stay whole whatever happens. The newest run always stays (seq
 * never goes back). A run another controller deleted first is not counted
 * twice: its DELETE changes nothing here. */
gboolean store_prune(Store *s, gint64 cutoff, guint limit, guint *deleted, GError **error)
{
    if (deleted)
        *deleted = 0;
    if (!store_begin(s, error))
        return FALSE;
    StoreStmt *st = store_q(s, error,
                            "SELECT id, COALESCE(verdict, '') FROM runs WHERE state IN ('done', "
                            "'error') AND finished_at < ? AND seq < (SELECT MAX(seq) FROM runs) "
                            "ORDER BY seq LIMIT ?",
                            "ii", cutoff, (gint64)limit);
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) by_verdict = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) verdict_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GError) e = NULL;
    while (st && store_step(st, &e)) {
        char *id = store_col_text(st, 0);
        g_ptr_array_add(ids, id);
        g_hash_table_insert(verdict_of, g_strdup(id), store_col_text(st, 1));
    }
    if (st)
        store_reset(st);
    gboolean ok = st && !e;
    if (e)
        g_propagate_error(error, g_steal_pointer(&e));
    guint n = 0;
    for (guint i = 0; ok && i < ids->len; i++) {
        ok = store_done(s, store_q(s, error, "DELETE FROM runs WHERE id = ?", "s", ids->pdata[i]),
                        error);
        if (ok && store_changes(s) == 1) {
            const char *v = g_hash_table_lookup(verdict_of, ids->pdata[i]);
            gsize k = GPOINTER_TO_SIZE(g_hash_table_lookup(by_verdict, v));
            g_hash_table_insert(by_verdict, g_strdup(v), GSIZE_TO_POINTER(k + 1));
            n++;
        }
    }
    GHashTableIter it;
    gpointer v, k;
    g_hash_table_iter_init(&it, by_verdict);
    while (ok && g_hash_table_iter_next(&it, &v, &k))
        ok = store_done(s,
                        store_q(s, error,
                                "INSERT INTO pruned_runs (verdict, runs) VALUES (?, ?) "
                                "ON CONFLICT (verdict) DO UPDATE SET runs = pruned_runs.runs + "
                                "excluded.runs",
                                "si", (const char *)v, (gint64)GPOINTER_TO_SIZE(k)),
                        error);
    if (!ok) {
        store_rollback(s);
        g_prefix_error(error, "prune runs: ");
        return FALSE;
    }
    if (!store_commit(s, error))
        return FALSE;
    if (deleted)
        *deleted = n;
    return TRUE;
}
