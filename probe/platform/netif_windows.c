/* Interfaces, routes and counters, Windows side (netif.h): the IP Helper API.
 * The adapters and their addresses come from GetAdaptersAddresses, their
 * link facts (media, physical medium, hardware and connector flags, packet
 * counters) from GetIfEntry2, and their class from winadapter.h's rules. The
 * route to a destination is GetBestRoute2's; where it fails, the longest
 * prefix of GetIpForwardTable2 that holds the destination (the lowest metric
 * among equals). Windows routes by destination only: a flow's protocol and
 * port change nothing, unlike a Linux VPN client's policy rules. */
#include "netif-private.h"
#include "winadapter.h"

#include <winsock2.h>
#include <ws2ipdef.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <netioapi.h>

#include <string.h>

G_STATIC_ASSERT((int)WINADAPTER_IF_ETHERNET == (int)IF_TYPE_ETHERNET_CSMACD);
G_STATIC_ASSERT((int)WINADAPTER_IF_PPP == (int)IF_TYPE_PPP);
G_STATIC_ASSERT((int)WINADAPTER_IF_LOOPBACK == (int)IF_TYPE_SOFTWARE_LOOPBACK);
G_STATIC_ASSERT((int)WINADAPTER_IF_PROP_VIRTUAL == (int)IF_TYPE_PROP_VIRTUAL);
G_STATIC_ASSERT((int)WINADAPTER_IF_IEEE80211 == (int)IF_TYPE_IEEE80211);
G_STATIC_ASSERT((int)WINADAPTER_IF_TUNNEL == (int)IF_TYPE_TUNNEL);
G_STATIC_ASSERT((int)WINADAPTER_TUNNEL_IPHTTPS == (int)TUNNEL_TYPE_IPHTTPS);
G_STATIC_ASSERT((int)WINADAPTER_TUNNEL_TEREDO == (int)TUNNEL_TYPE_TEREDO);
G_STATIC_ASSERT((int)WINADAPTER_MEDIUM_IP == (int)NdisMediumIP);
G_STATIC_ASSERT((int)WINADAPTER_MEDIUM_NATIVE_802_11 == (int)NdisMediumNative802_11);
G_STATIC_ASSERT((int)WINADAPTER_PHYS_802_3 == (int)NdisPhysicalMedium802_3);
G_STATIC_ASSERT((int)WINADAPTER_PHYS_NATIVE_802_11 == (int)NdisPhysicalMediumNative802_11);

#define NETIF_MAX_ROUTES         4096
#define NETIF_MAX_ADAPTERS_BYTES (4 * 1024 * 1024) /* GetAdaptersAddresses' answer */

static void set_win32_error(GError **error, ULONG rc, const char *what)
{
    g_autofree char *m = g_win32_error_message((gint)rc);
    g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK, "%s: %s", what, m);
}

static GInetAddress *address_of(const SOCKADDR *sa, gsize len)
{
    if (!sa)
        return NULL;
    g_autoptr(GSocketAddress) a = g_socket_address_new_from_native((gpointer)sa, len);
    if (!a || !G_IS_INET_SOCKET_ADDRESS(a))
        return NULL;
    return g_object_ref(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
}

static GInetAddress *inet_address_of(const SOCKADDR_INET *sa)
{
    return address_of((const SOCKADDR *)sa,
                      sa->si_family == AF_INET6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN));
}

/* The adapters, as GetAdaptersAddresses gives them; NULL with error. */
static IP_ADAPTER_ADDRESSES *adapters(GError **error)
{
    ULONG flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    ULONG size = 32 * 1024;
    for (;;) {
        IP_ADAPTER_ADDRESSES *a = g_malloc(size);
        ULONG rc = GetAdaptersAddresses(AF_UNSPEC, flags, NULL, a, &size);
        if (rc == NO_ERROR)
            return a;
        g_free(a);
        if (rc != ERROR_BUFFER_OVERFLOW || size > NETIF_MAX_ADAPTERS_BYTES) {
            set_win32_error(error, rc, "GetAdaptersAddresses");
            return NULL;
        }
    }
}

static void add_addresses(NetifInterface *i, const IP_ADAPTER_ADDRESSES *a)
{
    for (const IP_ADAPTER_UNICAST_ADDRESS *u = a->FirstUnicastAddress; u; u = u->Next) {
        GInetAddress *ia = address_of(u->Address.lpSockaddr, (gsize)u->Address.iSockaddrLength);
        if (!ia)
            continue;
        g_autofree char *s = g_inet_address_to_string(ia);
        g_ptr_array_add(i->prefixes, g_strdup_printf("%s/%u", s, u->OnLinkPrefixLength));
        g_ptr_array_add(i->addresses, ia);
        /* A random suffix: an IPv6 temporary (privacy) address (RFC 8981). */
        guint32 flags = u->SuffixOrigin == IpSuffixOriginRandom ? NETIF_ADDR_TEMPORARY : 0;
        g_array_append_val(i->address_flags, flags);
    }
}

static char *utf8_of(const wchar_t *w)
{
    char *s = w ? g_utf16_to_utf8((const gunichar2 *)w, -1, NULL, NULL, NULL) : NULL;
    return s ? s : g_strdup("");
}

/* One adapter as an interface, classified; its link facts from GetIfEntry2
 * (none known when it fails: the classes then rest on what is left). */
static NetifInterface *interface_of(const IP_ADAPTER_ADDRESSES *a, const Profile *profile)
{
    NetifInterface *i = netif_interface_new((int)(a->IfIndex ? a->IfIndex : a->Ipv6IfIndex));
    i->name = utf8_of(a->FriendlyName);
    i->description = utf8_of(a->Description);
    i->up = a->OperStatus == IfOperStatusUp;
    i->mtu = a->Mtu == G_MAXUINT32 ? 0 : a->Mtu;
    add_addresses(i, a);
    MIB_IF_ROW2 row;
    memset(&row, 0, sizeof(row));
    row.InterfaceLuid = a->Luid;
    gboolean have_row = GetIfEntry2(&row) == NO_ERROR;
    if (have_row) {
        i->rx_packets = row.InUcastPkts + row.InNUcastPkts;
        i->tx_packets = row.OutUcastPkts + row.OutNUcastPkts;
    }
    WinAdapterFacts f = {
        .name = i->name,
        .description = i->description,
        .if_type = a->IfType,
        .tunnel_type = a->TunnelType,
        .media_type = have_row ? (guint)row.MediaType : WINADAPTER_MEDIUM_802_3,
        .physical_medium = have_row ? (guint)row.PhysicalMediumType : WINADAPTER_PHYS_UNSPECIFIED,
        .hardware = have_row && row.InterfaceAndOperStatusFlags.HardwareInterface,
        .connector = have_row && row.InterfaceAndOperStatusFlags.ConnectorPresent,
        .link_known = have_row,
        .addrs = i->addresses,
    };
    i->klass = winadapter_classify(&f, profile, &i->reason, &i->product);
    i->kind = g_strdup(winadapter_kind(&f));
    i->if_type = a->IfType;
    if (!have_row) {
        char *r = g_strdup_printf("%s (GetIfEntry2 failed: no link facts)", i->reason);
        g_free(i->reason);
        i->reason = r;
    }
    return i;
}

NetifInventory *netif_inventory_new(const Profile *profile, GError **error)
{
    g_autofree IP_ADAPTER_ADDRESSES *list = adapters(error);
    if (!list)
        return NULL;
    NetifInventory *inv = netif_inventory_empty();
    for (const IP_ADAPTER_ADDRESSES *a = list; a; a = a->Next)
        g_ptr_array_add(inv->interfaces, interface_of(a, profile));
    return inv;
}

/* ---- routes ------------------------------------------------------------ */

static gboolean to_sockaddr_inet(GInetAddress *a, SOCKADDR_INET *out)
{
    memset(out, 0, sizeof(*out));
    g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(a, 0);
    return g_socket_address_to_native(sa, out, sizeof(*out), NULL);
}

static gboolean is_unspecified(const SOCKADDR_INET *s)
{
    g_autoptr(GInetAddress) a = inet_address_of(s);
    return !a || g_inet_address_get_is_any(a);
}

/* The route table of one family or both (AF_UNSPEC); NULL with error. */
static MIB_IPFORWARD_TABLE2 *forward_table(GError **error)
{
    MIB_IPFORWARD_TABLE2 *t = NULL;
    DWORD rc = GetIpForwardTable2(AF_UNSPEC, &t);
    if (rc != NO_ERROR) {
        set_win32_error(error, rc, "GetIpForwardTable2");
        return NULL;
    }
    return t;
}

static gboolean prefix_holds(const IP_ADDRESS_PREFIX *p, GInetAddress *dst)
{
    g_autoptr(GInetAddress) net = inet_address_of(&p->Prefix);
    if (!net || g_inet_address_get_family(net) != g_inet_address_get_family(dst))
        return FALSE;
    g_autoptr(GInetAddressMask) m = g_inet_address_mask_new(net, p->PrefixLength, NULL);
    return m && g_inet_address_mask_matches(m, dst);
}

/* The longest prefix holding dst (out of oif when oif > 0), lowest metric first. */
static gboolean longest_prefix(GInetAddress *dst, int oif, NetifRoute *out, GError **error)
{
    MIB_IPFORWARD_TABLE2 *t = forward_table(error);
    if (!t)
        return FALSE;
    const MIB_IPFORWARD_ROW2 *best = NULL;
    for (ULONG k = 0; k < t->NumEntries; k++) {
        const MIB_IPFORWARD_ROW2 *r = &t->Table[k];
        if ((oif > 0 && (int)r->InterfaceIndex != oif) || !prefix_holds(&r->DestinationPrefix, dst))
            continue;
        if (!best || r->DestinationPrefix.PrefixLength > best->DestinationPrefix.PrefixLength ||
            (r->DestinationPrefix.PrefixLength == best->DestinationPrefix.PrefixLength &&
             r->Metric < best->Metric))
            best = r;
    }
    if (best) {
        out->oif = (int)best->InterfaceIndex;
        if (!is_unspecified(&best->NextHop))
            out->gateway = inet_address_of(&best->NextHop);
    }
    FreeMibTable(t);
    if (!best)
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_MISSING, "no route holds the destination");
    return best != NULL;
}

gboolean netif_route_get(GInetAddress *dst, GInetAddress *src, int oif, NetifRoute *out,
                         GError **error)
{
    g_return_val_if_fail(G_IS_INET_ADDRESS(dst) && out, FALSE);
    memset(out, 0, sizeof(*out));
    SOCKADDR_INET d, s, best_src;
    MIB_IPFORWARD_ROW2 row;
    if (!to_sockaddr_inet(dst, &d)) {
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_MISSING, "not an address");
        return FALSE;
    }
    gboolean with_src = src && g_inet_address_get_family(src) == g_inet_address_get_family(dst) &&
                        to_sockaddr_inet(src, &s);
    DWORD rc = GetBestRoute2(NULL, oif > 0 ? (NET_IFINDEX)oif : 0, with_src ? &s : NULL, &d, 0,
                             &row, &best_src);
    if (rc == NO_ERROR) {
        out->oif = (int)row.InterfaceIndex;
        out->prefsrc = inet_address_of(&best_src);
        if (!is_unspecified(&row.NextHop))
            out->gateway = inet_address_of(&row.NextHop);
        return TRUE;
    }
    g_autofree char *d_s = g_inet_address_to_string(dst);
    g_autoptr(GError) e = NULL;
    if (longest_prefix(dst, oif, out, &e))
        return TRUE;
    g_autofree char *m = g_win32_error_message((gint)rc);
    g_set_error(error, NETIF_ERROR, NETIF_ERROR_MISSING, "route to %s: GetBestRoute2: %s; %s", d_s,
                m, e->message);
    netif_route_clear(out);
    return FALSE;
}

gboolean netif_route_get_flow(GInetAddress *dst, int ipproto, guint16 dport, NetifRoute *out,
                              GError **error)
{
    return netif_route_get(dst, NULL, 0, out, error);
}

GPtrArray *netif_routes(GError **error)
{
    MIB_IPFORWARD_TABLE2 *t = forward_table(error);
    if (!t)
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(netif_route_entry_free);
    /* IPv4's first, as netif.h says (Linux lists them so). */
    static const ADDRESS_FAMILY families[] = {AF_INET, AF_INET6};
    for (gsize f = 0; f < G_N_ELEMENTS(families); f++) {
        for (ULONG k = 0; k < t->NumEntries && out->len < NETIF_MAX_ROUTES; k++) {
            const MIB_IPFORWARD_ROW2 *r = &t->Table[k];
            if (r->DestinationPrefix.Prefix.si_family != families[f])
                continue;
            g_autoptr(GInetAddress) dst = inet_address_of(&r->DestinationPrefix.Prefix);
            GInetAddressMask *m =
                dst ? g_inet_address_mask_new(dst, r->DestinationPrefix.PrefixLength, NULL) : NULL;
            if (!m)
                continue;
            NetifRouteEntry *e = g_new0(NetifRouteEntry, 1);
            e->dst = m;
            e->oif = (int)r->InterfaceIndex;
            if (!is_unspecified(&r->NextHop))
                e->gateway = inet_address_of(&r->NextHop);
            g_ptr_array_add(out, e);
        }
    }
    FreeMibTable(t);
    return out;
}

/* ---- counters ---------------------------------------------------------- */

gboolean netif_counters(int index, guint64 *rx_packets, guint64 *tx_packets, GError **error)
{
    MIB_IF_ROW2 row;
    memset(&row, 0, sizeof(row));
    row.InterfaceIndex = (NET_IFINDEX)index;
    DWORD rc = GetIfEntry2(&row);
    if (rc != NO_ERROR) {
        g_autofree char *what = g_strdup_printf("counters of interface %d: GetIfEntry2", index);
        set_win32_error(error, rc, what);
        return FALSE;
    }
    *rx_packets = row.InUcastPkts + row.InNUcastPkts;
    *tx_packets = row.OutUcastPkts + row.OutNUcastPkts;
    return TRUE;
}
