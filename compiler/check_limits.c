/* check_limits.c - the limits `hpc run` would meet, checked in `hpc check`
 * (docs/language.md, "Limits").
 *
 * What the back end refuses before the first step is reported here, at its
 * line, from the same constants: a model's expansion (checked before it is
 * done), dropout sites (HPRT_MAX_DROPOUT), outputs at every time step without
 * text data, steps per epoch of text data, and the memory of the run, which
 * is the back end's own layout (cg_layout_new) for the run's batch sizes and
 * threads plus the optimizer's state and the data, against this machine's
 * memory.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_int.h"
#include "codegen.h"
#include "hprt_train.h"

/* ---- repeat expansion ---- */

/* The layers (and repeat rounds: an empty body costs one each) that layers[0..n)
 * expand to, capped at limit + 1.  The innermost repeat whose expansion alone
 * passes the limit is reported (once, *reported).  Counts that are not whole
 * numbers count as 0 here; expand() reports them. */
static long expansion(ck *c, hp_layer **layers, int n, const ck_scope *sc, int depth, long limit, bool *reported)
{
    long total = 0;
    for (int i = 0; i < n && total <= limit; i++) {
        const hp_layer *l = layers[i];
        if (!l->is_repeat || l->broken) {
            total++;
            continue;
        }
        if (depth > CK_MAX_REPEAT_NESTING) /* expand() reports the nesting */
            continue;
        ck_val *v = ck_eval(c, l->count, sc);
        if (v->k != V_NUM || !(v->num >= 0) || v->num != floor(v->num))
            continue;
        long inner = expansion(c, l->body, l->n_body, sc, depth + 1, limit, reported);
        long each = inner > 0 ? inner : 1;
        double rounds = v->num;
        long here = rounds * (double)each > (double)limit ? limit + 1 : (long)rounds * each;
        if (here > limit && inner <= limit && !*reported) {
            hp_report(c->d, HP_ERROR, NULL, l->kind_span,
                      "this repeat expands to more than %ld layers (%.0f rounds of %ld), the most a model can have",
                      limit, rounds, each);
            *reported = true;
        }
        total += here;
    }
    return total > limit ? limit + 1 : total;
}

bool ck_expansion_ok(ck *c, hp_decl *model, const ck_scope *sc, long limit)
{
    bool reported = false;
    long n = expansion(c, model->layers, model->n_layers, sc, 0, limit, &reported);
    if (n > limit && !reported)
        hp_report(c->d, HP_ERROR, NULL, model->name_span, "model '%s' expands to more than %ld layers, the most a model can have",
                  model->name, limit);
    return n <= limit;
}

/* ---- experiments ---- */

/* Line `line` of `file`, from its first to its last non-blank character. */
static hp_span line_span(ck *c, int file, int line)
{
    hp_span sp = {file, line, 1, line, 1};
    const hp_source *s = hp_diags_source(c->d, file);
    if (!s || line < 1 || line > s->n_lines)
        return sp;
    const char *p = s->text + s->line_start[line - 1], *end = s->text + s->len;
    int col = 1, first = 0, last = 0;
    for (; p < end && *p != '\n'; p++) {
        if (((unsigned char)*p & 0xC0) == 0x80)
            continue;
        if (*p != ' ' && *p != '\t' && *p != '\r') {
            if (!first)
                first = col;
            last = col;
        }
        col++;
    }
    sp.col = first ? first : 1;
    sp.end_col = last ? last : 1;
    return sp;
}

static int optimizer_arrays(const hprt_optimizer *o)
{
    int n = 0; /* as hprt_optim_state_new allocates them: the optimizer table's row */
    for (int a = 0; a < HPRT_STATE__COUNT; a++)
        n += hprt_opt_has_state(o, (hprt_state_array)a);
    return n;
}

/* Bytes the loaders keep for one source of n samples (hp_load_data). */
static double data_bytes(const plan_data *d, const plan_source *s, long n)
{
    if (s->kind == PLAN_SRC_NONE)
        return 0;
    if (d->is_text)
        return (double)n * (sizeof(uint32_t) + 1);
    double f = d->features > 0 ? d->features : 1;
    double x = d->train.kind == PLAN_SRC_IDX ? f : 4 * f; /* IDX stays bytes */
    return (double)n * (x + sizeof(int32_t) + sizeof(long));
}

static double machine_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    double phys = pages > 0 && size > 0 ? (double)pages * (double)size : INFINITY;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < phys)
        phys = (double)rl.rlim_cur;
    return phys;
}

static void fmt_bytes(char *buf, size_t n, double b)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, n, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, n, "%.1f MiB", b / (1024.0 * 1024));
    else
        snprintf(buf, n, "%.0f KiB", b / 1024.0);
}

/* The threads `hpc run` uses: the experiment's, else every core (at most HPRT_MAX_THREADS). */
void ck_experiment_limits(ck *c, plan_experiment *e, hp_decl *model, hp_span use, hp_span batch_at)
{
    int before = c->d->errors_seen;
    const plan_data *d = &e->data;
    /* every layer's output must fit the back end's int sizes */
    for (int i = 0; i < e->n_layers; i++) {
        long size = plan_shape_size(e->layers[i].out);
        if (size > INT_MAX / 4 || size < 0) {
            char buf[64];
            hp_report(c->d, HP_ERROR, NULL, line_span(c, model->file, e->layers[i].line),
                      "this layer's output %s has %ld values per sample; the most is %d",
                      plan_shape_str(e->layers[i].out, buf, sizeof buf), size, INT_MAX / 4);
            return;
        }
    }
    /* dropout sites (HPRT_MAX_DROPOUT): check_model.c counts them at each layer */
    /* an output at every time step is trained on next-token targets: text data only */
    if (!d->is_text && e->n_layers > 0) {
        int last = e->n_layers - 1;
        if (e->fused_softmax && e->layers[last].kind == PLAN_SOFTMAX && last > 0)
            last--;
        while (last > 0 && e->layers[last].kind == PLAN_FLATTEN)
            last--;
        if (e->layers[last].out.kind == PLAN_SEQ) {
            /* a sequence classifier scores one output per sample: the final step's */
            hp_report(c->d, HP_ERROR, NULL, line_span(c, model->file, e->layers[last].line),
                      "an output at every time step needs text data (next-token targets); with one label per "
                      "sample, add `last` before the output layer to classify from the final step");
            return;
        }
    }
    /* text: every batch the run meets must give at least one step per epoch */
    if (d->is_text) {
        long b = e->batch.adaptive ? e->batch.start : e->batch.size;
        for (int k = 0; k < 64 && b > 0; k++) {
            long spe = hprt_train_steps_per_epoch(d->train.n, (int)b, d->train.seq);
            if (spe <= 0) {
                hp_report(c->d, HP_ERROR, NULL, batch_at,
                          "with batch %ld and seq = %d, the %ld training tokens give 0 steps per epoch (a step needs "
                          "batch x (seq + 1) = %ld tokens); lower the batch or seq",
                          b, d->train.seq, d->train.n, b * (d->train.seq + 1L));
                return;
            }
            if (!e->batch.adaptive || b >= e->batch.max)
                break;
            b = (long)(b * e->batch.factor) > e->batch.max ? e->batch.max : (long)(b * e->batch.factor);
        }
    }
    if (c->d->errors_seen != before)
        return;
    /* the recurrent state carried between steps goes into checkpoints, at most
     * HPRT_MAX_CARRY arrays: past that, a resumed epoch restarts its streams
     * (text only: a numeric sequence starts from zero in every sample) */
    int carry = 0;
    for (int i = 0; i < e->n_layers && d->is_text; i++) {
        const plan_layer *l = &e->layers[i];
        int more = l->kind == PLAN_LSTM ? 2 * l->stack : l->kind == PLAN_RNN || l->kind == PLAN_GRU ? l->stack : 0;
        if (more > 0 && carry + more > HPRT_MAX_CARRY) {
            hp_report(c->d, HP_WARNING, NULL, line_span(c, model->file, l->line),
                      "this layer brings the recurrent state to %d arrays, more than a checkpoint carries (%d): an "
                      "epoch resumed from a mid-epoch checkpoint restarts its streams from zero",
                      carry + more, HPRT_MAX_CARRY);
            break;
        }
        carry += more;
    }
    /* the batch sizes the run meets: the code generator compiles a step for
     * each, at most as many as its layout holds */
    enum { MAX_SIZES = (int)(sizeof ((cg_layout *)0)->train_sizes / sizeof(int)) };
    int tsizes[2 * MAX_SIZES], esizes[2 * MAX_SIZES], n_eval = 0;
    int n_train = hprt_train_batch_sizes(&e->batch, e->epochs, d->train.n, d->valid.kind ? d->valid.n : 0,
                                         d->test.kind ? d->test.n : 0, tsizes, esizes, &n_eval, 2 * MAX_SIZES);
    if (n_train > MAX_SIZES) {
        hp_report(c->d, HP_ERROR, NULL, batch_at,
                  "this run meets %s%d batch sizes (each stage and its last partial batch); the most a run can "
                  "compile is %d: raise `start`, `factor` or `every`, or lower `max`",
                  n_train == 2 * MAX_SIZES ? "at least " : "", n_train, MAX_SIZES);
        return;
    }
    /* batchnorm after a vector needs 2 samples in every training batch (the
     * layout refuses it too; here the message is at the layer) */
    for (int i = 0; i < e->n_layers; i++) {
        const plan_layer *l = &e->layers[i];
        for (int k = 0; l->kind == PLAN_BATCHNORM && l->in.kind != PLAN_IMG && k < n_train; k++)
            if (tsizes[k] < 2) {
                hp_report(c->d, HP_ERROR, NULL, line_span(c, model->file, l->line),
                          "batchnorm needs more than 1 value per feature in a training batch, and the training split "
                          "of %ld samples leaves a last batch of 1; change the batch size or the split",
                          d->train.n);
                return;
            }
    }
    /* memory: the back end's layout for this run, the optimizer's state, the data */
    cg_error ce = {0};
    cg_layout *l = cg_layout_new(e, plan_threads(e), tsizes, n_train, esizes, n_eval, &ce);
    if (!l) { /* a limit of the back end not mirrored above: still an error of `check` */
        hp_report(c->d, HP_ERROR, NULL, use, "the code generator refuses this model: %s", ce.msg);
        return;
    }
    double P = 4.0 * (double)l->n_params, A = 4.0 * (double)l->n_acts;
    int b_max = l->b_max;
    cg_layout_free(l);
    double opt = P * optimizer_arrays(&e->optimizer);
    double data = data_bytes(d, &d->train, d->train.n) + data_bytes(d, &d->valid, d->valid.n) +
                  data_bytes(d, &d->test, d->test.n);
    double total = 2 * P + opt + A + data;
    e->memory_bytes = total;
    double have = machine_bytes();
    if (total > have) {
        char t[32], h[32], p[32], o[32], a[32], x[32];
        fmt_bytes(t, sizeof t, total);
        fmt_bytes(h, sizeof h, have);
        fmt_bytes(p, sizeof p, 2 * P);
        fmt_bytes(o, sizeof o, opt);
        fmt_bytes(a, sizeof a, A);
        fmt_bytes(x, sizeof x, data);
        hp_report(c->d, HP_ERROR, NULL, use,
                  "this run needs about %s of memory (parameters and gradients %s, optimizer state %s, activations "
                  "for batch %d %s, data %s); this machine has %s",
                  t, p, o, b_max, a, x, h);
    }
}
