/* test_rt_sched.c - learning-rate schedules, momentum cycling, reduce on
 * plateau and AdaBatch against the worked numbers of docs/policies.md §1-§5, §8. */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "hprt_sched.h"

/* Closed form against the listed values: the listed chained values differ by
 * a few ulps (docs/policies.md conventions), well inside this. */
#define RTOL 1e-12

static hprt_duration steps(double n) { return (hprt_duration){n, HPRT_STEPS}; }
static hprt_duration epochs(double n) { return (hprt_duration){n, HPRT_EPOCHS}; }

static hprt_sched_resolved resolve(const hprt_schedule *s, long spe, long total)
{
    hprt_sched_resolved r;
    hprt_error err = {0};
    hprt_status st = hprt_sched_resolve(s, spe, total, &r, &err);
    if (st != HPRT_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(st, HPRT_OK);
    return r;
}

/* ---- §1 CyclicLR -------------------------------------------------------------- */

static hprt_schedule cyclic(hprt_cyclic_mode mode)
{
    return (hprt_schedule){
        .kind = HPRT_SCHED_CYCLIC, .base = 1e-3, .max = 6e-3, .step_size = steps(2000), .mode = mode,
        .gamma = 0.99994, .cycle_momentum = true, .base_momentum = 0.8, .max_momentum = 0.9,
    };
}

static void test_cyclic_table(void **state)
{
    (void)state;
    static const struct {
        long t;
        double tri, tri2, exp;
    } rows[] = {
        {0, 1e-3, 1e-3, 1e-3},
        {1000, 3.5e-3, 3.5e-3, 0.00335440709585463},
        {2000, 6e-3, 6e-3, 0.0054345862184085065},
        {3000, 3.5e-3, 3.5e-3, 0.0030881642519600275},
        {4000, 1e-3, 1e-3, 1e-3},
        {6000, 6e-3, 3.5e-3, 0.004488343954531024},
    };
    hprt_schedule s1 = cyclic(HPRT_CYCLIC_TRIANGULAR), s2 = cyclic(HPRT_CYCLIC_TRIANGULAR2),
                  s3 = cyclic(HPRT_CYCLIC_EXP_RANGE);
    hprt_sched_resolved r1 = resolve(&s1, 100, 10000), r2 = resolve(&s2, 100, 10000),
                        r3 = resolve(&s3, 100, 10000);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        /* base_lr is ignored: CyclicLR overwrites the optimizer's rate */
        assert_close(hprt_sched_lr(&r1, 123.0, rows[i].t), rows[i].tri, RTOL);
        assert_close(hprt_sched_lr(&r2, 123.0, rows[i].t), rows[i].tri2, RTOL);
        assert_close(hprt_sched_lr(&r3, 123.0, rows[i].t), rows[i].exp, RTOL);
    }
    /* CyclicLR has no chained form: the same expression gives the same bits */
    assert_true(hprt_sched_lr(&r3, 0, 1000) == 0.00335440709585463);
    assert_true(hprt_sched_lr(&r3, 0, 6000) == 0.004488343954531024);
}

static void test_cyclic_step_in_epochs(void **state)
{
    (void)state;
    hprt_schedule s = cyclic(HPRT_CYCLIC_TRIANGULAR);
    s.step_size = epochs(4);   /* 4 epochs of 500 steps = 2000 steps */
    hprt_sched_resolved r = resolve(&s, 500, 10000);
    assert_close(r.up, 2000, 0);
    assert_close(hprt_sched_lr(&r, 0, 1000), 3.5e-3, RTOL);
}

static void test_cyclic_up_down(void **state)
{
    (void)state;
    /* step_size_down is not in the language; the resolved struct carries it */
    hprt_schedule s = cyclic(HPRT_CYCLIC_TRIANGULAR);
    s.step_size = steps(1000);
    hprt_sched_resolved r = resolve(&s, 1, 10000);
    r.down = 3000;
    assert_close(hprt_sched_lr(&r, 0, 500), 3.5e-3, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 2000), 0.004333333333333333, RTOL);
}

static void test_cyclic_momentum(void **state)
{
    (void)state;
    hprt_schedule s = cyclic(HPRT_CYCLIC_TRIANGULAR);
    hprt_sched_resolved r = resolve(&s, 1, 10000);
    assert_close(hprt_sched_momentum(&r, 0), 0.9, RTOL);
    assert_close(hprt_sched_momentum(&r, 1000), 0.85, RTOL);
    assert_close(hprt_sched_momentum(&r, 2000), 0.8, RTOL);
    assert_close(hprt_sched_momentum(&r, 4000), 0.9, RTOL);
    s.cycle_momentum = false;
    r = resolve(&s, 1, 10000);
    assert_true(isnan(hprt_sched_momentum(&r, 1000)));
}

/* ---- §2 OneCycleLR ---------------------------------------------------------- */

static hprt_schedule one_cycle(void)
{
    return (hprt_schedule){
        .kind = HPRT_SCHED_ONE_CYCLE, .max = 0.1, .pct = 0.3, .div = 25, .final_div = 1e4,
        .anneal = HPRT_ANNEAL_COS, .cycle_momentum = true, .base_momentum = 0.85, .max_momentum = 0.95,
    };
}

static void test_one_cycle(void **state)
{
    (void)state;
    hprt_schedule s = one_cycle();
    hprt_sched_resolved r = resolve(&s, 10, 100);
    assert_close(hprt_sched_lr(&r, 0, 0), 0.0040000000000000036, RTOL);
    assert_close(hprt_sched_momentum(&r, 0), 0.95, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 15), 0.05459866761210004, RTOL);
    assert_close(hprt_sched_momentum(&r, 15), 0.897293054570729, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 29), 0.1, RTOL);
    assert_close(hprt_sched_momentum(&r, 29), 0.85, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 64), 0.0500002, RTOL);
    assert_close(hprt_sched_momentum(&r, 64), 0.9, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 99), 4e-7, RTOL);
    assert_close(hprt_sched_momentum(&r, 99), 0.95, RTOL);
    /* t = T: p > 1, not the minimum (PyTorch allows this one extra step) */
    assert_close(hprt_sched_lr(&r, 0, 100), 5.074647154757325e-05, RTOL);
    /* exactly PyTorch's arithmetic: no chained form to differ from */
    assert_true(hprt_sched_lr(&r, 0, 15) == 0.05459866761210004);
    assert_true(hprt_sched_lr(&r, 0, 0) == 0.0040000000000000036);
}

static void test_one_cycle_linear(void **state)
{
    (void)state;
    hprt_schedule s = one_cycle();
    s.anneal = HPRT_ANNEAL_LINEAR;
    hprt_sched_resolved r = resolve(&s, 10, 100);
    assert_close(hprt_sched_lr(&r, 0, 15), 0.05365517241379311, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 29), 0.1, RTOL);
    /* PyTorch's (end - start) * p + start cancels at p = 1: not exactly 4e-7 */
    assert_close(hprt_sched_lr(&r, 0, 99), 3.999999999976245e-07, RTOL);
}

static void test_one_cycle_three_phase(void **state)
{
    (void)state;
    hprt_schedule s = one_cycle();
    s.three_phase = true;
    hprt_sched_resolved r = resolve(&s, 10, 100);
    assert_int_equal(r.n_phases, 3);
    assert_close(hprt_sched_lr(&r, 0, 14), 0.04940133238789996, RTOL);
    /* PyTorch's own arithmetic gives ...97 here (the phase 1 end is
     * 0.3 * 100 - 1 = 29.000000000000004); the document lists ...96. */
    assert_close(hprt_sched_lr(&r, 0, 44), 0.04940133238789996, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 58), 0.004, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 78), 0.002076797806833333, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 99), 4e-7, RTOL);
    /* momentum: max -> base -> max, then held at max */
    assert_close(hprt_sched_momentum(&r, 29), 0.85, RTOL);
    assert_close(hprt_sched_momentum(&r, 58), 0.95, RTOL);
    assert_close(hprt_sched_momentum(&r, 78), 0.95, RTOL);
}

static void test_one_cycle_errors(void **state)
{
    (void)state;
    hprt_schedule s = one_cycle();
    hprt_sched_resolved r;
    hprt_error err = {0};
    /* pct * T = 1: the first phase has no length (PyTorch: ZeroDivisionError) */
    s.pct = 0.5;
    assert_int_equal(hprt_sched_resolve(&s, 1, 2, &r, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "one_cycle"));
    s = one_cycle();
    assert_int_equal(hprt_sched_resolve(&s, 1, 0, &r, &err), HPRT_E_RUN);
    s.max_find = true;
    assert_int_equal(hprt_sched_resolve(&s, 1, 100, &r, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "find_lr"));
}

/* ---- §3 cosine, SGDR ---------------------------------------------------------- */

static void test_cosine(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_COSINE, .period = steps(10)};
    hprt_sched_resolved r = resolve(&s, 3, 1000);
    assert_close(hprt_sched_lr(&r, 0.1, 1), 0.09755282581475769, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 5), 0.05, RTOL);
    assert_true(hprt_sched_lr(&r, 0.1, 5) == 0.05);   /* closed form; chained gives ...01 */
    assert_close(hprt_sched_lr(&r, 0.1, 9), 0.002447174185242324, RTOL);
    assert_close_abs(hprt_sched_lr(&r, 0.1, 10), 0.0, 0, 1e-18);
    /* no clamp: past T the rate rises again */
    assert_close(hprt_sched_lr(&r, 0.1, 15), 0.05, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 20), 0.1, RTOL);
    s.min = 0.001;
    r = resolve(&s, 3, 1000);
    assert_close(hprt_sched_lr(&r, 0.1, 5), 0.0505, RTOL);
}

static void test_cosine_whole_run(void **state)
{
    (void)state;
    /* period n = 0: T = the run; 2 epochs of 5 steps = 10 */
    hprt_schedule s = {.kind = HPRT_SCHED_COSINE};
    hprt_sched_resolved r = resolve(&s, 5, 10);
    assert_int_equal(r.period, 10);
    assert_close(hprt_sched_lr(&r, 0.1, 1), 0.09755282581475769, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 9), 0.002447174185242324, RTOL);
    /* hpc explain's per-epoch table: t = e * steps_per_epoch */
    assert_close(hprt_sched_lr(&r, 0.1, 1 * r.steps_per_epoch), 0.05, RTOL);
    hprt_error err;
    assert_int_equal(hprt_sched_resolve(&s, 5, 0, &r, &err), HPRT_E_RUN);
}

static void test_sgdr(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_SGDR, .period = steps(10), .mult = 2};
    hprt_sched_resolved r = resolve(&s, 1, 1000);
    assert_close(hprt_sched_lr(&r, 0.1, 0), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 5), 0.05, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 9), 0.0024471741852423235, RTOL);
    assert_true(hprt_sched_lr(&r, 0.1, 9) == 0.0024471741852423235);
    assert_close(hprt_sched_lr(&r, 0.1, 10), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 20), 0.05, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 25), 0.014644660940672627, RTOL);   /* step(25.0) */
    assert_close(hprt_sched_lr(&r, 0.1, 29), 0.0006155829702431171, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 30), 0.1, RTOL);
    /* integer cycles: T_0 = 10, T_mult = 3, t = 1210 starts a cycle (PyTorch's
     * step(1210) takes the floating log and returns eta_min instead) */
    s.mult = 3;
    r = resolve(&s, 1, 100000);
    assert_close(hprt_sched_lr(&r, 0.1, 1210), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 1209), 0.1 * (1 + cos(M_PI * 809.0 / 810.0)) / 2, RTOL);
    /* cycles of 1, 2, 4, ... steps: t = LONG_MAX starts the cycle whose
     * length 2^63 no longer fits a long (no overflow; UBSan watches) */
    s.period = steps(1);
    s.mult = 2;
    r = resolve(&s, 1, 100);
    assert_close(hprt_sched_lr(&r, 0.1, LONG_MAX), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, (1L << 62) - 1 + (1L << 61)), 0.05, RTOL);
    s.period = steps(10);
    /* mult = 1: plain period */
    s.mult = 1;
    s.min = 0.01;
    r = resolve(&s, 1, 1000);
    assert_close(hprt_sched_lr(&r, 0.1, 35), 0.01 + 0.09 * 0.5, RTOL);
    /* mult must be an integer >= 1 */
    hprt_error err;
    s.mult = 1.5;
    assert_int_equal(hprt_sched_resolve(&s, 1, 1000, &r, &err), HPRT_E_RUN);
    s.mult = 0;
    assert_int_equal(hprt_sched_resolve(&s, 1, 1000, &r, &err), HPRT_E_RUN);
}

/* ---- §4 StepLR, ExponentialLR, multistep, constant ------------------------------ */

static void test_step(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_STEP, .every = steps(30), .gamma = 0.1};
    hprt_sched_resolved r = resolve(&s, 7, 1000);
    assert_close(hprt_sched_lr(&r, 0.05, 29), 0.05, RTOL);
    assert_close(hprt_sched_lr(&r, 0.05, 30), 0.005000000000000001, RTOL);
    assert_close(hprt_sched_lr(&r, 0.05, 60), 0.0005000000000000001, RTOL);
    /* `every = 3 epochs` of 10 steps is the same schedule */
    s.every = epochs(3);
    r = resolve(&s, 10, 1000);
    assert_close(hprt_sched_lr(&r, 0.05, 29), 0.05, RTOL);
    assert_close(hprt_sched_lr(&r, 0.05, 30), 0.005000000000000001, RTOL);
    hprt_error err;
    s.every = steps(0);
    assert_int_equal(hprt_sched_resolve(&s, 10, 1000, &r, &err), HPRT_E_RUN);
}

static void test_exp_per_epoch(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_EXP, .gamma = 0.95};
    hprt_sched_resolved r = resolve(&s, 7, 1000);
    /* closed form 0.05987369392383787; chained ...86 */
    assert_true(hprt_sched_lr(&r, 0.1, 70) == 0.05987369392383787);
    assert_close(hprt_sched_lr(&r, 0.1, 70), 0.05987369392383786, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 76), 0.05987369392383787, RTOL);  /* the whole epoch */
    assert_close(hprt_sched_lr(&r, 0.1, 69), 0.1 * pow(0.95, 9), RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 0), 0.1, RTOL);
}

static void test_multistep(void **state)
{
    (void)state;
    /* listed out of order, one twice: gamma^(milestones <= t) */
    hprt_schedule s = {.kind = HPRT_SCHED_MULTISTEP, .gamma = 0.1, .n_at = 3,
                       .at = {epochs(3), epochs(1), steps(30)}};
    hprt_sched_resolved r = resolve(&s, 10, 1000);
    assert_close(hprt_sched_lr(&r, 1.0, 9), 1.0, RTOL);
    assert_close(hprt_sched_lr(&r, 1.0, 10), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 1.0, 29), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 1.0, 30), 0.1 * 0.1 * 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 1.0, 900), 0.0010000000000000002, RTOL);
    s.n_at = 0;
    r = resolve(&s, 10, 1000);
    assert_close(hprt_sched_lr(&r, 0.3, 500), 0.3, RTOL);
}

static void test_constant(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_CONSTANT};
    hprt_sched_resolved r = resolve(&s, 10, 100);
    assert_true(hprt_sched_lr(&r, 0.01, 0) == 0.01);
    assert_true(hprt_sched_lr(&r, 0.01, 99) == 0.01);
    assert_true(isnan(hprt_sched_momentum(&r, 5)));
}

/* ---- warm-up ------------------------------------------------------------------ */

static void test_warmup(void **state)
{
    (void)state;
    hprt_schedule inner = {.kind = HPRT_SCHED_CONSTANT};
    hprt_schedule s = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(1000), .then = &inner};
    hprt_sched_resolved r = resolve(&s, 100, 5000);
    assert_int_equal(r.kind, HPRT_SCHED_CONSTANT);
    assert_int_equal(r.warmup, 1000);
    /* lr = target * t / W: from exactly 0, joining the inner schedule at W */
    assert_true(hprt_sched_lr(&r, 1e-3, 0) == 0.0);
    assert_close(hprt_sched_lr(&r, 1e-3, 1), 1e-6, RTOL);
    assert_close(hprt_sched_lr(&r, 1e-3, 500), 0.0005, RTOL);
    assert_close(hprt_sched_lr(&r, 1e-3, 999), 0.000999, RTOL);
    assert_true(hprt_sched_lr(&r, 1e-3, 1000) == 1e-3);
}

static void test_warmup_then_cosine(void **state)
{
    (void)state;
    /* 2 epochs of 100 steps of warm-up, then cosine over the rest of the run
     * on its own clock */
    hprt_schedule inner = {.kind = HPRT_SCHED_COSINE};
    hprt_schedule s = {.kind = HPRT_SCHED_WARMUP, .warmup = epochs(2), .then = &inner};
    hprt_sched_resolved r = resolve(&s, 100, 210);
    assert_int_equal(r.warmup, 200);
    assert_int_equal(r.period, 10);
    assert_close(hprt_sched_lr(&r, 0.1, 100), 0.05, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 200), 0.1, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 201), 0.09755282581475769, RTOL);
    assert_close(hprt_sched_lr(&r, 0.1, 205), 0.05, RTOL);
}

static void test_warmup_then_one_cycle(void **state)
{
    (void)state;
    hprt_schedule inner = one_cycle();
    hprt_schedule s = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(10), .then = &inner};
    hprt_sched_resolved r = resolve(&s, 10, 110);
    /* the ramp's target is one_cycle's first rate, max / div */
    assert_close(hprt_sched_lr(&r, 0, 5), 0.0040000000000000036 / 2, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 25), 0.05459866761210004, RTOL);
    assert_close(hprt_sched_lr(&r, 0, 109), 4e-7, RTOL);
    /* the momentum waits at its start value */
    assert_close(hprt_sched_momentum(&r, 3), 0.95, RTOL);
    assert_close(hprt_sched_momentum(&r, 39), 0.85, RTOL);
}

static void test_warmup_errors(void **state)
{
    (void)state;
    hprt_sched_resolved r;
    hprt_error err = {0};
    hprt_schedule none = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(10)};
    assert_int_equal(hprt_sched_resolve(&none, 10, 100, &r, &err), HPRT_E_RUN);
    hprt_schedule c = {.kind = HPRT_SCHED_CONSTANT};
    hprt_schedule w1 = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(10), .then = &c};
    hprt_schedule w2 = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(10), .then = &w1};
    assert_int_equal(hprt_sched_resolve(&w2, 10, 100, &r, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "warm-up"));
    /* cosine over the whole run with nothing left after the warm-up */
    hprt_schedule cos_ = {.kind = HPRT_SCHED_COSINE};
    hprt_schedule w3 = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(100), .then = &cos_};
    assert_int_equal(hprt_sched_resolve(&w3, 10, 100, &r, &err), HPRT_E_RUN);
    assert_int_equal(hprt_sched_resolve(&c, 0, 100, &r, &err), HPRT_E_RUN);
}

/* ---- §5 ReduceLROnPlateau ----------------------------------------------------- */

static hprt_schedule plateau(int patience)
{
    return (hprt_schedule){.kind = HPRT_SCHED_PLATEAU, .factor = 0.1, .patience = patience,
                           .threshold = 1e-4, .monitor = HPRT_METRIC_VAL_LOSS};
}

static void test_plateau_worked(void **state)
{
    (void)state;
    hprt_schedule s = plateau(2);
    hprt_plateau p;
    hprt_plateau_init(&p, &s, 0.1);
    double expect[9] = {0, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002,
                        0.010000000000000002, 0.0010000000000000002};
    for (int call = 1; call <= 8; call++) {
        double lr = hprt_plateau_step(&p, call == 1 ? 1.0 : 0.9);
        assert_close(lr, expect[call], RTOL);
    }
    assert_true(p.lr == 0.1 * 0.1 * 0.1);
    /* and hprt_sched_lr passes the plateau's rate through */
    hprt_sched_resolved r = resolve(&s, 10, 100);
    assert_true(hprt_sched_lr(&r, p.lr, 77) == p.lr);
}

static void test_plateau_patience0_threshold(void **state)
{
    (void)state;
    /* 0.99995 is not below 1.0 * (1 - 1e-4): a bad epoch, so call 2 cuts */
    hprt_schedule s = plateau(0);
    hprt_plateau p;
    hprt_plateau_init(&p, &s, 0.1);
    assert_close(hprt_plateau_step(&p, 1.0), 0.1, RTOL);
    assert_close(hprt_plateau_step(&p, 0.99995), 0.010000000000000002, RTOL);
    /* a real improvement does not cut */
    assert_close(hprt_plateau_step(&p, 0.5), 0.010000000000000002, RTOL);
}

static void test_plateau_eps(void **state)
{
    (void)state;
    /* 1e-8 -> 1e-9 is a cut of 9e-9 <= eps: skipped */
    hprt_schedule s = plateau(0);
    hprt_plateau p;
    hprt_plateau_init(&p, &s, 1e-8);
    hprt_plateau_step(&p, 1.0);
    assert_true(hprt_plateau_step(&p, 2.0) == 1e-8);
    assert_true(hprt_plateau_step(&p, 2.0) == 1e-8);
}

static void test_plateau_cooldown_min(void **state)
{
    (void)state;
    /* cooldown 2, patience 0, a flat metric: cuts at calls 2 and 5 (the
     * cooldown swallows the bad epochs of calls 3 and 4) */
    hprt_schedule s = plateau(0);
    s.cooldown = 2;
    hprt_plateau p;
    hprt_plateau_init(&p, &s, 1.0);
    double lrs[6];
    for (int i = 1; i <= 5; i++)
        lrs[i] = hprt_plateau_step(&p, 1.0);
    assert_close(lrs[1], 1.0, RTOL);
    assert_close(lrs[2], 0.1, RTOL);
    assert_close(lrs[3], 0.1, RTOL);
    assert_close(lrs[4], 0.1, RTOL);
    assert_close(lrs[5], 0.1 * 0.1, RTOL);

    /* min_lr: 0.1 -> max(0.01, 0.05) = 0.05, then 0.05 - 0.05 <= eps */
    s = plateau(0);
    s.min = 0.05;
    hprt_plateau_init(&p, &s, 0.1);
    hprt_plateau_step(&p, 1.0);
    assert_close(hprt_plateau_step(&p, 1.0), 0.05, RTOL);
    assert_close(hprt_plateau_step(&p, 1.0), 0.05, RTOL);
}

static void test_plateau_max_mode(void **state)
{
    (void)state;
    hprt_schedule s = plateau(1);
    s.monitor = HPRT_METRIC_VAL_ACCURACY;
    s.monitor_mode = HPRT_MODE_MAX;
    hprt_plateau p;
    hprt_plateau_init(&p, &s, 0.1);
    assert_close(hprt_plateau_step(&p, 0.5), 0.1, RTOL);
    assert_close(hprt_plateau_step(&p, 0.6), 0.1, RTOL);
    /* 0.60005 is not above 0.6 * 1.0001 */
    assert_close(hprt_plateau_step(&p, 0.60005), 0.1, RTOL);
    assert_close(hprt_plateau_step(&p, 0.59), 0.010000000000000002, RTOL);
    /* plateau inside a warm-up: init looks through to `then` */
    hprt_schedule w = {.kind = HPRT_SCHED_WARMUP, .warmup = steps(5), .then = &s};
    hprt_plateau_init(&p, &w, 0.2);
    assert_int_equal(p.patience, 1);
    assert_int_equal(p.mode, HPRT_MODE_MAX);
    hprt_sched_resolved r = resolve(&w, 10, 100);
    assert_close(hprt_sched_lr(&r, p.lr, 2), 0.2 * 2 / 5, RTOL);
}

/* ---- §8 AdaBatch --------------------------------------------------------------- */

static void test_adabatch_stages(void **state)
{
    (void)state;
    hprt_batch b = {.adaptive = true, .size = 128, .start = 128, .factor = 2, .max = 1024,
                    .every = epochs(20), .scale_lr = true};
    static const struct {
        long epoch;
        int batch;
        double scale;
    } rows[] = {{0, 128, 1}, {19, 128, 1}, {20, 256, 2}, {39, 256, 2}, {40, 512, 4},
                {60, 1024, 8}, {80, 1024, 8}, {200, 1024, 8}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        hprt_batch_stage st = hprt_adabatch_at(&b, rows[i].epoch, 0);
        assert_int_equal(st.batch, rows[i].batch);
        assert_close(st.lr_scale, rows[i].scale, RTOL);
    }
    assert_int_equal(hprt_adabatch_at(&b, 45, 0).stage, 2);

    /* docs/policies.md §8: the baseline's x0.375 decay every 20 epochs becomes
     * x0.75 when the batch doubles with scale_lr: (128, 0.1), (256, 0.075),
     * (512, 0.05625), (1024, 0.0421875), with lr / batch as listed */
    hprt_schedule s = {.kind = HPRT_SCHED_STEP, .every = epochs(20), .gamma = 0.375};
    hprt_sched_resolved r = resolve(&s, 10, 10000);
    static const double alpha[4] = {0.1, 0.075, 0.05625, 0.0421875};
    static const double ratio[4] = {7.8125e-4, 2.9296875e-4, 1.0986328125e-4, 4.119873046875e-05};
    for (int k = 0; k < 4; k++) {
        long epoch = 20L * k;
        hprt_batch_stage st = hprt_adabatch_at(&b, epoch, epoch * r.steps_per_epoch);
        assert_int_equal(st.batch, 128 << k);
        double lr = hprt_sched_lr(&r, 0.1, epoch * r.steps_per_epoch) * st.lr_scale;
        assert_close(lr, alpha[k], RTOL);
        assert_close(lr / st.batch, ratio[k], RTOL);
    }
}

static void test_adabatch_clip_steps_fixed(void **state)
{
    (void)state;
    /* a change clipped by max scales the rate by the clipped ratio */
    hprt_batch b = {.adaptive = true, .start = 32, .size = 32, .factor = 2, .max = 100,
                    .every = epochs(4), .scale_lr = true};
    assert_int_equal(hprt_adabatch_at(&b, 4, 0).batch, 64);
    hprt_batch_stage st = hprt_adabatch_at(&b, 8, 0);
    assert_int_equal(st.batch, 100);
    assert_close(st.lr_scale, 100.0 / 32.0, RTOL);
    st = hprt_adabatch_at(&b, 400, 0);
    assert_int_equal(st.batch, 100);
    assert_close(st.lr_scale, 100.0 / 32.0, RTOL);
    /* without scale_lr the rate is untouched */
    b.scale_lr = false;
    assert_close(hprt_adabatch_at(&b, 8, 0).lr_scale, 1.0, RTOL);
    /* `every` in steps counts steps, not epochs */
    b.scale_lr = true;
    b.every = steps(500);
    assert_int_equal(hprt_adabatch_at(&b, 99, 499).batch, 32);
    assert_int_equal(hprt_adabatch_at(&b, 0, 500).batch, 64);
    assert_int_equal(hprt_adabatch_at(&b, 0, 1000).batch, 100);
    /* a fixed batch */
    hprt_batch f = {.size = 96};
    st = hprt_adabatch_at(&f, 50, 5000);
    assert_int_equal(st.batch, 96);
    assert_close(st.lr_scale, 1.0, 0);
    assert_int_equal(st.stage, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cyclic_table),
        cmocka_unit_test(test_cyclic_step_in_epochs),
        cmocka_unit_test(test_cyclic_up_down),
        cmocka_unit_test(test_cyclic_momentum),
        cmocka_unit_test(test_one_cycle),
        cmocka_unit_test(test_one_cycle_linear),
        cmocka_unit_test(test_one_cycle_three_phase),
        cmocka_unit_test(test_one_cycle_errors),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_cosine_whole_run),
        cmocka_unit_test(test_sgdr),
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_exp_per_epoch),
        cmocka_unit_test(test_multistep),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_warmup_then_cosine),
        cmocka_unit_test(test_warmup_then_one_cycle),
        cmocka_unit_test(test_warmup_errors),
        cmocka_unit_test(test_plateau_worked),
        cmocka_unit_test(test_plateau_patience0_threshold),
        cmocka_unit_test(test_plateau_eps),
        cmocka_unit_test(test_plateau_cooldown_min),
        cmocka_unit_test(test_plateau_max_mode),
        cmocka_unit_test(test_adabatch_stages),
        cmocka_unit_test(test_adabatch_clip_steps_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
