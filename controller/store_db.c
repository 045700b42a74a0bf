/* The two databases behind store.h: SQLite (a file, WAL) and PostgreSQL
 * (libpq), through one small statement interface (store-private.h). The SQL is
 * the same for both: parameters are written '?' (turned into $1, $2, ... for
 * PostgreSQL), times are integer Unix seconds, and the numbered migrations
 * (store_schema.c) are one list for both. PostgreSQL's connection and its
 * health are store_pg.c's. Statements are prepared once and kept by their text.
 * Every change that touches more than one row runs in one transaction, so a
 * killed controller leaves either all of it or none. */
#include <string.h>

#include "iceprobe/keyfile.h"
#include "store-private.h"

G_DEFINE_QUARK(iceprobe - store - error - quark, store_error)

/* PostgreSQL's type OIDs for the parameters (pg_type.h is the server's). */
#define OID_INT8   20
#define OID_TEXT   25
#define OID_FLOAT8 701

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

gboolean store_fail(Store *s, GError **error, const char *what, const char *message)
{
    __atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED); /* /metrics reads it from any thread */
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
const char *store_pg_why(const Store *s, const PGresult *r)
{
    if (r && *PQresultErrorMessage(r))
        return PQresultErrorMessage(r);
    if (s->pg)
        return PQerrorMessage(s->pg);
    return s->lost_why ? s->lost_why : "no connection to the database";
}

gboolean store_db_error(Store *s, GError **error, const char *what)
{
    return store_fail(s, error, what,
                      s->backend == STORE_SQLITE ? sqlite3_errmsg(s->db) : store_pg_why(s, NULL));
}

gboolean store_exec(Store *s, const char *sql, GError **error)
{
    if (s->backend == STORE_SQLITE) {
        char *msg = NULL;
        if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            store_fail(s, error, "exec", msg);
            sqlite3_free(msg);
            return FALSE;
        }
        return TRUE;
    }
    if (!s->in_tx && !store_pg_alive(s, error))
        return FALSE;
    PGresult *r = store_pg_answer(s, s->pg ? PQsendQuery(s->pg, sql) : 0);
    ExecStatusType st = PQresultStatus(r);
    gboolean ok = r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    if (!ok)
        store_fail(s, error, "exec", store_pg_why(s, r));
    PQclear(r);
    return ok;
}

/* The process's SQLite writers take turns here, a transaction (or a write
 * outside one) at a time: the controller's server threads each have a
 * connection to one file, and SQLite's own lock would make a thread that finds
 * it taken sleep in its busy handler (1 ms, then longer) rather than wait for
 * its turn. Recursive: one thread may hold two stores' transactions. */
static GRecMutex sqlite_writing;

gboolean store_begin(Store *s, GError **error)
{
    gboolean lite = s->backend == STORE_SQLITE;
    if (lite)
        g_rec_mutex_lock(&sqlite_writing);
    if (!store_exec(s, lite ? "BEGIN IMMEDIATE" : "BEGIN", error)) {
        if (lite)
            g_rec_mutex_unlock(&sqlite_writing);
        return FALSE;
    }
    s->in_tx = TRUE;
    return TRUE;
}

gboolean store_commit(Store *s, GError **error)
{
    gboolean ok = store_exec(s, "COMMIT", error);
    if (s->in_tx && s->backend == STORE_SQLITE)
        g_rec_mutex_unlock(&sqlite_writing);
    s->in_tx = FALSE;
    return ok;
}

void store_rollback(Store *s)
{
    if (s->backend == STORE_SQLITE)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else
        PQclear(store_pg_answer(s, s->pg ? PQsendQuery(s->pg, "ROLLBACK") : 0));
    if (s->in_tx && s->backend == STORE_SQLITE)
        g_rec_mutex_unlock(&sqlite_writing);
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
        store_fail(s, error, "prepare", "the parameters and their types differ in number");
        stmt_free(st);
        return NULL;
    }
    g_autofree Oid *types = g_new0(Oid, MAX(n, 1));
    for (int i = 0; i < n; i++)
        types[i] = fmt[i] == 's' ? OID_TEXT : fmt[i] == 'i' ? OID_INT8 : OID_FLOAT8;
    st->name = g_strdup_printf("s%u", ++s->next_name);
    st->nparams = n;
    st->values = g_new0(char *, MAX(n, 1));
    PGresult *r = store_pg_answer(s, s->pg ? PQsendPrepare(s->pg, st->name, text, n, types) : 0);
    gboolean ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        store_fail(s, error, "prepare", store_pg_why(s, r));
    PQclear(r);
    if (!ok) {
        stmt_free(st);
        return NULL;
    }
    return st;
}

StoreStmt *store_q(Store *s, GError **error, const char *sql, const char *fmt, ...)
{
    if (s->backend == STORE_POSTGRES && !s->in_tx && !store_pg_alive(s, error))
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
        gboolean write = !s->in_tx && !sqlite3_stmt_readonly(st->lite);
        if (write)
            g_rec_mutex_lock(&sqlite_writing);
        int rc = sqlite3_step(st->lite);
        if (write)
            g_rec_mutex_unlock(&sqlite_writing);
        if (rc == SQLITE_ROW)
            return TRUE;
        if (rc == SQLITE_DONE) {
            s->changes = sqlite3_changes(s->db);
            return FALSE;
        }
        return store_db_error(s, error, "step");
    }
    if (!st->res) {
        st->res = store_pg_answer(s, s->pg ? PQsendQueryPrepared(s->pg, st->name, st->nparams,
                                                                 (const char *const *)st->values,
                                                                 NULL, NULL, 0)
                                           : 0);
        ExecStatusType status = PQresultStatus(st->res);
        if (!st->res || (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)) {
            store_fail(s, error, "step", store_pg_why(s, st->res));
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

Store *store_open(const char *target, GError **error)
{
    g_return_val_if_fail(target, NULL);
    Store *s = g_new0(Store, 1);
    s->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, stmt_free);
    s->backend = store_is_url(target) ? STORE_POSTGRES : STORE_SQLITE;
    s->where = s->backend == STORE_POSTGRES ? describe_url(target) : g_strdup(target);
    if (s->backend == STORE_POSTGRES)
        s->url = g_strdup(target);
    gboolean ok = s->backend == STORE_POSTGRES ? store_open_postgres(s, target, error)
                                               : open_sqlite(s, target, error);
    /* A migration takes as long as it takes (a table rewritten, another
     * controller's migration waited for): its statements are not cut short. */
    if (!ok || !store_migrate(s, error)) {
        g_prefix_error(error, "%s: ", s->where);
        store_close(s);
        return NULL;
    }
    s->answer_wait_ms = STORE_ANSWER_WAIT_MS;
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
    store_health_unref(s->health);
    if (s->pg)
        PQfinish(s->pg);
    g_free(s->dial_error);
    g_free(s->lost_why);
    g_free(s->where);
    keyfile_secret_free(s->url); /* it may hold a password */
    g_free(s);
}

const char *store_describe(const Store *s)
{
    return s->where;
}

guint64 store_error_count(const Store *s)
{
    return __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
}
