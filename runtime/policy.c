/* policy.c - names of the policy enums, from their tables (hprt_*.def). */
#include "hprt_policy.h"

const char *hprt_metric_name(hprt_metric m)
{
    static const char *const names[] = {
#define X(e, name, mode) [HPRT_METRIC_##e] = name,
#include "hprt_metrics.def"
#undef X
    };
    return (unsigned)m < HPRT_METRIC__COUNT ? names[m] : "?";
}

hprt_mode hprt_metric_mode(hprt_metric m)
{
    static const hprt_mode modes[] = {
#define X(e, name, mode) [HPRT_METRIC_##e] = mode,
#include "hprt_metrics.def"
#undef X
    };
    return (unsigned)m < HPRT_METRIC__COUNT ? modes[m] : HPRT_MODE_MIN;
}

const char *hprt_opt_name(hprt_opt_kind k)
{
    static const char *const names[] = {
#define X(e, name, ...) [HPRT_OPT_##e] = name,
#include "hprt_optimizers.def"
#undef X
    };
    return (unsigned)k < HPRT_OPT__COUNT ? names[k] : "?";
}

const char *hprt_sched_name(hprt_sched_kind k)
{
    static const char *const names[] = {
#define X(e, name) [HPRT_SCHED_##e] = name,
#include "hprt_schedules.def"
#undef X
    };
    return (unsigned)k < HPRT_SCHED__COUNT ? names[k] : "?";
}

const char *hprt_stop_name(hprt_stop_kind k)
{
    static const char *const names[] = {
#define X(e, name) [HPRT_STOP_##e] = name,
#include "hprt_stops.def"
#undef X
    };
    return (unsigned)k < HPRT_STOP__COUNT ? names[k] : "?";
}
