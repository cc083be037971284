/* fuzz_check.c - libFuzzer over scan + parse + check (and explain).
 *
 * Build and run with `make fuzz` (clang, ASan, UBSan); the seed corpus is
 * examples/ and tests/cases/.  Any input must give diagnostics, never a
 * crash, a leak or a sanitizer report. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "diag.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hp_diags d;
    hp_diags_init(&d);
    hp_program *p = hp_program_load_text(&d, "fuzz.hp", (const char *)data, size);
    if (p) {
        hp_check_all(p);
        /* plan and explain the first experiment, as `hpc explain` does */
        plan *pl = d.n_errors == 0 ? hp_plan(p, NULL, NULL, 0) : NULL;
        FILE *sink = fopen("/dev/null", "w");
        if (sink) {
            if (pl && pl->experiment)
                plan_explain(pl->experiment, sink);
            hp_diags_render(&d, sink, true);
            fclose(sink);
        }
        plan_free(pl);
    }
    hp_program_free(p);
    hp_diags_free(&d);
    return 0;
}
