/* QoS markings as they arrive (probe/engine/qos.c): the sample's counting, and
 * a real watch over a loopback socket that another thread reads, as libnice
 * reads its own, while marked and unmarked datagrams arrive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qos.h"

#define EF 46

/* An RTP header (version 2, payload type 0) with this sequence number. */
static gsize rtp(guint8 *out, guint16 seq)
{
    memset(out, 0, 12);
    out[0] = 0x80;
    out[2] = (guint8)(seq >> 8);
    out[3] = (guint8)seq;
    out[8] = 0x12; /* SSRC */
    return 12 + 20;
}

static void test_a_sample_counts_each_media_packet_once_with_its_dscp(void **state)
{
    QosCounts c = {0};
    guint8 last[12] = {0};
    guint8 p[64];
    gsize n = rtp(p, 1);
    assert_true(qos_count(&c, EF, p, n, EF << 2, last));
    assert_true(qos_count(&c, EF, p, n, EF << 2, last)); /* peeked again: still one */
    assert_int_equal(c.seen, 1);
    n = rtp(p, 2);
    assert_true(qos_count(&c, EF, p, n, 0, last)); /* re-marked to CS0 on the way */
    /* ChannelData (TURN) around RTP counts too, with the ECN bits ignored. */
    guint8 cd[64] = {0x40, 0x00, 0x00, 32};
    rtp(cd + 4, 3);
    assert_true(qos_count(&c, EF, cd, 4 + 32, (EF << 2) | 1, last));
    /* A STUN binding request is not media. */
    guint8 stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
    assert_false(qos_count(&c, EF, stun, sizeof(stun), EF << 2, last));
    assert_int_equal(c.seen, 3);
    assert_int_equal(c.marked, 2);
    assert_true(c.values == ((G_GUINT64_CONSTANT(1) << EF) | 1));
}

typedef struct {
    int fd;
    volatile gint stop;
    guint got;
} Reader;

/* libnice's part: read every datagram a moment after it arrives. */
static gpointer read_all(gpointer data)
{
    Reader *r = data;
    struct pollfd pfd = {r->fd, POLLIN, 0};
    while (!g_atomic_int_get(&r->stop)) {
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        g_usleep(300);
        guint8 buf[256];
        if (recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
            r->got++;
    }
    return NULL;
}

static void test_a_watch_sees_the_marking_of_datagrams_another_reader_takes(void **state)
{
    g_autoptr(GSocket) rx =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    assert_true(g_socket_bind(rx, any, FALSE, NULL));
    g_autoptr(GSocketAddress) bound = g_socket_get_local_address(rx, NULL);
    g_autoptr(GPtrArray) addrs = g_ptr_array_new();
    g_ptr_array_add(addrs, bound);
    g_autoptr(GError) e = NULL;
    g_autoptr(QosWatch) w = qos_watch_new(addrs, EF, &e);
    assert_non_null(w);
    assert_int_equal(qos_watch_sockets(w), 1);

    Reader r = {g_socket_get_fd(rx), 0, 0};
    GThread *t = g_thread_new("reader", read_all, &r);
    int tx = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to;
    assert_true(g_socket_address_to_native(bound, &to, sizeof(to), NULL));
    /* At a stream's pace (one every 20 ms), every fifth re-marked. */
    for (guint i = 0; i < 30; i++) {
        int tos = i % 5 == 4 ? 0 : EF << 2;
        setsockopt(tx, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
        guint8 p[64];
        gsize n = rtp(p, (guint16)(100 + i));
        assert_int_equal(sendto(tx, p, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
        g_usleep(20000);
    }
    g_usleep(20000);
    g_atomic_int_set(&r.stop, 1);
    g_thread_join(t);
    close(tx);
    QosCounts c;
    qos_watch_counts(w, &c);
    assert_int_equal(r.got, 30); /* the reader took every one: peeking takes nothing */
    /* A sample: most of them (each one while the sample is small), the
     * re-marked ones among them. */
    assert_true(c.seen >= 10 && c.seen <= 30);
    assert_true(c.marked < c.seen && c.marked * 5 >= c.seen * 3);
    assert_true(c.values & (G_GUINT64_CONSTANT(1) << EF));
    assert_true(c.values & 1);
    /* The socket's option is back as it was once the watch is gone. */
    qos_watch_free(g_steal_pointer(&w));
    int on = -1;
    socklen_t l = sizeof(on);
    assert_int_equal(getsockopt(r.fd, IPPROTO_IP, IP_RECVTOS, &on, &l), 0);
    assert_int_equal(on, 0);
}

static void test_a_watch_of_no_socket_sees_nothing(void **state)
{
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) nobody = g_inet_socket_address_new(lo, 9); /* not ours */
    g_autoptr(GPtrArray) addrs = g_ptr_array_new();
    g_ptr_array_add(addrs, nobody);
    g_autoptr(QosWatch) w = qos_watch_new(addrs, EF, NULL);
    assert_non_null(w);
    assert_int_equal(qos_watch_sockets(w), 0);
    QosCounts c;
    qos_watch_counts(w, &c);
    assert_int_equal(c.seen, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_sample_counts_each_media_packet_once_with_its_dscp),
        cmocka_unit_test(test_a_watch_sees_the_marking_of_datagrams_another_reader_takes),
        cmocka_unit_test(test_a_watch_of_no_socket_sees_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
