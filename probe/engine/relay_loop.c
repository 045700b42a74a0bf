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
#include <string.h>

#include "egress.h"
#include "iceprobe/policy.h"
#include "loop.h"
#include "session.h"
#include "stream.h"
#include "run-private.h"
#include "run.h"

#define CLOSE_MAX_MS 1000

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
    Session *probe, *far_end; /* ("far" is a macro on Windows: windef.h) */
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
    gint64 probe_warmed_at, far_warmed_at; /* each end's last warm-up */
    GSource *warm_tick;                    /* wakes the loop to send them */
    const NetifInterface *tunnel;
    TlsRelay *own_connection; /* a forced TCP/TLS path: its traffic is this forwarder's */
    ConnCounter counted_by;   /* what counted own_connection */
    guint64 rx0, tx0;
    gboolean counters_unknown; /* a sample the system did not give: no figures */
    EgressWatch *egress; /* the device each of the probe's packets left by */
    QosWatch *qos_probe, *qos_far; /* the markings of what each end received */
    guint64 fwd_media0[2]; /* media the TCP and TLS forwarders had carried at the first pair */
} PathRun;

/* The tunnel's packets so far as this path counts them: the interface's
 * counters, or the count of the path's own TCP connection to the edge (its
 * segments, or bytes: p->counted_by). A count the system did not give marks the
 * path's figures unknown. */
static void sample(PathRun *p, guint64 *rx, guint64 *tx)
{
    gboolean known = p->own_connection
                         ? tlsrelay_counts(p->own_connection, tx, rx, &p->counted_by)
                         : paths_sample_counters(p->tunnel, rx, tx);
    p->counters_unknown |= !known;
}

static void drop_source(GSource *source)
{
    g_source_destroy(source);
    g_source_unref(source);
}

static void path_run_clear(PathRun *p)
{
    if (p->warm_tick) /* before the context runs again, in session_close_all */
        drop_source(p->warm_tick);
    Session *both[] = {p->probe, p->far_end};
    session_close_all(both, 2, CLOSE_MAX_MS);
    stream_end_free(p->probe_stream);
    stream_end_free(p->far_stream);
    session_free(p->probe);
    session_free(p->far_end);
    egress_watch_free(p->egress); /* after libnice's sockets are closed */
    qos_watch_free(p->qos_probe);
    qos_watch_free(p->qos_far);
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
        deliver(p, from_probe ? p->far_end : p->probe, line);
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
        deliver(p, p->far_end, p->to_far->pdata[i]);
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
    session_local_credentials(p->far_end, &fu, &fp);
    return session_set_remote_credentials(p->probe, fu, fp, error) &&
           session_set_remote_credentials(p->far_end, pu, pp, error);
}

/* ---- the selected pair over time ---- */

static double since_start_ms(const PathRun *p, gint64 t)
{
    return t ? (double)(t - p->t0) / 1000.0 : -1;
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
    if (!session_selected_pair(p->far_end, &l, &r, NULL))
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
    if (!session_gathering_done(p->far_end))
        return FALSE;
    session_count_candidates(p->far_end, &host, &srflx, &relay);
    return relay == 0;
}

/* An end's media starts once it has heard PATHS_WARMUPS_HEARD of the other
 * end's warm-ups and the other end as many of its own (stream_end_warm: the
 * receiving libnice then passes it on; the second gives a TURN channel's
 * binding one more interval to be answered), or PATHS_START_SKEW_MS after its
 * own pair if that never comes. Both ends merely having a pair was not
 * enough: on a loaded machine the receiving end dropped the first packet
 * (lab-fidelity: 7 lost against the instrument's 6, about once in seven runs
 * beside three busy loops). */
static gboolean may_stream(gboolean own, gint64 own_at, StreamEnd *self, StreamEnd *other)
{
    return own && ((stream_end_warmups_heard(self) >= PATHS_WARMUPS_HEARD &&
                    stream_end_warmups_heard(other) >= PATHS_WARMUPS_HEARD) ||
                   g_get_monotonic_time() - own_at > PATHS_START_SKEW_MS * 1000);
}

/* An end has a pair and no media yet. Not on tunnel-only, which is judged by
 * its pair and streams nothing. */
static gboolean warming(const PathRun *p)
{
    return p->kind != POLICY_PATH_TUNNEL_ONLY &&
           ((p->probe_started && !p->probe_streaming) || (p->far_started && !p->far_streaming));
}

/* Each end with a pair and no media yet sends a warm-up every
 * PATHS_WARMUP_EVERY_MS. */
static void warm_up(PathRun *p)
{
    if (p->kind == POLICY_PATH_TUNNEL_ONLY)
        return;
    gint64 now = g_get_monotonic_time();
    if (p->probe_started && !p->probe_streaming &&
        now - p->probe_warmed_at >= PATHS_WARMUP_EVERY_MS * 1000) {
        stream_end_warm(p->probe_stream);
        p->probe_warmed_at = now;
    }
    if (p->far_started && !p->far_streaming &&
        now - p->far_warmed_at >= PATHS_WARMUP_EVERY_MS * 1000) {
        stream_end_warm(p->far_stream);
        p->far_warmed_at = now;
    }
}

static gboolean warm_tick(gpointer data)
{
    warm_up(data); /* the loop's condition runs after it */
    return G_SOURCE_CONTINUE;
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
        if (p->kind != POLICY_PATH_TUNNEL_ONLY && !p->own_connection)
            p->qos_probe = paths_qos_watch(p->c, p->probe);
        p->unbeatable = session_pair_unbeatable(p->probe, session_gathering_done(p->far_end));
    }
    if (!p->far_started && session_has_pair(p->far_end)) {
        p->far_started = TRUE;
        p->far_pair_at = g_get_monotonic_time();
        if (p->kind != POLICY_PATH_TUNNEL_ONLY && !p->own_connection)
            p->qos_far = paths_qos_watch(p->c, p->far_end);
    }
    warm_up(p);
    if (!p->probe_streaming &&
        may_stream(p->probe_started, p->probe_pair_at, p->probe_stream, p->far_stream)) {
        p->probe_streaming = TRUE;
        stream_end_start(p->probe_stream);
    }
    if (!p->far_streaming &&
        may_stream(p->far_started, p->far_pair_at, p->far_stream, p->probe_stream)) {
        p->far_streaming = TRUE;
        stream_end_start(p->far_stream);
    }
    /* The tick wakes the loop to send warm-ups, and for the fallback. */
    if (warming(p) && !p->warm_tick) {
        p->warm_tick = g_timeout_source_new(PATHS_WARMUP_EVERY_MS);
        g_source_set_callback(p->warm_tick, warm_tick, p, NULL);
        g_source_attach(p->warm_tick, p->ctx);
    } else if (!warming(p) && p->warm_tick) {
        g_clear_pointer(&p->warm_tick, drop_source);
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

static gboolean make_streams(RunCtx *c, PathRun *p, PathRecord *rec)
{
    const Profile *prof = c->profile;
    StreamShape shape = {prof->stream.ptime_ms, prof->stream.payload_bytes,
                         c->stream_duration_s * 1000};
    guint8 k_up[STREAM_KEY_LEN], k_down[STREAM_KEY_LEN];
    g_autoptr(GError) error = NULL;
    if (!stream_random_key(k_up) || !stream_random_key(k_down) ||
        !(p->probe_stream = stream_end_new(p->probe, k_up, k_down, &shape, &error)) ||
        !(p->far_stream = stream_end_new(p->far_end, k_down, k_up, &shape, &error))) {
        rec->verdict = VERDICT_ERROR;
        rec->reason =
            g_strdup_printf("SRTP set-up failed: %s", error ? error->message : "no random key");
        return FALSE;
    }
    /* One process, one profile: the two ends' timestamps share a grid. */
    stream_end_place_first(p->probe_stream);
    stream_end_place_first(p->far_stream);
    return TRUE;
}

/* From the first selected pair: the streams, then what is still in flight,
 * then the figures. The tunnel's counters cover exactly that window. */
static void measure(RunCtx *c, PathRun *p, PathRecord *rec)
{
    const Profile *prof = c->profile;
    loop_run_until(p->ctx, streams_sent, p, c->stream_duration_s * 1000 + PATHS_DRAIN_MAX_MS);
    stream_end_join(p->probe_stream);
    stream_end_join(p->far_stream);
    StreamEnd *ends[] = {p->probe_stream, p->far_stream};
    loop_run_until(p->ctx, paths_streams_drained, ends, paths_drain_ms(ends));
    guint64 rx1, tx1;
    sample(p, &rx1, &tx1);
    if (!p->counters_unknown)
        paths_note_tunnel_counters(p->tunnel, p->rx0, p->tx0, rx1, tx1, rec);
    TlsRelay *fwd[] = {p->tcp_fwd, p->tls_fwd};
    paths_note_egress(c, p->egress, fwd, p->fwd_media0, stream_end_sent(p->probe_stream), rec);
    paths_note_qos(c, p->qos_far, rec, &rec->qos_out); /* as it arrived at the far end */
    paths_note_qos(c, p->qos_probe, rec, &rec->qos_in);
    if (p->tunnel && p->own_connection) {
        /* The connection's segments are the tunnel's only if it leaves there. */
        rec->counters_per_connection = TRUE;
        rec->counted_by = p->counted_by;
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

static gboolean wait_settled(gpointer path, guint ms)
{
    PathRun *p = path;
    return loop_run_until(p->ctx, paths_session_settled, p->probe, ms);
}

/* The pair as the stream left it, then as it settled (paths_settle_pair): both
 * ends here have all their candidates. */
static void settle_pair(RunCtx *c, PathRun *p, PathRecord *rec)
{
    paths_describe_pair(c, p->probe, p->tcp_fwd, p->tls_fwd, rec);
    PathsSettle how = {.s = p->probe,
                       .tcp_fwd = p->tcp_fwd,
                       .tls_fwd = p->tls_fwd,
                       .t0 = p->t0,
                       .timeout_ms = PATHS_READY_TIMEOUT_MS,
                       .note_unsettled = TRUE,
                       .wait_settled = wait_settled,
                       .path = p};
    paths_settle_pair(c, &how, &p->unbeatable, rec);
}


static gboolean has_ipv4(GPtrArray *addrs)
{
    for (guint i = 0; i < addrs->len; i++)
        if (g_inet_address_get_family(addrs->pdata[i]) == G_SOCKET_FAMILY_IPV4)
            return TRUE;
    return FALSE;
}

/* Why the path cannot run (rec says so), or FALSE. *judge: the policy still
 * judges the natural path then. */
static gboolean cannot_run(RunCtx *c, const PathSpec *spec, GPtrArray *tun, GInetAddress *phys,
                           PathRecord *rec, gboolean *judge)
{
    *judge = FALSE;
    if ((spec->udp && !spec->tcp && !c->turn_ok[TURNCHECK_UDP]) ||
        (spec->tcp && !spec->udp && !c->turn_ok[TURNCHECK_TCP]) ||
        (spec->tls && !spec->udp && !c->turn_ok[TURNCHECK_TLS])) {
        rec->verdict = VERDICT_SKIP;
        rec->reason = g_strdup("no allocation on this transport (see the turn checks)");
        return TRUE;
    }
    if (spec->kind == POLICY_PATH_TUNNEL_ONLY && !has_ipv4(tun)) {
        /* The far end's relay is the edge's, in IPv4: a tunnel's IPv6
         * candidates cannot pair with it (docs/libnice.md §46). */
        rec->verdict = VERDICT_SKIP;
        rec->reason = g_strdup("no tunnel interface with an IPv4 address (the edge's family)");
        return TRUE;
    }
    if (!phys || !(c->turn_ok[0] || c->turn_ok[1] || c->turn_ok[2])) {
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup(phys ? "the far end cannot get a relay: no TURN transport works"
                                    : "no physical interface with an IPv4 address for the far end");
        *judge = spec->kind == POLICY_PATH_NATURAL;
        return TRUE;
    }
    return FALSE;
}

/* The probe's session: every candidate (natural), relays only, or the tunnel's
 * own (tunnel-only), with the path's TURN transports (TCP and TLS through
 * forwarders of its own). */
static SessionConfig probe_config(RunCtx *c, const PathSpec *spec, gboolean regular,
                                  GPtrArray *tun, PathRun *p, PathRecord *rec)
{
    const Profile *prof = c->profile;
    SessionConfig cfg = {.name = "probe",
                         .controlling = !prof->ice.probe_controlled,
                         .ms_ice2 = prof->ice.ms_ice2,
                         .regular_nomination = regular,
                         .ice_tcp = TRUE,
                         .dscp = prof->stream.dscp,
                         .relay_only = spec->kind == POLICY_PATH_FORCED_RELAY,
                         .turn_username = c->cred.username,
                         .turn_password = c->cred.password,
                         .on_candidate = probe_candidate,
                         .on_candidate_data = p,
                         .on_pair = on_pair,
                         .on_pair_data = p,
                         .record_ice = TRUE};
    if (spec->kind == POLICY_PATH_TUNNEL_ONLY) {
        cfg.only_addresses = tun; /* IPv4 and IPv6: both can cross it */
        /* The address the edge sees the tunnel's socket at, for the far end's
         * TURN permission. MS-TURN has no permissions, an SfB client asks no
         * STUN server (the edge answers none), and MS-ICE2 drops reflexive
         * candidates anyway: the far end learns it from the checks (prflx). */
        if (!prof->ice.ms_ice2) {
            cfg.stun_ip = c->edge_ip;
            cfg.stun_port = prof->edge.udp_port;
        }
    }
    if (spec->udp)
        paths_add_turn(&cfg, c->edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
    if (spec->tcp)
        paths_add_turn_forwarded(c, &cfg, FALSE, &p->tcp_fwd, rec);
    if (spec->tls)
        paths_add_turn_forwarded(c, &cfg, TRUE, &p->tls_fwd, rec);
    if (spec->kind == POLICY_PATH_FORCED_RELAY && !spec->udp)
        p->own_connection = spec->tcp ? p->tcp_fwd : p->tls_fwd;
    return cfg;
}

/* The far end: a relay allocation made from a physical interface, over UDP
 * when UDP works, else over TCP. */
static SessionConfig far_config(RunCtx *c, gboolean regular, GPtrArray *phys, PathRun *p,
                                PathRecord *rec)
{
    const Profile *prof = c->profile;
    SessionConfig cfg = {.name = "far end",
                         .controlling = prof->ice.probe_controlled,
                         .ms_ice2 = prof->ice.ms_ice2,
                         .regular_nomination = regular,
                         .relay_only = TRUE,
                         .dscp = prof->stream.dscp,
                         .only_addresses = phys,
                         .turn_username = c->cred.username,
                         .turn_password = c->cred.password,
                         .on_candidate = far_candidate,
                         .on_candidate_data = p};
    if (c->turn_ok[TURNCHECK_UDP])
        paths_add_turn(&cfg, c->edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
    /* An SfB client allocates over TCP as well: MS-TURN gives it TCP relayed
     * addresses (TCP-ACT and TCP-PASS relay candidates), the only kind a
     * probe's TCP or TLS allocation can pair with. */
    if (!c->turn_ok[TURNCHECK_UDP] ||
        (prof->edge.ms_turn && (c->turn_ok[TURNCHECK_TCP] || c->turn_ok[TURNCHECK_TLS])))
        paths_add_turn_forwarded(c, &cfg, !c->turn_ok[TURNCHECK_TCP], &p->far_fwd, rec);
    return cfg;
}

/* What the path came to once ICE had its time, into rec; TRUE when the policy
 * should judge it. */
static gboolean conclude(RunCtx *c, const PathSpec *spec, PathRun *p, PathRecord *rec)
{
    guint host, srflx, relay;
    gboolean judge = TRUE;
    session_count_candidates(p->probe, &host, &srflx, &relay);
    if (p->probe_started && spec->kind == POLICY_PATH_TUNNEL_ONLY) {
        rec->connected_ms = since_start_ms(p, session_first_pair_time(p->probe));
        paths_describe_pair(c, p->probe, NULL, NULL, rec);
        note_far_view(p, rec);
    } else if (p->probe_started) {
        rec->connected_ms = since_start_ms(p, session_first_pair_time(p->probe));
        measure(c, p, rec);
        settle_pair(c, p, rec);
    } else if (far_has_no_relay(p)) {
        judge = FALSE; /* nothing to judge the probe by */
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup("the far end got no relay allocation");
    } else if (p->exchange_error) {
        judge = spec->kind == POLICY_PATH_NATURAL;
        rec->verdict = VERDICT_FAIL;
        rec->reason = g_strdup_printf("candidate exchange failed: %s (the probe gathered %u host, "
                                      "%u reflexive, %u relay)",
                                      p->exchange_error, host, srflx, relay);
    } else {
        rec->reason =
            g_strdup_printf("ICE found no working pair in %.1f s (the probe offered %u "
                            "host, %u reflexive, %u relay candidates)",
                            since_start_ms(p, g_get_monotonic_time()) / 1000, host, srflx, relay);
    }
    gint64 gathered = MAX(session_gathered_time(p->probe), session_gathered_time(p->far_end));
    rec->gather_ms = session_gathered_time(p->probe) && session_gathered_time(p->far_end)
                         ? since_start_ms(p, gathered)
                         : since_start_ms(p, g_get_monotonic_time());
    paths_note_ice(c, p->probe, p->tcp_fwd, p->tls_fwd, rec);
    return judge;
}

/* Runs one path into rec; TRUE when the policy should judge it (the caller
 * does, on the main thread: a path may run on a thread of its own). */
static gboolean run_path(RunCtx *c, const PathSpec *spec, PathRecord *rec)
{
    const Profile *prof = c->profile;
    gboolean regular = spec->regular < 0 ? prof->ice.regular_nomination : spec->regular;
    rec->nomination = g_strdup(regular ? "regular" : "aggressive");
    rec->controlling = !prof->ice.probe_controlled;
    g_autoptr(GPtrArray) tun = paths_tunnel_addresses(c);
    g_autoptr(GInetAddress) phys = paths_physical_address(c);
    gboolean judge;
    if (cannot_run(c, spec, tun, phys, rec, &judge))
        return judge;
    g_autoptr(GPtrArray) far_on = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(far_on, g_object_ref(phys));

    PathRun p = {.c = c, .rec = rec, .kind = spec->kind};
    p.ctx = g_main_context_new();
    p.holding = TRUE;
    p.to_far = g_ptr_array_new_with_free_func(g_free);
    p.to_probe = g_ptr_array_new_with_free_func(g_free);
    p.tunnel = netif_inventory_first_tunnel(c->inv);
    SessionConfig probe_cfg = probe_config(c, spec, regular, tun, &p, rec);
    SessionConfig far_cfg = far_config(c, regular, far_on, &p, rec);
    g_autoptr(GError) error = NULL;
    p.t0 = g_get_monotonic_time();
    if (rec->verdict == VERDICT_ERROR || !(p.probe = session_new(p.ctx, &probe_cfg, &error)) ||
        !(p.far_end = session_new(p.ctx, &far_cfg, &error)) || !trade_credentials(&p, &error) ||
        !make_streams(c, &p, rec) || !session_gather(p.probe, &error) ||
        !session_gather(p.far_end, &error)) {
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
                                                          : PATHS_READY_TIMEOUT_MS);
    judge = conclude(c, spec, &p, rec);
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
void relay_loop_run(RunCtx *c)
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
