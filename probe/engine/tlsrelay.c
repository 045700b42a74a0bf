/* Connections to the edge and the loopback forwarders (see tlsrelay.h). Each
 * forwarded connection has its own thread with blocking sockets and a wait on
 * them (sock.h: poll() on Linux, select() on Windows): a handful of
 * connections live for seconds, and the ICE agents' main loop never waits on a
 * handshake. */
#include "tlsrelay.h"

#include "ca.h"
#include "egress.h"
#include "sock.h"
#include "tcpstats.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>

G_DEFINE_QUARK(iceprobe - tlsrelay - error - quark, tlsrelay_error)

#define RELAY_MAX_CONNECTIONS 32
#define RELAY_BUF             16384

struct TlsRelayConn {
    PSock fd;
    GSocketAddress *local;
    SSL_CTX *ctx;
    SSL *ssl;
};

void tls_peer_info_clear(TlsPeerInfo *i)
{
    g_free(i->local_address);
    g_free(i->leaf_sha256);
    g_free(i->subject);
    g_free(i->issuer);
    g_free(i->protocol);
    g_free(i->verify_error);
    memset(i, 0, sizeof(*i));
}

/* Waits until fd is ready to read (or to write), stop (NULL: none) is
 * signalled or the deadline (monotonic µs) passes. 1 ready, 0 timed out, -1
 * stopped or failed. */
static int wait_fd(PSock fd, gboolean write, const GPollFD *stop, gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0)
        return 0;
    PSockWait w = {fd, write, FALSE};
    return psock_wait(&w, 1, stop, (int)((left + 999) / 1000));
}

/* A non-blocking socket connected to ip:port within the deadline. */
static PSock tcp_connect(const char *ip, guint port, gint64 deadline, const GPollFD *stop,
                         GError **error)
{
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(ip);
    g_autoptr(GSocketAddress) sa = addr ? g_inet_socket_address_new(addr, (guint16)port) : NULL;
    struct sockaddr_storage ss;
    if (!sa || !g_socket_address_to_native(sa, &ss, sizeof(ss), NULL)) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "'%s' is not an IP address", ip);
        return PSOCK_NONE;
    }
    PSock fd = psock_open(ss.ss_family, SOCK_STREAM, TRUE);
    if (fd == PSOCK_NONE) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "socket: %s",
                    psock_strerror(psock_error()));
        return PSOCK_NONE;
    }
    int rc = psock_connect(fd, (struct sockaddr *)&ss, g_socket_address_get_native_size(sa));
    int err = rc < 0 ? psock_error() : 0;
    if (rc > 0) {
        rc = wait_fd(fd, TRUE, stop, deadline);
        err = rc == 0 ? ETIMEDOUT : rc < 0 ? psock_error() : psock_connect_result(fd);
        rc = err ? -1 : 0;
    }
    if (rc < 0) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "TCP connect to %s:%u: %s", ip,
                    port, psock_strerror(err));
        psock_close(fd);
        return PSOCK_NONE;
    }
    psock_set_nodelay(fd);
    return fd;
}

static char *openssl_errors(void)
{
    GString *s = g_string_new(NULL);
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error())) {
        ERR_error_string_n(e, buf, sizeof(buf));
        g_string_append_printf(s, "%s%s", s->len ? "; " : "", buf);
    }
    return g_string_free(s, FALSE);
}

static void describe_peer(SSL *ssl, TlsPeerInfo *info)
{
    X509 *leaf = SSL_get1_peer_certificate(ssl);
    info->protocol = g_strdup(SSL_get_version(ssl));
    if (!leaf)
        return;
    /* The pin is the SHA-256 of the certificate's DER, in lowercase hex. */
    unsigned char *der = NULL;
    int der_len = i2d_X509(leaf, &der);
    if (der_len > 0)
        info->leaf_sha256 = g_compute_checksum_for_data(G_CHECKSUM_SHA256, der, (gsize)der_len);
    OPENSSL_free(der);
    char name[512];
    X509_NAME_oneline(X509_get_subject_name(leaf), name, sizeof(name));
    info->subject = g_strdup(name);
    X509_NAME_oneline(X509_get_issuer_name(leaf), name, sizeof(name));
    info->issuer = g_strdup(name);
    X509_free(leaf);
}

/* SSL_connect on the non-blocking socket, waiting for what it wants (sock.h),
 * until the deadline or a stop. */
static gboolean ssl_connect(SSL *ssl, PSock fd, gint64 deadline, const GPollFD *stop,
                            const char **why)
{
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(ssl);
        if (rc == 1)
            return TRUE;
        int e = SSL_get_error(ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            *why = NULL;
            return FALSE;
        }
        int w = wait_fd(fd, e == SSL_ERROR_WANT_WRITE, stop, deadline);
        if (w <= 0) {
            *why = w == 0 ? "no answer in time" : "stopped";
            return FALSE;
        }
    }
}

static gboolean tls_handshake(TlsRelayConn *c, const TlsRelayConfig *cfg, gint64 deadline,
                              const GPollFD *stop, TlsPeerInfo *info, GError **error)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    gboolean want_chain = cfg->ca_file || !cfg->pin_sha256;
    if (cfg->ca_file) {
        if (!SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL)) {
            g_autofree char *e = openssl_errors();
            g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_TLS, "loading CA file %s: %s",
                        cfg->ca_file, e);
            return FALSE;
        }
    } else {
        ca_openssl_default(c->ctx); /* the system's CAs */
    }
    /* Verification is judged after the handshake, so that a wrong certificate
     * is described (subject, issuer, fingerprint), not only refused. */
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, (int)c->fd); /* a SOCKET fits in an int (OpenSSL's own note) */
    if (cfg->server_name) {
        GInetAddress *ip = g_inet_address_new_from_string(cfg->server_name);
        if (ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), cfg->server_name);
        else {
            SSL_set_tlsext_host_name(c->ssl, cfg->server_name);
            SSL_set1_host(c->ssl, cfg->server_name);
        }
        g_clear_object(&ip);
    }
    const char *why = NULL;
    if (!ssl_connect(c->ssl, c->fd, deadline, stop, &why)) {
        g_autofree char *e = openssl_errors();
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_TLS,
                    "TLS handshake with %s:%u failed: %s", cfg->edge_ip, cfg->port,
                    why  ? why
                    : *e ? e
                         : "connection closed");
        return FALSE;
    }
    info->handshake_done = TRUE;
    describe_peer(c->ssl, info);
    long vr = SSL_get_verify_result(c->ssl);
    info->chain_ok = vr == X509_V_OK && SSL_get0_peer_certificate(c->ssl) != NULL;
    if (!info->chain_ok)
        info->verify_error =
            g_strdup(vr == X509_V_OK ? "no certificate" : X509_verify_cert_error_string(vr));
    if (cfg->pin_sha256) {
        info->pin_checked = TRUE;
        info->pin_ok =
            info->leaf_sha256 && g_ascii_strcasecmp(info->leaf_sha256, cfg->pin_sha256) == 0;
    }
    if (want_chain && !info->chain_ok) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_VERIFY,
                    "TLS to %s:%u: certificate '%s' (issuer '%s') not trusted: %s", cfg->edge_ip,
                    cfg->port, info->subject ? info->subject : "?",
                    info->issuer ? info->issuer : "?", info->verify_error);
        return FALSE;
    }
    if (info->pin_checked && !info->pin_ok) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_VERIFY,
                    "TLS to %s:%u: certificate SHA-256 %s is not the pinned %s", cfg->edge_ip,
                    cfg->port, info->leaf_sha256 ? info->leaf_sha256 : "?", cfg->pin_sha256);
        return FALSE;
    }
    return TRUE;
}

/* The connection and handshake together take at most the timeout, and end at
 * once when stop (NULL: none) is signalled. */
static TlsRelayConn *connect_until(const TlsRelayConfig *cfg, const GPollFD *stop,
                                   TlsPeerInfo *info, GError **error)
{
    g_return_val_if_fail(cfg && cfg->edge_ip && info, NULL);
    guint timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(TlsRelayConn) c = g_new0(TlsRelayConn, 1);
    c->fd = tcp_connect(cfg->edge_ip, cfg->port, deadline, stop, error);
    if (c->fd == PSOCK_NONE)
        return NULL;
    c->local = psock_local_address(c->fd);
    if (c->local)
        info->local_address = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(c->local));
    if (cfg->tls && !tls_handshake(c, cfg, deadline, stop, info, error))
        return NULL;
    /* After the handshake: blocking, with the timeout on each read and write. */
    psock_set_blocking(c->fd, timeout_ms);
    return g_steal_pointer(&c);
}

TlsRelayConn *tlsrelay_connect(const TlsRelayConfig *cfg, TlsPeerInfo *info, GError **error)
{
    return connect_until(cfg, NULL, info, error);
}

gboolean tlsrelay_conn_send(TlsRelayConn *c, const guint8 *buf, gsize len, GError **error)
{
    while (len > 0) {
        int n = c->ssl ? SSL_write(c->ssl, buf, (int)len) : (int)psock_send(c->fd, buf, len);
        if (n <= 0) {
            g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "send: %s",
                        c->ssl ? "TLS write failed" : psock_strerror(psock_error()));
            return FALSE;
        }
        buf += n;
        len -= (gsize)n;
    }
    return TRUE;
}

gssize tlsrelay_conn_recv(TlsRelayConn *c, guint8 *buf, gsize len, guint timeout_ms, GError **error)
{
    if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
        PSockWait w = {c->fd, FALSE, FALSE};
        int rc = psock_wait(&w, 1, NULL, (int)timeout_ms);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "poll: %s",
                        psock_strerror(psock_error()));
            return -1;
        }
    }
    int n = c->ssl ? SSL_read(c->ssl, buf, (int)len) : (int)psock_recv(c->fd, buf, len);
    if (n <= 0) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT,
                    "the edge closed the connection");
        return -1;
    }
    return n;
}

/* The hello every MS-TURN client sends ([MS-TURN] 2.1.1), as libnice sends it
 * (socket/pseudossl.c, whose socket is not public API): TLS 1.0 record, a
 * ClientHello with a fixed random, no session, one cipher suite (0x0018). */
static const guint8 pseudo_hello[PSEUDO_TLS_HELLO_LEN] = {
    0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x01, 0xc1, 0xfc,
    0xd5, 0xa3, 0x6d, 0x93, 0xdd, 0x7e, 0x0b, 0x45, 0x67, 0x3f, 0xec, 0x79, 0x85,
    0xfb, 0xbc, 0x3f, 0xd6, 0x60, 0xc2, 0xce, 0x84, 0x85, 0x08, 0x1b, 0x81, 0x21,
    0xbc, 0xaa, 0x10, 0xfb, 0x00, 0x00, 0x02, 0x00, 0x18, 0x01, 0x00};

/* The edge's reply: ServerHello (random at 11-42, a 32-byte session id at
 * 44-75, both free) and ServerHelloDone, in one record. */
static const guint8 pseudo_reply[PSEUDO_TLS_REPLY_LEN] = {
    0x16,        0x03,        0x01,        0x00,        0x4e,        0x02,        0x00,
    0x00,        0x46,        0x03,        0x01,        [43] = 0x20, [76] = 0x00, [77] = 0x18,
    [78] = 0x00, [79] = 0x0e, [80] = 0x00, [81] = 0x00, [82] = 0x00};

gboolean pseudo_tls_reply_ok(const guint8 *buf, gsize len)
{
    if (len != PSEUDO_TLS_REPLY_LEN)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        gboolean free_byte = (i >= 11 && i <= 42) || (i >= 44 && i <= 75);
        if (!free_byte && buf[i] != pseudo_reply[i])
            return FALSE;
    }
    return TRUE;
}

const char *pseudo_tls_answer_name(PseudoTlsAnswer a)
{
    static const char *const names[] = {"fixed-reply", "tls-handshake", "tls-alert", "reset",
                                        "closed",      "silent",        "other"};
    return (guint)a < G_N_ELEMENTS(names) ? names[a] : "?";
}

/* What a reply so far (have bytes of buf) says, or -1 when more is needed. */
static int judge_reply(const guint8 *buf, gsize have, char **why)
{
    if (have >= 1 && buf[0] != 0x15 && buf[0] != 0x16) {
        *why = g_strdup_printf("it answered with bytes that are not TLS (the first is 0x%02x)",
                               buf[0]);
        return PSEUDO_TLS_OTHER;
    }
    if (have >= 7 && buf[0] == 0x15) {
        *why = g_strdup_printf("it answered with a TLS alert (level %u, description %u)", buf[5],
                               buf[6]);
        return PSEUDO_TLS_ALERT;
    }
    if (have < PSEUDO_TLS_REPLY_LEN)
        return -1;
    if (pseudo_tls_reply_ok(buf, have)) {
        *why = g_strdup("it answered with the edge's fixed reply");
        return PSEUDO_TLS_OK;
    }
    *why = g_strdup_printf("it answered with a TLS handshake that is not the edge's fixed reply "
                           "(TLS %u.%u, handshake type %u)",
                           buf[1], buf[2], buf[5]);
    return PSEUDO_TLS_TLS_HANDSHAKE;
}

static PseudoTlsAnswer send_hello(TlsRelayConn *c, char **why)
{
    gsize sent = 0;
    while (sent < sizeof(pseudo_hello)) {
        gssize n = psock_send(c->fd, pseudo_hello + sent, sizeof(pseudo_hello) - sent);
        if (n < 0 && psock_error() == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? psock_error() : EPIPE;
            *why = g_strdup_printf("sending the hello failed: %s", psock_strerror(e));
            return e == ECONNRESET ? PSEUDO_TLS_RESET : PSEUDO_TLS_CLOSED;
        }
        sent += (gsize)n;
    }
    return PSEUDO_TLS_OK;
}

PseudoTlsAnswer tlsrelay_pseudo_tls(TlsRelayConn *c, guint timeout_ms, char **detail)
{
    g_return_val_if_fail(c && !c->ssl, PSEUDO_TLS_OTHER);
    char *why = NULL;
    PseudoTlsAnswer a = send_hello(c, &why);
    guint8 buf[PSEUDO_TLS_REPLY_LEN];
    gsize have = 0;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int judged = -1;
    while (!why && judged < 0) {
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        PSockWait w = {c->fd, FALSE, FALSE};
        int rc = left_ms > 0 ? psock_wait(&w, 1, NULL, (int)left_ms) : 0;
        if (rc <= 0) {
            a = have && buf[0] == 0x16 ? PSEUDO_TLS_TLS_HANDSHAKE : PSEUDO_TLS_SILENT;
            why = have ? g_strdup_printf("it answered %zu bytes of TLS, then nothing for %u ms",
                                         have, timeout_ms)
                       : g_strdup_printf("it said nothing for %u ms after the hello", timeout_ms);
            break;
        }
        gssize n = psock_recv(c->fd, buf + have, sizeof(buf) - have);
        if (n < 0 && psock_error() == EINTR)
            continue;
        if (n <= 0) {
            a = n < 0 && psock_error() == ECONNRESET ? PSEUDO_TLS_RESET : PSEUDO_TLS_CLOSED;
            why = g_strdup_printf("it %s the connection after the hello%s",
                                  a == PSEUDO_TLS_RESET ? "reset" : "closed",
                                  have ? " and a partial answer" : "");
            break;
        }
        have += (gsize)n;
        judged = judge_reply(buf, have, &why);
    }
    if (judged >= 0)
        a = (PseudoTlsAnswer)judged;
    if (detail)
        *detail = why;
    else
        g_free(why);
    return a;
}

void tlsrelay_conn_close(TlsRelayConn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    psock_close(c->fd);
    g_clear_object(&c->local);
    g_free(c);
}

/* ---- the forwarder ----------------------------------------------------- */

struct TlsRelay {
    TlsRelayConfig cfg;
    PSock listen_fd;
    guint port;
    GCancellable *stop; /* tlsrelay_stop cancels it */
    GPollFD stop_fd;    /* signalled then: every thread waits on it too */
    GThread *acceptor;
    GMutex lock;
    GPtrArray *threads;            /* GThread, one per forwarded connection */
    GPtrArray *local_addresses;    /* GSocketAddress */
    GArray *edge_fds;              /* PSock: connections to the edge now open */
    guint64 closed_out, closed_in; /* counts of connections already closed */
    ConnCounter counted_by;        /* what counts them (its first connection's) */
    guint connections;             /* connections to the edge made so far */
    gboolean counts_unknown;       /* the system did not count some connection's */
    guint64 media_out;             /* media messages carried to the edge */
    char *last_error;
};

/* What a connection sent and received (the system's own count, tcpstats.h);
 * a connection it does not count makes the relay's unknown. Under r->lock. */
static void tcp_counts(TlsRelay *r, PSock fd, guint64 *out, guint64 *in)
{
    if (!tcpstats_count(fd, r->counted_by, out, in))
        r->counts_unknown = TRUE;
}

typedef struct {
    TlsRelay *relay;
    PSock client_fd;
} Forward;

static gpointer forward_thread(gpointer data)
{
    Forward *f = data;
    TlsRelay *r = f->relay;
    TlsPeerInfo info = {0};
    g_autoptr(GError) error = NULL;
    g_autoptr(TlsRelayConn) edge = connect_until(&r->cfg, &r->stop_fd, &info, &error);
    g_autofree char *no_count = NULL;
    ConnCounter by = CONN_COUNTER_UNSAID;
    if (edge && !tcpstats_start(edge->fd, &by, &no_count))
        g_message("the TCP connection to the edge is not counted: %s", no_count);
    g_mutex_lock(&r->lock);
    if (edge && edge->local) {
        g_ptr_array_add(r->local_addresses, g_object_ref(edge->local));
        g_array_append_val(r->edge_fds, edge->fd);
        /* One unit for all its connections (the first's): another makes the
         * sum unknown, as one the system does not count does. */
        if (++r->connections == 1)
            r->counted_by = by;
        r->counts_unknown |= no_count != NULL || by != r->counted_by;
    } else {
        /* Connected but getsockname failed: the connection is useless to us,
         * since where it leaves is what the probe must know. */
        g_free(r->last_error);
        r->last_error =
            g_strdup(edge ? "connected, but its local address is unknown" : error->message);
        g_clear_pointer(&edge, tlsrelay_conn_close);
    }
    g_mutex_unlock(&r->lock);
    tls_peer_info_clear(&info);

    guint8 buf[RELAY_BUF];
    g_autofree EgressStreamScan *scan = g_new0(EgressStreamScan, 1);
    egress_stream_scan_init(scan, r->cfg.ms_turn, r->cfg.pseudo_tls ? PSEUDO_TLS_HELLO_LEN : 0);
    while (edge) {
        PSockWait w[2] = {{f->client_fd, FALSE, FALSE}, {edge->fd, FALSE, FALSE}};
        gboolean pending = edge->ssl && SSL_pending(edge->ssl) > 0;
        int rc = pending ? 1 : psock_wait(w, 2, &r->stop_fd, -1);
        if (rc < 0)
            break; /* stopping, or the wait failed */
        if (rc == 0)
            continue;
        if (w[0].ready) {
            gssize n = psock_recv(f->client_fd, buf, sizeof(buf));
            if (n <= 0 || !tlsrelay_conn_send(edge, buf, (gsize)n, NULL))
                break;
            guint64 before = scan->media;
            egress_stream_scan(scan, buf, (gsize)n);
            if (scan->media != before) {
                g_mutex_lock(&r->lock);
                r->media_out += scan->media - before;
                g_mutex_unlock(&r->lock);
            }
        }
        if (pending || w[1].ready) {
            gssize n = tlsrelay_conn_recv(edge, buf, sizeof(buf), 0, NULL);
            if (n < 0 || (n > 0 && psock_send(f->client_fd, buf, (gsize)n) != n))
                break;
        }
    }
    if (edge) {
        g_mutex_lock(&r->lock);
        for (guint i = 0; i < r->edge_fds->len; i++) {
            if (g_array_index(r->edge_fds, PSock, i) == edge->fd) {
                tcp_counts(r, edge->fd, &r->closed_out, &r->closed_in);
                g_array_remove_index_fast(r->edge_fds, i);
                break;
            }
        }
        g_mutex_unlock(&r->lock);
    }
    psock_close(f->client_fd);
    g_free(f);
    return NULL;
}

static gpointer accept_thread(gpointer data)
{
    TlsRelay *r = data;
    for (;;) {
        PSockWait w = {r->listen_fd, FALSE, FALSE};
        int rc = psock_wait(&w, 1, &r->stop_fd, -1);
        if (rc < 0 && psock_error() == ECANCELED)
            break; /* stopping */
        if (rc <= 0)
            continue;
        PSock fd = psock_accept(r->listen_fd);
        if (fd == PSOCK_NONE)
            continue;
        psock_set_nodelay(fd);
        g_mutex_lock(&r->lock);
        gboolean room = r->threads->len < RELAY_MAX_CONNECTIONS;
        if (room) {
            Forward *f = g_new0(Forward, 1);
            f->relay = r;
            f->client_fd = fd;
            g_ptr_array_add(r->threads, g_thread_new("tlsrelay-fwd", forward_thread, f));
        }
        g_mutex_unlock(&r->lock);
        if (!room)
            psock_close(fd);
    }
    return NULL;
}

TlsRelay *tlsrelay_start(const TlsRelayConfig *cfg, GError **error)
{
    g_return_val_if_fail(cfg && cfg->edge_ip, NULL);
    guint port = 0;
    PSock fd = psock_listen_loopback(&port);
    if (fd == PSOCK_NONE) {
        g_set_error(error, TLSRELAY_ERROR, TLSRELAY_ERROR_CONNECT, "forwarder on loopback: %s",
                    psock_strerror(psock_error()));
        return NULL;
    }
    TlsRelay *r = g_new0(TlsRelay, 1);
    r->cfg.edge_ip = g_strdup(cfg->edge_ip);
    r->cfg.port = cfg->port;
    r->cfg.tls = cfg->tls;
    r->cfg.ca_file = g_strdup(cfg->ca_file);
    r->cfg.pin_sha256 = g_strdup(cfg->pin_sha256);
    r->cfg.server_name = g_strdup(cfg->server_name);
    r->cfg.timeout_ms = cfg->timeout_ms;
    r->cfg.ms_turn = cfg->ms_turn;
    r->cfg.pseudo_tls = cfg->pseudo_tls;
    r->listen_fd = fd;
    r->port = port;
    g_mutex_init(&r->lock);
    r->threads = g_ptr_array_new();
    r->stop = g_cancellable_new();
    g_cancellable_make_pollfd(r->stop, &r->stop_fd);
    r->local_addresses = g_ptr_array_new_with_free_func(g_object_unref);
    r->edge_fds = g_array_new(FALSE, FALSE, sizeof(PSock));
    r->acceptor = g_thread_new("tlsrelay-accept", accept_thread, r);
    return r;
}

guint tlsrelay_port(const TlsRelay *r)
{
    return r->port;
}

GPtrArray *tlsrelay_local_addresses(TlsRelay *r)
{
    g_mutex_lock(&r->lock);
    GPtrArray *copy = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; i < r->local_addresses->len; i++)
        g_ptr_array_add(copy, g_object_ref(r->local_addresses->pdata[i]));
    g_mutex_unlock(&r->lock);
    return copy;
}

gboolean tlsrelay_counts(TlsRelay *r, guint64 *out, guint64 *in, ConnCounter *by)
{
    g_mutex_lock(&r->lock);
    *out = r->closed_out;
    *in = r->closed_in;
    *by = r->counted_by;
    for (guint i = 0; i < r->edge_fds->len; i++)
        tcp_counts(r, g_array_index(r->edge_fds, PSock, i), out, in);
    gboolean known = !r->counts_unknown;
    g_mutex_unlock(&r->lock);
    return known;
}

guint64 tlsrelay_media_out(TlsRelay *r)
{
    g_mutex_lock(&r->lock);
    guint64 n = r->media_out;
    g_mutex_unlock(&r->lock);
    return n;
}

char *tlsrelay_last_error(TlsRelay *r)
{
    g_mutex_lock(&r->lock);
    char *e = g_strdup(r->last_error);
    g_mutex_unlock(&r->lock);
    return e;
}

void tlsrelay_stop(TlsRelay *r)
{
    if (!r)
        return;
    g_cancellable_cancel(r->stop);
    g_thread_join(r->acceptor);
    for (guint i = 0; i < r->threads->len; i++)
        g_thread_join(r->threads->pdata[i]);
    psock_close(r->listen_fd);
    g_cancellable_release_fd(r->stop);
    g_object_unref(r->stop);
    g_ptr_array_unref(r->threads);
    g_ptr_array_unref(r->local_addresses);
    g_array_unref(r->edge_fds);
    g_mutex_clear(&r->lock);
    g_free(r->last_error);
    g_free(r->cfg.edge_ip);
    g_free(r->cfg.ca_file);
    g_free(r->cfg.pin_sha256);
    g_free(r->cfg.server_name);
    g_free(r);
}
