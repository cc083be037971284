/* vocab.c - the parameters of the schedules and stop rules, as the language
 * spells them, one row per kind of hprt_schedules.def / hprt_stops.def.
 *
 * The checker binds each kind's arguments in this order (check_policy.c), the
 * printers write them in this order (plan.c), and test_vocab checks every row
 * against docs/language.md (§11 and §14).  A "!" before a name: required.
 * Optimizers have their own, richer table (runtime/include/hprt_optimizers.def).
 */
#include "plan.h"

static const plan_policy_params sched_params[] = {
    [HPRT_SCHED_CONSTANT] = {{{0}}, 0},
    [HPRT_SCHED_STEP] = {{{"!every", NULL}, {"gamma", "0.1"}}, 2},
    [HPRT_SCHED_MULTISTEP] = {{{"!at", NULL}, {"gamma", "0.1"}}, 2},
    [HPRT_SCHED_EXP] = {{{"!gamma", NULL}}, 1},
    [HPRT_SCHED_COSINE] = {{{"min", "0"}, {"period", "the whole run"}}, 2},
    [HPRT_SCHED_SGDR] = {{{"!period", NULL}, {"mult", "1"}, {"min", "0"}}, 3},
    [HPRT_SCHED_CYCLIC] = {{{"!base", NULL},
                            {"!max", NULL},
                            {"step", "2000 steps"},
                            {"mode", "triangular"},
                            {"gamma", "1"},
                            {"cycle_momentum", "true"},
                            {"base_momentum", "0.8"},
                            {"max_momentum", "0.9"}},
                           8},
    [HPRT_SCHED_ONE_CYCLE] = {{{"!max", NULL},
                               {"pct", "0.3"},
                               {"div", "25"},
                               {"final_div", "1e4"},
                               {"anneal", "cos"},
                               {"three_phase", "false"},
                               {"cycle_momentum", "true"},
                               {"base_momentum", "0.85"},
                               {"max_momentum", "0.95"}},
                              9},
    [HPRT_SCHED_WARMUP] = {{{"!steps", NULL}, {"then", "constant"}}, 2},
    [HPRT_SCHED_PLATEAU] = {{{"factor", "0.1"},
                             {"patience", "10"},
                             {"monitor", "val_loss"},
                             {"min", "0"},
                             {"threshold", "1e-4"},
                             {"cooldown", "0"},
                             {"mode", NULL}},
                            7},
};
_Static_assert(sizeof sched_params / sizeof sched_params[0] == HPRT_SCHED__COUNT, "a row per schedule");

static const plan_policy_params stop_params[] = {
    [HPRT_STOP_NONE] = {{{0}}, 0},
    [HPRT_STOP_EARLY] = {{{"monitor", "val_loss"},
                          {"window", "1"},
                          {"patience", "5"},
                          {"min_delta", "0"},
                          {"mode", NULL},
                          {"restore_best", "true"}},
                         6},
    [HPRT_STOP_GL] = {{{"alpha", "5"}}, 1},
    [HPRT_STOP_PQ] = {{{"alpha", "0.5"}, {"strip", "5"}}, 2},
    [HPRT_STOP_UP] = {{{"s", "3"}, {"strip", "5"}}, 2},
};
_Static_assert(sizeof stop_params / sizeof stop_params[0] == HPRT_STOP__COUNT, "a row per stop rule");

const plan_policy_params *plan_sched_params(hprt_sched_kind k)
{
    return (unsigned)k < HPRT_SCHED__COUNT ? &sched_params[k] : NULL;
}

const plan_policy_params *plan_stop_params(hprt_stop_kind k)
{
    return (unsigned)k < HPRT_STOP__COUNT ? &stop_params[k] : NULL;
}
