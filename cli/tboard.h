/* tboard.h - TensorBoard event files, written by hand: TFRecord framing
 * (length, masked CRC32C of the length, data, masked CRC32C of the data)
 * around `Event` protocol buffers (tensorflow/core/util/event.proto and
 * framework/summary.proto), encoded here without a protobuf library. */
#ifndef HPC_TBOARD_H
#define HPC_TBOARD_H

#include <stddef.h>
#include <stdint.h>

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
/* A text summary (the text plugin: a string tensor). */
void tb_text(tb_writer *w, long step, const char *tag, const char *text);
/* Flushes what is written so far (TensorBoard reads the file as it grows). */
void tb_flush(tb_writer *w);
/* Closes and frees w (NULL is fine): 0, or -1 when a write failed (errno set). */
int tb_close(tb_writer *w);

/* CRC32C (Castagnoli), and TFRecord's mask of it; for the tests too. */
uint32_t tb_crc32c(const void *data, size_t n);
uint32_t tb_masked_crc(const void *data, size_t n);

#endif
