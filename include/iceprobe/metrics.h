/* Stream quality: loss, RFC 3550 interarrival jitter, reordering, duplicates,
 * round-trip time percentiles and an E-model (ITU-T G.107) MOS estimate. */
#pragma once

#include <glib.h>

#include "iceprobe/emodel.h"

/* One direction of a test stream, seen by its receiver. */
typedef struct MetricsStream MetricsStream;

typedef struct {
    guint64 packets_sent;     /* as the sender reports it */
    guint64 packets_received; /* unique packets, duplicates not counted */
    double loss_ratio;        /* 1 - received/sent, 0 when nothing was sent */
    double jitter_ms;         /* RFC 3550 interarrival jitter, in ms */
    guint64 reordered;        /* arrived after a packet with a higher sequence number */
    guint64 duplicates;       /* a sequence number seen again */
    guint64 rtt_samples;
    double rtt_min_ms, rtt_median_ms, rtt_p95_ms, rtt_max_ms;
    double mos; /* E-model MOS from loss, jitter and RTT, see metrics_mos() */
    /* What went into it: the codec, the rating R on its scale, the burst ratio
     * of the losses (1: random) and the one-way delay assumed. */
    const EmodelCodec *codec;
    double r_factor, burst_r, mos_delay_ms;
    /* Microsoft's windowed figures for Teams and Skype for Business media, the
     * worst window of the stream (a stream shorter than a window is one window):
     * loss in any 15 s, loss in any 200 ms (bursts), interarrival jitter in any
     * 15 s (the mean of the RFC 3550 estimate over the window's packets); and
     * reordered packets over those received. */
    gboolean have_windows;
    double loss_15s_max, burst_loss_200ms_max, jitter_15s_max_ms, reorder_ratio;
    /* One-way delay variation: each packet's transit time less the smallest
     * (no clock sync needed; the constant offset between clocks cancels). */
    double owdv_p50_ms, owdv_p95_ms, owdv_max_ms;
} MetricsSummary;

/* Packets above this count are still counted, but not checked for duplicates:
 * it bounds the memory a stream can make us use (a 10 s call is 500 packets). */
#define METRICS_MAX_TRACKED_PACKETS (1u << 20)
/* Packets kept for the windowed figures (22 min at 50 a second); later ones
 * still count everywhere else. */
#define METRICS_MAX_WINDOW_PACKETS (1u << 16)
/* RTT samples kept for percentiles; later samples still count for min/max. */
#define METRICS_MAX_RTT_SAMPLES (1u << 18)

MetricsStream *metrics_stream_new(void);
void metrics_stream_free(MetricsStream *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MetricsStream, metrics_stream_free)

/* A packet arrived: its 16-bit sequence number, the sender's send time and our
 * arrival time (each on its own monotonic clock; jitter needs only differences). */
void metrics_stream_add_packet(MetricsStream *m, guint16 seq, gint64 sent_ns, gint64 arrived_ns);
/* The sender's first sequence number, when the receiver knows it; before the
 * first packet. Without it the first packet seen is the origin, and losses
 * before it cannot be placed in a window or in the burst ratio. */
void metrics_stream_set_origin(MetricsStream *m, guint16 first_seq);
/* A copy of a packet already received, that the receiver's SRTP replay check
 * stopped before it could be added. */
void metrics_stream_add_duplicate(MetricsStream *m);
/* A round-trip time measured from an echo. */
void metrics_stream_add_rtt(MetricsStream *m, double rtt_ms);
guint64 metrics_stream_received(const MetricsStream *m);
/* The largest round trip measured so far, 0 if none. */
double metrics_stream_rtt_max(const MetricsStream *m);

/* packets_sent comes from the sender; ptime_ms is the packetisation time used for
 * the MOS delay budget; codec the shape the MOS is rated for (NULL: G.711). */
void metrics_stream_summarize(const MetricsStream *m, guint64 packets_sent, double ptime_ms,
                              const EmodelCodec *codec, MetricsSummary *out);

/* Percentile p (0..100) of n sorted values, linear interpolation between closest
 * ranks (the "R-7"/numpy default). n must be > 0. */
double metrics_percentile(const double *sorted, gsize n, double p);

/* The MOS of a summary's figures (iceprobe/emodel.h), set in out: the one-way
 * delay is half the median RTT, a jitter buffer of twice the jitter, and one
 * packetisation interval; the loss is out->loss_ratio with out->burst_r. Sets
 * codec, mos_delay_ms, r_factor and mos. */
void metrics_rate(MetricsSummary *out, const EmodelCodec *codec, double ptime_ms);
