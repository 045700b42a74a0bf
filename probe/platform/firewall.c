/* What firewall.h's two sides share: freeing what they read. */
#include "firewall.h"

G_DEFINE_QUARK(iceprobe - firewall - error - quark, firewall_error)

void firewall_rule_free(FirewallRule *r)
{
    if (!r)
        return;
    g_free(r->name);
    g_free(r->interface_types);
    g_free(r->interfaces);
    g_free(r->local_addresses);
    g_free(r->remote_addresses);
    g_free(r->local_ports);
    g_free(r->remote_ports);
    g_free(r->application);
    g_free(r->service);
    g_free(r->package);
    g_free(r);
}

FirewallState *firewall_state_new(void)
{
    FirewallState *s = g_new0(FirewallState, 1);
    s->rules = g_ptr_array_new_with_free_func((GDestroyNotify)firewall_rule_free);
    s->rules_counted = -1;
    s->local_policy = FIREWALL_LOCAL_UNKNOWN;
    return s;
}

void firewall_state_free(FirewallState *s)
{
    if (!s)
        return;
    g_ptr_array_unref(s->rules);
    g_free(s->incomplete);
    g_free(s->local_policy_why);
    g_free(s->profiles_note);
    for (guint i = 0; i < G_N_ELEMENTS(s->excluded); i++)
        g_free(s->excluded[i]);
    g_free(s->profiles_state_why);
    g_free(s->block_inbound_why);
    g_free(s->gp_rules_why);
    g_free(s);
}
