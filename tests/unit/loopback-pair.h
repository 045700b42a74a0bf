/* Two sessions of one process connected the way a paired run connects its two
 * agents (trickle ICE, docs/libnice.md §22): the ICE credentials first, then
 * each side's candidate lines, as libnice gathered them, added to the other
 * with session_add_remote_candidate(). Loopback only (127.0.0.1). For the unit
 * tests and the benchmarks: the product has no other way in. */
#pragma once

#include "session.h"

typedef struct {
    Session *s;
    GPtrArray *lines; /* its local candidate lines, in the order gathered */
} LoopbackSide;

static inline void loopback_collect(const char *line, gpointer lines)
{
    g_ptr_array_add(lines, g_strdup(line));
}

/* A session gathering on 127.0.0.1 only, its lines collected; FALSE with error. */
static inline gboolean loopback_side_open(LoopbackSide *side, GMainContext *ctx, const char *name,
                                          gboolean controlling, GError **error)
{
    g_autoptr(GPtrArray) lo = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(lo, g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4));
    side->lines = g_ptr_array_new_with_free_func(g_free);
    SessionConfig cfg = {.name = name,
                         .controlling = controlling,
                         .only_addresses = lo,
                         .on_candidate = loopback_collect,
                         .on_candidate_data = side->lines};
    side->s = session_new(ctx, &cfg, error);
    return side->s && session_gather(side->s, error);
}

/* Once both have gathered: each side's credentials and lines to the other. */
static inline gboolean loopback_sides_connect(LoopbackSide *a, LoopbackSide *b, GError **error)
{
    LoopbackSide *sides[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        g_autofree char *ufrag = NULL, *pwd = NULL;
        session_local_credentials(sides[i]->s, &ufrag, &pwd);
        if (!session_set_remote_credentials(sides[!i]->s, ufrag, pwd, error))
            return FALSE;
    }
    for (int i = 0; i < 2; i++) {
        for (guint k = 0; k < sides[i]->lines->len; k++) {
            if (!session_add_remote_candidate(sides[!i]->s, sides[i]->lines->pdata[k], error))
                return FALSE;
        }
    }
    return TRUE;
}

static inline void loopback_side_clear(LoopbackSide *side)
{
    g_clear_pointer(&side->s, session_free);
    g_clear_pointer(&side->lines, g_ptr_array_unref);
}
