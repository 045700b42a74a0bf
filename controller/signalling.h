/* Signalling between the two agents of a run: one inbox per side. What one side
 * posts (its ICE credentials, candidates as they are gathered, its SRTP key) is
 * read by the other, by long-poll, in order, from a sequence number on. Kept in
 * the store (so that the two agents may call different controllers sharing it),
 * and deleted when the run ends: the messages carry keys and addresses that must
 * not outlive the run. */
#pragma once

#include <gio/gio.h>

#include "store.h"

#define SIGNAL_MAX_MESSAGES      512 /* per side and run */
#define SIGNAL_MAX_MESSAGE_BYTES (64 * 1024)

typedef struct SignalBoard SignalBoard;

/* Called when a side's inbox gets a message, or the run's mailbox is closed. */
typedef void (*SignalWakeFn)(const char *run_id, int side, gpointer user_data);

SignalBoard *signal_board_new(Store *store, SignalWakeFn wake, gpointer user_data);
void signal_board_free(SignalBoard *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SignalBoard, signal_board_free)

/* Posts a message (JSON text) from side `from` to the other side; its sequence
 * number (from 1) in *seq. The store's error when the run has ended
 * (STORE_ERROR_STATE), the inbox is full (STORE_ERROR_FULL) or the store failed.
 * A retried post of the inbox's last message is not posted twice. */
gboolean signal_post(SignalBoard *b, const char *run_id, int from, const char *json, guint *seq,
                     GError **error);
/* Messages for side `to` with a sequence number above `after`: a JSON array text
 * of {"seq": n, "message": {...}}, and their count in *n; NULL on a store error. */
char *signal_fetch(SignalBoard *b, const char *run_id, int to, guint after, guint *n,
                   GError **error);
/* A run ended (its signals were deleted with it): both sides are woken. */
void signal_close(SignalBoard *b, const char *run_id);
