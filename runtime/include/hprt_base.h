/* hprt_base.h - errors and aligned memory, shared by every part of libhprt. */
#ifndef HPRT_BASE_H
#define HPRT_BASE_H

#include <stddef.h>

/* Error classes; they map onto hpc's exit statuses (docs/cli.md). */
typedef enum {
    HPRT_OK = 0,
    HPRT_E_DATA = 3,   /* bad or missing data: names the file and record */
    HPRT_E_RUN = 4,    /* the run failed: NaN/Inf, I/O, out of memory */
} hprt_status;

/* An error, fully formatted: "PATH: record N: what is wrong; what to do". */
typedef struct {
    hprt_status status;
    char msg[1024];
} hprt_error;

/* Sets err (if not NULL) and returns status. printf-style. */
hprt_status hprt_fail(hprt_error *err, hprt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 64-byte aligned allocation, zero-filled; NULL on failure or n == 0. */
void *hprt_alloc(size_t bytes);
void hprt_free(void *p);

#endif
