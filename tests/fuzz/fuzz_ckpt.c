/* fuzz_ckpt.c - libFuzzer over the checkpoint reader (hprt_ckpt_read), every
 * format version (1 to 3).
 *
 * Input: a flags byte, then the file.  Flags: 1 append the CRC-32 the reader
 * expects (so the fuzzer gets past it and into the fields), 2 give the
 * reader the model the file names (its plan hash and parameter count, when
 * small) so it reads on, 4 no optimizer state wanted, 8 no driver state
 * wanted, bits 4-7 which optimizer arrays the model has (buf, m, v, vmax;
 * sum and ga follow m and v).  Corpus: tests/fuzz/corpus/ckpt, made by
 * tests/fuzz/make_seeds.c.  Any input must give a state or an error, never a
 * crash, a leak, a hang or a sanitizer report. */
#include "fuzz_file.h"

#include <string.h>

#include "hprt_ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The header's plan hash and parameter count, as the reader will find them. */
static void header(const uint8_t *p, size_t n, uint64_t *hash, uint64_t *np)
{
    *hash = 0;
    *np = 0;
    if (n < 20)
        return;
    memcpy(hash, p + 8, 8);
    uint32_t dlen;
    memcpy(&dlen, p + 16, 4);
    if (dlen <= n - 20 && n - 20 - dlen >= 8)
        memcpy(np, p + 20 + dlen, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    data++, size--;
    uint8_t *file = malloc(size + 4);
    if (!file)
        return 0;
    memcpy(file, data, size);
    size_t n = size;
    if (flags & 1) {
        uint32_t crc = (uint32_t)crc32(0L, file, (uInt)size);
        memcpy(file + n, &crc, 4);
        n += 4;
    }
    uint64_t hash, np;
    header(file, n, &hash, &np);
    size_t n_params = 3;
    hprt_ckpt_id id = {hash ^ 1, "another model"};
    if (flags & 2) {
        id.plan_hash = hash;
        id.desc = "this model";
        if (np <= 4096)
            n_params = (size_t)np;
    }
    fuzz_file f;
    bool opened = fuzz_file_open(&f, file, n, false);
    free(file);
    if (!opened)
        return 0;
    float *params = malloc(sizeof(float) * (n_params + 1));
    hprt_optim_state opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = (hprt_opt_kind)((flags >> 4) % HPRT_OPT__COUNT);
    opt.n = n_params;
    float **arr[6] = {&opt.buf, &opt.m, &opt.v, &opt.vmax, &opt.sum, &opt.ga};
    unsigned have = flags >> 4;
    for (int i = 0; i < 6; i++)
        if (have & (1u << (i % 4)))
            *arr[i] = malloc(sizeof(float) * (n_params + 1));
    hprt_train_state st;
    hprt_error err;
    if (params &&
        hprt_ckpt_read(f.path, &id, params, n_params, flags & 4 ? NULL : &opt, flags & 8 ? NULL : &st, &err) == HPRT_OK &&
        !(flags & 8)) {
        if (st.n_order < 0 || st.n_carry < 0 || st.n_norm < 0 || (st.n_order > 0) != (st.order != NULL))
            __builtin_trap();
        hprt_train_state_free(&st);
    }
    for (int i = 0; i < 6; i++)
        free(*arr[i]);
    free(params);
    fuzz_file_close(&f);
    return 0;
}
