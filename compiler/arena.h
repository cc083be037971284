/* arena.h - bump allocation for the front end.
 *
 * The AST and the Plan each live in one arena and are freed at once, so the
 * parser's error recovery never has to free what it throws away.
 */
#ifndef HP_ARENA_H
#define HP_ARENA_H

#include <stddef.h>

typedef struct hp_arena_block hp_arena_block;
typedef struct {
    hp_arena_block *head;
} hp_arena;

/* Zero-filled, 16-byte aligned.  Aborts the process on out-of-memory: the
 * front end cannot do anything useful without memory, and every caller would
 * otherwise carry a check it cannot act on. */
void *hp_alloc(hp_arena *a, size_t bytes);
char *hp_strdup(hp_arena *a, const char *s);
char *hp_strndup(hp_arena *a, const char *s, size_t n);
char *hp_sprintf(hp_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hp_arena_free(hp_arena *a);

/* A growable array of pointers in an arena. */
typedef struct {
    void **items;
    int n, cap;
} hp_vec;
void hp_vec_push(hp_arena *a, hp_vec *v, void *item);

#endif
