/* cmd_explain.c - `hpc explain FILE [EXPERIMENT]`: the Plan as a table. */
#include <stdio.h>

#include "cli.h"

int cmd_explain(int argc, char **argv)
{
    cli_common o;
    if (cli_parse_common(argc, argv, &o, "explain") < 0) {
        cli_common_free(&o);
        return EXIT_USAGE;
    }
    hp_diags d;
    hp_program *p = cli_load(&o, &d);
    plan *pl = p && d.n_errors == 0 ? hp_plan(p, o.target, o.sets, o.n_sets) : NULL;
    cli_print_diags(&d);
    int status = EXIT_ERRORS;
    if (!p)
        status = EXIT_USAGE;
    if (pl) {
        if (pl->experiment)
            plan_explain(pl->experiment, stdout);
        else
            plan_explain_search(pl->search, stdout);
        status = EXIT_OK;
    }
    plan_free(pl);
    hp_program_free(p);
    hp_diags_free(&d);
    cli_common_free(&o);
    return status;
}
