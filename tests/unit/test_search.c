/* test_search.c - the search strategies against hand-worked examples:
 * grid order, Hyperband's brackets for max 27 / eta 3, ASHA's rungs and its
 * promotions on a scripted sequence of results, synchronous halving inside
 * a Hyperband bracket, TPE's split and its choice on a toy objective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hpc_test.h"
#include "search.h"

static const char *sets_xy[] = {"x", "y"};

static plan_search make(plan_vary *v, int n, plan_strategy strategy, bool maximize)
{
    plan_search s;
    memset(&s, 0, sizeof s);
    s.name = "s";
    s.varies = v;
    s.n_varies = n;
    s.strategy = strategy;
    s.trials = 27;
    s.max_epochs = 9;
    s.eta = 3;
    s.startup = 10;
    s.objective_mode = maximize ? HPRT_MODE_MAX : HPRT_MODE_MIN;
    return s;
}

static void test_grid_order(void **state)
{
    (void)state;
    plan_vary v[2] = {{.path = "model.cell", .kind = PLAN_SPACE_SET, .values = sets_xy, .n_values = 2},
                      {.path = "model.depth", .kind = PLAN_SPACE_RANGE, .lo = 1, .hi = 3}};
    plan_search s = make(v, 2, PLAN_STRATEGY_GRID, false);
    assert_int_equal(search_grid_size(&s), 6);
    search_study st;
    assert_true(search_study_init(&st, &s, 5, 1));
    double want[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 1}, {1, 2}, {1, 3}};
    for (int i = 0; i < 6; i++) {
        search_job j = search_next(&st);
        assert_int_equal(j.trial, i);
        assert_int_equal(j.epochs, 5);
        assert_true(st.trials[i].x[0] == want[i][0] && st.trials[i].x[1] == want[i][1]);
        search_start(&st, j.trial, j.epochs);
    }
    assert_int_equal(search_next(&st).trial, SEARCH_WAIT); /* all six running */
    for (int i = 0; i < 6; i++) {
        for (int e = 1; e <= 5; e++)
            search_report(&st, i, e, 1.0 / (i + e));
        search_done(&st, i, false, false);
        assert_int_equal(st.trials[i].status, SEARCH_COMPLETED);
    }
    assert_int_equal(search_next(&st).trial, SEARCH_DONE);
    assert_int_equal(search_best(&st), 5); /* minimize: 1/(5+5) */
    char buf[32];
    search_value_text(&v[0], 1, buf, sizeof buf);
    assert_string_equal(buf, "y");
    search_value_text(&v[1], 3, buf, sizeof buf);
    assert_string_equal(buf, "3");
    search_study_free(&st);
}

static void test_hyperband_brackets(void **state)
{
    (void)state;
    search_rungs b[8];
    int n = search_hyperband(27, 3, b, 8);
    assert_int_equal(n, 4);
    /* Li et al. 2018, R = 27, eta = 3: (n_i, r_i) per rung */
    int want[4][4][2] = {{{27, 1}, {9, 3}, {3, 9}, {1, 27}},
                         {{12, 3}, {4, 9}, {1, 27}},
                         {{6, 9}, {2, 27}},
                         {{4, 27}}};
    int rungs[4] = {4, 3, 2, 1};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(b[k].n_rungs, rungs[k]);
        for (int i = 0; i < rungs[k]; i++) {
            assert_int_equal(b[k].trials[i], want[k][i][0]);
            assert_int_equal(b[k].epochs[i], want[k][i][1]);
        }
    }
    search_rungs a = search_asha_rungs(9, 3, 27);
    assert_int_equal(a.n_rungs, 3);
    assert_int_equal(a.epochs[0], 1);
    assert_int_equal(a.epochs[1], 3);
    assert_int_equal(a.epochs[2], 9);
    assert_int_equal(a.trials[1], 9);
    a = search_asha_rungs(10, 3, 27); /* a top rung off the powers: 1, 3, 9, 10 */
    assert_int_equal(a.n_rungs, 4);
    assert_int_equal(a.epochs[3], 10);
}

/* Trains trial t from where it is up to `to`, its value after epoch e being
 * f(t, e), and ends the job. */
static void train(search_study *st, search_job j, double (*f)(int, int))
{
    search_start(st, j.trial, j.epochs);
    for (int e = st->trials[j.trial].epochs + 1; e <= j.epochs; e++)
        search_report(st, j.trial, e, f(j.trial, e));
    search_done(st, j.trial, false, false);
}

/* maximize: trial 1 is the best, then 2, then 0; later trials worse */
static double scripted(int t, int e)
{
    static const double base[] = {0.5, 0.7, 0.6, 0.4, 0.3, 0.65};
    return (t < 6 ? base[t] : 0.1) + 0.01 * e;
}

static void test_asha_promotions(void **state)
{
    (void)state;
    plan_vary v[1] = {{.path = "optimizer.lr", .kind = PLAN_SPACE_LOG, .lo = 1e-4, .hi = 1e-2}};
    plan_search s = make(v, 1, PLAN_STRATEGY_ASHA, true);
    s.trials = 6;
    search_study st;
    assert_true(search_study_init(&st, &s, 0, 7));
    assert_int_equal(st.epochs, 9);
    /* one worker: the hand-worked sequence of jobs (trial, to epoch) */
    int want[][2] = {{0, 1}, {1, 1},          /* rung 0 has 1, then 2 trials: top 1/3 is none */
                     {2, 1},                  /* 3 at rung 0: trial 1 (0.71) is the top 1/3 ... */
                     {1, 3},                  /* ... and is promoted at once, to 3 epochs */
                     {3, 1}, {4, 1},          /* rung 1 has 1 trial; rung 0: 5 trials, top 1 = trial 1, promoted */
                     {5, 1},                  /* 6 at rung 0: top 2 = trials 1 and 5 (0.66) */
                     {5, 3}};                 /* trial 5 promoted */
    /* then rung 1 has 2 (1: 0.73, 5: 0.68): the top 1/3 of 2 is none; rung 0's
     * top 2 are promoted already; no trials left: done */
    int n = (int)(sizeof want / sizeof want[0]);
    for (int i = 0; i < n; i++) {
        search_job j = search_next(&st);
        assert_int_equal(j.trial, want[i][0]);
        assert_int_equal(j.epochs, want[i][1]);
        train(&st, j, scripted);
    }
    assert_int_equal(search_next(&st).trial, SEARCH_DONE);
    search_finish(&st);
    for (int t = 0; t < 6; t++)
        assert_int_equal(st.trials[t].status, SEARCH_PRUNED); /* nobody reached 9 epochs */
    assert_int_equal(st.trials[1].epochs, 3);
    assert_int_equal(st.trials[5].epochs, 3);
    assert_int_equal(st.trials[0].epochs, 1);
    search_study_free(&st);
}

static void test_asha_completes(void **state)
{
    (void)state;
    plan_vary v[1] = {{.path = "optimizer.lr", .kind = PLAN_SPACE_LOG, .lo = 1e-4, .hi = 1e-2}};
    plan_search s = make(v, 1, PLAN_STRATEGY_ASHA, true);
    search_study st;
    assert_true(search_study_init(&st, &s, 0, 7));
    int jobs = 0, epochs = 0;
    for (search_job j; (j = search_next(&st)).trial >= 0; jobs++) {
        epochs += j.epochs - st.trials[j.trial].epochs;
        train(&st, j, scripted);
    }
    search_finish(&st);
    int completed = 0;
    for (int t = 0; t < st.n_trials; t++)
        completed += st.trials[t].status == SEARCH_COMPLETED;
    assert_int_equal(st.n_trials, 27);
    assert_true(completed >= 1);
    /* never more than every trial to rung 0, a third on to rung 1, a ninth to the top */
    assert_true(epochs <= 27 * 1 + 9 * 2 + 3 * 6);
    assert_int_equal(search_best(&st), 1);
    search_study_free(&st);
}

static void test_hyperband_bracket_halving(void **state)
{
    (void)state;
    plan_vary v[1] = {{.path = "model.p", .kind = PLAN_SPACE_UNIFORM, .lo = 0.1, .hi = 0.5}};
    plan_search s = make(v, 1, PLAN_STRATEGY_HYPERBAND, true);
    s.max_epochs = 9; /* brackets: {9@1, 3@3, 1@9}, {5@3, 1@9}, {3@9} */
    search_study st;
    assert_true(search_study_init(&st, &s, 0, 3));
    assert_int_equal(st.n_brackets, 3);
    assert_int_equal(st.n_total, 9 + 5 + 3);
    /* the first bracket's 9 trials to 1 epoch, then the best 3 (values by id) to 3, the best of those to 9 */
    for (int i = 0; i < 9; i++) {
        search_job j = search_next(&st);
        assert_int_equal(j.trial, i);
        assert_int_equal(j.epochs, 1);
        train(&st, j, scripted);
    }
    int want[] = {1, 2, 5}; /* the best three (0.71, 0.66, 0.61), in trial order */
    for (int i = 0; i < 3; i++) {
        search_job j = search_next(&st);
        assert_int_equal(j.trial, want[i]);
        assert_int_equal(j.epochs, 3);
        train(&st, j, scripted);
    }
    assert_int_equal(st.trials[0].status, SEARCH_PRUNED);
    search_job j = search_next(&st);
    assert_int_equal(j.trial, 1);
    assert_int_equal(j.epochs, 9);
    train(&st, j, scripted);
    assert_int_equal(st.trials[1].status, SEARCH_COMPLETED);
    assert_int_equal(st.trials[5].status, SEARCH_PRUNED);
    j = search_next(&st); /* the second bracket starts */
    assert_int_equal(j.trial, 9);
    assert_int_equal(j.epochs, 3);
    search_study_free(&st);
}

static void test_tpe_gamma(void **state)
{
    (void)state;
    int n[] = {0, 1, 10, 11, 100, 250, 1000}, g[] = {0, 1, 1, 2, 10, 25, 25};
    for (int i = 0; i < 7; i++)
        assert_int_equal(search_tpe_gamma(n[i]), g[i]);
}

static double toy(double x) { return (x - 0.2) * (x - 0.2); }

/* A study of `trials` on the toy objective; the mean distance to 0.2 of its
 * last ten trials. */
static double toy_study(plan_strategy strategy, int trials, uint64_t seed, double *best_x)
{
    plan_vary v[2] = {{.path = "model.p", .kind = PLAN_SPACE_UNIFORM, .lo = 0, .hi = 1},
                      {.path = "model.cell", .kind = PLAN_SPACE_SET, .values = sets_xy, .n_values = 2}};
    plan_search s = make(v, 2, strategy, false);
    s.trials = trials;
    search_study st;
    assert_true(search_study_init(&st, &s, 1, seed));
    for (search_job j; (j = search_next(&st)).trial >= 0;) {
        search_start(&st, j.trial, 1);
        const double *x = st.trials[j.trial].x;
        search_report(&st, j.trial, 1, toy(x[0]) + (x[1] == 1 ? 0 : 0.3)); /* "y" is better */
        search_done(&st, j.trial, false, false);
    }
    double d = 0;
    int late_y = 0;
    for (int t = trials - 10; t < trials; t++) {
        d += fabs(st.trials[t].x[0] - 0.2) / 10;
        late_y += st.trials[t].x[1] == 1;
    }
    int b = search_best(&st);
    *best_x = st.trials[b].x[0];
    if (strategy == PLAN_STRATEGY_TPE && late_y < 7)
        print_message("seed %llu: late_y %d\n", (unsigned long long)seed, late_y);
    if (strategy == PLAN_STRATEGY_TPE)
        assert_true(late_y >= 7); /* the categorical dimension learned too */
    search_study_free(&st);
    return d;
}

static void test_tpe_toy(void **state)
{
    (void)state;
    double tpe = 0, rnd = 0, bx;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tpe += toy_study(PLAN_STRATEGY_TPE, 40, seed, &bx) / 5;
        assert_true(fabs(bx - 0.2) < 0.05);
        rnd += toy_study(PLAN_STRATEGY_RANDOM, 40, seed, &bx) / 5;
    }
    print_message("mean distance of the last ten trials: tpe %.3f, random %.3f\n", tpe, rnd);
    /* random sits ~0.34 from the optimum on average; TPE's late trials close in */
    assert_true(rnd > 0.2);
    assert_true(tpe < 0.2);
    assert_true(tpe < rnd / 2);
}

/* The split and the choice on fixed observations: the good points sit at
 * 0.2, the bad ones spread over [0.5, 1]: every draw lands near 0.2. */
static void test_tpe_choice(void **state)
{
    (void)state;
    plan_vary v[1] = {{.path = "model.p", .kind = PLAN_SPACE_UNIFORM, .lo = 0, .hi = 1}};
    plan_search s = make(v, 1, PLAN_STRATEGY_TPE, false);
    search_study st;
    assert_true(search_study_init(&st, &s, 1, 1));
    for (int i = 0; i < 20; i++) {
        double x = i < 2 ? 0.19 + 0.02 * i : 0.5 + 0.5 * (i - 2) / 17.0;
        assert_true(search_add(&st, &x));
        search_report(&st, i, 1, toy(x));
        search_done(&st, i, false, false);
    }
    assert_int_equal(search_tpe_gamma(20), 2); /* exactly the two good points are "below" */
    hprt_rng r;
    hprt_rng_seed(&r, 9);
    for (int k = 0; k < 20; k++) {
        double x;
        search_tpe_sample(&st, 1, &r, &x);
        assert_true(x >= 0 && x <= 1);
        assert_true(fabs(x - 0.2) < 0.15);
    }
    search_study_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_order),
        cmocka_unit_test(test_hyperband_brackets),
        cmocka_unit_test(test_asha_promotions),
        cmocka_unit_test(test_asha_completes),
        cmocka_unit_test(test_hyperband_bracket_halving),
        cmocka_unit_test(test_tpe_gamma),
        cmocka_unit_test(test_tpe_toy),
        cmocka_unit_test(test_tpe_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
