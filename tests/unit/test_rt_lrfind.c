/* test_rt_lrfind.c - the LR range test against docs/policies.md §9 (fastai). */
#include "testutil.h"

#include <math.h>

#include "hprt_sched.h"

#define RTOL 1e-12

static const hprt_lrfind defaults = {.start = 1e-7, .end = 10, .steps = 100,
                                     .suggest = HPRT_SUGGEST_VALLEY, .stop_div = true};

static void test_sweep(void **state)
{
    (void)state;
    assert_close(hprt_lrfind_lr(&defaults, 0), 1e-7, RTOL);
    assert_close(hprt_lrfind_lr(&defaults, 50), 0.001, RTOL);
    assert_close(hprt_lrfind_lr(&defaults, 99), 8.317637711026709, RTOL);
    assert_true(hprt_lrfind_lr(&defaults, 99) == 8.317637711026709);
    assert_int_equal(hprt_lrfind_steps(&defaults), 100);
    /* fewer than 6 steps are raised to 6 */
    hprt_lrfind few = defaults;
    few.steps = 3;
    assert_int_equal(hprt_lrfind_steps(&few), 6);
    assert_close(hprt_lrfind_lr(&few, 3), 1e-7 * pow(1e8, 0.5), RTOL);
}

/* The worked curve of §9: lrs = 10^(-6 + 0.5 i), i = 0..11. */
static double lrs[12];
static const double losses[12] = {2.30, 2.29, 2.25, 2.10, 1.80, 1.40, 1.10, 0.95, 0.90, 1.00, 1.60, 3.50};

static int setup_curve(void **state)
{
    (void)state;
    for (int i = 0; i < 12; i++)
        lrs[i] = pow(10, -6 + 0.5 * i);
    return 0;
}

static void test_suggestions_worked(void **state)
{
    (void)state;
    /* The document's numbers apply the suggestion functions to the 12 points
     * as they stand (valley: me = 8, ms = -1 needs all of them). */
    assert_close(hprt_lrfind_valley(lrs, losses, 12), 3.1622776601683795e-05, RTOL);
    assert_close(hprt_lrfind_steep(lrs, losses, 12), 1e-4, RTOL);
    assert_close(hprt_lrfind_minimum(lrs, losses, 12), 0.001, RTOL);
}

static void test_suggest_slices(void **state)
{
    (void)state;
    /* hprt_lrfind_suggest first cuts lrs[steps//10 : -5] as fastai's lr_find
     * does.  With steps = 12 that keeps points 1..6: valley and steep land on
     * the same rates, but minimum becomes lrs[6] / 10 = 1e-4, not 0.001. */
    hprt_lrfind cfg = defaults;
    cfg.steps = 12;
    assert_close(hprt_lrfind_suggest(&cfg, lrs, losses, 12), 3.1622776601683795e-05, RTOL);
    cfg.suggest = HPRT_SUGGEST_STEEP;
    assert_close(hprt_lrfind_suggest(&cfg, lrs, losses, 12), 1e-4, RTOL);
    cfg.suggest = HPRT_SUGGEST_MINIMUM;
    assert_close(hprt_lrfind_suggest(&cfg, lrs, losses, 12), 1e-4, RTOL);
    /* steps = 100 but only 12 points recorded: lrs[10:7] is empty */
    cfg.steps = 100;
    assert_true(isnan(hprt_lrfind_suggest(&cfg, lrs, losses, 12)));
    /* fewer than 5 points: lrs[0:-5] is empty too */
    cfg.steps = 6;
    assert_true(isnan(hprt_lrfind_suggest(&cfg, lrs, losses, 4)));
}

static void test_valley_edges(void **state)
{
    (void)state;
    /* A two-point valley from index 0: ms = -1, sections = 2/3, index -1,
     * which Python wraps to the last element. */
    static const double l3[3] = {2.0, 1.0, 3.0};
    static const double r3[3] = {0.1, 0.2, 0.3};
    assert_close(hprt_lrfind_valley(r3, l3, 3), 0.3, 0);
    /* no decrease at all: ms = me = 0 */
    static const double up[3] = {1.0, 2.0, 3.0};
    assert_close(hprt_lrfind_valley(r3, up, 3), 0.1, 0);
    /* a single point, and none */
    assert_close(hprt_lrfind_valley(r3, l3, 1), 0.1, 0);
    assert_true(isnan(hprt_lrfind_valley(r3, l3, 0)));
    assert_true(isnan(hprt_lrfind_steep(r3, l3, 1)));
    assert_true(isnan(hprt_lrfind_minimum(r3, l3, 0)));
    /* ties go to the first index; NaN losses are skipped */
    static const double tie[3] = {1.0, 0.5, 0.5};
    assert_close(hprt_lrfind_minimum(r3, tie, 3), 0.02, RTOL);
    static const double nanl[3] = {NAN, 2.0, 1.0};
    assert_close(hprt_lrfind_minimum(r3, nanl, 3), 0.03, RTOL);
    assert_close(hprt_lrfind_steep(r3, nanl, 3), 0.2, RTOL);
}

static void test_smoother(void **state)
{
    (void)state;
    hprt_lrfind_state st;
    hprt_lrfind_init(&st, &defaults);
    /* debiased: the first value is the loss itself */
    assert_true(hprt_lrfind_record(&st, 1.0));
    assert_close(st.smooth, 1.0, RTOL);
    assert_true(hprt_lrfind_record(&st, 2.0));
    assert_close(st.smooth, (0.98 * 0.02 + 0.02 * 2.0) / (1 - 0.98 * 0.98), RTOL);
    /* a constant loss smooths to itself */
    hprt_lrfind_init(&st, &defaults);
    for (int i = 0; i < 50; i++)
        assert_true(hprt_lrfind_record(&st, 2.5));
    assert_close(st.smooth, 2.5, RTOL);
    assert_close(st.best, 2.5, 1e-14);
}

static void test_stops(void **state)
{
    (void)state;
    /* after `steps` batches (at least 6) */
    hprt_lrfind cfg = defaults;
    cfg.steps = 2;
    hprt_lrfind_state st;
    hprt_lrfind_init(&st, &cfg);
    for (int i = 0; i < 5; i++)
        assert_true(hprt_lrfind_record(&st, 1.0));
    assert_false(hprt_lrfind_record(&st, 1.0));
    assert_int_equal(st.n, 6);

    /* divergence: smooth > 4 x best, the diverging batch still recorded */
    hprt_lrfind_init(&st, &defaults);
    for (int i = 0; i < 10; i++)
        assert_true(hprt_lrfind_record(&st, 1.0));
    assert_true(hprt_lrfind_record(&st, 3.0));     /* smooth ~ 1.2: fine */
    assert_false(hprt_lrfind_record(&st, 100.0));  /* smooth ~ 10 > 4 */
    assert_true(st.smooth > 4 * st.best);

    /* stop_div off: runs on through divergence; with it, a NaN ends the test */
    cfg = defaults;
    cfg.stop_div = false;
    hprt_lrfind_init(&st, &cfg);
    assert_true(hprt_lrfind_record(&st, 1.0));
    assert_true(hprt_lrfind_record(&st, 1e6));
    hprt_lrfind_init(&st, &defaults);
    assert_true(hprt_lrfind_record(&st, 1.0));
    assert_false(hprt_lrfind_record(&st, NAN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_suggestions_worked),
        cmocka_unit_test(test_suggest_slices),
        cmocka_unit_test(test_valley_edges),
        cmocka_unit_test(test_smoother),
        cmocka_unit_test(test_stops),
    };
    return cmocka_run_group_tests(tests, setup_curve, NULL);
}
