/* QoS markings as they arrive, Windows side (qoswatch.h): not available yet. The
 * Linux watch peeks at libnice's sockets' datagrams with IP_RECVTOS; Windows
 * has IP_RECVTOS / IPV6_RECVTCLASS (recent Windows 10/11, read with
 * WSARecvMsg), but whether a peek beside libnice's own reads sees them is to be
 * tried on real Windows (docs/windows.md). Until then no watch is made and the
 * path's qos facts are absent from the result (as when a profile marks
 * nothing), with the reason in the run's log. */
#include "qoswatch.h"

#include <string.h>

QosWatch *qos_watch_new(GPtrArray *local_addrs, guint dscp, GError **error)
{
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                        "reading the DSCP of received packets is not done on Windows yet");
    return NULL;
}

void qos_watch_counts(QosWatch *w, QosCounts *out)
{
    memset(out, 0, sizeof(*out));
}

guint qos_watch_sockets(const QosWatch *w)
{
    return 0;
}

void qos_watch_free(QosWatch *w)
{
}

const char *qos_unavailable(void)
{
    return "the DSCP marking of received media: not read on Windows yet";
}
