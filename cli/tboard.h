/* tboard.h - TensorBoard event files, written by hand: TFRecord framing
 * (length, masked CRC32C of the length, data, masked CRC32C of the data)
 * around `Event` protocol buffers (tensorflow/core/util/event.proto and
 * framework/summary.proto), encoded here without a protobuf library. */
#ifndef HPC_TBOARD_H
#define HPC_TBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hprt_train.h"

typedef struct tb_writer tb_writer;

/* Creates dir (and its parents) and dir/events.out.tfevents.<time>.<host>
 * (".2", ".3"... when that exists), and writes the file_version event.
 * NULL with the reason in err. */
tb_writer *tb_open(const char *dir, char *err, size_t n);
/* The file's path (for messages). */
const char *tb_path(const tb_writer *w);
/* One Event at `step` holding n scalars (simple_value) tagged tags[i];
 * non-finite values are skipped.  Errors are kept for tb_close. */
void tb_scalars(tb_writer *w, long step, const char *const *tags, const double *values, int n);
/* An epoch's scalars at its last step, as metrics.csv's columns:
 * epoch/epoch, epoch/lr, epoch/batch, epoch/train_loss, epoch/val_loss,
 * epoch/val_accuracy, epoch/seconds, epoch/samples_per_second. */
void tb_epoch(tb_writer *w, const hprt_epoch_report *r);
/* A text summary (the text plugin: a string tensor). */
void tb_text(tb_writer *w, long step, const char *tag, const char *text);
/* ---- the hparams plugin (tensorboard/plugins/hparams: api.proto,
 * plugin_data.proto; google.protobuf.Value for values) ---- */

/* A hyperparameter's description: numbers over [lo, hi] (n_values = 0), or
 * a set of values (numbers when `numeric`, else strings, as text). */
typedef struct {
    const char *name;
    bool numeric;
    const char *const *values;
    int n_values;
    double lo, hi;
} tb_hparam;

/* A hyperparameter's value in one session: a number, or a string. */
typedef struct {
    const char *name;
    bool numeric;
    double number;
    const char *text;
} tb_hvalue;

typedef enum { TB_STATUS_UNKNOWN = 0, TB_STATUS_SUCCESS, TB_STATUS_FAILURE, TB_STATUS_RUNNING } tb_status;

/* The experiment: its hyperparameters and the metrics (scalar tags of the
 * sessions' runs) the HParams tab shows; training metrics are those whose
 * tag holds "train". */
void tb_hparams_experiment(tb_writer *w, const char *description, const tb_hparam *hp, int n_hp,
                           const char *const *metrics, int n_metrics);
/* One session (a run directory of its own): its values when it starts, its
 * status when it ends. */
void tb_hparams_session_start(tb_writer *w, const char *group, const tb_hvalue *v, int n, double start_time);
void tb_hparams_session_end(tb_writer *w, tb_status status, double end_time);
/* The wall clock TensorBoard's events carry, in seconds since 1970. */
double tb_wall_time(void);

/* Flushes what is written so far (TensorBoard reads the file as it grows). */
void tb_flush(tb_writer *w);
/* Closes and frees w (NULL is fine): 0, or -1 when a write failed (errno set). */
int tb_close(tb_writer *w);

/* CRC32C (Castagnoli), and TFRecord's mask of it; for the tests too. */
uint32_t tb_crc32c(const void *data, size_t n);
uint32_t tb_masked_crc(const void *data, size_t n);

#endif
