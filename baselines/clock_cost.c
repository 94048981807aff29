/* clock_cost.c: what one read of each clock a timed loop could use costs here, back to back,
 * in ns: CLOCK_MONOTONIC through the vDSO (what transport-bench reads twice per round trip),
 * and on x86-64 the time-stamp counter: rdtsc alone (which the processor may run before the
 * loads ahead of it complete, so it can cut a round trip short), and the two ordered forms a
 * timer must use, lfence;rdtsc and rdtscp. Three rounds of READS (default 20 million) reads
 * each: clock_cost [READS].
 * docs/own-cost.md, "What the clock leaves of the bookkeeping target". */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static long reads = 20000000L;

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* ns per read of `read`, `reads` times back to back; the sum keeps the reads. */
#define PER_READ(read)                                                                        \
    ({                                                                                        \
        volatile uint64_t sum = 0;                                                            \
        uint64_t start = monotonic_ns();                                                      \
        for (long i = 0; i < reads; i++)                                                      \
            sum += (read);                                                                    \
        (double)(monotonic_ns() - start) / reads;                                             \
    })

int main(int argc, char **argv)
{
    if (argc > 1 && (reads = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: clock_cost [READS]\n");
        return 2;
    }
    for (int round = 1; round <= 3; round++) {
        printf("round %d: clock_gettime %.1f ns", round, PER_READ(monotonic_ns()));
#if defined(__x86_64__)
        unsigned aux;
        printf(", rdtsc %.1f ns", PER_READ(__rdtsc()));
        printf(", lfence;rdtsc %.1f ns", PER_READ((_mm_lfence(), __rdtsc())));
        printf(", rdtscp %.1f ns", PER_READ(__rdtscp(&aux)));
#endif
        printf("\n");
    }
    return 0;
}
