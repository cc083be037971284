/* cmd_emit_llvm.c - `hpc emit-llvm FILE [EXPERIMENT]`: the optimised IR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codegen.h"
#include "hprt_train.h"

int cmd_emit_llvm(int argc, char **argv)
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
                cli_usage_error("emit-llvm", "--threads takes a whole number from 1 to %d", HPRT_MAX_THREADS);
                free(rest);
                return EXIT_USAGE;
            }
            threads = (int)v;
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    cli_common o;
    if (cli_parse_common(n_rest, rest, &o, "emit-llvm") < 0) {
        cli_common_free(&o);
        free(rest);
        return EXIT_USAGE;
    }
    hp_diags d;
    hp_diags_init(&d);
    hp_program *p = hp_program_load(&d, o.file);
    plan *pl = p && d.n_errors == 0 ? hp_plan(p, o.target, o.sets, o.n_sets) : NULL;
    cli_print_diags(&d);
    int status = p ? EXIT_ERRORS : EXIT_USAGE;
    if (pl && pl->experiment) {
        plan_experiment *e = pl->experiment;
        int T = threads ? threads : e->threads;
        if (T <= 0) {
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            T = cores < 1 ? 1 : cores > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : (int)cores;
        }
        int tsizes[32], esizes[32], n_eval;
        int n = hprt_train_batch_sizes(&e->batch, e->epochs, e->data.train.n, e->data.valid.n, e->data.test.n, tsizes,
                                       esizes, &n_eval, 32);
        char msg[1024];
        hprt_sched_resolved sched;
        hprt_error herr;
        cg_layout *l = cg_layout_new(e, T, tsizes, n, esizes, n_eval, msg, sizeof msg);
        if (!l) {
            fprintf(stderr, "hpc emit-llvm: %s\n", msg);
            status = EXIT_USAGE;
        } else if (!e->uses_find_lr &&
                   hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, e->data.train.n, e->data.is_text ? e->data.train.seq : 0, &sched, &herr) != HPRT_OK) {
            fprintf(stderr, "hpc emit-llvm: %s\n", herr.msg);
            status = EXIT_RUN;
        } else if (cg_emit_llvm(e, l, e->uses_find_lr ? NULL : &sched, stdout, msg, sizeof msg) != 0) {
            fprintf(stderr, "hpc emit-llvm: %s\n", msg);
            status = EXIT_RUN;
        } else {
            status = EXIT_OK;
        }
        cg_layout_free(l);
    } else if (pl) {
        fprintf(stderr, "hpc emit-llvm: '%s' is a search; name one of its experiments\n", pl->search->name);
        status = EXIT_USAGE;
    }
    plan_free(pl);
    hp_program_free(p);
    hp_diags_free(&d);
    cli_common_free(&o);
    free(rest);
    return status;
}
