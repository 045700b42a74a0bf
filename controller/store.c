/* SQLite behind store.h. Statements are prepared once (SQLITE_PREPARE_PERSISTENT)
 * and kept in a table by their text; `q()` hands one out reset and bound. Every
 * change that touches more than one row runs between BEGIN IMMEDIATE and COMMIT,
 * so a killed controller leaves either all of it or none. */
#include "store.h"

#include <sqlite3.h>
#include <string.h>

G_DEFINE_QUARK(iceprobe - store - error - quark, store_error)

struct Store {
    sqlite3 *db;
    GHashTable *stmts; /* SQL text -> sqlite3_stmt */
    guint64 errors;
};

/* The numbered migrations: migration i brings the schema to version i + 1. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE agents ("
    "  name TEXT PRIMARY KEY,"
    "  groups TEXT NOT NULL,"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen INTEGER,"
    "  version TEXT,"
    "  interfaces TEXT);"
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL UNIQUE,"
    "  profile TEXT NOT NULL,"
    "  agent_a TEXT NOT NULL,"
    "  agent_b TEXT NOT NULL,"
    "  schedule TEXT,"
    "  state TEXT NOT NULL,"
    "  verdict TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  offered_at INTEGER,"
    "  a_taken_at INTEGER, b_taken_at INTEGER,"
    "  a_reported_at INTEGER, b_reported_at INTEGER,"
    "  deadline INTEGER,"
    "  finished_at INTEGER,"
    "  note TEXT,"
    "  result TEXT);"
    "CREATE INDEX runs_by_state ON runs (state, seq);"
    "CREATE INDEX runs_by_created ON runs (created_at);"
    "CREATE INDEX runs_by_pair ON runs (profile, agent_a, agent_b, finished_at);"
    "CREATE INDEX runs_by_agent_a ON runs (agent_a, state);"
    "CREATE INDEX runs_by_agent_b ON runs (agent_b, state);"
    "CREATE TABLE reports ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  side TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  document TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, side));"
    "CREATE TABLE findings ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  code TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, seq));"
    "CREATE TABLE path_metrics ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL,"
    "  side TEXT NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  local_type TEXT, transport TEXT, egress_class TEXT,"
    "  loss_ratio REAL, jitter_ms REAL, rtt_ms REAL, mos REAL,"
    "  PRIMARY KEY (run_id, path, side));"
    "CREATE TABLE schedules ("
    "  name TEXT PRIMARY KEY,"
    "  last_fire INTEGER NOT NULL);",
};

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

static gboolean db_error(Store *s, GError **error, const char *what)
{
    s->errors++;
    g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "store: %s: %s", what, sqlite3_errmsg(s->db));
    return FALSE;
}

static gboolean exec(Store *s, const char *sql, GError **error)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        s->errors++;
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "store: %s", msg ? msg : "failed");
        sqlite3_free(msg);
        return FALSE;
    }
    return TRUE;
}

static gboolean begin(Store *s, GError **error)
{
    return exec(s, "BEGIN IMMEDIATE", error);
}

static gboolean commit(Store *s, GError **error)
{
    return exec(s, "COMMIT", error);
}

static void rollback(Store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A prepared statement for sql, reset, with args bound by fmt: 's' text (NULL
 * binds null), 'i' gint64, 'd' double. */
static sqlite3_stmt *q(Store *s, GError **error, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = g_hash_table_lookup(s->stmts, sql);
    if (!st) {
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
            db_error(s, error, "prepare");
            return NULL;
        }
        g_hash_table_insert(s->stmts, (gpointer)sql, st);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    va_list ap;
    va_start(ap, fmt);
    int i = 1;
    for (const char *f = fmt; *f; f++, i++) {
        if (*f == 's') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
        } else if (*f == 'i') {
            sqlite3_bind_int64(st, i, va_arg(ap, gint64));
        } else if (*f == 'd') {
            sqlite3_bind_double(st, i, va_arg(ap, double));
        }
    }
    va_end(ap);
    return st;
}

/* Runs a statement that returns no rows. */
static gboolean done(Store *s, sqlite3_stmt *st, GError **error)
{
    if (!st)
        return FALSE;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_error(s, error, "write");
    return TRUE;
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? g_strdup((const char *)t) : NULL;
}

static void finalize_stmt(gpointer p)
{
    sqlite3_finalize(p);
}

int store_schema_version(Store *s)
{
    sqlite3_stmt *st = q(s, NULL, "SELECT MAX(version) FROM schema_version", "");
    int v = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    if (st)
        sqlite3_reset(st);
    return v;
}

static gboolean migrate(Store *s, GError **error)
{
    if (!exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", error))
        return FALSE;
    int have = store_schema_version(s);
    if (have > (int)G_N_ELEMENTS(migrations)) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB,
                    "store: the database is at schema version %d, newer than this controller "
                    "knows (%d)",
                    have, (int)G_N_ELEMENTS(migrations));
        return FALSE;
    }
    for (int v = have; v < (int)G_N_ELEMENTS(migrations); v++) {
        if (!begin(s, error))
            return FALSE;
        if (!exec(s, migrations[v], error) ||
            !done(
                s,
                q(s, error, "INSERT INTO schema_version (version) VALUES (?)", "i", (gint64)v + 1),
                error)) {
            rollback(s);
            return FALSE;
        }
        if (!commit(s, error))
            return FALSE;
    }
    return TRUE;
}

Store *store_open(const char *path, GError **error)
{
    g_return_val_if_fail(path, NULL);
    Store *s = g_new0(Store, 1);
    s->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, finalize_stmt);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "store: cannot open '%s': %s", path,
                    s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL: readers do not block the writer. synchronous=NORMAL in WAL mode keeps
     * every committed transaction through a killed process (not a power cut). */
    if (!exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
              error) ||
        !migrate(s, error)) {
        g_prefix_error(error, "%s: ", path);
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(Store *s)
{
    if (!s)
        return;
    g_hash_table_unref(s->stmts);
    sqlite3_close(s->db);
    g_free(s);
}

guint64 store_error_count(const Store *s)
{
    return s->errors;
}

/* ---- agents ---- */

void store_agent_free(StoreAgent *a)
{
    if (!a)
        return;
    g_free(a->name);
    g_strfreev(a->groups);
    g_free(a->version);
    g_free(a->interfaces);
    g_free(a);
}

gboolean store_agent_in_group(const StoreAgent *a, const char *group)
{
    return g_strv_contains((const char *const *)a->groups, group);
}

#define AGENT_COLUMNS "name, groups, created_at, last_seen, version, interfaces"

static StoreAgent *agent_from_row(sqlite3_stmt *st)
{
    StoreAgent *a = g_new0(StoreAgent, 1);
    a->name = col_text(st, 0);
    g_autofree char *groups = col_text(st, 1);
    a->groups = g_strsplit(groups ? groups : "", ",", -1);
    if (!groups || !*groups) {
        g_strfreev(a->groups);
        a->groups = g_new0(char *, 1);
    }
    a->created_at = sqlite3_column_int64(st, 2);
    a->last_seen = sqlite3_column_int64(st, 3);
    a->version = col_text(st, 4);
    a->interfaces = col_text(st, 5);
    return a;
}

gboolean store_agent_add(Store *s, const char *name, const char *const *groups,
                         const char *token_hash, gint64 now, GError **error)
{
    g_return_val_if_fail(s && name && token_hash, FALSE);
    g_autofree char *joined = g_strjoinv(",", (char **)groups);
    sqlite3_stmt *st = q(s, error,
                         "INSERT INTO agents (name, groups, token_hash, created_at) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         "sssi", name, joined, token_hash, now);
    if (!done(s, st, error))
        return FALSE;
    if (sqlite3_changes(s->db) == 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_EXISTS, "an agent named '%s' exists already",
                    name);
        return FALSE;
    }
    return TRUE;
}

gboolean store_agent_remove(Store *s, const char *name, GError **error)
{
    if (!done(s, q(s, error, "DELETE FROM agents WHERE name = ?", "s", name), error))
        return FALSE;
    if (sqlite3_changes(s->db) == 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no agent named '%s'", name);
        return FALSE;
    }
    return TRUE;
}

static StoreAgent *agent_query(Store *s, sqlite3_stmt *st, const char *what, GError **error)
{
    if (!st)
        return NULL;
    int rc = sqlite3_step(st);
    StoreAgent *a = rc == SQLITE_ROW ? agent_from_row(st) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        db_error(s, error, "read agent");
    else if (!a)
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no agent %s", what);
    return a;
}

StoreAgent *store_agent_by_token_hash(Store *s, const char *token_hash, GError **error)
{
    return agent_query(
        s,
        q(s, error, "SELECT " AGENT_COLUMNS " FROM agents WHERE token_hash = ?", "s", token_hash),
        "with that token", error);
}

StoreAgent *store_agent_by_name(Store *s, const char *name, GError **error)
{
    g_autofree char *what = g_strdup_printf("named '%s'", name);
    return agent_query(
        s, q(s, error, "SELECT " AGENT_COLUMNS " FROM agents WHERE name = ?", "s", name), what,
        error);
}

GPtrArray *store_agent_list(Store *s, GError **error)
{
    sqlite3_stmt *st = q(s, error, "SELECT " AGENT_COLUMNS " FROM agents ORDER BY name", "");
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)store_agent_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, agent_from_row(st));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        db_error(s, error, "list agents");
        return NULL;
    }
    return out;
}

GPtrArray *store_agents_in_group(Store *s, const char *group, GError **error)
{
    /* groups is a comma-joined list of names (names hold no comma) */
    sqlite3_stmt *st =
        q(s, error,
          "SELECT name FROM agents WHERE ',' || groups || ',' LIKE '%,' || ? || ',%' "
          "ORDER BY name",
          "s", group);
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, col_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        db_error(s, error, "list a group");
        return NULL;
    }
    return out;
}

gboolean store_agent_seen(Store *s, const char *name, gint64 now, const char *version,
                          const char *interfaces_json, GError **error)
{
    sqlite3_stmt *st = q(s, error,
                         "UPDATE agents SET last_seen = ?, version = COALESCE(?, version), "
                         "interfaces = COALESCE(?, interfaces) WHERE name = ?",
                         "isss", now, version, interfaces_json, name);
    return done(s, st, error);
}

gboolean store_agents_seen(Store *s, GHashTable *seen, GError **error)
{
    if (g_hash_table_size(seen) == 0)
        return TRUE;
    if (!begin(s, error))
        return FALSE;
    GHashTableIter it;
    gpointer name, when;
    g_hash_table_iter_init(&it, seen);
    while (g_hash_table_iter_next(&it, &name, &when)) {
        sqlite3_stmt *st = q(s, error, "UPDATE agents SET last_seen = ? WHERE name = ?", "is",
                             *(gint64 *)when, (const char *)name);
        if (!done(s, st, error)) {
            rollback(s);
            return FALSE;
        }
    }
    return commit(s, error);
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
    r->id = col_text(st, 1);
    r->profile = col_text(st, 2);
    r->agent[0] = col_text(st, 3);
    r->agent[1] = col_text(st, 4);
    r->schedule = col_text(st, 5);
    g_autofree char *state = col_text(st, 6);
    r->state = run_state_from_string(state);
    r->verdict = col_text(st, 7);
    r->created_at = sqlite3_column_int64(st, 8);
    r->offered_at = sqlite3_column_int64(st, 9);
    r->taken_at[0] = sqlite3_column_int64(st, 10);
    r->taken_at[1] = sqlite3_column_int64(st, 11);
    r->reported_at[0] = sqlite3_column_int64(st, 12);
    r->reported_at[1] = sqlite3_column_int64(st, 13);
    r->deadline = sqlite3_column_int64(st, 14);
    r->finished_at = sqlite3_column_int64(st, 15);
    r->note = col_text(st, 16);
    r->result = col_text(st, 17);
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
        db_error(s, error, "read runs");
        return NULL;
    }
    return out;
}

gboolean store_run_create(Store *s, const StoreRun *r, GError **error)
{
    sqlite3_stmt *st = q(s, error,
                         "INSERT INTO runs (id, seq, profile, agent_a, agent_b, schedule, state, "
                         "created_at, note) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
                         "runs), ?, ?, ?, ?, ?, ?, ?)",
                         "ssssssis", r->id, r->profile, r->agent[0], r->agent[1], r->schedule,
                         run_state_to_string(RUN_PENDING), r->created_at, r->note);
    return done(s, st, error);
}

StoreRun *store_run_get(Store *s, const char *id, GError **error)
{
    sqlite3_stmt *st = q(s, error, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?", "s", id);
    if (!st)
        return NULL;
    int rc = sqlite3_step(st);
    StoreRun *r = rc == SQLITE_ROW ? run_from_row(st) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        db_error(s, error, "read run");
    else if (!r)
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no run '%s'", id);
    return r;
}

GPtrArray *store_runs_active(Store *s, GError **error)
{
    return runs_query(s,
                      q(s, error,
                        "SELECT " RUN_COLUMNS " FROM runs WHERE state IN ('pending', "
                        "'dispatched', 'running', 'verifying') ORDER BY seq",
                        ""),
                      error);
}

GPtrArray *store_runs_active_for_agent(Store *s, const char *agent, GError **error)
{
    return runs_query(s,
                      q(s, error,
                        "SELECT " RUN_COLUMNS " FROM runs WHERE (agent_a = ? OR agent_b = ?) AND "
                        "state IN ('pending', 'dispatched', 'running', 'verifying') ORDER BY seq",
                        "ss", agent, agent),
                      error);
}

GPtrArray *store_runs_for_agent(Store *s, const char *agent, GError **error)
{
    return runs_query(
        s,
        q(s, error,
          "SELECT " RUN_COLUMNS " FROM runs WHERE state IN ('pending', 'dispatched', 'running') "
          "AND offered_at IS NOT NULL AND ((agent_a = ? AND a_reported_at IS NULL) OR "
          "(agent_b = ? AND b_reported_at IS NULL)) ORDER BY seq",
          "ss", agent, agent),
        error);
}

gboolean store_run_offer(Store *s, const char *id, gint64 now, GError **error)
{
    return done(s,
                q(s, error, "UPDATE runs SET offered_at = ? WHERE id = ? AND offered_at IS NULL",
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
    if (!begin(s, error))
        return NULL;
    g_autoptr(StoreRun) r = get_active(s, id, error);
    if (!r) {
        rollback(s);
        return NULL;
    }
    if (!r->taken_at[side]) {
        r->taken_at[side] = now;
        gboolean both = r->taken_at[!side] != 0;
        r->state = both ? RUN_RUNNING : RUN_DISPATCHED;
        if (both)
            r->deadline = deadline;
        sqlite3_stmt *st = q(s, error,
                             side == 0 ? "UPDATE runs SET a_taken_at = ?, state = ?, deadline = ? "
                                         "WHERE id = ?"
                                       : "UPDATE runs SET b_taken_at = ?, state = ?, deadline = ? "
                                         "WHERE id = ?",
                             "isis", now, run_state_to_string(r->state), r->deadline, id);
        if (!done(s, st, error)) {
            rollback(s);
            return NULL;
        }
    }
    if (!commit(s, error))
        return NULL;
    return g_steal_pointer(&r);
}

StoreRun *store_run_add_report(Store *s, const char *id, int side, const char *document,
                               Verdict verdict, gint64 now, gboolean *duplicate, GError **error)
{
    g_return_val_if_fail((side == 0 || side == 1) && document && duplicate, NULL);
    *duplicate = FALSE;
    if (!begin(s, error))
        return NULL;
    g_autoptr(StoreRun) r = store_run_get(s, id, error);
    if (!r) {
        rollback(s);
        return NULL;
    }
    if (r->reported_at[side]) {
        *duplicate = TRUE;
        rollback(s);
        return g_steal_pointer(&r);
    }
    if (run_state_is_final(r->state) || !r->taken_at[side]) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_STATE, "run %s is %s: it takes no report%s", id,
                    run_state_to_string(r->state),
                    r->taken_at[side] ? "" : " from an agent that has not taken its order");
        rollback(s);
        return NULL;
    }
    r->reported_at[side] = now;
    if (r->reported_at[!side])
        r->state = RUN_VERIFYING;
    if (!done(s,
              q(s, error,
                "INSERT INTO reports (run_id, side, received_at, verdict, document) "
                "VALUES (?, ?, ?, ?, ?)",
                "ssiss", id, side ? "b" : "a", now, verdict_to_string(verdict), document),
              error) ||
        !done(s,
              q(s, error,
                side == 0 ? "UPDATE runs SET a_reported_at = ?, state = ? WHERE id = ?"
                          : "UPDATE runs SET b_reported_at = ?, state = ? WHERE id = ?",
                "iss", now, run_state_to_string(r->state), id),
              error)) {
        rollback(s);
        return NULL;
    }
    if (!commit(s, error))
        return NULL;
    return g_steal_pointer(&r);
}

gboolean store_run_reports(Store *s, const char *id, char **a, char **b, GError **error)
{
    *a = *b = NULL;
    sqlite3_stmt *st =
        q(s, error, "SELECT side, document FROM reports WHERE run_id = ? ORDER BY side", "s", id);
    if (!st)
        return FALSE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *side = (const char *)sqlite3_column_text(st, 0);
        char **slot = side && strcmp(side, "b") == 0 ? b : a;
        g_free(*slot);
        *slot = col_text(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(s, error, "read reports");
    return TRUE;
}

static gboolean insert_path_metrics(Store *s, const char *id, const PathRecord *p, const char *side,
                                    GError **error)
{
    const char *sql = "INSERT INTO path_metrics (run_id, path, side, verdict, local_type, "
                      "transport, egress_class, loss_ratio, jitter_ms, rtt_ms, mos) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st =
        q(s, error, sql, "sssssss", id, p->name, side, verdict_to_string(p->verdict),
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
    return done(s, st, error);
}

gboolean store_run_finish(Store *s, const char *id, RunState state, const RunResult *result,
                          const char *note, gint64 now, GError **error)
{
    g_return_val_if_fail(run_state_is_final(state) && result, FALSE);
    g_autofree char *doc = run_result_to_string(result, FALSE);
    if (!begin(s, error))
        return FALSE;
    g_autoptr(StoreRun) r = get_active(s, id, error);
    gboolean ok = r != NULL;
    ok = ok && done(s,
                    q(s, error,
                      "UPDATE runs SET state = ?, verdict = ?, finished_at = ?, note = "
                      "COALESCE(?, note), result = ? WHERE id = ?",
                      "ssisss", run_state_to_string(state), verdict_to_string(result->verdict), now,
                      note, doc, id),
                    error);
    for (guint i = 0; ok && i < result->findings->len; i++) {
        const Finding *f = result->findings->pdata[i];
        ok = done(s,
                  q(s, error,
                    "INSERT INTO findings (run_id, seq, code, severity, message) "
                    "VALUES (?, ?, ?, ?, ?)",
                    "sisss", id, (gint64)i, f->code, verdict_to_string(f->severity), f->message),
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
        rollback(s);
        return FALSE;
    }
    return commit(s, error);
}

GPtrArray *store_runs_page(Store *s, const StoreRunFilter *f, GError **error)
{
    /* One statement for every filter: a null parameter matches everything. */
    const char *sql = "SELECT " RUN_COLUMNS " FROM runs WHERE (? IS NULL OR profile = ?) "
                      "AND (? IS NULL OR (? = 'pending' AND verdict IS NULL) OR verdict = ?) "
                      "AND created_at >= ? "
                      "AND (? = 0 OR seq < ?) ORDER BY seq DESC LIMIT ?";
    return runs_query(s,
                      q(s, error, sql, "sssssiiii", f->profile, f->profile, f->verdict, f->verdict,
                        f->verdict, f->since, f->before_seq, f->before_seq,
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
    sqlite3_stmt *st = q(s, error,
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
        m->path = col_text(st, 0);
        m->side = col_text(st, 1);
        m->verdict = col_text(st, 2);
        m->local_type = col_text(st, 3);
        m->transport = col_text(st, 4);
        m->egress_class = col_text(st, 5);
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
        db_error(s, error, "read path metrics");
        return NULL;
    }
    return out;
}

GPtrArray *store_latest_per_pair(Store *s, GError **error)
{
    return runs_query(
        s,
        q(s, error,
          "SELECT " RUN_COLUMNS " FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY profile, "
          "agent_a, agent_b ORDER BY finished_at DESC, seq DESC) AS rn FROM runs WHERE state IN "
          "('done', 'error')) latest WHERE rn = 1 ORDER BY profile, agent_a, agent_b",
          ""),
        error);
}

GPtrArray *store_history(Store *s, const char *profile, const char *a, const char *b, guint limit,
                         GError **error)
{
    return runs_query(s,
                      q(s, error,
                        "SELECT " RUN_COLUMNS " FROM runs WHERE profile = ? AND agent_a = ? AND "
                        "agent_b = ? AND state IN ('done', 'error') ORDER BY finished_at DESC, "
                        "seq DESC LIMIT ?",
                        "sssi", profile, a, b, (gint64)limit),
                      error);
}

static GHashTable *count_by(Store *s, const char *sql, GError **error)
{
    sqlite3_stmt *st = q(s, error, sql, "");
    if (!st)
        return NULL;
    GHashTable *out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_hash_table_insert(out, col_text(st, 0),
                            GSIZE_TO_POINTER((gsize)sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_hash_table_unref(out);
        db_error(s, error, "count runs");
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
    if (!done(s,
              q(s, error,
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

/* ---- schedules ---- */

gboolean store_schedule_last_fire(Store *s, const char *name, gint64 *out, GError **error)
{
    sqlite3_stmt *st = q(s, error, "SELECT last_fire FROM schedules WHERE name = ?", "s", name);
    if (!st)
        return FALSE;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, error, "read schedule");
    return TRUE;
}

gboolean store_schedule_set_last_fire(Store *s, const char *name, gint64 when, GError **error)
{
    return done(s,
                q(s, error,
                  "INSERT INTO schedules (name, last_fire) VALUES (?, ?) "
                  "ON CONFLICT (name) DO UPDATE SET last_fire = excluded.last_fire",
                  "si", name, when),
                error);
}
