/* test_rt_optim.c - the optimizers against every worked number of
 * docs/policies.md §10 (double path to 1e-12, float path to ~1e-6), the
 * override/partition plumbing, and global-norm clipping. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "hprt_optim.h"

/* ---- helpers ------------------------------------------------------------------- */

/* torch.optim's defaults for each kind (docs/policies.md §10). */
static hprt_optimizer defaults(hprt_opt_kind kind)
{
    hprt_optimizer o = {.kind = kind, .beta1 = 0.9, .beta2 = 0.999};
    switch (kind) {
    case HPRT_OPT_SGD: o.lr = 1e-3; break;
    case HPRT_OPT_ADAM: o.lr = 1e-3; o.eps = 1e-8; break;
    case HPRT_OPT_ADAMW: o.lr = 1e-3; o.eps = 1e-8; o.weight_decay = 1e-2; break;
    case HPRT_OPT_ADAGRAD: o.lr = 1e-2; o.eps = 1e-10; break;
    case HPRT_OPT_RMSPROP: o.lr = 1e-2; o.eps = 1e-8; o.alpha = 0.99; break;
    case HPRT_OPT_ADAMAX: o.lr = 2e-3; o.eps = 1e-8; break;
    case HPRT_OPT__COUNT: break;
    }
    return o;
}

enum { NVEC = 13 }; /* float path: a vector not a multiple of 8 */

/* Runs `steps` updates from θ0 = 1 with grads[t-1] at step t, both paths,
 * and checks θ after each step against want[]. */
static void run_worked(const hprt_optimizer *o, double lr, const double *grads,
                       const double *want, int steps)
{
    hprt_optim_scalar s;
    hprt_optim_scalar_init(o, &s);
    double theta = 1.0;

    hprt_optim_state *fs = hprt_optim_state_new(o, NVEC);
    assert_non_null(fs);
    float th[NVEC], g[NVEC];
    for (int i = 0; i < NVEC; i++)
        th[i] = 1.0f;

    for (int t = 1; t <= steps; t++) {
        theta = hprt_optim_step_scalar(o, &s, theta, grads[t - 1], lr, NAN, t);
        assert_close(theta, want[t - 1], 1e-12);

        for (int i = 0; i < NVEC; i++)
            g[i] = (float)grads[t - 1];
        assert_int_equal(hprt_optim_step(o, fs, th, g, NVEC, lr, NAN, t), HPRT_OK);
        for (int i = 0; i < NVEC; i++)
            assert_close(th[i], want[t - 1], 1e-6);
    }
    hprt_optim_state_free(fs);
}

static const double ONES[3] = {1.0, 1.0, 1.0};
static const double ADAM_G[3] = {0.5, -0.2, 0.1};
static const double HALVES[3] = {0.5, 0.5, 0.5};

/* ---- SGD -------------------------------------------------------------------------- */

static void test_sgd_momentum(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_SGD);
    o.momentum = 0.9;
    run_worked(&o, 0.1, ONES, (const double[]){0.9, 0.71, 0.439}, 3);
}

static void test_sgd_nesterov(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_SGD);
    o.momentum = 0.9;
    o.nesterov = true;
    run_worked(&o, 0.1, ONES, (const double[]){0.81, 0.539, 0.1951}, 3);
}

static void test_sgd_dampening(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_SGD);
    o.momentum = 0.9;
    o.dampening = 0.5;
    /* the first step is undampened: buf = g */
    run_worked(&o, 0.1, ONES, (const double[]){0.9, 0.76, 0.584}, 3);
}

static void test_sgd_weight_decay(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_SGD);
    o.momentum = 0.9;
    o.weight_decay = 0.1;
    run_worked(&o, 0.1, ONES, (const double[]){0.89, 0.6821}, 2);
}

static void test_sgd_plain(void **state)
{
    (void)state;
    /* no momentum: θ −= lr·g, nothing stored */
    hprt_optimizer o = defaults(HPRT_OPT_SGD);
    run_worked(&o, 0.1, ONES, (const double[]){0.9, 0.8, 0.7}, 3);
}

/* ---- Adam / AdamW ----------------------------------------------------------------- */

static void test_adam_lr_1e3(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAM);
    run_worked(&o, 1e-3, ADAM_G,
               (const double[]){0.99900000002, 0.9986543941811651, 0.998275002408357}, 3);
}

static void test_adam_lr_01(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAM);
    run_worked(&o, 0.1, ADAM_G,
               (const double[]){0.900000002, 0.8654394181165108, 0.8275002408356956}, 3);
}

static void test_adam_l2(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAM);
    o.weight_decay = 0.1;
    run_worked(&o, 0.1, ADAM_G,
               (const double[]){0.9000000016666666, 0.8475190629593703, 0.7901621834311943}, 3);
}

static void test_adamw(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAMW);
    o.weight_decay = 0.1;
    run_worked(&o, 0.1, ADAM_G,
               (const double[]){0.890000002, 0.8465394180965108, 0.8001348466347304}, 3);
}

/* AMSGrad keeps the maximum of the raw v: with g = 1 then 0, v falls at step 2
 * but the denominator uses v1.  Expected values written out from the formula. */
static void test_adam_amsgrad(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAM);
    o.amsgrad = true;
    const double g[3] = {1.0, 0.0, 0.0}, lr = 0.1;
    double want[3], th = 1.0, m = 0.0, v = 0.0, vmax = 0.0;
    for (int t = 1; t <= 3; t++) {
        m = m + 0.1 * (g[t - 1] - m);
        v = 0.999 * v + 0.001 * g[t - 1] * g[t - 1];
        vmax = fmax(vmax, v);
        double denom = sqrt(vmax) / sqrt(1.0 - pow(0.999, t)) + 1e-8;
        th -= lr / (1.0 - pow(0.9, t)) * m / denom;
        want[t - 1] = th;
    }
    run_worked(&o, lr, g, want, 3);

    /* and it differs from plain Adam from step 2 on */
    hprt_optimizer plain = defaults(HPRT_OPT_ADAM);
    hprt_optim_scalar s;
    hprt_optim_scalar_init(&plain, &s);
    double p = 1.0;
    for (int t = 1; t <= 2; t++)
        p = hprt_optim_step_scalar(&plain, &s, p, g[t - 1], lr, NAN, t);
    assert_true(fabs(p - want[1]) > 1e-6);
}

/* ---- Adagrad -------------------------------------------------------------------------- */

static void test_adagrad(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAGRAD);
    run_worked(&o, 0.1, HALVES,
               (const double[]){0.90000000002, 0.8292893219113453, 0.7715542949990494}, 3);
}

static void test_adagrad_decay_initial(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAGRAD);
    o.lr_decay = 0.5;
    o.initial = 0.1;
    run_worked(&o, 0.1, HALVES,
               (const double[]){0.9154845745414341, 0.8724514262557961, 0.8453351190314052}, 3);
}

/* ---- RMSprop -------------------------------------------------------------------------- */

static void test_rmsprop(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_RMSPROP);
    run_worked(&o, 1e-2, HALVES, (const double[]){0.900000019999996, 0.8291119095494123}, 2);
}

static void test_rmsprop_momentum(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_RMSPROP);
    o.momentum = 0.9;
    /* the first step equals plain RMSprop's (buf starts at 0) */
    run_worked(&o, 1e-2, HALVES, (const double[]){0.900000019999996, 0.7391119275494087}, 2);
}

static void test_rmsprop_centered(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_RMSPROP);
    o.centered = true;
    run_worked(&o, 1e-2, HALVES, (const double[]){0.899496238676095, 0.8278920868083515}, 2);
}

/* ---- overrides, partitions, errors ---------------------------------------------------- */

/* A cycled momentum/β1 is the same as an optimizer built with that value. */
static void test_override(void **state)
{
    (void)state;
    const hprt_opt_kind kinds[] = {HPRT_OPT_SGD, HPRT_OPT_ADAM, HPRT_OPT_ADAMW, HPRT_OPT_RMSPROP, HPRT_OPT_ADAMAX};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        hprt_optimizer base = defaults(kinds[k]), with = base;
        base.momentum = 0.5;
        with.momentum = 0.8;
        with.beta1 = 0.8;
        hprt_optim_scalar a, b;
        hprt_optim_scalar_init(&base, &a);
        hprt_optim_scalar_init(&with, &b);
        double ta = 1.0, tb = 1.0;
        for (int t = 1; t <= 3; t++) {
            ta = hprt_optim_step_scalar(&base, &a, ta, ADAM_G[t - 1], 0.05, 0.8, t);
            tb = hprt_optim_step_scalar(&with, &b, tb, ADAM_G[t - 1], 0.05, NAN, t);
        }
        assert_true(ta == tb);
    }
}

/* ---- Adamax (torch.optim.Adamax; numbers from bench/optim_fixture.py, torch 1.13, float64) ---- */

static void test_adamax_defaults(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAMAX);
    run_worked(&o, 2e-3, ADAM_G, (const double[]){0.99800000004, 0.99747315741843101, 0.99699249178036664}, 3);
}

static void test_adamax_lr_01(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAMAX);
    run_worked(&o, 0.1, ADAM_G, (const double[]){0.90000000199999997, 0.87365787092155311, 0.84962458901833482}, 3);
}

static void test_adamax_weight_decay(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAMAX);
    o.weight_decay = 0.1;
    run_worked(&o, 0.1, ADAM_G, (const double[]){0.9000000016666666, 0.86224294698040138, 0.82691868770404753}, 3);
}

static void test_adamax_betas_eps(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAMAX);
    o.beta1 = 0.5;
    o.beta2 = 0.9;
    o.eps = 1e-3;
    run_worked(&o, 0.05, ADAM_G, (const double[]){0.95009980039920161, 0.94640348931766094, 0.93760274864732618}, 3);
}

/* exp_inf = max(beta2*u, |g| + eps) propagates a NaN gradient, as torch.maximum */
static void test_adamax_nan(void **state)
{
    (void)state;
    hprt_optimizer o = defaults(HPRT_OPT_ADAMAX);
    hprt_optim_scalar s;
    hprt_optim_scalar_init(&o, &s);
    double th = hprt_optim_step_scalar(&o, &s, 1.0, 0.5, 0.1, NAN, 1);
    th = hprt_optim_step_scalar(&o, &s, th, NAN, 0.1, NAN, 2);
    assert_true(isnan(s.v));
    assert_true(isnan(th));
}

/* ---- the table ---------------------------------------------------------------------- */

/* Every row's defaults are torch.optim's (as defaults() above spells them by
 * hand), every optimizer descends a quadratic, and the state arrays are the
 * ones the row names. */
static void test_table(void **state)
{
    (void)state;
    for (int k = 0; k < HPRT_OPT__COUNT; k++) {
        const hprt_opt_desc *d = hprt_opt_info((hprt_opt_kind)k);
        assert_non_null(d);
        assert_string_equal(d->name, hprt_opt_name((hprt_opt_kind)k));
        hprt_optimizer o = {.kind = (hprt_opt_kind)k};
        for (int i = 0; i < d->n_params; i++) {
            char *f = (char *)&o + d->params[i].offset;
            if (d->params[i].type == HPRT_HP_BOOL)
                *(bool *)f = d->params[i].def != 0;
            else
                *(double *)f = d->params[i].def;
        }
        hprt_optimizer want = defaults((hprt_opt_kind)k);
        if (k != HPRT_OPT_SGD) /* sgd's lr is required: no default */
            assert_true(o.lr == want.lr);
        assert_true(o.eps == want.eps);
        assert_true(o.weight_decay == want.weight_decay);
        assert_true(o.alpha == want.alpha);
        assert_true(o.momentum == 0 && o.dampening == 0 && o.lr_decay == 0 && o.initial == 0);
        if (k == HPRT_OPT_ADAM || k == HPRT_OPT_ADAMW || k == HPRT_OPT_ADAMAX)
            assert_true(o.beta1 == 0.9 && o.beta2 == 0.999);

        /* minimise 1/2 (theta - 3)^2 from 0 with lr 0.05 (adagrad, whose steps shrink: 0.5),
         * momentum on where there is one */
        o.lr = k == HPRT_OPT_ADAGRAD ? 0.5 : 0.05;
        o.momentum = k == HPRT_OPT_SGD || k == HPRT_OPT_RMSPROP ? 0.5 : 0;
        hprt_optim_state *s = hprt_optim_state_new(&o, 1);
        assert_non_null(s);
        for (int a = 0; a < HPRT_STATE__COUNT; a++)
            assert_int_equal(s->arrays[a] != NULL, hprt_opt_has_state(&o, (hprt_state_array)a));
        float th = 0;
        for (int t = 1; t <= 2000; t++) {
            float g = th - 3.0f;
            assert_int_equal(hprt_optim_step(&o, s, &th, &g, 1, o.lr, NAN, t), HPRT_OK);
        }
        print_message("%s: theta %.6g after 2000 steps\n", d->name, th);
        assert_true(fabsf(th - 3.0f) < 0.05f);
        hprt_optim_state_free(s);
    }
    assert_null(hprt_opt_info((hprt_opt_kind)HPRT_OPT__COUNT));
}

/* Updating two slices with step_range is the same as one step over the whole. */
static void test_step_range(void **state)
{
    (void)state;
    enum { N = 37, CUT = 11 };
    hprt_optimizer o = defaults(HPRT_OPT_RMSPROP);
    o.centered = true;
    o.momentum = 0.7;
    hprt_optim_state *whole = hprt_optim_state_new(&o, N), *parts = hprt_optim_state_new(&o, N);
    assert_non_null(whole);
    assert_non_null(parts);
    float a[N], b[N], g[N];
    for (int i = 0; i < N; i++)
        a[i] = b[i] = 0.1f * (float)i - 1.0f;
    for (int t = 1; t <= 4; t++) {
        for (int i = 0; i < N; i++)
            g[i] = sinf((float)(i * t));
        assert_int_equal(hprt_optim_step(&o, whole, a, g, N, 0.01, NAN, t), HPRT_OK);
        assert_int_equal(hprt_optim_step_range(&o, parts, 0, b, g, CUT, 0.01, NAN, t), HPRT_OK);
        assert_int_equal(hprt_optim_step_range(&o, parts, CUT, b + CUT, g + CUT, N - CUT, 0.01,
                                               NAN, t),
                         HPRT_OK);
    }
    for (int i = 0; i < N; i++)
        assert_true(a[i] == b[i]);
    hprt_optim_state_free(whole);
    hprt_optim_state_free(parts);
}

static void test_state_errors(void **state)
{
    (void)state;
    hprt_optimizer sgd = defaults(HPRT_OPT_SGD), adam = defaults(HPRT_OPT_ADAM);
    hprt_optim_state *s = hprt_optim_state_new(&sgd, 4);
    assert_non_null(s);
    float th[8] = {1, 1, 1, 1, 1, 1, 1, 1}, g[8] = {0};
    /* wrong kind, too long, slice past the end: refused, nothing changed */
    assert_int_equal(hprt_optim_step(&adam, s, th, g, 4, 0.1, NAN, 1), HPRT_E_RUN);
    assert_int_equal(hprt_optim_step(&sgd, s, th, g, 5, 0.1, NAN, 1), HPRT_E_RUN);
    assert_int_equal(hprt_optim_step_range(&sgd, s, 3, th, g, 2, 0.1, NAN, 1), HPRT_E_RUN);
    assert_int_equal(hprt_optim_step_range(&sgd, s, 5, th, g, 0, 0.1, NAN, 1), HPRT_E_RUN);
    assert_true(th[0] == 1.0f);
    hprt_optim_state_free(s);

    /* amsgrad state: vmax allocated; adagrad: sum starts at `initial` */
    adam.amsgrad = true;
    s = hprt_optim_state_new(&adam, 3);
    assert_non_null(s);
    assert_non_null(s->vmax);
    hprt_optim_state_free(s);
    hprt_optimizer ada = defaults(HPRT_OPT_ADAGRAD);
    ada.initial = 0.25;
    s = hprt_optim_state_new(&ada, 3);
    assert_non_null(s);
    assert_true(s->sum[2] == 0.25f);
    hprt_optim_state_free(s);

    /* an empty parameter vector is fine */
    s = hprt_optim_state_new(&ada, 0);
    assert_non_null(s);
    assert_int_equal(hprt_optim_step(&ada, s, th, g, 0, 0.1, NAN, 1), HPRT_OK);
    hprt_optim_state_free(s);
    hprt_optim_state_free(NULL);
}

/* ---- clipping ---------------------------------------------------------------------------- */

static void test_clip(void **state)
{
    (void)state;
    float a[2] = {3.0f, 4.0f}, b[1] = {12.0f};
    float *grads[2] = {a, b};
    size_t sizes[2] = {2, 1};

    /* norm 13 > 1: scaled by 1/(13 + 1e-6) */
    double norm = hprt_clip_grad_norm(grads, sizes, 2, 1.0);
    assert_close(norm, 13.0, 1e-15);
    double coef = 1.0 / (13.0 + 1e-6);
    assert_close(a[0], 3.0 * coef, 1e-7);
    assert_close(a[1], 4.0 * coef, 1e-7);
    assert_close(b[0], 12.0 * coef, 1e-7);

    /* now below the limit: returns the norm, leaves the gradients alone */
    float a0 = a[0];
    norm = hprt_clip_grad_norm(grads, sizes, 2, 5.0);
    assert_close(norm, 13.0 * coef, 1e-7);
    assert_true(a[0] == a0);

    /* a NaN gradient: reported through the norm, nothing scaled */
    float c[3] = {1.0f, NAN, 2.0f};
    float *gc[1] = {c};
    size_t sc[1] = {3};
    assert_true(isnan(hprt_clip_grad_norm(gc, sc, 1, 1.0)));
    assert_true(c[0] == 1.0f);

    /* no gradients at all */
    assert_true(hprt_clip_grad_norm(NULL, NULL, 0, 1.0) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_dampening),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_adam_lr_1e3),
        cmocka_unit_test(test_adam_lr_01),
        cmocka_unit_test(test_adam_l2),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_adam_amsgrad),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_adagrad_decay_initial),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_rmsprop_momentum),
        cmocka_unit_test(test_rmsprop_centered),
        cmocka_unit_test(test_adamax_defaults),
        cmocka_unit_test(test_adamax_lr_01),
        cmocka_unit_test(test_adamax_weight_decay),
        cmocka_unit_test(test_adamax_betas_eps),
        cmocka_unit_test(test_adamax_nan),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_override),
        cmocka_unit_test(test_step_range),
        cmocka_unit_test(test_state_errors),
        cmocka_unit_test(test_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
