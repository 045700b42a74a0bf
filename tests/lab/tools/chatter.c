/* iceprobe-chatter: the other traffic a laptop's tunnel carries all day.
 *
 *   iceprobe-chatter send SECONDS PATTERN PPS ADDRESS:PORT...
 *   iceprobe-chatter echo SECONDS ADDRESS:PORT
 *
 * send: UDP to each target at PPS packets a second (PATTERN steady), or in
 * bursts (PATTERN bursty: 200 ms at five times PPS in every second, silent
 * between, the same average). Sizes vary from 60 to 1200 bytes, and every
 * second packet starts like RTP (another call client on the same tunnel), so
 * nothing tells it from the probe's media but the socket it left from.
 * echo: answers each datagram with itself. Both stop by themselves after
 * SECONDS (at most 900) or on SIGTERM, and print what they sent and received. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 4
#define MAX_SECONDS 900
#define MAX_PPS     1000

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_target(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    long port = strtol(colon + 1, NULL, 10);
    *out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static void fill(unsigned char *buf, size_t n, uint64_t seq)
{
    memset(buf, 0x5a, n);
    if (seq % 2 == 0) {
        buf[0] = 0x80; /* RTP version 2 */
        buf[1] = 0x60;
    } else {
        buf[0] = 0x17; /* TLS application data, as a file share over DTLS would */
    }
    memcpy(buf + 4, &seq, sizeof(seq));
}

static int do_send(int seconds, int bursty, int pps, int n, struct sockaddr_in *to)
{
    int fds[MAX_TARGETS];
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&to[i], sizeof(to[i])) < 0) {
            perror("chatter: socket");
            return 1;
        }
    }
    uint64_t sent = 0, received = 0, errors = 0, seq = 0;
    unsigned int rnd = 7;
    int64_t t0 = now_ns(), end = t0 + (int64_t)seconds * 1000000000;
    /* The i-th packet to each target leaves at its own absolute time. */
    int64_t gap = 1000000000 / pps;
    int64_t next = t0;
    unsigned char buf[1500];
    while (!stop && now_ns() < end) {
        int64_t t = now_ns();
        if (t >= next) {
            size_t len = 60 + (size_t)(rand_r(&rnd) % 1141);
            for (int i = 0; i < n; i++) {
                fill(buf, len, seq++);
                if (send(fds[i], buf, len, 0) > 0)
                    sent++;
                else
                    errors++; /* a blocked destination answers ICMP: ECONNREFUSED */
            }
            if (!bursty) {
                next += gap;
            } else {
                /* The first 200 ms of each second at five times the rate. */
                next += gap / 5;
                int64_t in_second = (next - t0) % 1000000000;
                if (in_second >= 200000000)
                    next += 1000000000 - in_second;
            }
        }
        struct pollfd p[MAX_TARGETS];
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        int64_t wait_ms = (next - now_ns()) / 1000000;
        poll(p, (nfds_t)n, wait_ms > 0 ? (int)(wait_ms < 50 ? wait_ms : 50) : 0);
        for (int i = 0; i < n; i++)
            while (recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
                received++;
    }
    printf("chatter: sent %llu received %llu errors %llu in %.1f s\n", (unsigned long long)sent,
           (unsigned long long)received, (unsigned long long)errors, (now_ns() - t0) / 1e9);
    return 0;
}

static int do_echo(int seconds, struct sockaddr_in *at)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)at, sizeof(*at)) < 0) {
        perror("chatter: bind");
        return 1;
    }
    uint64_t echoed = 0;
    int64_t t0 = now_ns(), end = t0 + (int64_t)seconds * 1000000000;
    unsigned char buf[2048];
    while (!stop && now_ns() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t r;
        while ((r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) >
               0) {
            if (sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl) > 0)
                echoed++;
            fl = sizeof(from);
        }
    }
    printf("chatter: echoed %llu in %.1f s\n", (unsigned long long)echoed, (now_ns() - t0) / 1e9);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: iceprobe-chatter send SECONDS steady|bursty PPS ADDRESS:PORT...\n"
                    "       iceprobe-chatter echo SECONDS ADDRESS:PORT\n"
                    "(SECONDS 1-%d, PPS 1-%d per target, at most %d targets)\n",
            MAX_SECONDS, MAX_PPS, MAX_TARGETS);
    return 2;
}

int main(int argc, char **argv)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the lab */
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 4)
        return usage();
    int seconds = atoi(argv[2]);
    if (seconds < 1 || seconds > MAX_SECONDS)
        return usage();
    if (strcmp(argv[1], "echo") == 0 && argc == 4) {
        struct sockaddr_in at;
        if (parse_target(argv[3], &at) < 0)
            return usage();
        return do_echo(seconds, &at);
    }
    if (strcmp(argv[1], "send") != 0 || argc < 6 || argc - 5 > MAX_TARGETS)
        return usage();
    int bursty = strcmp(argv[3], "bursty") == 0;
    if (!bursty && strcmp(argv[3], "steady") != 0)
        return usage();
    int pps = atoi(argv[4]);
    if (pps < 1 || pps > MAX_PPS)
        return usage();
    struct sockaddr_in to[MAX_TARGETS];
    int n = argc - 5;
    for (int i = 0; i < n; i++)
        if (parse_target(argv[5 + i], &to[i]) < 0)
            return usage();
    return do_send(seconds, bursty, pps, n, to);
}
