/* A paired run's messages come from the peer through the controller: a message
 * is taken whole or refused with its reason. */
#include <stdint.h>

#include "iceprobe/result.h"
#include "peer_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024 || json_text_depth((const char *)data, size) > 16)
        return 0;
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_data(p, (const char *)data, (gssize)size, NULL))
        return 0;
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return 0;
    PeerMessage m;
    g_autoptr(GError) error = NULL;
    gboolean ok = peer_message_parse(json_node_get_object(root), &m, &error);
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
