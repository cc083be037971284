/* fuzz_csv.c - libFuzzer over the CSV loader (hprt_csv_probe, hprt_csv_load).
 *
 * Input: a flags byte, then the file.  Flags: bits 0-2 the label column
 * (last, first, index, name "label", none), bits 3-5 the index for
 * `label = N`, 64 no header, 128 gzip the file; then again with column 0
 * categorical, through the encoding's text form; then with columns 1 and N
 * as multi-label 0/1 columns.  Corpus:
 * tests/fuzz/corpus/csv.  Any input must give a result or an error, never a
 * crash, a leak, a hang or a sanitizer report. */
#include "fuzz_file.h"

#include "hprt_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    fuzz_file f;
    if (!fuzz_file_open(&f, data + 1, size - 1, flags & 128))
        return 0;
    static const hprt_label_kind kinds[8] = {HPRT_LABEL_LAST, HPRT_LABEL_FIRST, HPRT_LABEL_INDEX, HPRT_LABEL_NAME,
                                             HPRT_LABEL_NONE, HPRT_LABEL_LAST, HPRT_LABEL_INDEX, HPRT_LABEL_NAME};
    hprt_csv_opts o = hprt_csv_defaults();
    o.label = kinds[flags & 7];
    o.label_index = (int)(flags >> 3 & 7);
    o.label_name = "label";
    o.header = !(flags & 64);
    hprt_error err;
    hprt_data_info info;
    if (hprt_csv_probe(f.path, &o, &info, &err) == HPRT_OK)
        hprt_data_info_free(&info);
    hprt_dataset ds;
    if (hprt_csv_load(f.path, &o, &ds, &err) == HPRT_OK) {
        double sum = 0;
        for (long i = 0; i < ds.n; i++) {
            for (int j = 0; j < ds.features; j++)
                sum += hprt_data_feature(&ds, i, j);
            if (ds.y && ds.y[i] < 0)
                __builtin_trap(); /* labels are non-negative */
            if (ds.line[i] < 1)
                __builtin_trap();
        }
        if (sum != sum)
            __builtin_trap(); /* features are finite */
        hprt_dataset_free(&ds);
    }
    /* column 0 categorical: the probe's encoding, restricted to the first
     * half of the rows and through its text form, read the file again */
    hprt_csv_colref cat = {.name = NULL, .index = 0};
    o.categorical = &cat;
    o.n_categorical = 1;
    if (hprt_csv_probe(f.path, &o, &info, &err) == HPRT_OK) {
        hprt_csv_encoding_restrict(&info.encoding, info.n / 2);
        size_t len;
        char *t = hprt_csv_encoding_save(&info.encoding, &len);
        hprt_csv_encoding back;
        if (t && hprt_csv_encoding_parse(t, len, &back, &err) == HPRT_OK) {
            hprt_csv_opts o2 = o;
            o2.encoding = &back;
            if (hprt_csv_load(f.path, &o2, &ds, &err) == HPRT_OK) {
                for (long i = 0; i < ds.n; i++)
                    if (ds.y && (ds.y[i] < 0 || (back.n_classes && ds.y[i] >= back.n_classes)))
                        __builtin_trap(); /* a class of the encoding */
                hprt_dataset_free(&ds);
            }
            hprt_csv_encoding_free(&back);
        }
        free(t);
        hprt_data_info_free(&info);
    }
    /* multi-label: columns 1 and N (the index bits) as 0/1 label columns, column 0 still
     * categorical: every label is a bit set of 2 bits, features skip the label columns */
    hprt_csv_colref labs[2] = {{.name = NULL, .index = 1}, {.name = NULL, .index = (int)(flags >> 3 & 7)}};
    o.labels = labs;
    o.n_labels = 2;
    if (hprt_csv_load(f.path, &o, &ds, &err) == HPRT_OK) {
        if (ds.labels != 2 || ds.classes != 2 || !ds.y)
            __builtin_trap();
        for (long i = 0; i < ds.n; i++)
            if (ds.y[i] < 0 || ds.y[i] > 3)
                __builtin_trap(); /* two bits */
        hprt_dataset_free(&ds);
    }
    fuzz_file_close(&f);
    return 0;
}
