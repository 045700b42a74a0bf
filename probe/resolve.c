/* GResolver runs getaddrinfo in a thread; the lookup is awaited on a private main
 * context so a dead DNS server costs timeout_ms, not the resolver's own minutes. */
#include "resolve.h"

typedef struct {
    GList *addrs;
    GError *error;
    gboolean done;
} Lookup;

static void on_resolved(GObject *src, GAsyncResult *res, gpointer data)
{
    Lookup *l = data;
    l->addrs = g_resolver_lookup_by_name_finish(G_RESOLVER(src), res, &l->error);
    l->done = TRUE;
}

static gboolean on_timeout(gpointer data)
{
    g_cancellable_cancel(data);
    return G_SOURCE_REMOVE;
}

GList *resolve_name(const char *name, guint timeout_ms, GError **error)
{
    g_return_val_if_fail(name, NULL);
    GInetAddress *literal = g_inet_address_new_from_string(name);
    if (literal)
        return g_list_append(NULL, literal);

    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    Lookup l = {0};
    g_resolver_lookup_by_name_async(resolver, name, cancel, on_resolved, &l);
    GSource *t = g_timeout_source_new(timeout_ms);
    g_source_set_callback(t, on_timeout, cancel, NULL);
    g_source_attach(t, ctx);
    while (!l.done)
        g_main_context_iteration(ctx, TRUE);
    g_source_destroy(t);
    g_source_unref(t);
    g_main_context_pop_thread_default(ctx);
    if (l.error) {
        if (g_error_matches(l.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no answer in %u ms", name,
                        timeout_ms);
        else
            g_set_error(error, l.error->domain, l.error->code, "%s: %s", name, l.error->message);
        g_error_free(l.error);
        return NULL;
    }
    return l.addrs;
}
