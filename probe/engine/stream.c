/* One pacer thread sends for every stream end of the process, each packet at
 * its absolute time (start + i * ptime), so lateness does not accumulate; it
 * sends with nice_agent_send, which libnice makes thread-safe. The receiver runs
 * on the session's main context. The echo
 * (last packet received and when) is the one state both share, under a mutex.
 * Packets that fail SRTP authentication or the replay check are counted and
 * dropped, never measured. */
#include "stream.h"

#include <openssl/rand.h>
#include <srtp2/srtp.h>
#include <string.h>

#include "timer.h"

#define RTP_HEADER_LEN 12
#define PACKET_CAP     (RTP_HEADER_LEN + STREAM_MAX_PAYLOAD + SRTP_MAX_TRAILER_LEN)

struct StreamEnd {
    Session *session;
    StreamShape shape;
    srtp_t out; /* used by the sender thread only */
    srtp_t in;  /* used by the main context only */
    guint32 ssrc;
    gboolean started;
    GSequenceIter *queued;   /* its place in the pacer's queue, NULL if none */
    guint64 count, next;     /* packets to send, the next one's index */
    gint64 start_ns, due_ns; /* the first packet's time, the next one's */
    guint16 seq0;
    gboolean place_first;  /* the peer's timestamps are on our grid */
    gboolean origin_noted; /* the receiver has placed the peer's first packet */
    guint64 sent;
    GArray *lateness_us; /* float: how late each packet left, the sender's own */
    gint done;           /* the sender has sent its last packet */

    GMutex echo_lock;
    gint64 echo_send_ns; /* peer's send time of the last packet received */
    gint64 echo_arrival_ns;

    MetricsStream *metrics;
    guint64 auth_failures, replays, foreign, warmups;
};

static gint64 now_ns(void)
{
    return timer_now_ns();
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
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_SRTP, "SRTP session: libsrtp2 error %d", st);
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
    out->ts = ((guint32)buf[4] << 24) | ((guint32)buf[5] << 16) | ((guint32)buf[6] << 8) | buf[7];
    out->send_ns = (gint64)GUINT64_FROM_BE(v[0]);
    out->echo_send_ns = (gint64)GUINT64_FROM_BE(v[1]);
    out->echo_hold_ns = (gint64)GUINT64_FROM_BE(v[2]);
    return out->send_ns > 0 && out->echo_send_ns >= 0 && out->echo_hold_ns >= 0;
}

/* The sender's first sequence number, from the first packet that arrives: its
 * RTP timestamp counts the packets before it (8 kHz from 0, ptime apart), when
 * the peer's ptime is known to be ours (stream_end_place_first). A timestamp
 * off that grid leaves the origin at the first packet seen. */
static void note_origin(StreamEnd *e, const StreamPacket *p)
{
    if (!e->place_first || metrics_stream_received(e->metrics) > 0 || e->origin_noted)
        return;
    e->origin_noted = TRUE;
    guint32 step = e->shape.ptime_ms * 8;
    if (p->ts % step != 0 || p->ts / step >= STREAM_ORIGIN_MAX_INDEX)
        return;
    metrics_stream_set_origin(e->metrics, (guint16)(p->seq - p->ts / step));
}

static void on_packet(const guint8 *buf, gsize len, gpointer data)
{
    StreamEnd *e = data;
    gint64 arrived = now_ns();
    guint8 pkt[PACKET_CAP];
    if (len == sizeof(STREAM_WARMUP) - 1 && memcmp(buf, STREAM_WARMUP, len) == 0) {
        e->warmups++;
        return;
    }
    /* RFC 7983's demultiplexing: only 128-191 is RTP. libnice's MS-ICE2 mode
     * hands its legacy duplicate checks up as data (docs/libnice.md §35). */
    if (len < RTP_HEADER_LEN || len > sizeof(pkt) || buf[0] < 128 || buf[0] > 191) {
        e->foreign++;
        return;
    }
    memcpy(pkt, buf, len);
    int n = (int)len;
    srtp_err_status_t st = srtp_unprotect(e->in, pkt, &n);
    if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old) {
        /* A sequence number libsrtp has already accepted: the network's copy
         * of a packet (libsrtp checks replay before authentication, so only
         * the count, not the packet, is trusted). Older than the replay
         * window: a packet that came too late, already counted lost. */
        if (st == srtp_err_status_replay_fail)
            metrics_stream_add_duplicate(e->metrics);
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
    note_origin(e, &p);
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
        g_set_error(error, SESSION_ERROR, SESSION_ERROR_SRTP, "libsrtp2 failed to initialise");
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
    e->lateness_us = g_array_new(FALSE, FALSE, sizeof(float));
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

/* ---- the pacer: one thread sends for every stream end of the process ----
 * It sleeps to the earliest packet due (absolute time, so lateness does not
 * accumulate), and sends every packet due within PACER_BATCH_NS of it in the
 * same wake-up: 100 streams cost a few hundred wake-ups a second, not one
 * thread and 50 wake-ups a second each. */
#define PACER_BATCH_NS 1000000

typedef struct {
    GMutex lock;
    GCond wake;     /* work queued, or an earlier due time */
    GCond ended;    /* a stream end sent its last packet */
    GSequence *due; /* StreamEnd, sorted by due_ns (GLib's balanced tree) */
} Pacer;

static Pacer pacer;

static gint by_due(gconstpointer a, gconstpointer b, gpointer unused)
{
    gint64 x = ((const StreamEnd *)a)->due_ns, y = ((const StreamEnd *)b)->due_ns;
    return (x > y) - (x < y);
}

static void queue(StreamEnd *e)
{
    e->queued = g_sequence_insert_sorted(pacer.due, e, by_due, NULL);
}

static StreamEnd *first_due(void)
{
    GSequenceIter *it = g_sequence_get_begin_iter(pacer.due);
    return g_sequence_iter_is_end(it) ? NULL : g_sequence_get(it);
}

static void unqueue(StreamEnd *e)
{
    g_sequence_remove(e->queued);
    e->queued = NULL;
}

/* One packet of e, now (under the pacer's lock). */
static void send_next(StreamEnd *e, gint64 at)
{
    if (e->lateness_us->len < STREAM_MAX_LATENESS_SAMPLES) {
        float late = (float)(at - e->due_ns) / 1000.0f;
        g_array_append_val(e->lateness_us, late);
    }
    guint8 pkt[PACKET_CAP];
    build_packet(e, pkt, (guint16)(e->seq0 + e->next), (guint32)(e->next * e->shape.ptime_ms * 8),
                 at);
    int n = RTP_HEADER_LEN + (int)e->shape.payload_bytes;
    if (srtp_protect(e->out, pkt, &n) == srtp_err_status_ok) {
        session_send(e->session, pkt, (gsize)n);
        e->sent++;
    }
    e->next++;
    e->due_ns = e->start_ns + (gint64)e->next * e->shape.ptime_ms * 1000000;
}

static gpointer pacer_thread(gpointer unused)
{
    /* Wake-ups as precise as the system gives (timer.h). */
    timer_precise_thread();
    g_mutex_lock(&pacer.lock);
    for (;;) {
        StreamEnd *first = first_due();
        if (!first) {
            g_cond_wait(&pacer.wake, &pacer.lock);
            continue;
        }
        gint64 now = now_ns();
        if (first->due_ns > now) {
            /* The lock is let go while waiting: a new end queues itself and
             * wakes us (pacer.wake), as it is due at once. GLib's monotonic
             * clock is timer_now_ns's, in µs. */
            g_cond_wait_until(&pacer.wake, &pacer.lock, (first->due_ns + 999) / 1000);
            continue;
        }
        StreamEnd *e;
        while ((e = first_due()) && e->due_ns <= now + PACER_BATCH_NS) {
            unqueue(e);
            send_next(e, now_ns());
            if (e->next < e->count) {
                queue(e);
            } else {
                g_atomic_int_set(&e->done, 1);
                g_cond_broadcast(&pacer.ended);
                g_main_context_wakeup(session_context(e->session)); /* its loop looks again */
            }
        }
    }
    return NULL;
}

static gpointer pacer_init(gpointer unused)
{
    g_mutex_init(&pacer.lock);
    g_cond_init(&pacer.wake);
    g_cond_init(&pacer.ended);
    pacer.due = g_sequence_new(NULL);
    g_thread_unref(g_thread_new("stream-pacer", pacer_thread, NULL));
    return NULL;
}

void stream_end_place_first(StreamEnd *e)
{
    g_return_if_fail(e);
    e->place_first = TRUE;
}

gboolean stream_end_warm(StreamEnd *e)
{
    g_return_val_if_fail(e && !e->started, FALSE);
    return session_send(e->session, (const guint8 *)STREAM_WARMUP, sizeof(STREAM_WARMUP) - 1);
}

guint64 stream_end_warmups_heard(const StreamEnd *e)
{
    return e ? e->warmups : 0;
}

void stream_end_start(StreamEnd *e)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, pacer_init, NULL);
    g_return_if_fail(e && !e->started);
    e->started = TRUE;
    e->count = MAX(1, (guint64)e->shape.duration_ms / e->shape.ptime_ms);
    RAND_bytes((unsigned char *)&e->seq0, sizeof(e->seq0));
    g_mutex_lock(&pacer.lock);
    e->start_ns = e->due_ns = now_ns();
    queue(e);
    /* The pacer may wait for a later packet: this one is due now. */
    g_cond_signal(&pacer.wake);
    g_mutex_unlock(&pacer.lock);
}

void stream_end_stop(StreamEnd *e)
{
    if (!e->started)
        return;
    g_mutex_lock(&pacer.lock);
    if (e->queued)
        unqueue(e);
    g_atomic_int_set(&e->done, 1);
    g_cond_broadcast(&pacer.ended);
    g_mutex_unlock(&pacer.lock);
}

void stream_end_join(StreamEnd *e)
{
    if (!e->started)
        return;
    g_mutex_lock(&pacer.lock);
    while (!g_atomic_int_get(&e->done))
        g_cond_wait(&pacer.ended, &pacer.lock);
    g_mutex_unlock(&pacer.lock);
}

const GArray *stream_end_lateness_us(const StreamEnd *e)
{
    return e->lateness_us;
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
    if (e->started) {
        /* Stopped early (its path ended): the pacer forgets it. */
        g_mutex_lock(&pacer.lock);
        if (e->queued)
            unqueue(e);
        g_mutex_unlock(&pacer.lock);
    }
    if (e->session)
        session_set_receiver(e->session, NULL, NULL);
    if (e->out)
        srtp_dealloc(e->out);
    if (e->in)
        srtp_dealloc(e->in);
    metrics_stream_free(e->metrics);
    g_array_unref(e->lateness_us);
    g_mutex_clear(&e->echo_lock);
    g_free(e);
}
