/* Sockets as the engine's own TCP and UDP code uses them (the TLS relay's
 * forwarder and edge connections, the TURN check's links): one type and a few
 * calls with a Linux side (file descriptors, poll, errno) and a Windows side
 * (Winsock's SOCKET, select, WSAGetLastError mapped to errno values), so that
 * the callers have no #ifdef. Every failure is reported as an errno value
 * (psock_error), which g_strerror words the same on both. */
#pragma once

#include <gio/gio.h>

#ifdef G_OS_WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET PSock;
#define PSOCK_NONE INVALID_SOCKET
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
typedef int PSock;
#define PSOCK_NONE (-1)
#endif

/* Once, before any socket: a write to a connection the peer closed is an error
 * of that write, never the end of the process (Linux: SIGPIPE ignored, since
 * OpenSSL writes with write()); Winsock started (Windows). */
void psock_init(void);

/* A socket not inherited by child processes, non-blocking when asked;
 * PSOCK_NONE with psock_error() set on failure. */
PSock psock_open(int family, int type, gboolean nonblocking);
void psock_close(PSock s);
/* The last failed socket call's reason, as an errno value (EAGAIN, ECONNRESET,
 * ETIMEDOUT, ECONNREFUSED, ECANCELED...; EIO for one with no errno twin). */
int psock_error(void);
/* An errno value of psock_error's in words (Linux: g_strerror; Windows' C
 * library knows no words for the socket ones: "Unknown error"). */
const char *psock_strerror(int err);

/* connect() on a non-blocking socket: 0 connected, 1 under way (wait for it to
 * be writable, then psock_connect_result), -1 failed (psock_error). */
int psock_connect(PSock s, const struct sockaddr *sa, gsize len);
/* How a connection under way ended: 0 connected, else its errno value. */
int psock_connect_result(PSock s);
/* Blocking from now on, each send and receive given up after timeout_ms. */
void psock_set_blocking(PSock s, guint timeout_ms);
/* Nagle off: media packets are small, and would wait for the next ACK. */
void psock_set_nodelay(PSock s);
/* send() and recv(): bytes, 0 (recv: the peer closed), -1 (psock_error). */
gssize psock_send(PSock s, const void *buf, gsize len);
gssize psock_recv(PSock s, void *buf, gsize len);
/* A connection waiting on a listening socket (not inherited), or PSOCK_NONE. */
PSock psock_accept(PSock listener);
/* Our end of a socket, or NULL. */
GSocketAddress *psock_local_address(PSock s);
/* A TCP socket listening on 127.0.0.1, its port in *port; PSOCK_NONE on failure. */
PSock psock_listen_loopback(guint *port);

typedef struct {
    PSock sock;
    gboolean write; /* wait to write (a connection under way), else to read */
    gboolean ready; /* set by psock_wait: readable (or closed, or failed) / writable */
} PSockWait;

/* Waits until one of the n sockets is ready, stop (a GCancellable's
 * g_cancellable_make_pollfd; NULL: none) is signalled or timeout_ms passes (-1:
 * no limit). 1 ready (see each .ready), 0 timed out, -1 stopped (psock_error
 * ECANCELED) or failed. An interrupted wait goes on for the time that is left. */
int psock_wait(PSockWait *w, guint n, const GPollFD *stop, int timeout_ms);
