/* The Windows Firewall, Linux side (firewall.h): there is none. The VPN
 * pool's block on Linux is the gateway's (tunnel-only tells whether it holds);
 * the check says it is for Windows. */
#include "firewall.h"

FirewallState *firewall_read(int tunnel_ifindex, GError **error)
{
    g_set_error(error, FIREWALL_ERROR, FIREWALL_ERROR_UNAVAILABLE,
                "for Windows: it reads the Windows Firewall's rules, and this is Linux");
    return NULL;
}
