/* The socket seam's Linux side: file descriptors, poll(), errno (sock.h). */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

void psock_init(void)
{
    signal(SIGPIPE, SIG_IGN);
}

PSock psock_open(int family, int type, gboolean nonblocking)
{
    return socket(family, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
}

void psock_close(PSock s)
{
    if (s >= 0)
        close(s);
}

int psock_error(void)
{
    return errno;
}

const char *psock_strerror(int err)
{
    return g_strerror(err);
}

int psock_connect(PSock s, const struct sockaddr *sa, gsize len)
{
    if (connect(s, sa, (socklen_t)len) == 0)
        return 0;
    return errno == EINPROGRESS ? 1 : -1;
}

int psock_connect_result(PSock s)
{
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return errno;
    return err;
}

void psock_set_blocking(PSock s, guint timeout_ms)
{
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void psock_set_nodelay(PSock s)
{
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

gssize psock_send(PSock s, const void *buf, gsize len)
{
    return send(s, buf, len, MSG_NOSIGNAL);
}

gssize psock_recv(PSock s, void *buf, gsize len)
{
    return recv(s, buf, len, 0);
}

PSock psock_accept(PSock listener)
{
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
}

GSocketAddress *psock_local_address(PSock s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    return g_socket_address_new_from_native(&ss, len);
}

PSock psock_listen_loopback(guint *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(in);
    if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &sl) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return PSOCK_NONE;
    }
    *port = ntohs(in.sin_port);
    return fd;
}

#define PSOCK_MAX_WAIT 8

int psock_wait(PSockWait *w, guint n, const GPollFD *stop, int timeout_ms)
{
    g_return_val_if_fail(n > 0 && n < PSOCK_MAX_WAIT, -1);
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    struct pollfd p[PSOCK_MAX_WAIT];
    for (guint i = 0; i < n; i++)
        p[i] = (struct pollfd){w[i].sock, w[i].write ? POLLOUT : POLLIN, 0};
    guint np = n;
    if (stop)
        p[np++] = (struct pollfd){(int)stop->fd, POLLIN, 0};
    for (;;) {
        int left = -1;
        if (deadline >= 0)
            left = (int)MAX(0, (deadline - g_get_monotonic_time() + 999) / 1000);
        int rc = poll(p, np, left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        if (stop && p[n].revents) {
            errno = ECANCELED;
            return -1;
        }
        for (guint i = 0; i < n; i++)
            w[i].ready = p[i].revents != 0;
        return rc > 0 ? 1 : 0;
    }
}
