/* codegen_sched.c - the learning-rate schedule as code.
 *
 * From a resolved schedule (hprt_sched_resolved: every duration already in
 * steps, every phase boundary computed), emits
 *
 *     double hp_lr(i64 t, double base)     the rate of update t
 *     double hp_momentum(i64 t)            its momentum / beta1 (NaN: not cycled)
 *
 * operation by operation as runtime/sched.c computes hprt_sched_lr() and
 * hprt_sched_momentum(), with the schedule's numbers as constants, so the two
 * agree to the bit (test_codegen checks the worked numbers of docs/policies.md).
 */
#include <math.h>

#include "codegen_int.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static LLVMValueRef d(cg *g, double v) { return cg_f64(g, v); }
static LLVMValueRef dadd(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(g->b, a, b, ""); }
static LLVMValueRef dsub(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(g->b, a, b, ""); }
static LLVMValueRef dmul(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(g->b, a, b, ""); }
static LLVMValueRef ddiv(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(g->b, a, b, ""); }
static LLVMValueRef tod(cg *g, LLVMValueRef i) { return LLVMBuildSIToFP(g->b, i, g->t_f64, ""); }

static LLVMValueRef libm1(cg *g, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = g->t_f64;
    return cg_call(g, name, LLVMFunctionType(g->t_f64, &t, 1, 0), &x, 1);
}

static LLVMValueRef libm2(cg *g, const char *name, LLVMValueRef x, LLVMValueRef y)
{
    LLVMTypeRef t[2] = {g->t_f64, g->t_f64};
    LLVMValueRef a[2] = {x, y};
    return cg_call(g, name, LLVMFunctionType(g->t_f64, t, 2, 0), a, 2);
}

/* cyclic_sf: the triangle in [0, 1]; *cycle gets floor(1 + t / total). */
static LLVMValueRef cyclic_sf(cg *g, const hprt_sched_resolved *r, LLVMValueRef t, LLVMValueRef *cycle)
{
    double total = r->up + r->down;
    double ratio = r->up / total;
    LLVMValueRef q = ddiv(g, tod(g, t), d(g, total));
    *cycle = libm1(g, "floor", dadd(g, d(g, 1), q));
    LLVMValueRef x = dsub(g, dadd(g, d(g, 1.0), q), *cycle);
    LLVMValueRef up = ddiv(g, x, d(g, ratio));
    LLVMValueRef down = ddiv(g, dsub(g, x, d(g, 1)), d(g, ratio - 1));
    return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLE, x, d(g, ratio), ""), up, down, "");
}

static LLVMValueRef cyclic_scale(cg *g, const hprt_sched_resolved *r, LLVMValueRef t, LLVMValueRef cycle)
{
    switch (r->mode) {
    case HPRT_CYCLIC_TRIANGULAR2:
        return ddiv(g, d(g, 1), libm2(g, "pow", d(g, 2.0), dsub(g, cycle, d(g, 1))));
    case HPRT_CYCLIC_EXP_RANGE:
        return libm2(g, "pow", d(g, r->gamma), tod(g, t));
    case HPRT_CYCLIC_TRIANGULAR:
        break;
    }
    return d(g, 1.0);
}

static LLVMValueRef anneal(cg *g, hprt_anneal how, LLVMValueRef start, LLVMValueRef end, LLVMValueRef p)
{
    if (how == HPRT_ANNEAL_LINEAR)
        return dadd(g, dmul(g, dsub(g, end, start), p), start);
    LLVMValueRef cos_out = dadd(g, libm1(g, "cos", dmul(g, d(g, M_PI), p)), d(g, 1));
    return dadd(g, end, dmul(g, ddiv(g, dsub(g, start, end), d(g, 2.0)), cos_out));
}

/* The phase of t (the first whose end is >= t, else the last), its start
 * and end, and p = (t - start) / (end - start).  *i selects per-phase constants. */
static LLVMValueRef one_cycle_p(cg *g, const hprt_sched_resolved *r, LLVMValueRef t, LLVMValueRef *i)
{
    LLVMValueRef tf = tod(g, t);
    LLVMValueRef idx = cg_i32(g, r->n_phases - 1);
    LLVMValueRef start = d(g, r->n_phases > 1 ? r->ph_end[r->n_phases - 2] : 0.0);
    LLVMValueRef end = d(g, r->ph_end[r->n_phases - 1]);
    /* from the last phase back, so the first match wins */
    for (int k = r->n_phases - 2; k >= 0; k--) {
        LLVMValueRef in = LLVMBuildFCmp(g->b, LLVMRealOLE, tf, d(g, r->ph_end[k]), "");
        idx = LLVMBuildSelect(g->b, in, cg_i32(g, k), idx, "");
        start = LLVMBuildSelect(g->b, in, d(g, k > 0 ? r->ph_end[k - 1] : 0.0), start, "");
        end = LLVMBuildSelect(g->b, in, d(g, r->ph_end[k]), end, "");
    }
    *i = idx;
    return ddiv(g, dsub(g, tf, start), dsub(g, end, start));
}

static LLVMValueRef pick(cg *g, LLVMValueRef i, const double *v, int n)
{
    LLVMValueRef out = d(g, v[n - 1]);
    for (int k = n - 2; k >= 0; k--)
        out = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, i, cg_i32(g, k), ""), d(g, v[k]), out, "");
    return out;
}

/* inner_lr(): the schedule on its own clock t. */
static LLVMValueRef inner_lr(cg *g, const hprt_sched_resolved *r, LLVMValueRef base, LLVMValueRef t)
{
    switch (r->kind) {
    case HPRT_SCHED_STEP:
    case HPRT_SCHED_EXP:
        return dmul(g, base, libm2(g, "pow", d(g, r->gamma), tod(g, LLVMBuildSDiv(g->b, t, cg_i64(g, r->every), ""))));
    case HPRT_SCHED_MULTISTEP: {
        LLVMValueRef k = cg_i64(g, 0);
        for (int i = 0; i < r->n_at; i++) /* bisect_right over ascending milestones */
            k = LLVMBuildAdd(g->b, k, LLVMBuildZExt(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, cg_i64(g, r->at[i]), t, ""), g->t_i64, ""), "");
        return dmul(g, base, libm2(g, "pow", d(g, r->gamma), tod(g, k)));
    }
    case HPRT_SCHED_COSINE: {
        LLVMValueRef c = libm1(g, "cos", ddiv(g, dmul(g, d(g, M_PI), tod(g, t)), d(g, (double)r->period)));
        return dadd(g, d(g, r->min), ddiv(g, dmul(g, dsub(g, base, d(g, r->min)), dadd(g, d(g, 1), c)), d(g, 2)));
    }
    case HPRT_SCHED_SGDR: {
        LLVMValueRef tcur, span;
        if (r->mult == 1) {
            tcur = LLVMBuildSRem(g->b, t, cg_i64(g, r->period), "");
            span = d(g, (double)r->period);
        } else {
            /* whole cycles, as sched.c: while tcur >= ti: tcur -= ti; ti *= mult */
            LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
            LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "sgdr");
            LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "sgdr_next");
            LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "sgdr_done");
            LLVMBuildBr(g->b, loop);
            LLVMPositionBuilderAtEnd(g->b, loop);
            LLVMValueRef tc = LLVMBuildPhi(g->b, g->t_i64, "tcur"), ti = LLVMBuildPhi(g->b, g->t_i64, "ti");
            LLVMValueRef p0 = cg_i64(g, r->period);
            LLVMAddIncoming(tc, &t, &pre, 1);
            LLVMAddIncoming(ti, &p0, &pre, 1);
            LLVMValueRef fits = LLVMBuildICmp(g->b, LLVMIntSLT, tc, ti, "");
            LLVMBuildCondBr(g->b, fits, done, next);
            LLVMPositionBuilderAtEnd(g->b, next);
            LLVMValueRef tc2 = LLVMBuildSub(g->b, tc, ti, "");
            LLVMValueRef ti2 = LLVMBuildMul(g->b, ti, cg_i64(g, r->mult), "");
            LLVMAddIncoming(tc, &tc2, &next, 1);
            LLVMAddIncoming(ti, &ti2, &next, 1);
            LLVMBuildBr(g->b, loop);
            LLVMPositionBuilderAtEnd(g->b, done);
            tcur = tc;
            span = tod(g, ti);
        }
        LLVMValueRef c = libm1(g, "cos", ddiv(g, dmul(g, d(g, M_PI), tod(g, tcur)), span));
        return dadd(g, d(g, r->min), ddiv(g, dmul(g, dsub(g, base, d(g, r->min)), dadd(g, d(g, 1), c)), d(g, 2)));
    }
    case HPRT_SCHED_CYCLIC: {
        LLVMValueRef cycle;
        LLVMValueRef sf = cyclic_sf(g, r, t, &cycle);
        LLVMValueRef height = dmul(g, d(g, r->max - r->base), sf);
        return dadd(g, d(g, r->base), dmul(g, height, cyclic_scale(g, r, t, cycle)));
    }
    case HPRT_SCHED_ONE_CYCLE: {
        LLVMValueRef i;
        LLVMValueRef p = one_cycle_p(g, r, t, &i);
        return anneal(g, r->anneal, pick(g, i, r->ph_lr0, r->n_phases), pick(g, i, r->ph_lr1, r->n_phases), p);
    }
    case HPRT_SCHED_CONSTANT: /* constant, plateau: the rate is the base the driver passes */
    case HPRT_SCHED_PLATEAU:
    case HPRT_SCHED_WARMUP: /* resolved into its `then` and r->warmup */
    case HPRT_SCHED__COUNT:
        break;
    }
    return base;
}

void cg_emit_schedule(cg *g, const hprt_sched_resolved *r)
{
    /* double hp_lr(i64 t, double base) */
    LLVMTypeRef p[2] = {g->t_i64, g->t_f64};
    g->fn = LLVMAddFunction(g->mod, "hp_lr", LLVMFunctionType(g->t_f64, p, 2, 0));
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry"));
    LLVMValueRef t = LLVMGetParam(g->fn, 0), base = LLVMGetParam(g->fn, 1);
    t = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, t, cg_i64(g, 0), ""), cg_i64(g, 0), t, "");
    LLVMValueRef rate;
    if (r->warmup > 0) {
        /* t < W: S(0) * (t / W); else S(t - W) */
        LLVMBasicBlockRef warm = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "warm");
        LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "after");
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, t, cg_i64(g, r->warmup), ""), warm, after);
        LLVMPositionBuilderAtEnd(g->b, warm);
        LLVMValueRef w = dmul(g, inner_lr(g, r, base, cg_i64(g, 0)), ddiv(g, tod(g, t), d(g, (double)r->warmup)));
        LLVMBasicBlockRef warm_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, join);
        LLVMPositionBuilderAtEnd(g->b, after);
        LLVMValueRef a = inner_lr(g, r, base, LLVMBuildSub(g->b, t, cg_i64(g, r->warmup), ""));
        LLVMBasicBlockRef after_end = LLVMGetInsertBlock(g->b);
        LLVMBuildBr(g->b, join);
        LLVMPositionBuilderAtEnd(g->b, join);
        rate = LLVMBuildPhi(g->b, g->t_f64, "lr");
        LLVMAddIncoming(rate, &w, &warm_end, 1);
        LLVMAddIncoming(rate, &a, &after_end, 1);
    } else {
        rate = inner_lr(g, r, base, t);
    }
    LLVMBuildRet(g->b, rate);

    /* double hp_momentum(i64 t) */
    LLVMTypeRef p1 = g->t_i64;
    g->fn = LLVMAddFunction(g->mod, "hp_momentum", LLVMFunctionType(g->t_f64, &p1, 1, 0));
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry"));
    t = LLVMGetParam(g->fn, 0);
    LLVMValueRef m = d(g, NAN);
    if (r->cycle_momentum && (r->kind == HPRT_SCHED_CYCLIC || r->kind == HPRT_SCHED_ONE_CYCLE)) {
        t = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, t, cg_i64(g, r->warmup), ""), cg_i64(g, 0),
                            LLVMBuildSub(g->b, t, cg_i64(g, r->warmup), ""), "");
        if (r->kind == HPRT_SCHED_CYCLIC) {
            LLVMValueRef cycle;
            LLVMValueRef sf = cyclic_sf(g, r, t, &cycle);
            LLVMValueRef height = dmul(g, d(g, r->max_momentum - r->base_momentum), sf);
            m = dsub(g, d(g, r->max_momentum), dmul(g, height, cyclic_scale(g, r, t, cycle)));
        } else {
            LLVMValueRef i;
            LLVMValueRef p = one_cycle_p(g, r, t, &i);
            m = anneal(g, r->anneal, pick(g, i, r->ph_mom0, r->n_phases), pick(g, i, r->ph_mom1, r->n_phases), p);
        }
    }
    LLVMBuildRet(g->b, m);
}
