/* The two databases behind store.h: SQLite (a file, WAL) and PostgreSQL
 * (libpq), through one small statement interface (store-private.h). The SQL is
 * the same for both: parameters are written '?' (turned into $1, $2, ... for
 * PostgreSQL), times are integer Unix seconds, and the numbered migrations below
 * are one list for both. Statements are prepared once and kept by their text.
 * Every change that touches more than one row runs in one transaction, so a
 * killed controller leaves either all of it or none. */
#include <errno.h>

#include <openssl/crypto.h>
#include <poll.h>
#include <string.h>

#include "store-private.h"

G_DEFINE_QUARK(iceprobe - store - error - quark, store_error)

/* PostgreSQL's type OIDs for the parameters (pg_type.h is the server's). */
#define OID_INT8   20
#define OID_TEXT   25
#define OID_FLOAT8 701

/* The numbered migrations: migration i brings the schema to version i + 1.
 * BIGINT and DOUBLE PRECISION: 64-bit in PostgreSQL, INTEGER and REAL
 * affinity in SQLite. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE agents ("
    "  name TEXT PRIMARY KEY,"
    "  groups TEXT NOT NULL,"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  created_at BIGINT NOT NULL,"
    "  last_seen BIGINT,"
    "  version TEXT,"
    "  interfaces TEXT);"
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  seq BIGINT NOT NULL UNIQUE,"
    "  profile TEXT NOT NULL,"
    "  agent_a TEXT NOT NULL,"
    "  agent_b TEXT NOT NULL,"
    "  schedule TEXT,"
    "  state TEXT NOT NULL,"
    "  verdict TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  offered_at BIGINT,"
    "  a_taken_at BIGINT, b_taken_at BIGINT,"
    "  a_reported_at BIGINT, b_reported_at BIGINT,"
    "  deadline BIGINT,"
    "  finished_at BIGINT,"
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
    "  received_at BIGINT NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  document TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, side));"
    "CREATE TABLE findings ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  seq BIGINT NOT NULL,"
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
    "  loss_ratio DOUBLE PRECISION, jitter_ms DOUBLE PRECISION, rtt_ms DOUBLE PRECISION,"
    "  mos DOUBLE PRECISION,"
    "  PRIMARY KEY (run_id, path, side));"
    "CREATE TABLE schedules ("
    "  name TEXT PRIMARY KEY,"
    "  last_fire BIGINT NOT NULL);",
    /* 2: when each side last called about its run, kept in the store so that
     * any controller sharing it knows who went silent */
    "ALTER TABLE runs ADD COLUMN a_heard_at BIGINT;"
    "ALTER TABLE runs ADD COLUMN b_heard_at BIGINT;",
    /* 3: the signals between a run's two agents, in the store so that the two
     * may call different controllers; deleted when the run ends */
    "CREATE TABLE signals ("
    "  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
    "  to_side BIGINT NOT NULL,"
    "  seq BIGINT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, to_side, seq));",
    /* 4: finished runs that history_days pruned, by verdict, so that
     * iceprobe_runs_total never goes back */
    "CREATE TABLE pruned_runs ("
    "  verdict TEXT PRIMARY KEY,"
    "  runs BIGINT NOT NULL);",
};

struct StoreStmt {
    Store *s;
    sqlite3_stmt *lite;
    /* PostgreSQL */
    char *name;
    int nparams;
    char **values;
    PGresult *res;
    int row, rows;
};

static void stmt_free(gpointer p)
{
    StoreStmt *st = p;
    if (st->lite)
        sqlite3_finalize(st->lite);
    if (st->res)
        PQclear(st->res);
    if (st->values) {
        for (int i = 0; i < st->nparams; i++)
            g_free(st->values[i]);
        g_free(st->values);
    }
    g_free(st->name);
    g_free(st);
}

static gboolean fail(Store *s, GError **error, const char *what, const char *message)
{
    s->errors++;
    /* libpq's messages run over several lines ("...\n\tThis probably means"):
     * one line, for logs and for the error an API caller gets. */
    g_autofree char *m = g_strdup(message ? message : "failed");
    g_strdelimit(m, "\n\t\r", ' ');
    g_auto(GStrv) words = g_strsplit(g_strstrip(m), " ", -1);
    GString *one = g_string_new(NULL);
    for (char **w = words; *w; w++) {
        if (**w)
            g_string_append_printf(one, "%s%s", one->len ? " " : "", *w);
    }
    g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "store: %s: %s", what, one->str);
    g_string_free(one, TRUE);
    return FALSE;
}

/* Why a PostgreSQL statement failed: its result's message, else the
 * connection's, else why the connection was given up. */
static const char *pg_why(const Store *s, const PGresult *r)
{
    if (r && *PQresultErrorMessage(r))
        return PQresultErrorMessage(r);
    if (s->pg)
        return PQerrorMessage(s->pg);
    return s->lost_why ? s->lost_why : "no connection to the database";
}

gboolean store_db_error(Store *s, GError **error, const char *what)
{
    return fail(s, error, what,
                s->backend == STORE_SQLITE ? sqlite3_errmsg(s->db) : pg_why(s, NULL));
}

/* ---- PostgreSQL statements never wait forever ----
 * libpq's PQexec waits as long as the server takes to answer, and TCP takes
 * minutes to give up on a peer that vanished: the controller's one main loop
 * would stop answering anyone. So a statement is sent, and its answer awaited
 * at most ANSWER_WAIT_MS. A server that has not answered by then (a network
 * partition, a host or disk that hangs) is taken for gone: the connection is
 * dropped and made again in the background (pg_alive). Its transaction, if any,
 * ended with it: the server rolls it back, or had committed it, and the caller,
 * told it failed, is answered 503 and tries again (what agents send is
 * idempotent). */
#define ANSWER_WAIT_MS 10000

static void pg_lost(Store *s, const char *why)
{
    g_free(s->lost_why);
    s->lost_why = g_strdup(why);
    PQfinish(s->pg);
    s->pg = NULL;
}

/* The answer to what was just sent (sent: what PQsend* returned): as PQexec, the
 * last result, or the first that failed; NULL if there is none (pg_why). */
static PGresult *pg_answer(Store *s, int sent)
{
    if (!sent)
        return NULL;
    gint64 until =
        s->answer_wait_ms ? g_get_monotonic_time() + (gint64)s->answer_wait_ms * 1000 : G_MAXINT64;
    PGresult *keep = NULL;
    for (;;) {
        gboolean broke = FALSE;
        while (!broke && PQisBusy(s->pg)) {
            int timeout_ms = -1;
            if (until != G_MAXINT64)
                timeout_ms = (int)CLAMP((until - g_get_monotonic_time()) / 1000, 0, G_MAXINT);
            struct pollfd p = {PQsocket(s->pg), POLLIN, 0};
            int rc = poll(&p, 1, timeout_ms);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc == 0) {
                PQclear(keep);
                g_autofree char *why = g_strdup_printf("no answer from the database in %u s",
                                                       s->answer_wait_ms / 1000);
                pg_lost(s, why);
                return NULL;
            }
            broke = !PQconsumeInput(s->pg); /* then PQgetResult says why, at once */
        }
        PGresult *r = PQgetResult(s->pg);
        if (!r)
            return keep;
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
}

/* PostgreSQL: a connection that broke is made again in the background
 * (store_dial_start), at most once a second; a statement meanwhile fails at
 * once. A database that is up answers a new attempt within DIAL_WAIT_MS, so
 * the statement that starts it waits that long for it. One that is not (a
 * network partition, a failover in progress) costs the caller no more: the
 * controller goes on answering, 503 for what needs the store. The new
 * connection has none of the old one's prepared statements. */
#define DIAL_WAIT_MS 100
#define REDIAL_US    G_USEC_PER_SEC

static gboolean pg_alive(Store *s, GError **error)
{
    if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
        return TRUE;
    gboolean fresh = FALSE;
    if (!s->dial && g_get_monotonic_time() >= s->dial_next) {
        s->dial =
            store_dial_start(s->url, "iceprobe-controller", "SET client_min_messages = warning");
        fresh = TRUE;
    }
    if (s->dial && store_dial_wait(s->dial, fresh ? DIAL_WAIT_MS : 0)) {
        g_autoptr(GError) e = NULL;
        PGconn *c = store_dial_finish(g_steal_pointer(&s->dial), &e);
        if (c) {
            PQfinish(s->pg);
            s->pg = c;
            g_hash_table_remove_all(s->stmts);
            s->in_tx = FALSE;
            g_clear_pointer(&s->dial_error, g_free);
            g_clear_pointer(&s->lost_why, g_free);
            return TRUE;
        }
        g_free(s->dial_error);
        s->dial_error = g_strdup(e->message);
        s->dial_next = g_get_monotonic_time() + REDIAL_US;
    }
    return fail(s, error, "the database is unreachable",
                s->dial_error ? s->dial_error
                : s->lost_why ? s->lost_why
                              : "connecting again");
}

gboolean store_exec(Store *s, const char *sql, GError **error)
{
    if (s->backend == STORE_SQLITE) {
        char *msg = NULL;
        if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            fail(s, error, "exec", msg);
            sqlite3_free(msg);
            return FALSE;
        }
        return TRUE;
    }
    if (!s->in_tx && !pg_alive(s, error))
        return FALSE;
    PGresult *r = pg_answer(s, s->pg ? PQsendQuery(s->pg, sql) : 0);
    ExecStatusType st = PQresultStatus(r);
    gboolean ok = r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    if (!ok)
        fail(s, error, "exec", pg_why(s, r));
    PQclear(r);
    return ok;
}

gboolean store_begin(Store *s, GError **error)
{
    if (!store_exec(s, s->backend == STORE_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", error))
        return FALSE;
    s->in_tx = TRUE;
    return TRUE;
}

gboolean store_commit(Store *s, GError **error)
{
    gboolean ok = store_exec(s, "COMMIT", error);
    s->in_tx = FALSE;
    return ok;
}

void store_rollback(Store *s)
{
    if (s->backend == STORE_SQLITE)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else
        PQclear(pg_answer(s, s->pg ? PQsendQuery(s->pg, "ROLLBACK") : 0));
    s->in_tx = FALSE;
}

/* sql with each '?' outside a quoted literal turned into $1, $2, ... */
static char *numbered(const char *sql, int *count)
{
    GString *out = g_string_new(NULL);
    gboolean quoted = FALSE;
    int n = 0;
    for (const char *p = sql; *p; p++) {
        if (*p == '\'')
            quoted = !quoted;
        if (*p == '?' && !quoted)
            g_string_append_printf(out, "$%d", ++n);
        else
            g_string_append_c(out, *p);
    }
    *count = n;
    return g_string_free(out, FALSE);
}

static StoreStmt *prepare(Store *s, GError **error, const char *sql, const char *fmt)
{
    StoreStmt *st = g_new0(StoreStmt, 1);
    st->s = s;
    if (s->backend == STORE_SQLITE) {
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL) !=
            SQLITE_OK) {
            store_db_error(s, error, "prepare");
            stmt_free(st);
            return NULL;
        }
        return st;
    }
    int n = 0;
    g_autofree char *text = numbered(sql, &n);
    if ((gsize)n != strlen(fmt)) {
        fail(s, error, "prepare", "the parameters and their types differ in number");
        stmt_free(st);
        return NULL;
    }
    g_autofree Oid *types = g_new0(Oid, MAX(n, 1));
    for (int i = 0; i < n; i++)
        types[i] = fmt[i] == 's' ? OID_TEXT : fmt[i] == 'i' ? OID_INT8 : OID_FLOAT8;
    st->name = g_strdup_printf("s%u", ++s->next_name);
    st->nparams = n;
    st->values = g_new0(char *, MAX(n, 1));
    PGresult *r = pg_answer(s, s->pg ? PQsendPrepare(s->pg, st->name, text, n, types) : 0);
    gboolean ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fail(s, error, "prepare", pg_why(s, r));
    PQclear(r);
    if (!ok) {
        stmt_free(st);
        return NULL;
    }
    return st;
}

StoreStmt *store_q(Store *s, GError **error, const char *sql, const char *fmt, ...)
{
    if (s->backend == STORE_POSTGRES && !s->in_tx && !pg_alive(s, error))
        return NULL;
    StoreStmt *st = g_hash_table_lookup(s->stmts, sql);
    if (!st) {
        st = prepare(s, error, sql, fmt);
        if (!st)
            return NULL;
        g_hash_table_insert(s->stmts, (gpointer)sql, st);
    }
    store_reset(st);
    if (st->lite)
        sqlite3_clear_bindings(st->lite);
    va_list ap;
    va_start(ap, fmt);
    int i = 0;
    for (const char *f = fmt; *f; f++, i++) {
        char *pg = NULL;
        if (*f == 's') {
            const char *v = va_arg(ap, const char *);
            if (v && st->lite)
                sqlite3_bind_text(st->lite, i + 1, v, -1, SQLITE_TRANSIENT);
            pg = v ? g_strdup(v) : NULL;
        } else if (*f == 'i') {
            gint64 v = va_arg(ap, gint64);
            if (st->lite)
                sqlite3_bind_int64(st->lite, i + 1, v);
            pg = g_strdup_printf("%" G_GINT64_FORMAT, v);
        } else if (*f == 'd' || *f == 'D') {
            double v = 0;
            gboolean null = FALSE;
            if (*f == 'd') {
                v = va_arg(ap, double);
            } else {
                const double *p = va_arg(ap, const double *);
                null = !p;
                v = p ? *p : 0;
            }
            if (st->lite && !null)
                sqlite3_bind_double(st->lite, i + 1, v);
            if (!null) {
                char buf[G_ASCII_DTOSTR_BUF_SIZE];
                pg = g_strdup(g_ascii_dtostr(buf, sizeof(buf), v));
            }
        }
        if (!st->lite && i < st->nparams) {
            g_free(st->values[i]);
            st->values[i] = pg;
        } else {
            g_free(pg);
        }
    }
    va_end(ap);
    return st;
}

gboolean store_step(StoreStmt *st, GError **error)
{
    Store *s = st->s;
    if (st->lite) {
        int rc = sqlite3_step(st->lite);
        if (rc == SQLITE_ROW)
            return TRUE;
        if (rc == SQLITE_DONE) {
            s->changes = sqlite3_changes(s->db);
            return FALSE;
        }
        return store_db_error(s, error, "step");
    }
    if (!st->res) {
        st->res =
            pg_answer(s, s->pg ? PQsendQueryPrepared(s->pg, st->name, st->nparams,
                                                     (const char *const *)st->values, NULL, NULL, 0)
                               : 0);
        ExecStatusType status = PQresultStatus(st->res);
        if (!st->res || (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)) {
            fail(s, error, "step", pg_why(s, st->res));
            PQclear(st->res);
            st->res = NULL;
            return FALSE;
        }
        st->rows = PQntuples(st->res);
        st->row = -1;
        const char *changed = PQcmdTuples(st->res);
        s->changes = changed && *changed ? g_ascii_strtoll(changed, NULL, 10) : 0;
    }
    return ++st->row < st->rows;
}

void store_reset(StoreStmt *st)
{
    if (st->lite) {
        sqlite3_reset(st->lite);
    } else if (st->res) {
        PQclear(st->res);
        st->res = NULL;
    }
}

gboolean store_done(Store *s, StoreStmt *st, GError **error)
{
    if (!st)
        return FALSE;
    g_autoptr(GError) e = NULL;
    store_step(st, &e);
    store_reset(st);
    if (e) {
        g_propagate_error(error, g_steal_pointer(&e));
        return FALSE;
    }
    return TRUE;
}

gint64 store_changes(const Store *s)
{
    return s->changes;
}

static const char *pg_value(StoreStmt *st, int i)
{
    if (!st->res || st->row < 0 || st->row >= st->rows || i >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, i))
        return NULL;
    return PQgetvalue(st->res, st->row, i);
}

char *store_col_text(StoreStmt *st, int i)
{
    if (st->lite) {
        const unsigned char *t = sqlite3_column_text(st->lite, i);
        return t ? g_strdup((const char *)t) : NULL;
    }
    return g_strdup(pg_value(st, i));
}

gint64 store_col_int(StoreStmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_int64(st->lite, i);
    const char *v = pg_value(st, i);
    return v ? g_ascii_strtoll(v, NULL, 10) : 0;
}

double store_col_double(StoreStmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_double(st->lite, i);
    const char *v = pg_value(st, i);
    return v ? g_ascii_strtod(v, NULL) : 0;
}

gboolean store_col_null(StoreStmt *st, int i)
{
    if (st->lite)
        return sqlite3_column_type(st->lite, i) == SQLITE_NULL;
    return pg_value(st, i) == NULL;
}

GPtrArray *store_rows(Store *s, StoreStmt *st, gpointer (*row)(StoreStmt *st),
                      GDestroyNotify free_item, const char *what, GError **error)
{
    if (!st)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(free_item);
    g_autoptr(GError) e = NULL;
    while (store_step(st, &e))
        g_ptr_array_add(out, row(st));
    store_reset(st);
    if (e) {
        g_ptr_array_unref(out);
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", what);
        return NULL;
    }
    return out;
}

int store_schema_version(Store *s)
{
    StoreStmt *st = store_q(s, NULL, "SELECT MAX(version) FROM schema_version", "");
    int v = st && store_step(st, NULL) ? (int)store_col_int(st, 0) : 0;
    if (st)
        store_reset(st);
    return v;
}

/* Each migration in its own transaction. On PostgreSQL several controllers may
 * start at once: an advisory lock makes them take turns (even at creating
 * schema_version: CREATE TABLE IF NOT EXISTS is not safe against a concurrent
 * one), and each looks at the version again once it holds it. On SQLite the
 * transaction holds the write lock. */
static gboolean migrate(Store *s, GError **error)
{
    for (;;) {
        if (!store_begin(s, error))
            return FALSE;
        if ((s->backend == STORE_POSTGRES &&
             !store_exec(s, "SELECT pg_advisory_xact_lock(7405330)", error)) || /* "ice" */
            !store_exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                        error)) {
            store_rollback(s);
            return FALSE;
        }
        int have = store_schema_version(s);
        if (have > (int)G_N_ELEMENTS(migrations)) {
            store_rollback(s);
            g_set_error(error, STORE_ERROR, STORE_ERROR_DB,
                        "store: the database is at schema version %d, newer than this "
                        "controller knows (%d)",
                        have, (int)G_N_ELEMENTS(migrations));
            return FALSE;
        }
        if (have == (int)G_N_ELEMENTS(migrations))
            return store_commit(s, error);
        if (!store_exec(s, migrations[have], error) ||
            !store_done(s,
                        store_q(s, error, "INSERT INTO schema_version (version) VALUES (?)", "i",
                                (gint64)have + 1),
                        error)) {
            store_rollback(s);
            return FALSE;
        }
        if (!store_commit(s, error))
            return FALSE;
    }
}

gboolean store_is_url(const char *target)
{
    return target &&
           (g_str_has_prefix(target, "postgresql://") || g_str_has_prefix(target, "postgres://"));
}

/* The server and database a URL names, for messages: never its password. */
static char *describe_url(const char *url)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    if (!opts)
        return g_strdup("postgresql (a URL libpq cannot read)");
    const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    char *d = g_strdup_printf("postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "",
                              host ? host : "", port ? ":" : "", port ? port : "", db ? db : "");
    PQconninfoFree(opts);
    return d;
}

static gboolean open_sqlite(Store *s, const char *path, GError **error)
{
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "store: cannot open '%s': %s", path,
                    s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return FALSE;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL: readers do not block the writer. synchronous=NORMAL in WAL mode keeps
     * every committed transaction through a killed process (not a power cut).
     * secure_delete: a run's deleted signals (ICE credentials, SRTP keys) are
     * overwritten, not left in free pages. */
    /* Switching a new file to WAL takes its lock without waiting on the busy
     * handler: writers opening a new file at once retry (for at most 5 s). */
    const char *sql = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON";
    for (int tries = 1;; tries++) {
        g_autoptr(GError) e = NULL;
        if (store_exec(s, sql, &e))
            return TRUE;
        if (tries >= 50 || (sqlite3_errcode(s->db) & 0xff) != SQLITE_BUSY) {
            g_propagate_error(error, g_steal_pointer(&e));
            return FALSE;
        }
        g_usleep(100000);
    }
}

PGconn *store_pg_connect(const char *url, const char *application, GError **error)
{
    /* Before dbname (the URL), so that the URL's own values win: a host that
     * does not answer is given up after 5 s (the next one of the URL is tried);
     * a connection whose data goes unacknowledged for 10 s, or whose idle peer
     * does not answer three keepalives (about 11 s), is dead, rather than a
     * statement waiting for TCP's own 15 minutes. */
    const char *const keys[] = {"connect_timeout",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                "dbname",
                                "application_name",
                                NULL};
    const char *const values[] = {"5", "1", "5", "2", "3", "10000", url, application, NULL};
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        g_autofree char *m = g_strchomp(g_strdup(pg ? PQerrorMessage(pg) : "out of memory"));
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "cannot connect: %s", m);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

void store_secret_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        g_free(secret);
    }
}

struct StoreDial {
    char *url, *application, *sql;
    GThread *thread;
    GMutex lock;
    GCond over_cond;
    gboolean over; /* under lock */
    PGconn *conn;  /* the thread's result, read once it is over */
    GError *error;
};

static gpointer dial_thread(gpointer data)
{
    StoreDial *d = data;
    GError *e = NULL;
    PGconn *c = store_pg_connect(d->url, d->application, &e);
    if (c && d->sql) {
        PGresult *r = PQexec(c, d->sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            g_autofree char *m = g_strchomp(g_strdup(PQresultErrorMessage(r)));
            g_set_error(&e, STORE_ERROR, STORE_ERROR_DB, "%s: %s", d->sql, m);
            PQfinish(c);
            c = NULL;
        }
        PQclear(r);
    }
    g_mutex_lock(&d->lock);
    d->conn = c;
    d->error = e;
    d->over = TRUE;
    g_cond_signal(&d->over_cond);
    g_mutex_unlock(&d->lock);
    return NULL;
}

StoreDial *store_dial_start(const char *url, const char *application, const char *sql)
{
    g_return_val_if_fail(url && application, NULL);
    StoreDial *d = g_new0(StoreDial, 1);
    d->url = g_strdup(url);
    d->application = g_strdup(application);
    d->sql = g_strdup(sql);
    g_mutex_init(&d->lock);
    g_cond_init(&d->over_cond);
    d->thread = g_thread_new("store-dial", dial_thread, d);
    return d;
}

gboolean store_dial_wait(StoreDial *d, guint timeout_ms)
{
    gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_mutex_lock(&d->lock);
    while (!d->over && g_cond_wait_until(&d->over_cond, &d->lock, until))
        ;
    gboolean over = d->over;
    g_mutex_unlock(&d->lock);
    return over;
}

PGconn *store_dial_finish(StoreDial *d, GError **error)
{
    g_thread_join(d->thread);
    PGconn *c = d->conn;
    if (!c)
        g_propagate_error(error, d->error);
    g_mutex_clear(&d->lock);
    g_cond_clear(&d->over_cond);
    store_secret_free(d->url);
    g_free(d->application);
    g_free(d->sql);
    g_free(d);
    return c;
}

static gboolean open_postgres(Store *s, const char *url, GError **error)
{
    s->pg = store_pg_connect(url, "iceprobe-controller", error);
    if (!s->pg) {
        g_prefix_error(error, "store: ");
        return FALSE;
    }
    /* Notices (CREATE TABLE IF NOT EXISTS ...) are not errors. */
    return store_exec(s, "SET client_min_messages = warning", error);
}

Store *store_open(const char *target, GError **error)
{
    g_return_val_if_fail(target, NULL);
    Store *s = g_new0(Store, 1);
    s->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, stmt_free);
    s->backend = store_is_url(target) ? STORE_POSTGRES : STORE_SQLITE;
    s->where = s->backend == STORE_POSTGRES ? describe_url(target) : g_strdup(target);
    if (s->backend == STORE_POSTGRES)
        s->url = g_strdup(target);
    gboolean ok = s->backend == STORE_POSTGRES ? open_postgres(s, target, error)
                                               : open_sqlite(s, target, error);
    /* A migration takes as long as it takes (a table rewritten, another
     * controller's migration waited for): its statements are not cut short. */
    if (!ok || !migrate(s, error)) {
        g_prefix_error(error, "%s: ", s->where);
        store_close(s);
        return NULL;
    }
    s->answer_wait_ms = ANSWER_WAIT_MS;
    return s;
}

void store_close(Store *s)
{
    if (!s)
        return;
    g_hash_table_unref(s->stmts);
    if (s->db)
        sqlite3_close(s->db);
    if (s->dial)
        PQfinish(store_dial_finish(s->dial, NULL));
    if (s->pg)
        PQfinish(s->pg);
    g_free(s->dial_error);
    g_free(s->lost_why);
    g_free(s->where);
    store_secret_free(s->url); /* it may hold a password */
    g_free(s);
}

const char *store_describe(const Store *s)
{
    return s->where;
}

guint64 store_error_count(const Store *s)
{
    return s->errors;
}
