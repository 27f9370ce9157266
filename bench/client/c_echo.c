/* A minimal stamping probe echo in C (one thread, recvmmsg/sendmmsg batches), to tell the client's
 * own rate ceiling from a Python echo's. Same behaviour as min_echo.py: probes (services/common/probe.py)
 * come back with REPLY|STAMPED|COUNTED, server receive/send wall-clock times and a per-test-id count;
 * anything else comes back unchanged.
 *
 *   cc -O2 -o c_echo bench/client/c_echo.c && ./c_echo   → prints `echo=PORT`, serves on 127.0.0.1
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define IDS 64

static uint32_t ids[IDS], counts[IDS];

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static uint32_t count(uint32_t id) { /* small direct-mapped table: enough for a benchmark */
    unsigned slot = id % IDS;
    if (ids[slot] != id) { ids[slot] = id; counts[slot] = 0; }
    return ++counts[slot];
}

static void stamp(unsigned char *d, size_t len, uint64_t recv_ns) {
    if (len < 48 || memcmp(d, "QLPB", 4) != 0 || d[4] != 1) return;
    uint32_t id, n;
    memcpy(&id, d + 8, 4);
    n = htonl(count(ntohl(id)));
    d[5] |= 0x07;
    put64(d + 28, recv_ns);
    put64(d + 36, wall_ns());
    memcpy(d + 44, &n, 4);
}

int main(void) {
    static unsigned char bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iovs[BATCH];
    struct sockaddr_in peers[BATCH], addr = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 4 << 20;
    socklen_t alen = sizeof addr;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    printf("echo=%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iovs[i] = (struct iovec){bufs[i], sizeof bufs[i]};
            msgs[i].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                              .msg_iov = &iovs[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        uint64_t now = wall_ns();
        for (int i = 0; i < n; i++) {
            stamp(bufs[i], msgs[i].msg_len, now);
            iovs[i].iov_len = msgs[i].msg_len;
        }
        for (int sent = 0; sent < n;) {
            int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
            if (k <= 0) break;
            sent += k;
        }
    }
}
