/* The benchmark harness: one measured run of one supervisor.
 *
 * bench/run starts it as `unshare --pid --fork --mount-proc harness ...`, so it
 * is PID 1 of a fresh PID namespace: every process of the run is its
 * descendant, orphans are reparented to it, /proc shows only this run, and
 * when it exits the kernel kills whatever is left. It owns the clock and the
 * FIFO the probes report to; it never starts a service itself (the supervisor
 * under test does), and it prints only "key value" lines on stdout.
 *
 * usage: harness -f FIFO -n N [-S SETTLE_MS] [-m] [-r KILLS] [-x SHELL_CMD]
 *                [-s STOP] -- SUPERVISOR [ARGS...]
 *   -f   the FIFO the probes write to (created here)
 *   -n   how many distinct services must report before "all running"
 *   -S   wait this long after all are running before -m, -r, -x, -s
 *   -v   also print every service's first arrival ("arrival IDX NS" after launch)
 *   -m   sum PSS/private (smaps_rollup) of every process that is not a probe
 *   -r   kill -9 this many distinct services, one at a time, and time each
 *        respawn (kill to the new probe's own timestamp)
 *   -x   run `/bin/sh -c SHELL_CMD` (its stdout goes to stderr) and wait for it
 *   -T   give up on the stop after this many seconds (default 60)
 *   -s   stop everything: "sig:NUM" sends signal NUM to the supervisor,
 *        "cmd:PROG ARG..." runs PROG (arguments split on spaces); then time
 *        until every probe is gone (EOF on the FIFO) and until every process
 *        of the namespace is gone (wait() says ECHILD)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct record {
    int32_t pid;
    int32_t idx;
    int64_t ns;
};

static int fifo_fd = -1;
static int sig_fd = -1;
static int n_services;
static int32_t *pids;   /* current probe pid of each service index */
static int64_t *first_ns; /* first arrival of each index, 0 = not yet */
static int64_t *cur_ns;   /* the current probe's own start timestamp */
static int seen;
static int64_t last_first_ns;
static pid_t sup_pid;
static pid_t waited_pid; /* a -x command we wait for */
static int waited_done;
static int no_children;
static int fifo_eof;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    printf("error %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static void reap(void)
{
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            if (p == waited_pid)
                waited_done = 1;
            continue;
        }
        if (p < 0 && errno == ECHILD)
            no_children = 1;
        return;
    }
}

/* Read every complete record the FIFO holds; 0 from read() is end-of-file
 * (no writer left), which only means something once probes have existed. */
static void drain(void)
{
    static char buf[16 * 512];
    static size_t have;
    for (;;) {
        ssize_t r = read(fifo_fd, buf + have, sizeof buf - have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            die("read fifo");
        }
        if (r == 0) {
            fifo_eof = 1;
            return;
        }
        have += (size_t)r;
        size_t off = 0;
        while (have - off >= sizeof(struct record)) {
            struct record rec;
            memcpy(&rec, buf + off, sizeof rec);
            off += sizeof rec;
            if (rec.idx < 0 || rec.idx >= n_services) {
                printf("stray_record %d %d\n", rec.pid, rec.idx);
                continue;
            }
            pids[rec.idx] = rec.pid;
            cur_ns[rec.idx] = rec.ns;
            if (!first_ns[rec.idx]) {
                first_ns[rec.idx] = rec.ns;
                seen++;
                if (rec.ns > last_first_ns)
                    last_first_ns = rec.ns;
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
}

/* Wait for the FIFO or a child event, at most until `deadline`. */
static void wait_event(int64_t deadline)
{
    int64_t left = deadline - now_ns();
    if (left < 0)
        left = 0;
    struct pollfd fds[2] = {
        { .fd = fifo_eof ? -1 : fifo_fd, .events = POLLIN },
        { .fd = sig_fd, .events = POLLIN },
    };
    struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
    int r = ppoll(fds, 2, &ts, NULL);
    if (r < 0 && errno != EINTR)
        die("ppoll");
    if (fds[1].revents & POLLIN) {
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) == sizeof si)
            ;
    }
    reap();
    if (fds[0].revents & (POLLIN | POLLHUP))
        drain();
}

static void sleep_ms(int ms)
{
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    while (now_ns() < deadline)
        wait_event(deadline);
}

static pid_t spawn(char **argv, int stdout_to_stderr)
{
    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (stdout_to_stderr)
            dup2(2, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return p;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

struct comm_sum {
    char comm[32];
    long procs, pss, priv, rss;
};

static void measure_memory(void)
{
    int32_t *sorted = malloc(sizeof(int32_t) * (size_t)n_services);
    if (!sorted)
        die("malloc");
    memcpy(sorted, pids, sizeof(int32_t) * (size_t)n_services);
    qsort(sorted, (size_t)n_services, sizeof(int32_t), cmp_i32);
    DIR *d = opendir("/proc");
    if (!d)
        die("opendir /proc");
    struct comm_sum sums[16];
    int nsums = 0;
    long tot_pss = 0, tot_priv = 0, tot_rss = 0, procs = 0;
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        int32_t key = (int32_t)pid;
        if (bsearch(&key, sorted, (size_t)n_services, sizeof key, cmp_i32))
            continue;
        char path[64], line[256], comm[32] = "?";
        snprintf(path, sizeof path, "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = 0;
            fclose(f);
        }
        snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", pid);
        f = fopen(path, "r");
        if (!f)
            continue;
        long pss = 0, priv = 0, rss = 0, v;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "Pss: %ld kB", &v) == 1)
                pss = v;
            else if (sscanf(line, "Rss: %ld kB", &v) == 1)
                rss = v;
            else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1)
                priv += v;
            else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
                priv += v;
        }
        fclose(f);
        procs++;
        tot_pss += pss;
        tot_priv += priv;
        tot_rss += rss;
        int i;
        for (i = 0; i < nsums; i++)
            if (!strcmp(sums[i].comm, comm))
                break;
        if (i == nsums && nsums < 16) {
            memset(&sums[i], 0, sizeof sums[i]);
            snprintf(sums[i].comm, sizeof sums[i].comm, "%s", comm);
            nsums++;
        }
        if (i < nsums) {
            sums[i].procs++;
            sums[i].pss += pss;
            sums[i].priv += priv;
            sums[i].rss += rss;
        }
    }
    closedir(d);
    free(sorted);
    printf("mem_procs %ld\nmem_pss_kb %ld\nmem_private_kb %ld\nmem_rss_kb %ld\n", procs, tot_pss,
           tot_priv, tot_rss);
    for (int i = 0; i < nsums; i++)
        printf("mem_by_comm %s %ld %ld %ld %ld\n", sums[i].comm, sums[i].procs, sums[i].pss,
               sums[i].priv, sums[i].rss);
}

/* "COMM:STATE xCOUNT ..." of the processes still in the namespace, for the
 * error line of a stop that did not finish. */
static const char *leftovers(void)
{
    static char out[1024];
    char names[32][40];
    int counts[32], n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return "?";
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid())
            continue;
        char path[64], line[256], key[40] = "?";
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(line, sizeof line, f)) {
            char *open = strchr(line, '('), *close = strrchr(line, ')');
            if (open && close && close[1] && close[2])
                snprintf(key, sizeof key, "%.*s:%c", (int)(close - open - 1 > 30 ? 30 : close - open - 1),
                         open + 1, close[2]);
        }
        fclose(f);
        int i;
        for (i = 0; i < n; i++)
            if (!strcmp(names[i], key))
                break;
        if (i == n && n < 32) {
            snprintf(names[n], sizeof names[n], "%s", key);
            counts[n++] = 0;
        }
        if (i < n)
            counts[i]++;
    }
    closedir(d);
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof out - 64; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s x%d ", names[i], counts[i]);
    return out;
}

static void respawns(int kills)
{
    for (int k = 0; k < kills; k++) {
        int idx = (int)(((long)k * n_services) / kills);
        int32_t old = pids[idx];
        drain();
        int64_t t = now_ns();
        if (kill(old, SIGKILL) < 0)
            die("kill");
        int64_t deadline = t + 5 * (int64_t)1000000000;
        while (pids[idx] == old && now_ns() < deadline)
            wait_event(deadline);
        if (pids[idx] == old) {
            printf("respawn_timeout %d\n", idx);
            continue;
        }
        /* the new probe's own timestamp, not when we noticed it */
        printf("respawn_ns %lld\n", (long long)(cur_ns[idx] - t));
        fflush(stdout);
        sleep_ms(100);
    }
}

int main(int argc, char **argv)
{
    const char *fifo = NULL, *then_cmd = NULL, *stop = NULL;
    int settle_ms = 0, mem = 0, kills = 0, verbose = 0, stop_timeout_s = 60, opt;
    while ((opt = getopt(argc, argv, "+f:n:S:vmr:x:s:T:")) != -1) {
        switch (opt) {
        case 'f': fifo = optarg; break;
        case 'n': n_services = atoi(optarg); break;
        case 'S': settle_ms = atoi(optarg); break;
        case 'v': verbose = 1; break;
        case 'm': mem = 1; break;
        case 'r': kills = atoi(optarg); break;
        case 'x': then_cmd = optarg; break;
        case 's': stop = optarg; break;
        case 'T': stop_timeout_s = atoi(optarg); break;
        default: return 2;
        }
    }
    if (!fifo || n_services <= 0 || optind >= argc) {
        fprintf(stderr, "usage: harness -f FIFO -n N [-S MS] [-m] [-r K] [-x CMD] [-s STOP] -- SUPERVISOR...\n");
        return 2;
    }
    pids = calloc((size_t)n_services, sizeof *pids);
    first_ns = calloc((size_t)n_services, sizeof *first_ns);
    cur_ns = calloc((size_t)n_services, sizeof *cur_ns);
    if (!pids || !first_ns || !cur_ns)
        die("calloc");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        die("signalfd");
    unlink(fifo);
    if (mkfifo(fifo, 0600) < 0)
        die("mkfifo");
    /* read-only, so that end-of-file means "no probe left"; we never write */
    fifo_fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fifo_fd < 0)
        die("open fifo");

    int64_t t0 = now_ns();
    sup_pid = spawn(argv + optind, 1);
    int64_t deadline = t0 + 120 * (int64_t)1000000000;
    while (seen < n_services && now_ns() < deadline && !no_children)
        wait_event(deadline);
    int64_t t_seen = now_ns();
    if (seen < n_services) {
        printf("error only %d of %d services ran\n", seen, n_services);
        return 1;
    }
    printf("start_ns %lld\nstart_seen_ns %lld\n", (long long)(last_first_ns - t0),
           (long long)(t_seen - t0));
    if (verbose)
        for (int i = 0; i < n_services; i++)
            printf("arrival %d %lld\n", i, (long long)(first_ns[i] - t0));
    fflush(stdout);

    sleep_ms(settle_ms);
    if (mem)
        measure_memory();
    fflush(stdout);
    if (kills)
        respawns(kills);
    if (then_cmd) {
        char *cargv[] = { "/bin/sh", "-c", (char *)then_cmd, NULL };
        waited_pid = spawn(cargv, 1);
        while (!waited_done)
            wait_event(now_ns() + 1000000000);
    }
    if (stop) {
        drain();
        int64_t t1;
        if (!strncmp(stop, "sig:", 4)) {
            t1 = now_ns();
            if (kill(sup_pid, atoi(stop + 4)) < 0)
                die("kill supervisor");
        } else if (!strncmp(stop, "cmd:", 4)) {
            char *words[64];
            int nw = 0;
            char *copy = strdup(stop + 4);
            for (char *w = strtok(copy, " "); w && nw < 63; w = strtok(NULL, " "))
                words[nw++] = w;
            words[nw] = NULL;
            t1 = now_ns();
            spawn(words, 1);
        } else {
            fprintf(stderr, "harness: bad -s %s\n", stop);
            return 2;
        }
        int64_t stop_deadline = t1 + stop_timeout_s * (int64_t)1000000000;
        int64_t t_services = 0;
        while (!no_children && now_ns() < stop_deadline) {
            wait_event(stop_deadline);
            /* the last exits can be reaped in the wake-up that precedes the
             * FIFO's hang-up: with no process left, no probe holds it open */
            if (no_children && !fifo_eof)
                drain();
            if (fifo_eof && !t_services)
                t_services = now_ns();
        }
        int64_t t_all = now_ns();
        if (!t_services || !no_children) {
            printf("error stop did not finish in %d s (services gone: %s; left: %s)\n",
                   stop_timeout_s, t_services ? "yes" : "no", leftovers());
            return 1;
        }
        printf("stop_services_ns %lld\nstop_all_ns %lld\n", (long long)(t_services - t1),
               (long long)(t_all - t1));
    }
    fflush(stdout);
    return 0;
}
