/* check_data.c - data declarations: sources, probes, splits (docs/language.md §6).
 *
 * The checker opens the data files just enough to know their shapes, label
 * counts and vocabulary (hprt_*_probe), so shapes can be inferred at check
 * time and a missing or malformed file is reported at the setting that names
 * it.  The result is cached per declaration: several experiments can share one
 * data set without probing it twice.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "hprt_data.h"

enum { D_TRAIN, D_VALID, D_TEST, D_SCALE, D_NORMALIZE, D_SHUFFLE, D__COUNT };
static const char *const data_settings[D__COUNT] = {"train", "valid", "test", "scale", "normalize", "shuffle"};

const char *const *ck_data_settings(int *n)
{
    *n = D__COUNT;
    return data_settings;
}

/* Resolves the strings of a path argument (a string or a list of strings). */
static bool source_paths(ck *c, int file, const ck_val *v, plan_source *src, const hp_span **spans)
{
    const char *dir = ck_file_dir(c, file);
    int n = v->k == V_LIST ? v->n_items : 1;
    if (v->k == V_LIST && n == 0) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "the list of files is empty");
        return false;
    }
    src->paths = hp_alloc(c->out, sizeof *src->paths * (size_t)n);
    hp_span *sp = hp_alloc(&c->p->arena, sizeof *sp * (size_t)n);
    for (int i = 0; i < n; i++) {
        const ck_val *item = v->k == V_LIST ? v->items[i] : v;
        const char *s;
        if (!ck_string(c, item, "a file name", &s))
            return false;
        if (s[0] == 0) {
            hp_report(c->d, HP_ERROR, NULL, item->span, "the file name is empty");
            return false;
        }
        src->paths[i] = s[0] == '/' || strcmp(dir, ".") == 0 ? hp_strdup(c->out, s) : hp_sprintf(c->out, "%s/%s", dir, s);
        sp[i] = item->span;
    }
    src->n_paths = n;
    *spans = sp;
    return true;
}

/* The span of the path a runtime message names (the first if none). */
static hp_span blame(const plan_source *src, const hp_span *spans, const char *msg, const hp_span *labels_span)
{
    if (src->labels && labels_span && strstr(msg, src->labels))
        return *labels_span;
    for (int i = 0; i < src->n_paths; i++)
        if (strstr(msg, src->paths[i]))
            return spans[i];
    return spans[0];
}

/* One column of `categories`: a name or a 0-based number. */
static bool csv_column_ref(ck *c, const ck_val *it, hprt_csv_colref *ref)
{
    if (it->k == V_STR) {
        *ref = (hprt_csv_colref){.name = it->s, .index = -1};
        return true;
    }
    if (it->k == V_NUM) {
        long idx;
        if (!ck_int(c, it, "a categorical column", 0, 1000000, &idx))
            return false;
        *ref = (hprt_csv_colref){.name = NULL, .index = (int)idx};
        return true;
    }
    if (it->k != V_POISON)
        hp_report(c->d, HP_ERROR, NULL, it->span, "a categorical column is a name or a number, not %s",
                  ck_describe(c, it));
    return false;
}

/* `categories = ["name", N, embed("city", 8), ...]`: the categorical columns
 * of a training CSV, by header name or 0-based column number, one-hot or
 * embedded in D learned values (refs and dims in the checker's arena). */
static bool csv_categories(ck *c, const ck_val *v, const hprt_csv_encoding *train_enc, hprt_csv_colref **refs,
                           int **dims, int **mins, int *n)
{
    if (v->k == V_POISON)
        return false;
    if (train_enc) {
        hp_report(c->d, HP_ERROR, NULL, v->span,
                  "'categories' belongs to 'train': valid and test data are encoded with the training data's categories");
        return false;
    }
    if (v->k != V_LIST) {
        hp_report(c->d, HP_ERROR, NULL, v->span,
                  "categories must be a list of column names or numbers, such as [\"color\", 3, embed(\"city\", 8)]");
        return false;
    }
    *n = v->n_items;
    *refs = hp_alloc(&c->p->arena, sizeof **refs * (size_t)(v->n_items ? v->n_items : 1));
    *dims = hp_alloc(&c->p->arena, sizeof **dims * (size_t)(v->n_items ? v->n_items : 1));
    *mins = hp_alloc(&c->p->arena, sizeof **mins * (size_t)(v->n_items ? v->n_items : 1));
    for (int i = 0; i < v->n_items; i++) {
        const ck_val *it = v->items[i];
        (*dims)[i] = 0;
        (*mins)[i] = 0;
        if (it->k == V_CALL && strcmp(it->s, "embed") == 0) { /* embed(COLUMN, D, min_count = M) */
            static const char *const p[] = {"!column", "!dim", "min_count"};
            ck_val *slot[3];
            long dim, min = 0;
            if (!ck_bind(c, it, "embed(...)", p, 3, slot) || !csv_column_ref(c, slot[0], &(*refs)[i]) ||
                !ck_int(c, slot[1], "the embedding size", 1, HPRT_MAX_EMBED_DIM, &dim) ||
                (slot[2] && !ck_int(c, slot[2], "min_count", 1, 1000000000, &min)))
                return false;
            (*dims)[i] = (int)dim;
            (*mins)[i] = (int)min;
            continue;
        }
        if (it->k == V_CALL) {
            hp_report(c->d, HP_ERROR, NULL, it->name_span,
                      "a categorical column is a name, a number or embed(COLUMN, DIM), not %s(...)", it->s);
            return false;
        }
        if (!csv_column_ref(c, it, &(*refs)[i]))
            return false;
    }
    int embedded = 0;
    for (int i = 0; i < v->n_items; i++)
        embedded += (*dims)[i] > 0;
    if (embedded > HPRT_MAX_EMBED_COLUMNS) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%d embedded columns; the most is %d", embedded, HPRT_MAX_EMBED_COLUMNS);
        return false;
    }
    return true;
}

/* `label = ["a", "b", 3]`: several 0/1 label columns (multi-label targets for
 * bce), by header name or 0-based column number (refs in the checker's arena). */
static bool csv_labels(ck *c, const ck_val *v, bool header, hprt_csv_colref **refs, int *n)
{
    if (v->n_items < 2 || v->n_items > HPRT_MAX_LABELS) {
        hp_report(c->d, HP_ERROR, NULL, v->span,
                  v->n_items < 2 ? "a list of label columns names two or more (multi-label); for one, write "
                                   "label = \"name\" or its number"
                                 : "%d label columns; the most is %d",
                  v->n_items, HPRT_MAX_LABELS);
        return false;
    }
    *n = v->n_items;
    *refs = hp_alloc(&c->p->arena, sizeof **refs * (size_t)v->n_items);
    for (int i = 0; i < v->n_items; i++) {
        const ck_val *it = v->items[i];
        if (it->k == V_STR) {
            if (!header) {
                hp_report(c->d, HP_ERROR, NULL, it->span,
                          "a label column named \"%s\" needs a header row; drop `header = false` or give the "
                          "column's number",
                          it->s);
                return false;
            }
            (*refs)[i] = (hprt_csv_colref){.name = it->s, .index = -1};
        } else if (it->k == V_NUM) {
            long idx;
            if (!ck_int(c, it, "a label column", 0, 1000000, &idx))
                return false;
            (*refs)[i] = (hprt_csv_colref){.name = NULL, .index = (int)idx};
        } else {
            if (it->k != V_POISON)
                hp_report(c->d, HP_ERROR, NULL, it->span, "a label column is a name or a number, not %s",
                          ck_describe(c, it));
            return false;
        }
    }
    return true;
}

/* Binds and probes one source call.  info receives the probe. */
static bool check_source(ck *c, hp_decl *decl, const ck_val *v, plan_source *src, hprt_data_info *info, bool allow_split,
                         const char *setting, const hprt_csv_encoding *train_enc)
{
    if (v->k == V_POISON)
        return false;
    const char *kind = v->k == V_CALL ? v->s : v->k == V_NAME ? v->s : NULL;
    static const char *const kinds[] = {"idx", "csv", "text", "split"};
    int k = -1;
    for (int i = 0; kind && i < 4; i++)
        if (strcmp(kind, kinds[i]) == 0)
            k = i;
    if (k < 0 || (k == 3 && !allow_split)) {
        hp_span at = v->k == V_CALL ? v->name_span : v->span;
        if (k == 3)
            hp_report(c->d, HP_ERROR, NULL, at, "'train' cannot be a split; split(train, fraction) is for valid and test");
        else if (kind) {
            const char *s = ck_suggest(kind, kinds, allow_split ? 4 : 3);
            hp_report(c->d, HP_ERROR, NULL, at, "unknown data source '%s'%s%s%s", kind,
                      s ? "; did you mean '" : "; expected idx(...), csv(...), text(...)", s ? s : "",
                      s ? "'?" : allow_split ? " or split(train, fraction)" : "");
        } else
            hp_report(c->d, HP_ERROR, NULL, v->span, "'%s' must be a data source such as idx(images, labels), not %s",
                      setting, ck_describe(c, v));
        return false;
    }
    hprt_error err = {0};
    hprt_status st = HPRT_OK;
    const hp_span *spans = NULL;
    ck_val *slot[3];
    switch (k) {
    case 0: { /* idx(images, labels) */
        static const char *const p[] = {"!images", "!labels"};
        if (!ck_bind(c, v, "idx(...)", p, 2, slot))
            return false;
        src->kind = PLAN_SRC_IDX;
        plan_source lab = {0};
        const hp_span *lab_spans;
        if (!source_paths(c, decl->file, slot[0], src, &spans) || !source_paths(c, decl->file, slot[1], &lab, &lab_spans))
            return false;
        if (src->n_paths != 1 || lab.n_paths != 1) {
            hp_report(c->d, HP_ERROR, NULL, v->span, "idx(images, labels) takes one file each");
            return false;
        }
        src->labels = lab.paths[0];
        st = hprt_idx_probe(src->paths[0], src->labels, info, &err);
        if (st != HPRT_OK) {
            hp_report(c->d, HP_ERROR, NULL, blame(src, spans, err.msg, &lab_spans[0]), "%s", err.msg);
            c->d->data_errors++;
            return false;
        }
        break;
    }
    case 1: { /* csv(path, label = "last", header = true, categories = [...]) */
        static const char *const p[] = {"!path", "label", "header", "categories"};
        ck_val *cslot[4];
        if (!ck_bind(c, v, "csv(...)", p, 4, cslot))
            return false;
        memcpy(slot, cslot, sizeof slot);
        src->kind = PLAN_SRC_CSV;
        if (!source_paths(c, decl->file, slot[0], src, &spans))
            return false;
        if (src->n_paths != 1) {
            hp_report(c->d, HP_ERROR, NULL, slot[0]->span, "csv(...) reads one file");
            return false;
        }
        hprt_csv_opts o = hprt_csv_defaults();
        src->header = true;
        if (slot[2] && !ck_bool(c, slot[2], "header", &src->header))
            return false;
        o.header = src->header;
        src->label_kind = PLAN_LABEL_LAST;
        if (slot[1]) {
            const ck_val *l = slot[1];
            if (l->k == V_NUM) {
                long idx;
                if (!ck_int(c, l, "the label column", 0, 1000000, &idx))
                    return false;
                src->label_kind = PLAN_LABEL_INDEX;
                src->label_index = (int)idx;
                o.label = HPRT_LABEL_INDEX;
                o.label_index = (int)idx;
            } else if (l->k == V_STR) {
                if (strcmp(l->s, "last") == 0) {
                    src->label_kind = PLAN_LABEL_LAST;
                    o.label = HPRT_LABEL_LAST;
                } else if (strcmp(l->s, "first") == 0) {
                    src->label_kind = PLAN_LABEL_FIRST;
                    o.label = HPRT_LABEL_FIRST;
                } else {
                    if (!src->header) {
                        hp_report(c->d, HP_ERROR, NULL, l->span,
                                  "a label column named \"%s\" needs a header row; drop `header = false` or give the "
                                  "column's number",
                                  l->s);
                        return false;
                    }
                    src->label_kind = PLAN_LABEL_NAME;
                    src->label_name = hp_strdup(c->out, l->s);
                    o.label = HPRT_LABEL_NAME;
                    o.label_name = l->s;
                }
            } else if (l->k == V_LIST) {
                hprt_csv_colref *lrefs = NULL;
                if (!csv_labels(c, l, src->header, &lrefs, &o.n_labels))
                    return false;
                o.labels = lrefs;
            } else if (l->k != V_POISON) {
                hp_report(c->d, HP_ERROR, NULL, l->span,
                          "label must be \"last\", \"first\", a column number, a column name or a list of label "
                          "columns (multi-label), not %s",
                          ck_describe(c, l));
                return false;
            } else
                return false;
        }
        hprt_csv_colref *refs = NULL;
        int *dims = NULL, *mins = NULL;
        if (cslot[3] && !csv_categories(c, cslot[3], train_enc, &refs, &dims, &mins, &o.n_categorical))
            return false;
        o.categorical = refs;
        o.categorical_dims = dims;
        o.categorical_min_counts = mins;
        o.encoding = train_enc;
        st = hprt_csv_probe(src->paths[0], &o, info, &err);
        if (st != HPRT_OK) {
            /* a problem with the label column itself is shown at `label = ...`, with a categorical column at
             * `categories = ...`, with a value at the path (the message names the CSV line) */
            bool not_line = !strstr(err.msg, "line ");
            bool about_cats = cslot[3] && not_line && strstr(err.msg, "categorical");
            bool about_label = slot[1] && (strstr(err.msg, "column") || strstr(err.msg, "label")) && not_line;
            hp_span at = about_cats ? cslot[3]->span : about_label ? slot[1]->span : spans[0];
            hp_report(c->d, HP_ERROR, NULL, at, "%s", err.msg);
            c->d->data_errors++;
            return false;
        }
        src->label_index = info->label_column;
        if (info->labels > 0) {
            src->n_labels = info->labels;
            src->label_columns = hp_alloc(c->out, sizeof *src->label_columns * (size_t)info->labels);
            memcpy(src->label_columns, info->label_columns, sizeof *src->label_columns * (size_t)info->labels);
        }
        const hprt_csv_encoding *en = &info->encoding;
        for (int i = 0; !train_enc && i < en->n_cats; i++)
            if (en->cats[i].dim > en->cats[i].n)
                hp_report(c->d, HP_NOTE, "embed-wide", cslot[3]->span,
                          "feature column %d%s%s%s is embedded in %d values but has %d categories: more values than "
                          "categories add parameters and no information (one-hot would give %d features); try a smaller "
                          "size",
                          en->cats[i].column, en->cats[i].name ? " '" : "", en->cats[i].name ? en->cats[i].name : "",
                          en->cats[i].name ? "'" : "", en->cats[i].dim, en->cats[i].n, en->cats[i].n);
        if (!train_enc && en->n_cats > 0) { /* the file columns, for experiment.hp */
            src->categorical = hp_alloc(c->out, sizeof *src->categorical * (size_t)en->n_cats);
            src->categorical_dims = hp_alloc(c->out, sizeof *src->categorical_dims * (size_t)en->n_cats);
            src->categorical_min_counts = hp_alloc(c->out, sizeof *src->categorical_min_counts * (size_t)en->n_cats);
            for (int i = 0; i < en->n_cats; i++) {
                src->categorical_dims[i] = en->cats[i].dim;
                src->categorical_min_counts[i] = en->cats[i].min_count; /* feature position -> file column: past the label columns */
                int pos = en->cats[i].column, col = 0;
                for (;; col++) {
                    bool lab = col == info->label_column;
                    for (int k = 0; k < info->labels; k++)
                        lab |= info->label_columns[k] == col;
                    if (!lab && pos-- == 0)
                        break;
                }
                src->categorical[i] = col;
            }
            src->n_categorical = en->n_cats;
        }
        break;
    }
    case 2: { /* text(path, seq = 64) */
        static const char *const p[] = {"!path", "seq"};
        if (!ck_bind(c, v, "text(...)", p, 2, slot))
            return false;
        src->kind = PLAN_SRC_TEXT;
        if (!source_paths(c, decl->file, slot[0], src, &spans))
            return false;
        long seq = 64;
        if (slot[1] && !ck_int(c, slot[1], "seq", 1, 100000, &seq))
            return false;
        src->seq = (int)seq;
        st = hprt_text_probe(src->paths, src->n_paths, info, &err);
        if (st != HPRT_OK) {
            hp_report(c->d, HP_ERROR, NULL, blame(src, spans, err.msg, NULL), "%s", err.msg);
            c->d->data_errors++;
            return false;
        }
        if (info->n < 2 * seq) {
            hp_report(c->d, HP_ERROR, NULL, v->span, "the text has %ld bytes: too short for windows of seq = %ld",
                      info->n, seq);
            return false;
        }
        break;
    }
    default: { /* split(train, fraction) */
        static const char *const p[] = {"!of", "!fraction"};
        if (!ck_bind(c, v, "split(...)", p, 2, slot))
            return false;
        if (!ck_is_name(slot[0], "train")) {
            if (slot[0]->k != V_POISON)
                hp_report(c->d, HP_ERROR, NULL, slot[0]->span, "split(...) cuts from 'train', not %s",
                          ck_describe(c, slot[0]));
            return false;
        }
        src->kind = PLAN_SRC_SPLIT;
        if (!ck_num_range(c, slot[1], "the split fraction", 0, true, 1, true, &src->fraction))
            return false;
        break;
    }
    }
    src->n = info->n;
    return true;
}

static void fill_shape(ck *c, plan_data *d, const hprt_data_info *info)
{
    if (info->kind == HPRT_DATA_TEXT) {
        d->is_text = true;
        d->input = (plan_shape){PLAN_TOKENS, {d->train.seq, 0, 0}};
        d->vocab = info->vocab;
        d->classes = info->vocab;
        d->features = 0;
        return;
    }
    if (info->rank == 3)
        d->input = (plan_shape){PLAN_IMG, {info->dims[0], info->dims[1], info->dims[2]}};
    else
        d->input = (plan_shape){PLAN_VEC, {info->features, 0, 0}};
    d->features = info->features;
    d->row_features = info->features;
    d->classes = info->classes;
    d->labels = info->labels;
    if (c && info->labels > 0 && info->names) {
        d->label_names = hp_alloc(c->out, sizeof *d->label_names * (size_t)info->labels);
        for (int i = 0; i < info->labels; i++)
            d->label_names[i] = hp_strdup(c->out, info->names[info->label_columns[i]]);
    }
}

/* The training CSV's encoding into the plan: the categories of the training
 * rows only (those split() leaves), the features they make, in the arena. */
static void csv_encoding(ck *c, plan_data *d, hprt_data_info *info, hp_span at)
{
    hprt_csv_encoding *en = &info->encoding;
    hprt_csv_encoding_restrict(en, d->train.n);
    int raw = (info->label_column >= 0 ? info->columns - 1 : info->columns) - info->labels;
    d->row_features = hprt_csv_encoding_width(en, raw);
    d->features = hprt_csv_encoding_model_width(en, raw);
    d->input = (plan_shape){PLAN_VEC, {d->features, 0, 0}};
    hprt_csv_encoding *pe = &d->csv;
    memset(pe, 0, sizeof *pe);
    pe->n_classes = en->n_classes;
    if (en->n_classes) {
        pe->classes = hp_alloc(c->out, sizeof *pe->classes * (size_t)en->n_classes);
        for (int i = 0; i < en->n_classes; i++)
            pe->classes[i] = hp_strdup(c->out, en->classes[i]);
    }
    pe->n_cats = en->n_cats;
    if (en->n_cats) {
        pe->cats = hp_alloc(c->out, sizeof *pe->cats * (size_t)en->n_cats);
        for (int i = 0; i < en->n_cats; i++) {
            const hprt_csv_category *a = &en->cats[i];
            hprt_csv_category *b = &pe->cats[i];
            *b = (hprt_csv_category){.column = a->column, .n = a->n, .dim = a->dim, .min_count = a->min_count};
            if (a->dim > 0 && a->n == 0)
                hp_report(c->d, HP_ERROR, NULL, at,
                          "embedded column %d%s%s%s has no category %s in the training rows: only the unknown bucket "
                          "would be left",
                          a->column, a->name ? " '" : "", a->name ? a->name : "", a->name ? "'" : "",
                          a->min_count > 1 ? "seen min_count times" : "");
            b->name = a->name ? hp_strdup(c->out, a->name) : NULL;
            b->names = hp_alloc(c->out, sizeof *b->names * (size_t)(a->n ? a->n : 1));
            for (int k = 0; k < a->n; k++)
                b->names[k] = hp_strdup(c->out, a->names[k]);
        }
    }
    d->csv_text = NULL;
    if (pe->n_classes || pe->n_cats) {
        size_t len;
        char *t = hprt_csv_encoding_save(pe, &len);
        if (t)
            d->csv_text = hp_strdup(c->out, t);
        else
            hp_report(c->d, HP_ERROR, NULL, at, "out of memory");
        free(t);
    }
}

static bool same_vocab_subset(const hprt_data_info *train, const hprt_data_info *other)
{
    for (int b = 0; b < 256; b++)
        if (other->vocab_map.id[b] >= 0 && train->vocab_map.id[b] < 0)
            return false;
    return true;
}

static ck_data_entry *check_data(ck *c, hp_decl *decl, ck_data_entry *entry)
{
    plan_data *d = &entry->data;
    d->name = hp_strdup(c->out, decl->name);
    d->scale = 1;
    d->shuffle = true;
    int before = c->d->errors_seen;
    hp_setting *s[D__COUNT];
    ck_index_settings(c, decl, data_settings, D__COUNT, s, "data");

    hprt_data_info info[3];
    memset(info, 0, sizeof info);
    bool ok[3] = {false, false, false};
    plan_source *srcs[3] = {&d->train, &d->valid, &d->test};
    for (int i = 0; i < 3; i++) {
        if (!s[i])
            continue;
        ck_val *v = ck_eval(c, s[i]->value, NULL);
        /* valid and test CSVs are read with train's class names and categories */
        const hprt_csv_encoding *te = i != D_TRAIN && ok[D_TRAIN] && info[D_TRAIN].kind == HPRT_DATA_CSV
                                          ? &info[D_TRAIN].encoding
                                          : NULL;
        ok[i] = check_source(c, decl, v, srcs[i], &info[i], i != D_TRAIN, data_settings[i], te);
    }
    if (!s[D_TRAIN] && !decl->broken)
        hp_report(c->d, HP_ERROR, NULL, decl->name_span, "data '%s' needs 'train = ...'", decl->name);

    if (ok[D_TRAIN]) {
        fill_shape(c, d, &info[D_TRAIN]);
        /* the other sets must look like train */
        for (int i = D_VALID; i <= D_TEST; i++) {
            if (!ok[i] || srcs[i]->kind == PLAN_SRC_SPLIT)
                continue;
            const hprt_data_info *t = &info[D_TRAIN], *o = &info[i];
            char a[64], b[64];
            if (o->kind != t->kind) {
                hp_report(c->d, HP_ERROR, NULL, s[i]->value->span, "'%s' is a different kind of data than 'train'",
                          data_settings[i]);
                ok[i] = false;
            } else if (t->kind == HPRT_DATA_CSV && o->labels != t->labels) {
                hp_report(c->d, HP_ERROR, NULL, s[i]->value->span,
                          "'%s' has %d label columns, but 'train' has %d: give it the same `label = ...`",
                          data_settings[i], o->labels ? o->labels : 1, t->labels ? t->labels : 1);
                ok[i] = false;
            } else if (t->kind != HPRT_DATA_TEXT && o->features != t->features) {
                plan_data tmp = {0};
                fill_shape(NULL, &tmp, o);
                hp_report(c->d, HP_ERROR, NULL, s[i]->value->span,
                          "'%s' has samples of shape %s, but 'train' has %s", data_settings[i],
                          plan_shape_str(tmp.input, a, sizeof a), plan_shape_str(d->input, b, sizeof b));
                ok[i] = false;
            } else if (t->kind != HPRT_DATA_TEXT && o->classes > t->classes) {
                hp_report(c->d, HP_ERROR, NULL, s[i]->value->span,
                          "'%s' has labels up to %d, but 'train' has only %d classes (0..%d)", data_settings[i],
                          o->classes - 1, t->classes, t->classes - 1);
                c->d->data_errors++;
                ok[i] = false;
            } else if (t->kind == HPRT_DATA_TEXT && !same_vocab_subset(t, o)) {
                hp_report(c->d, HP_ERROR, NULL, s[i]->value->span,
                          "'%s' has bytes that never occur in 'train', so they have no token id", data_settings[i]);
                ok[i] = false;
            }
        }
        /* splits cut the last fraction of train, valid first, then test */
        for (int i = D_VALID; i <= D_TEST; i++) {
            if (!ok[i] || srcs[i]->kind != PLAN_SRC_SPLIT)
                continue;
            long n = d->train.n;
            long keep = (long)floor((double)n * (1 - srcs[i]->fraction));
            long cut = n - keep;
            long min = d->is_text ? 2L * d->train.seq : 1;
            if (keep < min || cut < min) {
                hp_report(c->d, HP_ERROR, NULL, s[i]->value->span,
                          "split(train, %g) of %ld %s leaves %ld for training and %ld for '%s': both need at least %ld",
                          srcs[i]->fraction, n, d->is_text ? "tokens" : "samples", keep, cut, data_settings[i], min);
                ok[i] = false;
                continue;
            }
            srcs[i]->n = cut;
            d->train.n = keep;
        }
        if (d->train.kind != PLAN_SRC_TEXT)
            for (int i = D_VALID; i <= D_TEST; i++)
                if (ok[i] && srcs[i]->kind == PLAN_SRC_TEXT)
                    srcs[i]->seq = d->train.seq;
        if (d->is_text)
            for (int i = D_VALID; i <= D_TEST; i++)
                if (ok[i] && srcs[i]->kind == PLAN_SRC_TEXT && s[i])
                    srcs[i]->seq = d->train.seq;
        if (info[D_TRAIN].kind == HPRT_DATA_CSV)
            csv_encoding(c, d, &info[D_TRAIN], s[D_TRAIN]->value->span);
    }
    for (int i = 0; i < 3; i++)
        hprt_data_info_free(&info[i]);

    if (s[D_SCALE]) {
        ck_val *v = ck_eval(c, s[D_SCALE]->value, NULL);
        double x;
        if (ck_num(c, v, "scale", &x)) {
            if (x == 0)
                hp_report(c->d, HP_ERROR, NULL, v->span, "scale = 0 would erase every input");
            d->scale = x;
        }
    }
    if (s[D_NORMALIZE]) {
        ck_val *v = ck_eval(c, s[D_NORMALIZE]->value, NULL);
        int k = ck_choice(c, v, "normalize", "none|standard");
        d->normalize = k == 1;
    }
    if (s[D_SHUFFLE]) {
        ck_val *v = ck_eval(c, s[D_SHUFFLE]->value, NULL);
        ck_bool(c, v, "shuffle", &d->shuffle);
    }
    if (d->is_text && (d->normalize || d->scale != 1)) {
        hp_setting *st = s[D_NORMALIZE] && d->normalize ? s[D_NORMALIZE] : s[D_SCALE];
        hp_report(c->d, HP_ERROR, NULL, st->name_span, "'%s' does not apply to text: its tokens are ids, not numbers",
                  st->name);
    }
    entry->ok = c->d->errors_seen == before && ok[D_TRAIN];
    return entry;
}

const ck_data_entry *ck_data(ck *c, hp_decl *decl)
{
    hp_program *p = c->p;
    if (decl->data_slot > 0 && decl->data_slot <= p->n_data && p->data[decl->data_slot - 1].decl == decl)
        return &p->data[decl->data_slot - 1];
    if (p->n_data == p->cap_data) {
        int cap = p->cap_data ? p->cap_data * 2 : 4;
        ck_data_entry *nd = realloc(p->data, sizeof *nd * (size_t)cap);
        if (!nd)
            return NULL;
        p->data = nd;
        p->cap_data = cap;
    }
    ck_data_entry *e = &p->data[p->n_data++];
    memset(e, 0, sizeof *e);
    e->decl = decl;
    decl->data_slot = p->n_data;
    /* the cached data outlives any one plan: it lives in the program's arena */
    ck sub = *c;
    sub.out = &p->arena;
    check_data(&sub, decl, e);
    return e;
}
