/* codegen_init.c - the parameters' initial values, each kind's initialiser
 * in layer order from one generator seeded with the experiment's seed (so a
 * run, its checkpoints and `hpc run --seed S` agree bit for bit). */
#include <math.h>

#include "codegen.h"
#include "hprt_rng.h"

/* embed's `init =` (docs/language.md §8): N(0, 1) as torch.nn.Embedding
 * (default, normal); Keras's RandomUniform(-0.05, 0.05) (uniform);
 * torch.nn.init.xavier_uniform_ of the [vocab x dim] weight, fan_in = dim,
 * fan_out = vocab, its bound computed as torch computes it (xavier). */
static void init_embed(hprt_rng *rng, const plan_layer *pl, float *E)
{
    size_t n = (size_t)pl->vocab * (size_t)pl->units;
    double bound;
    switch (pl->init) {
    case PLAN_INIT_UNIFORM:
        hprt_init_uniform(rng, E, n, -0.05, 0.05);
        return;
    case PLAN_INIT_XAVIER:
        bound = sqrt(3.0) * (1.0 * sqrt(2.0 / (double)((long)pl->units + pl->vocab)));
        hprt_init_uniform(rng, E, n, -bound, bound);
        return;
    case PLAN_INIT_DEFAULT: case PLAN_INIT_NORMAL: /* the others are not embed's (layers.def) */
    case PLAN_INIT_KAIMING: case PLAN_INIT_ZEROS: case PLAN_INIT_ORTHOGONAL:
        hprt_init_embedding(rng, E, pl->vocab, pl->units, -1);
        return;
    }
}

/* One recurrent stack: W_ih, W_hh, b_ih, b_hh of each layer, in torch's
 * order, each U(±1/√H) (torch's reset_parameters); with `init = orthogonal`,
 * W_hh is instead each gate's H x H block from torch.nn.init.orthogonal_.
 * -1 when out of memory. */
static int init_recurrent(hprt_rng *rng, const plan_layer *pl, const cg_layer_layout *L, float *params)
{
    for (int s = 0; s < L->n_rnn; s++) {
        const hprt_rnn_geom *g = &L->rnn[s].geom;
        int G = hprt_rnn_gates(g->cell);
        size_t GH = (size_t)G * (size_t)g->hidden, HH = (size_t)g->hidden * (size_t)g->hidden;
        float *w = params + L->w + L->rnn[s].w;
        size_t sizes[4] = {GH * (size_t)g->in, GH * (size_t)g->hidden, GH, GH};
        for (int t = 0; t < 4; t++) {
            if (t == 1 && pl->init == PLAN_INIT_ORTHOGONAL) {
                for (int k = 0; k < G; k++)
                    if (hprt_init_orthogonal(rng, w + (size_t)k * HH, g->hidden, g->hidden, 1.0) != HPRT_OK)
                        return -1;
            } else {
                hprt_init_recurrent(rng, w, sizes[t], g->hidden);
            }
            w += sizes[t];
        }
    }
    return 0;
}

int cg_init_params(const plan_experiment *e, const cg_layout *l, float *params)
{
    hprt_rng rng;
    hprt_rng_seed(&rng, e->seed);
    for (int i = 0; i < l->n_layers; i++) {
        const cg_layer_layout *L = &l->layers[i];
        const plan_layer *pl = &e->layers[i];
        switch (pl->kind) {
        case PLAN_DENSE:
            hprt_init_dense(&rng, L->init, params + L->w, params + L->b, L->fan_in, pl->units);
            break;
        case PLAN_CONV:
            hprt_init_conv(&rng, L->init, params + L->w, params + L->b, pl->in.d[0], pl->units, pl->kernel);
            break;
        case PLAN_EMBED:
            init_embed(&rng, pl, params + L->w);
            break;
        case PLAN_EMBED_COLUMNS: { /* per column torch.nn.Embedding(n + 1, dim, padding_idx = 0): N(0, 1), row 0 zeros */
            hprt_catembed_col cols[HPRT_MAX_EMBED_COLUMNS];
            int nc = cg_embed_columns(e, cols, HPRT_MAX_EMBED_COLUMNS);
            for (int c = 0; c < nc; c++)
                hprt_init_embedding(&rng, params + L->w + cols[c].w, cols[c].n + 1, cols[c].dim, 0);
            break;
        }
        case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
            if (init_recurrent(&rng, pl, L, params) != 0)
                return -1;
            break;
        case PLAN_LAYERNORM: /* torch.nn.LayerNorm: weight 1, bias 0 (no draw) */
            for (long k = 0; k < L->w_size; k++)
                params[L->w + k] = 1.0f;
            for (long k = 0; k < L->b_size; k++)
                params[L->b + k] = 0.0f;
            break;
        case PLAN_BATCHNORM: /* torch.nn.BatchNorm: weight 1, bias 0, running mean 0 and variance 1 (no draw) */
            for (long k = 0; k < L->w_size; k++) {
                params[L->w + k] = 1.0f;
                params[L->b + k] = 0.0f;
                params[L->running + k] = 0.0f;
                params[L->running + L->width + k] = 1.0f;
            }
            break;
        case PLAN_INPUT: case PLAN_DROPOUT: case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU:
        case PLAN_SOFTMAX: case PLAN_LAST: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_FLATTEN:
            break; /* no parameters */
        }
    }
    return 0;
}
