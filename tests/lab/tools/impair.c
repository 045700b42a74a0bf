/* iceprobe-impair: a network impairment instrument for the lab, where the kernel
 * has no netem. A router namespace sends a link's packets to two NFQUEUE queues,
 * one per direction; this program holds each packet and gives its verdict at the
 * time it scheduled: fixed delay, jitter (uniform or normal), loss (random, or
 * Gilbert-Elliott bursts), reordering (a packet held a gap longer, so later ones
 * pass it) and duplication (a copy sent beside the original through a raw
 * socket). Every draw comes from a seeded generator per direction and flow, so
 * a run can be repeated, and every packet is logged with what was done to it.
 *
 *   iceprobe-impair --up SPEC --down SPEC [--queue-up 0] [--queue-down 1]
 *                   [--seed N] [--log FILE] [--seconds S]
 *   SPEC: key=value pairs joined by ',': delay=MS jitter=MS dist=uniform|normal
 *         loss=PCT ge=P:R:H:K (percent: good->bad, bad->good, loss in bad, loss in
 *         good) reorder=PCT gap=MS dup=PCT; "none" for a clean direction.
 *
 * The log (tab-separated, one line per packet, times CLOCK_MONOTONIC ns, the
 * clock every namespace shares): dir seq arrival_ns fate due_ns released_ns len
 * key ports (arrival: when the kernel received it), where fate is pass, reorder,
 * drop or dup (the copy), key the first 8 bytes of a UDP payload in hex (how a
 * test finds its own packets), ports "source>destination" of UDP, and app the
 * first 4 bytes of the message a TURN relay carries (ChannelData, or a Send or
 * Data indication's DATA), "-" for anything else. It stops after
 * --seconds, on SIGTERM or SIGINT, giving every held packet its verdict first. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <math.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD   4096 /* packets held at once; above it they pass unimpaired */
#define PACKET_MAX 65536
#define SPIN_NS    200000 /* the last 0.2 ms before a release is spent looking */

/* Each flow (protocol and addresses: ports are ephemeral, so they would change
 * the draws from one run to the next) draws from its own generator, seeded from
 * the run's seed and the flow: a flow's fate repeats whatever else crosses the
 * link (the laptop's VPN keepalives, DNS) in between. */
typedef struct {
    GRand *rand;
    gboolean bad; /* Gilbert-Elliott state */
} Flow;

typedef struct {
    double delay_ms, jitter_ms;
    gboolean normal;
    double loss; /* 0-1, random */
    gboolean ge; /* Gilbert-Elliott instead */
    double ge_p, ge_r, ge_h, ge_k;
    double reorder, gap_ms, dup;
    guint32 seed;
    GHashTable *flows; /* flow key (string) -> Flow */
    guint64 seq;
    const char *name;
    struct nfq_q_handle *qh;
} Direction;

typedef struct {
    gint64 due;
    Direction *dir;
    guint32 id;
    gboolean dup;
    guint64 seq;
    gint64 arrival;
    guint len;
    char key[17];
    char ports[12]; /* "sport>dport" of UDP, else "-" */
    char app[9];    /* first 4 bytes of a TURN-relayed message, else "-" */
    const char *fate;
    guint8 *copy; /* the packet, for a duplicate */
} Held;

static Held held[MAX_HELD];
static guint n_held;
static FILE *log_file;
static int raw_fd = -1;
static volatile sig_atomic_t stopping;

/* CLOCK_MONOTONIC minus CLOCK_REALTIME, ns: the kernel stamps queued packets
 * in real time. */
static gint64 mono_minus_real;

/* When the kernel received the packet (its timestamp, turned monotonic), not
 * when this program woke up to read it: the wake-up's latency is not part of
 * the delay the link applied. Falls back to now without a timestamp. */
static gint64 arrival_of(struct nfq_data *nfa, gint64 now)
{
    struct timeval tv;
    if (nfq_get_timestamp(nfa, &tv) != 0 || tv.tv_sec == 0)
        return now;
    gint64 t = ((gint64)tv.tv_sec * 1000000 + tv.tv_usec) * 1000 + mono_minus_real;
    return t <= now ? t : now;
}

static gint64 now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gboolean parse_spec(const char *text, Direction *d, GError **error)
{
    d->gap_ms = 25;
    if (!text || strcmp(text, "none") == 0)
        return TRUE;
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    for (char **p = parts; *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s': not key=value", *p);
            return FALSE;
        }
        g_autofree char *key = g_strndup(*p, (gsize)(eq - *p));
        const char *v = eq + 1;
        char *end = NULL;
        double x = g_ascii_strtod(v, &end);
        gboolean number = end && *end == '\0' && x >= 0;
        if (strcmp(key, "dist") == 0) {
            if (strcmp(v, "normal") && strcmp(v, "uniform")) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "dist=%s: uniform or normal", v);
                return FALSE;
            }
            d->normal = strcmp(v, "normal") == 0;
        } else if (strcmp(key, "ge") == 0) {
            if (sscanf(v, "%lf:%lf:%lf:%lf", &d->ge_p, &d->ge_r, &d->ge_h, &d->ge_k) != 4) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "ge=%s: P:R:H:K in percent", v);
                return FALSE;
            }
            d->ge = TRUE;
            d->ge_p /= 100, d->ge_r /= 100, d->ge_h /= 100, d->ge_k /= 100;
        } else if (!number || x > 100000) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s=%s: not a number >= 0",
                        key, v);
            return FALSE;
        } else if (strcmp(key, "delay") == 0) {
            d->delay_ms = x;
        } else if (strcmp(key, "jitter") == 0) {
            d->jitter_ms = x;
        } else if (strcmp(key, "loss") == 0) {
            d->loss = x / 100;
        } else if (strcmp(key, "reorder") == 0) {
            d->reorder = x / 100;
        } else if (strcmp(key, "gap") == 0) {
            d->gap_ms = x;
        } else if (strcmp(key, "dup") == 0) {
            d->dup = x / 100;
        } else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown key '%s'", key);
            return FALSE;
        }
    }
    return TRUE;
}

static void flow_free(Flow *f)
{
    g_rand_free(f->rand);
    g_free(f);
}

/* The flow of an IPv4 packet: its protocol and addresses. */
static Flow *flow_of(Direction *d, const guint8 *pkt, int len)
{
    char key[64] = "other";
    if (len >= (int)sizeof(struct iphdr)) {
        const struct iphdr *ip = (const struct iphdr *)pkt;
        g_snprintf(key, sizeof(key), "%u %08x %08x", ip->protocol, ip->saddr, ip->daddr);
    }
    Flow *f = g_hash_table_lookup(d->flows, key);
    if (!f) {
        f = g_new0(Flow, 1);
        f->rand = g_rand_new_with_seed(d->seed ^ g_str_hash(key));
        g_hash_table_insert(d->flows, g_strdup(key), f);
    }
    return f;
}

static gboolean draw_loss(Direction *d, Flow *f)
{
    if (!d->ge)
        return d->loss > 0 && g_rand_double(f->rand) < d->loss;
    /* Gilbert-Elliott: the state moves first, then the packet is lost with the
     * state's probability. */
    double u = g_rand_double(f->rand);
    f->bad = f->bad ? !(u < d->ge_r) : u < d->ge_p;
    return g_rand_double(f->rand) < (f->bad ? d->ge_h : d->ge_k);
}

/* The delay for one packet, ns: fixed plus jitter, never below zero. */
static gint64 draw_delay(Direction *d, Flow *f)
{
    double ms = d->delay_ms;
    if (d->jitter_ms > 0) {
        if (d->normal) { /* Box-Muller */
            double u1 = g_rand_double(f->rand), u2 = g_rand_double(f->rand);
            ms += d->jitter_ms * sqrt(-2 * log(u1 > 0 ? u1 : 1e-12)) * cos(2 * G_PI * u2);
        } else {
            ms += g_rand_double_range(f->rand, -d->jitter_ms, d->jitter_ms);
        }
    }
    return (gint64)(MAX(ms, 0) * 1e6);
}

static void write_log(const Held *h, gint64 released)
{
    if (log_file)
        fprintf(log_file,
                "%s\t%" G_GUINT64_FORMAT "\t%" G_GINT64_FORMAT "\t%s\t%" G_GINT64_FORMAT
                "\t%" G_GINT64_FORMAT "\t%u\t%s\t%s\t%s\n",
                h->dir->name, h->seq, h->arrival, h->fate, h->due, released, h->len, h->key,
                h->ports, h->app);
}

/* The application's message inside TURN (RFC 8656): a ChannelData message's
 * data, or a Send or Data indication's DATA attribute. */
static const guint8 *relayed_data(const guint8 *p, int len, int *out_len)
{
    if (len >= 4 && (p[0] & 0xc0) == 0x40) {
        *out_len = len - 4;
        return p + 4;
    }
    guint16 type = (guint16)(p[0] << 8 | p[1]);
    if (len < 20 || (type != 0x0016 && type != 0x0017) || memcmp(p + 4, "\x21\x12\xa4\x42", 4) != 0)
        return NULL;
    for (int at = 20; at + 4 <= len;) {
        int alen = p[at + 2] << 8 | p[at + 3];
        if (at + 4 + alen > len)
            return NULL;
        if ((p[at] << 8 | p[at + 1]) == 0x0013) {
            *out_len = alen;
            return p + at + 4;
        }
        at += 4 + ((alen + 3) & ~3);
    }
    return NULL;
}

static void key_of(const guint8 *pkt, int len, char out[17], char ports[12], char app[9])
{
    strcpy(out, "-");
    strcpy(ports, "-");
    strcpy(app, "-");
    if (len < (int)sizeof(struct iphdr))
        return;
    const struct iphdr *ip = (const struct iphdr *)pkt;
    int hl = ip->ihl * 4;
    if (ip->protocol != IPPROTO_UDP || len < hl + 8)
        return;
    const struct udphdr *udp = (const struct udphdr *)(pkt + hl);
    g_snprintf(ports, 12, "%u>%u", ntohs(udp->source), ntohs(udp->dest));
    if (len < hl + 8 + 8)
        return;
    const guint8 *p = pkt + hl + 8;
    for (int i = 0; i < 8; i++)
        g_snprintf(out + 2 * i, 3, "%02x", p[i]);
    int dlen = 0;
    const guint8 *d = relayed_data(p, len - hl - 8, &dlen);
    if (d && dlen >= 4) {
        for (int i = 0; i < 4; i++)
            g_snprintf(app + 2 * i, 3, "%02x", d[i]);
    }
}

static void hold(Held h)
{
    if (n_held == MAX_HELD) { /* full: it passes as it is */
        nfq_set_verdict(h.dir->qh, h.id, NF_ACCEPT, 0, NULL);
        h.fate = "pass";
        write_log(&h, now_ns());
        g_free(h.copy);
        return;
    }
    held[n_held++] = h;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data)
{
    Direction *d = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    guint32 id = ntohl(ph->packet_id);
    unsigned char *pkt = NULL;
    int len = nfq_get_payload(nfa, &pkt);
    Held h = {.dir = d,
              .id = id,
              .seq = d->seq++,
              .arrival = arrival_of(nfa, now_ns()),
              .len = (guint)MAX(len, 0)};
    key_of(pkt, len, h.key, h.ports, h.app);
    Flow *f = flow_of(d, pkt, len);
    if (draw_loss(d, f)) {
        nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
        h.fate = "drop";
        h.due = h.arrival;
        write_log(&h, h.arrival);
        return 0;
    }
    gboolean reorder = d->reorder > 0 && g_rand_double(f->rand) < d->reorder;
    h.due = h.arrival + draw_delay(d, f) + (reorder ? (gint64)(d->gap_ms * 1e6) : 0);
    h.fate = reorder ? "reorder" : "pass";
    gboolean dup = d->dup > 0 && g_rand_double(f->rand) < d->dup && len > 0;
    hold(h);
    if (dup) {
        Held c = h;
        c.dup = TRUE;
        c.fate = "dup";
        c.copy = g_memdup2(pkt, (gsize)len);
        c.due = h.due + 1000; /* just after the original */
        hold(c);
    }
    return 0;
}

/* Gives every held packet due by now its verdict (or sends its copy). */
static void release_due(gint64 now, gboolean all)
{
    for (guint i = 0; i < n_held;) {
        Held *h = &held[i];
        if (!all && h->due > now) {
            i++;
            continue;
        }
        gint64 t = now_ns();
        if (h->dup) {
            const struct iphdr *ip = (const struct iphdr *)h->copy;
            struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = ip->daddr};
            if (raw_fd >= 0)
                sendto(raw_fd, h->copy, h->len, 0, (struct sockaddr *)&to, sizeof(to));
            g_free(h->copy);
        } else {
            nfq_set_verdict(h->dir->qh, h->id, NF_ACCEPT, 0, NULL);
        }
        write_log(h, t);
        held[i] = held[--n_held];
    }
}

static gint64 next_due(void)
{
    gint64 best = G_MAXINT64;
    for (guint i = 0; i < n_held; i++)
        best = MIN(best, held[i].due);
    return best;
}

static void on_signal(int sig)
{
    stopping = 1;
}

int main(int argc, char **argv)
{
    g_autofree char *up = NULL, *down = NULL, *log_path = NULL;
    int q_up = 0, q_down = 1, seconds = 0;
    gint64 seed = 1;
    const GOptionEntry entries[] = {
        {"up", 0, 0, G_OPTION_ARG_STRING, &up, "impairment of queue-up's packets", "SPEC"},
        {"down", 0, 0, G_OPTION_ARG_STRING, &down, "impairment of queue-down's packets", "SPEC"},
        {"queue-up", 0, 0, G_OPTION_ARG_INT, &q_up, "NFQUEUE number (default 0)", "N"},
        {"queue-down", 0, 0, G_OPTION_ARG_INT, &q_down, "NFQUEUE number (default 1)", "N"},
        {"seed", 0, 0, G_OPTION_ARG_INT64, &seed, "seed of the draws (default 1)", "N"},
        {"log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "log every packet here", "FILE"},
        {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "stop after this long (0: on SIGTERM)", "S"},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- impair a link through NFQUEUE");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    Direction dirs[2] = {{.name = "up"}, {.name = "down"}};
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || !parse_spec(up, &dirs[0], &error) ||
        !parse_spec(down, &dirs[1], &error)) {
        fprintf(stderr, "iceprobe-impair: %s\n", error->message);
        return 2;
    }
    for (int i = 0; i < 2; i++) {
        dirs[i].seed = (guint32)seed + (guint32)i;
        dirs[i].flows =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)flow_free);
    }
    if (log_path && !(log_file = fopen(log_path, "w"))) {
        fprintf(stderr, "iceprobe-impair: %s: %s\n", log_path, g_strerror(errno));
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    /* An instrument whose release is late by a preemption would apply more
     * delay than asked: it runs at a real-time priority when it may (the lab
     * runs as root), with its memory locked. It sleeps between releases and
     * spins at most SPIN_NS before each, and the kernel's real-time throttling
     * still leaves others 5 % of each second. */
    struct sched_param rt = {.sched_priority = 50};
    if (sched_setscheduler(0, SCHED_FIFO, &rt) != 0)
        fprintf(stderr, "iceprobe-impair: no real-time priority (%s): releases may be late\n",
                g_strerror(errno));
    mlockall(MCL_CURRENT | MCL_FUTURE);
    /* A release is only as punctual as the CPU's wake-up from idle, and a
     * virtual machine's halted CPU wakes late: here (Firecracker, cpuidle's
     * haltpoll with no polling before a halt) 5-8 % of the releases were more
     * than 0.2 ms late, and the p99 of the other timestamps' disagreement with
     * the log was 0.9-5.5 ms, against 0.1 ms with this. As cyclictest does, the
     * instrument asks the kernel for a CPU wake-up latency of 0 while it runs
     * (PM QoS, /dev/cpu_dma_latency, held open), so idle CPUs poll instead of
     * halting. The request ends when the descriptor closes, with this process.
     * It holds for every program on the machine, iceprobe's too: the lab
     * measures the network, and each end's own wake-up is not part of the
     * network's delay. */
    int qos_fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
    gint32 no_latency = 0;
    if (qos_fd < 0 || write(qos_fd, &no_latency, sizeof(no_latency)) != sizeof(no_latency))
        fprintf(stderr,
                "iceprobe-impair: no CPU latency request (%s): wake-ups from idle may be late\n",
                g_strerror(errno));
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    mono_minus_real =
        ((gint64)mono.tv_sec - real.tv_sec) * 1000000000 + (mono.tv_nsec - real.tv_nsec);
    /* The kernel stamps received packets only while some socket asks for it:
     * this one does, so every queued packet carries its arrival time. */
    int stamp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(stamp_fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof(on));
    raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    struct nfq_handle *h = nfq_open();
    if (!h || nfq_bind_pf(h, AF_INET) < 0) {
        fprintf(stderr, "iceprobe-impair: cannot open NFQUEUE (root, nfnetlink_queue?)\n");
        return 1;
    }
    int queues[2] = {q_up, q_down};
    for (int i = 0; i < 2; i++) {
        dirs[i].qh = nfq_create_queue(h, (uint16_t)queues[i], on_packet, &dirs[i]);
        if (!dirs[i].qh || nfq_set_mode(dirs[i].qh, NFQNL_COPY_PACKET, PACKET_MAX) < 0) {
            fprintf(stderr, "iceprobe-impair: cannot bind queue %d\n", queues[i]);
            return 1;
        }
        nfq_set_queue_maxlen(dirs[i].qh, MAX_HELD);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int fd = nfq_fd(h);
    static char buf[PACKET_MAX + 4096];
    gint64 end = seconds > 0 ? now_ns() + (gint64)seconds * 1000000000 : G_MAXINT64;
    fprintf(stderr, "iceprobe-impair: up '%s', down '%s', seed %" G_GINT64_FORMAT "\n",
            up ? up : "none", down ? down : "none", seed);
    while (!stopping && now_ns() < end) {
        gint64 now = now_ns(), due = MIN(next_due(), end);
        /* Sleep until SPIN_NS before the next release, then look without
         * sleeping: a wake-up from ppoll is late by tens of µs, at times more. */
        gint64 wait = MAX(due - now - SPIN_NS, 0);
        struct timespec ts = {(time_t)(wait / 1000000000), (long)(wait % 1000000000)};
        struct pollfd p = {fd, POLLIN, 0};
        int rc = ppoll(&p, 1, due == G_MAXINT64 ? NULL : &ts, NULL);
        if (rc > 0) {
            /* Everything the kernel has queued, without blocking. */
            for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n <= 0)
                    break;
                nfq_handle_packet(h, buf, (int)n);
            }
        }
        release_due(now_ns(), FALSE);
    }
    release_due(0, TRUE);
    for (int i = 0; i < 2; i++) {
        nfq_destroy_queue(dirs[i].qh);
        g_hash_table_unref(dirs[i].flows);
    }
    nfq_close(h);
    if (log_file)
        fclose(log_file);
    if (raw_fd >= 0)
        close(raw_fd);
    if (stamp_fd >= 0)
        close(stamp_fd);
    if (qos_fd >= 0)
        close(qos_fd);
    return 0;
}
