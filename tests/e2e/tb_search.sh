#!/bin/sh
# hpc search --tensorboard DIR (and the base's `tensorboard = "DIR"`): the
# hparams plugin's records, decoded (TFRecord framing with masked CRC32C; the
# Event, Summary and HParamsPluginData protocol buffers compiled by protoc
# from tests/tboard/event.proto and hparams.proto) and checked against the
# study's results.csv and each trial's metrics.csv: the experiment with every
# varied path and its domain, one session per trial with its values, every
# epoch, and its status (a failed trial too); a study interrupted and resumed
# goes on writing into the same logs.  usage: tb_search.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
command -v protoc >/dev/null || { echo "FAIL: protoc is missing (Debian's protobuf-compiler)"; exit 1; }
$PY -c 'import google.protobuf' 2>/dev/null || { echo "FAIL: $PY lacks google.protobuf (python3-protobuf)"; exit 1; }
protoc -I "$SRC/tests/tboard" --python_out="$tmp" "$SRC/tests/tboard/event.proto" "$SRC/tests/tboard/hparams.proto" ||
    { echo "FAIL: protoc"; exit 1; }
check() { $PY "$SRC/tests/tboard/check_hparams.py" "$tmp" "$1" "$2" > "$tmp/check" 2>&1 || fail "$3: $(cat "$tmp/check")"; }

cat > "$tmp/base.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model mlp(hidden = 32, act = relu) {
    input 784
    dense hidden, act
    dense classes, softmax
}
experiment small {
    data      = slice
    model     = mlp
    optimizer = adam(lr = 2e-3)
    batch     = 64
    epochs    = 2
    seed      = 7
    threads   = 1
}
experiment logged {
    data        = slice
    model       = mlp
    optimizer   = sgd(lr = 0.05)
    batch       = 64
    epochs      = 8
    seed        = 7
    threads     = 1
    tensorboard = "tbset"
}
search asha {
    base      = small
    vary model.hidden   in {16, 32}
    vary optimizer.lr   in log(3e-4, 3e-3)
    vary model.act      in {relu, tanh}
    strategy  = asha(max_epochs = 3, eta = 3, trials = 5)
    objective = maximize(val_accuracy)
    parallel  = 1
}
search div {
    base      = small
    vary optimizer.lr in {1e-3, 1e30}
    objective = minimize(val_loss)
}
search long {
    base      = logged
    vary model.hidden in {8, 16, 24}
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP

# ASHA with a numeric set, a log range and a set of words: promotions
# continue a trial's session in a new event file
"$HPC" search "$tmp/base.hp" asha --out "$tmp/a" --tensorboard "$tmp/tb" --quiet > "$tmp/out" 2>&1 ||
    { fail "search --tensorboard exited $?"; cat "$tmp/out"; }
check "$tmp/tb/a" "$tmp/a" "asha"
grep -q "^tensorboard $tmp/tb/a\$" "$tmp/a/study.args" || fail "study.args: $(cat "$tmp/a/study.args")"
grep -q ',pruned,' "$tmp/a/results.csv" || fail "no pruned trial to check: $(cat "$tmp/a/results.csv")"
# resuming a finished study adds nothing: one end in the journal, one end per session
"$HPC" resume "$tmp/a" --quiet > "$tmp/out" 2>&1 || { fail "resuming the finished study exited $?"; cat "$tmp/out"; }
[ "$(grep -c '"event": "end"' "$tmp/a/journal.jsonl")" = 1 ] || fail "a resumed finished study ended twice in the journal"
check "$tmp/tb/a" "$tmp/a" "asha, resumed when finished"

# a diverging trial is a failed session; val_loss is the objective
"$HPC" search "$tmp/base.hp" div --out "$tmp/d" --tensorboard "$tmp/tb" --quiet > "$tmp/out" 2>&1 ||
    { fail "search div exited $?"; cat "$tmp/out"; }
grep -q '^1,failed,' "$tmp/d/results.csv" || fail "div: $(cat "$tmp/d/results.csv")"
check "$tmp/tb/d" "$tmp/d" "div"

# the base's setting, relative to the current directory; Ctrl-C, then resume
# writes into the same logs
(cd "$tmp" && exec "$HPC" search base.hp long --out l --quiet) > "$tmp/out" 2>&1 &
pid=$!
for i in $(seq 1 1200); do
    [ -f "$tmp/l/journal.jsonl" ] && [ "$(grep -c '"epoch"' "$tmp/l/journal.jsonl")" -ge 3 ] && break
    sleep 0.05
done
kill -INT $pid 2> /dev/null
wait $pid
st=$?
[ $st = 130 ] || fail "the long study was not interrupted (exit $st): $(cat "$tmp/out")"
"$HPC" resume "$tmp/l" --quiet > "$tmp/out" 2>&1 || { fail "resume exited $?"; cat "$tmp/out"; }
check "$tmp/tbset/l" "$tmp/l" "the base's tensorboard setting, interrupted and resumed"

"$HPC" search "$tmp/base.hp" div --out "$tmp/e" --tensorboard "" > "$tmp/out" 2>&1
[ $? = 2 ] || fail "--tensorboard \"\": not exit 2"
: > "$tmp/file"
"$HPC" search "$tmp/base.hp" div --out "$tmp/f" --tensorboard "$tmp/file/x" > "$tmp/out" 2>&1
[ $? = 4 ] || fail "an unwritable tensorboard directory: not exit 4"
grep -q "tensorboard: $tmp/file/x/f: cannot create the directory" "$tmp/out" || fail "unwritable: $(cat "$tmp/out")"

finish tb_search
