/* Where the probe's packets really left the machine, packet by packet, as the
 * kernel routed them: every UDP socket of an ICE session asks for a transmit
 * timestamp taken when the packet is queued to its device
 * (SOF_TIMESTAMPING_TX_SCHED, in dev_queue_xmit, after routing, policy
 * routing and nftables' re-routing), with the device's index beside it
 * (SOF_TIMESTAMPING_OPT_CMSG and IP_PKTINFO / IPV6_RECVPKTINFO). The kernel
 * hands each such packet back on the socket's error queue; a watcher thread
 * reads it, tells media (RTP, or RTP inside TURN ChannelData or a Send
 * indication) from ICE's and TURN's own messages, and counts each by device.
 *
 * This is evidence about the probe's own packets only: other traffic on the
 * same tunnel (mail, file shares, the VPN client's keepalives) never reaches
 * these sockets' error queues. It covers the direction out of this machine;
 * what arrives through the tunnel is not seen (docs/libnice.md §32). */
#pragma once

#include <gio/gio.h>

typedef struct {
    guint64 media_seen;   /* media packets whose device the kernel named */
    guint64 media_tunnel; /* of those, left through a tunnel device */
    guint64 other_seen;   /* ICE checks, TURN allocations and refreshes, ... */
    guint64 other_tunnel;
    guint64 lost;         /* timestamps the kernel could not queue (error queue full) */
} EgressCounts;

typedef struct EgressWatch EgressWatch;

/* Watches this process's UDP sockets bound to the given local addresses
 * (GInetSocketAddress; the sockets stay libnice's: the watch holds its own
 * descriptor of each and turns the options back off when freed). A device
 * counts as the tunnel when its index is among tunnel_ifindex. An address with
 * no UDP socket is passed over (a watch of none counts nothing); NULL, with
 * the reason, when the kernel refused the options on every socket found. */
EgressWatch *egress_watch_new(GPtrArray *local_addrs, const int *tunnel_ifindex, guint n_tunnels,
                              GError **error);
/* The counts so far (the watcher keeps reading until freed). */
void egress_watch_counts(EgressWatch *w, EgressCounts *out);
/* The counts once MEDIA media packets have been named (or their timestamps
 * lost), or when TIMEOUT_MS has passed: the watcher reads the kernel's queue a
 * moment after each send, so the last packets of a stream may still be on
 * their way to it when the stream ends. */
void egress_watch_counts_after(EgressWatch *w, guint64 media, guint timeout_ms,
                               EgressCounts *out);
/* How many of the addresses had a socket under watch. */
guint egress_watch_sockets(const EgressWatch *w);
void egress_watch_free(EgressWatch *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EgressWatch, egress_watch_free)
/* This kernel names the device of a packet sent (tried once, on loopback;
 * ICEPROBE_EGRESS=off in the environment says no, as an older kernel would). */
gboolean egress_supported(void);
/* Why this platform cannot name the devices at all (Windows), for the result's
 * could_not_see; NULL where it can (Linux: egress_supported() then says
 * whether this kernel does). */
const char *egress_unavailable(void);

typedef enum {
    EGRESS_PACKET_NOT_UDP, /* no IPv4 or IPv6 UDP datagram found in the buffer */
    EGRESS_PACKET_MEDIA,
    EGRESS_PACKET_OTHER,
} EgressPacket;

/* What an error-queue copy of a sent packet carries (it starts at the device's
 * own header: Ethernet's on a veth or NIC, none on a tun device), at most
 * EGRESS_MAX_PACKET bytes of it looked at. */
#define EGRESS_MAX_PACKET 2048
EgressPacket egress_classify(const guint8 *buf, gsize len);

/* A UDP payload as sent: media (RTP, bare or in TURN ChannelData or a Send
 * indication's DATA) or not. */
EgressPacket egress_classify_payload(const guint8 *p, gsize n);
/* Where the RTP (or RTCP) packet in a UDP payload starts, as sent or as
 * received: the payload itself, or inside TURN's ChannelData, a Send or Data
 * indication's DATA (MS-TURN's Send request and Data Indication too); NULL
 * when it carries none. *rtp_len: its length. */
const guint8 *egress_payload_rtp(const guint8 *p, gsize n, gsize *rtp_len);

/* This process's UDP socket bound to want (one of libnice's), as a descriptor
 * of the caller's own (to close), checked to be that socket still; *family its
 * address family. -1 with errno (ENOENT: no such socket). */
int egress_udp_socket_dup(GInetSocketAddress *want, int *family);
/* Two descriptors of the same socket. */
gboolean egress_same_socket(int a, int b);
/* Descriptors of this process's distinct UDP sockets bound to local_addrs (at
 * most max), each the caller's own, and their families; how many. *errno_out:
 * the last failure other than a missing socket (0: none). */
guint egress_own_sockets(GPtrArray *local_addrs, int *fds, int *families, guint max,
                         int *errno_out);
/* A watch over n sockets starts its thread (fn(data)) with an eventfd to stop
 * it by; none to watch is fine unless something failed (last_errno), then the
 * error says so. what: "" (the egress watch) or " for its markings". */
gboolean egress_watcher_start(guint n, int last_errno, const char *what, int *stop_fd,
                              GThread **thread, GThreadFunc fn, gpointer data, GError **error);
/* Stops and joins a watcher egress_watcher_start started (none: nothing). */
void egress_watcher_stop(int stop_fd, GThread *thread);

/* The media messages in a TURN-over-TCP byte stream (RFC 8656 §12.5: STUN
 * messages and ChannelData padded to four bytes; or MS-TURN's framing), fed as
 * it is read, in pieces of any size. A message over EGRESS_MAX_PACKET counts
 * as not media. */
typedef struct {
    guint8 buf[EGRESS_MAX_PACKET];
    gsize have;   /* bytes of the current message held */
    gsize need;   /* its full length once known, 0 before */
    gsize skip;   /* bytes of an oversized message still to pass */
    guint64 media, other;
    gboolean broken; /* framing lost (neither STUN nor ChannelData): no more counting */
    gboolean ms_turn; /* [MS-TURN] 2.1.4's framing: type (2 control, 3 data), 0, length */
} EgressStreamScan;
/* A scan of RFC 8656 framing, or of MS-TURN's (ms_turn) after skip_first bytes
 * (the pseudo-TLS hello). A zeroed EgressStreamScan is an RFC 8656 scan. */
void egress_stream_scan_init(EgressStreamScan *s, gboolean ms_turn, gsize skip_first);
void egress_stream_scan(EgressStreamScan *s, const guint8 *data, gsize len);
