/* QoS markings as they arrive: the DSCP of the media packets a path's UDP
 * sockets receive. The sockets stay libnice's, and libnice reads them; the
 * watch holds its own descriptor of each (as the egress watch does: egress.h),
 * turns IP_RECVTOS (IPV6_RECVTCLASS) on, and peeks (MSG_PEEK) at the datagram
 * at the head of the queue whenever one is there: the kernel hands the IP
 * header's traffic class over with it, and libnice still reads the datagram.
 * What it sees is a sample, the packets it peeked before libnice took them,
 * each counted once (the RTP header tells them apart). Media over TURN-TCP is
 * not seen: the marking of a TCP stream's segments does not reach the reader.
 * docs/libnice.md §43. */
#pragma once

#include <gio/gio.h>

/* What one direction's sample says. */
typedef struct {
    guint64 seen;   /* media packets peeked */
    guint64 marked; /* of those, with the DSCP expected */
    guint64 values; /* bit v set: DSCP v was seen */
} QosCounts;

typedef struct QosWatch QosWatch;

/* Watches this process's UDP sockets bound to the given local addresses
 * (GInetSocketAddress) for media arriving marked dscp. An address with no UDP
 * socket is passed over (a watch of none sees nothing); NULL, with the reason,
 * when the kernel refused the option on every socket found. */
QosWatch *qos_watch_new(GPtrArray *local_addrs, guint dscp, GError **error);
/* The sample so far (the watcher goes on until freed). */
void qos_watch_counts(QosWatch *w, QosCounts *out);
/* How many sockets are under watch. */
guint qos_watch_sockets(const QosWatch *w);
void qos_watch_free(QosWatch *w);
/* Why this platform makes no watch at all (Windows), for the result's
 * could_not_see; NULL where it does (Linux). */
const char *qos_unavailable(void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QosWatch, qos_watch_free)

/* Counts one peeked datagram: its payload (the UDP payload, at most as much
 * as was peeked) and its traffic class byte (TOS; DSCP is its top six bits).
 * last (12 bytes, zero at first) holds the RTP header counted last on that
 * socket, so that a datagram peeked twice counts once. FALSE: not media. */
gboolean qos_count(QosCounts *c, guint dscp, const guint8 *payload, gsize len, guint8 tos,
                   guint8 last[12]);
