/* study_tb.c - a study's TensorBoard logs, for the `hparams` plugin.
 *
 *   ROOT = TENSORBOARD_DIR/<the study directory's name>/
 *   ROOT/events...        the experiment: every varied path with its domain,
 *                         and the metrics the HParams tab shows
 *   ROOT/NNNN/events...   trial NNNN, a session: its values when it starts,
 *                         every epoch's scalars (as `hpc run` writes them)
 *                         while it trains, its status when the study ends
 *
 * A job opens a new event file in its trial's directory (TensorBoard reads
 * them all, in order), so a promoted trial's epochs follow its earlier ones.
 * What is written is derived from the study as it runs; the journal stays
 * the truth (a lost event file loses nothing but the picture). */
#include "study_tb.h"
#include "files.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hprt.h"

bool study_tb_root(study *S, const char *dir)
{
    S->tb_root[0] = 0;
    if (!dir || !*dir)
        return true;
    const char *base = strrchr(S->dir, '/');
    base = base && base[1] ? base + 1 : S->dir;
    char cwd[4096] = "";
    if (dir[0] != '/' && !getcwd(cwd, sizeof cwd))
        return false;
    int n = snprintf(S->tb_root, sizeof S->tb_root, "%s%s%s/%s", cwd, cwd[0] ? "/" : "", dir, base);
    if (n < 0 || (size_t)n >= sizeof S->tb_root) {
        S->tb_root[0] = 0;
        errno = ENAMETOOLONG;
        return false;
    }
    return true;
}

/* A vary whose values are all numbers (every range is). */
static bool numeric(const plan_vary *v)
{
    if (v->kind != PLAN_SPACE_SET)
        return true;
    for (int k = 0; k < v->n_values; k++) {
        char *end;
        strtod(v->values[k], &end);
        if (end == v->values[k] || *end)
            return false;
    }
    return true;
}

/* The metrics the HParams tab shows: the objective first. */
static int metrics(const study *S, const char **tags)
{
    static const char *const all[] = {"epoch/val_accuracy", "epoch/val_loss", "epoch/train_loss"};
    int n = 0;
    switch (S->s->objective) {
    case HPRT_METRIC_VAL_ACCURACY: tags[n++] = all[0]; break;
    case HPRT_METRIC_VAL_LOSS: tags[n++] = all[1]; break;
    case HPRT_METRIC_TRAIN_LOSS: tags[n++] = all[2]; break;
    case HPRT_METRIC_VAL_BPC: tags[n++] = "epoch/val_bpc"; break;
    case HPRT_METRIC__COUNT: break;
    }
    for (int i = 0; i < 3; i++)
        if (n == 0 || strcmp(tags[0], all[i]) != 0)
            tags[n++] = all[i];
    return n;
}

int study_tb_start(study *S, char *err, size_t n)
{
    if (!S->tb_root[0])
        return 0;
    tb_writer *w = tb_open(S->tb_root, err, n);
    if (!w)
        return -1;
    tb_hparam hp[PLAN_MAX_VARIES];
    for (int i = 0; i < S->s->n_varies && i < PLAN_MAX_VARIES; i++) {
        const plan_vary *v = &S->s->varies[i];
        hp[i] = (tb_hparam){.name = v->path, .numeric = numeric(v), .lo = v->lo, .hi = v->hi};
        if (v->kind == PLAN_SPACE_SET) {
            hp[i].values = v->values;
            hp[i].n_values = v->n_values;
        }
    }
    const char *tags[4];
    int nm = metrics(S, tags);
    char desc[512];
    snprintf(desc, sizeof desc, "hpc search %s: %s, objective %s", S->s->name, plan_strategy_name(S->s->strategy),
             hprt_metric_name(S->s->objective));
    tb_hparams_experiment(w, desc, hp, S->s->n_varies, tags, nm);
    if (tb_close(w) != 0) {
        snprintf(err, n, "%s: %s", S->tb_root, strerror(errno));
        return -1;
    }
    return 0;
}

tb_writer *study_tb_trial(study *S, int t, bool fresh)
{
    if (!S->tb_root[0])
        return NULL;
    char dir[4460], err[512];
    snprintf(dir, sizeof dir, "%s/%04d", S->tb_root, t);
    tb_writer *w = tb_open(dir, err, sizeof err);
    if (!w) {
        pthread_mutex_lock(&S->mu);
        study_line(S, "tensorboard: %s", err);
        pthread_mutex_unlock(&S->mu);
        return NULL;
    }
    if (fresh) {
        tb_hvalue hv[PLAN_MAX_VARIES];
        char text[PLAN_MAX_VARIES][256];
        pthread_mutex_lock(&S->mu);
        for (int i = 0; i < S->s->n_varies && i < PLAN_MAX_VARIES; i++) {
            const plan_vary *v = &S->s->varies[i];
            search_value_text(v, S->st.trials[t].x[i], text[i], sizeof text[i]);
            hv[i] = (tb_hvalue){.name = v->path, .numeric = numeric(v), .text = text[i]};
            if (hv[i].numeric)
                hv[i].number = strtod(text[i], NULL);
        }
        pthread_mutex_unlock(&S->mu);
        char group[32];
        snprintf(group, sizeof group, "%04d", t);
        tb_hparams_session_start(w, group, hv, S->s->n_varies, tb_wall_time());
        tb_flush(w);
    }
    return w;
}

void study_tb_epoch(const study *S, tb_writer *w, const hprt_epoch_report *r)
{
    if (!w)
        return;
    tb_epoch(w, r);
    if (S->s->objective == HPRT_METRIC_VAL_BPC && r->has_valid) {
        const char *tag = "epoch/val_bpc";
        double v = r->val_loss / M_LN2;
        tb_scalars(w, r->step, &tag, &v, 1);
    }
    tb_flush(w);
}

void study_tb_close(study *S, tb_writer *w)
{
    if (w && tb_close(w) != 0) {
        pthread_mutex_lock(&S->mu);
        study_line(S, "tensorboard: a write failed: %s", strerror(errno));
        pthread_mutex_unlock(&S->mu);
    }
}

void study_tb_end(study *S)
{
    if (!S->tb_root[0])
        return;
    for (int t = 0; t < S->st.n_trials; t++) {
        tb_status st = TB_STATUS_UNKNOWN;
        switch (S->st.trials[t].status) {
        case SEARCH_COMPLETED:
        case SEARCH_PRUNED: st = TB_STATUS_SUCCESS; break; /* a pruned trial ended as the study asked */
        case SEARCH_FAILED: st = TB_STATUS_FAILURE; break;
        case SEARCH_WAITING:
        case SEARCH_RUNNING: continue;
        }
        char dir[4460], err[512];
        snprintf(dir, sizeof dir, "%s/%04d", S->tb_root, t);
        tb_writer *w = tb_open(dir, err, sizeof err);
        if (!w) {
            study_line(S, "tensorboard: %s", err);
            return;
        }
        tb_hparams_session_end(w, st, tb_wall_time());
        if (tb_close(w) != 0) {
            study_line(S, "tensorboard: %s: %s", dir, strerror(errno));
            return;
        }
    }
}
