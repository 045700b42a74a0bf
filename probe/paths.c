/* The relay loop. Two ICE agents in this process: the probe, which offers every
 * candidate as a call client does (host on every interface, reflexive, relays
 * over UDP, TCP and TLS), and a far end that offers only a relay allocation,
 * the way an external user appears through the edge. The far end gathers on a
 * physical interface only, so it stands outside whatever the VPN does.
 *
 * TURN over TCP and TLS goes through loopback forwarders (tlsrelay.c) so that the
 * true local end of each TCP connection is known: the relay candidate of such a
 * pair egresses where that connection does. A UDP socket's packets go where
 * the kernel routes them, whatever address it is bound to (a policy rule or a
 * firewall mark can send them through the tunnel): the egress watch (egress.h)
 * names the device of every media packet the probe sends. The tunnel's own
 * counters, sampled around the stream, stand in where it cannot (docs/libnice.md
 * §32). */
#include <arpa/inet.h>
#include <string.h>

#include "egress.h"
#include "iceprobe/policy.h"
#include "loop.h"
#include "session.h"
#include "stream.h"
#include "run-private.h"
#include "run.h"

#define READY_TIMEOUT_MS 12000
/* After the last packet is sent, the stream waits for what is still in flight:
 * until everything sent has arrived, or twice the largest round trip seen
 * (plus a margin) has passed, at most DRAIN_MAX_MS. */
#define DRAIN_MARGIN_MS 20
#define DRAIN_MAX_MS    1000
#define CLOSE_MAX_MS    1000

typedef struct {
    const char *name;
    PolicyPathKind kind;
    gboolean udp, tcp, tls; /* TURN transports the probe agent is given */
    int regular;            /* nomination: -1 the profile's, 0 aggressive, 1 regular */
} PathSpec;

static const PathSpec path_specs[] = {
    {"natural", POLICY_PATH_NATURAL, TRUE, TRUE, TRUE, -1},
    {"relay-udp", POLICY_PATH_FORCED_RELAY, TRUE, FALSE, FALSE, -1},
    {"relay-tcp", POLICY_PATH_FORCED_RELAY, FALSE, TRUE, FALSE, -1},
    {"relay-tls", POLICY_PATH_FORCED_RELAY, FALSE, FALSE, TRUE, -1},
    /* The tunnel's own candidates only (host, and the reflexive address its
     * socket shows the edge): if a check connects, media can cross the tunnel
     * whatever pair this run's natural path got. No media is sent on it. */
    {"tunnel-only", POLICY_PATH_TUNNEL_ONLY, FALSE, FALSE, FALSE, -1},
};

/* With [ice] nomination = aggressive;regular, the natural path once more with
 * the other nomination, right after the first. */
static const PathSpec natural_with[] = {
    {"natural-aggressive", POLICY_PATH_NATURAL, TRUE, TRUE, TRUE, 0},
    {"natural-regular", POLICY_PATH_NATURAL, TRUE, TRUE, TRUE, 1},
};

/* Everything one path owns, freed together. */
typedef struct {
    RunCtx *c;
    PathRecord *rec;
    PolicyPathKind kind;
    GMainContext *ctx;
    Session *probe, *far;
    TlsRelay *tcp_fwd, *tls_fwd, *far_fwd;
    StreamEnd *probe_stream, *far_stream;
    gint64 t0;
    /* Trickle: candidates pass between the agents as they are gathered, held
     * only until both agents have their host candidates (docs/libnice.md §22). */
    gboolean holding;
    GPtrArray *to_far, *to_probe;
    char *exchange_error; /* the first candidate libnice refused */
    /* Each end's first selected pair (the probe's: "connected"), and its media. */
    gboolean probe_started, far_started, unbeatable;
    gint64 probe_pair_at, far_pair_at;
    gboolean probe_streaming, far_streaming;
    const NetifInterface *tunnel;
    TlsRelay *own_connection; /* a forced TCP/TLS path: its traffic is this forwarder's */
    guint64 rx0, tx0;
    EgressWatch *egress; /* the device each of the probe's packets left by */
    guint64 fwd_media0[2]; /* media the TCP and TLS forwarders had carried at the first pair */
} PathRun;

/* The tunnel's packets so far as this path counts them: the interface's
 * counters, or the segments of the path's own TCP connection to the edge. */
static void sample(const PathRun *p, guint64 *rx, guint64 *tx)
{
    if (p->own_connection)
        tlsrelay_segments(p->own_connection, tx, rx);
    else
        paths_sample_counters(p->tunnel, rx, tx);
}

static void path_run_clear(PathRun *p)
{
    Session *both[] = {p->probe, p->far};
    session_close_all(both, 2, CLOSE_MAX_MS);
    stream_end_free(p->probe_stream);
    stream_end_free(p->far_stream);
    session_free(p->probe);
    session_free(p->far);
    egress_watch_free(p->egress); /* after libnice's sockets are closed */
    tlsrelay_stop(p->tcp_fwd);
    tlsrelay_stop(p->tls_fwd);
    tlsrelay_stop(p->far_fwd);
    if (p->ctx)
        g_main_context_unref(p->ctx);
    if (p->to_far)
        g_ptr_array_unref(p->to_far);
    if (p->to_probe)
        g_ptr_array_unref(p->to_probe);
    g_free(p->exchange_error);
    memset(p, 0, sizeof(*p));
}

static GInetAddress *nice_to_inet(const NiceAddress *a, guint *port)
{
    char buf[NICE_ADDRESS_STRING_LEN];
    if (!nice_address_is_valid(a))
        return NULL;
    nice_address_to_string(a, buf);
    if (port)
        *port = nice_address_get_port(a);
    return g_inet_address_new_from_string(buf);
}

static char *nice_addr_string(const NiceAddress *a)
{
    guint port = 0;
    g_autoptr(GInetAddress) ia = nice_to_inet(a, &port);
    return ia ? run_addr_string(ia, port) : NULL;
}

const char *paths_type_name(NiceCandidateType t)
{
    static const char *const names[] = {"host", "srflx", "prflx", "relay"};
    return (guint)t < G_N_ELEMENTS(names) ? names[t] : "?";
}

/* A physical interface's IPv4 address for the far end, or NULL. */
GInetAddress *paths_physical_address(const RunCtx *c)
{
    for (guint i = 0; i < c->inv->interfaces->len; i++) {
        const NetifInterface *n = c->inv->interfaces->pdata[i];
        if (n->klass != NETIF_CLASS_PHYSICAL || !n->up)
            continue;
        for (guint k = 0; k < n->addresses->len; k++) {
            GInetAddress *a = n->addresses->pdata[k];
            if (g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4 &&
                !g_inet_address_get_is_link_local(a))
                return g_object_ref(a);
        }
    }
    return NULL;
}

GInetAddress *paths_tunnel_address(const RunCtx *c)
{
    for (guint i = 0; c->inv && i < c->inv->interfaces->len; i++) {
        const NetifInterface *n = c->inv->interfaces->pdata[i];
        if (n->klass != NETIF_CLASS_TUNNEL || !n->up)
            continue;
        for (guint k = 0; k < n->addresses->len; k++) {
            GInetAddress *a = n->addresses->pdata[k];
            if (g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4)
                return g_object_ref(a);
        }
    }
    return NULL;
}

static void set_interface(const RunCtx *c, GInetAddress *a, char **name, char **klass)
{
    const NetifInterface *n = a ? netif_inventory_by_address(c->inv, a) : NULL;
    g_free(*name);
    g_free(*klass);
    *name = g_strdup(n ? n->name : "?");
    *klass = g_strdup(n ? netif_class_to_string(n->klass) : "unknown");
}

/* Where packets to dst from src really leave: the kernel's route. */
static void set_egress_by_route(const RunCtx *c, GInetAddress *dst, GInetAddress *src,
                                CandidateInfo *info)
{
    NetifRoute route;
    if (!dst || !netif_route_get(dst, src, 0, &route, NULL))
        return;
    const NetifInterface *n = netif_inventory_by_index(c->inv, route.oif);
    g_free(info->egress_interface);
    g_free(info->egress_class);
    info->egress_interface = g_strdup(n ? n->name : "?");
    info->egress_class = g_strdup(n ? netif_class_to_string(n->klass) : "unknown");
    netif_route_clear(&route);
}

/* The forwarder a relay candidate's TURN server address names, if any. */
static TlsRelay *forwarder_of(TlsRelay *tcp_fwd, TlsRelay *tls_fwd, const NiceAddress *turn_server,
                              const char **protocol)
{
    guint port = 0;
    g_autoptr(GInetAddress) a = nice_to_inet(turn_server, &port);
    *protocol = "udp";
    if (!a || !g_inet_address_get_is_loopback(a))
        return NULL;
    if (tcp_fwd && port == tlsrelay_port(tcp_fwd)) {
        *protocol = "tcp";
        return tcp_fwd;
    }
    if (tls_fwd && port == tlsrelay_port(tls_fwd)) {
        *protocol = "tls";
        return tls_fwd;
    }
    return NULL;
}

void paths_describe_pair(const RunCtx *c, Session *s, TlsRelay *tcp_fwd, TlsRelay *tls_fwd,
                         PathRecord *rec)
{
    NiceCandidate *l = NULL, *r = NULL;
    NiceAddress turn;
    if (!session_selected_pair(s, &l, &r, &turn))
        return;
    rec->have_pair = TRUE;
    candidate_info_clear(&rec->local);
    candidate_info_clear(&rec->remote);
    CandidateInfo *li = &rec->local;
    li->type = g_strdup(paths_type_name(l->type));
    li->address = nice_addr_string(&l->addr);
    li->base_address = nice_addr_string(&l->base_addr);
    g_autoptr(GInetAddress) base = nice_to_inet(&l->base_addr, NULL);
    g_autoptr(GInetAddress) remote = nice_to_inet(&r->addr, NULL);
    gboolean tcp_candidate = l->transport != NICE_CANDIDATE_TRANSPORT_UDP;

    const char *protocol = "udp";
    TlsRelay *fwd = l->type == NICE_CANDIDATE_TYPE_RELAYED
                        ? forwarder_of(tcp_fwd, tls_fwd, &turn, &protocol)
                        : NULL;
    if (fwd) {
        /* TURN over TCP/TLS: the real connection is the forwarder's. */
        li->transport = g_strdup("tcp");
        g_autoptr(GPtrArray) locals = tlsrelay_local_addresses(fwd);
        GInetAddress *local = NULL;
        if (locals->len) {
            GSocketAddress *end = locals->pdata[0];
            g_free(li->base_address);
            li->base_address = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(end));
            local = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(end));
        }
        set_interface(c, local, &li->interface, &li->interface_class);
        li->egress_interface = g_strdup(li->interface);
        li->egress_class = g_strdup(li->interface_class);
        g_autoptr(GInetAddress) edge = g_inet_address_new_from_string(c->edge_ip);
        set_egress_by_route(c, edge, local, li);
    } else {
        li->transport = g_strdup(tcp_candidate ? "tcp" : "udp");
        set_interface(c, base, &li->interface, &li->interface_class);
        /* As ICE sees it: a UDP candidate leaves where its base address lives
         * (where the kernel really sent each packet is the egress watch's
         * word, docs/libnice.md §32). TCP host candidates follow the routing
         * table. */
        li->egress_interface = g_strdup(li->interface);
        li->egress_class = g_strdup(li->interface_class);
        if (tcp_candidate)
            set_egress_by_route(c, remote, base, li);
    }
    rec->remote.type = g_strdup(paths_type_name(r->type));
    rec->remote.transport = g_strdup(r->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp" : "tcp");
    rec->remote.address = nice_addr_string(&r->addr);
    g_free(rec->reason);
    rec->reason = g_strdup_printf("%s %s/%s%s%s via %s (%s)", li->type, li->address, li->transport,
                                  fwd ? " over " : "", fwd ? protocol : "", li->egress_interface,
                                  li->egress_class);
    nice_candidate_free(l);
    nice_candidate_free(r);
}

gboolean paths_start_forwarder(RunCtx *c, guint port, gboolean tls, TlsRelay **out, PathRecord *rec)
{
    g_autoptr(GError) error = NULL;
    TlsRelayConfig cfg = run_tls_config(c, port, tls);
    *out = tlsrelay_start(&cfg, &error);
    if (!*out) {
        rec->verdict = VERDICT_ERROR;
        rec->reason = g_strdup(error->message);
    }
    return *out != NULL;
}

void paths_add_turn(SessionConfig *cfg, const char *ip, guint port, NiceRelayType type)
{
    cfg->turn[cfg->n_turn].ip = (char *)ip;
    cfg->turn[cfg->n_turn].port = port;
    cfg->turn[cfg->n_turn].type = type;
    cfg->n_turn++;
}

EgressWatch *paths_egress_watch(const RunCtx *c, Session *s)
{
    int tunnels[16];
    guint n = 0;
    for (guint k = 0; k < c->inv->interfaces->len && n < G_N_ELEMENTS(tunnels); k++) {
        const NetifInterface *i = c->inv->interfaces->pdata[k];
        if (i->klass == NETIF_CLASS_TUNNEL)
            tunnels[n++] = i->index;
    }
    if (!n || !egress_supported())
        return NULL; /* nothing to tell apart, or no facts: the counters say it all */
    g_autoptr(GPtrArray) bases = session_udp_bases(s);
    g_autoptr(GError) error = NULL;
    EgressWatch *w = egress_watch_new(bases, tunnels, n, &error);
    if (!w)
        g_message("no egress facts for this path (the tunnel's counters stand in): %s",
                  error->message);
    else
        g_debug("egress: %u of %u UDP sockets watched", egress_watch_sockets(w), bases->len);
    return w;
}

/* A forwarder's connections to the edge leave where the route from their
 * local ends says (the forwarder connects as the routing table has it). */
static gboolean forwarder_via_tunnel(const RunCtx *c, TlsRelay *fwd)
{
    g_autoptr(GPtrArray) locals = tlsrelay_local_addresses(fwd);
    g_autoptr(GInetAddress) edge = g_inet_address_new_from_string(c->edge_ip);
    gboolean tunnel = FALSE;
    for (guint i = 0; i < locals->len && !tunnel; i++) {
        CandidateInfo info = {0};
        set_egress_by_route(c, edge,
                            g_inet_socket_address_get_address(locals->pdata[i]), &info);
        tunnel = g_strcmp0(info.egress_class, "tunnel") == 0;
        candidate_info_clear(&info);
    }
    return tunnel;
}

void paths_note_egress(const RunCtx *c, EgressWatch *w, TlsRelay *const *fwd,
                       const guint64 *fwd_media0, guint64 media_sent, PathRecord *rec)
{
    if (!w)
        return;
    EgressCounts n;
    egress_watch_counts(w, &n);
    guint64 seen = n.media_seen, tunnel = n.media_tunnel;
    /* Media over TURN-TCP went by a forwarder's connection, not a UDP socket. */
    for (int i = 0; i < 2; i++) {
        guint64 d = fwd[i] ? tlsrelay_media_out(fwd[i]) - fwd_media0[i] : 0;
        seen += d;
        if (d && forwarder_via_tunnel(c, fwd[i]))
            tunnel += d;
    }
    rec->have_egress = TRUE;
    rec->egress_media_sent = media_sent;
    rec->egress_media_seen = MIN(seen, media_sent);
    rec->egress_media_tunnel = MIN(tunnel, rec->egress_media_seen);
    rec->egress_other_tunnel = n.other_tunnel;
}

void paths_sample_counters(const NetifInterface *tunnel, guint64 *rx, guint64 *tx)
{
    *rx = *tx = 0;
    if (tunnel)
        netif_counters(tunnel->index, rx, tx, NULL);
}

gboolean paths_streams_drained(gpointer data)
{
    StreamEnd **ends = data;
    return stream_end_received(ends[0]) >= stream_end_sent(ends[1]) &&
           stream_end_received(ends[1]) >= stream_end_sent(ends[0]);
}

guint paths_drain_ms(StreamEnd **ends)
{
    double rtt = MAX(metrics_stream_rtt_max(stream_end_metrics(ends[0])),
                     metrics_stream_rtt_max(stream_end_metrics(ends[1])));
    return (guint)MIN(DRAIN_MAX_MS, 2 * rtt + DRAIN_MARGIN_MS);
}

void paths_combine_metrics(const Profile *prof, PathRecord *rec)
{
    double ptime = prof->stream.ptime_ms;
    /* Both directions together; the round trip is the probe's own measurement. */
    MetricsSummary *m = &rec->metrics;
    *m = rec->in;
    m->packets_sent = rec->out.packets_sent + rec->in.packets_sent;
    m->packets_received = rec->out.packets_received + rec->in.packets_received;
    m->loss_ratio = m->packets_sent
                        ? (double)(m->packets_sent - MIN(m->packets_sent, m->packets_received)) /
                              (double)m->packets_sent
                        : 0;
    m->jitter_ms = MAX(rec->out.jitter_ms, rec->in.jitter_ms);
    m->reordered = rec->out.reordered + rec->in.reordered;
    m->duplicates = rec->out.duplicates + rec->in.duplicates;
    /* The worst direction's windows. */
    m->have_windows = rec->out.have_windows && rec->in.have_windows;
    m->loss_15s_max = MAX(rec->out.loss_15s_max, rec->in.loss_15s_max);
    m->burst_loss_200ms_max = MAX(rec->out.burst_loss_200ms_max, rec->in.burst_loss_200ms_max);
    m->jitter_15s_max_ms = MAX(rec->out.jitter_15s_max_ms, rec->in.jitter_15s_max_ms);
    m->reorder_ratio = MAX(rec->out.reorder_ratio, rec->in.reorder_ratio);
    m->owdv_p50_ms = MAX(rec->out.owdv_p50_ms, rec->in.owdv_p50_ms);
    m->owdv_p95_ms = MAX(rec->out.owdv_p95_ms, rec->in.owdv_p95_ms);
    m->owdv_max_ms = MAX(rec->out.owdv_max_ms, rec->in.owdv_max_ms);
    m->burst_r = MAX(rec->out.burst_r, rec->in.burst_r);
    metrics_rate(m, prof->stream.codec, ptime);
    rec->have_metrics = TRUE;
}

/* ---- trickle between the two agents ---- */

/* What each path lets the probe offer (CONTRACT): everything, relays only, or
 * host candidates (on the tunnel: the session gathers only there). The far
 * end offers its relay only. */
static gboolean offered(const PathRun *p, const char *line, gboolean from_probe)
{
    if (!from_probe || p->kind == POLICY_PATH_FORCED_RELAY)
        return strstr(line, " typ relay") != NULL;
    if (p->kind == POLICY_PATH_TUNNEL_ONLY)
        return strstr(line, " typ host") || strstr(line, " typ srflx");
    return TRUE;
}

static void deliver(PathRun *p, Session *to, const char *line)
{
    g_autoptr(GError) error = NULL;
    if (!session_add_remote_candidate(to, line, &error) && !p->exchange_error)
        p->exchange_error = g_strdup(error->message);
}

static void pass_candidate(PathRun *p, const char *line, gboolean from_probe)
{
    if (!offered(p, line, from_probe))
        return;
    if (p->holding)
        g_ptr_array_add(from_probe ? p->to_far : p->to_probe, g_strdup(line));
    else
        deliver(p, from_probe ? p->far : p->probe, line);
}

static void probe_candidate(const char *line, gpointer data)
{
    pass_candidate(data, line, TRUE);
}

static void far_candidate(const char *line, gpointer data)
{
    pass_candidate(data, line, FALSE);
}

static void release_held(PathRun *p)
{
    p->holding = FALSE;
    for (guint i = 0; i < p->to_far->len; i++)
        deliver(p, p->far, p->to_far->pdata[i]);
    for (guint i = 0; i < p->to_probe->len; i++)
        deliver(p, p->probe, p->to_probe->pdata[i]);
    g_ptr_array_set_size(p->to_far, 0);
    g_ptr_array_set_size(p->to_probe, 0);
}

/* Each side takes the other's ICE credentials before any candidate (§22). */
static gboolean trade_credentials(PathRun *p, GError **error)
{
    g_autofree char *pu = NULL, *pp = NULL, *fu = NULL, *fp = NULL;
    session_local_credentials(p->probe, &pu, &pp);
    session_local_credentials(p->far, &fu, &fp);
    return session_set_remote_credentials(p->probe, fu, fp, error) &&
           session_set_remote_credentials(p->far, pu, pp, error);
}

/* ---- the selected pair over time ---- */

static double since_start_ms(const PathRun *p, gint64 t)
{
    return t ? (double)(t - p->t0) / 1000.0 : -1;
}

void paths_note_pair_change(const RunCtx *c, Session *s, TlsRelay *tcp_fwd, TlsRelay *tls_fwd,
                            gint64 t0, PathRecord *rec)
{
    if (rec->pair_changes->len >= RESULT_MAX_PAIR_CHANGES)
        return;
    g_autoptr(PathRecord) now = path_record_new(NULL);
    paths_describe_pair(c, s, tcp_fwd, tls_fwd, now);
    PairChange *pc = g_new0(PairChange, 1);
    pc->at_ms = (double)(session_first_pair_time(s) && !rec->pair_changes->len
                             ? session_first_pair_time(s) - t0
                             : g_get_monotonic_time() - t0) /
                1000.0;
    if (now->have_pair) {
        pc->local =
            g_strdup_printf("%s %s/%s", now->local.type, now->local.address, now->local.transport);
        pc->local_interface = g_strdup(now->local.egress_interface);
        pc->remote = g_strdup_printf("%s %s/%s", now->remote.type, now->remote.address,
                                     now->remote.transport);
    } else {
        pc->local = g_strdup("?");
        pc->remote = g_strdup("?");
    }
    const NetifInterface *tunnel = netif_inventory_first_tunnel(c->inv);
    if (tunnel) {
        pc->have_counters = TRUE;
        paths_sample_counters(tunnel, &pc->tunnel_rx, &pc->tunnel_tx);
    }
    g_ptr_array_add(rec->pair_changes, pc);
}

/* Each change of the probe's selected pair, with the tunnel's counters then. */
static void on_pair(Session *s, NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
    PathRun *p = data;
    paths_note_pair_change(p->c, s, p->tcp_fwd, p->tls_fwd, p->t0, p->rec);
}

/* Where the far end's checks saw the probe come from (the edge's view): the
 * tunnel's own address when the edge reaches the VPN pool directly, the VPN
 * gateway's public address when the gateway lets the pool out to the edge. */
static void note_far_view(PathRun *p, PathRecord *rec)
{
    NiceCandidate *l = NULL, *r = NULL;
    if (!session_selected_pair(p->far, &l, &r, NULL))
        return;
    char ip[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(&r->addr, ip);
    g_autofree char *old = rec->reason;
    rec->reason = g_strdup_printf("%s; the edge saw the probe at %s:%u (%s)", old ? old : "", ip,
                                  nice_address_get_port(&r->addr), paths_type_name(r->type));
    nice_candidate_free(l);
    nice_candidate_free(r);
}

/* ---- the media ---- */

static gboolean far_has_no_relay(const PathRun *p)
{
    guint host, srflx, relay;
    if (!session_gathering_done(p->far))
        return FALSE;
    session_count_candidates(p->far, &host, &srflx, &relay);
    return relay == 0;
}

/* An end's media starts once both ends have selected a pair: before the other
 * end's ICE agent has validated this one, libnice drops its packets as coming
 * from an unknown source (nice_component_verify_remote_candidate), which is a
 * start-up artefact, not loss on the network (docs/libnice.md §30). An end whose
 * peer has no pair START_SKEW_MS after its own starts anyway. */
#define START_SKEW_MS 1000

static gboolean may_stream(gboolean own, gint64 own_at, gboolean other)
{
    return own && (other || g_get_monotonic_time() - own_at > START_SKEW_MS * 1000);
}

/* Notes each end's first selected pair and starts the streams that may start.
 * TRUE when the probe has a pair, or the path cannot get one. */
static gboolean start_media(gpointer data)
{
    PathRun *p = data;
    if (!p->probe_started && session_has_pair(p->probe)) {
        p->probe_started = TRUE;
        p->probe_pair_at = g_get_monotonic_time();
        sample(p, &p->rx0, &p->tx0);
        if (!p->own_connection && p->kind != POLICY_PATH_TUNNEL_ONLY) {
            p->egress = paths_egress_watch(p->c, p->probe);
            p->fwd_media0[0] = p->tcp_fwd ? tlsrelay_media_out(p->tcp_fwd) : 0;
            p->fwd_media0[1] = p->tls_fwd ? tlsrelay_media_out(p->tls_fwd) : 0;
        }
        p->unbeatable = session_pair_unbeatable(p->probe, session_gathering_done(p->far));
    }
    if (!p->far_started && session_has_pair(p->far)) {
        p->far_started = TRUE;
        p->far_pair_at = g_get_monotonic_time();
    }
    if (!p->probe_streaming && may_stream(p->probe_started, p->probe_pair_at, p->far_started)) {
        p->probe_streaming = TRUE;
        stream_end_start(p->probe_stream);
    }
    if (!p->far_streaming && may_stream(p->far_started, p->far_pair_at, p->probe_started)) {
        p->far_streaming = TRUE;
        stream_end_start(p->far_stream);
    }
    return p->probe_started || session_state(p->probe) == SESSION_STATE_FAILED ||
           p->exchange_error || far_has_no_relay(p);
}

/* The streams have sent everything (an end that never got a pair sends nothing). */
static gboolean streams_sent(gpointer data)
{
    PathRun *p = data;
    start_media(p);
    return (!p->probe_started || (p->probe_streaming && stream_end_done(p->probe_stream))) &&
           (!p->far_started || (p->far_streaming && stream_end_done(p->far_stream)));
}

static gboolean settled(gpointer data)
{
    SessionState st = session_state(data);
    return st == SESSION_STATE_READY || st == SESSION_STATE_FAILED;
}

static gboolean make_streams(RunCtx *c, PathRun *p, PathRecord *rec)
{
    const Profile *prof = c->profile;
    StreamShape shape = {prof->stream.ptime_ms, prof->stream.payload_bytes,
                         c->stream_duration_s * 1000};
    guint8 k_up[STREAM_KEY_LEN], k_down[STREAM_KEY_LEN];
    g_autoptr(GError) error = NULL;
    if (!stream_random_key(k_up) || !stream_random_key(k_down) ||
        !(p->probe_stream = stream_end_new(p->probe, k_up, k_down, &shape, &error)) ||
        !(p->far_stream = stream_end_new(p->far, k_down, k_up, &shape, &error))) {
        rec->verdict = VERDICT_ERROR;
        rec->reason =
            g_strdup_printf("SRTP set-up failed: %s", error ? error->message : "no random key");
        return FALSE;
    }
    return TRUE;
}

/* From the first selected pair: the streams, then what is still in flight,
 * then the figures. The tunnel's counters cover exactly that window. */
static void measure(RunCtx *c, PathRun *p, PathRecord *rec)
{
    const Profile *prof = c->profile;
    loop_run_until(p->ctx, streams_sent, p, c->stream_duration_s * 1000 + DRAIN_MAX_MS);
    stream_end_join(p->probe_stream);
    stream_end_join(p->far_stream);
    StreamEnd *ends[] = {p->probe_stream, p->far_stream};
    loop_run_until(p->ctx, paths_streams_drained, ends, paths_drain_ms(ends));
    guint64 rx1, tx1;
    sample(p, &rx1, &tx1);
    if (p->tunnel) {
        rec->have_counters = TRUE;
        rec->tunnel_interface = g_strdup(p->tunnel->name);
        rec->tunnel_tx = tx1 - p->tx0;
        rec->tunnel_rx = rx1 - p->rx0;
    }
    TlsRelay *fwd[] = {p->tcp_fwd, p->tls_fwd};
    paths_note_egress(c, p->egress, fwd, p->fwd_media0, stream_end_sent(p->probe_stream), rec);
    if (p->tunnel && p->own_connection) {
        /* The connection's segments are the tunnel's only if it leaves there. */
        rec->counters_per_connection = TRUE;
        paths_describe_pair(c, p->probe, p->tcp_fwd, p->tls_fwd, rec);
        if (g_strcmp0(rec->local.egress_interface, p->tunnel->name) != 0)
            rec->tunnel_tx = rec->tunnel_rx = 0;
    }
    double ptime = prof->stream.ptime_ms;
    metrics_stream_summarize(stream_end_metrics(p->far_stream), stream_end_sent(p->probe_stream),
                             ptime, prof->stream.codec, &rec->out);
    metrics_stream_summarize(stream_end_metrics(p->probe_stream), stream_end_sent(p->far_stream),
                             ptime, prof->stream.codec, &rec->in);
    paths_combine_metrics(prof, rec);
}

/* The pair to report, and why it is final: the one at READY or at the
 * stream's end, whichever came later, or the first one when nothing could
 * outrank it. Waits for READY after the stream only while ICE may still move
 * the pair. */
static void settle_pair(RunCtx *c, PathRun *p, PathRecord *rec)
{
    paths_describe_pair(c, p->probe, p->tcp_fwd, p->tls_fwd, rec);
    if (!p->unbeatable && !settled(p->probe)) {
        gint64 left = p->t0 / 1000 + READY_TIMEOUT_MS - g_get_monotonic_time() / 1000;
        if (loop_run_until(p->ctx, settled, p->probe, (guint)MAX(left, 0)))
            paths_describe_pair(c, p->probe, p->tcp_fwd, p->tls_fwd, rec);
        p->unbeatable = session_pair_unbeatable(p->probe, TRUE);
    }
    gboolean ready = session_state(p->probe) == SESSION_STATE_READY;
    rec->pair_final = g_strdup(ready ? "ready" : p->unbeatable ? "unbeatable" : "unsettled");
    if (!ready && !p->unbeatable) {
        g_autofree char *old = rec->reason;
        rec->reason = g_strdup_printf("%s; ICE was still checking %u s after the start", old,
                                      READY_TIMEOUT_MS / 1000);
    }
}

guint paths_tunnel_wait_ms(const RunCtx *c)
{
    return CLAMP(c->stream_duration_s * 1000 + 1500, 3000, READY_TIMEOUT_MS);
}

/* Runs one path into rec; TRUE when the policy should judge it (the caller
 * does, on the main thread: a path may run on a thread of its own). */
static gboolean run_path(RunCtx *c, const PathSpec *spec, PathRecord *rec)
{
    const Profile *prof = c->profile;
    gboolean regular = spec->regular < 0 ? prof->ice.regular_nomination : spec->regular;
    rec->nomination = g_strdup(regular ? "regular" : "aggressive");
    rec->controlling = !prof->ice.probe_controlled;
    if ((spec->udp && !spec->tcp && !c->turn_ok[TURNCHECK_UDP]) ||
        (spec->tcp && !spec->udp && !c->turn_ok[TURNCHECK_TCP]) ||
        (spec->tls && !spec->udp && !c->turn_ok[TURNCHECK_TLS])) {
        rec->verdict = VERDICT_SKIP;
        rec->reason = g_strdup("no allocation on this transport (see the turn checks)");
        return FALSE;
    }
    g_autoptr(GInetAddress) tun = paths_tunnel_address(c);
    if (spec->kind == POLICY_PATH_TUNNEL_ONLY && !tun) {
        rec->verdict = VERDICT_SKIP;
        rec->reason = g_strdup("no tunnel interface with an IPv4 address");
        return FALSE;
    }
    g_autoptr(GInetAddress) phys = paths_physical_address(c);
    if (!phys || !(c->turn_ok[0] || c->turn_ok[1] || c->turn_ok[2])) {
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup(phys ? "the far end cannot get a relay: no TURN transport works"
                                    : "no physical interface with an IPv4 address for the far end");
        return spec->kind == POLICY_PATH_NATURAL;
    }

    PathRun p = {.c = c, .rec = rec, .kind = spec->kind};
    p.ctx = g_main_context_new();
    p.holding = TRUE;
    p.to_far = g_ptr_array_new_with_free_func(g_free);
    p.to_probe = g_ptr_array_new_with_free_func(g_free);
    p.tunnel = netif_inventory_first_tunnel(c->inv);
    SessionConfig probe_cfg = {.name = "probe",
                               .controlling = !prof->ice.probe_controlled,
                               .regular_nomination = regular,
                               .ice_tcp = TRUE,
                               .relay_only = spec->kind == POLICY_PATH_FORCED_RELAY,
                               .turn_username = c->cred.username,
                               .turn_password = c->cred.password,
                               .on_candidate = probe_candidate,
                               .on_candidate_data = &p,
                               .on_pair = on_pair,
                               .on_pair_data = &p};
    if (spec->kind == POLICY_PATH_TUNNEL_ONLY) {
        probe_cfg.only_address = tun;
        probe_cfg.stun_ip = c->edge_ip; /* the address the edge sees the tunnel's socket at */
        probe_cfg.stun_port = prof->edge.udp_port;
    }
    if (spec->udp)
        paths_add_turn(&probe_cfg, c->edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
    if (spec->tcp && paths_start_forwarder(c, prof->edge.tcp_port, FALSE, &p.tcp_fwd, rec))
        paths_add_turn(&probe_cfg, "127.0.0.1", tlsrelay_port(p.tcp_fwd), NICE_RELAY_TYPE_TURN_TCP);
    if (spec->tls && paths_start_forwarder(c, prof->edge.tls_port, TRUE, &p.tls_fwd, rec))
        paths_add_turn(&probe_cfg, "127.0.0.1", tlsrelay_port(p.tls_fwd), NICE_RELAY_TYPE_TURN_TCP);

    if (spec->kind == POLICY_PATH_FORCED_RELAY && !spec->udp)
        p.own_connection = spec->tcp ? p.tcp_fwd : p.tls_fwd;

    /* The far end: a relay allocation made from a physical interface, over UDP
     * when UDP works, else over TCP. */
    SessionConfig far_cfg = {.name = "far end",
                             .controlling = prof->ice.probe_controlled,
                             .regular_nomination = regular,
                             .relay_only = TRUE,
                             .only_address = phys,
                             .turn_username = c->cred.username,
                             .turn_password = c->cred.password,
                             .on_candidate = far_candidate,
                             .on_candidate_data = &p};
    if (c->turn_ok[TURNCHECK_UDP])
        paths_add_turn(&far_cfg, c->edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
    else {
        gboolean tls = !c->turn_ok[TURNCHECK_TCP];
        if (paths_start_forwarder(c, tls ? prof->edge.tls_port : prof->edge.tcp_port, tls,
                                  &p.far_fwd, rec))
            paths_add_turn(&far_cfg, "127.0.0.1", tlsrelay_port(p.far_fwd),
                           NICE_RELAY_TYPE_TURN_TCP);
    }

    g_autoptr(GError) error = NULL;
    p.t0 = g_get_monotonic_time();
    if (rec->verdict == VERDICT_ERROR || !(p.probe = session_new(p.ctx, &probe_cfg, &error)) ||
        !(p.far = session_new(p.ctx, &far_cfg, &error)) || !trade_credentials(&p, &error) ||
        !make_streams(c, &p, rec) || !session_gather(p.probe, &error) ||
        !session_gather(p.far, &error)) {
        rec->verdict = VERDICT_ERROR;
        if (!rec->reason)
            rec->reason = g_strdup(error ? error->message : "set-up failed");
        path_run_clear(&p);
        return FALSE;
    }
    /* Both agents have their host candidates now: what they found so far
     * passes, and from here on each candidate as it is found. */
    release_held(&p);
    loop_run_until(p.ctx, start_media, &p,
                   spec->kind == POLICY_PATH_TUNNEL_ONLY ? paths_tunnel_wait_ms(c)
                                                          : READY_TIMEOUT_MS);

    guint host, srflx, relay;
    gboolean judge = TRUE;
    session_count_candidates(p.probe, &host, &srflx, &relay);
    if (p.probe_started && spec->kind == POLICY_PATH_TUNNEL_ONLY) {
        rec->connected_ms = since_start_ms(&p, session_first_pair_time(p.probe));
        paths_describe_pair(c, p.probe, NULL, NULL, rec);
        note_far_view(&p, rec);
    } else if (p.probe_started) {
        rec->connected_ms = since_start_ms(&p, session_first_pair_time(p.probe));
        measure(c, &p, rec);
        settle_pair(c, &p, rec);
        rec->ready_ms = since_start_ms(&p, session_ready_time(p.probe));
        rec->connect_ms = rec->ready_ms >= 0 ? rec->ready_ms : rec->connected_ms;
        guint changes = session_pair_changes(p.probe);
        if (changes > 1) {
            g_autofree char *old = rec->reason;
            rec->reason = g_strdup_printf("%s; the pair changed %u times", old, changes - 1);
        }
    } else if (far_has_no_relay(&p)) {
        judge = FALSE; /* nothing to judge the probe by */
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup("the far end got no relay allocation");
    } else if (p.exchange_error) {
        judge = spec->kind == POLICY_PATH_NATURAL;
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup_printf("candidate exchange failed: %s (the probe gathered %u host, "
                                      "%u reflexive, %u relay)",
                                      p.exchange_error, host, srflx, relay);
    } else {
        rec->reason =
            g_strdup_printf("ICE found no working pair in %.1f s (the probe offered %u "
                            "host, %u reflexive, %u relay candidates)",
                            since_start_ms(&p, g_get_monotonic_time()) / 1000, host, srflx, relay);
    }
    gint64 gathered = MAX(session_gathered_time(p.probe), session_gathered_time(p.far));
    rec->gather_ms = session_gathered_time(p.probe) && session_gathered_time(p.far)
                         ? since_start_ms(&p, gathered)
                         : since_start_ms(&p, g_get_monotonic_time());
    path_run_clear(&p);
    return judge && rec->verdict != VERDICT_ERROR;
}

/* A path on a thread of its own, with its own context (tunnel-only). */
typedef struct {
    RunCtx *c;
    const PathSpec *spec;
    PathRecord *rec;
    gboolean judge;
} PathJob;

static void run_job(PathJob *j)
{
    gint64 t0 = g_get_monotonic_time();
    j->judge = run_path(j->c, j->spec, j->rec);
    j->rec->total_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
}

static gpointer job_thread(gpointer data)
{
    run_job(data);
    return NULL;
}

gboolean run_paths_valid(const char *const *names, GError **error)
{
    for (; names && *names; names++) {
        gboolean known = FALSE;
        for (gsize i = 0; i < G_N_ELEMENTS(path_specs); i++)
            known |= strcmp(*names, path_specs[i].name) == 0;
        if (!known) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'%s' is not a path (natural, relay-udp, relay-tcp, relay-tls, "
                        "tunnel-only)",
                        *names);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean wanted(const RunCtx *c, const char *name)
{
    return !c->only_paths || g_strv_contains(c->only_paths, name);
}

gboolean paths_attribution_exact(const PathRecord *rec, PolicyPathKind kind)
{
    /* Paths beside it can only add to the tunnel's counters: counters that
     * blame nothing would blame nothing alone either. */
    guint64 threshold = policy_tunnel_threshold(rec);
    return kind == POLICY_PATH_TUNNEL_ONLY || !rec->have_counters || !rec->have_pair ||
           rec->counters_per_connection || policy_egress_complete(rec) ||
           (rec->tunnel_tx < threshold && rec->tunnel_rx < threshold);
}

PathRecord *paths_replace_record(RunCtx *c, PathRecord *old, char **why)
{
    *why = g_strdup_printf(
        "run again alone: beside the other paths the kernel named the device of %" G_GUINT64_FORMAT
        " of its %" G_GUINT64_FORMAT " media packets, too few to tell its own from theirs",
        old->egress_media_seen, old->egress_media_sent);
    PathRecord *fresh = path_record_new(old->name);
    for (guint i = 0; i < c->result->paths->len; i++)
        if (c->result->paths->pdata[i] == old)
            c->result->paths->pdata[i] = fresh;
    path_record_free(old);
    return fresh;
}

void paths_note_rerun(PathRecord *rec, const char *why)
{
    g_autofree char *old = rec->reason;
    rec->reason = g_strdup_printf("%s; %s", old ? old : "", why);
}

/* Runs job again alone, into a fresh record in the same place. */
static void rerun_alone(RunCtx *c, PathJob *j)
{
    g_autofree char *why = NULL;
    j->rec = paths_replace_record(c, j->rec, &why);
    run_job(j);
    paths_note_rerun(j->rec, why);
}

/* Attribution (docs/libnice.md §27, §33). With the kernel's egress facts every
 * path runs at once, each judged by its own sockets and connections; a path
 * whose evidence fell back to the interface's counters runs again alone.
 * Without them natural and relay-udp run alone, so the tunnel's counters over
 * their streams are theirs, and tunnel-only (whose checks cross the tunnel,
 * and which sends no media) beside relay-tcp and relay-tls, whose counts come
 * from their own TCP connections to the edge (TCP_INFO). */
void paths_run_all(RunCtx *c)
{
    const PathSpec *specs[G_N_ELEMENTS(path_specs) + 1];
    guint n = 0;
    for (gsize i = 0; i < G_N_ELEMENTS(path_specs); i++) {
        if (!wanted(c, path_specs[i].name))
            continue;
        specs[n++] = &path_specs[i];
        if (i == 0 && c->profile->ice.compare_nomination)
            specs[n++] = &natural_with[!c->profile->ice.regular_nomination];
    }
    PathJob jobs[G_N_ELEMENTS(specs)];
    for (guint i = 0; i < n; i++)
        jobs[i] = (PathJob){c, specs[i], run_result_add_path(c->result, specs[i]->name), FALSE};
    gboolean tunnel = netif_inventory_first_tunnel(c->inv) != NULL;
    if (!tunnel || egress_supported()) {
        /* Every path at once: each one's evidence is its own sockets' and its
         * own connection's (docs/libnice.md §33), or there is no tunnel to
         * attribute anything to. */
        GThread *threads[G_N_ELEMENTS(specs)];
        for (guint i = 0; i < n; i++)
            threads[i] = g_thread_new(specs[i]->name, job_thread, &jobs[i]);
        for (guint i = 0; i < n; i++)
            g_thread_join(threads[i]);
        for (guint i = 0; tunnel && i < n; i++)
            if (jobs[i].judge && !paths_attribution_exact(jobs[i].rec, specs[i]->kind))
                rerun_alone(c, &jobs[i]);
    } else {
        /* Without the kernel's egress facts the interface's counters are the
         * evidence: natural and relay-udp run alone, tunnel-only beside the
         * paths counted on their own TCP connections. */
        GThread *side = NULL;
        for (guint i = 0; i < n; i++) {
            if (specs[i]->kind == POLICY_PATH_TUNNEL_ONLY)
                continue;
            if (specs[i]->tcp && !specs[i]->udp && !side) {
                for (guint k = 0; k < n; k++)
                    if (specs[k]->kind == POLICY_PATH_TUNNEL_ONLY)
                        side = g_thread_new("tunnel-only", job_thread, &jobs[k]);
            }
            run_job(&jobs[i]);
        }
        if (side)
            g_thread_join(side);
    }
    for (guint i = 0; i < n; i++)
        if (jobs[i].judge)
            policy_judge_path(c->result, jobs[i].rec, specs[i]->kind, c->profile);
}
