/* GResolver runs getaddrinfo in a thread; the lookup is awaited on a private main
 * context so a dead DNS server costs timeout_ms, not the resolver's own minutes. */
#include "resolve.h"

#include "loop.h"

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

static gboolean lookup_done(gpointer data)
{
    return ((Lookup *)data)->done;
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
    if (!loop_run_until(ctx, lookup_done, &l, timeout_ms)) {
        /* A cancelled lookup returns at once (GResolver's task returns on cancel). */
        g_cancellable_cancel(cancel);
        while (!l.done)
            g_main_context_iteration(ctx, TRUE);
    }
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
