/* State of one run, shared by the probe's checks and paths (not installed). */
#pragma once

#include "netif.h"
#include "iceprobe/result.h"
#include "tlsrelay.h"
#include "turncheck.h"
#include "iceprobe/turncred.h"

typedef struct {
    const Profile *profile;
    RunResult *result;
    NetifInventory *inv;
    GPtrArray *edge_addrs; /* GInetAddress the edge is tested at */
    char *edge_ip;         /* numeric, the first of edge_addrs */
    TurnCredentials cred;
    gboolean turn_ok[3]; /* by TurnCheckTransport */
    TlsPeerInfo tls;     /* what TLS on the TLS port presented */
    guint stream_duration_s;
} RunCtx;

/* Local checks, in order; each adds a check record and its findings. A FALSE
 * return means the run cannot go on (no edge address at all). */
void checks_interfaces(RunCtx *c);
gboolean checks_dns(RunCtx *c);
void checks_route(RunCtx *c);
void checks_turn(RunCtx *c);
void checks_tls(RunCtx *c);

/* The relay-loop paths: natural, relay-udp, relay-tcp, relay-tls. */
void paths_run_all(RunCtx *c);

/* "ip:port" of a NiceAddress-like pair. */
char *run_addr_string(GInetAddress *a, guint port);
TlsRelayConfig run_tls_config(const RunCtx *c, guint port, gboolean tls);
