/* check.h - the checker: AST in, Plan out.
 *
 * hp_program_load() parses a file and the files it imports; hp_check_all()
 * checks every declaration (what `hpc check` does); hp_plan() resolves one
 * experiment or search into a Plan, optionally with overrides (`--set`, and a
 * search's trials).  All problems go to the hp_diags sink.
 */
#ifndef HP_CHECK_H
#define HP_CHECK_H

#include "ast.h"
#include "diag.h"
#include "plan.h"

typedef struct hp_program hp_program;

/* Reads and parses path and its imports.  Returns NULL only when path itself
 * cannot be read (the reason is in d).  Syntax errors are in d. */
hp_program *hp_program_load(hp_diags *d, const char *path);
/* The same from text in memory (tests, the fuzzer); imports are resolved
 * against the current directory. */
hp_program *hp_program_load_text(hp_diags *d, const char *name, const char *text, size_t len);
void hp_program_free(hp_program *p);

/* An override `PATH=VALUE` (`hpc run --set`): VALUE is .hp expression text. */
typedef struct {
    const char *path;
    const char *value;
} hp_override;

/* Checks every declaration of the file: names, settings, data, every
 * experiment and search.  Returns the number of errors found. */
int hp_check_all(hp_program *p);

/* Plans the experiment or search called name (NULL: the file's only
 * experiment, else its first).  NULL when there are errors (reported in d). */
plan *hp_plan(hp_program *p, const char *name, const hp_override *ov, int n_ov);
/* The name of the first search the file itself declares (NULL: none):
 * what `hpc search FILE` runs. */
const char *hp_program_first_search(const hp_program *p);

/* The settings a declaration of kind k takes (data, experiment, search; n = 0
 * for the others), from the checker's own tables: for the editors' grammars
 * and completion (`hpc help --keywords`). */
const char *const *hp_check_settings(hp_decl_kind k, int *n);

/* Names of the experiments and searches of the file, in order (for --help-ish
 * messages and tests).  Returns the count; names[i] stays valid with p. */
int hp_program_targets(const hp_program *p, const char ***names);

#endif
