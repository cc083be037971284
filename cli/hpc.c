/* hpc.c - the command line: `hpc COMMAND ...` (docs/cli.md, docs/cli.md).
 *
 * Only this directory writes to the terminal; the compiler and the runtime
 * report through diagnostics sinks and error values.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tools.h"

#ifndef HPC_VERSION
#define HPC_VERSION "0.0.0"
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
} command;

static const command commands[] = {
    {"run", cmd_run, "hpc run FILE [EXPERIMENT] [--set PATH=VALUE]... [--epochs N] [--threads N] [--out DIR [--force]] "
            "[--from RUN_DIR|FILE.hpw [--from-partial]] [--tensorboard DIR] [--quiet]",
     "Checks FILE, compiles a training step specialised to the experiment's shapes\n"
     "(LLVM, for this CPU), and trains: a progress bar per epoch on a terminal, one\n"
     "line per epoch otherwise; evaluates on `test` at the end.  The run directory\n"
     "(runs/EXPERIMENT-YYYYmmdd-HHMMSS, or --out DIR) gets experiment.hp (every\n"
     "default written out), metrics.csv, steps.csv, events.log and summary.json.\n"
     "Ctrl-C (or SIGTERM) stops after the current step, leaves last.hpw for\n"
     "`hpc resume` and exits 130 (143).  Under mpirun or srun (`mpirun -n 4 hpc run\n"
     "FILE`) it trains data-parallel: each rank takes its share of every batch, the\n"
     "gradients are summed, rank 0 alone writes the run directory\n"
     "(docs/distributed.md).\n"
     "\n"
     "  --set PATH=VALUE  override a setting or model parameter (checked like the file)\n"
     "  --epochs N        train for N epochs (the upper bound with a stop rule)\n"
     "  --threads N       worker threads (default: the experiment's `threads`, else every core;\n"
     "                    under MPI the rank's share of the node's cores)\n"
     "  --out DIR         the run directory (an existing one only with --force)\n"
     "  --tensorboard DIR also write TensorBoard event files into DIR/<run directory name>\n"
     "                    (as `tensorboard = \"DIR\"` in the experiment): `tensorboard --logdir DIR`\n"
     "  --from RUN_DIR|FILE.hpw\n"
     "                    start from trained weights (a run directory: its best.hpw, else\n"
     "                    last.hpw), layer by layer; the optimizer state starts fresh\n"
     "  --from-partial    with --from: load the layers that match, initialise the others\n"
     "  --quiet           print nothing but errors\n"
     "\n"
     "Exit status: 0 done, 1 the file has errors, 2 bad usage, 3 bad data, 4 the run failed\n"
     "(a NaN loss, an I/O error), 130 interrupted.\n"},
    {"check", cmd_check, "hpc check FILE [--allow NAME]...",
     "Parses and checks FILE and everything it imports: names, settings, data files,\n"
     "shapes, every experiment and search.  Prints every error, warning and note at\n"
     "once, each at its line and column.  Exit status 1 when there is an error.\n"
     "\n"
     "  --allow NAME   silence the note NAME (batch-pow2, dense-depth, vanilla-rnn,\n"
     "                 stack-depth, embed-dim, no-valid, lr-range); a line can also\n"
     "                 say `# hpc: allow(NAME)`\n"},
    {"explain", cmd_explain, "hpc explain FILE [EXPERIMENT|SEARCH] [--set PATH=VALUE]...",
     "Prints the Plan of an experiment (the file's first one by default): every layer\n"
     "with its output shape, exact parameter count and FLOPs per sample, the totals,\n"
     "then the loss, optimizer, schedule, batch, stop rule and regularisation with\n"
     "every default written out, a memory estimate, and the learning rate at the\n"
     "start of each epoch.  For a search: its spaces, strategy and base experiment.\n"
     "\n"
     "  --set PATH=VALUE  override a setting or model parameter, checked like the\n"
     "                    file: --set model.hidden=512 --set optimizer.lr=3e-4\n"
     "  --allow NAME      silence a note\n"},
    {"resume", cmd_resume, "hpc resume RUN_DIR [--epochs N] [--quiet]",
     "Continues an interrupted run (Ctrl-C, a kill, a crash) from RUN_DIR/last.hpw,\n"
     "with the run's own experiment.hp and thread count.  The final metrics.csv,\n"
     "steps.csv (every column but the time) and weights are bit-identical to a run\n"
     "that was never interrupted.  A checkpoint that fails its checksum or belongs\n"
     "to another model is refused with a message naming the file.\n"
     "\n"
     "  --epochs N   extend a finished, stopped or interrupted run to N epochs in all\n"
     "               (more than it has trained): the schedule recomputed for the new\n"
     "               length, a stop rule that ended it started again; said in events.log\n"
     "  --quiet      print nothing but errors\n"},
    {"predict", cmd_predict,
     "hpc predict RUN_DIR INPUT [--labels FILE] [--weights best|last] [--format csv|json] [--header|--no-header]",
     "Predictions of a trained model: INPUT is a CSV file (like the training data;\n"
     "its label column, when present, is compared) or an IDX images file (with\n"
     "--labels, the labels file).  One line per sample: the predicted class and the\n"
     "class probabilities (csv: row,predicted[,label],p0,...; json: one object per\n"
     "line).  The weights are those the run ended with (best.hpw when it restored\n"
     "the best epoch's, else last.hpw) unless --weights says.  With labels, the\n"
     "accuracy, each class's precision, recall and F1, their macro averages and the\n"
     "confusion matrix go to standard error (json: also as a last line).  The input is scaled and normalised as the\n"
     "training data was (normalize = standard: with the statistics saved in the\n"
     "checkpoint).  A CSV input's first line is a header with --header, a sample with\n"
     "--no-header, and otherwise a header exactly when it is not all numbers (with a\n"
     "warning saying so).\n"},
    {"build", cmd_build,
     "hpc build FILE [EXPERIMENT] --weights RUN_DIR|FILE.hpw -o OUT [--force] [--name NAME] [--target TRIPLE] [--cpu CPU] "
     "[--exe] [--quantize int8] [--calibrate N] [--report]",
     "Compiles the trained model ahead of time for inference: OUT/NAME.o, OUT/libNAME.a\n"
     "and OUT/NAME.h declaring NAME_predict(input, output, n).  The weights are constants\n"
     "inside the object; the forward pass is plain loops vectorised for the target;\n"
     "the data's scale and normalisation are applied inside, so callers pass raw\n"
     "features (an embedded categorical column takes its category's id, 1 to k, 0 for\n"
     "unknown: the header lists the names).  Links with `cc app.c OUT/libNAME.a -lm`:\n"
     "no hpc, LLVM or OpenBLAS.\n"
     "A language model (text data, an output at every step) declares instead\n"
     "NAME_state_size(), NAME_reset(state) and NAME_step(state, token, probs), with its\n"
     "vocabulary (the run's vocab.json) in the header; examples/deploy/generate.c uses it.\n"
     "\n"
     "  --weights  a run directory (the weights it ended with) or a .hpw checkpoint\n"
     "  --name     the C prefix (default: the experiment's name)\n"
     "  --target   a target triple (default: this machine), e.g. aarch64-linux-gnu\n"
     "  --cpu      portable (the default): on x86-64 the forward pass for x86-64-v2, -v3\n"
     "             and -v4, the best one picked at run time (NAME_isa() says which);\n"
     "             generic elsewhere. native: this machine's alone; or one CPU's name\n"
     "  --exe      also link OUT/NAME, a predictor reading CSV rows (not for language models)\n"
     "  --quantize int8  int8 post-training quantization of a model of dense and conv layers (x86-64):\n"
     "             weights per output channel, activations calibrated on training samples\n"
     "  --calibrate N  the first N training samples (in the data's order) set the\n"
     "             activations' ranges (default 1000)\n"
     "  --report   print the test split's accuracy of the int8 and the float32 model (and put\n"
     "             it in the header)\n"},
    {"lr-find", cmd_lr_find, "hpc lr-find FILE [EXPERIMENT] [--set PATH=VALUE]... [--threads N] [--out DIR [--force]]",
     "The LR range test (Smith 2017, as fastai's lr_find): from the experiment's\n"
     "initial state, trains with a rate growing exponentially from 1e-7 to 10 over\n"
     "100 steps (or find_lr(start, end, steps, suggest) as the file gives them),\n"
     "stopping when the smoothed loss passes 4x its minimum, and prints the\n"
     "suggestion (valley, steep or minimum).  Writes lr_find.csv and lr_find.svg\n"
     "(loss against rate, log axis, the suggestion marked) into the run directory.\n"
     "`find_lr` in a file runs the same test at the start of `hpc run`.\n"},
    {"plot", cmd_plot, "hpc plot RUN_DIR",
     "Draws RUN_DIR/curves.svg from the run's metrics.csv, steps.csv and events.log:\n"
     "training loss (per step and per epoch) and validation loss, validation\n"
     "accuracy, the learning rate, the momentum (when cycled) and the batch size (when\n"
     "it changes), against steps, with the events (batch-size changes, plateau cuts,\n"
     "dropout changes, early stop) marked.  `hpc report` shows them in a page.\n"},
    {"report", cmd_report, "hpc report RUN_DIR|STUDY_DIR [-o FILE]",
     "Writes one self-contained HTML page about a run (RUN_DIR/report.html, or -o FILE;\n"
     "no network access, no scripts): the summary, the curves (loss, accuracy,\n"
     "learning rate, momentum, batch size) with the events marked, the LR range test\n"
     "if the run had one, the confusion matrix on the test split (else the validation\n"
     "split; the run's final weights evaluated again), the timings (compiling, each\n"
     "epoch, samples per second), experiment.hp and the Plan as `hpc explain` shows it.\n"
     "For a study directory (`hpc search`): its summary, the best configuration, the\n"
     "results table (sorted by a click on a column: the page's one small script), the\n"
     "optimisation history and parallel coordinates, and study.hp.\n"},
    {"sample", cmd_sample, "hpc sample RUN_DIR [--len N] [--temperature T] [--prime TEXT] [--seed S] [--weights best|last]",
     "Generates text from a trained language model (text data, an output at every\n"
     "step), streaming it to stdout: the prime (default: a newline, not printed) is\n"
     "fed through the model, then --len bytes (default 500) are drawn one at a time\n"
     "from softmax(logits / T) (--temperature, default 1; 0 picks the most likely\n"
     "byte) and fed back.  --seed (default 1) fixes the draws: the same seed gives the\n"
     "same text.  The weights are those the run ended with unless --weights says.\n"},
    {"search", cmd_search,
     "hpc search FILE [SEARCH] [--set PATH=VALUE]... [--trials N] [--parallel N] [--out DIR] [--tensorboard DIR] [--quiet]",
     "Runs a study: the search's strategy (grid, random, tpe, hyperband, asha) picks\n"
     "the trials, each a run of the base experiment with the trial's values, trained\n"
     "in its own run directory and, under hyperband and asha, continued from its\n"
     "checkpoint when promoted.  Trials whose compiled code is the same share it;\n"
     "the data is loaded once.  The study directory (studies/SEARCH-YYYYmmdd-HHMMSS,\n"
     "or --out DIR) gets study.hp, journal.jsonl (every event, fsync'd), trials/NNNN/,\n"
     "results.csv, summary.json, best.hp, history.svg and parallel.svg.  Ctrl-C stops\n"
     "the running trials at a checkpoint; `hpc resume STUDY_DIR` goes on.  Under\n"
     "mpirun or srun the trials run on every rank, rank 0 keeping the journal (the\n"
     "study directory on a filesystem every rank sees): `mpirun -n 4 hpc search FILE`.\n"
     "\n"
     "  --set PATH=VALUE  override a setting of the base experiment for every trial\n"
     "  --trials N        trials in all (random, tpe, asha; grid: at most N)\n"
     "  --parallel N      trials at a time (at most one per core; the cores are split;\n"
     "                    under mpirun: on each rank, of the cores it was given)\n"
     "  --out DIR         the study directory (must not exist)\n"
     "  --tensorboard DIR TensorBoard logs in DIR/<study directory name> (as the base's\n"
     "                    `tensorboard = \"DIR\"`): the hparams plugin's experiment, and a\n"
     "                    session per trial with its values, epochs and status\n"
     "  --quiet           print nothing but errors\n"
     "\n"
     "Exit status: 0 done, 1 the file has errors, 2 bad usage, 3 bad data, 4 every\n"
     "trial failed or the study could not write its files, 130 interrupted (143 on SIGTERM).\n"},
    {"emit", cmd_emit, "hpc emit [--dump=ast|plan|layout|ir0|ir] FILE [EXPERIMENT] [--set PATH=VALUE]... [--threads N]",
     "Prints what one pass of the compiler made of FILE, as text:\n"
     "\n"
     "  --dump=ast     the file's declarations as parsed (imports are not followed)\n"
     "  --dump=plan    the experiment's Plan, every default written out (as `hpc explain`)\n"
     "  --dump=layout  its memory layout: every layer's offsets and sizes in the arenas,\n"
     "                 the dropout sites, the batch sizes\n"
     "  --dump=ir0     the LLVM module of its training and evaluation steps, as generated\n"
     "  --dump=ir      the same after optimisation (the default): what `hpc run`\n"
     "                 JIT-compiles, specialised to the shapes, the batch sizes and\n"
     "                 the thread count\n"
     "  --threads N    the thread count of layout, ir0 and ir (default: the experiment's\n"
     "                 `threads`, else every core)\n"},
    {"emit-llvm", cmd_emit_llvm, "hpc emit-llvm FILE [EXPERIMENT] [--set PATH=VALUE]... [--threads N]",
     "The same as `hpc emit --dump=ir`: the optimised LLVM IR of the experiment's\n"
     "training and evaluation steps.\n"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof *commands)

/* Commands of docs/cli.md that later versions add; named so users get a clear answer. */
static const char *const planned[] = {NULL};

static void usage(FILE *out)
{
    fprintf(out, "hpc %s - compile .hp experiment files into fast native training code\n\n", HPC_VERSION);
    fprintf(out, "usage: hpc COMMAND [ARGS]\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %s\n", commands[i].synopsis);
    fprintf(out, "  hpc help COMMAND      help on one command\n");
    fprintf(out, "  hpc --version\n");
    fprintf(out, "\nexit status: 0 success, 1 the file has errors, 2 bad usage, 3 bad data, 4 the run failed\n");
    fprintf(out, "documentation: docs/language.md (the language), docs/cli.md (this program)\n");
}

void cli_usage(FILE *out) { usage(out); }

int cli_command_count(void) { return N_COMMANDS; }

void cli_command_doc(int i, const char **name, const char **synopsis, const char **help)
{
    *name = commands[i].name;
    *synopsis = commands[i].synopsis;
    *help = commands[i].help;
}

static const command *find(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int not_yet(const char *name)
{
    for (size_t i = 0; planned[i]; i++)
        if (strcmp(planned[i], name) == 0) {
            fprintf(stderr, "hpc: '%s' is not in this version of hpc yet; 'hpc --help' lists what is\n", name);
            return 1;
        }
    return 0;
}

static int help(int argc, char **argv)
{
    if (argc == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    /* hidden: the generated man page and the vocabulary for the editor grammars */
    if (strcmp(argv[0], "--man") == 0)
        return cli_man(stdout);
    if (strcmp(argv[0], "--keywords") == 0)
        return cli_keywords(stdout);
    const command *c = find(argv[0]);
    if (!c) {
        if (!not_yet(argv[0]))
            fprintf(stderr, "hpc: no command '%s'; 'hpc --help' lists them\n", argv[0]);
        return EXIT_USAGE;
    }
    printf("usage: %s\n\n%s", c->synopsis, c->help);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return help(0, NULL);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        return cli_version(stdout);
    }
    if (strcmp(cmd, "complete") == 0) /* hidden: the shell completion scripts' back end */
        return cmd_complete(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0)
        return help(argc - 2, argv + 2);
    const command *c = find(cmd);
    if (!c) {
        if (!not_yet(cmd))
            fprintf(stderr, "hpc: no command '%s'; 'hpc --help' lists them\n", cmd);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            char *name[] = {(char *)cmd};
            return help(1, name);
        }
    return c->run(argc - 2, argv + 2);
}
