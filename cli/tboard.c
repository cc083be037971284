/* tboard.c - TensorBoard event files (see tboard.h).
 *
 * Messages and fields written (proto3, tensorflow/core/util/event.proto,
 * tensorflow/core/framework/summary.proto, tensor.proto):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; TensorProto tensor = 8; SummaryMetadata metadata = 9; }
 *   SummaryMetadata { PluginData plugin_data = 1; }   PluginData { string plugin_name = 1; }
 *   TensorProto { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }
 * A record on disk: u64 length (little-endian), u32 masked CRC32C of those 8
 * bytes, the data, u32 masked CRC32C of the data. */
#include "tboard.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

struct tb_writer {
    FILE *f;
    bool failed;
    int saved_errno;
    char path[4352];
};

/* ---- CRC32C ---- */

uint32_t tb_crc32c(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

uint32_t tb_masked_crc(const void *data, size_t n)
{
    uint32_t crc = tb_crc32c(data, n);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- a protobuf writer: a growing byte buffer ---- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
    bool oom;
} pb;

static void pb_bytes(pb *p, const void *data, size_t n)
{
    if (p->oom || n == 0)
        return;
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < p->n + n)
            cap *= 2;
        unsigned char *nb = realloc(p->b, cap);
        if (!nb) {
            p->oom = true;
            return;
        }
        p->b = nb;
        p->cap = cap;
    }
    memcpy(p->b + p->n, data, n);
    p->n += n;
}

static void pb_varint(pb *p, uint64_t v)
{
    unsigned char buf[10];
    int n = 0;
    do {
        buf[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            buf[n] |= 0x80;
        n++;
    } while (v);
    pb_bytes(p, buf, (size_t)n);
}

static void pb_key(pb *p, int field, int wire) { pb_varint(p, (uint64_t)field << 3 | (uint64_t)wire); }

static void pb_le(pb *p, uint64_t v, int bytes)
{
    unsigned char buf[8];
    for (int i = 0; i < bytes; i++)
        buf[i] = (unsigned char)(v >> (8 * i));
    pb_bytes(p, buf, (size_t)bytes);
}

static void pb_double(pb *p, int field, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    pb_key(p, field, 1);
    pb_le(p, u, 8);
}

static void pb_float(pb *p, int field, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    pb_key(p, field, 5);
    pb_le(p, u, 4);
}

static void pb_int(pb *p, int field, int64_t v)
{
    pb_key(p, field, 0);
    pb_varint(p, (uint64_t)v);
}

static void pb_len(pb *p, int field, const void *data, size_t n)
{
    pb_key(p, field, 2);
    pb_varint(p, n);
    pb_bytes(p, data, n);
}

static void pb_str(pb *p, int field, const char *s) { pb_len(p, field, s, strlen(s)); }

/* An embedded message: its bytes, then freed. */
static void pb_msg(pb *p, int field, pb *inner)
{
    if (inner->oom)
        p->oom = true;
    else
        pb_len(p, field, inner->b, inner->n);
    free(inner->b);
    *inner = (pb){0};
}

/* ---- records ---- */

static void fail(tb_writer *w, int e)
{
    if (!w->failed) {
        w->failed = true;
        w->saved_errno = e;
    }
}

static void record(tb_writer *w, pb *event)
{
    if (event->oom) {
        fail(w, ENOMEM);
    } else if (!w->failed) {
        unsigned char head[12];
        for (int i = 0; i < 8; i++)
            head[i] = (unsigned char)((uint64_t)event->n >> (8 * i));
        uint32_t c = tb_masked_crc(head, 8), d = tb_masked_crc(event->b, event->n);
        for (int i = 0; i < 4; i++)
            head[8 + i] = (unsigned char)(c >> (8 * i));
        unsigned char tail[4];
        for (int i = 0; i < 4; i++)
            tail[i] = (unsigned char)(d >> (8 * i));
        if (fwrite(head, 1, 12, w->f) != 12 || fwrite(event->b, 1, event->n, w->f) != event->n ||
            fwrite(tail, 1, 4, w->f) != 4)
            fail(w, errno ? errno : EIO);
    }
    free(event->b);
    *event = (pb){0};
}

double tb_wall_time(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* An Event's head: wall_time and step. */
static void event_head(pb *ev, long step)
{
    pb_double(ev, 1, tb_wall_time());
    pb_int(ev, 2, step);
}


tb_writer *tb_open(const char *dir, char *err, size_t n)
{
    if (cli_make_dirs(dir) != 0) {
        snprintf(err, n, "%s: cannot create the directory: %s", dir, strerror(errno));
        return NULL;
    }
    tb_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *h = host; *h; h++)
        if (*h == '/')
            *h = '_';
    long now = (long)tb_wall_time();
    int fd = -1;
    for (int k = 1; k < 100 && fd < 0; k++) {
        if (k == 1)
            snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s", dir, now, host);
        else
            snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s.%d", dir, now, host, k);
        fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
        snprintf(err, n, "%s: cannot create: %s", w->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(w);
        return NULL;
    }
    pb ev = {0};
    event_head(&ev, 0);
    pb_str(&ev, 3, "brain.Event:2");
    record(w, &ev);
    tb_flush(w);
    return w;
}

const char *tb_path(const tb_writer *w) { return w->path; }

void tb_scalars(tb_writer *w, long step, const char *const *tags, const double *values, int n)
{
    pb summary = {0};
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i]))
            continue;
        pb value = {0};
        pb_str(&value, 1, tags[i]);
        pb_float(&value, 2, (float)values[i]);
        pb_msg(&summary, 1, &value);
        kept++;
    }
    if (!kept) {
        free(summary.b);
        return;
    }
    pb ev = {0};
    event_head(&ev, step);
    pb_msg(&ev, 5, &summary);
    record(w, &ev);
}

void tb_epoch(tb_writer *w, const hprt_epoch_report *r)
{
    static const char *const tags[8] = {"epoch/epoch", "epoch/lr", "epoch/batch", "epoch/train_loss",
                                        "epoch/val_loss", "epoch/val_accuracy", "epoch/seconds",
                                        "epoch/samples_per_second"};
    double v[8] = {r->epoch, r->lr, r->batch, r->train_loss, r->has_valid ? r->val_loss : NAN,
                   r->has_valid ? r->val_accuracy : NAN, r->seconds, r->samples_per_second};
    tb_scalars(w, r->step, tags, v, 8);
}

void tb_text(tb_writer *w, long step, const char *tag, const char *text)
{
    pb plugin = {0}, meta = {0}, shape = {0}, tensor = {0}, value = {0}, summary = {0}, ev = {0};
    pb_str(&plugin, 1, "text");
    pb_msg(&meta, 1, &plugin);
    pb_int(&tensor, 1, 7); /* DT_STRING */
    pb_msg(&tensor, 2, &shape); /* a scalar: no dimensions */
    pb_str(&tensor, 8, text);
    pb_str(&value, 1, tag);
    pb_msg(&value, 9, &meta);
    pb_msg(&value, 8, &tensor);
    pb_msg(&summary, 1, &value);
    event_head(&ev, step);
    pb_msg(&ev, 5, &summary);
    record(w, &ev);
}

/* ---- the hparams plugin ----
 *   HParamsPluginData { int32 version = 1; oneof { Experiment experiment = 2;
 *                       SessionStartInfo session_start_info = 3; SessionEndInfo session_end_info = 4; } }
 *   Experiment { string description = 1; double time_created_secs = 3;
 *                repeated HParamInfo hparam_infos = 4; repeated MetricInfo metric_infos = 5; }
 *   HParamInfo { string name = 1; DataType type = 4 (STRING = 1, FLOAT64 = 3);
 *                oneof { ListValue domain_discrete = 5; Interval domain_interval = 6; } }
 *   Interval { double min_value = 1; double max_value = 2; }
 *   MetricInfo { MetricName name = 1 { string group = 1; string tag = 2; }; DatasetType dataset_type = 5
 *                (TRAINING = 1, VALIDATION = 2); }
 *   SessionStartInfo { map<string, Value> hparams = 1; string group_name = 4; double start_time_secs = 5; }
 *   SessionEndInfo { Status status = 1; double end_time_secs = 2; }
 *   Value { double number_value = 2; string string_value = 3; }   ListValue { repeated Value values = 1; }
 * Each goes in a Summary value tagged `_hparams_/...` whose metadata names
 * the plugin with the message as content, and whose tensor is the plugin's
 * "null tensor" (an empty DT_FLOAT vector). */

static void pb_value_number(pb *p, int field, double v)
{
    pb value = {0};
    pb_double(&value, 2, v);
    pb_msg(p, field, &value);
}

static void pb_value_string(pb *p, int field, const char *s)
{
    pb value = {0};
    pb_str(&value, 3, s);
    pb_msg(p, field, &value);
}

/* An Event at step 0 holding one hparams summary: tag, and the plugin data's bytes. */
static void hparams_event(tb_writer *w, const char *tag, pb *data)
{
    pb plugin = {0}, meta = {0}, dim = {0}, shape = {0}, tensor = {0}, value = {0}, summary = {0}, ev = {0};
    pb_str(&plugin, 1, "hparams");
    pb_msg(&plugin, 2, data);
    pb_msg(&meta, 1, &plugin);
    pb_int(&tensor, 1, 1);      /* DT_FLOAT */
    pb_msg(&shape, 2, &dim);    /* one dimension of size 0 */
    pb_msg(&tensor, 2, &shape);
    pb_str(&value, 1, tag);
    pb_msg(&value, 9, &meta);
    pb_msg(&value, 8, &tensor);
    pb_msg(&summary, 1, &value);
    event_head(&ev, 0);
    pb_msg(&ev, 5, &summary);
    record(w, &ev);
}

void tb_hparams_experiment(tb_writer *w, const char *description, const tb_hparam *hp, int n_hp,
                           const char *const *metrics, int n_metrics)
{
    pb exp = {0}, data = {0};
    if (description && *description)
        pb_str(&exp, 1, description);
    pb_double(&exp, 3, tb_wall_time());
    for (int i = 0; i < n_hp; i++) {
        pb info = {0}, dom = {0};
        pb_str(&info, 1, hp[i].name);
        pb_int(&info, 4, hp[i].numeric ? 3 : 1);
        if (hp[i].n_values > 0) {
            for (int k = 0; k < hp[i].n_values; k++)
                if (hp[i].numeric)
                    pb_value_number(&dom, 1, strtod(hp[i].values[k], NULL));
                else
                    pb_value_string(&dom, 1, hp[i].values[k]);
            pb_msg(&info, 5, &dom);
        } else {
            pb_double(&dom, 1, hp[i].lo);
            pb_double(&dom, 2, hp[i].hi);
            pb_msg(&info, 6, &dom);
        }
        pb_msg(&exp, 4, &info);
    }
    for (int i = 0; i < n_metrics; i++) {
        pb info = {0}, name = {0};
        pb_str(&name, 2, metrics[i]);
        pb_msg(&info, 1, &name);
        pb_int(&info, 5, strstr(metrics[i], "train") ? 1 : 2);
        pb_msg(&exp, 5, &info);
    }
    pb_msg(&data, 2, &exp);
    hparams_event(w, "_hparams_/experiment", &data);
}

void tb_hparams_session_start(tb_writer *w, const char *group, const tb_hvalue *v, int n, double start_time)
{
    pb start = {0}, data = {0};
    for (int i = 0; i < n; i++) {
        pb entry = {0};
        pb_str(&entry, 1, v[i].name);
        if (v[i].numeric)
            pb_value_number(&entry, 2, v[i].number);
        else
            pb_value_string(&entry, 2, v[i].text);
        pb_msg(&start, 1, &entry);
    }
    if (group && *group)
        pb_str(&start, 4, group);
    pb_double(&start, 5, start_time);
    pb_msg(&data, 3, &start);
    hparams_event(w, "_hparams_/session_start_info", &data);
}

void tb_hparams_session_end(tb_writer *w, tb_status status, double end_time)
{
    pb end = {0}, data = {0};
    pb_int(&end, 1, (int64_t)status);
    pb_double(&end, 2, end_time);
    pb_msg(&data, 4, &end);
    hparams_event(w, "_hparams_/session_end_info", &data);
}

void tb_flush(tb_writer *w)
{
    if (w && !w->failed && fflush(w->f) != 0)
        fail(w, errno);
}

int tb_close(tb_writer *w)
{
    if (!w)
        return 0;
    tb_flush(w);
    if (fclose(w->f) != 0)
        fail(w, errno);
    int failed = w->failed, e = w->saved_errno;
    free(w);
    if (failed) {
        errno = e;
        return -1;
    }
    return 0;
}
