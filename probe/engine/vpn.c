#include "vpn.h"

#include <string.h>

/* Name patterns the VPN clients give their tunnels (their documentation and
 * what they are seen to create), after the kernel's own facts. */
static const struct {
    const char *pattern, *product;
} names[] = {
    {"gpd*", "Palo Alto GlobalProtect (PANGP)"},
    {"cscotun*", "Cisco AnyConnect / Secure Client"},
    {"nordlynx", "NordVPN (NordLynx, WireGuard)"},
    {"wg*", "WireGuard (wireguard-go or another user-space WireGuard)"},
    {"utun*", "a utun client (macOS: several products)"},
    {"ppp*", "a PPP VPN (L2TP, PPTP, SSTP, or FortiClient's SSL VPN)"},
    {"vti*", "IPsec (route-based, VTI)"},
    {"ipsec*", "IPsec (route-based)"},
    {"tap*", "OpenVPN (tap)"},
    {"tun*", "OpenVPN or OpenConnect (tun)"},
};

const char *vpn_product(const NetifInterface *t, const char **from)
{
    if (t->product) {
        *from = "the adapter's description";
        return t->product;
    }
    if (t->kind && strcmp(t->kind, "wireguard") == 0) {
        *from = "link kind wireguard";
        return "WireGuard (kernel)";
    }
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        if (g_pattern_match_simple(names[i].pattern, t->name)) {
            *from = names[i].pattern;
            return names[i].product;
        }
    }
    if (t->kind && strcmp(t->kind, "tun") == 0) {
        *from = t->tun_type == NETIF_TUN_TAP ? "link kind tun, tap mode" : "link kind tun";
        return "a user-space VPN client (tun driver)";
    }
    *from = "no fact names a product";
    return "unknown";
}

/* fc00::/7, IPv6's private addresses (RFC 4193): GLib's site-local is the
 * deprecated fec0::/10 only. */
static gboolean is_ula(GInetAddress *a)
{
    return g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6 &&
           (g_inet_address_to_bytes(a)[0] & 0xfe) == 0xfc;
}

static gboolean is_public(GInetAddress *a, const Profile *p)
{
    return !g_inet_address_get_is_site_local(a) && !g_inet_address_get_is_loopback(a) &&
           !g_inet_address_get_is_link_local(a) && !g_inet_address_get_is_any(a) && !is_ula(a) &&
           !(p && profile_in_ranges(p->network.vpn_ranges, a)) &&
           !(p && profile_in_ranges(p->network.internal_ranges, a));
}

/* The tunnel's first address of a family (IPv6: not link-local, which every
 * link has), or NULL. */
static GInetAddress *tunnel_address(const NetifInterface *t, GSocketFamily family)
{
    for (guint i = 0; i < t->addresses->len; i++) {
        GInetAddress *a = t->addresses->pdata[i];
        if (g_inet_address_get_family(a) == family && !g_inet_address_get_is_link_local(a))
            return a;
    }
    return NULL;
}

static void set_pool_addresses(JsonObject *o, const NetifInterface *t, const Profile *profile)
{
    GInetAddress *v4 = tunnel_address(t, G_SOCKET_FAMILY_IPV4);
    GInetAddress *v6 = tunnel_address(t, G_SOCKET_FAMILY_IPV6);
    if (v4) {
        g_autofree char *s = g_inet_address_to_string(v4);
        json_object_set_string_member(o, "pool_address", s);
    }
    if (v6) {
        g_autofree char *s = g_inet_address_to_string(v6);
        json_object_set_string_member(o, "pool_address_ipv6", s);
    }
    if (profile && (v4 || v6))
        json_object_set_boolean_member(
            o, "in_vpn_ranges", profile_in_ranges(profile->network.vpn_ranges, v4 ? v4 : v6));
}

/* Split or full for one family: where its default route goes (the most
 * specific 0/0 or the 0/1 + 128/1 pair a client installs over it; ::/0, or
 * ::/1 + 8000::/1). IPv6 may not use the tunnel at all: "none" when no route
 * of it but link-local ones goes there. */
static const char *tunnel_mode(const NetifInterface *t, GPtrArray *routes, GSocketFamily family)
{
    gboolean any = FALSE;
    for (guint i = 0; i < routes->len; i++) {
        const NetifRouteEntry *r = routes->pdata[i];
        GInetAddress *dst = g_inet_address_mask_get_address(r->dst);
        if (r->oif != t->index || g_inet_address_get_family(dst) != family)
            continue;
        if (g_inet_address_mask_get_length(r->dst) <= 1)
            return "full";
        any |= !g_inet_address_get_is_link_local(dst);
    }
    return any || family == G_SOCKET_FAMILY_IPV4 ? "split" : "none";
}

/* Host routes to public addresses out of a physical interface: the VPN
 * client's own bypass for its gateway (a full tunnel needs one). */
static char *gateways(const NetifInventory *inv, const Profile *profile, GPtrArray *routes)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < routes->len; i++) {
        const NetifRouteEntry *r = routes->pdata[i];
        GInetAddress *dst = g_inet_address_mask_get_address(r->dst);
        const NetifInterface *dev = netif_inventory_by_index(inv, r->oif);
        guint host_len = (guint)g_inet_address_get_native_size(dst) * 8;
        if (g_inet_address_mask_get_length(r->dst) == host_len && dev &&
            dev->klass == NETIF_CLASS_PHYSICAL && is_public(dst, profile)) {
            g_autofree char *s = g_inet_address_to_string(dst);
            g_string_append_printf(out, "%s%s", out->len ? ", " : "", s);
        }
    }
    return g_string_free(out, out->len == 0);
}

JsonObject *vpn_facts(const NetifInventory *inv, const Profile *profile, GPtrArray *routes)
{
    const NetifInterface *t = netif_inventory_first_tunnel(inv);
    if (!t)
        return NULL;
    JsonObject *o = json_object_new();
    const char *from = NULL;
    json_object_set_string_member(o, "interface", t->name);
    json_object_set_string_member(o, "product", vpn_product(t, &from));
    json_object_set_string_member(o, "product_from", from);
    if (t->mtu)
        json_object_set_int_member(o, "mtu", t->mtu);
    set_pool_addresses(o, t, profile);
    if (!routes) {
        json_object_set_string_member(o, "tunnel", "unknown");
        return o;
    }
    json_object_set_string_member(o, "tunnel", tunnel_mode(t, routes, G_SOCKET_FAMILY_IPV4));
    json_object_set_string_member(o, "tunnel_ipv6", tunnel_mode(t, routes, G_SOCKET_FAMILY_IPV6));
    g_autofree char *gw = gateways(inv, profile, routes);
    if (gw) {
        json_object_set_string_member(o, "gateway", gw);
        json_object_set_string_member(o, "gateway_from",
                                      "a host route to it out of a physical interface");
    } else {
        json_object_set_null_member(o, "gateway");
        json_object_set_string_member(o, "gateway_from",
                                      "no host route out of a physical interface names it (a "
                                      "split tunnel needs none)");
    }
    return o;
}

void vpn_facts_for_heartbeat(JsonObject *facts)
{
    json_object_remove_member(facts, "pool_address_ipv6");
    json_object_remove_member(facts, "tunnel_ipv6");
}
