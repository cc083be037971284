/* plan_hp.c - a Plan written back as a .hp file (a run's experiment.hp).
 *
 * The file stands on its own: data paths are absolute, the model's layers are
 * expanded (no parameters, no repeat), every setting is written with every
 * default, so `hpc run` on it reproduces the run. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static void quoted(FILE *out, const char *s)
{
    char *real = realpath(s, NULL); /* absolute: the run directory is elsewhere */
    const char *p = real ? real : s;
    fputc('"', out);
    for (; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
    free(real);
}

static void source(FILE *out, const plan_source *s)
{
    switch (s->kind) {
    case PLAN_SRC_IDX:
        fputs("idx(", out);
        quoted(out, s->paths[0]);
        fputs(", ", out);
        quoted(out, s->labels);
        fputc(')', out);
        break;
    case PLAN_SRC_CSV:
        fputs("csv(", out);
        quoted(out, s->paths[0]);
        if (s->n_labels > 0)
            for (int i = 0; i < s->n_labels; i++)
                fprintf(out, "%s%d%s", i ? ", " : ", label = [", s->label_columns[i], i + 1 == s->n_labels ? "]" : "");
        else
            fprintf(out, ", label = %d", s->label_index);
        fprintf(out, ", header = %s", s->header ? "true" : "false");
        for (int i = 0; i < s->n_categorical; i++) {
            fputs(i ? ", " : ", categories = [", out);
            if (s->categorical_dims && s->categorical_dims[i] > 0 && s->categorical_min_counts &&
                s->categorical_min_counts[i] > 1)
                fprintf(out, "embed(%d, %d, min_count = %d)", s->categorical[i], s->categorical_dims[i],
                        s->categorical_min_counts[i]);
            else if (s->categorical_dims && s->categorical_dims[i] > 0)
                fprintf(out, "embed(%d, %d)", s->categorical[i], s->categorical_dims[i]);
            else
                fprintf(out, "%d", s->categorical[i]);
        }
        fputs(s->n_categorical ? "])" : ")", out);
        break;
    case PLAN_SRC_TEXT:
        fputs("text([", out);
        for (int i = 0; i < s->n_paths; i++) {
            if (i)
                fputs(", ", out);
            quoted(out, s->paths[i]);
        }
        fprintf(out, "], seq = %d)", s->seq);
        break;
    case PLAN_SRC_SPLIT:
        fprintf(out, "split(train, %.17g)", s->fraction);
        break;
    default:
        break;
    }
}

static void layer(FILE *out, const plan_layer *l)
{
    const char *name = plan_layer_name(l->kind);
    switch (l->kind) {
    case PLAN_INPUT:
        if (l->out.kind == PLAN_TOKENS)
            fprintf(out, "input tokens");
        else if (l->out.kind == PLAN_IMG)
            fprintf(out, "input [%d, %d, %d]", l->out.d[0], l->out.d[1], l->out.d[2]);
        else if (l->out.kind == PLAN_SEQ)
            fprintf(out, "input [%d, %d]", l->out.d[0], l->out.d[1]);
        else
            fprintf(out, "input %d", l->out.d[0]);
        break;
    case PLAN_DENSE:
        fprintf(out, "dense %d, %s, init = %s", l->units, l->act ? plan_act_name(l->act) : "linear", plan_init_name(l->init));
        break;
    case PLAN_DROPOUT: fprintf(out, "dropout %.17g", l->p); break;
    case PLAN_EMBED: fprintf(out, "embed %d, init = %s", l->units, plan_init_name(l->init)); break;
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
        fprintf(out, "%s %d, stack = %d, dropout = %.17g, init = %s", name, l->units, l->stack, l->dropout,
                plan_init_name(l->init));
        break;
    case PLAN_CONV:
        fprintf(out, "conv %d, %s, kernel = %d, stride = %d, pad = %s, init = %s", l->units,
                l->act ? plan_act_name(l->act) : "linear", l->kernel, l->stride, l->pad_same ? "same" : "valid",
                plan_init_name(l->init));
        break;
    case PLAN_MAXPOOL: case PLAN_AVGPOOL:
        fprintf(out, "%s size = %d, stride = %d", name, l->kernel, l->stride);
        break;
    case PLAN_LAYERNORM: fprintf(out, "layernorm eps = %.17g", l->eps); break;
    case PLAN_BATCHNORM: fprintf(out, "batchnorm momentum = %.17g, eps = %.17g", l->momentum, l->eps); break;
    case PLAN_EMBED_COLUMNS: /* not a layer of the file: the data's categories = [embed(...)] */
        fputs("# the data's embedded columns (categories = [embed(...)]) go here", out);
        break;
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX: case PLAN_LAST:
    case PLAN_FLATTEN:
        fputs(name, out);
        break;
    }
}

void plan_write_hp(const plan_experiment *e, int threads, FILE *out)
{
    const plan_data *d = &e->data;
    fprintf(out, "# %s, resolved by hpc: every default written out.\n", e->name);
    fprintf(out, "# `hpc run` on this file reproduces the run (same seed and threads).\n\n");
    fprintf(out, "data %s {\n    train = ", d->name);
    source(out, &d->train);
    if (d->valid.kind != PLAN_SRC_NONE) {
        fputs("\n    valid = ", out);
        source(out, &d->valid);
    }
    if (d->test.kind != PLAN_SRC_NONE) {
        fputs("\n    test  = ", out);
        source(out, &d->test);
    }
    if (!d->is_text)
        fprintf(out, "\n    scale = %.17g\n    normalize = %s", d->scale, d->normalize ? "standard" : "none");
    fprintf(out, "\n    shuffle = %s\n}\n\n", d->shuffle ? "true" : "false");

    fprintf(out, "# model %s(", e->model);
    for (int i = 0; i < e->n_params; i++)
        fprintf(out, "%s%s = %s", i ? ", " : "", e->params[i].name, e->params[i].value);
    fprintf(out, "), expanded\nmodel %s {\n", e->model);
    for (int i = 0; i < e->n_layers; i++) {
        fputs("    ", out);
        layer(out, &e->layers[i]);
        fputc('\n', out);
    }
    fprintf(out, "}\n\nexperiment %s {\n", e->name);
    fprintf(out, "    data       = %s\n    model      = %s\n", d->name, e->model);
    fputs("    loss       = ", out);
    plan_print_loss(e, out);
    fputc('\n', out);
    fputs("    optimizer  = ", out);
    plan_print_optimizer(&e->optimizer, out);
    if (e->clip > 0)
        fprintf(out, "\n    clip       = %.17g", e->clip);
    fputs("\n    schedule   = ", out);
    plan_print_schedule(&e->schedule, out);
    fputs("\n    batch      = ", out);
    plan_print_batch(&e->batch, out);
    fprintf(out, "\n    epochs     = %d\n    stop       = ", e->epochs);
    plan_print_stop(&e->stop, out);
    fputs("\n    regularize = ", out);
    plan_print_regularize(&e->regularize, out);
    fprintf(out, "\n    seed       = %llu\n", (unsigned long long)e->seed);
    if (threads > 0)
        fprintf(out, "    threads    = %d\n", threads);
    if (e->checkpoint.n > 0)
        fprintf(out, "    checkpoint = %.17g %s\n", e->checkpoint.n, e->checkpoint.unit == HPRT_EPOCHS ? "epochs" : "steps");
    if (e->tensorboard) {
        fputs("    tensorboard = ", out);
        quoted(out, e->tensorboard);
        fputc('\n', out);
    }
    fputs("}\n", out);
}
