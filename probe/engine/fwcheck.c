/* The check `firewall` (Windows): does the Windows Firewall block the tunnel's
 * address from the internal and VPN ranges, as seed 002's fix does? The rules
 * are the platform's to read (firewall.h: INetFwPolicy2 on Windows; nothing on
 * Linux, where the check says it is for Windows), the verdict fwjudge.h's.
 * A block found missing is a finding only once a path through the tunnel has
 * connected (policy_judge_firewall, after the paths): the VPN gateway may
 * block the pool instead, as the seed allows. */
#include "fwjudge.h"
#include "run-private.h"

static double ms_since(gint64 t0)
{
    return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

/* The tunnel's addresses the block is judged for: not link-local ones (no
 * route to the internal ranges starts there). */
static GPtrArray *tunnel_addresses(const NetifInterface *t)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; t && i < t->addresses->len; i++) {
        GInetAddress *a = t->addresses->pdata[i];
        if (!g_inet_address_get_is_link_local(a) && !g_inet_address_get_is_loopback(a))
            g_ptr_array_add(out, g_object_ref(a));
    }
    return out;
}

void checks_firewall(RunCtx *c)
{
    gint64 t0 = g_get_monotonic_time();
    const NetifInterface *tunnel = c->inv ? netif_inventory_first_tunnel(c->inv) : NULL;
    g_autoptr(GError) e = NULL;
    g_autoptr(FirewallState) st = firewall_read(tunnel ? tunnel->index : 0, &e);
    CheckRecord *r;
    if (!st) {
        r = run_result_add_check(c->result, "firewall", VERDICT_SKIP, "%s", e->message);
        r->duration_ms = ms_since(t0);
        return;
    }
    g_autoptr(GPtrArray) addrs = tunnel_addresses(tunnel);
    FwJudgeInput in = {
        .tunnel_name = tunnel ? tunnel->name : NULL,
        .tunnel_if_type = tunnel ? tunnel->if_type : 0,
        .tunnel_addresses = addrs,
        .internal_ranges = c->profile->network.internal_ranges,
        .vpn_ranges = c->profile->network.vpn_ranges,
        .call_clients = c->profile->network.call_clients,
        .call_clients_default = !c->profile->network.call_clients_given,
    };
    g_autoptr(FwVerdict) v = fwjudge_judge(st, &in);
    r = run_result_add_check(c->result, "firewall", v->verdict, "%s", v->reason);
    json_object_unref(r->detail);
    r->detail = g_steal_pointer(&v->detail);
    r->duration_ms = ms_since(t0);
}
