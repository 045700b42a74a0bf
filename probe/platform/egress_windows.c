/* Where each packet left, Windows side (egress.h): not available. Windows has
 * no error queue handing a sent packet back with its device; what may tell it
 * (SIO_TIMESTAMPING, recent Windows 10/11) is to be tried on real Windows
 * (docs/windows.md). egress_supported() says no, so a run takes the path it
 * takes on a Linux kernel without the facts: the tunnel's interface counters
 * are the evidence, each path run alone where they must be, and the result
 * has no tunnel_counters.egress. */
#include "egress.h"

#include <string.h>

gboolean egress_supported(void)
{
    return FALSE;
}

EgressWatch *egress_watch_new(GPtrArray *local_addrs, const int *tunnel_ifindex, guint n_tunnels,
                              GError **error)
{
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                        "Windows does not say which interface each packet left by");
    return NULL;
}

void egress_watch_counts(EgressWatch *w, EgressCounts *out)
{
    memset(out, 0, sizeof(*out));
}

void egress_watch_counts_after(EgressWatch *w, guint64 media, guint timeout_ms, EgressCounts *out)
{
    memset(out, 0, sizeof(*out));
}

guint egress_watch_sockets(const EgressWatch *w)
{
    return 0;
}

void egress_watch_free(EgressWatch *w)
{
}

const char *egress_unavailable(void)
{
    return "which interface each packet left by: Windows has no error queue that names it "
           "(the tunnel's interface counters stand in)";
}
