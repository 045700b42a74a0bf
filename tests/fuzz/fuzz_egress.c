/* A sent packet as the kernel's error queue hands it back (the device's header,
 * IP, UDP, and media or ICE inside), and a TURN-over-TCP byte stream as libnice
 * writes it to a forwarder, in two pieces: any input gives an answer, never a
 * read past the buffer. */
#include <stdint.h>
#include <string.h>

#include "egress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    EgressPacket what = egress_classify(data, size);
    g_assert(what == EGRESS_PACKET_NOT_UDP || what == EGRESS_PACKET_MEDIA ||
             what == EGRESS_PACKET_OTHER);
    static EgressStreamScan scan;
    memset(&scan, 0, sizeof(scan));
    egress_stream_scan(&scan, data, size / 2);
    egress_stream_scan(&scan, data + size / 2, size - size / 2);
    g_assert(scan.media + scan.other <= size / 4 + 1);
    return 0;
}
