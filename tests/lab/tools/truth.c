/* iceprobe-truth: what the impairment instrument's own log says each media
 * stream through a TURN relay on the impaired link went through: the truth a
 * measurement of loss, jitter and round trip is checked against.
 *
 *   iceprobe-truth [--uclient] [--from NS] [--to NS] LOG
 *   iceprobe-truth --now      (prints CLOCK_MONOTONIC in ns, for --from/--to)
 *
 * A stream relayed by the edge crosses the instrument twice: up (client to
 * the edge, in TURN: ChannelData or a Send indication) and down (the edge to
 * the other client: ChannelData or a Data indication). Each crossing's log line
 * carries the first 4 bytes of the relayed message, which name the packet (RTP:
 * version, payload type and sequence number; with --uclient,
 * turnutils_uclient's message number). Other relayed messages (ICE's STUN
 * checks: not RTP version 2) are left out. Up lines are grouped by the laptop's
 * port, down lines likewise (a client socket relays to one peer), and each up
 * group is paired with the down group holding most of the same packet names.
 *
 * For each stream, one line of key=value:
 *   from, to        the laptop's ports: the sender's (up) and the receiver's (down)
 *   sent            packets the sender put on the link (up crossings, copies left out)
 *   delivered       packets that came out of the down crossing (first copies)
 *   lost, loss      sent - delivered, and that over sent
 *   copies          extra deliveries of a packet already delivered (a copy
 *                   made going up crosses down twice: counted once)
 *   jitter_ms       RFC 3550 interarrival jitter of the delivered packets, in
 *                   the order they left the instrument, with transit = release
 *                   at the down crossing - arrival at the up crossing
 *   jitter_mean_ms  the mean of that estimate after each delivered packet (as
 *                   iceprobe's jitter over a window: one window here)
 *   transit_ms_*    that transit's minimum, mean, median and 95th percentile
 *   rtt_ms_p50      the round trip the stream's receiver measures from echoes
 *                   (when the reverse stream is there): for each packet j it
 *                   receives, the transit of j plus that of the reverse packet
 *                   last delivered before j was sent (the one it echoes)
 *   rtt_samples
 *   reordered       (RTP) delivered after a packet with a higher sequence number
 *   burst_r         (RTP) G.107's burst ratio of the losses, in sequence order
 * Lines outside [--from, --to] (CLOCK_MONOTONIC ns of the up arrival) are left
 * out, so one log can hold several tools' runs. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LINE 512

typedef struct {
    guint32 id;
    gint64 up_arrival, down_release; /* of the first copy */
    gboolean up_seen, up_dropped, delivered;
    guint copies;
} Packet;

typedef struct {
    gboolean up;
    guint port;      /* the laptop's: source going up, destination coming down */
    GHashTable *ids; /* name (guint32) -> Packet* (up group) or release list (down) */
} Group;

typedef struct {
    guint32 id;
    gint64 arrival, release;
    gboolean dropped;
    guint extra; /* further copies that passed */
} Crossing;

typedef struct {
    Group *up, *down;
    GArray *delivered; /* Packet*, by down release */
    GHashTable *packets;
} Stream;

static guint group_hash(gconstpointer k)
{
    const Group *g = k;
    return g->port * 2u + (guint)g->up;
}

static gboolean group_equal(gconstpointer a, gconstpointer b)
{
    const Group *x = a, *y = b;
    return x->up == y->up && x->port == y->port;
}

static void group_free(gpointer p)
{
    Group *g = p;
    g_hash_table_unref(g->ids);
    g_free(g);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* R-7 percentile, as iceprobe's metrics_percentile. */
static double percentile(GArray *v, double p)
{
    if (!v->len)
        return NAN;
    qsort(v->data, v->len, sizeof(double), cmp_double);
    double *s = (double *)v->data;
    double rank = p / 100.0 * (v->len - 1);
    guint lo = (guint)floor(rank), hi = MIN(lo + 1, v->len - 1);
    return s[lo] + (rank - lo) * (s[hi] - s[lo]);
}

static int by_release(gconstpointer a, gconstpointer b)
{
    const Packet *x = *(Packet *const *)a, *y = *(Packet *const *)b;
    return (x->down_release > y->down_release) - (x->down_release < y->down_release);
}

static gboolean parse_hex(const char *s, guint8 out[4])
{
    if (strlen(s) != 8)
        return FALSE;
    for (int i = 0; i < 4; i++) {
        char b[3] = {s[2 * i], s[2 * i + 1], 0};
        char *end;
        out[i] = (guint8)strtoul(b, &end, 16);
        if (*end)
            return FALSE;
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    gint64 from = 0, to = G_MAXINT64;
    const char *path = NULL;
    gboolean uclient = FALSE;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--now") == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            printf("%" G_GINT64_FORMAT "\n", (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec);
            return 0;
        }
        if (strcmp(argv[i], "--uclient") == 0)
            uclient = TRUE;
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = g_ascii_strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = g_ascii_strtoll(argv[++i], NULL, 10);
        else
            path = argv[i];
    }
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        fprintf(stderr, "usage: iceprobe-truth [--uclient] [--from NS] [--to NS] LOG\n");
        return 2;
    }
    GHashTable *groups = g_hash_table_new_full(group_hash, group_equal, group_free, NULL);
    char line[MAX_LINE];
    guint64 lines = 0;
    while (fgets(line, sizeof(line), f)) {
        char dir[8], fate[12], key[20], ports[16], app[12];
        guint64 seq;
        gint64 arrival, due, released;
        guint len;
        if (sscanf(line,
                   "%7s %" G_GUINT64_FORMAT " %" G_GINT64_FORMAT " %11s %" G_GINT64_FORMAT
                   " %" G_GINT64_FORMAT " %u %19s %15s %11s",
                   dir, &seq, &arrival, fate, &due, &released, &len, key, ports, app) != 10)
            continue;
        lines++;
        guint8 b[4];
        guint sport, dport;
        if (!parse_hex(app, b) || sscanf(ports, "%u>%u", &sport, &dport) != 2)
            continue;
        if (!uclient && (b[0] & 0xc0) != 0x80) /* not RTP version 2 */
            continue;
        Group k = {.up = strcmp(dir, "up") == 0};
        k.port = k.up ? sport : dport;
        Group *g = g_hash_table_lookup(groups, &k);
        if (!g) {
            g = g_memdup2(&k, sizeof(k));
            g->ids = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
            g_hash_table_add(groups, g);
        }
        guint32 id = (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
        Crossing *c = g_hash_table_lookup(g->ids, GUINT_TO_POINTER(id));
        gboolean copy = strcmp(fate, "dup") == 0;
        if (!c) {
            if (copy)
                continue;
            c = g_new0(Crossing, 1);
            c->id = id;
            c->arrival = arrival;
            c->release = released;
            c->dropped = strcmp(fate, "drop") == 0;
            g_hash_table_insert(g->ids, GUINT_TO_POINTER(id), c);
        } else if (strcmp(fate, "drop") == 0) {
            /* a copy dropped: nothing arrives of it */
        } else if (c->dropped) {
            /* the packet itself was dropped, a copy made before went on */
            c->dropped = FALSE;
            c->release = released;
        } else {
            c->extra++;
        }
    }
    fclose(f);

    /* Pair each up group with the down group sharing most names. */
    GPtrArray *ups = g_ptr_array_new(), *downs = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, groups);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(((Group *)key)->up ? ups : downs, key);
    GPtrArray *streams = g_ptr_array_new();
    for (guint i = 0; i < ups->len; i++) {
        Group *u = ups->pdata[i], *best = NULL;
        guint best_n = 0;
        for (guint j = 0; j < downs->len; j++) {
            Group *d = downs->pdata[j];
            if (d->port == u->port) /* back to the sender: another stream */
                continue;
            guint n = 0;
            GHashTableIter di;
            gpointer id;
            g_hash_table_iter_init(&di, d->ids);
            while (g_hash_table_iter_next(&di, &id, NULL))
                n += g_hash_table_contains(u->ids, id);
            if (n > best_n) {
                best_n = n;
                best = d;
            }
        }
        if (!best || best_n < 10)
            continue;
        Stream *s = g_new0(Stream, 1);
        s->up = u;
        s->down = best;
        s->delivered = g_array_new(FALSE, FALSE, sizeof(Packet *));
        s->packets = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
        g_ptr_array_add(streams, s);
        GHashTableIter ui;
        gpointer id, v;
        g_hash_table_iter_init(&ui, u->ids);
        while (g_hash_table_iter_next(&ui, &id, &v)) {
            const Crossing *cu = v;
            if (cu->arrival < from || cu->arrival > to)
                continue;
            Packet *p = g_new0(Packet, 1);
            p->id = GPOINTER_TO_UINT(id);
            p->up_seen = TRUE;
            p->up_arrival = cu->arrival;
            p->up_dropped = cu->dropped;

            const Crossing *cd = g_hash_table_lookup(best->ids, id);
            if (!cu->dropped && cd && !cd->dropped) {
                p->delivered = TRUE;
                p->down_release = cd->release;
                p->copies = cd->extra; /* a copy made going up comes down twice */
                g_array_append_val(s->delivered, p);
            }
            g_hash_table_insert(s->packets, id, p);
        }
        g_array_sort(s->delivered, by_release);
    }

    guint printed = 0;
    for (guint i = 0; i < streams->len; i++) {
        Stream *s = streams->pdata[i];
        guint sent = g_hash_table_size(s->packets), delivered = s->delivered->len, copies = 0;
        if (!sent) /* outside the time asked for */
            continue;
        printed++;
        GHashTableIter pi;
        gpointer v;
        g_hash_table_iter_init(&pi, s->packets);
        while (g_hash_table_iter_next(&pi, NULL, &v))
            copies += ((Packet *)v)->delivered ? ((Packet *)v)->copies : 0;
        GArray *transit = g_array_new(FALSE, FALSE, sizeof(double));
        double jitter = 0, last = 0, sum = 0, jsum = 0;
        for (guint j = 0; j < delivered; j++) {
            Packet *p = g_array_index(s->delivered, Packet *, j);
            double t = (double)(p->down_release - p->up_arrival);
            if (j > 0)
                jitter += (fabs(t - last) - jitter) / 16.0;
            jsum += jitter;
            last = t;
            t /= 1e6;
            sum += t;
            g_array_append_val(transit, t);
        }
        /* The reverse stream: from this one's receiver to its sender. */
        Stream *rev = NULL;
        for (guint j = 0; j < streams->len; j++) {
            Stream *r = streams->pdata[j];
            if (r->up->port == s->down->port && r->down->port == s->up->port)
                rev = r;
        }
        GArray *rtt = g_array_new(FALSE, FALSE, sizeof(double));
        if (rev && rev->delivered->len) {
            /* j arrives at the reverse stream's sender, which echoes the
             * last packet of rev delivered before it sent j. */
            for (guint j = 0; j < delivered; j++) {
                Packet *pj = g_array_index(s->delivered, Packet *, j);
                Packet *echoed = NULL;
                for (guint k = 0; k < rev->delivered->len; k++) {
                    Packet *pk = g_array_index(rev->delivered, Packet *, k);
                    if (pk->down_release >= pj->up_arrival)
                        break;
                    echoed = pk;
                }
                if (!echoed)
                    continue;
                double r = ((double)(pj->down_release - pj->up_arrival) +
                            (double)(echoed->down_release - echoed->up_arrival)) /
                           1e6;
                g_array_append_val(rtt, r);
            }
        }
        guint rtt_n = rtt->len;
        /* RTP: sequence numbers relative to the first sent (16 bits, wrapping). */
        guint reordered = 0;
        double burst_r = 1;
        if (!uclient && sent) {
            guint16 first = 0;
            gint64 first_at = G_MAXINT64;
            g_hash_table_iter_init(&pi, s->packets);
            while (g_hash_table_iter_next(&pi, NULL, &v)) {
                Packet *p = v;
                if (p->up_arrival < first_at) {
                    first_at = p->up_arrival;
                    first = (guint16)p->id;
                }
            }
            int highest = -1;
            for (guint j = 0; j < delivered; j++) {
                int rel = (guint16)((guint16)g_array_index(s->delivered, Packet *, j)->id - first);
                if (rel < highest)
                    reordered++;
                highest = MAX(highest, rel);
            }
            guint8 *got = g_malloc0(65536);
            int last_rel = 0;
            g_hash_table_iter_init(&pi, s->packets);
            while (g_hash_table_iter_next(&pi, NULL, &v)) {
                Packet *p = v;
                int rel = (guint16)((guint16)p->id - first);
                got[rel] = p->delivered ? 1 : 2;
                last_rel = MAX(last_rel, rel);
            }
            /* 1 / (p + q) over transitions, as iceprobe's emodel_burst_ratio */
            guint rec = 0, lost = 0, rl = 0, lr = 0;
            for (int k = 0; k < last_rel; k++) {
                gboolean a = got[k] == 1, b = got[k + 1] == 1;
                a ? rec++ : lost++;
                if (a && !b)
                    rl++;
                if (!a && b)
                    lr++;
            }
            if (rec && lost && (double)rl / rec + (double)lr / lost > 0)
                burst_r = MAX(1.0, 1.0 / ((double)rl / rec + (double)lr / lost));
            g_free(got);
        }
        printf("stream from=%u to=%u sent=%u "
               "delivered=%u lost=%u loss=%.6f copies=%u jitter_ms=%.4f jitter_mean_ms=%.4f "
               "transit_ms_min=%.4f "
               "transit_ms_mean=%.4f "
               "transit_ms_p50=%.4f transit_ms_p95=%.4f rtt_ms_p50=%.4f rtt_samples=%u "
               "reordered=%u burst_r=%.4f\n",
               s->up->port, s->down->port, sent, delivered, sent - delivered,
               sent ? (double)(sent - delivered) / sent : 0, copies, jitter / 1e6,
               delivered ? jsum / delivered / 1e6 : NAN,
               transit->len ? percentile(transit, 0) : NAN, delivered ? sum / delivered : NAN,
               percentile(transit, 50), percentile(transit, 95), percentile(rtt, 50), rtt_n,
               reordered, burst_r);
        g_array_unref(transit);
        g_array_unref(rtt);
    }
    if (!printed)
        fprintf(stderr, "iceprobe-truth: no relayed stream in %s (%" G_GUINT64_FORMAT " lines)\n",
                path, lines);
    return printed ? 0 : 1;
}
