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

int cmd_build(int argc, char **argv)
{
    const char *weights = NULL, *out = NULL, *name = NULL, *target = NULL, *cpu = NULL;
    bool exe = false, force = false;
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
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    cli_common o;
    int status = EXIT_USAGE;
    hp_session hs = {0};
    hp_loaded_data data = {0};
    hprt_train_state state = {0};
    hp_error he;
    if (cli_parse_common(n_rest, rest, &o, "build") < 0)
        goto done;
    if (!weights || !out) {
        cli_usage_error("build", "hpc build FILE [EXPERIMENT] --weights RUN_DIR|FILE.hpw -o OUT");
        goto done;
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
    for (int i = 0; i < e->n_layers; i++) {
        plan_layer_kind k = e->layers[i].kind;
        if (lm ? !plan_layer_has(k, PLAN_LK_AOT_LM)
               : !plan_layer_has(k, PLAN_LK_AOT) || e->layers[i].in.kind == PLAN_SEQ) {
            if (!lm && e->layers[0].out.kind == PLAN_SEQ)
                fprintf(stderr, "hpc build: %s:%d: `%s`: a sequence classifier (`input [T, F]`) is not built ahead of "
                        "time: its recurrent layers are compiled only as a language model's one-token step; "
                        "use `hpc predict` with the run\n",
                        e->file, e->layers[i].line, plan_layer_name(k));
            else
                fprintf(stderr, "hpc build: %s:%d: `%s`: this version of hpc builds feed-forward models and language "
                        "models (text data, an output at every step); not this %s model\n",
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
    hp_loaded_data_free(&data);
    hprt_train_state_free(&state);
    hp_session_free(&hs);
    cli_common_free(&o);
    free(rest);
    return status;
}
