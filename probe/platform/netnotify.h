/* What wakes the agent's network watcher (netwatch.h): the system's
 * notifications of link, address and route changes. They only say "look
 * again": the watcher reads the network whole and compares. Linux: an
 * rtnetlink socket subscribed to the link, address and route groups; Windows:
 * NotifyIpInterfaceChange, NotifyUnicastIpAddressChange and
 * NotifyRouteChange2, whose callbacks come on a system thread and are handed
 * to the watcher's context. */
#pragma once

#include <gio/gio.h>

typedef struct NetNotify NetNotify;

/* Subscribes; from then on fn(data) runs on ctx's thread after notifications
 * (several that come together may make one call). Fails when the system will
 * not notify. */
NetNotify *netnotify_new(GMainContext *ctx, GSourceFunc fn, gpointer data, GError **error);
/* Unsubscribes (no call of fn after it returns); NULL is fine. */
void netnotify_free(NetNotify *n);
