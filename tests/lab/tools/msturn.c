/* iceprobe-msturn: the lab's MS-TURN relay, what the Skype for Business A/V
 * Edge speaks ([MS-TURN]), written from the specification so that iceprobe's
 * MS-TURN client is held to the protocol and not to libnice's reading of it.
 *
 *   iceprobe-msturn --listen ADDR [--udp PORT] [--tcp PORT] [--tls PORT]
 *                   [--relay-ip ADDR] --realm REALM
 *                   (--user NAME | --user-file FILE) (--password PW | --password-file FILE)
 *                   [--raw-credentials] [--log FILE] [--max-lifetime S] [--nonce-lifetime S]
 *                   [--max-allocations N] [--max-connections N] [--max-peer-connections N]
 *
 * UDP on --udp, TCP with [MS-TURN]'s 4-byte framing on --tcp, and on --tls the
 * fixed pseudo-TLS handshake followed by the same framing (2.1.1). An
 * allocation made over UDP is a real UDP socket on --relay-ip: Send requests
 * leave from it, what peers send to it comes back as Data Indications, or raw
 * once the client set that peer as its active destination. One made over TCP
 * or pseudo-TLS is a TCP address: a listening socket on --relay-ip, and
 * connections to peers opened from that same address and port, carrying the
 * same Send, Data Indication and raw data as a byte stream
 * (docs/msturn-relay.md, "TCP allocations"). The user and password are MRAS
 * credentials, base64 strings, and are decoded before use unless
 * --raw-credentials (docs/msturn-relay.md says why). One log line per message
 * received and sent, to stderr or --log. Stops on SIGTERM or SIGINT.
 *
 * Built by meson (tests/lab/meson.build); the message layer is msturn-proto.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msturn-proto.h"

#define MAX_PERMISSIONS  64
#define TCP_IN_CAP       (MSTURN_FRAME_HEADER_LEN + 0xFFFF)
#define TCP_OUT_CAP      (1024 * 1024)
#define DEFAULT_LIFETIME 600 /* [IETFDRAFT-TURN-08] 7.2.3 */
/* TCP allocations: what one peer connection may have queued towards the peer,
 * how long an accepted connection waits for the client to send to its peer
 * before it is closed, how long a connect that found its address pair taken
 * waits for that connection to be accepted, and the client connection's queue
 * above which peer connections are not read (TCP's own flow control holds the
 * peer back; nothing is dropped from a byte stream), and the other way round. */
#define PEER_OUT_CAP      (256 * 1024)
#define PEER_HIGH_WATER   (128 * 1024) /* above it the client's connection is not read */
#define PEER_HOLD_S       30
#define PEER_WAIT_S       5
#define CLIENT_HIGH_WATER (TCP_OUT_CAP / 2)

typedef struct Relay Relay;
typedef struct Conn Conn;
typedef struct Allocation Allocation;

/* Where a message came from: a UDP client address, or a TCP connection. */
typedef struct {
    Conn *conn;
    struct sockaddr_in from;
} Origin;

/* A TCP allocation's connection with one peer: accepted on the relayed
 * address, or opened from it (bound to the same address and port). */
typedef enum {
    PEER_CONNECTING, /* connect() under way */
    PEER_WAITING,    /* the address pair is taken by a connection not yet accepted */
    PEER_OPEN,
} PeerState;

typedef struct {
    Allocation *alloc;
    int fd; /* -1 while PEER_WAITING */
    struct sockaddr_in peer;
    gboolean outgoing;
    PeerState state;
    GSource *in, *out, *timer;
    GByteArray *outbuf;
    guint64 bytes_in, bytes_out;
} PeerConn;

struct Allocation {
    Relay *relay;
    Conn *conn;   /* NULL for UDP */
    gboolean tcp; /* allocated over TCP or pseudo-TLS: a TCP relayed address */
    struct sockaddr_in client, relayed;
    int fd; /* UDP: the relayed socket; TCP: the listening one */
    GSource *io, *expiry;
    GList *peers; /* of PeerConn, TCP only */
    uint8_t key[MSTURN_KEY_LEN];
    uint8_t connection_id[MSTURN_CONNECTION_ID_LEN];
    uint32_t last_seq;
    uint8_t last_tid[MSTURN_TID_LEN]; /* the request last_seq came with */
    struct sockaddr_in permissions[MAX_PERMISSIONS];
    guint n_permissions;
    struct sockaddr_in active; /* sin_family 0: none */
};

struct Conn {
    Relay *relay;
    int fd;
    gboolean tls, hello_done;
    gboolean paused;  /* not read: a peer connection's queue is full */
    gboolean closing; /* conn_close under way */
    struct sockaddr_in peer;
    GSource *in, *out;
    GByteArray *inbuf, *outbuf;
};

struct Relay {
    struct sockaddr_in listen, relay_ip;
    int udp_port, tcp_port, tls_port;
    MsturnAuth auth;
    GBytes *user, *pass;
    char *realm;
    gint64 max_lifetime;
    guint max_allocations, max_connections, max_peer_connections;
    FILE *log;
    int udp_fd;
    GSource *udp_src, *tcp_src, *tls_src;
    int tcp_fd, tls_fd;
    GList *allocations, *conns;
    GMainLoop *loop;
};

static void logf_(Relay *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void logf_(Relay *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *ts = g_date_time_format(now, "%H:%M:%S.%f");
    fprintf(r->log, "%.12s msturn: %s\n", ts, line);
    fflush(r->log);
}

static char *addr_str(const struct sockaddr_in *a)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    return g_strdup_printf("%s:%u", ip, ntohs(a->sin_port));
}

static gboolean addr_eq(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* "udp 198.51.100.2:4000", "tcp ...", "tls ...": who a line is about. */
static char *origin_str(const Origin *o)
{
    g_autofree char *a = addr_str(&o->from);
    return g_strdup_printf("%s %s", !o->conn ? "udp" : o->conn->tls ? "tls" : "tcp", a);
}

static void conn_close(Conn *c, const char *why);
static void conn_resume_peers(Conn *c);
static void conn_update_reading(Conn *c);
static void peer_close(PeerConn *pc, const char *why);

static gboolean conn_flush(Conn *c)
{
    while (c->outbuf->len) {
        ssize_t n = send(c->fd, c->outbuf->data, c->outbuf->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return TRUE;
        if (n <= 0)
            return FALSE;
        g_byte_array_remove_range(c->outbuf, 0, (guint)n);
    }
    return TRUE;
}

static gboolean conn_writable(gint fd, GIOCondition cond, gpointer data)
{
    Conn *c = data;
    if (!conn_flush(c)) {
        conn_close(c, g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    conn_resume_peers(c);
    if (c->outbuf->len)
        return G_SOURCE_CONTINUE;
    g_source_unref(c->out);
    c->out = NULL;
    return G_SOURCE_REMOVE;
}

/* Queues bytes on a connection; FALSE if it is past its cap or broken. */
static gboolean conn_write(Conn *c, const void *a, gsize alen, const void *b, gsize blen)
{
    if (c->outbuf->len + alen + blen > TCP_OUT_CAP)
        return FALSE;
    g_byte_array_append(c->outbuf, a, (guint)alen);
    if (blen)
        g_byte_array_append(c->outbuf, b, (guint)blen);
    if (!conn_flush(c))
        return FALSE;
    if (c->outbuf->len && !c->out) {
        c->out = g_unix_fd_source_new(c->fd, G_IO_OUT);
        g_source_set_callback(c->out, G_SOURCE_FUNC(conn_writable), c, NULL);
        g_source_attach(c->out, NULL);
    }
    return TRUE;
}

/* To the client: UDP as it is, TCP in a frame of TYPE (2.1.4). */
static void to_client(Relay *r, const Origin *o, uint8_t type, const uint8_t *buf, gsize len)
{
    if (!o->conn) {
        if (sendto(r->udp_fd, buf, len, 0, (const struct sockaddr *)&o->from, sizeof(o->from)) < 0)
            logf_(r, "drop: sendto client failed: %s", g_strerror(errno));
        return;
    }
    uint8_t hdr[MSTURN_FRAME_HEADER_LEN];
    msturn_frame_write(hdr, type, (uint16_t)len);
    if (!conn_write(o->conn, hdr, sizeof(hdr), buf, len))
        logf_(r, "drop: connection's output past %d bytes or broken", TCP_OUT_CAP);
}

/* Sends a message built in B, logging it as the relay's own parser reads it. */
static void send_message(Relay *r, const Origin *o, MsturnBuilder *b, const uint8_t *key)
{
    gsize len = msturn_build_finish(b, key);
    g_autofree char *who = origin_str(o);
    MsturnMsg m;
    g_autoptr(GError) error = NULL;
    if (len == 0 || !msturn_parse(b->buf, len, &m, &error)) {
        logf_(r, "BUG: built an unreadable message for %s: %s", who,
              error ? error->message : "overflow");
        return;
    }
    g_autofree char *d = msturn_describe(&m);
    logf_(r, "send %s %s", who, d);
    to_client(r, o, MSTURN_FRAME_CONTROL, b->buf, len);
}

static void allocation_free(Allocation *a, const char *why)
{
    Relay *r = a->relay;
    g_autofree char *rel = addr_str(&a->relayed), *cli = addr_str(&a->client);
    logf_(r, "allocation %s of %s %s %s", rel,
          !a->conn       ? "udp"
          : a->conn->tls ? "tls"
                         : "tcp",
          cli, why);
    while (a->peers)
        peer_close(a->peers->data, "its allocation went");
    r->allocations = g_list_remove(r->allocations, a);
    g_source_destroy(a->io);
    g_source_unref(a->io);
    if (a->expiry) {
        g_source_destroy(a->expiry);
        g_source_unref(a->expiry);
    }
    close(a->fd);
    OPENSSL_cleanse(a->key, sizeof(a->key));
    g_free(a);
}

static Allocation *find_allocation(Relay *r, const Origin *o)
{
    for (GList *l = r->allocations; l; l = l->next) {
        Allocation *a = l->data;
        if (a->conn == o->conn && (o->conn || addr_eq(&a->client, &o->from)))
            return a;
    }
    return NULL;
}

static gboolean has_permission(const Allocation *a, const struct sockaddr_in *peer)
{
    for (guint i = 0; i < a->n_permissions; i++)
        if (addr_eq(&a->permissions[i], peer))
            return TRUE;
    return FALSE;
}

static void tcp_permitted(Allocation *a, const struct sockaddr_in *peer);

/* TURN-08: sending to a peer lets it answer. The oldest goes past the cap. */
static void add_permission(Allocation *a, const struct sockaddr_in *peer)
{
    if (!has_permission(a, peer)) {
        if (a->n_permissions == MAX_PERMISSIONS) {
            memmove(a->permissions, a->permissions + 1,
                    sizeof(a->permissions[0]) * (MAX_PERMISSIONS - 1));
            a->n_permissions--;
        }
        a->permissions[a->n_permissions++] = *peer;
    }
    if (a->tcp)
        tcp_permitted(a, peer);
}

/* TCP allocations ([MS-TURN]: "a request that is received over TCP returns a
 * TCP allocated transport address"). The relayed address is a listening TCP
 * socket; the relay also connects out from that same address and port
 * (SO_REUSEADDR and SO_REUSEPORT) when the client sends to a peer it has no
 * connection with. What the client sends goes on the connection as it is, and
 * what arrives is handed back in arrival order, cut only where the reads fell:
 * a byte stream, whose framing (RFC 4571 for libnice) is the ends' business. */

static void source_drop(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static char *peer_str(const PeerConn *pc)
{
    g_autofree char *rel = addr_str(&pc->alloc->relayed), *peer = addr_str(&pc->peer);
    return g_strdup_printf("%s %s %s", rel, pc->outgoing ? "->" : "<-", peer);
}

static PeerConn *peer_find(Allocation *a, const struct sockaddr_in *peer)
{
    for (GList *l = a->peers; l; l = l->next) {
        PeerConn *pc = l->data;
        if (addr_eq(&pc->peer, peer))
            return pc;
    }
    return NULL;
}

static void peer_close(PeerConn *pc, const char *why)
{
    Allocation *a = pc->alloc;
    g_autofree char *d = peer_str(pc);
    logf_(a->relay,
          "peer connection %s closed: %s (%" G_GUINT64_FORMAT " bytes in, %" G_GUINT64_FORMAT
          " out, %u unsent)",
          d, why, pc->bytes_in, pc->bytes_out, pc->outbuf->len);
    a->peers = g_list_remove(a->peers, pc);
    source_drop(&pc->in);
    source_drop(&pc->out);
    source_drop(&pc->timer);
    if (pc->fd >= 0)
        close(pc->fd);
    g_byte_array_unref(pc->outbuf);
    g_free(pc);
    if (a->conn && !a->conn->closing)
        conn_update_reading(a->conn);
}

static gboolean tcp_peer_readable(gint fd, GIOCondition cond, gpointer data);
static gboolean tcp_peer_writable(gint fd, GIOCondition cond, gpointer data);

/* Reads while the connection is open, the client has sent to its peer and the
 * client's own connection is not backed up; writes while connecting or while
 * bytes are queued. */
static void peer_update(PeerConn *pc)
{
    Allocation *a = pc->alloc;
    gboolean rd = pc->state == PEER_OPEN && has_permission(a, &pc->peer) &&
                  (!a->conn || a->conn->outbuf->len < CLIENT_HIGH_WATER);
    gboolean wr = pc->state == PEER_CONNECTING || (pc->state == PEER_OPEN && pc->outbuf->len);
    if (rd && !pc->in) {
        pc->in = g_unix_fd_source_new(pc->fd, G_IO_IN);
        g_source_set_callback(pc->in, G_SOURCE_FUNC(tcp_peer_readable), pc, NULL);
        g_source_attach(pc->in, NULL);
    } else if (!rd) {
        source_drop(&pc->in);
    }
    if (wr && !pc->out) {
        pc->out = g_unix_fd_source_new(pc->fd, G_IO_OUT);
        g_source_set_callback(pc->out, G_SOURCE_FUNC(tcp_peer_writable), pc, NULL);
        g_source_attach(pc->out, NULL);
    } else if (!wr) {
        source_drop(&pc->out);
    }
}

/* FALSE when the connection broke (and is gone). */
static gboolean peer_flush(PeerConn *pc)
{
    while (pc->outbuf->len) {
        ssize_t n = send(pc->fd, pc->outbuf->data, pc->outbuf->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            peer_close(pc, n == 0 ? "send returned 0" : g_strerror(errno));
            return FALSE;
        }
        pc->bytes_out += (guint64)n;
        g_byte_array_remove_range(pc->outbuf, 0, (guint)n);
    }
    peer_update(pc);
    if (pc->alloc->conn)
        conn_update_reading(pc->alloc->conn);
    return TRUE;
}

static gboolean peer_timer_expired(gpointer data)
{
    PeerConn *pc = data;
    peer_close(pc, pc->state == PEER_WAITING
                       ? "the connection its connect collided with was never accepted"
                       : "the client never sent to this peer");
    return G_SOURCE_REMOVE;
}

static void peer_set_timer(PeerConn *pc, guint seconds)
{
    source_drop(&pc->timer);
    pc->timer = g_timeout_source_new_seconds(seconds);
    g_source_set_callback(pc->timer, peer_timer_expired, pc, NULL);
    g_source_attach(pc->timer, NULL);
}

static PeerConn *peer_new(Allocation *a, int fd, const struct sockaddr_in *peer, gboolean outgoing,
                          PeerState state)
{
    PeerConn *pc = g_new0(PeerConn, 1);
    pc->alloc = a;
    pc->fd = fd;
    pc->peer = *peer;
    pc->outgoing = outgoing;
    pc->state = state;
    pc->outbuf = g_byte_array_new();
    a->peers = g_list_append(a->peers, pc);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        peer_update(pc);
    }
    return pc;
}

/* Takes every connection waiting on the allocation's listening socket. */
static void tcp_accept_pending(Allocation *a)
{
    Relay *r = a->relay;
    for (;;) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        int fd = accept4(a->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        g_autofree char *rel = addr_str(&a->relayed), *p = addr_str(&peer);
        PeerConn *pc = peer_find(a, &peer);
        if (pc && pc->state == PEER_WAITING) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            pc->fd = fd;
            pc->state = PEER_OPEN;
            source_drop(&pc->timer);
            logf_(r, "peer connection %s <- %s accepted: the one its connect collided with", rel,
                  p);
            peer_flush(pc);
            continue;
        }
        if (pc || g_list_length(a->peers) >= r->max_peer_connections) {
            logf_(r, "peer connection %s <- %s refused: %s", rel, p,
                  pc ? "already connected with it" : "the allocation's connections are all taken");
            close(fd);
            continue;
        }
        gboolean held = !has_permission(a, &peer);
        logf_(r, "peer connection %s <- %s accepted%s", rel, p,
              held ? ", held until the client sends to it" : "");
        pc = peer_new(a, fd, &peer, FALSE, PEER_OPEN);
        if (held)
            peer_set_timer(pc, PEER_HOLD_S);
    }
}

static gboolean tcp_listener_readable(gint fd, GIOCondition cond, gpointer data)
{
    tcp_accept_pending(data);
    return G_SOURCE_CONTINUE;
}

/* The client sent to PEER: a connection held for it may now be read. */
static void tcp_permitted(Allocation *a, const struct sockaddr_in *peer)
{
    PeerConn *pc = peer_find(a, peer);
    if (!pc)
        return;
    if (pc->state == PEER_OPEN && pc->timer) {
        g_autofree char *d = peer_str(pc);
        source_drop(&pc->timer);
        logf_(a->relay, "peer connection %s released: the client sent to its peer", d);
    }
    if (pc->fd >= 0)
        peer_update(pc);
}

/* The client's connection drained: read the peers again. */
static void conn_resume_peers(Conn *c)
{
    for (GList *l = c->relay->allocations; l; l = l->next) {
        Allocation *a = l->data;
        if (a->conn != c || !a->tcp)
            continue;
        for (GList *p = a->peers; p; p = p->next) {
            PeerConn *pc = p->data;
            if (pc->fd >= 0)
                peer_update(pc);
        }
    }
}

static gboolean conn_readable(gint fd, GIOCondition cond, gpointer data);

/* A client connection is read unless one of its allocations' peer
 * connections has more than PEER_HIGH_WATER bytes queued. */
static void conn_update_reading(Conn *c)
{
    gboolean rd = TRUE;
    for (GList *l = c->relay->allocations; l && rd; l = l->next) {
        Allocation *a = l->data;
        if (a->conn != c || !a->tcp)
            continue;
        for (GList *p = a->peers; p && rd; p = p->next)
            rd = ((PeerConn *)p->data)->outbuf->len < PEER_HIGH_WATER;
    }
    if (rd && !c->in) {
        c->in = g_unix_fd_source_new(c->fd, G_IO_IN);
        g_source_set_callback(c->in, G_SOURCE_FUNC(conn_readable), c, NULL);
        g_source_attach(c->in, NULL);
        if (c->paused) {
            g_autofree char *peer = addr_str(&c->peer);
            logf_(c->relay, "connection %s %s read again", c->tls ? "tls" : "tcp", peer);
        }
        c->paused = FALSE;
    } else if (!rd && c->in) {
        g_autofree char *peer = addr_str(&c->peer);
        logf_(c->relay,
              "connection %s %s not read: a peer connection has more than %d bytes queued",
              c->tls ? "tls" : "tcp", peer, PEER_HIGH_WATER);
        g_source_destroy(c->in);
        g_source_unref(c->in);
        c->in = NULL;
        c->paused = TRUE;
    }
}

/* The allocation's connection with TO: an existing one, one just accepted,
 * or a new one from the relayed address. NULL (logged) when there can be none. */
static PeerConn *tcp_peer_get(Allocation *a, const struct sockaddr_in *to)
{
    Relay *r = a->relay;
    PeerConn *pc = peer_find(a, to);
    if (pc)
        return pc;
    tcp_accept_pending(a);
    if ((pc = peer_find(a, to)))
        return pc;
    g_autofree char *rel = addr_str(&a->relayed), *p = addr_str(to);
    if (g_list_length(a->peers) >= r->max_peer_connections) {
        logf_(r, "peer connection %s -> %s not opened: the allocation's %u connections are taken",
              rel, p, r->max_peer_connections);
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, rc = -1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&a->relayed, sizeof(a->relayed)) == 0)
            rc = connect(fd, (const struct sockaddr *)to, sizeof(*to));
    }
    if (rc == 0 || (rc < 0 && errno == EINPROGRESS)) {
        logf_(r, "peer connection %s -> %s connecting", rel, p);
        pc = peer_new(a, fd, to, TRUE, rc == 0 ? PEER_OPEN : PEER_CONNECTING);
        if (rc == 0)
            logf_(r, "peer connection %s -> %s connected", rel, p);
        return pc;
    }
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (err == EADDRNOTAVAIL) {
        /* The peer connected to the relayed address at the same moment (the
         * other allocation of a relay-to-relay pair, say): that connection
         * holds the address pair and has not been accepted yet. */
        tcp_accept_pending(a);
        if ((pc = peer_find(a, to)))
            return pc;
        logf_(r, "peer connection %s -> %s waits: a connection not yet accepted holds the pair",
              rel, p);
        pc = peer_new(a, -1, to, FALSE, PEER_WAITING);
        peer_set_timer(pc, PEER_WAIT_S);
        return pc;
    }
    logf_(r, "peer connection %s -> %s failed: %s", rel, p, g_strerror(err));
    return NULL;
}

static gboolean tcp_peer_writable(gint fd, GIOCondition cond, gpointer data)
{
    PeerConn *pc = data;
    if (pc->state == PEER_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        if (err) {
            g_autofree char *why = g_strdup_printf("connect failed: %s", g_strerror(err));
            peer_close(pc, why);
            return G_SOURCE_REMOVE;
        }
        pc->state = PEER_OPEN;
        g_autofree char *d = peer_str(pc);
        logf_(pc->alloc->relay, "peer connection %s connected", d);
    }
    return peer_flush(pc) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* What arrived from the peer, in order: a Data Indication per read, or raw
 * (a 0x03 frame) when the peer is the active destination. */
static gboolean tcp_peer_readable(gint fd, GIOCondition cond, gpointer data)
{
    PeerConn *pc = data;
    Allocation *a = pc->alloc;
    Relay *r = a->relay;
    uint8_t buf[MSTURN_DATA_INDICATION_ROOM];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        peer_close(pc, n == 0 ? "end of stream" : g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    pc->bytes_in += (guint64)n;
    Origin o = {a->conn, a->client};
    if (a->active.sin_family && addr_eq(&a->active, &pc->peer)) {
        g_autofree char *who = origin_str(&o), *peer = addr_str(&pc->peer),
                        *rel = addr_str(&a->relayed);
        logf_(r, "raw %s <- %s via %s: %zd bytes on tcp", who, peer, rel, n);
        to_client(r, &o, MSTURN_FRAME_DATA, buf, (gsize)n);
    } else {
        uint8_t tid[MSTURN_TID_LEN];
        RAND_bytes(tid, sizeof(tid));
        MsturnBuilder b;
        msturn_build_data_indication(&b, tid, &pc->peer, buf, (gsize)n);
        send_message(r, &o, &b, NULL);
    }
    peer_update(pc);
    return G_SOURCE_CONTINUE;
}

static void tcp_relay_to_peer(Relay *r, Allocation *a, const struct sockaddr_in *to,
                              const uint8_t *buf, gsize len, const char *how)
{
    g_autofree char *rel = addr_str(&a->relayed), *peer = addr_str(to);
    PeerConn *pc = tcp_peer_get(a, to);
    if (!pc) {
        logf_(r, "drop: %s %zu bytes %s -> %s: no connection with it", how, len, rel, peer);
        return;
    }
    if (!len)
        return;
    if (pc->outbuf->len + len > PEER_OUT_CAP) {
        logf_(r, "drop: %s %zu bytes %s -> %s: more than %d bytes queued", how, len, rel, peer,
              PEER_OUT_CAP);
        peer_close(pc, "its queue overflowed (bytes lost: the stream cannot go on)");
        return;
    }
    g_byte_array_append(pc->outbuf, buf, (guint)len);
    logf_(r, "%s %s -> %s: %zu bytes on tcp", how, rel, peer, len);
    if (pc->state == PEER_OPEN)
        peer_flush(pc);
    else if (a->conn)
        conn_update_reading(a->conn);
}

/* What a peer sent to an allocation's relayed address: a Data Indication, or
 * raw when it is the active destination (3.3.5.x). */
static gboolean peer_readable(gint fd, GIOCondition cond, gpointer data)
{
    Allocation *a = data;
    Relay *r = a->relay;
    uint8_t buf[MSTURN_MAX_MESSAGE - 64];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n =
        recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fl);
    if (n < 0)
        return G_SOURCE_CONTINUE;
    g_autofree char *peer = addr_str(&from), *rel = addr_str(&a->relayed);
    if ((size_t)n > sizeof(buf)) {
        logf_(r, "drop: %zd bytes from peer %s to %s: larger than %zu", n, peer, rel, sizeof(buf));
        return G_SOURCE_CONTINUE;
    }
    if (!has_permission(a, &from)) {
        logf_(r, "drop: %zd bytes from peer %s to %s: the client never sent to it", n, peer, rel);
        return G_SOURCE_CONTINUE;
    }
    Origin o = {a->conn, a->client};
    if (a->active.sin_family && addr_eq(&a->active, &from)) {
        g_autofree char *who = origin_str(&o);
        logf_(r, "raw %s <- %s via %s: %zd bytes", who, peer, rel, n);
        to_client(r, &o, MSTURN_FRAME_DATA, buf, (gsize)n);
        return G_SOURCE_CONTINUE;
    }
    uint8_t tid[MSTURN_TID_LEN];
    RAND_bytes(tid, sizeof(tid));
    MsturnBuilder b;
    msturn_build_data_indication(&b, tid, &from, buf, (gsize)n);
    send_message(r, &o, &b, NULL);
    return G_SOURCE_CONTINUE;
}

static gboolean allocation_expired(gpointer data)
{
    allocation_free(data, "expired");
    return G_SOURCE_REMOVE;
}

static void allocation_set_lifetime(Allocation *a, uint32_t lifetime)
{
    if (a->expiry) {
        g_source_destroy(a->expiry);
        g_source_unref(a->expiry);
    }
    /* In milliseconds: a seconds source may fire up to a second early, and a
     * client refreshing at half the lifetime would lose its allocation. */
    a->expiry = g_timeout_source_new((guint)MIN((guint64)lifetime * 1000, G_MAXUINT));
    g_source_set_callback(a->expiry, allocation_expired, a, NULL);
    g_source_attach(a->expiry, NULL);
}

/* Over UDP a UDP socket; over TCP or pseudo-TLS a listening TCP socket, which
 * lets connections out bind the same address and port. */
static Allocation *allocation_new(Relay *r, const Origin *o, const char **why)
{
    gboolean tcp = o->conn != NULL;
    int fd = socket(AF_INET, (tcp ? SOCK_STREAM | SOCK_NONBLOCK : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in at = r->relay_ip;
    socklen_t al = sizeof(at);
    at.sin_port = 0;
    if (fd >= 0 && tcp) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
        getsockname(fd, (struct sockaddr *)&at, &al) < 0 || (tcp && listen(fd, 8) < 0)) {
        *why = g_strerror(errno);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    Allocation *a = g_new0(Allocation, 1);
    a->relay = r;
    a->conn = o->conn;
    a->client = o->from;
    a->relayed = at;
    a->fd = fd;
    a->tcp = tcp;
    RAND_bytes(a->connection_id, sizeof(a->connection_id));
    a->io = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(a->io, G_SOURCE_FUNC(tcp ? tcp_listener_readable : peer_readable), a,
                          NULL);
    g_source_attach(a->io, NULL);
    r->allocations = g_list_prepend(r->allocations, a);
    return a;
}

/* An error response: none carries MESSAGE-INTEGRITY (the client's key is not
 * known to be right). */
static void send_error(Relay *r, const Origin *o, const MsturnMsg *req, int code,
                       uint16_t unknown_attr)
{
    MsturnBuilder b;
    char nonce[33];
    msturn_nonce_make(r->auth.nonce_secret, g_get_real_time() / G_USEC_PER_SEC, nonce);
    msturn_build_error_response(&b, req->type, req->tid, code, r->realm, nonce, unknown_attr);
    send_message(r, o, &b, NULL);
}

static void handle_allocate(Relay *r, const Origin *o, const MsturnMsg *m)
{
    uint8_t key[MSTURN_KEY_LEN];
    const char *why;
    g_autofree char *who = origin_str(o);
    int code =
        msturn_authenticate(&r->auth, m, TRUE, g_get_real_time() / G_USEC_PER_SEC, key, &why);
    if (code) {
        logf_(r, "refuse %s: %d: %s", who, code, why);
        send_error(r, o, m, code, 0);
        return;
    }
    uint32_t lifetime = DEFAULT_LIFETIME;
    msturn_get_u32(m, MSTURN_ATTR_LIFETIME, &lifetime);
    lifetime = (uint32_t)MIN((gint64)lifetime, r->max_lifetime);
    Allocation *a = find_allocation(r, o);
    if (!a && lifetime == 0) {
        logf_(r, "refuse %s: 437: LIFETIME 0 and no allocation to release", who);
        send_error(r, o, m, 437, 0);
        return;
    }
    if (!a) {
        if (g_list_length(r->allocations) >= r->max_allocations) {
            logf_(r, "refuse %s: 486: already %u allocations", who, r->max_allocations);
            send_error(r, o, m, 486, 0);
            return;
        }
        a = allocation_new(r, o, &why);
        if (!a) {
            logf_(r, "refuse %s: 508: cannot bind on the relay address: %s", who, why);
            send_error(r, o, m, 508, 0);
            return;
        }
        g_autofree char *rel = addr_str(&a->relayed);
        logf_(r, "allocation %s of %s created, lifetime %u s%s", rel, who, lifetime,
              a->tcp ? ", a TCP relayed address" : "");
    }
    memcpy(a->key, key, sizeof(key));
    MsturnAllocation desc = {
        .relayed = a->relayed, .reflexive = o->from, .lifetime = lifetime, .realm = r->realm};
    desc.has_bandwidth = msturn_get_u32(m, MSTURN_ATTR_BANDWIDTH, &desc.bandwidth);
    desc.has_version = msturn_get_u32(m, MSTURN_ATTR_MS_VERSION, &desc.version);
    memcpy(desc.connection_id, a->connection_id, sizeof(desc.connection_id));
    a->last_seq = 0;
    MsturnBuilder b;
    msturn_build_allocate_response(&b, m->tid, &desc);
    send_message(r, o, &b, key);
    if (lifetime == 0)
        allocation_free(a, "released (LIFETIME 0)");
    else
        allocation_set_lifetime(a, lifetime);
}

/* Send and Set Active Destination: authenticated by the allocation's user, in
 * order by MS-SEQUENCE-NUMBER when the client sends one (2.2.2.21). NULL and a
 * log line when the request is to be dropped (or answered by the caller). */
static Allocation *check_in_allocation(Relay *r, const Origin *o, const MsturnMsg *m, int *code)
{
    g_autofree char *who = origin_str(o);
    const char *why;
    uint8_t key[MSTURN_KEY_LEN];
    Allocation *a = find_allocation(r, o);
    *code = 0;
    if (!a) {
        logf_(r, "drop: %s from %s: no allocation (437)", msturn_type_name(m->type), who);
        *code = 437;
        return NULL;
    }
    *code = msturn_authenticate(&r->auth, m, FALSE, 0, key, &why);
    if (*code) {
        logf_(r, "drop: %s from %s: %d: %s", msturn_type_name(m->type), who, *code, why);
        return NULL;
    }
    const MsturnAttr *s = msturn_find(m, MSTURN_ATTR_MS_SEQUENCE_NUMBER);
    if (s && s->len == MSTURN_CONNECTION_ID_LEN + 4) {
        const uint8_t *p = s->value + MSTURN_CONNECTION_ID_LEN;
        uint32_t seq = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (memcmp(s->value, a->connection_id, MSTURN_CONNECTION_ID_LEN) != 0) {
            logf_(r, "drop: %s from %s: MS-SEQUENCE-NUMBER of another connection ID",
                  msturn_type_name(m->type), who);
            *code = 400;
            return NULL;
        }
        /* A retransmission (libnice resends Set Active Destination with its
         * buffer, sequence number and all) is the same request again. */
        gboolean again = seq == a->last_seq && memcmp(m->tid, a->last_tid, MSTURN_TID_LEN) == 0;
        if (!again && !msturn_seq_after(seq, a->last_seq)) {
            logf_(r, "drop: %s from %s: sequence number %u not after %u", msturn_type_name(m->type),
                  who, seq, a->last_seq);
            *code = 400;
            return NULL;
        }
        a->last_seq = seq;
        memcpy(a->last_tid, m->tid, MSTURN_TID_LEN);
    } else if (s) {
        logf_(r, "drop: %s from %s: MS-SEQUENCE-NUMBER of %u bytes, not 24",
              msturn_type_name(m->type), who, s->len);
        *code = 400;
        return NULL;
    }
    return a;
}

static void relay_to_peer(Relay *r, Allocation *a, const struct sockaddr_in *to, const uint8_t *buf,
                          gsize len, const char *how)
{
    if (a->tcp) {
        tcp_relay_to_peer(r, a, to, buf, len, how);
        return;
    }
    g_autofree char *rel = addr_str(&a->relayed), *peer = addr_str(to);
    if (sendto(a->fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to)) < 0) {
        logf_(r, "drop: %s %zu bytes %s -> %s: %s", how, len, rel, peer, g_strerror(errno));
        return;
    }
    logf_(r, "%s %s -> %s: %zu bytes", how, rel, peer, len);
}

static void handle_send(Relay *r, const Origin *o, const MsturnMsg *m)
{
    int code;
    Allocation *a = check_in_allocation(r, o, m, &code);
    if (!a)
        return; /* 2.2.1: no Send responses, not even errors */
    struct sockaddr_in to;
    const MsturnAttr *data = msturn_find(m, MSTURN_ATTR_DATA);
    g_autofree char *who = origin_str(o);
    if (!msturn_get_addr(m, MSTURN_ATTR_DESTINATION_ADDRESS, &to) || !data) {
        logf_(r, "drop: Send request from %s without an IPv4 DESTINATION-ADDRESS and DATA", who);
        return;
    }
    add_permission(a, &to);
    relay_to_peer(r, a, &to, data->value, data->len, "send");
}

static void handle_set_active(Relay *r, const Origin *o, const MsturnMsg *m)
{
    int code;
    Allocation *a = check_in_allocation(r, o, m, &code);
    if (!a) {
        send_error(r, o, m, code, 0);
        return;
    }
    struct sockaddr_in to;
    g_autofree char *who = origin_str(o), *rel = addr_str(&a->relayed);
    if (msturn_get_addr(m, MSTURN_ATTR_DESTINATION_ADDRESS, &to) && to.sin_addr.s_addr) {
        g_autofree char *dst = addr_str(&to);
        a->active = to;
        logf_(r, "active destination of %s (%s) is %s", rel, who, dst);
        add_permission(a, &to);
        if (a->tcp) /* its data goes on the connection with it: open one now */
            tcp_peer_get(a, &to);
    } else {
        memset(&a->active, 0, sizeof(a->active));
        logf_(r, "active destination of %s (%s) cleared", rel, who);
    }
    MsturnBuilder b;
    msturn_build_init(&b, MSTURN_SAD_RESPONSE, m->tid);
    send_message(r, o, &b, a->key);
}

/* Data from the client outside TURN messages: only to the active destination. */
static void handle_raw(Relay *r, const Origin *o, const uint8_t *buf, gsize len)
{
    Allocation *a = find_allocation(r, o);
    g_autofree char *who = origin_str(o);
    if (!a || !a->active.sin_family) {
        logf_(r, "drop: %zu bytes of data from %s: %s", len, who,
              a ? "no active destination" : "no allocation, and not a TURN message");
        return;
    }
    relay_to_peer(r, a, &a->active, buf, len, "raw");
}

static void handle_message(Relay *r, const Origin *o, const uint8_t *buf, gsize len)
{
    MsturnMsg m;
    g_autoptr(GError) error = NULL;
    g_autofree char *who = origin_str(o);
    if (!msturn_parse(buf, len, &m, &error)) {
        logf_(r, "recv %s: %zu bytes refused: %s", who, len, error->message);
        if (g_error_matches(error, MSTURN_ERROR, MSTURN_ERROR_MALFORMED) &&
            (m.type == MSTURN_ALLOCATE_REQUEST || m.type == MSTURN_SAD_REQUEST))
            send_error(r, o, &m, 400, 0);
        else if (o->conn && g_error_matches(error, MSTURN_ERROR, MSTURN_ERROR_NOT_MSTURN))
            conn_close(o->conn, "not a TURN message in a control frame (3.1.10)");
        return;
    }
    g_autofree char *d = msturn_describe(&m);
    logf_(r, "recv %s %s", who, d);
    uint16_t unknown = msturn_unknown_required(&m);
    /* 420 answers only the requests that have error responses (2.2.1): a Send
     * is never answered, and indications, responses and Shared Secret are not. */
    if (unknown && (m.type == MSTURN_ALLOCATE_REQUEST || m.type == MSTURN_SAD_REQUEST)) {
        logf_(r, "refuse %s: 420: attribute 0x%04x", who, unknown);
        send_error(r, o, &m, 420, unknown);
        return;
    }
    switch (m.type) {
    case MSTURN_ALLOCATE_REQUEST:
        handle_allocate(r, o, &m);
        break;
    case MSTURN_SEND_REQUEST:
        handle_send(r, o, &m);
        break;
    case MSTURN_SAD_REQUEST:
        handle_set_active(r, o, &m);
        break;
    default:
        logf_(r, "drop: %s from %s: not a request this relay answers", msturn_type_name(m.type),
              who);
    }
}

static gboolean udp_readable(gint fd, GIOCondition cond, gpointer data)
{
    Relay *r = data;
    uint8_t buf[MSTURN_MAX_MESSAGE + 1];
    Origin o = {NULL, {0}};
    socklen_t fl = sizeof(o.from);
    ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&o.from, &fl);
    if (n < 0 || o.from.sin_family != AF_INET)
        return G_SOURCE_CONTINUE;
    /* After Set Active Destination a client sends data raw: whatever is not a
     * TURN message goes to its active destination. */
    if (msturn_is_turn(buf, (gsize)n) || !find_allocation(r, &o))
        handle_message(r, &o, buf, (gsize)n);
    else
        handle_raw(r, &o, buf, (gsize)n);
    return G_SOURCE_CONTINUE;
}

static void conn_close(Conn *c, const char *why)
{
    Relay *r = c->relay;
    g_autofree char *peer = addr_str(&c->peer);
    logf_(r, "connection %s %s closed: %s", c->tls ? "tls" : "tcp", peer, why);
    c->closing = TRUE;
    for (GList *l = r->allocations, *next; l; l = next) {
        next = l->next;
        Allocation *a = l->data;
        if (a->conn == c)
            allocation_free(a, "released (its connection closed)");
    }
    r->conns = g_list_remove(r->conns, c);
    if (c->in) {
        g_source_destroy(c->in);
        g_source_unref(c->in);
    }
    if (c->out) {
        g_source_destroy(c->out);
        g_source_unref(c->out);
    }
    close(c->fd);
    g_byte_array_unref(c->inbuf);
    g_byte_array_unref(c->outbuf);
    g_free(c);
}

/* Takes whole frames (or the ClientHello) off the front of the input. FALSE
 * when the connection was closed. */
static gboolean conn_process(Conn *c)
{
    Relay *r = c->relay;
    g_autoptr(GError) error = NULL;
    while (c->inbuf->len) {
        if (c->tls && !c->hello_done) {
            if (c->inbuf->len < MSTURN_CLIENT_HELLO_LEN)
                return TRUE;
            g_autofree char *peer = addr_str(&c->peer);
            if (!msturn_client_hello_check(c->inbuf->data, c->inbuf->len, &error)) {
                conn_close(c, error->message);
                return FALSE;
            }
            uint8_t random[64], hello[MSTURN_SERVER_HELLO_LEN];
            RAND_bytes(random, sizeof(random));
            msturn_server_hello(hello, random);
            logf_(r, "recv tls %s pseudo-TLS ClientHello", peer);
            logf_(r, "send tls %s pseudo-TLS ServerHello, ServerHelloDone (%d bytes)", peer,
                  MSTURN_SERVER_HELLO_LEN);
            c->hello_done = TRUE;
            g_byte_array_remove_range(c->inbuf, 0, MSTURN_CLIENT_HELLO_LEN);
            if (!conn_write(c, hello, sizeof(hello), NULL, 0)) {
                conn_close(c, "cannot send the ServerHello");
                return FALSE;
            }
            continue;
        }
        uint8_t type;
        uint16_t flen;
        if (c->inbuf->len < MSTURN_FRAME_HEADER_LEN)
            return TRUE;
        if (!msturn_frame_header(c->inbuf->data, &type, &flen, &error)) {
            conn_close(c, error->message);
            return FALSE;
        }
        if (c->inbuf->len < MSTURN_FRAME_HEADER_LEN + (guint)flen)
            return TRUE;
        g_autofree uint8_t *frame = g_memdup2(c->inbuf->data + MSTURN_FRAME_HEADER_LEN, flen);
        g_byte_array_remove_range(c->inbuf, 0, MSTURN_FRAME_HEADER_LEN + flen);
        Origin o = {c, c->peer};
        if (type == MSTURN_FRAME_CONTROL)
            handle_message(r, &o, frame, flen);
        else
            handle_raw(r, &o, frame, flen);
        if (!g_list_find(r->conns, c)) /* a handler closed it */
            return FALSE;
    }
    return TRUE;
}

static gboolean conn_readable(gint fd, GIOCondition cond, gpointer data)
{
    Conn *c = data;
    uint8_t buf[16384];
    gsize room = TCP_IN_CAP - c->inbuf->len;
    ssize_t n = recv(fd, buf, MIN(sizeof(buf), room), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        conn_close(c, n == 0 ? "end of stream" : g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    g_byte_array_append(c->inbuf, buf, (guint)n);
    return conn_process(c) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean tcp_acceptable(gint fd, GIOCondition cond, gpointer data)
{
    Relay *r = data;
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    int cfd = accept4(fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return G_SOURCE_CONTINUE;
    gboolean tls = fd == r->tls_fd;
    g_autofree char *p = addr_str(&peer);
    if (g_list_length(r->conns) >= r->max_connections) {
        logf_(r, "connection %s %s refused: already %u connections", tls ? "tls" : "tcp", p,
              r->max_connections);
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    Conn *c = g_new0(Conn, 1);
    c->relay = r;
    c->fd = cfd;
    c->tls = tls;
    c->peer = peer;
    c->inbuf = g_byte_array_new();
    c->outbuf = g_byte_array_new();
    conn_update_reading(c);
    r->conns = g_list_prepend(r->conns, c);
    logf_(r, "connection %s %s accepted", tls ? "tls" : "tcp", p);
    return G_SOURCE_CONTINUE;
}

static int listen_on(Relay *r, int type, int port, GSource **src, GUnixFDSourceFunc cb,
                     GError **error)
{
    struct sockaddr_in at = r->listen;
    at.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 16) < 0)) {
        g_autofree char *a = addr_str(&at);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot listen on %s/%s: %s", a, type == SOCK_STREAM ? "tcp" : "udp",
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(*src, G_SOURCE_FUNC(cb), r, NULL);
    g_source_attach(*src, NULL);
    return fd;
}

static gboolean on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

/* A credential from an argument or a file (its first line); MRAS gives
 * base64, decoded unless RAW. */
static GBytes *credential(const char *what, const char *arg, const char *file, gboolean raw,
                          GError **error)
{
    g_autofree char *text = NULL;
    if (file) {
        if (!g_file_get_contents(file, &text, NULL, error))
            return NULL;
        g_strdelimit(text, "\r\n", '\0');
    } else if (arg) {
        text = g_strdup(arg);
    } else {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "no %s: --%s or --%s-file", what,
                    what, what);
        return NULL;
    }
    gsize n = strlen(text);
    if (n == 0 || n > MSTURN_MAX_USERNAME) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s of %zu characters", what, n);
        return NULL;
    }
    if (raw)
        return g_bytes_new(text, n);
    gboolean base64 = n % 4 == 0;
    for (gsize i = 0; base64 && i < n; i++)
        base64 = g_ascii_isalnum(text[i]) || text[i] == '+' || text[i] == '/' ||
                 (text[i] == '=' && i >= n - 2);
    if (!base64) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "%s is not base64 (MRAS credentials are; --raw-credentials takes it as it is)",
                    what);
        return NULL;
    }
    gsize len;
    guchar *bytes = g_base64_decode(text, &len);
    return g_bytes_new_take(bytes, len);
}

static gboolean parse_ip(const char *s, struct sockaddr_in *out, GError **error)
{
    *out = (struct sockaddr_in){.sin_family = AF_INET};
    if (s && inet_pton(AF_INET, s, &out->sin_addr) == 1)
        return TRUE;
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s' is not an IPv4 address",
                s ? s : "");
    return FALSE;
}

int main(int argc, char **argv)
{
    g_autofree char *listen = NULL, *relay_ip = NULL, *realm = NULL, *user = NULL,
                    *user_file = NULL, *password = NULL, *password_file = NULL, *log_file = NULL;
    int udp = 3478, tcp = 0, tls = 0, max_lifetime = 3600, nonce_lifetime = 600, max_alloc = 64,
        max_conn = 64, max_peer = 8;
    gboolean raw = FALSE;
    GOptionEntry entries[] = {
        {"listen", 0, 0, G_OPTION_ARG_STRING, &listen, "address to listen on", "ADDR"},
        {"udp", 0, 0, G_OPTION_ARG_INT, &udp, "UDP port (0: none; default 3478)", "PORT"},
        {"tcp", 0, 0, G_OPTION_ARG_INT, &tcp, "TCP port, framed (0: none)", "PORT"},
        {"tls", 0, 0, G_OPTION_ARG_INT, &tls, "pseudo-TLS port (0: none)", "PORT"},
        {"relay-ip", 0, 0, G_OPTION_ARG_STRING, &relay_ip, "address to allocate on", "ADDR"},
        {"realm", 0, 0, G_OPTION_ARG_STRING, &realm, "realm (at most 128 bytes)", "REALM"},
        {"user", 0, 0, G_OPTION_ARG_STRING, &user, "MRAS user name (base64)", "NAME"},
        {"user-file", 0, 0, G_OPTION_ARG_FILENAME, &user_file, "file holding it", "FILE"},
        {"password", 0, 0, G_OPTION_ARG_STRING, &password, "MRAS password (base64)", "PW"},
        {"password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file, "file holding it", "FILE"},
        {"raw-credentials", 0, 0, G_OPTION_ARG_NONE, &raw, "do not base64-decode them", NULL},
        {"log", 0, 0, G_OPTION_ARG_FILENAME, &log_file, "log file (default stderr)", "FILE"},
        {"max-lifetime", 0, 0, G_OPTION_ARG_INT, &max_lifetime, "seconds (3600)", "S"},
        {"nonce-lifetime", 0, 0, G_OPTION_ARG_INT, &nonce_lifetime, "seconds (600)", "S"},
        {"max-allocations", 0, 0, G_OPTION_ARG_INT, &max_alloc, "(64)", "N"},
        {"max-connections", 0, 0, G_OPTION_ARG_INT, &max_conn, "(64)", "N"},
        {"max-peer-connections", 0, 0, G_OPTION_ARG_INT, &max_peer,
         "TCP connections per TCP allocation (8)", "N"},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the lab's MS-TURN relay");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    Relay r = {.udp_fd = -1, .tcp_fd = -1, .tls_fd = -1, .log = stderr};
    if (!g_option_context_parse(ctx, &argc, &argv, &error) ||
        !parse_ip(listen, &r.listen, &error) ||
        !parse_ip(relay_ip ? relay_ip : listen, &r.relay_ip, &error) ||
        !(r.user = credential("user", user, user_file, raw, &error)) ||
        !(r.pass = credential("password", password, password_file, raw, &error))) {
        fprintf(stderr, "iceprobe-msturn: %s\n", error->message);
        return 2;
    }
    if (!realm || !*realm || strlen(realm) > MSTURN_MAX_REALM || udp < 0 || udp > 65535 ||
        tcp < 0 || tcp > 65535 || tls < 0 || tls > 65535 || max_lifetime < 1 ||
        nonce_lifetime < 1 || max_alloc < 1 || max_alloc > 4096 || max_conn < 1 ||
        max_conn > 4096 || max_peer < 1 || max_peer > 256 || (!udp && !tcp && !tls)) {
        fprintf(stderr, "iceprobe-msturn: needs --realm (1 to 128 bytes), a port, and ports, "
                        "lifetimes and caps in range (--help)\n");
        return 2;
    }
    if (log_file && !(r.log = fopen(log_file, "a"))) {
        fprintf(stderr, "iceprobe-msturn: cannot open %s: %s\n", log_file, g_strerror(errno));
        return 2;
    }
    r.realm = realm;
    r.max_lifetime = max_lifetime;
    r.max_allocations = (guint)max_alloc;
    r.max_connections = (guint)max_conn;
    r.max_peer_connections = (guint)max_peer;
    r.auth = (MsturnAuth){.realm = realm, .nonce_lifetime_s = nonce_lifetime};
    r.auth.user = g_bytes_get_data(r.user, &r.auth.user_len);
    r.auth.pass = g_bytes_get_data(r.pass, &r.auth.pass_len);
    RAND_bytes(r.auth.nonce_secret, sizeof(r.auth.nonce_secret));
    if ((udp &&
         (r.udp_fd = listen_on(&r, SOCK_DGRAM, udp, &r.udp_src, udp_readable, &error)) < 0) ||
        (tcp &&
         (r.tcp_fd = listen_on(&r, SOCK_STREAM, tcp, &r.tcp_src, tcp_acceptable, &error)) < 0) ||
        (tls &&
         (r.tls_fd = listen_on(&r, SOCK_STREAM, tls, &r.tls_src, tcp_acceptable, &error)) < 0)) {
        fprintf(stderr, "iceprobe-msturn: %s\n", error->message);
        return 1;
    }
    r.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, r.loop);
    g_unix_signal_add(SIGINT, on_signal, r.loop);
    g_autofree char *at = addr_str(&r.listen), *rel = addr_str(&r.relay_ip);
    logf_(&r, "up on %s udp %d tcp %d tls %d, relaying on %s, realm \"%s\", user of %zu bytes", at,
          udp, tcp, tls, rel, realm, r.auth.user_len);
    g_main_loop_run(r.loop);
    while (r.conns)
        conn_close(r.conns->data, "relay stopping");
    while (r.allocations)
        allocation_free(r.allocations->data, "released (relay stopping)");
    GSource *srcs[] = {r.udp_src, r.tcp_src, r.tls_src};
    for (gsize i = 0; i < G_N_ELEMENTS(srcs); i++) {
        if (srcs[i]) {
            g_source_destroy(srcs[i]);
            g_source_unref(srcs[i]);
        }
    }
    int fds[] = {r.udp_fd, r.tcp_fd, r.tls_fd};
    for (gsize i = 0; i < G_N_ELEMENTS(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    logf_(&r, "stopped");
    if (r.log != stderr)
        fclose(r.log);
    g_main_loop_unref(r.loop);
    g_bytes_unref(r.user);
    g_bytes_unref(r.pass);
    return 0;
}
