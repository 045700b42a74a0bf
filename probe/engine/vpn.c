#include "vpn.h"

#include <linux/if_tun.h>
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
        *from = t->tun_type == IFF_TAP ? "link kind tun, tap mode" : "link kind tun";
        return "a user-space VPN client (tun driver)";
    }
    *from = "no fact names a product";
    return "unknown";
}

static gboolean is_public(GInetAddress *a, const Profile *p)
{
    return !g_inet_address_get_is_site_local(a) && !g_inet_address_get_is_loopback(a) &&
           !g_inet_address_get_is_link_local(a) && !g_inet_address_get_is_any(a) &&
           !(p && profile_in_ranges(p->network.vpn_ranges, a)) &&
           !(p && profile_in_ranges(p->network.internal_ranges, a));
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
    for (guint i = 0; i < t->addresses->len; i++) {
        GInetAddress *a = t->addresses->pdata[i];
        if (g_inet_address_get_family(a) != G_SOCKET_FAMILY_IPV4)
            continue;
        g_autofree char *s = g_inet_address_to_string(a);
        json_object_set_string_member(o, "pool_address", s);
        if (profile)
            json_object_set_boolean_member(o, "in_vpn_ranges",
                                           profile_in_ranges(profile->network.vpn_ranges, a));
        break;
    }
    if (!routes) {
        json_object_set_string_member(o, "tunnel", "unknown");
        return o;
    }
    /* Split or full: where the default route goes (the most specific 0/0 or
     * the 0/1 + 128/1 pair a client installs over it). */
    const char *mode = "split";
    GString *gateways = g_string_new(NULL);
    for (guint i = 0; i < routes->len; i++) {
        const NetifRouteEntry *r = routes->pdata[i];
        guint len = g_inet_address_mask_get_length(r->dst);
        if (len <= 1 && r->oif == t->index)
            mode = "full";
        const NetifInterface *out = netif_inventory_by_index(inv, r->oif);
        GInetAddress *dst = g_inet_address_mask_get_address(r->dst);
        /* a host route to a public address out of a physical interface: the
         * VPN client's own bypass for its gateway */
        if (len == 32 && out && out->klass == NETIF_CLASS_PHYSICAL && is_public(dst, profile)) {
            g_autofree char *s = g_inet_address_to_string(dst);
            g_string_append_printf(gateways, "%s%s", gateways->len ? ", " : "", s);
        }
    }
    json_object_set_string_member(o, "tunnel", mode);
    if (gateways->len) {
        json_object_set_string_member(o, "gateway", gateways->str);
        json_object_set_string_member(o, "gateway_from",
                                      "a host route to it out of a physical interface");
    } else {
        json_object_set_null_member(o, "gateway");
        json_object_set_string_member(o, "gateway_from",
                                      "no host route out of a physical interface names it (a "
                                      "split tunnel needs none)");
    }
    g_string_free(gateways, TRUE);
    return o;
}
