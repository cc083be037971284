/* session.c - the pipeline as one list of passes (session.h). */
#include "session.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hprt.h"

static hp_err_class fail(hp_error *err, hp_err_class cls, hp_pass pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The back end's error classes as the session's: a limit or an unsupported
 * request is the user's to change (usage); the others are the run's. */
static hp_err_class from_cg(cg_err_class c)
{
    switch (c) {
    case CG_E_USAGE:
    case CG_E_LIMIT: return HP_ERR_USAGE;
    case CG_OK:
    case CG_E_LLVM:
    case CG_E_IO:
    case CG_E_MEMORY: return HP_ERR_RUN;
    }
    return HP_ERR_RUN;
}

static hp_err_class fail(hp_error *err, hp_err_class cls, hp_pass pass, const char *fmt, ...)
{
    err->cls = cls;
    err->pass = pass;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return cls;
}

/* ---- the passes ---------------------------------------------------------- */

static hp_err_class pass_load(hp_session *s, hp_error *err)
{
    s->program = hp_program_load(&s->diags, s->o.file);
    if (!s->program) /* the file itself could not be read: the diagnostics say why */
        return fail(err, HP_ERR_USAGE, HP_PASS_LOAD, "%s", "");
    return s->diags.n_errors ? fail(err, HP_ERR_FILE, HP_PASS_LOAD, "%s", "") : HP_ERR_NONE;
}

/* The experiment as this session compiles it: command-line epochs and
 * threads, the thread count, the checkpoint identity, windows of one step
 * for sampling. */
static hp_err_class resolve(hp_session *s, plan_experiment *e, hp_error *err)
{
    s->e = e;
    if (s->o.epochs)
        e->epochs = s->o.epochs;
    if (s->o.threads)
        e->threads = s->o.threads;
    else if (s->o.rank_threads > 0 && (e->threads <= 0 || e->threads > s->o.rank_threads))
        e->threads = s->o.rank_threads; /* a rank of a data-parallel run: its cores */
    s->threads = s->o.use == HP_USE_TRAIN || s->o.use == HP_USE_STEP ? plan_threads(e) : 1;
    /* the model's identity as trained, whatever it is compiled for */
    plan_shape_desc(e, s->desc, sizeof s->desc);
    s->ckpt_id = (hprt_ckpt_id){plan_shape_hash(e), s->desc};
    if (s->o.use == HP_USE_SAMPLE) {
        const char *why = plan_sampling_refusal(e);
        if (why)
            return fail(err, HP_ERR_USAGE, HP_PASS_PLAN, "%s", why);
        plan_set_steps(e, 1);
    }
    return HP_ERR_NONE;
}

static hp_err_class pass_plan(hp_session *s, hp_error *err)
{
    s->plan = hp_plan(s->program, s->o.target, s->o.sets, s->o.n_sets);
    if (!s->plan) /* a file that is fine but for its data files: bad data, not a bad file */
        return fail(err, s->diags.n_errors > 0 && s->diags.data_errors == s->diags.errors_seen ? HP_ERR_DATA : HP_ERR_FILE,
                    HP_PASS_PLAN, "%s", "");
    if (!s->plan->experiment)
        return fail(err, HP_ERR_USAGE, HP_PASS_PLAN, "'%s' is a search; run it with `hpc search`",
                    s->plan->search->name);
    return resolve(s, s->plan->experiment, err);
}

struct hp_data_entry {
    char *key;
    hp_loaded_data data;
    hp_data_entry *next;
};

hp_data_cache *hp_data_cache_new(void)
{
    hp_data_cache *c = calloc(1, sizeof *c);
    pthread_mutex_t *mu = malloc(sizeof *mu);
    if (!c || !mu || pthread_mutex_init(mu, NULL) != 0) {
        free(c);
        free(mu);
        return NULL;
    }
    c->mu = mu;
    return c;
}

void hp_data_cache_free(hp_data_cache *c)
{
    if (!c)
        return;
    for (hp_data_entry *e = c->data, *next; e; e = next) {
        next = e->next;
        hp_loaded_data_free(&e->data);
        free(e->key);
        free(e);
    }
    pthread_mutex_destroy(c->mu);
    free(c->mu);
    free(c);
}

/* What loading depends on: the declaration as .hp text. */
static char *data_key(const plan_experiment *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const plan_data *d = &e->data;
    fprintf(f, "%s|%.17g|%d|%d|%d|%ld|%ld|%ld|%d", d->name, d->scale, d->normalize, d->shuffle, d->train.seq,
            d->train.n, d->valid.n, d->test.n, d->features);
    for (int i = 0; i < d->train.n_paths; i++)
        fprintf(f, "|%s", d->train.paths[i]);
    fprintf(f, "|%.17g|%.17g", d->valid.fraction, d->test.fraction);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* weights = balanced: sklearn's n / (classes · count) over the training split's labels */
static hp_err_class balance_classes(hp_session *s, hp_error *err)
{
    plan_loss_opts *o = &s->e->loss_opts;
    const hprt_dataset *t = &s->data.train;
    int K = s->e->data.classes;
    if (!o->balanced || !t->y || K <= 0)
        return HP_ERR_NONE;
    free(s->class_weights);
    if (!(s->class_weights = malloc(sizeof *s->class_weights * (size_t)K)))
        return fail(err, HP_ERR_RUN, HP_PASS_DATA, "out of memory");
    int missing = hprt_class_weights_balanced(t->y, t->n, K, s->class_weights);
    if (missing >= 0)
        return fail(err, HP_ERR_DATA, HP_PASS_DATA,
                    "%s:%d: weights = balanced: class %d has no sample in the training split, so its weight "
                    "n / (classes * count) is undefined; give the weights as a list",
                    s->e->file, o->line ? o->line : s->e->line, missing);
    o->weights = s->class_weights;
    o->n_weights = K;
    return HP_ERR_NONE;
}

static hp_err_class pass_data(hp_session *s, hp_error *err)
{
    if (s->o.use != HP_USE_TRAIN) /* predict, sample and build read their own inputs */
        return HP_ERR_NONE;
    hprt_error e = {0};
    hp_data_cache *c = s->o.shared ? s->o.shared->data : NULL;
    if (!c) {
        if (hp_load_data(&s->e->data, &s->data, &e) != HPRT_OK)
            return fail(err, e.status == HPRT_E_DATA ? HP_ERR_DATA : HP_ERR_RUN, HP_PASS_DATA, "%s", e.msg);
        return balance_classes(s, err);
    }
    char *key = data_key(s->e);
    if (!key)
        return fail(err, HP_ERR_RUN, HP_PASS_DATA, "out of memory");
    pthread_mutex_lock(c->mu); /* one loader at a time: a data set is loaded once */
    hp_data_entry *d = c->data;
    while (d && strcmp(d->key, key) != 0)
        d = d->next;
    if (!d && (d = calloc(1, sizeof *d))) {
        if (hp_load_data(&s->e->data, &d->data, &e) != HPRT_OK) {
            hp_loaded_data_free(&d->data);
            free(d);
            pthread_mutex_unlock(c->mu);
            free(key);
            return fail(err, e.status == HPRT_E_DATA ? HP_ERR_DATA : HP_ERR_RUN, HP_PASS_DATA, "%s", e.msg);
        }
        d->key = key;
        key = NULL;
        d->next = c->data;
        c->data = d;
        c->loads++;
    }
    pthread_mutex_unlock(c->mu);
    free(key);
    if (!d)
        return fail(err, HP_ERR_RUN, HP_PASS_DATA, "out of memory");
    s->data = d->data;
    s->shared_data = true;
    return balance_classes(s, err);
}

/* What the compiled code depends on, for the cache of a search's workers:
 * the code itself, as the code generator makes it before optimisation (so two
 * trials share a model exactly when their steps are the same code; the
 * settings a step reads at run time do not enter it).  0: no key (compile). */
static uint64_t model_key(const hp_session *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return 0;
    cg_error ce = {0};
    int rc = cg_emit_llvm(s->e, s->layout, NULL, false, f, &ce);
    if (fclose(f) != 0 || rc != 0) {
        free(buf);
        return 0;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ull;
    free(buf);
    return h ? h : 1;
}

static hp_err_class pass_layout(hp_session *s, hp_error *err)
{
    const plan_experiment *e = s->e;
    int tsizes[32], esizes[32], n_train = 0, n_eval = 1;
    switch (s->o.use) {
    case HP_USE_TRAIN:
        n_train = hprt_train_batch_sizes(&e->batch, e->epochs, s->data.train.n, s->data.has_valid ? s->data.valid.n : 0,
                                         s->data.has_test ? s->data.test.n : 0, tsizes, esizes, &n_eval, 32);
        break;
    case HP_USE_EVAL:
        esizes[0] = s->o.eval_batch > 0 ? s->o.eval_batch : e->batch.adaptive ? e->batch.start : e->batch.size;
        break;
    case HP_USE_STEP:
        n_train = 1;
        tsizes[0] = esizes[0] = s->o.eval_batch;
        break;
    case HP_USE_SAMPLE:
    case HP_USE_BUILD:
        esizes[0] = 1;
        break;
    }
    bool dp = (s->o.use == HP_USE_TRAIN || s->o.use == HP_USE_STEP) && s->o.ranks > 1; /* STEP: the codegen tests */
    if (dp) /* this rank's share of every batch (a share of 0 rows is refused by the driver) */
        for (int pass = 0; pass < 2; pass++) {
            int *sz = pass ? esizes : tsizes, n = pass ? n_eval : n_train, k = 0;
            for (int i = 0; i < n; i++) {
                int first, share = hprt_dp_share(sz[i], s->o.rank, s->o.ranks, &first), j = 0;
                while (j < k && sz[j] != share)
                    j++;
                if (share > 0 && j == k)
                    sz[k++] = share;
            }
            if (k == 0)
                sz[k++] = 1;
            *(pass ? &n_eval : &n_train) = k;
        }
    cg_error ce = {0};
    s->layout = cg_layout_new(e, s->threads, tsizes, n_train, esizes, n_eval, &ce);
    if (!s->layout)
        return fail(err, from_cg(ce.cls), HP_PASS_LAYOUT, "%s", ce.msg);
    s->layout->dp = dp;
    hp_session_cache *c = s->o.shared;
    s->key = c && s->o.use == HP_USE_TRAIN ? model_key(s) : 0;
    for (int i = 0; c && s->key && i < c->n; i++)
        if (c->models[i].key == s->key) { /* the same code: one of the worker's models again */
            hp_cached_model *m = &c->models[i];
            /* the code is the same; what the layout holds for run time, the
             * dropout rates, is this trial's */
            memcpy(m->layout->site_p, s->layout->site_p, sizeof m->layout->site_p);
            cg_layout_free(s->layout);
            s->layout = m->layout;
            s->mem = m->mem;
            s->opt = m->opt;
            s->prog = m->prog;
            m->used = ++c->clock;
            s->shared_model = true;
            break;
        }
    return HP_ERR_NONE;
}

/* A reused model's memory as a fresh one's: activations and gradients
 * zero, the optimizer state as hprt_optim_state_new makes it (in place: the
 * compiled code holds the arrays' addresses). */
static hp_err_class reset_memory(hp_session *s, hp_error *err)
{
    size_t np = (size_t)s->layout->n_params;
    memset(s->mem.grads, 0, sizeof(float) * np);
    memset(s->mem.acts, 0, sizeof(float) * (size_t)s->layout->n_acts);
    hprt_optim_state *fresh = hprt_optim_state_new(&s->e->optimizer, np);
    if (!fresh)
        return fail(err, HP_ERR_RUN, HP_PASS_MEMORY, "out of memory");
    float *to[6] = {s->opt->buf, s->opt->m, s->opt->v, s->opt->vmax, s->opt->sum, s->opt->ga};
    float *from[6] = {fresh->buf, fresh->m, fresh->v, fresh->vmax, fresh->sum, fresh->ga};
    for (int k = 0; k < 6; k++)
        if (to[k] && from[k])
            memcpy(to[k], from[k], sizeof(float) * np);
    hprt_optim_state_free(fresh);
    return HP_ERR_NONE;
}

static hp_err_class pass_memory(hp_session *s, hp_error *err)
{
    if (s->shared_model)
        return reset_memory(s, err);
    cg_memory *m = &s->mem;
    size_t np = (size_t)s->layout->n_params;
    m->params = hprt_alloc(sizeof(float) * np);
    if (!m->params)
        return fail(err, HP_ERR_RUN, HP_PASS_MEMORY, "out of memory");
    memset(m->params, 0, sizeof(float) * np);
    if (s->o.use == HP_USE_BUILD) /* the weights are all an artifact needs */
        return HP_ERR_NONE;
    m->grads = hprt_alloc(sizeof(float) * np);
    m->acts = hprt_alloc(sizeof(float) * (size_t)s->layout->n_acts);
    m->barrier = hprt_barrier_new(s->threads);
    if (!m->grads || !m->acts || !m->barrier)
        return fail(err, HP_ERR_RUN, HP_PASS_MEMORY, "out of memory");
    /* zeros, as a reused model's memory is reset to: a trial trains the same
     * whichever it gets */
    memset(m->grads, 0, sizeof(float) * np);
    memset(m->acts, 0, sizeof(float) * (size_t)s->layout->n_acts);
    if (s->o.use != HP_USE_TRAIN && s->o.use != HP_USE_STEP)
        return HP_ERR_NONE;
    s->opt = hprt_optim_state_new(&s->e->optimizer, np);
    if (!s->opt)
        return fail(err, HP_ERR_RUN, HP_PASS_MEMORY, "out of memory");
    m->opt_buf = s->opt->buf;
    m->opt_m = s->opt->m;
    m->opt_v = s->opt->v;
    m->opt_vmax = s->opt->vmax;
    m->opt_sum = s->opt->sum;
    m->opt_ga = s->opt->ga;
    return HP_ERR_NONE;
}

/* Every layer's parameters from the experiment's seed, in layer order (the
 * order is part of the results: a run is reproduced from its seed). */
static hp_err_class pass_init(hp_session *s, hp_error *err)
{
    if (s->o.use != HP_USE_TRAIN) /* the weights come from a checkpoint */
        return HP_ERR_NONE;
    if (cg_init_params(s->e, s->layout, s->mem.params) != 0)
        return fail(err, HP_ERR_RUN, HP_PASS_INIT, "out of memory initialising the parameters");
    return HP_ERR_NONE;
}

static void free_model(cg_layout *layout, cg_memory *mem, hprt_optim_state *opt, cg_program *prog);

/* The least recently used model of the cache goes; returns its bytes. */
static double evict(hp_session_cache *c)
{
    int lru = 0;
    for (int i = 1; i < c->n; i++)
        if (c->models[i].used < c->models[lru].used)
            lru = i;
    hp_cached_model *m = &c->models[lru];
    double bytes = m->bytes;
    free_model(m->layout, &m->mem, m->opt, m->prog);
    c->models[lru] = c->models[--c->n];
    return bytes;
}

/* This session's model goes into the worker's cache, which owns it from now. */
static void keep_model(hp_session *s)
{
    hp_session_cache *c = s->o.shared;
    if (!s->key)
        return;
    double bytes = 4.0 * (double)s->layout->n_params * (2 + HPRT_STATE__COUNT) + 4.0 * (double)s->layout->n_acts;
    double total = bytes;
    for (int i = 0; i < c->n; i++)
        total += c->models[i].bytes;
    while (c->n > 0 && (c->n == HP_CACHE_MODELS || total > HP_CACHE_BYTES))
        total -= evict(c);
    c->models[c->n++] = (hp_cached_model){s->key, s->layout, s->mem, s->opt, s->prog, bytes, ++c->clock};
    s->shared_model = true;
}

static hp_err_class pass_compile(hp_session *s, hp_error *err)
{
    if (s->o.use == HP_USE_BUILD) /* hp_aot_build compiles for its target */
        return HP_ERR_NONE;
    if (s->shared_model) /* reused: nothing to compile */
        return HP_ERR_NONE;
    const plan_experiment *e = s->e;
    cg_objects *objs = s->o.shared && s->o.use == HP_USE_TRAIN && s->key ? s->o.shared->objects : NULL;
    /* with find_lr the schedule is compiled once the range test has spoken; a
     * search's worker compiles none (the driver's reference schedule) */
    hprt_sched_resolved sched;
    bool with_sched = s->o.use == HP_USE_TRAIN && !e->uses_find_lr && !objs;
    hprt_error re = {0};
    if (with_sched && hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, s->data.train.n,
                                                  e->data.is_text ? e->data.train.seq : 0, &sched, &re) != HPRT_OK)
        return fail(err, HP_ERR_RUN, HP_PASS_COMPILE, "%s", re.msg);
    cg_error ce = {0};
    if (objs) /* a search's worker: the object compiled once for every worker */
        s->prog = cg_compile_shared(e, s->layout, &s->mem, objs, s->key, &ce);
    else
        s->prog = cg_compile(e, s->layout, &s->mem, with_sched ? &sched : NULL, &ce);
    if (!s->prog)
        return fail(err, from_cg(ce.cls), HP_PASS_COMPILE, "compiling the %s failed: %s",
                    s->o.use == HP_USE_TRAIN ? "training step" : "model", ce.msg);
    s->compiled = true;
    if (s->o.shared && s->o.use == HP_USE_TRAIN)
        keep_model(s);
    return HP_ERR_NONE;
}

/* ---- the pipeline -------------------------------------------------------- */

static const struct {
    const char *name;
    hp_err_class (*run)(hp_session *, hp_error *);
} passes[HP_PASS__COUNT] = {
    [HP_PASS_LOAD] = {"load", pass_load},
    [HP_PASS_PLAN] = {"plan", pass_plan},
    [HP_PASS_DATA] = {"data", pass_data},
    [HP_PASS_LAYOUT] = {"layout", pass_layout},
    [HP_PASS_MEMORY] = {"memory", pass_memory},
    [HP_PASS_INIT] = {"init", pass_init},
    [HP_PASS_COMPILE] = {"compile", pass_compile},
};

const char *hp_pass_name(hp_pass p) { return p >= 0 && p < HP_PASS__COUNT ? passes[p].name : "?"; }

void hp_session_init(hp_session *s, const hp_session_opts *o)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    hp_diags_init(&s->diags);
    s->diags.quiet_notes = o->quiet_notes;
    for (int i = 0; i < o->n_allow; i++)
        hp_diags_allow(&s->diags, o->allow[i]);
}

hp_err_class hp_session_init_plan(hp_session *s, const hp_session_opts *o, plan_experiment *e, hp_error *err)
{
    hp_session_init(s, o);
    s->borrowed = true;
    s->done = HP_PASS_PLAN + 1;
    memset(err, 0, sizeof *err);
    return resolve(s, e, err);
}

hp_err_class hp_session_run(hp_session *s, hp_pass last, hp_error *err)
{
    memset(err, 0, sizeof *err);
    for (; s->done <= (int)last && s->done < HP_PASS__COUNT; s->done++) {
        hp_err_class c = passes[s->done].run(s, err);
        if (c != HP_ERR_NONE)
            return c;
    }
    return HP_ERR_NONE;
}

static void free_model(cg_layout *layout, cg_memory *mem, hprt_optim_state *opt, cg_program *prog)
{
    cg_program_free(prog);
    hprt_barrier_free(mem->barrier);
    hprt_free(mem->params);
    hprt_free(mem->grads);
    hprt_free(mem->acts);
    hprt_optim_state_free(opt);
    cg_layout_free(layout);
}

void hp_session_cache_free(hp_session_cache *c)
{
    while (c->n > 0)
        evict(c);
    c->clock = 0;
}

void hp_session_first_error(const hp_session *s, char *buf, size_t n)
{
    snprintf(buf, n, "the experiment has errors");
    const hp_diag *first = NULL;
    for (int i = 0; i < s->diags.diags.n; i++) {
        const hp_diag *d = s->diags.diags.items[i];
        if (d->severity == HP_ERROR && (!first || d->seq < first->seq))
            first = d;
    }
    if (!first)
        return;
    const hp_source *src = first->has_span ? hp_diags_source(&s->diags, first->span.file) : NULL;
    if (src)
        snprintf(buf, n, "%s:%d: %s", src->path, first->span.line, first->message);
    else
        snprintf(buf, n, "%s", first->message);
}

void hp_session_free(hp_session *s)
{
    cg_program_free(s->sched_prog);
    if (!s->shared_model)
        free_model(s->layout, &s->mem, s->opt, s->prog);
    if (!s->shared_data)
        hp_loaded_data_free(&s->data);
    if (s->e && s->e->loss_opts.weights == s->class_weights)
        s->e->loss_opts.weights = NULL; /* a borrowed experiment outlives them */
    free(s->class_weights);
    if (!s->borrowed)
        plan_free(s->plan);
    hp_program_free(s->program);
    hp_diags_free(&s->diags);
    memset(s, 0, sizeof *s);
}

/* ---- running what was compiled ------------------------------------------- */

static hprt_step_fn train_fn(void *ctx, int batch) { return cg_train_fn(ctx, batch); }
static hprt_step_fn eval_fn(void *ctx, int batch) { return cg_eval_fn(ctx, batch); }

void hp_session_train_config(hp_session *s, hprt_train_config *cfg)
{
    const plan_experiment *e = s->e;
    const cg_layout *l = s->layout;
    cg_memory *m = &s->mem;
    long b0 = e->batch.adaptive ? e->batch.start : e->batch.size;
    long spe0 = (s->data.train.n + b0 - 1) / b0;
    long every = e->checkpoint.n <= 0 ? 0
                 : e->checkpoint.unit == HPRT_STEPS ? (long)e->checkpoint.n
                                                    : (long)(e->checkpoint.n * (double)spe0 + 0.5);
    *cfg = (hprt_train_config){
        .train = &s->data.train,
        .valid = s->data.has_valid ? &s->data.valid : NULL,
        .test = s->data.has_test ? &s->data.test : NULL,
        .shuffle = e->data.shuffle,
        .params = m->params,
        .grads = m->grads,
        .n_params = (size_t)l->n_params,
        .opt = s->opt,
        .train_fn = train_fn,
        .eval_fn = eval_fn,
        .fn_ctx = s->prog,
        .lr_fn = cg_lr_fn(s->prog),
        .momentum_fn = cg_momentum_fn(s->prog),
        .threads = s->threads,
        .barrier = m->barrier,
        .n_dropout = l->n_dropout,
        .optimizer = e->optimizer,
        .schedule = e->schedule,
        .batch = e->batch,
        .epochs = e->epochs,
        .stop = e->stop,
        .regularize = e->regularize,
        .seed = e->seed,
        .ckpt_id = &s->ckpt_id,
        .checkpoint_every = every,
    };
    for (int k = 0; k < l->n_dropout; k++)
        cfg->dropout_p[k] = l->site_p[k];
    /* the recurrent state carried between steps goes into checkpoints (text
     * only: a numeric sequence starts from zero in every sample) */
    bool carry_all = true;
    for (int i = 0; i < l->n_layers && l->text; i++)
        for (int k = 0; k < l->layers[i].n_rnn; k++) {
            const cg_rnn_layer *R = &l->layers[i].rnn[k];
            size_t n = (size_t)l->b_max * (size_t)R->geom.hidden;
            long at[2] = {R->h, R->c};
            for (int j = 0; j < 2; j++)
                if (at[j] >= 0 && cfg->n_carry < HPRT_MAX_CARRY) {
                    cfg->carry[cfg->n_carry].p = m->acts + at[j];
                    cfg->carry[cfg->n_carry++].n = n;
                } else if (at[j] >= 0) {
                    carry_all = false;
                }
        }
    if (!carry_all) /* too deep to carry through a checkpoint: a resumed epoch restarts its streams */
        cfg->n_carry = 0;
    /* the normalisation statistics (mean, then std, one block) go with the weights */
    if (e->data.normalize && s->data.norm.mean) {
        cfg->norm = s->data.norm.mean;
        cfg->n_norm = 2 * (size_t)s->data.norm.features;
    }
    cfg->multi_labels = e->data.labels;
    if (e->data.csv_text) { /* the class names and categories, for predict and build */
        cfg->encoding = e->data.csv_text;
        cfg->n_encoding = strlen(e->data.csv_text);
    }
}

hp_err_class hp_session_recompile_schedule(hp_session *s, hprt_train_config *cfg, hp_error *err)
{
    const plan_experiment *e = s->e;
    hprt_sched_resolved sched;
    hprt_error re = {0};
    if (hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, s->data.train.n,
                                    e->data.is_text ? e->data.train.seq : 0, &sched, &re) != HPRT_OK)
        return fail(err, HP_ERR_RUN, HP_PASS_COMPILE, "the schedule: %s", re.msg);
    cg_error ce = {0};
    cg_program_free(s->sched_prog);
    if (!(s->sched_prog = cg_compile_schedule(&sched, &ce)))
        return fail(err, from_cg(ce.cls), HP_PASS_COMPILE, "the schedule: %s", ce.msg);
    cfg->optimizer = e->optimizer;
    cfg->schedule = e->schedule;
    cfg->lr_fn = cg_lr_fn(s->sched_prog);
    cfg->momentum_fn = cg_momentum_fn(s->sched_prog);
    return HP_ERR_NONE;
}

hp_err_class hp_session_read_checkpoint(hp_session *s, const char *path, hprt_train_state *state, hp_error *err)
{
    hprt_error re = {0};
    if (hprt_ckpt_read(path, &s->ckpt_id, s->mem.params, (size_t)s->layout->n_params, state ? s->opt : NULL, state,
                       &re) != HPRT_OK)
        return fail(err, HP_ERR_RUN, HP_PASS__COUNT, "%s", re.msg);
    return HP_ERR_NONE;
}
