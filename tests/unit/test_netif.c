#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <string.h>

#include "netif.h"

static Profile *vpn_profile(void)
{
    const char *text = "[profile]\nname=t\n[edge]\nhost=h\nusername=u\npassword_file=" UNIT_DATA_DIR
                       "/turn.password\n[network]\nvpn_ranges=100.64.0.0/10\ntunnel_names=gpd*\n";
    g_autoptr(GError) error = NULL;
    Profile *p = profile_load_from_data(text, strlen(text), NULL, "t", &error);
    assert_non_null(p);
    return p;
}

static NetifClass classify(const NetifFacts *f, const Profile *p, const char *reason_part)
{
    g_autofree char *reason = NULL;
    NetifClass c = netif_classify(f, p, &reason);
    if (reason_part && !strstr(reason, reason_part))
        fail_msg("reason '%s' lacks '%s'", reason, reason_part);
    return c;
}

static void test_wireguard_go_tun_is_a_tunnel_whatever_its_name(void **state)
{
    NetifFacts f = {"corpvpn3", "tun", ARPHRD_NONE, IFF_UP | IFF_POINTOPOINT | IFF_NOARP,
                    IFF_TUN,    NULL};
    assert_int_equal(classify(&f, NULL, "link kind 'tun' (tun mode)"), NETIF_CLASS_TUNNEL);
}

static void test_kernel_wireguard_is_a_tunnel(void **state)
{
    NetifFacts f = {"office", "wireguard", ARPHRD_NONE, IFF_UP | IFF_NOARP, 0, NULL};
    assert_int_equal(classify(&f, NULL, "link kind 'wireguard'"), NETIF_CLASS_TUNNEL);
}

static void test_openvpn_tap_is_a_tunnel(void **state)
{
    NetifFacts f = {"tap0", "tun", ARPHRD_ETHER, IFF_UP, IFF_TAP, NULL};
    assert_int_equal(classify(&f, NULL, "tap mode"), NETIF_CLASS_TUNNEL);
}

static void test_tunnel_link_types_without_kind_are_tunnels(void **state)
{
    NetifFacts ppp = {"ppp0", NULL, ARPHRD_PPP, IFF_UP | IFF_POINTOPOINT, 0, NULL};
    assert_int_equal(classify(&ppp, NULL, "ARPHRD_PPP"), NETIF_CLASS_TUNNEL);
    NetifFacts ipip = {"x", NULL, ARPHRD_TUNNEL, IFF_UP, 0, NULL};
    assert_int_equal(classify(&ipip, NULL, "ARPHRD_TUNNEL"), NETIF_CLASS_TUNNEL);
}

static void test_point_to_point_ethernet_is_a_tunnel(void **state)
{
    NetifFacts f = {"odd0", NULL, ARPHRD_ETHER, IFF_UP | IFF_POINTOPOINT, 0, NULL};
    assert_int_equal(classify(&f, NULL, "point-to-point flag"), NETIF_CLASS_TUNNEL);
}

static void test_veth_and_ethernet_are_physical(void **state)
{
    NetifFacts veth = {"eth0", "veth", ARPHRD_ETHER, IFF_UP, 0, NULL};
    assert_int_equal(classify(&veth, NULL, NULL), NETIF_CLASS_PHYSICAL);
    NetifFacts nic = {"enp0s3", NULL, ARPHRD_ETHER, IFF_UP, 0, NULL};
    assert_int_equal(classify(&nic, NULL, NULL), NETIF_CLASS_PHYSICAL);
}

static void test_loopback_comes_first(void **state)
{
    NetifFacts f = {"lo", NULL, ARPHRD_LOOPBACK, IFF_UP | IFF_LOOPBACK, 0, NULL};
    assert_int_equal(classify(&f, NULL, "loopback"), NETIF_CLASS_LOOPBACK);
}

static void test_profile_hints_only_add_tunnels(void **state)
{
    g_autoptr(Profile) p = vpn_profile();
    NetifFacts named = {"gpd1", NULL, ARPHRD_ETHER, IFF_UP, 0, NULL};
    assert_int_equal(classify(&named, p, "pattern 'gpd*'"), NETIF_CLASS_TUNNEL);

    g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(addrs, g_inet_address_new_from_string("100.64.3.4"));
    NetifFacts pooled = {"en1", NULL, ARPHRD_ETHER, IFF_UP, 0, addrs};
    assert_int_equal(classify(&pooled, p, "100.64.3.4 is in the profile's vpn_ranges"),
                     NETIF_CLASS_TUNNEL);
    /* A kernel tunnel stays a tunnel whatever the profile says. */
    NetifFacts wg = {"eth9", "wireguard", ARPHRD_NONE, IFF_UP, 0, NULL};
    assert_int_equal(classify(&wg, p, "wireguard"), NETIF_CLASS_TUNNEL);
}

static void test_container_bridges_are_virtual(void **state)
{
    NetifFacts f = {"docker0", "bridge", ARPHRD_ETHER, IFF_UP, 0, NULL};
    assert_int_equal(classify(&f, NULL, "docker*"), NETIF_CLASS_VIRTUAL);
    NetifFacts d = {"dummy0", "dummy", ARPHRD_ETHER, IFF_UP, 0, NULL};
    assert_int_equal(classify(&d, NULL, "dummy"), NETIF_CLASS_VIRTUAL);
}

static void test_an_ipv6_address_in_the_vpn_ranges_makes_a_tunnel(void **state)
{
    const char *text = "[profile]\nname=t\n[edge]\nhost=h\nusername=u\npassword_file=" UNIT_DATA_DIR
                       "/turn.password\n[network]\nvpn_ranges=100.64.0.0/10;fd00:64::/64\n"
                       "tunnel_names=gpd*\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p = profile_load_from_data(text, strlen(text), NULL, "t", &error);
    assert_null(error);
    g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(addrs, g_inet_address_new_from_string("fe80::1"));
    NetifFacts f = {"corp0", NULL, ARPHRD_ETHER, IFF_UP, 0, addrs};
    assert_int_equal(classify(&f, p, NULL), NETIF_CLASS_PHYSICAL);
    g_ptr_array_add(addrs, g_inet_address_new_from_string("fd00:64::2"));
    assert_int_equal(classify(&f, p, "address fd00:64::2 is in the profile's vpn_ranges"),
                     NETIF_CLASS_TUNNEL);
}

static NetifInterface *iface(int index, const char *name, NetifClass klass, gboolean up,
                             const char *const *addrs)
{
    NetifInterface *i = g_new0(NetifInterface, 1);
    i->index = index;
    i->name = g_strdup(name);
    i->klass = klass;
    i->up = up;
    i->addresses = g_ptr_array_new_with_free_func(g_object_unref);
    i->prefixes = g_ptr_array_new_with_free_func(g_free);
    for (; addrs && *addrs; addrs++)
        g_ptr_array_add(i->addresses, g_inet_address_new_from_string(*addrs));
    return i;
}

static void iface_free(gpointer p)
{
    NetifInterface *i = p;
    g_free(i->name);
    g_ptr_array_unref(i->addresses);
    g_ptr_array_unref(i->prefixes);
    g_free(i);
}

static char *joined(GPtrArray *addrs)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < addrs->len; i++) {
        g_autofree char *a = g_inet_address_to_string(addrs->pdata[i]);
        g_string_append_printf(s, "%s%s", i ? " " : "", a);
    }
    return g_string_free(s, FALSE);
}

static void test_ice_addresses_of_a_class_are_up_and_not_link_local(void **state)
{
    static const char *const eth[] = {"10.254.1.10", "2001:db8:1:1::10", "fe80::1", "169.254.0.9",
                                      NULL};
    static const char *const gpd[] = {"100.64.0.2", "fe80::2", "fd00:64::2", NULL};
    static const char *const old[] = {"100.64.9.9", "fd00:64::9", NULL};
    NetifInventory inv = {g_ptr_array_new_with_free_func(iface_free)};
    g_ptr_array_add(inv.interfaces, iface(2, "eth0", NETIF_CLASS_PHYSICAL, TRUE, eth));
    g_ptr_array_add(inv.interfaces, iface(7, "gpd0", NETIF_CLASS_TUNNEL, TRUE, gpd));
    g_ptr_array_add(inv.interfaces, iface(8, "tun9", NETIF_CLASS_TUNNEL, FALSE, old));

    g_autoptr(GPtrArray) tunnel =
        netif_inventory_addresses(&inv, NETIF_CLASS_TUNNEL, G_SOCKET_FAMILY_INVALID);
    g_autofree char *t = joined(tunnel);
    assert_string_equal(t, "100.64.0.2 fd00:64::2");
    g_autoptr(GPtrArray) phys4 =
        netif_inventory_addresses(&inv, NETIF_CLASS_PHYSICAL, G_SOCKET_FAMILY_IPV4);
    g_autofree char *p4 = joined(phys4);
    assert_string_equal(p4, "10.254.1.10");
    g_autoptr(GPtrArray) phys6 =
        netif_inventory_addresses(&inv, NETIF_CLASS_PHYSICAL, G_SOCKET_FAMILY_IPV6);
    g_autofree char *p6 = joined(phys6);
    assert_string_equal(p6, "2001:db8:1:1::10");
    g_autoptr(GPtrArray) none =
        netif_inventory_addresses(&inv, NETIF_CLASS_VIRTUAL, G_SOCKET_FAMILY_INVALID);
    assert_int_equal(none->len, 0);
    g_autoptr(GInetAddress) ll = g_inet_address_new_from_string("fe80::2");
    assert_string_equal(netif_inventory_by_address(&inv, ll)->name, "gpd0");
    g_ptr_array_unref(inv.interfaces);
}

static void test_inventory_of_this_host_has_loopback_with_counters(void **state)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(NetifInventory) inv = netif_inventory_new(NULL, &error);
    assert_non_null(inv);
    const NetifInterface *lo = netif_inventory_by_name(inv, "lo");
    assert_non_null(lo);
    assert_int_equal(lo->klass, NETIF_CLASS_LOOPBACK);
    g_autoptr(GInetAddress) a = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    assert_ptr_equal(netif_inventory_by_address(inv, a), lo);
    guint64 rx, tx;
    assert_true(netif_counters(lo->index, &rx, &tx, &error));
    NetifRoute r;
    assert_true(netif_route_get(a, NULL, 0, &r, &error));
    assert_int_equal(r.oif, lo->index);
    netif_route_clear(&r);
}

static char *interface_text(const NetifInterface *n, NetifJsonFacts facts, guint max_addresses)
{
    g_autoptr(JsonNode) node =
        json_node_init_object(json_node_alloc(), netif_interface_to_json(n, facts, max_addresses));
    json_object_unref(json_node_get_object(node));
    return json_to_string(node, FALSE);
}

/* The one JSON form of an interface, as the interfaces command, a report and
 * a heartbeat each write it. */
static void test_an_interface_is_written_with_the_facts_each_reader_takes(void **state)
{
    g_autoptr(GPtrArray) prefixes = g_ptr_array_new();
    g_ptr_array_add(prefixes, "192.0.2.7/24");
    g_ptr_array_add(prefixes, "2001:db8::7/64");
    NetifInterface n = {.name = "wg0",
                        .index = 4,
                        .klass = NETIF_CLASS_TUNNEL,
                        .kind = "wireguard",
                        .reason = "link kind 'wireguard'",
                        .up = TRUE,
                        .prefixes = prefixes};
    g_autofree char *all = interface_text(&n, NETIF_JSON_INDEX | NETIF_JSON_STATE, G_MAXUINT);
    assert_string_equal(all, "{\"name\":\"wg0\",\"index\":4,\"class\":\"tunnel\",\"kind\":"
                             "\"wireguard\",\"up\":true,\"addresses\":[\"192.0.2.7/24\","
                             "\"2001:db8::7/64\"],\"reason\":\"link kind 'wireguard'\"}");
    g_autofree char *report = interface_text(&n, NETIF_JSON_STATE, G_MAXUINT);
    assert_string_equal(report, "{\"name\":\"wg0\",\"class\":\"tunnel\",\"kind\":\"wireguard\","
                                "\"up\":true,\"addresses\":[\"192.0.2.7/24\",\"2001:db8::7/"
                                "64\"],\"reason\":\"link kind 'wireguard'\"}");
    n.kind = NULL;
    g_autofree char *heartbeat = interface_text(&n, 0, 1);
    assert_string_equal(heartbeat,
                        "{\"name\":\"wg0\",\"class\":\"tunnel\",\"addresses\":[\"192.0.2.7/24\"]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wireguard_go_tun_is_a_tunnel_whatever_its_name),
        cmocka_unit_test(test_kernel_wireguard_is_a_tunnel),
        cmocka_unit_test(test_openvpn_tap_is_a_tunnel),
        cmocka_unit_test(test_tunnel_link_types_without_kind_are_tunnels),
        cmocka_unit_test(test_point_to_point_ethernet_is_a_tunnel),
        cmocka_unit_test(test_veth_and_ethernet_are_physical),
        cmocka_unit_test(test_loopback_comes_first),
        cmocka_unit_test(test_profile_hints_only_add_tunnels),
        cmocka_unit_test(test_container_bridges_are_virtual),
        cmocka_unit_test(test_an_ipv6_address_in_the_vpn_ranges_makes_a_tunnel),
        cmocka_unit_test(test_ice_addresses_of_a_class_are_up_and_not_link_local),
        cmocka_unit_test(test_inventory_of_this_host_has_loopback_with_counters),
        cmocka_unit_test(test_an_interface_is_written_with_the_facts_each_reader_takes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
