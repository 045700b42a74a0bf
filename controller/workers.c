#include "workers.h"

#include "api.h"
#include "store.h"

typedef struct {
    Workers *w;
    guint index;
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
} Worker;

struct Workers {
    const ControllerConfig *config;
    GTlsCertificate *cert;
    GPtrArray *sockets;
    ApiHub *hub; /* NULL for one thread */
    StoreHealth *health;
    guint n;
    Worker *workers;
    GMutex lock;
    GCond cond;
    gboolean reported; /* the thread starting now is serving, or failed (error) */
    GError *error;
    char *store; /* store_describe() */
};

/* The thread's start-up is over: it serves (its loop runs: a stop cannot come
 * before it), or it failed. */
static void report(Worker *k, GError *error, Store *store)
{
    Workers *w = k->w;
    g_mutex_lock(&w->lock);
    w->reported = TRUE;
    w->error = error;
    if (!w->store && store)
        w->store = g_strdup(store_describe(store));
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
}

typedef struct {
    Worker *k;
    Store *store;
} Serving;

static gboolean on_serving(gpointer data)
{
    Serving *s = data;
    report(s->k, NULL, s->store);
    return G_SOURCE_REMOVE;
}

static gboolean serve(Worker *k, Api *api, GError **error)
{
    Workers *w = k->w;
    guint listens = g_strv_length(w->config->listen);
    for (guint l = 0; l < listens; l++) {
        if (!api_listen_socket(api, w->sockets->pdata[l * w->n + k->index], error))
            return FALSE;
    }
    /* The scheduler's tick (schedules, offers, deadlines, pruning) in one thread:
     * what it does is in the store, and its wakes reach the others. */
    return k->index > 0 || api_start(api, error);
}

static gpointer worker_main(gpointer data)
{
    Worker *k = data;
    Workers *w = k->w;
    g_main_context_push_thread_default(k->ctx);
    GError *e = NULL;
    Store *store = store_open(config_store_target(w->config), &e);
    if (store)
        store_share_health(store, w->health);
    Api *api = store ? api_new(w->config, store, w->hub, w->cert, NULL, NULL, NULL, &e) : NULL;
    if (api && serve(k, api, &e)) {
        Serving s = {k, store};
        GSource *idle = g_idle_source_new();
        g_source_set_callback(idle, on_serving, &s, NULL);
        g_source_attach(idle, k->ctx);
        g_source_unref(idle);
        g_main_loop_run(k->loop);
    } else {
        report(k, e, NULL);
    }
    api_free(api);
    store_close(store);
    g_main_context_pop_thread_default(k->ctx);
    return NULL;
}

const char *workers_store(const Workers *w)
{
    return w->store;
}

void workers_stop(Workers *w)
{
    if (!w)
        return;
    for (guint i = 0; i < w->n; i++) {
        Worker *k = &w->workers[i];
        if (!k->thread)
            continue;
        g_main_loop_quit(k->loop); /* thread-safe */
        g_thread_join(k->thread);
        g_main_loop_unref(k->loop);
        g_main_context_unref(k->ctx);
    }
    api_hub_free(w->hub);
    store_health_unref(w->health);
    g_clear_error(&w->error);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    g_free(w->workers);
    g_free(w->store);
    g_free(w);
}

Workers *workers_start(const ControllerConfig *config, GTlsCertificate *cert, GPtrArray *sockets,
                       GError **error)
{
    Workers *w = g_new0(Workers, 1);
    w->config = config;
    w->cert = cert;
    w->sockets = sockets;
    w->n = config->threads;
    w->hub = w->n > 1 ? api_hub_new() : NULL;
    w->health = store_health_new();
    w->workers = g_new0(Worker, w->n);
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    /* One at a time: the first migrates the store (and listens) before the
     * others open it. */
    for (guint i = 0; i < w->n; i++) {
        Worker *k = &w->workers[i];
        k->w = w;
        k->index = i;
        k->ctx = g_main_context_new();
        k->loop = g_main_loop_new(k->ctx, FALSE);
        g_autofree char *name = g_strdup_printf("serve-%u", i);
        g_mutex_lock(&w->lock);
        w->reported = FALSE;
        k->thread = g_thread_new(name, worker_main, k);
        while (!w->reported)
            g_cond_wait(&w->cond, &w->lock);
        GError *e = g_steal_pointer(&w->error);
        g_mutex_unlock(&w->lock);
        if (e) {
            g_propagate_error(error, e);
            workers_stop(w);
            return NULL;
        }
    }
    return w;
}
