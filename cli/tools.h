/* tools.h - hpc as an installed tool: the man page, shell completion, the
 * vocabulary for the editor grammars, and where this hpc is installed
 * (cmd_tools.c).  The commands' documentation lives in hpc.c's table; these
 * read it through cli_command_doc so nothing is written twice. */
#ifndef HPC_TOOLS_H
#define HPC_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* hpc.c: the number of commands, and command i's name, synopsis and help text. */
int cli_command_count(void);
void cli_command_doc(int i, const char **name, const char **synopsis, const char **help);
/* hpc.c: the text of `hpc --help`. */
void cli_usage(FILE *out);

/* `hpc help --man`: the manual page hpc(1), in roff, every command in it. */
int cli_man(FILE *out);
/* `hpc help --keywords`: "CATEGORY NAME" lines, every word of the language
 * (layer kinds, optimizers, schedules, ...), read from the compiler's tables. */
int cli_keywords(FILE *out);
/* `hpc --version`: the version, the resolved executable and its prefix. */
int cli_version(FILE *out);
/* `hpc complete INDEX WORD0 WORD1 ...`: the candidates for word INDEX of the
 * command line WORD0 (hpc) WORD1 ..., one a line, for the bash and zsh
 * completion scripts.  Besides words: ":hp:" (complete .hp files), ":dir:"
 * (directories), ":file:" (any file). */
int cmd_complete(int argc, char **argv);

/* The directory above the one holding the running executable (PREFIX of
 * PREFIX/bin/hpc), and the executable itself.  False when /proc/self/exe
 * cannot be read. */
bool cli_self(char *exe, size_t exe_n, char *prefix, size_t prefix_n);

#endif
