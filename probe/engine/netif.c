/* Interfaces (netif.h): what is the same on every platform. Reading them from
 * the system, and classifying them by its facts, is the platform's
 * (netif_linux.c: rtnetlink; netif_windows.c: the IP Helper API). */
#include "netif-private.h"

#include <string.h>

G_DEFINE_QUARK(iceprobe - netif - error - quark, netif_error)

const char *netif_class_to_string(NetifClass c)
{
    static const char *const names[] = {"physical", "tunnel", "loopback", "virtual"};
    return (guint)c < G_N_ELEMENTS(names) ? names[c] : "unknown";
}

JsonObject *netif_interface_to_json(const NetifInterface *n, NetifJsonFacts facts,
                                    guint max_addresses)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "name", n->name);
    if (facts & NETIF_JSON_INDEX)
        json_object_set_int_member(o, "index", n->index);
    json_object_set_string_member(o, "class", netif_class_to_string(n->klass));
    if (n->kind)
        json_object_set_string_member(o, "kind", n->kind);
    if (facts & NETIF_JSON_STATE)
        json_object_set_boolean_member(o, "up", n->up);
    JsonArray *addrs = json_array_new();
    for (guint k = 0; k < n->prefixes->len && k < max_addresses; k++)
        json_array_add_string_element(addrs, n->prefixes->pdata[k]);
    json_object_set_array_member(o, "addresses", addrs);
    if (facts & NETIF_JSON_STATE)
        json_object_set_string_member(o, "reason", n->reason);
    return o;
}

void netif_interface_free(gpointer p)
{
    NetifInterface *i = p;
    g_free(i->name);
    g_free(i->kind);
    g_free(i->reason);
    g_free(i->description);
    g_ptr_array_unref(i->addresses);
    g_ptr_array_unref(i->prefixes);
    g_array_unref(i->address_flags);
    g_free(i);
}

NetifInterface *netif_interface_new(int index)
{
    NetifInterface *i = g_new0(NetifInterface, 1);
    i->index = index;
    i->addresses = g_ptr_array_new_with_free_func(g_object_unref);
    i->prefixes = g_ptr_array_new_with_free_func(g_free);
    i->address_flags = g_array_new(FALSE, TRUE, sizeof(guint32));
    return i;
}

NetifInventory *netif_inventory_empty(void)
{
    NetifInventory *inv = g_new0(NetifInventory, 1);
    inv->interfaces = g_ptr_array_new_with_free_func(netif_interface_free);
    return inv;
}

void netif_inventory_free(NetifInventory *inv)
{
    if (!inv)
        return;
    g_ptr_array_unref(inv->interfaces);
    g_free(inv);
}

const NetifInterface *netif_inventory_by_index(const NetifInventory *inv, int index)
{
    g_return_val_if_fail(inv, NULL);
    for (guint k = 0; k < inv->interfaces->len; k++) {
        const NetifInterface *i = inv->interfaces->pdata[k];
        if (i->index == index)
            return i;
    }
    return NULL;
}

const NetifInterface *netif_inventory_by_name(const NetifInventory *inv, const char *name)
{
    g_return_val_if_fail(inv && name, NULL);
    for (guint k = 0; k < inv->interfaces->len; k++) {
        const NetifInterface *i = inv->interfaces->pdata[k];
        if (strcmp(i->name, name) == 0)
            return i;
    }
    return NULL;
}

const NetifInterface *netif_inventory_by_address(const NetifInventory *inv, GInetAddress *addr)
{
    g_return_val_if_fail(inv && addr, NULL);
    for (guint k = 0; k < inv->interfaces->len; k++) {
        const NetifInterface *i = inv->interfaces->pdata[k];
        for (guint j = 0; j < i->addresses->len; j++) {
            if (g_inet_address_equal(i->addresses->pdata[j], addr))
                return i;
        }
    }
    return NULL;
}

GPtrArray *netif_inventory_addresses(const NetifInventory *inv, NetifClass klass,
                                     GSocketFamily family)
{
    g_return_val_if_fail(inv, NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint k = 0; k < inv->interfaces->len; k++) {
        const NetifInterface *i = inv->interfaces->pdata[k];
        if (i->klass != klass || !i->up)
            continue;
        for (guint j = 0; j < i->addresses->len; j++) {
            GInetAddress *a = i->addresses->pdata[j];
            if ((family == G_SOCKET_FAMILY_INVALID || g_inet_address_get_family(a) == family) &&
                !g_inet_address_get_is_link_local(a))
                g_ptr_array_add(out, g_object_ref(a));
        }
    }
    return out;
}

const NetifInterface *netif_inventory_first_tunnel(const NetifInventory *inv)
{
    g_return_val_if_fail(inv, NULL);
    for (guint k = 0; k < inv->interfaces->len; k++) {
        const NetifInterface *i = inv->interfaces->pdata[k];
        if (i->klass == NETIF_CLASS_TUNNEL)
            return i;
    }
    return NULL;
}

void netif_route_clear(NetifRoute *r)
{
    if (!r)
        return;
    g_clear_object(&r->prefsrc);
    g_clear_object(&r->gateway);
    r->oif = 0;
}

void netif_route_entry_free(gpointer p)
{
    NetifRouteEntry *e = p;
    g_clear_object(&e->dst);
    g_clear_object(&e->gateway);
    g_free(e);
}
