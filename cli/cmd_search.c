/* cmd_search.c - `hpc search FILE [SEARCH]`: a study; `hpc resume STUDY_DIR`
 * continues one.
 *
 * The strategy (compiler/search.c) says which trial to train up to which
 * epoch; each job is a session (compiler/session.c) compiled for the trial's
 * values and trained one epoch at a time (hprt_trainer) in the trial's own
 * run directory, so a promoted trial continues from its checkpoint.  The
 * journal (compiler/journal.c) records every event before anything else
 * depends on it; results.csv, summary.json, best.hp and the plots are made
 * from the study's state, which `hpc resume` rebuilds by replaying the
 * journal.  `parallel` trials run at a time on worker threads, the cores
 * split between them.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hprt.h"
#include "hprt_train.h"
#include "journal.h"
#include "search.h"
#include "session.h"
#include "study_out.h"
#include "study_tb.h"

/* What a signal handler may touch (the one of cmd_run.c is its own). */
static volatile sig_atomic_t search_interrupted;

static void on_signal(int sig) { search_interrupted = sig; }

/* ---- the study ---------------------------------------------------------------- */

static const char *trial_value_text(const study *S, int t, int i, char *buf, size_t n)
{
    search_value_text(&S->s->varies[i], S->st.trials[t].x[i], buf, n);
    return buf;
}

/* Appends an event to the journal; a failed write stops the study. */
static bool journal_put(study *S, const journal_event *e)
{
    const char *paths[JOURNAL_MAX_PATHS], *values[JOURNAL_MAX_PATHS];
    char vbuf[JOURNAL_MAX_PATHS][256];
    int nv = S->s->n_varies < JOURNAL_MAX_PATHS ? S->s->n_varies : JOURNAL_MAX_PATHS;
    for (int i = 0; i < nv; i++) {
        paths[i] = S->s->varies[i].path;
        values[i] = e->kind == JOURNAL_TRIAL ? trial_value_text(S, e->trial, i, vbuf[i], sizeof vbuf[i]) : "";
    }
    if (journal_event_write(&S->j, e, paths, values))
        return true;
    if (!S->io_error)
        fprintf(stderr, "hpc search: cannot write %s: %s\n", S->j.path, strerror(errno));
    S->io_error = true;
    return false;
}

/* The objective from an epoch's figures (NaN when the run has no such figure). */
static double objective(const study *S, const hprt_epoch_report *r)
{
    switch (S->s->objective) {
    case HPRT_METRIC_VAL_LOSS: return r->has_valid ? r->val_loss : NAN;
    case HPRT_METRIC_VAL_ACCURACY: return r->has_valid ? r->val_accuracy : NAN;
    case HPRT_METRIC_VAL_BPC: return r->has_valid ? r->val_loss / M_LN2 : NAN;
    case HPRT_METRIC_TRAIN_LOSS: return r->train_loss;
    case HPRT_METRIC__COUNT: break;
    }
    return NAN;
}

/* ---- one job ------------------------------------------------------------------ */

typedef struct {
    study *S;
    int trial;
    tb_writer *tb; /* the trial's TensorBoard session, or NULL */
} job_ctx;

static void job_epoch(void *ctx, const hprt_epoch_report *r)
{
    job_ctx *j = ctx;
    study *S = j->S;
    pthread_mutex_lock(&S->mu);
    double v = objective(S, r);
    search_report(&S->st, j->trial, r->epoch, v);
    S->seconds[j->trial] += r->seconds;
    S->clock += r->seconds;
    S->when[j->trial] = S->clock;
    S->epochs_trained++;
    journal_event e = {.kind = JOURNAL_EPOCH, .trial = j->trial, .epoch = r->epoch, .value = v, .seconds = r->seconds};
    journal_put(S, &e);
    study_progress(S, false);
    pthread_mutex_unlock(&S->mu);
    study_tb_epoch(S, j->tb, r);
}

/* The epochs a trial's metrics.csv holds beyond what the journal has (a
 * kill between the epoch's checkpoint and its journal line): reported now. */
static void catch_up(study *S, int t, const char *tdir, int upto)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.csv", tdir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096];
    int col = -1, n = 0;
    const char *name = hprt_metric_name(S->s->objective);
    bool bpc = S->s->objective == HPRT_METRIC_VAL_BPC;
    if (fgets(line, sizeof line, f)) {
        char *save, *tok = strtok_r(line, ",\n", &save);
        for (int k = 0; tok; k++, tok = strtok_r(NULL, ",\n", &save))
            if (strcmp(tok, bpc ? "val_loss" : name) == 0)
                col = k;
    }
    while (col >= 0 && fgets(line, sizeof line, f) && ++n <= upto) {
        if (n <= S->st.trials[t].epochs)
            continue;
        char *save, *tok = strtok_r(line, ",\n", &save);
        for (int k = 0; tok && k < col; k++)
            tok = strtok_r(NULL, ",\n", &save);
        double v = tok ? strtod(tok, NULL) : NAN;
        if (bpc)
            v /= M_LN2;
        pthread_mutex_lock(&S->mu);
        search_report(&S->st, t, n, v);
        journal_event e = {.kind = JOURNAL_EPOCH, .trial = t, .epoch = n, .value = v, .seconds = NAN};
        journal_put(S, &e);
        pthread_mutex_unlock(&S->mu);
    }
    fclose(f);
}

typedef enum { JOB_OK, JOB_STOPPED, JOB_FAILED, JOB_INTERRUPTED, JOB_IO } job_end;

/* Trains trial t up to epoch `to` (from its checkpoint when it has one). */
static job_end run_job(study *S, int slot, int t, int to, char *why, size_t whylen)
{
    char tdir[4200], path[4300];
    snprintf(tdir, sizeof tdir, "%s/trials/%04d", S->dir, t);
    /* the trial's values as --set overrides after the user's own */
    int nv = S->s->n_varies, n_sets = S->o.n_sets + nv;
    hp_override *sets = calloc((size_t)n_sets + 1, sizeof *sets);
    char (*vals)[256] = calloc((size_t)nv + 1, sizeof *vals);
    if (!sets || !vals) {
        free(sets);
        free(vals);
        snprintf(why, whylen, "out of memory");
        return JOB_FAILED;
    }
    for (int i = 0; i < S->o.n_sets; i++)
        sets[i] = S->o.sets[i];
    pthread_mutex_lock(&S->mu);
    for (int i = 0; i < nv; i++) {
        trial_value_text(S, t, i, vals[i], sizeof vals[i]);
        sets[S->o.n_sets + i] = (hp_override){.path = S->s->varies[i].path, .value = vals[i]};
    }
    pthread_mutex_unlock(&S->mu);
    /* a trial that has trained goes on from its own experiment.hp, which
     * holds what its first job settled (find_lr's rate among it) */
    snprintf(path, sizeof path, "%s/last.hpw", tdir);
    struct stat sb;
    bool fresh = stat(path, &sb) != 0;
    char own[4300];
    snprintf(own, sizeof own, "%s/experiment.hp", tdir);
    hp_session_opts so = {.file = fresh ? S->src : own, .target = fresh ? S->base_name : NULL,
                          .sets = fresh ? sets : NULL, .n_sets = fresh ? n_sets : 0, .quiet_notes = true,
                          .use = HP_USE_TRAIN, .threads = S->threads_per_trial,
                          .epochs = fresh ? S->trial_epochs : 0, .shared = &S->cache[slot]};
    hp_session hs;
    hp_session_init(&hs, &so);
    hp_error he;
    job_end end = JOB_OK;
    job_ctx jc = {S, t, NULL};
    hprt_trainer *tr = NULL;
    hprt_train_state state = {0};
    float *best = NULL;
    if (hp_session_run(&hs, HP_PASS_COMPILE, &he) != HP_ERR_NONE) {
        if (he.cls == HP_ERR_FILE)
            hp_session_first_error(&hs, why, whylen);
        else
            snprintf(why, whylen, "%s", he.msg);
        end = JOB_FAILED;
        goto out;
    }
    if (hs.compiled && !cg_program_linked(hs.prog)) { /* compiled here, not linked from another worker's */
        pthread_mutex_lock(&S->mu);
        S->compiles++;
        S->compile_ms += cg_compile_ms(hs.prog);
        journal_event e = {.kind = JOURNAL_COMPILE, .seconds = cg_compile_ms(hs.prog)};
        journal_put(S, &e);
        pthread_mutex_unlock(&S->mu);
    }
    hprt_train_config cfg;
    hp_session_train_config(&hs, &cfg);
    cfg.lr_fn = NULL; /* the reference schedule, bit-identical to the compiled one, so no module holds it */
    cfg.momentum_fn = NULL;
    cfg.run_dir = tdir;
    cfg.cb = (hprt_callbacks){&jc, NULL, job_epoch, NULL, NULL}; /* events: the trial's events.log */
    cfg.interrupt = &search_interrupted;
    hprt_error re = {0};
    if (fresh) {
        if (cli_make_dirs(tdir) != 0) {
            snprintf(why, whylen, "cannot create %.900s: %s", tdir, strerror(errno));
            end = JOB_IO;
            goto out;
        }
        if (hs.e->uses_find_lr) { /* the LR range test first, as `hpc run` does */
            hprt_lrfind_result r;
            if (hprt_lr_find(&cfg, &hs.e->lrfind, &r, &re) != HPRT_OK) {
                snprintf(why, whylen, "the LR range test: %.900s", re.msg);
                end = JOB_FAILED;
                goto out;
            }
            char where[128];
            plan_apply_found_rate(hs.e, r.suggestion, where, sizeof where);
            hprt_lrfind_result_free(&r);
            cfg.optimizer = hs.e->optimizer;
            cfg.schedule = hs.e->schedule;
        }
        if (cli_write_experiment(tdir, hs.e, hs.threads, &hs.data) != 0) {
            snprintf(why, whylen, "cannot write %.900s/experiment.hp: %s", tdir, strerror(errno));
            end = JOB_IO;
            goto out;
        }
    } else {
        if (hp_session_read_checkpoint(&hs, path, &state, &he) != HP_ERR_NONE) {
            snprintf(why, whylen, "%s", he.msg);
            end = JOB_FAILED;
            goto out;
        }
        if (state.has_best) {
            best = malloc(sizeof(float) * (size_t)hs.layout->n_params);
            snprintf(path, sizeof path, "%s/best.hpw", tdir);
            if (!best || hprt_ckpt_read(path, &hs.ckpt_id, best, (size_t)hs.layout->n_params, NULL, NULL, &re) !=
                             HPRT_OK) {
                snprintf(why, whylen, "%s", best ? re.msg : "out of memory");
                end = JOB_FAILED;
                goto out;
            }
        }
    }
    jc.tb = study_tb_trial(S, t, fresh);
    if (hprt_trainer_new(&cfg, &tr, &re) != HPRT_OK ||
        (!fresh && hprt_trainer_restore(tr, &state, best, &re) != HPRT_OK)) {
        snprintf(why, whylen, "%s", re.msg);
        end = JOB_FAILED;
        goto out;
    }
    if (!fresh)
        catch_up(S, t, tdir, state.epochs_done);
    for (;;) {
        pthread_mutex_lock(&S->mu);
        int e = S->st.trials[t].epochs;
        pthread_mutex_unlock(&S->mu);
        if (e >= to || hprt_trainer_done(tr))
            break;
        if (hprt_trainer_epoch(tr, &re) != HPRT_OK) {
            snprintf(why, whylen, "%s", re.msg); /* a NaN loss, or its files could not be written */
            end = JOB_FAILED;
            goto out;
        }
        if (search_interrupted) {
            end = JOB_INTERRUPTED;
            goto out;
        }
    }
    pthread_mutex_lock(&S->mu);
    int reached = S->st.trials[t].epochs;
    pthread_mutex_unlock(&S->mu);
    bool final = hprt_trainer_done(tr) || reached >= S->st.epochs;
    if (reached < to && hprt_trainer_done(tr))
        end = JOB_STOPPED; /* its own stop rule ended it */
    if (final) {
        if (hprt_trainer_finish(tr, &re) != HPRT_OK) {
            snprintf(why, whylen, "%s", re.msg);
            end = JOB_FAILED;
            goto out;
        }
        if (cli_write_summary(tdir, hs.e, hs.threads, hprt_trainer_result(tr), cg_compile_ms(hs.prog)) != 0) {
            snprintf(why, whylen, "cannot write %.900s/summary.json: %s", tdir, strerror(errno));
            end = JOB_IO;
        }
    }
out:
    hprt_trainer_free(tr);
    study_tb_close(S, jc.tb);
    hprt_train_state_free(&state);
    free(best);
    hp_session_free(&hs);
    free(sets);
    free(vals);
    return end;
}

/* ---- the workers ------------------------------------------------------------------ */

typedef struct {
    study *S;
    int slot;
} worker;

static void *work(void *p)
{
    worker *w = p;
    study *S = w->S;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        if (search_interrupted || S->io_error)
            break;
        /* a job left running by an interrupted study first, then the strategy's */
        search_job jb = {SEARCH_WAIT, 0};
        for (int i = 0; i < S->st.n_trials; i++)
            if (S->resume_pending[i]) {
                S->resume_pending[i] = false;
                jb = (search_job){i, S->st.trials[i].target};
                break;
            }
        bool resumed = jb.trial >= 0;
        if (!resumed)
            jb = search_next(&S->st);
        if (jb.trial == SEARCH_DONE)
            break;
        if (jb.trial == SEARCH_WAIT) {
            pthread_cond_wait(&S->cv, &S->mu);
            continue;
        }
        int t = jb.trial;
        if (!resumed) {
            if (!study_grow(S, S->st.n_trials)) {
                S->io_error = true;
                break;
            }
            if (t == S->st.n_trials - 1 && !S->journaled[t]) {
                journal_event e = {.kind = JOURNAL_TRIAL, .trial = t, .n_x = S->s->n_varies};
                memcpy(e.x, S->st.trials[t].x, sizeof(double) * (size_t)S->s->n_varies);
                journal_put(S, &e);
                S->journaled[t] = true;
            }
            search_start(&S->st, t, jb.epochs);
            journal_event e = {.kind = JOURNAL_START, .trial = t, .to = jb.epochs};
            journal_put(S, &e);
        }
        S->running++;
        study_progress(S, true);
        pthread_mutex_unlock(&S->mu);
        char why[1024] = "";
        job_end end = run_job(S, w->slot, t, jb.epochs, why, sizeof why);
        pthread_mutex_lock(&S->mu);
        S->running--;
        if (end == JOB_FAILED) {
            search_done(&S->st, t, false, true);
            journal_event e = {.kind = JOURNAL_FAILED, .trial = t};
            snprintf(e.reason, sizeof e.reason, "%.*s", (int)sizeof e.reason - 1, why); /* the journal keeps its start */
            journal_put(S, &e);
            study_set_reason(S, t, why);
            study_line(S, "trial %d failed: %s", t, why);
        } else if (end == JOB_OK || end == JOB_STOPPED) {
            search_done(&S->st, t, end == JOB_STOPPED, false);
            journal_event e = {.kind = JOURNAL_DONE, .trial = t, .stopped = end == JOB_STOPPED};
            journal_put(S, &e);
        } else if (end == JOB_IO) {
            fprintf(stderr, "hpc search: trial %d: %s\n", t, why);
            S->io_error = true;
        } /* interrupted: the trial stays running in the journal; resume continues it */
        if ((end == JOB_OK || end == JOB_STOPPED) && !S->tty && !S->quiet) { /* plain lines off a terminal */
            const search_trial *tr = &S->st.trials[t];
            int b = search_best(&S->st);
            printf("trial %d: %d epoch%s, %s %.6g%s; best %.6g (trial %d)\n", t, tr->epochs, tr->epochs == 1 ? "" : "s",
                   hprt_metric_name(S->s->objective), search_value(tr),
                   tr->status == SEARCH_COMPLETED ? ", completed" : "", b >= 0 ? search_value(&S->st.trials[b]) : NAN, b);
            fflush(stdout);
        }
        study_write_outputs(S, false);
        study_progress(S, true);
        pthread_cond_broadcast(&S->cv);
    }
    pthread_cond_broadcast(&S->cv);
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

/* ---- replaying the journal ------------------------------------------------------------- */

static bool replay(void *ctx, const journal_event *e, int line)
{
    (void)line;
    study *S = ctx;
    switch (e->kind) {
    case JOURNAL_STUDY:
        return strcmp(e->search, S->s->name) == 0 && e->n_paths == S->s->n_varies;
    case JOURNAL_TRIAL:
        if (e->trial != S->st.n_trials || e->n_x != S->s->n_varies || !study_grow(S, e->trial + 1) ||
            !search_add(&S->st, e->x))
            return false;
        S->journaled[e->trial] = true;
        return true;
    case JOURNAL_START:
        if (e->trial >= S->st.n_trials)
            return false;
        search_start(&S->st, e->trial, e->to);
        return true;
    case JOURNAL_EPOCH:
        if (!search_report(&S->st, e->trial, e->epoch, e->value))
            return false;
        if (isfinite(e->seconds)) {
            S->seconds[e->trial] += e->seconds;
            S->clock += e->seconds;
        }
        S->when[e->trial] = S->clock;
        S->epochs_trained++;
        return true;
    case JOURNAL_DONE:
        if (e->trial >= S->st.n_trials)
            return false;
        search_done(&S->st, e->trial, e->stopped, false);
        return true;
    case JOURNAL_FAILED:
        if (e->trial >= S->st.n_trials)
            return false;
        search_done(&S->st, e->trial, false, true);
        study_set_reason(S, e->trial, e->reason);
        return true;
    case JOURNAL_COMPILE:
        S->compile_ms_before += e->seconds;
        S->compiles_before++;
        return true;
    case JOURNAL_END:
        S->ended = true;
        return true;
    }
    return false;
}

/* ---- the command -------------------------------------------------------------------------- */

static int run_study(study *S)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    S->t0 = study_now();
    worker w[64];
    pthread_t th[64];
    int n = S->parallel;
    int started = 0;
    for (int i = 0; i < n; i++) {
        w[i] = (worker){S, i};
        if (i > 0 && pthread_create(&th[i], NULL, work, &w[i]) != 0)
            break;
        started = i + 1;
    }
    work(&w[0]);
    for (int i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    int sig = search_interrupted;
    search_interrupted = 0;
    if (S->tty && !S->quiet)
        fprintf(stderr, "\r\033[K");
    if (sig) {
        study_write_outputs(S, false);
        fprintf(stderr, "interrupted; the study is in %s\nresume with: hpc resume %s\n", S->dir, S->dir);
        return sig == SIGTERM ? 143 : 130;
    }
    if (S->io_error)
        return EXIT_RUN;
    search_finish(&S->st);
    if (!S->ended) {
        journal_event e = {.kind = JOURNAL_END};
        journal_put(S, &e);
        study_tb_end(S);
    }
    if (study_write_outputs(S, true) != 0) {
        fprintf(stderr, "hpc search: cannot write the study's files in %s: %s\n", S->dir, strerror(errno));
        return EXIT_RUN;
    }
    if (!S->quiet)
        study_print_table(S, stdout);
    int failed = 0;
    for (int i = 0; i < S->st.n_trials; i++)
        failed += S->st.trials[i].status == SEARCH_FAILED;
    if (S->st.n_trials > 0 && failed == S->st.n_trials) {
        fprintf(stderr, "hpc search: every trial failed; the reasons are in %s/results.csv and journal.jsonl\n", S->dir);
        return EXIT_RUN;
    }
    return EXIT_OK;
}

int cmd_search(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return EXIT_RUN;
    int n_rest = 0, trials = 0, parallel = 0;
    const char *out = NULL, *tensorboard = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool takes = strcmp(a, "--trials") == 0 || strcmp(a, "--parallel") == 0 || strcmp(a, "--out") == 0 ||
                     strcmp(a, "--tensorboard") == 0;
        if (takes && i + 1 >= argc) {
            cli_usage_error("search", "%s needs a value", a);
            free(rest);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--trials") == 0 || strcmp(a, "--parallel") == 0) {
            long v;
            if (!cli_int_option("search", a, argv[++i], 1, a[2] == 't' ? 1000000 : HPRT_MAX_THREADS, &v)) {
                free(rest);
                return EXIT_USAGE;
            }
            if (a[2] == 't')
                trials = (int)v;
            else
                parallel = (int)v;
        } else if (strcmp(a, "--out") == 0) {
            out = argv[++i];
        } else if (strcmp(a, "--tensorboard") == 0) {
            tensorboard = argv[++i];
            if (!*tensorboard) {
                cli_usage_error("search", "--tensorboard must name a directory");
                free(rest);
                return EXIT_USAGE;
            }
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    study *S = study_new();
    int status = EXIT_RUN;
    if (!S)
        goto done;
    if (cli_parse_common(n_rest, rest, &S->o, "search") < 0) {
        status = EXIT_USAGE;
        goto done;
    }
    S->quiet = S->o.quiet;
    S->tty = isatty(STDERR_FILENO);
    status = study_open_new(S, out, trials, parallel, tensorboard);
    if (status >= 0)
        goto done;
    status = run_study(S);
done:
    study_free(S);
    free(rest);
    return status;
}

int cmd_search_resume(const char *dir, bool quiet)
{
    study *S = study_new();
    if (!S)
        return EXIT_RUN;
    S->quiet = quiet;
    S->tty = isatty(STDERR_FILENO);
    int status = study_open_existing(S, dir, replay);
    if (status < 0) {
        for (int i = 0; i < S->st.n_trials; i++) /* jobs in flight when it stopped go on first */
            S->resume_pending[i] = S->st.trials[i].status == SEARCH_RUNNING;
        status = run_study(S);
    }
    study_free(S);
    return status;
}
