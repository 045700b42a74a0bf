/* The class of a Windows network adapter (physical, tunnel, loopback, virtual)
 * from the facts Windows gives of it (GetAdaptersAddresses, GetIfEntry2), and
 * which fact decided. A pure function over a struct, with no Windows header,
 * so that it is tested on Linux and under Wine alike with recorded adapter
 * tables of the real products (tests/unit/test_winadapter.c; Wine shows a
 * Linux tun as IF_TYPE_OTHER, which says nothing of them).
 *
 * VPN clients' adapters often present as Ethernet (GlobalProtect's PANGP,
 * AnyConnect's miniport, TAP-Windows): they are told from a network card by
 * software-adapter facts (not a hardware interface, no connector, no physical
 * medium), by their interface type where it is a virtual one (Wintun's and
 * TAP-Windows6' IF_TYPE_PROP_VIRTUAL), or by a tunnel type; the driver's
 * description names the product. The profile's tunnel name patterns (matched
 * against the name and the description) and VPN ranges only add to these
 * facts, as on Linux. */
#pragma once

#include <gio/gio.h>

#include "iceprobe/profile.h"
#include "netif.h"

/* Values of Windows' own enumerations, as the headers define them
 * (ipifcons.h, ifdef.h, ntddndis.h); netif_windows.c checks them. */
enum {
    WINADAPTER_IF_OTHER = 1,              /* IF_TYPE_OTHER */
    WINADAPTER_IF_ETHERNET = 6,           /* IF_TYPE_ETHERNET_CSMACD */
    WINADAPTER_IF_PPP = 23,               /* IF_TYPE_PPP */
    WINADAPTER_IF_LOOPBACK = 24,          /* IF_TYPE_SOFTWARE_LOOPBACK */
    WINADAPTER_IF_PROP_VIRTUAL = 53,      /* IF_TYPE_PROP_VIRTUAL */
    WINADAPTER_IF_IEEE80211 = 71,         /* IF_TYPE_IEEE80211 */
    WINADAPTER_IF_TUNNEL = 131,           /* IF_TYPE_TUNNEL */
    WINADAPTER_IF_WWANPP = 243,           /* IF_TYPE_WWANPP (mobile broadband) */
    WINADAPTER_TUNNEL_NONE = 0,           /* TUNNEL_TYPE_NONE */
    WINADAPTER_TUNNEL_6TO4 = 11,          /* TUNNEL_TYPE_6TO4 */
    WINADAPTER_TUNNEL_ISATAP = 13,        /* TUNNEL_TYPE_ISATAP */
    WINADAPTER_TUNNEL_TEREDO = 14,        /* TUNNEL_TYPE_TEREDO */
    WINADAPTER_TUNNEL_IPHTTPS = 15,       /* TUNNEL_TYPE_IPHTTPS (DirectAccess) */
    WINADAPTER_MEDIUM_802_3 = 0,          /* NdisMedium802_3 */
    WINADAPTER_MEDIUM_NATIVE_802_11 = 16, /* NdisMediumNative802_11 */
    WINADAPTER_MEDIUM_IP = 19,            /* NdisMediumIP */
    WINADAPTER_PHYS_UNSPECIFIED = 0,      /* NdisPhysicalMediumUnspecified */
    WINADAPTER_PHYS_NATIVE_802_11 = 9,    /* NdisPhysicalMediumNative802_11 */
    WINADAPTER_PHYS_802_3 = 14,           /* NdisPhysicalMedium802_3 */
};

/* What Windows says of an adapter, as classification needs it. */
typedef struct {
    const char *name;        /* FriendlyName ("Ethernet 2", "Wi-Fi") */
    const char *description; /* the driver's Description */
    guint if_type;           /* IfType (IANA ifType) */
    guint tunnel_type;       /* TunnelType (TUNNEL_TYPE_*) */
    guint media_type;        /* MIB_IF_ROW2 MediaType (NDIS_MEDIUM) */
    guint physical_medium;   /* MIB_IF_ROW2 PhysicalMediumType (NDIS_PHYSICAL_MEDIUM) */
    gboolean hardware;       /* InterfaceAndOperStatusFlags.HardwareInterface */
    gboolean connector;      /* InterfaceAndOperStatusFlags.ConnectorPresent */
    GPtrArray *addrs;        /* GInetAddress, may be NULL */
    gboolean link_known;     /* media, medium, hardware and connector were read (GetIfEntry2) */
} WinAdapterFacts;

/* Classifies an adapter; *reason (if given) says which fact decided, in
 * words; *product (if given) the VPN product its description names, or NULL. */
NetifClass winadapter_classify(const WinAdapterFacts *f, const Profile *profile, char **reason,
                               const char **product);
/* A short kind for the JSON ("ethernet", "wifi", "ppp", "tunnel", "virtual",
 * "loopback", "wwan", "other"), from the interface type. */
const char *winadapter_kind(const WinAdapterFacts *f);
