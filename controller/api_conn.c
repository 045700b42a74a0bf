/* The API's HTTP connections between requests: kept alive, watched, counted.
 *
 * libsoup 3.2 leaks a kept-alive connection whose client closes it while it is
 * idle (docs/controller.md, "libsoup 3.2's idle-connection leak"): the message
 * that waits for the connection's next request has no completion callback, so
 * the EOF it reads disconnects nothing. Here, once a request is answered, its
 * connection's socket joins one epoll set per server until its next request
 * starts. What arrives first is looked at (peeked) before libsoup reads it: a
 * request's first bytes are left to libsoup; the end (EOF, a hang-up, over TLS
 * an alert such as close_notify), or IDLE_LIMIT_S of silence, closes the
 * connection: soup_server_message_steal_connection() on its last message takes
 * it from libsoup (out of the server's list, its next message dropped) and it
 * is closed. Stealing is safe only while libsoup's next message still waits for
 * its first byte, which the priorities ensure: the epoll set's source is
 * G_PRIORITY_HIGH, libsoup's G_PRIORITY_DEFAULT, and GLib dispatches only the
 * most urgent of the sources ready in an iteration, so whatever arrives is seen
 * here first. One source for the whole set: ten thousand idle connections cost
 * the main loop one descriptor, not ten thousand.
 *
 * Not kept: a request pipelined behind another (libsoup has read it already)
 * from a client that then shuts its sending side; the connection is closed
 * unanswered, which HTTP allows a server at any time (the client retries).
 *
 * Connections are counted as their first message starts (before the TLS
 * handshake): with HTTPS, each is one handshake. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "api-private.h"

/* libcurl reuses a connection idle for at most 118 s (CURLOPT_MAXAGE_CONN): one
 * idle longer than this is closed here without racing an agent's next request. */
#define IDLE_LIMIT_S 150
#define IDLE_SWEEP_S 5

typedef struct IdleConn IdleConn;

struct ApiConns {
    gboolean tls;
    int epfd;
    GSource *events;  /* epfd readable */
    GSource *sweep;   /* IDLE_LIMIT_S */
    GHashTable *idle; /* GSocket -> IdleConn */
    GQueue order;     /* IdleConn, longest idle first */
    gulong handlers[3];
    SoupServer *server;
    /* Read by /metrics from any server thread (API_COUNTER_*). */
    guint64 accepted;    /* connections since start */
    guint64 closed_idle; /* closed here (hung up, or idle too long) */
    guint64 n_idle;      /* idle now */
};

struct IdleConn {
    ApiConns *conns;
    SoupServerMessage *msg; /* the connection's last message */
    GSocket *sock;
    int fd;
    gulong disconnected_id;
    gint64 since_us;
    GList link;
};

static GQuark counted_quark(void)
{
    return g_quark_from_static_string("iceprobe-api-conn-counted");
}

static void idle_conn_drop(IdleConn *ic)
{
    ApiConns *c = ic->conns;
    /* A closed socket left the epoll set with its descriptor. */
    if (!g_socket_is_closed(ic->sock))
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, ic->fd, NULL);
    g_signal_handler_disconnect(ic->msg, ic->disconnected_id);
    g_queue_unlink(&c->order, &ic->link);
    g_hash_table_remove(c->idle, ic->sock);
    API_COUNTER_ADD(c->n_idle, -1);
    g_object_unref(ic->msg);
    g_object_unref(ic->sock);
    g_free(ic);
}

/* libsoup closed it (an answer with Connection: close, an error). */
static void on_disconnected(SoupServerMessage *msg, gpointer data)
{
    idle_conn_drop(data);
}

static void idle_conn_close(IdleConn *ic)
{
    ApiConns *c = ic->conns;
    SoupServerMessage *msg = g_object_ref(ic->msg);
    idle_conn_drop(ic);
    GIOStream *stream = soup_server_message_steal_connection(msg);
    if (stream) {
        g_io_stream_close(stream, NULL, NULL);
        g_object_unref(stream);
    }
    g_object_unref(msg);
    API_COUNTER_ADD(c->closed_idle, 1);
}

/* What arrived on an idle connection: a request's first bytes (libsoup reads
 * them; the request starts), nothing yet, or the end (closed here, before
 * libsoup reads it). Over TLS, a request's first record is application data of
 * at least 33 bytes (TLS 1.3's 17 of overhead and the 16 of the shortest
 * request line, GET / HTTP/1.1): anything else (an alert, as close_notify is,
 * a KeyUpdate, a renegotiation) ends the idle connection, which HTTP allows at
 * any time (a client makes a new one). */
typedef enum { IDLE_REQUEST, IDLE_UNDECIDED, IDLE_END } IdleNews;

#define TLS_RECORD_APPLICATION_DATA 23
#define TLS_MIN_REQUEST_RECORD      33

static IdleNews idle_conn_news(IdleConn *ic, guint32 events)
{
    if (events & (EPOLLHUP | EPOLLERR))
        return IDLE_END;
    guint8 h[5];
    gssize n = recv(ic->fd, h, ic->conns->tls ? sizeof h : 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return IDLE_END;
    if (n < 0 || (ic->conns->tls && n < (gssize)sizeof h))
        /* A record's header in pieces: its rest wakes the edge-triggered watch,
         * unless the peer is done sending. */
        return events & EPOLLRDHUP ? IDLE_END : IDLE_UNDECIDED;
    if (!ic->conns->tls)
        return IDLE_REQUEST; /* libsoup answers it, then sees the end if it follows */
    return h[0] == TLS_RECORD_APPLICATION_DATA && (h[3] << 8 | h[4]) >= TLS_MIN_REQUEST_RECORD
               ? IDLE_REQUEST
               : IDLE_END;
}

static void idle_conn_event(IdleConn *ic, guint32 events)
{
    switch (idle_conn_news(ic, events)) {
    case IDLE_REQUEST:
        idle_conn_drop(ic);
        break;
    case IDLE_END:
        idle_conn_close(ic);
        break;
    case IDLE_UNDECIDED:
        break;
    }
}

static gboolean on_idle_events(gint fd, GIOCondition cond, gpointer data)
{
    ApiConns *c = data;
    struct epoll_event ev[64];
    int n;
    do {
        n = epoll_wait(c->epfd, ev, G_N_ELEMENTS(ev), 0);
        for (int i = 0; i < n; i++)
            idle_conn_event(ev[i].data.ptr, ev[i].events);
    } while (n == (int)G_N_ELEMENTS(ev));
    return G_SOURCE_CONTINUE;
}

static gboolean on_sweep(gpointer data)
{
    ApiConns *c = data;
    gint64 limit = g_get_monotonic_time() - (gint64)IDLE_LIMIT_S * G_USEC_PER_SEC;
    while (c->order.head && ((IdleConn *)c->order.head->data)->since_us <= limit)
        idle_conn_close(c->order.head->data);
    return G_SOURCE_CONTINUE;
}

/* A request was answered and its connection stays: watched until the next. */
static void on_request_done(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    ApiConns *c = data;
    GSocket *sock = soup_server_message_get_socket(msg);
    if (!sock || g_socket_is_closed(sock) ||
        soup_message_headers_header_contains(soup_server_message_get_response_headers(msg),
                                             "Connection", "close"))
        return; /* libsoup closes it */
    IdleConn *ic = g_hash_table_lookup(c->idle, sock);
    if (ic)
        idle_conn_drop(ic);
    ic = g_new0(IdleConn, 1);
    ic->conns = c;
    ic->msg = g_object_ref(msg);
    ic->sock = g_object_ref(sock);
    ic->fd = g_socket_get_fd(sock);
    ic->since_us = g_get_monotonic_time();
    ic->link.data = ic;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = ic};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, ic->fd, &ev) != 0) {
        g_warning("watching an idle connection: %s", g_strerror(errno));
        g_object_unref(ic->msg);
        g_object_unref(ic->sock);
        g_free(ic);
        return;
    }
    ic->disconnected_id = g_signal_connect(msg, "disconnected", G_CALLBACK(on_disconnected), ic);
    g_hash_table_insert(c->idle, ic->sock, ic);
    g_queue_push_tail_link(&c->order, &ic->link);
    API_COUNTER_ADD(c->n_idle, 1);
}

/* A request begins: its connection is no longer idle; a new one is counted. */
static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    ApiConns *c = data;
    GSocket *sock = soup_server_message_get_socket(msg);
    if (!sock)
        return;
    if (!g_object_get_qdata(G_OBJECT(sock), counted_quark())) {
        g_object_set_qdata(G_OBJECT(sock), counted_quark(), GINT_TO_POINTER(1));
        API_COUNTER_ADD(c->accepted, 1);
    }
    IdleConn *ic = g_hash_table_lookup(c->idle, sock);
    if (ic)
        idle_conn_drop(ic);
}

ApiConns *api_conns_new(SoupServer *server, gboolean tls, GError **error)
{
    ApiConns *c = g_new0(ApiConns, 1);
    c->tls = tls;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "epoll: %s", g_strerror(err));
        g_free(c);
        return NULL;
    }
    c->idle = g_hash_table_new(g_direct_hash, g_direct_equal);
    c->server = g_object_ref(server);
    GMainContext *ctx = g_main_context_get_thread_default();
    c->events = g_unix_fd_source_new(c->epfd, G_IO_IN);
    g_source_set_priority(c->events, G_PRIORITY_HIGH);
    g_source_set_callback(c->events, G_SOURCE_FUNC(on_idle_events), c, NULL);
    g_source_attach(c->events, ctx);
    c->sweep = g_timeout_source_new_seconds(IDLE_SWEEP_S);
    g_source_set_callback(c->sweep, on_sweep, c, NULL);
    g_source_attach(c->sweep, ctx);
    c->handlers[0] =
        g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), c);
    c->handlers[1] = g_signal_connect(server, "request-finished", G_CALLBACK(on_request_done), c);
    /* A 500 is "aborted" though its connection may stay. */
    c->handlers[2] = g_signal_connect(server, "request-aborted", G_CALLBACK(on_request_done), c);
    return c;
}

/* Before the server disconnects its clients: the idle ones are let go here. */
void api_conns_free(ApiConns *c)
{
    if (!c)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(c->handlers); i++)
        g_signal_handler_disconnect(c->server, c->handlers[i]);
    while (c->order.head)
        idle_conn_drop(c->order.head->data);
    g_source_destroy(c->events);
    g_source_unref(c->events);
    g_source_destroy(c->sweep);
    g_source_unref(c->sweep);
    g_hash_table_unref(c->idle);
    g_object_unref(c->server);
    close(c->epfd);
    g_free(c);
}

guint64 api_conns_accepted(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->accepted) : 0;
}

guint64 api_conns_idle(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->n_idle) : 0;
}

guint64 api_conns_closed_idle(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->closed_idle) : 0;
}
