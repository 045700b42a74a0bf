/* TCP counts, Linux side (tcpstats.h): the kernel's own segment count in
 * struct tcp_info, which any process may read of its sockets. */
#include "tcpstats.h"

#include <linux/tcp.h> /* struct tcp_info with the segment counts */
#include <string.h>

gboolean tcpstats_start(PSock s, ConnCounter *by, char **why)
{
    *by = CONN_COUNTER_TCP_INFO;
    return TRUE;
}

gboolean tcpstats_count(PSock s, ConnCounter by, guint64 *out, guint64 *in)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (by != CONN_COUNTER_TCP_INFO || getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return FALSE;
    *out += ti.tcpi_segs_out;
    *in += ti.tcpi_segs_in;
    return TRUE;
}
