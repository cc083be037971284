/* cmd_sample.c - `hpc sample RUN_DIR`: text from a trained language model.
 *
 * The model runs one token at a time on the reference kernels (hprt_rnn.h
 * with T = 1), carrying every recurrent layer's state: feed the prime, then
 * draw each next byte from softmax(logits / temperature) (temperature 0:
 * the most likely byte) and feed it back.  Bytes stream to stdout as they
 * are drawn.  The vocabulary is the run's vocab.json, so ids are the ones
 * the model was trained with.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codegen.h"
#include "hprt.h"
#include "hprt_ckpt.h"
#include "hprt_rnn.h"
#include "load.h"

/* One layer of the per-token network. */
typedef struct {
    const plan_layer *pl;
    const cg_layer_layout *L;
    float *h, *c;   /* rnn: per stack layer, H floats each */
} sampler_layer;

typedef struct {
    const plan_experiment *e;
    const cg_layout *l;
    const float *params;
    sampler_layer *layers;
    float *a, *b;          /* the activations going through, ping-pong */
    float *A, *C, *P, *scratch; /* hprt_rnn_forward's buffers for one row, one step */
    int width;             /* floats in a/b */
} sampler;

static const char *check_model(const plan_experiment *e, const cg_layout *l)
{
    if (!l->text)
        return "not a language model: its data is not text()";
    if (l->loss_steps == 1)
        return "not a language model: it predicts one class per window, not the next token at every step";
    for (int i = 1; i < e->n_layers; i++)
        switch (e->layers[i].kind) {
        case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_DENSE: case PLAN_DROPOUT:
        case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX:
            break;
        default:
            return "its layers include one sampling does not run one step at a time";
        }
    return NULL;
}

static void sampler_free(sampler *s)
{
    for (int i = 0; s->layers && i < s->e->n_layers; i++) {
        free(s->layers[i].h);
        free(s->layers[i].c);
    }
    free(s->layers);
    free(s->a);
    free(s->b);
    free(s->A);
    free(s->C);
    free(s->P);
    free(s->scratch);
}

static bool sampler_init(sampler *s, const plan_experiment *e, const cg_layout *l, const float *params)
{
    memset(s, 0, sizeof *s);
    s->e = e;
    s->l = l;
    s->params = params;
    s->layers = calloc((size_t)e->n_layers, sizeof *s->layers);
    int width = 1, gates = 1;
    for (int i = 0; i < e->n_layers; i++) {
        const plan_layer *pl = &e->layers[i];
        int per_step = pl->out.kind == PLAN_SEQ ? pl->out.d[1] : (int)plan_shape_size(pl->out);
        width = per_step > width ? per_step : width;
        if (pl->kind == PLAN_EMBED || pl->kind == PLAN_RNN || pl->kind == PLAN_GRU || pl->kind == PLAN_LSTM)
            width = pl->units > width ? pl->units : width;
        if (pl->kind == PLAN_RNN || pl->kind == PLAN_GRU || pl->kind == PLAN_LSTM)
            gates = 4 * pl->units > gates ? 4 * pl->units : gates;
    }
    s->width = width;
    s->a = calloc((size_t)width, sizeof(float));
    s->b = calloc((size_t)width, sizeof(float));
    s->A = calloc((size_t)gates, sizeof(float));
    s->C = calloc((size_t)width, sizeof(float));
    s->P = calloc((size_t)width, sizeof(float));
    s->scratch = calloc((size_t)gates + 2 * (size_t)width, sizeof(float));
    if (!s->layers || !s->a || !s->b || !s->A || !s->C || !s->P || !s->scratch)
        return false;
    for (int i = 0; i < e->n_layers; i++) {
        sampler_layer *sl = &s->layers[i];
        sl->pl = &e->layers[i];
        sl->L = &l->layers[i];
        if (sl->L->n_rnn > 0) {
            size_t n = (size_t)sl->L->n_rnn * (size_t)sl->pl->units;
            sl->h = calloc(n, sizeof(float));
            sl->c = calloc(n, sizeof(float));
            if (!sl->h || !sl->c)
                return false;
        }
    }
    return true;
}

/* Feeds token id; leaves the logits of the next token in *out (vocab floats). */
static void sampler_step(sampler *s, int id, const float **out)
{
    float *x = s->a, *y = s->b;
    int n = 0; /* floats in x */
    for (int i = 1; i < s->e->n_layers; i++) {
        const sampler_layer *sl = &s->layers[i];
        const plan_layer *pl = sl->pl;
        const float *W = s->params + sl->L->w;
        switch (pl->kind) {
        case PLAN_EMBED:
            memcpy(y, W + (size_t)id * (size_t)pl->units, sizeof(float) * (size_t)pl->units);
            n = pl->units;
            break;
        case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
            for (int k = 0; k < sl->L->n_rnn; k++) {
                const cg_rnn_layer *R = &sl->L->rnn[k];
                hprt_rnn_geom g = R->geom;
                g.T = 1;
                size_t GH = (size_t)hprt_rnn_gates(g.cell) * (size_t)g.hidden;
                const float *Wih = W + R->w, *Whh = Wih + GH * (size_t)g.in, *bih = Whh + GH * (size_t)g.hidden;
                float *h = sl->h + (size_t)k * (size_t)g.hidden, *c = sl->c + (size_t)k * (size_t)g.hidden;
                hprt_rnn_forward(&g, 1, x, Wih, Whh, bih, bih + GH, h, c, y, h, c, s->A, s->C, s->P, s->scratch, NULL);
                float *t = x;
                x = y;
                y = t;
            }
            n = pl->units;
            continue; /* x holds the output already */
        case PLAN_DENSE: {
            hprt_dense_forward(x, W, s->params + sl->L->b, y, 1, n, pl->units);
            n = pl->units;
            /* the output layer's softmax is the sampler's (with the temperature): keep the logits */
            plan_act a = i == s->e->n_layers - 1 && pl->act == PLAN_ACT_SOFTMAX ? PLAN_ACT_NONE : pl->act;
            if (a == PLAN_ACT_RELU) hprt_relu_forward(y, y, (size_t)n);
            else if (a == PLAN_ACT_TANH) hprt_tanh_forward(y, y, (size_t)n);
            else if (a == PLAN_ACT_SIGMOID) hprt_sigmoid_forward(y, y, (size_t)n);
            else if (a == PLAN_ACT_GELU) hprt_gelu_forward(y, y, (size_t)n);
            else if (a == PLAN_ACT_SOFTMAX) hprt_softmax_forward(y, y, 1, n);
            break;
        }
        case PLAN_RELU: hprt_relu_forward(x, y, (size_t)n); break;
        case PLAN_TANH: hprt_tanh_forward(x, y, (size_t)n); break;
        case PLAN_SIGMOID: hprt_sigmoid_forward(x, y, (size_t)n); break;
        case PLAN_GELU: hprt_gelu_forward(x, y, (size_t)n); break;
        case PLAN_SOFTMAX: /* the final softmax: sampling applies its own, with the temperature */
            if (i == s->e->n_layers - 1)
                continue;
            hprt_softmax_forward(x, y, 1, n);
            break;
        default: /* dropout: off when sampling */
            continue;
        }
        float *t = x;
        x = y;
        y = t;
    }
    *out = x;
}

/* The next id: argmax at temperature 0, else a draw from softmax(z / temperature). */
static int draw(const float *z, int K, double temperature, hprt_rng *rng, double *p)
{
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[arg])
            arg = k;
    if (temperature <= 0)
        return arg;
    double sum = 0;
    for (int k = 0; k < K; k++) {
        p[k] = exp(((double)z[k] - z[arg]) / temperature);
        sum += p[k];
    }
    double u = hprt_rng_uniform(rng) * sum;
    for (int k = 0; k < K; k++) {
        u -= p[k];
        if (u < 0)
            return k;
    }
    return arg;
}

int cmd_sample(int argc, char **argv)
{
    const char *dir = NULL, *prime = NULL, *weights = NULL;
    long len = 500;
    double temperature = 1.0;
    unsigned long long seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        bool has = i + 1 < argc;
        if (strcmp(a, "--len") == 0 && has) {
            len = strtol(argv[++i], &end, 10);
            if (*end || len < 0) {
                cli_usage_error("sample", "--len takes a number of bytes >= 0, not '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--temperature") == 0 && has) {
            temperature = strtod(argv[++i], &end);
            if (*end || !(temperature >= 0) || !isfinite(temperature)) {
                cli_usage_error("sample", "--temperature takes a number >= 0, not '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--seed") == 0 && has) {
            seed = strtoull(argv[++i], &end, 10);
            if (*end || argv[i][0] == '-') {
                cli_usage_error("sample", "--seed takes a whole number >= 0, not '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--prime") == 0 && has) {
            prime = argv[++i];
        } else if (strcmp(a, "--weights") == 0 && has) {
            weights = argv[++i];
            if (strcmp(weights, "best") != 0 && strcmp(weights, "last") != 0) {
                cli_usage_error("sample", "--weights is best or last, not '%s'", weights);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-') {
            cli_usage_error("sample", "unknown option '%s' (or a missing value)", a);
            return EXIT_USAGE;
        } else if (!dir) {
            dir = a;
        } else {
            cli_usage_error("sample", "unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        cli_usage_error("sample", "hpc sample RUN_DIR [--len N] [--temperature T] [--prime TEXT] [--seed S]");
        return EXIT_USAGE;
    }
    char ckpt[4200], msg[512];
    int status = EXIT_ERRORS;
    hp_diags d;
    plan *pl;
    hp_program *p = cli_open_run(dir, weights, &d, &pl, ckpt, sizeof ckpt);
    cg_layout *l = NULL;
    float *params = NULL;
    double *prob = NULL;
    sampler s = {0};
    hprt_vocab v;
    if (!p) {
        fprintf(stderr, "hpc sample: %s is not a run directory\n", dir);
        status = EXIT_USAGE;
        goto done;
    }
    if (!pl || !pl->experiment)
        goto done;
    const plan_experiment *e = pl->experiment;
    int one = 1;
    const char *why = NULL;
    cg_error cerr;
    if (!(l = cg_layout_new(e, 1, NULL, 0, &one, 1, &cerr)) || (why = check_model(e, l))) {
        fprintf(stderr, "hpc sample: %s: %s\n", dir, l ? why : cerr.msg);
        status = l ? EXIT_USAGE : cli_cg_status(&cerr);
        goto done;
    }
    if (!cli_read_vocab(dir, l->classes, &v, msg, sizeof msg)) {
        fprintf(stderr, "hpc sample: %s\n", msg);
        status = EXIT_DATA;
        goto done;
    }
    params = malloc(sizeof(float) * (size_t)l->n_params);
    prob = malloc(sizeof(double) * (size_t)v.size);
    if (!params || !prob || !sampler_init(&s, e, l, params)) {
        fprintf(stderr, "hpc sample: out of memory\n");
        status = EXIT_RUN;
        goto done;
    }
    char desc[512];
    plan_shape_desc(e, desc, sizeof desc);
    hprt_ckpt_id id = {plan_shape_hash(e), desc};
    hprt_error err = {0};
    if (hprt_ckpt_read(ckpt, &id, params, (size_t)l->n_params, NULL, NULL, &err) != HPRT_OK) {
        fprintf(stderr, "hpc sample: %s\n", err.msg);
        status = EXIT_RUN;
        goto done;
    }
    /* the prime: given, else a newline (or the first byte of the vocabulary) */
    const char *start = prime && *prime ? prime : v.id['\n'] >= 0 ? "\n" : NULL;
    int next = 0;
    const float *z = NULL;
    hprt_blas_set_threads(1);
    if (start) {
        for (const unsigned char *c = (const unsigned char *)start; *c; c++) {
            if (v.id[*c] < 0) {
                fprintf(stderr, "hpc sample: the prime's byte %d ('%c') is not in the model's vocabulary\n", *c,
                        *c >= 32 && *c < 127 ? *c : '?');
                status = EXIT_USAGE;
                goto done;
            }
            sampler_step(&s, v.id[*c], &z);
        }
        if (prime)
            fputs(prime, stdout);
    } else {
        sampler_step(&s, 0, &z);
        fputc(v.byte[0], stdout);
    }
    hprt_rng rng;
    hprt_rng_seed(&rng, seed);
    for (long k = 0; k < len; k++) {
        next = draw(z, v.size, temperature, &rng, prob);
        if (putchar(v.byte[next]) == EOF)
            break;
        if (v.byte[next] == '\n')
            fflush(stdout);
        sampler_step(&s, next, &z);
    }
    if (len > 0 && v.byte[next] != '\n')
        putchar('\n');
    status = fflush(stdout) == 0 && !ferror(stdout) ? EXIT_OK : EXIT_RUN;
done:
    sampler_free(&s);
    free(params);
    free(prob);
    cg_layout_free(l);
    plan_free(pl);
    hp_program_free(p);
    hp_diags_free(&d);
    return status;
}
