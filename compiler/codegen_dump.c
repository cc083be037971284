/* codegen_dump.c - the layout as text (`hpc emit --dump=layout`, the golden
 * tests' NAME.layout): one line per fact, offsets and sizes in floats, "-"
 * where a tensor is absent.  Everything printed is a function of the Plan,
 * the thread count and the batch sizes, so the text is the same on every
 * machine for the same inputs. */
#include <stdio.h>

#include "codegen.h"

static void off(FILE *out, const char *name, long v)
{
    if (v < 0)
        fprintf(out, " %s=-", name);
    else
        fprintf(out, " %s=%ld", name, v);
}

static const char *init_name(hprt_init_kind k)
{
    switch (k) {
    case HPRT_INIT_DEFAULT: return "default";
    case HPRT_INIT_XAVIER_UNIFORM: return "xavier_uniform";
    case HPRT_INIT_KAIMING_UNIFORM: return "kaiming_uniform";
    case HPRT_INIT_ZEROS: return "zeros";
    }
    return "?";
}

static const char *cell_name(hprt_cell c)
{
    switch (c) {
    case HPRT_CELL_RNN: return "rnn";
    case HPRT_CELL_GRU: return "gru";
    case HPRT_CELL_LSTM: return "lstm";
    }
    return "?";
}

static void sizes(FILE *out, const char *what, const int *v, int n)
{
    fprintf(out, "%s:", what);
    for (int i = 0; i < n; i++)
        fprintf(out, " %d", v[i]);
    fprintf(out, "\n");
}

void cg_layout_dump(const cg_layout *l, FILE *out)
{
    fprintf(out, "layout: %d layers, %d threads, largest batch %d\n", l->n_layers, l->threads, l->b_max);
    fprintf(out, "parameter arena: %ld floats (and as many for the gradients and each optimizer state array)\n",
            l->n_params);
    fprintf(out, "activation arena: %ld floats\n", l->n_acts);
    sizes(out, "training batch sizes", l->train_sizes, l->n_train_sizes);
    sizes(out, "evaluation batch sizes", l->eval_sizes, l->n_eval_sizes);
    fprintf(out, "input: x=%ld, %d floats per sample", l->x, l->features);
    if (l->x_bytes)
        fprintf(out, ", bytes scaled by %.9g", (double)l->x_scale);
    if (l->x_normalize)
        fprintf(out, ", normalised");
    fprintf(out, "\n");
    if (l->text)
        fprintf(out, "text: %d steps, ids=%ld (bytes), labels=%ld (int32)\n", l->seq, l->ids, l->labels);
    fprintf(out, "scores: layer %d, %d classes, %d loss rows per sample\n", l->scores, l->classes, l->loss_steps);
    fprintf(out, "dropout sites: %d", l->n_dropout);
    for (int s = 0; s < l->n_dropout && s < HPRT_MAX_DROPOUT; s++)
        fprintf(out, "%s%.9g", s ? ", " : " (rates ", (double)l->site_p[s]);
    fprintf(out, "%s\n", l->n_dropout > 0 ? ")" : "");
    for (int i = 0; i < l->n_layers; i++) {
        const cg_layer_layout *L = &l->layers[i];
        fprintf(out, "layer %d: in_layer=%d out_size=%d steps=%d width=%d", i, L->in_layer, L->out_size, L->steps,
                L->width);
        off(out, "out", L->out);
        off(out, "dout", L->dout);
        off(out, "pre", L->pre);
        fprintf(out, "\n ");
        off(out, "w", L->w);
        fprintf(out, " w_size=%ld", L->w_size);
        off(out, "b", L->b);
        fprintf(out, " b_size=%ld fan_in=%d init=%s", L->b_size, L->fan_in, init_name(L->init));
        if (L->dropout_site >= 0)
            fprintf(out, " dropout_site=%d", L->dropout_site);
        if (L->logits)
            fprintf(out, " logits");
        if (L->skip)
            fprintf(out, " skip");
        fprintf(out, "\n");
        if (L->scratch >= 0 || L->cols >= 0) {
            fprintf(out, " ");
            off(out, "scratch", L->scratch);
            off(out, "cols", L->cols);
            fprintf(out, " cols_size=%ld\n", L->cols_size);
        }
        if (L->n_rnn > 0) {
            fprintf(out, " ");
            off(out, "rscratch", L->rscratch);
            fprintf(out, " rscratch_w=%d", L->rscratch_w);
            off(out, "rpack", L->rpack);
            fprintf(out, " rpack_n=%ld\n", L->rpack_n);
        }
        if (L->running >= 0) {
            fprintf(out, " ");
            off(out, "norm", L->norm);
            off(out, "running", L->running);
            fprintf(out, " (running_mean, running_var: not trained)\n");
        }
        if (L->fold >= 0)
            fprintf(out, "  fold=%ld fold_n=%ld fold_v=%d\n", L->fold, L->fold_n, L->fold_v);
        if (L->fold_by >= 0)
            fprintf(out, "  folded into layer %d\n", L->fold_by);
        for (int s = 0; s < L->n_rnn && L->rnn; s++) {
            const cg_rnn_layer *R = &L->rnn[s];
            fprintf(out, "  %s %d: in=%d hidden=%d T=%d w=%ld", cell_name(R->geom.cell), s, R->geom.in, R->geom.hidden,
                    R->geom.T, R->w);
            const char *const names[] = {"A", "C", "Hprev", "Y", "dY", "dGi", "dGh", "D", "h", "c", "h_next", "c_next"};
            const long at[] = {R->A, R->C, R->Hprev, R->Y, R->dY, R->dGi, R->dGh, R->D, R->h, R->c, R->h_next, R->c_next};
            for (size_t k = 0; k < sizeof at / sizeof *at; k++)
                off(out, names[k], at[k]);
            if (R->site >= 0)
                fprintf(out, " dropout_site=%d", R->site);
            fprintf(out, "\n");
        }
    }
}
