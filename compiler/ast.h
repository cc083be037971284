/* ast.h - what the user wrote, with spans.  No meaning attached.
 *
 * Every node is allocated in the hp_ast's arena and freed with it.
 */
#ifndef HP_AST_H
#define HP_AST_H

#include <stdbool.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "hprt_policy.h"

typedef struct hp_expr hp_expr;

/* Limits of the front end (docs/language.md, "Limits"): brackets ( [ { nest at
 * most HP_MAX_NESTING deep, an expression tree is at most HP_MAX_EXPR_DEPTH
 * deep (operators, unary minus, calls and lists each add a level). */
#define HP_MAX_NESTING 256
#define HP_MAX_EXPR_DEPTH 256

/* An argument of a call or layer: positional (name == NULL) or named. */
typedef struct {
    const char *name;
    hp_span name_span;
    hp_expr *value;
} hp_arg;

typedef enum {
    HP_EX_NUMBER,   /* num */
    HP_EX_DURATION, /* num, unit */
    HP_EX_STRING,   /* str (escapes resolved) */
    HP_EX_BOOL,     /* boolean */
    HP_EX_PATH,     /* parts[n_parts]: `x` or `model.depth` */
    HP_EX_CALL,     /* callee, callee_span, args[n_args] */
    HP_EX_LIST,     /* items[n_items] */
    HP_EX_NEG,      /* lhs */
    HP_EX_BINARY,   /* op in "+-*\/", lhs, rhs */
} hp_expr_kind;

struct hp_expr {
    hp_expr_kind kind;
    hp_span span;
    double num;
    hprt_unit unit;
    const char *str;
    bool boolean;
    const char **parts;
    hp_span *part_spans;
    int n_parts;
    const char *callee;
    hp_span callee_span;
    hp_arg *args;
    int n_args;
    hp_expr **items;
    int n_items;
    char op;
    hp_expr *lhs, *rhs;
    int depth;  /* of the tree below and including this node */
    bool bad;   /* deeper than HP_MAX_EXPR_DEPTH (reported once): no children, evaluates to nothing */
};

/* `name = value` in data, experiment and search bodies, and model parameters. */
/* Body items begin with a tag so a body can hold a mix: 's', 'l' or 'v'. */
typedef struct {
    char tag;
    bool broken;      /* a syntax error follows it on its line: not checked */
    const char *name;
    hp_span name_span;
    hp_expr *value;
    hp_span span;
} hp_setting;

typedef struct hp_layer hp_layer;
struct hp_layer {
    char tag;
    bool broken;      /* a syntax error follows it on its line: not checked */
    bool is_repeat;
    hp_span span;
    /* a layer statement */
    const char *kind;
    hp_span kind_span;
    hp_arg *args;
    int n_args;
    /* repeat count { body } */
    hp_expr *count;
    hp_layer **body;
    int n_body;
};

typedef enum { HP_SPACE_SET, HP_SPACE_RANGE, HP_SPACE_CALL } hp_space_kind;

/* `vary path in space` */
typedef struct {
    char tag;
    bool broken;      /* a syntax error follows it on its line: not checked */
    const char **path;
    hp_span *path_spans;
    int n_path;
    hp_span path_span;
    hp_space_kind space;
    hp_expr **items; /* set */
    int n_items;
    hp_expr *lo, *hi; /* range */
    hp_expr *call;    /* log(a, b), uniform(a, b) */
    hp_span space_span;
    hp_span span;
} hp_vary;

typedef enum { HP_DECL_IMPORT, HP_DECL_DATA, HP_DECL_MODEL, HP_DECL_EXPERIMENT, HP_DECL_SEARCH } hp_decl_kind;

typedef struct {
    hp_decl_kind kind;
    hp_span span;       /* the whole declaration */
    const char *name;   /* NULL for import */
    hp_span name_span;
    const char *import_path; /* import: the string */
    hp_setting **settings;   /* data, experiment, search; model: parameters */
    int n_settings;
    hp_layer **layers;       /* model */
    int n_layers;
    hp_vary **varies;        /* search */
    int n_varies;
    int file;
    bool broken;             /* holds a syntax error: missing settings are not reported */
    bool used;               /* a model some experiment's `model =` names (hpc check) */
    int data_slot;           /* data: its entry in the checker's cache + 1, 0 before it is checked */
} hp_decl;

typedef struct {
    hp_arena arena;
    int file;           /* index into the hp_diags sources */
    hp_decl **decls;
    int n_decls, cap_decls;
    int diags_seen;     /* diagnostics already matched against a declaration (hp_add_decl) */
} hp_ast;

/* Parses source file `file` of d (added with hp_diags_add_source).  Syntax
 * errors go to d; the AST holds every declaration that parsed.  Never NULL
 * unless out of memory. */
hp_ast *hp_parse(hp_diags *d, int file);
void hp_ast_free(hp_ast *ast);

/* Writes the AST back as .hp text (used by tests and `hpc run`'s experiment.hp). */
const char *hp_decl_kind_name(hp_decl_kind k);

/* The AST as indented text (`hpc emit --dump=ast`): one node per line with
 * its line:column, expressions written out as .hp text. */
void hp_ast_dump(const hp_ast *ast, FILE *out);

#endif
