/* hprt_prof.h - the profile mode's clock (HPC_PROFILE; docs/internals.md).
 *
 * The generated training step, compiled with a profile, reads the calling
 * thread's CPU clock before each layer's pass and adds the time it took to an
 * int64 slot of its own (per thread, so no locking and no false sharing).
 * Thread CPU time, not wall time: on a shared machine the figures then do
 * not count time the thread waited for a core.  Compiled without a profile,
 * the step calls none of these. */
#ifndef HPRT_PROF_H
#define HPRT_PROF_H

#include <stdint.h>

/* The calling thread's CPU time in nanoseconds. */
int64_t hprt_prof_now(void);
/* *slot += hprt_prof_now() − t0 */
void hprt_prof_add(int64_t *slot, int64_t t0);
/* The time since t0 moved from *from to *to (a pass timed inside another). */
void hprt_prof_move(int64_t *to, int64_t *from, int64_t t0);

#endif
