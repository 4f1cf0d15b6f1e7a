/*
 * bench/blk-io.c: guest-side helper of bench/blk, built on the host with
 * `gcc -static` and carried into the guest at the start of the benchmark's
 * disk image (busybox has neither fio nor a sub-second clock).
 *
 *   blk-io time CMD [ARG...]
 *       runs CMD, prints "ELAPSED <seconds>" (CLOCK_MONOTONIC) and exits
 *       with CMD's status.
 *   blk-io rand DEV r|w FIRST_MIB COUNT SEED
 *       COUNT 4 KiB requests, one at a time (queue depth 1), at random
 *       4 KiB-aligned offsets from FIRST_MIB MiB to the end of DEV, opened
 *       with O_DIRECT so that every request reaches the device; writes
 *       store a non-zero pattern. Prints "ELAPSED <seconds> OPS <n>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_time(char **argv)
{
    double t0 = now();
    pid_t pid = fork();
    int status;

    if (pid < 0) {
        perror("fork");
        return 125;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return 125;
    }
    printf("ELAPSED %.6f\n", now() - t0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* xorshift64*: cheap, and the same sequence under both emulators. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int cmd_rand(const char *dev, const char *mode, long first_mib, long count,
                    uint64_t seed)
{
    int writing = strcmp(mode, "w") == 0;
    int fd = open(dev, (writing ? O_RDWR : O_RDONLY) | O_DIRECT);
    uint64_t size, first = (uint64_t)first_mib << 20, blocks;
    void *buf;
    double t0;

    if (fd < 0) {
        perror(dev);
        return 1;
    }
    if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
        off_t end = lseek(fd, 0, SEEK_END);   /* a regular file, for testing */

        size = end < 0 ? 0 : (uint64_t)end;
    }
    if (size <= first + 4096) {
        fprintf(stderr, "%s: cannot get its size or too small\n", dev);
        return 1;
    }
    blocks = (size - first) / 4096;
    if (posix_memalign(&buf, 4096, 4096)) {
        return 1;
    }
    memset(buf, 0xa5, 4096);
    seed |= 1;
    t0 = now();
    for (long i = 0; i < count; i++) {
        off_t off = first + (next_rand(&seed) % blocks) * 4096;
        ssize_t n = writing ? pwrite(fd, buf, 4096, off) : pread(fd, buf, 4096, off);

        if (n != 4096) {
            fprintf(stderr, "request %ld at %lld: %s\n", i, (long long)off,
                    n < 0 ? strerror(errno) : "short transfer");
            return 1;
        }
    }
    printf("ELAPSED %.6f OPS %ld\n", now() - t0, count);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "time") == 0) {
        return cmd_time(argv + 2);
    }
    if (argc == 7 && strcmp(argv[1], "rand") == 0) {
        return cmd_rand(argv[2], argv[3], atol(argv[4]), atol(argv[5]),
                        strtoull(argv[6], NULL, 0));
    }
    fprintf(stderr, "usage: blk-io time CMD... | blk-io rand DEV r|w FIRST_MIB COUNT SEED\n");
    return 2;
}
