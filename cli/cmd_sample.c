/* cmd_sample.c - `hpc sample RUN_DIR`: text from a trained language model.
 *
 * The model is compiled for one stream and windows of one step (an
 * hp_session for HP_USE_SAMPLE): its evaluation step reads one token,
 * carries every recurrent layer's state to the next call, and leaves the
 * next token's scores in the output layer.  Feed the prime, then draw each
 * next byte from softmax(scores / temperature) (temperature 0: the most
 * likely byte) and feed it back.  Bytes stream to stdout as they are drawn.
 * The vocabulary is the run's vocab.json, so ids are the ones the model was
 * trained with.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codegen.h"
#include "hprt.h"
#include "session.h"

/* The compiled model one token at a time. */
typedef struct {
    hprt_step_fn eval;
    hprt_step_io *io;
    uint8_t tokens[2];   /* the token fed, and a target nobody reads */
    const float *scores; /* the next token's scores after a step */
} sampler;

static void sampler_step(sampler *s, int id, const float **out)
{
    s->tokens[0] = (uint8_t)id;
    s->eval(s->io, 0);
    s->io->reset = 0; /* from now on the state carries over */
    *out = s->scores;
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
    hp_session hs;
    int opened = cli_open_run(dir, weights, HP_USE_SAMPLE, &hs, ckpt, sizeof ckpt, "sample");
    double *prob = NULL;
    sampler s = {0};
    hprt_vocab v;
    hp_error he;
    if (opened >= 0) {
        status = opened;
        goto done;
    }
    hp_err_class c = HP_ERR_NONE;
    if (c != HP_ERR_NONE || (c = hp_session_run(&hs, HP_PASS_COMPILE, &he)) != HP_ERR_NONE) {
        status = cli_session_error("sample", &he);
        goto done;
    }
    const cg_layout *l = hs.layout;
    if (!cli_read_vocab(dir, l->classes, &v, msg, sizeof msg)) {
        fprintf(stderr, "hpc sample: %s\n", msg);
        status = EXIT_DATA;
        goto done;
    }
    prob = malloc(sizeof(double) * (size_t)v.size);
    s.io = hprt_alloc(sizeof *s.io);
    if (!prob || !s.io) {
        fprintf(stderr, "hpc sample: out of memory\n");
        status = EXIT_RUN;
        goto done;
    }
    if (hp_session_read_checkpoint(&hs, ckpt, NULL, &he) != HP_ERR_NONE) {
        status = cli_session_error("sample", &he);
        goto done;
    }
    memset(s.io, 0, sizeof *s.io);
    s.io->x8 = s.tokens;
    s.io->rows = 1;
    s.io->reset = 1;
    s.eval = cg_eval_fn(hs.prog, 1);
    s.scores = hs.mem.acts + l->layers[l->scores].out;
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
    hprt_free(s.io);
    free(prob);
    hp_session_free(&hs);
    return status;
}
