/* generate.c - text from a language model compiled by `hpc build`.
 *
 *   hpc build examples/charlm.hp --weights runs/RUN -o out --name charlm
 *   cc -O2 -Iout examples/deploy/generate.c out/libcharlm.a -lm -o generate
 *   ./generate --len 300 --temperature 0.8 --prime "The "
 *
 * Feeds the prime (default: a newline, not printed) one byte at a time through
 * charlm_step, then draws --len bytes from the probabilities raised to
 * 1/temperature (0: the most likely byte) and feeds each back, as
 * `hpc sample` does.  Build with -DMODEL_HEADER='"other.h"' -DMODEL=other
 * -DMODEL_UPPER=OTHER for a model built under another --name (the header's
 * macros are the name in upper case, CHARLM_VOCAB_SIZE; its functions the
 * name as given, charlm_step).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#ifndef MODEL_HEADER
#define MODEL_HEADER "charlm.h"
#define MODEL charlm
#define MODEL_UPPER CHARLM
#endif
#ifndef MODEL_UPPER
#error "define MODEL_UPPER, the --name in upper case, with MODEL"
#endif
#include MODEL_HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define M_(x) CAT(MODEL, x)       /* functions: charlm_step */
#define U_(x) CAT(MODEL_UPPER, x) /* macros: CHARLM_VOCAB_SIZE */

/* xorshift64*: a small, seedable generator. */
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int draw(const float *p, int K, double temperature, uint64_t *rng)
{
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (p[k] > p[arg])
            arg = k;
    if (temperature <= 0)
        return arg;
    double w[U_(_VOCAB_SIZE)], sum = 0;
    for (int k = 0; k < K; k++) {
        w[k] = p[k] > 0 ? exp(log(p[k]) / temperature) : 0;
        sum += w[k];
    }
    double u = uniform(rng) * sum;
    for (int k = 0; k < K; k++) {
        u -= w[k];
        if (u < 0)
            return k;
    }
    return arg;
}

int main(int argc, char **argv)
{
    long len = 300;
    double temperature = 0.8;
    const char *prime = NULL;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--len") == 0)
            len = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--temperature") == 0)
            temperature = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--prime") == 0)
            prime = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: generate [--len N] [--temperature T] [--prime TEXT] [--seed S]\n");
            return 2;
        }
    }
    int id[256];
    for (int b = 0; b < 256; b++)
        id[b] = -1;
    for (int k = 0; k < U_(_VOCAB_SIZE); k++)
        id[U_(_VOCAB)[k]] = k;
    void *state = malloc(M_(_state_size)());
    float probs[U_(_VOCAB_SIZE)];
    if (!state)
        return 1;
    M_(_reset)(state);
    const char *start = prime && *prime ? prime : "\n";
    for (const unsigned char *c = (const unsigned char *)start; *c; c++) {
        if (id[*c] < 0) {
            fprintf(stderr, "generate: the prime's byte %d is not in the model's vocabulary\n", *c);
            free(state);
            return 2;
        }
        M_(_step)(state, id[*c], probs);
    }
    if (prime)
        fputs(prime, stdout);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    int next = 0;
    for (long k = 0; k < len; k++) {
        next = draw(probs, U_(_VOCAB_SIZE), temperature, &rng);
        putchar(U_(_VOCAB)[next]);
        M_(_step)(state, next, probs);
    }
    if (len > 0 && U_(_VOCAB)[next] != '\n')
        putchar('\n');
    free(state);
    return 0;
}
