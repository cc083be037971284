/* prof.c - the profile mode's clock (hprt_prof.h). */
#include "hprt_prof.h"

#include <time.h>

int64_t hprt_prof_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0; /* no such clock: every pass reads 0 */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hprt_prof_add(int64_t *slot, int64_t t0)
{
    *slot += hprt_prof_now() - t0;
}

void hprt_prof_move(int64_t *to, int64_t *from, int64_t t0)
{
    int64_t d = hprt_prof_now() - t0;
    *to += d;
    *from -= d;
}
