/* fuzz_text.c - libFuzzer over the text loader (hprt_text_probe,
 * hprt_text_load) and the window layout over what it loads.
 *
 * Input: a flags byte, a 16-bit little-endian length L, then two files: the
 * first L bytes and the rest.  Flags: bits 0-3 the window length - 1; 16
 * read only the first file; 32 load the second file with the first one's
 * vocabulary (a test set).  Corpus: tests/fuzz/corpus/text.  Any input must
 * give a result or an error, never a crash, a leak, a hang or a sanitizer
 * report. */
#include "fuzz_file.h"

#include "hprt_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void windows(const hprt_dataset *ds, int batch)
{
    hprt_text_layout l;
    hprt_error err;
    if (hprt_text_layout_init(&l, ds, batch, ds->seq, &err) != HPRT_OK)
        return;
    int32_t *x = malloc(sizeof(int32_t) * (size_t)batch * (size_t)ds->seq);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch * (size_t)ds->seq);
    for (long w = 0; x && y && w <= l.windows; w++) {
        int T = hprt_text_window(ds, &l, w, w & 1 ? HPRT_SEQ_TIME_MAJOR : HPRT_SEQ_BATCH_MAJOR, x, y);
        if (T < 0 || T > ds->seq || (w < l.windows && T == 0) || (w == l.windows && T != 0))
            __builtin_trap();
        for (int i = 0; i < batch * T; i++)
            if (x[i] < 0 || x[i] >= ds->vocab.size || y[i] < 0 || y[i] >= ds->vocab.size)
                __builtin_trap();
    }
    free(x);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t n1 = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3, size -= 3;
    if (n1 > size)
        n1 = size;
    fuzz_file a, b;
    if (!fuzz_file_open(&a, data, n1, false))
        return 0;
    if (!fuzz_file_open(&b, data + n1, size - n1, false)) {
        fuzz_file_close(&a);
        return 0;
    }
    int seq = (int)(flags & 15) + 1;
    const char *paths[2] = {a.path, b.path};
    int npaths = flags & 16 ? 1 : 2;
    hprt_error err;
    hprt_data_info info;
    if (hprt_text_probe(paths, npaths, &info, &err) == HPRT_OK)
        hprt_data_info_free(&info);
    hprt_dataset ds;
    if (flags & 32) {
        hprt_dataset train;
        if (hprt_text_load(paths, 1, seq, NULL, &train, &err) == HPRT_OK) {
            if (hprt_text_load(paths + 1, 1, seq, &train.vocab, &ds, &err) == HPRT_OK) {
                windows(&ds, 1 + (int)(flags >> 6));
                hprt_dataset_free(&ds);
            }
            hprt_dataset_free(&train);
        }
    } else if (hprt_text_load(paths, npaths, seq, NULL, &ds, &err) == HPRT_OK) {
        windows(&ds, 1 + (int)(flags >> 6));
        hprt_dataset_free(&ds);
    }
    fuzz_file_close(&a);
    fuzz_file_close(&b);
    return 0;
}
