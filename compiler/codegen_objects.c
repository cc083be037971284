/* codegen_objects.c - compiled objects shared by the workers of a search
 * (codegen.h, cg_objects).
 *
 * A worker's compiled model refers to its own memory (the buffers are
 * absolute symbols of its JIT), so each worker links a model of its own; the
 * optimised object code does not depend on the memory, so it is compiled once
 * per key and every worker links a copy.  The first worker to ask for a key
 * compiles it while the others wait for it (a failed compile lets the next one
 * try); different keys compile at the same time. */
#include "codegen_int.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct {
    uint64_t key;
    void *data; /* the object; NULL while it is being compiled */
    size_t n;
} cg_object;

struct cg_objects {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cg_object *items;
    int n, cap;
    int compiles;
};

cg_objects *cg_objects_new(void)
{
    cg_objects *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    if (pthread_mutex_init(&o->mu, NULL) != 0) {
        free(o);
        return NULL;
    }
    if (pthread_cond_init(&o->cv, NULL) != 0) {
        pthread_mutex_destroy(&o->mu);
        free(o);
        return NULL;
    }
    return o;
}

void cg_objects_free(cg_objects *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n; i++)
        free(o->items[i].data);
    free(o->items);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

int cg_objects_compiles(cg_objects *o)
{
    pthread_mutex_lock(&o->mu);
    int n = o->compiles;
    pthread_mutex_unlock(&o->mu);
    return n;
}

static int find(const cg_objects *o, uint64_t key)
{
    for (int i = 0; i < o->n; i++)
        if (o->items[i].key == key)
            return i;
    return -1;
}

static bool grow(cg_objects *o)
{
    if (o->n < o->cap)
        return true;
    int cap = o->cap ? 2 * o->cap : 16;
    cg_object *items = realloc(o->items, sizeof *items * (size_t)cap);
    if (!items)
        return false;
    o->items = items;
    o->cap = cap;
    return true;
}

cg_objects_claim cg_objects_get(cg_objects *o, uint64_t key, const void **data, size_t *n)
{
    pthread_mutex_lock(&o->mu);
    int i;
    while ((i = find(o, key)) >= 0 && !o->items[i].data) /* another worker compiles it */
        pthread_cond_wait(&o->cv, &o->mu);
    cg_objects_claim c;
    if (i >= 0) {
        *data = o->items[i].data;
        *n = o->items[i].n;
        c = CG_OBJECT_READY;
    } else if (grow(o)) {
        o->items[o->n++] = (cg_object){key, NULL, 0}; /* ours to compile: the others wait */
        c = CG_OBJECT_COMPILE;
    } else {
        c = CG_OBJECT_ALONE; /* no room to share it: compiled for this worker only */
    }
    pthread_mutex_unlock(&o->mu);
    return c;
}

const void *cg_objects_put(cg_objects *o, uint64_t key, void *data, size_t n)
{
    pthread_mutex_lock(&o->mu);
    int i = find(o, key);
    if (i >= 0 && data) {
        o->items[i].data = data;
        o->items[i].n = n;
        o->compiles++;
    } else if (i >= 0) {
        o->items[i] = o->items[--o->n]; /* failed: the next worker to ask compiles it */
    }
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return data;
}
