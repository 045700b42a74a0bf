/* POST /api/v1/runs bodies come from the network: any bytes must give a request
 * or an error naming what was wrong, never a crash or a leak. */
#include <stdint.h>

#include "iceprobe/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RunRequest r;
    g_autoptr(GError) error = NULL;
    gboolean ok = protocol_parse_run_request((const char *)data, size, &r, &error);
    g_assert(ok == (error == NULL));
    if (ok) {
        g_assert(protocol_valid_name(r.profile));
        run_request_clear(&r);
    }
    return 0;
}
