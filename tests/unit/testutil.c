/* testutil.c - helpers shared by the cmocka tests. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void assert_close_at(double a, double b, double rtol, double atol, const char *file, int line)
{
    double tol = atol + rtol * fabs(b);
    if (!(fabs(a - b) <= tol) || isnan(a) != isnan(b)) {
        print_error("%.17g != %.17g (|diff| %.3g > tol %.3g)\n", a, b, fabs(a - b), tol);
        _fail(file, line);
    }
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/hpc-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

void tu_rmrf(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

void tu_poison(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 12345.0f;
}

double tu_dot(const double *r, const double *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += r[i] * y[i];
    return s;
}

void tu_check_grad(tu_objective f, void *ctx, double *p, size_t n, const float *g)
{
    for (size_t j = 0; j < n; j++) {
        double save = p[j];
        p[j] = save + TU_FD_H;
        double fp = f(ctx);
        p[j] = save - TU_FD_H;
        double fm = f(ctx);
        p[j] = save;
        assert_close_abs(g[j], (fp - fm) / (2 * TU_FD_H), TU_GRAD_RTOL, TU_GRAD_ATOL);
    }
}

double *tu_to_double(const float *x, size_t n)
{
    if (!x)
        return NULL;
    double *d = malloc((n ? n : 1) * sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

void tu_conv2d_f64(int B, int C, int H, int W, int F, int k, int stride, int pad, int Ho, int Wo, const double *X,
                   const double *Wt, const double *b, double *Y)
{
    for (int n = 0; n < B; n++)
        for (int f = 0; f < F; f++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double s = b[f];
                    for (int ch = 0; ch < C; ch++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                s += Wt[((f * C + ch) * k + ky) * k + kx] * X[(((size_t)n * C + ch) * H + iy) * W + ix];
                            }
                    Y[(((size_t)n * F + f) * Ho + oy) * Wo + ox] = s;
                }
}

float *tu_fnew(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

tu_fixture tu_fixture_load(const char *path)
{
    char *buf = tu_read_file(path, NULL);
    if (!buf)
        fail_msg("cannot read %s (regenerate it with its bench/*_fixture.py)", path);
    tu_fixture fx = {0};
    int cap = 0;
    char *p = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (fx.n == cap) {
            cap = cap ? 2 * cap : 64;
            fx.r = realloc(fx.r, (size_t)cap * sizeof *fx.r);
            assert_non_null(fx.r);
        }
        tu_record *r = &fx.r[fx.n++];
        size_t len = strcspn(p, " \t\r\n");
        assert_true(len > 0 && len < sizeof r->name);
        memcpy(r->name, p, len);
        r->name[len] = 0;
        p += len;
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n < 0 || n > 100000000)
            fail_msg("%s: bad count after %s", path, r->name);
        p = end;
        r->n = (int)n;
        r->v = malloc((size_t)(n ? n : 1) * sizeof *r->v);
        assert_non_null(r->v);
        for (long i = 0; i < n; i++) {
            r->v[i] = strtod(p, &end);
            if (end == p)
                fail_msg("%s: %s has fewer than %ld numbers", path, r->name, n);
            p = end;
        }
    }
    free(buf);
    return fx;
}

const double *tu_fixture_get(const tu_fixture *fx, const char *name, int n)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->r[i].name, name) == 0) {
            if (n >= 0 && fx->r[i].n != n)
                fail_msg("fixture: %s has %d numbers, expected %d", name, fx->r[i].n, n);
            return fx->r[i].v;
        }
    fail_msg("fixture: no record %s", name);
    return NULL;
}

void tu_fixture_free(tu_fixture *fx)
{
    for (int i = 0; i < fx->n; i++)
        free(fx->r[i].v);
    free(fx->r);
    fx->r = NULL;
    fx->n = 0;
}
