/* Two real libnice agents on loopback: the session gets to READY, SRTP flows both
 * ways and is measured; replayed and tampered packets are counted, not measured. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <srtp2/srtp.h>
#include <string.h>

#include "loop.h"
#include "loopback-pair.h"
#include "stream.h"

typedef struct {
    GMainContext *ctx;
    LoopbackSide la, lb;
    Session *a, *b; /* la's and lb's */
    guint8 ka[STREAM_KEY_LEN], kb[STREAM_KEY_LEN];
} Pair;

static int setup(void **state)
{
    Pair *p = g_new0(Pair, 1);
    p->ctx = g_main_context_new();
    g_autoptr(GError) error = NULL;
    assert_true(loopback_side_open(&p->la, p->ctx, "a", TRUE, &error));
    assert_true(loopback_side_open(&p->lb, p->ctx, "b", FALSE, &error));
    p->a = p->la.s;
    p->b = p->lb.s;
    Session *both[] = {p->a, p->b};
    session_wait_all(p->ctx, both, 2, SESSION_STATE_GATHERED, 5000);
    assert_true(loopback_sides_connect(&p->la, &p->lb, &error));
    session_wait_all(p->ctx, both, 2, SESSION_STATE_READY, 10000);
    assert_int_equal(session_state(p->a), SESSION_STATE_READY);
    assert_int_equal(session_state(p->b), SESSION_STATE_READY);
    assert_true(stream_random_key(p->ka));
    assert_true(stream_random_key(p->kb));
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    Pair *p = *state;
    loopback_side_clear(&p->la);
    loopback_side_clear(&p->lb);
    g_main_context_unref(p->ctx);
    g_free(p);
    return 0;
}

static gboolean both_done(gpointer data)
{
    StreamEnd **e = data;
    return stream_end_done(e[0]) && stream_end_done(e[1]);
}

static gboolean all_arrived(gpointer data)
{
    StreamEnd **e = data;
    return stream_end_received(e[0]) == stream_end_sent(e[1]) &&
           stream_end_received(e[1]) == stream_end_sent(e[0]);
}

static gboolean all_arrived_one_way(gpointer data)
{
    StreamEnd **e = data; /* sender, receiver */
    return stream_end_received(e[1]) == stream_end_sent(e[0]);
}

static void test_srtp_stream_flows_both_ways_without_loss(void **state)
{
    Pair *p = *state;
    StreamShape shape = {.ptime_ms = 20, .payload_bytes = 160, .duration_ms = 1000};
    g_autoptr(GError) error = NULL;
    g_autoptr(StreamEnd) ea = stream_end_new(p->a, p->ka, p->kb, &shape, &error);
    g_autoptr(StreamEnd) eb = stream_end_new(p->b, p->kb, p->ka, &shape, &error);
    stream_end_start(ea);
    stream_end_start(eb);
    StreamEnd *ends[] = {ea, eb};
    assert_true(loop_run_until(p->ctx, both_done, ends, shape.duration_ms + 1000));
    stream_end_join(ea);
    stream_end_join(eb);
    assert_true(loop_run_until(p->ctx, all_arrived, ends, 1000));
    assert_int_equal(stream_end_sent(ea), 50);
    MetricsSummary s;
    metrics_stream_summarize(stream_end_metrics(eb), stream_end_sent(ea), 20, NULL, &s);
    assert_int_equal(s.packets_received, 50);
    assert_int_equal(s.duplicates, 0);
    metrics_stream_summarize(stream_end_metrics(ea), stream_end_sent(eb), 20, NULL, &s);
    assert_int_equal(s.packets_received, 50);
    assert_true(s.rtt_samples > 40);
    assert_true(s.rtt_median_ms >= 0 && s.rtt_median_ms < 50);
    assert_int_equal(stream_end_auth_failures(ea), 0);
}

/* An SRTP sender with the key b expects, as a's stream would have. */
static srtp_t a_sender(Pair *p)
{
    srtp_t tx;
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.ssrc.type = ssrc_any_outbound;
    policy.key = p->ka;
    assert_int_equal(srtp_create(&tx, &policy), srtp_err_status_ok);
    return tx;
}

static gboolean received_one(gpointer e)
{
    return stream_end_received(e) == 1;
}

static gboolean two_refused(gpointer e)
{
    return stream_end_replays(e) + stream_end_auth_failures(e) == 2;
}

static void test_replayed_and_tampered_packets_are_counted_not_measured(void **state)
{
    Pair *p = *state;
    StreamShape shape = {.ptime_ms = 20, .payload_bytes = 160, .duration_ms = 40};
    g_autoptr(GError) error = NULL;
    g_autoptr(StreamEnd) eb = stream_end_new(p->b, p->kb, p->ka, &shape, &error);

    /* Protect one packet with the key b expects, as a's stream would. */
    srtp_t tx = a_sender(p);
    guint8 pkt[12 + 160 + SRTP_MAX_TRAILER_LEN] = {0x80, 0, 0, 7};
    guint8 next[sizeof(pkt)] = {0x80, 0, 0, 8};
    guint32 magic = GUINT32_TO_BE(STREAM_MAGIC);
    guint64 send_ns = GUINT64_TO_BE(1000);
    memcpy(pkt + 12, &magic, 4);
    memcpy(pkt + 16, &send_ns, 8);
    memcpy(next + 12, pkt + 12, 12);
    int n = 12 + 160, m = 12 + 160;
    assert_int_equal(srtp_protect(tx, pkt, &n), srtp_err_status_ok);
    assert_int_equal(srtp_protect(tx, next, &m), srtp_err_status_ok);
    srtp_dealloc(tx);

    next[20] ^= 0x01; /* a bit flipped on the way: authentication must fail */
    assert_true(session_send(p->a, pkt, (gsize)n));
    assert_true(loop_run_until(p->ctx, received_one, eb, 1000));
    assert_true(session_send(p->a, pkt, (gsize)n)); /* replay */
    assert_true(session_send(p->a, next, (gsize)m));
    assert_true(loop_run_until(p->ctx, two_refused, eb, 1000));

    assert_int_equal(metrics_stream_received(stream_end_metrics(eb)), 1);
    assert_int_equal(stream_end_replays(eb), 1);
    assert_int_equal(stream_end_auth_failures(eb), 1);
}

static gboolean received_13(gpointer e)
{
    return stream_end_received(e) == 13;
}

/* One of our packets, index i of a stream whose first sequence number is
 * seq0, protected with the key b expects. */
static void send_ours(Pair *p, srtp_t tx, guint16 seq0, guint i)
{
    guint8 pkt[12 + 160 + SRTP_MAX_TRAILER_LEN] = {0x80, 0};
    guint16 seq = GUINT16_TO_BE((guint16)(seq0 + i));
    guint32 ts = GUINT32_TO_BE(i * 20 * 8), magic = GUINT32_TO_BE(STREAM_MAGIC);
    guint64 send_ns = GUINT64_TO_BE(1000 + (guint64)i * 20000000);
    memcpy(pkt + 2, &seq, 2);
    memcpy(pkt + 4, &ts, 4);
    memcpy(pkt + 12, &magic, 4);
    memcpy(pkt + 16, &send_ns, 8);
    int n = 12 + 160;
    assert_int_equal(srtp_protect(tx, pkt, &n), srtp_err_status_ok);
    assert_true(session_send(p->a, pkt, (gsize)n));
}

/* The first 5 of 20 packets lost, then 2 more: a receiver told the peer's
 * timestamps are on its grid places the first packet it gets (index 5, from
 * its RTP timestamp), so the losses before it count in the burst ratio where
 * they were. Not told, it counts from the first packet that arrived, and the
 * ratio is 1 / (2/13 + 1/6). */
static void test_losses_before_the_first_packet_are_placed(void **state)
{
    Pair *p = *state;
    StreamShape shape = {.ptime_ms = 20, .payload_bytes = 160, .duration_ms = 400};
    for (int place = 0; place <= 1; place++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(StreamEnd) eb = stream_end_new(p->b, p->kb, p->ka, &shape, &error);
        if (place)
            stream_end_place_first(eb);
        srtp_t tx = a_sender(p);
        guint16 seq0 = 65530; /* the wrap falls in the stream */
        for (guint i = 5; i < 20; i++) {
            if (i != 10 && i != 11)
                send_ours(p, tx, seq0, i);
            if (i == 5)
                assert_true(loop_run_until(p->ctx, received_one, eb, 1000));
        }
        srtp_dealloc(tx);
        assert_true(loop_run_until(p->ctx, received_13, eb, 1000));
        MetricsSummary s;
        metrics_stream_summarize(stream_end_metrics(eb), 20, 20, NULL, &s);
        assert_int_equal(s.packets_received, 13);
        assert_int_equal(s.reordered, 0);
        /* Placed: received before the last 12 (p = 1/12), lost 7 (q = 2/7). */
        assert_float_equal(s.burst_r, place ? 1.0 / (1.0 / 12 + 2.0 / 7) : 1.0 / (2.0 / 13 + 1.0 / 6),
                           1e-9);
        assert_float_equal(s.burst_loss_200ms_max, 0.5, 1e-9);
    }
}

static gboolean warmed(gpointer e)
{
    return stream_end_warmups_heard(e) == 2;
}

/* A warm-up is heard as one, not as a packet of the stream nor as foreign. */
static void test_warm_ups_are_heard_and_not_measured(void **state)
{
    Pair *p = *state;
    StreamShape shape = {.ptime_ms = 20, .payload_bytes = 160, .duration_ms = 200};
    g_autoptr(GError) error = NULL;
    g_autoptr(StreamEnd) ea = stream_end_new(p->a, p->ka, p->kb, &shape, &error);
    g_autoptr(StreamEnd) eb = stream_end_new(p->b, p->kb, p->ka, &shape, &error);
    assert_int_equal(stream_end_warmups_heard(eb), 0);
    assert_true(stream_end_warm(ea));
    assert_true(stream_end_warm(ea));
    assert_true(loop_run_until(p->ctx, warmed, eb, 1000));
    assert_int_equal(stream_end_received(eb), 0);
    assert_int_equal(stream_end_foreign(eb), 0);
    assert_int_equal(stream_end_warmups_heard(ea), 0);
    /* The stream that follows is measured from its first packet. */
    stream_end_start(ea);
    StreamEnd *ends[] = {ea, ea};
    assert_true(loop_run_until(p->ctx, both_done, ends, 2000));
    stream_end_join(ea);
    assert_true(loop_run_until(p->ctx, all_arrived_one_way, (StreamEnd *[]){ea, eb}, 1000));
    MetricsSummary s;
    metrics_stream_summarize(stream_end_metrics(eb), stream_end_sent(ea), 20, NULL, &s);
    assert_int_equal(s.packets_received, 10);
    assert_int_equal(stream_end_foreign(eb), 0);
}

static void test_the_only_pair_is_unbeatable_once_every_candidate_is_known(void **state)
{
    Pair *p = *state;
    assert_true(session_has_pair(p->a));
    assert_true(session_first_pair_time(p->a) > 0);
    assert_true(session_first_pair_time(p->a) <= session_ready_time(p->a));
    /* One host candidate a side: nothing can outrank their pair... */
    assert_true(session_pair_unbeatable(p->a, TRUE));
    assert_true(session_pair_unbeatable(p->b, TRUE));
    /* ...unless the peer may still send candidates. */
    assert_false(session_pair_unbeatable(p->a, FALSE));
}

static void test_packet_parser_rejects_what_is_not_ours(void **state)
{
    StreamPacket sp;
    guint8 short_pkt[20] = {0x80};
    assert_false(stream_packet_parse(short_pkt, sizeof(short_pkt), &sp));
    guint8 not_rtp[64] = {0x00};
    assert_false(stream_packet_parse(not_rtp, sizeof(not_rtp), &sp));
    guint8 wrong_magic[64] = {0x80};
    assert_false(stream_packet_parse(wrong_magic, sizeof(wrong_magic), &sp));
    guint8 csrc_overflow[44] = {0x8f}; /* 15 CSRCs claimed, not there */
    assert_false(stream_packet_parse(csrc_overflow, sizeof(csrc_overflow), &sp));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_srtp_stream_flows_both_ways_without_loss, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replayed_and_tampered_packets_are_counted_not_measured,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_the_only_pair_is_unbeatable_once_every_candidate_is_known, setup, teardown),
        cmocka_unit_test_setup_teardown(test_losses_before_the_first_packet_are_placed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_warm_ups_are_heard_and_not_measured, setup,
                                        teardown),
        cmocka_unit_test(test_packet_parser_rejects_what_is_not_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
