/* Result documents come from agents over the network: any bytes must give a
 * result or an error naming what was wrong, never a crash or a leak; what is
 * read must write back out and read again. */
#include <stdint.h>
#include <string.h>

#include "iceprobe/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(RunResult) r = run_result_from_json((const char *)data, size, &error);
    g_assert((r == NULL) != (error == NULL));
    if (r) {
        g_autofree char *text = run_result_to_string(r, FALSE);
        g_autoptr(RunResult) again = run_result_from_json(text, strlen(text), NULL);
        g_assert(again);
    }
    return 0;
}
