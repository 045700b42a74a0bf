/* A paired run's messages come from the peer through the controller: a message
 * is taken whole or refused with its reason. */
#include <stdint.h>

#include "iceprobe/jsonin.h"
#include "peer_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As the agent's HTTP client takes the controller's answer (http.c). */
    static const JsonInLimits limits = {"the message", 64 * 1024, 16};
    g_autoptr(JsonObject) root = jsonin_parse_object((const char *)data, size, &limits, NULL);
    if (!root)
        return 0;
    PeerMessage m;
    g_autoptr(GError) error = NULL;
    gboolean ok = peer_message_parse(root, &m, &error);
    g_assert(ok == (error == NULL));
    if (ok) {
        g_assert(m.type == PEER_HELLO || m.type == PEER_RERUNS || m.path);
        if (m.type == PEER_RERUNS)
            g_assert(m.paths && g_strv_length(m.paths) <= 3);
        if (m.type == PEER_SESSION)
            g_assert(m.ufrag && m.pwd);
        peer_message_clear(&m);
    }
    return 0;
}
