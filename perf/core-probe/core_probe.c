/*
 * core_probe: how long one cache line takes to travel between two CPUs and back.
 *
 * Two threads, pinned to the first two CPUs this process may use, hand a counter back and forth
 * through one shared cache line; the average round trip is what every cross-thread hand-off on this
 * machine pays at least once (the thread pool's queue, a pipe's state, a wake-up flag).
 *
 * Why the benchmark harness runs it: on a shared virtual machine the host sometimes places the two
 * vCPUs far apart, and the round trip jumps from ~90 ns to ~400 ns for seconds to minutes. Server
 * configurations that hand every request from one thread to another then need up to twice the CPU per
 * request, while the others barely change, so a sample taken in such a phase compares the host, not
 * the transports. The harness probes before and after every sample and measures again when the
 * round trip was far above the fastest it has seen.
 *
 * usage: core_probe [round_trips=300000]
 * Output (stdout, one line): round_trip_ns=<average> cpus=<first>,<second>
 * Exit 3 when fewer than two CPUs are available (nothing to measure).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic long g_turn __attribute__((aligned(64)));
static long g_round_trips;
static int g_cpus[2];

static void fail(const char *what, int error)
{
    fprintf(stderr, "core_probe: %s: %s\n", what, strerror(error));
    exit(1);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (error != 0) {
        fail("pthread_setaffinity_np", error);
    }
}

/* Odd values are the prober's serve, even values the echo's return. */
static void *echo_side(void *unused)
{
    (void)unused;
    pin(g_cpus[1]);
    for (long i = 0; i < g_round_trips; i++) {
        while (atomic_load_explicit(&g_turn, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&g_turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    g_round_trips = argc > 1 ? atol(argv[1]) : 300000;
    if (g_round_trips <= 0) {
        fprintf(stderr, "usage: %s [round_trips > 0]\n", argv[0]);
        return 2;
    }

    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        fail("sched_getaffinity", errno);
    }
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
        if (CPU_ISSET(cpu, &allowed)) {
            g_cpus[found++] = cpu;
        }
    }
    if (found < 2) {
        fprintf(stderr, "core_probe: fewer than two CPUs available\n");
        return 3;
    }

    pthread_t echo;
    int error = pthread_create(&echo, NULL, echo_side, NULL);
    if (error != 0) {
        fail("pthread_create", error);
    }
    pin(g_cpus[0]);

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < g_round_trips; i++) {
        atomic_store_explicit(&g_turn, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&g_turn, memory_order_acquire) != 2 * i + 2) {
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(echo, NULL);

    double elapsed_ns = (double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec);
    printf("round_trip_ns=%.1f cpus=%d,%d\n", elapsed_ns / (double)g_round_trips, g_cpus[0], g_cpus[1]);
    return 0;
}
