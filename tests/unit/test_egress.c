#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress.h"

/* ---- packets as the error queue hands them back ---- */

static gsize put16(guint8 *p, guint16 v)
{
    p[0] = (guint8)(v >> 8);
    p[1] = (guint8)v;
    return 2;
}

static void ipv4_checksum(guint8 *h)
{
    guint32 sum = 0;
    h[10] = h[11] = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (guint32)((h[i] << 8) | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    put16(h + 10, (guint16)~sum);
}

/* link bytes of device header, then IPv4 (or IPv6), UDP and the payload. */
static gsize frame(guint8 *out, gsize link, gboolean v6, const guint8 *payload, gsize n)
{
    memset(out, 0, link);
    if (link >= 14)
        put16(out + 12, v6 ? 0x86dd : 0x0800);
    guint8 *ip = out + link;
    gsize iph = v6 ? 40 : 20;
    memset(ip, 0, iph);
    if (v6) {
        ip[0] = 0x60;
        put16(ip + 4, (guint16)(8 + n));
        ip[6] = 17;
        ip[7] = 64;
        ip[23] = 1;
        ip[39] = 2;
    } else {
        ip[0] = 0x45;
        put16(ip + 2, (guint16)(20 + 8 + n));
        ip[8] = 64;
        ip[9] = 17;
        memcpy(ip + 12, (guint8[]){10, 254, 1, 10}, 4);
        memcpy(ip + 16, (guint8[]){203, 0, 113, 10}, 4);
        ipv4_checksum(ip);
    }
    guint8 *udp = ip + iph;
    put16(udp, 50000);
    put16(udp + 2, 3478);
    put16(udp + 4, (guint16)(8 + n));
    put16(udp + 6, 0);
    memcpy(udp + 8, payload, n);
    return link + iph + 8 + n;
}

static gsize rtp(guint8 *p, gsize payload)
{
    memset(p, 0xab, 12 + payload);
    p[0] = 0x80;
    p[1] = 0x00;
    return 12 + payload;
}

/* A STUN message of the given type with one attribute (type attr) of n bytes. */
static gsize stun(guint8 *p, guint16 type, guint16 attr, const guint8 *value, gsize n)
{
    gsize padded = (n + 3) & ~(gsize)3;
    put16(p, type);
    put16(p + 2, (guint16)(4 + padded));
    memcpy(p + 4, (guint8[]){0x21, 0x12, 0xa4, 0x42}, 4);
    memset(p + 8, 0x5a, 12);
    put16(p + 20, attr);
    put16(p + 22, (guint16)n);
    memset(p + 24, 0, padded);
    memcpy(p + 24, value, n);
    return 24 + padded;
}

static void test_media_is_told_from_ice_and_turn(void **state)
{
    guint8 media[200], pkt[400], msg[300];
    gsize n = rtp(media, 160);
    /* Bare RTP (a host or reflexive pair), on Ethernet and on a tun device. */
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, media, n)), EGRESS_PACKET_MEDIA);
    assert_int_equal(egress_classify(pkt, frame(pkt, 0, FALSE, media, n)), EGRESS_PACKET_MEDIA);
    assert_int_equal(egress_classify(pkt, frame(pkt, 18, FALSE, media, n)), EGRESS_PACKET_MEDIA);
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, TRUE, media, n)), EGRESS_PACKET_MEDIA);
    assert_int_equal(egress_classify(pkt, frame(pkt, 0, TRUE, media, n)), EGRESS_PACKET_MEDIA);

    /* RTP in TURN ChannelData (RFC 8656 §12), padded to four bytes. */
    msg[0] = 0x40;
    msg[1] = 0x00;
    put16(msg + 2, (guint16)n);
    memcpy(msg + 4, media, n);
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, msg, 4 + n)),
                     EGRESS_PACKET_MEDIA);
    /* ChannelData carrying a STUN check is ICE's, not media. */
    guint8 check[64];
    gsize cn = stun(check, 0x0001, 0x0006, (const guint8 *)"ab:cd", 5);
    put16(msg + 2, (guint16)cn);
    memcpy(msg + 4, check, cn);
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, msg, 4 + cn)),
                     EGRESS_PACKET_OTHER);

    /* RTP in a Send indication's DATA attribute (before a channel is bound). */
    gsize sn = stun(msg, 0x0016, 0x0013, media, n);
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, msg, sn)), EGRESS_PACKET_MEDIA);
    /* A Send indication carrying a check, a binding request, an allocation. */
    sn = stun(msg, 0x0016, 0x0013, check, cn);
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, msg, sn)), EGRESS_PACKET_OTHER);
    assert_int_equal(egress_classify(pkt, frame(pkt, 0, FALSE, check, cn)), EGRESS_PACKET_OTHER);
    sn = stun(msg, 0x0003, 0x0019, (const guint8 *)"\x11\0\0\0", 4);
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, msg, sn)), EGRESS_PACKET_OTHER);
}

static void test_what_is_not_a_udp_datagram_is_not_counted_as_media(void **state)
{
    guint8 media[200], pkt[400];
    gsize n = rtp(media, 160);
    gsize len = frame(pkt, 14, FALSE, media, n);
    /* Truncated: the IP length no longer ends the buffer. */
    assert_int_equal(egress_classify(pkt, len - 1), EGRESS_PACKET_NOT_UDP);
    assert_int_equal(egress_classify(pkt, 20), EGRESS_PACKET_NOT_UDP);
    assert_int_equal(egress_classify(pkt, 0), EGRESS_PACKET_NOT_UDP);
    /* A bad IPv4 checksum, and TCP. */
    pkt[14 + 8] ^= 1;
    assert_int_equal(egress_classify(pkt, len), EGRESS_PACKET_NOT_UDP);
    pkt[14 + 8] ^= 1;
    pkt[14 + 9] = 6;
    ipv4_checksum(pkt + 14);
    assert_int_equal(egress_classify(pkt, len), EGRESS_PACKET_NOT_UDP);
    /* A UDP length past the packet. */
    len = frame(pkt, 0, FALSE, media, n);
    put16(pkt + 24, (guint16)(8 + n + 10));
    assert_int_equal(egress_classify(pkt, len), EGRESS_PACKET_NOT_UDP);
    /* Garbage of every length up to a full buffer never reads past it. */
    g_autofree guint8 *junk = g_malloc(EGRESS_MAX_PACKET + 16);
    GRand *rand = g_rand_new_with_seed(7);
    for (gsize l = 0; l < EGRESS_MAX_PACKET + 16; l += 37) {
        for (gsize i = 0; i < l; i++)
            junk[i] = (guint8)g_rand_int(rand);
        EgressPacket what = egress_classify(junk, l);
        assert_true(what == EGRESS_PACKET_NOT_UDP || what == EGRESS_PACKET_OTHER ||
                    what == EGRESS_PACKET_MEDIA);
    }
    g_rand_free(rand);
    /* A ChannelData header claiming more than is there: not media. */
    guint8 cd[8] = {0x40, 0x00, 0x01, 0x00, 0x80, 0, 0, 0};
    assert_int_equal(egress_classify(pkt, frame(pkt, 14, FALSE, cd, sizeof(cd))),
                     EGRESS_PACKET_OTHER);
}

static void test_media_in_a_turn_over_tcp_stream_is_counted_in_any_pieces(void **state)
{
    /* A stream as libnice writes it to a TURN server over TCP: a Send
     * indication with RTP, ChannelData with RTP (odd length, padded), a
     * refresh, ChannelData with a check. */
    guint8 media[200], check[64], stream[1200], msg[300];
    gsize n = rtp(media, 161), cn = stun(check, 0x0001, 0x0006, (const guint8 *)"ab:cd", 5);
    gsize len = stun(stream, 0x0016, 0x0013, media, n);
    for (int i = 0; i < 3; i++) {
        stream[len] = 0x40;
        stream[len + 1] = 0x01;
        put16(stream + len + 2, (guint16)n);
        memcpy(stream + len + 4, media, n);
        memset(stream + len + 4 + n, 0, 3);
        len += 4 + ((n + 3) & ~(gsize)3);
    }
    gsize rn = stun(msg, 0x0004, 0x000d, (const guint8 *)"\0\0\x02\x58", 4);
    memcpy(stream + len, msg, rn);
    len += rn;
    stream[len] = 0x40;
    stream[len + 1] = 0x01;
    put16(stream + len + 2, (guint16)cn);
    memcpy(stream + len + 4, check, cn);
    len += 4 + cn;
    for (gsize piece = 1; piece <= len; piece = piece * 2 + 1) {
        EgressStreamScan sc = {0};
        for (gsize off = 0; off < len; off += piece)
            egress_stream_scan(&sc, stream + off, MIN(piece, len - off));
        assert_false(sc.broken);
        assert_int_equal(sc.media, 4);
        assert_int_equal(sc.other, 2);
    }
    /* An oversized message is passed over, and what follows still counts. */
    g_autofree guint8 *big = g_malloc0(EGRESS_MAX_PACKET + 104 + sizeof(stream));
    big[0] = 0x40;
    put16(big + 2, EGRESS_MAX_PACKET + 100);
    gsize blen = 4 + EGRESS_MAX_PACKET + 100;
    memcpy(big + blen, stream + 0, len);
    EgressStreamScan sc = {0};
    egress_stream_scan(&sc, big, blen + len);
    assert_int_equal(sc.media, 4);
    assert_int_equal(sc.other, 3);
    /* Bytes that are neither STUN nor ChannelData end the count, not the stream. */
    EgressStreamScan bad = {0};
    egress_stream_scan(&bad, (const guint8 *)"\xff\xff\xff\xff junk", 9);
    assert_true(bad.broken);
    egress_stream_scan(&bad, stream, len);
    assert_int_equal(bad.media, 0);
}

/* ---- a real socket, the kernel's own facts ---- */

static int udp_socket(struct sockaddr_in *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t l = sizeof(*bound);
    assert_int_equal(getsockname(fd, (struct sockaddr *)bound, &l), 0);
    return fd;
}

static GPtrArray *addresses_of(const struct sockaddr_in *a)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(out, g_socket_address_new_from_native((gpointer)a, sizeof(*a)));
    return out;
}

static void send_some(int fd, const void *to, guint media, guint other)
{
    socklen_t tolen = ((const struct sockaddr *)to)->sa_family == AF_INET6
                          ? sizeof(struct sockaddr_in6)
                          : sizeof(struct sockaddr_in);
    guint8 buf[200], check[64];
    gsize n = rtp(buf, 160);
    gsize cn = stun(check, 0x0001, 0x0006, (const guint8 *)"ab:cd", 5);
    for (guint i = 0; i < media + other; i++) {
        gboolean m = i < media;
        assert_true(sendto(fd, m ? buf : check, m ? n : cn, 0, to, tolen) > 0);
        /* Paced as a stream is: a burst faster than the watcher reads would
         * overflow the error queue (counted as lost, not seen). */
        if (i % 10 == 9)
            g_usleep(1000);
    }
}

static void wait_for(EgressWatch *w, guint64 media, guint64 other, EgressCounts *n)
{
    for (int i = 0; i < 200; i++) {
        egress_watch_counts(w, n);
        if (n->media_seen >= media && n->other_seen >= other)
            return;
        g_usleep(10000);
    }
}

static void test_the_kernel_names_the_device_of_every_packet_sent(void **state)
{
    struct sockaddr_in a, b;
    int fa = udp_socket(&a), fb = udp_socket(&b);
    int lo = (int)if_nametoindex("lo");
    assert_true(lo > 0);
    g_autoptr(GPtrArray) addrs = addresses_of(&a);
    g_autoptr(GError) error = NULL;

    /* The self-test the relay loop asks before running its paths at once. */
    assert_true(egress_supported());

    /* lo standing in for the tunnel: every packet is the tunnel's. */
    EgressWatch *w = egress_watch_new(addrs, &lo, 1, &error);
    assert_non_null(w);
    assert_int_equal(egress_watch_sockets(w), 1);
    send_some(fa, &b, 300, 7);
    EgressCounts n;
    wait_for(w, 300, 7, &n);
    assert_int_equal(n.media_seen, 300);
    assert_int_equal(n.media_tunnel, 300);
    assert_int_equal(n.other_seen, 7);
    assert_int_equal(n.other_tunnel, 7);
    assert_int_equal(n.lost, 0);
    egress_watch_free(w);

    /* The options are as they were, and nothing is left queued for the owner. */
    int ts = -1;
    socklen_t l = sizeof(ts);
    assert_int_equal(getsockopt(fa, SOL_SOCKET, SO_TIMESTAMPING, &ts, &l), 0);
    assert_int_equal(ts, 0);
    send_some(fa, &b, 5, 0);
    guint8 buf[64];
    assert_true(recv(fa, buf, sizeof(buf), MSG_ERRQUEUE | MSG_DONTWAIT) < 0);
    assert_int_equal(errno, EAGAIN);

    /* Another device as the tunnel: the same packets are all off it. */
    int other = lo + 1000;
    w = egress_watch_new(addrs, &other, 1, &error);
    assert_non_null(w);
    send_some(fa, &b, 40, 0);
    wait_for(w, 40, 0, &n);
    assert_int_equal(n.media_seen, 40);
    assert_int_equal(n.media_tunnel, 0);
    egress_watch_free(w);
    close(fa);
    close(fb);
}

/* libnice binds an IPv6 host candidate's socket to its address as it does an
 * IPv4 one's: the watch finds it by that address, and the kernel names the
 * device of its packets (IPV6_RECVPKTINFO beside the timestamp) as well. */
static void test_ipv6_sockets_are_found_and_their_packets_named(void **state)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT}, b = a;
    int fa = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int fb = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fa < 0 || fb < 0 || bind(fa, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        bind(fb, (struct sockaddr *)&b, sizeof(b)) != 0) {
        print_message("no IPv6 loopback on this host: %s\n", g_strerror(errno));
        skip();
    }
    socklen_t l = sizeof(a);
    assert_int_equal(getsockname(fa, (struct sockaddr *)&a, &l), 0);
    l = sizeof(b);
    assert_int_equal(getsockname(fb, (struct sockaddr *)&b, &l), 0);
    g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_object_unref);
    g_ptr_array_add(addrs, g_socket_address_new_from_native(&a, sizeof(a)));
    int lo = (int)if_nametoindex("lo");
    g_autoptr(GError) error = NULL;
    EgressWatch *w = egress_watch_new(addrs, &lo, 1, &error);
    assert_non_null(w);
    assert_int_equal(egress_watch_sockets(w), 1);
    send_some(fa, &b, 120, 4);
    EgressCounts n;
    wait_for(w, 120, 4, &n);
    assert_int_equal(n.media_seen, 120);
    assert_int_equal(n.media_tunnel, 120);
    assert_int_equal(n.other_seen, 4);
    assert_int_equal(n.lost, 0);
    egress_watch_free(w);
    /* Its IPV6_RECVPKTINFO is back off: nothing of the watch is left on it. */
    int pki = -1;
    l = sizeof(pki);
    assert_int_equal(getsockopt(fa, IPPROTO_IPV6, IPV6_RECVPKTINFO, &pki, &l), 0);
    assert_int_equal(pki, 0);
    close(fa);
    close(fb);
}

static void test_an_address_with_no_socket_is_watched_as_nothing(void **state)
{
    struct sockaddr_in a;
    int fd = udp_socket(&a);
    close(fd); /* nothing is bound there any more */
    g_autoptr(GPtrArray) addrs = addresses_of(&a);
    g_autoptr(GError) error = NULL;
    int lo = 1;
    EgressWatch *w = egress_watch_new(addrs, &lo, 1, &error);
    assert_non_null(w);
    assert_int_equal(egress_watch_sockets(w), 0);
    EgressCounts n;
    egress_watch_counts(w, &n);
    assert_int_equal(n.media_seen + n.other_seen, 0);
    egress_watch_free(w);
    egress_watch_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_is_told_from_ice_and_turn),
        cmocka_unit_test(test_what_is_not_a_udp_datagram_is_not_counted_as_media),
        cmocka_unit_test(test_media_in_a_turn_over_tcp_stream_is_counted_in_any_pieces),
        cmocka_unit_test(test_the_kernel_names_the_device_of_every_packet_sent),
        cmocka_unit_test(test_ipv6_sockets_are_found_and_their_packets_named),
        cmocka_unit_test(test_an_address_with_no_socket_is_watched_as_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
