/* Session descriptions arrive from the far agent (through the controller in
 * paired runs): our relay filter and libnice's parser, on a real agent. */
#include <stdint.h>
#include <string.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *sdp = g_strndup((const char *)data, size);
    g_autofree char *relay = session_sdp_relay_only(sdp);
    /* Filtering only drops lines (and adds at most a final newline). */
    g_assert(strlen(relay) <= strlen(sdp) + 1);

    static GMainContext *ctx;
    if (!ctx)
        ctx = g_main_context_new();
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    SessionConfig cfg = {.name = "fuzz", .only_address = lo};
    g_autoptr(Session) s = session_new(ctx, &cfg, NULL);
    g_assert(s);
    g_autoptr(GError) error = NULL;
    gboolean ok = session_set_remote_sdp(s, sdp, &error);
    g_assert(ok == (error == NULL));
    return 0;
}
