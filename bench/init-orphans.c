/*
 * The child that bench/init.py runs under the init being measured (tini or
 * vigil-init), as the only process the init starts, in a fresh PID namespace.
 *
 *   init-orphans [IGNORED...] FIFO ORPHANS
 *
 * It opens FIFO for writing and speaks to the harness in 8-byte records
 * (int64, native endian):
 *   -1                 ready: the handler is installed and the child idles
 *   T                  from the SIGUSR1 handler: CLOCK_MONOTONIC ns when it ran
 *   -2 FORK REAP Z P   after an 'o' on stdin: ns spent forking, ns from the
 *                      first fork until no other process is left in the
 *                      namespace, zombies still there once 100 ms more have
 *                      passed, peak zombies seen (a /proc scan every 1000
 *                      forks, then polling every 50 us until none is left)
 * Commands come on stdin, one byte each: 'o' forks ORPHANS double-forked
 * orphans (each grandchild exits at once, so the init must reap it), 'q' or
 * end of file makes it exit 0.
 *
 * Under vigil-init (VIGIL_INIT_FD set) it first sends "exit 0" on fd 3, so
 * that its exit ends the container instead of being restarted as a crashed
 * manager. It never reads fd 3: the "exited" statuses vigil-init sends queue
 * in vigil-init's ring and are dropped when it is full, as designed.
 *
 * It measures nothing about itself beyond what is above, and must never reap
 * the grandchildren (that is the init's work being measured): it waits only
 * for the middle child it forked itself.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int out_fd = -1;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put(const int64_t *v, size_t n)
{
    /* one write, under PIPE_BUF, so that it is atomic with the handler's */
    if (write(out_fd, v, n * sizeof *v) != (ssize_t)(n * sizeof *v))
        _exit(3);
}

static void on_usr1(int sig)
{
    (void)sig;
    int64_t t = now_ns();
    int e = errno;
    put(&t, 1);
    errno = e;
}

/* Counts the processes in the namespace other than PID 1 and this one, and
 * among them the zombies (state Z in /proc/PID/stat). */
static void scan(long self, long *others, long *zombies)
{
    *others = 0;
    *zombies = 0;
    DIR *d = opendir("/proc");
    if (!d)
        _exit(4);
    struct dirent *e;
    char path[64], buf[512];
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1 || pid == self)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* gone between readdir and open */
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        (*others)++;
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z')
            (*zombies)++;
    }
    closedir(d);
}

static void orphans(long count)
{
    long self = getpid();
    long others, zombies, peak = 0;
    int64_t t0 = now_ns();
    for (long i = 0; i < count; i++) {
        /* a look every 1000 forks: do zombies pile up while the init is busy? */
        if (i % 1000 == 999) {
            scan(self, &others, &zombies);
            if (zombies > peak)
                peak = zombies;
        }
        pid_t mid = fork();
        if (mid < 0) {
            perror("init-orphans: fork");
            _exit(5);
        }
        if (mid == 0) {
            pid_t g = fork();
            if (g == 0)
                _exit(0);
            _exit(g < 0 ? 1 : 0);
        }
        int st;
        while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    int64_t t1 = now_ns();
    const struct timespec nap = {0, 50000};
    for (;;) {
        scan(self, &others, &zombies);
        if (zombies > peak)
            peak = zombies;
        if (others == 0)
            break;
        if (now_ns() - t0 > 60LL * 1000000000) {
            fprintf(stderr, "init-orphans: %ld processes left after 60 s\n", others);
            break;
        }
        nanosleep(&nap, NULL);
    }
    int64_t t2 = now_ns();
    const struct timespec settle = {0, 100000000};
    nanosleep(&settle, NULL);
    long after_others, after_zombies;
    scan(self, &after_others, &after_zombies);
    int64_t rec[5] = {-2, t1 - t0, t2 - t0, after_zombies, peak};
    put(rec, 5);
}

int main(int argc, char **argv)
{
    /* vigil-init in container mode puts its own options (--log-to console)
     * first: the last two arguments are ours. */
    if (argc < 3) {
        fprintf(stderr, "usage: init-orphans [IGNORED...] FIFO ORPHANS\n");
        return 2;
    }
    long count = strtol(argv[argc - 1], NULL, 10);
    if (getenv("VIGIL_INIT_FD")) {
        static const char msg[] = "exit 0";
        if (write(3, msg, sizeof msg - 1) != sizeof msg - 1) {
            perror("init-orphans: write fd 3");
            return 6;
        }
    }
    out_fd = open(argv[argc - 2], O_WRONLY | O_CLOEXEC);
    if (out_fd < 0) {
        perror("init-orphans: open fifo");
        return 7;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    int64_t ready = -1;
    put(&ready, 1);
    for (;;) {
        char c;
        ssize_t n = read(0, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == 'q')
            return 0;
        if (c == 'o')
            orphans(count);
    }
}
