/* Signals between a run's two agents, and notifications between controllers,
 * behind store.h. The signals live in the store (table signals) so that the two
 * agents of a run may call different controllers; they are deleted with the
 * run's end. A controller that long-polls for them learns of a new one from
 * PostgreSQL's LISTEN/NOTIFY on a connection of its own. */
#include <glib-unix.h>
#include <string.h>

#include "iceprobe/keyfile.h"
#include "store-private.h"

#define NOTIFY_CHANNEL   "iceprobe_wake"
#define NOTIFY_MAX_BYTES 7999 /* PostgreSQL's payload limit is 8000 bytes */
#define RECONNECT_S      1

gboolean store_signal_post(Store *s, const char *run_id, int to, const char *body, guint max,
                           guint *seq, gboolean *duplicate, GError **error)
{
    g_return_val_if_fail(s && run_id && body && (to == 0 || to == 1), FALSE);
    *duplicate = FALSE;
    if (!store_begin(s, error))
        return FALSE;
    /* The run's row locked: posts to one run take turns, on every controller. */
    g_autoptr(StoreRun) r = store_get_active(s, run_id, error);
    if (!r) {
        store_rollback(s);
        return FALSE;
    }
    StoreStmt *st = store_q(s, error,
                            "SELECT seq, body FROM signals WHERE run_id = ? AND to_side = ? "
                            "ORDER BY seq DESC LIMIT 1",
                            "si", run_id, (gint64)to);
    if (!st) {
        store_rollback(s);
        return FALSE;
    }
    g_autoptr(GError) e = NULL;
    gint64 last = 0;
    g_autofree char *last_body = NULL;
    if (store_step(st, &e)) {
        last = store_col_int(st, 0);
        last_body = store_col_text(st, 1);
    }
    store_reset(st);
    if (e) {
        store_rollback(s);
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "read signals: ");
        return FALSE;
    }
    if (last_body && strcmp(last_body, body) == 0) {
        store_rollback(s);
        *duplicate = TRUE;
        *seq = (guint)last;
        return TRUE;
    }
    if (last >= (gint64)max) {
        store_rollback(s);
        g_set_error(error, STORE_ERROR, STORE_ERROR_FULL,
                    "the peer's inbox of run %s holds %u messages already", run_id, max);
        return FALSE;
    }
    if (!store_done(s,
                    store_q(s, error,
                            "INSERT INTO signals (run_id, to_side, seq, body) VALUES (?, ?, ?, ?)",
                            "siis", run_id, (gint64)to, last + 1, body),
                    error)) {
        store_rollback(s);
        return FALSE;
    }
    if (!store_commit(s, error))
        return FALSE;
    *seq = (guint)(last + 1);
    return TRUE;
}

char *store_signal_fetch(Store *s, const char *run_id, int to, guint after, guint *n,
                         GError **error)
{
    g_return_val_if_fail(s && run_id && (to == 0 || to == 1), NULL);
    StoreStmt *st = store_q(s, error,
                            "SELECT seq, body FROM signals WHERE run_id = ? AND to_side = ? AND "
                            "seq > ? ORDER BY seq",
                            "sii", run_id, (gint64)to, (gint64)after);
    if (!st)
        return NULL;
    GString *out = g_string_new("[");
    guint count = 0;
    g_autoptr(GError) e = NULL;
    while (store_step(st, &e)) {
        g_autofree char *body = store_col_text(st, 1);
        g_string_append_printf(out, "%s{\"seq\":%" G_GINT64_FORMAT ",\"message\":%s}",
                               count ? "," : "", store_col_int(st, 0), body ? body : "null");
        count++;
    }
    store_reset(st);
    if (e) {
        g_string_free(out, TRUE);
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "read signals: ");
        return NULL;
    }
    g_string_append_c(out, ']');
    if (n)
        *n = count;
    return g_string_free(out, FALSE);
}

/* ---- notifications ---- */

gboolean store_is_shared(const Store *s)
{
    return s->backend == STORE_POSTGRES;
}

gboolean store_notify(Store *s, const char *payload, GError **error)
{
    g_return_val_if_fail(store_is_shared(s) && payload, FALSE);
    if (strlen(payload) > NOTIFY_MAX_BYTES) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "notify: a payload of %zu bytes",
                    strlen(payload));
        return FALSE;
    }
    StoreStmt *st = store_q(s, error, "SELECT pg_notify('" NOTIFY_CHANNEL "', ?)", "s", payload);
    if (!st)
        return FALSE;
    g_autoptr(GError) e = NULL;
    store_step(st, &e);
    store_reset(st);
    if (e) {
        g_propagate_prefixed_error(error, g_steal_pointer(&e), "notify: ");
        return FALSE;
    }
    return TRUE;
}

struct StoreListener {
    char *url;
    char *where;
    PGconn *pg;
    GSource *watch; /* on the thread-default main context */
    GSource *retry; /* while reconnecting: looks at the attempt under way */
    StoreDial *dial;
    gint64 dial_next; /* monotonic µs */
    StoreNotifyFn fn;
    gpointer user_data;
    guint64 received;
};

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data);

static void listener_drop(StoreListener *l)
{
    if (l->watch) {
        g_source_destroy(l->watch);
        g_clear_pointer(&l->watch, g_source_unref);
    }
    if (l->pg) {
        PQfinish(l->pg);
        l->pg = NULL;
    }
}

#define LISTEN_APP "iceprobe-controller-listen"
#define LISTEN_SQL "LISTEN " NOTIFY_CHANNEL

/* Watches l->pg, connected and listening. */
static gboolean listener_watch(StoreListener *l, GError **error)
{
    if (PQsetnonblocking(l->pg, 1) != 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "%s: listen: %s", l->where,
                    PQerrorMessage(l->pg));
        listener_drop(l);
        return FALSE;
    }
    l->watch = g_unix_fd_source_new(PQsocket(l->pg), G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_callback(l->watch, G_SOURCE_FUNC(on_readable), l, NULL);
    g_source_attach(l->watch, g_main_context_get_thread_default());
    return TRUE;
}

/* At start: the controller does not serve until it listens. */
static gboolean listener_connect(StoreListener *l, GError **error)
{
    l->pg = store_pg_connect(l->url, LISTEN_APP, error);
    if (!l->pg) {
        g_prefix_error(error, "%s: listen: ", l->where);
        return FALSE;
    }
    PGresult *r = PQexec(l->pg, LISTEN_SQL);
    gboolean ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        g_set_error(error, STORE_ERROR, STORE_ERROR_DB, "%s: LISTEN: %s", l->where,
                    PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        listener_drop(l);
        return FALSE;
    }
    return listener_watch(l, error);
}

/* While the connection is away: an attempt in the background (store_dial_start,
 * so the main loop never waits for a database that does not answer), looked at
 * every RETRY_LOOK_MS, and another RECONNECT_S after one failed. */
#define RETRY_LOOK_MS 100

static gboolean on_retry(gpointer data)
{
    StoreListener *l = data;
    if (!l->dial) {
        if (g_get_monotonic_time() < l->dial_next)
            return G_SOURCE_CONTINUE;
        l->dial = store_dial_start(l->url, LISTEN_APP, LISTEN_SQL);
    }
    if (!store_dial_wait(l->dial, 0))
        return G_SOURCE_CONTINUE;
    g_autoptr(GError) e = NULL;
    l->pg = store_dial_finish(g_steal_pointer(&l->dial), &e);
    if (!l->pg || !listener_watch(l, &e)) {
        g_debug("%s: listen: %s", l->where, e->message);
        l->dial_next = g_get_monotonic_time() + RECONNECT_S * G_USEC_PER_SEC;
        return G_SOURCE_CONTINUE;
    }
    g_message("%s: listening for other controllers again", l->where);
    g_clear_pointer(&l->retry, g_source_unref); /* destroyed by returning G_SOURCE_REMOVE */
    l->fn(NULL, l->user_data);                  /* whatever was notified meanwhile is lost */
    return G_SOURCE_REMOVE;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data)
{
    StoreListener *l = data;
    if (!PQconsumeInput(l->pg)) {
        g_autofree char *m = g_strchomp(g_strdup(PQerrorMessage(l->pg)));
        g_warning("%s: the listening connection broke (%s); reconnecting every %d s", l->where, m,
                  RECONNECT_S);
        g_clear_pointer(&l->watch, g_source_unref); /* destroyed by returning G_SOURCE_REMOVE */
        PQfinish(l->pg);
        l->pg = NULL;
        l->dial_next = 0; /* at once */
        l->retry = g_timeout_source_new(RETRY_LOOK_MS);
        g_source_set_callback(l->retry, on_retry, l, NULL);
        g_source_attach(l->retry, g_main_context_get_thread_default());
        l->fn(NULL, l->user_data); /* from now on, wakes may be missed */
        return G_SOURCE_REMOVE;
    }
    PGnotify *n;
    while ((n = PQnotifies(l->pg)) != NULL) {
        __atomic_fetch_add(&l->received, 1, __ATOMIC_RELAXED); /* read from any thread */
        l->fn(n->extra, l->user_data);
        PQfreemem(n);
    }
    return G_SOURCE_CONTINUE;
}

StoreListener *store_listen(Store *s, StoreNotifyFn fn, gpointer user_data, GError **error)
{
    g_return_val_if_fail(s && fn && store_is_shared(s), NULL);
    StoreListener *l = g_new0(StoreListener, 1);
    l->url = g_strdup(s->url);
    l->where = g_strdup(s->where);
    l->fn = fn;
    l->user_data = user_data;
    if (!listener_connect(l, error)) {
        store_listener_free(l);
        return NULL;
    }
    return l;
}

void store_listener_free(StoreListener *l)
{
    if (!l)
        return;
    listener_drop(l);
    if (l->retry) {
        g_source_destroy(l->retry);
        g_source_unref(l->retry);
    }
    if (l->dial) /* waits for it: at most connect_timeout */
        PQfinish(store_dial_finish(l->dial, NULL));
    keyfile_secret_free(l->url);
    g_free(l->where);
    g_free(l);
}

guint64 store_listener_received(const StoreListener *l)
{
    return l ? __atomic_load_n(&l->received, __ATOMIC_RELAXED) : 0;
}
