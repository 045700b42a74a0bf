/* The sender is a thread that sleeps to absolute times (start + i * ptime), so
 * lateness does not accumulate; it sends with nice_agent_send, which libnice
 * makes thread-safe. The receiver runs on the session's main context. The echo
 * (last packet received and when) is the one state both share, under a mutex.
 * Packets that fail SRTP authentication or the replay check are counted and
 * dropped, never measured. */
#include "stream.h"

#include <openssl/rand.h>
#include <srtp2/srtp.h>
#include <string.h>
#include <time.h>

#define RTP_HEADER_LEN 12
#define PACKET_CAP     (RTP_HEADER_LEN + STREAM_MAX_PAYLOAD + SRTP_MAX_TRAILER_LEN)

struct StreamEnd {
    Session *session;
    StreamShape shape;
    srtp_t out; /* used by the sender thread only */
    srtp_t in;  /* used by the main context only */
    guint32 ssrc;
    GThread *sender;
    guint64 sent;
    gint done; /* the sender has sent its last packet */

    GMutex echo_lock;
    gint64 echo_send_ns; /* peer's send time of the last packet received */
    gint64 echo_arrival_ns;

    MetricsStream *metrics;
    guint64 auth_failures, replays, foreign;
};

static gint64 now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gpointer srtp_init_once(gpointer unused)
{
    return GINT_TO_POINTER(srtp_init() == srtp_err_status_ok);
}

gboolean stream_random_key(guint8 key[STREAM_KEY_LEN])
{
    return RAND_bytes(key, STREAM_KEY_LEN) == 1;
}

static gboolean make_srtp(srtp_t *out, const guint8 key[STREAM_KEY_LEN], gboolean outbound,
                          GError **error)
{
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = (unsigned char *)key;
    policy.window_size = 128;
    srtp_err_status_t st = srtp_create(out, &policy);
    if (st != srtp_err_status_ok) {
        g_set_error(error, SESSION_ERROR, 0, "SRTP session: libsrtp2 error %d", st);
        return FALSE;
    }
    return TRUE;
}

gboolean stream_packet_parse(const guint8 *buf, gsize len, StreamPacket *out)
{
    if (len < RTP_HEADER_LEN + STREAM_HEADER_LEN || (buf[0] & 0xc0) != 0x80)
        return FALSE;
    gsize off = RTP_HEADER_LEN + 4u * (buf[0] & 0x0f); /* skip CSRCs */
    if (len < off + STREAM_HEADER_LEN)
        return FALSE;
    const guint8 *p = buf + off;
    guint32 magic;
    guint64 v[3];
    memcpy(&magic, p, 4);
    memcpy(v, p + 4, sizeof(v));
    if (GUINT32_FROM_BE(magic) != STREAM_MAGIC)
        return FALSE;
    out->seq = (guint16)((buf[2] << 8) | buf[3]);
    out->send_ns = (gint64)GUINT64_FROM_BE(v[0]);
    out->echo_send_ns = (gint64)GUINT64_FROM_BE(v[1]);
    out->echo_hold_ns = (gint64)GUINT64_FROM_BE(v[2]);
    return out->send_ns > 0 && out->echo_send_ns >= 0 && out->echo_hold_ns >= 0;
}

static void on_packet(const guint8 *buf, gsize len, gpointer data)
{
    StreamEnd *e = data;
    gint64 arrived = now_ns();
    guint8 pkt[PACKET_CAP];
    if (len < RTP_HEADER_LEN || len > sizeof(pkt)) {
        e->foreign++;
        return;
    }
    memcpy(pkt, buf, len);
    int n = (int)len;
    srtp_err_status_t st = srtp_unprotect(e->in, pkt, &n);
    if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old) {
        e->replays++;
        return;
    }
    if (st != srtp_err_status_ok) {
        e->auth_failures++;
        return;
    }
    StreamPacket p;
    if (!stream_packet_parse(pkt, (gsize)n, &p)) {
        e->foreign++;
        return;
    }
    metrics_stream_add_packet(e->metrics, p.seq, p.send_ns, arrived);
    if (p.echo_send_ns > 0) {
        gint64 rtt = arrived - p.echo_send_ns - p.echo_hold_ns;
        metrics_stream_add_rtt(e->metrics, (double)rtt / 1e6);
    }
    g_mutex_lock(&e->echo_lock);
    e->echo_send_ns = p.send_ns;
    e->echo_arrival_ns = arrived;
    g_mutex_unlock(&e->echo_lock);
}

StreamEnd *stream_end_new(Session *session, const guint8 out_key[STREAM_KEY_LEN],
                          const guint8 in_key[STREAM_KEY_LEN], const StreamShape *shape,
                          GError **error)
{
    static GOnce once = G_ONCE_INIT;
    if (!GPOINTER_TO_INT(g_once(&once, srtp_init_once, NULL))) {
        g_set_error(error, SESSION_ERROR, 0, "libsrtp2 failed to initialise");
        return NULL;
    }
    g_return_val_if_fail(session && shape && shape->ptime_ms > 0, NULL);
    g_return_val_if_fail(shape->payload_bytes >= STREAM_HEADER_LEN &&
                             shape->payload_bytes <= STREAM_MAX_PAYLOAD,
                         NULL);
    g_autoptr(StreamEnd) e = g_new0(StreamEnd, 1);
    e->session = session;
    e->shape = *shape;
    g_mutex_init(&e->echo_lock);
    e->metrics = metrics_stream_new();
    RAND_bytes((unsigned char *)&e->ssrc, sizeof(e->ssrc));
    if (!make_srtp(&e->out, out_key, TRUE, error) || !make_srtp(&e->in, in_key, FALSE, error))
        return NULL;
    session_set_receiver(session, on_packet, e);
    return g_steal_pointer(&e);
}

static void build_packet(StreamEnd *e, guint8 *pkt, guint16 seq, guint32 ts, gint64 send_ns)
{
    pkt[0] = 0x80;
    pkt[1] = 0; /* PCMU */
    pkt[2] = (guint8)(seq >> 8);
    pkt[3] = (guint8)seq;
    guint32 be_ts = GUINT32_TO_BE(ts), be_ssrc = GUINT32_TO_BE(e->ssrc);
    memcpy(pkt + 4, &be_ts, 4);
    memcpy(pkt + 8, &be_ssrc, 4);
    g_mutex_lock(&e->echo_lock);
    gint64 echo = e->echo_send_ns;
    gint64 hold = echo ? send_ns - e->echo_arrival_ns : 0;
    g_mutex_unlock(&e->echo_lock);
    guint32 magic = GUINT32_TO_BE(STREAM_MAGIC);
    guint64 v[3] = {GUINT64_TO_BE((guint64)send_ns), GUINT64_TO_BE((guint64)echo),
                    GUINT64_TO_BE((guint64)MAX(hold, 0))};
    guint8 *p = pkt + RTP_HEADER_LEN;
    memset(p, 0, e->shape.payload_bytes);
    memcpy(p, &magic, 4);
    memcpy(p + 4, v, sizeof(v));
}

static gpointer sender_thread(gpointer data)
{
    StreamEnd *e = data;
    guint64 count = MAX(1, (guint64)e->shape.duration_ms / e->shape.ptime_ms);
    guint16 seq0;
    RAND_bytes((unsigned char *)&seq0, sizeof(seq0));
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    gint64 start_ns = (gint64)start.tv_sec * 1000000000 + start.tv_nsec;
    guint8 pkt[PACKET_CAP];
    for (guint64 i = 0; i < count; i++) {
        gint64 due = start_ns + (gint64)i * e->shape.ptime_ms * 1000000;
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
            ;
        build_packet(e, pkt, (guint16)(seq0 + i), (guint32)(i * e->shape.ptime_ms * 8), now_ns());
        int n = RTP_HEADER_LEN + (int)e->shape.payload_bytes;
        if (srtp_protect(e->out, pkt, &n) != srtp_err_status_ok)
            continue;
        session_send(e->session, pkt, (gsize)n);
        e->sent++;
    }
    g_atomic_int_set(&e->done, 1);
    g_main_context_wakeup(session_context(e->session)); /* the loop waiting for it looks again */
    return NULL;
}

void stream_end_start(StreamEnd *e)
{
    g_return_if_fail(e && !e->sender);
    e->sender = g_thread_new("stream-sender", sender_thread, e);
}

void stream_end_join(StreamEnd *e)
{
    if (e->sender) {
        g_thread_join(e->sender);
        e->sender = NULL;
    }
}

gboolean stream_end_done(const StreamEnd *e)
{
    return g_atomic_int_get(&e->done) != 0;
}

guint64 stream_end_received(const StreamEnd *e)
{
    return metrics_stream_received(e->metrics);
}

guint64 stream_end_sent(const StreamEnd *e)
{
    return e->sent;
}

guint64 stream_end_auth_failures(const StreamEnd *e)
{
    return e->auth_failures;
}

guint64 stream_end_replays(const StreamEnd *e)
{
    return e->replays;
}

guint64 stream_end_foreign(const StreamEnd *e)
{
    return e->foreign;
}

const MetricsStream *stream_end_metrics(const StreamEnd *e)
{
    return e->metrics;
}

void stream_end_free(StreamEnd *e)
{
    if (!e)
        return;
    stream_end_join(e);
    if (e->session)
        session_set_receiver(e->session, NULL, NULL);
    if (e->out)
        srtp_dealloc(e->out);
    if (e->in)
        srtp_dealloc(e->in);
    metrics_stream_free(e->metrics);
    g_mutex_clear(&e->echo_lock);
    g_free(e);
}
