/* ast.c - AST constructors (called by the grammar) and hp_parse(). */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

#include "hp.tab.h"
#include "hp.lex.h"
#include "parse.h"

hp_span hp_loc_span(hp_pstate *ps, int fl, int fc, int ll, int lc)
{
    hp_span s = {ps->file, fl, fc, ll, lc};
    return s;
}

hp_vec *hp_mk_vec(hp_pstate *ps) { return hp_alloc(&ps->ast->arena, sizeof(hp_vec)); }

void hp_push(hp_pstate *ps, hp_vec *v, void *item) { hp_vec_push(&ps->ast->arena, v, item); }

hp_ident *hp_mk_ident(hp_pstate *ps, const char *name, hp_span span)
{
    hp_ident *id = hp_alloc(&ps->ast->arena, sizeof *id);
    id->name = name;
    id->span = span;
    return id;
}

hp_expr *hp_mk_expr(hp_pstate *ps, hp_expr_kind kind, hp_span span)
{
    hp_expr *e = hp_alloc(&ps->ast->arena, sizeof *e);
    e->kind = kind;
    e->span = span;
    e->depth = 1;
    return e;
}

/* The depth limit: e sits on children at most `below` deep.  The node that
 * first crosses HP_MAX_EXPR_DEPTH reports it and becomes `bad` (its children
 * dropped); a node above a bad one is bad silently, so one deep expression
 * gives one error and the checker never recurses deeper than the limit. */
static hp_expr *depth_limited(hp_pstate *ps, hp_expr *e, int below, bool bad_below)
{
    e->depth = below + 1;
    if (!bad_below && e->depth <= HP_MAX_EXPR_DEPTH)
        return e;
    if (!bad_below)
        hp_report(ps->d, HP_ERROR, NULL, e->span,
                  "this expression is nested more than %d deep (operators, '-', calls and lists each add a level); "
                  "split it",
                  HP_MAX_EXPR_DEPTH);
    e->bad = true;
    e->depth = HP_MAX_EXPR_DEPTH + 1;
    e->lhs = e->rhs = NULL;
    e->items = NULL;
    e->n_items = 0;
    e->args = NULL;
    e->n_args = 0;
    return e;
}

hp_expr *hp_mk_binary(hp_pstate *ps, char op, hp_expr *l, hp_expr *r)
{
    hp_expr *e = hp_mk_expr(ps, HP_EX_BINARY, hp_span_join(l->span, r->span));
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    return depth_limited(ps, e, l->depth > r->depth ? l->depth : r->depth, l->bad || r->bad);
}

hp_expr *hp_mk_neg(hp_pstate *ps, hp_expr *operand, hp_span span)
{
    hp_expr *e = hp_mk_expr(ps, HP_EX_NEG, span);
    e->lhs = operand;
    return depth_limited(ps, e, operand->depth, operand->bad);
}

static hp_arg *args_array(hp_pstate *ps, hp_vec *v, int *n)
{
    *n = v ? v->n : 0;
    if (!*n)
        return NULL;
    hp_arg *a = hp_alloc(&ps->ast->arena, sizeof *a * (size_t)*n);
    for (int i = 0; i < *n; i++)
        a[i] = *(hp_arg *)v->items[i];
    return a;
}

hp_expr *hp_mk_call(hp_pstate *ps, const char *callee, hp_span callee_span, hp_vec *args, hp_span span)
{
    hp_expr *e = hp_mk_expr(ps, HP_EX_CALL, span);
    e->callee = callee;
    e->callee_span = callee_span;
    e->args = args_array(ps, args, &e->n_args);
    int below = 0;
    bool bad = false;
    for (int i = 0; i < e->n_args; i++) {
        below = e->args[i].value->depth > below ? e->args[i].value->depth : below;
        bad |= e->args[i].value->bad;
    }
    return depth_limited(ps, e, below, bad);
}

hp_expr *hp_mk_list(hp_pstate *ps, hp_vec *items, hp_span span)
{
    hp_expr *e = hp_mk_expr(ps, HP_EX_LIST, span);
    int below = 0;
    bool bad = false;
    if (items) {
        e->items = (hp_expr **)items->items;
        e->n_items = items->n;
        for (int i = 0; i < e->n_items; i++) {
            below = e->items[i]->depth > below ? e->items[i]->depth : below;
            bad |= e->items[i]->bad;
        }
    }
    return depth_limited(ps, e, below, bad);
}

hp_expr *hp_mk_path(hp_pstate *ps, hp_vec *parts, hp_span span)
{
    hp_expr *e = hp_mk_expr(ps, HP_EX_PATH, span);
    e->n_parts = parts->n;
    e->parts = hp_alloc(&ps->ast->arena, sizeof *e->parts * (size_t)parts->n);
    e->part_spans = hp_alloc(&ps->ast->arena, sizeof *e->part_spans * (size_t)parts->n);
    for (int i = 0; i < parts->n; i++) {
        hp_ident *id = parts->items[i];
        e->parts[i] = id->name;
        e->part_spans[i] = id->span;
    }
    return e;
}

hp_arg *hp_mk_arg(hp_pstate *ps, const char *name, hp_span name_span, hp_expr *value)
{
    hp_arg *a = hp_alloc(&ps->ast->arena, sizeof *a);
    a->name = name;
    a->name_span = name_span;
    a->value = value;
    return a;
}

hp_setting *hp_mk_setting(hp_pstate *ps, const char *name, hp_span name_span, hp_expr *value)
{
    hp_setting *s = hp_alloc(&ps->ast->arena, sizeof *s);
    s->tag = 's';
    s->name = name;
    s->name_span = name_span;
    s->value = value;
    s->span = hp_span_join(name_span, value->span);
    return s;
}

hp_layer *hp_mk_layer(hp_pstate *ps, const char *kind, hp_span kind_span, hp_vec *args, hp_span span)
{
    hp_layer *l = hp_alloc(&ps->ast->arena, sizeof *l);
    l->tag = 'l';
    l->kind = kind;
    l->kind_span = kind_span;
    l->args = args_array(ps, args, &l->n_args);
    l->span = span;
    return l;
}

hp_layer *hp_mk_repeat(hp_pstate *ps, hp_expr *count, hp_vec *body, hp_span span)
{
    hp_layer *l = hp_alloc(&ps->ast->arena, sizeof *l);
    l->tag = 'l';
    l->is_repeat = true;
    l->kind = "repeat";
    l->kind_span = span;
    l->kind_span.end_line = span.line;
    l->kind_span.end_col = span.col + 5;
    l->count = count;
    l->body = (hp_layer **)body->items;
    l->n_body = body->n;
    l->span = span;
    return l;
}

hp_vary *hp_mk_vary(hp_pstate *ps, hp_expr *path, hp_span span)
{
    hp_vary *v = hp_alloc(&ps->ast->arena, sizeof *v);
    v->tag = 'v';
    v->path = path->parts;
    v->path_spans = path->part_spans;
    v->n_path = path->n_parts;
    v->path_span = path->span;
    v->span = span;
    return v;
}

hp_decl *hp_mk_decl(hp_pstate *ps, hp_decl_kind kind, const char *name, hp_span name_span, hp_span span)
{
    hp_decl *d = hp_alloc(&ps->ast->arena, sizeof *d);
    d->kind = kind;
    d->name = name;
    d->name_span = name_span;
    d->span = span;
    d->file = ps->file;
    return d;
}

void hp_decl_set_items(hp_pstate *ps, hp_decl *decl, hp_vec *items)
{
    hp_vec settings = {0}, layers = {0}, varies = {0};
    for (int i = 0; i < items->n; i++) {
        char tag = *(char *)items->items[i];
        hp_vec *v = tag == 's' ? &settings : tag == 'l' ? &layers : &varies;
        hp_vec_push(&ps->ast->arena, v, items->items[i]);
    }
    if (settings.n) {
        decl->settings = (hp_setting **)settings.items;
        decl->n_settings = settings.n;
    }
    if (layers.n) {
        decl->layers = (hp_layer **)layers.items;
        decl->n_layers = layers.n;
    }
    if (varies.n) {
        decl->varies = (hp_vary **)varies.items;
        decl->n_varies = varies.n;
    }
}

void hp_mark_broken(hp_pstate *ps, hp_vec *items, int error_line)
{
    (void)ps;
    if (!items || items->n == 0)
        return;
    void *last = items->items[items->n - 1];
    char tag = *(char *)last;
    if (tag == 's' && ((hp_setting *)last)->span.end_line == error_line)
        ((hp_setting *)last)->broken = true;
    else if (tag == 'l' && ((hp_layer *)last)->span.end_line == error_line)
        ((hp_layer *)last)->broken = true;
    else if (tag == 'v' && ((hp_vary *)last)->span.end_line == error_line)
        ((hp_vary *)last)->broken = true;
}

void hp_add_decl(hp_pstate *ps, hp_decl *decl)
{
    /* a declaration with a syntax error inside: its missing parts are not news.
     * Only the diagnostics since the previous declaration can be inside it
     * (the scan stays linear in the file). */
    hp_ast *ast = ps->ast;
    int from = ast->diags_seen < ps->d->diags.n ? ast->diags_seen : ps->d->diags.n;
    for (int i = from; i < ps->d->diags.n; i++) {
        const hp_diag *g = ps->d->diags.items[i];
        if (g->severity == HP_ERROR && g->has_span && g->span.file == decl->file && g->span.line >= decl->span.line &&
            g->span.line <= decl->span.end_line)
            decl->broken = true;
    }
    ast->diags_seen = ps->d->diags.n;
    hp_vec v = {(void **)ast->decls, ast->n_decls, ast->cap_decls};
    hp_vec_push(&ast->arena, &v, decl);
    ast->decls = (hp_decl **)v.items;
    ast->n_decls = v.n;
    ast->cap_decls = v.cap;
}

hp_ast *hp_parse(hp_diags *d, int file)
{
    const hp_source *src = hp_diags_source(d, file);
    hp_ast *ast = calloc(1, sizeof *ast);
    if (!ast || !src) {
        free(ast);
        return NULL;
    }
    ast->file = file;
    ast->diags_seen = d->diags.n;
    hp_pstate ps = {.d = d, .ast = ast, .file = file, .line = 1, .col = 1};
    yyscan_t scanner;
    if (hp_yylex_init_extra(&ps, &scanner) != 0) {
        free(ast);
        return NULL;
    }
    YY_BUFFER_STATE buf = hp_yy_scan_bytes(src->text, (int)src->len, scanner);
    hp_yyparse(&ps, scanner);
    hp_yy_delete_buffer(buf, scanner);
    hp_yylex_destroy(scanner);
    free(ps.strbuf);
    return ast;
}

void hp_ast_free(hp_ast *ast)
{
    if (!ast)
        return;
    hp_arena_free(&ast->arena);
    free(ast);
}

const char *hp_decl_kind_name(hp_decl_kind k)
{
    static const char *const names[] = {"import", "data", "model", "experiment", "search"};
    return names[k];
}

/* ---- the AST as text ---- */

static void dump_expr(const hp_expr *e, FILE *out);

/* The shortest of %.15g and %.17g that reads back as v. */
static void dump_num(double v, FILE *out)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, out);
}

static void dump_args(const hp_arg *args, int n, FILE *out)
{
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s", i ? ", " : "");
        if (args[i].name)
            fprintf(out, "%s=", args[i].name);
        dump_expr(args[i].value, out);
    }
}

static void dump_expr(const hp_expr *e, FILE *out)
{
    if (!e) {
        fprintf(out, "<missing>");
        return;
    }
    switch (e->kind) {
    case HP_EX_NUMBER:
        dump_num(e->num, out);
        break;
    case HP_EX_DURATION:
        dump_num(e->num, out);
        fprintf(out, " %s", e->unit == HPRT_EPOCHS ? "epochs" : "steps");
        break;
    case HP_EX_STRING:
        fputc('"', out);
        for (const char *c = e->str ? e->str : ""; *c; c++) {
            if (*c == '"' || *c == '\\')
                fprintf(out, "\\%c", *c);
            else if (*c == '\n')
                fprintf(out, "\\n");
            else if (*c == '\t')
                fprintf(out, "\\t");
            else
                fputc(*c, out);
        }
        fputc('"', out);
        break;
    case HP_EX_BOOL:
        fprintf(out, "%s", e->boolean ? "true" : "false");
        break;
    case HP_EX_PATH:
        for (int i = 0; i < e->n_parts; i++)
            fprintf(out, "%s%s", i ? "." : "", e->parts[i]);
        break;
    case HP_EX_CALL:
        fprintf(out, "%s(", e->callee);
        dump_args(e->args, e->n_args, out);
        fprintf(out, ")");
        break;
    case HP_EX_LIST:
        fprintf(out, "[");
        for (int i = 0; i < e->n_items; i++) {
            fprintf(out, "%s", i ? ", " : "");
            dump_expr(e->items[i], out);
        }
        fprintf(out, "]");
        break;
    case HP_EX_NEG:
        fprintf(out, "-(");
        dump_expr(e->lhs, out);
        fprintf(out, ")");
        break;
    case HP_EX_BINARY:
        fprintf(out, "(");
        dump_expr(e->lhs, out);
        fprintf(out, " %c ", e->op);
        dump_expr(e->rhs, out);
        fprintf(out, ")");
        break;
    }
}

static void indent(int depth, FILE *out)
{
    for (int i = 0; i < depth; i++)
        fprintf(out, "  ");
}

static void dump_layer(const hp_layer *l, int depth, FILE *out)
{
    indent(depth, out);
    if (l->is_repeat) {
        fprintf(out, "repeat ");
        dump_expr(l->count, out);
        fprintf(out, " @%d:%d%s\n", l->span.line, l->span.col, l->broken ? " (broken)" : "");
        for (int i = 0; i < l->n_body; i++)
            dump_layer(l->body[i], depth + 1, out);
        return;
    }
    fprintf(out, "layer %s%s", l->kind, l->n_args ? " " : "");
    dump_args(l->args, l->n_args, out);
    fprintf(out, " @%d:%d%s\n", l->span.line, l->span.col, l->broken ? " (broken)" : "");
}

static void dump_setting(const hp_setting *s, int depth, FILE *out)
{
    indent(depth, out);
    fprintf(out, "setting %s = ", s->name);
    dump_expr(s->value, out);
    fprintf(out, " @%d:%d%s\n", s->span.line, s->span.col, s->broken ? " (broken)" : "");
}

static void dump_vary(const hp_vary *v, int depth, FILE *out)
{
    indent(depth, out);
    fprintf(out, "vary ");
    for (int i = 0; i < v->n_path; i++)
        fprintf(out, "%s%s", i ? "." : "", v->path[i]);
    switch (v->space) {
    case HP_SPACE_SET:
        fprintf(out, " in {");
        for (int i = 0; i < v->n_items; i++) {
            fprintf(out, "%s", i ? ", " : "");
            dump_expr(v->items[i], out);
        }
        fprintf(out, "}");
        break;
    case HP_SPACE_RANGE:
        fprintf(out, " in ");
        dump_expr(v->lo, out);
        fprintf(out, "..");
        dump_expr(v->hi, out);
        break;
    case HP_SPACE_CALL:
        fprintf(out, " in ");
        dump_expr(v->call, out);
        break;
    }
    fprintf(out, " @%d:%d%s\n", v->span.line, v->span.col, v->broken ? " (broken)" : "");
}

void hp_ast_dump(const hp_ast *ast, FILE *out)
{
    for (int i = 0; i < ast->n_decls; i++) {
        const hp_decl *d = ast->decls[i];
        fprintf(out, "%s", hp_decl_kind_name(d->kind));
        if (d->kind == HP_DECL_IMPORT)
            fprintf(out, " \"%s\"", d->import_path ? d->import_path : "");
        else
            fprintf(out, " %s", d->name ? d->name : "<unnamed>");
        fprintf(out, " @%d:%d%s\n", d->span.line, d->span.col, d->broken ? " (broken)" : "");
        /* body items in source order: settings, layers and varies interleave by line */
        int s = 0, l = 0, v = 0;
        while (s < d->n_settings || l < d->n_layers || v < d->n_varies) {
            long ls = s < d->n_settings ? (long)d->settings[s]->span.line * 100000 + d->settings[s]->span.col : -1;
            long ll = l < d->n_layers ? (long)d->layers[l]->span.line * 100000 + d->layers[l]->span.col : -1;
            long lv = v < d->n_varies ? (long)d->varies[v]->span.line * 100000 + d->varies[v]->span.col : -1;
            if (ls >= 0 && (ll < 0 || ls <= ll) && (lv < 0 || ls <= lv))
                dump_setting(d->settings[s++], 1, out);
            else if (ll >= 0 && (lv < 0 || ll <= lv))
                dump_layer(d->layers[l++], 1, out);
            else
                dump_vary(d->varies[v++], 1, out);
        }
    }
}
