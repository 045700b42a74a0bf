/* Profiles come from users and from the controller: any bytes must give a
 * profile or an error, never a crash or a leak. */
#include <stdint.h>

#include "iceprobe/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Profile) p =
        profile_load_from_data((const char *)data, size, "/nonexistent", "fuzz", &error);
    g_assert((p == NULL) != (error == NULL));
    return 0;
}
