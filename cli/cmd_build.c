/* cmd_build.c - `hpc build`: a trained model as an object file, a static
 * library and a header (docs/cli.md, "The AOT artifact"). */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "aot.h"
#include "aot_int8.h"
#include "cli.h"
#include "hprt_ckpt.h"
#include "load.h"

extern char **environ;

static bool valid_c_name(const char *s)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* Libraries a linker finds on every system: an artifact lib<name>.a with one
 * of these names would shadow it (`-lm` picking up the model). */
static bool shadows_system_library(const char *name)
{
    static const char *const system[] = {"c",     "m",       "pthread", "dl",     "rt",    "util",  "crypt",
                                         "resolv", "nsl",    "anl",     "mvec",   "gcc",   "gcc_s", "atomic",
                                         "gomp",  "omp",     "z",       "ssl",    "crypto", "ffi",  "openblas",
                                         "blas",  "cblas",   "lapack",  "hprt",   "LLVM"};
    for (size_t i = 0; i < sizeof system / sizeof *system; i++)
        if (strcmp(system[i], name) == 0)
            return true;
    return false;
}

/* The header's "Accuracy:" line from a run directory's summary.json (the
 * test accuracy of the weights it names, else the validation accuracy),
 * or false when there is none to state. */
static bool run_accuracy(const char *dir, char *out, size_t n)
{
    char path[4200], buf[8192];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    static const char *const keys[] = {"\"test_accuracy\":", "\"val_accuracy\":"};
    static const char *const what[] = {"test", "validation"};
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(buf, keys[i]);
        if (!p)
            continue;
        char *end;
        double v = strtod(p + strlen(keys[i]), &end);
        if (end == p + strlen(keys[i]) || !(v >= 0 && v <= 1))
            continue;
        snprintf(out, n, "%s accuracy %.4f of the float32 weights (%s/summary.json, at training)", what[i], v, dir);
        return true;
    }
    return false;
}

/* --exe: a standalone predictor over CSV rows (stdin or a file): label and probabilities per row. */
static int build_exe(const char *out, const char *name, char *err, size_t errlen)
{
    char src[4200], exe[4200], lib[4200], U[256]; /* U: the header's macro prefix, name in upper case */
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < sizeof U; p++)
        U[k++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
    U[k] = 0;
    snprintf(src, sizeof src, "%s/%s_main.c", out, name);
    snprintf(exe, sizeof exe, "%s/%s", out, name);
    snprintf(lib, sizeof lib, "%s/lib%s.a", out, name);
    FILE *f = fopen(src, "w");
    if (!f) {
        snprintf(err, errlen, "%.900s: %s", src, strerror(errno));
        return -1;
    }
    fprintf(f,
            "/* %s_main.c - written by hpc build --exe: reads CSV rows of %s_INPUT_SIZE numbers (a\n"
            " * header line, if any, is skipped; a trailing label column is ignored) from the file\n"
            " * named on the command line or stdin, prints the label and probabilities of each. */\n"
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"%s.h\"\n\n"
            "int main(int argc, char **argv)\n{\n"
            "    FILE *in = argc > 1 ? fopen(argv[1], \"r\") : stdin;\n"
            "    if (!in) { perror(argv[1]); return 2; }\n"
            "    static char line[1 << 20];\n"
            "    float x[%s_INPUT_SIZE], y[%s_OUTPUT_SIZE];\n"
            "    long row = 0;\n"
            "    while (fgets(line, sizeof line, in)) {\n"
            "        char *p = line, *end;\n"
            "        int k = 0;\n"
            "        for (; k < %s_INPUT_SIZE; k++) {\n"
            "            x[k] = strtof(p, &end);\n"
            "            if (end == p) break;\n"
            "            p = end + strspn(end, \", \\t\");\n"
            "        }\n"
            "        if (k < %s_INPUT_SIZE) { if (row == 0) continue; fprintf(stderr, \"row %%ld: %%d numbers, expected %%d\\n\", row, k, %s_INPUT_SIZE); return 3; }\n"
            "        if (%s_predict(x, y, 1) != 0) return 4;\n"
            "        int best = 0;\n"
            "        for (int j = 1; j < %s_OUTPUT_SIZE; j++) if (y[j] > y[best]) best = j;\n"
            "#ifdef %s_HAS_CLASS_NAMES\n"
            "        printf(\"%%s\", %s_classes[best]);\n"
            "#else\n"
            "        printf(\"%%d\", best);\n"
            "#endif\n"
            "        for (int j = 0; j < %s_OUTPUT_SIZE; j++) printf(\",%%.6g\", y[j]);\n"
            "        printf(\"\\n\");\n"
            "        row++;\n"
            "    }\n"
            "    return 0;\n}\n",
            name, U, name, U, U, U, U, U, name, U, U, name, U);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%.900s: %s", src, strerror(errno));
        return -1;
    }
    char inc[4300];
    snprintf(inc, sizeof inc, "-I%s", out);
    char *argv[] = {"cc", "-O2", inc, "-o", exe, src, lib, "-lm", NULL};
    pid_t pid;
    int status = 0, rc = posix_spawnp(&pid, "cc", NULL, NULL, argv, environ);
    if (rc != 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "cannot link the predictor %.900s with `cc`: %s", exe, rc ? strerror(rc) : "cc failed");
        return -1;
    }
    return 0;
}

/* The rows of a set as the model sees them (scaled, normalised): n x features, malloc'd. */
static float *features_of(const hprt_dataset *ds, long n)
{
    float *x = malloc(sizeof(float) * (size_t)(n * ds->features > 0 ? n * ds->features : 1));
    for (long i = 0; x && i < n; i++)
        for (int j = 0; j < ds->features; j++)
            x[i * ds->features + j] = hprt_data_feature(ds, i, j);
    return x;
}

static int argmax(const float *p, long K)
{
    int best = 0;
    for (long k = 1; k < K; k++)
        if (p[k] > p[best])
            best = (int)k;
    return best;
}

/* --quantize int8: the model's dense layers quantized, calibrated on the first
 * n_calib training samples; with --report, the test split's accuracy of the
 * C references of the float model and of the artifact's int8 arithmetic
 * (printed, and a line for the header in note).  An exit status. */
static int quantize_model(const plan_experiment *e, const cg_layout *l, const float *params, const hp_aot_options *ao,
                          hp_loaded_data *data, long n_calib, bool report, hp_q8_model *q8, float **calib,
                          char *note, size_t n_note)
{
    char msg[1024];
    if (hp_q8_plan(e, l, params, q8, msg, sizeof msg) != 0) {
        fprintf(stderr, "hpc build: %s\n", msg);
        return EXIT_USAGE;
    }
    q8->mean = ao->mean;
    q8->std = ao->std;
    hprt_error err = {0};
    if (data->train.n == 0 && hp_load_data(&e->data, data, &err) != HPRT_OK) {
        fprintf(stderr, "hpc: error: %s\n", err.msg);
        return EXIT_DATA;
    }
    long n = n_calib < data->train.n ? n_calib : data->train.n;
    if (n < 1 || data->train.features != q8->features) {
        fprintf(stderr, "hpc build: %s:%d: --quantize int8: no training samples to calibrate on\n", e->file,
                e->layers[0].line);
        return EXIT_DATA;
    }
    if (!(*calib = features_of(&data->train, n)) || hp_q8_calibrate(q8, *calib, n) != 0) {
        fprintf(stderr, "hpc build: out of memory\n");
        return EXIT_RUN;
    }
    if (!report)
        return EXIT_OK;
    const hprt_dataset *ts = data->has_test ? &data->test : data->has_valid ? &data->valid : NULL;
    if (!ts || !ts->y || ts->n == 0) {
        fprintf(stderr, "hpc build: %s:%d: --report needs a test (or valid) split with labels in `data`\n", e->file,
                e->layers[0].line);
        return EXIT_USAGE;
    }
    long K = q8->classes, right_f = 0, right_q = 0, agree = 0;
    float *x = malloc(sizeof(float) * (size_t)q8->features), *pf = malloc(sizeof(float) * (size_t)K),
          *pq = malloc(sizeof(float) * (size_t)K);
    int rc = x && pf && pq ? 0 : -1;
    for (long i = 0; rc == 0 && i < ts->n; i++) {
        for (int j = 0; j < ts->features; j++)
            x[j] = hprt_data_feature(ts, i, j);
        if (hp_q8_forward_float(q8, x, pf) != 0 || hp_q8_forward_int8(q8, x, pq) != 0) {
            rc = -1;
            break;
        }
        int a = argmax(pf, K), b = argmax(pq, K);
        right_f += a == ts->y[i];
        right_q += b == ts->y[i];
        agree += a == b;
    }
    free(x);
    free(pf);
    free(pq);
    if (rc != 0) {
        fprintf(stderr, "hpc build: out of memory\n");
        return EXIT_RUN;
    }
    double af = (double)right_f / (double)ts->n, aq = (double)right_q / (double)ts->n;
    const char *split = data->has_test ? "test" : "valid";
    snprintf(note, n_note, "Accuracy on the %s split (%ld samples): int8 %.4f, float32 %.4f; labels agree on %.2f%%.",
             split, ts->n, aq, af, 100.0 * (double)agree / (double)ts->n);
    printf("int8: %s accuracy %.4f, float32 %.4f (%+.4f); labels agree on %.2f%% of %ld samples; calibrated on %ld "
           "training samples (the C references of both models)\n",
           split, aq, af, aq - af, 100.0 * (double)agree / (double)ts->n, ts->n, n);
    return EXIT_OK;
}

int cmd_build(int argc, char **argv)
{
    const char *weights = NULL, *out = NULL, *name = NULL, *target = NULL, *cpu = NULL, *quantize = NULL,
               *calibrate = NULL;
    bool exe = false, force = false, report = false;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest)
        return EXIT_RUN;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--weights") == 0 ? &weights
                            : strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0 ? &out
                            : strcmp(a, "--name") == 0 ? &name
                            : strcmp(a, "--target") == 0 ? &target
                            : strcmp(a, "--cpu") == 0 ? &cpu
                            : strcmp(a, "--quantize") == 0 ? &quantize
                            : strcmp(a, "--calibrate") == 0 ? &calibrate
                                                      : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                cli_usage_error("build", "%s needs a value", a);
                free(rest);
                return EXIT_USAGE;
            }
            *slot = argv[++i];
        } else if (strcmp(a, "--exe") == 0) {
            exe = true;
        } else if (strcmp(a, "--force") == 0) {
            force = true;
        } else if (strcmp(a, "--report") == 0) {
            report = true;
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    cli_common o;
    int status = EXIT_USAGE;
    hp_session hs = {0};
    hp_loaded_data data = {0};
    hprt_train_state state = {0};
    hp_q8_model q8 = {0};
    float *calib = NULL;
    hp_error he;
    long n_calib = 1000;
    if (cli_parse_common(n_rest, rest, &o, "build") < 0)
        goto done;
    if (!weights || !out) {
        cli_usage_error("build", "hpc build FILE [EXPERIMENT] --weights RUN_DIR|FILE.hpw -o OUT");
        goto done;
    }
    if (quantize && strcmp(quantize, "int8") != 0) {
        cli_usage_error("build", "--quantize takes int8, not '%s'", quantize);
        goto done;
    }
    if ((calibrate || report) && !quantize) {
        cli_usage_error("build", "%s goes with --quantize int8", calibrate ? "--calibrate" : "--report");
        goto done;
    }
    if (calibrate) {
        char *end;
        errno = 0;
        n_calib = strtol(calibrate, &end, 10);
        if (end == calibrate || *end || errno || n_calib < 1 || n_calib > 10000000) {
            cli_usage_error("build", "--calibrate takes a number of samples from 1 to 10000000, not '%s'", calibrate);
            goto done;
        }
    }
    if (exe && target) {
        cli_usage_error("build", "--exe links for this machine; build for --target without it");
        goto done;
    }
    struct stat ob;
    if (!force && stat(out, &ob) == 0) {
        cli_usage_error("build", "'%s' exists; give another -o, or --force to replace the files in it", out);
        goto done;
    }
    hp_session_opts so = {.file = o.file, .target = o.target, .sets = o.sets, .n_sets = o.n_sets,
                          .allow = o.allow, .n_allow = o.n_allow, .use = HP_USE_BUILD};
    hp_session_init(&hs, &so);
    hp_err_class c = hp_session_run(&hs, HP_PASS_PLAN, &he);
    cli_print_diags(&hs.diags);
    if (c != HP_ERR_NONE) {
        if (c == HP_ERR_USAGE && he.pass == HP_PASS_PLAN && hs.plan) /* a search */
            snprintf(he.msg, sizeof he.msg, "'%s' is a search; name an experiment", hs.plan->search->name);
        status = cli_session_error("build", &he);
        goto done;
    }
    plan_experiment *e = hs.e;
    if (!name)
        name = e->name;
    if (!valid_c_name(name)) {
        cli_usage_error("build", "'%s' is not a C identifier; give --name NAME", name);
        goto done;
    }
    if (shadows_system_library(name)) {
        cli_usage_error("build", "'%s' would build lib%s.a, which shadows the system library of that name; give --name "
                        "NAME", name, name);
        goto done;
    }
    char msg[1024];
    if ((c = hp_session_run(&hs, HP_PASS_MEMORY, &he)) != HP_ERR_NONE) {
        status = cli_session_error("build", &he);
        goto done;
    }
    const cg_layout *l = hs.layout;
    bool lm = l->text && l->loss_steps > 1; /* a language model: built as NAME_step */
    bool seq = !l->text && e->layers[0].out.kind == PLAN_SEQ; /* a sequence classifier: NAME_predict over T steps */
    for (int i = 0; i < e->n_layers; i++) {
        plan_layer_kind k = e->layers[i].kind;
        if (lm    ? !plan_layer_has(k, PLAN_LK_AOT_LM)
            : seq ? !hp_aot_seq_supports(k)
                  : !plan_layer_has(k, PLAN_LK_AOT) || e->layers[i].in.kind == PLAN_SEQ) {
            if (seq)
                fprintf(stderr, "hpc build: %s:%d: `%s`: this version of hpc does not build it into a sequence "
                        "classifier (`input [T, F]`)\n", e->file, e->layers[i].line, plan_layer_name(k));
            else
                fprintf(stderr, "hpc build: %s:%d: `%s`: this version of hpc builds feed-forward models, sequence "
                        "classifiers (`input [T, F]`) and language models (text data, an output at every step); "
                        "not this %s model\n",
                        e->file, e->layers[i].line, plan_layer_name(k), lm ? "language" : "recurrent");
            status = EXIT_USAGE;
            goto done;
        }
    }
    /* the weights: a checkpoint, or the weights a run ended with */
    char ckpt[4200];
    struct stat sb;
    if (stat(weights, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(ckpt, sizeof ckpt, "%s/%s", weights, cli_final_weights(weights));
    else
        snprintf(ckpt, sizeof ckpt, "%s", weights);
    if (hp_session_read_checkpoint(&hs, ckpt, &state, &he) != HP_ERR_NONE) {
        status = cli_session_error("build", &he);
        goto done;
    }
    float *params = hs.mem.params;
    hprt_error err = {0};
    /* normalisation needs the training statistics */
    hp_aot_options ao = {.name = name, .out_dir = out, .triple = target, .cpu = cpu, .params = params};
    char accuracy[4400];
    if (stat(weights, &sb) == 0 && S_ISDIR(sb.st_mode) && run_accuracy(weights, accuracy, sizeof accuracy))
        ao.accuracy = accuracy;
    hprt_vocab vocab;
    if (lm && quantize) {
        cli_usage_error("build", "--quantize int8 builds feed-forward classifiers; a language model is built in float32");
        goto done;
    }
    if (lm && exe) {
        cli_usage_error("build", "--exe links a CSV predictor; for a language model link examples/deploy/generate.c "
                        "with the library instead");
        goto done;
    }
    if (lm) {
        /* the token ids' bytes: the run's vocab.json, beside the checkpoint */
        char vdir[4200];
        snprintf(vdir, sizeof vdir, "%s", ckpt);
        char *slash = strrchr(vdir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(vdir, sizeof vdir, ".");
        if (!cli_read_vocab(vdir, l->classes, &vocab, msg, sizeof msg)) {
            fprintf(stderr, "hpc build: %s\n", msg);
            status = EXIT_DATA;
            goto done;
        }
        ao.vocab = vocab.byte;
        ao.vocab_size = vocab.size;
    }
    if (e->data.normalize) {
        hprt_norm nm;
        if (!cli_norm_stats(e, &state, &data, &nm, &err)) {
            fprintf(stderr, "hpc build: the training statistics: %s\n", err.msg);
            status = EXIT_DATA;
            goto done;
        }
        ao.mean = nm.mean;
        ao.std = nm.std;
    }
    char note[256] = "";
    if (quantize) {
        status = quantize_model(e, l, params, &ao, &data, n_calib, report, &q8, &calib, note, sizeof note);
        if (status != EXIT_OK)
            goto done;
        status = EXIT_USAGE;
        ao.q8 = &q8;
        ao.q8_note = note[0] ? note : NULL;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "hpc build: cannot create %s: %s\n", out, strerror(errno));
        status = EXIT_RUN;
        goto done;
    }
    cg_error cerr = {0};
    if (hp_aot_build(e, l, &ao, &cerr) != 0) {
        fprintf(stderr, "hpc build: %s\n", cerr.msg);
        status = cli_cg_status(&cerr);
        goto done;
    }
    if (exe && build_exe(out, name, msg, sizeof msg) != 0) {
        fprintf(stderr, "hpc build: %s\n", msg);
        status = EXIT_RUN;
        goto done;
    }
    char obj[4200];
    snprintf(obj, sizeof obj, "%s/%s.o", out, name);
    long size = stat(obj, &sb) == 0 ? (long)sb.st_size : 0;
    if (!o.quiet && lm)
        printf("%s/%s.o (%ld bytes), %s/lib%s.a, %s/%s.h: %s_step(state, token, probs[%d]) from %s\n", out, name, size,
               out, name, out, name, name, l->classes, ckpt);
    else if (!o.quiet)
        printf("%s/%s.o (%ld bytes), %s/lib%s.a, %s/%s.h%s%s%s%s: %s_predict(input[%d], output[%d]) from %s\n", out,
               name, size, out, name, out, name, exe ? ", " : "", exe ? out : "", exe ? "/" : "", exe ? name : "", name,
               l->features, l->classes, ckpt);
    status = EXIT_OK;
done:
    hp_q8_free(&q8);
    free(calib);
    hp_loaded_data_free(&data);
    hprt_train_state_free(&state);
    hp_session_free(&hs);
    cli_common_free(&o);
    free(rest);
    return status;
}
