/* QoS markings as they arrive (qoswatch.h): counting a peeked datagram. The
 * watch that peeks is the platform's (qos_linux.c; qos_windows.c says it is
 * not available there). */
#include "qoswatch.h"

#include <string.h>

#include "egress.h"

gboolean qos_count(QosCounts *c, guint dscp, const guint8 *payload, gsize len, guint8 tos,
                   guint8 last[12])
{
    gsize rtp_len = 0;
    const guint8 *rtp = egress_payload_rtp(payload, len, &rtp_len);
    if (!rtp || rtp_len < 12)
        return FALSE;
    if (memcmp(rtp, last, 12) == 0)
        return TRUE; /* still at the head of the queue: counted already */
    memcpy(last, rtp, 12);
    guint v = tos >> 2;
    c->seen++;
    if (v == dscp)
        c->marked++;
    c->values |= G_GUINT64_CONSTANT(1) << v;
    return TRUE;
}
