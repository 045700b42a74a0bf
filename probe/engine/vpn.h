/* The VPN's own facts, as the kernel shows them to any user: which product the
 * tunnel looks like, its MTU, the pool address, whether the default route goes
 * through it (full tunnel) or not (split), and the gateway's public address
 * when a host route to it shows (a full tunnel needs one; a split one does not). */
#pragma once

#include <json-glib/json-glib.h>

#include "netif.h"

/* Which product a tunnel looks like from its link kind, tun type and name, and
 * the fact that said it; "unknown" when nothing does. */
const char *vpn_product(const NetifInterface *tunnel, const char **from);
/* The facts of the inventory's first tunnel as the result's probes[].vpn (and
 * the agent's heartbeat's vpn); NULL when there is no tunnel. routes:
 * netif_routes()'s (NULL: unreadable). profile may be NULL (the agent's
 * heartbeat): no in_vpn_ranges then. */
JsonObject *vpn_facts(const NetifInventory *inv, const Profile *profile, GPtrArray *routes);
/* The facts as the agent's heartbeat carries them: the members controllers up
 * to 0.8.0 know, which refuse any other and with it the heartbeat. The IPv6
 * facts stay in the run's document (probes[].vpn), read leniently. */
void vpn_facts_for_heartbeat(JsonObject *facts);
