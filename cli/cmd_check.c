/* cmd_check.c - `hpc check FILE`: every diagnostic and note; exit 1 on errors. */
#include <stdio.h>

#include "cli.h"

int cmd_check(int argc, char **argv)
{
    cli_common o;
    if (cli_parse_common(argc, argv, &o, "check") < 0) {
        cli_common_free(&o);
        return EXIT_USAGE;
    }
    if (o.target || o.n_sets) {
        cli_usage_error("check", "check takes one FILE and checks everything in it");
        cli_common_free(&o);
        return EXIT_USAGE;
    }
    hp_diags d;
    hp_program *p = cli_load(&o, &d);
    if (p)
        hp_check_all(p);
    cli_print_diags(&d);
    int status = d.n_errors ? EXIT_ERRORS : EXIT_OK;
    if (!p)
        status = EXIT_USAGE; /* the file could not be read */
    if (status == EXIT_OK && !o.quiet)
        fprintf(stderr, "%s: ok\n", o.file);
    hp_program_free(p);
    hp_diags_free(&d);
    cli_common_free(&o);
    return status;
}
