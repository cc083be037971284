/* files.h - mkdir -p and markup escaping (files.c). */
#ifndef HPC_FILES_H
#define HPC_FILES_H

#include <stdio.h>

/* mkdir -p; -1 with errno on failure. */
int cli_make_dirs(const char *path);
/* s as text inside HTML or SVG: < > & " ' escaped. */
void cli_markup(FILE *f, const char *s);

#endif
