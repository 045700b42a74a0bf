/* Shared by the store's files (store.c: the database, migrations, agents and
 * schedules; store_runs.c: runs and their history); not part of store.h. */
#pragma once

#include <sqlite3.h>

#include "store.h"

struct Store {
    sqlite3 *db;
    GHashTable *stmts; /* SQL text -> sqlite3_stmt */
    guint64 errors;
};

/* Counts the failure and sets error from SQLite's message; FALSE. */
gboolean store_db_error(Store *s, GError **error, const char *what);
gboolean store_begin(Store *s, GError **error); /* BEGIN IMMEDIATE */
gboolean store_commit(Store *s, GError **error);
void store_rollback(Store *s);
/* A prepared statement for sql (kept for the store's life), reset, with args
 * bound by fmt: 's' text (NULL binds null), 'i' gint64, 'd' double. */
sqlite3_stmt *store_q(Store *s, GError **error, const char *sql, const char *fmt, ...);
/* Runs a statement that returns no rows. */
gboolean store_done(Store *s, sqlite3_stmt *st, GError **error);
char *store_col_text(sqlite3_stmt *st, int i);
