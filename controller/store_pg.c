/* PostgreSQL's connection and its health, behind store_db.c's statements: a
 * statement's answer awaited for a bounded time, a connection that broke made
 * again in the background, and connecting itself (store_pg_connect, and the
 * dial on a thread of its own). */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "iceprobe/keyfile.h"
#include "store-private.h"

/* ---- PostgreSQL statements never wait forever ----
 * libpq's PQexec waits as long as the server takes to answer, and TCP takes
 * minutes to give up on a peer that vanished: the controller's one main loop
 * would stop answering anyone. So a statement is sent, and its answer awaited
 * at most STORE_ANSWER_WAIT_MS. A server that has not answered by then (a network
 * partition, a host or disk that hangs) is taken for gone: the connection is
 * dropped and made again in the background (store_pg_alive). Its transaction, if any,
 * ended with it: the server rolls it back, or had committed it, and the caller,
 * told it failed, is answered 503 and tries again (what agents send is
 * idempotent). */

#define HEALTH_SLICE_MS 100

struct StoreHealth {
    gint ref;
    gint64 gave_up_at; /* atomic, monotonic µs: a store last gave up waiting (0: never) */
};

StoreHealth *store_health_new(void)
{
    StoreHealth *h = g_new0(StoreHealth, 1);
    h->ref = 1;
    return h;
}

void store_health_unref(StoreHealth *h)
{
    if (h && g_atomic_int_dec_and_test(&h->ref))
        g_free(h);
}

void store_share_health(Store *s, StoreHealth *h)
{
    store_health_unref(s->health);
    s->health = h;
    g_atomic_int_inc(&h->ref);
}

/* Another thread's store gave up on the database after since (monotonic µs). */
static gboolean gave_up_elsewhere(const Store *s, gint64 since)
{
    return s->health && __atomic_load_n(&s->health->gave_up_at, __ATOMIC_RELAXED) > since;
}

static void pg_lost(Store *s, const char *why)
{
    g_free(s->lost_why);
    s->lost_why = g_strdup(why);
    PQfinish(s->pg);
    s->pg = NULL;
}

/* The answer to what was just sent (sent: what PQsend* returned): as PQexec, the
 * last result, or the first that failed; NULL if there is none (store_pg_why). */
PGresult *store_pg_answer(Store *s, int sent)
{
    if (!sent)
        return NULL;
    gint64 started = g_get_monotonic_time();
    gint64 until = s->answer_wait_ms ? started + (gint64)s->answer_wait_ms * 1000 : G_MAXINT64;
    PGresult *keep = NULL;
    for (;;) {
        gboolean broke = FALSE;
        while (!broke && PQisBusy(s->pg)) {
            int timeout_ms = -1;
            if (until != G_MAXINT64)
                timeout_ms = (int)CLAMP((until - g_get_monotonic_time()) / 1000, 0, G_MAXINT);
            /* In slices when shared: another thread that gave up ends this wait. */
            if (s->health && (timeout_ms < 0 || timeout_ms > HEALTH_SLICE_MS))
                timeout_ms = HEALTH_SLICE_MS;
            struct pollfd p = {PQsocket(s->pg), POLLIN, 0};
            int rc = poll(&p, 1, timeout_ms);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc == 0 && g_get_monotonic_time() < until) { /* a slice: see below */
                if (!gave_up_elsewhere(s, started))
                    continue;
                PQclear(keep);
                pg_lost(s, "no answer from the database (another thread gave up waiting for it)");
                return NULL;
            }
            if (rc == 0) {
                PQclear(keep);
                g_autofree char *why = g_strdup_printf("no answer from the database in %u s",
                                                       s->answer_wait_ms / 1000);
                if (s->health)
                    __atomic_store_n(&s->health->gave_up_at, g_get_monotonic_time(),
                                     __ATOMIC_RELAXED);
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

gboolean store_pg_alive(Store *s, GError **error)
{
    /* Made before another thread's gave up on the database: as hung as that. */
    if (s->pg && gave_up_elsewhere(s, s->connected_at))
        pg_lost(s, "no answer from the database (another thread gave up waiting for it)");
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
            s->connected_at = g_get_monotonic_time();
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
    return store_fail(s, error, "the database is unreachable",
                      s->dial_error ? s->dial_error
                      : s->lost_why ? s->lost_why
                                    : "connecting again");
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
    keyfile_secret_free(d->url);
    g_free(d->application);
    g_free(d->sql);
    g_free(d);
    return c;
}

gboolean store_open_postgres(Store *s, const char *url, GError **error)
{
    s->pg = store_pg_connect(url, "iceprobe-controller", error);
    s->connected_at = g_get_monotonic_time();
    if (!s->pg) {
        g_prefix_error(error, "store: ");
        return FALSE;
    }
    /* Notices (CREATE TABLE IF NOT EXISTS ...) are not errors. */
    return store_exec(s, "SET client_min_messages = warning", error);
}
