/* POST /api/v1/agent/heartbeat bodies come from agents over the network. What is
 * accepted is stored, so its interfaces must come out as a JSON array. */
#include <stdint.h>

#include "iceprobe/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Heartbeat h;
    g_autoptr(GError) error = NULL;
    gboolean ok = protocol_parse_heartbeat((const char *)data, size, &h, &error);
    g_assert(ok == (error == NULL));
    if (ok) {
        if (h.interfaces) {
            g_autoptr(JsonNode) n = json_from_string(h.interfaces, NULL);
            g_assert(n && JSON_NODE_HOLDS_ARRAY(n));
        }
        heartbeat_clear(&h);
    }
    return 0;
}
