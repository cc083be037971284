/* check_int.h - the checker's internals, shared by check_*.c.
 *
 * Values: the checker evaluates expressions into ck_val.  Numbers fold
 * (`1 / 255`); a bare name stays a name until its setting gives it meaning
 * (`relu`, `val_loss`, `find_lr`, a declaration); a call keeps its evaluated
 * arguments.  A value that already produced an error is POISON, and every
 * consumer passes poison through silently, so one mistake gives one message.
 */
#ifndef HP_CHECK_INT_H
#define HP_CHECK_INT_H

#include <stdbool.h>

#include "check.h"

typedef enum { V_POISON = 0, V_NUM, V_DUR, V_STR, V_BOOL, V_NAME, V_CALL, V_LIST } ck_vkind;

typedef struct ck_val ck_val;
typedef struct {
    const char *name; /* NULL: positional */
    hp_span name_span;
    ck_val *v;
} ck_arg;

struct ck_val {
    ck_vkind k;
    hp_span span;
    double num;        /* NUM, DUR */
    hprt_unit unit;    /* DUR */
    const char *s;     /* STR: text; NAME, CALL: the name */
    bool b;            /* BOOL */
    hp_span name_span; /* CALL: the callee */
    ck_arg *args;      /* CALL */
    int n_args;
    ck_val **items;    /* LIST */
    int n_items;
};

/* One .hp file of the program. */
typedef struct ck_unit ck_unit;
struct ck_unit {
    int file;          /* index in the diagnostics' sources */
    char *dir;         /* directory, for relative paths */
    hp_ast *ast;
    ck_unit **imports;
    int n_imports;
};

/* A name bound in a file's namespace. */
typedef struct {
    const char *name;
    hp_decl *decl;
} ck_binding;

/* The data a data declaration resolved to, cached per declaration. */
typedef struct {
    hp_decl *decl;
    bool ok;           /* no errors: the plan_data is complete */
    plan_data data;
} ck_data_entry;

struct hp_program {
    hp_diags *d;
    hp_arena arena;    /* units, bindings, values, cached data */
    ck_unit **units;
    int n_units;
    ck_unit *root;
    ck_binding *names; /* the root file's namespace (imports included) */
    int n_names;
    int *name_index;   /* open-addressing hash of names: index + 1 into names, 0 empty */
    int name_cap;      /* a power of two, at least twice n_names */
    ck_data_entry *data; /* cache */
    int n_data, cap_data;
    const char **targets;
    int n_targets;
    bool names_checked;
};

/* Where model-scope names come from while evaluating. */
typedef struct {
    const plan_data *data;   /* NULL: a model checked on its own (data names are unknown) */
    hp_decl *model;
    const char **param_names;
    ck_val **param_vals;
    bool *param_pinned;      /* the value came from an override: errors point at it */
    int n_params;
    bool *data_name_missing; /* set when the model uses a name the data lacks */
    const char **missing_name;
    hp_span *missing_span;
} ck_scope;

/* An override in checked form. */
typedef struct {
    const char **parts;
    int n_parts;
    hp_span span;
    ck_val *v;
    bool used;
} ck_override;

/* The checker's working state for one plan. */
typedef struct {
    hp_program *p;
    hp_diags *d;
    hp_arena *out;      /* the plan's arena: everything in the Plan comes from it */
    ck_override *ov;
    int n_ov;
    hprt_lrfind *lrfind;     /* where `find_lr(...)` options go (the experiment being checked) */
    const plan_data *data;   /* the experiment's data, when known (for val_bpc) */
} ck;

/* ---- check_eval.c ---- */
ck_val *ck_eval(ck *c, const hp_expr *e, const ck_scope *sc);
ck_val *ck_poison(ck *c, hp_span span);
const char *ck_describe(ck *c, const ck_val *v);
char *ck_val_text(hp_arena *a, const ck_val *v); /* as .hp text */
bool ck_is_name(const ck_val *v, const char *name);
/* "did you mean": the closest of candidates[0..n) within a small edit distance, or NULL */
const char *ck_suggest(const char *word, const char *const *candidates, int n);

/* Typed reads; each reports its own error and returns false (v poison: false, silently). */
bool ck_num(ck *c, const ck_val *v, const char *what, double *out);
bool ck_num_range(ck *c, const ck_val *v, const char *what, double lo, bool lo_open, double hi, bool hi_open, double *out);
bool ck_int(ck *c, const ck_val *v, const char *what, long lo, long hi, long *out);
bool ck_bool(ck *c, const ck_val *v, const char *what, bool *out);
bool ck_duration(ck *c, const ck_val *v, const char *what, hprt_duration *out);
bool ck_string(ck *c, const ck_val *v, const char *what, const char **out);
/* One of the names in choices ("a|b|c"); returns the index or -1. */
int ck_choice(ck *c, const ck_val *v, const char *what, const char *choices);

/* Binds a call's arguments to parameter names in order.  slots[i] gets the
 * value of params[i] or NULL.  Reports unknown, duplicate and surplus
 * arguments and missing required ones (params marked with a leading '!').
 * A bare name is a call with no arguments. */
bool ck_bind(ck *c, const ck_val *call, const char *what, const char *const *params, int n, ck_val **slots);

/* ---- check_data.c ---- */
const ck_data_entry *ck_data(ck *c, hp_decl *decl);

/* ---- check_model.c ---- */
/* Expands and infers a model for data (NULL: on its own); fills e->layers. */
bool ck_model(ck *c, hp_decl *model, const ck_val *use, const plan_data *data, plan_experiment *e,
              hp_span use_span);

/* ---- check_policy.c ---- */
bool ck_optimizer(ck *c, const ck_val *v, hprt_optimizer *o, bool *find_lr);
bool ck_schedule(ck *c, const ck_val *v, hprt_schedule *s, bool *find_lr, bool has_valid, hp_span *monitor_span);
bool ck_batch(ck *c, const ck_val *v, hprt_batch *b);
bool ck_stop(ck *c, const ck_val *v, hprt_stop *s, bool has_valid);
bool ck_regularize(ck *c, const ck_val *v, hprt_regularize *r, bool has_valid);
/* loss = ...: e->loss and e->loss_opts (c->data, when set, for the class count) */
bool ck_loss(ck *c, const ck_val *v, plan_experiment *e);
bool ck_metric(ck *c, const ck_val *v, hprt_metric *m, bool has_valid);
void ck_lr_note(ck *c, double lr, hp_span span);

/* ---- check_limits.c ---- */
#define CK_MAX_REPEAT_NESTING 32 /* repeats inside repeats, beyond the outermost */
#define CK_MAX_MODEL_PARAMS 1000 /* parameters of one model (their duplicate check is quadratic) */
/* Counts what model's layers expand to before expanding them; false (reported
 * at the innermost repeat that crosses it) when that passes limit. */
bool ck_expansion_ok(ck *c, hp_decl *model, const ck_scope *sc, long limit);
/* The limits `hpc run` meets before its first step (dropout sites, outputs per
 * time step, text steps per epoch, memory), reported at their lines; fills
 * e->memory_bytes.  For a checked experiment whose model and data are fine. */
void ck_experiment_limits(ck *c, plan_experiment *e, hp_decl *model, hp_span use, hp_span batch_at);

/* The settings of a data declaration (check_data.c's table). */
const char *const *ck_data_settings(int *n);

/* ---- check.c ---- */
/* Finds the settings of a body by name; reports duplicates and unknown names (what: "data", "an experiment"). */
void ck_index_settings(ck *c, hp_decl *d, const char *const *known, int n_known, hp_setting **slots, const char *what);
hp_decl *ck_lookup(ck *c, const char *name, hp_span use, hp_decl_kind want, const char *what);
const char *ck_file_dir(ck *c, int file);

#endif
