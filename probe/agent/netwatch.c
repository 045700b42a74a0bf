/* What the agent tells its controller of the network (issue 21): the watcher
 * compares snapshots, never the notifications themselves. A notification only
 * says "look again"; the kernel sends many that change nothing we report
 * (statistics, wireless events, lifetimes of a renewed lease, routes of other
 * tables), and a socket that overflowed (ENOBUFS) has lost some for good, so
 * reading the network again is the one way to know what changed. A window of
 * changes stays open while notifications keep coming and closes once the network
 * has been quiet for the settle time: a VPN client brings its tunnel up in
 * several steps (link, address, routes), and the controller wants to hear of it
 * once, when it is done. A link flapping forever still gets reported: a window
 * lives at most NETWATCH_MAX_WINDOW settle times. */
#include "netwatch.h"

#include <string.h>

#include "netnotify.h"

/* A host with more interfaces than this is not a client laptop; what is past
 * the caps is not watched. */
#define NETWATCH_MAX_LINKS    256
#define NETWATCH_MAX_PREFIXES 64

const char *netwatch_kind_to_string(NetWatchKind kind)
{
    static const char *const names[] = {"none", "vpn-up", "vpn-down", "network-change"};
    return (guint)kind < G_N_ELEMENTS(names) ? names[kind] : "none";
}

/* ---- snapshots ------------------------------------------------------------ */

typedef struct {
    char *name;
    gboolean tunnel;
    gboolean up;
    GPtrArray *prefixes; /* char*, "addr/len" */
} Link;

struct NetWatchSnapshot {
    GPtrArray *links; /* Link */
    char *route;      /* the default route, "via G dev D"; NULL: none */
};

static void link_free(gpointer p)
{
    Link *l = p;
    g_free(l->name);
    g_ptr_array_unref(l->prefixes);
    g_free(l);
}

void netwatch_snapshot_free(NetWatchSnapshot *s)
{
    if (!s)
        return;
    g_ptr_array_unref(s->links);
    g_free(s->route);
    g_free(s);
}

/* fe80::/10 comes and goes with every link and says nothing of the network. */
static gboolean ipv6_link_local(const char *prefix)
{
    g_autofree char *addr = g_strndup(prefix, strcspn(prefix, "/"));
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(addr);
    return a && g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6 &&
           g_inet_address_get_is_link_local(a);
}

/* An IPv6 privacy address (RFC 8981): a host makes a new one every few hours
 * or a day, and drops the old, on the same network. */
static gboolean temporary(const NetifInterface *n, guint k)
{
    return n->address_flags && k < n->address_flags->len &&
           (g_array_index(n->address_flags, guint32, k) & NETIF_ADDR_TEMPORARY);
}

static Link *link_new(const NetifInterface *n)
{
    Link *l = g_new0(Link, 1);
    l->name = g_strdup(n->name);
    l->tunnel = n->klass == NETIF_CLASS_TUNNEL;
    l->up = n->up;
    l->prefixes = g_ptr_array_new_with_free_func(g_free);
    for (guint k = 0; k < n->prefixes->len && l->prefixes->len < NETWATCH_MAX_PREFIXES; k++) {
        if (!ipv6_link_local(n->prefixes->pdata[k]) && !temporary(n, k))
            g_ptr_array_add(l->prefixes, g_strdup(n->prefixes->pdata[k]));
    }
    return l;
}

/* The first IPv4 default route of the main table: the kernel lists a prefix's
 * routes lowest metric first, so it is the one in use. (IPv6's is not watched:
 * netif_routes lists it too, after IPv4's.) */
static char *default_route(const NetifInventory *inv, const GPtrArray *routes)
{
    for (guint i = 0; routes && i < routes->len; i++) {
        const NetifRouteEntry *r = routes->pdata[i];
        if (g_inet_address_mask_get_length(r->dst) != 0 ||
            g_inet_address_mask_get_family(r->dst) != G_SOCKET_FAMILY_IPV4)
            continue;
        g_autofree char *gw = r->gateway ? g_inet_address_to_string(r->gateway) : NULL;
        const NetifInterface *dev = r->oif ? netif_inventory_by_index(inv, r->oif) : NULL;
        g_autofree char *dev_name =
            dev ? g_strdup(dev->name) : (r->oif ? g_strdup_printf("if%d", r->oif) : NULL);
        if (gw && dev_name)
            return g_strdup_printf("via %s dev %s", gw, dev_name);
        if (gw || dev_name)
            return g_strdup_printf("%s %s", gw ? "via" : "dev", gw ? gw : dev_name);
        return g_strdup("(multipath)");
    }
    return NULL;
}

NetWatchSnapshot *netwatch_snapshot_new(const NetifInventory *inv, const GPtrArray *routes)
{
    g_return_val_if_fail(inv, NULL);
    NetWatchSnapshot *s = g_new0(NetWatchSnapshot, 1);
    s->links = g_ptr_array_new_with_free_func(link_free);
    for (guint i = 0; i < inv->interfaces->len && s->links->len < NETWATCH_MAX_LINKS; i++) {
        const NetifInterface *n = inv->interfaces->pdata[i];
        if (n->klass != NETIF_CLASS_LOOPBACK && n->klass != NETIF_CLASS_VIRTUAL)
            g_ptr_array_add(s->links, link_new(n));
    }
    s->route = default_route(inv, routes);
    return s;
}

NetWatchSnapshot *netwatch_snapshot_take(GError **error)
{
    g_autoptr(NetifInventory) inv = netif_inventory_new(NULL, error);
    if (!inv)
        return NULL;
    g_autoptr(GPtrArray) routes = netif_routes(error);
    if (!routes)
        return NULL;
    return netwatch_snapshot_new(inv, routes);
}

static const Link *snapshot_link(const NetWatchSnapshot *s, const char *name)
{
    for (guint i = 0; i < s->links->len; i++) {
        const Link *l = s->links->pdata[i];
        if (strcmp(l->name, name) == 0)
            return l;
    }
    return NULL;
}

/* A tunnel is up when it can carry traffic: up, running, and addressed. */
static gboolean tunnel_up(const Link *l)
{
    return l && l->tunnel && l->up && l->prefixes->len > 0;
}

/* ---- changes ---------------------------------------------------------------- */

struct NetWatchChanges {
    GPtrArray *list;        /* char*, at most NETWATCH_MAX_CHANGES */
    guint dropped;          /* past the cap */
    gboolean came_up;       /* a tunnel came up during the window */
    gboolean went_down;     /* a tunnel went down */
    GPtrArray *up_at_start; /* char*, the tunnels up when the window opened */
};

NetWatchChanges *netwatch_changes_new(const NetWatchSnapshot *start)
{
    g_return_val_if_fail(start, NULL);
    NetWatchChanges *c = g_new0(NetWatchChanges, 1);
    c->list = g_ptr_array_new_with_free_func(g_free);
    c->up_at_start = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < start->links->len; i++) {
        const Link *l = start->links->pdata[i];
        if (tunnel_up(l))
            g_ptr_array_add(c->up_at_start, g_strdup(l->name));
    }
    return c;
}

void netwatch_changes_free(NetWatchChanges *c)
{
    if (!c)
        return;
    g_ptr_array_unref(c->list);
    g_ptr_array_unref(c->up_at_start);
    g_free(c);
}

const GPtrArray *netwatch_changes_list(const NetWatchChanges *c)
{
    return c->list;
}

guint netwatch_changes_dropped(const NetWatchChanges *c)
{
    return c->dropped;
}

/* One sentence, valid UTF-8 (a link's name is any bytes the kernel took) and
 * cut at a character's start to NETWATCH_MAX_CHANGE_LEN bytes. */
static void add(NetWatchChanges *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void add(NetWatchChanges *c, const char *fmt, ...)
{
    if (c->list->len >= NETWATCH_MAX_CHANGES) {
        c->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *raw = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *s = g_utf8_make_valid(raw, -1);
    if (strlen(s) > NETWATCH_MAX_CHANGE_LEN) {
        char *end = s + NETWATCH_MAX_CHANGE_LEN;
        while (end > s && ((guchar)*end & 0xC0) == 0x80)
            end--;
        *end = '\0';
    }
    g_ptr_array_add(c->list, s);
}

static gboolean has_prefix(const GPtrArray *prefixes, const char *p)
{
    for (guint i = 0; prefixes && i < prefixes->len; i++) {
        if (strcmp(prefixes->pdata[i], p) == 0)
            return TRUE;
    }
    return FALSE;
}

/* The addresses that count: all of a link's but a tunnel's, whose come and go
 * with it (its coming up and going down say so) unless it stays up. */
static const GPtrArray *counted(const Link *l)
{
    if (!l || (l->tunnel && !tunnel_up(l)))
        return NULL;
    return l->prefixes;
}

static void compare_link(NetWatchChanges *c, const Link *before, const Link *after)
{
    const char *name = after ? after->name : before->name;
    if (!tunnel_up(before) && tunnel_up(after)) {
        g_autoptr(GString) list = g_string_new(NULL);
        for (guint i = 0; i < after->prefixes->len; i++)
            g_string_append_printf(list, "%s%s", i ? ", " : "", (char *)after->prefixes->pdata[i]);
        add(c, "%s came up (%s)", name, list->str);
        c->came_up = TRUE;
        return;
    }
    if (tunnel_up(before) && !tunnel_up(after)) {
        add(c, "%s went down", name);
        c->went_down = TRUE;
        return;
    }
    const GPtrArray *was = counted(before), *is = counted(after);
    for (guint i = 0; was && i < was->len; i++) {
        if (!has_prefix(is, was->pdata[i]))
            add(c, "%s: %s removed", name, (char *)was->pdata[i]);
    }
    for (guint i = 0; is && i < is->len; i++) {
        if (!has_prefix(was, is->pdata[i]))
            add(c, "%s: %s added", name, (char *)is->pdata[i]);
    }
}

gboolean netwatch_changes_compare(NetWatchChanges *c, const NetWatchSnapshot *before,
                                  const NetWatchSnapshot *after)
{
    g_return_val_if_fail(c && before && after, FALSE);
    guint had = c->list->len + c->dropped;
    for (guint i = 0; i < before->links->len; i++) {
        const Link *b = before->links->pdata[i];
        compare_link(c, b, snapshot_link(after, b->name));
    }
    for (guint i = 0; i < after->links->len; i++) {
        const Link *a = after->links->pdata[i];
        if (!snapshot_link(before, a->name))
            compare_link(c, NULL, a);
    }
    if (g_strcmp0(before->route, after->route) != 0) {
        if (after->route)
            add(c, "default route %s (was %s)", after->route,
                before->route ? before->route : "none");
        else
            add(c, "no default route (was %s)", before->route);
    }
    return c->list->len + c->dropped > had;
}

NetWatchKind netwatch_changes_kind(const NetWatchChanges *c, const NetWatchSnapshot *end)
{
    g_return_val_if_fail(c && end, NETWATCH_KIND_NONE);
    gboolean any_up = FALSE, start_one_up = FALSE;
    for (guint i = 0; i < end->links->len; i++) {
        const Link *l = end->links->pdata[i];
        if (!tunnel_up(l))
            continue;
        any_up = TRUE;
        for (guint k = 0; k < c->up_at_start->len; k++)
            start_one_up |= strcmp(c->up_at_start->pdata[k], l->name) == 0;
    }
    if (c->came_up && any_up)
        return NETWATCH_KIND_VPN_UP;
    if (c->went_down && !start_one_up)
        return NETWATCH_KIND_VPN_DOWN;
    if (c->list->len || c->dropped)
        return NETWATCH_KIND_NETWORK_CHANGE;
    return NETWATCH_KIND_NONE;
}

/* ---- events ------------------------------------------------------------------ */

NetWatchEvent *netwatch_event_new(const NetWatchChanges *c, const NetWatchSnapshot *end,
                                  const char *id, gint64 at)
{
    g_return_val_if_fail(c && end && id, NULL);
    NetWatchKind kind = netwatch_changes_kind(c, end);
    if (kind == NETWATCH_KIND_NONE)
        return NULL;
    NetWatchEvent *e = g_new0(NetWatchEvent, 1);
    e->id = g_strdup(id);
    e->kind = kind;
    e->at = at;
    e->changes = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < c->list->len; i++)
        g_ptr_array_add(e->changes, g_strdup(c->list->pdata[i]));
    e->dropped = c->dropped;
    return e;
}

void netwatch_event_free(NetWatchEvent *e)
{
    if (!e)
        return;
    g_free(e->id);
    g_ptr_array_unref(e->changes);
    g_free(e);
}

JsonObject *netwatch_event_to_json(const NetWatchEvent *e)
{
    g_return_val_if_fail(e, NULL);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "id", e->id);
    json_object_set_string_member(o, "kind", netwatch_kind_to_string(e->kind));
    json_object_set_int_member(o, "at", e->at);
    JsonArray *a = json_array_new();
    for (guint i = 0; i < e->changes->len; i++)
        json_array_add_string_element(a, e->changes->pdata[i]);
    json_object_set_array_member(o, "changes", a);
    return o;
}

char *netwatch_event_describe(const NetWatchEvent *e)
{
    g_return_val_if_fail(e, NULL);
    GString *s = g_string_new(netwatch_kind_to_string(e->kind));
    for (guint i = 0; i < e->changes->len; i++)
        g_string_append_printf(s, "%s%s", i ? "; " : ": ", (char *)e->changes->pdata[i]);
    if (e->dropped)
        g_string_append_printf(s, " (and %u more)", e->dropped);
    return g_string_free(s, FALSE);
}

/* ---- the watcher ------------------------------------------------------------- */

struct NetWatch {
    guint settle_ms;
    NetWatchFn fn;
    gpointer data;
    NetNotify *notify; /* the system's notifications (netnotify.h) */
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    GSource *settle;         /* the window's quiet time; NULL while no window is open */
    GSource *deadline;       /* the window's longest life */
    NetWatchSnapshot *last;  /* the network as last read */
    NetWatchChanges *window; /* NULL: none open */
    char prefix[17];         /* the events' ids' */
    guint seq;
};

static void drop_source(GSource **s)
{
    if (!*s)
        return;
    g_source_destroy(*s);
    g_source_unref(*s);
    *s = NULL;
}

static GSource *timer(NetWatch *w, guint ms, GSourceFunc fn)
{
    GSource *s = g_timeout_source_new(ms);
    g_source_set_callback(s, fn, w, NULL);
    g_source_attach(s, w->ctx);
    return s;
}

/* Reads the network again and adds what changed to the window, opening one. */
static void look(NetWatch *w)
{
    NetWatchSnapshot *now = netwatch_snapshot_take(NULL);
    if (!now)
        return; /* a dump cut short; the next notification or the window's end reads again */
    if (!w->window) {
        g_autoptr(NetWatchChanges) c = netwatch_changes_new(w->last);
        if (netwatch_changes_compare(c, w->last, now))
            w->window = g_steal_pointer(&c);
    } else {
        netwatch_changes_compare(w->window, w->last, now);
    }
    netwatch_snapshot_free(w->last);
    w->last = now;
}

static gboolean end_window(gpointer data)
{
    NetWatch *w = data;
    drop_source(&w->settle);
    drop_source(&w->deadline);
    look(w); /* the network as the window ends: a dump that failed before is read now */
    g_autoptr(NetWatchChanges) c = g_steal_pointer(&w->window);
    if (!c)
        return G_SOURCE_REMOVE;
    g_autofree char *id = g_strdup_printf("%s.%u", w->prefix, w->seq + 1);
    NetWatchEvent *e = netwatch_event_new(c, w->last, id, g_get_real_time() / G_USEC_PER_SEC);
    if (e) {
        w->seq++;
        w->fn(e, w->data);
    }
    return G_SOURCE_REMOVE;
}

static gboolean on_notified(gpointer data)
{
    NetWatch *w = data;
    gboolean was_open = w->window != NULL;
    look(w);
    if (!w->window)
        return G_SOURCE_CONTINUE;
    if (!was_open)
        w->deadline = timer(w, w->settle_ms * NETWATCH_MAX_WINDOW, end_window);
    drop_source(&w->settle);
    w->settle = timer(w, w->settle_ms, end_window);
    return G_SOURCE_CONTINUE;
}

static gpointer watch_thread(gpointer data)
{
    NetWatch *w = data;
    g_main_context_push_thread_default(w->ctx);
    g_main_loop_run(w->loop);
    g_main_context_pop_thread_default(w->ctx);
    return NULL;
}

NetWatch *netwatch_start(guint settle_ms, NetWatchFn fn, gpointer data, GError **error)
{
    g_return_val_if_fail(settle_ms > 0 && settle_ms <= G_MAXUINT / NETWATCH_MAX_WINDOW, NULL);
    g_return_val_if_fail(fn, NULL);
    NetWatch *w = g_new0(NetWatch, 1);
    w->settle_ms = settle_ms;
    w->fn = fn;
    w->data = data;
    w->ctx = g_main_context_new();
    /* Listening first: a change between the baseline and the subscription is not missed. */
    w->notify = netnotify_new(w->ctx, on_notified, w, error);
    w->last = w->notify ? netwatch_snapshot_take(error) : NULL;
    if (!w->last) {
        if (w->notify)
            g_prefix_error(error, "the network at start: ");
        netnotify_free(w->notify);
        g_main_context_unref(w->ctx);
        g_free(w);
        return NULL;
    }
    g_snprintf(w->prefix, sizeof(w->prefix), "%08x%08x", g_random_int(), g_random_int());
    w->loop = g_main_loop_new(w->ctx, FALSE);
    w->thread = g_thread_new("netwatch", watch_thread, w);
    return w;
}

static gboolean quit(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void netwatch_free(NetWatch *w)
{
    if (!w)
        return;
    /* A source, not g_main_loop_quit(): a quit before the loop runs would be lost. */
    GSource *q = g_idle_source_new();
    g_source_set_callback(q, quit, w->loop, NULL);
    g_source_attach(q, w->ctx);
    g_source_unref(q);
    g_thread_join(w->thread);
    netnotify_free(w->notify);
    drop_source(&w->settle);
    drop_source(&w->deadline);
    g_main_loop_unref(w->loop);
    g_main_context_unref(w->ctx);
    netwatch_changes_free(w->window);
    netwatch_snapshot_free(w->last);
    g_free(w);
}
