/* test_sched_jit.c - the schedule compiled to code equals the reference
 * (runtime/sched.c) to the bit at every step, and both give the worked
 * numbers of docs/policies.md §1-§4. */
#include <math.h>

#include "codegen.h"
#include "hpc_test.h"
#include "hprt_sched.h"

static void check(const hprt_schedule *s, long spe, long total, double base, const long *ts, const double *want, int n,
                  const double *mts, const double *mwant, int nm)
{
    hprt_sched_resolved r;
    hprt_error err;
    assert_int_equal(hprt_sched_resolve(s, spe, total, &r, &err), HPRT_OK);
    cg_error msg;
    cg_program *p = cg_compile_schedule(&r, &msg);
    if (!p)
        print_error("%s\n", msg.msg);
    assert_non_null(p);
    hprt_lr_fn lr = cg_lr_fn(p);
    hprt_momentum_fn mom = cg_momentum_fn(p);
    for (long t = 0; t <= total + 5; t++) {
        double a = lr(t, base), b = hprt_sched_lr(&r, base, t);
        if (a != b && !(isnan(a) && isnan(b))) {
            print_error("step %ld: compiled %.17g, reference %.17g\n", t, a, b);
            fail();
        }
        double ma = mom(t), mb = hprt_sched_momentum(&r, t);
        if (ma != mb && !(isnan(ma) && isnan(mb))) {
            print_error("step %ld: compiled momentum %.17g, reference %.17g\n", t, ma, mb);
            fail();
        }
    }
    for (int i = 0; i < n; i++)
        assert_close(lr(ts[i], base), want[i], 1e-12);
    for (int i = 0; i < nm; i++)
        assert_close(mom((long)mts[2 * i]), mwant[i], 1e-12);
    cg_program_free(p);
}

static void test_cyclic(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_CYCLIC, .base = 1e-3, .max = 6e-3, .step_size = {2000, HPRT_STEPS},
                       .mode = HPRT_CYCLIC_TRIANGULAR, .gamma = 1, .cycle_momentum = true, .base_momentum = 0.8,
                       .max_momentum = 0.9};
    long ts[] = {0, 1000, 2000, 3000, 4000, 6000};
    double tri[] = {1e-3, 3.5e-3, 6e-3, 3.5e-3, 1e-3, 6e-3};
    double mts[] = {0, 0, 1000, 0, 2000, 0};
    double mw[] = {0.9, 0.85, 0.8};
    check(&s, 100, 6000, 0.1, ts, tri, 6, mts, mw, 3);
    s.mode = HPRT_CYCLIC_TRIANGULAR2;
    double tri2[] = {1e-3, 3.5e-3, 6e-3, 3.5e-3, 1e-3, 3.5e-3};
    check(&s, 100, 6000, 0.1, ts, tri2, 6, NULL, NULL, 0);
    s.mode = HPRT_CYCLIC_EXP_RANGE;
    s.gamma = 0.99994;
    double exr[] = {1e-3, 0.00335440709585463, 0.0054345862184085065, 0.0030881642519600275, 1e-3, 0.004488343954531024};
    check(&s, 100, 6000, 0.1, ts, exr, 6, NULL, NULL, 0);
}

static void test_one_cycle(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_ONE_CYCLE, .max = 0.1, .pct = 0.3, .div = 25, .final_div = 1e4,
                       .anneal = HPRT_ANNEAL_COS, .cycle_momentum = true, .base_momentum = 0.85, .max_momentum = 0.95};
    long ts[] = {0, 15, 29, 64, 99};
    double w[] = {0.0040000000000000036, 0.05459866761210004, 0.1, 0.0500002, 4e-7};
    double mts[] = {0, 0, 15, 0, 29, 0, 64, 0, 99, 0};
    double mw[] = {0.95, 0.897293054570729, 0.85, 0.9, 0.95};
    check(&s, 10, 100, 0.1, ts, w, 5, mts, mw, 5);
    s.anneal = HPRT_ANNEAL_LINEAR;
    long tl[] = {15};
    double wl[] = {0.05365517241379311};
    check(&s, 10, 100, 0.1, tl, wl, 1, NULL, NULL, 0);
    s.anneal = HPRT_ANNEAL_COS;
    s.three_phase = true;
    long t3[] = {14, 44, 58, 78};
    double w3[] = {0.04940133238789996, 0.04940133238789996, 0.004, 0.002076797806833333};
    check(&s, 10, 100, 0.1, t3, w3, 4, NULL, NULL, 0);
}

static void test_cosine_sgdr(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_COSINE, .period = {10, HPRT_STEPS}};
    long ts[] = {1, 5, 9, 10, 15, 20};
    double w[] = {0.09755282581475769, 0.05, 0.002447174185242324, 0, 0.05, 0.1};
    check(&s, 10, 30, 0.1, ts, w, 6, NULL, NULL, 0);
    s.min = 0.001;
    long t1[] = {5};
    double w1[] = {0.0505};
    check(&s, 10, 30, 0.1, t1, w1, 1, NULL, NULL, 0);
    hprt_schedule r = {.kind = HPRT_SCHED_SGDR, .period = {10, HPRT_STEPS}, .mult = 2};
    long tr[] = {5, 9, 10, 20, 29, 30};
    double wr[] = {0.05, 0.0024471741852423235, 0.1, 0.05, 0.0006155829702431171, 0.1};
    check(&r, 10, 200, 0.1, tr, wr, 6, NULL, NULL, 0);
    r.mult = 1;
    check(&r, 10, 100, 0.1, NULL, NULL, 0, NULL, NULL, 0);
}

static void test_step_exp_multistep_warmup(void **state)
{
    (void)state;
    hprt_schedule s = {.kind = HPRT_SCHED_STEP, .every = {30, HPRT_STEPS}, .gamma = 0.1};
    long ts[] = {29, 30, 60};
    double w[] = {0.05, 0.005000000000000001, 0.0005000000000000001};
    check(&s, 10, 100, 0.05, ts, w, 3, NULL, NULL, 0);
    hprt_schedule e = {.kind = HPRT_SCHED_EXP, .gamma = 0.95};
    long te[] = {10};
    double we[] = {0.05987369392383787};
    check(&e, 1, 20, 0.1, te, we, 1, NULL, NULL, 0); /* one step per epoch: ExponentialLR */
    hprt_schedule m = {.kind = HPRT_SCHED_MULTISTEP, .n_at = 2, .at = {{3, HPRT_STEPS}, {2, HPRT_EPOCHS}}, .gamma = 0.5};
    long tm[] = {2, 3, 19, 20};
    double wm[] = {1.0, 0.5, 0.5, 0.25};
    check(&m, 10, 40, 1.0, tm, wm, 4, NULL, NULL, 0);
    hprt_schedule inner = {.kind = HPRT_SCHED_COSINE};
    hprt_schedule w2 = {.kind = HPRT_SCHED_WARMUP, .warmup = {10, HPRT_STEPS}, .then = &inner};
    long tw[] = {0, 5, 10};
    double ww[] = {0, 0.05, 0.1};
    check(&w2, 10, 50, 0.1, tw, ww, 3, NULL, NULL, 0);
    hprt_schedule c = {.kind = HPRT_SCHED_CONSTANT};
    check(&c, 10, 20, 0.3, NULL, NULL, 0, NULL, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cyclic),
        cmocka_unit_test(test_one_cycle),
        cmocka_unit_test(test_cosine_sgdr),
        cmocka_unit_test(test_step_exp_multistep_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
