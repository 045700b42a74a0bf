/* Local interfaces and their class, from the system's facts; route lookups and
 * packet counters. Reading them is the platform's: netif_linux.c (rtnetlink),
 * netif_windows.c (GetAdaptersAddresses, GetIfEntry2, GetBestRoute2,
 * GetIpForwardTable2; classes by winadapter.h). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "iceprobe/profile.h"

typedef enum {
    NETIF_CLASS_PHYSICAL,
    NETIF_CLASS_TUNNEL,
    NETIF_CLASS_LOOPBACK,
    NETIF_CLASS_VIRTUAL,
} NetifClass;

const char *netif_class_to_string(NetifClass c);

/* The tun driver's tap mode (IFF_TAP), in NetifInterface.tun_type. */
#define NETIF_TUN_TAP 0x0002
/* An IPv6 temporary (privacy) address (IFA_F_TEMPORARY), in address_flags. */
#define NETIF_ADDR_TEMPORARY 0x01

/* What the Linux kernel says of a link, as classification needs it
 * (netif_linux.c; Windows adapters: winadapter.h). */
typedef struct {
    const char *name;
    const char *kind; /* IFLA_INFO_KIND ("tun", "wireguard", "veth"...), NULL for none */
    guint arphrd;     /* ARPHRD_* link type */
    guint flags;      /* IFF_* */
    int tun_type;     /* IFF_TUN or IFF_TAP for the tun driver, 0 otherwise */
    GPtrArray *addrs; /* GInetAddress, may be NULL */
} NetifFacts;

/* Classifies a link; *reason (if given) says which fact decided it, in words. */
NetifClass netif_classify(const NetifFacts *facts, const Profile *profile, char **reason);

typedef struct {
    char *name;
    int index;
    NetifClass klass;
    char *kind; /* link kind, or the ARPHRD type's name when there is none */
    char *reason;
    guint flags;
    gboolean up;          /* IFF_UP and IFF_RUNNING: what libnice gathers on */
    GPtrArray *addresses; /* GInetAddress */
    GPtrArray *prefixes;  /* char*, "addr/len" */
    GArray *address_flags; /* guint32 IFA_F_* of each address (IPv6's temporary, deprecated,
                            * tentative...), parallel to addresses; NULL: none known */
    guint64 rx_packets, tx_packets;
    guint mtu;     /* IFLA_MTU; 0 when the kernel did not say */
    int tun_type;  /* IFF_TUN or IFF_TAP for the tun driver, 0 otherwise */
    char *description; /* Windows: the adapter's Description; NULL on Linux */
    const char *product; /* Windows: the VPN product its description names, or NULL */
    guint if_type;       /* Windows: IfType (IANA ifType, WINADAPTER_IF_*); 0 on Linux */
} NetifInterface;

typedef struct {
    GPtrArray *interfaces; /* NetifInterface, in kernel index order */
} NetifInventory;

#define NETIF_ERROR (netif_error_quark())
GQuark netif_error_quark(void);
typedef enum {
    NETIF_ERROR_NETLINK, /* the conversation with the kernel failed */
    NETIF_ERROR_MISSING, /* the kernel answered without the fact asked for */
} NetifError;

NetifInventory *netif_inventory_new(const Profile *profile, GError **error);
void netif_inventory_free(NetifInventory *inv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetifInventory, netif_inventory_free)

const NetifInterface *netif_inventory_by_index(const NetifInventory *inv, int index);
const NetifInterface *netif_inventory_by_name(const NetifInventory *inv, const char *name);
/* The interface that owns a local address. */
const NetifInterface *netif_inventory_by_address(const NetifInventory *inv, GInetAddress *addr);
/* The addresses of the interfaces of class klass that are up (libnice gathers
 * on no other, docs/libnice.md §4), in inventory order, of one family
 * (G_SOCKET_FAMILY_INVALID: both) and never link-local ones: an IPv6
 * link-local candidate pairs only with a link-local remote (§15), an IPv4 one
 * is no network's. GInetAddress, never NULL. */
GPtrArray *netif_inventory_addresses(const NetifInventory *inv, NetifClass klass,
                                     GSocketFamily family);
/* The first tunnel, or NULL. */
const NetifInterface *netif_inventory_first_tunnel(const NetifInventory *inv);

/* Which facts of an interface netif_interface_to_json writes beside its name,
 * class, kind and addresses. */
typedef enum {
    NETIF_JSON_INDEX = 1 << 0, /* "index" */
    NETIF_JSON_STATE = 1 << 1, /* "up", and "reason" (why the class) */
} NetifJsonFacts;
/* The one JSON form of an interface (`iceprobe interfaces --json`, a report's
 * probes[].interfaces, an agent's heartbeat), its members in this order: name,
 * index, class, kind (left out when unknown), up, addresses (the first
 * max_addresses, "addr/len"), reason. */
JsonObject *netif_interface_to_json(const NetifInterface *n, NetifJsonFacts facts,
                                    guint max_addresses);

/* The kernel's route for a packet to dst, optionally from src and pinned to the
 * output interface oif (0: none), as `ip route get` asks it. Gives the output
 * interface index and, when the route has one, the preferred source and gateway. */
typedef struct {
    int oif;
    GInetAddress *prefsrc; /* may be NULL */
    GInetAddress *gateway; /* may be NULL */
} NetifRoute;

gboolean netif_route_get(GInetAddress *dst, GInetAddress *src, int oif, NetifRoute *out,
                         GError **error);
/* The same for a flow: protocol (IPPROTO_UDP, IPPROTO_TCP; 0 none) and destination
 * port (0: none), as `ip route get ADDR ipproto udp dport 3478` asks it, so that
 * policy rules matching them (a VPN client's per-port rules) are applied. */
gboolean netif_route_get_flow(GInetAddress *dst, int ipproto, guint16 dport, NetifRoute *out,
                              GError **error);
void netif_route_clear(NetifRoute *r);

/* The main routing table's routes (NetifRouteEntry), as `ip route` and then
 * `ip -6 route` list them: IPv4's first. A host with IPv6 disabled has none
 * of IPv6's. */
typedef struct {
    GInetAddressMask *dst; /* 0.0.0.0/0 (::/0) for the default route */
    int oif;
    GInetAddress *gateway; /* may be NULL */
} NetifRouteEntry;
GPtrArray *netif_routes(GError **error);

/* Packet counters of one interface, now. */
gboolean netif_counters(int index, guint64 *rx_packets, guint64 *tx_packets, GError **error);
