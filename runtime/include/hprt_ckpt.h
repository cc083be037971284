/* hprt_ckpt.h - checkpoints (.hpw): everything a run needs to continue
 * bit-identically.  The format, field by field, is in docs/internals.md. */
#ifndef HPRT_CKPT_H
#define HPRT_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hprt_base.h"
#include "hprt_optim.h"
#include "hprt_rng.h"
#include "hprt_sched.h"
#include "hprt_step.h"

#define HPRT_CKPT_VERSION 4 /* 2: the carried recurrent state; 3: the input statistics; 4: the CSV encoding;
                                    versions 1 to 3 are read too */

/* The driver's state between two steps (what hprt_train needs to resume). */
typedef struct {
    int64_t step;             /* updates done */
    int32_t epoch;            /* the epoch in progress, from 0 */
    int64_t pos;              /* steps done within it */
    hprt_rng rng;             /* the order generator, after this epoch's draw */
    uint32_t *order;          /* this epoch's sample order (n_order entries; owned) */
    int64_t n_order;
    double loss_sum;          /* the epoch's training loss so far (sum over rows) */
    int64_t loss_rows;
    int64_t samples;          /* samples trained on in the run */
    double train_seconds;
    int32_t batch;            /* the batch size in force */
    double last_lr;
    double dropout_inc;       /* adaptive dropout's raise so far */
    int32_t n_dropout;
    float dropout_p[HPRT_MAX_DROPOUT];
    hprt_stopper stopper;
    hprt_plateau plateau;
    hprt_dropout_policy dropout;
    int32_t epochs_done;      /* epochs completed */
    int32_t has_valid;
    double val_loss, val_accuracy; /* of the last completed epoch */
    double train_loss;             /* of the last completed epoch */
    int32_t has_best;         /* best.hpw holds the best weights so far */
    int64_t metrics_bytes, steps_bytes, events_bytes; /* the run files' lengths at this point */
    int32_t threads;
    float *carry;             /* the carried state between steps (n_carry floats; owned) */
    int64_t n_carry;
    float *norm;              /* normalize = standard: the training split's per-feature mean, then std
                               * (n_norm = 2 x features floats; owned; 0 without normalisation) */
    int64_t n_norm;
    char *encoding;           /* a CSV's class names and categories (hprt_csv_encoding_save's text,
                               * n_encoding bytes; owned; 0 for numeric data) */
    int64_t n_encoding;
} hprt_train_state;

void hprt_train_state_free(hprt_train_state *s);

/* What a checkpoint says it belongs to: a hash of the Plan's shapes and a
 * description for messages ("784 -> 256 -> 256 -> 10, 269322 parameters, adam"). */
typedef struct hprt_ckpt_id_s {
    uint64_t plan_hash;
    const char *desc;
} hprt_ckpt_id;

/* Writes path atomically: a temporary file in the same directory, fsync,
 * rename over path, fsync of the directory.  On failure path is untouched. */
hprt_status hprt_ckpt_write(const char *path, const hprt_ckpt_id *id, const float *params, size_t n_params,
                            const hprt_optim_state *opt, const hprt_train_state *st, hprt_error *err);

/* Reads path: checks the magic number, the version, the CRC-32 and that it
 * belongs to id; then fills params (n_params), the optimizer state (opt may be
 * NULL: skipped) and st (may be NULL).  Every refusal names the file and what
 * is wrong. */
hprt_status hprt_ckpt_read(const char *path, const hprt_ckpt_id *id, float *params, size_t n_params,
                           hprt_optim_state *opt, hprt_train_state *st, hprt_error *err);

#endif
