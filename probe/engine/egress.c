/* What a sent or received packet is (egress.h): media or not, RTP inside TURN's
 * framings, and the media in a TURN-over-TCP byte stream. The kernel's account
 * of where each packet left is the platform's (egress_linux.c; egress_windows.c
 * says it is not available there). */
#include "egress.h"

#include <string.h>

#include <stun/stunagent.h>
#include <stun/stunmessage.h>

/* ---- what a sent packet was ---- */

static guint16 be16(const guint8 *p)
{
    return (guint16)((p[0] << 8) | p[1]);
}

static gboolean is_rtp(const guint8 *p, gsize n)
{
    return n >= 12 && p[0] >= 128 && p[0] <= 191; /* RFC 7983: RTP and RTCP */
}

/* MS-TURN's Data Indication ([MS-TURN] 2.2.1: type 0x0115, from TURN-00's
 * numbering, which the class bits of RFC 5389 do not describe). */
#define MS_TURN_DATA_INDICATION 0x0115

const guint8 *egress_payload_rtp(const guint8 *p, gsize n, gsize *rtp_len)
{
    if (is_rtp(p, n)) {
        *rtp_len = n;
        return p;
    }
    if (n >= 4 && p[0] >= 64 && p[0] <= 79) { /* ChannelData */
        gsize inner = MIN((gsize)be16(p + 2), n - 4);
        *rtp_len = inner;
        return is_rtp(p + 4, inner) ? p + 4 : NULL;
    }
    /* RFC 5389 pads attributes to four bytes; MS-TURN never does (the agent
     * tells libnice's reader so). */
    gboolean padded =
        n >= 20 && p[0] <= 3 && stun_message_validate_buffer_length(p, n, TRUE) == (int)n;
    gboolean unpadded = !padded && n >= 20 && p[0] <= 3 &&
                        stun_message_validate_buffer_length(p, n, FALSE) == (int)n;
    if (!padded && !unpadded)
        return NULL;
    StunAgent ms;
    StunMessage msg = {.buffer = (uint8_t *)p, .buffer_len = n};
    if (unpadded) {
        stun_agent_init(&ms, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_OC2007,
                        STUN_AGENT_USAGE_NO_ALIGNED_ATTRIBUTES);
        msg.agent = &ms;
    }
    StunMethod m = stun_message_get_method(&msg);
    /* Out: TURN's Send indication, MS-TURN's Send request; in: their Data indications. */
    if (m != STUN_IND_SEND && m != STUN_SEND && m != STUN_IND_DATA &&
        be16(p) != MS_TURN_DATA_INDICATION)
        return NULL;
    uint16_t alen = 0;
    const guint8 *data = stun_message_find(&msg, STUN_ATTRIBUTE_DATA, &alen);
    *rtp_len = alen;
    return data && is_rtp(data, alen) ? data : NULL;
}

/* A UDP payload: media, bare or inside TURN (RFC 7983's demultiplexing). */
EgressPacket egress_classify_payload(const guint8 *p, gsize n)
{
    gsize len = 0;
    return egress_payload_rtp(p, n, &len) ? EGRESS_PACKET_MEDIA : EGRESS_PACKET_OTHER;
}

static gboolean ipv4_checksum_ok(const guint8 *h, guint ihl)
{
    guint32 sum = 0;
    for (guint i = 0; i < ihl; i += 2)
        sum += be16(h + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

EgressPacket egress_classify(const guint8 *buf, gsize len)
{
    len = MIN(len, EGRESS_MAX_PACKET);
    /* The device's header comes first (none on a tun device, 14 bytes on
     * Ethernet, more with VLAN tags): the IP header is where a version, a
     * length that ends the buffer and (IPv4) a valid checksum agree. */
    for (gsize off = 0; off < 64 && off + 28 <= len; off++) {
        const guint8 *ip = buf + off;
        gsize rest = len - off;
        const guint8 *udp = NULL;
        if (ip[0] >> 4 == 4) {
            guint ihl = (ip[0] & 0x0f) * 4u;
            if (ihl >= 20 && ihl + 8 <= rest && be16(ip + 2) == rest && ip[9] == IPPROTO_UDP &&
                ipv4_checksum_ok(ip, ihl))
                udp = ip + ihl;
        } else if (ip[0] >> 4 == 6 && rest >= 48) {
            if ((gsize)be16(ip + 4) + 40 == rest && ip[6] == IPPROTO_UDP)
                udp = ip + 40;
        }
        if (!udp)
            continue;
        gsize ulen = be16(udp + 4);
        gsize avail = rest - (gsize)(udp - ip);
        if (ulen < 8 || ulen > avail)
            continue;
        return egress_classify_payload(udp + 8, ulen - 8);
    }
    return EGRESS_PACKET_NOT_UDP;
}

/* ---- TURN over TCP ---- */

void egress_stream_scan_init(EgressStreamScan *s, gboolean ms_turn, gsize skip_first)
{
    memset(s, 0, sizeof(*s));
    s->ms_turn = ms_turn;
    s->skip = skip_first;
}

/* The length of the message whose first four bytes are h, padding included. */
static gsize frame_length(const EgressStreamScan *s, const guint8 *h)
{
    if (s->ms_turn) /* control (a TURN message) or end-to-end data; never padded */
        return h[0] == 2 || h[0] == 3 ? 4 + (gsize)be16(h + 2) : 0;
    gsize len = be16(h + 2);
    if (h[0] >= 64 && h[0] <= 79)
        return 4 + ((len + 3) & ~(gsize)3); /* ChannelData, padded over TCP */
    if (h[0] <= 3)
        return 20 + len; /* STUN: the length excludes the 20-byte header */
    return 0;
}

void egress_stream_scan(EgressStreamScan *s, const guint8 *data, gsize len)
{
    while (len && !s->broken) {
        if (s->skip) {
            gsize n = MIN(s->skip, len);
            s->skip -= n;
            data += n;
            len -= n;
            continue;
        }
        gsize want = s->need ? s->need : 4;
        gsize n = MIN(want - s->have, len);
        memcpy(s->buf + s->have, data, n);
        s->have += n;
        data += n;
        len -= n;
        if (s->have < want)
            break;
        if (!s->need) {
            s->need = frame_length(s, s->buf);
            if (!s->need) {
                s->broken = TRUE;
                break;
            }
            if (s->need > sizeof(s->buf)) {
                s->other++;
                s->skip = s->need - s->have;
                s->have = s->need = 0;
            }
            continue;
        }
        /* MS-TURN: the framed payload is a TURN message, or the media itself
         * (after Set Active Destination). */
        const guint8 *msg = s->ms_turn ? s->buf + 4 : s->buf;
        gsize msg_len = s->ms_turn ? s->have - 4 : s->have;
        if (egress_classify_payload(msg, msg_len) == EGRESS_PACKET_MEDIA)
            s->media++;
        else
            s->other++;
        s->have = s->need = 0;
    }
}

