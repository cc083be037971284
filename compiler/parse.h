/* parse.h - state shared by the scanner (grammar/hp.l) and the parser
 * (grammar/hp.y) for one file.  Internal to the front end. */
#ifndef HP_PARSE_H
#define HP_PARSE_H

#include <stdbool.h>

#include "ast.h"
#include "diag.h"

typedef struct {
    hp_diags *d;
    hp_ast *ast;
    int file;
    /* scanner position (1-based line; column in characters) */
    int line, col;
    /* the newline rule: the last token returned, 0 at the start */
    int last_tok;
    /* open brackets: '(' '[' '{' (a block) or 'S' (a set after `in`) */
    char open[HP_MAX_NESTING];
    hp_span open_at[HP_MAX_NESTING];
    int depth;       /* may exceed HP_MAX_NESTING; entries past it are not kept */
    /* the scanner reported the problem with the current token already */
    bool lex_error;
    /* a limit was crossed: the scanner returns only the end of the file */
    bool halted;
    int unary_run;   /* unary '-' in a row */
    /* bytes of the string being scanned (escapes resolved) */
    char *strbuf;
    size_t strlen, strcap;
} hp_pstate;

/* Constructors called by the grammar's actions. */
hp_expr *hp_mk_expr(hp_pstate *ps, hp_expr_kind kind, hp_span span);
hp_expr *hp_mk_binary(hp_pstate *ps, char op, hp_expr *l, hp_expr *r);
hp_expr *hp_mk_neg(hp_pstate *ps, hp_expr *operand, hp_span span);
hp_expr *hp_mk_call(hp_pstate *ps, const char *callee, hp_span callee_span, hp_vec *args, hp_span span);
hp_expr *hp_mk_list(hp_pstate *ps, hp_vec *items, hp_span span);
hp_expr *hp_mk_path(hp_pstate *ps, hp_vec *parts, hp_span span);
hp_arg *hp_mk_arg(hp_pstate *ps, const char *name, hp_span name_span, hp_expr *value);
hp_setting *hp_mk_setting(hp_pstate *ps, const char *name, hp_span name_span, hp_expr *value);
hp_layer *hp_mk_layer(hp_pstate *ps, const char *kind, hp_span kind_span, hp_vec *args, hp_span span);
hp_layer *hp_mk_repeat(hp_pstate *ps, hp_expr *count, hp_vec *body, hp_span span);
hp_vary *hp_mk_vary(hp_pstate *ps, hp_expr *path, hp_span span);
hp_decl *hp_mk_decl(hp_pstate *ps, hp_decl_kind kind, const char *name, hp_span name_span, hp_span span);
void hp_decl_set_items(hp_pstate *ps, hp_decl *decl, hp_vec *items);
void hp_add_decl(hp_pstate *ps, hp_decl *decl);
/* After a syntax error in a body: marks the statement before it when the error is on its line. */
void hp_mark_broken(hp_pstate *ps, hp_vec *items, int error_line);
hp_vec *hp_mk_vec(hp_pstate *ps);
void hp_push(hp_pstate *ps, hp_vec *v, void *item);
hp_span hp_loc_span(hp_pstate *ps, int fl, int fc, int ll, int lc);

/* Path part: an identifier with its span (the grammar builds paths from these). */
typedef struct {
    const char *name;
    hp_span span;
} hp_ident;
hp_ident *hp_mk_ident(hp_pstate *ps, const char *name, hp_span span);

#endif
