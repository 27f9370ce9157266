/* UDP load generator and echo for the relay benchmark, so that the relay, not Python tooling, is measured.
 * Compiled at bench time: gcc -O2 -o udpblast udpblast.c   (Linux: recvmmsg/sendmmsg)
 *
 *   udpblast echo PORT
 *       echo on 127.0.0.1:PORT, batches of up to 64 datagrams per syscall each way
 *   udpblast blast HOST PORT SECONDS SOCKETS WINDOW SIZE
 *       SOCKETS connected sockets (one relay session each), WINDOW datagrams of SIZE bytes in flight on each;
 *       every reply is answered with a new datagram; a socket silent for 50 ms gets its window refilled
 *       (datagrams lost). Prints: replies_per_s sent_per_s
 *   udpblast latency HOST PORT COUNT
 *       ping-pong, one datagram in flight; prints: median_us p99_us p90_us p999_us max_us lost
 *       (a reply not back within 200 ms counts as lost and gives no sample)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXSOCK 256

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int udp_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 4 << 20;
    if (fd < 0) { perror("socket"); exit(1); }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    return fd;
}

static struct sockaddr_in addr_of(const char *host, int port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); exit(2); }
    return sa;
}

static int run_echo(int port) {
    static char bufs[BATCH][2048];
    static struct mmsghdr msgs[BATCH];
    static struct iovec iovs[BATCH];
    static struct sockaddr_in peers[BATCH];
    struct sockaddr_in sa = addr_of("127.0.0.1", port);
    int fd = udp_socket();
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iovs[i].iov_base = bufs[i];
            iovs[i].iov_len = sizeof bufs[i];
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        for (int i = 0; i < n; i++) iovs[i].iov_len = msgs[i].msg_len;
        sendmmsg(fd, msgs, (unsigned)n, 0);
    }
}

static void send_n(int fd, int n, const char *payload, int size) {
    struct mmsghdr msgs[BATCH];
    struct iovec iov = {(void *)payload, (size_t)size};
    while (n > 0) {
        int k = n < BATCH ? n : BATCH;
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < k; i++) {
            msgs[i].msg_hdr.msg_iov = &iov;
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int sent = sendmmsg(fd, msgs, (unsigned)k, MSG_DONTWAIT);
        if (sent <= 0) return;
        n -= sent;
    }
}

static int recv_all(int fd) {
    static char bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    int total = 0;
    for (;;) {
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < BATCH; i++) {
            iovs[i].iov_base = bufs[i];
            iovs[i].iov_len = sizeof bufs[i];
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return total;
        total += n;
        if (n < BATCH) return total;
    }
}

static int run_blast(const char *host, int port, double seconds, int nsock, int window, int size) {
    struct pollfd pfds[MAXSOCK];
    double last_rx[MAXSOCK];
    char payload[2048];
    struct sockaddr_in sa = addr_of(host, port);
    long long received = 0, sent = 0;
    if (nsock < 1 || nsock > MAXSOCK || size < 1 || size > 2048) { fprintf(stderr, "bad arguments\n"); return 2; }
    memset(payload, 'p', sizeof payload);
    for (int s = 0; s < nsock; s++) {
        pfds[s].fd = udp_socket();
        pfds[s].events = POLLIN;
        if (connect(pfds[s].fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
    }
    double start = now_s(), end = start + seconds;
    for (int s = 0; s < nsock; s++) { send_n(pfds[s].fd, window, payload, size); sent += window; last_rx[s] = start; }
    while (now_s() < end) {
        int ready = poll(pfds, (nfds_t)nsock, 10);
        double t = now_s();
        for (int s = 0; s < nsock; s++) {
            int got = (ready > 0 && (pfds[s].revents & POLLIN)) ? recv_all(pfds[s].fd) : 0;
            if (got > 0) {
                received += got;
                last_rx[s] = t;
                send_n(pfds[s].fd, got, payload, size);
                sent += got;
            } else if (t - last_rx[s] > 0.05) {
                send_n(pfds[s].fd, window, payload, size);
                sent += window;
                last_rx[s] = t;
            }
        }
    }
    double elapsed = now_s() - start;
    printf("%.0f %.0f\n", (double)received / elapsed, (double)sent / elapsed);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_latency(const char *host, int port, int count) {
    struct sockaddr_in sa = addr_of(host, port);
    int fd = udp_socket(), got = 0;
    char buf[2048], payload[64];
    double *samples = calloc((size_t)count, sizeof(double));
    struct timeval tv = {0, 200000};
    if (!samples || count < 1) return 2;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
    memset(payload, 'l', sizeof payload);
    for (int i = 0; i < count; i++) {
        memcpy(payload, &i, sizeof i);
        double t0 = now_s();
        if (send(fd, payload, sizeof payload, 0) < 0) continue;
        for (;;) {  /* skip late replies to earlier (timed-out) probes */
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n < 0) break;
            if (n >= (ssize_t)sizeof i && memcmp(buf, &i, sizeof i) == 0) { samples[got++] = (now_s() - t0) * 1e6; break; }
        }
    }
    if (got == 0) { fprintf(stderr, "no replies\n"); return 1; }
    qsort(samples, (size_t)got, sizeof(double), cmp_double);
    int p99 = (int)(got * 0.99) - 1, p90 = (int)(got * 0.9) - 1, p999 = (int)(got * 0.999) - 1;
    printf("%.1f %.1f %.1f %.1f %.1f %d\n", samples[got / 2], samples[p99 < 0 ? 0 : p99],
           samples[p90 < 0 ? 0 : p90], samples[p999 < 0 ? 0 : p999], samples[got - 1], count - got);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "echo") == 0) return run_echo(atoi(argv[2]));
    if (argc == 8 && strcmp(argv[1], "blast") == 0)
        return run_blast(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
    if (argc == 5 && strcmp(argv[1], "latency") == 0) return run_latency(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: udpblast echo PORT | blast HOST PORT SECONDS SOCKETS WINDOW SIZE | "
                    "latency HOST PORT COUNT\n");
    return 2;
}
