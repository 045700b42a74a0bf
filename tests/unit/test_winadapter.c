/* Windows adapters' classes (winadapter.h) on recorded adapter tables of the
 * real products, since neither this machine nor Wine has them (Wine shows a
 * Linux link as Ethernet, a Linux tun as IF_TYPE_OTHER). Built and run on
 * Linux (suite unit) and as a Windows program under Wine (suite windows).
 *
 * Where each record's facts come from (docs/windows.md, "Adapter records"):
 * - WireGuard (Wintun): Wintun's driver registers IfType IF_TYPE_PROP_VIRTUAL,
 *   MediaType NdisMediumIP, PhysicalMediumType NdisPhysicalMediumUnspecified,
 *   IfConnectorPresent FALSE (driver/wintun.c, its
 *   NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES; driver/wintun.inf: *IfType = 53,
 *   *MediaType = 19, *PhysicalMediaType = 0, Characteristics NCF_VIRTUAL); the
 *   description is "<tunnel type> Tunnel" (api/adapter.c), "WireGuard Tunnel"
 *   for WireGuard's adapters.
 * - OpenVPN TAP-Windows V9 (tap-windows6): TAP_IFTYPE IF_TYPE_PROP_VIRTUAL,
 *   TAP_MEDIUM_TYPE NdisMedium802_3, TAP_PHYSICAL_MEDIUM
 *   NdisPhysicalMediumUnspecified, TAP_HAS_PHYSICAL_CONNECTOR FALSE
 *   (src/constants.h; src/OemVista.inf.in), description "TAP-Windows Adapter
 *   V9" (version.m4, PRODUCT_TAP_WIN_DEVICE_DESCRIPTION).
 * - GlobalProtect (PANGP) and Cisco AnyConnect: closed drivers. Their
 *   descriptions are the ones the clients install ("PANGP Virtual Ethernet
 *   Adapter", "Cisco AnyConnect Secure Mobility Client Virtual Miniport Adapter
 *   for Windows x64"), both Ethernet (IfType 6, NdisMedium802_3) as ipconfig
 *   and Get-NetAdapter show them; the flags recorded (no hardware interface,
 *   no connector, no physical medium) are what an NDIS virtual miniport
 *   (NCF_VIRTUAL) reports, as Wintun and TAP-Windows do: to be confirmed on a
 *   laptop with the client (docs/windows.md).
 * - Wi-Fi and Ethernet cards: a native 802.11 miniport reports
 *   NdisMediumNative802_11 and NdisPhysicalMediumNative802_11, an Ethernet one
 *   NdisMedium802_3 and NdisPhysicalMedium802_3, both hardware interfaces with
 *   a connector (MIB_IF_ROW2's documentation: HardwareInterface "set if the
 *   network interface is for hardware", ConnectorPresent "set if there is a
 *   physical network adapter").
 * - Hyper-V: "Hyper-V Virtual Ethernet Adapter", the host's port on a virtual
 *   switch, named "vEthernet (SWITCH)" ("Default Switch" is NAT inside the
 *   host), Ethernet without hardware or connector.
 * - Teredo: IfType IF_TYPE_TUNNEL with TunnelType TUNNEL_TYPE_TEREDO. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vpn.h"
#include "winadapter.h"

typedef struct {
    WinAdapterFacts facts;
    NetifClass klass;
    const char *reason_part; /* in the reason */
    const char *product;     /* the product named, or NULL */
} Record;

#define SOFTWARE_ETHERNET(NAME, DESCRIPTION)                                                       \
    {                                                                                              \
        NAME, DESCRIPTION, WINADAPTER_IF_ETHERNET, WINADAPTER_TUNNEL_NONE,                         \
            WINADAPTER_MEDIUM_802_3, WINADAPTER_PHYS_UNSPECIFIED, FALSE, FALSE, NULL, TRUE         \
    }

static const Record records[] = {
    {SOFTWARE_ETHERNET("Ethernet 3", "PANGP Virtual Ethernet Adapter"), NETIF_CLASS_TUNNEL,
     "software adapter presenting as Ethernet", "Palo Alto GlobalProtect (PANGP)"},
    {SOFTWARE_ETHERNET("Ethernet 4", "PANGP Virtual Ethernet Adapter Secure"), NETIF_CLASS_TUNNEL,
     "not a hardware interface", "Palo Alto GlobalProtect (PANGP)"},
    {SOFTWARE_ETHERNET("Ethernet 2",
                       "Cisco AnyConnect Secure Mobility Client Virtual Miniport Adapter for "
                       "Windows x64"),
     NETIF_CLASS_TUNNEL, "software adapter presenting as Ethernet",
     "Cisco AnyConnect / Secure Client"},
    {{"office", "WireGuard Tunnel", WINADAPTER_IF_PROP_VIRTUAL, WINADAPTER_TUNNEL_NONE,
      WINADAPTER_MEDIUM_IP, WINADAPTER_PHYS_UNSPECIFIED, FALSE, FALSE, NULL, TRUE},
     NETIF_CLASS_TUNNEL,
     "IfType 53 (IF_TYPE_PROP_VIRTUAL), medium NdisMediumIP",
     "WireGuard (Wintun or WireGuardNT)"},
    {{"OpenVPN TAP-Windows6", "TAP-Windows Adapter V9", WINADAPTER_IF_PROP_VIRTUAL,
      WINADAPTER_TUNNEL_NONE, WINADAPTER_MEDIUM_802_3, WINADAPTER_PHYS_UNSPECIFIED, FALSE, FALSE,
      NULL, TRUE},
     NETIF_CLASS_TUNNEL,
     "IfType 53 (IF_TYPE_PROP_VIRTUAL): a VPN driver's",
     "OpenVPN (TAP-Windows)"},
    {{"Wi-Fi", "Intel(R) Wi-Fi 6 AX201 160MHz", WINADAPTER_IF_IEEE80211, WINADAPTER_TUNNEL_NONE,
      WINADAPTER_MEDIUM_NATIVE_802_11, WINADAPTER_PHYS_NATIVE_802_11, TRUE, TRUE, NULL, TRUE},
     NETIF_CLASS_PHYSICAL,
     "a hardware interface (wifi)",
     NULL},
    {{"Ethernet", "Intel(R) Ethernet Connection (7) I219-LM", WINADAPTER_IF_ETHERNET,
      WINADAPTER_TUNNEL_NONE, WINADAPTER_MEDIUM_802_3, WINADAPTER_PHYS_802_3, TRUE, TRUE, NULL, TRUE},
     NETIF_CLASS_PHYSICAL,
     "a hardware interface (ethernet)",
     NULL},
    {SOFTWARE_ETHERNET("vEthernet (Default Switch)", "Hyper-V Virtual Ethernet Adapter"),
     NETIF_CLASS_VIRTUAL, "a virtual switch inside this host", NULL},
    {SOFTWARE_ETHERNET("vEthernet (WSL (Hyper-V firewall))", "Hyper-V Virtual Ethernet Adapter #2"),
     NETIF_CLASS_VIRTUAL, "a virtual switch inside this host", NULL},
    {SOFTWARE_ETHERNET("vEthernet (External)", "Hyper-V Virtual Ethernet Adapter #3"),
     NETIF_CLASS_PHYSICAL, "the host's own connection when the switch is external", NULL},
    {{"Teredo Tunneling Pseudo-Interface", "Teredo Tunneling Pseudo-Interface",
      WINADAPTER_IF_TUNNEL, WINADAPTER_TUNNEL_TEREDO, WINADAPTER_MEDIUM_802_3,
      WINADAPTER_PHYS_UNSPECIFIED, FALSE, FALSE, NULL, TRUE},
     NETIF_CLASS_VIRTUAL,
     "TunnelType Teredo",
     NULL},
    {{"Loopback Pseudo-Interface 1", "Software Loopback Interface 1", WINADAPTER_IF_LOOPBACK,
      WINADAPTER_TUNNEL_NONE, WINADAPTER_MEDIUM_802_3, WINADAPTER_PHYS_UNSPECIFIED, FALSE, FALSE,
      NULL, TRUE},
     NETIF_CLASS_LOOPBACK,
     "IF_TYPE_SOFTWARE_LOOPBACK",
     NULL},
    {{"Corp IKEv2", "Corp IKEv2", WINADAPTER_IF_PPP, WINADAPTER_TUNNEL_NONE,
      WINADAPTER_MEDIUM_802_3, WINADAPTER_PHYS_UNSPECIFIED, FALSE, FALSE, NULL, TRUE},
     NETIF_CLASS_TUNNEL,
     "IfType 23 (IF_TYPE_PPP)",
     NULL},
};

static void test_recorded_adapters_are_classified_by_their_facts(void **state)
{
    for (gsize i = 0; i < G_N_ELEMENTS(records); i++) {
        const Record *r = &records[i];
        g_autofree char *reason = NULL;
        const char *product = NULL;
        NetifClass c = winadapter_classify(&r->facts, NULL, &reason, &product);
        if (c != r->klass || !strstr(reason, r->reason_part) || g_strcmp0(product, r->product))
            fail_msg("%s ('%s'): %s, '%s', product %s; wanted %s, '%s', %s", r->facts.name,
                     r->facts.description, netif_class_to_string(c), reason,
                     product ? product : "none", netif_class_to_string(r->klass), r->reason_part,
                     r->product ? r->product : "none");
    }
}

/* When Windows would not give the link's facts (GetIfEntry2 failed), their
 * defaults decide nothing: a network card is not taken for a VPN's software
 * adapter because nobody read that it has hardware and a connector. */
static void test_unread_link_facts_decide_nothing(void **state)
{
    WinAdapterFacts card = {"Ethernet", "Intel(R) Ethernet Connection (7) I219-LM",
                            WINADAPTER_IF_ETHERNET, WINADAPTER_TUNNEL_NONE,
                            WINADAPTER_MEDIUM_802_3, WINADAPTER_PHYS_UNSPECIFIED,
                            FALSE, FALSE, NULL, FALSE};
    g_autofree char *reason = NULL;
    assert_int_not_equal(winadapter_classify(&card, NULL, &reason, NULL), NETIF_CLASS_TUNNEL);
    assert_null(strstr(reason, "software adapter"));
    card.link_known = TRUE; /* the same defaults, read: a software adapter */
    g_autofree char *read = NULL;
    assert_int_equal(winadapter_classify(&card, NULL, &read, NULL), NETIF_CLASS_TUNNEL);
}

static Profile *profile_with(const char *network)
{
    g_autofree char *text = g_strdup_printf("[profile]\nname=t\n[edge]\nhost=h\nusername=u\n"
                                            "password_file=%s/turn.password\n[network]\n%s\n",
                                            UNIT_DATA_DIR, network);
    g_autoptr(GError) error = NULL;
    Profile *p = profile_load_from_data(text, strlen(text), NULL, "t", &error);
    if (!p)
        fail_msg("profile: %s", error->message);
    return p;
}

/* A VPN whose adapter passes for a network card is found by the profile's
 * patterns (name or description) or its VPN ranges, and the reason says so. */
static void test_profile_patterns_and_ranges_only_add_tunnels(void **state)
{
    g_autoptr(Profile) p = profile_with("tunnel_names=*Corp SSL VPN*\nvpn_ranges=100.64.0.0/10");
    WinAdapterFacts f = {"Ethernet 5",
                         "Corp SSL VPN Adapter",
                         WINADAPTER_IF_ETHERNET,
                         0,
                         WINADAPTER_MEDIUM_802_3,
                         WINADAPTER_PHYS_802_3,
                         TRUE,
                         TRUE,
                         NULL,
                         TRUE};
    g_autofree char *by_name = NULL;
    assert_int_equal(winadapter_classify(&f, p, &by_name, NULL), NETIF_CLASS_TUNNEL);
    assert_non_null(strstr(by_name, "description 'Corp SSL VPN Adapter' matches the profile's"));
    g_autofree char *none = NULL;
    assert_int_equal(winadapter_classify(&f, NULL, &none, NULL), NETIF_CLASS_PHYSICAL);

    g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(addrs, g_inet_address_new_from_string("100.64.3.9"));
    WinAdapterFacts card = {"Ethernet 6",
                            "Realtek USB GbE Family Controller",
                            WINADAPTER_IF_ETHERNET,
                            0,
                            WINADAPTER_MEDIUM_802_3,
                            WINADAPTER_PHYS_802_3,
                            TRUE,
                            TRUE,
                            addrs,
                            TRUE};
    g_autofree char *by_address = NULL;
    assert_int_equal(winadapter_classify(&card, p, &by_address, NULL), NETIF_CLASS_TUNNEL);
    assert_string_equal(by_address, "address 100.64.3.9 is in the profile's vpn_ranges");
}

/* The VPN facts name the product from the adapter's description. */
static void test_the_vpn_facts_name_the_product_from_the_description(void **state)
{
    NetifInterface t = {.name = "Ethernet 3",
                        .klass = NETIF_CLASS_TUNNEL,
                        .kind = "ethernet",
                        .product = "Palo Alto GlobalProtect (PANGP)"};
    const char *from = NULL;
    assert_string_equal(vpn_product(&t, &from), "Palo Alto GlobalProtect (PANGP)");
    assert_string_equal(from, "the adapter's description");
}

static void test_kinds_come_from_the_interface_type(void **state)
{
    WinAdapterFacts f = {0};
    const struct {
        guint if_type;
        const char *kind;
    } kinds[] = {{WINADAPTER_IF_ETHERNET, "ethernet"},
                 {WINADAPTER_IF_IEEE80211, "wifi"},
                 {WINADAPTER_IF_PPP, "ppp"},
                 {WINADAPTER_IF_TUNNEL, "tunnel"},
                 {WINADAPTER_IF_PROP_VIRTUAL, "virtual"},
                 {WINADAPTER_IF_OTHER, "other"}};
    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++) {
        f.if_type = kinds[i].if_type;
        assert_string_equal(winadapter_kind(&f), kinds[i].kind);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_adapters_are_classified_by_their_facts),
        cmocka_unit_test(test_unread_link_facts_decide_nothing),
        cmocka_unit_test(test_profile_patterns_and_ranges_only_add_tunnels),
        cmocka_unit_test(test_the_vpn_facts_name_the_product_from_the_description),
        cmocka_unit_test(test_kinds_come_from_the_interface_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
