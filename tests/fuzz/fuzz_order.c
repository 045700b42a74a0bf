/* Orders come from the controller over the network: every member is checked,
 * sizes capped, and a parsed order is whole. */
#include <stdint.h>

#include "iceprobe/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Order o;
    g_autoptr(GError) error = NULL;
    gboolean ok = protocol_parse_order_text((const char *)data, size, &o, &error);
    g_assert(ok == (error == NULL));
    if (ok) {
        g_assert(o.run_id && o.peer && o.profile_text && o.paths && o.paths[0]);
        g_assert(o.turn_username && o.turn_password && o.duration_s >= 1);
        order_clear(&o);
    }
    return 0;
}
