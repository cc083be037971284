"""check_hparams.py PB2_DIR TB_ROOT STUDY_DIR: decodes the TensorBoard logs
`hpc search --tensorboard` wrote for a study (TFRecord framing, Event
protocol buffers from event.proto, the hparams plugin's messages from
hparams.proto, both compiled by protoc) and checks them against the study:
the experiment at TB_ROOT (every varied path with its type and domain, the
objective first among the metrics), and for each trial of results.csv a
session in TB_ROOT/NNNN: its values (results.csv's columns), every epoch's
objective (the trial's metrics.csv), and its status.  Prints the problems
and exits 1 when there are any."""
import csv
import os
import sys

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import event_pb2  # noqa: E402  (generated at test time)
import hparams_pb2  # noqa: E402
import tfrecord  # noqa: E402

problems = []


def bad(msg):
    problems.append(msg)


tb_root, study = sys.argv[2], sys.argv[3]


def read_run(d):
    """(hparams messages by tag, scalars {tag: {step: value}}) of one run."""
    plugin, scalars = {}, {}
    files = tfrecord.event_files(d)
    if not files:
        bad("%s: no event file" % d)
    for path in files:
        events = tfrecord.read_records(path, event_pb2.Event, bad)
        if not events or events[0].file_version != "brain.Event:2":
            bad("%s: the first event is not file_version brain.Event:2" % path)
        for ev in events:
            for v in ev.summary.value:
                which = v.WhichOneof("value")
                if which == "simple_value":
                    scalars.setdefault(v.tag, {})[ev.step] = v.simple_value
                    continue
                if v.metadata.plugin_data.plugin_name != "hparams":
                    bad("%s: %s: plugin %r" % (d, v.tag, v.metadata.plugin_data.plugin_name))
                    continue
                # the plugin's null tensor: an empty DT_FLOAT vector
                t = v.tensor
                if which != "tensor" or t.dtype != 1 or [x.size for x in t.tensor_shape.dim] != [0]:
                    bad("%s: %s: not the null tensor" % (d, v.tag))
                data = hparams_pb2.HParamsPluginData()
                data.ParseFromString(v.metadata.plugin_data.content)
                if data.version != 0:
                    bad("%s: %s: version %d" % (d, v.tag, data.version))
                plugin.setdefault(v.tag, []).append(data)
    return plugin, scalars


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def close(a, b, rel=1e-5):
    return abs(a - b) <= rel * max(1.0, abs(b))


rows = list(csv.DictReader(open(os.path.join(study, "results.csv"))))
header = list(rows[0].keys())
objective = header[3]
paths = header[5:]

# ---- the experiment ----
plugin, _ = read_run(tb_root)
exps = plugin.get("_hparams_/experiment", [])
if len(exps) != 1:
    bad("the root has %d experiment summaries, not 1" % len(exps))
else:
    exp = exps[0].experiment
    names = [h.name for h in exp.hparam_infos]
    if names != paths:
        bad("experiment hparams %s, expected the varied paths %s" % (names, paths))
    for h in exp.hparam_infos:
        values = [r[h.name] for r in rows]
        numeric = all(is_number(v) for v in values)
        want = hparams_pb2.DATA_TYPE_FLOAT64 if numeric else hparams_pb2.DATA_TYPE_STRING
        if h.type != want:
            bad("%s: type %d, expected %d" % (h.name, h.type, want))
        dom = h.WhichOneof("domain")
        if dom == "domain_discrete":
            allowed = [v.number_value if v.WhichOneof("kind") == "number_value" else v.string_value
                       for v in h.domain_discrete.values]
            for v in values:
                if not any((close(float(v), a) if isinstance(a, float) else v == a) for a in allowed):
                    bad("%s: %s is not in its domain %s" % (h.name, v, allowed))
        elif dom == "domain_interval":
            lo, hi = h.domain_interval.min_value, h.domain_interval.max_value
            if not lo < hi or any(not (lo * (1 - 1e-6) <= float(v) <= hi * (1 + 1e-6)) for v in values):
                bad("%s: values outside [%g, %g]" % (h.name, lo, hi))
        else:
            bad("%s: no domain" % h.name)
    metrics = [m.name.tag for m in exp.metric_infos]
    if not metrics or metrics[0] != "epoch/" + objective:
        bad("metrics %s: the objective epoch/%s is not first" % (metrics, objective))
    if any(m.name.group != "" for m in exp.metric_infos):
        bad("a metric with a group: the sessions' runs hold the scalars")
    for m in exp.metric_infos:
        want = hparams_pb2.DATASET_TRAINING if "train" in m.name.tag else hparams_pb2.DATASET_VALIDATION
        if m.dataset_type != want:
            bad("%s: dataset type %d" % (m.name.tag, m.dataset_type))

# ---- one session per trial ----
status_of = {"completed": hparams_pb2.STATUS_SUCCESS, "pruned": hparams_pb2.STATUS_SUCCESS,
             "failed": hparams_pb2.STATUS_FAILURE}
for r in rows:
    t = int(r["trial"])
    d = os.path.join(tb_root, "%04d" % t)
    plugin, scalars = read_run(d)
    starts = plugin.get("_hparams_/session_start_info", [])
    if len(starts) != 1:
        bad("trial %d: %d session starts, not 1" % (t, len(starts)))
        continue
    start = starts[0].session_start_info
    if start.group_name != "%04d" % t or not start.start_time_secs > 1e9:
        bad("trial %d: group %r, start %r" % (t, start.group_name, start.start_time_secs))
    if sorted(start.hparams.keys()) != sorted(paths):
        bad("trial %d: hparams %s" % (t, sorted(start.hparams.keys())))
    for p in paths:
        v = start.hparams[p]
        if v.WhichOneof("kind") == "number_value":
            if not close(v.number_value, float(r[p])):
                bad("trial %d: %s = %r, results.csv %s" % (t, p, v.number_value, r[p]))
        elif v.string_value != r[p]:
            bad("trial %d: %s = %r, results.csv %s" % (t, p, v.string_value, r[p]))
    ends = plugin.get("_hparams_/session_end_info", [])
    if len(ends) != 1 or ends[0].session_end_info.status != status_of[r["status"]]:
        bad("trial %d (%s): end infos %s" % (t, r["status"], [e.session_end_info.status for e in ends]))
    if r["status"] == "failed":
        continue
    metrics = list(csv.DictReader(open(os.path.join(study, "trials", "%04d" % t, "metrics.csv"))))
    want = {int(m["step"]): float(m[objective]) for m in metrics}
    got = scalars.get("epoch/" + objective, {})
    if sorted(got) != sorted(want) or len(want) != int(r["epochs"]):
        bad("trial %d: epoch/%s at steps %s, metrics.csv %s, %s epochs" % (t, objective, sorted(got), sorted(want),
                                                                          r["epochs"]))
    elif any(not close(got[s], w, 1e-6) for s, w in want.items()):
        bad("trial %d: epoch/%s %s, metrics.csv %s" % (t, objective, got, want))
    if not close(want[max(want)], float(r[objective]), 1e-4):
        bad("trial %d: the last epoch's %s %s is not results.csv's %s" % (t, objective, want[max(want)], r[objective]))

for p in problems:
    print("FAIL: " + p)
print("%d trials, %d problems" % (len(rows), len(problems)))
sys.exit(1 if problems else 0)
