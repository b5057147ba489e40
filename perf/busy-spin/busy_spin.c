/*
 * busy_spin: one busy neighbour for the benchmark (EpollTransport.Perf --busy N starts N of them): a
 * process that keeps a CPU busy in user space at normal priority, as another tenant's work or a request
 * handler doing real work would, so the server's threads wait for a core whenever they become runnable.
 *
 * usage: busy_spin [parent-pid]
 *
 * Prints "ready" once it runs (where taskset put it), then spins until it is killed or its parent is
 * gone: every millisecond or so it compares its parent with parent-pid (the process that started it;
 * its parent at start when not given), so a harness killed with SIGKILL, which cannot stop its
 * children, leaves no spinner behind. The harness passes its own pid because a parent that dies before
 * the spinner first looks would otherwise go unnoticed. PR_SET_PDEATHSIG would not do: it fires when the
 * parent *thread* that forked exits, and the .NET thread that starts a process may retire long before
 * the run ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    pid_t parent = argc > 1 ? (pid_t)strtol(argv[1], NULL, 10) : getppid();
    if (getppid() != parent) {
        return 0;
    }
    puts("ready");
    fflush(stdout);
    volatile unsigned long sink = 0;
    for (;;) {
        /* About a millisecond of pure user-mode work between checks. */
        for (unsigned long i = 0; i < 1000000ul; i++) {
            sink += i;
        }
        if (getppid() != parent) {
            return 0;
        }
    }
}
