/* common.c - what every subcommand shares. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_data.h"

bool cli_colour(void)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(STDERR_FILENO);
}

void cli_print_diags(const hp_diags *d)
{
    hp_diags_render(d, stderr, cli_colour());
    if (d->n_errors && d->n_warnings)
        fprintf(stderr, "%d error%s, %d warning%s\n", d->n_errors, d->n_errors == 1 ? "" : "s", d->n_warnings,
                d->n_warnings == 1 ? "" : "s");
    else if (d->n_errors)
        fprintf(stderr, "%d error%s\n", d->n_errors, d->n_errors == 1 ? "" : "s");
}

void cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hpc %s: ", command);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'hpc help %s' for usage.\n", command);
    va_end(ap);
}

int cli_parse_common(int argc, char **argv, cli_common *c, const char *command)
{
    memset(c, 0, sizeof *c);
    c->sets = calloc((size_t)argc + 1, sizeof *c->sets);
    c->allow = calloc((size_t)argc + 1, sizeof *c->allow);
    if (!c->sets || !c->allow) {
        fprintf(stderr, "hpc: out of memory\n");
        return -1;
    }
    int positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (strcmp(a, "--set") == 0 || strcmp(a, "--allow") == 0) {
            if (i + 1 >= argc) {
                cli_usage_error(command, "%s needs a value", a);
                return -1;
            }
            val = argv[++i];
        } else if (strncmp(a, "--set=", 6) == 0 || strncmp(a, "--allow=", 8) == 0) {
            val = strchr(a, '=') + 1;
        }
        if (val && (a[2] == 's')) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val) {
                cli_usage_error(command, "--set takes PATH=VALUE (for example --set optimizer.lr=0.01), not '%s'", val);
                return -1;
            }
            char *path = strndup(val, (size_t)(eq - val));
            if (!path)
                return -1;
            c->sets[c->n_sets].path = path;
            c->sets[c->n_sets].value = eq + 1;
            c->n_sets++;
            continue;
        }
        if (val) {
            if (!hp_is_note_name(val)) {
                cli_usage_error(command, "--allow %s: not a note name; the notes are batch-pow2, dense-depth, "
                                         "vanilla-rnn, stack-depth, embed-dim, no-valid and lr-range", val);
                return -1;
            }
            c->allow[c->n_allow++] = val;
            continue;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            c->quiet = true;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            cli_usage_error(command, "unknown option '%s'", a);
            return -1;
        }
        if (positional == 0)
            c->file = a;
        else if (positional == 1)
            c->target = a;
        else {
            cli_usage_error(command, "unexpected argument '%s'", a);
            return -1;
        }
        positional++;
    }
    if (!c->file) {
        cli_usage_error(command, "which file? (hpc %s FILE.hp)", command);
        return -1;
    }
    return 0;
}

void cli_common_free(cli_common *c)
{
    for (int i = 0; i < c->n_sets; i++)
        free((char *)c->sets[i].path);
    free(c->sets);
    free(c->allow);
}

/* Reads a run's vocab.json ({"bytes": [b0, b1, ...]}). */
bool cli_read_vocab(const char *dir, int classes, hprt_vocab *v, char *err, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "%.400s: %s (a run of a text model writes it)", path, strerror(errno));
        return false;
    }
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    hprt_vocab_init(v);
    const char *p = strstr(buf, "\"bytes\"");
    p = p ? strchr(p, '[') : NULL;
    if (!p) {
        snprintf(err, n, "%.400s: no \"bytes\" list", path);
        return false;
    }
    for (p++;;) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p)
            break;
        if (b < 0 || b > 255 || v->size >= 256 || (v->size > 0 && b <= v->byte[v->size - 1])) {
            snprintf(err, n, "%.400s: bad byte list (entry %d)", path, v->size + 1);
            return false;
        }
        v->id[b] = (int16_t)v->size;
        v->byte[v->size++] = (uint8_t)b;
        p = end + strspn(end, " ,\n\t");
    }
    if (v->size == 0) {
        snprintf(err, n, "%.400s: the vocabulary is empty", path);
        return false;
    }
    if (v->size != classes) {
        snprintf(err, n, "%.400s has %d bytes; the model predicts %d", path, v->size, classes);
        return false;
    }
    return true;
}

static void run_files(const char *dir, const char *weights, char *file, char *ckpt, size_t n)
{
    snprintf(file, n, "%s/experiment.hp", dir);
    snprintf(ckpt, n, "%s/%s", dir, weights ? (weights[0] == 'b' ? "best.hpw" : "last.hpw") : cli_final_weights(dir));
}

int cli_open_run(const char *dir, const char *weights, hp_use use, hp_session *s, char *ckpt, size_t n,
                 const char *command)
{
    char file[4200];
    run_files(dir, weights, file, ckpt, n < sizeof file ? n : sizeof file);
    hp_session_opts o = {.file = file, .quiet_notes = true, .use = use};
    hp_session_init(s, &o);
    struct stat sb;
    if (stat(file, &sb) != 0) {
        fprintf(stderr, "hpc %s: %s is not a run directory\n", command, dir);
        return EXIT_USAGE;
    }
    hp_error he;
    hp_err_class c = hp_session_run(s, HP_PASS_PLAN, &he);
    cli_print_diags(&s->diags);
    if (c == HP_ERR_USAGE && s->e) { /* the run's model does not suit the command */
        fprintf(stderr, "hpc %s: %s: %s\n", command, dir, he.msg);
        return EXIT_USAGE;
    }
    return c == HP_ERR_NONE ? -1 : cli_session_error(command, &he);
}

hp_program *cli_load(const cli_common *o, hp_diags *d)
{
    hp_diags_init(d);
    for (int i = 0; i < o->n_allow; i++)
        hp_diags_allow(d, o->allow[i]);
    return hp_program_load(d, o->file);
}

bool cli_norm_stats(const plan_experiment *e, const hprt_train_state *st, hp_loaded_data *data, hprt_norm *nm,
                    hprt_error *err)
{
    int nf = e->data.row_features; /* the stored row's (an embedded column's id counts once) */
    if (st && st->norm && st->n_norm == 2 * (int64_t)nf) {
        *nm = (hprt_norm){nf, st->norm, st->norm + nf};
        return true;
    }
    if (hp_load_data(&e->data, data, err) != HPRT_OK)
        return false;
    *nm = data->norm;
    return true;
}

int cli_session_error(const char *command, const hp_error *err)
{
    if (err->msg[0] && err->pass == HP_PASS_DATA) /* the loader's message names the file and record */
        fprintf(stderr, "hpc: error: %s\n", err->msg);
    else if (err->msg[0])
        fprintf(stderr, "hpc %s: %s\n", command, err->msg);
    switch (err->cls) {
    case HP_ERR_NONE: return EXIT_OK;
    case HP_ERR_FILE: return EXIT_ERRORS;
    case HP_ERR_USAGE: return EXIT_USAGE;
    case HP_ERR_DATA: return EXIT_DATA;
    case HP_ERR_RUN: return EXIT_RUN;
    }
    return EXIT_RUN;
}

static void json_num(FILE *f, const char *key, bool present, double v, bool last)
{
    if (present && isfinite(v))
        fprintf(f, "  \"%s\": %.9g%s\n", key, v, last ? "" : ",");
    else
        fprintf(f, "  \"%s\": null%s\n", key, last ? "" : ",");
}

int cli_write_summary(const char *dir, const plan_experiment *e, int threads, const hprt_train_result *r,
                         double compile_ms)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\n  \"experiment\": \"%s\",\n  \"seed\": %llu,\n  \"threads\": %d,\n  \"epochs\": %d,\n  \"steps\": %ld,\n",
            e->name, (unsigned long long)e->seed, threads, r->epochs, r->steps);
    if (r->best_epoch > 0)
        fprintf(f, "  \"best_epoch\": %d,\n", r->best_epoch);
    else
        fprintf(f, "  \"best_epoch\": null,\n");
    fprintf(f, "  \"stopped\": \"%s\",\n", r->stopped);
    fprintf(f, "  \"weights\": \"%s\",\n", r->restored_best ? "best.hpw" : "last.hpw");
    json_num(f, "train_loss", true, r->train_loss, false);
    json_num(f, "val_loss", r->has_valid, r->val_loss, false);
    json_num(f, "val_accuracy", r->has_valid, r->val_accuracy, false);
    json_num(f, "test_loss", r->has_test, r->test_loss, false);
    json_num(f, "test_accuracy", r->has_test, r->test_accuracy, false);
    json_num(f, "seconds", true, r->seconds, false);
    json_num(f, "samples_per_second", true, r->samples_per_second, false);
    if (e->data.is_text) {
        /* a language model: its rows are tokens; bits per character = loss / ln 2 */
        json_num(f, "tokens_per_second", true, r->samples_per_second, false);
        json_num(f, "train_bpc", true, r->train_loss / M_LN2, false);
        json_num(f, "val_bpc", r->has_valid, r->val_loss / M_LN2, false);
        json_num(f, "test_bpc", r->has_test, r->test_loss / M_LN2, false);
    }
    json_num(f, "compile_ms", true, compile_ms, true);
    fprintf(f, "}\n");
    return fclose(f) == 0 ? 0 : -1;
}



int cli_write_experiment(const char *dir, const plan_experiment *e, int threads, const hp_loaded_data *data)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.hp", dir);
    FILE *xf = fopen(path, "w");
    if (!xf)
        return -1;
    plan_write_hp(e, threads, xf); /* the thread count too: a resume must use the same */
    if (fclose(xf) != 0)
        return -1;
    if (e->data.csv.n_classes > 0) { /* class i's name on line i + 1 (a name holds no line end) */
        snprintf(path, sizeof path, "%s/classes.txt", dir);
        FILE *cf = fopen(path, "w");
        if (!cf)
            return -1;
        for (int i = 0; i < e->data.csv.n_classes; i++)
            fprintf(cf, "%s\n", e->data.csv.classes[i]);
        if (fclose(cf) != 0)
            return -1;
    }
    if (e->data.csv.n_cats > 0 && e->data.csv_text) { /* every categorical column's categories, as checkpoints keep them */
        snprintf(path, sizeof path, "%s/categories.txt", dir);
        FILE *gf = fopen(path, "w");
        if (!gf)
            return -1;
        fputs(e->data.csv_text, gf);
        if (fclose(gf) != 0)
            return -1;
    }
    if (!e->data.is_text)
        return 0;
    /* a language model's token ids: `hpc sample` maps them back to bytes */
    const hprt_vocab *v = &data->train.vocab;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *vf = fopen(path, "w");
    if (!vf)
        return -1;
    fprintf(vf, "{\n  \"size\": %d,\n  \"bytes\": [", v->size);
    for (int i = 0; i < v->size; i++)
        fprintf(vf, "%s%d", i ? ", " : "", v->byte[i]);
    fprintf(vf, "]\n}\n");
    return fclose(vf) == 0 ? 0 : -1;
}

int cli_cg_status(const cg_error *err)
{
    switch (err->cls) {
    case CG_OK: return EXIT_OK;
    case CG_E_USAGE: return EXIT_USAGE;
    case CG_E_LIMIT: return EXIT_USAGE;
    case CG_E_LLVM: return EXIT_RUN;
    case CG_E_IO: return EXIT_RUN;
    case CG_E_MEMORY: return EXIT_RUN;
    }
    return EXIT_RUN;
}

bool cli_int_option(const char *command, const char *opt, const char *value, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (*end || end == value || errno || v < lo || v > hi) {
        cli_usage_error(command, "%s takes a whole number from %ld to %ld, not '%s'", opt, lo, hi, value);
        return false;
    }
    *out = v;
    return true;
}

void cli_catch_stop(void (*handler)(int), struct sigaction old[2])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old ? &old[0] : NULL);
    sigaction(SIGTERM, &sa, old ? &old[1] : NULL);
}

void cli_restore_stop(const struct sigaction old[2])
{
    sigaction(SIGINT, &old[0], NULL);
    sigaction(SIGTERM, &old[1], NULL);
}
