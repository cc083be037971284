/* load.c - the Plan's data, loaded through the runtime (hpc run). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

static hprt_status load_source(const plan_source *s, hprt_dataset *ds, const hprt_vocab *vocab,
                               const hprt_csv_encoding *enc, hprt_error *err)
{
    switch (s->kind) {
    case PLAN_SRC_IDX:
        return hprt_idx_load_bytes(s->paths[0], s->labels, ds, err); /* a quarter of the memory */
    case PLAN_SRC_CSV: {
        hprt_csv_opts o = hprt_csv_defaults();
        o.header = s->header;
        static const hprt_label_kind kinds[] = {HPRT_LABEL_LAST, HPRT_LABEL_FIRST, HPRT_LABEL_INDEX, HPRT_LABEL_NAME};
        o.label = kinds[s->label_kind];
        o.label_index = s->label_index;
        o.label_name = s->label_name;
        hprt_csv_colref refs[HPRT_MAX_LABELS];
        for (int i = 0; i < s->n_labels && i < HPRT_MAX_LABELS; i++)
            refs[i] = (hprt_csv_colref){.name = NULL, .index = s->label_columns[i]};
        o.labels = refs;
        o.n_labels = s->n_labels;
        o.encoding = enc; /* the categories and class names the checker found */
        return hprt_csv_load(s->paths[0], &o, ds, err);
    }
    case PLAN_SRC_TEXT:
        return hprt_text_load(s->paths, s->n_paths, s->seq, vocab, ds, err);
    default:
        return hprt_fail(err, HPRT_E_DATA, "no data source");
    }
}

hprt_status hp_load_data(const plan_data *d, hp_loaded_data *out, hprt_error *err)
{
    memset(out, 0, sizeof *out);
    hprt_status st = load_source(&d->train, &out->train, NULL, &d->csv, err);
    if (st != HPRT_OK)
        return st;
    /* the splits cut the last fraction of train, valid first (before any shuffling) */
    const plan_source *parts[2] = {&d->valid, &d->test};
    hprt_dataset *dst[2] = {&out->valid, &out->test};
    bool *has[2] = {&out->has_valid, &out->has_test};
    for (int i = 0; i < 2; i++) {
        if (parts[i]->kind == PLAN_SRC_NONE)
            continue;
        if (parts[i]->kind == PLAN_SRC_SPLIT)
            st = hprt_data_split(&out->train, parts[i]->fraction, dst[i], err);
        else
            st = load_source(parts[i], dst[i], d->is_text ? &out->train.vocab : NULL, &d->csv, err);
        if (st != HPRT_OK)
            goto fail;
        *has[i] = true;
    }
    if (!d->is_text) {
        /* the ids of embedded categorical columns are neither scaled nor normalised */
        int ids[HPRT_MAX_EMBED_COLUMNS];
        int n_ids = hprt_csv_encoding_embedded(&d->csv, ids, NULL, HPRT_MAX_EMBED_COLUMNS);
        if (d->scale != 1) {
            hprt_data_scale_except(&out->train, (float)d->scale, ids, n_ids);
            for (int i = 0; i < 2; i++)
                if (*has[i])
                    hprt_data_scale_except(dst[i], (float)d->scale, ids, n_ids);
        }
        if (d->normalize) {
            if ((st = hprt_norm_fit(&out->norm, &out->train, err)) != HPRT_OK)
                goto fail;
            hprt_norm_keep(&out->norm, ids, n_ids);
            out->has_norm = true;
            if ((st = hprt_norm_apply(&out->norm, &out->train, err)) != HPRT_OK)
                goto fail;
            for (int i = 0; i < 2; i++)
                if (*has[i] && (st = hprt_norm_apply(&out->norm, dst[i], err)) != HPRT_OK)
                    goto fail;
        }
        /* every label within the classes the model predicts */
        if ((st = hprt_data_check_labels(&out->train, d->classes, err)) != HPRT_OK)
            goto fail;
        for (int i = 0; i < 2; i++)
            if (*has[i] && (st = hprt_data_check_labels(dst[i], d->classes, err)) != HPRT_OK)
                goto fail;
    }
    return HPRT_OK;
fail:
    hp_loaded_data_free(out);
    return st;
}

void hp_loaded_data_free(hp_loaded_data *d)
{
    hprt_dataset_free(&d->train);
    hprt_dataset_free(&d->valid);
    hprt_dataset_free(&d->test);
    if (d->has_norm)
        hprt_norm_free(&d->norm);
    memset(d, 0, sizeof *d);
}
