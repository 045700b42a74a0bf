/* The server threads of one controller ([server] threads): each has its Api, on
 * its own main context (SoupServer, store connection, long-polls, idle
 * connections). The hub joins them: a wake announced in one reaches the
 * long-polls held by the others, and /metrics sums their counters.
 *
 * The hub knows which threads hold long-polls of which key (a bit per thread,
 * set when a thread's first waiter of the key comes, cleared when its last
 * goes), so a wake is posted to those threads only: into the thread's inbox,
 * delivered by one idle source on its context per batch of wakes. */
#include <string.h>

#include "api-private.h"

#define HUB_MAX_MEMBERS CONFIG_MAX_THREADS

typedef struct {
    gint ref;
    guint index;
    GMutex lock; /* api, inbox, wake_all, posted */
    Api *api;    /* NULL once it left */
    GMainContext *ctx;
    GPtrArray *inbox; /* keys */
    gboolean wake_all;
    gboolean posted; /* a delivery is attached to ctx */
} HubMember;

struct ApiHub {
    SchedulerShared *shared; /* the threads' schedulers' */
    GMutex lock;
    HubMember *members[HUB_MAX_MEMBERS];
    guint n;
    GHashTable *where; /* key -> guint64 *: the members holding long-polls of it */
};

ApiHub *api_hub_new(void)
{
    ApiHub *hub = g_new0(ApiHub, 1);
    hub->shared = scheduler_shared_new();
    g_mutex_init(&hub->lock);
    hub->where = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return hub;
}

static void member_unref(gpointer p)
{
    HubMember *m = p;
    if (!g_atomic_int_dec_and_test(&m->ref))
        return;
    g_mutex_clear(&m->lock);
    g_ptr_array_unref(m->inbox);
    g_main_context_unref(m->ctx);
    g_free(m);
}

void api_hub_free(ApiHub *hub)
{
    if (!hub)
        return;
    for (guint i = 0; i < hub->n; i++)
        member_unref(hub->members[i]);
    g_hash_table_unref(hub->where);
    scheduler_shared_unref(hub->shared);
    g_mutex_clear(&hub->lock);
    g_free(hub);
}

gboolean api_hub_join(ApiHub *hub, Api *api, gboolean *first, GError **error)
{
    g_mutex_lock(&hub->lock);
    guint n = hub->n;
    if (n < HUB_MAX_MEMBERS) {
        HubMember *m = g_new0(HubMember, 1);
        m->ref = 1;
        m->index = n;
        g_mutex_init(&m->lock);
        m->api = api;
        m->ctx = g_main_context_ref_thread_default();
        m->inbox = g_ptr_array_new_with_free_func(g_free);
        hub->members[hub->n++] = m;
        api->hub_index = n;
    }
    g_mutex_unlock(&hub->lock);
    if (n >= HUB_MAX_MEMBERS) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "at most %d server threads",
                    HUB_MAX_MEMBERS);
        return FALSE;
    }
    *first = n == 0;
    return TRUE;
}

SchedulerShared *api_hub_scheduler_shared(ApiHub *hub)
{
    return hub->shared;
}

static void clear_bit(gpointer key, gpointer value, gpointer bit)
{
    *(guint64 *)value &= ~*(guint64 *)bit;
}

void api_hub_leave(ApiHub *hub, Api *api)
{
    g_mutex_lock(&hub->lock);
    HubMember *m = hub->members[api->hub_index];
    g_mutex_lock(&m->lock);
    m->api = NULL;
    g_mutex_unlock(&m->lock);
    guint64 bit = G_GUINT64_CONSTANT(1) << m->index;
    g_hash_table_foreach(hub->where, clear_bit, &bit);
    g_mutex_unlock(&hub->lock);
}

void api_hub_track(ApiHub *hub, Api *api, const char *key, gboolean waiting)
{
    guint64 bit = G_GUINT64_CONSTANT(1) << api->hub_index;
    g_mutex_lock(&hub->lock);
    guint64 *mask = g_hash_table_lookup(hub->where, key);
    if (waiting) {
        if (!mask) {
            mask = g_new0(guint64, 1);
            g_hash_table_insert(hub->where, g_strdup(key), mask);
        }
        *mask |= bit;
    } else if (mask && !(*mask &= ~bit)) {
        g_hash_table_remove(hub->where, key);
    }
    g_mutex_unlock(&hub->lock);
}

static gboolean deliver(gpointer data)
{
    HubMember *m = data;
    g_mutex_lock(&m->lock);
    g_autoptr(GPtrArray) keys = g_steal_pointer(&m->inbox);
    m->inbox = g_ptr_array_new_with_free_func(g_free);
    gboolean all = m->wake_all;
    m->wake_all = FALSE;
    m->posted = FALSE;
    Api *api = m->api;
    g_mutex_unlock(&m->lock);
    /* Only this thread frees its Api, and not while its loop runs this. */
    if (api && all)
        api_wake_all(api);
    for (guint i = 0; api && !all && i < keys->len; i++)
        api_wake(api, keys->pdata[i]);
    return G_SOURCE_REMOVE;
}

/* Under hub->lock. */
static void post(HubMember *m, const char *key)
{
    g_mutex_lock(&m->lock);
    gboolean attach = m->api && !m->posted;
    if (m->api) {
        if (key)
            g_ptr_array_add(m->inbox, g_strdup(key));
        else
            m->wake_all = TRUE;
        m->posted = TRUE;
    }
    g_mutex_unlock(&m->lock);
    if (!attach)
        return;
    /* An idle source of its own, never g_main_context_invoke (which would run
     * it here if the member's context were not running). */
    GSource *s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_DEFAULT);
    g_atomic_int_inc(&m->ref);
    g_source_set_callback(s, deliver, m, member_unref);
    g_source_attach(s, m->ctx);
    g_source_unref(s);
}

void api_hub_post(ApiHub *hub, Api *from, const char *key)
{
    g_mutex_lock(&hub->lock);
    guint64 mask = ~G_GUINT64_CONSTANT(0);
    if (key) {
        guint64 *where = g_hash_table_lookup(hub->where, key);
        mask = where ? *where : 0;
    }
    for (guint i = 0; i < hub->n; i++) {
        if (i != from->hub_index && (mask >> i & 1))
            post(hub->members[i], key);
    }
    g_mutex_unlock(&hub->lock);
}

void api_hub_totals(ApiHub *hub, Api *api, ApiTotals *t)
{
    memset(t, 0, sizeof *t);
    if (hub)
        g_mutex_lock(&hub->lock);
    for (guint i = 0; i < (hub ? hub->n : 1); i++) {
        const Api *a = hub ? hub->members[i]->api : api;
        if (!a)
            continue;
        t->waiting += API_COUNTER_GET(a->waiting);
        t->requests += API_COUNTER_GET(a->requests);
        t->errors_5xx += API_COUNTER_GET(a->errors_5xx);
        t->connections += api_conns_accepted(a->conns);
        t->idle += api_conns_idle(a->conns);
        t->wakes_received += store_listener_received(a->listener);
        t->store_errors += store_error_count(a->store);
    }
    if (hub)
        g_mutex_unlock(&hub->lock);
}
