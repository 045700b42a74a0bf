/* The socket seam's Windows side: Winsock's SOCKET, select(), WSAGetLastError
 * as errno values (sock.h). select(), not WSAPoll: WSAPoll did not report a
 * refused connection on Windows 10 before 2004 (its documentation). A wait
 * with a stop looks at the stop's event every PSOCK_STOP_SLICE_MS: a
 * GCancellable's poll handle on Windows is an event, which select() cannot wait
 * on beside sockets. */
#include "sock.h"

#include <errno.h>
#include <gio/gnetworking.h>

#define PSOCK_STOP_SLICE_MS 20

void psock_init(void)
{
    g_networking_init(); /* WSAStartup, once for the process */
}

PSock psock_open(int family, int type, gboolean nonblocking)
{
    SOCKET s =
        WSASocketW(family, type, 0, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s != INVALID_SOCKET && nonblocking) {
        u_long on = 1;
        ioctlsocket(s, FIONBIO, &on);
    }
    return s;
}

void psock_close(PSock s)
{
    if (s != INVALID_SOCKET)
        closesocket(s);
}

int psock_error(void)
{
    switch (WSAGetLastError()) {
    case 0:
        return 0;
    case WSAEWOULDBLOCK:
        return EAGAIN;
    case WSAEINPROGRESS:
        return EINPROGRESS;
    case WSAEINTR:
        return EINTR;
    case WSAECONNRESET:
    case WSAECONNABORTED:
        return ECONNRESET;
    case WSAECONNREFUSED:
        return ECONNREFUSED;
    case WSAETIMEDOUT:
        return ETIMEDOUT;
    case WSAENETUNREACH:
    case WSAENETDOWN:
        return ENETUNREACH;
    case WSAEHOSTUNREACH:
        return EHOSTUNREACH;
    case WSAEADDRINUSE:
        return EADDRINUSE;
    case WSAEADDRNOTAVAIL:
        return EADDRNOTAVAIL;
    case WSAEAFNOSUPPORT:
        return EAFNOSUPPORT;
    case WSAEACCES:
        return EACCES;
    case WSAENOBUFS:
        return ENOBUFS;
    case WSAEMFILE:
        return EMFILE;
    case WSAECANCELLED:
        return ECANCELED;
    case WSAENOTCONN:
    case WSAESHUTDOWN:
        return EPIPE;
    default:
        return EIO;
    }
}

const char *psock_strerror(int err)
{
    static const struct {
        int err;
        const char *words;
    } words[] = {
        {EAGAIN, "Resource temporarily unavailable"},
        {EINPROGRESS, "Operation now in progress"},
        {ECONNRESET, "Connection reset by peer"},
        {ECONNREFUSED, "Connection refused"},
        {ETIMEDOUT, "Connection timed out"},
        {ENETUNREACH, "Network is unreachable"},
        {EHOSTUNREACH, "No route to host"},
        {EADDRINUSE, "Address already in use"},
        {EADDRNOTAVAIL, "Cannot assign requested address"},
        {EAFNOSUPPORT, "Address family not supported by protocol"},
        {ENOBUFS, "No buffer space available"},
        {ECANCELED, "Operation canceled"},
    }; /* glibc's words, so that a message reads the same on both */
    for (gsize i = 0; i < G_N_ELEMENTS(words); i++)
        if (words[i].err == err)
            return words[i].words;
    return g_strerror(err);
}

int psock_connect(PSock s, const struct sockaddr *sa, gsize len)
{
    if (connect(s, sa, (int)len) == 0)
        return 0;
    int e = WSAGetLastError();
    return e == WSAEWOULDBLOCK || e == WSAEINPROGRESS ? 1 : -1;
}

int psock_connect_result(PSock s)
{
    int err = 0;
    int el = sizeof(err);
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &el) != 0)
        return psock_error();
    WSASetLastError(err);
    return psock_error();
}

void psock_set_blocking(PSock s, guint timeout_ms)
{
    u_long off = 0;
    ioctlsocket(s, FIONBIO, &off);
    DWORD ms = timeout_ms;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof(ms));
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof(ms));
}

void psock_set_nodelay(PSock s)
{
    BOOL one = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
}

gssize psock_send(PSock s, const void *buf, gsize len)
{
    int n = send(s, buf, (int)MIN(len, (gsize)G_MAXINT), 0);
    return n == SOCKET_ERROR ? -1 : n;
}

gssize psock_recv(PSock s, void *buf, gsize len)
{
    int n = recv(s, buf, (int)MIN(len, (gsize)G_MAXINT), 0);
    return n == SOCKET_ERROR ? -1 : n;
}

PSock psock_accept(PSock listener)
{
    /* An accepted socket takes its listener's attributes: not inheritable. */
    return accept(listener, NULL, NULL);
}

GSocketAddress *psock_local_address(PSock s)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
        return NULL;
    return g_socket_address_new_from_native(&ss, (gsize)len);
}

PSock psock_listen_loopback(guint *port)
{
    SOCKET s = psock_open(AF_INET, SOCK_STREAM, FALSE);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int sl = sizeof(in);
    if (s == INVALID_SOCKET || bind(s, (struct sockaddr *)&in, sizeof(in)) != 0 ||
        listen(s, 16) != 0 || getsockname(s, (struct sockaddr *)&in, &sl) != 0) {
        int e = WSAGetLastError();
        psock_close(s);
        WSASetLastError(e);
        return PSOCK_NONE;
    }
    *port = ntohs(in.sin_port);
    return s;
}

static gboolean stopped(const GPollFD *stop)
{
    return stop && WaitForSingleObject((HANDLE)(gintptr)stop->fd, 0) == WAIT_OBJECT_0;
}

/* One select() of at most slice_ms: 1 ready, 0 not, -1 failed. */
static int select_once(PSockWait *w, guint n, int slice_ms)
{
    fd_set rd, wr, ex;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    for (guint i = 0; i < n; i++) {
        if (w[i].write) {
            FD_SET(w[i].sock, &wr);
            FD_SET(w[i].sock, &ex); /* a connection that failed */
        } else {
            FD_SET(w[i].sock, &rd);
        }
    }
    struct timeval tv = {slice_ms / 1000, (slice_ms % 1000) * 1000};
    int rc = select(0, &rd, &wr, &ex, slice_ms < 0 ? NULL : &tv);
    if (rc == SOCKET_ERROR)
        return -1;
    for (guint i = 0; i < n; i++)
        w[i].ready =
            FD_ISSET(w[i].sock, &rd) || FD_ISSET(w[i].sock, &wr) || FD_ISSET(w[i].sock, &ex);
    return rc > 0 ? 1 : 0;
}

int psock_wait(PSockWait *w, guint n, const GPollFD *stop, int timeout_ms)
{
    g_return_val_if_fail(n > 0 && n <= FD_SETSIZE, -1);
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        if (stopped(stop)) {
            WSASetLastError(WSAECANCELLED);
            return -1;
        }
        int slice = stop ? PSOCK_STOP_SLICE_MS : -1;
        if (deadline >= 0) {
            int left = (int)MAX(0, (deadline - g_get_monotonic_time() + 999) / 1000);
            slice = slice < 0 ? left : MIN(slice, left);
        }
        int rc = select_once(w, n, slice);
        if (rc < 0 && WSAGetLastError() == WSAEINTR)
            continue;
        if (rc != 0)
            return rc;
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return 0;
    }
}
