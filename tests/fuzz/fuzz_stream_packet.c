/* Bytes from the network after SRTP (test packets) and from the edge over TCP
 * (STUN framing): any input gives an answer, never a crash. */
#include <stdint.h>

#include "stream.h"
#include "turncheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    StreamPacket p;
    if (stream_packet_parse(data, size, &p))
        g_assert(p.send_ns > 0);
    gssize n = turncheck_stun_frame_length(data, size);
    g_assert(n <= (gssize)size && n <= TURNCHECK_MAX_MESSAGE);
    return 0;
}
