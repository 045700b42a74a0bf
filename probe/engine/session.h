/* One ICE agent (libnice, RFC 5245/8445 full mode) with one audio component,
 * gathering as a call client does: every interface, UPnP off, consent freshness
 * on, TURN servers as given. Candidates pass between agents one SDP line at a
 * time (trickle ICE), in paired runs, the relay loop and the tests alike. */
#pragma once

#include <agent.h>
#include <gio/gio.h>

#include "icelog.h"

#define SESSION_ERROR (session_error_quark())
GQuark session_error_quark(void);
typedef enum {
    SESSION_ERROR_LIBNICE, /* libnice refused what it was given (an address, a stream, a server) */
    SESSION_ERROR_REMOTE,  /* the peer's description, credentials or candidate line is wrong */
    SESSION_ERROR_SRTP,    /* libsrtp2 failed (stream.c) */
} SessionError;

#define SESSION_MAX_TURN 4

typedef struct {
    char *ip;
    guint port;
    NiceRelayType type;
} SessionTurn;

/* A local candidate as gathered, as an SDP attribute line (trickle ICE). */
typedef void (*SessionCandidateFn)(const char *sdp_line, gpointer user_data);

typedef struct Session Session;

/* The selected pair changed (the first time too): copies of its candidates,
 * valid during the call. */
typedef void (*SessionPairFn)(Session *s, NiceCandidate *local, NiceCandidate *remote,
                              gpointer user_data);

typedef struct {
    const char *name; /* for messages: "probe", "far end" */
    gboolean controlling;
    gboolean ms_ice2;            /* the SfB client's ICE (libnice's OC2007R2), MS-TURN with it */
    gboolean regular_nomination; /* RFC 8445 regular nomination; default aggressive */
    gboolean relay_only;         /* libnice's force-relay: only relay candidates are used */
    gboolean ice_tcp;            /* gather TCP host candidates (a client does) */
    guint dscp;                  /* the DSCP its packets are marked with; 0: none */
    GPtrArray *only_addresses;   /* GInetAddress: gather only on these; NULL: everywhere */
    const char *stun_ip; /* a STUN server (numeric), for the reflexive address without TURN */
    guint stun_port;
    SessionTurn turn[SESSION_MAX_TURN];
    guint n_turn;
    const char *turn_username;
    const char *turn_password;
    SessionCandidateFn on_candidate; /* optional: each local candidate as it is gathered */
    gpointer on_candidate_data;
    SessionPairFn on_pair; /* optional: each change of the selected pair */
    gpointer on_pair_data;
    /* Record what libnice says of its checks and allocations (icecapture.h):
     * session_ice_log() gives it. */
    gboolean record_ice;
} SessionConfig;

typedef enum {
    SESSION_STATE_GATHERING,
    SESSION_STATE_GATHERED,
    SESSION_STATE_CHECKING,
    SESSION_STATE_READY,
    SESSION_STATE_FAILED,
} SessionState;

/* Packets arrive on the session's main context. */
typedef void (*SessionRecvFn)(const guint8 *buf, gsize len, gpointer user_data);

Session *session_new(GMainContext *ctx, const SessionConfig *cfg, GError **error);
void session_free(Session *s);
GMainContext *session_context(const Session *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Session, session_free)

gboolean session_gather(Session *s, GError **error);
SessionState session_state(const Session *s);
/* Number of local candidates of each type, for the report. */
void session_count_candidates(Session *s, guint *host, guint *srflx, guint *relay);

/* Trickle ICE (paired runs): the local ICE credentials, the peer's, and the
 * peer's candidates one SDP line at a time. libnice ignores remote candidates
 * until the remote credentials are set (docs/libnice.md §8): set them first. */
void session_local_credentials(Session *s, char **ufrag, char **pwd);
gboolean session_set_remote_credentials(Session *s, const char *ufrag, const char *pwd,
                                        GError **error);
gboolean session_add_remote_candidate(Session *s, const char *sdp_line, GError **error);
gboolean session_gathering_done(const Session *s);
/* session_gather was called: libnice made every host candidate in that call
 * (the later ones are reflexive and relay candidates). */
gboolean session_host_candidates_exist(const Session *s);

/* Runs ctx until every session given is GATHERED (until GATHERED) or READY or
 * FAILED (until READY), or timeout_ms passes; TRUE if they all got there. */
gboolean session_wait_all(GMainContext *ctx, Session **sessions, guint n, SessionState until,
                          guint timeout_ms);

/* Closes the agents of sessions on one context together: their relay
 * allocations are released in parallel, waiting at most max_ms. Packets that
 * still arrive are dropped; session_free then only releases memory. */
void session_close_all(Session **sessions, guint n, guint max_ms);

/* The selected pair, if any (from the first selection on): copies, for the caller to free.
 * turn_server gets the TURN server's address for a relay candidate (NiceAddress, may be NULL). */
gboolean session_selected_pair(Session *s, NiceCandidate **local, NiceCandidate **remote,
                               NiceAddress *turn_server);
guint session_pair_changes(const Session *s);
/* The local addresses of the session's UDP sockets (GInetSocketAddress): each
 * UDP candidate's base, host candidates and the sockets TURN allocations were
 * made from, without repeats. */
GPtrArray *session_udp_bases(Session *s);
gint64 session_ready_time(const Session *s);      /* monotonic µs, 0 if never */
gint64 session_first_pair_time(const Session *s); /* the first selected pair's, 0 if none */
gint64 session_gathered_time(const Session *s);   /* gathering done, 0 if not yet */
gboolean session_has_pair(const Session *s);      /* a pair is selected (CONNECTED or READY) */
/* TRUE when the selected pair cannot be outranked any more: gathering is done on
 * both sides (remote_complete: the peer's candidates are all here) and no pair
 * of the candidates known, nor a peer-reflexive pair any of them could still
 * turn into, has a higher priority (RFC 8445 §6.1.2.3). */
gboolean session_pair_unbeatable(Session *s, gboolean remote_complete);

/* ---- the ICE record (docs/libnice.md §42) ---- */

/* libnice's local and remote candidates now (copies, for
 * g_slist_free_full(l, nice_candidate_free)). */
GSList *session_local_candidates(Session *s);
GSList *session_remote_candidates(Session *s);
/* What libnice logged of this session's checks and allocations (a copy, for
 * icelog_free), or NULL when it was not recorded. */
IceLog *session_ice_log(Session *s);
/* The TURN server, as the session gave it to libnice, that a local relay
 * candidate was allocated on, by its index (its place in cfg->turn): libnice
 * writes it into the candidate's priority (the local preference's TURN bits,
 * candidate.c nice_candidate_ice_local_preference), which copies keep.
 * -1 for another candidate. */
int session_relay_server(const Session *s, const NiceCandidate *c);
/* The session's TURN server i: its address and type; FALSE past the last. */
gboolean session_turn_server(const Session *s, guint i, NiceAddress *addr, NiceRelayType *type);

void session_set_receiver(Session *s, SessionRecvFn fn, gpointer user_data);
/* Thread-safe (nice_agent_send). */
gboolean session_send(Session *s, const guint8 *buf, gsize len);
