/* A paired run's mailbox at the controller, from one agent's side: messages for
 * the peer are posted in order by a sender thread (so gathering never waits on
 * the network), the peer's are fetched by a long-polling receiver thread and
 * taken from the run's own thread with mailbox_pop(). The controller keeps the
 * messages while the run lasts and deletes them when it ends (docs/contract.md).
 * With several controllers (a comma-separated url, http.h) each thread moves
 * to the next one when its controller stops answering.
 *
 * The one seam: mailbox_open_pair() links two mailboxes in memory, so that two
 * paired runs in one process (tests/unit/test_paired.c) signal each other with
 * no controller. A message posted on one is popped from the other, in order,
 * and the other's waker (mailbox_watch) is called from the poster's thread, as
 * the receiver thread calls on_message; closing one is, for the other, the
 * controller saying the run has ended (mailbox_run_ended). The HTTP mailbox
 * is untouched by it. */
#pragma once

#include <json-glib/json-glib.h>
#include <gio/gio.h>

typedef struct Mailbox Mailbox;

typedef struct {
    const char *url, *token, *ca_file;
    const char *run_id;
    /* Called from the receiver thread when messages arrive and when it ends
     * (may be NULL): the run wakes whichever of its contexts wait for them. */
    void (*on_message)(gpointer data);
    gpointer on_message_data;
    GCancellable *stop; /* the agent's (stop.h); may be NULL */
} MailboxConfig;

Mailbox *mailbox_open(const MailboxConfig *cfg);
/* Sends closes after flushing what is queued (at most flush_ms), then stops both threads. */
void mailbox_close(Mailbox *m, guint flush_ms);

/* Sees each message posted on either mailbox of a pair, before it is
 * delivered (under the pair's lock: it must not call into the pair); FALSE
 * drops it, as if the controller never got it. */
typedef gboolean (*MailboxTap)(Mailbox *from, JsonObject *message, gpointer data);
/* Two mailboxes linked in memory (tap may be NULL). Each is closed with
 * mailbox_close(); flush_ms is moot (delivery is immediate). */
void mailbox_open_pair(Mailbox **a, Mailbox **b, MailboxTap tap, gpointer tap_data);
/* A pair's mailbox: who to call when messages arrive or the peer closed (NULL:
 * nobody); once it returns the previous one is no longer called. An HTTP
 * mailbox takes its on_message from its config. */
void mailbox_watch(Mailbox *m, void (*on_message)(gpointer data), gpointer data);

/* Queues a copy of a message for the peer (the caller keeps its own). */
void mailbox_post(Mailbox *m, JsonObject *message);
/* The peer's next message, or NULL: for the caller to unref. */
JsonObject *mailbox_pop(Mailbox *m);
/* The controller says the run has ended (done, error): stop waiting for the peer. */
gboolean mailbox_run_ended(Mailbox *m);
/* The last failure of either thread, for the report (NULL if none); copied. */
char *mailbox_last_error(Mailbox *m);
guint mailbox_failures(Mailbox *m);
