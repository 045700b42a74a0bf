/* bench/streams: one process carrying N concurrent call-shaped SRTP streams,
 * both ways, between pairs of ICE sessions on loopback (the probe's own
 * session.c and stream.c), pinned to one CPU. For each N it prints the CPU used
 * during the streams (share of that core, and per packet trip: each packet is
 * protected, sent, received and unprotected in this process, so half of it is
 * one end's cost), how far each packet left from its schedule, early or late
 * (p50/p99/max of |sent - due|), and the loss. The pairs start spread over one
 * packet interval, as independent calls are.
 *
 *   streams [--seconds S] [--cpu C] N...     (default: 1 10 100, 10 s, CPU 0) */
#include <sched.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "iceprobe/metrics.h"
#include "loop.h"
#include "loopback-pair.h"
#include "stream.h"

typedef struct {
    LoopbackSide la, lb;
    Session *a, *b; /* la's and lb's */
    StreamEnd *ea, *eb;
} Pair;

static void open_pair(Pair *p, GMainContext *ctx)
{
    g_autoptr(GError) error = NULL;
    if (!loopback_side_open(&p->la, ctx, "bench-a", TRUE, &error) ||
        !loopback_side_open(&p->lb, ctx, "bench-b", FALSE, &error)) {
        fprintf(stderr, "streams: %s\n", error ? error->message : "no session");
        exit(1);
    }
    p->a = p->la.s;
    p->b = p->lb.s;
}

typedef struct {
    Pair *pairs;
    guint n;
} All;

static gboolean all_ready(gpointer data)
{
    All *a = data;
    for (guint i = 0; i < a->n; i++)
        if (session_state(a->pairs[i].a) != SESSION_STATE_READY ||
            session_state(a->pairs[i].b) != SESSION_STATE_READY)
            return FALSE;
    return TRUE;
}

static gboolean all_gathered(gpointer data)
{
    All *a = data;
    for (guint i = 0; i < a->n; i++)
        if (!session_gathering_done(a->pairs[i].a) || !session_gathering_done(a->pairs[i].b))
            return FALSE;
    return TRUE;
}

static gboolean all_sent(gpointer data)
{
    All *a = data;
    for (guint i = 0; i < a->n; i++)
        if (!stream_end_done(a->pairs[i].ea) || !stream_end_done(a->pairs[i].eb))
            return FALSE;
    return TRUE;
}

static gboolean all_arrived(gpointer data)
{
    All *a = data;
    for (guint i = 0; i < a->n; i++)
        if (stream_end_received(a->pairs[i].ea) < stream_end_sent(a->pairs[i].eb) ||
            stream_end_received(a->pairs[i].eb) < stream_end_sent(a->pairs[i].ea))
            return FALSE;
    return TRUE;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void add_lateness(GArray *all, const StreamEnd *e)
{
    const GArray *l = stream_end_lateness_us(e);
    for (guint i = 0; i < l->len; i++) {
        double v = fabs(g_array_index(l, float, i)); /* early or late */
        g_array_append_val(all, v);
    }
}

static void one_row(guint n, guint seconds)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    All all = {g_new0(Pair, n), n};
    for (guint i = 0; i < n; i++) {
        open_pair(&all.pairs[i], ctx);
    }
    if (!loop_run_until(ctx, all_gathered, &all, 30000)) {
        fprintf(stderr, "streams: gathering did not end\n");
        exit(1);
    }
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;
        if (!loopback_sides_connect(&all.pairs[i].la, &all.pairs[i].lb, &error)) {
            fprintf(stderr, "streams: trickle failed: %s\n", error->message);
            exit(1);
        }
    }
    if (!loop_run_until(ctx, all_ready, &all, 60000)) {
        fprintf(stderr, "streams: not every pair got READY\n");
        exit(1);
    }
    StreamShape shape = {.ptime_ms = 20, .payload_bytes = 160, .duration_ms = seconds * 1000};
    for (guint i = 0; i < n; i++) {
        guint8 ka[STREAM_KEY_LEN], kb[STREAM_KEY_LEN];
        stream_random_key(ka);
        stream_random_key(kb);
        all.pairs[i].ea = stream_end_new(all.pairs[i].a, ka, kb, &shape, NULL);
        all.pairs[i].eb = stream_end_new(all.pairs[i].b, kb, ka, &shape, NULL);
    }
    double cpu0 = cpu_seconds();
    gint64 t0 = g_get_monotonic_time();
    /* Independent calls do not start in step: pair i starts i/N of a packet
     * interval after the first (both its ends together, as a call's do). */
    for (guint i = 0; i < n; i++) {
        gint64 at = t0 + (gint64)i * shape.ptime_ms * 1000 / n;
        while (g_get_monotonic_time() < at)
            g_main_context_iteration(ctx, FALSE);
        stream_end_start(all.pairs[i].ea);
        stream_end_start(all.pairs[i].eb);
    }
    loop_run_until(ctx, all_sent, &all, shape.duration_ms + 5000);
    loop_run_until(ctx, all_arrived, &all, 1000);
    double wall = (double)(g_get_monotonic_time() - t0) / 1e6;
    double cpu = cpu_seconds() - cpu0;

    guint64 sent = 0, received = 0;
    g_autoptr(GArray) late = g_array_new(FALSE, FALSE, sizeof(double));
    for (guint i = 0; i < n; i++) {
        Pair *p = &all.pairs[i];
        stream_end_join(p->ea);
        stream_end_join(p->eb);
        sent += stream_end_sent(p->ea) + stream_end_sent(p->eb);
        received += stream_end_received(p->ea) + stream_end_received(p->eb);
        add_lateness(late, p->ea);
        add_lateness(late, p->eb);
    }
    qsort(late->data, late->len, sizeof(double), cmp_double);
    double *lv = (double *)late->data;
    printf("%7u %9" G_GUINT64_FORMAT " %8.3f%% %7.2f %8.1f%% %10.1f %10.0f %10.0f %10.0f\n", n,
           sent, sent ? 100.0 * (double)(sent - MIN(sent, received)) / (double)sent : 0, cpu,
           100 * cpu / wall, sent ? cpu * 1e6 / (double)sent : 0,
           late->len ? metrics_percentile(lv, late->len, 50) : 0,
           late->len ? metrics_percentile(lv, late->len, 99) : 0,
           late->len ? lv[late->len - 1] : 0);
    fflush(stdout);
    for (guint i = 0; i < n; i++) {
        Pair *p = &all.pairs[i];
        stream_end_free(p->ea);
        stream_end_free(p->eb);
    }
    for (guint i = 0; i < n; i++) {
        Session *both[] = {all.pairs[i].a, all.pairs[i].b};
        session_close_all(both, 2, 1000);
        loopback_side_clear(&all.pairs[i].la);
        loopback_side_clear(&all.pairs[i].lb);
    }
    g_free(all.pairs);
}

int main(int argc, char **argv)
{
    guint seconds = 10, cpu = 0;
    GArray *ns = g_array_new(FALSE, FALSE, sizeof(guint));
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "--seconds") && i + 1 < argc)
            seconds = (guint)atoi(argv[++i]);
        else if (g_str_equal(argv[i], "--cpu") && i + 1 < argc)
            cpu = (guint)atoi(argv[++i]);
        else {
            guint n = (guint)atoi(argv[i]);
            if (n < 1 || n > 1000) {
                fprintf(stderr, "usage: streams [--seconds S] [--cpu C] N... (N 1-1000)\n");
                return 2;
            }
            g_array_append_val(ns, n);
        }
    }
    if (!ns->len) {
        guint def[] = {1, 10, 100};
        g_array_append_vals(ns, def, G_N_ELEMENTS(def));
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        perror("streams: sched_setaffinity");
    printf(
        "\nstreams benchmark: N concurrent G.711-shaped SRTP streams (20 ms, 160 B) both ways on "
        "loopback,\none process pinned to CPU %u, %u s each (CPU and lateness: every packet is "
        "sent and received here)\n\n",
        cpu, seconds);
    printf("%7s %9s %9s %7s %9s %10s %10s %10s %10s\n", "streams", "packets", "loss", "CPU s",
           "of a core", "us/packet", "off p50", "off p99", "off max");
    printf("%7s %9s %9s %7s %9s %10s %10s %10s %10s\n", "", "sent", "", "", "", "(trip)", "us",
           "us", "us");
    for (guint i = 0; i < ns->len; i++)
        one_row(g_array_index(ns, guint, i), seconds);
    g_array_unref(ns);
    return 0;
}
