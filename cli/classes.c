/* classes.c - per-class results of a classifier (classes.h). */
#include "classes.h"

#include <stdlib.h>

int cli_confusion_init(cli_confusion *c, int K)
{
    c->K = K > 0 ? K : 0;
    c->n = 0;
    c->names = NULL;
    c->m = calloc((size_t)(c->K > 0 ? c->K : 1) * (size_t)(c->K > 0 ? c->K : 1), sizeof *c->m);
    return c->m ? 0 : -1;
}

void cli_confusion_free(cli_confusion *c)
{
    free(c->m);
    c->m = NULL;
}

void cli_confusion_add(cli_confusion *c, int label, int predicted)
{
    if (!c->m || label < 0 || label >= c->K || predicted < 0 || predicted >= c->K)
        return;
    c->m[(size_t)label * (size_t)c->K + (size_t)predicted]++;
    c->n++;
}

static double ratio(long a, long b) { return b > 0 ? (double)a / (double)b : 0.0; }

cli_class_score cli_class_score_of(const cli_confusion *c, int k)
{
    cli_class_score s = {0, 0, 0, 0, 0};
    for (int j = 0; j < c->K; j++) {
        s.support += c->m[(size_t)k * (size_t)c->K + (size_t)j];
        s.predicted += c->m[(size_t)j * (size_t)c->K + (size_t)k];
    }
    long tp = c->m[(size_t)k * (size_t)c->K + (size_t)k];
    s.precision = ratio(tp, s.predicted);
    s.recall = ratio(tp, s.support);
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    return s;
}

void cli_class_macro(const cli_confusion *c, cli_class_score *macro, int *n, double *accuracy)
{
    *macro = (cli_class_score){0, 0, 0, 0, 0};
    *n = 0;
    long diag = 0;
    for (int k = 0; k < c->K; k++) {
        cli_class_score s = cli_class_score_of(c, k);
        diag += c->m[(size_t)k * (size_t)c->K + (size_t)k];
        macro->support += s.support;
        macro->predicted += s.predicted;
        if (s.support == 0 && s.predicted == 0)
            continue;
        macro->precision += s.precision;
        macro->recall += s.recall;
        macro->f1 += s.f1;
        ++*n;
    }
    if (*n > 0) {
        macro->precision /= *n;
        macro->recall /= *n;
        macro->f1 /= *n;
    }
    *accuracy = ratio(diag, c->n);
}

void cli_class_report_text(FILE *out, const cli_confusion *c)
{
    fprintf(out, "class  precision  recall      f1  support%s\n", c->names ? "  name" : "");
    for (int k = 0; k < c->K; k++) {
        cli_class_score s = cli_class_score_of(c, k);
        fprintf(out, "%5d  %9.4f  %6.4f  %6.4f  %7ld", k, s.precision, s.recall, s.f1, s.support);
        if (c->names) { /* control characters shown as '?': one line per class */
            fputs("  ", out);
            for (const char *p = c->names[k]; *p; p++)
                fputc((unsigned char)*p < 0x20 ? '?' : *p, out);
        }
        fputc('\n', out);
    }
    cli_class_score m;
    int n;
    double acc;
    cli_class_macro(c, &m, &n, &acc);
    fprintf(out, "macro  %9.4f  %6.4f  %6.4f  %7ld\n", m.precision, m.recall, m.f1, m.support);
    /* the columns as wide as the largest count */
    long most = 1;
    for (long i = 0; i < (long)c->K * c->K; i++)
        if (c->m[i] > most)
            most = c->m[i];
    if (c->K - 1 > most)
        most = c->K - 1;
    int w = 1;
    for (long v = most; v >= 10; v /= 10)
        w++;
    fprintf(out, "confusion matrix (rows: label, columns: predicted)\n%5s", "");
    for (int j = 0; j < c->K; j++)
        fprintf(out, " %*d", w, j);
    fputc('\n', out);
    for (int k = 0; k < c->K; k++) {
        fprintf(out, "%5d", k);
        for (int j = 0; j < c->K; j++)
            fprintf(out, " %*ld", w, c->m[(size_t)k * (size_t)c->K + (size_t)j]);
        fputc('\n', out);
    }
}

static void json_score(FILE *out, const cli_class_score *s)
{
    fprintf(out, "\"precision\": %.17g, \"recall\": %.17g, \"f1\": %.17g, \"support\": %ld", s->precision, s->recall,
            s->f1, s->support);
}

void cli_class_report_json(FILE *out, const cli_confusion *c)
{
    cli_class_score m;
    int n;
    double acc;
    cli_class_macro(c, &m, &n, &acc);
    fprintf(out, "{\"accuracy\": %.17g, \"samples\": %ld, \"classes\": [", acc, c->n);
    for (int k = 0; k < c->K; k++) {
        cli_class_score s = cli_class_score_of(c, k);
        fprintf(out, "%s{\"class\": %d, ", k ? ", " : "", k);
        if (c->names) {
            fputs("\"name\": \"", out);
            for (const char *p = c->names[k]; *p; p++)
                if (*p == '"' || *p == '\\')
                    fprintf(out, "\\%c", *p);
                else if ((unsigned char)*p < 0x20)
                    fprintf(out, "\\u%04x", (unsigned char)*p);
                else
                    fputc(*p, out);
            fputs("\", ", out);
        }
        json_score(out, &s);
        fputc('}', out);
    }
    fprintf(out, "], \"macro\": {");
    json_score(out, &m);
    fprintf(out, ", \"classes\": %d}, \"confusion\": [", n);
    for (int k = 0; k < c->K; k++) {
        fprintf(out, "%s[", k ? ", " : "");
        for (int j = 0; j < c->K; j++)
            fprintf(out, "%s%ld", j ? ", " : "", c->m[(size_t)k * (size_t)c->K + (size_t)j]);
        fputc(']', out);
    }
    fprintf(out, "]}\n");
}
