/* The finding codes of docs/contract.md, with what to change, in the words of the
 * articles the product is built on (docs/contract.md, "Finding codes"). */
#include <string.h>

#include "iceprobe/result.h"

static const FindingSpec specs[] = {
    {"MEDIA_VIA_TUNNEL", VERDICT_FAIL,
     "Block the VPN client pool from internal client subnets and media servers at the VPN "
     "gateway (all ports, TCP and UDP, both directions, and VPN to VPN) so tunnel candidates "
     "fail their checks and ICE falls back to the edge relay; do not rely on application-based "
     "split tunnelling for the call client."},
    {"RELAY_VIA_TUNNEL", VERDICT_FAIL,
     "Add a split-tunnel exclusion for the edge's public address(es) (access, web conferencing "
     "and A/V edge, reverse proxy) so traffic to them leaves through the physical interface; a "
     "tunnel-all policy cannot work."},
    {"EDGE_DNS_INTERNAL", VERDICT_FAIL,
     "Make the VPN clients' DNS view resolve the edge, simple URLs and mail names to their "
     "external addresses (split DNS); otherwise clients register as internal and try addresses "
     "the VPN block rejects."},
    {"TUNNEL_PATH_OPEN", VERDICT_FAIL,
     "Block the VPN client pool from internal client subnets at the VPN gateway, all ports, TCP "
     "and UDP, both directions."},
    {"GATEWAY_BLOCK_MISSING", VERDICT_WARN,
     "The laptop's Windows Firewall keeps the call clients its rules name (call_clients) off "
     "this pair, not any other program; block the VPN client pool from internal client subnets "
     "at the VPN gateway too (all ports, TCP and UDP, both directions), so that a call client "
     "the rules do not name (another program path, a new client) and laptops without the rules "
     "are held as well."},
    {"FIREWALL_BLOCK_MISSING", VERDICT_FAIL,
     "Add Windows Firewall rules that block the call client's program (lync.exe, Teams.exe) "
     "with the VPN pool as local addresses and the internal and VPN subnets as remote "
     "addresses, all protocols and ports, interface type Remote Access, in the VPN's network "
     "profile: one inbound and one outbound rule, pushed by Group Policy; or block the pool at "
     "the VPN gateway, all ports, TCP and UDP, both directions."},
    {"TLS_INTERCEPTED", VERDICT_FAIL,
     "Exempt the edge's addresses from TLS decryption / application identification on the "
     "next-generation firewall (TURN over TLS on 443 and TCP 50000-59999 to the edge must pass "
     "untouched)."},
    {"ROUTE_VIA_TUNNEL", VERDICT_FAIL,
     "Exclude these prefixes from the VPN tunnel (split-tunnel exclusions for Microsoft 365's "
     "Optimize endpoints, as Microsoft's VPN guidance asks: Teams and Skype for Business Online "
     "media, Exchange and SharePoint Online), so that their traffic leaves by the physical "
     "interface; refresh the list when Microsoft's endpoints document changes."},
    {"RELAY_UNREACHABLE", VERDICT_FAIL,
     "Allow UDP 3478 and TCP 443 from clients to the edge's public address, and check that the "
     "edge's TURN service runs and the credentials (shared secret) match."},
    {"EDGE_NO_ROUTE_TO_PEER", VERDICT_FAIL,
     "Give the edge's internal interface a route back to this peer's subnet (branch or VPN "
     "pool)."},
    {"NO_MEDIA_PATH", VERDICT_FAIL,
     "No candidate pair worked: check that the edge relay is reachable on UDP 3478 and TCP 443 "
     "and that the firewall allows relayed media."},
    {"AGENT_OFFLINE", VERDICT_ERROR,
     "Check that the agent runs (iceprobe agent), that it reaches the controller over HTTPS, and "
     "that its token was not revoked; the run was not carried out."},
    {"RUN_TIMEOUT", VERDICT_ERROR,
     "The agent took its order but sent no report by the run's deadline: look at the agent's "
     "log (iceprobe agent --status); the run was not carried out."},
    {"UDP_RELAY_BLOCKED", VERDICT_WARN,
     "Allow UDP 3478 (and UDP 50000-59999) to the edge's public address; over TCP media works "
     "but with worse quality."},
    {"TCP_RELAY_ONLY", VERDICT_WARN,
     "Media falls back to TURN over TCP, the last resort: allow UDP to the edge so calls use UDP."},
    {"QUALITY_LOSS", VERDICT_WARN, "Look for congestion or a lossy link on the media path."},
    {"QOS_MARKING_LOST", VERDICT_WARN,
     "Keep the call client's media marking on the way (EF 46 for audio, as Skype for Business "
     "and Teams mark it): trust it on the access switches, Wi-Fi and VPN, and do not re-mark it "
     "to best effort (CS0) where the QoS design expects it to survive; or say in [stream] "
     "dscp_survives that it is not expected there."},
    {"QUALITY_BURST_LOSS", VERDICT_WARN,
     "Losses come in bursts (a call hears them as dropouts): look for a link that drops under "
     "load (Wi-Fi, a saturated uplink or VPN concentrator) on the media path."},
    {"QUALITY_REORDER", VERDICT_WARN,
     "Packets arrive out of order: look for load balancing over unequal paths or a VPN that "
     "reorders on the media path."},
    {"QUALITY_JITTER", VERDICT_WARN,
     "Look for congestion or missing QoS on the media path (a VPN concentrator adds jitter)."},
    {"QUALITY_RTT", VERDICT_WARN,
     "Look for hair-pinning or a long detour on the media path (through the VPN, or to a distant "
     "edge)."},
    {"QUALITY_MOS", VERDICT_WARN, "The estimated call quality is poor; see loss, jitter and RTT."},
};

const FindingSpec *finding_spec_lookup(const char *code)
{
    g_return_val_if_fail(code, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
        if (strcmp(specs[i].code, code) == 0)
            return &specs[i];
    }
    return NULL;
}

/* The same codes when the evidence names the cause. */
typedef struct {
    const char *code;
    const char *cause;
    const char *remedy;
} CauseRemedy;

#define GATEWAY_PASSES_POOL                                                                        \
    "The route to the edge already leaves through the physical interface (a split-tunnel "         \
    "exclusion would change nothing): the VPN gateway passes the client pool to the edge "         \
    "(routed, or NATed to the internet, with the edge's relay reaching the pool back). Block "     \
    "the VPN client pool from the edge's public and internal addresses at the VPN gateway, all "   \
    "ports, TCP and UDP, both directions, so candidates on the tunnel cannot reach it."

#define POLICY_ROUTED                                                                              \
    "The routing table and ICE both send it out of the physical interface, yet the kernel "       \
    "routed the call's own packets into the tunnel: a policy rule (ip rule, or the VPN client's "  \
    "per-application or per-destination tunnelling) or a firewall mark re-routes them. Exclude "  \
    "the call client's traffic to the edge from that rule, or give the edge's addresses a "      \
    "bypass in the VPN client's policy, so they leave by the physical interface."

static const CauseRemedy cause_remedies[] = {
    {"RELAY_VIA_TUNNEL", "policy-routed", POLICY_ROUTED},
    {"MEDIA_VIA_TUNNEL", "policy-routed", POLICY_ROUTED},
    {"RELAY_VIA_TUNNEL", "gateway-passes-pool", GATEWAY_PASSES_POOL},
    {"MEDIA_VIA_TUNNEL", "gateway-passes-pool", GATEWAY_PASSES_POOL},
    {"TUNNEL_PATH_OPEN", "gateway-passes-pool", GATEWAY_PASSES_POOL},
};

const char *finding_cause_remedy(const char *code, const char *cause)
{
    for (gsize i = 0; code && cause && i < G_N_ELEMENTS(cause_remedies); i++) {
        if (strcmp(cause_remedies[i].code, code) == 0 &&
            strcmp(cause_remedies[i].cause, cause) == 0)
            return cause_remedies[i].remedy;
    }
    return NULL;
}
