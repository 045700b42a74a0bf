/* MRAS answers come from a client's log, pasted by a user: any bytes must give
 * an answer or an error, never a crash or a leak. */
#include <stdint.h>

#include "iceprobe/mras.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MrasAnswer) a = mras_parse((const char *)data, size, &error);
    g_assert((a == NULL) != (error == NULL));
    if (a)
        g_assert(a->username && a->password && a->duration_min > 0);
    return 0;
}
