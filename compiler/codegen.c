/* codegen.c - the feed-forward training step, from the Plan to LLVM IR.
 *
 * How it works.  cg_layout_new() gives every tensor a place.  For each batch
 * size B the run meets, two functions are emitted:
 *
 *   hp_train_B(io, tid): gather rows [r0, r1) of the batch; forward through
 *     every layer for those rows; the loss and its gradient for those rows;
 *     backward (data gradients) for those rows.  Barrier.  Then, split by
 *     output neuron, the weight gradients (one GEMM over the whole batch) and
 *     the optimizer update of exactly those neurons' parameters, fused.  With
 *     `clip`, a second barrier sums the threads' squared norms first.
 *   hp_eval_B(io, tid): gather, forward (dropout off), loss and correct count.
 *
 * Rows are split as [tid*B/T, (tid+1)*B/T) and neurons as [tid*U/T, ...):
 * the forward and data-gradient work needs no reduction, the weight gradients
 * none either (docs/internals.md: "what made the difference").  Elementwise work
 * (bias, activation, dropout mask, loss, optimizer) is emitted as counted loops
 * over constant bounds, which LLVM vectorises for the host; matrix products
 * call hprt_sgemm (single-threaded OpenBLAS on the thread's part).  Per-step
 * numbers (learning rate, Adam's bias corrections, dropout keys) come from io;
 * everything else is a constant.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Core.h>

#include "codegen_int.h"
#include "jit.h"

/* ---- layout ---- */



static long take(long *top, long n)
{
    long at = *top;
    *top += (n + 15) & ~15L; /* every buffer 64-byte aligned */
    return at;
}

/* The stack of a recurrent layer: its parameter block (per layer W_ih, W_hh,
 * b_ih, b_hh, as torch.nn.LSTM orders them) and every buffer of hprt_rnn.h. */
static bool rnn_layout(cg_layout *l, int i, const plan_layer *pl, long *P, long *A)
{
    cg_layer_layout *L = &l->layers[i];
    hprt_cell cell = pl->kind == PLAN_RNN ? HPRT_CELL_RNN : pl->kind == PLAN_GRU ? HPRT_CELL_GRU : HPRT_CELL_LSTM;
    int T = pl->in.d[0], H = pl->units, GH = hprt_rnn_gates(cell) * H;
    long rows = (long)l->b_max * T;
    L->steps = T;
    L->n_rnn = pl->stack;
    L->rnn = calloc((size_t)pl->stack, sizeof *L->rnn);
    if (!L->rnn)
        return false;
    L->w_size = 0;
    L->b_size = 0;
    for (int s = 0; s < pl->stack; s++) {
        cg_rnn_layer *R = &L->rnn[s];
        R->geom = (hprt_rnn_geom){cell, s == 0 ? pl->in.d[1] : H, H, T};
        R->w = L->w_size;
        L->w_size += (long)hprt_rnn_params(&R->geom);
        R->A = take(A, rows * GH);
        R->C = cell == HPRT_CELL_RNN ? -1 : take(A, rows * H);
        R->Hprev = take(A, rows * H);
        R->Y = s + 1 < pl->stack ? take(A, rows * H) : -1;
        R->dY = s + 1 < pl->stack ? take(A, rows * H) : -1;
        R->dGi = take(A, rows * GH);
        R->dGh = cell == HPRT_CELL_GRU ? take(A, rows * GH) : R->dGi;
        R->site = -1;
        R->D = -1;
        if (s > 0 && pl->dropout > 0) {
            R->D = take(A, rows * H);
            R->site = l->n_dropout;
            l->site_p[l->n_dropout++] = (float)pl->dropout;
        }
        R->h = take(A, (long)l->b_max * H);
        R->h_next = take(A, (long)l->b_max * H);
        R->c = cell == HPRT_CELL_LSTM ? take(A, (long)l->b_max * H) : -1;
        R->c_next = cell == HPRT_CELL_LSTM ? take(A, (long)l->b_max * H) : -1;
    }
    L->w = take(P, L->w_size);
    L->rscratch_w = GH > 2 * H ? GH : 2 * H;
    L->rscratch = take(A, (long)l->b_max * L->rscratch_w);
    L->rpack_n = 0;
    for (int s = 0; s < pl->stack; s++) {
        long n = (long)hprt_rnn_pack_floats(&L->rnn[s].geom);
        L->rpack_n = n > L->rpack_n ? n : L->rpack_n;
    }
    L->rpack_n = (L->rpack_n + 15) & ~15L;
    L->rpack = take(A, (long)l->threads * L->rpack_n);
    return true;
}

int cg_embed_columns(const plan_experiment *e, hprt_catembed_col *cols, int cap)
{
    int pos[HPRT_MAX_EMBED_COLUMNS], model_pos[HPRT_MAX_EMBED_COLUMNS];
    if (cap > HPRT_MAX_EMBED_COLUMNS)
        cap = HPRT_MAX_EMBED_COLUMNS;
    int n = hprt_csv_encoding_embedded(&e->data.csv, pos, model_pos, cap);
    long w = 0; /* each table after the one before */
    for (int i = 0, k = 0; k < n; i++) {
        const hprt_csv_category *c = &e->data.csv.cats[i];
        if (c->dim <= 0)
            continue;
        cols[k] = (hprt_catembed_col){.in_pos = pos[k], .out_pos = model_pos[k], .n = c->n, .dim = c->dim, .w = w};
        w += (long)(c->n + 1) * c->dim;
        k++;
    }
    return n;
}

cg_layout *cg_layout_new(const plan_experiment *e, int threads, const int *train_sizes, int n_train,
                         const int *eval_sizes, int n_eval, cg_error *err)
{
    cg_layout *l = calloc(1, sizeof *l);
    if (!l || e->n_layers < 2 || n_train < 0 || n_train > 32 || n_eval < 0 || n_eval > 32 || n_train + n_eval == 0) {
        cg_fail(err, l ? CG_E_USAGE : CG_E_MEMORY, l ? "nothing to compile" : "out of memory");
        free(l);
        return NULL;
    }
    l->layers = calloc((size_t)e->n_layers, sizeof *l->layers);
    if (!l->layers) {
        free(l);
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return NULL;
    }
    l->n_layers = e->n_layers;
    l->threads = threads < 1 ? 1 : threads > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : threads;
    for (int i = 0; i < n_train; i++) {
        l->train_sizes[i] = train_sizes[i];
        if (train_sizes[i] > l->b_max)
            l->b_max = train_sizes[i];
    }
    for (int i = 0; i < n_eval; i++) {
        l->eval_sizes[i] = eval_sizes[i];
        if (eval_sizes[i] > l->b_max)
            l->b_max = eval_sizes[i];
    }
    l->n_train_sizes = n_train;
    l->n_eval_sizes = n_eval;
    long P = 0, A = 0;
    for (int i = 0; i < e->n_layers; i++) {
        const plan_layer *pl = &e->layers[i];
        cg_layer_layout *L = &l->layers[i];
        L->w = L->b = L->out = L->dout = L->pre = L->scratch = L->cols = L->fold = L->norm = L->running = -1;
        L->fold_by = -1;
        L->dropout_site = -1;
        L->in_layer = i - 1;
        L->steps = plan_layer_has(pl->kind, PLAN_LK_PER_STEP) && pl->in.kind == PLAN_SEQ ? pl->in.d[0] : 1;
        L->out_size = (int)plan_shape_size(pl->out);
        long in_size = i > 0 ? plan_shape_size(pl->in) : 0;
        switch (pl->kind) {
        case PLAN_INPUT:
            if (i + 1 < e->n_layers && e->layers[i + 1].kind == PLAN_EMBED_COLUMNS)
                L->out_size = (int)plan_shape_size(e->layers[i + 1].in); /* the stored row: an id per embedded column */
            l->features = L->out_size;
            if (pl->out.kind == PLAN_TOKENS) {
                l->text = true;
                l->seq = pl->out.d[0];
                l->ids = take(&A, ((long)l->b_max * l->seq + 3) / 4);
                l->labels = take(&A, (long)l->b_max * l->seq);
                continue;
            }
            l->x = L->out = take(&A, (long)l->b_max * L->out_size);
            continue;
        case PLAN_EMBED_COLUMNS: /* the tables, one after the other */
            L->w_size = pl->params;
            L->w = take(&P, L->w_size);
            L->b_size = 0;
            break;
        case PLAN_EMBED:
            L->steps = pl->in.d[0];
            L->w_size = (long)pl->vocab * pl->units;
            L->w = take(&P, L->w_size);
            L->b_size = 0;
            break;
        case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
            if ((pl->dropout > 0 && l->n_dropout + pl->stack - 1 > HPRT_MAX_DROPOUT) || !rnn_layout(l, i, pl, &P, &A)) {
                if (pl->dropout > 0 && l->n_dropout + pl->stack - 1 > HPRT_MAX_DROPOUT)
                    cg_fail_at(err, CG_E_LIMIT, e->file, pl->line, "`%s` brings the model to more than %d dropout sites",
                               plan_layer_name(pl->kind), HPRT_MAX_DROPOUT);
                else
                    cg_fail(err, CG_E_MEMORY, "out of memory");
                cg_layout_free(l);
                return NULL;
            }
            if (e->layers[L->in_layer].kind == PLAN_EMBED) {
                /* the embedding folds into the first layer's input projection */
                L->fold_v = e->layers[L->in_layer].vocab;
                L->fold_n = (long)L->fold_v * hprt_rnn_gates(L->rnn[0].geom.cell) * pl->units;
                L->fold = take(&A, (long)l->threads * L->fold_n);
                l->layers[L->in_layer].fold_by = i;
            }
            break;
        case PLAN_LAST:
            break;
        case PLAN_DENSE:
            if (pl->in.kind == PLAN_SEQ)
                in_size = pl->in.d[1];
            L->width = pl->units;
            L->fan_in = (int)in_size;
            L->w_size = (long)pl->units * in_size;
            L->b_size = pl->units;
            L->w = take(&P, L->w_size);
            L->b = take(&P, L->b_size);
            L->init = (hprt_init_kind)pl->init;
            break;
        case PLAN_CONV:
            L->fan_in = pl->in.d[0] * pl->kernel * pl->kernel;
            L->w_size = (long)pl->units * L->fan_in;
            L->b_size = pl->units;
            L->w = take(&P, L->w_size);
            L->b = take(&P, L->b_size);
            L->init = (hprt_init_kind)pl->init;
            L->scratch = take(&A, (long)l->threads * (L->w_size + L->b_size));
            {
                hprt_conv2d_geom geo = hprt_conv2d_geom_make(pl->in.d[0], pl->in.d[1], pl->in.d[2], pl->units,
                                                             pl->kernel, pl->stride, pl->pad, pl->pad);
                L->cols_size = ((long)hprt_conv2d_scratch(&geo) + 15) & ~15L;
                L->cols = take(&A, (long)l->threads * L->cols_size);
            }
            break;
        case PLAN_DROPOUT:
            if (l->n_dropout >= HPRT_MAX_DROPOUT) {
                cg_fail_at(err, CG_E_LIMIT, e->file, pl->line, "more than %d dropout layers", HPRT_MAX_DROPOUT);
                cg_layout_free(l);
                return NULL;
            }
            L->dropout_site = l->n_dropout;
            l->site_p[l->n_dropout++] = (float)pl->p;
            break;
        case PLAN_FLATTEN:
            /* a view: the same rows */
            L->out = l->layers[i - 1].out;
            L->dout = l->layers[i - 1].dout;
            continue;
        case PLAN_LAYERNORM:
            L->width = L->out_size / L->steps;
            L->w_size = L->b_size = L->width;
            L->w = take(&P, L->w_size);
            L->b = take(&P, L->b_size);
            L->norm = take(&A, (long)l->b_max * L->steps * 2);
            break;
        case PLAN_BATCHNORM:
            L->width = pl->in.kind == PLAN_IMG ? pl->in.d[0] : L->out_size;
            L->w_size = L->b_size = L->width;
            L->w = take(&P, L->w_size);
            L->b = take(&P, L->b_size);
            L->running = take(&P, 2L * L->width);
            L->norm = take(&A, cg_batchnorm_stats_floats(l->threads, L->width));
            for (int k = 0; k < n_train; k++)
                if ((long)train_sizes[k] * (L->out_size / L->width) < 2) {
                    /* as torch: "Expected more than 1 value per channel when training" */
                    cg_fail_at(err, CG_E_USAGE, e->file, pl->line, "batchnorm needs more than 1 value per feature "
                               "in a training batch, and this run has a batch of %d sample%s; change the batch "
                               "size or the split", train_sizes[k], train_sizes[k] == 1 ? "" : "s");
                    cg_layout_free(l);
                    return NULL;
                }
            break;
        case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX:
        case PLAN_MAXPOOL: case PLAN_AVGPOOL:
            break;
        }
        L->out = take(&A, (long)l->b_max * L->out_size);
        L->dout = take(&A, (long)l->b_max * L->out_size);
        if ((pl->kind == PLAN_DENSE || pl->kind == PLAN_CONV) && pl->act == PLAN_ACT_GELU)
            L->pre = take(&A, (long)l->b_max * L->out_size);
    }
    /* the loss reads the last layer, or the logits under a softmax folded into cross_entropy */
    int last = e->n_layers - 1;
    l->scores = last;
    if (e->fused_softmax) {
        if (e->layers[last].kind == PLAN_SOFTMAX) {
            l->layers[last].skip = true;
            l->scores = l->layers[last].in_layer;
        } else {
            l->layers[last].logits = true;
        }
    }
    while (plan_layer_has(e->layers[l->scores].kind, PLAN_LK_VIEW))
        l->scores--;
    l->loss_steps = l->layers[l->scores].steps;
    if (l->loss_steps > 1 && !l->text) {
        cg_fail_at(err, CG_E_USAGE, e->file, e->layers[l->scores].line, "an output at every time step needs text data "
                   "(next-token targets); end the model with `last` before its output layer");
        cg_layout_free(l);
        return NULL;
    }
    l->classes = l->layers[l->scores].out_size / l->loss_steps;
    l->x_bytes = e->data.train.kind == PLAN_SRC_IDX;
    l->x_scale = (float)e->data.scale;
    l->x_normalize = e->data.normalize;
    l->prof = -1;
    const char *prof = getenv("HPC_PROFILE");
    if (prof && *prof && strcmp(prof, "0") != 0) {
        l->prof_stride = ((long)e->n_layers * CG_PROF__COUNT * 2 + 15) & ~15L; /* no false sharing */
        l->prof = take(&A, (long)l->threads * l->prof_stride);
    }
    l->n_params = P;
    l->n_acts = A;
    return l;
}

void cg_layout_free(cg_layout *l)
{
    if (!l)
        return;
    for (int i = 0; l->layers && i < l->n_layers; i++)
        free(l->layers[i].rnn);
    free(l->layers);
    free(l);
}

/* ---- buffers ---- */

typedef struct {
    cg g;
    const cg_memory *mem;
    hp_jit_symbol *syms; /* names owned (strdup) */
    int n_syms, cap_syms;
    bool oom;            /* an allocation failed while emitting: the module is incomplete */
    int batch;           /* the batch size of the training step being emitted */
} cg_state;

static cg_state *S(cg *g) { return (cg_state *)g; }

static void free_syms(cg_state *st)
{
    for (int i = 0; i < st->n_syms; i++)
        free((char *)st->syms[i].name);
    free(st->syms);
    st->syms = NULL;
    st->n_syms = 0;
}

/* A buffer `name` at base + offset floats; remembered for the JIT. */
static LLVMValueRef buf(cg *g, const char *prefix, int layer, float *base, long offset, long floats)
{
    cg_state *st = S(g);
    char name[24];
    snprintf(name, sizeof name, "hp_%s%d", prefix, layer);
    LLVMValueRef gv = LLVMGetNamedGlobal(g->mod, name);
    if (gv)
        return gv;
    gv = cg_buffer(g, name, floats);
    if (st->n_syms == st->cap_syms) {
        int cap = st->cap_syms ? st->cap_syms * 2 : 64;
        hp_jit_symbol *s = realloc(st->syms, sizeof *s * (size_t)cap);
        if (!s) {
            st->oom = true; /* jit_module reports it */
            return gv;
        }
        st->syms = s;
        st->cap_syms = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        st->oom = true;
        return gv;
    }
    st->syms[st->n_syms].name = copy;
    st->syms[st->n_syms].addr = base ? base + offset : NULL;
    st->syms[st->n_syms].is_function = 0;
    st->n_syms++;
    return gv;
}

#define MEM(field) (S(g)->mem ? S(g)->mem->field : NULL)

static LLVMValueRef OUT(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    if (plan_layer_has(g->e->layers[i].kind, PLAN_LK_VIEW))
        return OUT(g, i - 1);
    return buf(g, i == 0 ? "x" : "out", i, MEM(acts), L->out, (long)g->l->b_max * L->out_size);
}
static LLVMValueRef DOUT(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    if (plan_layer_has(g->e->layers[i].kind, PLAN_LK_VIEW))
        return DOUT(g, i - 1);
    return buf(g, "dout", i, MEM(acts), L->dout, (long)g->l->b_max * L->out_size);
}
static LLVMValueRef PRE(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    return buf(g, "pre", i, MEM(acts), L->pre, (long)g->l->b_max * L->out_size);
}
static LLVMValueRef NORM(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    return buf(g, "norm", i, MEM(acts), L->norm, (long)g->l->b_max * L->steps * 2);
}
/* batchnorm: the threads' statistics, and the running statistics (parameter arena) */
static LLVMValueRef BNSTATS(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    return buf(g, "bns", i, MEM(acts), L->norm, cg_batchnorm_stats_floats(g->threads, L->width));
}
static LLVMValueRef RUNNING(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    return buf(g, "run", i, MEM(params), L->running, 2L * L->width);
}
static LLVMValueRef PARAM(cg *g, const char *what, int i, bool bias)
{
    const cg_layer_layout *L = &g->l->layers[i];
    long off = bias ? L->b : L->w, n = bias ? L->b_size : L->w_size;
    float *base = NULL;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s%s", what, bias ? "b" : "w");
    if (strcmp(what, "") == 0)
        base = MEM(params);
    else if (strcmp(what, "d") == 0)
        base = MEM(grads);
    else if (strcmp(what, "buf") == 0)
        base = MEM(opt_buf);
    else if (strcmp(what, "m") == 0)
        base = MEM(opt_m);
    else if (strcmp(what, "v") == 0)
        base = MEM(opt_v);
    else if (strcmp(what, "vmax") == 0)
        base = MEM(opt_vmax);
    else if (strcmp(what, "sum") == 0)
        base = MEM(opt_sum);
    else if (strcmp(what, "ga") == 0)
        base = MEM(opt_ga);
    return buf(g, prefix, i, base, off, n);
}

/* ---- elementwise math ---- */

static LLVMValueRef imul(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(g->b, a, b, ""); }

/* act(x), its gradient, the softmax: the kit's (codegen_int.h) */

/* dx = y (dy - sum(dy y)) per row. */
static void softmax_backward_rows(cg *g, LLVMValueRef y, LLVMValueRef dy, LLVMValueRef dx, long U, LLVMValueRef r0,
                                  LLVMValueRef r1)
{
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
    LLVMValueRef acc = ir_alloca(g->b, g->t_f32, "");
    LLVMBuildStore(g->b, cg_f32(g, 0), acc);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    LLVMValueRef k = iadd(g, row, J.i);
    LLVMBuildStore(g->b, fadd(g, LLVMBuildLoad2(g->b, g->t_f32, acc, ""), fmul(g, cg_load_f(g, dy, k), cg_load_f(g, y, k))),
                   acc);
    cg_end(g, &J);
    LLVMValueRef s = LLVMBuildLoad2(g->b, g->t_f32, acc, "");
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    k = iadd(g, row, J.i);
    cg_store_f(g, fmul(g, cg_load_f(g, y, k), fsub(g, cg_load_f(g, dy, k), s)), dx, k);
    cg_end(g, &J);
    cg_end(g, &R);
}

/* hprt_hash_u32(key, index) >= threshold: the dropout keep test, exactly.
 * per_row: the elements per row of the index's unit; a data-parallel step
 * keys the mask by the global index, io->row0 rows further on. */
static LLVMValueRef keep_test(cg *g, LLVMValueRef key, LLVMValueRef index, LLVMValueRef thr, long per_row)
{
    if (g->l->dp)
        index = iadd(g, index, imul(g, cg_io_field(g, offsetof(hprt_step_io, row0), g->t_i64), cg_i64(g, per_row)));
    LLVMValueRef z = LLVMBuildXor(g->b, key, imul(g, index, cg_i64(g, (long)0x9E3779B97F4A7C15ull)), "");
    z = imul(g, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, cg_i64(g, 30), ""), ""), cg_i64(g, (long)0xBF58476D1CE4E5B9ull));
    z = imul(g, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, cg_i64(g, 27), ""), ""), cg_i64(g, (long)0x94D049BB133111EBull));
    z = LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, cg_i64(g, 31), ""), "");
    LLVMValueRef h = LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, z, cg_i64(g, 32), ""), g->t_i32, "");
    return LLVMBuildICmp(g->b, LLVMIntUGE, h, thr, "");
}

static LLVMValueRef geom_const(cg *g, const void *geom, size_t bytes, int layer)
{
    int n = (int)(bytes / sizeof(int));
    LLVMValueRef vals[16];
    const int *ints = geom;
    for (int i = 0; i < n && i < 16; i++)
        vals[i] = cg_i32(g, ints[i]);
    LLVMValueRef init = LLVMConstArray2(g->t_i32, vals, (uint64_t)n);
    char name[32];
    snprintf(name, sizeof name, "hp_geom%d", layer);
    LLVMValueRef gv = LLVMGetNamedGlobal(g->mod, name);
    if (gv)
        return gv;
    gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

static hprt_conv2d_geom conv_geom(const plan_layer *pl)
{
    return hprt_conv2d_geom_make(pl->in.d[0], pl->in.d[1], pl->in.d[2], pl->units, pl->kernel, pl->stride, pl->pad,
                                 pl->pad);
}

static hprt_pool2d_geom pool_geom(const plan_layer *pl)
{
    return hprt_pool2d_geom_make(pl->in.d[0], pl->in.d[1], pl->in.d[2], pl->kernel, pl->stride);
}

/* The thread's im2col buffer of conv layer i. */
static LLVMValueRef cols_of(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    LLVMValueRef all = buf(g, "cols", i, MEM(acts), L->cols, (long)g->threads * L->cols_size);
    return cg_fptr(g, all, imul(g, g->tid, cg_i64(g, L->cols_size)));
}

/* ---- forward ---- */

/* ---- sequences: tokens, embeddings, recurrent stacks ---- */

/* Buffer `prefix` of layer i's stack layer s. */
static LLVMValueRef SUB(cg *g, const char *prefix, int i, int s, long off, long floats)
{
    char p[16];
    snprintf(p, sizeof p, "%s%d_", prefix, s);
    return buf(g, p, i, MEM(acts), off, floats);
}
static LLVMValueRef IDS(cg *g) { return buf(g, "ids", 0, MEM(acts), g->l->ids, ((long)g->l->b_max * g->l->seq + 3) / 4); }
static LLVMValueRef LABELS(cg *g) { return buf(g, "labels", 0, MEM(acts), g->l->labels, (long)g->l->b_max * g->l->seq); }
static LLVMValueRef byte_ptr(cg *g, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildInBoundsGEP2(g->b, g->t_i8, base, &idx, 1, "");
}
static LLVMValueRef i32v(cg *g, LLVMValueRef v) { return LLVMBuildTrunc(g->b, v, g->t_i32, ""); }

/* Rows [r0, r1) of a text batch: row r is the window at tokens[r * stream + start];
 * ids are its T tokens, labels the T tokens after each. */
static void gather_text(cg *g, LLVMValueRef r0, LLVMValueRef r1)
{
    long T = g->l->seq;
    LLVMValueRef tok = cg_io_field(g, offsetof(hprt_step_io, x8), g->t_ptr);
    LLVMValueRef start = cg_io_field(g, offsetof(hprt_step_io, start), g->t_i64);
    LLVMValueRef stream = cg_io_field(g, offsetof(hprt_step_io, stream), g->t_i64);
    LLVMValueRef ids = IDS(g), lab = LABELS(g);
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef base = iadd(g, imul(g, R.i, stream), start), drow = imul(g, R.i, cg_i64(g, T));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, T));
    LLVMValueRef si = iadd(g, base, J.i), di = iadd(g, drow, J.i);
    LLVMValueRef a = LLVMBuildLoad2(g->b, g->t_i8, byte_ptr(g, tok, si), "");
    LLVMValueRef b = LLVMBuildLoad2(g->b, g->t_i8, byte_ptr(g, tok, iadd(g, si, cg_i64(g, 1))), "");
    LLVMBuildStore(g->b, a, byte_ptr(g, ids, di));
    LLVMBuildStore(g->b, LLVMBuildZExt(g->b, b, g->t_i32, ""), LLVMBuildInBoundsGEP2(g->b, g->t_i32, lab, &di, 1, ""));
    cg_end(g, &J);
    cg_end(g, &R);
}

/* The state a stack layer starts from: NULL (zeros) on io->reset, else its
 * carried state; always zeros for numeric sequences (one whole sequence per sample). */
static LLVMValueRef state_in(cg *g, int i, const char *name, int s, long off, LLVMValueRef r0)
{
    if (off < 0 || !g->l->text)
        return LLVMConstPointerNull(g->t_ptr);
    long H = g->e->layers[i].units;
    LLVMValueRef st = cg_fptr(g, SUB(g, name, i, s, off, (long)g->l->b_max * H), imul(g, r0, cg_i64(g, H)));
    LLVMValueRef reset = LLVMBuildICmp(g->b, LLVMIntNE, cg_io_field(g, offsetof(hprt_step_io, reset), g->t_i32),
                                       cg_i32(g, 0), "");
    return LLVMBuildSelect(g->b, reset, LLVMConstPointerNull(g->t_ptr), st, "");
}

/* The final state of rows [r0, r1) becomes the carried state (text only). */
static void state_carry(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1)
{
    if (!g->l->text)
        return;
    const cg_layer_layout *L = &g->l->layers[i];
    long H = g->e->layers[i].units, n = (long)g->l->b_max * H;
    LLVMValueRef off = imul(g, r0, cg_i64(g, H)), bytes = imul(g, isub(g, r1, r0), cg_i64(g, 4 * H));
    for (int s = 0; s < L->n_rnn; s++) {
        const cg_rnn_layer *R = &L->rnn[s];
        LLVMBuildMemCpy(g->b, cg_fptr(g, SUB(g, "rh", i, s, R->h, n), off), 4,
                        cg_fptr(g, SUB(g, "rhn", i, s, R->h_next, n), off), 4, bytes);
        if (R->c >= 0)
            LLVMBuildMemCpy(g->b, cg_fptr(g, SUB(g, "rc", i, s, R->c, n), off), 4,
                            cg_fptr(g, SUB(g, "rcn", i, s, R->c_next, n), off), 4, bytes);
    }
}

/* Y = X with the dropout mask of `site` (or the reverse pass: the same mask on a gradient), rows [r0, r1). */
static void mask_rows(cg *g, int site, LLVMValueRef X, LLVMValueRef Y, long U, LLVMValueRef r0, LLVMValueRef r1)
{
    LLVMValueRef key = cg_io_field(g, offsetof(hprt_step_io, dropout_key) + 8 * (size_t)site, g->t_i64);
    LLVMValueRef thr = cg_io_field(g, offsetof(hprt_step_io, dropout_threshold) + 4 * (size_t)site, g->t_i32);
    LLVMValueRef scale = cg_io_field(g, offsetof(hprt_step_io, dropout_scale) + 4 * (size_t)site, g->t_f32);
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    LLVMValueRef k = iadd(g, row, J.i);
    cg_store_f(g, LLVMBuildSelect(g->b, keep_test(g, key, k, thr, U), fmul(g, cg_load_f(g, X, k), scale), cg_f32(g, 0), ""),
               Y, k);
    cg_end(g, &J);
    cg_end(g, &R);
}

typedef struct {
    LLVMValueRef geom, X, Wih, Whh, bih, bhh, A, C, Hprev, Y, dY, dGi, dGh;
    long in, GH;
} rnn_refs;

/* Every buffer of stack layer s of layer i (whole, not offset by rows). */
static rnn_refs rnn_sub(cg *g, int i, int s, bool train)
{
    const cg_layer_layout *L = &g->l->layers[i];
    const cg_rnn_layer *R = &L->rnn[s];
    long T = L->steps, H = R->geom.hidden, rows = (long)g->l->b_max * T;
    rnn_refs r = {0};
    r.in = R->geom.in;
    r.GH = (long)hprt_rnn_gates(R->geom.cell) * H;
    r.geom = geom_const(g, &R->geom, sizeof R->geom, 100000 + 1000 * i + s);
    if (s == 0)
        r.X = OUT(g, L->in_layer);
    else if (R->D >= 0 && train)
        r.X = SUB(g, "rD", i, s, R->D, rows * H);
    else
        r.X = SUB(g, "rY", i, s - 1, L->rnn[s - 1].Y, rows * H);
    LLVMValueRef W = PARAM(g, "", i, false);
    r.Wih = cg_fptr(g, W, cg_i64(g, R->w));
    r.Whh = cg_fptr(g, r.Wih, cg_i64(g, r.GH * r.in));
    r.bih = cg_fptr(g, r.Whh, cg_i64(g, r.GH * H));
    r.bhh = cg_fptr(g, r.bih, cg_i64(g, r.GH));
    r.A = SUB(g, "rA", i, s, R->A, rows * r.GH);
    r.C = R->C >= 0 ? SUB(g, "rC", i, s, R->C, rows * H) : NULL;
    r.Hprev = SUB(g, "rP", i, s, R->Hprev, rows * H);
    r.Y = s + 1 < L->n_rnn ? SUB(g, "rY", i, s, R->Y, rows * H) : OUT(g, i);
    r.dY = s + 1 < L->n_rnn ? SUB(g, "rdY", i, s, R->dY, rows * H) : DOUT(g, i);
    r.dGi = SUB(g, "rGi", i, s, R->dGi, rows * r.GH);
    r.dGh = R->dGh == R->dGi ? r.dGi : SUB(g, "rGh", i, s, R->dGh, rows * r.GH);
    return r;
}

static LLVMValueRef rows_ptr(cg *g, LLVMValueRef base, LLVMValueRef r0, long per_row)
{
    return base ? cg_fptr(g, base, imul(g, r0, cg_i64(g, per_row))) : LLVMConstPointerNull(g->t_ptr);
}

/* The per-row step scratch of rows from r0. */
static LLVMValueRef rnn_scratch(cg *g, int i, LLVMValueRef r0)
{
    const cg_layer_layout *L = &g->l->layers[i];
    return rows_ptr(g, buf(g, "rs", i, MEM(acts), L->rscratch, (long)g->l->b_max * L->rscratch_w), r0, L->rscratch_w);
}

/* The thread's buffer for W_hh packed (one thread, one buffer). */
static LLVMValueRef rnn_pack(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    LLVMValueRef all = buf(g, "rk", i, MEM(acts), L->rpack, (long)g->l->threads * L->rpack_n);
    return cg_fptr(g, all, imul(g, g->tid, cg_i64(g, L->rpack_n)));
}

/* The thread's Q, then S, of an embedding folded into layer i. */
static LLVMValueRef fold_buf(cg *g, int i, LLVMValueRef tid)
{
    const cg_layer_layout *L = &g->l->layers[i];
    LLVMValueRef all = buf(g, "rq", i, MEM(acts), L->fold, (long)g->l->threads * L->fold_n);
    return cg_fptr(g, all, imul(g, tid, cg_i64(g, L->fold_n)));
}

static void rnn_forward(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1, bool train)
{
    const cg_layer_layout *L = &g->l->layers[i];
    long T = L->steps, H = g->e->layers[i].units, rows = (long)g->l->b_max * T;
    LLVMValueRef M = i32v(g, isub(g, r1, r0));
    LLVMValueRef scratch = rnn_scratch(g, i, r0);
    for (int s = 0; s < L->n_rnn; s++) {
        const cg_rnn_layer *R = &L->rnn[s];
        bool fold = s == 0 && L->fold >= 0;
        if (R->D >= 0 && train)
            mask_rows(g, R->site, SUB(g, "rY", i, s - 1, L->rnn[s - 1].Y, rows * H), SUB(g, "rD", i, s, R->D, rows * H),
                      T * H, r0, r1);
        rnn_refs r = rnn_sub(g, i, s, train);
        LLVMValueRef ids = fold ? byte_ptr(g, IDS(g), imul(g, r0, cg_i64(g, T))) : NULL;
        if (fold) { /* Q = E·W_ihᵀ + b_ih, read by hprt_rnn_forward_fold at the thread's ids */
            int e = L->in_layer;
            LLVMTypeRef p[10] = {g->t_ptr, g->t_i32, g->t_i32, g->t_ptr, g->t_ptr, g->t_i32,
                                 g->t_ptr, g->t_i32, g->t_ptr, g->t_ptr};
            LLVMValueRef args[10] = {PARAM(g, "", e, false), cg_i32(g, L->fold_v), cg_i32(g, r.in), r.Wih, r.bih,
                                     cg_i32(g, r.GH), ids, i32v(g, imul(g, isub(g, r1, r0), cg_i64(g, T))),
                                     fold_buf(g, i, g->tid), LLVMConstPointerNull(g->t_ptr)};
            cg_call(g, "hprt_embed_rnn_forward", LLVMFunctionType(g->t_void, p, 10, 0), args, 10);
        }
        long n = (long)g->l->b_max * H;
        LLVMValueRef cn = R->c_next >= 0 ? rows_ptr(g, SUB(g, "rcn", i, s, R->c_next, n), r0, H)
                                         : LLVMConstPointerNull(g->t_ptr);
        LLVMTypeRef p[17];
        for (int k = 0; k < 17; k++)
            p[k] = g->t_ptr;
        p[1] = g->t_i32;
        /* hprt_rnn_forward's arguments; folded: hprt_rnn_forward_fold's, Q and ids for X, W_ih and b_ih */
        LLVMValueRef args[17] = {r.geom, M, fold ? fold_buf(g, i, g->tid) : rows_ptr(g, r.X, r0, T * r.in), r.Wih, r.Whh, r.bih, r.bhh,
                                 state_in(g, i, "rh", s, R->h, r0), state_in(g, i, "rc", s, R->c, r0),
                                 rows_ptr(g, r.Y, r0, T * H), rows_ptr(g, SUB(g, "rhn", i, s, R->h_next, n), r0, H), cn,
                                 rows_ptr(g, r.A, r0, T * r.GH), rows_ptr(g, r.C, r0, T * H),
                                 rows_ptr(g, r.Hprev, r0, T * H), scratch, rnn_pack(g, i)};
        if (fold) {
            LLVMValueRef fa[16] = {args[0], args[1], args[2], ids, args[4], args[6], args[7], args[8],
                                   args[9], args[10], args[11], args[12], args[13], args[14], args[15], args[16]};
            cg_call(g, "hprt_rnn_forward_fold", LLVMFunctionType(g->t_void, p, 16, 0), fa, 16);
        } else {
            cg_call(g, "hprt_rnn_forward", LLVMFunctionType(g->t_void, p, 17, 0), args, 17);
        }
    }
    if (!train)
        state_carry(g, i, r0, r1);
}

static void rnn_backward(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1, bool dx)
{
    const cg_layer_layout *L = &g->l->layers[i];
    long T = L->steps, H = g->e->layers[i].units, rows = (long)g->l->b_max * T;
    LLVMValueRef M = i32v(g, isub(g, r1, r0));
    LLVMValueRef scratch = rnn_scratch(g, i, r0);
    for (int s = L->n_rnn - 1; s >= 0; s--) {
        const cg_rnn_layer *R = &L->rnn[s];
        rnn_refs r = rnn_sub(g, i, s, true);
        bool fold = s == 0 && L->fold >= 0;
        LLVMValueRef dX = s > 0 ? SUB(g, "rdY", i, s - 1, L->rnn[s - 1].dY, rows * H)
                          : dx && !fold ? DOUT(g, L->in_layer) : NULL;
        LLVMTypeRef p[14];
        for (int k = 0; k < 14; k++)
            p[k] = g->t_ptr;
        p[1] = g->t_i32;
        LLVMValueRef args[14] = {r.geom, M, r.Wih, r.Whh, rows_ptr(g, r.A, r0, T * r.GH), rows_ptr(g, r.C, r0, T * H),
                                 rows_ptr(g, r.Hprev, r0, T * H), state_in(g, i, "rc", s, R->c, r0),
                                 rows_ptr(g, r.dY, r0, T * H), rows_ptr(g, r.dGi, r0, T * r.GH),
                                 rows_ptr(g, r.dGh, r0, T * r.GH), rows_ptr(g, dX, r0, T * r.in), scratch,
                                 rnn_pack(g, i)};
        cg_call(g, "hprt_rnn_backward_data", LLVMFunctionType(g->t_void, p, 14, 0), args, 14);
        if (fold) { /* S: the thread's gate gradients summed per token (an embedding gradient G·H wide) */
            LLVMTypeRef q[7] = {g->t_ptr, g->t_i32, g->t_i32, g->t_ptr, g->t_i32, g->t_i32, g->t_ptr};
            LLVMValueRef a7[7] = {byte_ptr(g, IDS(g), imul(g, r0, cg_i64(g, T))), i32v(g, imul(g, isub(g, r1, r0), cg_i64(g, T))),
                                  cg_i32(g, r.GH), rows_ptr(g, r.dGi, r0, T * r.GH), cg_i32(g, 0), cg_i32(g, L->fold_v),
                                  fold_buf(g, i, g->tid)};
            cg_call(g, "hprt_embed_backward", LLVMFunctionType(g->t_void, q, 7, 0), a7, 7);
        }
        if (s > 0 && R->D >= 0)
            mask_rows(g, R->site, dX, dX, T * H, r0, r1);
    }
    state_carry(g, i, r0, r1);
}

static void embed_forward(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1)
{
    const cg_layer_layout *L = &g->l->layers[i];
    long T = L->steps, D = g->e->layers[i].units;
    LLVMTypeRef p[5] = {g->t_ptr, g->t_ptr, g->t_i32, g->t_i32, g->t_ptr};
    LLVMValueRef args[5] = {PARAM(g, "", i, false), byte_ptr(g, IDS(g), imul(g, r0, cg_i64(g, T))),
                            i32v(g, imul(g, isub(g, r1, r0), cg_i64(g, T))), cg_i32(g, D), rows_ptr(g, OUT(g, i), r0, T * D)};
    cg_call(g, "hprt_embed_forward", LLVMFunctionType(g->t_void, p, 5, 0), args, 5);
}

/* The table row of a stored id, as hprt_catembed_id: 1..n, else 0 (NaN too). */
static LLVMValueRef catembed_id(cg *g, LLVMValueRef v, int n)
{
    LLVMValueRef ok = LLVMBuildAnd(g->b, LLVMBuildFCmp(g->b, LLVMRealOGE, v, cg_f32(g, 1), ""),
                                   LLVMBuildFCmp(g->b, LLVMRealOLT, v, cg_f32(g, (float)n + 1.0f), ""), "");
    return LLVMBuildSelect(g->b, ok, LLVMBuildFPToSI(g->b, v, g->t_i64, ""), cg_i64(g, 0), "");
}

void cg_embed_columns_rows(cg *g, int i, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef r0,
                           LLVMValueRef r1)
{
    const plan_layer *pl = &g->e->layers[i];
    hprt_catembed_col cols[HPRT_MAX_EMBED_COLUMNS];
    int nc = cg_embed_columns(g->e, cols, HPRT_MAX_EMBED_COLUMNS);
    long Fin = plan_shape_size(pl->in), Fout = plan_shape_size(pl->out);
    cg_loop R;
    cg_for(g, &R, r0, r1);
    LLVMValueRef x = cg_fptr(g, X, imul(g, R.i, cg_i64(g, Fin))), y = cg_fptr(g, Y, imul(g, R.i, cg_i64(g, Fout)));
    long p = 0, q = 0;
    for (int c = 0; c <= nc; c++) {
        long upto = c < nc ? cols[c].in_pos : Fin;
        if (upto > p)
            LLVMBuildMemCpy(g->b, cg_fptr(g, y, cg_i64(g, q)), 4, cg_fptr(g, x, cg_i64(g, p)), 4, cg_i64(g, 4 * (upto - p)));
        q += upto - p;
        p = upto;
        if (c == nc)
            break;
        LLVMValueRef id = catembed_id(g, cg_load_f(g, x, cg_i64(g, p)), cols[c].n);
        LLVMValueRef row = iadd(g, cg_i64(g, cols[c].w), imul(g, id, cg_i64(g, cols[c].dim)));
        LLVMBuildMemCpy(g->b, cg_fptr(g, y, cg_i64(g, q)), 4, cg_fptr(g, W, row), 4, cg_i64(g, 4L * cols[c].dim));
        p++;
        q += cols[c].dim;
    }
    cg_end(g, &R);
}

/* embed_columns: each row of the data with its ids replaced by their table rows. */
static void embed_columns_forward(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1)
{
    cg_embed_columns_rows(g, i, OUT(g, g->l->layers[i].in_layer), OUT(g, i), PARAM(g, "", i, false), r0, r1);
}

/* last: the output of the final step, and its gradient back to that step only. */
static void last_forward(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1)
{
    const plan_layer *pl = &g->e->layers[i];
    long T = pl->in.d[0], H = pl->in.d[1];
    LLVMValueRef X = OUT(g, g->l->layers[i].in_layer), Y = OUT(g, i);
    cg_loop R;
    cg_for(g, &R, r0, r1);
    LLVMBuildMemCpy(g->b, cg_fptr(g, Y, imul(g, R.i, cg_i64(g, H))), 4,
                    cg_fptr(g, X, iadd(g, imul(g, R.i, cg_i64(g, T * H)), cg_i64(g, (T - 1) * H))), 4, cg_i64(g, 4 * H));
    cg_end(g, &R);
}

static void last_backward(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1)
{
    const plan_layer *pl = &g->e->layers[i];
    long T = pl->in.d[0], H = pl->in.d[1];
    LLVMValueRef dX = DOUT(g, g->l->layers[i].in_layer), dY = DOUT(g, i);
    cg_loop R;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = imul(g, R.i, cg_i64(g, T * H));
    LLVMBuildMemSet(g->b, cg_fptr(g, dX, row), LLVMConstInt(g->t_i8, 0, 0), cg_i64(g, 4 * (T - 1) * H), 4);
    LLVMBuildMemCpy(g->b, cg_fptr(g, dX, iadd(g, row, cg_i64(g, (T - 1) * H))), 4,
                    cg_fptr(g, dY, imul(g, R.i, cg_i64(g, H))), 4, cg_i64(g, 4 * H));
    cg_end(g, &R);
}

/* The activation a dense or conv layer applies after its bias (none for logits). */
static plan_act fused_act(cg *g, int i)
{
    const cg_layer_layout *L = &g->l->layers[i];
    return L->logits ? PLAN_ACT_NONE : g->e->layers[i].act;
}

/* The dropout layer that a dense layer's activation feeds directly (its only
 * consumer), or -1.  In a training step the two are one pass each way: the
 * forward writes the dense's and the dropout's outputs from the GEMM's result
 * (bias, activation and mask at once), and the backward writes the gradient
 * before the activation straight from the dropout's output gradient
 * (drop_act_backward).  Softmax (a row operation) and the scores are not fused. */
static int fused_dropout(cg *g, int i)
{
    const cg_layout *l = g->l;
    const plan_experiment *e = g->e;
    if (e->layers[i].kind != PLAN_DENSE || l->layers[i].skip || fused_act(g, i) == PLAN_ACT_SOFTMAX || l->scores == i ||
        i + 1 >= e->n_layers)
        return -1;
    const cg_layer_layout *D = &l->layers[i + 1];
    if (e->layers[i + 1].kind != PLAN_DROPOUT || D->skip || D->in_layer != i || D->dropout_site < 0 ||
        D->out_size != l->layers[i].out_size)
        return -1;
    return i + 1;
}

/* out = act(out + bias) over rows [r0, r1); bias of width U repeats every `per` floats (conv: per channel). */
static void bias_act(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1, int drop)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    plan_act a = fused_act(g, i);
    long U = L->out_size / L->steps;
    long per = pl->kind == PLAN_CONV ? (long)pl->out.d[1] * pl->out.d[2] : 1;
    LLVMValueRef out = OUT(g, i), pre = L->pre >= 0 ? PRE(g, i) : NULL;
    LLVMValueRef bias = pl->kind == PLAN_DENSE ? PARAM(g, "", i, true) : NULL; /* conv adds its own bias */
    LLVMValueRef key = NULL, thr = NULL, scale = NULL, dout = NULL;
    if (drop >= 0) { /* the dropout's mask, as mask_rows */
        size_t site = (size_t)g->l->layers[drop].dropout_site;
        key = cg_io_field(g, offsetof(hprt_step_io, dropout_key) + 8 * site, g->t_i64);
        thr = cg_io_field(g, offsetof(hprt_step_io, dropout_threshold) + 4 * site, g->t_i32);
        scale = cg_io_field(g, offsetof(hprt_step_io, dropout_scale) + 4 * site, g->t_f32);
        dout = OUT(g, drop);
    }
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    LLVMValueRef k = iadd(g, row, J.i);
    LLVMValueRef v = cg_load_f(g, out, k);
    if (bias)
        v = fadd(g, v, cg_load_f(g, bias, per == 1 ? J.i : LLVMBuildSDiv(g->b, J.i, cg_i64(g, per), "")));
    if (pre)
        cg_store_f(g, v, pre, k);
    if (a != PLAN_ACT_SOFTMAX)
        v = cg_act_forward(g, a, v);
    /* stored even when relu's backward reads the dropout's output instead: hpc run's NaN diagnosis reads it */
    cg_store_f(g, v, out, k);
    if (drop >= 0) /* k is the flat index of the element in both layers' outputs */
        cg_store_f(g, LLVMBuildSelect(g->b, keep_test(g, key, k, thr, L->steps * U), fmul(g, v, scale), cg_f32(g, 0), ""), dout, k);
    cg_end(g, &J);
    cg_end(g, &R);
    if (a == PLAN_ACT_SOFTMAX)
        cg_softmax_rows(g, out, out, U, r0, r1);
}

/* Is layer x + 1 a 2×2, stride-2 max pool of layer x (not the scores)? */
static bool pool22_after(cg *g, int x)
{
    const plan_layer *np = x + 1 < g->e->n_layers ? &g->e->layers[x + 1] : NULL;
    const cg_layer_layout *nl = np ? &g->l->layers[x + 1] : NULL;
    return np && np->kind == PLAN_MAXPOOL && !nl->skip && nl->in_layer == x && np->kernel == 2 && np->stride == 2 &&
           g->l->scores != x;
}

/* The epilogue conv layer i's kernel applies itself (hprt_conv2d_forward_epi,
 * docs/internals.md "Convolutions"): its relu, and a 2×2, stride-2 max pool
 * that is its only consumer (*pool = that layer, else -1); 0 when the conv
 * has neither, or another activation (then bias_act applies it and a pool is
 * its own call).  Training and evaluation steps alike: the fused forms give
 * the unfused values bit for bit. */
static int conv_epi(cg *g, int i, int *pool)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    *pool = -1;
    if (e->layers[i].kind != PLAN_CONV || l->layers[i].skip)
        return 0;
    plan_act a = fused_act(g, i);
    if (a != PLAN_ACT_NONE && a != PLAN_ACT_RELU)
        return 0;
    int epi = a == PLAN_ACT_RELU ? HPRT_CONV_RELU : 0;
    if (pool22_after(g, i)) {
        epi |= HPRT_CONV_POOL2;
        *pool = i + 1;
    }
    return epi;
}

/* The layers after batchnorm layer i that its passes compute (cg_bn_epi,
 * layer_batchnorm.c): a `relu` that is its only consumer, and a 2×2,
 * stride-2 max pool after that relu (its only consumer).  Returns the relu
 * layer, or -1; *pool that pool, or -1.  As conv_epi: the same operations
 * on the same values as the layers' own passes, bit for bit. */
static int bn_epi_layers(cg *g, int i, int *pool)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    *pool = -1;
    if (e->layers[i].kind != PLAN_BATCHNORM || l->layers[i].skip || i + 1 >= e->n_layers)
        return -1;
    int a = i + 1;
    if (e->layers[a].kind != PLAN_RELU || l->layers[a].skip || l->layers[a].in_layer != i || l->scores == i)
        return -1;
    if (e->layers[i].in.kind == PLAN_IMG && pool22_after(g, a))
        *pool = a + 1;
    return a;
}

/* Does conv layer c's kernel do batchnorm layer c + 1's per-value work in a
 * training step (layer_batchnorm.c, hprt_conv2d_forward_bn / _backward_bn):
 * the statistics' sums forward, and back the input gradient as the conv's
 * dY?  When the batchnorm normalises the conv's output image (its channels
 * are the conv's filters) and the conv has no activation.  Returns the
 * batchnorm layer, or -1. */
static int conv_bn(cg *g, int c)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    int i = c + 1;
    if (e->layers[c].kind != PLAN_CONV || l->layers[c].skip || i >= e->n_layers)
        return -1;
    if (e->layers[i].kind != PLAN_BATCHNORM || l->layers[i].skip || l->layers[i].in_layer != c ||
        e->layers[i].in.kind != PLAN_IMG || e->layers[i].in.d[0] != e->layers[c].units ||
        fused_act(g, c) != PLAN_ACT_NONE || l->scores == c)
        return -1;
    return i;
}

/* Is batchnorm layer i's per-value work done by the conv before it (conv_bn)? */
static bool bn_fused(cg *g, int i)
{
    int c = g->l->layers[i].in_layer;
    return c > 0 && conv_bn(g, c) == i;
}

/* Is layer i (a relu or a max pool) computed by the conv or batchnorm before it? */
static bool epi_fused(cg *g, int i)
{
    int in = g->l->layers[i].in_layer, pool;
    if (in <= 0)
        return false;
    if (g->e->layers[i].kind == PLAN_RELU)
        return bn_epi_layers(g, in, &pool) == i;
    if (g->e->layers[i].kind != PLAN_MAXPOOL)
        return false;
    if (conv_epi(g, in, &pool) != 0 && pool == i)
        return true;
    int bn = g->l->layers[in].in_layer;
    return g->e->layers[in].kind == PLAN_RELU && bn > 0 && bn_epi_layers(g, bn, &pool) == in && pool == i;
}

/* The buffers of batchnorm layer i's fused layers (NULL: none); as the
 * batchnorm's own, indexed by the row from 0. */
static const cg_bn_epi *bn_epi(cg *g, int i, cg_bn_epi *epi)
{
    int pool, a = bn_epi_layers(g, i, &pool);
    if (a < 0)
        return NULL;
    const plan_layer *pl = &g->e->layers[i];
    memset(epi, 0, sizeof *epi);
    epi->Ya = OUT(g, a);
    epi->dYa = DOUT(g, a);
    if (pool >= 0) {
        epi->P = OUT(g, pool);
        epi->dP = DOUT(g, pool);
        epi->H = pl->in.d[1];
        epi->W = pl->in.d[2];
    }
    return epi;
}

/* A layer applied at every time step works on T rows per sample. */
static void per_step_rows(cg *g, const cg_layer_layout *L, LLVMValueRef *r0, LLVMValueRef *r1)
{
    *r0 = imul(g, *r0, cg_i64(g, L->steps));
    *r1 = imul(g, *r1, cg_i64(g, L->steps));
}

static void forward_layer(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1, bool train)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    if (L->skip || pl->kind == PLAN_INPUT || plan_layer_has(pl->kind, PLAN_LK_VIEW))
        return;
    switch (pl->kind) {
    case PLAN_EMBED:
        if (L->fold_by < 0) /* folded: the recurrent layer reads E itself */
            embed_forward(g, i, r0, r1);
        return;
    case PLAN_EMBED_COLUMNS:
        embed_columns_forward(g, i, r0, r1);
        return;
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
        rnn_forward(g, i, r0, r1, train);
        return;
    case PLAN_LAST:
        last_forward(g, i, r0, r1);
        return;
    case PLAN_DENSE: case PLAN_LAYERNORM:
        per_step_rows(g, L, &r0, &r1);
        break;
    case PLAN_INPUT: case PLAN_FLATTEN: /* nothing to compute (returned above) */
    case PLAN_DROPOUT: case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX:
    case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_BATCHNORM:
        break;
    }
    int in = L->in_layer;
    long U = L->out_size / L->steps, F = g->l->layers[in].out_size / L->steps;
    LLVMValueRef M = isub(g, r1, r0);
    LLVMValueRef X = OUT(g, in), Y = OUT(g, i);
    LLVMValueRef Xr = cg_fptr(g, X, imul(g, r0, cg_i64(g, F))), Yr = cg_fptr(g, Y, imul(g, r0, cg_i64(g, U)));
    switch (pl->kind) {
    case PLAN_DENSE:
        cg_gemm(g, 0, 1, M, U, F, Xr, F, PARAM(g, "", i, false), F, 0, Yr, U);
        bias_act(g, i, r0, r1, train ? fused_dropout(g, i) : -1);
        break;
    case PLAN_CONV: { /* bias, and with an epilogue relu and the max pool after it, in the kernel */
        hprt_conv2d_geom geo = conv_geom(pl);
        int pool, epi = conv_epi(g, i, &pool), bn = train ? conv_bn(g, i) : -1;
        if (bn >= 0) { /* and the batchnorm's sums (layer_batchnorm.c) */
            LLVMTypeRef p[8] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_i32, g->t_ptr, g->t_ptr};
            LLVMValueRef args[8] = {geom_const(g, &geo, sizeof geo, i), Xr, PARAM(g, "", i, false),
                                    PARAM(g, "", i, true), Yr, LLVMBuildTrunc(g->b, M, g->t_i32, ""), cols_of(g, i),
                                    cg_batchnorm_sums(g, BNSTATS(g, bn), g->l->layers[bn].width)};
            cg_call(g, "hprt_conv2d_forward_bn", LLVMFunctionType(g->t_void, p, 8, 0), args, 8);
            break;
        }
        LLVMValueRef Pr = pool >= 0 ? cg_fptr(g, OUT(g, pool), imul(g, r0, cg_i64(g, g->l->layers[pool].out_size)))
                                    : LLVMConstPointerNull(g->t_ptr);
        LLVMTypeRef p[9] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_i32, g->t_ptr, g->t_i32};
        LLVMValueRef args[9] = {geom_const(g, &geo, sizeof geo, i), Xr, PARAM(g, "", i, false), PARAM(g, "", i, true),
                                Yr, Pr, LLVMBuildTrunc(g->b, M, g->t_i32, ""), cols_of(g, i), cg_i32(g, epi)};
        cg_call(g, "hprt_conv2d_forward_epi", LLVMFunctionType(g->t_void, p, 9, 0), args, 9);
        if (!epi)
            bias_act(g, i, r0, r1, -1);
        break;
    }
    case PLAN_MAXPOOL:
    case PLAN_AVGPOOL: {
        if (pl->kind == PLAN_MAXPOOL && epi_fused(g, i))
            break; /* written by its conv's or batchnorm's passes */
        hprt_pool2d_geom geo = pool_geom(pl);
        LLVMTypeRef p[4] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_i32};
        LLVMValueRef args[4] = {geom_const(g, &geo, sizeof geo, i), Xr, Yr, LLVMBuildTrunc(g->b, M, g->t_i32, "")};
        cg_call(g, pl->kind == PLAN_MAXPOOL ? "hprt_maxpool2d_forward_fast" : "hprt_avgpool2d_forward",
                LLVMFunctionType(g->t_void, p, 4, 0), args, 4);
        break;
    }
    case PLAN_DROPOUT:
        if (train && fused_dropout(g, in) == i)
            break; /* written by its dense layer's bias_act */
        if (train)
            mask_rows(g, L->dropout_site, X, Y, U, r0, r1);
        else /* off in evaluation: a copy */
            LLVMBuildMemCpy(g->b, Yr, 4, Xr, 4, imul(g, M, cg_i64(g, 4 * U)));
        break;
    case PLAN_SOFTMAX:
        cg_softmax_rows(g, X, Y, U, r0, r1);
        break;
    case PLAN_LAYERNORM:
        cg_layernorm_forward(g, X, Y, PARAM(g, "", i, false), PARAM(g, "", i, true), NORM(g, i), U, pl->eps, r0, r1);
        break;
    case PLAN_BATCHNORM: { /* the batch's statistics in training (with the other threads), the running ones else */
        long C = L->width, Sp = L->out_size / C;
        cg_bn_epi eb;
        const cg_bn_epi *epi = bn_epi(g, i, &eb);
        if (train)
            cg_batchnorm_forward_train(g, X, Y, PARAM(g, "", i, false), PARAM(g, "", i, true), BNSTATS(g, i), C, Sp,
                                       (long)S(g)->batch * Sp, pl->eps, epi, bn_fused(g, i), r0, r1);
        else
            cg_batchnorm_forward_eval(g, X, Y, PARAM(g, "", i, false), PARAM(g, "", i, true), RUNNING(g, i), C, Sp,
                                      pl->eps, epi, r0, r1);
        break;
    }
    case PLAN_INPUT: case PLAN_FLATTEN: case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_LAST:
    case PLAN_EMBED_COLUMNS:
        break; /* handled above */
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: {
        if (epi_fused(g, i))
            break; /* written by its batchnorm's normalising pass */
        cg_loop R, J;
        cg_for(g, &R, r0, r1);
        LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
        LLVMValueRef k = iadd(g, row, J.i);
        cg_store_f(g, cg_act_forward(g, pl->act, cg_load_f(g, X, k)), Y, k);
        cg_end(g, &J);
        cg_end(g, &R);
    }
    }
}

/* ---- the batch and the loss ---- */

static void gather(cg *g, LLVMValueRef r0, LLVMValueRef r1)
{
    if (g->l->text) {
        gather_text(g, r0, r1);
        return;
    }
    long F = g->l->features;
    LLVMValueRef order = cg_io_field(g, offsetof(hprt_step_io, order), g->t_ptr);
    LLVMValueRef start = cg_io_field(g, offsetof(hprt_step_io, start), g->t_i64);
    LLVMValueRef X = OUT(g, 0);
    LLVMValueRef x = cg_io_field(g, g->l->x_bytes ? offsetof(hprt_step_io, x8) : offsetof(hprt_step_io, x), g->t_ptr);
    LLVMValueRef mean = NULL, sd = NULL;
    if (g->l->x_bytes && g->l->x_normalize) {
        mean = cg_io_field(g, offsetof(hprt_step_io, mean), g->t_ptr);
        sd = cg_io_field(g, offsetof(hprt_step_io, std), g->t_ptr);
    }
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef pos = iadd(g, start, R.i);
    LLVMValueRef src = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildInBoundsGEP2(g->b, g->t_i32, order, &pos, 1, ""), "");
    LLVMValueRef srow = imul(g, LLVMBuildZExt(g->b, src, g->t_i64, ""), cg_i64(g, F));
    LLVMValueRef drow = imul(g, R.i, cg_i64(g, F));
    if (!g->l->x_bytes) {
        LLVMBuildMemCpy(g->b, cg_fptr(g, X, drow), 4, cg_fptr(g, x, srow), 4, cg_i64(g, 4 * F));
    } else {
        /* bytes -> float, scaled and normalised exactly as hprt_data_feature() */
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, F));
        LLVMValueRef si = iadd(g, srow, J.i);
        LLVMValueRef b = LLVMBuildLoad2(g->b, g->t_i8, LLVMBuildInBoundsGEP2(g->b, g->t_i8, x, &si, 1, ""), "");
        LLVMValueRef v = fmul(g, LLVMBuildUIToFP(g->b, b, g->t_f32, ""), cg_f32(g, g->l->x_scale));
        if (mean)
            v = fdiv(g, fsub(g, v, cg_load_f(g, mean, J.i)), cg_load_f(g, sd, J.i));
        cg_store_f(g, v, X, iadd(g, drow, J.i));
        cg_end(g, &J);
    }
    cg_end(g, &R);
}

/* The label of batch row r (text: of token row r). */
static LLVMValueRef label_of(cg *g, LLVMValueRef r)
{
    if (g->l->text) {
        /* a per-step output reads every step's target; one output per window (after `last`) the final one */
        if (g->l->loss_steps == 1)
            r = iadd(g, imul(g, r, cg_i64(g, g->l->seq)), cg_i64(g, g->l->seq - 1));
        return LLVMBuildSExt(g->b, LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildInBoundsGEP2(g->b, g->t_i32, LABELS(g), &r, 1, ""), ""),
                             g->t_i64, "");
    }
    LLVMValueRef y = cg_io_field(g, offsetof(hprt_step_io, y), g->t_ptr);
    LLVMValueRef order = cg_io_field(g, offsetof(hprt_step_io, order), g->t_ptr);
    LLVMValueRef pos = iadd(g, cg_io_field(g, offsetof(hprt_step_io, start), g->t_i64), r);
    LLVMValueRef src = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildInBoundsGEP2(g->b, g->t_i32, order, &pos, 1, ""), "");
    LLVMValueRef idx = LLVMBuildZExt(g->b, src, g->t_i64, "");
    return LLVMBuildSExt(g->b, LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildInBoundsGEP2(g->b, g->t_i32, y, &idx, 1, ""), ""),
                         g->t_i64, "");
}

/* loss weights = [...] | balanced: the per-class weights as a constant array, or NULL */
static LLVMValueRef class_weights(cg *g)
{
    const plan_loss_opts *o = &g->e->loss_opts;
    long K = g->l->classes;
    if (!o->weights || o->n_weights != K || K > 65536)
        return NULL; /* balanced without the training data (predict): the scores do not depend on it */
    LLVMValueRef gv = LLVMGetNamedGlobal(g->mod, "hp_class_weights");
    if (gv)
        return gv;
    LLVMValueRef *vals = malloc(sizeof *vals * (size_t)K);
    if (!vals)
        return NULL;
    for (long k = 0; k < K; k++)
        vals[k] = cg_f32(g, o->weights[k]);
    LLVMValueRef init = LLVMConstArray2(g->t_f32, vals, (uint64_t)K);
    free(vals);
    gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), "hp_class_weights");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

static LLVMValueRef f64_of(cg *g, LLVMValueRef x) { return LLVMBuildFPExt(g->b, x, g->t_f64, ""); }
static LLVMValueRef dadd(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(g->b, a, b, ""); }
static LLVMValueRef dmul(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(g->b, a, b, ""); }
static void accumulate(cg *g, LLVMValueRef acc, LLVMValueRef v)
{
    LLVMBuildStore(g->b, dadd(g, LLVMBuildLoad2(g->b, g->t_f64, acc, ""), v), acc);
}

/* cross_entropy(smoothing = eps, weights = w), as PyTorch (hprt_softmax_xent_opts):
 *   loss = Σ_rows [(1 − eps)·w_y·(lse − z_y) + eps/K·Σ_j w_j·(lse − z_j)] / Σ_rows w_y
 * over the whole batch, so every thread first sums the batch's w_y.  The row
 * sums stored are scaled by rows / Σ w_y: the driver's sum / rows is then the
 * weighted mean.  Row in R, label lab, maximum m; rows: the batch's loss rows. */
static void xent_opts_row(cg *g, LLVMValueRef row, LLVMValueRef lab, LLVMValueRef m, LLVMValueRef W, LLVMValueRef scale,
                          LLVMValueRef ginv, LLVMValueRef loss, LLVMValueRef dZ)
{
    long K = g->l->classes;
    double eps = g->e->loss_opts.smoothing;
    LLVMValueRef Z = OUT(g, g->l->scores);
    LLVMValueRef sum = ir_alloca(g->b, g->t_f64, ""), smooth = ir_alloca(g->b, g->t_f64, "");
    cg_loop J;
    LLVMBuildStore(g->b, cg_f64(g, 0), sum);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
    accumulate(g, sum, f64_of(g, cg_exp(g, fsub(g, cg_load_f(g, Z, iadd(g, row, J.i)), m))));
    cg_end(g, &J);
    LLVMValueRef s = LLVMBuildLoad2(g->b, g->t_f64, sum, "");
    LLVMValueRef lse = dadd(g, f64_of(g, m), cg_intrinsic1(g, "log", s));
    /* Σ_j w_j (lse − z_j) */
    LLVMBuildStore(g->b, cg_f64(g, 0), smooth);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
    LLVMValueRef wj = W ? f64_of(g, cg_load_f(g, W, J.i)) : cg_f64(g, 1);
    accumulate(g, smooth, dmul(g, wj, LLVMBuildFSub(g->b, lse, f64_of(g, cg_load_f(g, Z, iadd(g, row, J.i))), "")));
    cg_end(g, &J);
    LLVMValueRef wy = W ? f64_of(g, cg_load_f(g, W, lab)) : cg_f64(g, 1);
    LLVMValueRef nll = LLVMBuildFSub(g->b, lse, f64_of(g, cg_load_f(g, Z, iadd(g, row, lab))), "");
    LLVMValueRef lr = dadd(g, dmul(g, cg_f64(g, 1 - eps), dmul(g, wy, nll)),
                           dmul(g, cg_f64(g, eps / K), LLVMBuildLoad2(g->b, g->t_f64, smooth, "")));
    accumulate(g, loss, dmul(g, lr, scale));
    if (!dZ)
        return;
    /* dz_j = [(1 − eps)·w_y·(p_j − [j = y]) + eps/K·(Σ_k w_k·p_j − w_j)] / Σ_rows w_y */
    double wk = 0;
    for (long k = 0; k < K; k++)
        wk += W ? g->e->loss_opts.weights[k] : 1.0;
    LLVMValueRef inv = LLVMBuildFDiv(g->b, cg_f64(g, 1), s, "");
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
    LLVMValueRef k = iadd(g, row, J.i);
    LLVMValueRef p = dmul(g, f64_of(g, cg_exp(g, fsub(g, cg_load_f(g, Z, k), m))), inv);
    LLVMValueRef onehot = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, J.i, lab, ""), cg_f64(g, 1), cg_f64(g, 0), "");
    LLVMValueRef wj2 = W ? f64_of(g, cg_load_f(g, W, J.i)) : cg_f64(g, 1);
    LLVMValueRef gr = dadd(g, dmul(g, cg_f64(g, 1 - eps), dmul(g, wy, LLVMBuildFSub(g->b, p, onehot, ""))),
                           dmul(g, cg_f64(g, eps / K), LLVMBuildFSub(g->b, dmul(g, cg_f64(g, wk), p), wj2, "")));
    cg_store_f(g, LLVMBuildFPTrunc(g->b, dmul(g, gr, ginv), g->t_f32, ""), dZ, k);
    cg_end(g, &J);
}

/* mae, huber, bce: element j of a row against its target (the label itself
 * with one output, bit j of it for multi-label bce, else onehot), the row's
 * Σ_j l_j / K; dz = l'(z) / (rows·K). */
static void elementwise_row(cg *g, LLVMValueRef row, LLVMValueRef lab, LLVMValueRef loss, LLVMValueRef dZ, int B)
{
    long K = g->l->classes;
    plan_loss kind = g->e->loss;
    double delta = g->e->loss_opts.delta;
    LLVMValueRef Z = OUT(g, g->l->scores);
    LLVMValueRef sum = ir_alloca(g->b, g->t_f64, "");
    cg_loop J;
    LLVMBuildStore(g->b, cg_f64(g, 0), sum);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
    LLVMValueRef k = iadd(g, row, J.i);
    LLVMValueRef t = g->e->data.labels > 0
                         ? LLVMBuildUIToFP(g->b, LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, lab, J.i, ""), cg_i64(g, 1), ""),
                                           g->t_f64, "")
                     : K == 1 ? LLVMBuildSIToFP(g->b, lab, g->t_f64, "")
                              : LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, J.i, lab, ""), cg_f64(g, 1),
                                                cg_f64(g, 0), "");
    LLVMValueRef z = f64_of(g, cg_load_f(g, Z, k));
    LLVMValueRef d = LLVMBuildFSub(g->b, z, t, "");
    LLVMValueRef ad = cg_intrinsic1(g, "fabs", d);
    LLVMValueRef l = NULL, gr = NULL;
    switch (kind) {
    case PLAN_LOSS_MAE:
        l = ad;
        gr = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, d, cg_f64(g, 0), ""), cg_f64(g, 1),
                             LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, d, cg_f64(g, 0), ""), cg_f64(g, -1),
                                             cg_f64(g, 0), ""), "");
        break;
    case PLAN_LOSS_HUBER: {
        LLVMValueRef small = LLVMBuildFCmp(g->b, LLVMRealOLT, ad, cg_f64(g, delta), "");
        l = LLVMBuildSelect(g->b, small, dmul(g, cg_f64(g, 0.5), dmul(g, d, d)),
                            dmul(g, cg_f64(g, delta), LLVMBuildFSub(g->b, ad, cg_f64(g, 0.5 * delta), "")), "");
        gr = cg_intrinsic2(g, "minnum", cg_intrinsic2(g, "maxnum", d, cg_f64(g, -delta)), cg_f64(g, delta));
        break;
    }
    case PLAN_LOSS_BCE: {
        /* max(z, 0) − z·t + log(1 + exp(−|z|)); dz = sigmoid(z) − t */
        LLVMValueRef az = cg_intrinsic1(g, "fabs", z);
        LLVMValueRef e = cg_intrinsic1(g, "exp", LLVMBuildFNeg(g->b, az, ""));
        l = dadd(g, LLVMBuildFSub(g->b, cg_intrinsic2(g, "maxnum", z, cg_f64(g, 0)), dmul(g, z, t), ""),
                 cg_intrinsic1(g, "log", dadd(g, cg_f64(g, 1), e)));
        /* sigmoid without overflow: z ≥ 0: 1/(1 + e); z < 0: e/(1 + e) */
        LLVMValueRef inv = LLVMBuildFDiv(g->b, cg_f64(g, 1), dadd(g, cg_f64(g, 1), e), "");
        LLVMValueRef sg = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGE, z, cg_f64(g, 0), ""), inv,
                                          dmul(g, e, inv), "");
        gr = LLVMBuildFSub(g->b, sg, t, "");
        break;
    }
    case PLAN_LOSS_CROSS_ENTROPY: case PLAN_LOSS_MSE: case PLAN_LOSS__COUNT: /* loss_rows emits these */
        l = gr = cg_f64(g, 0);
        break;
    }
    accumulate(g, sum, l);
    if (dZ)
        cg_store_f(g, LLVMBuildFPTrunc(g->b, dmul(g, gr, cg_f64(g, 1.0 / ((double)B * K))), g->t_f32, ""), dZ, k);
    cg_end(g, &J);
    accumulate(g, loss, LLVMBuildFDiv(g->b, LLVMBuildLoad2(g->b, g->t_f64, sum, ""), cg_f64(g, (double)K), ""));
}

/* Loss (sum over rows), correct count and, when training, dL/dscores for rows [r0, r1).
 * The loss is the row of compiler/losses.def the experiment chose. */
static void loss_rows(cg *g, int B, LLVMValueRef r0, LLVMValueRef r1, bool train)
{
    long K = g->l->classes;
    LLVMValueRef Z = OUT(g, g->l->scores), dZ = train ? DOUT(g, g->l->scores) : NULL;
    const plan_loss_opts *o = &g->e->loss_opts;
    plan_loss kind = g->e->loss;
    bool ce = kind == PLAN_LOSS_CROSS_ENTROPY;
    LLVMValueRef W = ce ? class_weights(g) : NULL;
    bool ce_opts = ce && (o->smoothing != 0 || W); /* else the plain fused softmax cross-entropy below */
    LLVMValueRef loss = ir_alloca(g->b, g->t_f64, "loss"), correct = ir_alloca(g->b, g->t_i64, "correct");
    LLVMBuildStore(g->b, cg_f64(g, 0), loss);
    LLVMBuildStore(g->b, cg_i64(g, 0), correct);
    LLVMValueRef mx = ir_alloca(g->b, g->t_f32, ""), arg = ir_alloca(g->b, g->t_i64, "");
    LLVMValueRef sum = ir_alloca(g->b, g->t_f64, "");
    cg_loop R, J;
    /* a loss at every step: T rows of scores per sample, the mean over all of them */
    long ls = g->l->loss_steps;
    B *= (int)ls;
    LLVMValueRef scale = NULL, ginv = NULL;
    if (ce_opts) {
        /* the batch's loss rows (the evaluation step reads its rows from io) and Σ w_y over all of them */
        LLVMValueRef rows = train ? cg_i64(g, B)
                                  : imul(g, cg_io_field(g, offsetof(hprt_step_io, rows), g->t_i64), cg_i64(g, ls));
        LLVMValueRef rows64 = LLVMBuildSIToFP(g->b, rows, g->t_f64, "");
        if (W) {
            LLVMBuildStore(g->b, cg_f64(g, 0), sum);
            cg_for(g, &R, cg_i64(g, 0), rows);
            accumulate(g, sum, f64_of(g, cg_load_f(g, W, label_of(g, R.i))));
            cg_end(g, &R);
            LLVMValueRef ws = LLVMBuildLoad2(g->b, g->t_f64, sum, "");
            scale = LLVMBuildFDiv(g->b, rows64, ws, "");
            ginv = LLVMBuildFDiv(g->b, cg_f64(g, 1), ws, "");
        } else {
            scale = cg_f64(g, 1);
            ginv = LLVMBuildFDiv(g->b, cg_f64(g, 1), rows64, "");
        }
    }
    cg_for(g, &R, imul(g, r0, cg_i64(g, ls)), imul(g, r1, cg_i64(g, ls)));
    LLVMValueRef row = imul(g, R.i, cg_i64(g, K));
    LLVMValueRef lab = label_of(g, R.i);
    /* argmax (first maximum), which is also the max for the softmax */
    LLVMBuildStore(g->b, cg_load_f(g, Z, row), mx);
    LLVMBuildStore(g->b, cg_i64(g, 0), arg);
    cg_for(g, &J, cg_i64(g, 1), cg_i64(g, K));
    LLVMValueRef v = cg_load_f(g, Z, iadd(g, row, J.i));
    LLVMValueRef cur = LLVMBuildLoad2(g->b, g->t_f32, mx, "");
    LLVMValueRef better = LLVMBuildFCmp(g->b, LLVMRealOGT, v, cur, "");
    LLVMBuildStore(g->b, LLVMBuildSelect(g->b, better, v, cur, ""), mx);
    LLVMBuildStore(g->b, LLVMBuildSelect(g->b, better, J.i, LLVMBuildLoad2(g->b, g->t_i64, arg, ""), ""), arg);
    cg_end(g, &J);
    /* the predicted class: the argmax, or with one bce output, 1 when z > 0 (probability > 0.5) */
    LLVMValueRef pred = LLVMBuildLoad2(g->b, g->t_i64, arg, "");
    if (K == 1)
        pred = LLVMBuildZExt(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, cg_load_f(g, Z, row), cg_f32(g, 0), ""), g->t_i64, "");
    if (g->e->data.labels > 0) {
        /* multi-label: each (row, label) pair whose z > 0 (probability > 0.5) is its bit (Keras' binary_accuracy) */
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
        LLVMValueRef on = LLVMBuildZExt(
            g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, cg_load_f(g, Z, iadd(g, row, J.i)), cg_f32(g, 0), ""), g->t_i64, "");
        LLVMValueRef bit = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, lab, J.i, ""), cg_i64(g, 1), "");
        LLVMValueRef h = LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, on, bit, ""), g->t_i64, "");
        LLVMBuildStore(g->b, iadd(g, LLVMBuildLoad2(g->b, g->t_i64, correct, ""), h), correct);
        cg_end(g, &J);
    } else {
        LLVMValueRef hit = LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, pred, lab, ""), g->t_i64, "");
        LLVMBuildStore(g->b, iadd(g, LLVMBuildLoad2(g->b, g->t_i64, correct, ""), hit), correct);
    }
    LLVMValueRef m = LLVMBuildLoad2(g->b, g->t_f32, mx, "");
    if (ce_opts) {
        xent_opts_row(g, row, lab, m, W, scale, ginv, loss, dZ);
    } else if (ce) {
        LLVMValueRef zl = cg_load_f(g, Z, iadd(g, row, lab));
        /* loss = m + log(sum exp(z - m)) - z[label]; dz = (softmax - onehot) / B */
        LLVMBuildStore(g->b, cg_f64(g, 0), sum);
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
        LLVMValueRef ex = cg_exp(g, fsub(g, cg_load_f(g, Z, iadd(g, row, J.i)), m));
        LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->t_f64, sum, ""), LLVMBuildFPExt(g->b, ex, g->t_f64, ""), ""),
                       sum);
        cg_end(g, &J);
        LLVMValueRef s = LLVMBuildLoad2(g->b, g->t_f64, sum, "");
        LLVMValueRef lse = LLVMBuildFAdd(g->b, LLVMBuildFPExt(g->b, m, g->t_f64, ""), cg_intrinsic1(g, "log", s), "");
        LLVMValueRef lr = LLVMBuildFSub(g->b, lse, LLVMBuildFPExt(g->b, zl, g->t_f64, ""), "");
        LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->t_f64, loss, ""), lr, ""), loss);
        if (train) {
            LLVMValueRef inv = LLVMBuildFPTrunc(g->b, LLVMBuildFDiv(g->b, cg_f64(g, 1), s, ""), g->t_f32, "");
            cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
            LLVMValueRef k = iadd(g, row, J.i);
            LLVMValueRef p = fmul(g, cg_exp(g, fsub(g, cg_load_f(g, Z, k), m)), inv);
            LLVMValueRef onehot = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, J.i, lab, ""), cg_f32(g, 1), cg_f32(g, 0), "");
            cg_store_f(g, fmul(g, fsub(g, p, onehot), cg_f32(g, 1.0 / B)), dZ, k);
            cg_end(g, &J);
        }
    } else if (kind == PLAN_LOSS_MSE) {
        /* mse against one-hot: loss = sum (z - t)^2 / K per row; dz = 2 (z - t) / (B K) */
        LLVMBuildStore(g->b, cg_f64(g, 0), sum);
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, K));
        LLVMValueRef k = iadd(g, row, J.i);
        LLVMValueRef t = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, J.i, lab, ""), cg_f32(g, 1), cg_f32(g, 0), "");
        LLVMValueRef d = fsub(g, cg_load_f(g, Z, k), t);
        LLVMValueRef d64 = LLVMBuildFPExt(g->b, d, g->t_f64, "");
        LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->t_f64, sum, ""), LLVMBuildFMul(g->b, d64, d64, ""), ""), sum);
        if (train)
            cg_store_f(g, fmul(g, d, cg_f32(g, 2.0 / ((double)B * K))), dZ, k);
        cg_end(g, &J);
        LLVMValueRef rl = LLVMBuildFDiv(g->b, LLVMBuildLoad2(g->b, g->t_f64, sum, ""), cg_f64(g, (double)K), "");
        LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->t_f64, loss, ""), rl, ""), loss);
    } else {
        elementwise_row(g, row, lab, loss, dZ, B);
    }
    cg_end(g, &R);
    LLVMValueRef slot = LLVMBuildMul(g->b, g->tid, cg_i64(g, 8), "");
    LLVMValueRef lp = LLVMBuildInBoundsGEP2(g->b, g->t_i8, cg_io_field_ptr(g, offsetof(hprt_step_io, loss)), &slot, 1, "");
    LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->t_f64, loss, ""), lp);
    LLVMValueRef cp = LLVMBuildInBoundsGEP2(g->b, g->t_i8, cg_io_field_ptr(g, offsetof(hprt_step_io, correct)), &slot, 1, "");
    LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->t_i64, correct, ""), cp);
}

/* ---- backward ---- */

/* Does layer i need dL/d(its input)? Not when everything before it is the input. */
static bool needs_dinput(cg *g, int i)
{
    int in = g->l->layers[i].in_layer;
    while (in > 0 && plan_layer_has(g->e->layers[in].kind, PLAN_LK_VIEW))
        in = g->l->layers[in].in_layer;
    return in > 0;
}

/* The arguments of hprt_conv2d_backward_bn (without CB_BN: _epi's). */
enum { CB_GEOM, CB_X, CB_W, CB_Y, CB_DP, CB_DY, CB_DX, CB_DW, CB_DB, CB_B, CB_SCRATCH, CB_EPI, CB_BN, CB__COUNT };

/* HPC_PROFILE: conv's backward as two calls, the data gradient and then the
 * weight gradients (the same sums), the second's time moved from the layer's
 * data-gradient slot to its weight-gradient slot.  The first call forms dY
 * (the epilogue's backward); the second reads it. */
static void conv_backward_profiled(cg *g, int i, LLVMValueRef *args, LLVMTypeRef *p)
{
    LLVMTypeRef fnty = LLVMFunctionType(g->t_void, p, CB__COUNT, 0);
    LLVMValueRef null = LLVMConstPointerNull(g->t_ptr), a[CB__COUNT];
    memcpy(a, args, sizeof a);
    bool data = !LLVMIsNull(args[CB_DX]);
    if (data) {
        a[CB_DW] = a[CB_DB] = null;
        cg_call(g, "hprt_conv2d_backward_bn", fnty, a, CB__COUNT);
    }
    LLVMValueRef all = buf(g, "prof", 0, MEM(acts), g->l->prof, (long)g->threads * g->l->prof_stride);
    LLVMValueRef mine = cg_fptr(g, all, imul(g, g->tid, cg_i64(g, g->l->prof_stride)));
    LLVMValueRef t0 = cg_call(g, "hprt_prof_now", LLVMFunctionType(g->t_i64, NULL, 0, 0), NULL, 0);
    memcpy(a, args, sizeof a);
    a[CB_DX] = null;
    if (data)
        a[CB_EPI] = cg_i32(g, 0);
    cg_call(g, "hprt_conv2d_backward_bn", fnty, a, CB__COUNT);
    LLVMTypeRef q[3] = {g->t_ptr, g->t_ptr, g->t_i64};
    LLVMValueRef m[3] = {cg_fptr(g, mine, cg_i64(g, ((long)i * CG_PROF__COUNT + CG_PROF_WGRAD) * 2)),
                         cg_fptr(g, mine, cg_i64(g, ((long)i * CG_PROF__COUNT + CG_PROF_DGRAD) * 2)), t0};
    cg_call(g, "hprt_prof_move", LLVMFunctionType(g->t_void, q, 3, 0), m, 3);
}

/* A dense layer with at most this many outputs (a classifier's 10) does not
 * call a GEMM for its data gradient dX = dY·W: the backward loop of the layer
 * before it (with its fused dropout) computes each element's K-term product
 * itself, reading dY's row and a column of W (K·F floats, in L1), and writes
 * only the gradient before that layer's activation.  OpenBLAS spends more on
 * packing, zeroing and storing dX than on the K multiply-adds. */
enum { CG_SMALL_K = 16 };

/* The dense layer whose small data-gradient product the training step's
 * backward of dense layer i computes in i's own loop (above), or -1. */
static int small_product_of(cg *g, int i)
{
    const cg_layout *l = g->l;
    const plan_experiment *e = g->e;
    if (e->layers[i].kind != PLAN_DENSE || l->layers[i].skip || fused_act(g, i) == PLAN_ACT_SOFTMAX || l->scores == i)
        return -1;
    int d = fused_dropout(g, i);
    int j = (d >= 0 ? d : i) + 1;
    if (j >= e->n_layers || e->layers[j].kind != PLAN_DENSE)
        return -1;
    const cg_layer_layout *J = &l->layers[j];
    if (J->skip || J->in_layer != j - 1 || J->steps != l->layers[i].steps || J->out_size / J->steps > CG_SMALL_K ||
        J->fan_in != l->layers[i].out_size / l->layers[i].steps)
        return -1;
    return j;
}

/* Is dense layer j's data gradient computed by the layer before it (small_product_of)? */
static bool product_fused(cg *g, int j)
{
    return (j >= 2 && small_product_of(g, j - 1) == j) || (j >= 3 && small_product_of(g, j - 2) == j);
}

/* Σ_k dY_j[row, k] · W_j[k, f] for dense layer j, k in order (multiply-adds from +0, as a GEMM's accumulator). */
static LLVMValueRef small_product(cg *g, int j, LLVMValueRef row, LLVMValueRef f)
{
    const cg_layer_layout *L = &g->l->layers[j];
    long K = L->out_size / L->steps, F = L->fan_in;
    LLVMValueRef dY = DOUT(g, j), W = PARAM(g, "", j, false);
    LLVMValueRef base = imul(g, row, cg_i64(g, K));
    LLVMValueRef acc = cg_f32(g, 0);
    for (long k = 0; k < K; k++)
        acc = cg_intrinsic3(g, "fmuladd", cg_load_f(g, dY, iadd(g, base, cg_i64(g, k))),
                            cg_load_f(g, W, iadd(g, f, cg_i64(g, k * F))), acc);
    return acc;
}

/* The backward of dense layer i and its fused dropout d, rows [r0, r1) of
 * samples: dL/d(i's pre-activation) from dL/d(d's output), in one pass, with
 * exactly the operations of mask_rows and then the activation's backward.
 * After relu the mask is not recomputed: d's output y·scale is > 0 exactly
 * when relu's output y is > 0 and the element was kept (scale >= 1, so a
 * positive y stays positive; a NaN compares false in both), which is where
 * the two-pass form gives dy·scale, and +0 everywhere else. */
static void drop_act_backward(cg *g, int i, int d, LLVMValueRef r0, LLVMValueRef r1)
{
    const cg_layer_layout *L = &g->l->layers[i];
    plan_act a = fused_act(g, i);
    long U = L->out_size / L->steps;
    size_t site = (size_t)g->l->layers[d].dropout_site;
    LLVMValueRef key = cg_io_field(g, offsetof(hprt_step_io, dropout_key) + 8 * site, g->t_i64);
    LLVMValueRef thr = cg_io_field(g, offsetof(hprt_step_io, dropout_threshold) + 4 * site, g->t_i32);
    LLVMValueRef scale = cg_io_field(g, offsetof(hprt_step_io, dropout_scale) + 4 * site, g->t_f32);
    LLVMValueRef dY = DOUT(g, d), dX = DOUT(g, i), Yd = OUT(g, d), Y = OUT(g, i);
    LLVMValueRef P = L->pre >= 0 ? PRE(g, i) : NULL;
    per_step_rows(g, L, &r0, &r1);
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    LLVMValueRef k = iadd(g, row, J.i);
    int sp = small_product_of(g, i); /* dY, the next layer's product, computed here and not stored */
    LLVMValueRef v = fmul(g, sp >= 0 ? small_product(g, sp, R.i, J.i) : cg_load_f(g, dY, k), scale);
    if (a == PLAN_ACT_RELU) {
        v = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, cg_load_f(g, Yd, k), cg_f32(g, 0), ""), v, cg_f32(g, 0), "");
    } else {
        v = LLVMBuildSelect(g->b, keep_test(g, key, k, thr, L->steps * U), v, cg_f32(g, 0), "");
        v = cg_act_backward(g, a, cg_load_f(g, Y, k), P ? cg_load_f(g, P, k) : NULL, v);
    }
    cg_store_f(g, v, dX, k);
    cg_end(g, &J);
    cg_end(g, &R);
}

static void backward_layer(cg *g, int i, LLVMValueRef r0, LLVMValueRef r1)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    if (L->skip || pl->kind == PLAN_INPUT || plan_layer_has(pl->kind, PLAN_LK_VIEW))
        return;
    bool dx = needs_dinput(g, i);
    switch (pl->kind) {
    case PLAN_EMBED: case PLAN_EMBED_COLUMNS: /* nothing before the ids; its gradient is a weight gradient */
        return;
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
        rnn_backward(g, i, r0, r1, dx);
        return;
    case PLAN_LAST:
        if (dx)
            last_backward(g, i, r0, r1);
        return;
    case PLAN_DENSE: case PLAN_LAYERNORM:
        per_step_rows(g, L, &r0, &r1);
        break;
    case PLAN_INPUT: case PLAN_FLATTEN: /* nothing to compute (returned above) */
    case PLAN_DROPOUT: case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX:
    case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_BATCHNORM:
        break;
    }
    int in = L->in_layer;
    long U = L->out_size / L->steps, F = g->l->layers[in].out_size / L->steps;
    LLVMValueRef M = isub(g, r1, r0);
    LLVMValueRef Y = OUT(g, i), dY = DOUT(g, i);
    LLVMValueRef X = OUT(g, in), dX = dx ? DOUT(g, in) : NULL;
    LLVMValueRef Xr = cg_fptr(g, X, imul(g, r0, cg_i64(g, F)));
    LLVMValueRef dXr = dx ? cg_fptr(g, dX, imul(g, r0, cg_i64(g, F))) : LLVMConstPointerNull(g->t_ptr);
    LLVMValueRef dYr = cg_fptr(g, dY, imul(g, r0, cg_i64(g, U)));
    cg_loop R, J;
    switch (pl->kind) {
    case PLAN_DENSE:
    case PLAN_CONV: {
        plan_act a = fused_act(g, i);
        /* through the activation, in place: dY becomes dL/d(pre-activation)
         * (after a fused dropout, its backward wrote that already) */
        int sp = pl->kind == PLAN_DENSE ? small_product_of(g, i) : -1;
        int pool = -1, epi = pl->kind == PLAN_CONV ? conv_epi(g, i, &pool) : 0;
        if (fused_dropout(g, i) >= 0 || epi) { /* (a conv's epilogue: in its kernel) */
        } else if (a == PLAN_ACT_SOFTMAX) {
            softmax_backward_rows(g, Y, dY, dY, U, r0, r1);
        } else if (a != PLAN_ACT_NONE || sp >= 0) {
            LLVMValueRef P = L->pre >= 0 ? PRE(g, i) : NULL;
            cg_for(g, &R, r0, r1);
            LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
            cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
            LLVMValueRef k = iadd(g, row, J.i);
            LLVMValueRef d = sp >= 0 ? small_product(g, sp, R.i, J.i) : cg_load_f(g, dY, k);
            cg_store_f(g, cg_act_backward(g, a, cg_load_f(g, Y, k), P ? cg_load_f(g, P, k) : NULL, d), dY, k);
            cg_end(g, &J);
            cg_end(g, &R);
        }
        if (pl->kind == PLAN_DENSE) {
            if (dx && !product_fused(g, i))
                cg_gemm(g, 0, 0, M, F, U, dYr, U, PARAM(g, "", i, false), F, 0, dXr, F);
        } else {
            /* the thread's own weight gradients go to its scratch; the weight phase sums them */
            hprt_conv2d_geom geo = conv_geom(pl);
            LLVMValueRef scratch = buf(g, "scratch", i, MEM(acts), L->scratch, (long)g->threads * (L->w_size + L->b_size));
            LLVMValueRef mine = cg_fptr(g, scratch, imul(g, g->tid, cg_i64(g, L->w_size + L->b_size)));
            LLVMValueRef mine_b = cg_fptr(g, mine, cg_i64(g, L->w_size));
            LLVMTypeRef p[CB__COUNT];
            LLVMValueRef args[CB__COUNT];
            for (int k = 0; k < CB__COUNT; k++)
                p[k] = g->t_ptr;
            p[CB_B] = p[CB_EPI] = g->t_i32;
            int bn = conv_bn(g, i); /* its batchnorm's dx formed as dY (dP: the batchnorm's dy) */
            args[CB_GEOM] = geom_const(g, &geo, sizeof geo, i);
            args[CB_X] = Xr;
            args[CB_W] = PARAM(g, "", i, false);
            args[CB_Y] = cg_fptr(g, Y, imul(g, r0, cg_i64(g, U)));
            args[CB_DP] = pool >= 0 ? cg_fptr(g, DOUT(g, pool), imul(g, r0, cg_i64(g, g->l->layers[pool].out_size)))
                          : bn >= 0 ? cg_fptr(g, DOUT(g, bn), imul(g, r0, cg_i64(g, U)))
                                    : LLVMConstPointerNull(g->t_ptr);
            args[CB_DY] = dYr;
            args[CB_DX] = dXr;
            args[CB_DW] = mine;
            args[CB_DB] = mine_b;
            args[CB_B] = LLVMBuildTrunc(g->b, M, g->t_i32, "");
            args[CB_SCRATCH] = cols_of(g, i);
            args[CB_EPI] = cg_i32(g, bn >= 0 ? HPRT_CONV_BN : epi);
            args[CB_BN] = bn >= 0 ? cg_batchnorm_dx_coefs(g, BNSTATS(g, bn), g->l->layers[bn].width)
                                  : LLVMConstPointerNull(g->t_ptr);
            if (g->l->prof >= 0) /* profiled: the data and the weight gradients apart */
                conv_backward_profiled(g, i, args, p);
            else
                cg_call(g, "hprt_conv2d_backward_bn", LLVMFunctionType(g->t_void, p, CB__COUNT, 0), args, CB__COUNT);
        }
        break;
    }
    case PLAN_MAXPOOL:
    case PLAN_AVGPOOL: {
        if (!dx || (pl->kind == PLAN_MAXPOOL && epi_fused(g, i)))
            break; /* (fused: its conv's or batchnorm's backward forms the gradient) */
        hprt_pool2d_geom geo = pool_geom(pl);
        LLVMValueRef gc = geom_const(g, &geo, sizeof geo, i);
        LLVMValueRef Mi = LLVMBuildTrunc(g->b, M, g->t_i32, "");
        if (pl->kind == PLAN_MAXPOOL) {
            LLVMTypeRef p[5] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_i32};
            LLVMValueRef args[5] = {gc, Xr, dYr, dXr, Mi};
            cg_call(g, "hprt_maxpool2d_backward_fast", LLVMFunctionType(g->t_void, p, 5, 0), args, 5);
        } else {
            LLVMTypeRef p[4] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_i32};
            LLVMValueRef args[4] = {gc, dYr, dXr, Mi};
            cg_call(g, "hprt_avgpool2d_backward", LLVMFunctionType(g->t_void, p, 4, 0), args, 4);
        }
        break;
    }
    case PLAN_DROPOUT:
        if (dx && fused_dropout(g, in) == i)
            drop_act_backward(g, in, i, r0, r1);
        else if (dx)
            mask_rows(g, L->dropout_site, dY, dX, U, r0, r1);
        break;
    case PLAN_SOFTMAX:
        if (dx)
            softmax_backward_rows(g, Y, dY, dX, U, r0, r1);
        break;
    case PLAN_LAYERNORM: /* its weight gradients are layer_grads' */
        if (dx)
            cg_layernorm_backward(g, X, PARAM(g, "", i, false), NORM(g, i), dY, dX, U, r0, r1);
        break;
    case PLAN_BATCHNORM: { /* the partial sums of dw, db always (with the other threads) */
        long C = L->width, Sp = L->out_size / C;
        cg_bn_epi eb;
        cg_batchnorm_backward(g, X, PARAM(g, "", i, false), BNSTATS(g, i), dY, dx ? dX : NULL, C, Sp,
                              (long)S(g)->batch * Sp, bn_epi(g, i, &eb), dx && bn_fused(g, i), r0, r1);
        break;
    }
    case PLAN_INPUT: case PLAN_FLATTEN: case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_LAST:
    case PLAN_EMBED_COLUMNS:
        break; /* handled above */
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU:
        if (!dx || epi_fused(g, i))
            break; /* (fused: its batchnorm's backward forms the gradient) */
        cg_for(g, &R, r0, r1);
        LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
        LLVMValueRef k = iadd(g, row, J.i);
        cg_store_f(g, cg_act_backward(g, pl->act, cg_load_f(g, Y, k), cg_load_f(g, X, k), cg_load_f(g, dY, k)), dX, k);
        cg_end(g, &J);
        cg_end(g, &R);
    }
}

/* ---- weight gradients and the optimizer ---- */

/* The optimizer's numbers, read from hprt_step_io once per step: every
 * hyperparameter is a run-time input (one compiled step serves trials that
 * differ only in them).  What stays compile-time is what changes the state
 * arrays (amsgrad, centered) and whether a schedule cycles the momentum. */
typedef struct {
    LLVMValueRef lr, mu, damp_keep, first, b1w, step_size, bc2_sqrt, decay_keep, clr;
    LLVMValueRef wd, b2, one_minus_b2, eps, alpha, one_minus_alpha; /* f32 */
    LLVMValueRef use_wd, use_momentum, nesterov;                     /* i1 */
    LLVMValueRef clip_coef; /* NULL without clipping (data-parallel: also the gradient's scale) */
    LLVMValueRef grads;     /* data-parallel: where the tensor's summed gradients are (NULL: its gradient buffer) */
    LLVMValueRef l1;        /* f32, regularize = l1(lambda); NULL when the experiment has no l1 */
} step_numbers;

static LLVMValueRef lerp(cg *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef w)
{
    /* torch.lerp: two forms so that w near 1 stays accurate */
    LLVMValueRef small = LLVMBuildAnd(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, w, cg_f32(g, 0.5), ""),
                                      LLVMBuildFCmp(g->b, LLVMRealOGT, w, cg_f32(g, -0.5), ""), "");
    LLVMValueRef d = fsub(g, b, a);
    return LLVMBuildSelect(g->b, small, fadd(g, a, fmul(g, w, d)), fsub(g, b, fmul(g, d, fsub(g, cg_f32(g, 1), w))), "");
}

static LLVMValueRef sel(cg *g, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(g->b, c, a, b, ""); }

/* g + wd·θ when the step's weight decay is on (L2, added to the gradient) */
static LLVMValueRef l2(cg *g, const step_numbers *n, LLVMValueRef gr, LLVMValueRef th)
{
    return sel(g, n->use_wd, fadd(g, gr, fmul(g, n->wd, th)), gr);
}

/* The update of elements [lo, hi) of parameter tensor (layer i, bias or weights), as hprt_optim_step_range. */
static void update_range(cg *g, int i, bool bias, LLVMValueRef lo, LLVMValueRef hi, const step_numbers *n)
{
    const hprt_optimizer *o = &g->e->optimizer;
    LLVMValueRef TH = PARAM(g, "", i, bias), G = n->grads ? n->grads : PARAM(g, "d", i, bias);
    bool cycled = false;
    for (const hprt_schedule *s = &g->e->schedule; s; s = s->kind == HPRT_SCHED_WARMUP ? s->then : NULL)
        cycled |= (s->kind == HPRT_SCHED_CYCLIC || s->kind == HPRT_SCHED_ONE_CYCLE) && s->cycle_momentum;
    /* the momentum buffer is used when a schedule cycles the momentum, else when the step's momentum is on */
    LLVMValueRef use_buf = cycled ? LLVMConstInt(g->t_i1, 1, 0) : n->use_momentum;
    cg_loop L;
    cg_for(g, &L, lo, hi);
    LLVMValueRef k = L.i;
    LLVMValueRef th = cg_load_f(g, TH, k), gr = cg_load_f(g, G, k);
    if (n->clip_coef)
        gr = fmul(g, gr, n->clip_coef);
    if (n->l1) { /* g + λ·sign(θ), before the optimizer (and its weight decay) reads g; sign(0) = 0 */
        LLVMValueRef pos = LLVMBuildFCmp(g->b, LLVMRealOGT, th, cg_f32(g, 0), "");
        LLVMValueRef neg = LLVMBuildFCmp(g->b, LLVMRealOLT, th, cg_f32(g, 0), "");
        gr = fadd(g, gr, sel(g, pos, n->l1, sel(g, neg, LLVMBuildFNeg(g->b, n->l1, ""), cg_f32(g, 0))));
    }
    switch (o->kind) {
    case HPRT_OPT_SGD: {
        gr = l2(g, n, gr, th);
        LLVMValueRef BUF = PARAM(g, "buf", i, bias);
        LLVMValueRef b = cg_load_f(g, BUF, k);
        LLVMValueRef nb = sel(g, n->first, gr, fadd(g, fmul(g, b, n->mu), fmul(g, n->damp_keep, gr)));
        cg_store_f(g, sel(g, use_buf, nb, b), BUF, k);
        gr = sel(g, use_buf, sel(g, n->nesterov, fadd(g, gr, fmul(g, n->mu, nb)), nb), gr);
        th = fsub(g, th, fmul(g, n->lr, gr));
        break;
    }
    case HPRT_OPT_ADAM:
    case HPRT_OPT_ADAMW: {
        if (o->kind == HPRT_OPT_ADAMW)
            th = fmul(g, th, n->decay_keep);
        else
            gr = l2(g, n, gr, th);
        LLVMValueRef Mm = PARAM(g, "m", i, bias), V = PARAM(g, "v", i, bias);
        LLVMValueRef m = lerp(g, cg_load_f(g, Mm, k), gr, n->b1w);
        cg_store_f(g, m, Mm, k);
        LLVMValueRef v = fadd(g, fmul(g, cg_load_f(g, V, k), n->b2), fmul(g, fmul(g, n->one_minus_b2, gr), gr));
        cg_store_f(g, v, V, k);
        LLVMValueRef vhat = v;
        if (o->amsgrad) {
            LLVMValueRef VM = PARAM(g, "vmax", i, bias);
            LLVMValueRef vm = cg_load_f(g, VM, k);
            vhat = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, vm, v, ""), vm, v, "");
            cg_store_f(g, vhat, VM, k);
        }
        LLVMValueRef denom = fadd(g, fdiv(g, cg_intrinsic1(g, "sqrt", vhat), n->bc2_sqrt), n->eps);
        th = fsub(g, th, fdiv(g, fmul(g, n->step_size, m), denom));
        break;
    }
    case HPRT_OPT_ADAMAX: {
        gr = l2(g, n, gr, th);
        LLVMValueRef Mm = PARAM(g, "m", i, bias), U = PARAM(g, "v", i, bias);
        LLVMValueRef m = lerp(g, cg_load_f(g, Mm, k), gr, n->b1w);
        cg_store_f(g, m, Mm, k);
        /* exp_inf = max(β2·u, |g| + eps), NaN-propagating as torch.maximum */
        LLVMValueRef a = fmul(g, cg_load_f(g, U, k), n->b2), b = fadd(g, cg_intrinsic1(g, "fabs", gr), n->eps);
        LLVMValueRef take_a = LLVMBuildOr(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, a, b, ""),
                                          LLVMBuildFCmp(g->b, LLVMRealUNO, a, a, ""), "");
        LLVMValueRef u = sel(g, take_a, a, b);
        cg_store_f(g, u, U, k);
        th = fsub(g, th, fdiv(g, fmul(g, n->step_size, m), u));
        break;
    }
    case HPRT_OPT_ADAGRAD: {
        gr = l2(g, n, gr, th);
        LLVMValueRef SUM = PARAM(g, "sum", i, bias);
        LLVMValueRef s = fadd(g, cg_load_f(g, SUM, k), fmul(g, gr, gr));
        cg_store_f(g, s, SUM, k);
        LLVMValueRef sd = fadd(g, cg_intrinsic1(g, "sqrt", s), n->eps);
        th = fsub(g, th, fdiv(g, fmul(g, n->clr, gr), sd));
        break;
    }
    case HPRT_OPT_RMSPROP: {
        gr = l2(g, n, gr, th);
        LLVMValueRef V = PARAM(g, "v", i, bias);
        LLVMValueRef v = fadd(g, fmul(g, cg_load_f(g, V, k), n->alpha), fmul(g, fmul(g, n->one_minus_alpha, gr), gr));
        cg_store_f(g, v, V, k);
        LLVMValueRef avg;
        if (o->centered) {
            LLVMValueRef GA = PARAM(g, "ga", i, bias);
            LLVMValueRef ga = lerp(g, cg_load_f(g, GA, k), gr, n->one_minus_alpha);
            cg_store_f(g, ga, GA, k);
            avg = cg_intrinsic1(g, "sqrt", fsub(g, v, fmul(g, ga, ga)));
        } else {
            avg = cg_intrinsic1(g, "sqrt", v);
        }
        avg = fadd(g, avg, n->eps);
        LLVMValueRef BUF = PARAM(g, "buf", i, bias);
        LLVMValueRef b0 = cg_load_f(g, BUF, k);
        LLVMValueRef b = fadd(g, fmul(g, b0, n->mu), fdiv(g, gr, avg));
        cg_store_f(g, sel(g, use_buf, b, b0), BUF, k);
        th = sel(g, use_buf, fsub(g, th, fmul(g, n->lr, b)), fsub(g, th, fdiv(g, fmul(g, n->lr, gr), avg)));
        break;
    }
    case HPRT_OPT__COUNT:
        break;
    }
    cg_store_f(g, th, TH, k);
    cg_end(g, &L);
}

/* Sum of squares of elements [lo, hi) of a gradient tensor into the double at acc. */
static void sumsq(cg *g, LLVMValueRef G, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef acc)
{
    cg_loop L;
    cg_for(g, &L, lo, hi);
    LLVMValueRef v = LLVMBuildFPExt(g->b, cg_load_f(g, G, L.i), g->t_f64, "");
    LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->t_f64, acc, ""), LLVMBuildFMul(g->b, v, v, ""), ""), acc);
    cg_end(g, &L);
}

/* The weight gradients of layer i for the thread's output neurons [j0, j1). */
static void weight_grads(cg *g, int i, int B, LLVMValueRef j0, LLVMValueRef j1)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    long U = L->b_size, F = L->fan_in;
    LLVMValueRef dW = PARAM(g, "d", i, false), db = PARAM(g, "d", i, true);
    cg_loop R, J;
    if (pl->kind == PLAN_DENSE) {
        B *= L->steps;
        LLVMValueRef dY = DOUT(g, i), X = OUT(g, L->in_layer);
        /* dW[j0:j1] = dY[:, j0:j1]^T X */
        cg_gemm_mn(g, 1, 0, isub(g, j1, j0), cg_i64(g, F), B, cg_fptr(g, dY, j0), U, X, F, 0,
                   cg_fptr(g, dW, imul(g, j0, cg_i64(g, F))), F);
        cg_for(g, &J, j0, j1);
        cg_store_f(g, cg_f32(g, 0), db, J.i);
        cg_end(g, &J);
        cg_for(g, &R, cg_i64(g, 0), cg_i64(g, B));
        LLVMValueRef row = imul(g, R.i, cg_i64(g, U));
        cg_for(g, &J, j0, j1);
        cg_store_f(g, fadd(g, cg_load_f(g, db, J.i), cg_load_f(g, dY, iadd(g, row, J.i))), db, J.i);
        cg_end(g, &J);
        cg_end(g, &R);
    } else { /* conv: the sum of the threads' scratch gradients */
        long per = L->w_size + L->b_size;
        LLVMValueRef scratch = buf(g, "scratch", i, MEM(acts), L->scratch, (long)g->threads * per);
        LLVMValueRef wlo = imul(g, j0, cg_i64(g, F)), whi = imul(g, j1, cg_i64(g, F));
        cg_for(g, &J, wlo, whi);
        LLVMValueRef s = cg_load_f(g, scratch, J.i);
        for (int t = 1; t < g->threads; t++)
            s = fadd(g, s, cg_load_f(g, scratch, iadd(g, J.i, cg_i64(g, (long)t * per))));
        cg_store_f(g, s, dW, J.i);
        cg_end(g, &J);
        cg_for(g, &J, j0, j1);
        LLVMValueRef k = iadd(g, J.i, cg_i64(g, L->w_size));
        s = cg_load_f(g, scratch, k);
        for (int t = 1; t < g->threads; t++)
            s = fadd(g, s, cg_load_f(g, scratch, iadd(g, k, cg_i64(g, (long)t * per))));
        cg_store_f(g, s, db, J.i);
        cg_end(g, &J);
    }
}

static step_numbers load_step_numbers(cg *g)
{
    step_numbers n = {0};
    n.lr = cg_io_field(g, offsetof(hprt_step_io, lr), g->t_f32);
    n.mu = cg_io_field(g, offsetof(hprt_step_io, mu), g->t_f32);
    n.damp_keep = cg_io_field(g, offsetof(hprt_step_io, damp_keep), g->t_f32);
    n.first = LLVMBuildICmp(g->b, LLVMIntNE, cg_io_field(g, offsetof(hprt_step_io, first), g->t_i32), cg_i32(g, 0), "");
    n.b1w = cg_io_field(g, offsetof(hprt_step_io, b1_weight), g->t_f32);
    n.step_size = cg_io_field(g, offsetof(hprt_step_io, step_size), g->t_f32);
    n.bc2_sqrt = cg_io_field(g, offsetof(hprt_step_io, bc2_sqrt), g->t_f32);
    n.decay_keep = cg_io_field(g, offsetof(hprt_step_io, decay_keep), g->t_f32);
    n.clr = cg_io_field(g, offsetof(hprt_step_io, clr), g->t_f32);
    n.wd = cg_io_field(g, offsetof(hprt_step_io, wd), g->t_f32);
    n.b2 = cg_io_field(g, offsetof(hprt_step_io, b2), g->t_f32);
    n.one_minus_b2 = cg_io_field(g, offsetof(hprt_step_io, one_minus_b2), g->t_f32);
    n.eps = cg_io_field(g, offsetof(hprt_step_io, eps), g->t_f32);
    n.alpha = cg_io_field(g, offsetof(hprt_step_io, alpha), g->t_f32);
    n.one_minus_alpha = cg_io_field(g, offsetof(hprt_step_io, one_minus_alpha), g->t_f32);
    n.use_wd = LLVMBuildICmp(g->b, LLVMIntNE, cg_io_field(g, offsetof(hprt_step_io, use_wd), g->t_i32), cg_i32(g, 0), "");
    n.use_momentum =
        LLVMBuildICmp(g->b, LLVMIntNE, cg_io_field(g, offsetof(hprt_step_io, use_momentum), g->t_i32), cg_i32(g, 0), "");
    n.nesterov = LLVMBuildICmp(g->b, LLVMIntNE, cg_io_field(g, offsetof(hprt_step_io, nesterov), g->t_i32), cg_i32(g, 0), "");
    if (g->e->regularize.l1 > 0) /* compiled in only when set: the step of every other experiment is unchanged */
        n.l1 = cg_io_field(g, offsetof(hprt_step_io, l1), g->t_f32);
    return n;
}

static bool has_params(const plan_layer *pl) { return plan_layer_has(pl->kind, PLAN_LK_PARAMS); }

/* Elements [lo, hi) of layer's weights (or bias) that one thread owns. */
typedef struct {
    int layer;
    bool bias;
    LLVMValueRef lo, hi;
} param_range;

/* The gradients of the thread's part of layer i's parameters (split by output
 * neuron, embedding row or gate row); returns the ranges they fill. */
static int layer_grads(cg *g, int i, int B, param_range *out)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    LLVMValueRef j0, j1;
    switch (pl->kind) {
    case PLAN_EMBED: {
        long T = L->steps, D = pl->units;
        cg_partition(g, pl->vocab, &j0, &j1);
        out[0] = (param_range){i, false, imul(g, j0, cg_i64(g, D)), imul(g, j1, cg_i64(g, D))};
        if (L->fold_by >= 0) { /* dE = S·W_ih over the threads' S */
            int f = L->fold_by;
            const cg_layer_layout *F = &g->l->layers[f];
            long GH = F->fold_n / F->fold_v;
            LLVMTypeRef p[9] = {g->t_ptr, g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_ptr, g->t_i32, g->t_i32, g->t_ptr};
            LLVMValueRef args[9] = {fold_buf(g, f, cg_i64(g, 0)), cg_i32(g, g->threads), cg_i32(g, F->fold_v), cg_i32(g, GH),
                                    cg_i32(g, D), rnn_sub(g, f, 0, true).Wih, i32v(g, j0), i32v(g, j1), PARAM(g, "d", i, false)};
            cg_call(g, "hprt_embed_rnn_grad_E", LLVMFunctionType(g->t_void, p, 9, 0), args, 9);
            return 1;
        }
        LLVMTypeRef p[7] = {g->t_ptr, g->t_i32, g->t_i32, g->t_ptr, g->t_i32, g->t_i32, g->t_ptr};
        LLVMValueRef args[7] = {IDS(g), cg_i32(g, (long)B * T), cg_i32(g, D), DOUT(g, i), i32v(g, j0), i32v(g, j1),
                                PARAM(g, "d", i, false)};
        cg_call(g, "hprt_embed_backward", LLVMFunctionType(g->t_void, p, 7, 0), args, 7);
        return 1;
    }
    case PLAN_EMBED_COLUMNS: { /* per column, the thread's table rows: Σ over the batch's rows in order */
        hprt_catembed_col cols[HPRT_MAX_EMBED_COLUMNS];
        int nc = cg_embed_columns(g->e, cols, HPRT_MAX_EMBED_COLUMNS);
        long Fin = plan_shape_size(pl->in), Fout = plan_shape_size(pl->out);
        LLVMValueRef X = OUT(g, L->in_layer), dY = DOUT(g, i), dW = PARAM(g, "d", i, false);
        for (int c = 0; c < nc; c++) {
            long D = cols[c].dim;
            cg_partition(g, cols[c].n + 1, &j0, &j1);
            LLVMValueRef lo = iadd(g, cg_i64(g, cols[c].w), imul(g, j0, cg_i64(g, D)));
            LLVMValueRef hi = iadd(g, cg_i64(g, cols[c].w), imul(g, j1, cg_i64(g, D)));
            cg_loop R, J;
            cg_for(g, &J, lo, hi);
            cg_store_f(g, cg_f32(g, 0), dW, J.i);
            cg_end(g, &J);
            cg_for(g, &R, cg_i64(g, 0), cg_i64(g, B));
            LLVMValueRef id = catembed_id(g, cg_load_f(g, X, iadd(g, imul(g, R.i, cg_i64(g, Fin)), cg_i64(g, cols[c].in_pos))),
                                          cols[c].n);
            LLVMValueRef mine = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, id, j0, ""),
                                             LLVMBuildICmp(g->b, LLVMIntSLT, id, j1, ""), "");
            LLVMValueRef dst = iadd(g, cg_i64(g, cols[c].w), imul(g, id, cg_i64(g, D)));
            LLVMValueRef src = iadd(g, imul(g, R.i, cg_i64(g, Fout)), cg_i64(g, cols[c].out_pos));
            cg_for(g, &J, cg_i64(g, 0), LLVMBuildSelect(g->b, mine, cg_i64(g, D), cg_i64(g, 0), ""));
            LLVMValueRef k = iadd(g, dst, J.i);
            cg_store_f(g, fadd(g, cg_load_f(g, dW, k), cg_load_f(g, dY, iadd(g, src, J.i))), dW, k);
            cg_end(g, &J);
            cg_end(g, &R);
            out[c] = (param_range){i, false, lo, hi};
        }
        return nc;
    }
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: {
        long H = pl->units, GH = (long)hprt_rnn_gates(L->rnn[0].geom.cell) * H;
        cg_partition(g, GH, &j0, &j1);
        LLVMValueRef dW = PARAM(g, "d", i, false);
        int k = 0;
        for (int s = 0; s < L->n_rnn; s++) {
            rnn_refs r = rnn_sub(g, i, s, true);
            long w = L->rnn[s].w, in = r.in;
            LLVMValueRef dWih = cg_fptr(g, dW, cg_i64(g, w)), dWhh = cg_fptr(g, dWih, cg_i64(g, GH * in));
            LLVMValueRef dbih = cg_fptr(g, dWhh, cg_i64(g, GH * H)), dbhh = cg_fptr(g, dbih, cg_i64(g, GH));
            bool fold = s == 0 && L->fold >= 0;
            if (fold) { /* dW_ih = Sᵀ·E, db_ih = Σ S over the threads' S */
                LLVMTypeRef q[10] = {g->t_ptr, g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_ptr, g->t_i32, g->t_i32,
                                     g->t_ptr, g->t_ptr};
                LLVMValueRef a10[10] = {fold_buf(g, i, cg_i64(g, 0)), cg_i32(g, g->threads), cg_i32(g, L->fold_v),
                                        cg_i32(g, GH), cg_i32(g, in), PARAM(g, "", L->in_layer, false), i32v(g, j0),
                                        i32v(g, j1), dWih, dbih};
                cg_call(g, "hprt_embed_rnn_grad_W", LLVMFunctionType(g->t_void, q, 10, 0), a10, 10);
            }
            LLVMTypeRef p[13] = {g->t_ptr, g->t_i32, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_i32,
                                 g->t_i32, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr};
            /* work: the thread's pack buffer, free after its backward pass */
            LLVMValueRef args[13] = {r.geom, cg_i32(g, B), fold ? LLVMConstPointerNull(g->t_ptr) : r.X, r.Hprev, r.dGi,
                                     r.dGh, i32v(g, j0), i32v(g, j1), dWih, dWhh, dbih, dbhh, rnn_pack(g, i)};
            cg_call(g, "hprt_rnn_weight_grads", LLVMFunctionType(g->t_void, p, 13, 0), args, 13);
            long at[4] = {w, w + GH * in, w + GH * (in + H), w + GH * (in + H + 1)};
            long per[4] = {in, H, 1, 1};
            for (int t = 0; t < 4; t++)
                out[k++] = (param_range){i, false, iadd(g, cg_i64(g, at[t]), imul(g, j0, cg_i64(g, per[t]))),
                                         iadd(g, cg_i64(g, at[t]), imul(g, j1, cg_i64(g, per[t])))};
        }
        return k;
    }
    case PLAN_DENSE: case PLAN_CONV: {
        long F = L->fan_in;
        cg_partition(g, L->b_size, &j0, &j1);
        weight_grads(g, i, B, j0, j1);
        out[0] = (param_range){i, false, imul(g, j0, cg_i64(g, F)), imul(g, j1, cg_i64(g, F))};
        out[1] = (param_range){i, true, j0, j1};
        return 2;
    }
    case PLAN_LAYERNORM: /* split by feature: each sums its features over every row */
        cg_partition(g, L->width, &j0, &j1);
        cg_layernorm_weight_grads(g, OUT(g, L->in_layer), NORM(g, i), DOUT(g, i), PARAM(g, "d", i, false),
                                  PARAM(g, "d", i, true), L->width, (long)B * L->steps, j0, j1);
        out[0] = (param_range){i, false, j0, j1};
        out[1] = (param_range){i, true, j0, j1};
        return 2;
    case PLAN_BATCHNORM: { /* split by channel; the running statistics move here, after the NaN guard */
        long Sp = L->out_size / L->width;
        cg_partition(g, L->width, &j0, &j1);
        cg_batchnorm_weight_phase(g, BNSTATS(g, i), PARAM(g, "d", i, false), PARAM(g, "d", i, true), RUNNING(g, i),
                                  L->width, (long)B * Sp, pl->momentum, j0, j1);
        out[0] = (param_range){i, false, j0, j1};
        out[1] = (param_range){i, true, j0, j1};
        return 2;
    }
    case PLAN_INPUT: case PLAN_DROPOUT: case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU:
    case PLAN_SOFTMAX: case PLAN_LAST: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_FLATTEN:
        return 0; /* no parameters (has_params) */
    }
    return 0;
}

/* ---- the step functions ---- */

static LLVMValueRef begin_function(cg *g, const char *name)
{
    LLVMTypeRef p[2] = {g->t_ptr, g->t_i32};
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->t_void, p, 2, 0));
    g->fn = fn;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    g->io = LLVMGetParam(fn, 0);
    g->tid = LLVMBuildSExt(g->b, LLVMGetParam(fn, 1), g->t_i64, "tid");
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(fn, 1, LLVMCreateEnumAttribute(g->ctx, noalias, 0));
    return fn;
}

/* Evaluation is not the hot path: one function for every batch size, its
 * rows read from io (the training steps are specialised to theirs). */
static void emit_eval(cg *g)
{
    begin_function(g, "hp_eval");
    LLVMValueRef r0, r1;
    cg_partition_v(g, cg_io_field(g, offsetof(hprt_step_io, rows), g->t_i64), &r0, &r1);
    gather(g, r0, r1);
    for (int i = 1; i < g->e->n_layers; i++)
        forward_layer(g, i, r0, r1, false);
    loss_rows(g, 0, r0, r1, false);
    LLVMBuildRetVoid(g->b);
}

/* The profile mode (HPC_PROFILE): the thread's CPU clock before a pass ... */
static LLVMValueRef prof_start(cg *g)
{
    if (g->l->prof < 0)
        return NULL;
    return cg_call(g, "hprt_prof_now", LLVMFunctionType(g->t_i64, NULL, 0, 0), NULL, 0);
}

/* ... and the time since t0 added to the slot of layer i's pass. */
static void prof_stop(cg *g, LLVMValueRef t0, int i, int pass)
{
    if (!t0)
        return;
    const cg_layout *l = g->l;
    LLVMValueRef all = buf(g, "prof", 0, MEM(acts), l->prof, (long)g->threads * l->prof_stride);
    LLVMValueRef mine = cg_fptr(g, all, iadd(g, imul(g, g->tid, cg_i64(g, l->prof_stride)),
                                             cg_i64(g, ((long)i * CG_PROF__COUNT + pass) * 2)));
    LLVMTypeRef p[2] = {g->t_ptr, g->t_i64};
    LLVMValueRef args[2] = {mine, t0};
    cg_call(g, "hprt_prof_add", LLVMFunctionType(g->t_void, p, 2, 0), args, 2);
}

/* Returns from the step when total (the loss sum) is not finite. */
static void nan_guard(cg *g, LLVMValueRef total)
{
    LLVMValueRef finite = LLVMBuildFCmp(g->b, LLVMRealOLT, cg_intrinsic1(g, "fabs", total), cg_f64(g, INFINITY), "");
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "finite");
    LLVMBasicBlockRef skip = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "not_finite");
    LLVMBuildCondBr(g->b, finite, cont, skip);
    LLVMPositionBuilderAtEnd(g->b, skip);
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, cont);
}

/* Gradient clipping: this thread's sum of squares (the double at acc) into
 * its io->sqnorm slot, for the sum over threads (and ranks). */
static void store_sqnorm(cg *g, LLVMValueRef acc)
{
    LLVMValueRef slot = imul(g, g->tid, cg_i64(g, 8));
    LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->t_f64, acc, ""),
                   LLVMBuildInBoundsGEP2(g->b, g->t_i8, cg_io_field_ptr(g, offsetof(hprt_step_io, sqnorm)), &slot, 1, ""));
}

/* clip_grad_norm_'s factor (a double) for the global norm: max_norm / (norm + 1e-6), when below 1. */
static LLVMValueRef clip_coef(cg *g, LLVMValueRef norm)
{
    LLVMValueRef coef = LLVMBuildFDiv(g->b, cg_f64(g, g->e->clip), LLVMBuildFAdd(g->b, norm, cg_f64(g, 1e-6), ""), "");
    return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, coef, cg_f64(g, 1), ""), coef, cg_f64(g, 1), "");
}

/* After a barrier (every thread's work before it done), thread 0 calls the
 * io's function at field `off` with io; a caller that needs its result meets
 * the others at a barrier after it. */
static void dp_call(cg *g, size_t off, const char *name)
{
    cg_barrier(g);
    LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "dp_after");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, g->tid, cg_i64(g, 0), ""), call, after);
    LLVMPositionBuilderAtEnd(g->b, call);
    LLVMTypeRef ft = LLVMFunctionType(g->t_void, &g->t_ptr, 1, 0);
    LLVMBuildCall2(g->b, ft, cg_io_field(g, off, g->t_ptr), &g->io, 1, "");
    LLVMBuildBr(g->b, after);
    LLVMPositionBuilderAtEnd(g->b, after);
}

static LLVMValueRef imin(cg *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* Data-parallel, each parameter tensor's elements inside the thread's part
 * [t0, t1) of the arena: their update (acc NULL), or their gradients' sum of
 * squares added to the double at acc.  The summed gradients are the slice at
 * io->dp_grads (its element 0 is the arena's shard_lo). */
static void shard_tensors(cg *g, LLVMValueRef t0, LLVMValueRef t1, step_numbers n, LLVMValueRef acc)
{
    LLVMValueRef dg = cg_io_field(g, offsetof(hprt_step_io, dp_grads), g->t_ptr);
    LLVMValueRef lo0 = cg_io_field(g, offsetof(hprt_step_io, shard_lo), g->t_i64);
    for (int i = 1; i < g->e->n_layers; i++) {
        if (!has_params(&g->e->layers[i]))
            continue;
        const cg_layer_layout *L = &g->l->layers[i];
        for (int b = 0; b < 2; b++) {
            long off = b ? L->b : L->w, size = b ? L->b_size : L->w_size;
            if (off < 0 || size <= 0)
                continue;
            LLVMValueRef lo = isub(g, t0, cg_i64(g, off)), hi = imin(g, isub(g, t1, cg_i64(g, off)), cg_i64(g, size));
            lo = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, lo, cg_i64(g, 0), ""), cg_i64(g, 0), lo, "");
            LLVMValueRef at = isub(g, cg_i64(g, off), lo0); /* the tensor's element 0 in the slice (may be before it) */
            n.grads = LLVMBuildGEP2(g->b, g->t_f32, dg, &at, 1, "");
            if (acc)
                sumsq(g, n.grads, lo, hi, acc);
            else
                update_range(g, i, b, lo, hi, &n);
        }
    }
}

/* The data-parallel end of a training step (ZeRO stage 1, docs/distributed.md):
 * thread 0 sums the loss and this rank's slice [shard_lo, shard_hi) of the
 * gradients over the ranks into io->dp_grads (dp_reduce); the NaN guard reads
 * the summed loss; each thread updates its 16-float aligned part of the slice
 * from those sums times io->dp_gscale (with clipping, after dp_norm has
 * summed the parts' squares over threads and ranks); then thread 0 gathers
 * every rank's slice (dp_gather). */
static void dp_update(cg *g)
{
    dp_call(g, offsetof(hprt_step_io, dp_reduce), "dp_reduce");
    cg_barrier(g);
    nan_guard(g, cg_io_field(g, offsetof(hprt_step_io, dp_loss), g->t_f64));
    step_numbers n = load_step_numbers(g);
    LLVMValueRef lo = cg_io_field(g, offsetof(hprt_step_io, shard_lo), g->t_i64);
    LLVMValueRef hi = cg_io_field(g, offsetof(hprt_step_io, shard_hi), g->t_i64);
    LLVMValueRef per = LLVMBuildSDiv(g->b, iadd(g, isub(g, hi, lo), cg_i64(g, g->threads - 1)), cg_i64(g, g->threads), "");
    per = LLVMBuildAnd(g->b, iadd(g, per, cg_i64(g, 15)), cg_i64(g, ~15L), "");
    LLVMValueRef t0 = imin(g, iadd(g, lo, imul(g, g->tid, per)), hi);
    LLVMValueRef t1 = imin(g, iadd(g, t0, per), hi);
    LLVMValueRef gscale = cg_io_field(g, offsetof(hprt_step_io, dp_gscale), g->t_f32);
    n.clip_coef = gscale;
    if (g->e->clip > 0) {
        LLVMValueRef acc = ir_alloca(g->b, g->t_f64, "sq");
        LLVMBuildStore(g->b, cg_f64(g, 0), acc);
        shard_tensors(g, t0, t1, n, acc);
        store_sqnorm(g, acc);
        dp_call(g, offsetof(hprt_step_io, dp_norm), "dp_norm");
        cg_barrier(g);
        LLVMValueRef norm = cg_io_field(g, offsetof(hprt_step_io, grad_norm), g->t_f64);
        LLVMValueRef scaled = LLVMBuildFMul(g->b, clip_coef(g, norm), LLVMBuildFPExt(g->b, gscale, g->t_f64, ""), "");
        n.clip_coef = LLVMBuildFPTrunc(g->b, scaled, g->t_f32, "");
    }
    shard_tensors(g, t0, t1, n, NULL);
    dp_call(g, offsetof(hprt_step_io, dp_gather), "dp_gather");
}

static void emit_train(cg *g, int B)
{
    const plan_experiment *e = g->e;
    char name[32];
    snprintf(name, sizeof name, "hp_train_%d", B);
    begin_function(g, name);
    S(g)->batch = B;
    LLVMValueRef r0, r1;
    cg_partition(g, B, &r0, &r1);
    gather(g, r0, r1);
    for (int i = 1; i < e->n_layers; i++) {
        LLVMValueRef t0 = prof_start(g);
        forward_layer(g, i, r0, r1, true);
        prof_stop(g, t0, i, CG_PROF_FORWARD);
    }
    LLVMValueRef t_loss = prof_start(g); /* the loss: layer 0's data-gradient slot */
    loss_rows(g, B, r0, r1, true);
    prof_stop(g, t_loss, 0, CG_PROF_DGRAD);
    for (int i = e->n_layers - 1; i >= 1; i--) {
        LLVMValueRef t0 = prof_start(g);
        backward_layer(g, i, r0, r1);
        prof_stop(g, t0, i, CG_PROF_DGRAD);
    }
    LLVMValueRef t_wait = prof_start(g); /* waiting for the others: layer 0's forward slot */
    cg_barrier(g);
    prof_stop(g, t_wait, 0, CG_PROF_FORWARD);

    /* the NaN guard: a step whose loss is not finite changes no parameter, so
     * the weights stay those of the last good step (every thread sees the same
     * sum and takes the same branch); data-parallel: after the sum over the
     * ranks (below), so every rank takes the same branch too */
    if (!g->l->dp) {
        LLVMValueRef total = cg_f64(g, 0);
        for (int t = 0; t < g->threads; t++)
            total = LLVMBuildFAdd(g->b, total, cg_io_field(g, offsetof(hprt_step_io, loss) + 8 * (size_t)t, g->t_f64), "");
        nan_guard(g, total);
    }

    step_numbers n = load_step_numbers(g);
    /* each thread's part of every layer's parameters: their gradients, then
     * (without clipping, at once) their update */
    int nl = e->n_layers, cap = 0;
    for (int i = 1; i < nl; i++)
        cap += has_params(&e->layers[i]) ? 2 + 4 * g->l->layers[i].n_rnn + (e->layers[i].kind == PLAN_EMBED_COLUMNS ? HPRT_MAX_EMBED_COLUMNS : 0)
                                         : 0;
    param_range *parts = calloc((size_t)(cap ? cap : 1), sizeof *parts);
    if (!parts) {
        S(g)->oom = true; /* jit_module reports it */
        LLVMBuildRetVoid(g->b);
        return;
    }
    /* a folded embedding's gradients read the next layer's W_ih and that
     * layer's read E, all rows: every gradient before any update */
    bool defer = g->l->dp;
    for (int i = 1; i < nl; i++)
        defer |= g->l->layers[i].fold >= 0;
    int np = 0;
    for (int i = 1; i < nl; i++) {
        if (!has_params(&e->layers[i]))
            continue;
        LLVMValueRef t0 = prof_start(g);
        int k = layer_grads(g, i, B, parts + np);
        prof_stop(g, t0, i, CG_PROF_WGRAD);
        t0 = prof_start(g);
        if (e->clip <= 0 && !defer)
            for (int r = np; r < np + k; r++)
                update_range(g, parts[r].layer, parts[r].bias, parts[r].lo, parts[r].hi, &n);
        prof_stop(g, t0, i, CG_PROF_UPDATE);
        np += k;
    }
    if (g->l->dp) {
        free(parts);
        dp_update(g);
        LLVMBuildRetVoid(g->b);
        return;
    }
    if (e->clip <= 0 && defer) {
        cg_barrier(g);
        for (int r = 0; r < np; r++)
            update_range(g, parts[r].layer, parts[r].bias, parts[r].lo, parts[r].hi, &n);
    }
    if (e->clip > 0) {
        /* global L2 norm: each thread's part, a barrier, the same sum in every thread */
        LLVMValueRef acc = ir_alloca(g->b, g->t_f64, "sq");
        LLVMBuildStore(g->b, cg_f64(g, 0), acc);
        for (int r = 0; r < np; r++)
            sumsq(g, PARAM(g, "d", parts[r].layer, parts[r].bias), parts[r].lo, parts[r].hi, acc);
        store_sqnorm(g, acc);
        cg_barrier(g);
        LLVMValueRef total = cg_f64(g, 0);
        for (int t = 0; t < g->threads; t++)
            total = LLVMBuildFAdd(g->b, total, cg_io_field(g, offsetof(hprt_step_io, sqnorm) + 8 * (size_t)t, g->t_f64), "");
        LLVMValueRef norm = cg_intrinsic1(g, "sqrt", total);
        LLVMBuildStore(g->b, norm, cg_io_field_ptr(g, offsetof(hprt_step_io, grad_norm)));
        n.clip_coef = LLVMBuildFPTrunc(g->b, clip_coef(g, norm), g->t_f32, "");
        for (int r = 0; r < np; r++)
            update_range(g, parts[r].layer, parts[r].bias, parts[r].lo, parts[r].hi, &n);
    }
    free(parts);
    LLVMBuildRetVoid(g->b);
}

/* ---- module, JIT ---- */

struct cg_program {
    hp_jit *jit;
    hprt_lr_fn lr;
    hprt_momentum_fn momentum;
    int n_train, n_eval;
    int train_batch[32], eval_batch[32];
    hprt_step_fn train[32], eval[32];
    double compile_ms;
    bool linked; /* linked an object another program compiled (cg_objects) */
};

static void emit_all(cg *g, const hprt_sched_resolved *sched)
{
    for (int k = 0; k < g->l->n_train_sizes; k++)
        emit_train(g, g->l->train_sizes[k]);
    emit_eval(g);
    if (sched)
        cg_emit_schedule(g, sched);
}

/* The passes from the layout to the module the JIT takes: a module for the
 * host (the IR kit), the steps (e != NULL) and the schedule as code, then
 * verification and optimisation unless `optimize` is false.  NULL on
 * failure, with err; st->syms gets the buffers the module refers to. */
static LLVMModuleRef jit_module(hp_jit *jit, cg_state *st, const plan_experiment *e, const cg_layout *l,
                                const cg_memory *mem, const hprt_sched_resolved *sched, bool optimize, cg_error *err)
{
    memset(st, 0, sizeof *st);
    cg *g = &st->g;
    ir_target t = hp_jit_target(jit);
    if (cg_module_new(g, hp_jit_context(jit), "hp_experiment", &t, err) != 0)
        return NULL;
    g->e = e;
    g->l = l;
    g->threads = l->threads;
    st->mem = mem;
    if (e)
        emit_all(g, sched);
    else
        cg_emit_schedule(g, sched);
    LLVMDisposeBuilder(g->b);
    if (st->oom)
        cg_fail(err, CG_E_MEMORY, "out of memory");
    if (st->oom || (optimize && ir_optimize(g->mod, &t, err) != 0)) {
        LLVMDisposeModule(g->mod);
        return NULL;
    }
    return g->mod;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The module as an object: compiled here, or (objs) by whichever program
 * asked for key first.  *obj points into objs, or to *own (freed by the
 * caller).  Takes mod. */
static int module_object(hp_jit *jit, LLVMModuleRef mod, cg_objects *objs, uint64_t key, const void **obj,
                         size_t *n, void **own, cg_error *err)
{
    *own = NULL;
    if (hp_jit_emit_object(jit, mod, own, n, err) != 0)
        return -1;
    *obj = *own;
    if (objs) {
        cg_objects_put(objs, key, *own, *n); /* objs owns it now */
        *own = NULL;
    }
    return 0;
}

static cg_program *compile(const plan_experiment *e, const cg_layout *l, const cg_memory *mem,
                           const hprt_sched_resolved *sched, cg_objects *objs, uint64_t key, cg_error *err)
{
    double t0 = now_ms();
    cg_program *p = calloc(1, sizeof *p);
    cg_state *st = calloc(1, sizeof *st);
    if (!p || !st) {
        free(p);
        free(st);
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return NULL;
    }
    p->jit = hp_jit_new(err);
    if (!p->jit)
        goto fail;
    /* the object: linked from objs when another program compiled it (the
     * module is then generated only for its buffers' symbols), else compiled */
    const void *obj = NULL;
    size_t obj_n = 0;
    void *own = NULL;
    cg_objects_claim claim = objs ? cg_objects_get(objs, key, &obj, &obj_n) : CG_OBJECT_ALONE;
    p->linked = claim == CG_OBJECT_READY;
    LLVMModuleRef mod = jit_module(p->jit, st, e, l, mem, sched, !p->linked, err);
    if (!mod) {
        if (claim == CG_OBJECT_COMPILE)
            cg_objects_put(objs, key, NULL, 0);
        goto fail;
    }
    if (p->linked) {
        LLVMDisposeModule(mod);
    } else if (module_object(p->jit, mod, claim == CG_OBJECT_COMPILE ? objs : NULL, key, &obj, &obj_n, &own, err) != 0) {
        if (claim == CG_OBJECT_COMPILE)
            cg_objects_put(objs, key, NULL, 0);
        goto fail;
    }
    mod = NULL;
    /* the runtime functions and libm the module calls, and the buffers */
    hp_jit_symbol fns[] = {
        {"hprt_sgemm", (void *)hprt_sgemm, 1},
        {"hprt_barrier_wait", (void *)hprt_barrier_wait, 1},
        {"hprt_prof_now", (void *)hprt_prof_now, 1},
        {"hprt_prof_add", (void *)hprt_prof_add, 1},
        {"hprt_prof_move", (void *)hprt_prof_move, 1},
        {"hprt_conv2d_forward_epi", (void *)hprt_conv2d_forward_epi, 1},
        {"hprt_maxpool22_plane", (void *)hprt_maxpool22_plane, 1},
        {"hprt_maxpool22_plane_backward", (void *)hprt_maxpool22_plane_backward, 1},
        {"hprt_conv2d_backward_epi", (void *)hprt_conv2d_backward_epi, 1},
        {"hprt_conv2d_backward_bn", (void *)hprt_conv2d_backward_bn, 1},
        {"hprt_conv2d_forward_bn", (void *)hprt_conv2d_forward_bn, 1},
        {"hprt_maxpool2d_forward_fast", (void *)hprt_maxpool2d_forward_fast, 1},
        {"hprt_avgpool2d_forward", (void *)hprt_avgpool2d_forward, 1},
        {"hprt_maxpool2d_backward_fast", (void *)hprt_maxpool2d_backward_fast, 1},
        {"hprt_avgpool2d_backward", (void *)hprt_avgpool2d_backward, 1},
        {"hprt_rnn_forward", (void *)hprt_rnn_forward, 1},
        {"hprt_rnn_forward_fold", (void *)hprt_rnn_forward_fold, 1},
        {"hprt_rnn_backward_data", (void *)hprt_rnn_backward_data, 1},
        {"hprt_rnn_weight_grads", (void *)hprt_rnn_weight_grads, 1},
        {"hprt_embed_rnn_forward", (void *)hprt_embed_rnn_forward, 1},
        {"hprt_embed_rnn_grad_E", (void *)hprt_embed_rnn_grad_E, 1},
        {"hprt_embed_rnn_grad_W", (void *)hprt_embed_rnn_grad_W, 1},
        {"hprt_embed_forward", (void *)hprt_embed_forward, 1},
        {"hprt_embed_backward", (void *)hprt_embed_backward, 1},
        {"tanhf", (void *)tanhf, 1},
        {"erff", (void *)erff, 1},
        {"expf", (void *)expf, 1},
        {"exp", (void *)exp, 1},
        {"logf", (void *)logf, 1},
        {"log", (void *)log, 1},
        {"sqrtf", (void *)sqrtf, 1},
        {"sqrt", (void *)sqrt, 1},
        {"pow", (void *)pow, 1},
        {"cos", (void *)cos, 1},
        {"floor", (void *)floor, 1},
        {"memcpy", (void *)memcpy, 1},
        {"memset", (void *)memset, 1},
        {"hp_barrier", mem ? (void *)mem->barrier : NULL, 0},
    };
    if (hp_jit_define(p->jit, fns, (int)(sizeof fns / sizeof *fns), err) != 0 ||
        hp_jit_define(p->jit, st->syms, st->n_syms, err) != 0) {
        free(own);
        goto fail;
    }
    int linked = hp_jit_add_object(p->jit, obj, obj_n, err);
    free(own);
    if (linked != 0)
        goto fail;
    char name[32];
    for (int k = 0; k < l->n_train_sizes; k++) {
        p->train_batch[k] = l->train_sizes[k];
        snprintf(name, sizeof name, "hp_train_%d", p->train_batch[k]);
        if (!(p->train[k] = (hprt_step_fn)hp_jit_lookup(p->jit, name, err)))
            goto fail;
        p->n_train = k + 1;
    }
    if (sched) {
        p->lr = (hprt_lr_fn)hp_jit_lookup(p->jit, "hp_lr", err);
        p->momentum = (hprt_momentum_fn)hp_jit_lookup(p->jit, "hp_momentum", err);
        if (!p->lr || !p->momentum)
            goto fail;
    }
    hprt_step_fn eval = (hprt_step_fn)hp_jit_lookup(p->jit, "hp_eval", err);
    if (!eval)
        goto fail;
    for (int k = 0; k < l->n_eval_sizes; k++) {
        p->eval_batch[k] = l->eval_sizes[k];
        p->eval[k] = eval;
        p->n_eval = k + 1;
    }
    free_syms(st);
    free(st);
    p->compile_ms = now_ms() - t0;
    return p;
fail:
    free_syms(st);
    free(st);
    cg_program_free(p);
    return NULL;
}

cg_program *cg_compile(const plan_experiment *e, const cg_layout *l, const cg_memory *mem,
                       const hprt_sched_resolved *sched, cg_error *err)
{
    return compile(e, l, mem, sched, NULL, 0, err);
}

cg_program *cg_compile_shared(const plan_experiment *e, const cg_layout *l, const cg_memory *mem,
                              cg_objects *objs, uint64_t key, cg_error *err)
{
    return compile(e, l, mem, NULL, objs, key, err);
}

bool cg_program_linked(const cg_program *p) { return p->linked; }

cg_program *cg_compile_schedule(const hprt_sched_resolved *sched, cg_error *err)
{
    cg_program *p = calloc(1, sizeof *p);
    cg_state *st = calloc(1, sizeof *st);
    if (!p || !st) {
        free(p);
        free(st);
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return NULL;
    }
    if (!(p->jit = hp_jit_new(err)))
        goto fail;
    cg_layout empty = {.threads = 1};
    LLVMModuleRef mod = jit_module(p->jit, st, NULL, &empty, NULL, sched, true, err);
    if (!mod)
        goto fail;
    hp_jit_symbol fns[] = {{"pow", (void *)pow, 1}, {"cos", (void *)cos, 1}, {"floor", (void *)floor, 1}};
    if (hp_jit_define(p->jit, fns, 3, err) != 0) {
        LLVMDisposeModule(mod);
        goto fail;
    }
    if (hp_jit_add_module(p->jit, mod, err) != 0)
        goto fail;
    p->lr = (hprt_lr_fn)hp_jit_lookup(p->jit, "hp_lr", err);
    p->momentum = (hprt_momentum_fn)hp_jit_lookup(p->jit, "hp_momentum", err);
    if (!p->lr || !p->momentum)
        goto fail;
    free(st);
    return p;
fail:
    free(st);
    cg_program_free(p);
    return NULL;
}

void cg_program_free(cg_program *p)
{
    if (!p)
        return;
    hp_jit_free(p->jit);
    free(p);
}

static hprt_step_fn find_fn(const cg_program *p, int batch, bool train)
{
    int n = train ? p->n_train : p->n_eval;
    const int *sizes = train ? p->train_batch : p->eval_batch;
    for (int k = 0; k < n; k++)
        if (sizes[k] == batch)
            return train ? p->train[k] : p->eval[k];
    return NULL;
}

hprt_step_fn cg_train_fn(const cg_program *p, int batch) { return find_fn(p, batch, true); }
hprt_step_fn cg_eval_fn(const cg_program *p, int batch) { return find_fn(p, batch, false); }
double cg_compile_ms(const cg_program *p) { return p->compile_ms; }
hprt_lr_fn cg_lr_fn(const cg_program *p) { return p->lr; }
hprt_momentum_fn cg_momentum_fn(const cg_program *p) { return p->momentum; }

int cg_emit_llvm(const plan_experiment *e, const cg_layout *l, const hprt_sched_resolved *sched, bool optimize,
                 FILE *out, cg_error *err)
{
    hp_jit *jit = hp_jit_new(err);
    if (!jit)
        return -1;
    cg_state *st = calloc(1, sizeof *st);
    if (!st) {
        hp_jit_free(jit);
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return -1;
    }
    LLVMModuleRef mod = jit_module(jit, st, e, l, NULL, sched, optimize, err);
    int rc = mod ? 0 : -1;
    if (mod) {
        char *text = LLVMPrintModuleToString(mod);
        if (fputs(text, out) == EOF) {
            cg_fail(err, CG_E_IO, "cannot write the IR: %s", strerror(errno));
            rc = -1;
        }
        LLVMDisposeMessage(text);
        LLVMDisposeModule(mod);
    }
    free_syms(st);
    free(st);
    hp_jit_free(jit);
    return rc;
}
