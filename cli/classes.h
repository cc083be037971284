/* classes.h - per-class results of a classifier on labelled data (`hpc
 * predict` with labels): the confusion matrix, each class's precision, recall
 * and F1, and their macro averages (docs/cli.md). */
#ifndef CLI_CLASSES_H
#define CLI_CLASSES_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    int K;        /* classes */
    long *m;      /* K x K counts: row = the label, column = the prediction */
    long n;       /* samples counted */
    char *const *names; /* class k's name (a CSV whose labels are names), or NULL: numbers */
} cli_confusion;

/* 0, or -1 when out of memory. */
int cli_confusion_init(cli_confusion *c, int K);
void cli_confusion_free(cli_confusion *c);
/* One sample; labels or predictions outside [0, K) are not counted. */
void cli_confusion_add(cli_confusion *c, int label, int predicted);

typedef struct {
    double precision, recall, f1;
    long support;     /* samples with this label */
    long predicted;   /* samples predicted as this class */
} cli_class_score;

/* Class k's figures, as scikit-learn's classification_report computes them: a
 * precision with no prediction of k, a recall with no sample of k, and an F1
 * with precision + recall = 0 are 0. */
cli_class_score cli_class_score_of(const cli_confusion *c, int k);
/* The macro averages: the unweighted mean over the classes that occur among
 * the labels or the predictions (scikit-learn's labels = unique_labels); *n
 * gets their count.  Accuracy: the diagonal over n. */
void cli_class_macro(const cli_confusion *c, cli_class_score *macro, int *n, double *accuracy);

/* The table and the matrix as text (hpc predict's standard error); with
 * names, the table's rows are named and a legend names the matrix's numbers. */
void cli_class_report_text(FILE *out, const cli_confusion *c);
/* One JSON object: {"accuracy", "samples", "classes": [...], "macro",
 * "confusion"}; with names each class has its "name". */
void cli_class_report_json(FILE *out, const cli_confusion *c);

#endif
