/* cmd_report.c - `hpc report RUN_DIR [-o FILE]`: one self-contained HTML page
 * about a run: the summary, the experiment and its Plan, the curves (plot.h),
 * the events, the LR range test, the confusion matrix on the test split
 * (model.h: the checkpoint evaluated again), and the timings.  No network, no
 * scripts, no fonts: inline CSS and SVG only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "load.h"
#include "model.h"
#include "plot.h"
#include "svg.h"


/* A file's text (NUL-terminated), or NULL. */
static char *slurp(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, k;
    char chunk[4096];
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k + 1 > cap) {
            cap = (n + k + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + n, chunk, k);
        n += k;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[n] = 0;
    return buf;
}

/* summary.json's value of key as text ("0.77375", "completed"), or NULL.
 * The file is hpc's own: one "key": value per line. */
static bool json_value(const char *json, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return false;
    p += strlen(pat);
    if (*p == '"')
        p++;
    size_t len = strcspn(p, "\",\n");
    if (strncmp(p, "null", 4) == 0 && len == 4)
        return false;
    snprintf(out, n, "%.*s", (int)len, p);
    return true;
}

static double json_num(const char *json, const char *key)
{
    char v[64];
    return json_value(json, key, v, sizeof v) ? strtod(v, NULL) : NAN;
}

/* ---- the confusion matrix ---- */

typedef struct {
    int K;
    const int32_t *y;
    long *counts; /* K x K: [label][predicted] */
} confusion;

static void count_row(void *ctx, long row, const float *z, int K)
{
    confusion *c = ctx;
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[arg])
            arg = k;
    if (c->y && c->y[row] >= 0 && c->y[row] < c->K)
        c->counts[(long)c->y[row] * c->K + arg]++;
}

/* The split the matrix is on: test, else valid.  Writes the section; a
 * reason instead when it cannot be computed (and says so on stderr). */
static void confusion_section(FILE *f, cli_model *m)
{
    fprintf(f, "<section id='confusion'>\n<h2>Confusion matrix</h2>\n");
    plan_experiment *e = m->e;
    if (e->data.is_text) {
        fprintf(f, "<p class='note'>A language model: no confusion matrix (its loss in bits per character is in the summary).</p>\n</section>\n");
        return;
    }
    if (e->data.labels > 0) {
        fprintf(f, "<p class='note'>Multi-label data (%d label columns): no confusion matrix of classes; "
                   "<code>hpc predict</code> with the label columns prints each label's precision, recall and F1.</p>\n"
                   "</section>\n",
                e->data.labels);
        return;
    }
    hp_loaded_data data = {0};
    hprt_error err = {0};
    const char *why = NULL;
    char reason[1100];
    if (hp_load_data(&e->data, &data, &err) != HPRT_OK) {
        snprintf(reason, sizeof reason, "the data could not be loaded: %s", err.msg);
        why = reason;
    } else if (!data.has_test && !data.has_valid) {
        why = "the data has neither a test nor a validation split";
    }
    if (!why && cli_model_compile(m, "report") >= 0)
        why = "the model could not be loaded (see the message above)";
    if (why) {
        fprintf(stderr, "hpc report: no confusion matrix: %s\n", why);
        fprintf(f, "<p class='note'>No confusion matrix: ");
        cli_markup(f, why);
        fprintf(f, ".</p>\n</section>\n");
        hp_loaded_data_free(&data);
        return;
    }
    const hprt_dataset *ds = data.has_test ? &data.test : &data.valid;
    int K = m->l->classes;
    confusion c = {K, ds->y, calloc((size_t)K * (size_t)K, sizeof(long))};
    if (!c.counts || cli_model_eval(m, ds, count_row, &c, "report") >= 0) {
        fprintf(f, "<p class='note'>No confusion matrix: out of memory.</p>\n</section>\n");
        free(c.counts);
        hp_loaded_data_free(&data);
        return;
    }
    long total = 0, right = 0, max = 1;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            long v = c.counts[(long)i * K + j];
            total += v;
            right += i == j ? v : 0;
            if (i != j && v > max)
                max = v;
        }
    fprintf(f, "<p>On the %s split (%ld samples), the weights in <code>", data.has_test ? "test" : "validation", total);
    const char *base = strrchr(m->ckpt, '/');
    cli_markup(f, base ? base + 1 : m->ckpt);
    fprintf(f, "</code>: accuracy <b id='confusion-accuracy'>%.4f</b>. Rows: the true class; columns: the "
               "predicted class; the last column is each class's recall.</p>\n",
            total ? (double)right / (double)total : NAN);
    fprintf(f, "<table class='confusion' id='confusion-matrix' data-split='%s' data-total='%ld' data-correct='%ld'>\n<tr><th>true \\ predicted</th>",
            data.has_test ? "test" : "valid", total, right);
    for (int j = 0; j < K; j++)
        fprintf(f, "<th>%d</th>", j);
    fprintf(f, "<th>recall</th></tr>\n");
    for (int i = 0; i < K; i++) {
        long row = 0;
        for (int j = 0; j < K; j++)
            row += c.counts[(long)i * K + j];
        fprintf(f, "<tr><th>%d</th>", i);
        for (int j = 0; j < K; j++) {
            long v = c.counts[(long)i * K + j];
            /* the diagonal in green by recall, the errors in red by their share of the worst */
            double a = i == j ? (row ? (double)v / (double)row : 0) : (double)v / (double)max;
            fprintf(f, "<td style='background: rgba(%s, %.2f)' title='true %d, predicted %d: %ld'>%ld</td>",
                    i == j ? "44, 160, 44" : "214, 39, 40", i == j ? 0.15 + 0.6 * a : 0.75 * a, i, j, v, v);
        }
        fprintf(f, "<td class='recall'>%.3f</td></tr>\n", row ? (double)c.counts[(long)i * K + i] / (double)row : 0.0);
    }
    fprintf(f, "</table>\n</section>\n");
    free(c.counts);
    hp_loaded_data_free(&data);
}

/* ---- sections ---- */

static void summary_section(FILE *f, const char *json)
{
    static const char *const keys[][2] = {
        {"stopped", "ended"},           {"epochs", "epochs"},
        {"steps", "steps"},             {"best_epoch", "best epoch"},
        {"weights", "final weights"},   {"train_loss", "train loss"},
        {"val_loss", "validation loss"}, {"val_accuracy", "validation accuracy"},
        {"test_loss", "test loss"},     {"test_accuracy", "test accuracy"},
        {"train_bpc", "train bits/char"}, {"val_bpc", "validation bits/char"},
        {"test_bpc", "test bits/char"}, {"seed", "seed"},
        {"threads", "threads"},
    };
    fprintf(f, "<section id='summary'>\n<h2>Summary</h2>\n<table class='kv'>\n");
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char v[128];
        if (!json_value(json, keys[i][0], v, sizeof v))
            continue;
        fprintf(f, "<tr><th>%s</th><td id='summary-%s'>", keys[i][1], keys[i][0]);
        cli_markup(f, v);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n</section>\n");
}

static void timings_section(FILE *f, const char *json, const plot_run *r, bool text)
{
    fprintf(f, "<section id='timings'>\n<h2>Timings</h2>\n<table class='kv'>\n");
    double compile = json_num(json, "compile_ms"), secs = json_num(json, "seconds"),
           sps = json_num(json, "samples_per_second");
    if (isfinite(compile))
        fprintf(f, "<tr><th>compiling the steps</th><td id='timing-compile'>%.0f ms</td></tr>\n", compile);
    if (isfinite(secs))
        fprintf(f, "<tr><th>training (the loop, evaluation included)</th><td id='timing-seconds'>%.2f s</td></tr>\n", secs);
    if (isfinite(sps))
        fprintf(f, "<tr><th>%s per second (training steps)</th><td id='timing-throughput'>%.0f</td></tr>\n",
                text ? "tokens" : "samples", sps);
    fprintf(f, "</table>\n");
    /* per epoch: metrics.csv, with the rows trained from steps.csv */
    const csv_table *m = &r->metrics, *st = &r->steps;
    const double *ep = csv_column(m, "epoch"), *sec = csv_column(m, "seconds"), *tl = csv_column(m, "train_loss"),
                 *vl = csv_column(m, "val_loss"), *va = csv_column(m, "val_accuracy"), *lr = csv_column(m, "lr"),
                 *bt = csv_column(m, "batch");
    const double *s_ep = csv_column(st, "epoch"), *s_b = csv_column(st, "batch");
    fprintf(f, "<table class='grid' id='epochs'>\n<tr><th>epoch</th><th>train loss</th><th>val loss</th><th>val "
               "accuracy</th><th>lr (last step)</th><th>batch</th><th>seconds</th><th>%s/s (with evaluation)</th></tr>\n",
            text ? "tokens" : "samples");
    for (int i = 0; ep && i < m->n; i++) {
        double rows = 0;
        for (int k = 0; s_ep && s_b && k < st->n; k++)
            if (s_ep[k] == ep[i])
                rows += s_b[k];
        fprintf(f, "<tr><td>%.0f</td>", ep[i]);
        const double *cols[5] = {tl, vl, va, lr, bt};
        const char *fmts[5] = {"%.4f", "%.4f", "%.4f", "%.3g", "%.0f"};
        for (int c = 0; c < 5; c++) {
            fputs("<td>", f);
            if (cols[c] && isfinite(cols[c][i]))
                fprintf(f, fmts[c], cols[c][i]);
            fputs("</td>", f);
        }
        double s = sec ? sec[i] : NAN;
        fprintf(f, "<td>%.3f</td><td>", s);
        if (s > 0 && rows > 0)
            fprintf(f, "%.0f", rows / s);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n</section>\n");
}

static void lr_find_section(FILE *f, const char *dir, const char *events)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lr_find.csv", dir);
    csv_table t;
    if (csv_read(path, &t) != 0)
        return; /* no range test in this run */
    const double *lr = csv_column(&t, "lr"), *loss = csv_column(&t, "loss"), *sm = csv_column(&t, "smoothed_loss");
    fprintf(f, "<section id='lr-find'>\n<h2>LR range test</h2>\n");
    if (!lr || !loss || !sm || t.n == 0) {
        fprintf(f, "<p class='note'>lr_find.csv lacks the columns hpc writes.</p>\n</section>\n");
        csv_free(&t);
        return;
    }
    /* the suggestion: from the event find_lr wrote */
    double suggestion = NAN;
    const char *p = events ? strstr(events, "the LR range test suggests ") : NULL;
    char label[128] = "suggestion";
    if (p) {
        suggestion = strtod(p + strlen("the LR range test suggests "), NULL);
        snprintf(label, sizeof label, "suggestion %.3g", suggestion);
        fprintf(f, "<p>The range test suggested <b id='lr-suggestion'>%.4g</b>.</p>\n", suggestion);
    }
    svg_series series[2] = {{"loss", lr, loss, t.n, "#bbb"}, {"smoothed loss", lr, sm, t.n, "#1f77b4"}};
    svg_mark mark = {suggestion, label};
    svg_panel panel = {"loss against the learning rate", "learning rate (log scale)", "training loss", true, false,
                       series, 2, &mark, isfinite(suggestion) ? 1 : 0, 1.5 * sm[0], 0, 0};
    fprintf(f, "<figure>");
    svg_print(f, &panel, 1);
    fprintf(f, "</figure>\n</section>\n");
    csv_free(&t);
}

static const char *const style =
    "body{font-family:sans-serif;margin:1.5em auto;max-width:820px;color:#222;line-height:1.4}"
    "h1{font-size:1.6em;margin-bottom:0.2em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:0.2em;"
    "margin-top:1.8em}pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:12px;line-height:1.3}"
    "table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;text-align:right}"
    "table.kv th{text-align:left;font-weight:normal;color:#555}table.kv td{text-align:left}table.grid td,table.grid th{border-bottom:1px solid #eee}"
    "table.confusion td,table.confusion th{border:1px solid #ddd;min-width:2.6em}"
    ".note{color:#777}figure{margin:0}nav a{margin-right:1em}ul.events{font-size:13px}";

static int write_report(FILE *f, const char *dir, cli_model *m, const plot_run *curves, const char *load_err)
{
    char *json = slurp(dir, "summary.json"), *exp = slurp(dir, "experiment.hp"), *events = slurp(dir, "events.log");
    const char *name = m->e ? m->e->name : "run";
    fprintf(f, "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n<title>hpc report: ");
    cli_markup(f, name);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1 id='title'>", style);
    cli_markup(f, name);
    fprintf(f, "</h1>\n<p class='note'>The run in <code id='run-dir'>");
    cli_markup(f, dir);
    fprintf(f, "</code>, reported by hpc %s.</p>\n", HPC_VERSION);
    fprintf(f, "<nav><a href='#summary'>summary</a><a href='#curves'>curves</a><a href='#confusion'>confusion "
               "matrix</a><a href='#timings'>timings</a><a href='#experiment'>experiment</a><a href='#plan'>plan</a></nav>\n");
    summary_section(f, json);

    fprintf(f, "<section id='curves'>\n<h2>Curves</h2>\n");
    if (curves) {
        fprintf(f, "<figure>");
        svg_print(f, curves->panels, curves->n_panels);
        fprintf(f, "</figure>\n");
    } else {
        fprintf(f, "<p class='note'>No curves: ");
        cli_markup(f, load_err);
        fprintf(f, "</p>\n");
    }
    fprintf(f, "</section>\n<section id='events'>\n<h2>Events</h2>\n");
    if (events && *events) {
        fprintf(f, "<ul class='events'>\n");
        for (char *line = events; *line;) {
            size_t n = strcspn(line, "\n");
            char saved = line[n];
            line[n] = 0;
            fprintf(f, "<li>");
            cli_markup(f, line);
            fprintf(f, "</li>\n");
            line[n] = saved;
            line += n + (saved ? 1 : 0);
        }
        fprintf(f, "</ul>\n");
    } else {
        fprintf(f, "<p class='note'>None: no policy changed anything during the run.</p>\n");
    }
    fprintf(f, "</section>\n");
    lr_find_section(f, dir, events);
    if (m->e)
        confusion_section(f, m);
    else
        fprintf(f, "<section id='confusion'>\n<h2>Confusion matrix</h2>\n<p class='note'>None: the run's experiment.hp "
                   "does not check any more (its data moved?); <code>hpc check</code> on it says why.</p>\n</section>\n");
    if (curves)
        timings_section(f, json, curves, m->e && m->e->data.is_text);

    fprintf(f, "<section id='experiment'>\n<h2>Experiment</h2>\n<p class='note'>experiment.hp: the run's experiment "
               "with every default written out (<code>hpc run</code> on it reproduces the run).</p>\n<pre>");
    cli_markup(f, exp ? exp : "(missing)");
    fprintf(f, "</pre>\n</section>\n<section id='plan'>\n<h2>Plan</h2>\n<p class='note'>As <code>hpc explain</code> "
               "shows it.</p>\n<pre>");
    if (m->e) {
        char *text = NULL;
        size_t n = 0;
        FILE *mf = open_memstream(&text, &n);
        if (mf) {
            plan_explain(m->e, mf);
            if (fclose(mf) == 0)
                cli_markup(f, text);
        }
        free(text);
    } else {
        fprintf(f, "(experiment.hp does not check)");
    }
    fprintf(f, "</pre>\n</section>\n</body>\n</html>\n");
    free(json);
    free(exp);
    free(events);
    return ferror(f) ? -1 : 0;
}

/* ---- a study ---- */

/* The results table (results.csv, hpc's own: no quoted commas but in the
 * last columns' values, which are written quoted) with headers that sort it. */
static void results_table(FILE *f, const char *csv)
{
    fprintf(f, "<table class='grid' id='results'>\n");
    const char *line = csv;
    for (int row = 0; line && *line; row++) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        fprintf(f, "<tr>");
        size_t i = 0;
        int col = 0;
        while (i <= len) {
            char cell[512];
            size_t k = 0;
            bool quoted = i < len && line[i] == '"';
            if (quoted)
                i++;
            while (i < len && (quoted ? !(line[i] == '"' && (i + 1 >= len || line[i + 1] != '"')) : line[i] != ',')) {
                if (quoted && line[i] == '"')
                    i++;
                if (k + 1 < sizeof cell)
                    cell[k++] = line[i];
                i++;
            }
            if (quoted)
                i++;
            cell[k] = 0;
            if (row == 0)
                fprintf(f, "<th onclick='sortBy(%d)' title='sort'>", col);
            else
                fprintf(f, "<td>");
            cli_markup(f, cell);
            fprintf(f, row == 0 ? "</th>" : "</td>");
            col++;
            i++; /* the comma */
        }
        fprintf(f, "</tr>\n");
        line = end ? end + 1 : NULL;
    }
    fprintf(f, "</table>\n");
}

/* The one script of hpc's pages: a click on a header sorts the results. */
static const char *const sort_script =
    "<script>\n"
    "function sortBy(c) {\n"
    "  var t = document.getElementById('results'), rows = Array.prototype.slice.call(t.rows, 1);\n"
    "  var up = t.getAttribute('data-col') != String(c) || t.getAttribute('data-dir') == 'down';\n"
    "  rows.sort(function (a, b) {\n"
    "    var x = a.cells[c].textContent, y = b.cells[c].textContent, p = parseFloat(x), q = parseFloat(y);\n"
    "    var d = !isNaN(p) && !isNaN(q) ? p - q : x < y ? -1 : x > y ? 1 : 0;\n"
    "    return up ? d : -d;\n"
    "  });\n"
    "  rows.forEach(function (r) { t.tBodies[0].appendChild(r); });\n"
    "  t.setAttribute('data-col', String(c));\n"
    "  t.setAttribute('data-dir', up ? 'up' : 'down');\n"
    "}\n"
    "</script>\n";

static int write_study_report(FILE *f, const char *dir)
{
    char *json = slurp(dir, "summary.json"), *csv = slurp(dir, "results.csv"), *best = slurp(dir, "best.hp");
    char *hist = slurp(dir, "history.svg"), *par = slurp(dir, "parallel.svg"), *src = slurp(dir, "study.hp");
    char name[256] = "study";
    json_value(json, "search", name, sizeof name);
    fprintf(f, "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n<title>hpc report: search ");
    cli_markup(f, name);
    fprintf(f, "</title>\n<style>%s th[onclick]{cursor:pointer;text-decoration:underline dotted}</style>\n</head>\n"
               "<body>\n<h1 id='title'>search ", style);
    cli_markup(f, name);
    fprintf(f, "</h1>\n<p class='note'>The study in <code id='study-dir'>");
    cli_markup(f, dir);
    fprintf(f, "</code>, reported by hpc %s.</p>\n", HPC_VERSION);
    fprintf(f, "<nav><a href='#summary'>summary</a><a href='#best'>best</a><a href='#results-h'>results</a>"
               "<a href='#history'>history</a><a href='#parallel'>parallel coordinates</a>"
               "<a href='#study'>study.hp</a></nav>\n");
    fprintf(f, "<h2 id='summary'>Summary</h2>\n<table class='kv' id='summary-table'>\n");
    static const char *const keys[] = {"strategy", "objective", "trials", "completed", "pruned", "failed",
                                       "epochs_trained", "compiles", "compile_ms", "seconds"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char v[256];
        if (!json_value(json, keys[i], v, sizeof v))
            continue;
        fprintf(f, "<tr><th>%s</th><td id='s-%s'>", keys[i], keys[i]);
        cli_markup(f, v);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n<h2 id='best'>The best configuration</h2>\n");
    char trial[32], value[64];
    if (json_value(json, "trial", trial, sizeof trial) && json_value(json, "value", value, sizeof value)) {
        fprintf(f, "<p>Trial <b id='best-trial'>");
        cli_markup(f, trial);
        fprintf(f, "</b>, objective <b id='best-value'>");
        cli_markup(f, value);
        fprintf(f, "</b>; <code>hpc run %s/best.hp</code> trains it again:</p>\n<pre>", dir);
        cli_markup(f, best ? best : "");
        fprintf(f, "</pre>\n");
    } else {
        fprintf(f, "<p class='note'>No trial has a value yet.</p>\n");
    }
    fprintf(f, "<h2 id='results-h'>Results</h2>\n<p class='note'>One row per trial; click a column to sort.</p>\n");
    if (csv)
        results_table(f, csv);
    fprintf(f, "<h2 id='history'>Optimisation history</h2>\n<figure>%s</figure>\n", hist ? hist : "");
    fprintf(f, "<h2 id='parallel'>Parallel coordinates</h2>\n<figure>%s</figure>\n", par ? par : "");
    fprintf(f, "<h2 id='study'>study.hp</h2>\n<pre>");
    cli_markup(f, src ? src : "");
    fprintf(f, "</pre>\n%s</body>\n</html>\n", sort_script);
    int missing = !json || !csv;
    free(json);
    free(csv);
    free(best);
    free(hist);
    free(par);
    free(src);
    return missing ? -1 : 0;
}

int cmd_report(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) {
            if (i + 1 >= argc) {
                cli_usage_error("report", "%s needs a file name", a);
                return EXIT_USAGE;
            }
            out = argv[++i];
        } else if (a[0] == '-') {
            cli_usage_error("report", "unknown option '%s'", a);
            return EXIT_USAGE;
        } else if (!dir) {
            dir = a;
        } else {
            cli_usage_error("report", "unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        cli_usage_error("report", "which run? (hpc report RUN_DIR [-o FILE])");
        return EXIT_USAGE;
    }
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    if (stat(path, &sb) == 0) { /* a study: its summary, results, plots, best configuration */
        char outpath[4200];
        snprintf(outpath, sizeof outpath, "%s", out ? out : "");
        if (!out)
            snprintf(outpath, sizeof outpath, "%s/report.html", dir);
        FILE *f = fopen(outpath, "w");
        if (!f) {
            fprintf(stderr, "hpc report: cannot create %s: %s\n", outpath, strerror(errno));
            return EXIT_RUN;
        }
        int rc = write_study_report(f, dir);
        if (fclose(f) != 0 || rc != 0) {
            fprintf(stderr, "hpc report: %s: the study has no summary.json or results.csv yet, or %s could not be "
                            "written\n", dir, outpath);
            return EXIT_RUN;
        }
        printf("%s\n", outpath);
        return EXIT_OK;
    }
    snprintf(path, sizeof path, "%s/experiment.hp", dir);
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "hpc report: %s is not a run directory (no experiment.hp): %s\n", dir, strerror(errno));
        return EXIT_USAGE;
    }
    cli_model m;
    int status = cli_model_open(&m, dir, NULL, "report");
    if (status == EXIT_USAGE) {
        cli_model_close(&m);
        return status;
    }
    /* a run whose experiment.hp no longer checks (its data moved...) still gets its curves */
    plot_run *curves = malloc(sizeof *curves);
    char err[4400] = "";
    if (curves && plot_run_load(curves, dir, err, sizeof err) != 0) {
        fprintf(stderr, "hpc report: no curves: %s\n", err);
        free(curves);
        curves = NULL;
    } else if (!curves) {
        snprintf(err, sizeof err, "out of memory");
    }
    char outpath[4200];
    if (out)
        snprintf(outpath, sizeof outpath, "%s", out);
    else
        snprintf(outpath, sizeof outpath, "%s/report.html", dir);
    FILE *f = fopen(outpath, "w");
    if (!f) {
        fprintf(stderr, "hpc report: cannot create %s: %s\n", outpath, strerror(errno));
        status = EXIT_RUN;
    } else {
        int rc = write_report(f, dir, &m, curves, err);
        if (fclose(f) != 0 || rc != 0) {
            fprintf(stderr, "hpc report: cannot write %s: %s\n", outpath, strerror(errno ? errno : EIO));
            status = EXIT_RUN;
        } else {
            printf("%s\n", outpath);
            status = EXIT_OK;
        }
    }
    if (curves)
        plot_run_free(curves);
    free(curves);
    cli_model_close(&m);
    return status;
}
