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
    g_free(r);
}

#define RUN_COLUMNS                                                                                \
    "seq, id, profile, agent_a, agent_b, schedule, state, verdict, created_at, offered_at, "       \
    "a_taken_at, b_taken_at, a_reported_at, b_reported_at, deadline, finished_at, note, result"

static StoreRun *run_from_row(sqlite3_stmt *st)
{
    StoreRun *r = g_new0(StoreRun, 1);
    r->seq = sqlite3_column_int64(st, 0);
    r->id = store_col_text(st, 1);
    r->profile = store_col_text(st, 2);
    r->agent[0] = store_col_text(st, 3);
    r->agent[1] = store_col_text(st, 4);
    r->schedule = store_col_text(st, 5);
    g_autofree char *state = store_col_text(st, 6);
    r->state = run_state_from_string(state);
    r->verdict = store_col_text(st, 7);
    r->created_at = sqlite3_column_int64(st, 8);
    r->offered_at = sqlite3_column_int64(st, 9);
    r->taken_at[0] = sqlite3_column_int64(st, 10);
    r->taken_at[1] = sqlite3_column_int64(st, 11);
    r->reported_at[0] = sqlite3_column_int64(st, 12);
    r->reported_at[1] = sqlite3_column_int64(st, 13);
    r->deadline = sqlite3_column_int64(st, 14);
    r->finished_at = sqlite3_column_int64(st, 15);
    r->note = store_col_text(st, 16);
    r->result = store_col_text(st, 17);
    return r;
}

static GPtrArray *runs_query(Store *s, sqlite3_stmt *st, GError **error)
{
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)store_run_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, run_from_row(st));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        store_db_error(s, error, "read runs");
        return NULL;
    }
    return out;
}

gboolean store_run_create(Store *s, const StoreRun *r, GError **error)
{
    sqlite3_stmt *st =
        store_q(s, error,
                "INSERT INTO runs (id, seq, profile, agent_a, agent_b, schedule, state, "
                "created_at, note) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
                "runs), ?, ?, ?, ?, ?, ?, ?)",
                "ssssssis", r->id, r->profile, r->agent[0], r->agent[1], r->schedule,
                run_state_to_string(RUN_PENDING), r->created_at, r->note);
    return store_done(s, st, error);
}

StoreRun *store_run_get(Store *s, const char *id, GError **error)
{
    sqlite3_stmt *st = store_q(s, error, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?", "s", id);
    if (!st)
        return NULL;
    int rc = sqlite3_step(st);
    StoreRun *r = rc == SQLITE_ROW ? run_from_row(st) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        store_db_error(s, error, "read run");
    else if (!r)
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no run '%s'", id);
    return r;
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

gboolean store_run_offer(Store *s, const char *id, gint64 now, GError **error)
{
    return store_done(s,
                      store_q(s, error,
                              "UPDATE runs SET offered_at = ? WHERE id = ? AND offered_at IS NULL",
                              "is", now, id),
                      error);
}

static StoreRun *get_active(Store *s, const char *id, GError **error)
{
    StoreRun *r = store_run_get(s, id, error);
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
    g_autoptr(StoreRun) r = get_active(s, id, error);
    if (!r) {
        store_rollback(s);
        return NULL;
    }
    if (!r->taken_at[side]) {
        r->taken_at[side] = now;
        gboolean both = r->taken_at[!side] != 0;
        r->state = both ? RUN_RUNNING : RUN_DISPATCHED;
        if (both)
            r->deadline = deadline;
        sqlite3_stmt *st =
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
    g_autoptr(StoreRun) r = store_run_get(s, id, error);
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
    sqlite3_stmt *st = store_q(
        s, error, "SELECT side, document FROM reports WHERE run_id = ? ORDER BY side", "s", id);
    if (!st)
        return FALSE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *side = (const char *)sqlite3_column_text(st, 0);
        char **slot = side && strcmp(side, "b") == 0 ? b : a;
        g_free(*slot);
        *slot = store_col_text(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_db_error(s, error, "read reports");
    return TRUE;
}

static gboolean insert_path_metrics(Store *s, const char *id, const PathRecord *p, const char *side,
                                    GError **error)
{
    const char *sql = "INSERT INTO path_metrics (run_id, path, side, verdict, local_type, "
                      "transport, egress_class, loss_ratio, jitter_ms, rtt_ms, mos) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st =
        store_q(s, error, sql, "sssssss", id, p->name, side, verdict_to_string(p->verdict),
                p->have_pair ? p->local.type : NULL, p->have_pair ? p->local.transport : NULL,
                p->have_pair ? p->local.egress_class : NULL);
    if (!st)
        return FALSE;
    if (p->have_metrics) {
        sqlite3_bind_double(st, 8, p->metrics.loss_ratio);
        sqlite3_bind_double(st, 9, p->metrics.jitter_ms);
        if (p->metrics.rtt_samples)
            sqlite3_bind_double(st, 10, p->metrics.rtt_median_ms);
        sqlite3_bind_double(st, 11, p->metrics.mos);
    }
    return store_done(s, st, error);
}

gboolean store_run_finish(Store *s, const char *id, RunState state, const RunResult *result,
                          const char *note, gint64 now, GError **error)
{
    g_return_val_if_fail(run_state_is_final(state) && result, FALSE);
    g_autofree char *doc = run_result_to_string(result, FALSE);
    if (!store_begin(s, error))
        return FALSE;
    g_autoptr(StoreRun) r = get_active(s, id, error);
    gboolean ok = r != NULL;
    ok = ok && store_done(s,
                          store_q(s, error,
                                  "UPDATE runs SET state = ?, verdict = ?, finished_at = ?, note = "
                                  "COALESCE(?, note), result = ? WHERE id = ?",
                                  "ssisss", run_state_to_string(state),
                                  verdict_to_string(result->verdict), now, note, doc, id),
                          error);
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

GPtrArray *store_path_metrics(Store *s, const char *run_id, GError **error)
{
    sqlite3_stmt *st =
        store_q(s, error,
                "SELECT path, side, verdict, local_type, transport, egress_class, "
                "loss_ratio, jitter_ms, rtt_ms, mos FROM path_metrics WHERE run_id = ? "
                "ORDER BY path, side",
                "s", run_id);
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)store_path_metrics_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        StorePathMetrics *m = g_new0(StorePathMetrics, 1);
        m->path = store_col_text(st, 0);
        m->side = store_col_text(st, 1);
        m->verdict = store_col_text(st, 2);
        m->local_type = store_col_text(st, 3);
        m->transport = store_col_text(st, 4);
        m->egress_class = store_col_text(st, 5);
        m->have_metrics = sqlite3_column_type(st, 6) != SQLITE_NULL;
        m->loss_ratio = sqlite3_column_double(st, 6);
        m->jitter_ms = sqlite3_column_double(st, 7);
        m->rtt_ms = sqlite3_column_type(st, 8) != SQLITE_NULL ? sqlite3_column_double(st, 8) : -1;
        m->mos = sqlite3_column_double(st, 9);
        g_ptr_array_add(out, m);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        store_db_error(s, error, "read path metrics");
        return NULL;
    }
    return out;
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
    sqlite3_stmt *st = store_q(s, error, sql, "");
    if (!st)
        return NULL;
    GHashTable *out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_hash_table_insert(out, store_col_text(st, 0),
                            GSIZE_TO_POINTER((gsize)sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_hash_table_unref(out);
        store_db_error(s, error, "count runs");
        return NULL;
    }
    return out;
}

GHashTable *store_count_verdicts(Store *s, GError **error)
{
    return count_by(s,
                    "SELECT verdict, COUNT(*) FROM runs WHERE state IN ('done', 'error') "
                    "GROUP BY verdict",
                    error);
}

GHashTable *store_count_states(Store *s, GError **error)
{
    return count_by(s, "SELECT state, COUNT(*) FROM runs GROUP BY state", error);
}

gboolean store_prune(Store *s, gint64 cutoff, guint *deleted, GError **error)
{
    if (!store_done(
            s,
            store_q(s, error,
                    /* the newest run stays, so seq never goes back */
                    "DELETE FROM runs WHERE state IN ('done', 'error') AND finished_at < ? AND "
                    "seq < (SELECT MAX(seq) FROM runs)",
                    "i", cutoff),
            error))
        return FALSE;
    if (deleted)
        *deleted = (guint)sqlite3_changes(s->db);
    return TRUE;
}
