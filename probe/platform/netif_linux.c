/* Interfaces from rtnetlink (netif.h), Linux side. A VPN tunnel is recognised by
 * what the kernel says of it, whatever it is called: the link kind (wireguard,
 * tun, ipip, gre, xfrm, ppp...), a link type without an Ethernet header
 * (ARPHRD_NONE, PPP, TUNNEL...), or the point-to-point flag. The profile's name
 * patterns and VPN ranges only add to these facts. The rules are a table, tried
 * in order; the first match decides and its words are kept as the reason. */
#include "netif-private.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

G_STATIC_ASSERT(NETIF_ADDR_TEMPORARY == IFA_F_TEMPORARY);
G_STATIC_ASSERT(NETIF_TUN_TAP == IFF_TAP);

/* ---- classification ---------------------------------------------------- */

static const char *const tunnel_kinds[] = {
    "tun",    "wireguard", "ipip",   "gre",       "gretap",  "ip6gre", "ip6gretap",
    "ip6tnl", "sit",       "vti",    "vti6",      "xfrm",    "ppp",    "l2tp",
    "geneve", "vxlan",     "erspan", "ip6erspan", "bareudp", "amt",    NULL,
};
/* Links that exist only inside this host (libnice ignores some by name). */
static const char *const virtual_kinds[] = {"dummy", "ifb", "nlmon", "vcan", "vxcan", NULL};
static const char *const virtual_names[] = {"docker*", "virbr*", "vnet*", NULL};

static const struct {
    guint type;
    const char *name;
} tunnel_arphrd[] = {
    {ARPHRD_NONE, "ARPHRD_NONE (no link-layer header)"},
    {ARPHRD_PPP, "ARPHRD_PPP"},
    {ARPHRD_RAWIP, "ARPHRD_RAWIP"},
    {ARPHRD_TUNNEL, "ARPHRD_TUNNEL (IPIP)"},
    {ARPHRD_TUNNEL6, "ARPHRD_TUNNEL6"},
    {ARPHRD_SIT, "ARPHRD_SIT"},
    {ARPHRD_IPGRE, "ARPHRD_IPGRE"},
    {ARPHRD_IP6GRE, "ARPHRD_IP6GRE"},
    {ARPHRD_VOID, "ARPHRD_VOID"},
};

static gboolean in_list(const char *const *list, const char *s)
{
    for (; s && *list; list++) {
        if (strcmp(*list, s) == 0)
            return TRUE;
    }
    return FALSE;
}

typedef char *(*Rule)(const NetifFacts *f, const Profile *p);

static char *rule_loopback(const NetifFacts *f, const Profile *p)
{
    if ((f->flags & IFF_LOOPBACK) || f->arphrd == ARPHRD_LOOPBACK)
        return g_strdup("loopback flag");
    return NULL;
}

static char *rule_tunnel_kind(const NetifFacts *f, const Profile *p)
{
    if (!in_list(tunnel_kinds, f->kind))
        return NULL;
    if (strcmp(f->kind, "tun") == 0)
        return g_strdup_printf(
            "link kind 'tun' (%s mode): a user-space tunnel such as a VPN client",
            f->tun_type == IFF_TAP ? "tap" : "tun");
    return g_strdup_printf("link kind '%s'", f->kind);
}

static char *rule_tunnel_arphrd(const NetifFacts *f, const Profile *p)
{
    for (gsize i = 0; i < G_N_ELEMENTS(tunnel_arphrd); i++) {
        if (tunnel_arphrd[i].type == f->arphrd)
            return g_strdup_printf("link type %s", tunnel_arphrd[i].name);
    }
    return NULL;
}

static char *rule_pointopoint(const NetifFacts *f, const Profile *p)
{
    return (f->flags & IFF_POINTOPOINT) ? g_strdup("point-to-point flag") : NULL;
}

static char *rule_tunnel_name(const NetifFacts *f, const Profile *p)
{
    if (!p || !f->name)
        return NULL;
    for (char **pat = p->network.tunnel_names; pat && *pat; pat++) {
        if (g_pattern_match_simple(*pat, f->name))
            return g_strdup_printf("name matches the profile's tunnel pattern '%s'", *pat);
    }
    return NULL;
}

static char *rule_vpn_address(const NetifFacts *f, const Profile *p)
{
    if (!p || !f->addrs)
        return NULL;
    for (guint i = 0; i < f->addrs->len; i++) {
        if (profile_in_ranges(p->network.vpn_ranges, f->addrs->pdata[i])) {
            g_autofree char *a = g_inet_address_to_string(f->addrs->pdata[i]);
            return g_strdup_printf("address %s is in the profile's vpn_ranges", a);
        }
    }
    return NULL;
}

static char *rule_virtual(const NetifFacts *f, const Profile *p)
{
    if (in_list(virtual_kinds, f->kind))
        return g_strdup_printf("link kind '%s' exists only inside this host", f->kind);
    for (const char *const *pat = virtual_names; f->name && *pat; pat++) {
        if (g_pattern_match_simple(*pat, f->name))
            return g_strdup_printf("name matches '%s' (a container or VM bridge)", *pat);
    }
    return NULL;
}

static const struct {
    NetifClass klass;
    Rule rule;
} rules[] = {
    {NETIF_CLASS_LOOPBACK, rule_loopback},    {NETIF_CLASS_TUNNEL, rule_tunnel_kind},
    {NETIF_CLASS_TUNNEL, rule_tunnel_arphrd}, {NETIF_CLASS_TUNNEL, rule_pointopoint},
    {NETIF_CLASS_TUNNEL, rule_tunnel_name},   {NETIF_CLASS_TUNNEL, rule_vpn_address},
    {NETIF_CLASS_VIRTUAL, rule_virtual},
};

NetifClass netif_classify(const NetifFacts *facts, const Profile *profile, char **reason)
{
    g_return_val_if_fail(facts, NETIF_CLASS_PHYSICAL);
    for (gsize i = 0; i < G_N_ELEMENTS(rules); i++) {
        char *why = rules[i].rule(facts, profile);
        if (why) {
            if (reason)
                *reason = why;
            else
                g_free(why);
            return rules[i].klass;
        }
    }
    if (reason)
        *reason = g_strdup("a link-layer interface with no tunnel facts");
    return NETIF_CLASS_PHYSICAL;
}

/* ---- rtnetlink ---------------------------------------------------------- */

#define NL_BUF_SIZE 32768

typedef struct {
    struct mnl_socket *nl;
    unsigned int portid;
    unsigned int seq;
} Netlink;

static void netlink_close(Netlink *n)
{
    if (n->nl)
        mnl_socket_close(n->nl);
}

static gboolean netlink_open(Netlink *n, GError **error)
{
    memset(n, 0, sizeof(*n));
    n->nl = mnl_socket_open(NETLINK_ROUTE);
    if (!n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK, "rtnetlink socket: %s",
                    g_strerror(errno));
        netlink_close(n);
        return FALSE;
    }
    n->portid = mnl_socket_get_portid(n->nl);
    n->seq = (unsigned int)time(NULL);
    return TRUE;
}

/* Sends a request and feeds every answer to cb until the kernel says done. */
static gboolean netlink_talk(Netlink *n, struct nlmsghdr *req, mnl_cb_t cb, void *data,
                             const char *what, GError **error)
{
    char buf[NL_BUF_SIZE];
    req->nlmsg_seq = ++n->seq;
    if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0) {
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK, "%s: send: %s", what,
                    g_strerror(errno));
        return FALSE;
    }
    for (;;) {
        ssize_t len = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));
        if (len < 0) {
            g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK, "%s: receive: %s", what,
                        g_strerror(errno));
            return FALSE;
        }
        int r = mnl_cb_run(buf, (size_t)len, n->seq, n->portid, cb, data);
        if (r == MNL_CB_STOP)
            return TRUE;
        if (r < 0) {
            int e = errno; /* the kernel's answer, for the caller too */
            g_set_error(error, NETIF_ERROR, NETIF_ERROR_NETLINK, "%s: %s", what, g_strerror(e));
            errno = e;
            return FALSE;
        }
    }
}

static struct nlmsghdr *put_request(char *buf, guint16 type, guint16 flags)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    return nlh;
}

typedef struct {
    NetifInventory *inv;
    GArray *facts; /* per interface, parallel to inv->interfaces */
} DumpCtx;

typedef struct {
    char *kind;
    guint arphrd;
    int tun_type;
} LinkExtra;

static void parse_linkinfo(const struct nlattr *linkinfo, LinkExtra *x)
{
    const struct nlattr *a;
    mnl_attr_for_each_nested(a, linkinfo)
    {
        if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0) {
            g_free(x->kind);
            x->kind = g_strdup(mnl_attr_get_str(a));
        } else if (mnl_attr_get_type(a) == IFLA_INFO_DATA) {
            const struct nlattr *d;
            mnl_attr_for_each_nested(d, a)
            {
                if (mnl_attr_get_type(d) == IFLA_TUN_TYPE && mnl_attr_validate(d, MNL_TYPE_U8) >= 0)
                    x->tun_type = mnl_attr_get_u8(d);
            }
        }
    }
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
    DumpCtx *ctx = data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    NetifInterface *i = netif_interface_new(ifi->ifi_index);
    LinkExtra x = {NULL, ifi->ifi_type, 0};
    i->flags = ifi->ifi_flags;
    i->up = (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_RUNNING);

    const struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(*ifi))
    {
        switch (mnl_attr_get_type(a)) {
        case IFLA_IFNAME:
            if (mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                i->name = g_strdup(mnl_attr_get_str(a));
            break;
        case IFLA_LINKINFO:
            parse_linkinfo(a, &x);
            break;
        case IFLA_MTU:
            if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                i->mtu = mnl_attr_get_u32(a);
            break;
        case IFLA_STATS64:
            if (mnl_attr_get_payload_len(a) >= sizeof(struct rtnl_link_stats64)) {
                struct rtnl_link_stats64 st;
                memcpy(&st, mnl_attr_get_payload(a), sizeof(st));
                i->rx_packets = st.rx_packets;
                i->tx_packets = st.tx_packets;
            }
            break;
        default:
            break;
        }
    }
    if (!i->name)
        i->name = g_strdup_printf("if%d", i->index);
    i->kind = x.kind;
    i->tun_type = x.tun_type;
    g_ptr_array_add(ctx->inv->interfaces, i);
    g_array_append_val(ctx->facts, x);
    return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
    DumpCtx *ctx = data;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    NetifInterface *i = (NetifInterface *)netif_inventory_by_index(ctx->inv, (int)ifa->ifa_index);
    if (!i || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
        return MNL_CB_OK;
    const struct nlattr *a, *local = NULL, *address = NULL;
    guint32 flags = ifa->ifa_flags;
    mnl_attr_for_each(a, nlh, sizeof(*ifa))
    {
        if (mnl_attr_get_type(a) == IFA_LOCAL)
            local = a;
        else if (mnl_attr_get_type(a) == IFA_ADDRESS)
            address = a;
        else if (mnl_attr_get_type(a) == IFA_FLAGS && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
            flags = mnl_attr_get_u32(a); /* all 32 bits (ifa_flags has 8) */
    }
    /* IFA_LOCAL is the interface's own address on point-to-point links. */
    const struct nlattr *use = local ? local : address;
    gsize want = ifa->ifa_family == AF_INET ? 4 : 16;
    if (!use || mnl_attr_get_payload_len(use) != want)
        return MNL_CB_OK;
    GInetAddress *ia = g_inet_address_new_from_bytes(
        mnl_attr_get_payload(use),
        ifa->ifa_family == AF_INET ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
    g_autofree char *s = g_inet_address_to_string(ia);
    g_ptr_array_add(i->prefixes, g_strdup_printf("%s/%u", s, ifa->ifa_prefixlen));
    g_ptr_array_add(i->addresses, ia);
    g_array_append_val(i->address_flags, flags);
    return MNL_CB_OK;
}

static const char *arphrd_name(guint t)
{
    switch (t) {
    case ARPHRD_ETHER:
        return "ether";
    case ARPHRD_LOOPBACK:
        return "loopback";
    case ARPHRD_IEEE80211:
        return "wifi";
    default:
        return "none";
    }
}

NetifInventory *netif_inventory_new(const Profile *profile, GError **error)
{
    Netlink n;
    if (!netlink_open(&n, error))
        return NULL;
    g_autoptr(NetifInventory) inv = netif_inventory_empty();
    g_autoptr(GArray) facts = g_array_new(FALSE, TRUE, sizeof(LinkExtra));
    DumpCtx ctx = {inv, facts};
    char buf[MNL_SOCKET_BUFFER_SIZE];

    struct nlmsghdr *nlh = put_request(buf, RTM_GETLINK, NLM_F_DUMP);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    gboolean ok = netlink_talk(&n, nlh, link_cb, &ctx, "list links", error);
    if (ok) {
        nlh = put_request(buf, RTM_GETADDR, NLM_F_DUMP);
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_UNSPEC;
        ok = netlink_talk(&n, nlh, addr_cb, &ctx, "list addresses", error);
    }
    netlink_close(&n);

    for (guint k = 0; k < inv->interfaces->len; k++) {
        NetifInterface *i = inv->interfaces->pdata[k];
        LinkExtra *x = &g_array_index(facts, LinkExtra, k);
        NetifFacts f = {i->name, x->kind, x->arphrd, i->flags, x->tun_type, i->addresses};
        if (ok)
            i->klass = netif_classify(&f, profile, &i->reason);
        if (!i->kind)
            i->kind = g_strdup(arphrd_name(x->arphrd));
    }
    return ok ? g_steal_pointer(&inv) : NULL;
}

/* ---- routes and counters ------------------------------------------------ */

static GInetAddress *attr_address(const struct nlattr *a, int family)
{
    gsize want = family == AF_INET ? 4 : 16;
    if (mnl_attr_get_payload_len(a) != want)
        return NULL;
    return g_inet_address_new_from_bytes(
        mnl_attr_get_payload(a), family == AF_INET ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
    NetifRoute *r = data;
    const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(*rtm))
    {
        switch (mnl_attr_get_type(a)) {
        case RTA_OIF:
            if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                r->oif = (int)mnl_attr_get_u32(a);
            break;
        case RTA_PREFSRC:
            g_clear_object(&r->prefsrc);
            r->prefsrc = attr_address(a, rtm->rtm_family);
            break;
        case RTA_GATEWAY:
            g_clear_object(&r->gateway);
            r->gateway = attr_address(a, rtm->rtm_family);
            break;
        default:
            break;
        }
    }
    return MNL_CB_STOP;
}

static gboolean route_get(GInetAddress *dst, GInetAddress *src, int oif, int ipproto, guint16 dport,
                          NetifRoute *out, GError **error);

gboolean netif_route_get(GInetAddress *dst, GInetAddress *src, int oif, NetifRoute *out,
                         GError **error)
{
    return route_get(dst, src, oif, 0, 0, out, error);
}

gboolean netif_route_get_flow(GInetAddress *dst, int ipproto, guint16 dport, NetifRoute *out,
                              GError **error)
{
    return route_get(dst, NULL, 0, ipproto, dport, out, error);
}

static gboolean route_get(GInetAddress *dst, GInetAddress *src, int oif, int ipproto, guint16 dport,
                          NetifRoute *out, GError **error)
{
    g_return_val_if_fail(G_IS_INET_ADDRESS(dst) && out, FALSE);
    memset(out, 0, sizeof(*out));
    Netlink n;
    if (!netlink_open(&n, error))
        return FALSE;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = put_request(buf, RTM_GETROUTE, 0);
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    int family = g_inet_address_get_family(dst) == G_SOCKET_FAMILY_IPV4 ? AF_INET : AF_INET6;
    gsize alen = g_inet_address_get_native_size(dst);
    rtm->rtm_family = (unsigned char)family;
    rtm->rtm_dst_len = (unsigned char)(alen * 8);
    mnl_attr_put(nlh, RTA_DST, alen, g_inet_address_to_bytes(dst));
    if (src && g_inet_address_get_family(src) == g_inet_address_get_family(dst)) {
        rtm->rtm_src_len = (unsigned char)(alen * 8);
        mnl_attr_put(nlh, RTA_SRC, alen, g_inet_address_to_bytes(src));
    }
    if (oif > 0)
        mnl_attr_put_u32(nlh, RTA_OIF, (guint32)oif);
    if (ipproto > 0)
        mnl_attr_put_u8(nlh, RTA_IP_PROTO, (guint8)ipproto);
    if (dport > 0)
        mnl_attr_put_u16(nlh, RTA_DPORT, g_htons(dport));
    g_autofree char *d = g_inet_address_to_string(dst);
    g_autofree char *what = g_strdup_printf("route to %s", d);
    gboolean ok = netlink_talk(&n, nlh, route_cb, out, what, error);
    netlink_close(&n);
    if (ok && out->oif == 0) {
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_MISSING,
                    "%s: the kernel gave no output interface", what);
        ok = FALSE;
    }
    if (!ok)
        netif_route_clear(out);
    return ok;
}

#define NETIF_MAX_ROUTES 4096

static int routes_cb(const struct nlmsghdr *nlh, void *data)
{
    GPtrArray *out = data;
    const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
    if ((rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) ||
        rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST ||
        out->len >= NETIF_MAX_ROUTES)
        return MNL_CB_OK;
    NetifRouteEntry *e = g_new0(NetifRouteEntry, 1);
    g_autoptr(GInetAddress) dst = NULL;
    const struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(*rtm))
    {
        switch (mnl_attr_get_type(a)) {
        case RTA_DST:
            g_clear_object(&dst);
            dst = attr_address(a, rtm->rtm_family);
            break;
        case RTA_OIF:
            if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                e->oif = (int)mnl_attr_get_u32(a);
            break;
        case RTA_GATEWAY:
            g_clear_object(&e->gateway);
            e->gateway = attr_address(a, rtm->rtm_family);
            break;
        default:
            break;
        }
    }
    if (!dst)
        dst = g_inet_address_new_any(rtm->rtm_family == AF_INET ? G_SOCKET_FAMILY_IPV4
                                                                : G_SOCKET_FAMILY_IPV6);
    e->dst = g_inet_address_mask_new(dst, rtm->rtm_dst_len, NULL);
    if (e->dst)
        g_ptr_array_add(out, e);
    else
        netif_route_entry_free(e);
    return MNL_CB_OK;
}

GPtrArray *netif_routes(GError **error)
{
    Netlink n;
    if (!netlink_open(&n, error))
        return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(netif_route_entry_free);
    static const unsigned char families[] = {AF_INET, AF_INET6};
    gboolean ok = TRUE;
    for (gsize i = 0; ok && i < G_N_ELEMENTS(families); i++) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_request(buf, RTM_GETROUTE, NLM_F_DUMP);
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = families[i];
        g_autoptr(GError) e = NULL;
        ok = netlink_talk(&n, nlh, routes_cb, out,
                          families[i] == AF_INET ? "list IPv4 routes" : "list IPv6 routes", &e);
        /* A kernel booted with ipv6.disable=1 knows no IPv6 routes at all. */
        if (!ok && families[i] == AF_INET6 && errno == EAFNOSUPPORT)
            ok = TRUE;
        else if (!ok)
            g_propagate_error(error, g_steal_pointer(&e));
    }
    netlink_close(&n);
    if (!ok)
        g_clear_pointer(&out, g_ptr_array_unref);
    return out;
}

typedef struct {
    guint64 rx, tx;
    gboolean found;
} Counters;

static int counters_cb(const struct nlmsghdr *nlh, void *data)
{
    Counters *c = data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(*ifi))
    {
        if (mnl_attr_get_type(a) == IFLA_STATS64 &&
            mnl_attr_get_payload_len(a) >= sizeof(struct rtnl_link_stats64)) {
            struct rtnl_link_stats64 st;
            memcpy(&st, mnl_attr_get_payload(a), sizeof(st));
            c->rx = st.rx_packets;
            c->tx = st.tx_packets;
            c->found = TRUE;
        }
    }
    return MNL_CB_STOP;
}

gboolean netif_counters(int index, guint64 *rx_packets, guint64 *tx_packets, GError **error)
{
    Netlink n;
    if (!netlink_open(&n, error))
        return FALSE;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = put_request(buf, RTM_GETLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    Counters c = {0};
    g_autofree char *what = g_strdup_printf("counters of interface %d", index);
    gboolean ok = netlink_talk(&n, nlh, counters_cb, &c, what, error);
    netlink_close(&n);
    if (ok && !c.found) {
        g_set_error(error, NETIF_ERROR, NETIF_ERROR_MISSING, "%s: no statistics", what);
        ok = FALSE;
    }
    if (ok) {
        *rx_packets = c.rx;
        *tx_packets = c.tx;
    }
    return ok;
}
