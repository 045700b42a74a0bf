/* The network watcher: what changed between snapshots, in words, and the event
 * a window of changes makes, on snapshots built from constructed inventories
 * (the path the kernel's facts take); and the watcher itself started on this
 * host's rtnetlink and stopped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "netwatch.h"

/* One interface of a constructed network; prefixes separated by spaces. */
typedef struct {
    const char *name;
    NetifClass klass;
    gboolean up;
    const char *prefixes;
} Iface;

#define PHYS(n, p)                                                                                 \
    {                                                                                              \
        n, NETIF_CLASS_PHYSICAL, TRUE, p                                                           \
    }
#define TUN(n, up, p)                                                                              \
    {                                                                                              \
        n, NETIF_CLASS_TUNNEL, up, p                                                               \
    }
#define LOOPBACK                                                                                   \
    {                                                                                              \
        "lo", NETIF_CLASS_LOOPBACK, TRUE, "127.0.0.1/8 ::1/128"                                    \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, 0, FALSE, NULL                                                                       \
    }

static void iface_free(gpointer p)
{
    NetifInterface *n = p;
    g_free(n->name);
    g_ptr_array_unref(n->addresses);
    g_ptr_array_unref(n->prefixes);
    g_array_unref(n->address_flags);
    g_free(n);
}

static void route_free(gpointer p)
{
    NetifRouteEntry *r = p;
    g_object_unref(r->dst);
    g_clear_object(&r->gateway);
    g_free(r);
}

static NetifRouteEntry *route(const char *dst, guint len, const char *gw, int oif)
{
    NetifRouteEntry *r = g_new0(NetifRouteEntry, 1);
    g_autoptr(GInetAddress) d = g_inet_address_new_from_string(dst);
    r->dst = g_inet_address_mask_new(d, len, NULL);
    r->gateway = gw ? g_inet_address_new_from_string(gw) : NULL;
    r->oif = oif;
    return r;
}

/* The network: interfaces (index = position + 1), and a default route via gw on
 * the interface named dev (none when dev is NULL) beside a route that is not. */
static NetWatchSnapshot *network(const Iface *ifs, const char *gw, const char *dev)
{
    g_autoptr(NetifInventory) inv = g_new0(NetifInventory, 1);
    inv->interfaces = g_ptr_array_new_with_free_func(iface_free);
    int oif = 0;
    for (int i = 0; ifs[i].name; i++) {
        NetifInterface *n = g_new0(NetifInterface, 1);
        n->name = g_strdup(ifs[i].name);
        n->index = i + 1;
        n->klass = ifs[i].klass;
        n->up = ifs[i].up;
        n->addresses = g_ptr_array_new_with_free_func(g_object_unref);
        n->prefixes = g_ptr_array_new_with_free_func(g_free);
        n->address_flags = g_array_new(FALSE, TRUE, sizeof(guint32));
        g_auto(GStrv) p = g_strsplit(ifs[i].prefixes ? ifs[i].prefixes : "", " ", -1);
        for (char **q = p; *q; q++) {
            if (!**q)
                continue;
            /* "addr/len~": an IPv6 temporary (privacy) address */
            gsize len = strlen(*q);
            guint32 flags = (*q)[len - 1] == '~' ? NETIF_ADDR_TEMPORARY : 0;
            g_ptr_array_add(n->prefixes, g_strndup(*q, flags ? len - 1 : len));
            g_array_append_val(n->address_flags, flags);
        }
        if (dev && strcmp(dev, n->name) == 0)
            oif = n->index;
        g_ptr_array_add(inv->interfaces, n);
    }
    g_autoptr(GPtrArray) routes = g_ptr_array_new_with_free_func(route_free);
    g_ptr_array_add(routes, route("198.51.100.0", 24, "192.0.2.254", 1));
    if (dev)
        g_ptr_array_add(routes, route("0.0.0.0", 0, gw, oif));
    /* IPv6's default route, listed after IPv4's (netif_routes): not watched. */
    g_ptr_array_add(routes, route("::", 0, "fe80::1", 1));
    return netwatch_snapshot_new(inv, routes);
}

/* Compares each snapshot with the one before in one window opened on the first;
 * returns the window, and the kind it makes with the last. */
static NetWatchChanges *window(NetWatchKind *kind, NetWatchSnapshot **steps)
{
    NetWatchChanges *c = netwatch_changes_new(steps[0]);
    guint i = 1;
    for (; steps[i]; i++)
        netwatch_changes_compare(c, steps[i - 1], steps[i]);
    *kind = netwatch_changes_kind(c, steps[i - 1]);
    for (i = 0; steps[i]; i++)
        netwatch_snapshot_free(steps[i]);
    return c;
}

static void assert_changes(const NetWatchChanges *c, const char *const *want)
{
    const GPtrArray *got = netwatch_changes_list(c);
    guint n = 0;
    for (; want[n]; n++) {
        if (n >= got->len)
            fail_msg("change %u missing: '%s'", n, want[n]);
        assert_string_equal(got->pdata[n], want[n]);
    }
    assert_int_equal(got->len, n);
}

static const Iface office[] = {LOOPBACK, PHYS("eth0", "192.0.2.7/24 fe80::1/64"), END};
static const Iface office_vpn[] = {LOOPBACK, PHYS("eth0", "192.0.2.7/24 fe80::1/64"),
                                   TUN("gpd0", TRUE, "10.8.0.2/32"), END};
static const Iface office_vpn_linkonly[] = {LOOPBACK, PHYS("eth0", "192.0.2.7/24 fe80::1/64"),
                                            TUN("gpd0", TRUE, "fe80::9/64"), END};
static const Iface office_vpn_down[] = {LOOPBACK, PHYS("eth0", "192.0.2.7/24 fe80::1/64"),
                                        TUN("gpd0", FALSE, "10.8.0.2/32"), END};

/* IPv6 at home: a new stable address is a network change; a new privacy
 * address (and the old one going) is not, as a host makes one every day. */
static void test_ipv6_privacy_addresses_coming_and_going_are_no_change(void **state)
{
    static const Iface v6[] = {LOOPBACK, PHYS("eth0", "192.0.2.7/24 2001:db8:1:1::10/64 fe80::1/64"),
                               END};
    static const Iface v6_tmp1[] = {
        LOOPBACK, PHYS("eth0", "192.0.2.7/24 2001:db8:1:1::10/64 2001:db8:1:1:a1::9/64~ fe80::1/64"),
        END};
    static const Iface v6_tmp2[] = {
        LOOPBACK, PHYS("eth0", "192.0.2.7/24 2001:db8:1:1::10/64 2001:db8:1:1:b2::7/64~ fe80::1/64"),
        END};
    NetWatchKind kind;
    NetWatchSnapshot *rotate[] = {network(v6_tmp1, "192.0.2.1", "eth0"),
                                  network(v6_tmp2, "192.0.2.1", "eth0"),
                                  network(v6, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) quiet = window(&kind, rotate);
    assert_changes(quiet, (const char *[]){NULL});
    assert_int_equal(kind, NETWATCH_KIND_NONE);
    NetWatchSnapshot *arrive[] = {network(office, "192.0.2.1", "eth0"),
                                  network(v6_tmp1, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, arrive);
    assert_int_equal(netwatch_changes_list(c)->len, 1);
    assert_non_null(strstr(netwatch_changes_list(c)->pdata[0], "2001:db8:1:1::10/64"));
    assert_null(strstr(netwatch_changes_list(c)->pdata[0], "a1::9"));
    assert_int_equal(kind, NETWATCH_KIND_NETWORK_CHANGE);
}

static void test_a_tunnel_coming_up_is_vpn_up_once_it_has_an_address(void **state)
{
    NetWatchKind kind;
    /* A VPN client's steps: the link, then its address. */
    NetWatchSnapshot *steps[] = {network(office, "192.0.2.1", "eth0"),
                                 network(office_vpn_linkonly, "192.0.2.1", "eth0"),
                                 network(office_vpn, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(c, (const char *[]){"gpd0 came up (10.8.0.2/32)", NULL});
    assert_int_equal(kind, NETWATCH_KIND_VPN_UP);
}

static void test_a_tunnel_going_down_or_vanishing_is_vpn_down(void **state)
{
    NetWatchKind kind;
    NetWatchSnapshot *down[] = {network(office_vpn, "192.0.2.1", "eth0"),
                                network(office_vpn_down, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, down);
    assert_changes(c, (const char *[]){"gpd0 went down", NULL});
    assert_int_equal(kind, NETWATCH_KIND_VPN_DOWN);

    NetWatchSnapshot *gone[] = {network(office_vpn, "192.0.2.1", "eth0"),
                                network(office, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c2 = window(&kind, gone);
    assert_changes(c2, (const char *[]){"gpd0 went down", NULL});
    assert_int_equal(kind, NETWATCH_KIND_VPN_DOWN);
}

static void test_a_full_tunnel_brings_its_default_route_along(void **state)
{
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(office, "192.0.2.1", "eth0"),
                                 network(office_vpn, NULL, "gpd0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(c,
                   (const char *[]){"gpd0 came up (10.8.0.2/32)",
                                    "default route dev gpd0 (was via 192.0.2.1 dev eth0)", NULL});
    assert_int_equal(kind, NETWATCH_KIND_VPN_UP);
}

static void test_a_tunnel_that_flapped_and_ended_up_reconnected(void **state)
{
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(office_vpn, "192.0.2.1", "eth0"),
                                 network(office_vpn_down, "192.0.2.1", "eth0"),
                                 network(office_vpn, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(c, (const char *[]){"gpd0 went down", "gpd0 came up (10.8.0.2/32)", NULL});
    assert_int_equal(kind, NETWATCH_KIND_VPN_UP);
}

static void test_a_tunnel_that_flapped_and_ended_down_is_vpn_down(void **state)
{
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {
        network(office_vpn, "192.0.2.1", "eth0"), network(office_vpn_down, "192.0.2.1", "eth0"),
        network(office_vpn, "192.0.2.1", "eth0"), network(office, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_int_equal(netwatch_changes_list(c)->len, 3);
    assert_int_equal(kind, NETWATCH_KIND_VPN_DOWN);
}

static void test_one_tunnel_down_while_another_stays_up_is_a_network_change(void **state)
{
    static const Iface two[] = {PHYS("eth0", "192.0.2.7/24"), TUN("tun0", TRUE, "10.8.0.2/32"),
                                TUN("wg0", TRUE, "10.9.0.2/32"), END};
    static const Iface one[] = {PHYS("eth0", "192.0.2.7/24"), TUN("wg0", TRUE, "10.9.0.2/32"), END};
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(two, "192.0.2.1", "eth0"),
                                 network(one, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(c, (const char *[]){"tun0 went down", NULL});
    assert_int_equal(kind, NETWATCH_KIND_NETWORK_CHANGE);
}

static void test_an_address_added_or_removed_on_eth0_is_a_network_change(void **state)
{
    static const Iface moved[] = {LOOPBACK, PHYS("eth0", "10.254.1.2/24 fe80::1/64"), END};
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(moved, "192.0.2.1", "eth0"),
                                 network(office, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(
        c, (const char *[]){"eth0: 10.254.1.2/24 removed", "eth0: 192.0.2.7/24 added", NULL});
    assert_int_equal(kind, NETWATCH_KIND_NETWORK_CHANGE);
}

static void test_a_new_default_gateway_is_a_network_change(void **state)
{
    static const Iface two[] = {PHYS("eth0", "10.254.1.2/24"), PHYS("wlan0", "192.0.2.7/24"), END};
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(two, "10.254.1.1", "eth0"),
                                 network(two, "192.0.2.1", "wlan0"), network(two, NULL, NULL),
                                 NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(
        c, (const char *[]){"default route via 192.0.2.1 dev wlan0 (was via 10.254.1.1 dev eth0)",
                            "no default route (was via 192.0.2.1 dev wlan0)", NULL});
    assert_int_equal(kind, NETWATCH_KIND_NETWORK_CHANGE);
}

static void test_loopback_and_virtual_links_are_not_watched(void **state)
{
    static const Iface before[] = {LOOPBACK, PHYS("eth0", "192.0.2.7/24"), END};
    static const Iface after[] = {{"lo", NETIF_CLASS_LOOPBACK, TRUE, "127.0.0.1/8 127.0.0.2/8"},
                                  PHYS("eth0", "192.0.2.7/24"),
                                  {"docker0", NETIF_CLASS_VIRTUAL, TRUE, "172.17.0.1/16"},
                                  END};
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(before, "192.0.2.1", "eth0"),
                                 network(after, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    assert_changes(c, (const char *[]){NULL});
    assert_int_equal(kind, NETWATCH_KIND_NONE);
}

static void test_ipv6_link_local_addresses_are_not_changes(void **state)
{
    static const Iface before[] = {PHYS("eth0", "192.0.2.7/24"), END};
    static const Iface after[] = {PHYS("eth0", "192.0.2.7/24 fe80::1c2:3ff:fe04:506/64 "
                                               "169.254.7.7/16"),
                                  END};
    NetWatchKind kind;
    NetWatchSnapshot *steps[] = {network(before, "192.0.2.1", "eth0"),
                                 network(after, "192.0.2.1", "eth0"), NULL};
    g_autoptr(NetWatchChanges) c = window(&kind, steps);
    /* IPv4's link-local range is a DHCP server gone: that one is news. */
    assert_changes(c, (const char *[]){"eth0: 169.254.7.7/16 added", NULL});
}

static void test_no_change_makes_no_event(void **state)
{
    g_autoptr(NetWatchSnapshot) a = network(office_vpn, "192.0.2.1", "eth0");
    g_autoptr(NetWatchSnapshot) b = network(office_vpn, "192.0.2.1", "eth0");
    g_autoptr(NetWatchChanges) c = netwatch_changes_new(a);
    assert_false(netwatch_changes_compare(c, a, b));
    assert_int_equal(netwatch_changes_kind(c, b), NETWATCH_KIND_NONE);
    assert_null(netwatch_event_new(c, b, "0123456789abcdef.1", 1700000000));
}

static void test_a_window_keeps_16_changes_of_200_bytes_at_most(void **state)
{
    g_autoptr(GString) many = g_string_new(NULL);
    for (int i = 0; i < 20; i++)
        g_string_append_printf(many, "10.0.%d.1/24 ", i);
    /* A name of two-byte characters, so that the cut falls in the middle of one. */
    g_autoptr(GString) name = g_string_new("x");
    for (int i = 0; i < 150; i++)
        g_string_append(name, "é");
    const Iface before[] = {PHYS("eth0", NULL), END};
    const Iface after[] = {TUN(name->str, TRUE, "10.8.0.2/32"), PHYS("eth0", many->str), END};
    g_autoptr(NetWatchSnapshot) a = network(before, NULL, NULL);
    g_autoptr(NetWatchSnapshot) b = network(after, NULL, NULL);
    g_autoptr(NetWatchChanges) c = netwatch_changes_new(a);
    assert_true(netwatch_changes_compare(c, b, a)); /* the tunnel went down first */
    assert_true(netwatch_changes_compare(c, a, b));
    const GPtrArray *got = netwatch_changes_list(c);
    assert_int_equal(got->len, NETWATCH_MAX_CHANGES);
    assert_int_equal(netwatch_changes_dropped(c), 20 + 20 + 1 + 1 - NETWATCH_MAX_CHANGES);
    const char *long_one = got->pdata[0];
    assert_true(g_str_has_prefix(long_one, "xéé"));
    assert_true(strlen(long_one) <= NETWATCH_MAX_CHANGE_LEN);
    assert_true(strlen(long_one) >= NETWATCH_MAX_CHANGE_LEN - 1);
    assert_true(g_utf8_validate(long_one, -1, NULL));
    for (guint i = 0; i < got->len; i++)
        assert_true(strlen(got->pdata[i]) <= NETWATCH_MAX_CHANGE_LEN);

    g_autoptr(NetWatchEvent) e = netwatch_event_new(c, b, "0123456789abcdef.7", 1700000000);
    assert_non_null(e);
    assert_int_equal(e->kind, NETWATCH_KIND_VPN_UP);
    g_autofree char *text = netwatch_event_describe(e);
    assert_true(g_str_has_prefix(text, "vpn-up: x"));
    assert_true(g_str_has_suffix(text, "; eth0: 10.0.14.1/24 removed (and 26 more)"));
}

static void test_the_event_is_the_heartbeats_network_event(void **state)
{
    g_autoptr(NetWatchSnapshot) a = network(office_vpn, "192.0.2.1", "eth0");
    g_autoptr(NetWatchSnapshot) b = network(office_vpn_down, "192.0.2.1", "eth0");
    g_autoptr(NetWatchChanges) c = netwatch_changes_new(a);
    assert_true(netwatch_changes_compare(c, a, b));
    g_autoptr(NetWatchEvent) e = netwatch_event_new(c, b, "0123456789abcdef.2", 1700000000);
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), netwatch_event_to_json(e));
    json_object_unref(json_node_get_object(n));
    g_autofree char *text = json_to_string(n, FALSE);
    assert_string_equal(text, "{\"id\":\"0123456789abcdef.2\",\"kind\":\"vpn-down\","
                              "\"at\":1700000000,\"changes\":[\"gpd0 went down\"]}");
}

static void never(NetWatchEvent *e, gpointer data)
{
    netwatch_event_free(e);
}

static void test_the_watcher_starts_on_this_host_and_stops(void **state)
{
    g_autoptr(GError) error = NULL;
    NetWatch *w = netwatch_start(50, never, NULL, &error);
    if (!w)
        fail_msg("netwatch_start: %s", error->message);
    g_usleep(100 * 1000); /* the thread's loop runs */
    netwatch_free(w);
    /* Stopped before its loop ever ran: the stop is not lost. */
    netwatch_free(netwatch_start(50, never, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6_privacy_addresses_coming_and_going_are_no_change),
        cmocka_unit_test(test_a_tunnel_coming_up_is_vpn_up_once_it_has_an_address),
        cmocka_unit_test(test_a_tunnel_going_down_or_vanishing_is_vpn_down),
        cmocka_unit_test(test_a_full_tunnel_brings_its_default_route_along),
        cmocka_unit_test(test_a_tunnel_that_flapped_and_ended_up_reconnected),
        cmocka_unit_test(test_a_tunnel_that_flapped_and_ended_down_is_vpn_down),
        cmocka_unit_test(test_one_tunnel_down_while_another_stays_up_is_a_network_change),
        cmocka_unit_test(test_an_address_added_or_removed_on_eth0_is_a_network_change),
        cmocka_unit_test(test_a_new_default_gateway_is_a_network_change),
        cmocka_unit_test(test_loopback_and_virtual_links_are_not_watched),
        cmocka_unit_test(test_ipv6_link_local_addresses_are_not_changes),
        cmocka_unit_test(test_no_change_makes_no_event),
        cmocka_unit_test(test_a_window_keeps_16_changes_of_200_bytes_at_most),
        cmocka_unit_test(test_the_event_is_the_heartbeats_network_event),
        cmocka_unit_test(test_the_watcher_starts_on_this_host_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
