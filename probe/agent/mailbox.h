/* A paired run's mailbox at the controller, from one agent's side: messages for
 * the peer are posted in order by a sender thread (so gathering never waits on
 * the network), the peer's are fetched by a long-polling receiver thread and
 * taken from the run's own thread with mailbox_pop(). The controller keeps the
 * messages while the run lasts and deletes them when it ends (docs/contract.md).
 * With several controllers (a comma-separated url, http.h) each thread moves
 * to the next one when its controller stops answering. */
#pragma once

#include <json-glib/json-glib.h>
#include <signal.h>

typedef struct Mailbox Mailbox;

typedef struct {
    const char *url, *token, *ca_file;
    const char *run_id;
    /* Called from the receiver thread when messages arrive and when it ends
     * (may be NULL): the run wakes whichever of its contexts wait for them. */
    void (*on_message)(gpointer data);
    gpointer on_message_data;
    volatile sig_atomic_t *stop;
} MailboxConfig;

Mailbox *mailbox_open(const MailboxConfig *cfg);
/* Sends closes after flushing what is queued (at most flush_ms), then stops both threads. */
void mailbox_close(Mailbox *m, guint flush_ms);

/* Queues a message for the peer (takes a reference). */
void mailbox_post(Mailbox *m, JsonObject *message);
/* The peer's next message, or NULL: for the caller to unref. */
JsonObject *mailbox_pop(Mailbox *m);
/* The controller says the run has ended (done, error): stop waiting for the peer. */
gboolean mailbox_run_ended(Mailbox *m);
/* The last failure of either thread, for the report (NULL if none); copied. */
char *mailbox_last_error(Mailbox *m);
guint mailbox_failures(Mailbox *m);
