/* test_check.c - the checker: one test per rule, and the Plan it builds. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hpc_test.h"

#define MLP_MODEL                                                   \
    "model mlp(hidden = 256, p = 0.2, depth = 2) {\n"               \
    "    input 784\n"                                               \
    "    repeat depth {\n"                                          \
    "        dense hidden, relu\n"                                  \
    "        dropout p\n"                                           \
    "    }\n"                                                       \
    "    dense classes, softmax\n"                                  \
    "}\n"

/* FMNIST_DATA is lines 1-8, MLP_MODEL lines 9-16; experiments start at 17. */
#define MLP_SRC(settings) FMNIST_DATA MLP_MODEL "experiment e {\n    data = fashion\n    model = mlp\n" settings "}\n"

static plan_experiment *plan_ok(checked **c, const char *src)
{
    plan *p = plan_src(c, src, NULL, NULL, 0);
    if (!p)
        print_error("planning failed:\n%s\n", (*c)->text);
    assert_non_null(p);
    /* the plan is returned through the checked struct's lifetime; keep it alive with a static */
    (*c)->keep = p;
    return p->experiment;
}

static checked *check_expect(const char *src, const char *needle)
{
    checked *c = check_src(src);
    assert_diag(c, needle);
    return c;
}

/* ---- the Plan of the MLP (issue: 784 -> 256 -> 256 -> 10, 269,322 parameters) ---- */

static void test_mlp_plan(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, MLP_SRC(""));
    assert_int_equal(e->n_layers, 6);
    assert_int_equal(e->total_params, 269322);
    assert_int_equal(e->layers[0].kind, PLAN_INPUT);
    assert_int_equal(e->layers[0].out.d[0], 784);
    assert_int_equal(e->layers[1].kind, PLAN_DENSE);
    assert_int_equal(e->layers[1].units, 256);
    assert_int_equal(e->layers[1].act, PLAN_ACT_RELU);
    assert_int_equal(e->layers[1].params, 200960);
    assert_int_equal(e->layers[2].kind, PLAN_DROPOUT);
    assert_close(e->layers[2].p, 0.2, 0);
    assert_int_equal(e->layers[3].params, 65792);
    assert_int_equal(e->layers[5].units, 10);
    assert_int_equal(e->layers[5].params, 2570);
    assert_int_equal(e->layers[5].flops, 2 * 256 * 10 + 10);
    assert_true(e->fused_softmax);
    /* data */
    assert_int_equal(e->data.train.n, 54000);
    assert_int_equal(e->data.valid.n, 6000);
    assert_int_equal(e->data.test.n, 10000);
    assert_int_equal(e->data.classes, 10);
    assert_close(e->data.scale, 1.0 / 255, 1e-15);
    assert_true(e->data.shuffle);
    /* hpc's defaults where the experiment is silent */
    assert_int_equal(e->loss, PLAN_LOSS_CROSS_ENTROPY);
    assert_int_equal(e->optimizer.kind, HPRT_OPT_ADAM);
    assert_close(e->optimizer.lr, 1e-3, 0);
    assert_int_equal(e->schedule.kind, HPRT_SCHED_CONSTANT);
    assert_int_equal(e->batch.size, 128);
    assert_int_equal(e->epochs, 10);
    assert_int_equal(e->stop.kind, HPRT_STOP_NONE);
    assert_int_equal(e->seed, 0);
    assert_int_equal(e->threads, 0);
    assert_close(e->clip, 0, 0);
    checked_free(c);
}

static void test_repeat_zero_times_and_params(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, FMNIST_DATA MLP_MODEL
                                 "experiment e { data = fashion; model = mlp(depth = 0, hidden = 64) }\n");
    assert_int_equal(e->n_layers, 2);
    assert_int_equal(e->total_params, 7850);
    assert_int_equal(e->n_params, 3);
    assert_string_equal(e->params[2].name, "depth");
    assert_string_equal(e->params[2].value, "0");
    checked_free(c);
}

static void test_overrides(void **state)
{
    (void)state;
    checked *c;
    hp_override ov[] = {{"model.hidden", "512"}, {"optimizer.lr", "3e-4"}, {"epochs", "2"}, {"schedule", "cosine()"}};
    plan *p = plan_src(&c, MLP_SRC(""), "e", ov, 4);
    if (!p)
        print_error("%s\n", c->text);
    assert_non_null(p);
    plan_experiment *e = p->experiment;
    assert_int_equal(e->layers[1].units, 512);
    assert_close(e->optimizer.lr, 3e-4, 0);
    assert_int_equal(e->epochs, 2);
    assert_int_equal(e->schedule.kind, HPRT_SCHED_COSINE);
    plan_free(p);
    checked_free(c);

    hp_override bad[] = {{"model.hiden", "3"}, {"epoch", "2"}};
    p = plan_src(&c, MLP_SRC(""), "e", bad, 2);
    assert_null(p);
    assert_diag(c, "model 'mlp' has no parameter 'hiden'; did you mean 'hidden'?");
    assert_diag(c, "--set: 'epoch' is not a setting of experiment 'e'; did you mean 'epochs'?");
    checked_free(c);

    hp_override badval[] = {{"epochs", "2.5"}};
    p = plan_src(&c, MLP_SRC(""), "e", badval, 1);
    assert_null(p);
    assert_diag(c, "--set epochs:2:9: error: epochs must be a whole number; it is 2.5");
    checked_free(c);
}

/* ---- names ---- */

static void test_duplicate_declarations(void **state)
{
    (void)state;
    checked *c = check_src(FMNIST_DATA "data fashion { train = text(\"x\") }\n");
    assert_diag(c, "t.hp:9:6: error: 'fashion' is already declared (as data fashion)\n");
    assert_diag(c, "t.hp:1:6: note: 'fashion' is first declared here\n");
    checked_free(c);
}

static void test_unknown_names_suggest(void **state)
{
    (void)state;
    checked *c = check_src(FMNIST_DATA MLP_MODEL "experiment e { data = fashon; model = mpl }\n");
    assert_diag(c, "t.hp:17:23: error: unknown data 'fashon'; did you mean 'fashion'?");
    assert_diag(c, "t.hp:17:39: error: unknown model 'mpl'; did you mean 'mlp'?");
    checked_free(c);
    c = check_src(FMNIST_DATA MLP_MODEL "experiment e { data = mlp; model = mlp }\n");
    assert_diag(c, "error: 'mlp' is a model, not data");
    checked_free(c);
}

static void test_imports(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[512], lib[512], main_[512], cyc1[512], cyc2[512];
    snprintf(lib, sizeof lib, "%s/sub/lib.hp", dir);
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    const char *libsrc = FMNIST_DATA MLP_MODEL;
    tu_write_file(lib, libsrc, strlen(libsrc));
    snprintf(main_, sizeof main_, "%s/main.hp", dir);
    const char *mainsrc = "import \"sub/lib.hp\"\nexperiment e { data = fashion; model = mlp }\n";
    tu_write_file(main_, mainsrc, strlen(mainsrc));
    hp_diags d;
    hp_diags_init(&d);
    hp_program *p = hp_program_load(&d, main_);
    assert_non_null(p);
    assert_int_equal(hp_check_all(p), 0);
    hp_program_free(p);
    hp_diags_free(&d);

    /* a cycle */
    snprintf(cyc1, sizeof cyc1, "%s/a.hp", dir);
    snprintf(cyc2, sizeof cyc2, "%s/b.hp", dir);
    tu_write_file(cyc1, "import \"b.hp\"\n", 13);
    tu_write_file(cyc2, "import \"a.hp\"\n", 13);
    hp_diags_init(&d);
    p = hp_program_load(&d, cyc1);
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(((hp_diag *)d.diags.items[0])->message, "import cycle"));
    hp_program_free(p);
    hp_diags_free(&d);

    /* a missing import is reported at the import */
    checked *c = check_src("import \"no/such.hp\"\n");
    assert_diag(c, "t.hp:1:8: error: cannot import 'no/such.hp'");
    checked_free(c);
    tu_rmrf(dir);
    free(dir);
}

/* ---- settings ---- */

static void test_unknown_and_duplicate_settings(void **state)
{
    (void)state;
    checked *c = check_src(MLP_SRC("    epocs = 3\n    seed = 1\n    seed = 2\n"));
    assert_diag(c, "t.hp:20:5: error: unknown setting 'epocs' in an experiment; did you mean 'epochs'?");
    assert_diag(c, "t.hp:22:5: error: 'seed' is set twice");
    assert_diag(c, "t.hp:21:5: note: first set here");
    checked_free(c);
}

static void test_required_settings(void **state)
{
    (void)state;
    checked *c = check_src("experiment e { epochs = 1 }\n");
    assert_diag(c, "error: experiment 'e' needs 'data = ...'");
    assert_diag(c, "error: experiment 'e' needs 'model = ...'");
    checked_free(c);
    c = check_src("data d { valid = split(train, 0.1) }\n");
    assert_diag(c, "error: data 'd' needs 'train = ...'");
    checked_free(c);
}

static void test_types_ranges_integers(void **state)
{
    (void)state;
    checked *c = check_src(MLP_SRC("    epochs = 2.5\n    seed = -1\n    batch = \"big\"\n    clip = 0\n"));
    assert_diag(c, "error: epochs must be a whole number; it is 2.5");
    assert_diag(c, "error: seed must be at least 0; it is -1");
    assert_diag(c, "error: batch must be a size or `adaptive(...)`, not a string");
    assert_diag(c, "error: clip must be greater than 0; it is 0");
    checked_free(c);
}

static void test_optimizers(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, MLP_SRC("    optimizer = sgd(lr = 0.1, momentum = 0.9, nesterov = true)\n"));
    assert_int_equal(e->optimizer.kind, HPRT_OPT_SGD);
    assert_close(e->optimizer.momentum, 0.9, 0);
    assert_true(e->optimizer.nesterov);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    optimizer = adamw\n"));
    assert_int_equal(e->optimizer.kind, HPRT_OPT_ADAMW);
    assert_close(e->optimizer.weight_decay, 0.01, 0);
    assert_close(e->optimizer.beta2, 0.999, 0);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    optimizer = adagrad()\n"));
    assert_close(e->optimizer.lr, 1e-2, 0);
    assert_close(e->optimizer.eps, 1e-10, 0);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    optimizer = rmsprop(momentum = 0.5)\n"));
    assert_close(e->optimizer.alpha, 0.99, 0);
    assert_close(e->optimizer.lr, 1e-2, 0);
    checked_free(c);

    c = check_src(MLP_SRC("    optimizer = sgd(momentum = 0.9)\n"));
    assert_diag(c, "error: sgd(...) needs 'lr'");
    checked_free(c);
    c = check_src(MLP_SRC("    optimizer = sgd(lr = 0.1, nesterov = true)\n"));
    assert_diag(c, "error: Nesterov momentum needs momentum > 0 and dampening = 0");
    checked_free(c);
    c = check_src(MLP_SRC("    optimizer = adam(lr = 1e-3, beta = 0.9)\n"));
    assert_diag(c, "error: adam(...) has no parameter 'beta'; did you mean 'beta1'?");
    checked_free(c);
    c = check_src(MLP_SRC("    optimizer = adam(lr = 1e-3, lr = 2e-3)\n"));
    assert_diag(c, "error: 'lr' is given twice to adam(...)");
    checked_free(c);
}

static void test_schedules(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, MLP_SRC("    schedule = step(every = 2 epochs)\n"));
    assert_int_equal(e->schedule.kind, HPRT_SCHED_STEP);
    assert_int_equal(e->schedule.every.unit, HPRT_EPOCHS);
    assert_close(e->schedule.gamma, 0.1, 0);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    schedule = multistep(at = [100, 3 epochs], gamma = 0.5)\n"));
    assert_int_equal(e->schedule.n_at, 2);
    assert_int_equal(e->schedule.at[0].unit, HPRT_STEPS);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    schedule = one_cycle(max = 1e-2)\n"));
    assert_close(e->schedule.pct, 0.3, 0);
    assert_close(e->schedule.div, 25, 0);
    assert_close(e->schedule.final_div, 1e4, 0);
    assert_true(e->schedule.cycle_momentum); /* adam: beta1 cycles */
    assert_close(e->schedule.base_momentum, 0.85, 0);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    optimizer = sgd(lr = 0.1)\n    schedule = cyclic(base = 1e-3, max = 6e-3)\n"));
    assert_false(e->schedule.cycle_momentum); /* sgd without momentum has nothing to cycle */
    assert_close(e->schedule.step_size.n, 2000, 0);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    schedule = warmup(steps = 100, then = sgdr(period = 1 epoch, mult = 2))\n"));
    assert_int_equal(e->schedule.kind, HPRT_SCHED_WARMUP);
    assert_int_equal(e->schedule.then->kind, HPRT_SCHED_SGDR);
    assert_close(e->schedule.then->mult, 2, 0);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    schedule = plateau(patience = 2)\n"));
    assert_close(e->schedule.factor, 0.1, 0);
    assert_int_equal(e->schedule.monitor, HPRT_METRIC_VAL_LOSS);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    schedule = cyclic(base = 1e-4, max = find_lr, step = 2 epochs, mode = triangular2)\n"));
    assert_true(e->uses_find_lr);
    assert_true(e->schedule.max_find);
    assert_int_equal(e->schedule.mode, HPRT_CYCLIC_TRIANGULAR2);
    checked_free(c);

    c = check_src(MLP_SRC("    schedule = cosin(min = 0)\n"));
    assert_diag(c, "error: unknown schedule 'cosin'; did you mean 'cosine'?");
    checked_free(c);
    c = check_src(MLP_SRC("    schedule = step(every = 0 epochs)\n"));
    assert_diag(c, "error: every must be longer than zero");
    checked_free(c);
    c = check_src(MLP_SRC("    schedule = step(every = 2.5 steps)\n"));
    assert_diag(c, "error: every must be a whole number of steps; it is 2.5");
    checked_free(c);
    c = check_src(MLP_SRC("    schedule = multistep(at = [5 epochs, 2 epochs])\n"));
    assert_diag(c, "error: milestones must increase");
    checked_free(c);
    c = check_src(MLP_SRC("    schedule = cyclic(base = 1e-2, max = 1e-3)\n"));
    assert_diag(c, "error: cyclic needs base <= max");
    checked_free(c);
    c = check_src(MLP_SRC("    schedule = step(every = \"often\")\n"));
    assert_diag(c, "error: every must be a duration such as `5 epochs` or `2000 steps`, not a string");
    checked_free(c);
}

static void test_batch_and_stop(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, MLP_SRC("    batch = adaptive(start = 128, every = 4 epochs, max = 1024)\n"
                                             "    stop = early(monitor = val_accuracy, window = 3)\n"));
    assert_true(e->batch.adaptive);
    assert_int_equal(e->batch.factor, 2);
    assert_true(e->batch.scale_lr);
    assert_int_equal(e->stop.kind, HPRT_STOP_EARLY);
    assert_int_equal(e->stop.window, 3);
    assert_int_equal(e->stop.patience, 5);
    assert_int_equal(e->stop.mode, HPRT_MODE_MAX);
    assert_true(e->stop.restore_best);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    stop = pq()\n"));
    assert_int_equal(e->stop.kind, HPRT_STOP_PQ);
    assert_close(e->stop.alpha, 0.5, 0);
    assert_int_equal(e->stop.strip, 5);
    checked_free(c);
    e = plan_ok(&c, MLP_SRC("    stop = up(s = 2)\n    regularize = adaptive_dropout(gap = 0.2)\n"));
    assert_int_equal(e->stop.s, 2);
    assert_true(e->regularize.adaptive_dropout);
    assert_close(e->regularize.step, 0.05, 0);
    checked_free(c);

    c = check_src(MLP_SRC("    batch = adaptive(start = 256, every = 2 epochs, max = 128)\n"));
    assert_diag(c, "error: max (128) is below start (256)");
    checked_free(c);
    c = check_src(MLP_SRC("    stop = early(monitor = val_acc)\n"));
    assert_diag(c, "error: unknown metric 'val_acc'; did you mean 'val_accuracy'?");
    checked_free(c);
}

static void test_val_metric_without_validation(void **state)
{
    (void)state;
    checked *c = check_src("data d {\n    train = idx(\"/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\",\n"
                           "                \"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\")\n}\n" MLP_MODEL
                           "experiment e {\n    data = d\n    model = mlp\n    stop = early(monitor = val_loss)\n}\n");
    assert_diag(c, "t.hp:16:28: error: 'val_loss' needs validation data, but the data has none");
    assert_diag(c, "note: data 'd' has no validation split, so over-fitting cannot be seen; add `valid = split(train, 0.1)` [no-valid]");
    checked_free(c);
}

/* ---- layers and shapes ---- */

static const char *with_model(const char *model_body)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, FMNIST_DATA "model m {\n%s}\nexperiment e { data = fashion; model = m }\n", model_body);
    return buf;
}

static void test_conv_pool_shapes(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, with_model("input [1, 28, 28]\n"
                                                "conv 8, relu, kernel = 5, pad = valid\n" /* 24x24 */
                                                "maxpool\n"                               /* 12x12 */
                                                "conv 16, kernel = 3, stride = 2\n"       /* same: ceil(12/2)=6 */
                                                "avgpool size = 3, stride = 1\n"          /* 4x4 */
                                                "flatten\n"
                                                "dense classes\n"));
    assert_int_equal(e->layers[1].out.d[0], 8);
    assert_int_equal(e->layers[1].out.d[1], 24);
    assert_int_equal(e->layers[1].params, 8 * 1 * 25 + 8);
    assert_int_equal(e->layers[2].out.d[1], 12);
    assert_int_equal(e->layers[3].out.d[1], 6);
    assert_int_equal(e->layers[3].pad, 1);
    assert_int_equal(e->layers[3].params, 16 * 8 * 9 + 16);
    assert_int_equal(e->layers[4].out.d[1], 4);
    assert_int_equal(e->layers[5].out.d[0], 16 * 4 * 4);
    assert_int_equal(e->layers[6].params, 256 * 10 + 10);
    assert_false(e->fused_softmax);
    checked_free(c);
}

static void test_dense_flattens_images(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, with_model("input [1, 28, 28]\ndense 10\n"));
    assert_int_equal(e->layers[1].params, 7850);
    checked_free(c);
}

static void test_shape_mismatch_names_both_shapes(void **state)
{
    (void)state;
    checked *c = check_expect(with_model("input 784\nconv 8\nflatten\ndense classes\n"),
                              "t.hp:11:1: error: conv needs an image [C, H, W], but its input is [784]");
    checked_free(c);
    c = check_expect(with_model("input 100\ndense classes\n"),
                     "t.hp:10:7: error: input [100] does not match data 'fashion', whose samples are [1, 28, 28] (784 values)");
    checked_free(c);
    c = check_expect(with_model("input 784\nlstm 8\ndense classes\n"),
                     "error: lstm needs a sequence [T, N], but its input is [784]");
    checked_free(c);
    c = check_expect(with_model("input 784\ndense 5\n"),
                     "error: the model's output has 5 units, but data 'fashion' has 10 classes");
    checked_free(c);
    c = check_expect(with_model("dense 5\n"), "error: the first layer of a model must be `input`");
    checked_free(c);
    c = check_expect(with_model("input 784\ninput 784\ndense classes\n"),
                     "error: a model has exactly one `input`, as its first layer");
    checked_free(c);
    c = check_expect(with_model("input [1, 28, 28]\nconv 8, kernel = 4\nflatten\ndense classes\n"),
                     "error: pad = same needs an odd kernel");
    checked_free(c);
    c = check_expect(with_model("input [1, 28, 28]\nconv 8, kernel = 30, pad = valid\nflatten\ndense classes\n"),
                     "error: a 30x30 kernel does not fit the 28x28 input [1, 28, 28]");
    checked_free(c);
}

static void test_unknown_layer_kind(void **state)
{
    (void)state;
    checked *c = check_expect(with_model("input 784\ndens 256, relu\ndense classes\n"),
                              "t.hp:11:1: error: unknown layer kind 'dens'; did you mean 'dense'?\n"
                              "dens 256, relu\n"
                              "^~~~\n");
    checked_free(c);
    c = check_expect(with_model("input 784\ndense 256, rleu\ndense classes\n"),
                     "error: unknown activation 'rleu'; did you mean 'relu'?");
    checked_free(c);
    c = check_expect(with_model("input 784\ndense units = 4, unit = 3\ndense classes\n"),
                     "error: dense has no parameter 'unit'; did you mean 'units'?");
    checked_free(c);
    c = check_expect(with_model("input 784\ndense\ndense classes\n"), "error: dense needs 'units'");
    checked_free(c);
    c = check_expect(with_model("input 784\ndropout 1\ndense classes\n"),
                     "error: the dropout rate p must be in [0, 1); it is 1");
    checked_free(c);
}

static void test_text_model_and_layer_kind_parameter(void **state)
{
    (void)state;
    const char *src = "data t {\n"
                      "    train = text(\"/usr/share/games/fortunes/computers\", seq = 32)\n"
                      "    valid = split(train, 0.1)\n"
                      "}\n"
                      "model lm(cell = lstm, width = 32, depth = 2) {\n"
                      "    input tokens\n"
                      "    embed 64\n"
                      "    cell width, stack = depth\n"
                      "    dense vocab, softmax\n"
                      "}\n"
                      "experiment e { data = t; model = lm(cell = gru) }\n";
    checked *c;
    plan_experiment *e = plan_ok(&c, src);
    assert_true(e->data.is_text);
    assert_int_equal(e->layers[0].out.kind, PLAN_TOKENS);
    assert_int_equal(e->layers[0].out.d[0], 32);
    assert_int_equal(e->layers[1].out.kind, PLAN_SEQ);
    int V = e->data.vocab;
    assert_true(V > 50 && V <= 256);
    assert_int_equal(e->layers[1].params, (long)V * 64);
    assert_int_equal(e->layers[2].kind, PLAN_GRU);
    /* PyTorch nn.GRU(64, 32, 2): 3*32*(64+32) + 6*32 + 3*32*(32+32) + 6*32 */
    assert_int_equal(e->layers[2].params, 3 * 32 * 96 + 192 + 3 * 32 * 64 + 192);
    assert_int_equal(e->layers[3].out.kind, PLAN_SEQ);
    assert_int_equal(e->layers[3].out.d[1], V);
    checked_free(c);

    c = check_src("data t { train = text(\"/usr/share/games/fortunes/computers\"); valid = split(train, 0.1) }\n"
                  "model lm(cell = 3) { input tokens\n embed 64\n cell 8\n dense vocab }\n"
                  "experiment e { data = t; model = lm }\n");
    assert_diag(c, "error: parameter 'cell' is the number 3, which is not a layer kind");
    checked_free(c);
}

static void test_data_bound_name_missing(void **state)
{
    (void)state;
    checked *c = check_src(FMNIST_DATA "model m { input 784\n dense vocab }\nexperiment e { data = fashion; model = m }\n");
    assert_diag(c, "t.hp:11:40: error: model 'm' uses 'vocab', which data 'fashion' does not have (vocab comes from text data)");
    assert_diag(c, "t.hp:10:8: note: 'vocab' is used here");
    checked_free(c);
}

static void test_csv_data(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/iris.csv", dir);
    const char *csv = "a,b,c,species\n1,2,3,0\n4,5,6,1\n7,8,9,2\n1,1,1,1\n2,2,2,0\n3,3,3,2\n4,4,4,1\n5,5,5,0\n6,6,6,1\n7,7,7,2\n";
    tu_write_file(path, csv, strlen(csv));
    char src[2048];
    snprintf(src, sizeof src,
             "data iris { train = csv(\"%s\", label = \"species\"); valid = split(train, 0.2); normalize = standard }\n"
             "model m { input features\n dense 8, tanh\n dense classes, softmax }\n"
             "experiment e { data = iris; model = m; batch = 4 # hpc: allow(batch-pow2)\n }\n",
             path);
    checked *c;
    plan_experiment *e = plan_ok(&c, src);
    assert_int_equal(e->data.features, 3);
    assert_int_equal(e->data.classes, 3);
    assert_int_equal(e->data.train.n, 8);
    assert_int_equal(e->data.valid.n, 2);
    assert_true(e->data.normalize);
    assert_int_equal(e->layers[1].params, 3 * 8 + 8);
    assert_string_equal(c->text, ""); /* the note is silenced on its line */
    checked_free(c);

    snprintf(src, sizeof src, "data iris { train = csv(\"%s\", label = \"colour\") }\n", path);
    c = check_src(src);
    assert_diag(c, "t.hp:1:66: error:");
    assert_diag(c, "colour");
    checked_free(c);
    tu_rmrf(dir);
    free(dir);
}

/* input [T, F]: a sequence of T steps of F features (issue 13, item 2) */
static void test_sequence_input(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, FMNIST_DATA "model rows { input [28, 28]\n lstm 16, stack = 2\n last\n dense classes }\n"
                                                 "experiment e { data = fashion; model = rows }\n");
    assert_int_equal(e->layers[0].out.kind, PLAN_SEQ);
    assert_int_equal(e->layers[0].out.d[0], 28);
    assert_int_equal(e->layers[0].out.d[1], 28);
    assert_int_equal(e->layers[1].out.kind, PLAN_SEQ);
    /* nn.LSTM(28, 16, 2): 4*16*(28+16) + 8*16 + 4*16*(16+16) + 8*16 */
    assert_int_equal(e->layers[1].params, 4 * 16 * 44 + 128 + 4 * 16 * 32 + 128);
    assert_int_equal(e->layers[2].out.kind, PLAN_VEC);
    assert_int_equal(e->layers[2].out.d[0], 16);
    assert_int_equal(e->layers[3].out.d[0], 10);
    checked_free(c);

    /* deep stacks: the stack-depth note, as for text */
    c = check_expect(FMNIST_DATA "model m { input [28, 28]\n lstm 16, stack = 3\n last\n dense classes }\n"
                                 "experiment e { data = fashion; model = m }\n",
                     "t.hp:10:2: note: 3 recurrent layers are stacked in a sequence classification model; past two, "
                     "they rarely help and train slowly [stack-depth]");
    checked_free(c);

    /* a per-step output needs next-token targets: add `last` (at the output layer's line) */
    c = check_expect(FMNIST_DATA "model m {\n input [28, 28]\n gru 8\n dense classes\n}\n"
                                 "experiment e { data = fashion; model = m }\n",
                     "t.hp:12:");
    assert_diag(c, "add `last` before the output layer");
    checked_free(c);
    c = check_expect(FMNIST_DATA "model m {\n input [28, 28]\n lstm 10\n}\nexperiment e { data = fashion; model = m }\n",
                     "t.hp:11:");
    assert_diag(c, "add `last`");
    checked_free(c);
    /* a dense at every step before `last` is fine */
    e = plan_ok(&c, FMNIST_DATA "model m { input [28, 28]\n dense 12, relu\n rnn 8\n last\n dense classes }\n"
                                "experiment e { data = fashion; model = m }\n");
    assert_int_equal(e->layers[1].out.kind, PLAN_SEQ);
    assert_int_equal(e->layers[1].flops, 28 * (2 * 28 * 12 + 12));
    checked_free(c);

    /* the values per sample must match the data's */
    c = check_expect(FMNIST_DATA "model m { input [27, 28]\n lstm 8\n last\n dense classes }\n"
                                 "experiment e { data = fashion; model = m }\n",
                     "t.hp:9:17: error: input [27, 28] is a sequence of 27 steps of 28 features, 756 values per "
                     "sample, but data 'fashion' has samples of [1, 28, 28] (784 values)");
    checked_free(c);
    c = check_expect(FMNIST_DATA "model m { input [0, 28]\n lstm 8\n last\n dense classes }\n", "t.hp:9:18: error:");
    checked_free(c);
    /* a sequence is not an image */
    c = check_expect(FMNIST_DATA "model m { input [28, 28]\n conv 4\n flatten\n dense classes }\n"
                                 "experiment e { data = fashion; model = m }\n",
                     "conv needs an image");
    checked_free(c);

    /* CSV: a row is the label and T x F features, step by step */
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/s.csv", dir);
    const char *csv = "a0,b0,a1,b1,a2,b2,y\n1,2,3,4,5,6,0\n6,5,4,3,2,1,1\n1,1,2,2,3,3,0\n3,3,2,2,1,1,1\n";
    tu_write_file(path, csv, strlen(csv));
    char src[2048];
    snprintf(src, sizeof src,
             "data s { train = csv(\"%s\") }\nmodel m { input [3, 2]\n gru 4\n last\n dense classes }\n"
             "experiment e { data = s; model = m; batch = 2 # hpc: allow(batch-pow2)\n }\n", path);
    e = plan_ok(&c, src);
    assert_int_equal(e->layers[1].params, 3 * 4 * (2 + 4) + 6 * 4);
    assert_int_equal(e->data.classes, 2);
    checked_free(c);
    snprintf(src, sizeof src,
             "data s { train = csv(\"%s\") }\nmodel m { input [3, 3]\n gru 4\n last\n dense classes }\n"
             "experiment e { data = s; model = m }\n", path);
    c = check_expect(src, "t.hp:2:17: error: input [3, 3] is a sequence of 3 steps of 3 features, 9 values per sample, "
                          "but data 's' has samples of [6] (6 values); a CSV sequence row holds the label and T x F "
                          "features, step by step");
    checked_free(c);
    tu_rmrf(dir);
    free(dir);
}

static void test_missing_data_file_at_its_setting(void **state)
{
    (void)state;
    checked *c = check_src("data d {\n    train = idx(\"/nonexistent/images.gz\",\n                \"/nonexistent/labels.gz\")\n}\n");
    assert_diag(c, "t.hp:2:17: error: /nonexistent/images.gz");
    checked_free(c);
    /* relative paths are resolved against the file's directory */
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/d.hp", dir);
    const char *src = "data d { train = text(\"corpus.txt\") }\n";
    tu_write_file(path, src, strlen(src));
    hp_diags d;
    hp_diags_init(&d);
    hp_program *p = hp_program_load(&d, path);
    hp_check_all(p);
    assert_int_equal(d.n_errors, 1);
    char want[600];
    snprintf(want, sizeof want, "%s/corpus.txt", dir);
    assert_non_null(strstr(((hp_diag *)d.diags.items[0])->message, want));
    hp_program_free(p);
    hp_diags_free(&d);
    tu_rmrf(dir);
    free(dir);
}

/* ---- notes ---- */

static void test_notes(void **state)
{
    (void)state;
    checked *c = check_src(MLP_SRC("    batch = 100\n    optimizer = sgd(lr = 20)\n"));
    assert_diag(c, "t.hp:20:13: note: batch size 100 is not a power of two; powers of two from 64 to 2048 use the "
                   "vector units and caches best [batch-pow2]");
    assert_diag(c, "[lr-range]");
    assert_int_equal(c->errors, 0);
    checked_free(c);
    c = check_src(FMNIST_DATA MLP_MODEL "experiment e { data = fashion; model = mlp(depth = 3) }\n");
    assert_diag(c, "note: this is the 4th dense layer in a row");
    assert_diag(c, "[dense-depth]");
    checked_free(c);
    const char *text = "data t { train = text(\"/usr/share/games/fortunes/computers\"); valid = split(train, 0.1) }\n"
                       "model lm { input tokens\n embed 16\n rnn 8, stack = 3\n dense vocab }\n"
                       "experiment e { data = t; model = lm; batch = 64 }\n";
    c = check_src(text);
    assert_diag(c, "t.hp:3:8: note: embedding dimension 16 is outside 50-200");
    assert_diag(c, "[embed-dim]");
    assert_diag(c, "[vanilla-rnn]");
    assert_diag(c, "[stack-depth]");
    checked_free(c);
}

static void test_notes_silenced(void **state)
{
    (void)state;
    checked *c = check_src(MLP_SRC("    batch = 100   # hpc: allow(batch-pow2)\n"));
    assert_no_diag(c, "batch-pow2");
    checked_free(c);
    /* --allow */
    hp_diags d;
    hp_diags_init(&d);
    hp_diags_allow(&d, "batch-pow2");
    const char *src = MLP_SRC("    batch = 100\n");
    hp_program *p = hp_program_load_text(&d, "t.hp", src, strlen(src));
    hp_check_all(p);
    assert_int_equal(d.n_notes, 0);
    hp_program_free(p);
    hp_diags_free(&d);
}

/* ---- searches ---- */

static void test_search(void **state)
{
    (void)state;
    const char *src = MLP_SRC("") "search s {\n"
                                  "    base = e\n"
                                  "    vary model.hidden in {128, 256}\n"
                                  "    vary model.depth in 1..3\n"
                                  "    vary optimizer.lr in log(1e-4, 1e-2)\n"
                                  "    vary schedule in {constant, cosine()}\n"
                                  "    strategy = random(trials = 10)\n"
                                  "    objective = maximize(val_accuracy)\n"
                                  "}\n";
    checked *c;
    plan *p = plan_src(&c, src, "s", NULL, 0);
    if (!p)
        print_error("%s\n", c->text);
    assert_non_null(p);
    plan_search *s = p->search;
    assert_non_null(s->base);
    assert_int_equal(s->n_varies, 4);
    assert_int_equal(s->varies[0].n_values, 2);
    assert_string_equal(s->varies[0].values[1], "256");
    assert_int_equal(s->varies[1].kind, PLAN_SPACE_RANGE);
    assert_int_equal(s->varies[2].kind, PLAN_SPACE_LOG);
    assert_string_equal(s->varies[3].values[1], "cosine()");
    assert_int_equal(s->strategy, PLAN_STRATEGY_RANDOM);
    assert_int_equal(s->trials, 10);
    assert_int_equal(s->objective_mode, HPRT_MODE_MAX);
    plan_free(p);
    checked_free(c);

    /* every value is checked against the base, at the value */
    c = check_src(MLP_SRC("") "search s {\n    base = e\n    vary model.hidden in {128, -1}\n"
                              "    vary model.dept in 1..2\n    vary optimizer.lr in log(0, 1)\n    vary epochs in {2.5}\n}\n");
    assert_diag(c, "t.hp:23:32: error: units must be at least 1; it is -1");
    assert_diag(c, "t.hp:24:16: error: model 'mlp' has no parameter 'dept'; did you mean 'depth'?");
    assert_diag(c, "error: log(lo, hi) needs lo > 0; it is 0");
    assert_diag(c, "t.hp:26:21: error: epochs must be a whole number; it is 2.5");
    assert_diag(c, "error: search 's' has an infinite space (log or uniform) and no strategy");
    checked_free(c);
}

static void test_unused_model_checked_alone(void **state)
{
    (void)state;
    checked *c = check_src("model m { input 784\n dense classes\n dens 3 }\n");
    assert_diag(c, "t.hp:3:2: error: unknown layer kind 'dens'; did you mean 'dense'?");
    assert_int_equal(c->errors, 1);
    checked_free(c);
}

static void test_three_unrelated_errors(void **state)
{
    (void)state;
    checked *c = check_src(FMNIST_DATA MLP_MODEL
                           "experiment e {\n    data = fashion\n    model = mlp(hidden = 0)\n"
                           "    optimizer = adam(lr = -1)\n    epochs = 0\n}\n");
    assert_int_equal(c->errors, 3);
    checked_free(c);
}

/* ---- fixes found while documenting ---- */

static void test_find_lr_options(void **state)
{
    (void)state;
    checked *c;
    plan_experiment *e = plan_ok(&c, MLP_SRC("    optimizer = sgd(lr = find_lr(start = 1e-5, end = 1, steps = 50, suggest = steep))\n"));
    assert_true(e->uses_find_lr);
    assert_close(e->lrfind.start, 1e-5, 0);
    assert_close(e->lrfind.end, 1, 0);
    assert_int_equal(e->lrfind.steps, 50);
    assert_int_equal(e->lrfind.suggest, HPRT_SUGGEST_STEEP);
    checked_free(c);
    c = check_src(MLP_SRC("    optimizer = sgd(lr = find_lr(start = 1, end = 1e-3))\n"));
    assert_diag(c, "error: find_lr needs start < end; they are 1 and 0.001");
    checked_free(c);
}

static void test_policy_limits(void **state)
{
    (void)state;
    checked *c = check_src(MLP_SRC("    stop = early(window = 100)\n"));
    assert_diag(c, "error: window must be between 1 and 64; it is 100");
    checked_free(c);
    c = check_src(MLP_SRC("    stop = early(monitor = val_bpc)\n"));
    assert_diag(c, "error: val_bpc (bits per character) is measured on text data; data 'fashion' is not text");
    checked_free(c);
    c = check_src(MLP_SRC("    optimizer = adagrad\n    schedule = cyclic(base = 0.01, max = 0.1, cycle_momentum = true)\n"));
    assert_diag(c, "warning: cycle_momentum = true has nothing to cycle: adagrad has no momentum");
    checked_free(c);
    checked *cc;
    plan_experiment *e = plan_ok(&cc, MLP_SRC("    optimizer = sgd(lr = 0.1)\n    schedule = warmup(steps = 100, then = one_cycle(max = 0.1))\n"));
    assert_false(e->schedule.then->cycle_momentum);
    checked_free(cc);
    e = plan_ok(&cc, MLP_SRC("    schedule = warmup(steps = 100, then = plateau)\n"));
    assert_int_equal(e->schedule.then->kind, HPRT_SCHED_PLATEAU);
    checked_free(cc);
}

static void test_override_details(void **state)
{
    (void)state;
    checked *c;
    /* a part of a fixed batch cannot be set */
    c = check_src(MLP_SRC("    batch = 128\n") "search s { base = e; vary batch.max in {100} }\n");
    assert_diag(c, "error: 'batch' is the number 128 here, which has no 'max'; set the whole `batch` instead");
    checked_free(c);
    /* the same --set twice: the later wins */
    hp_override twice[] = {{"epochs", "4"}, {"epochs", "5"}};
    plan *p = plan_src(&c, MLP_SRC(""), "e", twice, 2);
    assert_non_null(p);
    assert_int_equal(p->experiment->epochs, 5);
    plan_free(p);
    checked_free(c);
    /* model = m(p = v): an error about v points at v */
    c = check_src(FMNIST_DATA "model n(r = 0) { input 784\n repeat r { dense 8 }\n dense classes }\n"
                              "experiment e { data = fashion; model = n(r = 1.5) }\n");
    assert_diag(c, "t.hp:12:46: error: the repeat count must be a whole number; it is 1.5");
    checked_free(c);
    /* whole numbers print as such */
    p = plan_src(&c, FMNIST_DATA MLP_MODEL "experiment e { data = fashion; model = mlp(hidden = 100) }\n", NULL, NULL, 0);
    assert_non_null(p);
    assert_string_equal(p->experiment->params[0].value, "100");
    plan_free(p);
    checked_free(c);
    /* a file with only a search: its search is the default target */
    p = plan_src(&c, MLP_SRC("") "search s { base = e; vary model.hidden in {64, 128} }\n", NULL, NULL, 0);
    assert_non_null(p);
    checked_free(c);
    plan_free(p);
}

static void test_unknown_allow_name(void **state)
{
    (void)state;
    checked *c = check_src(MLP_SRC("    batch = 100  # hpc: allow(batch-pow-2)\n"));
    assert_diag(c, "t.hp:20:31: warning: 'batch-pow-2' is not a note name");
    checked_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_plan),
        cmocka_unit_test(test_repeat_zero_times_and_params),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_duplicate_declarations),
        cmocka_unit_test(test_unknown_names_suggest),
        cmocka_unit_test(test_imports),
        cmocka_unit_test(test_unknown_and_duplicate_settings),
        cmocka_unit_test(test_required_settings),
        cmocka_unit_test(test_types_ranges_integers),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_batch_and_stop),
        cmocka_unit_test(test_val_metric_without_validation),
        cmocka_unit_test(test_conv_pool_shapes),
        cmocka_unit_test(test_dense_flattens_images),
        cmocka_unit_test(test_shape_mismatch_names_both_shapes),
        cmocka_unit_test(test_unknown_layer_kind),
        cmocka_unit_test(test_text_model_and_layer_kind_parameter),
        cmocka_unit_test(test_data_bound_name_missing),
        cmocka_unit_test(test_csv_data),
        cmocka_unit_test(test_sequence_input),
        cmocka_unit_test(test_missing_data_file_at_its_setting),
        cmocka_unit_test(test_notes),
        cmocka_unit_test(test_notes_silenced),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_unused_model_checked_alone),
        cmocka_unit_test(test_three_unrelated_errors),
        cmocka_unit_test(test_find_lr_options),
        cmocka_unit_test(test_policy_limits),
        cmocka_unit_test(test_override_details),
        cmocka_unit_test(test_unknown_allow_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
