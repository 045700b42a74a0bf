/* The allocation goes as a client's does: an Allocate without credentials draws
 * a 401 with realm and nonce; the second, signed, gets the relayed address or a
 * named error. Over UDP requests are retransmitted from 250 ms, doubling; over
 * TCP and TLS, messages are framed by the STUN header's length. */
#include "turncheck.h"

#include <errno.h>
#include <stun/stunagent.h>
#include <stun/usages/turn.h>
#include <string.h>

#include "sock.h"

#include "iceprobe/keyfile.h"

const char *turncheck_transport_name(TurnCheckTransport t)
{
    static const char *const names[] = {"udp", "tcp", "tls"};
    return (guint)t < G_N_ELEMENTS(names) ? names[t] : "?";
}

void turncheck_result_clear(TurnCheckResult *r)
{
    g_free(r->relayed_address);
    g_free(r->mapped_address);
    g_free(r->local_address);
    g_free(r->error_reason);
    g_free(r->realm);
    g_free(r->failure);
    g_free(r->pseudo_tls_detail);
    tls_peer_info_clear(&r->tls);
    memset(r, 0, sizeof(*r));
}

gssize turncheck_stun_frame_length(const guint8 *buf, gsize len)
{
    if (len == 0)
        return 0;
    /* libnice reads the header and walks the attributes (RFC 5389 pads them);
     * it sees at most the cap, so a longer message never reads as whole. */
    int n = stun_message_validate_buffer_length(buf, MIN(len, TURNCHECK_MAX_MESSAGE), TRUE);
    if (n == STUN_MESSAGE_BUFFER_INCOMPLETE && len >= TURNCHECK_MAX_MESSAGE)
        return -1; /* not whole within the cap: over it */
    return n;      /* its length, 0 for more, or -1: not STUN (ChannelData never comes here) */
}

gssize turncheck_ms_frame_length(const guint8 *buf, gsize len)
{
    if (len < 1)
        return 0;
    if (buf[0] != 2 && buf[0] != 3)
        return -1; /* neither control nor data: not MS-TURN's framing */
    if (len < 4)
        return 0;
    gsize want = 4 + (((gsize)buf[2] << 8) | buf[3]);
    if (buf[1] != 0 || want > TURNCHECK_MAX_MESSAGE + 4)
        return -1;
    return len >= want ? (gssize)want : 0;
}

static char *native_string(const struct sockaddr_storage *ss, socklen_t len)
{
    g_autoptr(GSocketAddress) a = g_socket_address_new_from_native((gpointer)ss, len);
    return a ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(a)) : g_strdup("?");
}

/* The transport under the STUN exchange: a connected UDP socket or a TCP/TLS
 * connection from tlsrelay. */
typedef struct {
    TurnCheckTransport kind;
    gboolean ms; /* MS-TURN: its framing over TCP, pseudo-TLS on the TLS port */
    PSock udp_fd;
    TlsRelayConn *conn;
    guint8 stream[TURNCHECK_MAX_MESSAGE * 2];
    gsize stream_len;
} Link;

/* MS-TURN's TLS port answered the pseudo-TLS hello as something else: when that
 * was a TLS endpoint, a real handshake shows its certificate (out->tls). */
static void describe_tls_endpoint(const TlsRelayConfig *cfg, TurnCheckResult *out)
{
    if (out->pseudo_tls != PSEUDO_TLS_TLS_HANDSHAKE && out->pseudo_tls != PSEUDO_TLS_ALERT)
        return;
    TlsRelayConfig real = *cfg;
    real.tls = TRUE;
    g_autoptr(GError) e = NULL;
    TlsPeerInfo info = {0};
    TlsRelayConn *c = tlsrelay_connect(&real, &info, &e);
    tlsrelay_conn_close(c);
    if (info.handshake_done) {
        tls_peer_info_clear(&out->tls);
        out->tls = info;
        /* the pseudo-TLS connection's own end stays the one reported */
        g_clear_pointer(&out->tls.local_address, g_free);
    } else {
        tls_peer_info_clear(&info);
    }
}

static gboolean link_open(Link *l, const char *ip, guint port, TurnCheckTransport kind,
                          gboolean ms, const TlsRelayConfig *tls_cfg, guint timeout_ms,
                          TurnCheckResult *out)
{
    memset(l, 0, sizeof(*l));
    l->kind = kind;
    l->ms = ms;
    l->udp_fd = PSOCK_NONE;
    g_autoptr(GError) error = NULL;
    if (kind == TURNCHECK_UDP) {
        g_autoptr(GInetAddress) a = g_inet_address_new_from_string(ip);
        g_autoptr(GSocketAddress) sa = a ? g_inet_socket_address_new(a, (guint16)port) : NULL;
        struct sockaddr_storage ss;
        if (!sa || !g_socket_address_to_native(sa, &ss, sizeof(ss), NULL)) {
            out->failure = g_strdup_printf("'%s' is not an IP address", ip);
            return FALSE;
        }
        l->udp_fd = psock_open(ss.ss_family, SOCK_DGRAM, FALSE);
        if (l->udp_fd == PSOCK_NONE ||
            psock_connect(l->udp_fd, (struct sockaddr *)&ss, g_socket_address_get_native_size(sa)) != 0) {
            out->failure = g_strdup_printf("UDP to %s:%u: %s", ip, port, psock_strerror(psock_error()));
            return FALSE;
        }
        g_autoptr(GSocketAddress) local = psock_local_address(l->udp_fd);
        out->local_address = local ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(local))
                                   : g_strdup("?");
        return TRUE;
    }
    TlsRelayConfig cfg = {0};
    if (tls_cfg)
        cfg = *tls_cfg;
    cfg.edge_ip = (char *)ip;
    cfg.port = port;
    cfg.tls = kind == TURNCHECK_TLS && !ms;
    cfg.timeout_ms = timeout_ms;
    l->conn = tlsrelay_connect(&cfg, &out->tls, &error);
    if (out->tls.local_address)
        out->local_address = g_strdup(out->tls.local_address);
    if (!l->conn) {
        out->failure = g_strdup(error->message);
        return FALSE;
    }
    out->tcp_connected = TRUE;
    if (kind == TURNCHECK_TLS && ms) {
        out->pseudo_tls_tried = TRUE;
        out->pseudo_tls = tlsrelay_pseudo_tls(l->conn, timeout_ms, &out->pseudo_tls_detail);
        if (out->pseudo_tls != PSEUDO_TLS_OK) {
            out->failure = g_strdup_printf("pseudo-TLS on %s:%u: %s", ip, port,
                                           out->pseudo_tls_detail);
            describe_tls_endpoint(&cfg, out);
            return FALSE;
        }
    }
    return TRUE;
}

/* Sends one message over the link's connection, in MS-TURN's framing when the
 * edge speaks it. */
static gboolean link_send_stream(Link *l, const guint8 *req, gsize req_len, GError **error)
{
    if (!l->ms)
        return tlsrelay_conn_send(l->conn, req, req_len, error);
    guint8 framed[4 + TURNCHECK_MAX_MESSAGE];
    if (req_len > TURNCHECK_MAX_MESSAGE) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "message too long");
        return FALSE;
    }
    framed[0] = 2; /* a TURN control message */
    framed[1] = 0;
    framed[2] = (guint8)(req_len >> 8);
    framed[3] = (guint8)req_len;
    memcpy(framed + 4, req, req_len);
    return tlsrelay_conn_send(l->conn, framed, req_len + 4, error);
}

static void link_close(Link *l)
{
    psock_close(l->udp_fd);
    tlsrelay_conn_close(l->conn);
}

/* Sends req and waits for one answer into buf; returns its length, 0 on timeout,
 * -1 on a broken connection (out->failure set). */
static gssize link_exchange(Link *l, const char *where, const guint8 *req, gsize req_len,
                            guint8 *buf, gsize cap, gint64 deadline_us, TurnCheckResult *out)
{
    g_autoptr(GError) error = NULL;
    if (l->kind == TURNCHECK_UDP) {
        gint64 rto_ms = 250;
        while (g_get_monotonic_time() < deadline_us) {
            if (psock_send(l->udp_fd, req, req_len) < 0) {
                out->failure = g_strdup_printf("%s: send: %s", where, psock_strerror(psock_error()));
                return -1;
            }
            gint64 left_ms = (deadline_us - g_get_monotonic_time()) / 1000;
            if (left_ms <= 0)
                break;
            PSockWait w = {l->udp_fd, FALSE, FALSE};
            if (psock_wait(&w, 1, NULL, (int)MIN(rto_ms, left_ms)) > 0) {
                gssize n = psock_recv(l->udp_fd, buf, cap);
                if (n > 0)
                    return n;
                /* An ICMP port unreachable: Linux says ECONNREFUSED; Windows
                 * WSAECONNRESET on a UDP socket. */
                int e = n < 0 ? psock_error() : 0;
                if (e == ECONNREFUSED || e == ECONNRESET) {
                    out->failure =
                        g_strdup_printf("%s: ICMP port unreachable: nothing listens there", where);
                    return -1;
                }
            }
            rto_ms = MIN(rto_ms * 2, 2000);
        }
        return 0;
    }
    if (!link_send_stream(l, req, req_len, &error)) {
        out->failure = g_strdup(error->message);
        return -1;
    }
    for (;;) {
        gssize frame = l->ms ? turncheck_ms_frame_length(l->stream, l->stream_len)
                             : turncheck_stun_frame_length(l->stream, l->stream_len);
        if (frame < 0) {
            out->failure = g_strdup(l->ms ? "the edge answered with something that is not "
                                            "MS-TURN's framing"
                                          : "the edge answered with something that is not STUN");
            return -1;
        }
        if (frame > 0) {
            /* MS-TURN: the message after the 4-byte header; data frames are not ours */
            gsize head = l->ms ? 4 : 0;
            gboolean control = !l->ms || l->stream[0] == 2;
            gsize n = MIN((gsize)frame - head, cap);
            if (control)
                memcpy(buf, l->stream + head, n);
            memmove(l->stream, l->stream + frame, l->stream_len - (gsize)frame);
            l->stream_len -= (gsize)frame;
            if (control)
                return (gssize)n;
            continue;
        }
        gint64 left_ms = (deadline_us - g_get_monotonic_time()) / 1000;
        if (left_ms <= 0)
            return 0;
        gssize got = tlsrelay_conn_recv(l->conn, l->stream + l->stream_len,
                                        sizeof(l->stream) - l->stream_len, (guint)left_ms, &error);
        if (got < 0) {
            out->failure = g_strdup(error->message);
            return -1;
        }
        l->stream_len += (gsize)got;
    }
}

static void read_error(StunMessage *msg, TurnCheckResult *out)
{
    int code = 0;
    if (stun_message_find_error(msg, &code) == STUN_MESSAGE_RETURN_SUCCESS)
        out->error_code = (guint)code;
    uint16_t len = 0;
    const guint8 *attr = stun_message_find(msg, STUN_ATTRIBUTE_ERROR_CODE, &len);
    g_free(out->error_reason);
    out->error_reason = NULL;
    if (attr && len > 4)
        out->error_reason = g_utf8_make_valid((const char *)attr + 4, MIN(len - 4, 128));
    const guint8 *realm = stun_message_find(msg, STUN_ATTRIBUTE_REALM, &len);
    if (realm && len > 0) {
        g_free(out->realm);
        out->realm = g_utf8_make_valid((const char *)realm, MIN(len, 128));
    }
}

/* The credentials as the dialect uses them: MS-TURN keys its HMAC with the
 * bytes the MRAS base64 strings encode (as libnice does, component.c). */
static void dialect_credentials(const TurnCredentials *cred, gboolean ms, GBytes **user,
                                GBytes **pass)
{
    if (!ms) {
        *user = g_bytes_new(cred->username, strlen(cred->username));
        *pass = g_bytes_new(cred->password, strlen(cred->password));
        return;
    }
    gsize ulen = 0, plen = 0;
    guchar *u = g_base64_decode(cred->username, &ulen);
    guchar *p = g_base64_decode(cred->password, &plen);
    *user = g_bytes_new_take(u, ulen);
    *pass = g_bytes_new_take(p, plen);
}

/* Whether buf is an error response to req (its transaction) without
 * MESSAGE-INTEGRITY, read into msg. */
static gboolean unsigned_error_to(StunAgent *agent, const StunMessage *req, guint8 *buf, size_t len,
                                  StunMessage *msg)
{
    if (stun_message_validate_buffer_length(buf, len, FALSE) != (int)len)
        return FALSE;
    *msg = (StunMessage){.agent = agent, .buffer = buf, .buffer_len = len};
    StunTransactionId want, got;
    stun_message_id(req, want);
    stun_message_id(msg, got);
    uint16_t mi_len = 0;
    return stun_message_get_class(msg) == STUN_ERROR && memcmp(want, got, sizeof(want)) == 0 &&
           !stun_message_find(msg, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, &mi_len);
}

/* One allocation on one link: libnice's agent in the edge's dialect, the
 * credentials as the dialect keys them, and the challenge being answered. */
typedef struct {
    char *where; /* edge_ip:port/transport */
    gboolean ms;
    Link link;
    StunAgent agent;
    StunUsageTurnCompatibility compat;
    GBytes *user, *pass;
    guint8 req[TURNCHECK_MAX_MESSAGE], resp[TURNCHECK_MAX_MESSAGE], prev[TURNCHECK_MAX_MESSAGE];
    StunMessage req_msg, resp_msg, prev_msg;
    gboolean have_prev; /* the challenge (prev) to sign the next request with */
} Allocation;

/* As libnice's TURN client in each dialect (agent.c, priv_turn_allocate):
 * MS-TURN is STUN without the magic cookie, unpadded attributes, REALM and
 * NONCE swapped, and a MESSAGE-INTEGRITY over a 64-byte-padded text. */
static Allocation *allocation_new(const char *where, gboolean ms, const TurnCredentials *cred)
{
    Allocation *a = g_new0(Allocation, 1);
    a->where = g_strdup(where);
    a->ms = ms;
    a->link.udp_fd = PSOCK_NONE;
    a->compat = ms ? STUN_USAGE_TURN_COMPATIBILITY_OC2007 : STUN_USAGE_TURN_COMPATIBILITY_RFC5766;
    if (ms)
        stun_agent_init(&a->agent, STUN_MSOC_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_OC2007,
                        STUN_AGENT_USAGE_LONG_TERM_CREDENTIALS |
                            STUN_AGENT_USAGE_NO_ALIGNED_ATTRIBUTES);
    else
        stun_agent_init(&a->agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                        STUN_AGENT_USAGE_LONG_TERM_CREDENTIALS);
    dialect_credentials(cred, ms, &a->user, &a->pass);
    return a;
}

static void allocation_free(Allocation *a)
{
    link_close(&a->link);
    gsize plen = 0;
    keyfile_wipe((void *)g_bytes_get_data(a->pass, &plen), plen);
    g_bytes_unref(a->user);
    g_bytes_unref(a->pass);
    g_free(a->where);
    g_free(a);
}

/* A request in the allocation's dialect into a->req, signed with the challenge
 * when there is one: an Allocate, or (lifetime 0) the allocation's release. */
static gsize allocation_request(Allocation *a, gboolean release)
{
    gsize ulen = 0, plen = 0;
    uint8_t *u = (uint8_t *)g_bytes_get_data(a->user, &ulen);
    uint8_t *pw = (uint8_t *)g_bytes_get_data(a->pass, &plen);
    StunMessage *prev = a->have_prev ? &a->prev_msg : NULL;
    /* a Refresh with lifetime 0; in MS-TURN an Allocate with lifetime 0, as
     * libnice's discovery.c */
    if (release && !a->ms)
        return stun_usage_turn_create_refresh(&a->agent, &a->req_msg, a->req, sizeof(a->req), prev,
                                              0, u, ulen, pw, plen, a->compat);
    return stun_usage_turn_create(&a->agent, &a->req_msg, a->req, sizeof(a->req), prev,
                                  STUN_USAGE_TURN_REQUEST_PORT_NORMAL, -1, release ? 0 : -1, u,
                                  ulen, pw, plen, a->compat);
}

/* The edge's refusal (out's error code, reason and realm) in one line; a
 * refusal of the credentials says which kind. */
static char *refusal(const Allocation *a, const TurnCheckResult *out, const char *no_reason)
{
    /* MS-TURN answers a MESSAGE-INTEGRITY made with the wrong key 431
     * ([MS-TURN] 3.3.5.1), where RFC 5766 answers a second 401. */
    if (out->error_code == 401 || (a->ms && out->error_code == 431))
        return g_strdup_printf(
            "TURN allocate on %s: %u %s, realm '%s': the credentials were refused (%s)", a->where,
            out->error_code, out->error_reason ? out->error_reason : no_reason,
            out->realm ? out->realm : "",
            a->ms ? "MRAS credentials lapsed or for another pool?" : "shared secret wrong?");
    return g_strdup_printf("TURN allocate on %s: %u %s", a->where, out->error_code,
                           out->error_reason ? out->error_reason : "error");
}

/* One Allocate and its answer: out->ok, out->failure, or (a challenge to
 * answer) neither, with the challenge kept for the next attempt. */
static void allocate_once(Allocation *a, gint64 deadline, guint timeout_ms, TurnCheckResult *out)
{
    gsize n = allocation_request(a, FALSE);
    gssize got =
        link_exchange(&a->link, a->where, a->req, n, a->resp, sizeof(a->resp), deadline, out);
    if (got < 0)
        return;
    if (got == 0) {
        out->failure = g_strdup_printf("timeout: no answer from %s in %u ms", a->where, timeout_ms);
        return;
    }
    StunValidationStatus v =
        stun_agent_validate(&a->agent, &a->resp_msg, a->resp, (size_t)got, NULL, NULL);
    if (v == STUN_VALIDATION_UNAUTHORIZED && a->ms &&
        unsigned_error_to(&a->agent, &a->req_msg, a->resp, (size_t)got, &a->resp_msg)) {
        /* An MS-TURN edge answers a wrong key 431 without MESSAGE-INTEGRITY
         * (it has no key to sign with); libnice's agent exempts only 400,
         * 401, 438 and 300, so its client would wait for a timeout. The
         * check reads the answer to name it. */
        read_error(&a->resp_msg, out);
        out->failure = refusal(a, out, "error");
        return;
    }
    if (v != STUN_VALIDATION_SUCCESS) {
        out->failure = g_strdup_printf("the answer from %s is not a valid STUN response "
                                       "(validation status %d)",
                                       a->where, v);
        return;
    }
    struct sockaddr_storage relay, mapped, alt;
    socklen_t rl = sizeof(relay), ml = sizeof(mapped), al = sizeof(alt);
    uint32_t bw = 0, lifetime = 0;
    StunUsageTurnReturn r = stun_usage_turn_process(&a->resp_msg, &relay, &rl, &mapped, &ml, &alt,
                                                    &al, &bw, &lifetime, a->compat);
    if (r == STUN_USAGE_TURN_RETURN_RELAY_SUCCESS || r == STUN_USAGE_TURN_RETURN_MAPPED_SUCCESS) {
        out->ok = TRUE;
        out->relayed_address = native_string(&relay, rl);
        if (r == STUN_USAGE_TURN_RETURN_MAPPED_SUCCESS)
            out->mapped_address = native_string(&mapped, ml);
        out->error_code = 0;
        return;
    }
    read_error(&a->resp_msg, out);
    /* The first 401 (and a stale nonce) are the normal challenge. */
    gboolean challenge = (out->error_code == 401 && !a->have_prev) || out->error_code == 438;
    if (r == STUN_USAGE_TURN_RETURN_ERROR && challenge) {
        memcpy(a->prev, a->resp, (gsize)got);
        a->prev_msg = a->resp_msg;
        a->prev_msg.buffer = a->prev;
        a->have_prev = TRUE;
        return;
    }
    out->failure = refusal(a, out, "Unauthorized");
}

/* Releases the allocation, signed with the challenge's realm and nonce; its
 * answer, if any, changes nothing. */
static void allocation_release(Allocation *a)
{
    gsize n = allocation_request(a, TRUE);
    TurnCheckResult scratch = {0};
    link_exchange(&a->link, a->where, a->req, n, a->resp, sizeof(a->resp),
                  g_get_monotonic_time() + 500000, &scratch);
    turncheck_result_clear(&scratch);
}

void turncheck_run(const char *edge_ip, guint port, TurnCheckTransport transport, gboolean ms_turn,
                   const TurnCredentials *cred, const TlsRelayConfig *tls_cfg, guint timeout_ms,
                   TurnCheckResult *out)
{
    memset(out, 0, sizeof(*out));
    gint64 start = g_get_monotonic_time();
    gint64 deadline = start + (gint64)timeout_ms * 1000;
    g_autofree char *where =
        g_strdup_printf("%s:%u/%s", edge_ip, port, turncheck_transport_name(transport));
    Allocation *a = allocation_new(where, ms_turn, cred);
    if (link_open(&a->link, edge_ip, port, transport, ms_turn, tls_cfg, timeout_ms, out)) {
        for (int attempt = 0; attempt < 3 && !out->ok && !out->failure; attempt++)
            allocate_once(a, deadline, timeout_ms, out);
        if (out->ok && a->have_prev)
            allocation_release(a);
    }
    allocation_free(a);
    out->duration_ms = (double)(g_get_monotonic_time() - start) / 1000.0;
}
