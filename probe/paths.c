/* The relay loop. Two ICE agents in this process: the probe, which offers every
 * candidate as a call client does (host on every interface, reflexive, relays
 * over UDP, TCP and TLS), and a far end that offers only a relay allocation,
 * the way an external user appears through the edge. The far end gathers on a
 * physical interface only, so it stands outside whatever the VPN does.
 *
 * TURN over TCP and TLS goes through loopback forwarders (tlsrelay.c) so that the
 * true local end of each TCP connection is known: the relay candidate of such a
 * pair egresses where that connection does. UDP sockets are pinned to their
 * interface by libnice, so a UDP candidate egresses where its base address lives.
 * The tunnel's own counters, sampled around the stream, are the last word. */
#include <arpa/inet.h>
#include <string.h>

#include "iceprobe/policy.h"
#include "session.h"
#include "stream.h"
#include "run-private.h"

#define GATHER_TIMEOUT_MS 8000
#define READY_TIMEOUT_MS  12000
#define DRAIN_MS          300

typedef struct {
    const char *name;
    PolicyPathKind kind;
    gboolean udp, tcp, tls; /* TURN transports the probe agent is given */
} PathSpec;

static const PathSpec path_specs[] = {
    {"natural", POLICY_PATH_NATURAL, TRUE, TRUE, TRUE},
    {"relay-udp", POLICY_PATH_FORCED_RELAY, TRUE, FALSE, FALSE},
    {"relay-tcp", POLICY_PATH_FORCED_RELAY, FALSE, TRUE, FALSE},
    {"relay-tls", POLICY_PATH_FORCED_RELAY, FALSE, FALSE, TRUE},
};

/* Everything one path owns, freed together. */
typedef struct {
    GMainContext *ctx;
    Session *probe, *far;
    TlsRelay *tcp_fwd, *tls_fwd, *far_fwd;
    StreamEnd *probe_stream, *far_stream;
} PathRun;

static void path_run_clear(PathRun *p)
{
    stream_end_free(p->probe_stream);
    stream_end_free(p->far_stream);
    session_free(p->probe);
    session_free(p->far);
    tlsrelay_stop(p->tcp_fwd);
    tlsrelay_stop(p->tls_fwd);
    tlsrelay_stop(p->far_fwd);
    if (p->ctx)
        g_main_context_unref(p->ctx);
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
        /* libnice pins UDP sockets to their interface: that is the egress. TCP
         * host candidates follow the routing table. */
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

void paths_sample_counters(const NetifInterface *tunnel, guint64 *rx, guint64 *tx)
{
    *rx = *tx = 0;
    if (tunnel)
        netif_counters(tunnel->index, rx, tx, NULL);
}

static void measure(RunCtx *c, PathRun *p, PathRecord *rec)
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
        g_free(rec->reason);
        rec->reason =
            g_strdup_printf("SRTP set-up failed: %s", error ? error->message : "no random key");
        return;
    }
    const NetifInterface *tunnel = netif_inventory_first_tunnel(c->inv);
    guint64 rx0, tx0, rx1, tx1;
    paths_sample_counters(tunnel, &rx0, &tx0);
    stream_end_start(p->probe_stream);
    stream_end_start(p->far_stream);
    session_run_for(p->ctx, shape.duration_ms);
    stream_end_join(p->probe_stream);
    stream_end_join(p->far_stream);
    session_run_for(p->ctx, DRAIN_MS);
    paths_sample_counters(tunnel, &rx1, &tx1);
    if (tunnel) {
        rec->have_counters = TRUE;
        rec->tunnel_interface = g_strdup(tunnel->name);
        rec->tunnel_tx = tx1 - tx0;
        rec->tunnel_rx = rx1 - rx0;
    }
    double ptime = prof->stream.ptime_ms;
    metrics_stream_summarize(stream_end_metrics(p->far_stream), stream_end_sent(p->probe_stream),
                             ptime, &rec->out);
    metrics_stream_summarize(stream_end_metrics(p->probe_stream), stream_end_sent(p->far_stream),
                             ptime, &rec->in);
    paths_combine_metrics(prof, rec);
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
    m->mos = metrics_mos(m->rtt_median_ms, m->jitter_ms, ptime, m->loss_ratio);
    rec->have_metrics = TRUE;
}

static void run_path(RunCtx *c, const PathSpec *spec)
{
    const Profile *prof = c->profile;
    PathRecord *rec = run_result_add_path(c->result, spec->name);
    if ((spec->udp && !spec->tcp && !c->turn_ok[TURNCHECK_UDP]) ||
        (spec->tcp && !spec->udp && !c->turn_ok[TURNCHECK_TCP]) ||
        (spec->tls && !spec->udp && !c->turn_ok[TURNCHECK_TLS])) {
        rec->verdict = VERDICT_SKIP;
        rec->reason = g_strdup("no allocation on this transport (see the turn checks)");
        return;
    }
    g_autoptr(GInetAddress) phys = paths_physical_address(c);
    if (!phys || !(c->turn_ok[0] || c->turn_ok[1] || c->turn_ok[2])) {
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup(phys ? "the far end cannot get a relay: no TURN transport works"
                                    : "no physical interface with an IPv4 address for the far end");
        if (spec->kind == POLICY_PATH_NATURAL)
            policy_judge_path(c->result, rec, spec->kind, prof);
        return;
    }

    PathRun p = {0};
    p.ctx = g_main_context_new();
    SessionConfig probe_cfg = {.name = "probe",
                               .controlling = TRUE,
                               .ice_tcp = TRUE,
                               .relay_only = spec->kind == POLICY_PATH_FORCED_RELAY,
                               .turn_username = c->cred.username,
                               .turn_password = c->cred.password};
    if (spec->udp)
        paths_add_turn(&probe_cfg, c->edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
    if (spec->tcp && paths_start_forwarder(c, prof->edge.tcp_port, FALSE, &p.tcp_fwd, rec))
        paths_add_turn(&probe_cfg, "127.0.0.1", tlsrelay_port(p.tcp_fwd), NICE_RELAY_TYPE_TURN_TCP);
    if (spec->tls && paths_start_forwarder(c, prof->edge.tls_port, TRUE, &p.tls_fwd, rec))
        paths_add_turn(&probe_cfg, "127.0.0.1", tlsrelay_port(p.tls_fwd), NICE_RELAY_TYPE_TURN_TCP);

    /* The far end: a relay allocation made from a physical interface, over UDP
     * when UDP works, else over TCP. */
    SessionConfig far_cfg = {.name = "far end",
                             .controlling = FALSE,
                             .relay_only = TRUE,
                             .only_address = phys,
                             .turn_username = c->cred.username,
                             .turn_password = c->cred.password};
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
    gint64 t0 = g_get_monotonic_time();
    if (rec->verdict == VERDICT_ERROR || !(p.probe = session_new(p.ctx, &probe_cfg, &error)) ||
        !(p.far = session_new(p.ctx, &far_cfg, &error)) || !session_gather(p.probe, &error) ||
        !session_gather(p.far, &error)) {
        rec->verdict = VERDICT_ERROR;
        if (!rec->reason)
            rec->reason = g_strdup(error ? error->message : "set-up failed");
        path_run_clear(&p);
        return;
    }
    Session *both[] = {p.probe, p.far};
    session_wait_all(p.ctx, both, 2, SESSION_STATE_GATHERED, GATHER_TIMEOUT_MS);
    rec->gather_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    guint host, srflx, relay, far_host, far_srflx, far_relay;
    session_count_candidates(p.probe, &host, &srflx, &relay);
    session_count_candidates(p.far, &far_host, &far_srflx, &far_relay);
    if (far_relay == 0) {
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup("the far end got no relay allocation");
        path_run_clear(&p);
        return;
    }
    g_autofree char *probe_sdp = session_local_sdp(p.probe, spec->kind != POLICY_PATH_NATURAL);
    g_autofree char *far_sdp = session_local_sdp(p.far, TRUE);
    if (!session_set_remote_sdp(p.far, probe_sdp, &error) ||
        !session_set_remote_sdp(p.probe, far_sdp, &error)) {
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup_printf("candidate exchange failed: %s (the probe gathered %u host, "
                                      "%u reflexive, %u relay)",
                                      error->message, host, srflx, relay);
        if (spec->kind == POLICY_PATH_NATURAL)
            policy_judge_path(c->result, rec, spec->kind, prof);
        path_run_clear(&p);
        return;
    }
    session_wait_all(p.ctx, both, 2, SESSION_STATE_READY, READY_TIMEOUT_MS);
    if (session_state(p.probe) == SESSION_STATE_READY) {
        rec->connect_ms = (double)(session_ready_time(p.probe) - t0) / 1000.0;
        paths_describe_pair(c, p.probe, p.tcp_fwd, p.tls_fwd, rec);
        measure(c, &p, rec);
        paths_describe_pair(c, p.probe, p.tcp_fwd, p.tls_fwd,
                            rec); /* the pair at the end is the one media used last */
        guint changes = session_pair_changes(p.probe);
        if (changes > 1) {
            g_autofree char *old = rec->reason;
            rec->reason = g_strdup_printf("%s; the pair changed %u times", old, changes - 1);
        }
    } else {
        rec->reason = g_strdup_printf("ICE found no working pair in %u s (the probe offered %u "
                                      "host, %u reflexive, %u relay candidates)",
                                      READY_TIMEOUT_MS / 1000, host, srflx, relay);
    }
    if (rec->verdict != VERDICT_ERROR)
        policy_judge_path(c->result, rec, spec->kind, prof);
    path_run_clear(&p);
}

void paths_run_all(RunCtx *c)
{
    for (gsize i = 0; i < G_N_ELEMENTS(path_specs); i++) {
        gint64 t0 = g_get_monotonic_time();
        run_path(c, &path_specs[i]);
        PathRecord *rec = g_ptr_array_index(c->result->paths, c->result->paths->len - 1);
        rec->total_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    }
}
