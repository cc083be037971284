/* codegen_init.c - the parameters' initial values, each kind's initialiser
 * in layer order from one generator seeded with the experiment's seed (so a
 * run, its checkpoints and `hpc run --seed S` agree bit for bit). */
#include "codegen.h"
#include "hprt_rng.h"

void cg_init_params(const plan_experiment *e, const cg_layout *l, float *params)
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
            hprt_init_embedding(&rng, params + L->w, pl->vocab, pl->units, -1);
            break;
        case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
            for (int s = 0; s < L->n_rnn; s++) {
                /* W_ih, W_hh, b_ih, b_hh of each layer of the stack, in torch's order */
                const hprt_rnn_geom *g = &L->rnn[s].geom;
                size_t GH = (size_t)hprt_rnn_gates(g->cell) * (size_t)g->hidden;
                float *w = params + L->w + L->rnn[s].w;
                size_t sizes[4] = {GH * (size_t)g->in, GH * (size_t)g->hidden, GH, GH};
                for (int t = 0; t < 4; t++) {
                    hprt_init_recurrent(&rng, w, sizes[t], g->hidden);
                    w += sizes[t];
                }
            }
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
}
