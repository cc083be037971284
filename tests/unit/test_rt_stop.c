/* test_rt_stop.c - stopping rules (docs/policies.md §6 Keras EarlyStopping, §7
 * Prechelt) and adaptive dropout (docs/language.md §14-§15). */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "hprt_sched.h"

#define RTOL 1e-12

static hprt_stopper start(hprt_stop rule)
{
    hprt_stopper st;
    hprt_error err = {0};
    hprt_status s = hprt_stop_init(&st, &rule, &err);
    if (s != HPRT_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(s, HPRT_OK);
    return st;
}

/* Feeds values until the rule stops; returns the epoch index it stopped
 * after, or -1. */
static long feed(hprt_stopper *st, const double *train, const double *val, int n)
{
    for (int e = 0; e < n; e++)
        if (hprt_stop_update(st, train ? train[e] : 0.0, val[e]) == HPRT_STOP)
            return e;
    return -1;
}

static hprt_stop early(int patience, double min_delta)
{
    return (hprt_stop){.kind = HPRT_STOP_EARLY, .monitor = HPRT_METRIC_VAL_LOSS, .mode = HPRT_MODE_MIN,
                       .window = 1, .patience = patience, .min_delta = min_delta, .restore_best = true};
}

/* ---- §6 Keras EarlyStopping (window = 1) --------------------------------------- */

static const double keras_vals[5] = {1.00, 0.95, 0.945, 0.96, 0.94};

static void test_keras_min_delta(void **state)
{
    (void)state;
    /* δ = 0.01, patience 2: 0.945 + 0.01 is not < 0.95; stops after epoch 3 */
    hprt_stopper st = start(early(2, 0.01));
    assert_int_equal(feed(&st, NULL, keras_vals, 5), 3);
    assert_int_equal(st.stopped_epoch, 3);
    assert_int_equal(st.best_epoch, 1);
    assert_close(st.best, 0.95, RTOL);
    /* and it keeps saying stop */
    assert_int_equal(hprt_stop_update(&st, 0, 0.1), HPRT_STOP);
    /* min_delta's sign does not matter (Keras takes |δ|) */
    st = start(early(2, -0.01));
    assert_int_equal(feed(&st, NULL, keras_vals, 5), 3);
}

static void test_keras_patience0(void **state)
{
    (void)state;
    hprt_stopper st = start(early(0, 0));
    assert_int_equal(feed(&st, NULL, keras_vals, 5), 3);
    assert_int_equal(st.best_epoch, 2);
    assert_close(st.best, 0.945, RTOL);
}

static void test_keras_baseline(void **state)
{
    (void)state;
    /* baseline 0.5, patience 1: improvements that miss the baseline do not
     * reset wait, but do skip the stop test; stops after epoch 4 */
    static const double v[5] = {1.0, 0.9, 0.8, 0.7, 0.75};
    hprt_stopper st = start(early(1, 0));
    st.baseline = 0.5;
    assert_int_equal(feed(&st, NULL, v, 5), 4);
    assert_int_equal(st.best_epoch, 3);
    /* with patience 2 the baseline still stops at epoch 4 (wait reached 5),
     * while without it the single bad epoch is within patience */
    st = start(early(2, 0));
    st.baseline = 0.5;
    assert_int_equal(feed(&st, NULL, v, 5), 4);
    st = start(early(2, 0));
    assert_int_equal(feed(&st, NULL, v, 5), -1);
}

static void test_keras_max_mode(void **state)
{
    (void)state;
    hprt_stop rule = early(2, 0.01);
    rule.monitor = HPRT_METRIC_VAL_ACCURACY;
    rule.mode = HPRT_MODE_MAX;
    assert_int_equal(hprt_stop_monitor(&rule), HPRT_METRIC_VAL_ACCURACY);
    static const double acc[5] = {0.5, 0.7, 0.705, 0.71, 0.9};
    hprt_stopper st = start(rule);
    /* 0.705 - 0.01 and 0.71 - 0.01 are not > 0.7: wait 1, then 2 = patience */
    assert_int_equal(feed(&st, NULL, acc, 5), 3);
    assert_int_equal(st.best_epoch, 1);
}

static void test_early_first_epoch_guard(void **state)
{
    (void)state;
    /* patience 0: epoch 0 is always an improvement (no best yet), so the
     * first possible stop is after epoch 1 */
    static const double v[3] = {1.0, 1.0, 1.0};
    hprt_stopper st = start(early(0, 0));
    assert_int_equal(feed(&st, NULL, v, 3), 1);
}

/* ---- the windowed variant ------------------------------------------------------- */

static void test_early_window(void **state)
{
    (void)state;
    /* A noisy dip: window 1 gives up at the bump, window 3 rides through it.
     * Dyadic values so the averages are exact. */
    static const double v[10] = {1.0, 0.75, 0.875, 0.9375, 0.625, 0.5625, 0.625, 0.625, 0.625, 0.625};
    hprt_stop rule = early(2, 0);
    hprt_stopper st = start(rule);
    assert_int_equal(feed(&st, NULL, v, 10), 3);
    assert_int_equal(st.best_epoch, 1);

    rule.window = 3;
    st = start(rule);
    assert_int_equal(feed(&st, NULL, v, 10), 8);
    /* the best average, (0.625 + 0.5625 + 0.625) / 3, ends at epoch 6 */
    assert_int_equal(st.best_epoch, 6);
    assert_close(st.best, 1.8125 / 3, RTOL);
    /* partial windows at the start: epoch 1 averaged two values */
    st = start(rule);
    hprt_stop_update(&st, 0, 1.0);
    hprt_stop_update(&st, 0, 0.75);
    assert_close(st.average, 0.875, RTOL);
}

static void test_stop_init_errors(void **state)
{
    (void)state;
    hprt_stopper st;
    hprt_error err = {0};
    hprt_stop rule = early(2, 0);
    rule.window = 0;
    assert_int_equal(hprt_stop_init(&st, &rule, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "window"));
    rule.window = HPRT_STOP_MAX_WINDOW + 1;
    assert_int_equal(hprt_stop_init(&st, &rule, &err), HPRT_E_RUN);
    hprt_stop pq = {.kind = HPRT_STOP_PQ, .alpha = 0.5, .strip = 0};
    assert_int_equal(hprt_stop_init(&st, &pq, &err), HPRT_E_RUN);
    hprt_stop up = {.kind = HPRT_STOP_UP, .strip = 5, .s = 0};
    assert_int_equal(hprt_stop_init(&st, &up, &err), HPRT_E_RUN);
}

/* ---- §7 Prechelt ---------------------------------------------------------------- */

/* Epochs 1-10 of the worked example; index e is epoch e + 1. */
static const double E_tr[10] = {1, .8, .7, .65, .62, .60, .59, .585, .58, .578};
static const double E_va[10] = {1.1, .9, .8, .78, .79, .80, .83, .85, .86, .90};

static void test_gl(void **state)
{
    (void)state;
    hprt_stop rule = {.kind = HPRT_STOP_GL, .alpha = 5};
    assert_int_equal(hprt_stop_monitor(&rule), HPRT_METRIC_VAL_LOSS);
    hprt_stopper st = start(rule);
    /* GL_5 stops at epoch 7 (index 6) */
    assert_int_equal(feed(&st, E_tr, E_va, 10), 6);
    assert_int_equal(st.best_epoch, 3);   /* E_opt = 0.78 at epoch 4 */

    /* GL(5..10), with a rule that never fires */
    static const double gl[6] = {1.2821, 2.5641, 6.4103, 8.9744, 10.2564, 15.3846};
    rule.alpha = 1e9;
    st = start(rule);
    for (int e = 0; e < 10; e++) {
        assert_int_equal(hprt_stop_update(&st, E_tr[e], E_va[e]), HPRT_CONTINUE);
        if (e >= 4) {
            assert_close(st.gl, gl[e - 4], 5e-5);                 /* as printed */
            assert_close(st.gl, 100 * (E_va[e] / 0.78 - 1), RTOL);  /* exactly */
        }
    }
}

static void test_pq(void **state)
{
    (void)state;
    hprt_stop rule = {.kind = HPRT_STOP_PQ, .alpha = 1, .strip = 5};
    hprt_stopper st = start(rule);
    for (int e = 0; e < 4; e++) {
        assert_int_equal(hprt_stop_update(&st, E_tr[e], E_va[e]), HPRT_CONTINUE);
        assert_true(isnan(st.pk));   /* no strip end yet */
    }
    assert_int_equal(hprt_stop_update(&st, E_tr[4], E_va[4]), HPRT_CONTINUE);
    assert_close(st.pk, 216.129, 5e-6);
    assert_close(st.pk, 1000 * ((1 + .8 + .7 + .65 + .62) / (5 * .62) - 1), RTOL);
    /* between strip ends nothing is checked, though GL / P_k is large */
    for (int e = 5; e < 9; e++)
        assert_int_equal(hprt_stop_update(&st, E_tr[e], E_va[e]), HPRT_CONTINUE);
    /* PQ_1 stops at epoch 10 */
    assert_int_equal(hprt_stop_update(&st, E_tr[9], E_va[9]), HPRT_STOP);
    assert_int_equal(st.stopped_epoch, 9);
    assert_close(st.pk, 14.8789, 5e-6);
    assert_close(st.pq, 1.03399, 5e-6);
    double pk10 = 1000 * ((.60 + .59 + .585 + .58 + .578) / (5 * .578) - 1);
    assert_close(st.pq, 100 * (0.90 / 0.78 - 1) / pk10, RTOL);
}

static void test_up(void **state)
{
    (void)state;
    /* UP_1 stops at 10; UP_2 does not (epoch 5 has no epoch 0 to compare) */
    hprt_stop up1 = {.kind = HPRT_STOP_UP, .strip = 5, .s = 1};
    hprt_stopper st = start(up1);
    assert_int_equal(feed(&st, E_tr, E_va, 10), 9);
    hprt_stop up2 = {.kind = HPRT_STOP_UP, .strip = 5, .s = 2};
    st = start(up2);
    assert_int_equal(feed(&st, E_tr, E_va, 10), -1);
    /* ...but does at 15 if E_va keeps rising at strip ends */
    static const double more[5] = {.91, .92, .93, .94, .95};
    assert_int_equal(feed(&st, E_tr, more, 5), 4);
    assert_int_equal(st.stopped_epoch, 14);
    /* a fall at a strip end restarts the run: strip ends 1.0, 1.1 (run 1),
     * 1.05 (run 0), 1.2 (run 1), 1.3 (run 2: stop at epoch index 24) */
    double va[25];
    for (int e = 0; e < 25; e++)
        va[e] = 1.0;
    va[9] = 1.1, va[14] = 1.05, va[19] = 1.2, va[24] = 1.3;
    st = start(up2);
    assert_int_equal(feed(&st, NULL, va, 25), 24);
}

static void test_none_tracks_best(void **state)
{
    (void)state;
    hprt_stop none = {.kind = HPRT_STOP_NONE};
    hprt_stopper st = start(none);
    assert_int_equal(feed(&st, E_tr, E_va, 10), -1);
    assert_int_equal(st.best_epoch, 3);
    assert_close(st.best, 0.78, 0);
}

/* ---- adaptive dropout ------------------------------------------------------------ */

static void test_adaptive_dropout(void **state)
{
    (void)state;
    hprt_regularize cfg = {.adaptive_dropout = true, .gap = 0.1, .step = 0.05, .max = 0.5, .patience = 2};
    hprt_dropout_policy d;
    hprt_dropout_init(&d, &cfg);
    /* (val - train) / train: 0.05 is within the gap, 0.2 over it */
    assert_close(hprt_dropout_update(&d, 1.0, 1.05), 0.0, 0);
    assert_close(hprt_dropout_update(&d, 1.0, 1.2), 0.0, 0);
    assert_close(hprt_dropout_update(&d, 1.0, 1.2), 0.05, RTOL);   /* 2nd in a row: raise */
    assert_close(hprt_dropout_update(&d, 1.0, 1.2), 0.05, RTOL);   /* count restarted */
    assert_close(hprt_dropout_update(&d, 1.0, 1.05), 0.05, RTOL);  /* broken run */
    assert_close(hprt_dropout_update(&d, 1.0, 1.2), 0.05, RTOL);
    assert_close(hprt_dropout_update(&d, 1.0, 1.2), 0.1, RTOL);
    /* relative, not absolute: 0.5 vs 0.56 is 12% over */
    assert_close(hprt_dropout_update(&d, 0.5, 0.56), 0.1, RTOL);
    assert_close(hprt_dropout_update(&d, 0.5, 0.56), 0.15, RTOL);
    /* exactly at the gap is not over it */
    assert_close(hprt_dropout_update(&d, 0.5, 0.5 * 1.1 - 1e-12), 0.15, RTOL);
    assert_int_equal(d.count, 0);
    /* the layer rates: base + increment up to max; a layer above max keeps its rate */
    assert_close(hprt_dropout_rate(&d, 0.2), 0.35, RTOL);
    assert_close(hprt_dropout_rate(&d, 0.4), 0.5, RTOL);
    assert_close(hprt_dropout_rate(&d, 0.6), 0.6, RTOL);
}

static void test_adaptive_dropout_max_off(void **state)
{
    (void)state;
    hprt_regularize cfg = {.adaptive_dropout = true, .gap = 0.1, .step = 0.3, .max = 0.5, .patience = 1};
    hprt_dropout_policy d;
    hprt_dropout_init(&d, &cfg);
    assert_close(hprt_dropout_update(&d, 1.0, 2.0), 0.3, RTOL);
    assert_close(hprt_dropout_update(&d, 1.0, 2.0), 0.5, RTOL);
    assert_close(hprt_dropout_update(&d, 1.0, 2.0), 0.5, RTOL);
    assert_int_equal(d.raises, 2);
    /* a zero training loss: any positive validation loss is over the gap */
    hprt_dropout_init(&d, &cfg);
    assert_close(hprt_dropout_update(&d, 0.0, 0.01), 0.3, RTOL);
    /* off: always 0 */
    cfg.adaptive_dropout = false;
    hprt_dropout_init(&d, &cfg);
    assert_close(hprt_dropout_update(&d, 1.0, 9.0), 0.0, 0);
    assert_close(hprt_dropout_rate(&d, 0.25), 0.25, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keras_min_delta),
        cmocka_unit_test(test_keras_patience0),
        cmocka_unit_test(test_keras_baseline),
        cmocka_unit_test(test_keras_max_mode),
        cmocka_unit_test(test_early_first_epoch_guard),
        cmocka_unit_test(test_early_window),
        cmocka_unit_test(test_stop_init_errors),
        cmocka_unit_test(test_gl),
        cmocka_unit_test(test_pq),
        cmocka_unit_test(test_up),
        cmocka_unit_test(test_none_tracks_best),
        cmocka_unit_test(test_adaptive_dropout),
        cmocka_unit_test(test_adaptive_dropout_max_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
