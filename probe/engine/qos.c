/* QoS markings as they arrive (qos.h). */
#include "qos.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress.h"

#define QOS_MAX_SOCKETS 16
/* After a socket's datagram is peeked, that socket is left alone for a while
 * (the other sockets stay watched): after anything but a new media datagram
 * (the same datagram still there, a STUN message), a millisecond, the moment
 * libnice needs to take it, rather than peeking at the same one in a loop.
 * After a new media datagram, for its first QOS_DENSE_SAMPLE most of the gap
 * to the next (a stream sends one every 20 ms: each can still be sampled, at
 * one wake-up each), then 150 ms: a sample big enough to judge
 * (POLICY_QOS_MIN_SAMPLE) soon, and a few a second for the rest of the
 * stream, at a few wake-ups a second rather than fifty. */
#define QOS_REST_OTHER_US 1000
#define QOS_REST_DENSE_US 15000
#define QOS_REST_SPARSE_US 150000
#define QOS_DENSE_SAMPLE 12

typedef struct {
    int fd;
    int family;
    int old; /* the option's value before the watch */
    gint64 rest_until; /* monotonic µs: not looked at before (0: watched) */
    guint sampled;     /* new media datagrams peeked */
    guint8 last[12];
} Peeked;

struct QosWatch {
    Peeked socks[QOS_MAX_SOCKETS];
    guint n;
    guint dscp;
    int stop_fd;
    GThread *thread;
    GMutex lock;
    QosCounts counts;
};

gboolean qos_count(QosCounts *c, guint dscp, const guint8 *payload, gsize len, guint8 tos,
                   guint8 last[12])
{
    gsize rtp_len = 0;
    const guint8 *rtp = egress_payload_rtp(payload, len, &rtp_len);
    if (!rtp || rtp_len < 12)
        return FALSE;
    if (memcmp(rtp, last, 12) == 0)
        return TRUE; /* still at the head of the queue: counted already */
    memcpy(last, rtp, 12);
    guint v = tos >> 2;
    c->seen++;
    if (v == dscp)
        c->marked++;
    c->values |= G_GUINT64_CONSTANT(1) << v;
    return TRUE;
}

/* The traffic class the kernel handed over with a datagram, or -1. */
static int tos_of(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1))
            return *(const guint8 *)CMSG_DATA(c);
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof(v));
            return v & 0xff;
        }
    }
    return -1;
}

/* Peeks at the datagram at the head of a socket's queue; TRUE if there was a
 * new media datagram (worth yielding to libnice for). */
static gboolean peek(QosWatch *w, Peeked *s)
{
    guint8 buf[EGRESS_MAX_PACKET];
    /* Room for what else the socket asks for: the egress watch turns
     * IP_PKTINFO (IPV6_RECVPKTINFO) on, and it comes first. */
    union {
        char b[256];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                       .msg_controllen = sizeof(ctl.b)};
    ssize_t n = recvmsg(s->fd, &m, MSG_PEEK | MSG_DONTWAIT);
    int tos = n > 0 ? tos_of(&m) : -1;
    if (tos < 0)
        return FALSE; /* taken by libnice meanwhile, or no class said */
    g_mutex_lock(&w->lock);
    guint64 before = w->counts.seen;
    qos_count(&w->counts, w->dscp, buf, (gsize)n, (guint8)tos, s->last);
    gboolean fresh = w->counts.seen != before;
    g_mutex_unlock(&w->lock);
    return fresh;
}

/* Fills the poll set with the sockets not resting, wakes those whose rest is
 * over; returns poll's timeout: until the first rest ends (-1: none). */
static int poll_set(QosWatch *w, struct pollfd *pfd)
{
    gint64 now = g_get_monotonic_time(), next = G_MAXINT64;
    for (guint i = 0; i < w->n; i++) {
        Peeked *s = &w->socks[i];
        if (s->rest_until && s->rest_until <= now)
            s->rest_until = 0;
        if (s->rest_until && s->rest_until < next)
            next = s->rest_until;
        /* poll ignores a negative descriptor: a resting socket's. */
        pfd[i] = (struct pollfd){.fd = s->rest_until ? -1 : s->fd, .events = POLLIN};
    }
    return next == G_MAXINT64 ? -1 : (int)((next - now + 999) / 1000);
}

static gpointer watcher(gpointer data)
{
    QosWatch *w = data;
    struct pollfd pfd[QOS_MAX_SOCKETS + 1];
    pfd[w->n] = (struct pollfd){.fd = w->stop_fd, .events = POLLIN};
    for (;;) {
        int timeout = poll_set(w, pfd);
        if (poll(pfd, w->n + 1, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[w->n].revents)
            break;
        for (guint i = 0; i < w->n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            Peeked *s = &w->socks[i];
            gint64 rest = QOS_REST_OTHER_US;
            if (peek(w, s))
                rest = ++s->sampled < QOS_DENSE_SAMPLE ? QOS_REST_DENSE_US : QOS_REST_SPARSE_US;
            s->rest_until = g_get_monotonic_time() + rest;
        }
    }
    return NULL;
}

static int option_of(int family)
{
    return family == AF_INET6 ? IPV6_RECVTCLASS : IP_RECVTOS;
}

static int level_of(int family)
{
    return family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
}

static gboolean watch_socket(Peeked *s, int fd, int family)
{
    s->fd = fd;
    s->family = family;
    socklen_t l = sizeof(s->old);
    getsockopt(s->fd, level_of(s->family), option_of(s->family), &s->old, &l);
    int on = 1;
    return setsockopt(s->fd, level_of(s->family), option_of(s->family), &on, sizeof(on)) == 0;
}

static void unwatch_socket(Peeked *s)
{
    setsockopt(s->fd, level_of(s->family), option_of(s->family), &s->old, sizeof(s->old));
    close(s->fd);
    s->fd = -1;
}

QosWatch *qos_watch_new(GPtrArray *local_addrs, guint dscp, GError **error)
{
    g_autoptr(QosWatch) w = g_new0(QosWatch, 1);
    g_mutex_init(&w->lock);
    w->dscp = dscp;
    w->stop_fd = -1;
    int fds[QOS_MAX_SOCKETS], families[QOS_MAX_SOCKETS], last_errno = 0;
    guint n = egress_own_sockets(local_addrs, fds, families, QOS_MAX_SOCKETS, &last_errno);
    for (guint i = 0; i < n; i++) {
        if (watch_socket(&w->socks[w->n], fds[i], families[i])) {
            w->n++;
        } else {
            last_errno = errno;
            close(fds[i]);
        }
    }
    if (!egress_watcher_start(w->n, last_errno, " for its markings", &w->stop_fd, &w->thread,
                              watcher, w, error))
        return NULL;
    return g_steal_pointer(&w);
}

void qos_watch_counts(QosWatch *w, QosCounts *out)
{
    g_mutex_lock(&w->lock);
    *out = w->counts;
    g_mutex_unlock(&w->lock);
}

guint qos_watch_sockets(const QosWatch *w)
{
    return w->n;
}

void qos_watch_free(QosWatch *w)
{
    if (!w)
        return;
    egress_watcher_stop(w->stop_fd, w->thread);
    for (guint i = 0; i < w->n; i++)
        unwatch_socket(&w->socks[i]);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    g_mutex_clear(&w->lock);
    g_free(w);
}
