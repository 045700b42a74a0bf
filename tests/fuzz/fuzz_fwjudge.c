/* The Windows Firewall's rules come from the system (INetFwRule's strings,
 * which any administrator or Group Policy writes): any bytes as a rule's
 * address lists, ports, program, interface types and adapters must give a
 * verdict, never a crash or a leak. Lines of the input are the rule's fields
 * in that order, then the adapters the Domain profile excludes; the input's
 * size says whether the Domain profile blocks all inbound traffic (or that
 * could not be read); the whole input is also parsed as one address and one
 * port list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fwjudge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *field(char **lines, guint n, guint i)
{
    return i < n && *lines[i] ? g_strdup(lines[i]) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FIREWALL_MAX_STRING)
        return 0;
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(FwRange));
    g_autoptr(GPtrArray) keywords = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) e1 = NULL, e2 = NULL;
    gboolean ok = fwjudge_parse_addresses(text, ranges, keywords, &e1);
    g_assert(ok == (e1 == NULL));
    g_autoptr(GArray) ports = g_array_new(FALSE, FALSE, sizeof(guint32));
    ok = fwjudge_parse_ports(text, ports, &e2);
    g_assert(ok == (e2 == NULL));
    g_assert(ports->len % 2 == 0);

    g_auto(GStrv) lines = g_strsplit(text, "\n", 9);
    guint n = g_strv_length(lines);
    g_autoptr(FirewallState) st = firewall_state_new();
    st->local_policy = FIREWALL_LOCAL_APPLIES;
    st->profiles = FIREWALL_PROFILE_DOMAIN;
    for (FirewallDirection d = FIREWALL_IN; d <= FIREWALL_OUT; d++) {
        FirewallRule *r = g_new0(FirewallRule, 1);
        r->name = g_strdup("fuzzed");
        r->direction = d;
        r->enabled = r->block = TRUE;
        r->profiles = FIREWALL_PROFILE_ALL;
        r->local_addresses = field(lines, n, 0);
        r->remote_addresses = field(lines, n, 1);
        r->local_ports = field(lines, n, 2);
        r->remote_ports = field(lines, n, 3);
        r->application = field(lines, n, 4);
        r->interface_types = field(lines, n, 5);
        r->interfaces = field(lines, n, 6);
        r->protocol = n > 7 ? atoi(lines[7]) : FIREWALL_PROTOCOL_ANY;
        g_ptr_array_add(st->rules, r);
    }
    g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(addrs, g_inet_address_new_from_string("172.16.1.23"));
    g_ptr_array_add(addrs, g_inet_address_new_from_string("fd00:64::17"));
    g_autoptr(GPtrArray) internal = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(internal, g_inet_address_mask_new_from_string("10.0.0.0/8", NULL));
    g_ptr_array_add(internal, g_inet_address_mask_new_from_string("fc00::/7", NULL));
    g_autoptr(GPtrArray) vpn = g_ptr_array_new_with_free_func(g_object_unref);
    char *clients[] = {"lync.exe", "Teams.exe", NULL};
    st->excluded[0] = field(lines, n, 8);
    /* BlockAllInboundTraffic set, or unread, by the input's size. */
    if (size % 3 == 1)
        st->profiles_block_inbound = FIREWALL_PROFILE_DOMAIN;
    else if (size % 3 == 2)
        st->block_inbound_why = g_strdup("INetFwPolicy2::get_BlockAllInboundTraffic: fuzzed");
    FwJudgeInput in = {.tunnel_name = "Ethernet 3",
                       .tunnel_if_type = 23,
                       .tunnel_addresses = addrs,
                       .internal_ranges = internal,
                       .vpn_ranges = vpn,
                       .call_clients = clients,
                       .call_clients_default = size % 2};
    g_autoptr(FwVerdict) v = fwjudge_judge(st, &in);
    g_assert(v && v->reason && v->detail);
    g_assert(v->verdict == VERDICT_PASS || v->verdict == VERDICT_WARN ||
             v->verdict == VERDICT_SKIP);
    g_assert(v->block_missing == (v->verdict == VERDICT_WARN));
    return 0;
}
