/*
 * bench/net-io: the guest side of bench/net, built static on the host and
 * fetched by the guest over the network. Moves bytes through one TCP
 * connection with 64 KiB reads and writes, as bulk-transfer tools do
 * (busybox nc copies 1 KiB at a time, which measures system calls rather
 * than the network path).
 *
 *   net-io send ADDR PORT BYTES   connect, write BYTES zero bytes, close
 *   net-io recv ADDR PORT         connect, read until the peer closes
 *
 * Exit status 0 on success; on error, a message on stderr and 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static int dial(const char *addr, const char *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "net-io: connect %s:%s: %s\n", addr, port, strerror(errno));
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    static char buf[CHUNK];
    long long left, n;
    int fd;

    if (argc == 5 && !strcmp(argv[1], "send")) {
        fd = dial(argv[2], argv[3]);
        for (left = atoll(argv[4]); left > 0; left -= n) {
            n = write(fd, buf, left < CHUNK ? left : CHUNK);
            if (n <= 0) {
                fprintf(stderr, "net-io: write: %s\n", strerror(errno));
                return 1;
            }
        }
        return close(fd) < 0;
    }
    if (argc == 4 && !strcmp(argv[1], "recv")) {
        fd = dial(argv[2], argv[3]);
        while ((n = read(fd, buf, CHUNK)) > 0) {
        }
        if (n < 0) {
            fprintf(stderr, "net-io: read: %s\n", strerror(errno));
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: net-io send ADDR PORT BYTES | net-io recv ADDR PORT\n");
    return 1;
}
