/* cmd_emit.c - `hpc emit [--dump=ast|plan|layout|ir0|ir] FILE [EXPERIMENT]`:
 * the text after one pass of the pipeline.  `hpc emit-llvm` is `--dump=ir`.
 *
 *   ast     the file as parsed (hp_ast_dump)
 *   plan    the Plan of the experiment (plan_explain; a search: its spaces)
 *   layout  its memory layout for the thread count (cg_layout_dump)
 *   ir0     the LLVM module as generated, before optimisation
 *   ir      the module after `default<O3>`: what `hpc run` JIT-compiles
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codegen.h"
#include "hprt_train.h"

typedef enum { DUMP_AST, DUMP_PLAN, DUMP_LAYOUT, DUMP_IR0, DUMP_IR } dump_kind;

static const char *const dump_names[] = {"ast", "plan", "layout", "ir0", "ir"};

static int parse_dump(const char *s, dump_kind *k)
{
    for (int i = 0; i < (int)(sizeof dump_names / sizeof *dump_names); i++)
        if (strcmp(s, dump_names[i]) == 0) {
            *k = (dump_kind)i;
            return 0;
        }
    return -1;
}

/* The file's own declarations as parsed (imports are not followed). */
static int dump_ast(const char *command, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "hpc %s: cannot read '%s': %s\n", command, path, strerror(errno));
        return EXIT_USAGE;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                fprintf(stderr, "hpc %s: out of memory\n", command);
                return EXIT_RUN;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || !text) {
        free(text);
        fprintf(stderr, "hpc %s: cannot read '%s'\n", command, path);
        return EXIT_USAGE;
    }
    text[len] = 0;
    hp_diags d;
    hp_diags_init(&d);
    int file = hp_diags_add_source(&d, path, text, len); /* takes text */
    hp_ast *ast = hp_parse(&d, file);
    int status = EXIT_RUN;
    if (ast) {
        hp_ast_dump(ast, stdout);
        status = d.n_errors ? EXIT_ERRORS : EXIT_OK;
    } else {
        fprintf(stderr, "hpc %s: out of memory\n", command);
    }
    cli_print_diags(&d);
    hp_ast_free(ast);
    hp_diags_free(&d);
    return status;
}

/* The passes after the Plan: the layout, then the module before or after optimisation. */
static int dump_backend(const char *command, plan_experiment *e, int threads, dump_kind k)
{
    if (threads)
        e->threads = threads;
    int T = plan_threads(e);
    int tsizes[32], esizes[32], n_eval;
    int n = hprt_train_batch_sizes(&e->batch, e->epochs, e->data.train.n, e->data.valid.n, e->data.test.n, tsizes,
                                   esizes, &n_eval, 32);
    cg_error cerr;
    hprt_sched_resolved sched;
    hprt_error herr;
    int status = EXIT_OK;
    cg_layout *l = cg_layout_new(e, T, tsizes, n, esizes, n_eval, &cerr);
    if (!l) {
        fprintf(stderr, "hpc %s: %s\n", command, cerr.msg);
        return cli_cg_status(&cerr);
    }
    if (k == DUMP_LAYOUT) {
        cg_layout_dump(l, stdout);
    } else if (!e->uses_find_lr &&
               hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, e->data.train.n,
                                           e->data.is_text ? e->data.train.seq : 0, &sched, &herr) != HPRT_OK) {
        fprintf(stderr, "hpc %s: %s\n", command, herr.msg);
        status = EXIT_RUN;
    } else if (cg_emit_llvm(e, l, e->uses_find_lr ? NULL : &sched, k == DUMP_IR, stdout, &cerr) != 0) {
        fprintf(stderr, "hpc %s: %s\n", command, cerr.msg);
        status = cli_cg_status(&cerr);
    }
    cg_layout_free(l);
    return status;
}

static int emit(const char *command, dump_kind k, int argc, char **argv)
{
    int threads = 0;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest)
        return EXIT_RUN;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0) {
            char *end;
            long v = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
            if (v < 1 || v > HPRT_MAX_THREADS || *end) {
                cli_usage_error(command, "--threads takes a whole number from 1 to %d", HPRT_MAX_THREADS);
                free(rest);
                return EXIT_USAGE;
            }
            threads = (int)v;
        } else if (strncmp(argv[i], "--dump=", 7) == 0 || strcmp(argv[i], "--dump") == 0) {
            const char *v = argv[i][6] == '=' ? argv[i] + 7 : i + 1 < argc ? argv[++i] : "";
            if (parse_dump(v, &k) != 0) {
                cli_usage_error(command, "--dump takes ast, plan, layout, ir0 or ir, not '%s'", v);
                free(rest);
                return EXIT_USAGE;
            }
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    cli_common o;
    if (cli_parse_common(n_rest, rest, &o, command) < 0) {
        cli_common_free(&o);
        free(rest);
        return EXIT_USAGE;
    }
    if (k == DUMP_AST) {
        int status = dump_ast(command, o.file);
        cli_common_free(&o);
        free(rest);
        return status;
    }
    hp_diags d;
    hp_diags_init(&d);
    hp_program *p = hp_program_load(&d, o.file);
    plan *pl = p && d.n_errors == 0 ? hp_plan(p, o.target, o.sets, o.n_sets) : NULL;
    cli_print_diags(&d);
    int status = p ? EXIT_ERRORS : EXIT_USAGE;
    if (pl && pl->experiment) {
        if (k == DUMP_PLAN) {
            plan_explain(pl->experiment, stdout);
            status = EXIT_OK;
        } else {
            status = dump_backend(command, pl->experiment, threads, k);
        }
    } else if (pl && k == DUMP_PLAN) {
        plan_explain_search(pl->search, stdout);
        status = EXIT_OK;
    } else if (pl) {
        fprintf(stderr, "hpc %s: '%s' is a search; name one of its experiments\n", command, pl->search->name);
        status = EXIT_USAGE;
    }
    plan_free(pl);
    hp_program_free(p);
    hp_diags_free(&d);
    cli_common_free(&o);
    free(rest);
    return status;
}

int cmd_emit(int argc, char **argv) { return emit("emit", DUMP_IR, argc, argv); }

int cmd_emit_llvm(int argc, char **argv) { return emit("emit-llvm", DUMP_IR, argc, argv); }
