/* POST /api/v1/runs/{id}/signal bodies are relayed to the peer agent: what is
 * accepted must be one JSON object, re-written. */
#include <stdint.h>

#include "iceprobe/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *message = NULL;
    g_autoptr(GError) error = NULL;
    gboolean ok = protocol_parse_signal((const char *)data, size, &message, &error);
    g_assert(ok == (error == NULL));
    if (ok) {
        g_autoptr(JsonNode) n = json_from_string(message, NULL);
        g_assert(n && JSON_NODE_HOLDS_OBJECT(n));
    }
    return 0;
}
