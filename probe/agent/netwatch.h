/* Watching the network for what an agent's controller wants to hear of: a tunnel
 * coming up or going down, an address added or removed, a new default route.
 * Kernel notifications (rtnetlink) only wake the watcher; what changed is always
 * read from two snapshots of the network compared, so that a lost notification
 * loses nothing. Changes are gathered in a window that ends once the network has
 * been quiet for the settle time (or at ten times it), and become one event. */
#pragma once

#include <json-glib/json-glib.h>

#include "netif.h"

/* A window keeps this many changes (the rest are counted), each this long at most. */
#define NETWATCH_MAX_CHANGES    16
#define NETWATCH_MAX_CHANGE_LEN 200
/* A window ends at most this many settle times after its first change. */
#define NETWATCH_MAX_WINDOW 10

typedef enum {
    NETWATCH_KIND_NONE,
    NETWATCH_KIND_VPN_UP,
    NETWATCH_KIND_VPN_DOWN,
    NETWATCH_KIND_NETWORK_CHANGE,
} NetWatchKind;

/* "vpn-up", "vpn-down", "network-change" ("none" for NETWATCH_KIND_NONE). */
const char *netwatch_kind_to_string(NetWatchKind kind);

/* The network as the agent sees it: its interfaces other than loopback and
 * virtual ones (each: tunnel or not, up, its prefixes but IPv6 link-local ones
 * and IPv6 temporary (privacy) addresses, which come and go on one network)
 * and the main table's default route. */
typedef struct NetWatchSnapshot NetWatchSnapshot;

/* From an inventory (classified without a profile) and netif_routes()'s routes
 * (NULL: none known). */
NetWatchSnapshot *netwatch_snapshot_new(const NetifInventory *inv, const GPtrArray *routes);
/* The same from the kernel, now. */
NetWatchSnapshot *netwatch_snapshot_take(GError **error);
void netwatch_snapshot_free(NetWatchSnapshot *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetWatchSnapshot, netwatch_snapshot_free)

/* What changed during one window, as sentences ("gpd0 came up (10.8.0.2/32)"). */
typedef struct NetWatchChanges NetWatchChanges;

/* A window opened on start, the network as it was before its first change. */
NetWatchChanges *netwatch_changes_new(const NetWatchSnapshot *start);
void netwatch_changes_free(NetWatchChanges *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetWatchChanges, netwatch_changes_free)
/* Adds what differs from before to after; TRUE when anything did. */
gboolean netwatch_changes_compare(NetWatchChanges *c, const NetWatchSnapshot *before,
                                  const NetWatchSnapshot *after);
/* The sentences kept (at most NETWATCH_MAX_CHANGES), and how many more there were. */
const GPtrArray *netwatch_changes_list(const NetWatchChanges *c);
guint netwatch_changes_dropped(const NetWatchChanges *c);
/* The event the window makes, given the network at its end: vpn-up when a
 * tunnel came up and one is up at the end (a tunnel that went down and came
 * back reconnected); else vpn-down when a tunnel went down and none of those up
 * at the start is up at the end; else network-change when anything changed. */
NetWatchKind netwatch_changes_kind(const NetWatchChanges *c, const NetWatchSnapshot *end);

/* One settled window, as the heartbeat carries it. */
typedef struct {
    char *id;           /* "<16 hex chars chosen at start>.<seq from 1>" */
    NetWatchKind kind;  /* never NETWATCH_KIND_NONE */
    gint64 at;          /* Unix seconds when the window settled */
    GPtrArray *changes; /* char*, at most NETWATCH_MAX_CHANGES */
    guint dropped;      /* changes past the cap */
} NetWatchEvent;

/* The event of a window ending now, or NULL when it makes none. */
NetWatchEvent *netwatch_event_new(const NetWatchChanges *c, const NetWatchSnapshot *end,
                                  const char *id, gint64 at);
void netwatch_event_free(NetWatchEvent *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetWatchEvent, netwatch_event_free)
/* {"id", "kind", "at", "changes": [...]}, the heartbeat's network_event. */
JsonObject *netwatch_event_to_json(const NetWatchEvent *e);
/* "KIND: change; change; ..." with "(and N more)" past the cap, for a log. */
char *netwatch_event_describe(const NetWatchEvent *e);

/* The watcher: a thread of its own, with its own main context. */
typedef struct NetWatch NetWatch;
/* Called on the watcher's thread with each event, which is the callee's to free.
 * It must not free the watcher. */
typedef void (*NetWatchFn)(NetWatchEvent *event, gpointer data);

/* Subscribes to the kernel's link, address and route notifications and takes
 * the network as it is now as the baseline (no event for it). settle_ms: the
 * quiet time that ends a window (at least 1). Fails when rtnetlink cannot be
 * listened to or read. */
NetWatch *netwatch_start(guint settle_ms, NetWatchFn fn, gpointer data, GError **error);
/* Stops and joins the thread; a window still open is dropped. */
void netwatch_free(NetWatch *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetWatch, netwatch_free)
