/* The raw floor: no supervision at all. `floor N PROBE` forks and execs PROBE
 * with argv[1] = i for i in 0..N-1, as fast as one process can, then waits.
 * On SIGTERM it sends SIGTERM to every child and exits once all are reaped —
 * the floor for "stop everything". It keeps no state beyond the pid list and
 * never restarts anything.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: floor N PROBE\n");
        return 2;
    }
    int n = atoi(argv[1]);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!pids || n <= 0)
        return 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        pid_t p = fork();
        if (p == 0) {
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            char *cargv[] = { argv[2], num, NULL };
            execv(argv[2], cargv);
            _exit(127);
        }
        pids[i] = p;
    }
    int sig;
    sigwait(&set, &sig);
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    return 0;
}
