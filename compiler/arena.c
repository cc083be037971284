/* arena.c - bump allocation for the front end. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hp_arena_block {
    hp_arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *hp_alloc(hp_arena *a, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    hp_arena_block *b = a->head;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > 16384 ? bytes : 16384;
        b = malloc(sizeof *b + cap);
        if (!b) {
            fputs("hpc: out of memory\n", stderr);
            abort();
        }
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += bytes;
    memset(p, 0, bytes);
    return p;
}

char *hp_strndup(hp_arena *a, const char *s, size_t n)
{
    char *d = hp_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *hp_strdup(hp_arena *a, const char *s) { return hp_strndup(a, s, strlen(s)); }

char *hp_sprintf(hp_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *d = hp_alloc(a, (size_t)n + 1);
    vsnprintf(d, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return d;
}

void hp_arena_free(hp_arena *a)
{
    hp_arena_block *b = a->head;
    while (b) {
        hp_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

void hp_vec_push(hp_arena *a, hp_vec *v, void *item)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        void **items = hp_alloc(a, sizeof *items * (size_t)cap);
        if (v->n)
            memcpy(items, v->items, sizeof *items * (size_t)v->n);
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = item;
}
