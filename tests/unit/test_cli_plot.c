/* test_cli_plot.c - the plots' axes (cli/svg.c): ranges that fit the data
 * and ticks on round numbers, on a constant and a cosine schedule computed by
 * the runtime, a log axis, event labels kept inside the frame; and the CRC32C
 * of the TensorBoard records (cli/tboard.c). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_sched.h"
#include "svg.h"
#include "tboard.h"

/* Every tick is a whole multiple of the step (within rounding) and inside the range. */
static void assert_round_ticks(const svg_axis *a)
{
    assert_true(a->n_ticks >= 2);
    for (int k = 0; k < a->n_ticks; k++) {
        double q = a->ticks[k] / a->step;
        assert_true(fabs(q - round(q)) < 1e-6);
        assert_true(a->ticks[k] >= a->lo - a->step * 1e-9 && a->ticks[k] <= a->hi + a->step * 1e-9);
    }
    /* the step is 1, 2 or 5 times a power of ten */
    double m = a->step / pow(10, floor(log10(a->step) + 1e-9));
    assert_true(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9);
}

static void series_range(const double *y, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        *lo = fmin(*lo, y[i]);
        *hi = fmax(*hi, y[i]);
    }
}

static void schedule(hprt_sched_kind kind, double base, double *y, int n)
{
    hprt_schedule s = {.kind = kind};
    hprt_sched_resolved r;
    hprt_error err = {0};
    assert_int_equal(hprt_sched_resolve(&s, 10, n - 1, &r, &err), HPRT_OK);
    for (int t = 0; t < n; t++)
        y[t] = hprt_sched_lr(&r, base, t);
}

static void test_constant_schedule(void **state)
{
    (void)state;
    double y[101];
    schedule(HPRT_SCHED_CONSTANT, 1e-3, y, 101);
    double lo, hi;
    series_range(y, 101, &lo, &hi);
    assert_true(lo == hi);
    svg_axis a;
    svg_axis_fit(&a, lo, hi, false, true);
    /* not -1.1 ... 1.1 around it: 0 to twice the rate, the line in the middle */
    assert_true(a.lo == 0);
    assert_close(a.hi, 2e-3, 1e-12);
    assert_round_ticks(&a);
    char lab[48];
    svg_tick_label(lab, sizeof lab, &a, a.ticks[0]);
    assert_string_equal(lab, "0");
    svg_tick_label(lab, sizeof lab, &a, a.ticks[a.n_ticks - 1]);
    assert_string_equal(lab, "2e-3");
    bool middle = false;
    for (int k = 0; k < a.n_ticks; k++) {
        svg_tick_label(lab, sizeof lab, &a, a.ticks[k]);
        assert_true(strlen(lab) <= 6); /* "1.5e-3", never 0.00150000001 */
        middle |= strcmp(lab, "1e-3") == 0;
    }
    assert_true(middle);
    /* a constant 0.1: 0, 0.05, ... 0.2 */
    svg_axis_fit(&a, 0.1, 0.1, false, true);
    assert_true(a.lo == 0);
    assert_close(a.hi, 0.2, 1e-12);
    svg_tick_label(lab, sizeof lab, &a, a.ticks[1]);
    assert_string_equal(lab, "0.05");
    /* a constant zero and a negative constant */
    svg_axis_fit(&a, 0, 0, false, true);
    assert_true(a.lo == 0 && a.hi == 1);
    svg_axis_fit(&a, -3, -3, false, true);
    assert_true(a.lo == -6 && a.hi == 0);
}

static void test_cosine_schedule(void **state)
{
    (void)state;
    double y[201];
    schedule(HPRT_SCHED_COSINE, 0.1, y, 201);
    double lo, hi;
    series_range(y, 201, &lo, &hi);
    svg_axis a;
    svg_axis_fit(&a, lo, hi, false, true);
    /* never below zero, and up to the peak on a round number */
    assert_true(a.lo == 0);
    assert_true(a.hi >= hi);
    assert_close(a.hi, 0.1, 1e-12);
    assert_round_ticks(&a);
    char lab[48];
    const char *want[] = {"0", "0.02", "0.04", "0.06", "0.08", "0.1"};
    assert_int_equal(a.n_ticks, 6);
    for (int k = 0; k < a.n_ticks; k++) {
        svg_tick_label(lab, sizeof lab, &a, a.ticks[k]);
        assert_string_equal(lab, want[k]);
    }
    /* a cosine that ends a hair below zero in floating point still starts at 0 */
    svg_axis_fit(&a, -1e-19, 3e-4, false, true);
    assert_true(a.lo == 0);
    /* an x axis (not loose): the data's range, round ticks inside it */
    svg_axis_fit(&a, 0, 200, false, false);
    assert_true(a.lo == 0 && a.hi == 200);
    assert_round_ticks(&a);
    svg_tick_label(lab, sizeof lab, &a, a.ticks[1]);
    assert_string_equal(lab, "50");
}

static void test_log_axis(void **state)
{
    (void)state;
    svg_axis a;
    svg_axis_fit(&a, 9.55e-6, 1.2, true, true);
    assert_close(a.lo, 1e-6, 1e-12);
    assert_close(a.hi, 10, 1e-12);
    const char *want[] = {"1e-6", "1e-5", "1e-4", "1e-3", "0.01", "0.1", "1", "10"};
    assert_int_equal(a.n_ticks, 8);
    char lab[48];
    for (int k = 0; k < a.n_ticks; k++) {
        svg_tick_label(lab, sizeof lab, &a, a.ticks[k]);
        assert_string_equal(lab, want[k]);
    }
    /* an LR range test's x axis: tight, decades inside */
    svg_axis_fit(&a, 1e-7, 0.5, true, false);
    assert_close(a.lo, 1e-7, 1e-12);
    assert_close(a.hi, 0.5, 1e-12);
    assert_int_equal(a.n_ticks, 7);
    /* within one decade: the decades around it */
    svg_axis_fit(&a, 2e-3, 8e-3, true, false);
    assert_int_equal(a.n_ticks, 2);
    assert_close(a.lo, 1e-3, 1e-12);
    assert_close(a.hi, 1e-2, 1e-12);
    /* a constant on a log axis: a decade either side */
    svg_axis_fit(&a, 1e-3, 1e-3, true, true);
    assert_close(a.lo, 1e-4, 1e-12);
    assert_close(a.hi, 1e-2, 1e-12);
    /* many decades: at most 8 labelled */
    svg_axis_fit(&a, 1e-20, 1e20, true, true);
    assert_true(a.n_ticks <= 8);
}

static void test_labels(void **state)
{
    (void)state;
    svg_axis a = {.step = 5e-4};
    char lab[48];
    svg_tick_label(lab, sizeof lab, &a, 1.5e-3);
    assert_string_equal(lab, "1.5e-3");
    svg_tick_label(lab, sizeof lab, &a, 0.0010000000000000002);
    assert_string_equal(lab, "1e-3");
    a.step = 0.1;
    svg_tick_label(lab, sizeof lab, &a, 0.30000000000000004);
    assert_string_equal(lab, "0.3");
    svg_tick_label(lab, sizeof lab, &a, -0.2);
    assert_string_equal(lab, "-0.2");
    a.step = 2000;
    svg_tick_label(lab, sizeof lab, &a, 14000);
    assert_string_equal(lab, "14000");
    a.step = 2e6;
    svg_tick_label(lab, sizeof lab, &a, 1.4e7);
    assert_string_equal(lab, "1.4e7");
}

/* The figure: the constant rate's y ticks, and event labels inside the frame. */
static void test_svg_panel(void **state)
{
    (void)state;
    double x[101], y[101];
    schedule(HPRT_SCHED_CONSTANT, 1e-3, y, 101);
    for (int i = 0; i < 101; i++)
        x[i] = i;
    svg_series s = {"learning rate", x, y, 101, "#9467bd"};
    svg_mark marks[3] = {{99, "a long event label near the right edge of the frame"},
                         {99, "and a second one at the same step"},
                         {2, "one near the left edge"}};
    svg_panel p = {"learning rate", "step", "rate", false, false, &s, 1, marks, 3, 0, 0, 0};
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    svg_print(f, &p, 1);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, ">1e-3</text>"));
    assert_null(strstr(buf, ">-"));   /* no negative tick */
    assert_null(strstr(buf, "e-06")); /* no printf exponents */
    /* the labels near the right edge end left of their line; the two at one
     * step on different rows; none starts left of the frame or overlaps the legend row */
    int seen = 0;
    double ys[3];
    for (const char *q = strstr(buf, "class='mark'"); q; q = strstr(q + 1, "class='mark'")) {
        double tx, ty;
        char anchor[8];
        assert_int_equal(sscanf(q, "class='mark' x='%lf' y='%lf' font-size='10' fill='#c33' text-anchor='%7[a-z]'", &tx, &ty, anchor), 3);
        assert_true(tx >= 70 && tx <= 740);
        assert_true(ty > 40 && ty < 250);
        if (seen < 2)
            assert_string_equal(anchor, "end");
        ys[seen++] = ty;
    }
    assert_int_equal(seen, 3);
    assert_true(ys[0] != ys[1]);
    free(buf);
}

/* Many events: the labels run down their lines, in columns that do not
 * overlap, inside the frame; none is left out while there is room. */
static void test_svg_many_marks(void **state)
{
    (void)state;
    double x[2] = {0, 600}, y[2] = {1, 2};
    svg_series s = {"loss", x, y, 2, "#1f77b4"};
    svg_mark marks[12];
    char labels[12][96];
    for (int i = 0; i < 12; i++) {
        snprintf(labels[i], sizeof labels[i], "plateau: learning rate %g -> %g, a long label", 1.0 / (1 << i),
                 1.0 / (2 << i));
        marks[i] = (svg_mark){250 + 30 * i + (i % 3 == 0 ? 0 : 2), labels[i]};
    }
    svg_panel p = {"loss", "step", "loss", false, false, &s, 1, marks, 12, 0, 0, 0};
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    svg_print(f, &p, 1);
    assert_int_equal(fclose(f), 0);
    double cols[12];
    int seen = 0;
    for (const char *q = strstr(buf, "class='mark'"); q; q = strstr(q + 1, "class='mark'")) {
        double tx, ty;
        assert_int_equal(sscanf(q, "class='mark' x='%lf' y='%lf'", &tx, &ty), 2);
        assert_non_null(strstr(q, "transform='rotate(-90"));
        /* the glyphs lie in [tx - 11, tx] */
        assert_true(tx - 11 >= 70 && tx <= 740);
        for (int k = 0; k < seen; k++)
            assert_true(fabs(cols[k] - tx) >= 11);
        cols[seen++] = tx;
    }
    assert_int_equal(seen, 12);
    free(buf);
}

static void test_crc32c(void **state)
{
    (void)state;
    /* the check value of CRC-32C, and RFC 3720's vectors */
    assert_int_equal(tb_crc32c("123456789", 9), 0xe3069283u);
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(tb_crc32c(zeros, 32), 0x8a9136aau);
    assert_int_equal(tb_crc32c(ones, 32), 0x62a8ab43u);
    assert_int_equal(tb_crc32c("", 0), 0);
    uint32_t c = tb_crc32c("123456789", 9);
    assert_int_equal(tb_masked_crc("123456789", 9), (((c >> 15) | (c << 17)) + 0xa282ead8u) & 0xffffffffu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_schedule), cmocka_unit_test(test_cosine_schedule),
        cmocka_unit_test(test_log_axis),          cmocka_unit_test(test_labels),
        cmocka_unit_test(test_svg_panel),         cmocka_unit_test(test_svg_many_marks),
        cmocka_unit_test(test_crc32c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
