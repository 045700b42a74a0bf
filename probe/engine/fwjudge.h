/* The judge of the check `firewall` (fwcheck.c): the Windows Firewall's rules
 * in (platform/firewall.h, as read), a verdict out. Pure: no system call, so
 * that seed 002's fix and its near misses are tested on any platform.
 *
 * The block seed 002 asks for holds when, for every address of the tunnel,
 * every call client of the profile ([network] call_clients; left at its
 * default, those the block rules name), both directions
 * and both TCP and UDP, the enabled block rules that apply cover every range
 * of [network] internal_ranges and vpn_ranges of the address's family as
 * remote addresses. A rule applies when it is for that direction, protocol
 * (or any), the tunnel's network profile (INetworkListManager; where that
 * could not be read, every active profile: the rule must name them all), the
 * interface type all, or remote access where the tunnel's adapter is a PPP
 * one (IfType 23; the firewall's Lan type holds the Ethernet-like adapters
 * most VPN clients make), the tunnel's adapter (or every
 * adapter), local addresses holding the tunnel's address, local and remote
 * ports holding the media's 1024-65535, and either any program or the call
 * client itself (its file name), and no service or app package; and only
 * where the firewall is on for that profile and does not leave the tunnel's
 * adapter out (ExcludedInterfaces). Block rules win over allow
 * rules in the Windows Firewall, so rules read in part still prove a block
 * that is there; they cannot prove one missing. docs/windows.md, "The
 * firewall check", says the same with the cases it cannot see. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "firewall.h"
#include "iceprobe/result.h"

typedef struct {
    const char *tunnel_name;     /* the tunnel's adapter as Windows names it; NULL: no tunnel */
    guint tunnel_if_type;        /* its IfType (WINADAPTER_IF_*; 0: unknown) */
    GPtrArray *tunnel_addresses; /* GInetAddress, not link-local */
    GPtrArray *internal_ranges;  /* GInetAddressMask ([network] internal_ranges) */
    GPtrArray *vpn_ranges;       /* GInetAddressMask ([network] vpn_ranges) */
    char *const *call_clients;   /* program file names ([network] call_clients) */
    /* call_clients is the default list: the block is asked only for those
     * some enabled block rule names (all of them where one is for any
     * program, or where none names any); else for every one. */
    gboolean call_clients_default;
} FwJudgeInput;

typedef struct {
    Verdict verdict; /* pass; warn: the block is missing; skip: it cannot be judged */
    char *reason;
    JsonObject *detail; /* the check record's members */
    gboolean block_missing;
} FwVerdict;

FwVerdict *fwjudge_judge(const FirewallState *st, const FwJudgeInput *in);
void fwjudge_verdict_free(FwVerdict *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FwVerdict, fwjudge_verdict_free)

/* ---- the parsers of a rule's strings (fwrules.c; the tests' and the fuzz target's too) ---- */

/* A span of addresses of one family, both ends included: IPv4 in the first 4
 * bytes (the rest zero), IPv6 in all 16, network order. */
typedef struct {
    guint8 family; /* 4 or 6 */
    guint8 lo[16], hi[16];
} FwRange;

/* At most this many items in a list. */
#define FWJUDGE_MAX_ITEMS 10000

/* A rule's address list ("*", "10.0.0.0/255.0.0.0", "fc00::/7",
 * "10.1.1.1-10.1.1.9", "LocalSubnet", comma-separated) into out (FwRange);
 * keywords, which the firewall resolves at run time, cover nothing here and
 * are added to keywords (char*, may be NULL). NULL, "" and "*" are every
 * address of both families. FALSE with error naming the item. */
gboolean fwjudge_parse_addresses(const char *s, GArray *out, GPtrArray *keywords, GError **error);
/* A port list ("*", "3478", "1024-65535", "RPC", comma-separated) into out
 * (guint32 pairs: lo, hi); keywords cover nothing. */
gboolean fwjudge_parse_ports(const char *s, GArray *out, GError **error);
/* ranges (FwRange, one family or both) hold every address from lo to hi. */
gboolean fwjudge_ranges_cover(GArray *ranges, const FwRange *want);
/* spans (fwjudge_parse_ports') hold every port from lo to hi. */
gboolean fwjudge_ports_cover(GArray *spans, guint32 lo, guint32 hi);
