"""check_events.py PB2_DIR TB_DIR RUN_DIR [FILES]: decodes the TensorBoard
event files hpc wrote into TB_DIR (TFRecord framing with masked CRC32C, Event
protocol buffers compiled from event.proto by protoc) and checks them against
the run's steps.csv, metrics.csv, events.log and experiment.hp.  FILES (1 by
default): how many files there must be (a resumed run adds one; a later file
wins for a step both have).  Prints the problems and exits 1 when there are
any."""
import csv
import os
import sys

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import event_pb2  # noqa: E402  (generated at test time)
import tfrecord  # noqa: E402

problems = []


def bad(msg):
    problems.append(msg)


tb_dir, run_dir = sys.argv[2], sys.argv[3]
n_files = int(sys.argv[4]) if len(sys.argv) > 4 else 1
files = tfrecord.event_files(tb_dir)
if len(files) != n_files:
    print("FAIL: expected %d event files in %s, found %s" % (n_files, tb_dir, files))
    sys.exit(1)

events = []
firsts = []  # where each file's events start
for path in files:
    firsts.append(len(events))
    events += tfrecord.read_records(path, event_pb2.Event, bad)

for k in firsts:
    if k >= len(events) or events[k].file_version != "brain.Event:2":
        bad("a file's first event is not file_version brain.Event:2")
for ev in events:
    if not (ev.wall_time > 1e9):
        bad("an event without a wall time")

scalars = {}  # tag -> {step: value}
texts = {}    # tag -> [(step, text)]
for ev in events:
    if not ev.HasField("summary"):
        continue
    for v in ev.summary.value:
        which = v.WhichOneof("value")
        if which == "simple_value":
            scalars.setdefault(v.tag, {})[ev.step] = v.simple_value
        elif which == "tensor":
            if v.metadata.plugin_data.plugin_name != "text":
                bad("tensor %s: plugin %r, not text" % (v.tag, v.metadata.plugin_data.plugin_name))
            if v.tensor.dtype != 7 or len(v.tensor.string_val) != 1:
                bad("tensor %s: not one DT_STRING" % v.tag)
            texts.setdefault(v.tag, []).append((ev.step, v.tensor.string_val[0].decode()))
        else:
            bad("value %s holds %s" % (v.tag, which))


def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def compare(tag, want):
    got = scalars.get(tag, {})
    if sorted(got) != sorted(want):
        bad("%s: steps %s..., expected %s..." % (tag, sorted(got)[:5], sorted(want)[:5]))
        return
    for s, w in want.items():
        if not close(got[s], w):
            bad("%s at step %d: %r, expected %r" % (tag, s, got[s], w))
            return


steps = list(csv.DictReader(open(os.path.join(run_dir, "steps.csv"))))
for col, tag in (("loss", "step/loss"), ("lr", "step/lr"), ("batch", "step/batch"), ("momentum", "step/momentum")):
    if col in steps[0]:
        compare(tag, {int(r["step"]): float(r[col]) for r in steps})
    elif tag in scalars:
        bad("%s is written but steps.csv has no %s" % (tag, col))
metrics = list(csv.DictReader(open(os.path.join(run_dir, "metrics.csv"))))
for col in ("epoch", "lr", "batch", "train_loss", "val_loss", "val_accuracy"):
    compare("epoch/" + col, {int(r["step"]): float(r[col]) for r in metrics if r[col] != ""})
# seconds: rounded to a millisecond in metrics.csv
for r in metrics:
    got = scalars.get("epoch/seconds", {}).get(int(r["step"]))
    if got is None or abs(got - float(r["seconds"])) > 1e-3:
        bad("epoch/seconds at step %s: %r, expected %s" % (r["step"], got, r["seconds"]))

exp = texts.get("experiment", [])
want = open(os.path.join(run_dir, "experiment.hp")).read()
if len(exp) != n_files or exp[0][0] != 0 or any(t != "```\n" + want + "```\n" for _, t in exp):
    bad("the experiment text is not experiment.hp in a code block at step 0 (and where each resume starts)")
logged = [t for _, t in texts.get("events", [])]
want_events = [line.rstrip("\n") for line in open(os.path.join(run_dir, "events.log"))]
# a resume drops the interrupted run's last event from events.log; TensorBoard keeps it
if (n_files == 1 and logged != want_events) or (n_files > 1 and not all(e in logged for e in want_events)):
    bad("the events text %r differs from events.log %r" % (logged, want_events))

summary = open(os.path.join(run_dir, "summary.json")).read()
if '"test_accuracy": null' not in summary:
    if "test/accuracy" not in scalars or "test/loss" not in scalars:
        bad("no test/loss and test/accuracy")

for p in problems:
    print("FAIL: " + p)
print("%d events, %d scalar tags, %d problems" % (len(events), len(scalars), len(problems)))
sys.exit(1 if problems else 0)
