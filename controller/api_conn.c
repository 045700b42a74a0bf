/* The API's HTTP connections between requests: kept alive, parked, counted.
 *
 * libsoup 3.2 leaks a kept-alive connection whose client closes it while it is
 * idle (docs/controller.md, "libsoup 3.2's idle-connection leak"): the message
 * that waits for the connection's next request has no completion callback, so
 * the EOF it reads disconnects nothing. And every idle connection costs
 * libsoup's main loop that waiting message's sources and descriptor, which
 * GLib's main loop visits on every iteration: ten thousand agents between
 * their requests made most of a controller's work.
 *
 * So, once a request is answered, its connection is parked: taken from libsoup
 * with soup_server_message_steal_connection() on its last message, by a
 * G_PRIORITY_HIGH idle source that runs before libsoup's next message can read
 * anything (libsoup's sources are G_PRIORITY_DEFAULT, and GLib dispatches only
 * the most urgent of the sources ready in an iteration). Stealing it later (it
 * was watched 500 ms first, once) raced libsoup: a client's end that libsoup's
 * waiting message read first left its connection with no message, and stealing
 * that one crashed in libsoup. A parked connection is held here, its socket in
 * one epoll set per server thread (one source for the whole set: ten thousand
 * idle connections cost the main loop one descriptor): its own stream (the TLS
 * connection, or the TCP one), out of the layer libsoup wrapped it in (a
 * SoupIOStream), so that however often it is parked it has one layer at most.
 * What arrives on it is peeked at: a request's first bytes give it back with
 * soup_server_accept_iostream() (a new libsoup connection whose first message
 * starts at once, so its end is never lost); its end (EOF, a reset; over TLS
 * anything but a request's first record, such as close_notify), or
 * IDLE_LIMIT_S of silence, closes it here. A connection is known by its GSocket
 * while libsoup accepted it, by the remote address it was given back with
 * after.
 *
 * Not kept: a request pipelined behind another, which the client then shuts
 * its sending side after; the connection goes unanswered, which HTTP allows a
 * server at any time (the client retries).
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
#define IDLE_LIMIT_S 150
#define SWEEP_MS     1000

/* BUSY: libsoup's (a request, or the handshake); ANSWERED: its request was
 * answered, it is parked next; PARKED: held here. */
typedef enum { CONN_BUSY, CONN_ANSWERED, CONN_PARKED } ConnState;

typedef struct Conn Conn;

struct ApiConns {
    gboolean tls;
    int epfd;
    GSource *events; /* epfd readable */
    GSource *parker; /* G_PRIORITY_HIGH idle: parks the answered connections */
    GSource *sweep;  /* closes what is idle too long */
    SoupServer *server;
    gulong handlers[3];
    GHashTable
        *conns;      /* key -> Conn: the connections answered once (a first request is libsoup's) */
    GQueue answered; /* Conn, to be parked */
    GQueue parked;   /* Conn, longest idle first */
    gboolean dispatching;
    GPtrArray *graveyard; /* Conn freed while events were being dispatched */
    /* Read by /metrics from any server thread (API_COUNTER_*). */
    guint64 accepted;    /* connections since start */
    guint64 closed_idle; /* closed here (hung up, or idle too long) */
    guint64 n_idle;      /* answered or parked now */
    guint64 n_parked;
};

struct Conn {
    ApiConns *c;
    ConnState state;
    gpointer key; /* its GSocket, or the remote address it was given back with */
    SoupServerMessage
        *msg; /* BUSY: its message (NULL: given back, not started); ANSWERED: its last */
    gulong disconnected_id;
    GIOStream *stream; /* PARKED */
    GSocket *sock;
    GSocketAddress *local, *remote; /* once parked: what it is given back with */
    int fd;
    gboolean in_epoll, dead;
    gint64 since_us; /* idle since (monotonic) */
    GList link;      /* in answered or parked */
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

/* Into state (its queue, if it has one) out of the one it is in. */
static void state_set(Conn *k, ConnState state)
{
    ApiConns *c = k->c;
    GQueue *from = k->state == CONN_ANSWERED ? &c->answered
                   : k->state == CONN_PARKED ? &c->parked
                                             : NULL;
    GQueue *to = state == CONN_ANSWERED ? &c->answered : state == CONN_PARKED ? &c->parked : NULL;
    if (from)
        g_queue_unlink(from, &k->link);
    if (to)
        g_queue_push_tail_link(to, &k->link);
    API_COUNTER_ADD(c->n_idle, (to ? 1 : 0) - (from ? 1 : 0));
    API_COUNTER_ADD(c->n_parked, (state == CONN_PARKED) - (k->state == CONN_PARKED));
    k->state = state;
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
    state_set(k, CONN_BUSY);
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

/* A parked connection closed here (its end, or idle too long). */
static void conn_close(Conn *k)
{
    ApiConns *c = k->c;
    GIOStream *stream = g_steal_pointer(&k->stream);
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
    state_set(k, CONN_BUSY);
    g_autoptr(GIOStream) stream = g_steal_pointer(&k->stream);
    g_autoptr(GError) e = NULL;
    /* Its first message starts here (request-started finds k by its address). */
    if (!soup_server_accept_iostream(c->server, stream, k->local, k->remote, &e)) {
        g_warning("a parked connection: %s", e->message);
        g_io_stream_close(stream, NULL, NULL);
        conn_free(k);
    }
}

/* The stream a libsoup layer (a SoupIOStream) is over, or NULL (a new ref). */
static GIOStream *below(GIOStream *stream)
{
    GParamSpec *p = g_object_class_find_property(G_OBJECT_GET_CLASS(stream), "base-iostream");
    GIOStream *base = NULL;
    if (p && p->value_type == G_TYPE_IO_STREAM)
        g_object_get(stream, "base-iostream", &base, NULL);
    return base;
}

/* What libsoup's stream is a layer over (its SoupIOStream's "base-iostream"):
 * the connection's own, kept instead, so that giving it back does not add a
 * layer each time. Not while the layer's input is readable: what libsoup read
 * ahead is buffered there (a request arriving now, which gives it back at
 * once). The layer is let go without closing what it is over. */
static GIOStream *unwrap(GIOStream *stream)
{
    GIOStream *base;
    while ((base = below(stream))) {
        GInputStream *in = g_io_stream_get_input_stream(stream);
        if (!G_IS_FILTER_INPUT_STREAM(in) ||
            (G_IS_POLLABLE_INPUT_STREAM(in) &&
             g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(in)))) {
            g_object_unref(base);
            break;
        }
        /* Its input's end would close the TLS connection's reading side. */
        g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(in), FALSE);
        g_object_unref(stream);
        stream = base;
    }
    return stream;
}

/* An answered connection, taken from libsoup while its next message has read
 * nothing (before any G_PRIORITY_DEFAULT source ran). */
static void park(Conn *k)
{
    ApiConns *c = k->c;
    SoupServerMessage *msg = g_object_ref(k->msg);
    set_msg(k, NULL); /* before the steal, which says "disconnected" */
    GIOStream *stream = soup_server_message_steal_connection(msg);
    g_object_unref(msg);
    if (!stream) {
        conn_free(k);
        return;
    }
    k->stream = unwrap(stream);
    state_set(k, CONN_PARKED);
    k->since_us = g_get_monotonic_time();
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
            G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(k->stream))))
        give_back(k);
    else {
        epoll_set(k, TRUE);
        if (!k->in_epoll) /* unwatched, its end would go unnoticed: closed now */
            conn_close(k);
    }
}

static gboolean on_park(gpointer data)
{
    ApiConns *c = data;
    c->dispatching = TRUE;
    while (c->answered.head)
        park(c->answered.head->data);
    c->dispatching = FALSE;
    g_ptr_array_set_size(c->graveyard, 0);
    return G_SOURCE_REMOVE;
}

static void parker_destroyed(gpointer data)
{
    ((ApiConns *)data)->parker = NULL;
}

/* What arrived on a parked connection: a request's first bytes (or, over TLS, a
 * record's header in pieces: data is arriving, the connection is busy, not
 * idle), nothing yet, or the end. Over TLS, a request's first record is
 * application data of at least 33 bytes (TLS 1.3's 17 of overhead and the 16
 * of the shortest request line, GET / HTTP/1.1): anything else (an alert, as
 * close_notify is, a KeyUpdate, a renegotiation) ends the idle connection,
 * which HTTP allows at any time (a client makes a new one). */
typedef enum { IDLE_REQUEST, IDLE_NOTHING, IDLE_END } IdleNews;

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
    if (n < 0) /* nothing to read after all */
        return events & EPOLLRDHUP ? IDLE_END : IDLE_NOTHING;
    if (!k->c->tls)
        return IDLE_REQUEST; /* libsoup answers it, then sees the end if it follows */
    if (n < (gssize)sizeof h)
        /* A record's header in pieces: data is arriving (its rest would wake
         * a watch that hears edges only if it came), libsoup reads it; unless
         * the peer is done sending and it can never be whole. */
        return events & EPOLLRDHUP ? IDLE_END : IDLE_REQUEST;
    return h[0] == TLS_RECORD_APPLICATION_DATA && (h[3] << 8 | h[4]) >= TLS_MIN_REQUEST_RECORD
               ? IDLE_REQUEST
               : IDLE_END;
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
            if (k->dead || k->state != CONN_PARKED)
                continue;
            IdleNews news = idle_news(k, ev[i].events);
            if (news == IDLE_REQUEST)
                give_back(k);
            else if (news == IDLE_END)
                conn_close(k);
        }
    } while (n == (int)G_N_ELEMENTS(ev));
    c->dispatching = FALSE;
    g_ptr_array_set_size(c->graveyard, 0);
    return G_SOURCE_CONTINUE;
}

static gboolean on_sweep(gpointer data)
{
    ApiConns *c = data;
    gint64 close_before = g_get_monotonic_time() - (gint64)IDLE_LIMIT_S * G_USEC_PER_SEC;
    c->dispatching = TRUE;
    while (c->parked.head && ((Conn *)c->parked.head->data)->since_us <= close_before)
        conn_close(c->parked.head->data);
    c->dispatching = FALSE;
    g_ptr_array_set_size(c->graveyard, 0);
    return G_SOURCE_CONTINUE;
}

/* A request was answered and its connection stays: parked before libsoup's
 * next message reads anything. */
static void on_request_done(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    ApiConns *c = data;
    gpointer key = key_of(msg);
    if (!key || soup_message_headers_header_contains(soup_server_message_get_response_headers(msg),
                                                     "Connection", "close"))
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
    /* After this, libsoup makes the connection's next message (unless it
     * disconnects it: then k is freed before it is parked). */
    set_msg(k, msg);
    state_set(k, CONN_ANSWERED);
    if (!c->parker) {
        c->parker = g_idle_source_new();
        g_source_set_priority(c->parker, G_PRIORITY_HIGH);
        g_source_set_callback(c->parker, on_park, c, parker_destroyed);
        g_source_attach(c->parker, g_main_context_get_thread_default());
        g_source_unref(c->parker);
    }
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
    state_set(k, CONN_BUSY);
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
    /* At libsoup's own priority: requests arriving on parked connections take
     * their turn with those libsoup is reading, rather than before them (only
     * the parker must come first). */
    c->events = g_unix_fd_source_new(c->epfd, G_IO_IN);
    g_source_set_priority(c->events, G_PRIORITY_DEFAULT);
    g_source_set_callback(c->events, G_SOURCE_FUNC(on_idle_events), c, NULL);
    g_source_attach(c->events, ctx);
    c->sweep = g_timeout_source_new(SWEEP_MS);
    g_source_set_callback(c->sweep, on_sweep, c, NULL);
    g_source_attach(c->sweep, ctx);
    c->handlers[0] = g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), c);
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
    if (c->parker)
        g_source_destroy(c->parker);
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

guint api_conns_parked_layers(ApiConns *c)
{
    guint most = 0;
    for (GList *l = c->parked.head; l; l = l->next) {
        guint n = 0;
        GIOStream *s = g_object_ref(((Conn *)l->data)->stream);
        for (GIOStream *b; (b = below(s)); n++) {
            g_object_unref(s);
            s = b;
        }
        g_object_unref(s);
        most = MAX(most, n);
    }
    return most;
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
