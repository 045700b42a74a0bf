/* Windows adapters' classes (winadapter.h). The rules are a table, tried in
 * order; the first match decides and its words are kept as the reason, as
 * netif_linux.c does with the kernel's facts. */
#include "winadapter.h"

#include <string.h>

/* Descriptions of the VPN clients' adapters (their drivers' device
 * descriptions: TAP-Windows6's version.m4, Wintun's "<type> Tunnel", what the
 * closed products install, as docs/windows.md lists), and the product. */
static const struct {
    const char *pattern, *product;
} vpn_descriptions[] = {
    {"PANGP Virtual Ethernet Adapter*", "Palo Alto GlobalProtect (PANGP)"},
    {"Cisco AnyConnect*Virtual Miniport Adapter*", "Cisco AnyConnect / Secure Client"},
    {"Cisco Secure Client*Virtual Miniport Adapter*", "Cisco AnyConnect / Secure Client"},
    {"TAP-Windows Adapter*", "OpenVPN (TAP-Windows)"},
    {"WireGuard Tunnel*", "WireGuard (Wintun or WireGuardNT)"},
    {"Wintun Userspace Tunnel*", "a Wintun tunnel (WireGuard or another client)"},
    {"OpenVPN Data Channel Offload*", "OpenVPN (DCO)"},
    {"Fortinet*Virtual Ethernet Adapter*", "FortiClient"},
    {"Juniper Networks Virtual Adapter*", "Pulse Secure / Ivanti"},
    {"Juniper*Virtual Adapter*", "Pulse Secure / Ivanti"},
    {"Sophos*TAP*", "Sophos Connect"},
};
/* Adapters that exist only inside this host: virtual switches' host ports
 * (Hyper-V's Default Switch and WSL's are NAT inside the host), host-only
 * networks of VirtualBox and VMware. */
static const char *const virtual_descriptions[] = {
    "VirtualBox Host-Only Ethernet Adapter*",
    "VMware Virtual Ethernet Adapter for VMnet*",
    NULL,
};
static const char *const virtual_names[] = {"vEthernet (Default Switch)", "vEthernet (WSL*", NULL};

static const char *product_of(const WinAdapterFacts *f)
{
    for (gsize i = 0; f->description && i < G_N_ELEMENTS(vpn_descriptions); i++) {
        if (g_pattern_match_simple(vpn_descriptions[i].pattern, f->description))
            return vpn_descriptions[i].product;
    }
    return NULL;
}

static gboolean matches(const char *const *patterns, const char *s)
{
    for (; s && *patterns; patterns++) {
        if (g_pattern_match_simple(*patterns, s))
            return TRUE;
    }
    return FALSE;
}

typedef char *(*Rule)(const WinAdapterFacts *f, const Profile *p);

static char *rule_loopback(const WinAdapterFacts *f, const Profile *p)
{
    return f->if_type == WINADAPTER_IF_LOOPBACK ? g_strdup("IfType 24 (IF_TYPE_SOFTWARE_LOOPBACK)")
                                                : NULL;
}

/* IPv6 transition pseudo-interfaces carry IPv6 over the host's own IPv4 to
 * the internet: no network of their own. */
static char *rule_transition(const WinAdapterFacts *f, const Profile *p)
{
    static const char *const names[] = {[WINADAPTER_TUNNEL_6TO4] = "6to4",
                                        [WINADAPTER_TUNNEL_ISATAP] = "ISATAP",
                                        [WINADAPTER_TUNNEL_TEREDO] = "Teredo"};
    if (f->tunnel_type < G_N_ELEMENTS(names) && names[f->tunnel_type])
        return g_strdup_printf("TunnelType %s: an IPv6 transition pseudo-interface",
                               names[f->tunnel_type]);
    return NULL;
}

static char *rule_tunnel_type(const WinAdapterFacts *f, const Profile *p)
{
    if (f->tunnel_type == WINADAPTER_TUNNEL_NONE)
        return NULL;
    if (f->tunnel_type == WINADAPTER_TUNNEL_IPHTTPS)
        return g_strdup("TunnelType IPHTTPS: DirectAccess's IP-HTTPS tunnel");
    return g_strdup_printf("TunnelType %u (a tunnel)", f->tunnel_type);
}

static char *rule_tunnel_iftype(const WinAdapterFacts *f, const Profile *p)
{
    switch (f->if_type) {
    case WINADAPTER_IF_TUNNEL:
        return g_strdup("IfType 131 (IF_TYPE_TUNNEL)");
    case WINADAPTER_IF_PPP:
        return g_strdup("IfType 23 (IF_TYPE_PPP): Windows' own VPN client (IKEv2, SSTP, L2TP, "
                        "PPTP) or a dial-up link");
    case WINADAPTER_IF_PROP_VIRTUAL:
        return g_strdup_printf(
            "IfType 53 (IF_TYPE_PROP_VIRTUAL)%s: a VPN driver's virtual adapter",
            f->media_type == WINADAPTER_MEDIUM_IP ? ", medium NdisMediumIP (layer 3)" : "");
    default:
        return NULL;
    }
}

static char *rule_virtual(const WinAdapterFacts *f, const Profile *p)
{
    if (matches(virtual_names, f->name))
        return g_strdup_printf("name '%s': a virtual switch inside this host", f->name);
    if (matches(virtual_descriptions, f->description))
        return g_strdup_printf("description '%s': a host-only network", f->description);
    return NULL;
}

/* Hyper-V's host port on any other virtual switch: an external switch
 * carries the host's own connection through the network card it is bound to
 * (an internal one is host-only, but the facts do not tell the two apart). */
static char *rule_hyperv(const WinAdapterFacts *f, const Profile *p)
{
    if (!f->description ||
        !g_pattern_match_simple("Hyper-V Virtual Ethernet Adapter*", f->description))
        return NULL;
    return g_strdup_printf("description '%s': a Hyper-V switch's host port, the host's own "
                           "connection when the switch is external",
                           f->description);
}

/* An adapter presenting as Ethernet that Windows says is no hardware, with no
 * connector and no physical medium: a driver's software adapter, as VPN
 * clients install (PANGP, AnyConnect, TAP-Windows 9.21 and older). */
static char *rule_software_ethernet(const WinAdapterFacts *f, const Profile *p)
{
    if (!f->link_known || f->if_type != WINADAPTER_IF_ETHERNET || f->hardware || f->connector ||
        f->physical_medium != WINADAPTER_PHYS_UNSPECIFIED)
        return NULL; /* facts nobody read decide nothing */
    return g_strdup_printf("a software adapter presenting as Ethernet (IfType 6, not a hardware "
                           "interface, no connector, no physical medium)%s%s%s",
                           f->description ? ": '" : "", f->description ? f->description : "",
                           f->description ? "'" : "");
}

static char *rule_profile_name(const WinAdapterFacts *f, const Profile *p)
{
    for (char **pat = p ? p->network.tunnel_names : NULL; pat && *pat; pat++) {
        if (f->name && g_pattern_match_simple(*pat, f->name))
            return g_strdup_printf("name matches the profile's tunnel pattern '%s'", *pat);
        if (f->description && g_pattern_match_simple(*pat, f->description))
            return g_strdup_printf("description '%s' matches the profile's tunnel pattern '%s'",
                                   f->description, *pat);
    }
    return NULL;
}

static char *rule_vpn_address(const WinAdapterFacts *f, const Profile *p)
{
    for (guint i = 0; p && f->addrs && i < f->addrs->len; i++) {
        if (profile_in_ranges(p->network.vpn_ranges, f->addrs->pdata[i])) {
            g_autofree char *a = g_inet_address_to_string(f->addrs->pdata[i]);
            return g_strdup_printf("address %s is in the profile's vpn_ranges", a);
        }
    }
    return NULL;
}

static const struct {
    NetifClass klass;
    Rule rule;
} rules[] = {
    {NETIF_CLASS_LOOPBACK, rule_loopback},        {NETIF_CLASS_VIRTUAL, rule_transition},
    {NETIF_CLASS_TUNNEL, rule_tunnel_type},       {NETIF_CLASS_TUNNEL, rule_tunnel_iftype},
    {NETIF_CLASS_VIRTUAL, rule_virtual},          {NETIF_CLASS_PHYSICAL, rule_hyperv},
    {NETIF_CLASS_TUNNEL, rule_software_ethernet}, {NETIF_CLASS_TUNNEL, rule_profile_name},
    {NETIF_CLASS_TUNNEL, rule_vpn_address},
};

static char *physical_reason(const WinAdapterFacts *f)
{
    if (f->hardware)
        return g_strdup_printf("a hardware interface (%s) with no tunnel facts",
                               winadapter_kind(f));
    return g_strdup_printf("an adapter (%s) with no tunnel facts", winadapter_kind(f));
}

NetifClass winadapter_classify(const WinAdapterFacts *f, const Profile *profile, char **reason,
                               const char **product)
{
    g_return_val_if_fail(f, NETIF_CLASS_PHYSICAL);
    NetifClass klass = NETIF_CLASS_PHYSICAL;
    char *why = NULL;
    for (gsize i = 0; !why && i < G_N_ELEMENTS(rules); i++) {
        why = rules[i].rule(f, profile);
        klass = rules[i].klass;
    }
    if (!why) {
        klass = NETIF_CLASS_PHYSICAL;
        why = physical_reason(f);
    }
    if (product)
        *product = klass == NETIF_CLASS_TUNNEL ? product_of(f) : NULL;
    if (reason)
        *reason = why;
    else
        g_free(why);
    return klass;
}

const char *winadapter_kind(const WinAdapterFacts *f)
{
    switch (f->if_type) {
    case WINADAPTER_IF_ETHERNET:
        return "ethernet";
    case WINADAPTER_IF_IEEE80211:
        return "wifi";
    case WINADAPTER_IF_PPP:
        return "ppp";
    case WINADAPTER_IF_TUNNEL:
        return "tunnel";
    case WINADAPTER_IF_PROP_VIRTUAL:
        return "virtual";
    case WINADAPTER_IF_LOOPBACK:
        return "loopback";
    case WINADAPTER_IF_WWANPP:
        return "wwan";
    default:
        return "other";
    }
}
