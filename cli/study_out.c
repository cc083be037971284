/* study_out.c - a study's state and its directory (study_out.h). */
#include "mpi_load.h"
#include "study_out.h"
#include "study_tb.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

study *study_new(void)
{
    study *S = calloc(1, sizeof *S);
    if (!S)
        return NULL;
    hp_diags_init(&S->d);
    S->j.fd = -1;
    if (pthread_mutex_init(&S->mu, NULL) != 0 || pthread_cond_init(&S->cv, NULL) != 0 ||
        !(S->data = hp_data_cache_new()) || !(S->objects = cg_objects_new())) {
        hp_data_cache_free(S->data);
        free(S);
        return NULL;
    }
    for (int i = 0; i < 64; i++) { /* every worker's sessions share the data sets and the compiled code */
        S->cache[i].data = S->data;
        S->cache[i].objects = S->objects;
    }
    return S;
}

void study_free(study *S)
{
    if (!S)
        return;
    for (int i = 0; i < 64; i++)
        hp_session_cache_free(&S->cache[i]);
    hp_data_cache_free(S->data);
    cg_objects_free(S->objects);
    journal_close(&S->j);
    if (S->st_ready)
        search_study_free(&S->st);
    for (int i = 0; i < S->cap; i++)
        free(S->reason[i]);
    free(S->reason);
    free(S->seconds);
    free(S->when);
    free(S->journaled);
    free(S->resume_pending);
    for (int i = 0; i < S->n_set_args; i++)
        free(S->set_args[i]);
    free(S->set_args);
    plan_free(S->pl);
    hp_program_free(S->prog);
    hp_diags_free(&S->d);
    cli_common_free(&S->o);
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->cv);
    free(S);
}

bool study_grow(study *S, int n)
{
    if (n <= S->cap)
        return true;
    int cap = S->cap ? S->cap : 32;
    while (cap < n)
        cap *= 2;
    double *sec = realloc(S->seconds, sizeof *sec * (size_t)cap);
    if (sec)
        S->seconds = sec;
    double *when = realloc(S->when, sizeof *when * (size_t)cap);
    if (when)
        S->when = when;
    char **why = realloc(S->reason, sizeof *why * (size_t)cap);
    if (why)
        S->reason = why;
    bool *jr = realloc(S->journaled, sizeof *jr * (size_t)cap);
    if (jr)
        S->journaled = jr;
    bool *rp = realloc(S->resume_pending, sizeof *rp * (size_t)cap);
    if (rp)
        S->resume_pending = rp;
    if (!sec || !when || !why || !jr || !rp)
        return false;
    for (int i = S->cap; i < cap; i++) {
        S->seconds[i] = 0;
        S->when[i] = 0;
        S->reason[i] = NULL;
        S->journaled[i] = false;
        S->resume_pending[i] = false;
    }
    S->cap = cap;
    return true;
}

void study_set_reason(study *S, int t, const char *why)
{
    if (t < 0 || t >= S->cap)
        return;
    free(S->reason[t]);
    S->reason[t] = strdup(why);
}

bool study_any_running(const study *S)
{
    for (int i = 0; i < S->st.n_trials; i++)
        if (S->st.trials[i].status == SEARCH_RUNNING)
            return true;
    return false;
}

double study_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- study.hp: the search and its imports in one file ---------------------------------------- */

/* Writes src with `import` lines commented out and every relative string
 * that names an existing file made absolute (paths in a .hp file are relative
 * to it, and study.hp lives elsewhere). */
static void flatten_one(FILE *out, const hp_source *src)
{
    char dir[4096];
    char *real = realpath(src->path, NULL);
    snprintf(dir, sizeof dir, "%s", real ? real : src->path);
    free(real);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    fprintf(out, "# ---- %s ----\n", src->path);
    const char *p = src->text, *end = src->text + src->len;
    bool line_start = true;
    while (p < end) {
        if (line_start) {
            const char *q = p;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (end - q > 7 && strncmp(q, "import", 6) == 0 && (q[6] == ' ' || q[6] == '\t' || q[6] == '"'))
                fputs("# (inlined) ", out);
        }
        if (*p == '#') { /* a comment: as it is */
            while (p < end && *p != '\n')
                fputc(*p++, out);
            continue;
        }
        if (*p == '"') {
            const char *q = p + 1;
            while (q < end && *q != '"' && *q != '\n')
                q += *q == '\\' && q + 1 < end ? 2 : 1;
            size_t len = (size_t)(q - p - 1);
            char lit[4096], path[8200];
            struct stat sb;
            if (q < end && *q == '"' && len > 0 && len < sizeof lit && p[1] != '/' && !memchr(p + 1, '\\', len)) {
                memcpy(lit, p + 1, len);
                lit[len] = 0;
                snprintf(path, sizeof path, "%s/%s", dir, lit);
                if (stat(path, &sb) == 0) {
                    fprintf(out, "\"%s\"", path);
                    p = q + 1;
                    line_start = false;
                    continue;
                }
            }
            fwrite(p, 1, (size_t)(q - p), out);
            p = q;
            if (p < end && *p == '"')
                fputc(*p++, out);
            line_start = false;
            continue;
        }
        line_start = *p == '\n';
        fputc(*p++, out);
    }
    fputc('\n', out);
}

static int write_study_hp(study *S)
{
    FILE *f = fopen(S->src, "w");
    if (!f)
        return -1;
    fprintf(f, "# study.hp - the search and every file it imports, as `hpc search` ran them\n");
    for (int i = 0; i < S->d.n_sources; i++) {
        const hp_source *src = S->d.sources[i];
        struct stat sb;
        if (stat(src->path, &sb) == 0 && S_ISREG(sb.st_mode)) /* not the --set pseudo-files */
            flatten_one(f, src);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- opening ------------------------------------------------------------------------------------ */

/* Loads `file` and plans the search (printing the diagnostics). */
static int plan_search_of(study *S, const char *file, const char *target, const hp_override *sets, int n_sets)
{
    S->prog = hp_program_load(&S->d, file);
    if (S->prog && !target) /* `hpc search FILE`: the file's search, even when it declares experiments too */
        target = hp_program_first_search(S->prog);
    S->pl = S->prog && S->d.n_errors == 0 ? hp_plan(S->prog, target, sets, n_sets) : NULL;
    if (!S->member || !S->pl) /* rank 0 has said the warnings */
        cli_print_diags(&S->d);
    if (!S->prog)
        return EXIT_USAGE;
    if (!S->pl)
        return S->d.n_errors > 0 && S->d.data_errors == S->d.errors_seen ? EXIT_DATA : EXIT_ERRORS;
    if (!S->pl->search) {
        fprintf(stderr, "hpc search: '%s' is an experiment; run it with `hpc run`\n", S->pl->experiment->name);
        return EXIT_USAGE;
    }
    S->s = S->pl->search;
    S->base_name = S->s->base->name;
    return -1;
}

long study_cores(const study *S)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    if (!S->mpi)
        return cores;
    /* the rank's share of the node, as a data-parallel rank counts its threads */
    return cli_mpi_rank_cores();
}

/* Trials, parallel, threads and the strategy's state from the plan. */
static int setup(study *S, int trials, int parallel)
{
    plan_search *s = S->s;
    if (trials > 0) {
        if (s->strategy == PLAN_STRATEGY_HYPERBAND) {
            cli_usage_error("search", "--trials: Hyperband's trials follow from max_epochs and eta");
            return EXIT_USAGE;
        }
        s->trials = trials;
    }
    if (parallel > 0)
        s->parallel = parallel;
    long cores = study_cores(S);
    /* the default: a trial per core, one thread each (docs/language.md §16 says why); never more threads than cores */
    S->parallel = s->parallel < 1 ? (int)cores : s->parallel > cores ? (int)cores : s->parallel;
    if (S->parallel > 64)
        S->parallel = 64;
    S->threads_per_trial = (int)(cores / S->parallel);
    if (S->threads_per_trial > HPRT_MAX_THREADS)
        S->threads_per_trial = HPRT_MAX_THREADS;
    bool rungs = s->strategy == PLAN_STRATEGY_HYPERBAND || s->strategy == PLAN_STRATEGY_ASHA;
    S->trial_epochs = rungs ? s->max_epochs : 0;
    uint64_t seed = s->seed ? s->seed : s->base->seed;
    if (!search_study_init(&S->st, s, rungs ? s->max_epochs : s->base->epochs, seed)) {
        fprintf(stderr, "hpc search: the search has nothing to run\n");
        return EXIT_USAGE;
    }
    if (s->strategy == PLAN_STRATEGY_GRID && trials > 0 && trials < S->st.n_total)
        S->st.n_total = trials;
    S->st_ready = true;
    return -1;
}

int study_open_new(study *S, const char *out, int trials, int parallel, const char *tensorboard)
{
    int st = plan_search_of(S, S->o.file, S->o.target, S->o.sets, S->o.n_sets);
    if (st >= 0)
        return st;
    if ((st = setup(S, trials, parallel)) >= 0)
        return st;
    if (out) {
        struct stat sb;
        if (stat(out, &sb) == 0) {
            fprintf(stderr, "hpc search: %s exists; give another --out, or `hpc resume %s` to continue a study\n", out,
                    out);
            return EXIT_USAGE;
        }
        snprintf(S->dir, sizeof S->dir, "%s", out);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(S->dir, sizeof S->dir, "studies/%s-%s", S->s->name, stamp);
        struct stat sb;
        for (int k = 2; stat(S->dir, &sb) == 0 && k < 100; k++)
            snprintf(S->dir, sizeof S->dir, "studies/%s-%s-%d", S->s->name, stamp, k);
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/trials", S->dir);
    if (cli_make_dirs(path) != 0) {
        fprintf(stderr, "hpc search: cannot create %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    snprintf(S->src, sizeof S->src, "%s/study.hp", S->dir);
    if (!study_tb_root(S, tensorboard ? tensorboard : S->s->base->tensorboard)) {
        fprintf(stderr, "hpc search: tensorboard: %s\n", strerror(errno));
        return EXIT_RUN;
    }
    char err[1024];
    if (study_tb_start(S, err, sizeof err) != 0) {
        fprintf(stderr, "hpc search: tensorboard: %s\n", err);
        return EXIT_RUN;
    }
    snprintf(path, sizeof path, "%s/study.args", S->dir);
    FILE *a = fopen(path, "w");
    if (write_study_hp(S) != 0 || !a) {
        if (a)
            fclose(a);
        fprintf(stderr, "hpc search: cannot write %s: %s\n", S->src, strerror(errno));
        return EXIT_RUN;
    }
    fprintf(a, "search %s\n", S->s->name);
    for (int i = 0; i < S->o.n_sets; i++)
        fprintf(a, "set %s=%s\n", S->o.sets[i].path, S->o.sets[i].value);
    if (trials > 0)
        fprintf(a, "trials %d\n", trials);
    if (parallel > 0)
        fprintf(a, "parallel %d\n", parallel);
    if (S->tb_root[0])
        fprintf(a, "tensorboard %s\n", S->tb_root);
    if (fclose(a) != 0) {
        fprintf(stderr, "hpc search: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    snprintf(path, sizeof path, "%s/journal.jsonl", S->dir);
    if (!journal_open(&S->j, path)) {
        fprintf(stderr, "hpc search: cannot create %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    journal_event e = {.kind = JOURNAL_STUDY, .seed = S->st.seed, .n_paths = S->s->n_varies};
    snprintf(e.search, sizeof e.search, "%s", S->s->name);
    snprintf(e.strategy, sizeof e.strategy, "%s", plan_strategy_name(S->s->strategy));
    const char *paths[JOURNAL_MAX_PATHS];
    for (int i = 0; i < S->s->n_varies && i < JOURNAL_MAX_PATHS; i++)
        paths[i] = S->s->varies[i].path;
    if (!journal_event_write(&S->j, &e, paths, NULL)) {
        fprintf(stderr, "hpc search: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    if (!S->quiet)
        printf("%s: %s, %d trial%s at a time (%d thread%s each); the study is in %s\n", S->s->name,
               plan_strategy_name(S->s->strategy), S->parallel, S->parallel == 1 ? "" : "s", S->threads_per_trial,
               S->threads_per_trial == 1 ? "" : "s", S->dir);
    return -1;
}

/* study.args read, study.hp planned with its overrides, the strategy set up. */
static int load_study(study *S, const char *dir)
{
    snprintf(S->dir, sizeof S->dir, "%s", dir);
    snprintf(S->src, sizeof S->src, "%s/study.hp", dir);
    char path[4300], line[8192], name[256] = "";
    snprintf(path, sizeof path, "%s/study.args", dir);
    FILE *a = fopen(path, "r");
    if (!a) {
        fprintf(stderr, "hpc resume: %s is not a study directory (no study.args): %s\n", dir, strerror(errno));
        return EXIT_USAGE;
    }
    int trials = 0, parallel = 0;
    hp_override *sets = NULL;
    int n_sets = 0;
    for (int no = 1; fgets(line, sizeof line, a); no++) {
        line[strcspn(line, "\n")] = 0;
        char *eq, *end;
        long v = 0;
        if (strncmp(line, "search ", 7) == 0)
            snprintf(name, sizeof name, "%.200s", line + 7);
        else if ((strncmp(line, "trials ", 7) == 0 || strncmp(line, "parallel ", 9) == 0) &&
                 (v = strtol(strchr(line, ' ') + 1, &end, 10)) >= 1 && v <= 1000000 && !*end)
            *(line[0] == 't' ? &trials : &parallel) = (int)v;
        else if (strncmp(line, "set ", 4) == 0 && (eq = strchr(line + 4, '='))) {
            char **sa = realloc(S->set_args, sizeof *sa * (size_t)(S->n_set_args + 1));
            if (!sa)
                break;
            S->set_args = sa;
            *eq = 0;
            size_t pl = strlen(line + 4);
            char *copy = malloc(pl + strlen(eq + 1) + 2);
            if (!copy)
                break;
            memcpy(copy, line + 4, pl + 1);
            strcpy(copy + pl + 1, eq + 1);
            S->set_args[S->n_set_args++] = copy;
        } else if (strncmp(line, "tensorboard /", 13) == 0 && strlen(line + 12) < sizeof S->tb_root) {
            snprintf(S->tb_root, sizeof S->tb_root, "%s", line + 12);
        } else {
            fprintf(stderr, "hpc resume: %s:%d: not a line of study.args (search NAME, set PATH=VALUE, trials N, "
                            "parallel N, tensorboard DIR)\n", path, no);
            fclose(a);
            return EXIT_USAGE;
        }
    }
    fclose(a);
    if (S->n_set_args && !(sets = calloc((size_t)S->n_set_args, sizeof *sets))) {
        fprintf(stderr, "hpc resume: out of memory\n");
        return EXIT_RUN;
    }
    for (int i = 0; i < S->n_set_args; i++) {
        sets[n_sets].path = S->set_args[i];
        sets[n_sets++].value = S->set_args[i] + strlen(S->set_args[i]) + 1;
    }
    S->o.sets = NULL; /* the study's own, owned by set_args */
    int st = plan_search_of(S, S->src, name[0] ? name : NULL, sets, n_sets);
    if (st < 0) {
        /* the trials load study.hp with the same overrides */
        S->o.sets = calloc((size_t)(n_sets ? n_sets : 1), sizeof *S->o.sets);
        if (S->o.sets) {
            for (int i = 0; i < n_sets; i++)
                S->o.sets[i] = (hp_override){.path = strdup(sets[i].path), .value = sets[i].value};
            S->o.n_sets = n_sets;
        }
    }
    free(sets);
    if (st >= 0)
        return st;
    if (n_sets && !S->o.sets)
        return EXIT_RUN;
    return setup(S, trials, parallel);
}

int study_open_member(study *S, const char *dir)
{
    S->member = true;
    bool quiet = S->o.quiet;
    cli_common_free(&S->o); /* the study's own, from study.args, as rank 0 has them */
    memset(&S->o, 0, sizeof S->o);
    S->o.quiet = quiet;
    int st = load_study(S, dir);
    S->tb_root[0] = 0; /* rank 0 writes the TensorBoard logs from the epochs it is sent */
    return st;
}

int study_open_existing(study *S, const char *dir, bool (*f)(void *, const journal_event *, int))
{
    int st = load_study(S, dir);
    if (st >= 0)
        return st;
    char path[4300];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    long end = 0;
    char err[1024];
    if (!journal_read(path, f, S, &end, err, sizeof err)) {
        fprintf(stderr, "hpc resume: %s\n", err);
        return EXIT_RUN;
    }
    /* a torn last line goes before anything is appended */
    if (truncate(path, end) != 0 || !journal_open(&S->j, path)) {
        fprintf(stderr, "hpc resume: %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    if (!S->quiet)
        printf("%s: resuming with %d trial%s so far; the study is in %s\n", S->s->name, S->st.n_trials,
               S->st.n_trials == 1 ? "" : "s", S->dir);
    return -1;
}

/* ---- the terminal ------------------------------------------------------------------------------------ */

static void counts(const study *S, int *done, int *pruned, int *failed, int *running)
{
    *done = *pruned = *failed = *running = 0;
    for (int i = 0; i < S->st.n_trials; i++)
        switch (S->st.trials[i].status) {
        case SEARCH_COMPLETED: (*done)++; break;
        case SEARCH_PRUNED: (*pruned)++; break;
        case SEARCH_FAILED: (*failed)++; break;
        case SEARCH_RUNNING: (*running)++; break;
        case SEARCH_WAITING: break;
        }
}

void study_progress(study *S, bool force)
{
    if (!S->tty || S->quiet)
        return;
    double t = study_now();
    if (!force && t - S->last_draw < 0.2)
        return;
    S->last_draw = t;
    int done, pruned, failed, running;
    counts(S, &done, &pruned, &failed, &running);
    int b = search_best(&S->st);
    double el = t - S->t0;
    fprintf(stderr, "\r\033[K%d trials: %d done, %d pruned, %d failed, %d running", S->st.n_trials, done, pruned,
            failed, running);
    if (b >= 0)
        fprintf(stderr, "  best %s %.4g (trial %d)", hprt_metric_name(S->s->objective), search_value(&S->st.trials[b]),
                b);
    fprintf(stderr, "  %d:%02d", (int)el / 60, (int)el % 60);
    int finished = done + pruned + failed;
    if (finished > 0 && S->st.n_total > finished) {
        double eta = el / finished * (S->st.n_total - finished);
        fprintf(stderr, "  ETA %d:%02d", (int)eta / 60, (int)eta % 60);
    }
    fflush(stderr);
}

void study_line(study *S, const char *fmt, ...)
{
    if (S->quiet)
        return;
    if (S->tty)
        fprintf(stderr, "\r\033[K");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- the derived files ------------------------------------------------------------------------------- */

static const char *objective_name(const study *S) { return hprt_metric_name(S->s->objective); }

static int write_results(const study *S)
{
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/results.csv", S->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "trial,status,epochs,%s,seconds", objective_name(S));
    for (int i = 0; i < S->s->n_varies; i++)
        fprintf(f, ",%s", S->s->varies[i].path);
    fputc('\n', f);
    for (int t = 0; t < S->st.n_trials; t++) {
        const search_trial *tr = &S->st.trials[t];
        double v = search_value(tr);
        fprintf(f, "%d,%s,%d,", t, search_status_name(tr->status), tr->epochs);
        if (isfinite(v))
            fprintf(f, "%.9g", v);
        fprintf(f, ",%.2f", S->seconds[t]);
        for (int i = 0; i < S->s->n_varies; i++) {
            char buf[256];
            search_value_text(&S->s->varies[i], tr->x[i], buf, sizeof buf);
            bool quote = strpbrk(buf, ",\"") != NULL;
            if (quote) {
                fputs(",\"", f);
                for (const char *p = buf; *p; p++)
                    fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
                fputc('"', f);
            } else {
                fprintf(f, ",%s", buf);
            }
        }
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *p = s; *p; p++)
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    fputc('"', f);
}

static int write_summary(const study *S, double seconds)
{
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/summary.json", S->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int done, pruned, failed, running;
    counts(S, &done, &pruned, &failed, &running);
    fprintf(f, "{\n  \"search\": ");
    json_str(f, S->s->name);
    fprintf(f, ",\n  \"strategy\": \"%s\",\n  \"objective\": \"%s(%s)\",\n", plan_strategy_name(S->s->strategy),
            S->s->objective_mode == HPRT_MODE_MAX ? "maximize" : "minimize", objective_name(S));
    fprintf(f, "  \"trials\": %d,\n  \"completed\": %d,\n  \"pruned\": %d,\n  \"failed\": %d,\n", S->st.n_trials, done,
            pruned, failed);
    fprintf(f, "  \"epochs_trained\": %d,\n  \"compiles\": %d,\n  \"compile_ms\": %.1f,\n  \"data_loads\": %d,\n"
               "  \"seconds\": %.2f,\n",
            S->epochs_trained, S->compiles + S->compiles_before, S->compile_ms + S->compile_ms_before,
            S->data->loads, seconds);
    int b = search_best(&S->st);
    if (b < 0) {
        fprintf(f, "  \"best\": null\n}\n");
    } else {
        const search_trial *t = &S->st.trials[b];
        fprintf(f, "  \"best\": {\n    \"trial\": %d,\n    \"value\": %.9g,\n    \"epochs\": %d,\n    \"params\": {", b,
                search_value(t), t->epochs);
        for (int i = 0; i < S->s->n_varies; i++) {
            char buf[256];
            search_value_text(&S->s->varies[i], t->x[i], buf, sizeof buf);
            fprintf(f, "%s\n      ", i ? "," : "");
            json_str(f, S->s->varies[i].path);
            fputs(": ", f);
            json_str(f, buf);
        }
        fprintf(f, "\n    }\n  }\n}\n");
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

/* best.hp: the best trial's own experiment.hp (standalone: data with absolute
 * paths, the model expanded, every setting as the trial ran). */
static int write_best(const study *S)
{
    int b = search_best(&S->st);
    if (b < 0)
        return 0;
    char from[4300], to[4300];
    snprintf(from, sizeof from, "%s/trials/%04d/experiment.hp", S->dir, b);
    snprintf(to, sizeof to, "%s/best.hp", S->dir);
    FILE *in = fopen(from, "r");
    if (!in)
        return -1;
    FILE *out = fopen(to, "w");
    if (!out) {
        fclose(in);
        return -1;
    }
    fprintf(out, "# best.hp - trial %d of search %s (%s %.6g); `hpc run best.hp` trains it again\n", b, S->s->name,
            objective_name(S), search_value(&S->st.trials[b]));
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

int study_write_outputs(study *S, bool final)
{
    double seconds = study_now() - S->t0;
    if (write_results(S) != 0 || write_summary(S, seconds) != 0)
        return -1;
    if (!final)
        return 0;
    if (write_best(S) != 0)
        return -1;
    return study_write_plots(S);
}

void study_print_table(const study *S, FILE *out)
{
    int n = S->st.n_trials, *order = malloc(sizeof(int) * (size_t)(n + 1));
    if (!order)
        return;
    int k = 0;
    /* completed trials by objective, then the rest by objective */
    for (int pass = 0; pass < 2; pass++) {
        int start = k;
        for (int i = 0; i < n; i++) {
            const search_trial *t = &S->st.trials[i];
            if ((t->status == SEARCH_COMPLETED) != (pass == 0) || isnan(search_value(t)))
                continue;
            int j = k++;
            double v = search_value(t);
            while (j > start) {
                double u = search_value(&S->st.trials[order[j - 1]]);
                bool better = S->s->objective_mode == HPRT_MODE_MAX ? v > u : v < u;
                if (!better)
                    break;
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
    }
    fprintf(out, "\n%5s  %-9s %6s  %12s", "trial", "status", "epochs", objective_name(S));
    for (int i = 0; i < S->s->n_varies; i++)
        fprintf(out, "  %s", S->s->varies[i].path);
    fputc('\n', out);
    for (int r = 0; r < k && r < 10; r++) {
        const search_trial *t = &S->st.trials[order[r]];
        fprintf(out, "%5d  %-9s %6d  %12.6g", t->id, search_status_name(t->status), t->epochs, search_value(t));
        for (int i = 0; i < S->s->n_varies; i++) {
            char buf[256];
            search_value_text(&S->s->varies[i], t->x[i], buf, sizeof buf);
            fprintf(out, "  %*s", (int)strlen(S->s->varies[i].path), buf);
        }
        fputc('\n', out);
    }
    int b = search_best(&S->st);
    if (b >= 0)
        fprintf(out, "\nbest: trial %d, %s %.6g; %s/best.hp trains it again\n", b, objective_name(S),
                search_value(&S->st.trials[b]), S->dir);
    free(order);
}
