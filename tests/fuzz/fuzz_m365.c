/* Microsoft's endpoints document comes from the web service or a user's file:
 * any bytes must give the Optimize prefixes or an error, never a crash or a leak. */
#include <stdint.h>

#include "iceprobe/m365.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) a = m365_endpoints_parse((const char *)data, size, &error);
    g_assert((a == NULL) != (error == NULL));
    for (guint i = 0; a && i < a->len; i++) {
        const RoutePrefix *r = a->pdata[i];
        g_assert(r->prefix && r->cidr);
        g_autoptr(GPtrArray) s = route_prefix_samples(r->prefix);
        g_assert(s->len >= 1 && s->len <= 3);
    }
    /* the same bytes as one must_bypass item */
    g_autofree char *text = g_strndup((const char *)data, MIN(size, 256));
    RoutePrefix *r = route_prefix_parse(text, NULL);
    route_prefix_free(r);
    return 0;
}
