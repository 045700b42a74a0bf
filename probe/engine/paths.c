/* The path plumbing both runs share (the relay loop, relay_loop.c; the paired
 * run, probe/agent/paired.c): where a selected pair's local side lives and
 * where its packets leave, the loopback forwarders for TURN over TCP and TLS,
 * the egress watch and the tunnel's counters, draining a stream, both
 * directions' metrics, the pair's changes over time, and which paths' evidence
 * is their own when paths run at once (docs/libnice.md §32-34). */
#include <string.h>

#include "egress.h"
#include "iceprobe/policy.h"
#include "session.h"
#include "stream.h"
#include "run-private.h"

/* After the last packet is sent, the stream waits for what is still in flight:
 * until everything sent has arrived, or twice the largest round trip seen
 * (plus a margin) has passed, at most PATHS_DRAIN_MAX_MS. The margin covers a
 * stall of the machine at the stream's end: with 20 ms, the sanitizer build on
 * a loaded 2-core VM counted lost one packet the network had delivered (the
 * wait only runs its course when packets are missing, lost ones included). */
#define DRAIN_MARGIN_MS 200

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
    g_autoptr(GPtrArray) all =
        netif_inventory_addresses(c->inv, NETIF_CLASS_PHYSICAL, G_SOCKET_FAMILY_IPV4);
    return all->len ? g_object_ref(all->pdata[0]) : NULL;
}

GPtrArray *paths_tunnel_addresses(const RunCtx *c)
{
    if (!c->inv)
        return g_ptr_array_new_with_free_func(g_object_unref);
    return netif_inventory_addresses(c->inv, NETIF_CLASS_TUNNEL, G_SOCKET_FAMILY_INVALID);
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

/* The local end of a forwarder's first connection to the edge, or NULL. */
static GInetAddress *forwarder_local(TlsRelay *fwd, char **end_text)
{
    g_autoptr(GPtrArray) locals = tlsrelay_local_addresses(fwd);
    if (!locals->len)
        return NULL;
    GSocketAddress *end = locals->pdata[0];
    if (end_text)
        *end_text = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(end));
    return g_object_ref(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(end)));
}

/* A local candidate as the report names it: type, address, base, the
 * transport its packets leave this machine by, the interface that owns it;
 * for a relay candidate the transport of its TURN server (turn: that server's
 * address, or NULL). A relay allocated over TCP or TLS went through one of
 * the forwarders, whose connection is the real one: returned. */
static TlsRelay *describe_local(const RunCtx *c, const NiceCandidate *l, const NiceAddress *turn,
                                TlsRelay *tcp_fwd, TlsRelay *tls_fwd, CandidateInfo *li)
{
    li->type = g_strdup(paths_type_name(l->type));
    li->address = nice_addr_string(&l->addr);
    li->base_address = nice_addr_string(&l->base_addr);
    const char *protocol = "udp";
    gboolean relay = l->type == NICE_CANDIDATE_TYPE_RELAYED && turn && nice_address_is_valid(turn);
    TlsRelay *fwd = relay ? forwarder_of(tcp_fwd, tls_fwd, turn, &protocol) : NULL;
    if (relay)
        li->relay_transport = g_strdup(protocol);
    if (fwd) {
        /* TURN over TCP/TLS: the real connection is the forwarder's. */
        li->transport = g_strdup("tcp");
        char *end = NULL;
        g_autoptr(GInetAddress) local = forwarder_local(fwd, &end);
        if (end) {
            g_free(li->base_address);
            li->base_address = end;
        }
        set_interface(c, local, &li->interface, &li->interface_class);
    } else {
        li->transport = g_strdup(l->transport != NICE_CANDIDATE_TRANSPORT_UDP ? "tcp" : "udp");
        g_autoptr(GInetAddress) base = nice_to_inet(&l->base_addr, NULL);
        set_interface(c, base, &li->interface, &li->interface_class);
    }
    return fwd;
}

void paths_describe_remote(const NiceCandidate *r, CandidateInfo *ri)
{
    ri->type = g_strdup(paths_type_name(r->type));
    ri->transport = g_strdup(r->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp" : "tcp");
    ri->address = nice_addr_string(&r->addr);
}

void paths_describe_candidate(const RunCtx *c, Session *s, const NiceCandidate *l,
                              TlsRelay *tcp_fwd, TlsRelay *tls_fwd, CandidateInfo *li)
{
    NiceAddress turn;
    NiceRelayType type;
    int i = session_relay_server(s, l);
    gboolean known = i >= 0 && session_turn_server(s, (guint)i, &turn, &type);
    describe_local(c, l, known ? &turn : NULL, tcp_fwd, tls_fwd, li);
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
    TlsRelay *fwd = describe_local(c, l, &turn, tcp_fwd, tls_fwd, li);
    /* As ICE sees it: a UDP candidate leaves where its base address lives
     * (where the kernel really sent each packet is the egress watch's word,
     * docs/libnice.md §32). A forwarder's connection and TCP host candidates
     * follow the routing table. */
    li->egress_interface = g_strdup(li->interface);
    li->egress_class = g_strdup(li->interface_class);
    if (fwd) {
        g_autoptr(GInetAddress) local = forwarder_local(fwd, NULL);
        g_autoptr(GInetAddress) edge = g_inet_address_new_from_string(c->edge_ip);
        set_egress_by_route(c, edge, local, li);
    } else if (l->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
        g_autoptr(GInetAddress) base = nice_to_inet(&l->base_addr, NULL);
        g_autoptr(GInetAddress) remote = nice_to_inet(&r->addr, NULL);
        set_egress_by_route(c, remote, base, li);
    }
    /* Media over TCP (TURN-TCP, ICE-TCP) carries no marking of its own to the
     * relay: what a UDP peer gets from the relay then is the relay's. */
    if (strcmp(li->transport, "udp") != 0) {
        rec->dscp = 0;
        rec->qos_out.have = rec->qos_in.have = FALSE;
    }
    paths_describe_remote(r, &rec->remote);
    g_free(rec->reason);
    rec->reason = g_strdup_printf("%s %s/%s%s%s via %s (%s)", li->type, li->address, li->transport,
                                  fwd ? " over " : "", fwd ? li->relay_transport : "",
                                  li->egress_interface, li->egress_class);
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

gboolean paths_add_turn_forwarded(RunCtx *c, SessionConfig *cfg, gboolean tls, TlsRelay **out,
                                  PathRecord *rec)
{
    const Profile *p = c->profile;
    if (!paths_start_forwarder(c, tls ? p->edge.tls_port : p->edge.tcp_port, tls, out, rec))
        return FALSE;
    gboolean ms = p->edge.ms_turn;
    paths_add_turn(cfg, "127.0.0.1", tlsrelay_port(*out),
                   ms && tls ? NICE_RELAY_TYPE_TURN_TLS : NICE_RELAY_TYPE_TURN_TCP);
    if (ms)
        cfg->ice_tcp = TRUE;
    return TRUE;
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

QosWatch *paths_qos_watch(const RunCtx *c, Session *s)
{
    if (!c->profile->stream.dscp)
        return NULL;
    g_autoptr(GPtrArray) bases = session_udp_bases(s);
    g_autoptr(GError) error = NULL;
    QosWatch *w = qos_watch_new(bases, c->profile->stream.dscp, &error);
    if (!w)
        g_message("the markings of this path's media are not seen: %s", error->message);
    return w;
}

void paths_note_qos(const RunCtx *c, QosWatch *w, PathRecord *rec, QosSample *dir)
{
    if (!w || !qos_watch_sockets(w))
        return;
    rec->dscp = c->profile->stream.dscp;
    QosCounts q;
    qos_watch_counts(w, &q);
    *dir = (QosSample){TRUE, q.seen, q.marked, q.values};
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
        set_egress_by_route(c, edge, g_inet_socket_address_get_address(locals->pdata[i]), &info);
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
    /* Media over TURN-TCP went by a forwarder's connection, not a UDP socket. */
    guint64 by_fwd[2], fwd_total = 0;
    for (int i = 0; i < 2; i++) {
        by_fwd[i] = fwd[i] ? tlsrelay_media_out(fwd[i]) - fwd_media0[i] : 0;
        fwd_total += by_fwd[i];
    }
    /* The rest went by the UDP sockets: wait (briefly) for the watcher to
     * have read the kernel's word on each of them. */
    EgressCounts n;
    egress_watch_counts_after(w, media_sent > fwd_total ? media_sent - fwd_total : 0,
                              PATHS_EGRESS_SETTLE_MS, &n);
    guint64 seen = n.media_seen, tunnel = n.media_tunnel;
    for (int i = 0; i < 2; i++) {
        seen += by_fwd[i];
        if (by_fwd[i] && forwarder_via_tunnel(c, fwd[i]))
            tunnel += by_fwd[i];
    }
    rec->have_egress = TRUE;
    rec->egress_media_sent = media_sent;
    rec->egress_media_seen = MIN(seen, media_sent);
    rec->egress_media_tunnel = MIN(tunnel, rec->egress_media_seen);
    rec->egress_other_tunnel = n.other_tunnel;
}

gboolean paths_sample_counters(const NetifInterface *tunnel, guint64 *rx, guint64 *tx)
{
    *rx = *tx = 0;
    return !tunnel || netif_counters(tunnel->index, rx, tx, NULL);
}

void paths_note_tunnel_counters(const NetifInterface *tunnel, guint64 rx0, guint64 tx0, guint64 rx1,
                                guint64 tx1, PathRecord *rec)
{
    if (!tunnel)
        return;
    rec->have_counters = TRUE;
    rec->tunnel_interface = g_strdup(tunnel->name);
    rec->tunnel_tx = tx1 - tx0;
    rec->tunnel_rx = rx1 - rx0;
}

gboolean paths_session_settled(gpointer session)
{
    SessionState st = session_state(session);
    return st == SESSION_STATE_READY || st == SESSION_STATE_FAILED;
}

/* Appends "; what" to rec->reason. */
static void add_to_reason(PathRecord *rec, const char *what)
{
    g_autofree char *old = rec->reason;
    rec->reason = g_strdup_printf("%s; %s", old, what);
}

void paths_settle_pair(const RunCtx *c, const PathsSettle *how, gboolean *unbeatable,
                       PathRecord *rec)
{
    Session *s = how->s;
    if (!*unbeatable && !paths_session_settled(s)) {
        gint64 left_ms = (how->t0 - g_get_monotonic_time()) / 1000 + how->timeout_ms;
        if (how->wait_settled(how->path, (guint)MAX(left_ms, 0)))
            paths_describe_pair(c, s, how->tcp_fwd, how->tls_fwd, rec);
        *unbeatable =
            session_pair_unbeatable(s, !how->remote_complete || how->remote_complete(how->path));
    }
    gboolean ready = session_state(s) == SESSION_STATE_READY;
    rec->pair_final = g_strdup(ready ? "ready" : *unbeatable ? "unbeatable" : "unsettled");
    if (!ready && !*unbeatable && how->note_unsettled) {
        g_autofree char *note =
            g_strdup_printf("ICE was still checking %u s after the start", how->timeout_ms / 1000);
        add_to_reason(rec, note);
    }
    gint64 ready_at = session_ready_time(s);
    rec->ready_ms = ready_at ? (double)(ready_at - how->t0) / 1000.0 : -1;
    rec->connect_ms = rec->ready_ms >= 0 ? rec->ready_ms : rec->connected_ms;
    guint changes = session_pair_changes(s);
    if (changes > 1) {
        g_autofree char *note = g_strdup_printf("the pair changed %u times", changes - 1);
        add_to_reason(rec, note);
    }
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
    return (guint)MIN(PATHS_DRAIN_MAX_MS, 2 * rtt + DRAIN_MARGIN_MS);
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
        pc->local = candidate_info_label(&now->local);
        pc->local_interface = g_strdup(now->local.egress_interface);
        pc->remote = candidate_info_label(&now->remote);
    } else {
        pc->local = g_strdup("?");
        pc->remote = g_strdup("?");
    }
    const NetifInterface *tunnel = netif_inventory_first_tunnel(c->inv);
    if (tunnel)
        pc->have_counters = paths_sample_counters(tunnel, &pc->tunnel_rx, &pc->tunnel_tx);
    g_ptr_array_add(rec->pair_changes, pc);
}

guint paths_tunnel_wait_ms(const RunCtx *c)
{
    return CLAMP(c->stream_duration_s * 1000 + 1500, 3000, PATHS_READY_TIMEOUT_MS);
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
