/* classify.c - a C program using an hpc AOT artifact: it classifies the
 * Fashion-MNIST test images with the model hpc built, prints the accuracy and
 * the per-sample latency (and the throughput of one call for all of them,
 * checking it gives the same probabilities).  Nothing but libc and libm:
 *
 *   hpc build examples/fashion_mlp.hp --weights runs/fashion_mlp-... -o out
 *   cc -O2 -Iout examples/deploy/classify.c out/libfashion_mlp.a -lm -o classify
 *   ./classify [IMAGES LABELS]        (IDX files, plain or gzip: `gzip -dc` reads those)
 *
 * `make deploy-example` does all of this.  With -DPRINT each sample's
 * predicted class and probabilities are printed instead (the tests compare them
 * with `hpc predict`). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef _WIN32
FILE *popen(const char *command, const char *type);
int pclose(FILE *stream);
#endif

#include "fashion_mlp.h"

#define FM "/usr/share/datasets/fashion-mnist/"

/* The whole file; a gzip file through `gzip -dc` (no zlib needed). */
static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return NULL;
    }
    int c0 = fgetc(f), c1 = fgetc(f);
    bool gz = c0 == 0x1f && c1 == 0x8b;
    if (gz) {
        fclose(f);
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
        f = popen(cmd, "r");
        if (!f)
            return NULL;
    } else {
        rewind(f);
    }
    size_t cap = 1 << 20, len = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    if (gz)
        pclose(f);
    else
        fclose(f);
    *n = len;
    return buf;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

int main(int argc, char **argv)
{
    const char *images = argc > 2 ? argv[1] : FM "t10k-images-idx3-ubyte.gz";
    const char *labels = argc > 2 ? argv[2] : FM "t10k-labels-idx1-ubyte.gz";
    size_t ni, nl;
    unsigned char *img = read_file(images, &ni), *lab = read_file(labels, &nl);
    if (!img || !lab || ni < 16 || nl < 8 || be32(img) != 0x803 || be32(lab) != 0x801) {
        fprintf(stderr, "classify: need an IDX images file and its labels\n");
        return 1;
    }
    size_t n = be32(img + 4), size = (size_t)be32(img + 8) * be32(img + 12);
    if (size != FASHION_MLP_INPUT_SIZE || ni < 16 + n * size || nl < 8 + n) {
        fprintf(stderr, "classify: the images are not %d pixels each\n", FASHION_MLP_INPUT_SIZE);
        return 1;
    }
    /* raw pixel values: the model applies its own scale (1/255) */
    float *x = malloc(sizeof(float) * n * size), *y = malloc(sizeof(float) * n * FASHION_MLP_OUTPUT_SIZE);
    float *yb = malloc(sizeof(float) * n * FASHION_MLP_OUTPUT_SIZE);
    if (!x || !y || !yb)
        return 1;
    for (size_t i = 0; i < n * size; i++)
        x[i] = img[16 + i];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) /* one sample at a time: the latency a service sees */
        if (fashion_mlp_predict(x + i * size, y + i * FASHION_MLP_OUTPUT_SIZE, 1) != 0)
            return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* all of them in one call (tiles of samples share each weight read):
     * the same probabilities */
    struct timespec t2, t3;
    clock_gettime(CLOCK_MONOTONIC, &t2);
    if (fashion_mlp_predict(x, yb, n) != 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t3);
    for (size_t i = 0; i < n * FASHION_MLP_OUTPUT_SIZE; i++) {
        float d = y[i] > yb[i] ? y[i] - yb[i] : yb[i] - y[i];
        if (!(d <= 1e-5f)) {
            fprintf(stderr, "classify: sample %zu differs in one call and in batch: %g vs %g\n",
                    i / FASHION_MLP_OUTPUT_SIZE, y[i], yb[i]);
            return 2;
        }
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = y + i * FASHION_MLP_OUTPUT_SIZE;
        int best = 0;
        for (int k = 1; k < FASHION_MLP_OUTPUT_SIZE; k++)
            if (p[k] > p[best])
                best = k;
        correct += best == lab[8 + i];
#ifdef PRINT
        printf("%zu,%d", i, best);
        for (int k = 0; k < FASHION_MLP_OUTPUT_SIZE; k++)
            printf(",%.9g", p[k]);
        printf("\n");
#endif
    }
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / (double)n;
    double batch_s = (double)(t3.tv_sec - t2.tv_sec) + (double)(t3.tv_nsec - t2.tv_nsec) / 1e9;
#ifndef PRINT
    printf("accuracy %.4f on %zu images; %.1f us per sample one at a time, %.0f samples/s in one call\n",
           (double)correct / (double)n, n, us, (double)n / batch_s);
#else
    (void)batch_s;
#endif
    free(x);
    free(y);
    free(yb);
    free(img);
    free(lab);
    return 0;
}
