/* One path of a paired run against the peer, held together only by the
 * messages: both sides post their ICE credentials and SRTP key, trickle
 * candidates as libnice gathers them (a tunnel whose TURN allocation hangs
 * holds nothing up), stream once both have a pair, then trade what each
 * received, so that each side's report has both directions. Everything the
 * path owns is in its PairedPath, freed in one place. */
#include <string.h>

#include "iceprobe/keyfile.h"
#include "loop.h"
#include "paired-private.h"
#include "session.h"

#define EDGE_PROBE_US (G_USEC_PER_SEC / 2) /* relay path: is the edge's TURN still there? */

/* What the peer said about one path; messages may come before the path starts. */
typedef struct {
    gboolean session;
    char *ufrag, *pwd;
    guint8 key[STREAM_KEY_LEN];
    GPtrArray *lines; /* remote candidate lines, in order */
    gboolean gathered;
    gboolean sent;
    guint64 packets_sent;
    gboolean stats;
    MetricsSummary in; /* what the peer received: our "out" */
    char *skip;        /* the peer's reason, if it skipped */
    gboolean closing;  /* the peer is done with the path's ICE session */
    gboolean connected; /* the peer has its first pair */
} PeerPath;

/* Everything one path owns, freed together (as the relay loop's PathRun). */
typedef struct {
    Paired *P;
    const char *name;
    PolicyPathKind kind;
    PathRecord *rec;
    gboolean judge; /* the policy judges it once every path is done */
    GMainContext *ctx;
    GSource *tick;
    GAsyncQueue *inbox; /* the peer's messages for this path */
    PeerPath peer;
    gint64 t0;
    TlsRelay *tcp_fwd, *tls_fwd;
    gboolean unbeatable; /* the first pair could not be outranked */
    Session *s;
    gboolean creds_set, posted_gathered, posted_connected;
    gint64 gathered_at;
    gboolean edge_gone; /* the relay path found the edge's TURN service gone */
    gint64 edge_probed; /* when it last looked */
    guint applied;      /* remote lines given to libnice */
    StreamEnd *stream;  /* receives from the moment the peer's key is known */
    EgressWatch *egress; /* the device each of this side's packets left by */
    QosWatch *qos;       /* the markings of what this side received */
    guint64 fwd_media0[2]; /* media the TCP and TLS forwarders had carried at the stream's start */
    guint8 out_key[STREAM_KEY_LEN];
    char *stream_error;
    GPtrArray *rejected; /* why a remote line was refused */
} PairedPath;

static void peer_path_clear(PeerPath *p)
{
    g_free(p->ufrag);
    g_free(p->pwd);
    if (p->lines)
        g_ptr_array_unref(p->lines);
    g_free(p->skip);
    memset(p, 0, sizeof(*p));
}

/* ---- applying what the peer said ---- */

static void take(PairedPath *p, PeerMessage *m)
{
    PeerPath *pp = &p->peer;
    switch (m->type) {
    case PEER_SESSION:
        if (!pp->session) {
            pp->session = TRUE;
            pp->ufrag = g_steal_pointer(&m->ufrag);
            pp->pwd = g_steal_pointer(&m->pwd);
            memcpy(pp->key, m->key, sizeof(pp->key));
        }
        break;
    case PEER_CANDIDATE:
        if (pp->lines->len < 256)
            g_ptr_array_add(pp->lines, g_steal_pointer(&m->line));
        break;
    case PEER_GATHERED:
        pp->gathered = TRUE;
        break;
    case PEER_SENT:
        pp->sent = TRUE;
        pp->packets_sent = m->packets;
        break;
    case PEER_STATS:
        pp->stats = TRUE;
        pp->in = m->in;
        break;
    case PEER_SKIP:
        if (!pp->skip)
            pp->skip = g_steal_pointer(&m->reason);
        break;
    case PEER_CLOSING:
        pp->closing = TRUE;
        break;
    case PEER_CONNECTED:
        pp->connected = TRUE;
        break;
    default:
        break;
    }
}

static gboolean hold_remote(const PairedPath *p)
{
    /* libnice applies force-relay to pairs formed when a remote candidate is
     * added, not to those formed when a later local candidate appears; under
     * force-relay the only later ones are relays (docs/libnice.md §22): on the
     * relay path, remote candidates wait until the host candidates exist. */
    return p->kind == POLICY_PATH_FORCED_RELAY && !session_host_candidates_exist(p->s);
}

static void apply_remote(PairedPath *p)
{
    if (!p->s)
        return;
    PeerPath *pp = &p->peer;
    if (!p->creds_set && pp->session) {
        g_autoptr(GError) e = NULL;
        if (!session_set_remote_credentials(p->s, pp->ufrag, pp->pwd, &e))
            g_ptr_array_add(p->rejected, g_strdup(e->message));
        p->creds_set = TRUE;
    }
    if (!p->stream && !p->stream_error && pp->session) {
        /* The receiving end exists before READY: the peer may reach READY (and
         * start sending) first. */
        const Profile *prof = p->P->c.profile;
        StreamShape shape = {prof->stream.ptime_ms, prof->stream.payload_bytes,
                             p->P->order->duration_s * 1000};
        g_autoptr(GError) e = NULL;
        p->stream = stream_end_new(p->s, p->out_key, pp->key, &shape, &e);
        if (!p->stream)
            p->stream_error = g_strdup(e->message);
        else if (p->P->peer_ptime_ms == prof->stream.ptime_ms)
            stream_end_place_first(p->stream);
    }
    if (!p->creds_set || hold_remote(p))
        return;
    for (; p->applied < pp->lines->len; p->applied++) {
        g_autoptr(GError) e = NULL;
        if (!session_add_remote_candidate(p->s, pp->lines->pdata[p->applied], &e) &&
            p->rejected->len < 8)
            g_ptr_array_add(p->rejected, g_strdup(e->message));
    }
}

/* Takes the peer's messages for this path and moves it along. */
static void pump(PairedPath *p)
{
    paired_route(p->P);
    PeerMessage *m;
    while ((m = g_async_queue_try_pop(p->inbox)) != NULL) {
        take(p, m);
        peer_message_free(m);
    }
    if (p->s && !p->posted_gathered && session_gathering_done(p->s)) {
        p->posted_gathered = TRUE;
        p->gathered_at = g_get_monotonic_time();
        paired_post(p->P, paired_message_new("gathered", p->name));
    }
    if (p->s && !p->posted_connected && session_has_pair(p->s)) {
        p->posted_connected = TRUE;
        paired_post(p->P, paired_message_new("connected", p->name));
    }
    apply_remote(p);
}

typedef gboolean (*Until)(PairedPath *p);

typedef struct {
    PairedPath *p;
    Until cond;
    gboolean held;
} Wait;

static gboolean wait_check(gpointer data)
{
    Wait *w = data;
    pump(w->p);
    if (w->cond && w->cond(w->p))
        return w->held = TRUE;
    return paired_stopped(w->p->P) || mailbox_run_ended(w->p->P->mb);
}

/* Runs the path's context, taking messages, until cond holds (TRUE), or the
 * time, a stop or the run's end at the controller (FALSE). cond may be NULL:
 * run for the whole time. */
static gboolean wait_until(PairedPath *p, Until cond, guint ms)
{
    Wait w = {p, cond, FALSE};
    loop_run_until(p->ctx, wait_check, &w, ms);
    return w.held;
}

/* ---- one path ---- */

/* On the relay path, a side whose gathering ended without a relay candidate
 * (the edge's allocations failed) leaves nothing to check: say so at once. */
static const char *relay_impossible(PairedPath *p)
{
    if (p->kind != POLICY_PATH_FORCED_RELAY)
        return NULL;
    guint host, srflx, relay;
    session_count_candidates(p->s, &host, &srflx, &relay);
    if (session_gathering_done(p->s) && relay == 0)
        return "no relay candidate on this side: the edge's allocations failed";
    if (p->peer.gathered && p->peer.lines->len == 0)
        return "no relay candidate on the peer's side: its allocations failed";
    return NULL;
}

static gboolean edge_refuses(const Paired *P);

/* All the peer's candidates are here and given to libnice. */
static gboolean remote_complete(gpointer path)
{
    PairedPath *p = path;
    return p->peer.gathered && p->applied >= p->peer.lines->len;
}

/* On the relay path, an edge that died under us is seen in half a second, not
 * after libnice's retransmissions (or a stream's end). */
static gboolean edge_died(PairedPath *p)
{
    if (p->kind == POLICY_PATH_FORCED_RELAY && !p->edge_gone &&
        g_get_monotonic_time() - p->edge_probed > EDGE_PROBE_US) {
        p->edge_probed = g_get_monotonic_time();
        p->edge_gone = edge_refuses(p->P);
    }
    return p->edge_gone;
}

/* A pair is selected (media starts there, as a client starts it), or there
 * will be none. */
static gboolean connected(PairedPath *p)
{
    SessionState st = session_state(p->s);
    if (session_has_pair(p->s) || st == SESSION_STATE_FAILED || p->peer.skip != NULL ||
        relay_impossible(p))
        return TRUE;
    return edge_died(p);
}

static void on_pair(Session *s, NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
    PairedPath *p = data;
    paths_note_pair_change(&p->P->c, s, p->tcp_fwd, p->tls_fwd, p->t0, p->rec);
}

static gboolean settled(PairedPath *p)
{
    return paths_session_settled(p->s);
}

static gboolean wait_settled(gpointer path, guint ms)
{
    return wait_until(path, settled, ms);
}

/* The pair as it settled (paths_settle_pair, which the relay loop's paths
 * share), taking the peer's messages while it waits. rec has a pair. */
static void settle_pair(PairedPath *p)
{
    PathsSettle how = {.s = p->s,
                       .tcp_fwd = p->tcp_fwd,
                       .tls_fwd = p->tls_fwd,
                       .t0 = p->t0,
                       .timeout_ms = CONNECT_TIMEOUT_MS,
                       .wait_settled = wait_settled,
                       .remote_complete = remote_complete,
                       .path = p};
    paths_settle_pair(&p->P->c, &how, &p->unbeatable, p->rec);
}

static gboolean peer_closing(PairedPath *p)
{
    return p->peer.closing || p->peer.skip;
}

/* A side keeps its ICE session until the peer is done with the path too: the
 * peer may still be waiting for its pair to settle, and a session closed under
 * it fails its pair (the report would say so), and its ICE-TCP connection with
 * it. libnice 0.1.21 can abort then: a peer's agent whose selected pair's
 * TCP connection was closed hit `priority > 0` in priv_prune_pending_checks
 * (docs/libnice.md §31). The peer settles by its own t0 + CONNECT_TIMEOUT_MS;
 * both sides start a path within a message's trip, so ours stands for it.
 * A peer whose hello did not say `closes` (an older agent) neither expects nor
 * sends `closing`: nothing is posted or awaited then. */
static void close_together(PairedPath *p)
{
    if (!p->P->peer_closes)
        return;
    paired_post(p->P, paired_message_new("closing", p->name));
    gint64 left_ms = (p->t0 - g_get_monotonic_time()) / 1000 + CONNECT_TIMEOUT_MS;
    wait_until(p, peer_closing, (guint)MAX(left_ms, 0) + CLOSE_SLACK_MS);
}

/* The peer has a pair too (or will not run the path). */
static gboolean peer_connected(PairedPath *p)
{
    return p->peer.connected || p->peer.skip;
}

static gboolean peer_sent(PairedPath *p)
{
    return p->peer.sent || p->peer.skip;
}

static gboolean peer_stats(PairedPath *p)
{
    return p->peer.stats || p->peer.skip;
}

static void on_candidate(const char *line, gpointer data)
{
    PairedPath *p = data;
    /* Each path offers what CONTRACT says: relay offers relays only, tunnel-only
     * host candidates only. */
    if ((p->kind == POLICY_PATH_FORCED_RELAY && !strstr(line, " typ relay")) ||
        (p->kind == POLICY_PATH_TUNNEL_ONLY && !strstr(line, " typ host")))
        return;
    JsonObject *o = paired_message_new("candidate", p->name);
    json_object_set_string_member(o, "line", line);
    paired_post(p->P, o);
}

static void skip_path(PairedPath *p, const char *reason, gboolean tell_peer)
{
    p->rec->verdict = VERDICT_SKIP;
    p->rec->reason = g_strdup(reason);
    if (tell_peer) {
        JsonObject *o = paired_message_new("skip", p->name);
        json_object_set_string_member(o, "reason", reason);
        paired_post(p->P, o);
    }
}

/* Our stream has sent everything, or the edge relaying it died. */
static gboolean own_stream_done(PairedPath *p)
{
    return stream_end_done(p->stream) || edge_died(p);
}

/* Everything the peer says it sent has arrived. */
static gboolean all_arrived(PairedPath *p)
{
    return stream_end_received(p->stream) >= p->peer.packets_sent;
}

static void edge_gone(PairedPath *p);

/* Streams from READY for the order's duration, then trades figures with the peer. */
static void stream_and_trade(PairedPath *p)
{
    const Profile *prof = p->P->c.profile;
    PathRecord *rec = p->rec;
    PeerPath *pp = &p->peer;
    gboolean ready = session_has_pair(p->s);
    StreamEnd *stream = ready ? p->stream : NULL;
    const NetifInterface *tunnel = netif_inventory_first_tunnel(p->P->c.inv);
    guint64 rx0 = 0, tx0 = 0, rx1 = 0, tx1 = 0;
    gboolean counted = TRUE; /* both samples given: a failed one leaves no figures */
    if (ready && p->stream_error) {
        rec->verdict = VERDICT_ERROR;
        rec->reason = g_strdup_printf("SRTP set-up failed: %s", p->stream_error);
    } else if (stream) {
        /* Media starts once both sides have a pair (PATHS_START_SKEW_MS), when
         * the peer says when it has one. */
        if (p->P->peer_starts)
            wait_until(p, peer_connected, PATHS_START_SKEW_MS);
        counted &= paths_sample_counters(tunnel, &rx0, &tx0);
        p->egress = paths_egress_watch(&p->P->c, p->s);
        if (p->kind != POLICY_PATH_TUNNEL_ONLY)
            p->qos = paths_qos_watch(&p->P->c, p->s);
        p->fwd_media0[0] = p->tcp_fwd ? tlsrelay_media_out(p->tcp_fwd) : 0;
        p->fwd_media0[1] = p->tls_fwd ? tlsrelay_media_out(p->tls_fwd) : 0;
        stream_end_start(stream);
        /* The agent's log says when each path's media flows (the lab keys
         * its mid-stream faults on it). */
        g_message("run %s: path %s streaming", p->P->order->run_id, p->name);
        wait_until(p, own_stream_done, p->P->order->duration_s * 1000 + PATHS_DRAIN_MAX_MS);
        if (p->edge_gone) {
            stream_end_stop(stream);
            edge_gone(p); /* RELAY_UNREACHABLE, and the peer is told */
        }
        stream_end_join(stream);
    }
    JsonObject *sent = paired_message_new("sent", p->name);
    json_object_set_int_member(sent, "packets", stream ? (gint64)stream_end_sent(stream) : 0);
    paired_post(p->P, sent);
    /* The peer may have become READY later than we did: its stream ends later. */
    wait_until(p, peer_sent, p->P->order->duration_s * 1000 + PEER_END_SLACK_MS);
    if (stream) {
        StreamEnd *ends[] = {stream, stream};
        wait_until(p, all_arrived, paths_drain_ms(ends));
    }
    if (stream) {
        counted &= paths_sample_counters(tunnel, &rx1, &tx1);
        metrics_stream_summarize(stream_end_metrics(stream), pp->packets_sent,
                                 prof->stream.ptime_ms, prof->stream.codec, &rec->in);
    } else {
        rec->in.packets_sent = pp->packets_sent;
        rec->in.loss_ratio = pp->packets_sent ? 1 : 0;
    }
    JsonObject *stats = paired_message_new("stats", p->name);
    json_object_set_member(stats, "in", metrics_summary_to_json(&rec->in));
    paired_post(p->P, stats);
    wait_until(p, peer_stats, STATS_TIMEOUT_MS);
    if (!stream)
        return;
    if (counted)
        paths_note_tunnel_counters(tunnel, rx0, tx0, rx1, tx1, rec);
    TlsRelay *fwd[] = {p->tcp_fwd, p->tls_fwd};
    paths_note_egress(&p->P->c, p->egress, fwd, p->fwd_media0, stream_end_sent(stream), rec);
    if (p->kind != POLICY_PATH_TUNNEL_ONLY)
        paths_note_qos(&p->P->c, p->qos, rec, &rec->qos_in); /* as the peer's media arrived */
    if (pp->stats)
        rec->out = pp->in;
    else
        rec->out.packets_sent = stream_end_sent(stream);
    /* The pair media used last (it rewrites the reason: what follows it comes after). */
    paths_describe_pair(&p->P->c, p->s, p->tcp_fwd, p->tls_fwd, rec);
    if (!pp->stats) {
        g_autofree char *old = rec->reason;
        rec->reason = g_strdup_printf("%s; the peer's figures did not arrive", old ? old : "");
    }
    paths_combine_metrics(prof, rec);
    rec->have_metrics = TRUE;
}

/* The edge's TURN service gone since the turn checks: TCP to the port it allocated
 * on at the start of the run is now refused (a closed port answers at once, where
 * a UDP allocation to a dead server would wait out libnice's retransmissions). */
static gboolean edge_refuses(const Paired *P)
{
    if (!P->c.turn_ok[TURNCHECK_TCP] || !P->c.edge_ip)
        return FALSE;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_socket_client_set_timeout(client, 2);
    g_autoptr(GError) e = NULL;
    g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(
        client, P->c.edge_ip, (guint16)P->c.profile->edge.tcp_port, NULL, &e);
    return !conn && g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

/* Says so in the path, as RELAY_UNREACHABLE, and tells the peer. */
static void edge_gone(PairedPath *p)
{
    PathRecord *rec = p->rec;
    const RunCtx *c = &p->P->c;
    g_free(rec->reason);
    rec->reason = g_strdup_printf("the edge %s refused TCP on port %u, where it allocated at the "
                                  "start of the run: its TURN service is gone",
                                  c->edge_ip, c->profile->edge.tcp_port);
    rec->verdict = VERDICT_FAIL;
    JsonObject *ev = json_object_new();
    json_object_set_string_member(ev, "path", rec->name);
    json_object_set_string_member(ev, "edge", c->edge_ip);
    g_autofree char *msg = g_strdup_printf("No relay allocation on path %s: %s.", rec->name,
                                           rec->reason);
    paired_add_finding(p->P, "RELAY_UNREACHABLE", ev, msg);
    JsonObject *o = paired_message_new("skip", rec->name);
    json_object_set_string_member(o, "reason", rec->reason);
    paired_post(p->P, o);
}

/* Why a path's ICE found nothing, into rec->reason (and a finding when the
 * edge gave no allocation it gave earlier in the run). */
static void explain_no_pair(PairedPath *p)
{
    PathRecord *rec = p->rec;
    const RunCtx *c = &p->P->c;
    guint host, srflx, relay;
    session_count_candidates(p->s, &host, &srflx, &relay);
    if (p->peer.skip) {
        rec->reason = g_strdup_printf("the peer could not run it: %s", p->peer.skip);
    } else if (relay_impossible(p)) {
        rec->reason = g_strdup(relay_impossible(p));
        gboolean checks_allocated = c->turn_ok[0] || c->turn_ok[1] || c->turn_ok[2];
        if (session_gathering_done(p->s) && relay == 0 && checks_allocated) {
            /* The turn checks passed before the path, or the path would not
             * have been tried: the edge went away since. */
            JsonObject *ev = json_object_new();
            json_object_set_string_member(ev, "path", p->name);
            json_object_set_string_member(ev, "edge", c->edge_ip);
            g_autofree char *msg = g_strdup_printf(
                "No relay allocation on path %s: the edge %s gave none (it answered the turn "
                "checks earlier in the run).",
                p->name, c->edge_ip);
            paired_add_finding(p->P, "RELAY_UNREACHABLE", ev, msg);
        }
    } else if (paired_stopped(p->P)) {
        rec->reason = g_strdup("the agent was stopped during the path");
        rec->verdict = VERDICT_ERROR;
    } else {
        rec->reason = g_strdup_printf(
            "ICE found no working pair in %.1f s (this side offered %u host, %u reflexive, "
            "%u relay candidates; the peer %u)%s%s",
            (double)(g_get_monotonic_time() - p->t0) / 1e6, host, srflx, relay,
            p->peer.lines->len, p->rejected->len ? "; refused: " : "",
            p->rejected->len ? (const char *)p->rejected->pdata[0] : "");
    }
}

/* Why the path cannot start (for the caller to free), or NULL; *tell_peer:
 * the peer does not know it. */
static char *cannot_start(PairedPath *p, GPtrArray *tun, gboolean *tell_peer)
{
    Paired *P = p->P;
    gint64 left_s = P->order->deadline - g_get_real_time() / G_USEC_PER_SEC;
    *tell_peer = TRUE;
    if (paired_stopped(P))
        return g_strdup("the agent was stopped before this path");
    if (p->peer.skip) {
        *tell_peer = FALSE;
        return g_strdup_printf("the peer skipped it: %s", p->peer.skip);
    }
    if (left_s < (gint64)P->order->duration_s + 10)
        return g_strdup("no time left before the run's deadline");
    if (p->kind == POLICY_PATH_TUNNEL_ONLY && !tun->len && !P->peer_tunnel) {
        *tell_peer = FALSE;
        return g_strdup("neither side has a tunnel");
    }
    return NULL;
}

/* The session's configuration for the path: TURN on the edge over UDP and
 * through the TCP and TLS forwarders, or (tunnel-only) the tunnel's host
 * candidates alone. */
static SessionConfig path_config(PairedPath *p, GPtrArray *tun, GPtrArray *local)
{
    const Profile *prof = p->P->c.profile;
    RunCtx *c = &p->P->c;
    SessionConfig cfg = {.name = "agent",
                         .controlling = p->P->order->controlling,
                         .ms_ice2 = prof->ice.ms_ice2,
                         .regular_nomination = prof->ice.regular_nomination,
                         .on_pair = on_pair,
                         .on_pair_data = p,
                         .ice_tcp = TRUE,
                         .dscp = prof->stream.dscp,
                         .relay_only = p->kind == POLICY_PATH_FORCED_RELAY,
                         .turn_username = c->cred.username,
                         .turn_password = c->cred.password,
                         .on_candidate = on_candidate,
                         .on_candidate_data = p,
                         .record_ice = TRUE};
    if (p->kind == POLICY_PATH_TUNNEL_ONLY) {
        /* The side with a tunnel offers host candidates on it only; the other
         * side its host candidates. No relay: the point is the direct path. */
        cfg.only_addresses = tun->len ? tun : NULL; /* IPv4 and IPv6: both can cross it */
        return cfg;
    }
    cfg.only_addresses = local; /* NULL but in tests: every interface */
    paths_add_turn(&cfg, c->edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
    paths_add_turn_forwarded(c, &cfg, FALSE, &p->tcp_fwd, p->rec);
    paths_add_turn_forwarded(c, &cfg, TRUE, &p->tls_fwd, p->rec);
    /* A forwarder that cannot connect is a finding of the turn checks, not
     * an error of this path: the other transports go on. */
    p->rec->verdict = VERDICT_PASS;
    g_clear_pointer(&p->rec->reason, g_free);
    return cfg;
}

/* Makes the session, posts its credentials and key, starts gathering. */
static gboolean path_start(PairedPath *p, GPtrArray *tun)
{
    g_autoptr(GPtrArray) local = NULL;
    if (p->P->env->local_address) {
        local = g_ptr_array_new_with_free_func(g_object_unref);
        g_ptr_array_add(local, g_object_ref(p->P->env->local_address));
    }
    SessionConfig cfg = path_config(p, tun, local);
    g_autoptr(GError) error = NULL;
    p->s = session_new(p->ctx, &cfg, &error);
    if (!p->s || !stream_random_key(p->out_key)) {
        g_autofree char *why =
            g_strdup_printf("set-up failed: %s", error ? error->message : "no random key");
        skip_path(p, why, TRUE);
        p->rec->verdict = VERDICT_ERROR;
        return FALSE;
    }
    g_autofree char *ufrag = NULL, *pwd = NULL;
    session_local_credentials(p->s, &ufrag, &pwd);
    JsonObject *o = paired_message_new("session", p->name);
    json_object_set_string_member(o, "ufrag", ufrag ? ufrag : "");
    json_object_set_string_member(o, "pwd", pwd ? pwd : "");
    g_autofree char *key = g_base64_encode(p->out_key, sizeof(p->out_key));
    json_object_set_string_member(o, "key", key);
    paired_post(p->P, o);
    if (!session_gather(p->s, &error)) {
        skip_path(p, error->message, TRUE);
        p->rec->verdict = VERDICT_ERROR;
        return FALSE;
    }
    return TRUE;
}

/* ICE until a pair (or none), the stream, the pair as it settled, the close. */
static void path_check_and_stream(PairedPath *p)
{
    PathRecord *rec = p->rec;
    wait_until(p, connected,
               p->kind == POLICY_PATH_TUNNEL_ONLY
                   ? MIN(paths_tunnel_wait_ms(&p->P->c), CONNECT_TIMEOUT_MS)
                   : CONNECT_TIMEOUT_MS);
    if (p->gathered_at)
        rec->gather_ms = (double)(p->gathered_at - p->t0) / 1000.0;
    if (p->edge_gone && !session_has_pair(p->s)) {
        edge_gone(p);
    } else if (session_has_pair(p->s)) {
        rec->connected_ms = (double)(session_first_pair_time(p->s) - p->t0) / 1000.0;
        p->unbeatable = session_pair_unbeatable(p->s, remote_complete(p));
        paths_describe_pair(&p->P->c, p->s, p->tcp_fwd, p->tls_fwd, rec);
    } else {
        explain_no_pair(p);
    }
    stream_and_trade(p);
    if (rec->have_pair)
        settle_pair(p); /* and how often the pair changed */
    p->judge = rec->verdict != VERDICT_ERROR;
    paths_note_ice(&p->P->c, p->s, p->tcp_fwd, p->tls_fwd, rec);
    close_together(p);
}

static PairedPath *paired_path_new(Paired *P, const char *name, PathRecord *rec)
{
    PairedPath *p = g_new0(PairedPath, 1);
    p->P = P;
    p->name = name;
    p->kind = protocol_paired_path_kind(name);
    p->rec = rec;
    p->peer.lines = g_ptr_array_new_with_free_func(g_free);
    p->rejected = g_ptr_array_new_with_free_func(g_free);
    p->ctx = g_main_context_new();
    p->tick = g_timeout_source_new(TICK_MS);
    g_source_set_callback(p->tick, paired_tick, NULL, NULL);
    g_source_attach(p->tick, p->ctx);
    p->inbox = paired_inbox(P, name);
    paired_watch(P, p->ctx);
    return p;
}

static void paired_path_free(PairedPath *p)
{
    stream_end_free(p->stream);
    session_free(p->s);
    egress_watch_free(p->egress); /* after libnice's sockets */
    qos_watch_free(p->qos);
    tlsrelay_stop(p->tcp_fwd);
    tlsrelay_stop(p->tls_fwd);
    paired_unwatch(p->P, p->ctx);
    g_source_destroy(p->tick);
    g_source_unref(p->tick);
    g_main_context_unref(p->ctx);
    g_async_queue_unref(p->inbox);
    peer_path_clear(&p->peer);
    g_ptr_array_unref(p->rejected);
    g_free(p->stream_error);
    keyfile_wipe(p->out_key, sizeof(p->out_key));
    g_free(p);
}

/* Runs one path into rec; sets rec->total_ms. TRUE when the policy should
 * judge it (the caller does, once every path is done: a path may run on a
 * thread of its own). */
gboolean paired_path_run(Paired *P, const char *name, PathRecord *rec)
{
    const Profile *prof = P->c.profile;
    PairedPath *p = paired_path_new(P, name, rec);
    gint64 t0 = p->t0 = g_get_monotonic_time();
    pump(p);
    g_autoptr(GPtrArray) tun = paths_tunnel_addresses(&P->c);
    gboolean tell_peer;
    g_autofree char *why = cannot_start(p, tun, &tell_peer);
    if (why) {
        skip_path(p, why, tell_peer);
    } else if (p->kind == POLICY_PATH_FORCED_RELAY && edge_refuses(P)) {
        edge_gone(p);
    } else {
        p->edge_probed = g_get_monotonic_time();
        rec->nomination = g_strdup(prof->ice.regular_nomination ? "regular" : "aggressive");
        rec->controlling = P->order->controlling;
        if (path_start(p, tun))
            path_check_and_stream(p);
    }
    /* A line of the peer's that libnice refused is the peer's fault whether a
     * pair was found or not (without one, the path's reason names it too). */
    if (p->rejected->len) {
        g_autofree char *what =
            g_strdup_printf("path %s: %s", name, (const char *)p->rejected->pdata[0]);
        paired_note_refused(P, what);
    }
    gboolean judge = p->judge;
    paired_path_free(p);
    rec->total_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    g_message("run %s: path %s %s in %.1f s: %s", P->order->run_id, name,
              verdict_to_string(rec->verdict), rec->total_ms / 1000.0,
              rec->reason ? rec->reason : "");
    return judge;
}
