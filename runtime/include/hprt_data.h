/* hprt_data.h - data sets: loading, probing, splitting, scaling, batching.
 *
 * A data set is a float32 feature matrix with one int32 label per row (IDX
 * images, CSV rows), or a stream of byte-level token ids (text).  Three
 * formats, each with a cheap *probe* for the checker (shapes, classes,
 * vocabulary) and a *loader* for the run:
 *
 *   idx(images, labels)            data_idx.c   gzip or plain, big-endian header
 *   csv(path, label = .., header)  data_csv.c   numeric or categorical fields, one label column
 *   text(paths, seq = 64)          data_text.c  bytes -> ids via the vocabulary
 *
 * and the operations on a loaded set (data.c): split, scale, standard
 * normalisation, label validation, the epoch order and minibatch gathering,
 * and the char-RNN window layout for token streams.
 *
 * Errors: every failure returns HPRT_E_DATA (or HPRT_E_RUN when memory runs
 * out) and fills hprt_error with a message that starts with the file's path
 * and, where it applies, names the record or line and field:
 *
 *   "PATH: line 17, field 3 ('abc'): not a number"
 *   "PATH: truncated: expected 47040000 bytes of image data, found 47039000;
 *    record 59998 is incomplete; ..."
 *
 * Numbering in messages: CSV lines and fields count from 1, as an editor or
 * awk shows them; IDX records and token offsets count from 0, as an array
 * index does (the messages say "counting from 0").  Label column indices
 * (hprt_csv_opts.label_index) count from 0, as the language's `label = N`.
 *
 * Ownership: loaders fill a caller-provided hprt_dataset, which owns all its
 * buffers until hprt_dataset_free().  There are no views: a split copies the
 * (small) validation part out and shrinks the training set in place, so
 * every dataset is freed on its own, in any order.  Nothing here prints and
 * nothing keeps global state.
 */
#ifndef HPRT_DATA_H
#define HPRT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hprt_base.h"
#include "hprt_rng.h"

typedef enum {
    HPRT_DATA_NONE = 0,
    HPRT_DATA_IDX,
    HPRT_DATA_CSV,
    HPRT_DATA_TEXT,
} hprt_data_kind;

/* ---- vocabulary (text) --------------------------------------------------- */

/* The byte-level vocabulary: the distinct byte values present, numbered in
 * ascending byte order (as numpy.unique does), so the same bytes always give
 * the same ids whatever order they appear in. */
typedef struct {
    int size;            /* distinct bytes, 1..256 (0 when empty) */
    int16_t id[256];     /* byte -> id, or -1 for a byte not in the vocabulary */
    uint8_t byte[256];   /* id -> byte, for ids 0..size-1 */
} hprt_vocab;

/* Adds the bytes of buf to v (start from hprt_vocab_init); ids stay in
 * ascending byte order. */
void hprt_vocab_init(hprt_vocab *v);
void hprt_vocab_add(hprt_vocab *v, const uint8_t *buf, size_t n);

/* ---- categorical CSV ------------------------------------------------------
 *
 * A label column with a value that is not a number holds class names: the
 * classes are its distinct values in strcmp (byte) order, as scikit-learn's
 * LabelEncoder numbers them.  A feature column declared categorical is
 * one-hot encoded in place: its k categories (distinct values of the
 * training rows, in strcmp order) become k features, 1 for the row's
 * category and 0 for the others; a category the training rows never had
 * (in valid, test or predict input) gives all zeros, as scikit-learn's
 * OneHotEncoder(handle_unknown="ignore").  The encoding is built from the
 * training file (hprt_csv_probe) and given to every later read of data for
 * the same model, so the same value always means the same feature.
 *
 * A column declared embedded (dim > 0, `embed("city", 8)`) is one float in
 * the row instead: its category's id, 1..n in strcmp order, 0 for a category
 * the training rows never had (the "unknown" bucket, Keras StringLookup's
 * num_oov_indices = 1).  The model turns the id into dim learned values
 * (hprt_catembed_forward, hprt_kernels.h); scale and normalize leave it as
 * it is (hprt_data_scale_except, hprt_norm_keep). */

#define HPRT_MAX_CATEGORIES 1000 /* distinct values of one categorical column */
#define HPRT_MAX_EMBED_DIM 1024  /* values per category of an embedded column (`embed("city", D)`) */
#define HPRT_MAX_EMBED_COLUMNS 64 /* embedded columns of one CSV */
/* Label columns of one multi-label CSV: a row's targets are a bit set in its int32 label. */
#define HPRT_MAX_LABELS 31

typedef struct {
    int column;          /* feature position: 0-based among the columns other
                            than the label (the same with or without a label) */
    char *name;          /* the header's name for it, or NULL */
    int n;               /* categories, in strcmp order */
    int dim;             /* 0: one-hot (n features); > 0: embedded (one id in the row, dim values in the model) */
    char **names;
    long *first_row;     /* probe only: the 0-based data row each first occurs in; NULL otherwise */
    int min_count;       /* embedded: categories seen fewer times in the training rows go to the unknown
                            bucket (hprt_csv_encoding_restrict drops them); 0 or 1: none */
    int *row_cat;        /* probe only, with min_count > 1: each data row's category; NULL otherwise */
    long n_rows;         /* row_cat's length */
} hprt_csv_category;

typedef struct {
    int n_classes;       /* class names (0: numeric labels) */
    char **classes;      /* in strcmp order: class i is classes[i] */
    int n_cats;          /* categorical columns, in column order */
    hprt_csv_category *cats;
} hprt_csv_encoding;

void hprt_csv_encoding_free(hprt_csv_encoding *e);
/* Keeps only the categories first seen in data rows 0..rows-1 (the training
 * part when split() cuts the rest) and, for a column with min_count > 1, seen
 * at least min_count times in them; needs first_row (and row_cat). */
void hprt_csv_encoding_restrict(hprt_csv_encoding *e, long rows);
/* Features per row after one-hot encoding raw_features columns (the label excluded);
 * an embedded column counts one (its id). */
int hprt_csv_encoding_width(const hprt_csv_encoding *e, int raw_features);
/* The model's features per row: as hprt_csv_encoding_width, an embedded column counting dim. */
int hprt_csv_encoding_model_width(const hprt_csv_encoding *e, int raw_features);
/* The embedded columns (dim > 0), in column order: their id's position in a
 * row (hprt_csv_encoding_width's layout) into pos[i] and the first of their
 * dim values in the model's row into model_pos[i] (either may be NULL; at most
 * cap entries written).  Returns the number written (the checker allows
 * at most HPRT_MAX_EMBED_COLUMNS). */
int hprt_csv_encoding_embedded(const hprt_csv_encoding *e, int *pos, int *model_pos, int cap);
/* A deep copy, without first_row. */
hprt_status hprt_csv_encoding_copy(hprt_csv_encoding *dst, const hprt_csv_encoding *src, hprt_error *err);
/* As text (for checkpoints): "classes N" and N names, then per column
 * "column POS N" (one-hot) or "embed POS N DIM" (embedded), its header name
 * (empty without one) and N names, one a line (names never hold a line end).
 * Returns a malloc'd buffer (*len bytes, NUL-terminated) or NULL when out of memory. */
char *hprt_csv_encoding_save(const hprt_csv_encoding *e, size_t *len);
hprt_status hprt_csv_encoding_parse(const char *text, size_t len, hprt_csv_encoding *e, hprt_error *err);

/* ---- probes -------------------------------------------------------------- */

/* What the checker needs to know about a data set without loading it. */
typedef struct {
    hprt_data_kind kind;
    long n;              /* images, CSV data rows, or bytes (tokens) of text */
    int rank;            /* rank of one sample: 3 for images [1, rows, cols]
                            (or [d1, d2, d3] for a 4-dim IDX file), 1 for CSV
                            and 2-dim IDX [features], 0 for text */
    int dims[3];         /* the sample's shape; unused entries are 0 */
    int features;        /* floats per sample: product of dims; CSV columns - 1 */
    int classes;         /* max label + 1; for text the vocabulary size (the
                            targets are next tokens); 0 when there are no labels;
                            with several label columns, their number */
    int labels;          /* CSV with several label columns (multi-label): their
                            number, 2..HPRT_MAX_LABELS; 0 otherwise */
    int label_columns[HPRT_MAX_LABELS]; /* multi-label: the 0-based file column of label i */
    int vocab;           /* text: distinct bytes; 0 otherwise */
    /* CSV */
    int columns;         /* fields per row */
    int label_column;    /* resolved 0-based label column; -1 for none */
    char **names;        /* header names (columns of them) or NULL without a
                            header; owned, freed by hprt_data_info_free */
    hprt_csv_encoding encoding; /* class names and categories (owned; empty for numeric data) */
    /* text */
    hprt_vocab vocab_map;
} hprt_data_info;

void hprt_data_info_free(hprt_data_info *info);

/* Reads the images file's header only, and the whole labels file (small) for
 * the classes.  labels may be NULL (inference input): classes is then 0.
 * Checks the magic numbers, that the counts agree, and that the labels file
 * is complete; the image data itself is checked by hprt_idx_load. */
hprt_status hprt_idx_probe(const char *images, const char *labels,
                           hprt_data_info *info, hprt_error *err);

/* Which CSV column holds the label: `label = "last" | "first" | N | "name"`. */
typedef enum {
    HPRT_LABEL_LAST = 0,
    HPRT_LABEL_FIRST,
    HPRT_LABEL_INDEX,    /* label_index, 0-based */
    HPRT_LABEL_NAME,     /* label_name, a header column; needs header = true */
    HPRT_LABEL_NONE,     /* every column is a feature (inference input) */
} hprt_label_kind;

/* A column by header name (name != NULL) or by 0-based file column. */
typedef struct {
    const char *name;
    int index;
} hprt_csv_colref;

typedef struct {
    hprt_label_kind label;
    int label_index;
    const char *label_name;
    bool header;         /* the first non-blank line names the columns */
    /* several label columns (multi-label targets, each field 0 or 1): when
     * n_labels > 0 these are the labels and `label` is not used; a row's
     * label is then the bit set sum of 2^i over the columns i holding 1 */
    const hprt_csv_colref *labels;
    int n_labels;
    /* categorical feature columns; used only when encoding is NULL */
    const hprt_csv_colref *categorical;
    int n_categorical;
    const int *categorical_dims; /* per categorical entry: 0 one-hot, D > 0 embedded; NULL: all one-hot */
    const int *categorical_min_counts; /* per categorical entry: embed(..., min_count = M); NULL: none */
    /* the training set's encoding: labels must be among its classes (or
     * numbers when it has none) and its columns are one-hot encoded; NULL:
     * built from this file (class names when a label is not a number) */
    const hprt_csv_encoding *encoding;
} hprt_csv_opts;

/* The language's defaults: label = "last", header = true. */
hprt_csv_opts hprt_csv_defaults(void);

/* Classes inferred from labels: a label is at most HPRT_MAX_CLASSES - 1 (a
 * label of 1000000 is a mistake, not a million classes). */
#define HPRT_MAX_CLASSES 65536

/* Reads the whole file (CSV has no header that gives the row count) and
 * checks it as hprt_csv_load would: columns, header names, the label column,
 * rows and classes; field counts, labels and every feature value (a number),
 * so that `hpc check` refuses what `hpc run` would. */
hprt_status hprt_csv_probe(const char *path, const hprt_csv_opts *opts,
                           hprt_data_info *info, hprt_error *err);

/* Reads every file (the vocabulary needs every byte): n = total bytes,
 * vocab and vocab_map. */
hprt_status hprt_text_probe(const char *const *paths, int npaths,
                            hprt_data_info *info, hprt_error *err);

/* ---- loaded data sets ---------------------------------------------------- */

typedef struct {
    hprt_data_kind kind;
    long n;              /* rows (samples), or tokens for text */
    int features;        /* floats per row */
    int rank;            /* the sample's shape, as in hprt_data_info */
    int dims[3];
    int classes;         /* max label in this set + 1 (text: vocab.size) */
    float *x;            /* n x features, row-major, 64-byte aligned (hprt_alloc) */
    /* Images kept as their bytes (hprt_idx_load_bytes), a quarter of the
     * memory: then x is NULL and feature j of row i is
     *     ((float)x8[i*features + j] * scale - mean[j]) / std[j]
     * with mean/std NULL when not normalised (hprt_data_feature). */
    uint8_t *x8;
    float scale;         /* x8 only: 1 unless scaled */
    const float *mean, *std; /* x8 only: the hprt_norm applied (it must outlive the set) */
    int32_t *y;          /* n labels; NULL when loaded without labels; with
                            `labels` > 0 each is a bit set: bit i is label i's 0/1 */
    int labels;          /* multi-label (several CSV label columns): their number; 0 otherwise */
    /* text */
    uint8_t *tokens;     /* n token ids (< vocab.size), 64-byte aligned */
    int seq;             /* the window length text() was given */
    hprt_vocab vocab;
    /* where the rows came from, for messages that name a record */
    char *source;        /* images / CSV path / text paths joined by ", " */
    char *label_source;  /* IDX labels path; NULL otherwise */
    long first_record;   /* record number (IDX) or token offset (text) of row 0
                            in the source: non-zero for the part a split cut off */
    long *line;          /* CSV: the 1-based line of each row; NULL otherwise */
} hprt_dataset;

/* Loads both files completely: n x (rows*cols) floats holding the raw byte
 * values 0..255 (apply hprt_data_scale for `scale = 1/255`).  labels may be
 * NULL (then y is NULL).  On failure *ds is left empty (nothing to free). */
hprt_status hprt_idx_load(const char *images, const char *labels,
                          hprt_dataset *ds, hprt_error *err);

/* Loads a CSV file: finite numbers in every feature field; the label field a
 * non-negative integer (written "3" or "3.0").  Accepts a UTF-8 byte-order
 * mark, CRLF line ends, blank lines (skipped), spaces around fields and
 * double-quoted fields ("" is a quote).  A quoted field may not span lines.
 * The file may be gzip-compressed.  Numbers are parsed with strtod, so the
 * "C" LC_NUMERIC locale (libhprt never changes it) is assumed. */
hprt_status hprt_csv_load(const char *path, const hprt_csv_opts *opts,
                          hprt_dataset *ds, hprt_error *err);

/* Loads the bytes of every file in order as token ids.  With vocab == NULL
 * the vocabulary is built from these files (a training set); otherwise the
 * given one is used (a test set read with the training set's vocabulary) and
 * a byte outside it is an error that names the file and offset.  Every file
 * must be non-empty.  seq is recorded for the caller. */
hprt_status hprt_text_load(const char *const *paths, int npaths, int seq,
                           const hprt_vocab *vocab, hprt_dataset *ds,
                           hprt_error *err);

/* hprt_idx_load, keeping the image bytes in x8 instead of converting them to
 * floats (scale and normalize are then applied as rows are gathered). */
hprt_status hprt_idx_load_bytes(const char *images, const char *labels,
                                hprt_dataset *ds, hprt_error *err);

/* Feature j of row i, whether stored as floats or bytes. */
static inline float hprt_data_feature(const hprt_dataset *ds, long i, int j)
{
    if (ds->x)
        return ds->x[(size_t)i * (size_t)ds->features + (size_t)j];
    float v = (float)ds->x8[(size_t)i * (size_t)ds->features + (size_t)j] * ds->scale;
    return ds->mean ? (v - ds->mean[j]) / ds->std[j] : v;
}

/* Frees every buffer and zeroes *ds; safe on a zeroed or freed dataset. */
void hprt_dataset_free(hprt_dataset *ds);

/* ---- operations ---------------------------------------------------------- */

/* split(train, fraction): the LAST rows (tokens, for text) become valid, cut
 * before any shuffling.  train keeps floor(n * (1 - fraction)) rows, as
 * Keras's validation_split does (60000, 0.1 -> 54000 + 6000); its buffers
 * are kept (not shrunk).  valid gets copies of the rest, its own buffers,
 * and first_record set so that errors still name the right record.
 * 0 < fraction < 1 and both parts non-empty, or HPRT_E_DATA. */
hprt_status hprt_data_split(hprt_dataset *train, double fraction,
                            hprt_dataset *valid, hprt_error *err);

/* Multiplies every feature by factor (`scale = 1/255`). */
void hprt_data_scale(hprt_dataset *ds, float factor);
/* The same, leaving the n_keep features at positions keep[] as they are (the
 * ids of embedded categorical columns). */
void hprt_data_scale_except(hprt_dataset *ds, float factor, const int *keep, int n_keep);

/* `normalize = standard`: per-feature mean and (population) standard
 * deviation from the training set only, applied as (x - mean) / std to
 * train, valid and test alike.  A constant feature (std 0, or below float
 * round-off of its mean) gets std 1, so it becomes 0 rather than NaN.
 * The statistics are kept so they can be saved with the weights and applied
 * again at inference. */
typedef struct {
    int features;
    float *mean;         /* features entries, then std's: one block of 2 x features
                          * floats, as checkpoints save it */
    float *std;          /* features entries (mean + features), never 0 */
} hprt_norm;

hprt_status hprt_norm_fit(hprt_norm *nm, const hprt_dataset *train,
                          hprt_error *err);
/* Fails only when ds does not have nm->features features per row. */
hprt_status hprt_norm_apply(const hprt_norm *nm, hprt_dataset *ds,
                            hprt_error *err);
/* After hprt_norm_fit: the features at positions keep[] get mean 0 and std 1,
 * so hprt_norm_apply leaves them as they are (embedded columns' ids). */
void hprt_norm_keep(hprt_norm *nm, const int *keep, int n_keep);
void hprt_norm_free(hprt_norm *nm);

/* Every label within 0..classes-1, or HPRT_E_DATA naming the file and the
 * record (the CSV line).  A dataset without labels passes.  A multi-label
 * set (ds->labels > 0) must have labels == classes label columns. */
hprt_status hprt_data_check_labels(const hprt_dataset *ds, int classes,
                                   hprt_error *err);

/* The order in which an epoch visits the rows.  Each epoch starts again from
 * the identity and shuffles it with the caller's generator, so the order of
 * an epoch depends only on the generator's state at its start (which
 * checkpoints save) and not on earlier epochs. */
typedef struct {
    uint32_t *idx;       /* n entries, a permutation of 0..n-1 */
    uint32_t n;
    bool shuffle;
} hprt_order;

hprt_status hprt_order_init(hprt_order *o, long n, bool shuffle,
                            hprt_error *err);
/* Sets the order for the next epoch; with shuffle == false it stays the
 * identity and rng is not touched (it may then be NULL). */
void hprt_order_next_epoch(hprt_order *o, hprt_rng *rng);
void hprt_order_free(hprt_order *o);

/* Minibatches per epoch, counting the last partial one: ceil(n / batch). */
long hprt_data_batches(long n, int batch);

/* Gathers rows order[start .. start+batch) (or start.. itself when order is
 * NULL) into the caller's buffers: x holds batch*features floats, y batch
 * labels (y may be NULL; it is left alone when ds has no labels).  Returns
 * the rows gathered: batch, fewer for the last partial batch, 0 when
 * start >= n.  Allocates nothing. */
long hprt_data_gather(const hprt_dataset *ds, const uint32_t *order,
                      long start, int batch, float *x, int32_t *y);

/* ---- token streams (char-RNN batching) -----------------------------------
 *
 * The n tokens are cut into `batch` contiguous streams of
 * stream_len = floor(n / batch) tokens; the last n % batch tokens are unused.
 * Stream b holds tokens[b*stream_len .. (b+1)*stream_len).  Window w covers
 * positions p = w*seq .. p+T of every stream, with inputs stream[p+t] and
 * targets stream[p+t+1]:
 *
 *     stream b:  t0 t1 t2 ... | window 0: x = t0..t63, y = t1..t64 | window 1: x = t64..
 *
 * so the hidden state at the end of window w is the right state at the start
 * of window w+1 (truncated BPTT with state carried, as the PyTorch peer
 * does).  Full windows need p + seq + 1 <= stream_len; the last window may
 * be shorter (T < seq), which evaluation uses and training may skip. */
typedef struct {
    int batch;           /* streams */
    int seq;             /* window length */
    long stream_len;     /* tokens per stream */
    long windows;        /* ceil((stream_len - 1) / seq), the last maybe partial */
    long full_windows;   /* floor((stream_len - 1) / seq) */
} hprt_text_layout;

/* Fails (naming the source) when a stream would have fewer than seq + 1
 * tokens, i.e. when there is not one full window. */
hprt_status hprt_text_layout_init(hprt_text_layout *l, const hprt_dataset *ds,
                                  int batch, int seq, hprt_error *err);

/* How window buffers are laid out. */
typedef enum {
    HPRT_SEQ_BATCH_MAJOR = 0,  /* x[b*T + t]: PyTorch batch_first */
    HPRT_SEQ_TIME_MAJOR,       /* x[t*batch + b]: one row of batch ids per step */
} hprt_seq_layout;

/* Fills x and y (each at least batch*seq int32) with window w and returns T,
 * its number of time steps (seq, or fewer for the last window); 0 when w is
 * out of range.  Rows are T long, not seq, in either layout. */
int hprt_text_window(const hprt_dataset *ds, const hprt_text_layout *l, long w,
                     hprt_seq_layout layout, int32_t *x, int32_t *y);

#endif
