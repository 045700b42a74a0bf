/* State of one run, shared by the probe's checks and paths (not installed). */
#pragma once

#include "egress.h"
#include "qoswatch.h"
#include "iceprobe/policy.h"
#include "netif.h"
#include "session.h"
#include "stream.h"
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
    const char *const *only_paths; /* NULL: every path */
    gboolean internal_host;        /* no tunnel: an internal client (checks_dns) */
} RunCtx;

/* Frees what the run's checks gathered (the context itself is the caller's). */
void run_ctx_clear(RunCtx *c);

/* Every local check in order: interfaces, firewall, DNS, route, routes, TURN, TLS. NULL when the
 * paths can run; else why not ("cannot list the local interfaces", "no address
 * for the edge": the DNS check failed). */
const char *checks_all(RunCtx *c);

/* Local checks, in order; each adds a check record and its findings. A FALSE
 * return means the run cannot go on (no edge address at all). */
void checks_interfaces(RunCtx *c);
gboolean checks_dns(RunCtx *c);
void checks_route(RunCtx *c);
/* [routes]: each prefix that must bypass the tunnel, split out or not (ROUTE_VIA_TUNNEL). */
void checks_routes(RunCtx *c);
void checks_turn(RunCtx *c);
/* The Windows Firewall's block of the tunnel's address (fwcheck.c); on Linux a
 * skip saying it is for Windows. */
void checks_firewall(RunCtx *c);
void checks_tls(RunCtx *c);

/* How long tunnel-only waits for a check through the tunnel to succeed: the
 * other paths' stream and 1.5 s, at least 3 s (at most the usual 12 s). An
 * open path answers its first check within a round trip (46-84 ms in the
 * lab); a blocked one would otherwise hold the run until libnice gives up on
 * its retransmissions (7-8.6 s), long after the call it stands for had chosen
 * its pair. */
guint paths_tunnel_wait_ms(const RunCtx *c);

/* An end's media starts once the other end can take it: before the other
 * end's ICE agent has validated this one, libnice drops its packets as coming
 * from an unknown source (nice_component_verify_remote_candidate), which is a
 * start-up artefact, not loss on the network (docs/libnice.md §30). The relay
 * loop waits for each end to hear the other's warm-up; a paired run for the
 * peer's pair. An end whose peer has not come this long after its own pair
 * starts anyway. */
#define PATHS_START_SKEW_MS 1000
/* Until then an end with a pair sends a warm-up this often (stream_end_warm),
 * and starts once each end has heard this many of the other's. */
#define PATHS_WARMUP_EVERY_MS 20
#define PATHS_WARMUPS_HEARD   2

/* The relay-loop paths: natural, relay-udp, relay-tcp, relay-tls, tunnel-only
 * (relay_loop.c). */
void relay_loop_run(RunCtx *c);

/* ---- paths.c: shared by the relay loop and the paired run (probe/agent/paired.c) ---- */

/* How long a path waits for ICE to settle (READY or FAILED) from its start. */
#define PATHS_READY_TIMEOUT_MS 12000
/* After the senders are done, the longest wait for packets still in flight. */
#define PATHS_DRAIN_MAX_MS     1000
#define PATHS_EGRESS_SETTLE_MS 200 /* the egress watcher catching up with a stream's last sends */
/* A physical interface's IPv4 address (the far end allocates on the edge's
 * IPv4 address from it), or NULL. */
GInetAddress *paths_physical_address(const RunCtx *c);
/* Every address of the tunnels, IPv4 and IPv6 (not link-local): what
 * tunnel-only offers. Empty (never NULL) without one. */
GPtrArray *paths_tunnel_addresses(const RunCtx *c);
const char *paths_type_name(NiceCandidateType t);
/* The session's selected pair into rec: candidates, owning and egress interface
 * (a TURN-over-TCP/TLS relay candidate through one of the forwarders given). */
void paths_describe_pair(const RunCtx *c, Session *s, TlsRelay *tcp_fwd, TlsRelay *tls_fwd,
                         PathRecord *rec);
/* Appends the session's selected pair, as it is now, to rec->pair_changes: the
 * time since t0, the candidates, the egress and the tunnel's counters. */
void paths_note_pair_change(const RunCtx *c, Session *s, TlsRelay *tcp_fwd, TlsRelay *tls_fwd,
                            gint64 t0, PathRecord *rec);
/* One of the session's local candidates as the selected pair's is described
 * (without the egress: most candidates never carry a packet), its relay
 * transport read from its priority (session_relay_server). */
void paths_describe_candidate(const RunCtx *c, Session *s, const NiceCandidate *l,
                              TlsRelay *tcp_fwd, TlsRelay *tls_fwd, CandidateInfo *li);
void paths_describe_remote(const NiceCandidate *r, CandidateInfo *ri);
/* The path's ICE record into rec->ice_record (icerecord.c): the session's
 * candidates, and what libnice reported of its checks and allocations, with
 * what was given up and why. Call it before the session closes. */
void paths_note_ice(const RunCtx *c, Session *s, TlsRelay *tcp_fwd, TlsRelay *tls_fwd,
                    PathRecord *rec);
gboolean paths_start_forwarder(RunCtx *c, guint port, gboolean tls, TlsRelay **out,
                               PathRecord *rec);
void paths_add_turn(SessionConfig *cfg, const char *ip, guint port, NiceRelayType type);
/* TURN over TCP (or TLS) on the edge through a forwarder of the path's own,
 * started into *out; FALSE with rec's verdict and reason set when it cannot
 * start. With an MS-TURN edge libnice speaks the framing and the pseudo-TLS
 * itself (its TURN_TLS in OC2007R2) through a plain forwarder, and allocates
 * over TCP from TCP-active host candidates only (docs/libnice.md §37): ICE-TCP
 * is turned on. */
gboolean paths_add_turn_forwarded(RunCtx *c, SessionConfig *cfg, gboolean tls, TlsRelay **out,
                                  PathRecord *rec);
/* A watch over the session's UDP sockets naming the device each packet left
 * by (egress.h), or NULL: no tunnel, or no socket could be watched. Free it
 * after the session. */
EgressWatch *paths_egress_watch(const RunCtx *c, Session *s);
/* The watch's counts so far into rec (have_egress, egress_*), against the
 * media packets the stream sent, with the media the TURN-over-TCP forwarders
 * fwd[0..1] (either may be NULL) carried since they counted fwd_media0;
 * nothing without a watch. */
void paths_note_egress(const RunCtx *c, EgressWatch *w, TlsRelay *const *fwd,
                       const guint64 *fwd_media0, guint64 media_sent, PathRecord *rec);
/* A watch over the session's UDP sockets sampling the DSCP of the media they
 * receive (qoswatch.h), or NULL: the profile marks nothing ([stream] dscp = 0), or
 * no socket could be watched. Free it after the session. */
QosWatch *paths_qos_watch(const RunCtx *c, Session *s);
/* The profile's marking into rec (dscp), and what a watch sampled into one of
 * its directions (rec->qos_out or qos_in); nothing without a watch, and
 * paths_describe_pair takes it out again for a pair over TCP. */
void paths_note_qos(const RunCtx *c, QosWatch *w, PathRecord *rec, QosSample *dir);
/* The tunnel's interface counters now (zero without a tunnel); FALSE when the
 * system would not give them. */
gboolean paths_sample_counters(const NetifInterface *tunnel, guint64 *rx, guint64 *tx);
/* The tunnel's packets over the stream (counters rx1/tx1 less rx0/tx0) into rec;
 * nothing without a tunnel. */
void paths_note_tunnel_counters(const NetifInterface *tunnel, guint64 rx0, guint64 tx0, guint64 rx1,
                                guint64 tx1, PathRecord *rec);
/* Loop condition over a Session: ICE has settled (READY or FAILED). */
gboolean paths_session_settled(gpointer session);
/* What paths_settle_pair needs of a path: its session and forwarders, its
 * start, and its own way of waiting. */
typedef struct {
    Session *s;
    TlsRelay *tcp_fwd, *tls_fwd;
    gint64 t0;               /* the path's start (monotonic) */
    guint timeout_ms;        /* how long after t0 ICE may take to settle */
    gboolean note_unsettled; /* say in rec->reason that ICE was still checking */
    /* Runs the path's context until paths_session_settled(s) (TRUE) or ms pass. */
    gboolean (*wait_settled)(gpointer path, guint ms);
    /* The far end's candidates are all in (session_pair_unbeatable); NULL: they are. */
    gboolean (*remote_complete)(gpointer path);
    gpointer path;
} PathsSettle;
/* The pair to report, and why it is final (rec->pair_final): the one at READY
 * or at the stream's end, whichever came later, or the first one when nothing
 * could outrank it (*unbeatable, known so already or found so here). Waits for
 * READY after the stream only while ICE may still move the pair. Then rec's
 * ready_ms and connect_ms (rec->connected_ms already set), and how often the
 * pair changed. */
void paths_settle_pair(const RunCtx *c, const PathsSettle *how, gboolean *unbeatable,
                       PathRecord *rec);
/* Loop condition over the two ends of a stream {a, b}: everything each sent has
 * arrived at the other. And how long to wait for the packets still in flight
 * after the senders are done. */
gboolean paths_streams_drained(gpointer ends);
guint paths_drain_ms(StreamEnd **ends);
/* The path's tunnel evidence is its own: its own connection, or the kernel's
 * device for nearly every media packet it sent. A path without it was judged
 * by the interface's counters, which paths running at the same time share:
 * when they blame the tunnel, it runs again alone (docs/libnice.md §33). */
gboolean paths_attribution_exact(const PathRecord *rec, PolicyPathKind kind);
/* A fresh record for the path in old's place in the result (old is freed);
 * *why says why it runs again, for paths_note_rerun() once it has. */
PathRecord *paths_replace_record(RunCtx *c, PathRecord *old, char **why);
void paths_note_rerun(PathRecord *rec, const char *why);
/* rec->metrics from rec->out and rec->in (whose RTT is this side's own). */
void paths_combine_metrics(const Profile *prof, PathRecord *rec);

/* "ip:port" of a NiceAddress-like pair. */
char *run_addr_string(GInetAddress *a, guint port);
TlsRelayConfig run_tls_config(const RunCtx *c, guint port, gboolean tls);
