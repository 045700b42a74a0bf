/* Receiver-side stream statistics. Sequence numbers are 16-bit and wrap; they are
 * extended to 64 bits as RFC 3550 appendix A.1 does (a jump of more than half the
 * space backwards is a wrap forwards), then a bitmap over the extended numbers
 * tells new from duplicate packets. */
#include "iceprobe/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One packet as it arrived: its index from the sender's first packet, or from
 * the first packet seen when that is not known (negative: older than it), and
 * its transit time (arrival - send, on two clocks). */
typedef struct {
    gint64 index;
    double transit_ns;
    double jitter_ns; /* the RFC 3550 estimate after this packet */
} Arrival;

struct MetricsStream {
    gboolean have_origin;
    guint16 origin;      /* the sender's first sequence number, if known */
    gboolean started;
    guint64 base_ext;    /* extended seq of the first packet */
    guint64 highest_ext; /* highest extended seq seen */
    guint64 received;
    guint64 reordered;
    guint64 duplicates;
    GByteArray *seen; /* bit per extended seq - base_ext */

    gboolean have_transit;
    double last_transit_ns;
    double jitter_ns;

    GArray *packets; /* Arrival, in arrival order, up to METRICS_MAX_WINDOW_PACKETS */
    double min_transit_ns;

    GArray *rtt; /* double ms, up to METRICS_MAX_RTT_SAMPLES */
    guint64 rtt_count;
    double rtt_min, rtt_max;
};

MetricsStream *metrics_stream_new(void)
{
    MetricsStream *m = g_new0(MetricsStream, 1);
    m->seen = g_byte_array_new();
    m->rtt = g_array_new(FALSE, FALSE, sizeof(double));
    m->packets = g_array_new(FALSE, FALSE, sizeof(Arrival));
    return m;
}

void metrics_stream_free(MetricsStream *m)
{
    if (!m)
        return;
    g_byte_array_unref(m->seen);
    g_array_unref(m->rtt);
    g_array_unref(m->packets);
    g_free(m);
}

static guint64 extend_seq(const MetricsStream *m, guint16 seq)
{
    /* Candidate in the same 65536-cycle as the highest, or one either side. */
    guint64 cycle = m->highest_ext & ~(guint64)0xffff;
    guint64 best = cycle | seq;
    gint64 delta = (gint64)best - (gint64)m->highest_ext;
    if (delta > 32768 && cycle >= 65536)
        best -= 65536;
    else if (delta < -32768)
        best += 65536;
    return best;
}

/* Returns TRUE the first time an index is marked. Beyond the cap every packet
 * counts as new. */
static gboolean mark_seen(MetricsStream *m, guint64 index)
{
    if (index >= METRICS_MAX_TRACKED_PACKETS)
        return TRUE;
    guint byte = (guint)(index / 8);
    if (byte >= m->seen->len) {
        guint old = m->seen->len;
        guint want = MAX(byte + 1, old * 2);
        want = MIN(want, METRICS_MAX_TRACKED_PACKETS / 8);
        g_byte_array_set_size(m->seen, want);
        memset(m->seen->data + old, 0, want - old);
    }
    guint8 bit = (guint8)(1u << (index % 8));
    if (m->seen->data[byte] & bit)
        return FALSE;
    m->seen->data[byte] |= bit;
    return TRUE;
}

void metrics_stream_add_packet(MetricsStream *m, guint16 seq, gint64 sent_ns, gint64 arrived_ns)
{
    g_return_if_fail(m);

    guint64 ext;
    if (!m->started) {
        /* Start one cycle up so that a packet from just before the first one
         * (reordered across a wrap) still has a place below the base. The
         * base is the sender's first packet when it is known. */
        m->base_ext = 65536 + (m->have_origin ? m->origin : seq);
        ext = m->base_ext + (guint16)(seq - (m->have_origin ? m->origin : seq));
        m->started = TRUE;
        m->highest_ext = ext;
    } else {
        ext = extend_seq(m, seq);
    }
    if (ext < m->base_ext) {
        /* Older than the first packet we saw: it was reordered; shift nothing,
         * it cannot be tracked for duplicates. */
        m->received++;
        m->reordered++;
    } else {
        if (!mark_seen(m, ext - m->base_ext)) {
            m->duplicates++;
            return;
        }
        m->received++;
        if (ext < m->highest_ext)
            m->reordered++;
        else
            m->highest_ext = ext;
    }

    /* RFC 3550 6.4.1: J += (|D| - J) / 16, D the change in transit time. */
    double transit = (double)(arrived_ns - sent_ns);
    if (!m->have_transit || transit < m->min_transit_ns)
        m->min_transit_ns = transit;
    if (m->have_transit) {
        double d = fabs(transit - m->last_transit_ns);
        m->jitter_ns += (d - m->jitter_ns) / 16.0;
    }
    if (m->packets->len < METRICS_MAX_WINDOW_PACKETS) {
        Arrival a = {(gint64)ext - (gint64)m->base_ext, transit, m->jitter_ns};
        g_array_append_val(m->packets, a);
    }
    m->last_transit_ns = transit;
    m->have_transit = TRUE;
}

void metrics_stream_set_origin(MetricsStream *m, guint16 first_seq)
{
    g_return_if_fail(m && !m->started);
    m->have_origin = TRUE;
    m->origin = first_seq;
}

void metrics_stream_add_rtt(MetricsStream *m, double rtt_ms)
{
    g_return_if_fail(m);
    if (!(rtt_ms >= 0) || !isfinite(rtt_ms))
        return;
    if (m->rtt_count == 0 || rtt_ms < m->rtt_min)
        m->rtt_min = rtt_ms;
    if (m->rtt_count == 0 || rtt_ms > m->rtt_max)
        m->rtt_max = rtt_ms;
    m->rtt_count++;
    if (m->rtt->len < METRICS_MAX_RTT_SAMPLES)
        g_array_append_val(m->rtt, rtt_ms);
}

void metrics_stream_add_duplicate(MetricsStream *m)
{
    m->duplicates++;
}

guint64 metrics_stream_received(const MetricsStream *m)
{
    return m ? m->received : 0;
}

double metrics_stream_rtt_max(const MetricsStream *m)
{
    return m->rtt_count ? m->rtt_max : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double metrics_percentile(const double *sorted, gsize n, double p)
{
    g_return_val_if_fail(sorted && n > 0, 0);
    if (n == 1)
        return sorted[0];
    double rank = CLAMP(p, 0.0, 100.0) / 100.0 * (double)(n - 1);
    gsize lo = (gsize)floor(rank);
    gsize hi = MIN(lo + 1, n - 1);
    return sorted[lo] + (rank - (double)lo) * (sorted[hi] - sorted[lo]);
}

void metrics_rate(MetricsSummary *out, const EmodelCodec *codec, double ptime_ms)
{
    if (!codec)
        codec = emodel_codec_default();
    if (out->burst_r < 1)
        out->burst_r = 1;
    out->codec = codec;
    out->mos_delay_ms = out->rtt_median_ms / 2.0 + 2.0 * out->jitter_ms + MAX(ptime_ms, 0);
    out->r_factor = emodel_r(codec, out->mos_delay_ms, out->loss_ratio * 100.0, out->burst_r, NULL);
    out->mos = emodel_mos(codec, out->r_factor);
}

/* The worst share of packets missing in any run of w consecutive indexes of
 * [0, n) (all of it when n <= w); got[i] says whether index i arrived. */
static double worst_loss(const guint8 *got, gsize n, gsize w)
{
    if (n == 0)
        return 0;
    w = MIN(MAX(w, 1), n);
    gsize missing = 0;
    for (gsize i = 0; i < w; i++)
        missing += !got[i];
    gsize worst = missing;
    for (gsize i = w; i < n; i++) {
        missing += !got[i];
        missing -= !got[i - w];
        worst = MAX(worst, missing);
    }
    return (double)worst / (double)w;
}

static void summarize_windows(const MetricsStream *m, guint64 packets_sent, double ptime_ms,
                              MetricsSummary *out)
{
    const GArray *p = m->packets;
    if (!p->len || ptime_ms <= 0)
        return;
    /* The index space: from the sender's first packet (or the first seen, when
     * the origin is not known) to the last one sent (losses at the end count). */
    gint64 last = 0;
    for (guint i = 0; i < p->len; i++)
        last = MAX(last, g_array_index(p, Arrival, i).index);
    gsize n = (gsize)MAX(last + 1, (gint64)MIN(packets_sent, METRICS_MAX_WINDOW_PACKETS));
    n = MIN(n, (gsize)METRICS_MAX_WINDOW_PACKETS);
    /* Which indexes arrived, and running sums (by index) of the RFC 3550
     * estimate after each: a window's interarrival jitter is the mean of the
     * estimate over its packets. */
    g_autofree guint8 *got = g_malloc0(n);
    g_autofree double *jsum = g_new0(double, n + 1);
    g_autofree guint *jcount = g_new0(guint, n + 1);
    for (guint i = 0; i < p->len; i++) {
        const Arrival *a = &g_array_index(p, Arrival, i);
        if (a->index >= 0 && (gsize)a->index < n) {
            got[a->index] = 1;
            jsum[a->index + 1] = a->jitter_ns;
            jcount[a->index + 1] = 1;
        }
    }
    for (gsize i = 1; i <= n; i++) {
        jsum[i] += jsum[i - 1];
        jcount[i] += jcount[i - 1];
    }
    gsize w15 = (gsize)MAX(1, (gint64)(15000.0 / ptime_ms)),
          w200 = (gsize)MAX(1, (gint64)(200.0 / ptime_ms));
    out->have_windows = TRUE;
    out->loss_15s_max = worst_loss(got, n, w15);
    out->burst_loss_200ms_max = worst_loss(got, n, w200);
    /* 15 s windows starting every second. */
    gsize step = (gsize)MAX(1, (gint64)(1000.0 / ptime_ms));
    double worst_j = 0;
    for (gsize lo = 0;; lo += step) {
        gsize hi = MIN(lo + w15, n);
        guint k = jcount[hi] - jcount[lo];
        if (k)
            worst_j = MAX(worst_j, (jsum[hi] - jsum[lo]) / k);
        if (lo + w15 >= n)
            break;
    }
    out->jitter_15s_max_ms = worst_j / 1e6;
    out->reorder_ratio = m->received ? (double)m->reordered / (double)m->received : 0;
    out->burst_r = emodel_burst_ratio(got, n);
    g_autofree double *owd = g_new(double, p->len);
    for (guint i = 0; i < p->len; i++)
        owd[i] = (g_array_index(p, Arrival, i).transit_ns - m->min_transit_ns) / 1e6;
    qsort(owd, p->len, sizeof(double), cmp_double);
    out->owdv_p50_ms = metrics_percentile(owd, p->len, 50);
    out->owdv_p95_ms = metrics_percentile(owd, p->len, 95);
    out->owdv_max_ms = owd[p->len - 1];
}

void metrics_stream_summarize(const MetricsStream *m, guint64 packets_sent, double ptime_ms,
                              const EmodelCodec *codec, MetricsSummary *out)
{
    g_return_if_fail(m && out);
    memset(out, 0, sizeof(*out));
    out->packets_sent = packets_sent;
    out->packets_received = m->received;
    out->loss_ratio =
        packets_sent ? (double)(packets_sent - MIN(packets_sent, m->received)) / packets_sent : 0;
    out->jitter_ms = m->jitter_ns / 1e6;
    out->reordered = m->reordered;
    out->duplicates = m->duplicates;
    out->rtt_samples = m->rtt_count;
    if (m->rtt->len > 0) {
        g_autofree double *sorted = g_memdup2(m->rtt->data, m->rtt->len * sizeof(double));
        qsort(sorted, m->rtt->len, sizeof(double), cmp_double);
        out->rtt_min_ms = m->rtt_min;
        out->rtt_max_ms = m->rtt_max;
        out->rtt_median_ms = metrics_percentile(sorted, m->rtt->len, 50);
        out->rtt_p95_ms = metrics_percentile(sorted, m->rtt->len, 95);
    }
    out->burst_r = 1;
    summarize_windows(m, packets_sent, ptime_ms, out);
    metrics_rate(out, codec, ptime_ms);
}
