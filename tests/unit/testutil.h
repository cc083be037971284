/* testutil.h - helpers shared by the cmocka tests. */
#ifndef HPC_TESTUTIL_H
#define HPC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* cmocka 1.1 has no floating-point assert: |a-b| <= atol + rtol*|b|. */
#define assert_close(a, b, rtol) assert_close_at((double)(a), (double)(b), (rtol), 0.0, __FILE__, __LINE__)
#define assert_close_abs(a, b, rtol, atol) assert_close_at((double)(a), (double)(b), (rtol), (atol), __FILE__, __LINE__)
void assert_close_at(double a, double b, double rtol, double atol, const char *file, int line);

/* n floats (at least one) from malloc; fails the test when there are none. */
float *tu_fnew(size_t n);
/* A float64 copy of x[0..n) from malloc (at least one double); NULL for NULL x. */
double *tu_to_double(const float *x, size_t n);
/* The direct float64 convolution (the definition: zero padding, weights
 * [F][C][k][k]) of B images [C][H][W] into Y [B][F][Ho][Wo]. */
void tu_conv2d_f64(int B, int C, int H, int W, int F, int k, int stride, int pad, int Ho, int Wo, const double *X,
                   const double *Wt, const double *b, double *Y);
/* Garbage (12345), to show that outputs are overwritten rather than accumulated. */
void tu_poison(float *x, size_t n);
double tu_dot(const double *r, const double *y, size_t n);

/* Central differences (step TU_FD_H) of f(ctx) with respect to each p[j] (an
 * array that f reads through ctx), compared with the analytic gradient g
 * within TU_GRAD_RTOL relative and TU_GRAD_ATOL absolute. */
#define TU_FD_H 1e-4
#define TU_GRAD_RTOL 1e-4
#define TU_GRAD_ATOL 1e-5
typedef double (*tu_objective)(void *ctx);
void tu_check_grad(tu_objective f, void *ctx, double *p, size_t n, const float *g);

/* Reads a whole file into a NUL-terminated malloc'd buffer (NULL if missing). */
char *tu_read_file(const char *path, size_t *len);
/* Writes text to path; fails the test on error. */
void tu_write_file(const char *path, const void *data, size_t len);
/* A fresh temporary directory (mkdtemp); the caller removes it with tu_rmrf. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);

/* A fixture of the form the bench fixture scripts write: '#' comment lines, then
 * records `NAME N` followed by N numbers.  tu_fixture_get fails the test when
 * NAME is missing or does not hold n numbers (n < 0: any count). */
typedef struct {
    char name[48];
    int n;
    double *v;
} tu_record;
typedef struct {
    tu_record *r;
    int n;
} tu_fixture;
tu_fixture tu_fixture_load(const char *path);
const double *tu_fixture_get(const tu_fixture *fx, const char *name, int n);
void tu_fixture_free(tu_fixture *fx);

#endif
