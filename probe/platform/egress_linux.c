/* The kernel's own account of where each packet of the probe's UDP sockets
 * left (egress.h), Linux side. One watcher thread per watch polls the sockets' error
 * queues (poll reports POLLERR while one holds anything) and an eventfd that
 * ends it. libnice's own main context wakes on the same POLLERR and finds
 * nothing to read (its source asks for G_IO_IN; GLib adds G_IO_ERR): the watcher
 * empties the queue at once, and keeps doing so until the watch is freed, which
 * the caller does after libnice has closed the sockets. */
#include "egress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stun/stunagent.h>
#include <stun/stunmessage.h>

#define EGRESS_MAX_SOCKETS 32
#define TS_FLAGS                                                                                   \
    (SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_CMSG |           \
     SOF_TIMESTAMPING_OPT_ID)

typedef struct {
    int fd;           /* our own descriptor of libnice's socket */
    int family;       /* AF_INET or AF_INET6 */
    int old_ts;       /* SO_TIMESTAMPING before the watch */
    int old_pki;      /* IP_PKTINFO / IPV6_RECVPKTINFO before */
    guint32 next_key; /* the timestamp key (OPT_ID) expected next */
} Watched;

struct EgressWatch {
    Watched socks[EGRESS_MAX_SOCKETS];
    guint n;
    int tunnels[8];
    guint n_tunnels;
    int stop_fd;
    GThread *thread;
    GMutex lock;
    GCond changed; /* the counts moved */
    EgressCounts counts;
};

/* ---- the watcher ---- */

static gboolean is_tunnel(const EgressWatch *w, int ifindex)
{
    for (guint i = 0; i < w->n_tunnels; i++)
        if (w->tunnels[i] == ifindex)
            return TRUE;
    return FALSE;
}

/* Reads one socket's error queue empty; FALSE if it held nothing. */
static gboolean drain(EgressWatch *w, Watched *s)
{
    gboolean any = FALSE;
    for (;;) {
        guint8 buf[EGRESS_MAX_PACKET];
        union {
            char b[512];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.b,
                           .msg_controllen = sizeof(ctl.b)};
        ssize_t r = recvmsg(s->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (r < 0)
            return any;
        any = TRUE;
        int ifindex = 0;
        gboolean stamp = FALSE;
        guint32 key = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                ifindex = pi.ipi_ifindex;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                ifindex = (int)pi.ipi6_ifindex;
            } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                       (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                struct sock_extended_err e;
                memcpy(&e, CMSG_DATA(c), sizeof(e));
                stamp = e.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && e.ee_info == SCM_TSTAMP_SCHED;
                key = e.ee_data;
            }
        }
        if (!stamp || ifindex <= 0)
            continue;
        EgressPacket what =
            (m.msg_flags & MSG_TRUNC) ? EGRESS_PACKET_OTHER : egress_classify(buf, (gsize)r);
        gboolean tunnel = is_tunnel(w, ifindex);
        g_mutex_lock(&w->lock);
        /* A key skipped: the kernel dropped that packet's timestamp (the
         * error queue was over the socket's receive buffer). */
        if (key > s->next_key)
            w->counts.lost += key - s->next_key;
        s->next_key = MAX(s->next_key, key + 1);
        if (what == EGRESS_PACKET_MEDIA) {
            w->counts.media_seen++;
            w->counts.media_tunnel += tunnel;
        } else {
            w->counts.other_seen++;
            w->counts.other_tunnel += tunnel;
        }
        g_cond_broadcast(&w->changed);
        g_mutex_unlock(&w->lock);
    }
}

static gpointer watcher(gpointer data)
{
    EgressWatch *w = data;
    struct pollfd pfd[EGRESS_MAX_SOCKETS + 1];
    for (guint i = 0; i < w->n; i++)
        pfd[i] = (struct pollfd){.fd = w->socks[i].fd, .events = 0}; /* POLLERR comes anyway */
    pfd[w->n] = (struct pollfd){.fd = w->stop_fd, .events = POLLIN};
    for (;;) {
        if (poll(pfd, w->n + 1, -1) < 0 && errno != EINTR)
            break;
        if (pfd[w->n].revents)
            break;
        gboolean idle = TRUE;
        for (guint i = 0; i < w->n; i++)
            if (pfd[i].revents & POLLERR)
                idle = !drain(w, &w->socks[i]) && idle;
        /* POLLERR with an empty queue: the socket's own pending error, which
         * is libnice's to take. Do not spin on it. */
        if (idle)
            g_usleep(2000);
    }
    for (guint i = 0; i < w->n; i++)
        drain(w, &w->socks[i]);
    return NULL;
}

/* ---- finding libnice's sockets ---- */

static gboolean same_address(const struct sockaddr_storage *a, GInetSocketAddress *want)
{
    struct sockaddr_storage b;
    if (!g_socket_address_to_native(G_SOCKET_ADDRESS(want), &b, sizeof(b), NULL) ||
        a->ss_family != b.ss_family)
        return FALSE;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)&b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)&b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return FALSE;
}

/* The descriptor of this process's UDP socket bound to want, or -1. */
static int find_udp_socket(GInetSocketAddress *want)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d))) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end || fd < 0 || fd == dirfd(d))
            continue;
        struct stat st;
        int type = 0;
        socklen_t tl = sizeof(type);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM ||
            getsockname((int)fd, (struct sockaddr *)&ss, &sl) < 0)
            continue;
        if (same_address(&ss, want))
            found = (int)fd;
    }
    closedir(d);
    return found;
}

int egress_udp_socket_dup(GInetSocketAddress *want, int *family)
{
    int libnice_fd = find_udp_socket(want);
    if (libnice_fd < 0) {
        errno = ENOENT;
        return -1;
    }
    int fd = fcntl(libnice_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    /* Still the socket found: another path's thread may have closed that
     * descriptor and opened another under the same number since. */
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || !same_address(&ss, want)) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    *family = ss.ss_family;
    return fd;
}

gboolean egress_same_socket(int a, int b)
{
    struct stat x, y;
    return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

static gboolean watch_socket(Watched *s, int fd, int family)
{
    s->fd = fd;
    s->family = (sa_family_t)family;
    int level = s->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    int opt = s->family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO;
    socklen_t l = sizeof(int);
    getsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPING, &s->old_ts, &l);
    l = sizeof(int);
    getsockopt(s->fd, level, opt, &s->old_pki, &l);
    int on = 1, flags = TS_FLAGS;
    return setsockopt(s->fd, level, opt, &on, sizeof(on)) == 0 &&
           setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags)) == 0;
}

guint egress_own_sockets(GPtrArray *local_addrs, int *fds, int *families, guint max, int *errno_out)
{
    guint n = 0;
    *errno_out = 0;
    for (guint i = 0; i < local_addrs->len && n < max; i++) {
        int fd = egress_udp_socket_dup(local_addrs->pdata[i], &families[n]);
        if (fd < 0) {
            if (errno != ENOENT)
                *errno_out = errno;
            continue;
        }
        gboolean dup = FALSE;
        for (guint j = 0; j < n && !dup; j++)
            dup = egress_same_socket(fd, fds[j]);
        if (dup) /* the same socket under two addresses: once */
            close(fd);
        else
            fds[n++] = fd;
    }
    return n;
}

gboolean egress_watcher_start(guint n, int last_errno, const char *what, int *stop_fd,
                              GThread **thread, GThreadFunc fn, gpointer data, GError **error)
{
    if (!n && last_errno) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(last_errno),
                    "no UDP socket of the session could be watched%s: %s", what,
                    g_strerror(last_errno));
        return FALSE;
    }
    if (!n)
        return TRUE; /* nothing on UDP (TURN over TCP only): nothing to count */
    *stop_fd = eventfd(0, EFD_CLOEXEC);
    if (*stop_fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "eventfd: %s",
                    g_strerror(errno));
        return FALSE;
    }
    *thread = g_thread_new(what[0] ? "qos" : "egress", fn, data);
    return TRUE;
}

static void unwatch_socket(Watched *s)
{
    int level = s->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    int opt = s->family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO;
    setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPING, &s->old_ts, sizeof(s->old_ts));
    setsockopt(s->fd, level, opt, &s->old_pki, sizeof(s->old_pki));
}

void egress_watcher_stop(int stop_fd, GThread *thread)
{
    if (!thread)
        return;
    guint64 one = 1;
    if (write(stop_fd, &one, sizeof(one)) < 0)
        g_warning("cannot stop a socket watcher: %s", g_strerror(errno));
    g_thread_join(thread);
}

EgressWatch *egress_watch_new(GPtrArray *local_addrs, const int *tunnel_ifindex, guint n_tunnels,
                              GError **error)
{
    g_autoptr(EgressWatch) w = g_new0(EgressWatch, 1);
    g_mutex_init(&w->lock);
    g_cond_init(&w->changed);
    w->stop_fd = -1;
    for (guint i = 0; i < MIN(n_tunnels, G_N_ELEMENTS(w->tunnels)); i++)
        w->tunnels[w->n_tunnels++] = tunnel_ifindex[i];
    int fds[EGRESS_MAX_SOCKETS], families[EGRESS_MAX_SOCKETS], last_errno = 0;
    guint n = egress_own_sockets(local_addrs, fds, families, EGRESS_MAX_SOCKETS, &last_errno);
    for (guint i = 0; i < n; i++) {
        if (watch_socket(&w->socks[w->n], fds[i], families[i])) {
            w->n++;
        } else {
            last_errno = errno;
            close(fds[i]);
            w->socks[w->n].fd = -1;
        }
    }
    if (!egress_watcher_start(w->n, last_errno, "", &w->stop_fd, &w->thread, watcher, w, error))
        return NULL;
    return g_steal_pointer(&w);
}

void egress_watch_counts(EgressWatch *w, EgressCounts *out)
{
    g_mutex_lock(&w->lock);
    *out = w->counts;
    g_mutex_unlock(&w->lock);
}

void egress_watch_counts_after(EgressWatch *w, guint64 media, guint timeout_ms, EgressCounts *out)
{
    gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_mutex_lock(&w->lock);
    /* A timestamp the kernel dropped will not come: it counts as arrived. */
    while (w->counts.media_seen + w->counts.lost < media &&
           g_cond_wait_until(&w->changed, &w->lock, until))
        ;
    *out = w->counts;
    g_mutex_unlock(&w->lock);
}

guint egress_watch_sockets(const EgressWatch *w)
{
    return w->n;
}

void egress_watch_free(EgressWatch *w)
{
    if (!w)
        return;
    /* Timestamps off first: what the kernel still queues, the watcher's last
     * pass reads, so no socket is left with a queue that wakes libnice. */
    for (guint i = 0; i < w->n; i++)
        unwatch_socket(&w->socks[i]);
    egress_watcher_stop(w->stop_fd, w->thread);
    for (guint i = 0; i < w->n; i++)
        close(w->socks[i].fd);
    if (w->stop_fd >= 0)
        close(w->stop_fd);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->changed);
    g_free(w);
}

static gpointer self_test(gpointer unused)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    gboolean ok = FALSE;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0) {
        g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
        g_ptr_array_add(addrs, g_socket_address_new_from_native(&a, sizeof(a)));
        int lo = (int)if_nametoindex("lo");
        EgressWatch *w = egress_watch_new(addrs, &lo, 1, NULL);
        guint8 rtp[12] = {0x80};
        if (w && egress_watch_sockets(w) == 1 &&
            sendto(fd, rtp, sizeof(rtp), 0, (struct sockaddr *)&a, sizeof(a)) > 0) {
            EgressCounts n = {0};
            for (int i = 0; i < 50 && !n.media_seen; i++) {
                g_usleep(2000);
                egress_watch_counts(w, &n);
            }
            ok = n.media_seen == 1 && n.media_tunnel == 1;
        }
        egress_watch_free(w);
    }
    if (fd >= 0)
        close(fd);
    return GINT_TO_POINTER(ok ? 1 : 2);
}

gboolean egress_supported(void)
{
    /* As on a kernel without these facts (before Linux 4.6): the fallback's own test. */
    if (g_strcmp0(g_getenv("ICEPROBE_EGRESS"), "off") == 0)
        return FALSE;
    static GOnce once = G_ONCE_INIT;
    g_once(&once, self_test, NULL);
    return GPOINTER_TO_INT(once.retval) == 1;
}

const char *egress_unavailable(void)
{
    return NULL;
}
