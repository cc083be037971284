/* layers.c - the table of layer kinds, from layers.def. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

#define UNPAREN(...) __VA_ARGS__

/* each kind's arguments after a placeholder (so that a kind without any still has an array) */
#define X(e, nm, traits, args) static const plan_layer_arg args_##e[] = {{0}, UNPAREN args};
#include "layers.def"
#undef X

static const plan_layer_info kinds[PLAN_LAYER__COUNT] = {
#define X(e, nm, traits, args) [PLAN_##e] = {nm, traits, args_##e + 1, (int)(sizeof args_##e / sizeof *args_##e) - 1},
#include "layers.def"
#undef X
};

const plan_layer_info *plan_layer_info_of(plan_layer_kind k)
{
    return (unsigned)k < PLAN_LAYER__COUNT ? &kinds[k] : NULL;
}

const char *plan_layer_name(plan_layer_kind k) { return (unsigned)k < PLAN_LAYER__COUNT ? kinds[k].name : "?"; }

bool plan_layer_has(plan_layer_kind k, unsigned trait)
{
    return (unsigned)k < PLAN_LAYER__COUNT && (kinds[k].traits & trait) == trait;
}

int plan_layer_find(const char *name)
{
    for (int i = 0; i < PLAN_LAYER__COUNT; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return i;
    return -1;
}

/* A bound as the docs write it: 1000, 0.5, 1e-05 -> "1e-5". */
static void bound(char *buf, size_t n, double x)
{
    snprintf(buf, n, "%g", x);
    char *e = strstr(buf, "e-0");
    if (e)
        memmove(e + 2, e + 3, strlen(e + 3) + 1);
}

void plan_layer_args_doc(plan_layer_kind k, char *buf, size_t n)
{
    const plan_layer_info *info = plan_layer_info_of(k);
    size_t off = 0;
    buf[0] = 0;
    if (!info || info->n_args == 0) {
        snprintf(buf, n, "—");
        return;
    }
#define PUT(...) (off += (size_t)snprintf(buf + off, off < n ? n - off : 0, __VA_ARGS__), off = off < n ? off : n)
    for (int i = 0; i < info->n_args; i++) {
        const plan_layer_arg *a = &info->args[i];
        char lo[32], hi[32];
        if (i)
            PUT(", ");
        if (a->type == PLAN_ARG_SHAPE) {
            PUT("`N` \\| `[N]` \\| `[T, F]` \\| `[C, H, W]` \\| `tokens`");
            continue;
        }
        if (a->type == PLAN_ARG_CHOICE) {
            /* `pad = same` \| `valid`: the default, then the other choices */
            PUT("`%s = %s`", a->name, a->def);
            for (const char *c = a->choices; *c;) {
                size_t len = strcspn(c, "|");
                if (len != strlen(a->def) || strncmp(c, a->def, len) != 0)
                    PUT(" \\| `%.*s`", (int)len, c);
                c += len + (c[len] == '|');
            }
            continue;
        }
        if (a->def)
            PUT("`%s = %s`", a->name, a->def);
        else
            PUT("`%s`", a->name);
        bound(lo, sizeof lo, a->lo);
        bound(hi, sizeof hi, a->hi);
        if (a->type == PLAN_ARG_INT && a->hi < 100000000)
            PUT(" (%s–%s)", lo, hi);
        else if (a->type == PLAN_ARG_NUM && isinf(a->hi))
            PUT(" (%s %s)", a->lo_open ? ">" : "≥", lo);
        else if (a->type == PLAN_ARG_NUM)
            PUT(" (%s %s %s %s %s)", lo, a->lo_open ? "<" : "≤", a->name, a->hi_open ? "<" : "≤", hi);
    }
#undef PUT
}
