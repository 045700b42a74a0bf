/* What the unit tests' in-process servers share (test_tlsrelay's TLS edge,
 * test_turncheck's STUN/TURN responder and TLS boxes): sockets on 127.0.0.1
 * through the product's own seam (sock.h), so that the same servers run on
 * Linux and as Windows programs under Wine, and a stop the test signals from
 * its own thread, which ends a server's wait at once. */
#pragma once

#include "sock.h"

typedef struct {
    GCancellable *cancellable;
    GPollFD pfd; /* readable (Windows: an event set) once stopped */
} LoopbackStop;

static inline void loopback_stop_init(LoopbackStop *stop)
{
    stop->cancellable = g_cancellable_new();
    g_assert_true(g_cancellable_make_pollfd(stop->cancellable, &stop->pfd));
}

static inline void loopback_stop_signal(LoopbackStop *stop)
{
    g_cancellable_cancel(stop->cancellable);
}

static inline void loopback_stop_clear(LoopbackStop *stop)
{
    g_cancellable_release_fd(stop->cancellable);
    g_clear_object(&stop->cancellable);
}

/* Until the stop is signalled (a server that answers nothing). */
static inline void loopback_stop_wait(LoopbackStop *stop)
{
    while (!g_cancellable_is_cancelled(stop->cancellable))
        g_poll(&stop->pfd, 1, -1);
}

/* Waits until s is readable (data, a connection to accept, or the peer
 * closed): 1, 0 when timeout_ms passed (-1: no limit), -1 when stopped or failed. */
static inline int loopback_wait_readable(PSock s, const LoopbackStop *stop, int timeout_ms)
{
    PSockWait w = {s, FALSE, FALSE};
    return psock_wait(&w, 1, stop ? &stop->pfd : NULL, timeout_ms);
}

static inline struct sockaddr_in loopback_address(guint port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((guint16)port)};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return in;
}

/* A blocking socket of type (SOCK_STREAM: listening) on 127.0.0.1, its port in
 * *port; PSOCK_NONE on failure. */
static inline PSock loopback_socket(int type, guint *port)
{
    if (type == SOCK_STREAM)
        return psock_listen_loopback(port);
    PSock s = psock_open(AF_INET, type, FALSE);
    struct sockaddr_in in = loopback_address(0);
    socklen_t len = sizeof(in);
    if (s == PSOCK_NONE || bind(s, (struct sockaddr *)&in, sizeof(in)) != 0 ||
        getsockname(s, (struct sockaddr *)&in, &len) != 0) {
        psock_close(s);
        return PSOCK_NONE;
    }
    *port = ntohs(in.sin_port);
    return s;
}

/* A blocking TCP connection to 127.0.0.1:port, or PSOCK_NONE (refused). */
static inline PSock loopback_connect(guint port)
{
    PSock s = psock_open(AF_INET, SOCK_STREAM, FALSE);
    struct sockaddr_in to = loopback_address(port);
    if (s != PSOCK_NONE && psock_connect(s, (struct sockaddr *)&to, sizeof(to)) != 0) {
        psock_close(s);
        return PSOCK_NONE;
    }
    return s;
}
