/* fuzz_file.h - the fuzz input as a file the loaders can open by path.
 *
 * The loaders read files (open, fopen, gzdopen), so each input is written to
 * an anonymous in-memory file (memfd_create) and handed over as
 * /proc/self/fd/N: no disk, nothing left behind.  Optionally gzip-compressed
 * first, so that the gzip paths see valid streams with fuzzed contents (raw
 * inputs cover corrupt streams). */
#ifndef HPC_FUZZ_FILE_H
#define HPC_FUZZ_FILE_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    int fd;
    char path[64];
} fuzz_file;

static bool fuzz_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* false only when the system refuses (then the input is skipped). */
static bool fuzz_file_open(fuzz_file *f, const uint8_t *data, size_t size, bool gzip)
{
    f->fd = memfd_create("hpc-fuzz", MFD_CLOEXEC);
    if (f->fd < 0)
        return false;
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    bool ok;
    if (gzip) {
        uLongf cap = compressBound((uLong)size) + 32;
        uint8_t *z = malloc(cap);
        z_stream s = {0};
        ok = z && deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
        if (ok) {
            s.next_in = (Bytef *)data;
            s.avail_in = (uInt)size;
            s.next_out = z;
            s.avail_out = (uInt)cap;
            ok = deflate(&s, Z_FINISH) == Z_STREAM_END;
            ok = ok && fuzz_write_all(f->fd, z, (size_t)s.total_out);
            deflateEnd(&s);
        }
        free(z);
    } else {
        ok = fuzz_write_all(f->fd, data, size);
    }
    if (!ok) {
        close(f->fd);
        f->fd = -1;
    }
    return ok;
}

static void fuzz_file_close(fuzz_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

#endif
