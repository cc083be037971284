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

/* Reads a whole file into a NUL-terminated malloc'd buffer (NULL if missing). */
char *tu_read_file(const char *path, size_t *len);
/* Writes text to path; fails the test on error. */
void tu_write_file(const char *path, const void *data, size_t len);
/* A fresh temporary directory (mkdtemp); the caller removes it with tu_rmrf. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);

#endif
