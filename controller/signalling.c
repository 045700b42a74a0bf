#include "signalling.h"

#include <string.h>

#include "iceprobe/jsonin.h"

struct SignalBoard {
    Store *store;
    SignalWakeFn wake;
    gpointer user_data;
};

SignalBoard *signal_board_new(Store *store, SignalWakeFn wake, gpointer user_data)
{
    g_return_val_if_fail(store, NULL);
    SignalBoard *b = g_new0(SignalBoard, 1);
    b->store = store;
    b->wake = wake;
    b->user_data = user_data;
    return b;
}

void signal_board_free(SignalBoard *b)
{
    g_free(b);
}

gboolean signal_post(SignalBoard *b, const char *run_id, int from, const char *json, guint *seq,
                     GError **error)
{
    g_return_val_if_fail(b && run_id && json && (from == 0 || from == 1), FALSE);
    /* The body's cap holds it today; the store must not depend on that. */
    if (strlen(json) > SIGNAL_MAX_MESSAGE_BYTES) {
        g_set_error(error, JSONIN_ERROR, JSONIN_ERROR_SIZE, "message: over %d bytes",
                    SIGNAL_MAX_MESSAGE_BYTES);
        return FALSE;
    }
    guint n = 0;
    gboolean duplicate = FALSE;
    if (!store_signal_post(b->store, run_id, !from, json, SIGNAL_MAX_MESSAGES, &n, &duplicate,
                           error))
        return FALSE;
    if (seq)
        *seq = n;
    if (b->wake && !duplicate)
        b->wake(run_id, !from, b->user_data);
    return TRUE;
}

char *signal_fetch(SignalBoard *b, const char *run_id, int to, guint after, guint *n,
                   GError **error)
{
    g_return_val_if_fail(b && run_id && (to == 0 || to == 1), NULL);
    return store_signal_fetch(b->store, run_id, to, after, n, error);
}

void signal_close(SignalBoard *b, const char *run_id)
{
    g_return_if_fail(b && run_id);
    if (b->wake) {
        b->wake(run_id, 0, b->user_data);
        b->wake(run_id, 1, b->user_data);
    }
}
