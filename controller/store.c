/* SQLite behind store.h. Statements are prepared once (SQLITE_PREPARE_PERSISTENT)
 * and kept in a table by their text; `store_q()` hands one out reset and bound. Every
 * change that touches more than one row runs between BEGIN IMMEDIATE and COMMIT,
 * so a killed controller leaves either all of it or none. */
#include <string.h>

#include "store-private.h"

G_DEFINE_QUARK(iceprobe - store - error - quark, store_error)

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

gboolean store_db_error(Store *s, GError **error, const char *what)
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

gboolean store_begin(Store *s, GError **error)
{
    return exec(s, "BEGIN IMMEDIATE", error);
}

gboolean store_commit(Store *s, GError **error)
{
    return exec(s, "COMMIT", error);
}

void store_rollback(Store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A prepared statement for sql, reset, with args bound by fmt: 's' text (NULL
 * binds null), 'i' gint64, 'd' double. */
sqlite3_stmt *store_q(Store *s, GError **error, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = g_hash_table_lookup(s->stmts, sql);
    if (!st) {
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
            store_db_error(s, error, "prepare");
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
gboolean store_done(Store *s, sqlite3_stmt *st, GError **error)
{
    if (!st)
        return FALSE;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_db_error(s, error, "write");
    return TRUE;
}

char *store_col_text(sqlite3_stmt *st, int i)
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
    sqlite3_stmt *st = store_q(s, NULL, "SELECT MAX(version) FROM schema_version", "");
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
        if (!store_begin(s, error))
            return FALSE;
        if (!exec(s, migrations[v], error) ||
            !store_done(s,
                        store_q(s, error, "INSERT INTO schema_version (version) VALUES (?)", "i",
                                (gint64)v + 1),
                        error)) {
            store_rollback(s);
            return FALSE;
        }
        if (!store_commit(s, error))
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
    a->name = store_col_text(st, 0);
    g_autofree char *groups = store_col_text(st, 1);
    a->groups = g_strsplit(groups ? groups : "", ",", -1);
    if (!groups || !*groups) {
        g_strfreev(a->groups);
        a->groups = g_new0(char *, 1);
    }
    a->created_at = sqlite3_column_int64(st, 2);
    a->last_seen = sqlite3_column_int64(st, 3);
    a->version = store_col_text(st, 4);
    a->interfaces = store_col_text(st, 5);
    return a;
}

gboolean store_agent_add(Store *s, const char *name, const char *const *groups,
                         const char *token_hash, gint64 now, GError **error)
{
    g_return_val_if_fail(s && name && token_hash, FALSE);
    g_autofree char *joined = g_strjoinv(",", (char **)groups);
    sqlite3_stmt *st = store_q(s, error,
                               "INSERT INTO agents (name, groups, token_hash, created_at) "
                               "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               "sssi", name, joined, token_hash, now);
    if (!store_done(s, st, error))
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
    if (!store_done(s, store_q(s, error, "DELETE FROM agents WHERE name = ?", "s", name), error))
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
        store_db_error(s, error, "read agent");
    else if (!a)
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no agent %s", what);
    return a;
}

StoreAgent *store_agent_by_token_hash(Store *s, const char *token_hash, GError **error)
{
    return agent_query(s,
                       store_q(s, error,
                               "SELECT " AGENT_COLUMNS " FROM agents WHERE token_hash = ?", "s",
                               token_hash),
                       "with that token", error);
}

StoreAgent *store_agent_by_name(Store *s, const char *name, GError **error)
{
    g_autofree char *what = g_strdup_printf("named '%s'", name);
    return agent_query(
        s, store_q(s, error, "SELECT " AGENT_COLUMNS " FROM agents WHERE name = ?", "s", name),
        what, error);
}

GPtrArray *store_agent_list(Store *s, GError **error)
{
    sqlite3_stmt *st = store_q(s, error, "SELECT " AGENT_COLUMNS " FROM agents ORDER BY name", "");
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)store_agent_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, agent_from_row(st));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        store_db_error(s, error, "list agents");
        return NULL;
    }
    return out;
}

GPtrArray *store_agents_in_group(Store *s, const char *group, GError **error)
{
    /* groups is a comma-joined list of names (names hold no comma) */
    sqlite3_stmt *st =
        store_q(s, error,
                "SELECT name FROM agents WHERE ',' || groups || ',' LIKE '%,' || ? || ',%' "
                "ORDER BY name",
                "s", group);
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, store_col_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        store_db_error(s, error, "list a group");
        return NULL;
    }
    return out;
}

gboolean store_agent_seen(Store *s, const char *name, gint64 now, const char *version,
                          const char *interfaces_json, GError **error)
{
    sqlite3_stmt *st = store_q(s, error,
                               "UPDATE agents SET last_seen = ?, version = COALESCE(?, version), "
                               "interfaces = COALESCE(?, interfaces) WHERE name = ?",
                               "isss", now, version, interfaces_json, name);
    return store_done(s, st, error);
}

gboolean store_agents_seen(Store *s, GHashTable *seen, GError **error)
{
    if (g_hash_table_size(seen) == 0)
        return TRUE;
    if (!store_begin(s, error))
        return FALSE;
    GHashTableIter it;
    gpointer name, when;
    g_hash_table_iter_init(&it, seen);
    while (g_hash_table_iter_next(&it, &name, &when)) {
        sqlite3_stmt *st = store_q(s, error, "UPDATE agents SET last_seen = ? WHERE name = ?", "is",
                                   *(gint64 *)when, (const char *)name);
        if (!store_done(s, st, error)) {
            store_rollback(s);
            return FALSE;
        }
    }
    return store_commit(s, error);
}

/* ---- schedules ---- */

gboolean store_schedule_last_fire(Store *s, const char *name, gint64 *out, GError **error)
{
    sqlite3_stmt *st =
        store_q(s, error, "SELECT last_fire FROM schedules WHERE name = ?", "s", name);
    if (!st)
        return FALSE;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_db_error(s, error, "read schedule");
    return TRUE;
}

gboolean store_schedule_set_last_fire(Store *s, const char *name, gint64 when, GError **error)
{
    return store_done(s,
                      store_q(s, error,
                              "INSERT INTO schedules (name, last_fire) VALUES (?, ?) "
                              "ON CONFLICT (name) DO UPDATE SET last_fire = excluded.last_fire",
                              "si", name, when),
                      error);
}
