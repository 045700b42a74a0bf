/* The paired run (paired.h). Each path runs in lock step with the peer, held
 * together only by the messages: both sides post their ICE credentials and
 * SRTP key, trickle candidates as libnice gathers them (a tunnel whose TURN
 * allocation hangs holds nothing up), stream from their own READY, then trade
 * what each received, so that each side's report has both directions. */
#include "paired.h"

#include "loop.h"

#include <string.h>
#include <unistd.h>

#include "iceprobe/policy.h"
#include "mailbox.h"
#include "run-private.h"
#include "session.h"
#include "iceprobe-config.h"

#define HELLO_TIMEOUT_S    45 /* the peer's local checks may take this long */
#define CONNECT_TIMEOUT_MS 15000
#define PEER_END_SLACK_MS  5000 /* how long after its own stream a side waits for the peer's */
#define STATS_TIMEOUT_MS   5000
#define CLOSE_SLACK_MS     2000 /* beyond the peer's own wait for its pair to settle */
#define DRAIN_MAX_MS       1000
#define TICK_MS            50
#define EDGE_PROBE_US      (G_USEC_PER_SEC / 2) /* relay path: is the edge's TURN still there? */

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
} PeerPath;

typedef struct {
    RunCtx c;
    const Order *order;
    const PairedEnv *env;
    GMainContext *ctx;
    Mailbox *mb;
    gboolean hello, peer_tunnel, peer_closes;
    char *peer_version;
    GHashTable *peer;  /* path name -> PeerPath */
    char *bad_message; /* the first message from the peer that did not parse */
    /* The path under way. */
    const char *path;
    PolicyPathKind kind;
    PathRecord *rec; /* the path's record, for the pair's changes */
    gint64 t0;
    TlsRelay *tcp_fwd, *tls_fwd;
    gboolean unbeatable; /* the first pair could not be outranked */
    Session *s;
    gboolean creds_set, posted_gathered;
    gint64 gathered_at;
    gboolean edge_gone; /* the relay path found the edge's TURN service gone */
    gint64 edge_probed; /* when it last looked */
    guint applied;      /* remote lines given to libnice */
    StreamEnd *stream;  /* receives from the moment the peer's key is known */
    EgressWatch *egress; /* the device each of this side's packets left by */
    guint64 fwd_media0[2]; /* media the TCP and TLS forwarders had carried at the stream's start */
    guint8 out_key[STREAM_KEY_LEN];
    char *stream_error;
    GPtrArray *rejected; /* why a remote line was refused */
} Paired;

static void peer_path_free(PeerPath *p)
{
    g_free(p->ufrag);
    g_free(p->pwd);
    g_ptr_array_unref(p->lines);
    g_free(p->skip);
    g_free(p);
}

static PeerPath *peer_path(Paired *P, const char *name)
{
    PeerPath *p = g_hash_table_lookup(P->peer, name);
    if (!p) {
        p = g_new0(PeerPath, 1);
        p->lines = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(P->peer, g_strdup(name), p);
    }
    return p;
}

/* ---- messages (their parser: peer_message.c) ---- */

static JsonObject *message_new(const char *type, const char *path)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "type", type);
    if (path)
        json_object_set_string_member(o, "path", path);
    return o;
}

static void post(Paired *P, JsonObject *o)
{
    mailbox_post(P->mb, o);
    json_object_unref(o);
}

/* ---- applying what the peer said ---- */

static gboolean hold_remote(const Paired *P)
{
    /* libnice applies force-relay to pairs formed when a remote candidate is
     * added, not to those formed when a later local candidate appears; under
     * force-relay the only later ones are relays (docs/libnice.md §22): on the
     * relay path, remote candidates wait until the host candidates exist. */
    return P->kind == POLICY_PATH_FORCED_RELAY && !session_host_candidates_exist(P->s);
}

static void apply_remote(Paired *P)
{
    if (!P->s || !P->path)
        return;
    PeerPath *pp = peer_path(P, P->path);
    if (!P->creds_set && pp->session) {
        g_autoptr(GError) e = NULL;
        if (!session_set_remote_credentials(P->s, pp->ufrag, pp->pwd, &e))
            g_ptr_array_add(P->rejected, g_strdup(e->message));
        P->creds_set = TRUE;
    }
    if (!P->stream && !P->stream_error && pp->session) {
        /* The receiving end exists before READY: the peer may reach READY (and
         * start sending) first. */
        const Profile *prof = P->c.profile;
        StreamShape shape = {prof->stream.ptime_ms, prof->stream.payload_bytes,
                             P->order->duration_s * 1000};
        g_autoptr(GError) e = NULL;
        P->stream = stream_end_new(P->s, P->out_key, pp->key, &shape, &e);
        if (!P->stream)
            P->stream_error = g_strdup(e->message);
    }
    if (!P->creds_set || hold_remote(P))
        return;
    for (; P->applied < pp->lines->len; P->applied++) {
        g_autoptr(GError) e = NULL;
        if (!session_add_remote_candidate(P->s, pp->lines->pdata[P->applied], &e) &&
            P->rejected->len < 8)
            g_ptr_array_add(P->rejected, g_strdup(e->message));
    }
}

static void take(Paired *P, PeerMessage *m)
{
    if (m->type == PEER_HELLO) {
        P->hello = TRUE;
        P->peer_tunnel = m->tunnel;
        P->peer_closes = m->closes;
        g_free(P->peer_version);
        P->peer_version = g_steal_pointer(&m->version);
        return;
    }
    PeerPath *pp = peer_path(P, m->path);
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
    default:
        break;
    }
}

/* Takes the peer's messages and moves the current path along. */
static void pump(Paired *P)
{
    JsonObject *o;
    while ((o = mailbox_pop(P->mb)) != NULL) {
        PeerMessage m;
        g_autoptr(GError) e = NULL;
        if (peer_message_parse(o, &m, &e)) {
            take(P, &m);
            peer_message_clear(&m);
        } else if (!P->bad_message) {
            P->bad_message = g_strdup(e->message);
        }
        json_object_unref(o);
    }
    if (P->s && !P->posted_gathered && session_gathering_done(P->s)) {
        P->posted_gathered = TRUE;
        P->gathered_at = g_get_monotonic_time();
        post(P, message_new("gathered", P->path));
    }
    apply_remote(P);
}

static gboolean stopped(const Paired *P)
{
    return P->env->stop && *P->env->stop;
}

typedef gboolean (*Until)(Paired *P);

typedef struct {
    Paired *P;
    Until cond;
    gboolean held;
} Wait;

static gboolean wait_check(gpointer data)
{
    Wait *w = data;
    pump(w->P);
    if (w->cond && w->cond(w->P))
        return w->held = TRUE;
    return stopped(w->P) || mailbox_run_ended(w->P->mb);
}

/* Runs the context, taking messages, until cond holds (TRUE), or the time,
 * a stop or the run's end at the controller (FALSE). cond may be NULL: run
 * for the whole time. */
static gboolean wait_until(Paired *P, Until cond, guint ms)
{
    Wait w = {P, cond, FALSE};
    loop_run_until(P->ctx, wait_check, &w, ms);
    return w.held;
}

static gboolean tick(gpointer data)
{
    return G_SOURCE_CONTINUE; /* wakes the loop: stop flag and deadlines are seen */
}

/* ---- one path ---- */

static gboolean have_hello(Paired *P)
{
    return P->hello;
}

/* On the relay path, a side whose gathering ended without a relay candidate
 * (the edge's allocations failed) leaves nothing to check: say so at once. */
static const char *relay_impossible(Paired *P)
{
    if (P->kind != POLICY_PATH_FORCED_RELAY)
        return NULL;
    PeerPath *pp = peer_path(P, P->path);
    guint host, srflx, relay;
    session_count_candidates(P->s, &host, &srflx, &relay);
    if (session_gathering_done(P->s) && relay == 0)
        return "no relay candidate on this side: the edge's allocations failed";
    if (pp->gathered && pp->lines->len == 0)
        return "no relay candidate on the peer's side: its allocations failed";
    return NULL;
}

static gboolean edge_refuses(Paired *P);
static void edge_gone(Paired *P, PathRecord *rec);

/* All the peer's candidates are here and given to libnice. */
static gboolean remote_complete(Paired *P)
{
    PeerPath *pp = peer_path(P, P->path);
    return pp->gathered && P->applied >= pp->lines->len;
}

/* On the relay path, an edge that died under us is seen in half a second, not
 * after libnice's retransmissions (or a stream's end). */
static gboolean edge_died(Paired *P)
{
    if (P->kind == POLICY_PATH_FORCED_RELAY && !P->edge_gone &&
        g_get_monotonic_time() - P->edge_probed > EDGE_PROBE_US) {
        P->edge_probed = g_get_monotonic_time();
        P->edge_gone = edge_refuses(P);
    }
    return P->edge_gone;
}

/* A pair is selected (media starts there, as a client starts it), or there
 * will be none. */
static gboolean connected(Paired *P)
{
    SessionState st = session_state(P->s);
    if (session_has_pair(P->s) || st == SESSION_STATE_FAILED ||
        peer_path(P, P->path)->skip != NULL || relay_impossible(P))
        return TRUE;
    return edge_died(P);
}

static gboolean settled(Paired *P)
{
    SessionState st = session_state(P->s);
    return st == SESSION_STATE_READY || st == SESSION_STATE_FAILED;
}

static void on_pair(Session *s, NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
    Paired *P = data;
    if (P->rec)
        paths_note_pair_change(&P->c, s, P->tcp_fwd, P->tls_fwd, P->t0, P->rec);
}

/* The pair to report: at READY or at the stream's end, whichever came later,
 * or the first one when nothing could outrank it (as in paths.c). */
static void settle_pair(Paired *P, PathRecord *rec)
{
    if (!P->unbeatable && !settled(P)) {
        gint64 left_ms = (P->t0 - g_get_monotonic_time()) / 1000 + CONNECT_TIMEOUT_MS;
        if (wait_until(P, settled, (guint)MAX(left_ms, 0)) && rec->have_pair)
            paths_describe_pair(&P->c, P->s, P->tcp_fwd, P->tls_fwd, rec);
        P->unbeatable = session_pair_unbeatable(P->s, remote_complete(P));
    }
    gboolean ready = session_state(P->s) == SESSION_STATE_READY;
    rec->pair_final = g_strdup(ready ? "ready" : P->unbeatable ? "unbeatable" : "unsettled");
    rec->ready_ms =
        session_ready_time(P->s) ? (double)(session_ready_time(P->s) - P->t0) / 1000.0 : -1;
    rec->connect_ms = rec->ready_ms >= 0 ? rec->ready_ms : rec->connected_ms;
}

static gboolean peer_closing(Paired *P)
{
    PeerPath *pp = peer_path(P, P->path);
    return pp->closing || pp->skip;
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
static void close_together(Paired *P)
{
    if (!P->peer_closes)
        return;
    post(P, message_new("closing", P->path));
    gint64 left_ms = (P->t0 - g_get_monotonic_time()) / 1000 + CONNECT_TIMEOUT_MS;
    wait_until(P, peer_closing, (guint)MAX(left_ms, 0) + CLOSE_SLACK_MS);
}

static gboolean peer_sent(Paired *P)
{
    PeerPath *pp = peer_path(P, P->path);
    return pp->sent || pp->skip;
}

static gboolean peer_stats(Paired *P)
{
    PeerPath *pp = peer_path(P, P->path);
    return pp->stats || pp->skip;
}

static void on_candidate(const char *line, gpointer data)
{
    Paired *P = data;
    /* Each path offers what CONTRACT says: relay offers relays only, tunnel-only
     * host candidates only. */
    if ((P->kind == POLICY_PATH_FORCED_RELAY && !strstr(line, " typ relay")) ||
        (P->kind == POLICY_PATH_TUNNEL_ONLY && !strstr(line, " typ host")))
        return;
    JsonObject *o = message_new("candidate", P->path);
    json_object_set_string_member(o, "line", line);
    post(P, o);
}

/* This agent's tunnel address (IPv4), if it has a tunnel that is up. */
static void skip_path(Paired *P, PathRecord *rec, const char *reason, gboolean tell_peer)
{
    rec->verdict = VERDICT_SKIP;
    rec->reason = g_strdup(reason);
    if (tell_peer) {
        JsonObject *o = message_new("skip", rec->name);
        json_object_set_string_member(o, "reason", reason);
        post(P, o);
    }
}

static PolicyPathKind kind_of(const char *name)
{
    return strcmp(name, "relay") == 0         ? POLICY_PATH_FORCED_RELAY
           : strcmp(name, "tunnel-only") == 0 ? POLICY_PATH_TUNNEL_ONLY
                                              : POLICY_PATH_NATURAL;
}

/* Our stream has sent everything, or the edge relaying it died. */
static gboolean own_stream_done(Paired *P)
{
    return stream_end_done(P->stream) || edge_died(P);
}

/* Everything the peer says it sent has arrived. */
static gboolean all_arrived(Paired *P)
{
    return stream_end_received(P->stream) >= peer_path(P, P->path)->packets_sent;
}

/* Streams from READY for the order's duration, then trades figures with the peer. */
static void stream_and_trade(Paired *P, PathRecord *rec, TlsRelay *tcp_fwd, TlsRelay *tls_fwd)
{
    const Profile *prof = P->c.profile;
    PeerPath *pp = peer_path(P, P->path);
    gboolean ready = session_has_pair(P->s);
    StreamEnd *stream = ready ? P->stream : NULL;
    const NetifInterface *tunnel = netif_inventory_first_tunnel(P->c.inv);
    guint64 rx0 = 0, tx0 = 0, rx1, tx1;
    if (ready && P->stream_error) {
        rec->verdict = VERDICT_ERROR;
        rec->reason = g_strdup_printf("SRTP set-up failed: %s", P->stream_error);
    } else if (stream) {
        paths_sample_counters(tunnel, &rx0, &tx0);
        P->egress = paths_egress_watch(&P->c, P->s);
        P->fwd_media0[0] = tcp_fwd ? tlsrelay_media_out(tcp_fwd) : 0;
        P->fwd_media0[1] = tls_fwd ? tlsrelay_media_out(tls_fwd) : 0;
        stream_end_start(stream);
        wait_until(P, own_stream_done, P->order->duration_s * 1000 + DRAIN_MAX_MS);
        if (P->edge_gone) {
            stream_end_stop(stream);
            edge_gone(P, rec); /* RELAY_UNREACHABLE, and the peer is told */
        }
        stream_end_join(stream);
    }
    JsonObject *sent = message_new("sent", P->path);
    json_object_set_int_member(sent, "packets", stream ? (gint64)stream_end_sent(stream) : 0);
    post(P, sent);
    /* The peer may have become READY later than we did: its stream ends later. */
    wait_until(P, peer_sent, P->order->duration_s * 1000 + PEER_END_SLACK_MS);
    if (stream) {
        StreamEnd *ends[] = {stream, stream};
        wait_until(P, all_arrived, paths_drain_ms(ends));
    }
    if (stream) {
        paths_sample_counters(tunnel, &rx1, &tx1);
        metrics_stream_summarize(stream_end_metrics(stream), pp->packets_sent,
                                 prof->stream.ptime_ms, prof->stream.codec, &rec->in);
    } else {
        rec->in.packets_sent = pp->packets_sent;
        rec->in.loss_ratio = pp->packets_sent ? 1 : 0;
    }
    JsonObject *stats = message_new("stats", P->path);
    json_object_set_member(stats, "in", metrics_summary_to_json(&rec->in));
    post(P, stats);
    wait_until(P, peer_stats, STATS_TIMEOUT_MS);
    if (!stream)
        return;
    if (tunnel) {
        rec->have_counters = TRUE;
        rec->tunnel_interface = g_strdup(tunnel->name);
        rec->tunnel_tx = tx1 - tx0;
        rec->tunnel_rx = rx1 - rx0;
    }
    TlsRelay *fwd[] = {tcp_fwd, tls_fwd};
    paths_note_egress(&P->c, P->egress, fwd, P->fwd_media0, stream_end_sent(stream), rec);
    if (pp->stats) {
        rec->out = pp->in;
    } else {
        rec->out.packets_sent = stream_end_sent(stream);
        g_autofree char *old = rec->reason;
        rec->reason = g_strdup_printf("%s; the peer's figures did not arrive", old ? old : "");
    }
    /* The pair media used last. */
    paths_describe_pair(&P->c, P->s, tcp_fwd, tls_fwd, rec);
    paths_combine_metrics(prof, rec);
    rec->have_metrics = TRUE;
}

/* The edge's TURN service gone since the turn checks: TCP to the port it allocated
 * on at the start of the run is now refused (a closed port answers at once, where
 * a UDP allocation to a dead server would wait out libnice's retransmissions). */
static gboolean edge_refuses(Paired *P)
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
static void edge_gone(Paired *P, PathRecord *rec)
{
    g_free(rec->reason);
    rec->reason = g_strdup_printf("the edge %s refused TCP on port %u, where it allocated at the "
                                  "start of the run: its TURN service is gone",
                                  P->c.edge_ip, P->c.profile->edge.tcp_port);
    rec->verdict = VERDICT_FAIL;
    JsonObject *ev = json_object_new();
    json_object_set_string_member(ev, "path", rec->name);
    json_object_set_string_member(ev, "edge", P->c.edge_ip);
    run_result_add_finding(P->c.result, "RELAY_UNREACHABLE", ev,
                           "No relay allocation on path %s: %s.", rec->name, rec->reason);
    JsonObject *o = message_new("skip", rec->name);
    json_object_set_string_member(o, "reason", rec->reason);
    post(P, o);
}

static void run_path(Paired *P, const char *name)
{
    const Profile *prof = P->c.profile;
    PathRecord *rec = run_result_add_path(P->c.result, name);
    gint64 t0 = g_get_monotonic_time();
    P->path = name;
    P->kind = kind_of(name);
    P->creds_set = P->posted_gathered = FALSE;
    P->gathered_at = 0;
    P->applied = 0;
    pump(P);
    PeerPath *pp = peer_path(P, name);
    g_autoptr(GInetAddress) tun = paths_tunnel_address(&P->c);
    gint64 left_s = P->order->deadline - g_get_real_time() / G_USEC_PER_SEC;
    if (stopped(P)) {
        skip_path(P, rec, "the agent was stopped before this path", TRUE);
        return;
    }
    if (pp->skip) {
        g_autofree char *why = g_strdup_printf("the peer skipped it: %s", pp->skip);
        skip_path(P, rec, why, FALSE);
        return;
    }
    if (left_s < (gint64)P->order->duration_s + 10) {
        skip_path(P, rec, "no time left before the run's deadline", TRUE);
        return;
    }
    if (P->kind == POLICY_PATH_TUNNEL_ONLY && !tun && !P->peer_tunnel) {
        skip_path(P, rec, "neither side has a tunnel", FALSE);
        return;
    }
    if (P->kind == POLICY_PATH_FORCED_RELAY && edge_refuses(P)) {
        edge_gone(P, rec);
        rec->total_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
        P->path = NULL;
        return;
    }
    P->edge_gone = FALSE;
    P->edge_probed = g_get_monotonic_time();

    rec->nomination = g_strdup(prof->ice.regular_nomination ? "regular" : "aggressive");
    rec->controlling = P->order->controlling;
    P->rec = rec;
    P->t0 = t0;
    P->unbeatable = FALSE;
    SessionConfig cfg = {.name = "agent",
                         .controlling = P->order->controlling,
                         .regular_nomination = prof->ice.regular_nomination,
                         .on_pair = on_pair,
                         .on_pair_data = P,
                         .ice_tcp = TRUE,
                         .relay_only = P->kind == POLICY_PATH_FORCED_RELAY,
                         .turn_username = P->c.cred.username,
                         .turn_password = P->c.cred.password,
                         .on_candidate = on_candidate,
                         .on_candidate_data = P};
    TlsRelay *tcp_fwd = NULL, *tls_fwd = NULL;
    if (P->kind == POLICY_PATH_TUNNEL_ONLY) {
        /* The side with a tunnel offers host candidates on it only; the other
         * side its host candidates. No relay: the point is the direct path. */
        cfg.only_address = tun;
    } else {
        paths_add_turn(&cfg, P->c.edge_ip, prof->edge.udp_port, NICE_RELAY_TYPE_TURN_UDP);
        if (paths_start_forwarder(&P->c, prof->edge.tcp_port, FALSE, &tcp_fwd, rec))
            paths_add_turn(&cfg, "127.0.0.1", tlsrelay_port(tcp_fwd), NICE_RELAY_TYPE_TURN_TCP);
        if (paths_start_forwarder(&P->c, prof->edge.tls_port, TRUE, &tls_fwd, rec))
            paths_add_turn(&cfg, "127.0.0.1", tlsrelay_port(tls_fwd), NICE_RELAY_TYPE_TURN_TCP);
        P->tcp_fwd = tcp_fwd;
        P->tls_fwd = tls_fwd;
        /* A forwarder that cannot connect is a finding of the turn checks, not
         * an error of this path: the other transports go on. */
        rec->verdict = VERDICT_PASS;
        g_clear_pointer(&rec->reason, g_free);
    }

    g_autoptr(GError) error = NULL;
    P->s = session_new(P->ctx, &cfg, &error);
    if (!P->s || !stream_random_key(P->out_key)) {
        g_autofree char *why =
            g_strdup_printf("set-up failed: %s", error ? error->message : "no random key");
        skip_path(P, rec, why, TRUE);
        rec->verdict = VERDICT_ERROR;
    } else {
        g_autofree char *ufrag = NULL, *pwd = NULL;
        session_local_credentials(P->s, &ufrag, &pwd);
        JsonObject *o = message_new("session", name);
        json_object_set_string_member(o, "ufrag", ufrag ? ufrag : "");
        json_object_set_string_member(o, "pwd", pwd ? pwd : "");
        g_autofree char *key = g_base64_encode(P->out_key, sizeof(P->out_key));
        json_object_set_string_member(o, "key", key);
        post(P, o);
        if (!session_gather(P->s, &error)) {
            skip_path(P, rec, error->message, TRUE);
            rec->verdict = VERDICT_ERROR;
        }
    }
    if (rec->verdict == VERDICT_PASS) {
        wait_until(P, connected,
                   P->kind == POLICY_PATH_TUNNEL_ONLY
                       ? MIN(paths_tunnel_wait_ms(&P->c), CONNECT_TIMEOUT_MS)
                       : CONNECT_TIMEOUT_MS);
        if (P->gathered_at)
            rec->gather_ms = (double)(P->gathered_at - t0) / 1000.0;
        guint host, srflx, relay;
        session_count_candidates(P->s, &host, &srflx, &relay);
        if (P->edge_gone && !session_has_pair(P->s)) {
            edge_gone(P, rec);
        } else if (session_has_pair(P->s)) {
            rec->connected_ms = (double)(session_first_pair_time(P->s) - t0) / 1000.0;
            P->unbeatable = session_pair_unbeatable(P->s, remote_complete(P));
            paths_describe_pair(&P->c, P->s, tcp_fwd, tls_fwd, rec);
        } else if (pp->skip) {
            rec->reason = g_strdup_printf("the peer could not run it: %s", pp->skip);
        } else if (relay_impossible(P)) {
            rec->reason = g_strdup(relay_impossible(P));
            gboolean checks_allocated = P->c.turn_ok[0] || P->c.turn_ok[1] || P->c.turn_ok[2];
            if (session_gathering_done(P->s) && relay == 0 && checks_allocated) {
                /* The turn checks passed before the path, or the path would not
                 * have been tried: the edge went away since. */
                JsonObject *ev = json_object_new();
                json_object_set_string_member(ev, "path", name);
                json_object_set_string_member(ev, "edge", P->c.edge_ip);
                run_result_add_finding(P->c.result, "RELAY_UNREACHABLE", ev,
                                       "No relay allocation on path %s: the edge %s gave none "
                                       "(it answered the turn checks earlier in the run).",
                                       name, P->c.edge_ip);
            }
        } else if (stopped(P)) {
            rec->reason = g_strdup("the agent was stopped during the path");
            rec->verdict = VERDICT_ERROR;
        } else {
            rec->reason = g_strdup_printf(
                "ICE found no working pair in %.1f s (this side offered %u host, %u reflexive, "
                "%u relay candidates; the peer %u)%s%s",
                (double)(g_get_monotonic_time() - t0) / 1e6, host, srflx, relay, pp->lines->len,
                P->rejected->len ? "; refused: " : "",
                P->rejected->len ? (const char *)P->rejected->pdata[0] : "");
        }
        stream_and_trade(P, rec, tcp_fwd, tls_fwd);
        if (rec->have_pair)
            settle_pair(P, rec);
        guint changes = session_pair_changes(P->s);
        if (rec->have_pair && changes > 1) {
            g_autofree char *old = rec->reason;
            rec->reason = g_strdup_printf("%s; the pair changed %u times", old, changes - 1);
        }
        if (rec->verdict != VERDICT_ERROR)
            policy_judge_path(P->c.result, rec, P->kind, prof);
        close_together(P);
    }
    g_clear_pointer(&P->stream, stream_end_free);
    g_clear_pointer(&P->stream_error, g_free);
    g_clear_pointer(&P->s, session_free);
    g_clear_pointer(&P->egress, egress_watch_free); /* after libnice's sockets */
    P->rec = NULL;
    P->tcp_fwd = P->tls_fwd = NULL;
    tlsrelay_stop(tcp_fwd);
    tlsrelay_stop(tls_fwd);
    g_ptr_array_set_size(P->rejected, 0);
    memset(P->out_key, 0, sizeof(P->out_key));
    rec->total_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    g_message("run %s: path %s %s in %.1f s: %s", P->order->run_id, name,
              verdict_to_string(rec->verdict), rec->total_ms / 1000.0,
              rec->reason ? rec->reason : "");
    P->path = NULL;
}

/* ---- the run ---- */

/* The order's CA, written where the profile can name it: a private directory
 * of its own (not the spool, whose disk may be full). *dir gets the directory. */
static char *write_ca(const Order *order, char **dir, GError **error)
{
    *dir = NULL;
    if (!order->edge_ca_pem || !*order->edge_ca_pem)
        return NULL;
    *dir = g_dir_make_tmp("iceprobe-order-XXXXXX", error);
    if (!*dir)
        return NULL;
    g_autofree char *path = g_build_filename(*dir, "edge-ca.pem", NULL);
    if (!g_file_set_contents_full(path, order->edge_ca_pem, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                  0600, error))
        return NULL;
    return g_steal_pointer(&path);
}

static void fail_run(RunResult *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void fail_run(RunResult *r, const char *fmt, ...)
{
    if (r->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

RunResult *paired_execute(const Order *order, const PairedEnv *env)
{
    Paired P = {.order = order, .env = env};
    g_autoptr(GError) error = NULL;
    g_autofree char *ca_dir = NULL;
    g_autofree char *ca = write_ca(order, &ca_dir, &error);
    g_autoptr(Profile) profile = NULL;
    if (!error)
        profile = profile_load_order(order->profile_text, strlen(order->profile_text), ca, &error);
    RunResult *result = run_result_new(order->profile_name);
    g_free(result->run_id);
    result->run_id = g_strdup(order->run_id);
    if (!profile) {
        fail_run(result, "the order's profile cannot be used: %s", error->message);
        run_result_conclude(result);
        return result;
    }
    P.c.profile = profile;
    P.c.result = result;
    P.c.cred.username = g_strdup(order->turn_username);
    P.c.cred.password = g_strdup(order->turn_password);
    P.c.stream_duration_s = order->duration_s;
    P.peer = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)peer_path_free);
    P.rejected = g_ptr_array_new_with_free_func(g_free);
    P.ctx = g_main_context_new();
    GSource *t = g_timeout_source_new(TICK_MS);
    g_source_set_callback(t, tick, NULL, NULL);
    g_source_attach(t, P.ctx);
    MailboxConfig mc = {.url = env->url,
                        .token = env->token,
                        .ca_file = env->ca_file,
                        .run_id = order->run_id,
                        .wake = P.ctx,
                        .stop = env->stop};
    P.mb = mailbox_open(&mc);

    checks_interfaces(&P.c);
    if (!P.c.inv) {
        fail_run(result, "cannot list the local interfaces");
    } else if (checks_dns(&P.c)) {
        checks_route(&P.c);
        checks_turn(&P.c);
        checks_tls(&P.c);
    } else {
        fail_run(result, "no address for the edge");
    }
    g_autoptr(GInetAddress) tun = paths_tunnel_address(&P.c);
    JsonObject *hello = message_new("hello", NULL);
    json_object_set_boolean_member(hello, "tunnel", tun != NULL);
    json_object_set_boolean_member(hello, "closes", TRUE);
    json_object_set_string_member(hello, "version", ICEPROBE_VERSION);
    post(&P, hello);
    if (!result->error && !wait_until(&P, have_hello, HELLO_TIMEOUT_S * 1000))
        fail_run(result, "%s",
                 stopped(&P)               ? "the agent was stopped while waiting for its peer"
                 : mailbox_run_ended(P.mb) ? "the controller ended the run before the peer joined"
                                           : "the peer did not join within the wait");
    for (char **p = order->paths; !result->error && *p; p++) {
        run_path(&P, *p);
        if (stopped(&P))
            fail_run(result, "the agent was stopped (SIGTERM) during the run");
        else if (mailbox_run_ended(P.mb))
            fail_run(result, "the controller ended the run during path %s", *p);
    }
    if (P.bad_message) {
        run_result_add_check(result, "peer-messages", VERDICT_WARN,
                             "a message from the peer was refused: %s", P.bad_message);
    }
    g_autofree char *mail_error = mailbox_last_error(P.mb);
    if (mail_error)
        run_result_add_check(result, "signalling", VERDICT_PASS,
                             "%u signalling call(s) failed and were retried; the last: %s",
                             mailbox_failures(P.mb), mail_error);
    mailbox_close(P.mb, 2000);
    g_source_destroy(t);
    g_source_unref(t);
    run_result_conclude(result);

    netif_inventory_free(P.c.inv);
    if (P.c.edge_addrs)
        g_ptr_array_unref(P.c.edge_addrs);
    g_free(P.c.edge_ip);
    turncred_clear(&P.c.cred);
    tls_peer_info_clear(&P.c.tls);
    g_hash_table_unref(P.peer);
    g_ptr_array_unref(P.rejected);
    g_free(P.peer_version);
    g_free(P.bad_message);
    g_main_context_unref(P.ctx);
    if (ca)
        unlink(ca);
    if (ca_dir)
        rmdir(ca_dir);
    return result;
}
