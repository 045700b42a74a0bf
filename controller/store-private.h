/* Shared by the store's files (store_db.c: the two databases behind one small
 * statement interface, migrations; store.c: agents and schedules; store_runs.c:
 * runs and their history); not part of store.h. */
#pragma once

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"

typedef enum { STORE_SQLITE, STORE_POSTGRES } StoreBackend;

typedef struct StoreStmt StoreStmt;
typedef struct StoreDial StoreDial;

struct Store {
    StoreBackend backend;
    char *where;       /* the file, or the server and database (never a password) */
    sqlite3 *db;       /* SQLite */
    PGconn *pg;        /* PostgreSQL */
    GHashTable *stmts; /* SQL text -> StoreStmt */
    guint next_name;   /* PostgreSQL prepared statements are named s1, s2, ... */
    char *url;         /* PostgreSQL: the URL, for the listener's own connection */
    gboolean in_tx;
    gint64 changes; /* rows the last statement changed */
    guint64 errors;
    /* PostgreSQL: a broken connection is made again in the background */
    StoreDial *dial;      /* under way */
    gint64 dial_next;     /* monotonic µs: no new attempt before */
    char *dial_error;     /* why the last attempt failed */
    char *lost_why;       /* why the connection was given up (pg is NULL then) */
    guint answer_wait_ms; /* PostgreSQL: 0 while migrating (as long as it takes) */
    gint64 connected_at;  /* monotonic µs: when pg was made */
    StoreHealth *health;  /* shared with the controller's other threads, or NULL */
};

/* Counts the failure and sets error from the database's message; FALSE. */
gboolean store_db_error(Store *s, GError **error, const char *what);
/* The same with the message given (made one line); FALSE. */
gboolean store_fail(Store *s, GError **error, const char *what, const char *message);

/* ---- store_schema.c ---- */
/* Brings the schema to this controller's version, a migration a transaction. */
gboolean store_migrate(Store *s, GError **error);

/* ---- store_pg.c: PostgreSQL's connection and its health ---- */
#define STORE_ANSWER_WAIT_MS 10000 /* a statement's answer, at most (then the connection is lost) */
/* The answer to what was just sent (sent: what PQsend* returned), as PQexec's;
 * NULL if there is none (store_pg_why), the connection dropped if it is late. */
PGresult *store_pg_answer(Store *s, int sent);
/* TRUE when the connection is up, made again in the background if it broke. */
gboolean store_pg_alive(Store *s, GError **error);
/* Why a statement failed: its result's message, else the connection's. */
const char *store_pg_why(const Store *s, const PGresult *r);
gboolean store_open_postgres(Store *s, const char *url, GError **error);
/* Runs SQL that returns nothing (one or more statements, no parameters). */
gboolean store_exec(Store *s, const char *sql, GError **error);
/* A transaction: SQLite takes the write lock at once (BEGIN IMMEDIATE);
 * PostgreSQL locks the run's row when the transaction reads it (FOR UPDATE in
 * store_get_active). */
gboolean store_begin(Store *s, GError **error);
gboolean store_commit(Store *s, GError **error);
void store_rollback(Store *s);

/* A statement for sql (prepared once, kept for the store's life), with args
 * bound by fmt: 's' text (NULL binds null), 'i' gint64, 'd' double, 'D' a
 * const double * (NULL binds null). Parameters are written '?'. NULL on error. */
StoreStmt *store_q(Store *s, GError **error, const char *sql, const char *fmt, ...);
/* The next row: TRUE with a row; FALSE at the end (*error unset) or on failure. */
gboolean store_step(StoreStmt *st, GError **error);
/* Done with the statement's rows (always, after store_q). */
void store_reset(StoreStmt *st);
/* Runs a statement that returns no rows (then resets it); store_changes() is
 * how many rows it changed. */
gboolean store_done(Store *s, StoreStmt *st, GError **error);
gint64 store_changes(const Store *s);

char *store_col_text(StoreStmt *st, int i); /* NULL for null */
gint64 store_col_int(StoreStmt *st, int i); /* 0 for null */
double store_col_double(StoreStmt *st, int i);
gboolean store_col_null(StoreStmt *st, int i);

/* The rows of a statement, each turned into an item by row (NULL on error). */
GPtrArray *store_rows(Store *s, StoreStmt *st, gpointer (*row)(StoreStmt *st),
                      GDestroyNotify free_item, const char *what, GError **error);

/* A PostgreSQL connection to url (libpq's URL or keywords), application naming
 * it in pg_stat_activity; NULL with the reason. It blocks (at most
 * connect_timeout, 5 s unless the URL says otherwise, for each host). */
PGconn *store_pg_connect(const char *url, const char *application, GError **error);

/* The same connection made in a thread of its own, then sql run on it (if not
 * NULL), so that a controller's main loop never waits for a database that does
 * not answer. */
StoreDial *store_dial_start(const char *url, const char *application, const char *sql);
/* Waits at most timeout_ms for the attempt to end; TRUE if it has. */
gboolean store_dial_wait(StoreDial *d, guint timeout_ms);
/* Ends the attempt (waiting for it if need be) and frees it: the connection, or
 * NULL with the reason. */
PGconn *store_dial_finish(StoreDial *d, GError **error);
/* Frees a string that may hold a password, wiping it first. */

/* The run, locked for the transaction that changes it (FOR UPDATE on
 * PostgreSQL), if it has not ended (STORE_ERROR_STATE if it has). */
StoreRun *store_get_active(Store *s, const char *id, GError **error);
