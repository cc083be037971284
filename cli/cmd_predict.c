/* cmd_predict.c - `hpc predict RUN_DIR INPUT`: a trained model's predictions. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
} printer;

static void print_row(void *ctx, long row, const float *z, int K)
{
    printer *pr = ctx;
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
    if (pr->csv) {
        printf("%ld,%d", row, arg);
        if (pr->y)
            printf(",%d", pr->y[row]);
        for (int k = 0; k < K && k < 4096; k++)
            printf(",%.9g", pr->probs ? prob[k] / sum : prob[k]);
        printf("\n");
    } else {
        printf("{\"row\": %ld, \"predicted\": %d", row, arg);
        if (pr->y)
            printf(", \"label\": %d", pr->y[row]);
        printf(", \"%s\": [", pr->probs || pr->sigmoid ? "probabilities" : "outputs");
        for (int k = 0; k < K && k < 4096; k++)
            printf("%s%.9g", k ? ", " : "", pr->probs ? prob[k] / sum : prob[k]);
        printf("]}\n");
    }
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
    hprt_error err = {0};
    hp_error he;
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

    /* the input, read like the training data */
    hprt_status st;
    if (ends_with(input, ".csv") || ends_with(input, ".csv.gz")) {
        hprt_csv_opts o = hprt_csv_defaults();
        if (e->data.train.kind == PLAN_SRC_CSV) {
            o.header = e->data.train.header;
            o.label = HPRT_LABEL_INDEX;
            o.label_index = e->data.train.label_index;
        }
        /* the columns first (with no label, so a file without one probes too).
         * The header: --header, --no-header, else the first line is a header
         * exactly when it is not all numbers (said in a warning: never a
         * sample dropped silently) */
        hprt_csv_opts probe = o;
        probe.label = HPRT_LABEL_NONE;
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
        if (st == HPRT_OK && cols == e->data.features) /* no label column */
            o.label = HPRT_LABEL_NONE;
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
    if (ds.features != e->data.features) {
        fprintf(stderr, "hpc predict: %s: %d features per sample; the model takes %d\n", input, ds.features,
                e->data.features);
        status = EXIT_DATA;
        goto done;
    }
    if (ds.y && hprt_data_check_labels(&ds, e->data.classes, &err) != HPRT_OK) {
        fprintf(stderr, "hpc predict: %s\n", err.msg);
        status = EXIT_DATA;
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
    /* the input as the training data was: scaled, then normalised with the
     * training statistics (saved in the checkpoint) */
    if (e->data.scale != 1)
        hprt_data_scale(&ds, (float)e->data.scale);
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
    printer pr = {.y = ds.y, .probs = e->loss == PLAN_LOSS_CROSS_ENTROPY, .sigmoid = e->loss == PLAN_LOSS_BCE,
                  .csv = format[0] == 'c'};
    if (pr.csv) {
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
    if (ds.y)
        fprintf(stderr, "accuracy %.4f on %ld samples (%s)\n", (double)pr.correct / (double)ds.n, ds.n, ckpt);
    status = ferror(stdout) ? EXIT_RUN : EXIT_OK;
done:
    hprt_dataset_free(&ds);
    hp_loaded_data_free(&train);
    hprt_train_state_free(&state);
    hp_session_free(&hs);
    return status;
}
