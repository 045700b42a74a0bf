#include "signalling.h"

#include <string.h>

typedef struct {
    GPtrArray *inbox[2]; /* char* JSON texts; index + 1 is the sequence number */
} Mailbox;

struct SignalBoard {
    GHashTable *boxes; /* run id -> Mailbox */
    SignalWakeFn wake;
    gpointer user_data;
};

static void wipe_free(gpointer p)
{
    char *s = p;
    memset(s, 0, strlen(s));
    g_free(s);
}

static void mailbox_free(gpointer p)
{
    Mailbox *m = p;
    g_ptr_array_unref(m->inbox[0]);
    g_ptr_array_unref(m->inbox[1]);
    g_free(m);
}

SignalBoard *signal_board_new(SignalWakeFn wake, gpointer user_data)
{
    SignalBoard *b = g_new0(SignalBoard, 1);
    b->boxes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, mailbox_free);
    b->wake = wake;
    b->user_data = user_data;
    return b;
}

void signal_board_free(SignalBoard *b)
{
    if (!b)
        return;
    g_hash_table_unref(b->boxes);
    g_free(b);
}

static Mailbox *box(SignalBoard *b, const char *run_id, gboolean create)
{
    Mailbox *m = g_hash_table_lookup(b->boxes, run_id);
    if (!m && create) {
        m = g_new0(Mailbox, 1);
        m->inbox[0] = g_ptr_array_new_with_free_func(wipe_free);
        m->inbox[1] = g_ptr_array_new_with_free_func(wipe_free);
        g_hash_table_insert(b->boxes, g_strdup(run_id), m);
    }
    return m;
}

gboolean signal_post(SignalBoard *b, const char *run_id, int from, const char *json, guint *seq,
                     GError **error)
{
    g_return_val_if_fail(b && run_id && json && (from == 0 || from == 1), FALSE);
    Mailbox *m = box(b, run_id, TRUE);
    GPtrArray *in = m->inbox[!from];
    if (in->len >= SIGNAL_MAX_MESSAGES) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                    "the peer's inbox of run %s holds %d messages already", run_id,
                    SIGNAL_MAX_MESSAGES);
        return FALSE;
    }
    g_ptr_array_add(in, g_strdup(json));
    if (seq)
        *seq = in->len;
    if (b->wake)
        b->wake(run_id, !from, b->user_data);
    return TRUE;
}

char *signal_fetch(SignalBoard *b, const char *run_id, int to, guint after, guint *n)
{
    g_return_val_if_fail(b && run_id && (to == 0 || to == 1), NULL);
    Mailbox *m = box(b, run_id, FALSE);
    GString *out = g_string_new("[");
    guint count = 0;
    for (guint i = after; m && i < m->inbox[to]->len; i++, count++)
        g_string_append_printf(out, "%s{\"seq\":%u,\"message\":%s}", count ? "," : "", i + 1,
                               (const char *)m->inbox[to]->pdata[i]);
    g_string_append_c(out, ']');
    if (n)
        *n = count;
    return g_string_free(out, FALSE);
}

void signal_close(SignalBoard *b, const char *run_id)
{
    g_return_if_fail(b && run_id);
    g_hash_table_remove(b->boxes, run_id);
    if (b->wake) {
        b->wake(run_id, 0, b->user_data);
        b->wake(run_id, 1, b->user_data);
    }
}

gboolean signal_is_open(SignalBoard *b, const char *run_id)
{
    return g_hash_table_contains(b->boxes, run_id);
}
