#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/if_tun.h>
#include <string.h>
#include <unistd.h>

#include "iceprobe/protocol.h"
#include "vpn.h"

static NetifInterface *iface(int index, const char *name, const char *kind, NetifClass klass,
                             const char *addr, guint mtu)
{
    NetifInterface *i = g_new0(NetifInterface, 1);
    i->index = index;
    i->name = g_strdup(name);
    i->kind = g_strdup(kind);
    i->klass = klass;
    i->mtu = mtu;
    i->addresses = g_ptr_array_new_with_free_func(g_object_unref);
    i->prefixes = g_ptr_array_new_with_free_func(g_free);
    if (addr)
        g_ptr_array_add(i->addresses, g_inet_address_new_from_string(addr));
    return i;
}

static void iface_free(gpointer p)
{
    NetifInterface *i = p;
    g_free(i->name);
    g_free(i->kind);
    g_ptr_array_unref(i->addresses);
    g_ptr_array_unref(i->prefixes);
    g_free(i);
}

static void add_route(GPtrArray *routes, const char *cidr, int oif)
{
    NetifRouteEntry *e = g_new0(NetifRouteEntry, 1);
    e->dst = g_inet_address_mask_new_from_string(cidr, NULL);
    e->oif = oif;
    g_ptr_array_add(routes, e);
}

static void route_free(gpointer p)
{
    NetifRouteEntry *e = p;
    g_object_unref(e->dst);
    g_free(e);
}

static void test_the_product_from_the_kernels_facts(void **state)
{
    const char *from = NULL;
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(iface_free);
    NetifInterface *wg = iface(3, "wg0", "wireguard", NETIF_CLASS_TUNNEL, NULL, 1420);
    g_ptr_array_add(keep, wg);
    assert_string_equal(vpn_product(wg, &from), "WireGuard (kernel)");
    assert_string_equal(from, "link kind wireguard");
    NetifInterface *gp = iface(4, "gpd0", "tun", NETIF_CLASS_TUNNEL, NULL, 1400);
    g_ptr_array_add(keep, gp);
    assert_string_equal(vpn_product(gp, &from), "Palo Alto GlobalProtect (PANGP)");
    assert_string_equal(from, "gpd*");
    NetifInterface *any = iface(5, "corpvpn3", "tun", NETIF_CLASS_TUNNEL, NULL, 1400);
    any->tun_type = IFF_TUN;
    g_ptr_array_add(keep, any);
    assert_string_equal(vpn_product(any, &from), "a user-space VPN client (tun driver)");
    assert_string_equal(from, "link kind tun");
    NetifInterface *odd = iface(6, "x0", "ipip", NETIF_CLASS_TUNNEL, NULL, 1480);
    g_ptr_array_add(keep, odd);
    assert_string_equal(vpn_product(odd, &from), "unknown");
}

static void test_split_and_full_and_the_gateway(void **state)
{
    g_autofree char *secret = NULL;
    int fd = g_file_open_tmp("iceprobe-vpn-XXXXXX", &secret, NULL);
    assert_true(fd >= 0 && write(fd, "s3cret\n", 7) == 7);
    close(fd);
    g_autofree char *text = g_strdup_printf("[profile]\nname=x\n[edge]\nhost=192.0.2.1\n"
                                            "secret_file=%s\n[network]\nvpn_ranges=100.64.0.0/10\n",
                                            secret);
    g_autoptr(Profile) prof = profile_load_from_data(text, strlen(text), "/", "t", NULL);
    unlink(secret);
    assert_non_null(prof);
    NetifInventory inv = {g_ptr_array_new_with_free_func(iface_free)};
    g_ptr_array_add(inv.interfaces, iface(2, "eth0", "veth", NETIF_CLASS_PHYSICAL, "10.254.1.10", 1500));
    g_ptr_array_add(inv.interfaces, iface(7, "gpd0", "tun", NETIF_CLASS_TUNNEL, "100.64.0.2", 1400));
    g_autoptr(GPtrArray) routes = g_ptr_array_new_with_free_func(route_free);
    add_route(routes, "0.0.0.0/0", 2);
    add_route(routes, "10.0.0.0/8", 7);
    g_autoptr(JsonObject) split = vpn_facts(&inv, prof, routes);
    assert_string_equal(json_object_get_string_member(split, "tunnel"), "split");
    assert_string_equal(json_object_get_string_member(split, "pool_address"), "100.64.0.2");
    assert_true(json_object_get_boolean_member(split, "in_vpn_ranges"));
    assert_int_equal(json_object_get_int_member(split, "mtu"), 1400);
    assert_true(json_object_get_null_member(split, "gateway"));
    /* A full tunnel: the client's 0/1 and 128/1 over the default, and its host
     * route to the gateway out of eth0. */
    add_route(routes, "0.0.0.0/1", 7);
    add_route(routes, "128.0.0.0/1", 7);
    add_route(routes, "198.51.100.3/32", 2);
    add_route(routes, "10.254.1.1/32", 2); /* private: not a gateway */
    g_autoptr(JsonObject) full = vpn_facts(&inv, prof, routes);
    assert_string_equal(json_object_get_string_member(full, "tunnel"), "full");
    assert_string_equal(json_object_get_string_member(full, "gateway"), "198.51.100.3");
    g_ptr_array_remove_index(inv.interfaces, 1);
    assert_null(vpn_facts(&inv, prof, routes));
    g_ptr_array_unref(inv.interfaces);
}

static void add_address(NetifInterface *i, const char *addr)
{
    g_ptr_array_add(i->addresses, g_inet_address_new_from_string(addr));
}

static void test_ipv6_in_the_tunnel_or_not(void **state)
{
    NetifInventory inv = {g_ptr_array_new_with_free_func(iface_free)};
    NetifInterface *eth = iface(2, "eth0", "veth", NETIF_CLASS_PHYSICAL, "10.254.1.10", 1500);
    add_address(eth, "2001:db8:1:1::10");
    NetifInterface *tun = iface(7, "gpd0", "tun", NETIF_CLASS_TUNNEL, "100.64.0.2", 1420);
    add_address(tun, "fe80::5e1:aaff:fe00:1"); /* every link has one */
    g_ptr_array_add(inv.interfaces, eth);
    g_ptr_array_add(inv.interfaces, tun);
    g_autoptr(GPtrArray) routes = g_ptr_array_new_with_free_func(route_free);
    add_route(routes, "0.0.0.0/0", 2);
    add_route(routes, "10.0.0.0/8", 7);
    add_route(routes, "::/0", 2);
    add_route(routes, "fe80::/64", 7);

    /* The VPN carries IPv4 only: IPv6 leaves by eth0 whatever the tunnel is. */
    g_autoptr(JsonObject) v4only = vpn_facts(&inv, NULL, routes);
    assert_string_equal(json_object_get_string_member(v4only, "tunnel"), "split");
    assert_string_equal(json_object_get_string_member(v4only, "tunnel_ipv6"), "none");
    assert_string_equal(json_object_get_string_member(v4only, "pool_address"), "100.64.0.2");
    assert_false(json_object_has_member(v4only, "pool_address_ipv6"));

    /* It carries IPv6 too: its pool address, the corp's range into it. */
    add_address(tun, "fd00:64::2");
    add_route(routes, "fd00:10::/32", 7);
    g_autoptr(JsonObject) split = vpn_facts(&inv, NULL, routes);
    assert_string_equal(json_object_get_string_member(split, "tunnel"), "split");
    assert_string_equal(json_object_get_string_member(split, "tunnel_ipv6"), "split");
    assert_string_equal(json_object_get_string_member(split, "pool_address_ipv6"), "fd00:64::2");
    assert_true(json_object_get_null_member(split, "gateway"));

    /* All of IPv6 into it (the client's ::/1 and 8000::/1), IPv4 split: each
     * family is said apart; a host route to a public IPv6 address out of eth0
     * names the gateway, one to a ULA does not. */
    add_route(routes, "::/1", 7);
    add_route(routes, "8000::/1", 7);
    add_route(routes, "2001:db8:ff::3/128", 2);
    add_route(routes, "fd00:99::1/128", 2);
    g_autoptr(JsonObject) full6 = vpn_facts(&inv, NULL, routes);
    assert_string_equal(json_object_get_string_member(full6, "tunnel"), "split");
    assert_string_equal(json_object_get_string_member(full6, "tunnel_ipv6"), "full");
    assert_string_equal(json_object_get_string_member(full6, "gateway"), "2001:db8:ff::3");

    /* The heartbeat carries what every controller takes: with the IPv6
     * members, the controller's parser refuses the whole heartbeat. */
    JsonObject *hb = json_object_new();
    json_object_set_string_member(hb, "version", "0.9.0");
    json_object_set_object_member(hb, "vpn", json_object_ref(full6));
    JsonNode *root = json_node_init_object(json_node_alloc(), hb);
    g_autofree char *with_ipv6 = json_to_string(root, FALSE);
    Heartbeat h = {0};
    g_autoptr(GError) error = NULL;
    assert_false(protocol_parse_heartbeat(with_ipv6, strlen(with_ipv6), &h, &error));
    assert_non_null(strstr(error->message, "unknown member"));
    heartbeat_clear(&h);
    vpn_facts_for_heartbeat(full6);
    g_autofree char *without = json_to_string(root, FALSE);
    g_clear_error(&error);
    assert_true(protocol_parse_heartbeat(without, strlen(without), &h, &error));
    assert_non_null(strstr(h.vpn, "\"tunnel\":\"split\""));
    heartbeat_clear(&h);
    json_node_unref(root);
    json_object_unref(hb);
    g_ptr_array_unref(inv.interfaces);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_product_from_the_kernels_facts),
        cmocka_unit_test(test_split_and_full_and_the_gateway),
        cmocka_unit_test(test_ipv6_in_the_tunnel_or_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
