/* exec_stamp FD PROGRAM [ARGS...]: writes CLOCK_MONOTONIC (seconds) to FD, then execs
 * PROGRAM, so a benchmark can time from the exec itself rather than from its own spawn. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int fd = atoi(argv[1]);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
    if (write(fd, buf, n) != n) return 2;
    close(fd);
    execv(argv[2], argv + 2);
    perror("execv");
    return 127;
}
