#include "mailbox.h"

#include "iceprobe/jsonin.h"
#include "iceprobe/protocol.h"

#define MAILBOX_MAX_MESSAGES 512 /* a run's inbox at the controller holds no more */

/* A message as the controller keeps it: 64 KiB, nested as a body may be. */
static const JsonInLimits message_limits = {"the message", 64 * 1024, 16};

/* A copy of O that shares nothing with it: json-glib's reference counts are
 * not atomic, so an object that crosses to the run's thread must not be a part
 * of a tree another thread still holds (the answer, the poster's message). */
static JsonObject *detached(JsonObject *o, GError **error)
{
    g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), o);
    g_autofree char *text = json_to_string(n, FALSE);
    return jsonin_parse_object(text, strlen(text), &message_limits, error);
}

#include <string.h>

#include "backoff.h"
#include "stop.h"
#include "http.h"

#define RECEIVE_WAIT_S 2 /* a long-poll; short, so that closing is quick */
#define SEND_ATTEMPTS  8
/* 50 ms doubling to 1 s: the peer waits for these. */
static const Backoff signal_backoff = {50, 1000, 0};

typedef struct MailboxLink MailboxLink;

struct Mailbox {
    MailboxLink *link; /* a pair in memory (mailbox_open_pair); NULL: HTTP */
    guint side;        /* this mailbox's end of the link */
    char *path;        /* /api/v1/runs/ID/signal */
    Http *send_http, *recv_http;
    void (*on_message)(gpointer data);
    gpointer on_message_data;
    GCancellable *stop;  /* the agent's: borrowed */
    GCancellable *quit;  /* the agent's stop, the run's end, or closing: ends a retry's wait */
    gulong stop_handler;
    GAsyncQueue *outbox; /* JsonObject, and the closing sentinel */
    GAsyncQueue *inbox;  /* JsonObject */
    GThread *sender, *receiver;
    volatile gint closing;
    volatile gint ended;
    volatile gint failures;
    GMutex lock;
    char *last_error;
    GCond flushed_cond; /* HTTP: the sender took the closing sentinel (m->lock) */
    gboolean flushed;
};

static char closing_sentinel; /* its address marks the end of the outbox */
#define CLOSING ((JsonObject *)&closing_sentinel)

static void note_error(Mailbox *m, const char *what, const GError *e)
{
    g_mutex_lock(&m->lock);
    g_free(m->last_error);
    m->last_error = g_strdup_printf("%s: %s", what, e ? e->message : "?");
    g_mutex_unlock(&m->lock);
    g_atomic_int_inc(&m->failures);
}

static gboolean stopping(Mailbox *m)
{
    return stop_requested(m->stop) || g_atomic_int_get(&m->ended);
}

/* A retry's wait, cut short by a stop, the run's end or closing. */
static void sleep_ms(Mailbox *m, guint ms)
{
    stop_wait_ms(m->quit, ms);
}

static void set_ended(Mailbox *m)
{
    g_atomic_int_set(&m->ended, 1);
    if (m->quit)
        g_cancellable_cancel(m->quit);
}

static void quit_too(GCancellable *stop, gpointer quit)
{
    g_cancellable_cancel(quit);
}

static gpointer sender_main(gpointer data)
{
    Mailbox *m = data;
    for (;;) {
        JsonObject *msg = g_async_queue_pop(m->outbox);
        if (msg == CLOSING) {
            g_mutex_lock(&m->lock);
            m->flushed = TRUE;
            g_cond_signal(&m->flushed_cond);
            g_mutex_unlock(&m->lock);
            break;
        }
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "message");
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(n, msg);
        json_builder_add_value(b, n);
        json_builder_end_object(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *body = json_to_string(root, FALSE);
        /* In order: a message is retried until it goes, or the run is over. */
        for (guint attempt = 0; attempt < SEND_ATTEMPTS && !stopping(m); attempt++) {
            g_autoptr(GError) e = NULL;
            long status = 0;
            g_autoptr(JsonObject) answer =
                http_call(m->send_http, "POST", m->path, body, 10, &status, &e);
            if (answer)
                break;
            note_error(m, "posting a signal", e);
            if (status == 409 || status == 404 || status == 403) {
                /* run_ended, or the run is gone: nobody will read it. */
                set_ended(m);
                break;
            }
            if (!http_error_retryable(e, status))
                break;
            sleep_ms(m, backoff_ms(&signal_backoff, attempt + 1));
        }
    }
    return NULL;
}

/* The controller's {run_id, state, messages: [{seq, message}]} (outside data,
 * capped by http.c): each new message in order. An item that does not read is
 * noted and passed over (when its number reads), so that it is not fetched
 * again and again. */
static void take_messages(Mailbox *m, JsonObject *answer, gint64 *after)
{
    g_autoptr(GError) e = NULL;
    g_autofree char *state = NULL;
    JsonArray *msgs = NULL;
    gboolean wake = FALSE;
    if (!jsonin_string(answer, "", "state", FALSE, 16, &state, &e) ||
        !jsonin_array(answer, "", "messages", FALSE, MAILBOX_MAX_MESSAGES, &msgs, &e))
        note_error(m, "the controller's answer", e);
    for (guint i = 0; msgs && i < json_array_get_length(msgs); i++) {
        g_autoptr(GError) bad = NULL;
        g_autofree char *at = g_strdup_printf("messages[%u]", i);
        JsonObject *o = jsonin_item_object(msgs, "messages", i, &bad), *body = NULL;
        gint64 seq = 0;
        if (o && jsonin_int(o, at, "seq", TRUE, 1, G_MAXINT32, &seq, &bad) && seq <= *after)
            continue;
        if (seq)
            *after = seq;
        JsonObject *copy = NULL;
        if (!bad && jsonin_object(o, at, "message", TRUE, &body, &bad) &&
            (copy = detached(body, &bad)) != NULL) {
            g_async_queue_push(m->inbox, copy);
            wake = TRUE;
        } else {
            note_error(m, "the controller's answer", bad);
        }
    }
    if (protocol_run_state_is_final(state) && !g_atomic_int_get(&m->ended)) {
        set_ended(m);
        wake = TRUE;
    }
    if (wake && m->on_message)
        m->on_message(m->on_message_data);
}

static gpointer receiver_main(gpointer data)
{
    Mailbox *m = data;
    gint64 after = 0;
    guint failures = 0;
    while (!g_atomic_int_get(&m->closing) && !stopping(m)) {
        g_autofree char *path = g_strdup_printf("%s?after=%" G_GINT64_FORMAT "&wait=%d", m->path,
                                                after, RECEIVE_WAIT_S);
        g_autoptr(GError) e = NULL;
        long status = 0;
        g_autoptr(JsonObject) answer =
            http_call(m->recv_http, "GET", path, NULL, RECEIVE_WAIT_S + 10, &status, &e);
        if (answer) {
            take_messages(m, answer, &after);
            failures = 0;
            continue;
        }
        if (g_error_matches(e, HTTP_ERROR, HTTP_ERROR_STOPPED))
            break;
        note_error(m, "fetching signals", e);
        if (status == 404 || status == 403) {
            set_ended(m);
            break;
        }
        sleep_ms(m, backoff_ms(&signal_backoff, ++failures));
    }
    if (m->on_message)
        m->on_message(m->on_message_data);
    return NULL;
}

Mailbox *mailbox_open(const MailboxConfig *cfg)
{
    Mailbox *m = g_new0(Mailbox, 1);
    m->path = g_strdup_printf("/api/v1/runs/%s/signal", cfg->run_id);
    m->send_http = http_new(cfg->url, cfg->token, cfg->ca_file, cfg->stop);
    m->recv_http = http_new(cfg->url, cfg->token, cfg->ca_file, cfg->stop);
    http_set_cancel(m->recv_http, &m->closing);
    m->on_message = cfg->on_message;
    m->on_message_data = cfg->on_message_data;
    m->stop = cfg->stop;
    m->quit = g_cancellable_new();
    if (m->stop)
        m->stop_handler = g_cancellable_connect(m->stop, G_CALLBACK(quit_too), m->quit, NULL);
    m->outbox = g_async_queue_new();
    m->inbox = g_async_queue_new_full((GDestroyNotify)json_object_unref);
    g_mutex_init(&m->lock);
    g_cond_init(&m->flushed_cond);
    m->sender = g_thread_new("mailbox-send", sender_main, m);
    m->receiver = g_thread_new("mailbox-recv", receiver_main, m);
    return m;
}

/* ---- a pair in memory ---- */

struct MailboxLink {
    GMutex lock; /* the order of delivery, and the ends while they are open */
    Mailbox *end[2];
    MailboxTap tap;
    gpointer tap_data;
};

/* Calls m's waker, if any (m->lock guards it against mailbox_watch). */
static void pair_wake(Mailbox *m)
{
    g_mutex_lock(&m->lock);
    if (m->on_message)
        m->on_message(m->on_message_data);
    g_mutex_unlock(&m->lock);
}

static Mailbox *pair_end_new(MailboxLink *link, guint side)
{
    Mailbox *m = g_new0(Mailbox, 1);
    m->link = link;
    m->side = side;
    m->inbox = g_async_queue_new_full((GDestroyNotify)json_object_unref);
    g_mutex_init(&m->lock);
    link->end[side] = m;
    return m;
}

void mailbox_open_pair(Mailbox **a, Mailbox **b, MailboxTap tap, gpointer tap_data)
{
    g_return_if_fail(a && b);
    MailboxLink *link = g_new0(MailboxLink, 1);
    g_mutex_init(&link->lock);
    link->tap = tap;
    link->tap_data = tap_data;
    *a = pair_end_new(link, 0);
    *b = pair_end_new(link, 1);
}

void mailbox_watch(Mailbox *m, void (*on_message)(gpointer data), gpointer data)
{
    g_return_if_fail(m && m->link);
    g_mutex_lock(&m->lock);
    m->on_message = on_message;
    m->on_message_data = data;
    g_mutex_unlock(&m->lock);
}

static void pair_post(Mailbox *m, JsonObject *message)
{
    MailboxLink *link = m->link;
    g_mutex_lock(&link->lock);
    Mailbox *peer = link->end[!m->side];
    if (peer && (!link->tap || link->tap(m, message, link->tap_data))) {
        /* Through the reader, as a message from the controller would come. */
        g_autoptr(GError) e = NULL;
        JsonObject *copy = detached(message, &e);
        if (copy) {
            g_async_queue_push(peer->inbox, copy);
            pair_wake(peer);
        } else {
            g_warning("a message for the peer was not delivered: %s", e->message);
        }
    }
    g_mutex_unlock(&link->lock);
}

/* The peer sees the run end; the link goes with the second end. */
static void pair_close(Mailbox *m)
{
    MailboxLink *link = m->link;
    g_mutex_lock(&link->lock);
    link->end[m->side] = NULL;
    Mailbox *peer = link->end[!m->side];
    if (peer) {
        g_atomic_int_set(&peer->ended, 1);
        pair_wake(peer);
    }
    g_mutex_unlock(&link->lock);
    if (!peer) {
        g_mutex_clear(&link->lock);
        g_free(link);
    }
    g_async_queue_unref(m->inbox);
    g_mutex_clear(&m->lock);
    g_free(m);
}

/* ---- either kind ---- */

void mailbox_close(Mailbox *m, guint flush_ms)
{
    if (!m)
        return;
    if (m->link) {
        pair_close(m);
        return;
    }
    /* Let the sender flush (it takes the sentinel after every message before
     * it), then abort whatever it is still trying. */
    g_async_queue_push(m->outbox, CLOSING);
    gint64 until = g_get_monotonic_time() + (gint64)flush_ms * 1000;
    gboolean in_time = TRUE;
    g_mutex_lock(&m->lock);
    while (!m->flushed && in_time)
        in_time = g_cond_wait_until(&m->flushed_cond, &m->lock, until);
    g_mutex_unlock(&m->lock);
    g_atomic_int_set(&m->closing, 1);
    g_cancellable_cancel(m->quit);
    http_set_cancel(m->send_http, &m->closing);
    g_thread_join(m->sender);
    g_thread_join(m->receiver);
    JsonObject *o;
    while ((o = g_async_queue_try_pop(m->outbox)) != NULL)
        if (o != CLOSING)
            json_object_unref(o);
    g_async_queue_unref(m->outbox);
    g_async_queue_unref(m->inbox);
    http_free(m->send_http);
    http_free(m->recv_http);
    if (m->stop_handler)
        g_cancellable_disconnect(m->stop, m->stop_handler);
    g_object_unref(m->quit);
    g_cond_clear(&m->flushed_cond);
    g_mutex_clear(&m->lock);
    g_free(m->last_error);
    g_free(m->path);
    g_free(m);
}

void mailbox_post(Mailbox *m, JsonObject *message)
{
    if (m->link) {
        pair_post(m, message);
        return;
    }
    /* The sender thread gets a tree of its own (see detached()). */
    g_autoptr(GError) e = NULL;
    JsonObject *copy = detached(message, &e);
    if (copy)
        g_async_queue_push(m->outbox, copy);
    else
        note_error(m, "a message for the peer", e);
}

JsonObject *mailbox_pop(Mailbox *m)
{
    return g_async_queue_try_pop(m->inbox);
}

gboolean mailbox_run_ended(Mailbox *m)
{
    return g_atomic_int_get(&m->ended);
}

char *mailbox_last_error(Mailbox *m)
{
    g_mutex_lock(&m->lock);
    char *e = g_strdup(m->last_error);
    g_mutex_unlock(&m->lock);
    return e;
}

guint mailbox_failures(Mailbox *m)
{
    return (guint)g_atomic_int_get(&m->failures);
}
