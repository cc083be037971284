/* plan.h - what will run: a resolved experiment.
 *
 * The checker turns the AST into a Plan; everything after it (explain,
 * codegen, the runtime driver) reads only the Plan.  Every value is a
 * constant, every default is filled in, every shape is known.  A Plan owns its
 * memory (one arena) and holds no pointer into the AST.
 */
#ifndef HP_PLAN_H
#define HP_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "hprt_policy.h"

typedef enum {
#define X(e, name, args) PLAN_##e,
#include "layers.def"
#undef X
    PLAN_LAYER__COUNT
} plan_layer_kind;

const char *plan_layer_name(plan_layer_kind k);

/* Activation applied by dense/conv (or the kind of a standalone activation). */
typedef enum { PLAN_ACT_NONE = 0, PLAN_ACT_RELU, PLAN_ACT_TANH, PLAN_ACT_SIGMOID, PLAN_ACT_GELU, PLAN_ACT_SOFTMAX } plan_act;
const char *plan_act_name(plan_act a);

typedef enum { PLAN_INIT_DEFAULT = 0, PLAN_INIT_XAVIER, PLAN_INIT_KAIMING, PLAN_INIT_ZEROS } plan_init;
const char *plan_init_name(plan_init i);

/* A tensor shape per sample.
 *   VEC:    [d0]           features
 *   SEQ:    [d0, d1]       time steps x features
 *   IMG:    [d0, d1, d2]   channels x height x width
 *   TOKENS: tokens[d0]     integer ids, d0 time steps */
typedef enum { PLAN_VEC = 0, PLAN_SEQ, PLAN_IMG, PLAN_TOKENS } plan_shape_kind;
typedef struct {
    plan_shape_kind kind;
    int d[3];
} plan_shape;

long plan_shape_size(plan_shape s);
/* "[256]", "[64, 256]", "[1, 28, 28]", "tokens[64]" */
char *plan_shape_str(plan_shape s, char *buf, size_t n);
bool plan_shape_eq(plan_shape a, plan_shape b);

typedef struct {
    plan_layer_kind kind;
    int line;           /* source line of the layer statement */
    plan_shape in, out;
    plan_act act;       /* dense, conv: fused activation; activation layers: their own */
    plan_init init;     /* dense, conv */
    int units;          /* dense, rnn/gru/lstm: units; conv: filters; embed: dim */
    int vocab;          /* embed: number of token ids */
    int stack;          /* rnn/gru/lstm */
    double dropout;     /* rnn/gru/lstm: between stacked layers */
    double p;           /* dropout */
    int kernel, stride, pad; /* conv (pad: zero padding on each side); pools: kernel = size */
    bool pad_same;      /* conv */
    long params;        /* exact number of trainable parameters */
    long flops;         /* forward FLOPs per sample (a multiply-add counts 2) */
} plan_layer;

/* "dense 256, relu", "conv 32, relu (3x3/1 same)": a layer in a few words. */
void plan_layer_desc(const plan_layer *l, char *buf, size_t n);

typedef enum { PLAN_SRC_NONE = 0, PLAN_SRC_IDX, PLAN_SRC_CSV, PLAN_SRC_TEXT, PLAN_SRC_SPLIT } plan_src_kind;
typedef enum { PLAN_LABEL_LAST = 0, PLAN_LABEL_FIRST, PLAN_LABEL_INDEX, PLAN_LABEL_NAME } plan_label_kind;

typedef struct {
    plan_src_kind kind;
    const char **paths;  /* idx: images; csv: file; text: files in order */
    int n_paths;
    const char *labels;  /* idx: labels file */
    plan_label_kind label_kind; /* csv */
    int label_index;     /* csv: resolved 0-based column */
    const char *label_name;
    bool header;         /* csv */
    int seq;             /* text */
    double fraction;     /* split: of train */
    long n;              /* samples (text: tokens) */
} plan_source;

typedef struct {
    const char *name;
    plan_source train, valid, test;
    double scale;        /* 1 when not set */
    bool normalize;      /* normalize = standard */
    bool shuffle;
    bool is_text;
    plan_shape input;    /* the shape of one sample as stored: [784] / [1,28,28] / tokens[seq] */
    int classes;         /* 0 when unknown */
    int vocab;           /* text */
    int features;        /* csv: columns but the label; idx: pixels */
} plan_data;

typedef enum { PLAN_LOSS_CROSS_ENTROPY = 0, PLAN_LOSS_MSE } plan_loss;

/* A model parameter as the experiment resolved it (for explain and experiment.hp). */
typedef struct {
    const char *name;
    const char *value; /* as .hp text */
} plan_param;

typedef struct {
    const char *name;
    const char *file;    /* the .hp file that declares it */
    int line;
    plan_data data;
    const char *model;
    plan_param *params;
    int n_params;
    plan_layer *layers;
    int n_layers;
    long total_params;
    long total_flops;
    plan_loss loss;
    bool fused_softmax;  /* a final softmax folded into cross_entropy */
    hprt_optimizer optimizer;
    double clip;         /* 0: no clipping */
    hprt_schedule schedule;
    hprt_batch batch;
    int epochs;
    hprt_stop stop;
    hprt_regularize regularize;
    hprt_lrfind lrfind;
    bool uses_find_lr;
    uint64_t seed;
    int threads;         /* 0: all cores */
    hprt_duration checkpoint; /* last.hpw also this often (n = 0: at epoch ends only) */
    const char *tensorboard;  /* TensorBoard event files go there (NULL: none) */
} plan_experiment;

typedef enum { PLAN_SPACE_SET = 0, PLAN_SPACE_RANGE, PLAN_SPACE_LOG, PLAN_SPACE_UNIFORM } plan_space_kind;

typedef struct {
    const char *path;      /* "model.depth", "optimizer.lr", "batch" */
    plan_space_kind kind;
    const char **values;   /* set: each value as .hp text */
    int n_values;
    double lo, hi;         /* range (integers), log, uniform */
    int line;
} plan_vary;

typedef enum { PLAN_STRATEGY_GRID = 0, PLAN_STRATEGY_RANDOM, PLAN_STRATEGY_HYPERBAND, PLAN_STRATEGY_ASHA } plan_strategy;

typedef struct {
    const char *name;
    const char *file;
    int line;
    plan_experiment *base;
    plan_vary *varies;
    int n_varies;
    plan_strategy strategy;
    int trials;            /* random, asha */
    int max_epochs;        /* hyperband, asha */
    double eta;            /* hyperband, asha */
    hprt_metric objective;
    hprt_mode objective_mode;
    int parallel;
} plan_search;

/* A Plan: one experiment (`hpc run`) or one search (`hpc search`). */
typedef struct {
    hp_arena arena;
    plan_experiment *experiment; /* set for an experiment */
    plan_search *search;         /* set for a search (its base is in search->base) */
} plan;

void plan_free(plan *p);

/* What a checkpoint must match: a hash of every layer's kind and shapes, the
 * parameter count and the optimizer, and the same as words for messages
 * ("784 -> 256 -> 256 -> 10; 269322 parameters; adam"). */
uint64_t plan_shape_hash(const plan_experiment *e);
void plan_shape_desc(const plan_experiment *e, char *buf, size_t n);

/* Steps in one epoch at the given batch size (text: windows of seq tokens). */
long plan_steps_per_epoch(const plan_experiment *e, int batch);

/* `hpc explain`: the layer table, totals, and every policy with defaults shown. */
void plan_explain(const plan_experiment *e, FILE *out);
void plan_explain_search(const plan_search *s, FILE *out);

/* The policies as .hp text, every parameter written out (explain, experiment.hp). */
void plan_print_optimizer(const hprt_optimizer *o, FILE *out);
void plan_print_schedule(const hprt_schedule *s, FILE *out);
void plan_print_stop(const hprt_stop *s, FILE *out);
void plan_print_batch(const hprt_batch *b, FILE *out);
void plan_print_regularize(const hprt_regularize *r, FILE *out);
/* The whole experiment as a .hp file that checks to the same Plan: data with
 * absolute paths, the model's layers expanded, every setting written out. */
void plan_write_hp(const plan_experiment *e, int threads, FILE *out);

/* Names of the policy enums, as the language spells them. */
const char *plan_opt_name(hprt_opt_kind k);
const char *plan_sched_name(hprt_sched_kind k);
const char *plan_stop_name(hprt_stop_kind k);

#endif
