/* iceprobe-stamp: timestamps taken on both sides of the impairment instrument.
 *
 *   iceprobe-stamp send ADDRESS PORT COUNT INTERVAL_MS   prints "key send_ns" a packet
 *   iceprobe-stamp recv PORT SECONDS                     prints "key arrival_ns" a packet,
 *                                                        until 3 s after the last one (or SECONDS)
 *
 * Each UDP payload starts with its key, 8 bytes (0x5354 and a 48-bit sequence
 * number, big-endian), which iceprobe-impair logs in hex; times are
 * CLOCK_MONOTONIC, which every network namespace shares, so one-way delay is
 * arrival minus send. Packets leave at absolute times (start + i * interval). */
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void print_key(const unsigned char *p, int64_t t)
{
    for (int i = 0; i < 8; i++)
        printf("%02x", p[i]);
    printf("\t%lld\n", (long long)t);
}

static int do_send(const char *addr, int port, long count, double interval_ms)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, addr, &to.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
        perror("iceprobe-stamp send");
        return 1;
    }
    int64_t start = now_ns();
    unsigned char pkt[172];
    memset(pkt, 0, sizeof(pkt));
    for (long i = 0; i < count; i++) {
        int64_t due = start + (int64_t)(i * interval_ms * 1e6);
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
            ;
        uint64_t key = (0x5354ULL << 48) | (uint64_t)i;
        for (int b = 0; b < 8; b++)
            pkt[b] = (unsigned char)(key >> (56 - 8 * b));
        int64_t t = now_ns();
        if (send(fd, pkt, sizeof(pkt), 0) == (ssize_t)sizeof(pkt))
            print_key(pkt, t);
    }
    close(fd);
    return 0;
}

#define RECV_QUIET_NS 3000000000LL

static int do_recv(int port, int seconds)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
        perror("iceprobe-stamp recv");
        return 1;
    }
    /* Until SECONDS have passed, or RECV_QUIET_NS after the last packet: a
     * sender that started late on a loaded machine is still heard out. */
    int64_t hard = now_ns() + (int64_t)seconds * 1000000000, end = hard;
    unsigned char buf[2048];
    for (;;) {
        int64_t left = end - now_ns();
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        int64_t t = now_ns();
        if (n >= 8)
            print_key(buf, t);
        end = t + RECV_QUIET_NS < hard ? t + RECV_QUIET_NS : hard;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (argc == 6 && strcmp(argv[1], "send") == 0)
        return do_send(argv[2], atoi(argv[3]), atol(argv[4]), atof(argv[5]));
    if (argc == 4 && strcmp(argv[1], "recv") == 0)
        return do_recv(atoi(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: iceprobe-stamp send ADDRESS PORT COUNT INTERVAL_MS\n"
                    "       iceprobe-stamp recv PORT SECONDS\n");
    return 2;
}
