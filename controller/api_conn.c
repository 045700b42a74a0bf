/* The API's HTTP connections between requests: kept alive, watched, parked,
 * counted.
 *
 * libsoup 3.2 leaks a kept-alive connection whose client closes it while it is
 * idle (docs/controller.md, "libsoup 3.2's idle-connection leak"): the message
 * that waits for the connection's next request has no completion callback, so
 * the EOF it reads disconnects nothing. And every idle connection costs
 * libsoup's main loop that waiting message's sources and descriptor, which
 * GLib's main loop visits on every iteration: ten thousand agents between
 * their requests made most of a controller's work.
 *
 * So, once a request is answered, its connection is watched (WATCHED): its
 * socket joins one epoll set per server thread, whose source runs before
 * libsoup's (G_PRIORITY_HIGH against G_PRIORITY_DEFAULT: GLib dispatches only
 * the most urgent of the sources ready in an iteration), so that what arrives
 * is looked at (peeked) before libsoup reads it. A request's first bytes are
 * left to libsoup. The end (EOF, a reset; over TLS anything but a request's
 * first record, such as close_notify) closes the connection. Idle PARK_AFTER_MS,
 * it is parked (PARKED): taken from libsoup with
 * soup_server_message_steal_connection() on its last message, while libsoup's
 * next message still waits for its first byte (the order of priorities again),
 * and held here, in the epoll set only. When a parked connection's next request
 * comes, it is given back with soup_server_accept_iostream() (a new libsoup
 * connection whose first message starts at once, so its end is never lost);
 * its end, or IDLE_LIMIT_S of silence, closes it here. A connection is known by
 * its GSocket while libsoup accepted it, by the remote address it was given
 * back with after. One source for the whole set: ten thousand idle connections
 * cost the main loop one descriptor.
 *
 * Not kept: a request pipelined behind another (libsoup read it with the
 * first) from a client whose connection is then parked or shut; the connection
 * goes unanswered, which HTTP allows a server at any time (the client retries).
 *
 * Connections are counted as libsoup starts their first message (before the TLS
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
#define IDLE_LIMIT_S  150
#define PARK_AFTER_MS 500
#define SWEEP_MS      250

typedef enum { CONN_BUSY, CONN_WATCHED, CONN_PARKED } ConnState;

typedef struct Conn Conn;

struct ApiConns {
    gboolean tls;
    int epfd;
    GSource *events; /* epfd readable */
    GSource *sweep;  /* parks, and closes what is idle too long */
    SoupServer *server;
    gulong handlers[3];
    GHashTable *conns; /* key -> Conn: the connections idle once (a first request is libsoup's) */
    GQueue watched;    /* Conn, longest idle first */
    GQueue parked;     /* Conn, longest idle first */
    gboolean dispatching;
    GPtrArray *graveyard; /* Conn freed while events were being dispatched */
    /* Read by /metrics from any server thread (API_COUNTER_*). */
    guint64 accepted;    /* connections since start */
    guint64 closed_idle; /* closed here (hung up, or idle too long) */
    guint64 n_idle;      /* watched or parked now */
    guint64 n_parked;
};

struct Conn {
    ApiConns *c;
    ConnState state;
    gpointer key;           /* its GSocket, or the remote address it was given back with */
    SoupServerMessage *msg; /* BUSY: its message (NULL: given back, not started); WATCHED: its last */
    gulong disconnected_id;
    GIOStream *stream; /* PARKED */
    GSocket *sock;
    GSocketAddress *local, *remote; /* once parked: what it is given back with */
    int fd;
    gboolean in_epoll, dead;
    gint64 since_us; /* idle since (monotonic) */
    GList link;      /* in watched or parked */
};

static GQuark counted_quark(void)
{
    return g_quark_from_static_string("iceprobe-api-conn-counted");
}

/* What libsoup's message says its connection is. */
static gpointer key_of(SoupServerMessage *msg)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    return sock ? (gpointer)sock : (gpointer)soup_server_message_get_remote_address(msg);
}

static void epoll_set(Conn *k, gboolean on)
{
    if (k->in_epoll == on)
        return;
    k->in_epoll = on;
    if (on) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = k};
        if (epoll_ctl(k->c->epfd, EPOLL_CTL_ADD, k->fd, &ev) != 0) {
            g_warning("watching an idle connection: %s", g_strerror(errno));
            k->in_epoll = FALSE;
        }
    } else if (!g_socket_is_closed(k->sock)) { /* a closed one left with its descriptor */
        epoll_ctl(k->c->epfd, EPOLL_CTL_DEL, k->fd, NULL);
    }
}

/* Into (queue) or out of (NULL) the idle connections. */
static void idle_set(Conn *k, GQueue *queue)
{
    ApiConns *c = k->c;
    GQueue *now = k->state == CONN_WATCHED ? &c->watched : k->state == CONN_PARKED ? &c->parked
                                                                                    : NULL;
    if (now)
        g_queue_unlink(now, &k->link);
    if (queue)
        g_queue_push_tail_link(queue, &k->link);
    API_COUNTER_ADD(c->n_idle, (queue ? 1 : 0) - (now ? 1 : 0));
    API_COUNTER_ADD(c->n_parked, (queue == &c->parked) - (k->state == CONN_PARKED));
}

static void on_disconnected(SoupServerMessage *msg, gpointer data);

static void set_msg(Conn *k, SoupServerMessage *msg)
{
    if (k->msg == msg)
        return;
    if (k->msg) {
        g_signal_handler_disconnect(k->msg, k->disconnected_id);
        g_object_unref(k->msg);
    }
    k->msg = msg ? g_object_ref(msg) : NULL;
    k->disconnected_id =
        msg ? g_signal_connect(msg, "disconnected", G_CALLBACK(on_disconnected), k) : 0;
}

static void conn_free(Conn *k)
{
    ApiConns *c = k->c;
    epoll_set(k, FALSE);
    idle_set(k, NULL);
    k->state = CONN_BUSY;
    set_msg(k, NULL);
    g_hash_table_remove(c->conns, k->key);
    g_clear_object(&k->stream);
    g_clear_object(&k->sock);
    g_clear_object(&k->local);
    g_clear_object(&k->remote);
    k->dead = TRUE;
    if (c->dispatching) /* an event of this batch may still name it */
        g_ptr_array_add(c->graveyard, k);
    else
        g_free(k);
}

/* libsoup closed it (an answer with Connection: close, an error). */
static void on_disconnected(SoupServerMessage *msg, gpointer data)
{
    conn_free(data);
}

/* Out of libsoup's hands (WATCHED: libsoup's next message dropped). */
static GIOStream *take(Conn *k)
{
    if (k->state == CONN_PARKED)
        return g_steal_pointer(&k->stream);
    SoupServerMessage *msg = g_object_ref(k->msg);
    set_msg(k, NULL); /* before the steal, which says "disconnected" */
    GIOStream *stream = soup_server_message_steal_connection(msg);
    g_object_unref(msg);
    return stream;
}

static void conn_close(Conn *k)
{
    ApiConns *c = k->c;
    GIOStream *stream = take(k);
    conn_free(k); /* counted out before its descriptor goes */
    if (stream) {
        g_io_stream_close(stream, NULL, NULL);
        g_object_unref(stream);
    }
    API_COUNTER_ADD(c->closed_idle, 1);
}

static void give_back(Conn *k)
{
    ApiConns *c = k->c;
    epoll_set(k, FALSE);
    idle_set(k, NULL);
    k->state = CONN_BUSY;
    g_autoptr(GIOStream) stream = g_steal_pointer(&k->stream);
    g_autoptr(GError) e = NULL;
    /* Its first message starts here (request-started finds k by its address). */
    if (!soup_server_accept_iostream(c->server, stream, k->local, k->remote, &e)) {
        g_warning("a parked connection: %s", e->message);
        g_io_stream_close(stream, NULL, NULL);
        conn_free(k);
    }
}

static void park(Conn *k)
{
    ApiConns *c = k->c;
    GIOStream *stream = take(k);
    if (!stream) {
        conn_free(k);
        return;
    }
    k->stream = stream;
    idle_set(k, &c->parked);
    k->state = CONN_PARKED;
    if (!k->remote) { /* as libsoup accepted it: known by its address from now on */
        k->local = g_socket_get_local_address(k->sock, NULL);
        k->remote = g_socket_get_remote_address(k->sock, NULL);
        if (!k->local || !k->remote) {
            conn_close(k);
            return;
        }
        g_hash_table_steal(c->conns, k->key);
        k->key = k->remote;
        g_hash_table_insert(c->conns, k->key, k);
    }
    /* What TLS read ahead, no epoll event will tell. */
    if (g_pollable_input_stream_is_readable(
            G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream))))
        give_back(k);
}

/* What arrived on an idle connection: a request's first bytes, nothing yet, or
 * the end. Over TLS, a request's first record is application data of at least
 * 33 bytes (TLS 1.3's 17 of overhead and the 16 of the shortest request line,
 * GET / HTTP/1.1): anything else (an alert, as close_notify is, a KeyUpdate, a
 * renegotiation) ends the idle connection, which HTTP allows at any time (a
 * client makes a new one). */
typedef enum { IDLE_REQUEST, IDLE_UNDECIDED, IDLE_END } IdleNews;

#define TLS_RECORD_APPLICATION_DATA 23
#define TLS_MIN_REQUEST_RECORD      33

static IdleNews idle_news(Conn *k, guint32 events)
{
    if (events & (EPOLLHUP | EPOLLERR))
        return IDLE_END;
    guint8 h[5];
    gssize n = recv(k->fd, h, k->c->tls ? sizeof h : 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return IDLE_END;
    if (n < 0 || (k->c->tls && n < (gssize)sizeof h))
        /* A record's header in pieces: its rest wakes the edge-triggered watch,
         * unless the peer is done sending. */
        return events & EPOLLRDHUP ? IDLE_END : IDLE_UNDECIDED;
    if (!k->c->tls)
        return IDLE_REQUEST; /* libsoup answers it, then sees the end if it follows */
    return h[0] == TLS_RECORD_APPLICATION_DATA && (h[3] << 8 | h[4]) >= TLS_MIN_REQUEST_RECORD
               ? IDLE_REQUEST
               : IDLE_END;
}

static void idle_event(Conn *k, guint32 events)
{
    switch (idle_news(k, events)) {
    case IDLE_REQUEST:
        if (k->state == CONN_PARKED) {
            give_back(k);
        } else { /* libsoup reads it now; its request-started makes k BUSY */
            epoll_set(k, FALSE);
            idle_set(k, NULL);
            k->state = CONN_BUSY;
        }
        break;
    case IDLE_END:
        conn_close(k);
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
    c->dispatching = TRUE;
    do {
        n = epoll_wait(c->epfd, ev, G_N_ELEMENTS(ev), 0);
        for (int i = 0; i < n; i++) {
            Conn *k = ev[i].data.ptr;
            if (!k->dead)
                idle_event(k, ev[i].events);
        }
    } while (n == (int)G_N_ELEMENTS(ev));
    c->dispatching = FALSE;
    g_ptr_array_set_size(c->graveyard, 0);
    return G_SOURCE_CONTINUE;
}

static gboolean on_sweep(gpointer data)
{
    ApiConns *c = data;
    gint64 now = g_get_monotonic_time();
    gint64 park_before = now - PARK_AFTER_MS * 1000;
    gint64 close_before = now - (gint64)IDLE_LIMIT_S * G_USEC_PER_SEC;
    c->dispatching = TRUE;
    while (c->watched.head && ((Conn *)c->watched.head->data)->since_us <= park_before) {
        Conn *k = c->watched.head->data;
        if (k->since_us <= close_before)
            conn_close(k);
        else
            park(k);
    }
    while (c->parked.head && ((Conn *)c->parked.head->data)->since_us <= close_before)
        conn_close(c->parked.head->data);
    c->dispatching = FALSE;
    g_ptr_array_set_size(c->graveyard, 0);
    return G_SOURCE_CONTINUE;
}

/* A request was answered and its connection stays: watched until the next. */
static void on_request_done(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    ApiConns *c = data;
    gpointer key = key_of(msg);
    if (!key || soup_message_headers_header_contains(
                    soup_server_message_get_response_headers(msg), "Connection", "close"))
        return; /* libsoup closes it (and says so, to a known one) */
    Conn *k = g_hash_table_lookup(c->conns, key);
    if (!k) {
        GSocket *sock = soup_server_message_get_socket(msg);
        if (!sock || g_socket_is_closed(sock))
            return;
        k = g_new0(Conn, 1);
        k->c = c;
        k->key = key;
        k->sock = g_object_ref(sock);
        k->fd = g_socket_get_fd(sock);
        k->link.data = k;
        g_hash_table_insert(c->conns, key, k);
    }
    if (g_socket_is_closed(k->sock)) {
        conn_free(k);
        return;
    }
    set_msg(k, msg);
    idle_set(k, &c->watched);
    k->state = CONN_WATCHED;
    k->since_us = g_get_monotonic_time();
    epoll_set(k, TRUE);
}

/* A request begins: its connection is no longer idle; a new one is counted. */
static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    ApiConns *c = data;
    GSocket *sock = soup_server_message_get_socket(msg);
    if (sock && !g_object_get_qdata(G_OBJECT(sock), counted_quark())) {
        g_object_set_qdata(G_OBJECT(sock), counted_quark(), GINT_TO_POINTER(1));
        API_COUNTER_ADD(c->accepted, 1);
    }
    Conn *k = g_hash_table_lookup(c->conns, key_of(msg));
    if (!k)
        return;
    epoll_set(k, FALSE);
    idle_set(k, NULL);
    k->state = CONN_BUSY;
    set_msg(k, msg);
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
    c->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    c->graveyard = g_ptr_array_new_with_free_func(g_free);
    c->server = g_object_ref(server);
    GMainContext *ctx = g_main_context_get_thread_default();
    c->events = g_unix_fd_source_new(c->epfd, G_IO_IN);
    g_source_set_priority(c->events, G_PRIORITY_HIGH);
    g_source_set_callback(c->events, G_SOURCE_FUNC(on_idle_events), c, NULL);
    g_source_attach(c->events, ctx);
    c->sweep = g_timeout_source_new(SWEEP_MS);
    g_source_set_priority(c->sweep, G_PRIORITY_HIGH);
    g_source_set_callback(c->sweep, on_sweep, c, NULL);
    g_source_attach(c->sweep, ctx);
    c->handlers[0] =
        g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), c);
    c->handlers[1] = g_signal_connect(server, "request-finished", G_CALLBACK(on_request_done), c);
    /* A 500 is "aborted" though its connection may stay. */
    c->handlers[2] = g_signal_connect(server, "request-aborted", G_CALLBACK(on_request_done), c);
    return c;
}

/* Before the server disconnects its clients: the parked ones are closed here. */
void api_conns_free(ApiConns *c)
{
    if (!c)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(c->handlers); i++)
        g_signal_handler_disconnect(c->server, c->handlers[i]);
    while (c->parked.head)
        conn_close(c->parked.head->data);
    GList *all = g_hash_table_get_values(c->conns);
    for (GList *l = all; l; l = l->next)
        conn_free(l->data);
    g_list_free(all);
    g_source_destroy(c->events);
    g_source_unref(c->events);
    g_source_destroy(c->sweep);
    g_source_unref(c->sweep);
    g_hash_table_unref(c->conns);
    g_ptr_array_unref(c->graveyard);
    g_object_unref(c->server);
    close(c->epfd);
    g_free(c);
}

GSocket *api_conns_socket(ApiConns *c, SoupServerMessage *msg)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    if (sock || !c)
        return sock;
    Conn *k = g_hash_table_lookup(c->conns, key_of(msg));
    return k ? k->sock : NULL;
}

guint64 api_conns_accepted(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->accepted) : 0;
}

guint64 api_conns_idle(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->n_idle) : 0;
}

guint64 api_conns_parked(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->n_parked) : 0;
}

guint64 api_conns_closed_idle(const ApiConns *c)
{
    return c ? API_COUNTER_GET(c->closed_idle) : 0;
}
