/* barrier.c - a sense-reversing spin barrier for the training workers.
 *
 * Steps take about a millisecond and meet at two or three barriers, so a
 * futex round trip per barrier would show; spinning costs nothing while the
 * other worker is a few microseconds behind.  After a bounded spin the waiter
 * yields, so an oversubscribed machine (more workers than free cores) still
 * makes progress. */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "hprt_base.h"
#include "hprt_step.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

struct hprt_barrier {
    _Alignas(64) atomic_int arrived;
    _Alignas(64) atomic_int sense;
    int threads;
};

hprt_barrier *hprt_barrier_new(int threads)
{
    hprt_barrier *b = hprt_alloc(sizeof *b);
    if (!b)
        return NULL;
    atomic_init(&b->arrived, 0);
    atomic_init(&b->sense, 0);
    b->threads = threads < 1 ? 1 : threads;
    return b;
}

void hprt_barrier_free(hprt_barrier *b) { hprt_free(b); }

void hprt_barrier_wait(hprt_barrier *b)
{
    if (b->threads == 1)
        return;
    int sense = atomic_load_explicit(&b->sense, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == b->threads - 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->sense, !sense, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&b->sense, memory_order_acquire) == sense; spins++) {
        if (spins > 20000)
            sched_yield();
        else
            cpu_relax();
    }
}
