#!/bin/sh
# hpc run --tensorboard DIR, and `tensorboard = "DIR"` in the file: the event
# file is decoded (TFRecord framing with masked CRC32C, the Event/Summary
# protocol buffers compiled by protoc from tests/tboard/event.proto) and its
# scalars, text and steps checked against steps.csv, metrics.csv, events.log
# and experiment.hp.  usage: tensorboard.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
command -v protoc >/dev/null || { echo "FAIL: protoc is missing (Debian's protobuf-compiler)"; exit 1; }
$PY -c 'import google.protobuf' 2>/dev/null || { echo "FAIL: $PY lacks google.protobuf (python3-protobuf)"; exit 1; }
protoc -I "$SRC/tests/tboard" --python_out="$tmp" "$SRC/tests/tboard/event.proto" || { echo "FAIL: protoc"; exit 1; }

cat > "$tmp/small.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    test  = split(train, 0.1)
    scale = 1 / 255
}
model mlp {
    input 784
    dense 32, relu
    dense classes, softmax
}
experiment small {
    data      = slice
    model     = mlp
    optimizer = adam(lr = 1e-3)
    schedule  = one_cycle(max = 3e-3)
    batch     = adaptive(start = 128, factor = 2, every = 1 epochs, max = 256)
    epochs    = 2
    seed      = 3
    threads   = 2
}
experiment long {
    data        = slice
    model       = mlp
    optimizer   = sgd(lr = 0.01)
    batch       = 16
    epochs      = 20
    seed        = 3
    threads     = 1
    tensorboard = "$tmp/tb4"
}
experiment logged {
    data        = slice
    model       = mlp
    optimizer   = sgd(lr = 0.05)
    epochs      = 1
    seed        = 3
    threads     = 1
    tensorboard = "$tmp/tb2"
}
HP

# --tensorboard: DIR/<run directory name>/events.out.tfevents.<time>.<host>
"$HPC" run "$tmp/small.hp" small --out "$tmp/runs/a" --tensorboard "$tmp/tb" > "$tmp/out" 2>&1 ||
    { fail "run --tensorboard exited $?"; cat "$tmp/out"; }
ls "$tmp/tb/a/" | grep -q "^events\.out\.tfevents\.[0-9]*\.$(hostname)$" || fail "event file name: $(ls "$tmp/tb/a")"
$PY "$SRC/tests/tboard/check_events.py" "$tmp" "$tmp/tb/a" "$tmp/runs/a" > "$tmp/check" 2>&1 || fail "decoding: $(cat "$tmp/check")"
grep -q "step,epoch,lr,batch,loss,momentum" "$tmp/runs/a/steps.csv" || fail "one_cycle: no momentum column to compare"
grep -q 'tensorboard = "' "$tmp/runs/a/experiment.hp" || fail "experiment.hp lacks the tensorboard setting"

# the setting in the file; explain shows it
"$HPC" explain "$tmp/small.hp" logged > "$tmp/explain" 2>&1 || fail "explain logged"
grep -q "tensorboard $tmp/tb2" "$tmp/explain" || fail "explain does not show the tensorboard directory"
"$HPC" run "$tmp/small.hp" logged --out "$tmp/runs/b" --quiet || fail "run with tensorboard = \"DIR\""
$PY "$SRC/tests/tboard/check_events.py" "$tmp" "$tmp/tb2/b" "$tmp/runs/b" > "$tmp/check" 2>&1 || fail "decoding (setting): $(cat "$tmp/check")"

# interrupted (Ctrl-C) and resumed: a second event file in the same
# directory, from the step the run resumes at; together they are the run
"$HPC" run "$tmp/small.hp" long --out "$tmp/runs/r" --quiet > "$tmp/out" 2>&1 &
pid=$!
for i in $(seq 1 1200); do
    [ -f "$tmp/runs/r/steps.csv" ] && [ "$(wc -l < "$tmp/runs/r/steps.csv")" -gt 60 ] && break
    sleep 0.05
done
kill -INT $pid 2> /dev/null
wait $pid
st=$?
[ $st = 130 ] || fail "the long run was not interrupted (exit $st): $(cat "$tmp/out")"
"$HPC" resume "$tmp/runs/r" --quiet || fail "resume exited $?"
$PY "$SRC/tests/tboard/check_events.py" "$tmp" "$tmp/tb4/r" "$tmp/runs/r" 2 > "$tmp/check" 2>&1 || fail "decoding (resumed): $(cat "$tmp/check")"

# bad values: a number, an empty string (check errors at file:line); an
# unwritable directory (exit 4, nothing trained)
sed 's|tensorboard = ".*"|tensorboard = 3|' "$tmp/small.hp" > "$tmp/bad.hp"
"$HPC" check "$tmp/bad.hp" > "$tmp/out" 2>&1 && fail "tensorboard = 3 accepted"
grep -q "bad.hp:[0-9]*:[0-9]*: error: tensorboard must be a string" "$tmp/out" || fail "tensorboard = 3: $(cat "$tmp/out")"
sed 's|tensorboard = ".*"|tensorboard = ""|' "$tmp/small.hp" > "$tmp/bad.hp"
"$HPC" check "$tmp/bad.hp" > "$tmp/out" 2>&1 && fail "tensorboard = \"\" accepted"
grep -q "bad.hp:[0-9]*:[0-9]*: error: tensorboard must name a directory" "$tmp/out" || fail "tensorboard = \"\": $(cat "$tmp/out")"
: > "$tmp/file"
"$HPC" run "$tmp/small.hp" logged --out "$tmp/runs/c" --quiet --tensorboard "$tmp/file/x" > "$tmp/out" 2>&1
st=$?
[ $st = 4 ] || fail "an unwritable tensorboard directory: exit $st, not 4"
grep -q "tensorboard: $tmp/file/x/c: cannot create the directory" "$tmp/out" || fail "unwritable: $(cat "$tmp/out")"
"$HPC" run "$tmp/small.hp" logged --out "$tmp/runs/d" --tensorboard > "$tmp/out" 2>&1
[ $? = 2 ] || fail "--tensorboard without a value: not exit 2"
"$HPC" lr-find "$tmp/small.hp" logged --out "$tmp/runs/e" --tensorboard "$tmp/tb3" > "$tmp/out" 2>&1
[ $? = 2 ] || fail "lr-find --tensorboard: not exit 2"
grep -q "tensorboard is for .hpc run." "$tmp/out" || fail "lr-find --tensorboard: $(cat "$tmp/out")"

finish tensorboard
