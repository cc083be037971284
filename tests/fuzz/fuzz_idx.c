/* fuzz_idx.c - libFuzzer over the IDX loader (hprt_idx_probe, hprt_idx_load,
 * hprt_idx_load_bytes), gzip-compressed and plain.
 *
 * Input: a flags byte, a 16-bit little-endian length L, L bytes of labels
 * file, then the images file.  Flags: 1 gzip the images, 2 gzip the labels,
 * 4 no labels file, 8 keep the images as bytes.  Corpus: tests/fuzz/corpus/idx.
 * Any input must give a result or an error, never a crash, a leak, a hang or
 * a sanitizer report. */
#include "fuzz_file.h"

#include "hprt_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t nl = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3, size -= 3;
    if (nl > size)
        nl = size;
    fuzz_file images, labels;
    if (!fuzz_file_open(&labels, data, nl, flags & 2))
        return 0;
    if (!fuzz_file_open(&images, data + nl, size - nl, flags & 1)) {
        fuzz_file_close(&labels);
        return 0;
    }
    const char *lp = flags & 4 ? NULL : labels.path;
    hprt_error err;
    hprt_data_info info;
    if (hprt_idx_probe(images.path, lp, &info, &err) == HPRT_OK)
        hprt_data_info_free(&info);
    hprt_dataset ds;
    hprt_status st = flags & 8 ? hprt_idx_load_bytes(images.path, lp, &ds, &err) : hprt_idx_load(images.path, lp, &ds, &err);
    if (st == HPRT_OK) {
        /* touch every value, as training would */
        double sum = 0;
        for (long i = 0; i < ds.n; i++)
            sum += hprt_data_feature(&ds, i, ds.features - 1) + (ds.y ? ds.y[i] : 0);
        if (sum < 0)
            __builtin_trap(); /* features are bytes, labels non-negative */
        hprt_dataset_free(&ds);
    }
    fuzz_file_close(&images);
    fuzz_file_close(&labels);
    return 0;
}
