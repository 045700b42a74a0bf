/* Network change notifications, Windows side (netnotify.h). The three
 * callbacks come on a system thread; each hands one "look again" to the
 * watcher's context as an idle source, unless one is still waiting there
 * (several changes at once make one call). CancelMibChangeNotify2 waits for a
 * callback under way, so none comes after netnotify_free. */
#include "netnotify.h"

#include "netif.h"

#include <winsock2.h>
#include <ws2ipdef.h>
#include <iphlpapi.h>
#include <netioapi.h>

struct NetNotify {
    GMainContext *ctx;
    GSourceFunc fn;
    gpointer data;
    HANDLE handles[3]; /* interfaces, addresses, routes */
    GMutex lock;
    GSource *pending; /* the idle source waiting on ctx, or NULL */
};

static gboolean deliver(gpointer data)
{
    NetNotify *n = data;
    g_mutex_lock(&n->lock);
    g_clear_pointer(&n->pending, g_source_unref);
    g_mutex_unlock(&n->lock);
    n->fn(n->data);
    return G_SOURCE_REMOVE;
}

static void notified(NetNotify *n)
{
    g_mutex_lock(&n->lock);
    if (!n->pending) {
        n->pending = g_idle_source_new();
        g_source_set_callback(n->pending, deliver, n, NULL);
        g_source_attach(n->pending, n->ctx);
    }
    g_mutex_unlock(&n->lock);
}

static VOID NETIOAPI_API_ on_interface(PVOID ctx, PMIB_IPINTERFACE_ROW row, MIB_NOTIFICATION_TYPE t)
{
    notified(ctx);
}

static VOID NETIOAPI_API_ on_address(PVOID ctx, PMIB_UNICASTIPADDRESS_ROW row,
                                     MIB_NOTIFICATION_TYPE t)
{
    notified(ctx);
}

static VOID NETIOAPI_API_ on_route(PVOID ctx, PMIB_IPFORWARD_ROW2 row, MIB_NOTIFICATION_TYPE t)
{
    notified(ctx);
}

NetNotify *netnotify_new(GMainContext *ctx, GSourceFunc fn, gpointer data, GError **error)
{
    NetNotify *n = g_new0(NetNotify, 1);
    n->ctx = g_main_context_ref(ctx);
    n->fn = fn;
    n->data = data;
    g_mutex_init(&n->lock);
    DWORD rc = NotifyIpInterfaceChange(AF_UNSPEC, on_interface, n, FALSE, &n->handles[0]);
    if (rc == NO_ERROR)
        rc = NotifyUnicastIpAddressChange(AF_UNSPEC, on_address, n, FALSE, &n->handles[1]);
    if (rc == NO_ERROR)
        rc = NotifyRouteChange2(AF_UNSPEC, on_route, n, FALSE, &n->handles[2]);
    if (rc != NO_ERROR) {
        g_autofree char *m = g_win32_error_message((gint)rc);
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK,
                    "listening to interface, address and route changes: %s", m);
        netnotify_free(n);
        return NULL;
    }
    return n;
}

void netnotify_free(NetNotify *n)
{
    if (!n)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(n->handles); i++)
        if (n->handles[i])
            CancelMibChangeNotify2(n->handles[i]);
    g_mutex_lock(&n->lock);
    if (n->pending) {
        g_source_destroy(n->pending);
        g_clear_pointer(&n->pending, g_source_unref);
    }
    g_mutex_unlock(&n->lock);
    g_mutex_clear(&n->lock);
    g_main_context_unref(n->ctx);
    g_free(n);
}
