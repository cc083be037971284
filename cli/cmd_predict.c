/* cmd_predict.c - `hpc predict RUN_DIR INPUT`: a trained model's predictions. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classes.h"
#include "cli.h"
#include "model.h"
#include "codegen.h"
#include "hprt.h"
#include "hprt_ckpt.h"
#include "hprt_train.h"
#include "load.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The weights the run ended with: best.hpw when it restored them. */
const char *cli_final_weights(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return "last.hpw";
    char line[256];
    const char *w = "last.hpw";
    while (fgets(line, sizeof line, f))
        if (strstr(line, "\"weights\": \"best.hpw\""))
            w = "best.hpw";
    fclose(f);
    return w;
}

/* One row of the output: the predicted class and the probabilities (or outputs). */
typedef struct {
    const int32_t *y;  /* the labels, or NULL */
    bool probs;        /* the logits of a softmax folded into the loss */
    bool sigmoid;      /* bce: each output is a logit; one output: predicted 1 when it is > 0 */
    bool csv;
    long correct;
    const hprt_csv_encoding *names; /* class names (n_classes > 0), or NULL: class numbers */
    cli_confusion *cm; /* with labels: the per-class counts */
    /* multi-label (several 0/1 label columns): per label, the pairs counted */
    int multi;         /* labels; 0: one label per row */
    const char *const *label_names; /* each label's header name, or NULL: "label i" */
    long tp[HPRT_MAX_LABELS], fp[HPRT_MAX_LABELS], fn[HPRT_MAX_LABELS], pos[HPRT_MAX_LABELS];
} printer;

/* A multi-label row: each label's decision (probability > 0.5), its 0/1 label
 * when known, then each probability. */
static void print_multi_row(printer *pr, long row, const float *z, int K)
{
    if (pr->csv)
        printf("%ld", row);
    else
        printf("{\"row\": %ld, \"predicted\": [", row);
    const char *sep = pr->csv ? "," : ", ";
    for (int k = 0; k < K; k++)
        printf("%s%d", pr->csv || k ? sep : "", z[k] > 0);
    if (pr->y) {
        if (!pr->csv)
            printf("], \"label\": [");
        for (int k = 0; k < K; k++) {
            int t = (int)(((uint32_t)pr->y[row] >> k) & 1u), p = z[k] > 0;
            pr->correct += t == p;
            pr->tp[k] += t && p;
            pr->fp[k] += !t && p;
            pr->fn[k] += t && !p;
            pr->pos[k] += t;
            printf("%s%d", pr->csv || k ? sep : "", t);
        }
    }
    if (!pr->csv)
        printf("], \"probabilities\": [");
    for (int k = 0; k < K; k++)
        printf("%s%.9g", pr->csv || k ? sep : "", 1 / (1 + exp(-(double)z[k])));
    printf(pr->csv ? "\n" : "]}\n");
}

/* Label k's name in the output: its header name, or "label_k". */
static void label_name(const printer *pr, int k, char *buf, size_t n)
{
    if (pr->label_names && pr->label_names[k])
        snprintf(buf, n, "%s", pr->label_names[k]);
    else
        snprintf(buf, n, "label_%d", k);
}

/* With labels: the accuracy over (row, label) pairs and each label's
 * precision, recall and F1 (scikit-learn's conventions: 0 when undefined), on
 * standard error; with --format json also as the last line of standard output. */
static void print_multi_report(const printer *pr, long n, int K, const char *ckpt)
{
    double acc = n ? (double)pr->correct / ((double)n * K) : 0;
    fprintf(stderr, "accuracy %.4f over %ld samples x %d labels (the mean of (probability > 0.5) == label; %s)\n", acc,
            n, K, ckpt);
    fprintf(stderr, "%-20s %9s %9s %9s %9s\n", "label", "precision", "recall", "f1", "support");
    if (!pr->csv)
        printf("{\"accuracy\": %.9g, \"samples\": %ld, \"labels\": [", acc, n);
    for (int k = 0; k < K; k++) {
        char name[128];
        label_name(pr, k, name, sizeof name);
        long pp = pr->tp[k] + pr->fp[k];
        double p = pp ? (double)pr->tp[k] / (double)pp : 0, r = pr->pos[k] ? (double)pr->tp[k] / (double)pr->pos[k] : 0;
        double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
        fprintf(stderr, "%-20.20s %9.4f %9.4f %9.4f %9ld\n", name, p, r, f, pr->pos[k]);
        if (!pr->csv) {
            printf("%s{\"name\": \"", k ? ", " : "");
            for (const char *c = name; *c; c++)
                if (*c == '"' || *c == '\\')
                    printf("\\%c", *c);
                else if ((unsigned char)*c < 0x20)
                    printf("\\u%04x", (unsigned char)*c);
                else
                    putchar(*c);
            printf("\", \"precision\": %.9g, \"recall\": %.9g, \"f1\": %.9g, \"support\": %ld}", p, r, f, pr->pos[k]);
        }
    }
    if (!pr->csv)
        printf("]}\n");
}

/* ---- class names (a CSV whose labels are names) ---- */

/* Class k as the output shows it: its number, or its name (quoted as CSV
 * (RFC 4180) or JSON needs). */
static void print_class(const printer *pr, int k)
{
    if (!pr->names || pr->names->n_classes == 0 || k < 0 || k >= pr->names->n_classes) {
        printf("%d", k);
        return;
    }
    const char *n = pr->names->classes[k];
    if (pr->csv && !strpbrk(n, ",\"\n") && n[0] != ' ' && n[0] != '\0') {
        fputs(n, stdout);
        return;
    }
    putchar('"');
    for (const char *c = n; *c; c++) {
        if (*c == '"')
            fputs(pr->csv ? "\"\"" : "\\\"", stdout);
        else if (!pr->csv && *c == '\\')
            fputs("\\\\", stdout);
        else if (!pr->csv && (unsigned char)*c < 0x20)
            printf("\\u%04x", (unsigned char)*c);
        else
            putchar(*c);
    }
    putchar('"');
}

/* The encoding predict applies: the checkpoint's (what the model was trained
 * with), else the one the experiment's data gives now. */
static bool predict_encoding(const plan_experiment *e, const hprt_train_state *st, hprt_csv_encoding *own,
                             const hprt_csv_encoding **out, hprt_error *err)
{
    memset(own, 0, sizeof *own);
    *out = &e->data.csv;
    if (!st->encoding || st->n_encoding == 0)
        return true;
    if (hprt_csv_encoding_parse(st->encoding, (size_t)st->n_encoding, own, err) != HPRT_OK)
        return false;
    *out = own;
    return true;
}

/* A CSV for a model with class names or categorical columns: the header as
 * the training file's (or --header/--no-header), a label column when the
 * file has one (its values are class names), categories one-hot encoded. */
static hprt_status load_named_csv(const char *input, const plan_experiment *e, const hprt_csv_encoding *enc,
                                  int header, hprt_dataset *ds, hprt_error *err)
{
    hprt_csv_opts o = hprt_csv_defaults();
    o.header = header >= 0 ? header == 1 : e->data.train.kind != PLAN_SRC_CSV || e->data.train.header;
    o.encoding = enc;
    hprt_status st = HPRT_E_DATA;
    hprt_error first = {0};
    hprt_csv_colref refs[HPRT_MAX_LABELS];
    for (int i = 0; i < e->data.train.n_labels && i < HPRT_MAX_LABELS; i++)
        refs[i] = (hprt_csv_colref){.name = NULL, .index = e->data.train.label_columns[i]};
    for (int with_label = e->data.train.kind == PLAN_SRC_CSV; with_label >= 0; with_label--) {
        o.label = with_label ? HPRT_LABEL_INDEX : HPRT_LABEL_NONE;
        o.label_index = e->data.train.label_index;
        o.labels = refs; /* multi-label: the label columns */
        o.n_labels = with_label ? e->data.train.n_labels : 0;
        hprt_data_info info;
        hprt_error perr = {0};
        st = hprt_csv_probe(input, &o, &info, &perr);
        bool fits = st == HPRT_OK && info.features == e->data.row_features;
        hprt_data_info_free(&info);
        if (fits)
            return hprt_csv_load(input, &o, ds, err);
        if (!first.msg[0])
            first = perr;
    }
    if (first.msg[0]) {
        *err = first;
        return HPRT_E_DATA;
    }
    return hprt_fail(err, HPRT_E_DATA, "%s: its columns do not encode to the model's %d features", input,
                     e->data.row_features);
}

static void print_row(void *ctx, long row, const float *z, int K)
{
    printer *pr = ctx;
    if (pr->multi) {
        print_multi_row(pr, row, z, K);
        return;
    }
    double prob[4096];
    int arg = 0;
    double mx = z[0], sum = 0;
    for (int k = 1; k < K && k < 4096; k++)
        if (z[k] > mx) {
            mx = z[k];
            arg = k;
        }
    for (int k = 0; k < K && k < 4096; k++) {
        prob[k] = pr->probs ? exp(z[k] - mx) : pr->sigmoid ? 1 / (1 + exp(-(double)z[k])) : z[k];
        sum += prob[k];
    }
    if (pr->sigmoid && K == 1)
        arg = z[0] > 0;
    if (pr->y && pr->y[row] == arg)
        pr->correct++;
    if (pr->y && pr->cm)
        cli_confusion_add(pr->cm, pr->y[row], arg);
    if (pr->csv) {
        printf("%ld,", row);
        print_class(pr, arg);
        if (pr->y) {
            putchar(',');
            print_class(pr, pr->y[row]);
        }
        for (int k = 0; k < K && k < 4096; k++)
            printf(",%.9g", pr->probs ? prob[k] / sum : prob[k]);
        printf("\n");
    } else {
        printf("{\"row\": %ld, \"predicted\": ", row);
        print_class(pr, arg);
        if (pr->y) {
            printf(", \"label\": ");
            print_class(pr, pr->y[row]);
        }
        printf(", \"%s\": [", pr->probs || pr->sigmoid ? "probabilities" : "outputs");
        for (int k = 0; k < K && k < 4096; k++)
            printf("%s%.9g", k ? ", " : "", pr->probs ? prob[k] / sum : prob[k]);
        printf("]}\n");
    }
}

/* With labels: per-class precision, recall, F1, their macro averages and the
 * confusion matrix on standard error; with --format json also as the last
 * line of standard output, {"accuracy": ..., "classes": [...], ...}. */
static void print_classes(const cli_confusion *cm, bool csv)
{
    cli_class_report_text(stderr, cm);
    if (!csv)
        cli_class_report_json(stdout, cm);
}

int cmd_predict(int argc, char **argv)
{
    const char *dir = NULL, *input = NULL, *labels = NULL, *weights = NULL, *format = "csv";
    int header = -1; /* --header 1, --no-header 0, else the rule of docs/cli.md */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--header") == 0 || strcmp(a, "--no-header") == 0) {
            int h = a[2] == 'h';
            if (header >= 0 && header != h) {
                cli_usage_error("predict", "--header and --no-header contradict each other");
                return EXIT_USAGE;
            }
            header = h;
        } else if ((strcmp(a, "--weights") == 0 || strcmp(a, "--format") == 0 || strcmp(a, "--labels") == 0) && i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'w')
                weights = v;
            else if (a[2] == 'f')
                format = v;
            else
                labels = v;
        } else if (a[0] == '-') {
            cli_usage_error("predict", "unknown option '%s'", a);
            return EXIT_USAGE;
        } else if (!dir) {
            dir = a;
        } else if (!input) {
            input = a;
        } else {
            cli_usage_error("predict", "unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (!dir || !input) {
        cli_usage_error("predict", "hpc predict RUN_DIR INPUT");
        return EXIT_USAGE;
    }
    if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        cli_usage_error("predict", "--format is csv or json, not '%s'", format);
        return EXIT_USAGE;
    }
    if (weights && strcmp(weights, "best") != 0 && strcmp(weights, "last") != 0) {
        cli_usage_error("predict", "--weights is best or last, not '%s'", weights);
        return EXIT_USAGE;
    }
    char ckpt[4200];
    int status = EXIT_ERRORS;
    hp_session hs;
    int opened = cli_open_run(dir, weights, HP_USE_EVAL, &hs, ckpt, sizeof ckpt, "predict");
    hprt_dataset ds = {0};
    hp_loaded_data train = {0};
    hprt_train_state state = {0};
    hprt_csv_encoding own_enc = {0};
    hprt_error err = {0};
    hp_error he;
    cli_confusion cm = {0};
    if (opened >= 0) {
        status = opened;
        goto done;
    }
    hp_err_class c;
    plan_experiment *e = hs.e;
    if (e->data.is_text) {
        fprintf(stderr, "hpc predict: %s is a language model (text data); `hpc sample %s` generates from it\n", dir, dir);
        status = EXIT_USAGE;
        goto done;
    }

    /* the model: one evaluation step, one thread, the checkpoint's weights */
    if ((c = hp_session_run(&hs, HP_PASS_COMPILE, &he)) != HP_ERR_NONE) {
        status = cli_session_error("predict", &he);
        goto done;
    }
    const cg_layout *l = hs.layout;
    int B = l->eval_sizes[0];
    if (hp_session_read_checkpoint(&hs, ckpt, &state, &he) != HP_ERR_NONE) {
        status = cli_session_error("predict", &he);
        goto done;
    }
    /* class names and categories as the model was trained with them */
    const hprt_csv_encoding *enc;
    if (!predict_encoding(e, &state, &own_enc, &enc, &err)) {
        fprintf(stderr, "hpc predict: %s: %s\n", ckpt, err.msg);
        status = EXIT_DATA;
        goto done;
    }

    /* the input, read like the training data */
    hprt_status st;
    bool is_csv = ends_with(input, ".csv") || ends_with(input, ".csv.gz");
    if (is_csv && (enc->n_classes > 0 || enc->n_cats > 0)) {
        st = load_named_csv(input, e, enc, header, &ds, &err);
    } else if (is_csv) {
        hprt_csv_opts o = hprt_csv_defaults();
        hprt_csv_colref refs[HPRT_MAX_LABELS];
        if (e->data.train.kind == PLAN_SRC_CSV) {
            o.header = e->data.train.header;
            o.label = HPRT_LABEL_INDEX;
            o.label_index = e->data.train.label_index;
            for (int i = 0; i < e->data.train.n_labels && i < HPRT_MAX_LABELS; i++)
                refs[i] = (hprt_csv_colref){.name = NULL, .index = e->data.train.label_columns[i]};
            o.labels = refs; /* multi-label: the label columns */
            o.n_labels = e->data.train.n_labels;
        }
        /* the columns first (with no label, so a file without one probes too).
         * The header: --header, --no-header, else the first line is a header
         * exactly when it is not all numbers (said in a warning: never a
         * sample dropped silently) */
        hprt_csv_opts probe = o;
        probe.label = HPRT_LABEL_NONE;
        probe.n_labels = 0;
        probe.header = header == 1;
        hprt_data_info info;
        st = hprt_csv_probe(input, &probe, &info, &err);
        if (st != HPRT_OK && header < 0) {
            hprt_error err2 = {0};
            probe.header = true;
            hprt_data_info_free(&info);
            if (hprt_csv_probe(input, &probe, &info, &err2) == HPRT_OK) {
                st = HPRT_OK;
                fprintf(stderr,
                        "hpc predict: warning: %s: the first line (\"%s\"%s) is not all numbers: read as the header, "
                        "not as a sample (--no-header reads it as one)\n",
                        input, info.names && info.columns > 0 ? info.names[0] : "", info.columns > 1 ? ", ..." : "");
            }
        }
        o.header = probe.header;
        int cols = st == HPRT_OK ? info.columns : 0;
        hprt_data_info_free(&info);
        if (st == HPRT_OK && cols == e->data.row_features) { /* no label column */
            o.label = HPRT_LABEL_NONE;
            o.n_labels = 0;
        }
        if (st == HPRT_OK)
            st = hprt_csv_load(input, &o, &ds, &err);
    } else {
        st = hprt_idx_load_bytes(input, labels, &ds, &err);
    }
    if (st != HPRT_OK) {
        fprintf(stderr, "hpc predict: %s\n", err.msg);
        status = EXIT_DATA;
        goto done;
    }
    if (ds.features != e->data.row_features) {
        fprintf(stderr, "hpc predict: %s: %d features per sample; the model takes %d\n", input, ds.features,
                e->data.row_features);
        status = EXIT_DATA;
        goto done;
    }
    if (ds.y && hprt_data_check_labels(&ds, e->data.classes, &err) != HPRT_OK) {
        fprintf(stderr, "hpc predict: %s\n", err.msg);
        status = EXIT_DATA;
        goto done;
    }

    /* the input as the training data was: scaled, then normalised with the
     * training statistics (saved in the checkpoint) */
    int ids[HPRT_MAX_EMBED_COLUMNS]; /* embedded columns' ids: neither scaled nor normalised */
    int n_ids = hprt_csv_encoding_embedded(enc, ids, NULL, HPRT_MAX_EMBED_COLUMNS);
    if (e->data.scale != 1)
        hprt_data_scale_except(&ds, (float)e->data.scale, ids, n_ids);
    if (e->data.normalize) {
        hprt_norm nm;
        if (!cli_norm_stats(e, &state, &train, &nm, &err)) {
            fprintf(stderr, "hpc predict: the training statistics: %s\n", err.msg);
            status = EXIT_DATA;
            goto done;
        }
        if (hprt_norm_apply(&nm, &ds, &err) != HPRT_OK) {
            fprintf(stderr, "hpc predict: %s\n", err.msg);
            status = EXIT_DATA;
            goto done;
        }
    }
    if (ds.y && e->data.labels == 0 && cli_confusion_init(&cm, l->classes) != 0) {
        fprintf(stderr, "hpc predict: out of memory\n");
        status = EXIT_RUN;
        goto done;
    }
    if (enc && enc->n_classes == l->classes)
        cm.names = enc->classes;
    printer pr = {.y = ds.y, .probs = e->loss == PLAN_LOSS_CROSS_ENTROPY, .sigmoid = e->loss == PLAN_LOSS_BCE,
                  .csv = format[0] == 'c', .names = enc, .cm = &cm, .multi = e->data.labels,
                  .label_names = e->data.label_names};
    if (pr.csv && pr.multi) { /* row, each label's decision, [its 0/1 label,] each probability */
        char name[128];
        printf("row");
        for (int pass = 0; pass < 3; pass++)
            for (int k = 0; k < l->classes && (pass != 1 || ds.y); k++) {
                label_name(&pr, k, name, sizeof name);
                printf(",%s%s", pass == 0 ? "" : pass == 1 ? "label_" : "p_", name);
            }
        printf("\n");
    } else if (pr.csv) {
        printf("row,predicted");
        if (ds.y)
            printf(",label");
        for (int k = 0; k < l->classes; k++)
            printf(",p%d", k);
        printf("\n");
    }
    if (cli_eval_rows(hs.prog, l, hs.mem.acts, B, &ds, print_row, &pr) != 0) {
        fprintf(stderr, "hpc predict: out of memory\n");
        status = EXIT_RUN;
        goto done;
    }
    if (ds.y && pr.multi) {
        print_multi_report(&pr, ds.n, l->classes, ckpt);
    } else if (ds.y) {
        fprintf(stderr, "accuracy %.4f on %ld samples (%s)\n", (double)pr.correct / (double)ds.n, ds.n, ckpt);
        print_classes(&cm, pr.csv);
    }
    status = ferror(stdout) ? EXIT_RUN : EXIT_OK;
done:
    cli_confusion_free(&cm);
    hprt_dataset_free(&ds);
    hp_loaded_data_free(&train);
    hprt_train_state_free(&state);
    hprt_csv_encoding_free(&own_enc);
    hp_session_free(&hs);
    return status;
}
