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
 *
 * Under mpirun (docs/distributed.md, "Studies over MPI ranks") rank 0 owns the journal, the
 * strategy and the study's files; each worker thread of another rank is
 * served on rank 0 by a proxy thread that takes jobs from the strategy as a
 * local worker does, sends them to its thread, and records the epochs that
 * thread sends back (after their checkpoints are on disk) with the same code
 * a local worker's epoch callback runs.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hprt.h"
#include "hprt_train.h"
#include "journal.h"
#include "mpi_load.h"
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

/* ---- what a job reports (on rank 0: the study's state and its journal) ------------ */

/* A finished epoch of trial t (its checkpoint is on disk). */
static void record_epoch(study *S, int t, const hprt_epoch_report *r)
{
    pthread_mutex_lock(&S->mu);
    double v = objective(S, r);
    search_report(&S->st, t, r->epoch, v);
    S->seconds[t] += r->seconds;
    S->clock += r->seconds;
    S->when[t] = S->clock;
    S->epochs_trained++;
    journal_event e = {.kind = JOURNAL_EPOCH, .trial = t, .epoch = r->epoch, .value = v, .seconds = r->seconds};
    journal_put(S, &e);
    study_progress(S, false);
    pthread_mutex_unlock(&S->mu);
}

/* An epoch found in trial t's metrics.csv but not in the journal. */
static void record_catch_up(study *S, int t, int epoch, double v)
{
    pthread_mutex_lock(&S->mu);
    search_report(&S->st, t, epoch, v);
    journal_event e = {.kind = JOURNAL_EPOCH, .trial = t, .epoch = epoch, .value = v, .seconds = NAN};
    journal_put(S, &e);
    pthread_mutex_unlock(&S->mu);
}

/* A step module compiled (not linked from another worker's). */
static void record_compile(study *S, double ms)
{
    pthread_mutex_lock(&S->mu);
    S->compiles++;
    S->compile_ms += ms;
    journal_event e = {.kind = JOURNAL_COMPILE, .seconds = ms};
    journal_put(S, &e);
    pthread_mutex_unlock(&S->mu);
}

/* ---- the messages between rank 0 and the other ranks' worker threads ----------------- */

/* One channel per worker thread of a rank other than 0: tag CHAN_TAG + its
 * slot, between that rank and rank 0 (where its proxy thread listens). */
enum { CHAN_TAG = 100 };

typedef enum {
    MSG_JOB = 1,  /* 0 -> r: train `trial` from epoch `from` (what the journal has) up to `to` with `values` */
    MSG_STOP,     /* 0 -> r: the study is over (or interrupted): the thread ends */
    MSG_EPOCH,    /* r -> 0: a finished epoch, its checkpoint on disk; answered by MSG_ACK */
    MSG_CATCH_UP, /* r -> 0: an epoch of metrics.csv the journal lacks; answered by MSG_ACK */
    MSG_ACK,      /* 0 -> r: journaled; go = 0 when the study was interrupted (stop at this checkpoint) */
    MSG_COMPILE,  /* r -> 0: a step module compiled, in `ms` */
    MSG_END       /* r -> 0: the job ended (`end`, a job_end; `why` when it failed) */
} msg_kind;

typedef struct {
    int kind;
    int trial, to, from;
    int epoch, end, go;
    double value, ms;
    hprt_epoch_report report;
    char why[1024];
    int n_values;
    char values[JOURNAL_MAX_PATHS][256]; /* only n_values of them are sent */
} msg;

/* A rank that cannot talk to rank 0 (or the reverse) cannot go on: MPI ends
 * every rank; the journal holds every finished epoch, so `hpc resume` goes on. */
static void lost(hprt_comm *c)
{
    fprintf(stderr, "hpc search: rank %d: MPI: %s; the study is left as it was journaled (hpc resume STUDY_DIR)\n",
            c->rank, c->error[0] ? c->error : "an unexpected message");
    fflush(stderr);
    c->abort(c, EXIT_RUN);
}

static void chan_send(hprt_comm *c, int dest, int tag, const msg *m)
{
    size_t n = offsetof(msg, values) + (m->kind == MSG_JOB ? (size_t)m->n_values * sizeof m->values[0] : 0);
    if (c->send(c, dest, tag, m, n) != 0)
        lost(c);
}

/* Waits for the channel's next message without spinning a core (an MPI
 * receive busy-polls, and rank 0's proxies wait for whole epochs). */
static void chan_recv(hprt_comm *c, int src, int tag, msg *m)
{
    for (;;) {
        int p = c->poll(c, src, tag);
        if (p < 0)
            lost(c);
        if (p > 0)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    size_t got = 0;
    if (c->recv(c, src, tag, m, sizeof *m, NULL, NULL, &got) != 0)
        lost(c);
    if (got < offsetof(msg, values) || (m->kind == MSG_JOB && (m->n_values < 0 || m->n_values > JOURNAL_MAX_PATHS ||
                                                                 got != offsetof(msg, values) +
                                                                            (size_t)m->n_values * sizeof m->values[0]))) {
        snprintf(c->error, sizeof c->error, "a malformed message from rank %d", src);
        lost(c);
    }
}

/* ---- one job ------------------------------------------------------------------ */

typedef struct {
    study *S;
    int trial;
    int epochs;        /* the trial's epochs reported so far */
    tb_writer *tb;     /* the trial's TensorBoard session, or NULL */
    hprt_comm *comm;   /* a job of another rank: its reports go to rank 0 over channel `tag` */
    int tag;
    bool stop;         /* rank 0 asked it to stop at this checkpoint */
    hprt_epoch_report pending; /* the epoch just trained, reported once its checkpoint is written */
    bool has_pending;
} job_ctx;

/* A report that rank 0 must have journaled before the job goes on. */
static void send_report(job_ctx *j, msg *m)
{
    chan_send(j->comm, 0, j->tag, m);
    chan_recv(j->comm, 0, j->tag, m);
    if (m->kind != MSG_ACK) {
        snprintf(j->comm->error, sizeof j->comm->error, "rank 0 answered a report with message %d", m->kind);
        lost(j->comm);
    }
    j->stop = !m->go;
}

/* The trainer calls back before it writes the epoch's checkpoint (its
 * policies decide first): the report waits for hprt_trainer_epoch to
 * return, so the journal never holds an epoch its checkpoint lacks (a kill
 * in between would have it trained and journaled twice). */
static void job_epoch(void *ctx, const hprt_epoch_report *r)
{
    job_ctx *j = ctx;
    j->pending = *r;
    j->has_pending = true;
}

/* The epoch trained and checkpointed: journaled on rank 0. */
static void report_epoch(job_ctx *j)
{
    if (!j->has_pending)
        return;
    j->has_pending = false;
    const hprt_epoch_report *r = &j->pending;
    if (j->comm) {
        msg m = {.kind = MSG_EPOCH, .trial = j->trial, .report = *r};
        send_report(j, &m);
    } else {
        record_epoch(j->S, j->trial, r);
        study_tb_epoch(j->S, j->tb, r);
    }
    if (r->epoch > j->epochs)
        j->epochs = r->epoch;
}

/* The epochs a trial's metrics.csv holds beyond what the journal has (a
 * kill between the epoch's checkpoint and its journal line): reported now. */
static void catch_up(job_ctx *j, const char *tdir, int upto)
{
    study *S = j->S;
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
        if (n <= j->epochs)
            continue;
        char *save, *tok = strtok_r(line, ",\n", &save);
        for (int k = 0; tok && k < col; k++)
            tok = strtok_r(NULL, ",\n", &save);
        double v = tok ? strtod(tok, NULL) : NAN;
        if (bpc)
            v /= M_LN2;
        if (j->comm) {
            msg m = {.kind = MSG_CATCH_UP, .trial = j->trial, .epoch = n, .value = v};
            send_report(j, &m);
        } else {
            record_catch_up(S, j->trial, n, v);
        }
        j->epochs = n;
    }
    fclose(f);
}

typedef enum { JOB_OK, JOB_STOPPED, JOB_FAILED, JOB_INTERRUPTED, JOB_IO } job_end;

/* Trains trial jc->trial up to epoch `to` (from its checkpoint when it has
 * one) with its varied paths set to vals, on this process's worker `slot`. */
static job_end run_job(study *S, job_ctx *jc, int slot, int to, char (*vals)[256], char *why, size_t whylen)
{
    int t = jc->trial;
    char tdir[4200], path[4300];
    snprintf(tdir, sizeof tdir, "%s/trials/%04d", S->dir, t);
    /* the trial's values as --set overrides after the user's own */
    int nv = S->s->n_varies, n_sets = S->o.n_sets + nv;
    hp_override *sets = calloc((size_t)n_sets + 1, sizeof *sets);
    if (!sets) {
        snprintf(why, whylen, "out of memory");
        return JOB_FAILED;
    }
    for (int i = 0; i < S->o.n_sets; i++)
        sets[i] = S->o.sets[i];
    for (int i = 0; i < nv; i++)
        sets[S->o.n_sets + i] = (hp_override){.path = S->s->varies[i].path, .value = vals[i]};
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
        if (jc->comm) {
            msg m = {.kind = MSG_COMPILE, .ms = cg_compile_ms(hs.prog)};
            chan_send(jc->comm, 0, jc->tag, &m);
        } else {
            record_compile(S, cg_compile_ms(hs.prog));
        }
    }
    hprt_train_config cfg;
    hp_session_train_config(&hs, &cfg);
    cfg.lr_fn = NULL; /* the reference schedule, bit-identical to the compiled one, so no module holds it */
    cfg.momentum_fn = NULL;
    cfg.run_dir = tdir;
    cfg.cb = (hprt_callbacks){jc, NULL, job_epoch, NULL, NULL}; /* events: the trial's events.log */
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
    jc->tb = study_tb_trial(S, t, fresh);
    if (hprt_trainer_new(&cfg, &tr, &re) != HPRT_OK ||
        (!fresh && hprt_trainer_restore(tr, &state, best, &re) != HPRT_OK)) {
        snprintf(why, whylen, "%s", re.msg);
        end = JOB_FAILED;
        goto out;
    }
    if (!fresh)
        catch_up(jc, tdir, state.epochs_done);
    for (;;) {
        if (jc->epochs >= to || hprt_trainer_done(tr))
            break;
        if (hprt_trainer_epoch(tr, &re) != HPRT_OK) {
            snprintf(why, whylen, "%s", re.msg); /* a NaN loss, or its files could not be written */
            end = JOB_FAILED;
            goto out;
        }
        report_epoch(jc);
        if (search_interrupted || jc->stop) {
            end = JOB_INTERRUPTED;
            goto out;
        }
    }
    int reached = jc->epochs;
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
    study_tb_close(S, jc->tb);
    jc->tb = NULL;
    hprt_train_state_free(&state);
    free(best);
    hp_session_free(&hs);
    free(sets);
    return end;
}

/* ---- the workers ------------------------------------------------------------------ */

typedef struct {
    study *S;
    int slot;        /* here: its session cache; a proxy: the thread's slot on its rank */
    int rank;        /* 0: trains here; else the proxy of a worker thread of that rank */
    hprt_comm *comm;
} worker;

/* A proxy's job: sent to its thread on another rank, whose reports are
 * recorded here as a local worker's epoch callback records its own. */
static job_end remote_job(study *S, worker *w, int t, int from, int to, char (*vals)[256], char *why,
                          size_t whylen)
{
    hprt_comm *c = w->comm;
    int tag = CHAN_TAG + w->slot;
    msg *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(why, whylen, "out of memory");
        return JOB_FAILED;
    }
    *m = (msg){.kind = MSG_JOB, .trial = t, .to = to, .from = from, .n_values = S->s->n_varies};
    for (int i = 0; i < m->n_values; i++)
        memcpy(m->values[i], vals[i], sizeof m->values[i]);
    char path[4300];
    snprintf(path, sizeof path, "%s/trials/%04d/last.hpw", S->dir, t);
    struct stat sb;
    tb_writer *tb = study_tb_trial(S, t, stat(path, &sb) != 0); /* the study's directory is the same on every rank */
    chan_send(c, w->rank, tag, m);
    job_end end = JOB_FAILED;
    for (bool more = true; more;) {
        chan_recv(c, w->rank, tag, m);
        switch ((msg_kind)m->kind) {
        case MSG_EPOCH:
        case MSG_CATCH_UP:
            if (m->trial != t)
                goto bad;
            if (m->kind == MSG_EPOCH) {
                record_epoch(S, t, &m->report);
                study_tb_epoch(S, tb, &m->report);
            } else {
                record_catch_up(S, t, m->epoch, m->value);
            }
            *m = (msg){.kind = MSG_ACK, .go = !search_interrupted && !S->io_error};
            chan_send(c, w->rank, tag, m);
            break;
        case MSG_COMPILE: record_compile(S, m->ms); break;
        case MSG_END:
            if (m->end < JOB_OK || m->end > JOB_IO)
                goto bad;
            end = (job_end)m->end;
            m->why[sizeof m->why - 1] = 0;
            snprintf(why, whylen, "%s", m->why);
            more = false;
            break;
        case MSG_JOB:
        case MSG_STOP:
        case MSG_ACK:
        default: goto bad;
        }
    }
    study_tb_close(S, tb);
    free(m);
    if (end == JOB_INTERRUPTED && !search_interrupted)
        search_interrupted = SIGTERM; /* that rank was stopped: so is the study, at its checkpoints */
    return end;
bad:
    snprintf(c->error, sizeof c->error, "message %d from rank %d in a job of trial %d", m->kind, w->rank, t);
    lost(c);
    study_tb_close(S, tb);
    free(m);
    return JOB_IO;
}

static void *work(void *p)
{
    worker *w = p;
    study *S = w->S;
    int nv = S->s->n_varies;
    char (*vals)[256] = calloc((size_t)nv + 1, sizeof *vals);
    pthread_mutex_lock(&S->mu);
    if (!vals) {
        fprintf(stderr, "hpc search: out of memory\n");
        S->io_error = true;
    }
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
            journal_event e = {.kind = JOURNAL_START, .trial = t, .to = jb.epochs, .rank = w->rank};
            journal_put(S, &e);
        }
        S->running++;
        study_progress(S, true);
        for (int i = 0; i < nv; i++)
            trial_value_text(S, t, i, vals[i], sizeof vals[i]);
        int from = S->st.trials[t].epochs;
        pthread_mutex_unlock(&S->mu);
        char why[1024] = "";
        job_end end;
        if (w->rank > 0) {
            end = remote_job(S, w, t, from, jb.epochs, vals, why, sizeof why);
        } else {
            job_ctx jc = {.S = S, .trial = t, .epochs = from};
            end = run_job(S, &jc, w->slot, jb.epochs, vals, why, sizeof why);
        }
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
    free(vals);
    if (w->rank > 0) { /* its thread there ends too */
        msg m = {.kind = MSG_STOP};
        chan_send(w->comm, w->rank, CHAN_TAG + w->slot, &m);
    }
    return NULL;
}

/* A worker thread of a rank other than 0: the jobs its proxy sends, until it says stop. */
static void *member_work(void *p)
{
    worker *w = p;
    study *S = w->S;
    int tag = CHAN_TAG + w->slot;
    msg *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(w->comm->error, sizeof w->comm->error, "out of memory");
        lost(w->comm);
        return NULL;
    }
    for (;;) {
        chan_recv(w->comm, 0, tag, m);
        if (m->kind == MSG_STOP)
            break;
        if (m->kind != MSG_JOB || m->n_values != S->s->n_varies || m->trial < 0 || m->from < 0 ||
            m->to > S->st.epochs) {
            snprintf(w->comm->error, sizeof w->comm->error, "message %d from rank 0 where a job was due", m->kind);
            lost(w->comm);
            break;
        }
        for (int i = 0; i < m->n_values; i++)
            m->values[i][sizeof m->values[i] - 1] = 0;
        job_ctx jc = {.S = S, .trial = m->trial, .epochs = m->from, .comm = w->comm, .tag = tag};
        char why[1024] = "";
        job_end end = run_job(S, &jc, w->slot, m->to, m->values, why, sizeof why);
        *m = (msg){.kind = MSG_END, .trial = jc.trial, .end = end};
        snprintf(m->why, sizeof m->why, "%s", why);
        chan_send(w->comm, 0, tag, m);
    }
    free(m);
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

/* Runs n workers (the first on this thread) until they return. */
static void run_workers(worker *w, int n, void *(*fn)(void *))
{
    pthread_t *th = n > 1 ? calloc((size_t)n, sizeof *th) : NULL;
    int started = 1;
    for (int i = 1; th && i < n; i++) {
        if (pthread_create(&th[i], NULL, fn, &w[i]) != 0)
            break;
        started = i + 1;
    }
    if (started < n && w[0].comm) { /* a thread another rank would wait for forever */
        snprintf(w[0].comm->error, sizeof w[0].comm->error, "%d of %d worker threads could not start", n - started, n);
        lost(w[0].comm);
    }
    fn(&w[0]);
    for (int i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
}

/* The study on rank 0 (or without MPI): its local workers, and under MPI a
 * proxy for each worker thread of the other ranks (slots[r] of rank r). */
static int run_study(study *S, hprt_comm *comm, const int *slots)
{
    struct sigaction old[2];
    cli_catch_stop(on_signal, old);
    S->t0 = study_now();
    int n = S->parallel;
    for (int r = 1; comm && r < comm->size; r++)
        n += slots[r];
    worker *w = calloc((size_t)n, sizeof *w);
    if (!w) {
        fprintf(stderr, "hpc search: out of memory\n");
        if (comm)
            comm->abort(comm, EXIT_RUN);
        return EXIT_RUN;
    }
    int k = 0;
    for (int i = 0; i < S->parallel; i++)
        w[k++] = (worker){S, i, 0, comm};
    for (int r = 1; comm && r < comm->size; r++)
        for (int i = 0; i < slots[r]; i++)
            w[k++] = (worker){S, i, r, comm};
    run_workers(w, n, work);
    free(w);
    cli_restore_stop(old);
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

/* A rank other than 0: its worker threads train what rank 0 sends. */
static int run_member(study *S, hprt_comm *comm)
{
    struct sigaction old[2];
    cli_catch_stop(on_signal, old);
    worker w[64];
    for (int i = 0; i < S->parallel; i++)
        w[i] = (worker){S, i, comm->rank, comm};
    run_workers(w, S->parallel, member_work);
    cli_restore_stop(old);
    int sig = search_interrupted;
    search_interrupted = 0;
    return sig == SIGTERM ? 143 : sig ? 130 : EXIT_OK;
}

/* Under MPI, after rank 0 opened the study (status -1) or failed (its exit
 * status): rank 0 names the study's directory, the other ranks open it, and
 * every rank says how many worker threads it runs; then rank 0 runs the
 * study and the others their jobs. */
static int run_over_ranks(study *S, hprt_comm *c, int status)
{
    struct {
        int status;
        char dir[4096];
    } head = {status, ""};
    if (c->rank == 0 && status < 0 && !realpath(S->dir, head.dir)) {
        fprintf(stderr, "hpc search: %s: %s\n", S->dir, strerror(errno));
        head.status = EXIT_RUN;
    }
    if (c->bcast(c, &head, sizeof head, 0) != 0)
        lost(c);
    if (head.status >= 0)
        return head.status;
    head.dir[sizeof head.dir - 1] = 0;
    int st = c->rank == 0 ? -1 : study_open_member(S, head.dir);
    /* per rank its worker threads; then the ranks that could not open the study, and those without threads */
    double *n = calloc((size_t)c->size + 2, sizeof *n);
    int *slots = calloc((size_t)c->size, sizeof *slots);
    if (!n || !slots) {
        free(n);
        free(slots);
        snprintf(c->error, sizeof c->error, "out of memory");
        lost(c);
        return EXIT_RUN;
    }
    n[c->rank] = st < 0 ? S->parallel : 0;
    n[c->size] = st >= 0;
    n[c->size + 1] = !c->threads_ok;
    if (c->allreduce_f64(c, n, (size_t)c->size + 2) != 0)
        lost(c);
    if (n[c->size] > 0 || (n[c->size + 1] > 0 && c->size > 1)) {
        if (c->rank == 0)
            fprintf(stderr, "hpc search: %s\n",
                    n[c->size] > 0 ? "a rank could not open the study's directory (every rank must see it: one "
                                     "machine, or a shared filesystem; docs/distributed.md, 'Studies over MPI ranks')"
                                   : "the MPI library does not grant MPI_THREAD_MULTIPLE, which a study over ranks needs");
        free(n);
        free(slots);
        return EXIT_RUN;
    }
    int total = 0;
    for (int r = 0; r < c->size; r++)
        total += slots[r] = (int)n[r];
    free(n);
    if (c->rank == 0 && !S->quiet)
        printf("over %d MPI rank%s: %d trial%s at a time in all\n", c->size, c->size == 1 ? "" : "s", total,
               total == 1 ? "" : "s");
    fflush(stdout);
    int rc = c->rank == 0 ? run_study(S, c, slots) : run_member(S, c);
    free(slots);
    return rc;
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
    hprt_comm *comm = NULL;
    char err[1024];
    if (!S)
        goto done;
    if (cli_parse_common(n_rest, rest, &S->o, "search") < 0) {
        status = EXIT_USAGE;
        goto done;
    }
    if (cli_mpi_open(&comm, err, sizeof err) != 0) { /* NULL without mpirun: nothing about MPI happens */
        fprintf(stderr, "hpc search: MPI: %s\n", err);
        goto done;
    }
    S->mpi = comm != NULL;
    S->quiet = S->o.quiet || (comm && comm->rank > 0);
    S->tty = isatty(STDERR_FILENO) && !(comm && comm->rank > 0);
    status = comm && comm->rank > 0 ? -1 : study_open_new(S, out, trials, parallel, tensorboard);
    if (comm)
        status = run_over_ranks(S, comm, status);
    else if (status < 0)
        status = run_study(S, NULL, NULL);
done:
    study_free(S);
    cli_mpi_close(comm);
    free(rest);
    return status;
}

int cmd_search_resume(const char *dir, bool quiet)
{
    hprt_comm *comm = NULL;
    char err[1024];
    if (cli_mpi_open(&comm, err, sizeof err) != 0) { /* under mpirun: the study over ranks, as `hpc search` */
        fprintf(stderr, "hpc resume: MPI: %s\n", err);
        return EXIT_RUN;
    }
    study *S = study_new();
    if (!S) {
        cli_mpi_close(comm);
        return EXIT_RUN;
    }
    bool member = comm && comm->rank > 0;
    S->mpi = comm != NULL;
    S->quiet = quiet || member;
    S->tty = isatty(STDERR_FILENO) && !member;
    int status = member ? -1 : study_open_existing(S, dir, replay);
    if (status < 0 && !member)
        for (int i = 0; i < S->st.n_trials; i++) /* jobs in flight when it stopped go on first */
            S->resume_pending[i] = S->st.trials[i].status == SEARCH_RUNNING;
    if (comm)
        status = run_over_ranks(S, comm, status);
    else if (status < 0)
        status = run_study(S, NULL, NULL);
    study_free(S);
    cli_mpi_close(comm);
    return status;
}
