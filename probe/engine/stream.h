/* An SRTP test stream shaped like a call, over an ICE session, in one direction
 * out and one in. Each packet carries its sequence number, its send time and an
 * echo of the last packet received with how long it was held, so the round trip
 * is measured on one clock. */
#pragma once

#include "iceprobe/metrics.h"
#include "session.h"

#define STREAM_KEY_LEN     30 /* AES-128 key and 112-bit salt */
#define STREAM_HEADER_LEN  28
#define STREAM_MAX_PAYLOAD 1200
#define STREAM_MAGIC       0x49505242u /* "IPRB" */
/* The first packet that arrives places the sender's first one if it is fewer
 * than this many packets after it (half the sequence space). */
#define STREAM_ORIGIN_MAX_INDEX 32768u

typedef struct {
    guint ptime_ms;
    guint payload_bytes; /* RTP payload, at least STREAM_HEADER_LEN */
    guint duration_ms;
} StreamShape;

/* The payload of one test packet, after SRTP. */
typedef struct {
    guint16 seq;
    guint32 ts;          /* RTP timestamp: the packet's index × ptime × 8 (8 kHz from 0) */
    gint64 send_ns;      /* sender's CLOCK_MONOTONIC */
    gint64 echo_send_ns; /* receiver's own send time of the packet echoed, 0 if none */
    gint64 echo_hold_ns; /* how long the sender held it before echoing */
} StreamPacket;

/* Parses a decrypted RTP packet: FALSE if it is not one of ours. */
gboolean stream_packet_parse(const guint8 *buf, gsize len, StreamPacket *out);

typedef struct StreamEnd StreamEnd;

/* Fresh random key material (OpenSSL RAND_bytes). */
gboolean stream_random_key(guint8 key[STREAM_KEY_LEN]);

StreamEnd *stream_end_new(Session *session, const guint8 out_key[STREAM_KEY_LEN],
                          const guint8 in_key[STREAM_KEY_LEN], const StreamShape *shape,
                          GError **error);
void stream_end_free(StreamEnd *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StreamEnd, stream_end_free)

/* Hands the end to the process's pacer thread, which sends its packets from
 * now on; received packets are counted as they come. */
void stream_end_start(StreamEnd *e);
/* The peer's RTP timestamps are on this end's grid (the same ptime): the first
 * packet to arrive then places the sender's first one (its timestamp counts
 * the packets before it), so losses before it are placed in the windows and
 * the burst ratio. Without it the first packet seen is the origin. Before the
 * first packet. */
void stream_end_place_first(StreamEnd *e);
/* Before the media: one warm-up datagram to the peer, the 4 bytes
 * STREAM_WARMUP (not RTP, STUN nor DTLS by RFC 7983's first byte; 'I' is in
 * TURN ChannelData's range, where it reads as an empty one: no media counter
 * takes it, egress.c). libnice passes a packet on only from a source it
 * validated, and its TURN client binds a channel to the peer when a pair is
 * selected: ChannelData ahead of the binding's answer is dropped. Media that
 * starts before the peer has heard this end, and this end the peer, can be
 * dropped by the receiving libnice though the network delivered it
 * (docs/libnice.md §30). FALSE if it could not be sent. */
#define STREAM_WARMUP "IPRW"
gboolean stream_end_warm(StreamEnd *e);
/* Warm-up datagrams this end has received from its peer. */
guint64 stream_end_warmups_heard(const StreamEnd *e);
/* Waits for the sender to finish its duration. */
void stream_end_join(StreamEnd *e);
/* Ends the stream now (what was sent stays counted). */
void stream_end_stop(StreamEnd *e);

/* How late each packet left against its schedule (start + i * ptime), in µs
 * (float), for the first STREAM_MAX_LATENESS_SAMPLES; read after the sender
 * is done. */
#define STREAM_MAX_LATENESS_SAMPLES 65536
const GArray *stream_end_lateness_us(const StreamEnd *e);
/* The sender has sent its last packet (it wakes the session's context then). */
gboolean stream_end_done(const StreamEnd *e);
guint64 stream_end_sent(const StreamEnd *e);
guint64 stream_end_received(const StreamEnd *e);      /* unique packets of ours */
guint64 stream_end_auth_failures(const StreamEnd *e); /* SRTP authentication failed */
guint64 stream_end_replays(const StreamEnd *e);       /* SRTP replay check failed */
guint64 stream_end_foreign(const StreamEnd *e);       /* decrypted, but not our format */
const MetricsStream *stream_end_metrics(const StreamEnd *e);
