/* data.c - operations on loaded data sets: split, scale, normalise, check
 * labels, epoch order, minibatch gathering, char-RNN windows.  The loaders
 * are in data_idx.c, data_csv.c and data_text.c. */
#include "hprt_data.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void hprt_data_info_free(hprt_data_info *info)
{
    if (!info)
        return;
    if (info->names) {
        for (int i = 0; i < info->columns; i++)
            free(info->names[i]);
        free(info->names);
    }
    hprt_csv_encoding_free(&info->encoding);
    memset(info, 0, sizeof *info);
}

void hprt_dataset_free(hprt_dataset *ds)
{
    if (!ds)
        return;
    hprt_free(ds->x);
    hprt_free(ds->x8);
    hprt_free(ds->y);
    hprt_free(ds->tokens);
    free(ds->line);
    free(ds->source);
    free(ds->label_source);
    memset(ds, 0, sizeof *ds);
}

/* The name for messages about the whole set. */
static const char *ds_name(const hprt_dataset *ds)
{
    return ds->source ? ds->source : "data set";
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int classes_of(const int32_t *y, long n)
{
    int32_t m = -1;
    for (long i = 0; i < n; i++)
        if (y[i] > m)
            m = y[i];
    return (int)m + 1;
}

/* ---- split --------------------------------------------------------------- */

hprt_status hprt_data_split(hprt_dataset *train, double fraction, hprt_dataset *valid,
                            hprt_error *err)
{
    memset(valid, 0, sizeof *valid);
    if (!(fraction > 0.0 && fraction < 1.0))
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: split fraction %g must be between 0 and 1 (exclusive), "
                         "e.g. 0.1 for the last 10%%",
                         ds_name(train), fraction);
    long n = train->n;
    /* floor(n * (1 - f)) kept, as Keras's validation_split; the epsilon
     * absorbs the representation error of f (0.9 * 60000 must be 54000). */
    long keep = (long)floor((double)n * (1.0 - fraction) + 1e-6);
    if (keep > n)
        keep = n;
    long cut = n - keep;
    if (keep < 1 || cut < 1)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: split(%g) of %ld %s leaves the %s part empty; use a %s fraction",
                         ds_name(train), fraction, n,
                         train->kind == HPRT_DATA_TEXT ? "tokens" : "rows",
                         keep < 1 ? "training" : "split-off", keep < 1 ? "smaller" : "larger");

    *valid = *train; /* shapes, vocab, seq; every pointer is replaced below */
    valid->n = cut;
    valid->x = NULL;
    valid->x8 = NULL;
    valid->y = NULL;
    valid->tokens = NULL;
    valid->line = NULL;
    valid->source = dup_str(train->source);
    valid->label_source = dup_str(train->label_source);
    valid->first_record = train->first_record + keep;
    bool oom = (train->source && !valid->source) || (train->label_source && !valid->label_source);

    size_t F = (size_t)train->features, k = (size_t)keep, c = (size_t)cut;
    if (train->x && !oom) {
        valid->x = hprt_alloc(c * F * sizeof(float));
        if (valid->x)
            memcpy(valid->x, train->x + k * F, c * F * sizeof(float));
        else
            oom = true;
    }
    if (train->x8 && !oom) {
        valid->x8 = hprt_alloc(c * F);
        if (valid->x8)
            memcpy(valid->x8, train->x8 + k * F, c * F);
        else
            oom = true;
    }
    if (train->y && !oom) {
        valid->y = hprt_alloc(c * sizeof(int32_t));
        if (valid->y)
            memcpy(valid->y, train->y + k, c * sizeof(int32_t));
        else
            oom = true;
    }
    if (train->tokens && !oom) {
        valid->tokens = hprt_alloc(c);
        if (valid->tokens)
            memcpy(valid->tokens, train->tokens + k, c);
        else
            oom = true;
    }
    if (train->line && !oom) {
        valid->line = malloc(c * sizeof(long));
        if (valid->line)
            memcpy(valid->line, train->line + k, c * sizeof(long));
        else
            oom = true;
    }
    if (oom) {
        hprt_dataset_free(valid);
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory splitting off %ld rows",
                         ds_name(train), cut);
    }
    train->n = keep;
    if (train->y && !train->labels) { /* multi-label: classes is the number of label columns */
        train->classes = classes_of(train->y, keep);
        valid->classes = classes_of(valid->y, cut);
    }
    return HPRT_OK;
}

/* ---- scale and normalize -------------------------------------------------- */

void hprt_data_scale(hprt_dataset *ds, float factor)
{
    if (ds->x8) { /* applied as rows are read, exactly as the float path rounds */
        ds->scale *= factor;
        return;
    }
    if (!ds->x)
        return;
    size_t m = (size_t)ds->n * (size_t)ds->features;
    float *x = ds->x;
    for (size_t i = 0; i < m; i++)
        x[i] *= factor;
}

void hprt_data_scale_except(hprt_dataset *ds, float factor, const int *keep, int n_keep)
{
    if (n_keep <= 0 || !ds->x) {
        hprt_data_scale(ds, factor);
        return;
    }
    int F = ds->features;
    for (long r = 0; r < ds->n; r++) {
        float *x = ds->x + (size_t)r * (size_t)F;
        for (int j = 0, k = 0; j < F; j++) {
            while (k < n_keep && keep[k] < j)
                k++;
            if (k < n_keep && keep[k] == j)
                continue;
            x[j] *= factor;
        }
    }
}

void hprt_norm_keep(hprt_norm *nm, const int *keep, int n_keep)
{
    for (int k = 0; k < n_keep; k++)
        if (keep[k] >= 0 && keep[k] < nm->features) {
            nm->mean[keep[k]] = 0.0f;
            nm->std[keep[k]] = 1.0f;
        }
}

void hprt_norm_free(hprt_norm *nm)
{
    if (!nm)
        return;
    hprt_free(nm->mean); /* std shares its block */
    memset(nm, 0, sizeof *nm);
}

hprt_status hprt_norm_fit(hprt_norm *nm, const hprt_dataset *train, hprt_error *err)
{
    memset(nm, 0, sizeof *nm);
    if ((!train->x && !train->x8) || train->n < 1 || train->features < 1)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: normalize = standard needs feature rows; this data set has none",
                         ds_name(train));
    size_t F = (size_t)train->features, n = (size_t)train->n;
    nm->features = train->features;
    nm->mean = hprt_alloc(2 * F * sizeof(float));
    nm->std = nm->mean ? nm->mean + F : NULL;
    double *acc = calloc(F, sizeof(double));
    double *mean = calloc(F, sizeof(double));
    if (!nm->mean || !acc || !mean) {
        free(acc);
        free(mean);
        hprt_norm_free(nm);
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory for normalisation statistics",
                         ds_name(train));
    }
    /* Two passes in double, row by row (the inner loop runs along a row, so
     * memory is read in order): the mean, then squared deviations from it,
     * which is exact where the one-pass sum-of-squares formula cancels. */
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < F; f++)
            acc[f] += hprt_data_feature(train, (long)i, (int)f);
    for (size_t f = 0; f < F; f++) {
        mean[f] = acc[f] / (double)n;
        acc[f] = 0.0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < F; f++) {
            double d = hprt_data_feature(train, (long)i, (int)f) - mean[f];
            acc[f] += d * d;
        }
    for (size_t f = 0; f < F; f++) {
        double sd = sqrt(acc[f] / (double)n); /* population std, as scikit-learn */
        /* A constant feature (an always-black pixel) would divide by 0; one
         * whose spread is below float round-off of its mean is constant too. */
        if (!(sd > 0.0) || sd <= 4.0 * FLT_EPSILON * fabs(mean[f]))
            sd = 1.0;
        nm->mean[f] = (float)mean[f];
        nm->std[f] = (float)sd;
    }
    free(acc);
    free(mean);
    return HPRT_OK;
}

hprt_status hprt_norm_apply(const hprt_norm *nm, hprt_dataset *ds, hprt_error *err)
{
    if (!ds->x && !ds->x8)
        return HPRT_OK;
    if (nm->features != ds->features)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: %d features per row, but the training set that gave the "
                         "normalisation statistics has %d",
                         ds_name(ds), ds->features, nm->features);
    if (ds->x8) { /* applied as rows are read */
        ds->mean = nm->mean;
        ds->std = nm->std;
        return HPRT_OK;
    }
    size_t F = (size_t)ds->features, n = (size_t)ds->n;
    for (size_t i = 0; i < n; i++) {
        float *r = ds->x + i * F;
        for (size_t f = 0; f < F; f++)
            r[f] = (r[f] - nm->mean[f]) / nm->std[f];
    }
    return HPRT_OK;
}

/* ---- labels -------------------------------------------------------------- */

hprt_status hprt_data_check_labels(const hprt_dataset *ds, int classes, hprt_error *err)
{
    if (!ds->y)
        return HPRT_OK;
    const char *file = ds->label_source ? ds->label_source : ds_name(ds);
    if (ds->labels > 0 && ds->labels != classes)
        return hprt_fail(err, HPRT_E_DATA, "%s: %d label columns, but the model has %d (one output per label)", file,
                         ds->labels, classes);
    if (ds->labels > 0) /* bit sets of the label columns, checked as they were read */
        return HPRT_OK;
    for (long i = 0; i < ds->n; i++) {
        int32_t v = ds->y[i];
        if (v >= 0 && v < classes)
            continue;
        if (ds->line)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: line %ld: label %d is outside 0..%d; the model has %d classes "
                             "(the largest label of the training set + 1)",
                             file, ds->line[i], (int)v, classes - 1, classes);
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: record %ld (counting from 0): label %d is outside 0..%d; the model "
                         "has %d classes (the largest label of the training set + 1)",
                         file, ds->first_record + i, (int)v, classes - 1, classes);
    }
    return HPRT_OK;
}

/* ---- epoch order and minibatches ----------------------------------------- */

hprt_status hprt_order_init(hprt_order *o, long n, bool shuffle, hprt_error *err)
{
    memset(o, 0, sizeof *o);
    if (n < 1 || (unsigned long)n > UINT32_MAX)
        return hprt_fail(err, HPRT_E_DATA, "data set of %ld rows: an epoch needs 1 to %lu rows",
                         n, (unsigned long)UINT32_MAX);
    o->idx = hprt_alloc((size_t)n * sizeof(uint32_t));
    if (!o->idx)
        return hprt_fail(err, HPRT_E_RUN, "out of memory for the order of %ld rows", n);
    o->n = (uint32_t)n;
    o->shuffle = shuffle;
    for (uint32_t i = 0; i < o->n; i++)
        o->idx[i] = i;
    return HPRT_OK;
}

void hprt_order_next_epoch(hprt_order *o, hprt_rng *rng)
{
    if (!o->shuffle)
        return;
    /* From the identity every time: the epoch's order is then a function of
     * the generator state alone, so a resumed run repeats it exactly. */
    for (uint32_t i = 0; i < o->n; i++)
        o->idx[i] = i;
    hprt_rng_shuffle(rng, o->idx, o->n);
}

void hprt_order_free(hprt_order *o)
{
    if (!o)
        return;
    hprt_free(o->idx);
    memset(o, 0, sizeof *o);
}

long hprt_data_batches(long n, int batch)
{
    if (n <= 0 || batch <= 0)
        return 0;
    return (n + batch - 1) / batch;
}

long hprt_data_gather(const hprt_dataset *ds, const uint32_t *order, long start, int batch,
                      float *x, int32_t *y)
{
    if (start < 0 || start >= ds->n || batch <= 0 || (!ds->x && !ds->x8))
        return 0;
    long m = ds->n - start < batch ? ds->n - start : batch;
    size_t F = (size_t)ds->features;
    for (long i = 0; i < m; i++) {
        size_t r = order ? order[start + i] : (size_t)(start + i);
        if (ds->x)
            memcpy(x + (size_t)i * F, ds->x + r * F, F * sizeof(float));
        else
            for (size_t f = 0; f < F; f++)
                x[(size_t)i * F + f] = hprt_data_feature(ds, (long)r, (int)f);
        if (y && ds->y)
            y[i] = ds->y[r];
    }
    return m;
}

/* ---- token streams ------------------------------------------------------- */

hprt_status hprt_text_layout_init(hprt_text_layout *l, const hprt_dataset *ds, int batch,
                                  int seq, hprt_error *err)
{
    memset(l, 0, sizeof *l);
    if (!ds->tokens)
        return hprt_fail(err, HPRT_E_DATA, "%s: not a text data set", ds_name(ds));
    if (batch < 1 || seq < 1)
        return hprt_fail(err, HPRT_E_DATA, "%s: batch (%d) and seq (%d) must be at least 1",
                         ds_name(ds), batch, seq);
    long S = ds->n / batch;
    if (S < (long)seq + 1)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: %ld tokens are too few for %d streams of seq %d: each stream "
                         "needs at least %d tokens (seq + 1 for the targets); use a smaller "
                         "batch or seq",
                         ds_name(ds), ds->n, batch, seq, seq + 1);
    l->batch = batch;
    l->seq = seq;
    l->stream_len = S;
    l->full_windows = (S - 1) / seq;
    l->windows = (S - 1 + seq - 1) / seq;
    return HPRT_OK;
}

int hprt_text_window(const hprt_dataset *ds, const hprt_text_layout *l, long w,
                     hprt_seq_layout layout, int32_t *x, int32_t *y)
{
    if (w < 0 || w >= l->windows)
        return 0;
    long p = w * l->seq;
    long left = l->stream_len - 1 - p;
    int T = left < l->seq ? (int)left : l->seq;
    int B = l->batch;
    for (int b = 0; b < B; b++) {
        const uint8_t *s = ds->tokens + (size_t)b * (size_t)l->stream_len + (size_t)p;
        for (int t = 0; t < T; t++) {
            size_t k = layout == HPRT_SEQ_TIME_MAJOR ? (size_t)t * B + b : (size_t)b * T + t;
            x[k] = s[t];
            y[k] = s[t + 1];
        }
    }
    return T;
}
