/* hp.y - the grammar of the .hp language (docs/language.md §3).
 *
 * A pure parser with locations; its state is the hp_pstate of parse.h.  The
 * actions only call constructors (compiler/ast.c); every node lives in the
 * AST's arena, so error recovery throws nothing away that must be freed.
 *
 * Recovery is at statement level: `stmt: error` and `decl: error` resume at the
 * next newline, `;` or closing brace, so one pass reports every broken
 * statement.  Bison stays quiet until three tokens have been shifted after an
 * error, which keeps one mistake from producing a cascade.
 */
%code requires {
#include "parse.h"
typedef void *yyscan_t;
}

%code provides {
/* flex's bison bridge wants the plain names */
#define YYSTYPE HP_YYSTYPE
#define YYLTYPE HP_YYLTYPE
int hp_yylex(HP_YYSTYPE *lvalp, HP_YYLTYPE *llocp, yyscan_t scanner);
}

%code {
#include <string.h>
/* The parser's stack: the scanner's nesting limits keep real files far below
 * this; a pathological mix (`-(-(-(...` with long runs of each) that fills it
 * gets the message of hp_yyerror below, never an unbounded allocation. */
#define YYMAXDEPTH 10000
#define SPAN(l) hp_loc_span(ps, (l).first_line, (l).first_column, (l).last_line, (l).last_column)
static void hp_yyerror(HP_YYLTYPE *loc, hp_pstate *ps, yyscan_t scanner, const char *msg);
}

%define api.prefix {hp_yy}
%define api.pure full
%define parse.error custom
%locations
%expect 0
%lex-param {yyscan_t scanner}
%parse-param {hp_pstate *ps} {yyscan_t scanner}

%union {
    double num;
    struct { double n; int unit; } dur;
    const char *str;
    hp_expr *expr;
    hp_arg *arg;
    hp_vec *vec;
    hp_decl *decl;
    void *ptr;
    hp_layer *layer;
    hp_setting *setting;
    hp_ident *ident;
}

%token END 0 "end of file"
%token NEWLINE "end of line"
%token <str> IDENT "name"
%token <num> NUMBER "number"
%token <dur> DURATION "duration"
%token <str> STRING "string"
%token IMPORT "'import'" REPEAT "'repeat'" VARY "'vary'" IN "'in'" TRUE "'true'" FALSE "'false'"
%token DATA "'data'" MODEL "'model'" EXPERIMENT "'experiment'" SEARCH "'search'"
%token DOTDOT "'..'"
%token INVALID "invalid token"

%type <decl> decl
%type <vec> settings_body setting_stmts setting_stmts1 layer_body layer_stmts layer_stmts1
%type <vec> search_body search_stmts search_stmts1 params param_list args arg_list exprs path_parts
%type <ptr> search_stmt
%type <setting> setting param
%type <layer> layer_stmt
%type <expr> expr path space_expr
%type <arg> arg

%left '+' '-'
%left '*' '/'
%precedence NEG

%%

file
    : seps_opt
    | decls seps_opt
    ;

/* decl { sep decl } */
decls
    : seps_opt decl              { if ($2) hp_add_decl(ps, $2); }
    | decls seps decl            { if ($3) hp_add_decl(ps, $3); }
    | decls error
    ;

seps_opt: %empty | seps ;
seps: sep | seps sep ;
sep: NEWLINE | ';' ;

decl
    : IMPORT STRING {
          $$ = hp_mk_decl(ps, HP_DECL_IMPORT, NULL, SPAN(@2), SPAN(@$));
          $$->import_path = $2;
      }
    | DATA IDENT settings_body {
          $$ = hp_mk_decl(ps, HP_DECL_DATA, $2, SPAN(@2), SPAN(@$));
          hp_decl_set_items(ps, $$, $3);
      }
    | MODEL IDENT params layer_body {
          $$ = hp_mk_decl(ps, HP_DECL_MODEL, $2, SPAN(@2), SPAN(@$));
          hp_decl_set_items(ps, $$, $3);
          hp_decl_set_items(ps, $$, $4);
      }
    | EXPERIMENT IDENT settings_body {
          $$ = hp_mk_decl(ps, HP_DECL_EXPERIMENT, $2, SPAN(@2), SPAN(@$));
          hp_decl_set_items(ps, $$, $3);
      }
    | SEARCH IDENT search_body {
          $$ = hp_mk_decl(ps, HP_DECL_SEARCH, $2, SPAN(@2), SPAN(@$));
          hp_decl_set_items(ps, $$, $3);
      }
    | error { $$ = NULL; }
    ;

/* ---- data and experiment bodies: settings ---- */
settings_body
    : '{' setting_stmts '}'          { $$ = $2; }
    ;
setting_stmts
    : seps_opt                       { $$ = hp_mk_vec(ps); }
    | setting_stmts1 seps_opt        { $$ = $1; }
    ;
setting_stmts1
    : seps_opt setting               { $$ = hp_mk_vec(ps); if ($2) hp_push(ps, $$, $2); }
    | setting_stmts1 seps setting    { $$ = $1; if ($3) hp_push(ps, $$, $3); }
    | setting_stmts1 error           { $$ = $1; hp_mark_broken(ps, $1, @2.first_line); }
    ;
setting
    : IDENT '=' expr                 { $$ = hp_mk_setting(ps, $1, SPAN(@1), $3); $$->span = SPAN(@$); }
    | error                          { $$ = NULL; }
    ;

/* ---- model: parameters and layers ---- */
params
    : %empty                         { $$ = hp_mk_vec(ps); }
    | '(' ')'                        { $$ = hp_mk_vec(ps); }
    | '(' param_list ')'             { $$ = $2; }
    | '(' error ')'                  { $$ = hp_mk_vec(ps); }
    ;
param_list
    : param                          { $$ = hp_mk_vec(ps); hp_push(ps, $$, $1); }
    | param_list ',' param           { $$ = $1; hp_push(ps, $$, $3); }
    ;
param
    : IDENT '=' expr                 { $$ = hp_mk_setting(ps, $1, SPAN(@1), $3); $$->span = SPAN(@$); }
    ;
layer_body
    : '{' layer_stmts '}'            { $$ = $2; }
    ;
layer_stmts
    : seps_opt                       { $$ = hp_mk_vec(ps); }
    | layer_stmts1 seps_opt          { $$ = $1; }
    ;
layer_stmts1
    : seps_opt layer_stmt            { $$ = hp_mk_vec(ps); if ($2) hp_push(ps, $$, $2); }
    | layer_stmts1 seps layer_stmt   { $$ = $1; if ($3) hp_push(ps, $$, $3); }
    | layer_stmts1 error             { $$ = $1; hp_mark_broken(ps, $1, @2.first_line); }
    ;
layer_stmt
    : IDENT                          { $$ = hp_mk_layer(ps, $1, SPAN(@1), NULL, SPAN(@$)); }
    | IDENT arg_list                 { $$ = hp_mk_layer(ps, $1, SPAN(@1), $2, SPAN(@$)); }
    | REPEAT expr layer_body         { $$ = hp_mk_repeat(ps, $2, $3, SPAN(@$)); }
    | error                          { $$ = NULL; }
    ;

/* ---- search: settings and vary ---- */
search_body
    : '{' search_stmts '}'           { $$ = $2; }
    ;
search_stmts
    : seps_opt                       { $$ = hp_mk_vec(ps); }
    | search_stmts1 seps_opt         { $$ = $1; }
    ;
search_stmts1
    : seps_opt search_stmt           { $$ = hp_mk_vec(ps); if ($2) hp_push(ps, $$, $2); }
    | search_stmts1 seps search_stmt { $$ = $1; if ($3) hp_push(ps, $$, $3); }
    | search_stmts1 error            { $$ = $1; hp_mark_broken(ps, $1, @2.first_line); }
    ;
search_stmt
    : IDENT '=' expr {
          hp_setting *s = hp_mk_setting(ps, $1, SPAN(@1), $3);
          s->span = SPAN(@$);
          $$ = s;
      }
    | VARY path IN '{' exprs '}' {
          hp_vary *v = hp_mk_vary(ps, $2, SPAN(@$));
          v->space = HP_SPACE_SET;
          v->items = (hp_expr **)$5->items;
          v->n_items = $5->n;
          v->space_span = hp_span_join(SPAN(@4), SPAN(@6));
          $$ = v;
      }
    | VARY path IN expr DOTDOT expr {
          hp_vary *v = hp_mk_vary(ps, $2, SPAN(@$));
          v->space = HP_SPACE_RANGE;
          v->lo = $4;
          v->hi = $6;
          v->space_span = hp_span_join(SPAN(@4), SPAN(@6));
          $$ = v;
      }
    | VARY path IN space_expr {
          hp_vary *v = hp_mk_vary(ps, $2, SPAN(@$));
          v->space = HP_SPACE_CALL;
          v->call = $4;
          v->space_span = SPAN(@4);
          $$ = v;
      }
    | error                          { $$ = NULL; }
    ;
space_expr
    : expr                           { $$ = $1; }
    ;

/* ---- expressions ---- */
arg_list
    : arg                            { $$ = hp_mk_vec(ps); hp_push(ps, $$, $1); }
    | arg_list ',' arg               { $$ = $1; hp_push(ps, $$, $3); }
    ;
arg
    : expr                           { $$ = hp_mk_arg(ps, NULL, SPAN(@1), $1); }
    | IDENT '=' expr                 { $$ = hp_mk_arg(ps, $1, SPAN(@1), $3); }
    ;
args
    : %empty                         { $$ = hp_mk_vec(ps); }
    | arg_list                       { $$ = $1; }
    ;
exprs
    : expr                           { $$ = hp_mk_vec(ps); hp_push(ps, $$, $1); }
    | exprs ',' expr                 { $$ = $1; hp_push(ps, $$, $3); }
    ;
expr
    : NUMBER                         { $$ = hp_mk_expr(ps, HP_EX_NUMBER, SPAN(@$)); $$->num = $1; }
    | DURATION                       { $$ = hp_mk_expr(ps, HP_EX_DURATION, SPAN(@$)); $$->num = $1.n; $$->unit = $1.unit; }
    | STRING                         { $$ = hp_mk_expr(ps, HP_EX_STRING, SPAN(@$)); $$->str = $1; }
    | TRUE                           { $$ = hp_mk_expr(ps, HP_EX_BOOL, SPAN(@$)); $$->boolean = true; }
    | FALSE                          { $$ = hp_mk_expr(ps, HP_EX_BOOL, SPAN(@$)); $$->boolean = false; }
    | path                           { $$ = $1; }
    | IDENT '(' args ')'             { $$ = hp_mk_call(ps, $1, SPAN(@1), $3, SPAN(@$)); }
    | '[' ']'                        { $$ = hp_mk_list(ps, NULL, SPAN(@$)); }
    | '[' exprs ']'                  { $$ = hp_mk_list(ps, $2, SPAN(@$)); }
    | '(' expr ')'                   { $$ = $2; $$->span = SPAN(@$); }
    | '-' expr %prec NEG             { $$ = hp_mk_neg(ps, $2, SPAN(@$)); }
    | expr '+' expr                  { $$ = hp_mk_binary(ps, '+', $1, $3); }
    | expr '-' expr                  { $$ = hp_mk_binary(ps, '-', $1, $3); }
    | expr '*' expr                  { $$ = hp_mk_binary(ps, '*', $1, $3); }
    | expr '/' expr                  { $$ = hp_mk_binary(ps, '/', $1, $3); }
    ;
path
    : path_parts                     { $$ = hp_mk_path(ps, $1, SPAN(@$)); }
    ;
path_parts
    : IDENT                          { $$ = hp_mk_vec(ps); hp_push(ps, $$, hp_mk_ident(ps, $1, SPAN(@1))); }
    | path_parts '.' IDENT           { $$ = $1; hp_push(ps, $$, hp_mk_ident(ps, $3, SPAN(@3))); }
    ;

%%

static const char *token_name(yysymbol_kind_t k)
{
    return yysymbol_name(k);
}

/* "unexpected X; expected Y or Z": the expected list only when it is short
 * enough to help; a bare "expected a value" when any expression would do. */
static int yyreport_syntax_error(const yypcontext_t *ctx, hp_pstate *ps, yyscan_t scanner)
{
    (void)scanner;
    if (ps->lex_error) { /* the scanner already said what is wrong */
        ps->lex_error = false;
        return 0;
    }
    const HP_YYLTYPE *loc = yypcontext_location(ctx);
    hp_span sp = SPAN(*loc);
    yysymbol_kind_t got = yypcontext_token(ctx);
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    bool wants_value = false;
    for (int i = 0; i < n; i++)
        if (exp[i] == YYSYMBOL_NUMBER)
            wants_value = true;

    char what[256];
    if (got == YYSYMBOL_IDENT || got == YYSYMBOL_STRING || got == YYSYMBOL_NUMBER) {
        const hp_source *src = hp_diags_source(ps->d, ps->file);
        /* quote the token's text from the source line */
        const char *line = src->text + src->line_start[loc->first_line - 1];
        int col = 1, i = 0, start = -1, end = -1;
        for (; line[i] && line[i] != '\n'; i++) {
            if (((unsigned char)line[i] & 0xC0) == 0x80)
                continue;
            if (col == loc->first_column && start < 0)
                start = i;
            if (loc->first_line == loc->last_line && col == loc->last_column + 1 && end < 0)
                end = i;
            col++;
        }
        if (end < 0)
            end = i;
        if (start < 0)
            start = end;
        int len = end - start > 40 ? 40 : end - start;
        snprintf(what, sizeof what, "%s '%.*s'", token_name(got), len, line + start);
    } else {
        snprintf(what, sizeof what, "%s", token_name(got));
    }

    char expected[256] = "";
    if (wants_value) {
        snprintf(expected, sizeof expected, "; expected a value");
    } else if (n > 0 && n <= 5) {
        size_t off = (size_t)snprintf(expected, sizeof expected, "; expected ");
        for (int i = 0; i < n && off < sizeof expected; i++)
            off += (size_t)snprintf(expected + off, sizeof expected - off, "%s%s",
                                    i == 0 ? "" : i == n - 1 ? " or " : ", ", token_name(exp[i]));
    }
    const char *hint = "";
    if (got == YYSYMBOL_IDENT && n > 0 && n <= 5) {
        for (int i = 0; i < n; i++)
            if (exp[i] == YYSYMBOL_NEWLINE)
                hint = " (missing ',' between arguments, or ';' between statements?)";
    }
    if (strcmp(yysymbol_name(got), "'='") == 0 && !wants_value)
        hint = " (is a value missing before this line? a newline after '=' does not end a statement)";
    hp_report(ps->d, HP_ERROR, NULL, sp, "unexpected %s%s%s", what, expected, hint);
    return 0;
}

static void hp_yyerror(HP_YYLTYPE *loc, hp_pstate *ps, yyscan_t scanner, const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted") == 0) /* bison's words for a full stack (YYMAXDEPTH) */
        hp_report(ps->d, HP_ERROR, NULL, SPAN(*loc),
                  "the expression is nested too deeply here (the parser holds at most %d pending tokens); split it",
                  YYMAXDEPTH);
    else
        hp_report(ps->d, HP_ERROR, NULL, SPAN(*loc), "%s", msg);
}
