/* The API's long-polls (GET /agent/orders?wait=, GET /runs/ID/signal?wait=):
 * a request held until its key is woken (an order for the agent, a message
 * for the side) or its time is up, then answered by its respond(). With a
 * shared PostgreSQL store a wake is announced to every controller (NOTIFY). */
#include <string.h>

#include "api-private.h"

/* ---- long-polls ---- */

/* Every waiter sits in its key's queue (to be woken) and in api->expiring (to
 * be timed out by one sweeper: a timeout source per waiter would make GLib's
 * main loop walk ten thousand sources on every iteration). */
#define SWEEP_MS 200

/* A waiter is held by its queues (one reference) and, for a moment, by a
 * sweep or wake that collected it: a respond() may take orders, and the
 * scheduler's announce then finishes other waiters (of this key or another)
 * before the collecting loop reaches them. A closed waiter is skipped. */
typedef struct {
    guint refs;
    gboolean closed;
    Api *api;
    char *key;
    gint64 deadline_us; /* monotonic */
    GList *expiring_link;
    gulong finished_id;
    WaiterRespond respond;
    gpointer data;
    GDestroyNotify data_free;
    ApiRequest req;
    char *params[2];
} Waiter;

static Waiter *waiter_ref(Waiter *w)
{
    w->refs++;
    return w;
}

static void waiter_unref(gpointer p)
{
    Waiter *w = p;
    if (--w->refs > 0)
        return;
    g_free(w->params[0]);
    g_free(w->params[1]);
    g_free(w->key);
    g_free(w);
}

/* Lets go of everything the held request holds, once; the memory goes with
 * the last reference. */
static void waiter_close(gpointer p)
{
    Waiter *w = p;
    if (w->closed)
        return;
    w->closed = TRUE;
    API_COUNTER_ADD(w->api->waiting, -1);
    if (w->expiring_link)
        g_queue_delete_link(w->api->expiring, w->expiring_link);
    w->expiring_link = NULL;
    if (w->finished_id)
        g_signal_handler_disconnect(w->req.msg, w->finished_id);
    if (w->data_free)
        w->data_free(w->data);
    g_object_unref(w->req.msg);
    store_agent_free(w->req.agent);
    w->req.msg = NULL;
    w->req.agent = NULL;
    if (w->req.query)
        g_hash_table_unref(w->req.query);
    w->req.query = NULL;
    waiter_unref(w);
}

/* The hub follows a key for this thread while it has waiters of it or
 * requests reading the store before they wait (api->reading). */
static void key_reading(Api *api, const char *key, gboolean start)
{
    if (!api->hub)
        return;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(api->reading, key));
    gboolean waiters = g_hash_table_contains(api->waiters, key);
    if (start && n == 0 && !waiters)
        api_hub_track(api->hub, api, key, TRUE);
    if (start || n > 1) {
        g_hash_table_insert(api->reading, g_strdup(key), GUINT_TO_POINTER(start ? n + 1 : n - 1));
        return;
    }
    g_hash_table_remove(api->reading, key);
    if (!waiters)
        api_hub_track(api->hub, api, key, FALSE);
}

static void waiter_unlink(Waiter *w)
{
    GQueue *q = g_hash_table_lookup(w->api->waiters, w->key);
    if (q && g_queue_remove(q, w) && g_queue_is_empty(q)) {
        if (w->api->hub && !g_hash_table_contains(w->api->reading, w->key))
            api_hub_track(w->api->hub, w->api, w->key, FALSE);
        g_hash_table_remove(w->api->waiters, w->key);
    }
}

static void waiter_finish(Waiter *w, gboolean timed_out)
{
    if (w->closed)
        return;
    waiter_unlink(w);
    /* respond() may finish other waiters, never this one: it is unlinked. */
    w->respond(&w->req, timed_out, w->data);
    SoupServerMessage *msg = g_object_ref(w->req.msg);
    waiter_close(w);
    soup_server_message_unpause(msg);
    g_object_unref(msg);
}

/* A held request's client that went away: libsoup does not watch a paused
 * message's connection, so the sweeper looks every REAP_EVERY sweeps. A held
 * GET has nothing more to send, so a readable (or hung-up) socket means EOF. */
#define REAP_EVERY 10

static gboolean client_gone(Waiter *w)
{
    GSocket *sock = api_conns_socket(w->api->conns, w->req.msg);
    return !sock || g_socket_condition_check(sock, G_IO_IN | G_IO_HUP | G_IO_ERR) != 0;
}

static gboolean on_sweep(gpointer data)
{
    Api *api = data;
    gint64 now = g_get_monotonic_time();
    gboolean reap = ++api->sweeps % REAP_EVERY == 0;
    g_autoptr(GPtrArray) due = g_ptr_array_new_with_free_func(waiter_unref);
    for (GList *l = api->expiring->head; l; l = l->next) {
        Waiter *w = l->data;
        if (w->deadline_us <= now || (reap && client_gone(w)))
            g_ptr_array_add(due, waiter_ref(w));
    }
    for (guint i = 0; i < due->len; i++)
        waiter_finish(due->pdata[i], TRUE);
    return G_SOURCE_CONTINUE;
}

/* The client went away while it waited. */
static void on_waiter_finished(SoupServerMessage *msg, gpointer data)
{
    Waiter *w = data;
    w->finished_id = 0;
    g_signal_handlers_disconnect_by_data(msg, w);
    waiter_unlink(w);
    waiter_close(w);
}

static void hold(ApiRequest *req, const char *key, guint timeout_s, WaiterRespond respond,
                 gpointer data, GDestroyNotify data_free)
{
    Waiter *w = g_new0(Waiter, 1);
    w->refs = 1;
    w->api = req->api;
    w->key = g_strdup(key);
    w->respond = respond;
    w->data = data;
    w->data_free = data_free;
    w->req = *req;
    w->req.msg = g_object_ref(req->msg);
    w->req.agent = req->agent; /* taken over */
    req->agent = NULL;
    if (req->query)
        g_hash_table_ref(req->query);
    for (int i = 0; i < 2; i++) {
        w->params[i] = g_strdup(req->params[i]);
        w->req.params[i] = w->params[i];
    }
    w->req.body = NULL;
    w->req.body_len = 0;
    GQueue *q = g_hash_table_lookup(w->api->waiters, key);
    if (!q) {
        q = g_queue_new();
        g_hash_table_insert(w->api->waiters, g_strdup(key), q);
        if (w->api->hub && !g_hash_table_contains(w->api->reading, key))
            api_hub_track(w->api->hub, w->api, key, TRUE);
    }
    API_COUNTER_ADD(w->api->waiting, 1);
    g_queue_push_tail(q, w);
    w->deadline_us = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    g_queue_push_tail(w->api->expiring, w);
    w->expiring_link = w->api->expiring->tail;
    if (!w->api->sweeper) {
        w->api->sweeper = g_timeout_source_new(SWEEP_MS);
        g_source_set_callback(w->api->sweeper, on_sweep, w->api, NULL);
        g_source_attach(w->api->sweeper, g_main_context_get_thread_default());
    }
    w->finished_id = g_signal_connect(w->req.msg, "finished", G_CALLBACK(on_waiter_finished), w);
    soup_server_message_pause(w->req.msg);
}

void api_wait(ApiRequest *req, const char *key, guint timeout_s, WaiterReady ready,
              WaiterRespond respond, gpointer data, GDestroyNotify data_free)
{
    Api *api = req->api;
    /* Followed first: a wake posted from now on finds this thread, and is
     * delivered (by this thread's loop) once the request waits. */
    key_reading(api, key, TRUE);
    if (ready(req, data)) {
        if (data_free)
            data_free(data);
    } else {
        hold(req, key, timeout_s, respond, data, data_free);
    }
    key_reading(api, key, FALSE);
}

void api_wake(Api *api, const char *key)
{
    GQueue *q = g_hash_table_lookup(api->waiters, key);
    if (!q)
        return;
    /* Each finish unlinks its waiter and the last one takes the queue with
     * it, so the queue is copied first (see Waiter). */
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(waiter_unref);
    for (GList *l = q->head; l; l = l->next)
        g_ptr_array_add(all, waiter_ref(l->data));
    for (guint i = 0; i < all->len; i++)
        waiter_finish(all->pdata[i], FALSE);
}

/* Every waiter now (the listener was cut off, and may miss their wakes): each
 * answers with what the store holds, or 503 and when to come back if it is
 * away, rather than sit out its long-poll on a store that is gone. */
void api_wake_all(Api *api)
{
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(waiter_unref);
    for (GList *l = api->expiring->head; l; l = l->next)
        g_ptr_array_add(all, waiter_ref(l->data));
    for (guint i = 0; i < all->len; i++)
        waiter_finish(all->pdata[i], FALSE);
}

/* key (NULL: every key) in this thread and the controller's others. */
static void wake_everywhere(Api *api, const char *key)
{
    if (key)
        api_wake(api, key);
    else
        api_wake_all(api);
    if (api->hub)
        api_hub_post(api->hub, api, key);
}

void api_announce(Api *api, const char *key)
{
    g_autoptr(GError) e = NULL;
    /* Every controller on the store hears it, this one's listening thread too. */
    if (store_is_shared(api->store) && store_notify(api->store, key, &e))
        return;
    if (e)
        g_warning("waking other controllers: %s", e->message);
    wake_everywhere(api, key);
}

void api_on_notify(const char *payload, gpointer data)
{
    wake_everywhere(data, payload);
}

guint api_waiting(Api *api)
{
    return (guint)API_COUNTER_GET(api->waiting);
}

char *api_orders_key(const char *agent)
{
    return g_strconcat("orders\n", agent, NULL);
}

char *api_signal_key(const char *run_id, int side)
{
    return g_strdup_printf("signal\n%s\n%d", run_id, side);
}

/* Shutting down (or the last waiter of a key left): whatever waits is let go. */
void api_waiter_queue_free(gpointer p)
{
    g_queue_free_full(p, waiter_close);
}
