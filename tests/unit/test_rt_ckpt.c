/* test_rt_ckpt.c - checkpoints (.hpw): every format version read back, and
 * the damaged files the fuzzer (tests/fuzz/fuzz_ckpt.c) found or may find
 * refused with a message instead of a crash. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hprt_ckpt.h"

enum { NP = 6 };

typedef struct {
    char *dir;
    char path[4200];
    hprt_optimizer o;
    hprt_optim_state *opt;
    float params[NP];
    uint32_t order[5];
    float carry[3], norm[4];
    hprt_train_state st;
    hprt_ckpt_id id;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/last.hpw", f->dir);
    f->o = (hprt_optimizer){.kind = HPRT_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    f->opt = hprt_optim_state_new(&f->o, NP);
    assert_non_null(f->opt);
    for (int i = 0; i < NP; i++) {
        f->params[i] = 0.5f * (float)i - 1;
        f->opt->m[i] = (float)i;
        f->opt->v[i] = 2.0f * (float)i;
    }
    const uint32_t order[5] = {4, 2, 0, 1, 3};
    const float carry[3] = {0.25f, -0.5f, 1}, norm[4] = {0.5f, 1.5f, 1, 2};
    memcpy(f->order, order, sizeof order);
    memcpy(f->carry, carry, sizeof carry);
    memcpy(f->norm, norm, sizeof norm);
    f->st.step = 7;
    f->st.epoch = 1;
    f->st.pos = 2;
    f->st.batch = 2;
    f->st.samples = 14;
    f->st.loss_sum = 3.5;
    f->st.stopper.best_epoch = -1;
    f->st.order = f->order;
    f->st.n_order = 5;
    f->st.carry = f->carry;
    f->st.n_carry = 3;
    f->st.norm = f->norm;
    f->st.n_norm = 4;
    f->st.threads = 1;
    f->id = (hprt_ckpt_id){0x1234abcdULL, "2 -> 3 -> 2, 6 parameters, adam"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hprt_optim_state_free(f->opt);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void write_ckpt(fixture *f)
{
    hprt_error err = {0};
    hprt_status s = hprt_ckpt_write(f->path, &f->id, f->params, NP, f->opt, &f->st, &err);
    if (s != HPRT_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(s, HPRT_OK);
}

/* Rewrites the file as version `version`, its last `drop` bytes before the
 * CRC removed (and `cut` more bytes after that, CRC and all), the CRC redone. */
static void rewrite(fixture *f, uint32_t version, size_t drop, size_t cut)
{
    size_t n;
    unsigned char *p = (unsigned char *)tu_read_file(f->path, &n);
    assert_non_null(p);
    assert_true(n > 4 + drop + cut);
    size_t m = n - 4 - drop - cut;
    memcpy(p + 4, &version, 4);
    uint32_t crc = (uint32_t)crc32(0L, p, (uInt)m);
    memcpy(p + m, &crc, 4);
    tu_write_file(f->path, p, m + 4);
    free(p);
}

static hprt_status read_ckpt(fixture *f, hprt_optim_state *opt, hprt_train_state *st, hprt_error *err)
{
    float params[NP] = {0};
    hprt_status s = hprt_ckpt_read(f->path, &f->id, params, NP, opt, st, err);
    if (s == HPRT_OK)
        assert_memory_equal(params, f->params, sizeof params);
    return s;
}

static void assert_state(const hprt_train_state *a, const hprt_train_state *b, bool carry, bool norm)
{
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->epoch, b->epoch);
    assert_int_equal(a->pos, b->pos);
    assert_int_equal(a->batch, b->batch);
    assert_int_equal(a->samples, b->samples);
    assert_true(a->loss_sum == b->loss_sum);
    assert_int_equal(a->n_order, b->n_order);
    assert_memory_equal(a->order, b->order, sizeof(uint32_t) * (size_t)b->n_order);
    assert_int_equal(a->n_carry, carry ? b->n_carry : 0);
    if (carry)
        assert_memory_equal(a->carry, b->carry, sizeof(float) * (size_t)b->n_carry);
    assert_int_equal(a->n_norm, norm ? b->n_norm : 0);
    if (norm)
        assert_memory_equal(a->norm, b->norm, sizeof(float) * (size_t)b->n_norm);
}

static void test_versions(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    hprt_train_state st;
    hprt_optim_state *opt = hprt_optim_state_new(&f->o, NP);
    assert_non_null(opt);
    /* version 4: everything, the CSV encoding too */
    static char enc[] = "classes 2\ncat\ndog\n";
    f->st.encoding = enc;
    f->st.n_encoding = (int64_t)strlen(enc);
    write_ckpt(f);
    assert_int_equal(read_ckpt(f, opt, &st, &err), HPRT_OK);
    assert_state(&st, &f->st, true, true);
    assert_int_equal(st.n_encoding, f->st.n_encoding);
    assert_memory_equal(st.encoding, enc, strlen(enc));
    assert_memory_equal(opt->m, f->opt->m, sizeof(float) * NP);
    assert_memory_equal(opt->v, f->opt->v, sizeof(float) * NP);
    hprt_train_state_free(&st);
    /* version 3: no encoding (a v4 file without it, less its count) */
    f->st.encoding = NULL;
    f->st.n_encoding = 0;
    write_ckpt(f);
    rewrite(f, 3, 8, 0);
    assert_int_equal(read_ckpt(f, opt, &st, &err), HPRT_OK);
    assert_state(&st, &f->st, true, true);
    assert_null(st.encoding);
    hprt_train_state_free(&st);
    /* version 2: no statistics (a v3 file without them, less their count) */
    f->st.n_norm = 0;
    write_ckpt(f);
    rewrite(f, 2, 16, 0);
    assert_int_equal(read_ckpt(f, opt, &st, &err), HPRT_OK);
    assert_state(&st, &f->st, true, false);
    hprt_train_state_free(&st);
    /* version 1: no carried state either */
    f->st.n_carry = 0;
    write_ckpt(f);
    rewrite(f, 1, 24, 0);
    assert_int_equal(read_ckpt(f, NULL, &st, &err), HPRT_OK);
    assert_state(&st, &f->st, false, false);
    hprt_train_state_free(&st);
    /* a version this hpc does not know */
    write_ckpt(f);
    rewrite(f, 5, 0, 0);
    assert_int_equal(read_ckpt(f, opt, &st, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "format version 5"));
    hprt_optim_state_free(opt);
}

/* Found by fuzz_ckpt: optimizer arrays the file has but the reader does not
 * want were skipped without a bound, so a file that ends inside one (with a
 * good CRC) sent the reader past the end of its buffer.  The arrays here are
 * larger than the reader's spare room (it reads into a buffer that doubles
 * from 1 MiB), so the old code read outside the allocation (AddressSanitizer
 * reports it in the sanitizer build). */
static void test_skipped_arrays_past_the_end(void **state)
{
    fixture *f = *state;
    enum { BIG = 400000 };
    float *params = calloc(BIG, sizeof(float));
    assert_non_null(params);
    hprt_optim_state *opt = hprt_optim_state_new(&f->o, BIG);
    assert_non_null(opt);
    hprt_error err = {0};
    f->st.n_order = 0;
    assert_int_equal(hprt_ckpt_write(f->path, &f->id, params, BIG, opt, &f->st, &err), HPRT_OK);
    size_t n;
    char *p = tu_read_file(f->path, &n);
    assert_non_null(p);
    free(p);
    /* the file ends 8 bytes after the first array's "present" byte (m is
     * the second array; buf, absent, is the first): "HPWC", version, hash,
     * description, n, params, kind, buf absent, m present, 8 bytes */
    size_t keep = 4 + 4 + 8 + 4 + strlen(f->id.desc) + 8 + 4 * (size_t)BIG + 4 + 1 + 1 + 8;
    rewrite(f, 3, 0, n - 4 - keep);
    hprt_optim_state none = {.kind = HPRT_OPT_ADAM}; /* a model that does not want the optimizer state */
    hprt_train_state st;
    assert_int_equal(hprt_ckpt_read(f->path, &f->id, params, BIG, &none, &st, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "do not match its format"));
    assert_int_equal(hprt_ckpt_read(f->path, &f->id, params, BIG, NULL, &st, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "do not match its format"));
    hprt_optim_state_free(opt);
    free(params);
}

/* Every prefix of a good file, CRC redone, is refused cleanly. */
static void test_every_truncation(void **state)
{
    fixture *f = *state;
    hprt_optim_state *opt = hprt_optim_state_new(&f->o, NP);
    assert_non_null(opt);
    write_ckpt(f);
    size_t n;
    unsigned char *good = (unsigned char *)tu_read_file(f->path, &n);
    assert_non_null(good);
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t m = 0; m + 4 < n; m++) {
        memcpy(p, good, m);
        uint32_t crc = (uint32_t)crc32(0L, p, (uInt)m);
        memcpy(p + m, &crc, 4);
        tu_write_file(f->path, p, m + 4);
        hprt_error err = {0};
        hprt_train_state st;
        hprt_optim_state *want[2] = {opt, NULL};
        for (int k = 0; k < 2; k++)
            assert_int_equal(read_ckpt(f, want[k], &st, &err), HPRT_E_RUN);
    }
    free(p);
    free(good);
    hprt_optim_state_free(opt);
}

/* A good CRC over impossible values (a negative position in the epoch's
 * order, a stop rule's ring buffer count beyond its size, a dropout rate
 * of NaN): the driver would index outside its arrays with them, so the
 * reader refuses the file. */
static void test_impossible_state(void **state)
{
    fixture *f = *state;
    hprt_train_state good = f->st;
    for (int k = 0; k < 6; k++) {
        f->st = good;
        switch (k) {
        case 0: f->st.pos = -3; break;
        case 1: f->st.epoch = -1; break;
        case 2: f->st.stopper.n_recent = HPRT_STOP_MAX_WINDOW + 1; break;
        case 3: f->st.stopper.epoch = -5; break;
        case 4: f->st.dropout_p[1] = NAN; break;
        default: f->st.n_dropout = HPRT_MAX_DROPOUT + 1; break;
        }
        write_ckpt(f);
        hprt_error err = {0};
        hprt_train_state st;
        assert_int_equal(read_ckpt(f, NULL, &st, &err), HPRT_E_RUN);
        assert_non_null(strstr(err.msg, "state is impossible"));
        assert_non_null(strstr(err.msg, f->path));
    }
    f->st = good;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skipped_arrays_past_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impossible_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
