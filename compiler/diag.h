/* diag.h - sources, spans and diagnostics.
 *
 * Every problem found by the scanner, parser or checker becomes an hp_diag on
 * the hp_diags sink: a severity, an optional name (notes can be silenced by
 * name), a span and a message, with at most one attached note ("first defined
 * here").  The library never prints; hp_diags_render() writes them, sorted by
 * position, to a stream the caller owns.
 */
#ifndef HP_DIAG_H
#define HP_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "arena.h"

/* A source range: 1-based line and column (columns count characters, not
 * bytes), inclusive at both ends.  file indexes hp_diags.sources. */
typedef struct {
    int file;
    int line, col;
    int end_line, end_col;
} hp_span;

typedef enum { HP_ERROR = 0, HP_WARNING, HP_NOTE } hp_severity;

typedef struct hp_diag hp_diag;
struct hp_diag {
    hp_severity severity;
    const char *name; /* the note's name (`batch-pow2`), or NULL */
    hp_span span;
    bool has_span;    /* false: a diagnostic about no place (e.g. a missing file) */
    char *message;
    hp_diag *attached; /* follows this one in the output, whatever its position */
    int seq;          /* order of reporting: keeps the sort stable */
};

typedef struct {
    char *path;       /* as shown in messages */
    char *text;       /* NUL-terminated contents */
    size_t len;
    int *line_start;  /* byte offset of each line; n_lines entries */
    int n_lines;
} hp_source;

/* `# hpc: allow(name)` found on a line, or `--allow name` (line 0, file -1). */
typedef struct {
    int file, line;
    char *name;
} hp_allow;

typedef struct {
    hp_arena arena;
    hp_source **sources;
    int n_sources, cap_sources;
    hp_vec diags;     /* hp_diag* */
    hp_vec allows;    /* hp_allow* */
    int n_errors, n_warnings, n_notes;
    int errors_seen;  /* every error reported, duplicates included: "did this check find errors?" */
    int data_errors;  /* errors about the data files themselves (hpc run exits 3 when all are) */
    int max_errors;   /* stop recording errors past this (0 = no limit) */
    int quiet_notes;  /* > 0: warnings and notes are dropped (checking a search's trial values) */
    hp_diag **seen;   /* open-addressing set of the recorded diagnostics (duplicates are dropped) */
    int seen_cap;
} hp_diags;

void hp_diags_init(hp_diags *d);
void hp_diags_free(hp_diags *d);

/* Takes ownership of text (malloc'd, len + 1 bytes, NUL-terminated). A UTF-8
 * byte order mark at its start is removed.  Returns the file index. */
int hp_diags_add_source(hp_diags *d, const char *path, char *text, size_t len);
const hp_source *hp_diags_source(const hp_diags *d, int file);

/* The named notes (the table: notes.def; docs/language.md §18). */
typedef enum {
#define X(e, name) HP_NOTE_##e,
#include "notes.def"
#undef X
} hp_note;
enum {
    HP_NOTE__COUNT = 0
#define X(e, name) +1
#include "notes.def"
#undef X
};
/* Their names, NULL-terminated, and the name of one ("?" outside the enum). */
extern const char *const hp_note_names[];
const char *hp_note_name(hp_note n);
bool hp_is_note_name(const char *name);

/* Silences the named note everywhere (`--allow NAME`). */
void hp_diags_allow(hp_diags *d, const char *name);
/* Silences the named note on one line of one file (`# hpc: allow(NAME)`). */
void hp_diags_allow_line(hp_diags *d, int file, int line, const char *name);

/* Reports a diagnostic; returns it (so a note can be attached), or NULL when
 * it was silenced or dropped. */
hp_diag *hp_report(hp_diags *d, hp_severity sev, const char *name, hp_span span,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A diagnostic with no source position. */
hp_diag *hp_report_nospan(hp_diags *d, hp_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Attaches a note to diag (ignored when diag is NULL). */
void hp_attach_note(hp_diags *d, hp_diag *diag, hp_span span, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes every diagnostic, sorted by file, line and column (attached notes
 * right after their diagnostic). colour: ANSI colours. */
void hp_diags_render(const hp_diags *d, FILE *out, bool colour);
/* One diagnostic (and its attached note). */
void hp_diag_render(const hp_diags *d, const hp_diag *g, FILE *out, bool colour);

/* Span helpers. */
hp_span hp_span_join(hp_span a, hp_span b);

#endif
