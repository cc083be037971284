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
#include "hprt_data.h"

/* The layer kinds: one row each in layers.def (its comment says how a kind is added). */
typedef enum {
#define X(e, name, traits, args) PLAN_##e,
#include "layers.def"
#undef X
} plan_layer_kind;
/* outside the enum, so that a switch over every kind need not name it */
enum {
    PLAN_LAYER__COUNT = 0
#define X(e, name, traits, args) +1
#include "layers.def"
#undef X
};

/* Traits of a layer kind (layers.def's third column). */
enum {
    PLAN_LK_PARAMS = 1 << 0,     /* has trainable parameters (in the parameter arena and checkpoints) */
    PLAN_LK_ACTIVATION = 1 << 1, /* a standalone elementwise (or row-wise: softmax) activation */
    PLAN_LK_RECURRENT = 1 << 2,  /* reads a sequence step after step, carrying a state */
    PLAN_LK_PER_STEP = 1 << 3,   /* on a sequence [T, N], applied to each step's N features */
    PLAN_LK_VIEW = 1 << 4,       /* no buffer of its own: its output is its input, reshaped */
    PLAN_LK_AOT = 1 << 5,        /* `hpc build` compiles it into a feed-forward predictor */
    PLAN_LK_AOT_LM = 1 << 6,     /* `hpc build` compiles it into a language model's step */
};

/* An argument of a layer kind (layers.def's fourth column). */
typedef enum { PLAN_ARG_INT, PLAN_ARG_NUM, PLAN_ARG_CHOICE, PLAN_ARG_ACT, PLAN_ARG_INIT, PLAN_ARG_SHAPE } plan_arg_type;
typedef struct {
    const char *bind;    /* as ck_bind takes it: "!units" when required, else "stack" */
    const char *name;
    const char *def;     /* the default as .hp text (NULL: required) */
    plan_arg_type type;
    double lo, hi;       /* INT: [lo, hi]; NUM: lo and hi, each open or closed */
    bool lo_open, hi_open;
    const char *what;    /* the argument in messages ("the embedding dimension") */
    const char *choices; /* CHOICE, ACT, INIT: "same|valid" (ck_choice's index is the value) */
} plan_layer_arg;
#define LA_REQ_INT(nm, what, lo, hi) {"!" nm, nm, NULL, PLAN_ARG_INT, lo, hi, false, false, what, NULL}
#define LA_INT(nm, def, what, lo, hi) {nm, nm, def, PLAN_ARG_INT, lo, hi, false, false, what, NULL}
#define LA_REQ_NUM(nm, what, lo, lo_open, hi, hi_open) {"!" nm, nm, NULL, PLAN_ARG_NUM, lo, hi, lo_open, hi_open, what, NULL}
#define LA_NUM(nm, def, what, lo, lo_open, hi, hi_open) {nm, nm, def, PLAN_ARG_NUM, lo, hi, lo_open, hi_open, what, NULL}
#define LA_CHOICE(nm, def, what, choices) {nm, nm, def, PLAN_ARG_CHOICE, 0, 0, false, false, what, choices}
#define LA_ACT {"activation", "activation", "none", PLAN_ARG_ACT, 0, 0, false, false, "activation", \
                "relu|tanh|sigmoid|gelu|softmax|linear|none"}
#define LA_INIT {"init", "init", "default", PLAN_ARG_INIT, 0, 0, false, false, "init", "default|xavier|kaiming|zeros"}
#define LA_INIT_EMBED {"init", "init", "default", PLAN_ARG_INIT, 0, 0, false, false, "init", "default|normal|uniform|xavier"}
#define LA_INIT_RNN {"init", "init", "default", PLAN_ARG_INIT, 0, 0, false, false, "init", "default|orthogonal"}
#define LA_SHAPE {"!shape", "shape", NULL, PLAN_ARG_SHAPE, 0, 0, false, false, "the input shape", NULL}

typedef struct {
    const char *name;
    unsigned traits;            /* PLAN_LK_* */
    const plan_layer_arg *args; /* in positional order */
    int n_args;
} plan_layer_info;

/* The row of kind k (compiler/layers.c). */
const plan_layer_info *plan_layer_info_of(plan_layer_kind k);
const char *plan_layer_name(plan_layer_kind k);
bool plan_layer_has(plan_layer_kind k, unsigned trait);
/* The kind spelled `name`, or -1. */
int plan_layer_find(const char *name);
/* The argument list as docs/language.md's layer table shows it:
 * "`units`, `activation = none`, `init = default`"; "—" for none. */
void plan_layer_args_doc(plan_layer_kind k, char *buf, size_t n);

/* Activation applied by dense/conv (or the kind of a standalone activation). */
/* The table: activations.def (the first row, none, is 0). */
typedef enum {
#define X(e, name) PLAN_ACT_##e,
#include "activations.def"
#undef X
} plan_act;
enum {
    PLAN_ACT__COUNT = 0
#define X(e, name) +1
#include "activations.def"
#undef X
};
const char *plan_act_name(plan_act a);

/* Weight initialisers (the table: inits.def; the first row, default, is 0). */
typedef enum {
#define X(e, name) PLAN_INIT_##e,
#include "inits.def"
#undef X
} plan_init;
enum {
    PLAN_INIT__COUNT = 0
#define X(e, name) +1
#include "inits.def"
#undef X
};
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
    plan_init init;     /* dense, conv, embed, rnn/gru/lstm */
    int units;          /* dense, rnn/gru/lstm: units; conv: filters; embed: dim */
    int vocab;          /* embed: number of token ids */
    int stack;          /* rnn/gru/lstm */
    double dropout;     /* rnn/gru/lstm: between stacked layers */
    double p;           /* dropout */
    int kernel, stride, pad; /* conv (pad: zero padding on each side); pools: kernel = size */
    bool pad_same;      /* conv */
    double eps;         /* layernorm, batchnorm */
    double momentum;    /* batchnorm: of the running statistics */
    const char *columns; /* embed_columns: its tables, "input.city 21x8, input.shop 8x2" (for messages) */
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
    int *label_columns;  /* csv, multi-label (`label = [...]`): the 0-based file column of label i */
    int n_labels;        /* their number (0: one label column, label_index) */
    int *categorical;    /* csv, train: the categorical file columns (0-based) */
    int *categorical_dims; /* each one's embedding size; 0: one-hot */
    int *categorical_min_counts; /* embedded: min_count (0: none) */
    int n_categorical;
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
    int classes;         /* 0 when unknown; multi-label: the label columns */
    int labels;          /* multi-label (several 0/1 label columns, bce): their number; 0 otherwise */
    const char **label_names; /* multi-label: each label column's header name, or NULL without a header */
    int vocab;           /* text */
    int features;        /* csv: columns but the label (one-hot columns counted once per category, embedded
                            ones `dim` times: the model's input); idx: pixels */
    int row_features;    /* floats per stored row: features, an embedded column counting 1 (its id) */
    hprt_csv_encoding csv; /* csv: class names and categories of the training rows (arena strings; first_row NULL) */
    const char *csv_text; /* the same as hprt_csv_encoding_save's text (checkpoints keep it); NULL when empty */
} plan_data;

/* The losses: one row each in losses.def. */
typedef enum {
#define X(e, ...) PLAN_LOSS_##e,
#include "losses.def"
#undef X
    PLAN_LOSS__COUNT
} plan_loss;
/* "cross_entropy", ...; the alias ("l1") or NULL; the .hp signature; the PyTorch class */
const char *plan_loss_name(plan_loss k);
const char *plan_loss_alias(plan_loss k);
const char *plan_loss_signature(plan_loss k);
const char *plan_loss_torch(plan_loss k);

/* A loss's options (docs/language.md §9). */
typedef struct {
    double smoothing;      /* cross_entropy: label_smoothing, 0-1 */
    double delta;          /* huber: 1 */
    bool balanced;         /* cross_entropy: weights = balanced (computed from the training split) */
    const float *weights;  /* cross_entropy: one per class, or NULL; balanced: filled by the data pass */
    int n_weights;
    bool binary;           /* bce with one output: the label 0/1 is the target */
    int line;              /* of `loss = ...` (0: not set) */
} plan_loss_opts;

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
    plan_loss_opts loss_opts;
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
    double memory_bytes; /* the run's estimated memory (check_limits.c); 0: not estimated */
    const char *tensorboard;  /* TensorBoard event files go there (NULL: none) */
} plan_experiment;

/* A search varies at most this many paths (each trial's point is journaled whole). */
#define PLAN_MAX_VARIES 64

typedef enum { PLAN_SPACE_SET = 0, PLAN_SPACE_RANGE, PLAN_SPACE_LOG, PLAN_SPACE_UNIFORM } plan_space_kind;

typedef struct {
    const char *path;      /* "model.depth", "optimizer.lr", "batch" */
    plan_space_kind kind;
    const char **values;   /* set: each value as .hp text */
    int n_values;
    double lo, hi;         /* range (integers), log, uniform */
    int line;
    bool changes_shape;    /* its values need different compiled code (checked on the set, or the ends) */
    long shapes;           /* how many: 1, the distinct shapes of a set, a range's size, -1 one per value */
} plan_vary;

typedef enum {
    PLAN_STRATEGY_GRID = 0,
    PLAN_STRATEGY_RANDOM,
    PLAN_STRATEGY_HYPERBAND,
    PLAN_STRATEGY_ASHA,
    PLAN_STRATEGY_TPE,
    PLAN_STRATEGY__COUNT
} plan_strategy;
/* "grid", "random", ...: the language's spelling (every consumer loops over it) */
const char *plan_strategy_name(plan_strategy k);

typedef struct {
    const char *name;
    const char *file;
    int line;
    plan_experiment *base;
    plan_vary *varies;
    int n_varies;
    plan_strategy strategy;
    int trials;            /* random, tpe, asha */
    int startup;           /* tpe (and sample = tpe): random trials before the first TPE draw */
    bool sample_tpe;       /* hyperband, asha: draw trials with TPE (BOHB) instead of at random */
    uint64_t seed;         /* random, tpe: the study's draws (default: the base's seed) */
    int max_epochs;        /* hyperband, asha */
    double eta;            /* hyperband, asha */
    hprt_metric objective;
    hprt_mode objective_mode;
    int parallel;          /* 0: one trial per core */
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

/* The same experiment over windows of T steps (a language model sampled one
 * token at a time: T = 1): the data's window and every sequence shape. */
void plan_set_steps(plan_experiment *e, int T);
/* The LR range test's suggestion put where the file says find_lr (the
 * optimizer's rate, a schedule's max or base, inside a warm-up too); `where`
 * names the places ("optimizer.lr, schedule max"). */
void plan_apply_found_rate(plan_experiment *e, double lr, char *where, size_t n);
/* Why this experiment cannot be sampled one token at a time, or NULL. */
const char *plan_sampling_refusal(const plan_experiment *e);

/* The worker threads a run of e uses: its `threads`, else one per core (at
 * most HPRT_MAX_THREADS). */
int plan_threads(const plan_experiment *e);

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
/* the loss as .hp text: `cross_entropy`, `huber(delta = 2)` (explain, experiment.hp) */
void plan_print_loss(const plan_experiment *e, FILE *out);
/* The whole experiment as a .hp file that checks to the same Plan: data with
 * absolute paths, the model's layers expanded, every setting written out. */
void plan_write_hp(const plan_experiment *e, int threads, FILE *out);

/* Names of the policy enums, as the language spells them (from their tables,
 * runtime/include/hprt_*.def). */
const char *plan_opt_name(hprt_opt_kind k);
const char *plan_sched_name(hprt_sched_kind k);
const char *plan_stop_name(hprt_stop_kind k);

/* A parameter of a schedule or stop rule as the language spells it: name
 * ("!every": required) and default as .hp text (NULL: required, or a default
 * that the docs describe in words). */
typedef struct {
    const char *name;
    const char *def;
} plan_param_doc;

#define PLAN_MAX_POLICY_PARAMS 10
typedef struct {
    plan_param_doc params[PLAN_MAX_POLICY_PARAMS];
    int n;
} plan_policy_params;

/* The parameters of each schedule and stop rule in the order of their .hp
 * signature (compiler/vocab.c); the binders and printers follow them. */
const plan_policy_params *plan_sched_params(hprt_sched_kind k);
const plan_policy_params *plan_stop_params(hprt_stop_kind k);

#endif
