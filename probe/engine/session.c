/* A libnice agent wrapped for the probe. What docs/libnice.md measured decides
 * the settings: UPnP off (it only adds SSDP noise and delay), consent freshness
 * on (a cut path is noticed in seconds, not never), no STUN server besides TURN
 * (libnice learns the reflexive address from the Allocate response). The pair is
 * judged at READY, not CONNECTED, and changes after that are counted: aggressive
 * nomination can move the pair after the first selection. */
#include "session.h"

#include <string.h>

#include "icecapture.h"
#include "loop.h"

G_DEFINE_QUARK(iceprobe - session - error - quark, session_error)

#define COMPONENT             1
#define SESSION_CLOSE_WAIT_MS 1000
#define SESSION_CLOSE_RTO_MS  100
#define SESSION_MAX_HELD      64

struct Session {
    char *name;
    GMainContext *ctx;
    NiceAgent *agent;
    guint stream_id;
    SessionState state;
    guint pair_changes;
    gint64 ready_at, first_pair_at, gathered_at;
    gboolean controlling, relay_only, gather_started;
    SessionPairFn on_pair;
    gpointer on_pair_data;
    SessionRecvFn recv_fn;
    gpointer recv_data;
    gboolean closed;
    SessionCandidateFn on_candidate;
    gpointer on_candidate_data;
    /* MS-ICE2 is not trickled: an SfB client sends its candidates once it has
     * gathered them all, and checks the peer's once it has too. Both ways are
     * held here until gathering ends, so no check reaches either side before:
     * libnice's OC2007R2 mode frees its server-reflexive candidates then, and a
     * pair already valid on one would keep the freed candidate, while a check
     * answered before the peer's credentials are known fails its pair for good
     * (docs/libnice.md §36). */
    gboolean ms_ice2;
    GSList *held;     /* the peer's NiceCandidate, in the order given */
    GPtrArray *to_send; /* our candidate lines, in the order gathered */
    /* The TURN servers as given to libnice, in order (session_relay_server). */
    SessionTurn turn[SESSION_MAX_TURN];
    guint n_turn;
    gboolean recording; /* libnice's reports of this agent are captured */
};

static void release_held(Session *s)
{
    if (s->to_send) {
        for (guint i = 0; i < s->to_send->len && s->on_candidate; i++)
            s->on_candidate(s->to_send->pdata[i], s->on_candidate_data);
        g_clear_pointer(&s->to_send, g_ptr_array_unref);
    }
    if (s->held) {
        s->held = g_slist_reverse(s->held);
        guint n = g_slist_length(s->held);
        int added = nice_agent_set_remote_candidates(s->agent, s->stream_id, COMPONENT, s->held);
        if (added < (int)n)
            g_warning("%s: libnice took %d of the peer's %u candidates held until gathered",
                      s->name, MAX(added, 0), n);
        g_slist_free_full(g_steal_pointer(&s->held), (GDestroyNotify)nice_candidate_free);
        if (s->state == SESSION_STATE_GATHERED)
            s->state = SESSION_STATE_CHECKING;
    }
}

static void on_gathering_done(NiceAgent *agent, guint stream_id, gpointer data)
{
    Session *s = data;
    s->gathered_at = g_get_monotonic_time();
    if (s->state == SESSION_STATE_GATHERING)
        s->state = SESSION_STATE_GATHERED;
    if (s->ms_ice2 && !s->closed)
        release_held(s);
}

static void on_state_changed(NiceAgent *agent, guint stream_id, guint component_id, guint state,
                             gpointer data)
{
    Session *s = data;
    if (state == NICE_COMPONENT_STATE_READY && s->state != SESSION_STATE_READY) {
        s->state = SESSION_STATE_READY;
        s->ready_at = g_get_monotonic_time();
    } else if (state == NICE_COMPONENT_STATE_FAILED) {
        s->state = SESSION_STATE_FAILED;
    } else if (state == NICE_COMPONENT_STATE_CONNECTING && s->state == SESSION_STATE_GATHERED) {
        s->state = SESSION_STATE_CHECKING;
    }
}

static void on_new_selected_pair(NiceAgent *agent, guint stream_id, guint component_id,
                                 NiceCandidate *lcand, NiceCandidate *rcand, gpointer data)
{
    Session *s = data;
    s->pair_changes++;
    if (!s->first_pair_at)
        s->first_pair_at = g_get_monotonic_time();
    if (s->on_pair && !s->closed)
        s->on_pair(s, lcand, rcand, s->on_pair_data);
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *cand, gpointer data)
{
    Session *s = data;
    if (!s->on_candidate)
        return;
    char *line = nice_agent_generate_local_candidate_sdp(agent, cand);
    if (!line)
        return;
    if (s->ms_ice2 && !s->gathered_at) {
        if (!s->to_send)
            s->to_send = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(s->to_send, line);
        return;
    }
    s->on_candidate(line, s->on_candidate_data);
    g_free(line);
}

static void on_recv(NiceAgent *agent, guint stream_id, guint component_id, guint len, gchar *buf,
                    gpointer data)
{
    Session *s = data;
    if (s->recv_fn)
        s->recv_fn((const guint8 *)buf, len, s->recv_data);
}

Session *session_new(GMainContext *ctx, const SessionConfig *cfg, GError **error)
{
    g_return_val_if_fail(ctx && cfg, NULL);
    g_autoptr(Session) s = g_new0(Session, 1);
    s->name = g_strdup(cfg->name ? cfg->name : "agent");
    s->ctx = g_main_context_ref(ctx);
    s->controlling = cfg->controlling;
    s->relay_only = cfg->relay_only;
    s->ms_ice2 = cfg->ms_ice2;
    s->on_pair = cfg->on_pair;
    s->on_pair_data = cfg->on_pair_data;
    NiceAgentOption opts = NICE_AGENT_OPTION_CONSENT_FRESHNESS;
    if (cfg->regular_nomination)
        opts |= NICE_AGENT_OPTION_REGULAR_NOMINATION;
    s->agent = nice_agent_new_full(
        ctx, cfg->ms_ice2 ? NICE_COMPATIBILITY_OC2007R2 : NICE_COMPATIBILITY_RFC5245, opts);
    /* Before the TURN servers: libnice's lines about them are the record's. */
    s->recording = cfg->record_ice && icecapture_enabled();
    if (s->recording)
        icecapture_attach(s->agent);
    g_object_set(s->agent, "controlling-mode", cfg->controlling, "upnp", FALSE, "ice-tcp",
                 cfg->ice_tcp, "force-relay", cfg->relay_only, NULL);
    if (cfg->stun_ip)
        g_object_set(s->agent, "stun-server", cfg->stun_ip, "stun-server-port", cfg->stun_port,
                     NULL);
    for (guint i = 0; cfg->only_addresses && i < cfg->only_addresses->len; i++) {
        NiceAddress a;
        g_autofree char *ip = g_inet_address_to_string(cfg->only_addresses->pdata[i]);
        if (!nice_address_set_from_string(&a, ip) || !nice_agent_add_local_address(s->agent, &a)) {
            g_set_error(error, SESSION_ERROR, SESSION_ERROR_LIBNICE, "%s: cannot use local address %s", s->name, ip);
            return NULL;
        }
    }
    s->stream_id = nice_agent_add_stream(s->agent, 1);
    if (!s->stream_id) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_LIBNICE, "%s: libnice would not add a stream", s->name);
        return NULL;
    }
    nice_agent_set_stream_name(s->agent, s->stream_id, "audio");
    if (cfg->dscp) /* IP_TOS (IPV6_TCLASS) on every socket of the stream, TURN's too */
        nice_agent_set_stream_tos(s->agent, s->stream_id, (gint)(cfg->dscp << 2));
    for (guint i = 0; i < cfg->n_turn; i++) {
        if (!nice_agent_set_relay_info(s->agent, s->stream_id, COMPONENT, cfg->turn[i].ip,
                                       cfg->turn[i].port, cfg->turn_username, cfg->turn_password,
                                       cfg->turn[i].type)) {
            g_set_error(error, SESSION_ERROR, SESSION_ERROR_LIBNICE, "%s: libnice refused TURN server %s:%u", s->name,
                        cfg->turn[i].ip, cfg->turn[i].port);
            return NULL;
        }
        s->turn[s->n_turn] = cfg->turn[i];
        s->turn[s->n_turn++].ip = g_strdup(cfg->turn[i].ip);
    }
    g_signal_connect(s->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), s);
    s->on_candidate = cfg->on_candidate;
    s->on_candidate_data = cfg->on_candidate_data;
    if (cfg->on_candidate)
        g_signal_connect(s->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), s);
    g_signal_connect(s->agent, "component-state-changed", G_CALLBACK(on_state_changed), s);
    g_signal_connect(s->agent, "new-selected-pair-full", G_CALLBACK(on_new_selected_pair), s);
    nice_agent_attach_recv(s->agent, s->stream_id, COMPONENT, ctx, on_recv, s);
    return g_steal_pointer(&s);
}

/* Packets that arrive while an agent closes are read and dropped: a socket
 * nobody reads stays readable, and libnice's source for it would fire on every
 * iteration (a detached agent_recv spun the context: 90 % of a run's CPU). */
static void drop_packet(NiceAgent *agent, guint stream_id, guint component_id, guint len,
                        gchar *buf, gpointer data)
{
}

/* The count of closes still pending lives on the heap, shared by the callbacks
 * and the waiter: the wait is capped, so a callback may fire after
 * session_close_all returned (docs/libnice.md §23). */
typedef struct {
    gint pending;
} CloseWait;

static void on_closed(GObject *src, GAsyncResult *res, gpointer data)
{
    CloseWait *w = data;
    g_atomic_int_dec_and_test(&w->pending);
    g_atomic_rc_box_release(w);
}

static gboolean all_closed(gpointer data)
{
    return g_atomic_int_get(&((CloseWait *)data)->pending) == 0;
}

void session_close_all(Session **sessions, guint n, guint max_ms)
{
    CloseWait *w = g_atomic_rc_box_new0(CloseWait);
    GMainContext *ctx = NULL;
    for (guint i = 0; i < n; i++) {
        Session *s = sessions[i];
        if (!s || s->closed || !s->agent)
            continue;
        ctx = s->ctx; /* one context for all (the caller's contract) */
        s->closed = TRUE;
        s->recv_fn = NULL;
        nice_agent_attach_recv(s->agent, s->stream_id, COMPONENT, s->ctx, drop_packet, NULL);
        /* Only now are libnice's timers shortened: the deallocations go to a
         * relay that answered a moment ago, and one that died is not waited
         * for (100 + 200 ms). During ICE nothing is changed (it would bias the
         * pair selected). */
        g_object_set(s->agent, "stun-initial-timeout", SESSION_CLOSE_RTO_MS,
                     "stun-max-retransmissions", 1, NULL);
        g_atomic_int_inc(&w->pending);
        /* The close completes on the thread-default context: make it ours. */
        g_main_context_push_thread_default(s->ctx);
        nice_agent_close_async(s->agent, on_closed, g_atomic_rc_box_acquire(w));
        g_main_context_pop_thread_default(s->ctx);
    }
    if (ctx)
        loop_run_until(ctx, all_closed, w, max_ms);
    g_atomic_rc_box_release(w);
}

void session_free(Session *s)
{
    if (!s)
        return;
    if (s->agent) {
        /* Close properly, or the allocations linger on the relay (§18). */
        session_close_all(&s, 1, SESSION_CLOSE_WAIT_MS);
        g_signal_handlers_disconnect_by_data(s->agent, s);
        if (s->recording)
            icecapture_detach(s->agent);
        g_object_unref(s->agent);
    }
    for (guint i = 0; i < s->n_turn; i++)
        g_free(s->turn[i].ip);
    g_main_context_unref(s->ctx);
    g_free(s->name);
    g_slist_free_full(s->held, (GDestroyNotify)nice_candidate_free);
    if (s->to_send)
        g_ptr_array_unref(s->to_send);
    g_free(s);
}

GMainContext *session_context(const Session *s)
{
    return s->ctx;
}

gboolean session_gather(Session *s, GError **error)
{
    if (!nice_agent_gather_candidates(s->agent, s->stream_id)) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_LIBNICE, "%s: candidate gathering failed to start", s->name);
        return FALSE;
    }
    s->gather_started = TRUE; /* every host candidate exists now */
    return TRUE;
}

SessionState session_state(const Session *s)
{
    return s->state;
}

void session_count_candidates(Session *s, guint *host, guint *srflx, guint *relay)
{
    *host = *srflx = *relay = 0;
    GSList *cands = nice_agent_get_local_candidates(s->agent, s->stream_id, COMPONENT);
    for (GSList *l = cands; l; l = l->next) {
        NiceCandidate *c = l->data;
        if (c->type == NICE_CANDIDATE_TYPE_HOST)
            (*host)++;
        else if (c->type == NICE_CANDIDATE_TYPE_RELAYED)
            (*relay)++;
        else
            (*srflx)++;
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
}

GPtrArray *session_udp_bases(Session *s)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    GSList *cands = nice_agent_get_local_candidates(s->agent, s->stream_id, COMPONENT);
    for (GSList *l = cands; l; l = l->next) {
        NiceCandidate *c = l->data;
        if (c->transport != NICE_CANDIDATE_TRANSPORT_UDP || !nice_address_is_valid(&c->base_addr))
            continue;
        char ip[NICE_ADDRESS_STRING_LEN];
        nice_address_to_string(&c->base_addr, ip);
        GSocketAddress *a = g_inet_socket_address_new_from_string(
            ip, nice_address_get_port(&c->base_addr));
        gboolean seen = FALSE;
        for (guint i = 0; a && i < out->len && !seen; i++) {
            GInetSocketAddress *b = out->pdata[i];
            seen = g_inet_socket_address_get_port(b) == nice_address_get_port(&c->base_addr) &&
                   g_inet_address_equal(g_inet_socket_address_get_address(b),
                                        g_inet_socket_address_get_address(
                                            G_INET_SOCKET_ADDRESS(a)));
        }
        if (a && !seen)
            g_ptr_array_add(out, a);
        else if (a)
            g_object_unref(a);
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    return out;
}

void session_local_credentials(Session *s, char **ufrag, char **pwd)
{
    *ufrag = *pwd = NULL;
    nice_agent_get_local_credentials(s->agent, s->stream_id, ufrag, pwd);
}

gboolean session_set_remote_credentials(Session *s, const char *ufrag, const char *pwd,
                                        GError **error)
{
    /* RFC 8445 §5.3: ufrag at least 4 characters, pwd at least 22, at most 256. */
    if (!ufrag || !pwd || strlen(ufrag) < 4 || strlen(ufrag) > 256 || strlen(pwd) < 22 ||
        strlen(pwd) > 256 ||
        !nice_agent_set_remote_credentials(s->agent, s->stream_id, ufrag, pwd)) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_REMOTE, "%s: the peer's ICE credentials are not valid",
                    s->name);
        return FALSE;
    }
    return TRUE;
}

gboolean session_add_remote_candidate(Session *s, const char *sdp_line, GError **error)
{
    if (!sdp_line || strlen(sdp_line) > 1024) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_REMOTE, "%s: a remote candidate line is missing or too long",
                    s->name);
        return FALSE;
    }
    NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(s->agent, s->stream_id, sdp_line);
    if (!c) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_REMOTE, "%s: not a candidate line: %.80s", s->name, sdp_line);
        return FALSE;
    }
    if (c->component_id != COMPONENT) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_REMOTE, "%s: a remote candidate for component %u", s->name,
                    c->component_id);
        nice_candidate_free(c);
        return FALSE;
    }
    if (s->ms_ice2 && !s->gathered_at) {
        if (g_slist_length(s->held) >= SESSION_MAX_HELD) {
            g_set_error(error, SESSION_ERROR, SESSION_ERROR_REMOTE,
                        "%s: more than %d remote candidates", s->name, SESSION_MAX_HELD);
            nice_candidate_free(c);
            return FALSE;
        }
        s->held = g_slist_prepend(s->held, c);
        return TRUE;
    }
    GSList one = {.data = c, .next = NULL};
    int n = nice_agent_set_remote_candidates(s->agent, s->stream_id, COMPONENT, &one);
    nice_candidate_free(c);
    if (n < 0) {
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_REMOTE, "%s: libnice refused a remote candidate", s->name);
        return FALSE;
    }
    if (s->state == SESSION_STATE_GATHERED)
        s->state = SESSION_STATE_CHECKING;
    return TRUE;
}

gboolean session_host_candidates_exist(const Session *s)
{
    return s->gather_started;
}

/* libnice's own signal, not the state: with trickle a pair can be READY before
 * the last candidate is gathered. */
gboolean session_gathering_done(const Session *s)
{
    return s->gathered_at != 0;
}

typedef struct {
    Session **sessions;
    guint n;
    SessionState until;
} AllReached;

static gboolean all_reached(gpointer data)
{
    const AllReached *a = data;
    for (guint i = 0; i < a->n; i++) {
        SessionState st = a->sessions[i]->state;
        if (a->until == SESSION_STATE_GATHERED) {
            if (st == SESSION_STATE_GATHERING)
                return FALSE;
        } else if (st != SESSION_STATE_READY && st != SESSION_STATE_FAILED) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean session_wait_all(GMainContext *ctx, Session **sessions, guint n, SessionState until,
                          guint timeout_ms)
{
    AllReached a = {sessions, n, until};
    return loop_run_until(ctx, all_reached, &a, timeout_ms);
}

gboolean session_selected_pair(Session *s, NiceCandidate **local, NiceCandidate **remote,
                               NiceAddress *turn_server)
{
    NiceCandidate *l = NULL, *r = NULL;
    if (!session_has_pair(s) ||
        !nice_agent_get_selected_pair(s->agent, s->stream_id, COMPONENT, &l, &r))
        return FALSE;
    if (turn_server) {
        nice_address_init(turn_server);
        /* Safe only on the agent's own pointers (docs/libnice.md §6). */
        if (l->type == NICE_CANDIDATE_TYPE_RELAYED)
            nice_candidate_relay_address(l, turn_server);
    }
    *local = nice_candidate_copy(l);
    *remote = nice_candidate_copy(r);
    return TRUE;
}

guint session_pair_changes(const Session *s)
{
    return s->pair_changes;
}

gint64 session_ready_time(const Session *s)
{
    return s->ready_at;
}

gint64 session_gathered_time(const Session *s)
{
    return s->gathered_at;
}

gint64 session_first_pair_time(const Session *s)
{
    return s->first_pair_at;
}

gboolean session_has_pair(const Session *s)
{
    return s->first_pair_at != 0 && s->state != SESSION_STATE_FAILED;
}

/* The highest priority a candidate could still have: a non-host candidate may
 * yet be found peer-reflexive (type preference 110) with the same local
 * preference and component. */
static guint32 priority_bound(const NiceCandidate *c)
{
    guint32 prflx = (110u << 24) | (c->priority & 0xffffffu);
    return c->type == NICE_CANDIDATE_TYPE_HOST ? c->priority : MAX(c->priority, prflx);
}

static guint64 pair_priority(guint32 controlling, guint32 controlled)
{
    guint64 g = controlling, d = controlled;
    return (MIN(g, d) << 32) + 2 * MAX(g, d) + (g > d ? 1 : 0);
}

static gboolean transports_pair(NiceCandidateTransport l, NiceCandidateTransport r)
{
    switch (l) {
    case NICE_CANDIDATE_TRANSPORT_UDP:
        return r == NICE_CANDIDATE_TRANSPORT_UDP;
    case NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE:
        return r == NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE;
    case NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE:
        return r == NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE;
    default:
        return r == NICE_CANDIDATE_TRANSPORT_TCP_SO;
    }
}

gboolean session_pair_unbeatable(Session *s, gboolean remote_complete)
{
    NiceCandidate *sl = NULL, *sr = NULL;
    if (!remote_complete || !session_gathering_done(s) || !session_has_pair(s) ||
        !nice_agent_get_selected_pair(s->agent, s->stream_id, COMPONENT, &sl, &sr))
        return FALSE;
    guint64 selected = s->controlling ? pair_priority(sl->priority, sr->priority)
                                      : pair_priority(sr->priority, sl->priority);
    GSList *locals = nice_agent_get_local_candidates(s->agent, s->stream_id, COMPONENT);
    GSList *remotes = nice_agent_get_remote_candidates(s->agent, s->stream_id, COMPONENT);
    gboolean beatable = FALSE;
    for (GSList *l = locals; l && !beatable; l = l->next) {
        NiceCandidate *lc = l->data;
        if (s->relay_only && lc->type != NICE_CANDIDATE_TYPE_RELAYED)
            continue;
        for (GSList *r = remotes; r && !beatable; r = r->next) {
            NiceCandidate *rc = r->data;
            if (nice_address_ip_version(&lc->addr) != nice_address_ip_version(&rc->addr) ||
                !transports_pair(lc->transport, rc->transport))
                continue;
            guint32 lb = priority_bound(lc), rb = priority_bound(rc);
            guint64 bound = s->controlling ? pair_priority(lb, rb) : pair_priority(rb, lb);
            beatable = bound > selected;
        }
    }
    g_slist_free_full(locals, (GDestroyNotify)nice_candidate_free);
    g_slist_free_full(remotes, (GDestroyNotify)nice_candidate_free);
    return !beatable;
}

GSList *session_local_candidates(Session *s)
{
    return nice_agent_get_local_candidates(s->agent, s->stream_id, COMPONENT);
}

GSList *session_remote_candidates(Session *s)
{
    return nice_agent_get_remote_candidates(s->agent, s->stream_id, COMPONENT);
}

IceLog *session_ice_log(Session *s)
{
    return s->recording ? icecapture_copy(s->agent) : NULL;
}

/* A priority is type preference << 24 | local preference << 8 | (256 -
 * component); a relay candidate's local preference carries its TURN server's
 * place in libnice's list in bits 6-8 (candidate.c:
 * nice_candidate_ice_local_preference_full and its MS-ICE2 twin), the order
 * the session gave them in. */
int session_relay_server(const Session *s, const NiceCandidate *c)
{
    if (c->type != NICE_CANDIDATE_TYPE_RELAYED)
        return -1;
    guint i = (c->priority >> 14) & 7;
    return i < s->n_turn ? (int)i : -1;
}

gboolean session_turn_server(const Session *s, guint i, NiceAddress *addr, NiceRelayType *type)
{
    if (i >= s->n_turn)
        return FALSE;
    nice_address_init(addr);
    if (!nice_address_set_from_string(addr, s->turn[i].ip))
        return FALSE;
    nice_address_set_port(addr, s->turn[i].port);
    *type = s->turn[i].type;
    return TRUE;
}

void session_set_receiver(Session *s, SessionRecvFn fn, gpointer user_data)
{
    s->recv_fn = fn;
    s->recv_data = user_data;
}

gboolean session_send(Session *s, const guint8 *buf, gsize len)
{
    return nice_agent_send(s->agent, s->stream_id, COMPONENT, (guint)len, (const gchar *)buf) ==
           (gint)len;
}
