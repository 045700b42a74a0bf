/* A paired run's remote candidates arrive one line at a time from the peer,
 * through the controller: session_add_remote_candidate() takes a line (capped,
 * parsed by libnice, component checked) on a real agent, or refuses it with a
 * reason. */
#include <stdint.h>
#include <string.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    g_autofree char *line = g_strndup((const char *)data, size);
    static GMainContext *ctx;
    if (!ctx)
        ctx = g_main_context_new();
    g_autoptr(GPtrArray) lo = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(lo, g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4));
    SessionConfig cfg = {.name = "fuzz", .only_addresses = lo};
    g_autoptr(Session) s = session_new(ctx, &cfg, NULL);
    g_assert(s);
    /* Remote candidates are taken once the peer's credentials are known. */
    g_assert(session_set_remote_credentials(s, "abcd", "0123456789012345678901", NULL));
    g_autoptr(GError) error = NULL;
    gboolean ok = session_add_remote_candidate(s, line, &error);
    g_assert(ok == (error == NULL));
    g_assert(ok || strlen(error->message) > 0);
    return 0;
}
