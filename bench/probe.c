/* The service every supervisor runs in the benchmark (and the raw floor too).
 *
 * Once exec'd it takes a CLOCK_MONOTONIC timestamp, opens the harness's FIFO
 * (its path is compiled in with -DPROBE_FIFO="..."), writes one 16-byte record
 * (pid, service index, timestamp) and then sleeps forever holding the FIFO open,
 * so the harness sees "every service gone" as end-of-file on the FIFO.
 *
 * The service index comes from argv[1] when given: "N" (vigild, the raw floor)
 * or "sN" (s6-supervise 2.11 passes the service directory's name); else from
 * the working directory's last component "sN" (runsv runs ./run, a symlink to
 * this binary, inside the service directory, with no argument). It is built
 * static so that no dynamic loader runs: the cost measured is the supervisor's.
 * Under s6 with a notification-fd it also reports readiness (see below). It
 * must never write anything else, nor exit on its own.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PROBE_FIFO
#error "compile with -DPROBE_FIFO=\"/path/to/fifo\""
#endif

struct record {
    int32_t pid;
    int32_t idx;
    int64_t ns;
};

static int parse_index(const char *name)
{
    if (name[0] == 's')
        name++;
    if (name[0] < '0' || name[0] > '9')
        return -1;
    return atoi(name);
}

static int index_from_cwd(void)
{
    char buf[4096];
    if (!getcwd(buf, sizeof buf))
        return -1;
    char *slash = strrchr(buf, '/');
    return parse_index(slash ? slash + 1 : buf);
}

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct record r;
    r.pid = (int32_t)getpid();
    r.idx = argc > 1 ? parse_index(argv[1]) : index_from_cwd();
    r.ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    /* s6's readiness notification: when s6-supervise was given a
     * notification-fd (3), report "ready" as a daemon would. Under every other
     * supervisor fd 3 is closed and this is one failing fstat. Done before
     * the FIFO is opened, which would otherwise take fd 3. */
    struct stat st;
    if (fstat(3, &st) == 0 && S_ISFIFO(st.st_mode)) {
        (void)write(3, "\n", 1);
        close(3);
    }
    int fd = open(PROBE_FIFO, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return 111;
    /* 16 bytes < PIPE_BUF: the write is atomic, records never interleave */
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        return 111;
    for (;;)
        pause();
}
