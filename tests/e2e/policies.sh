#!/bin/sh
# Training policies end to end: find_lr (and that it leaves the training as a
# run given the same rate by hand), AdaBatch, restore_best, hpc plot and
# hpc lr-find.  usage: policies.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

write() { # NAME SETTINGS
    cat > "$tmp/$1.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model mlp {
    input 784
    dense 64, relu
    dropout 0.1
    dense classes, softmax
}
experiment small {
    data    = slice
    model   = mlp
    epochs  = 3
    seed    = 3
    threads = 2
    $2
}
HP
}

# find_lr: the test runs, its value is logged and used
write findlr "schedule = one_cycle(max = find_lr(steps = 60))
    batch = 64"
"$HPC" run "$tmp/findlr.hp" --out "$tmp/a" > "$tmp/a.out" 2>&1 || { fail "find_lr run: exit $?"; cat "$tmp/a.out"; }
grep -q "^find_lr: the LR range test suggests" "$tmp/a/events.log" || fail "events.log does not record find_lr"
[ -f "$tmp/a/lr_find.csv" ] && [ -f "$tmp/a/lr_find.svg" ] || fail "no lr_find.csv / lr_find.svg in the run"
grep -q "find_lr" "$tmp/a/experiment.hp" && fail "experiment.hp still says find_lr"
# the same run with the found rate written by hand (experiment.hp has it) trains identically
"$HPC" run "$tmp/a/experiment.hp" --out "$tmp/b" --quiet || fail "running the found rate by hand"
cut -d, -f1-7 "$tmp/a/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$tmp/b/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" || { fail "find_lr changed the training that follows"; diff "$tmp/ma" "$tmp/mb"; }
cmp -s "$tmp/a/steps.csv" "$tmp/b/steps.csv" || fail "find_lr changed the steps that follow"

# hpc lr-find
"$HPC" lr-find "$tmp/findlr.hp" --out "$tmp/lf" > "$tmp/lf.out" 2>&1 || fail "lr-find: exit $?"
grep -q "^suggested learning rate:" "$tmp/lf.out" || { fail "lr-find prints no suggestion"; cat "$tmp/lf.out"; }
head -1 "$tmp/lf/lr_find.csv" | grep -q "^step,lr,loss,smoothed_loss" || fail "lr_find.csv header"
grep -q "<svg" "$tmp/lf/lr_find.svg" || fail "lr_find.svg"

# AdaBatch: 64, then 128 at epoch 2, 256 at epoch 3, the rate scaled with it
write ada "batch = adaptive(start = 64, factor = 2, every = 1 epoch, max = 256)
    optimizer = sgd(lr = 0.05, momentum = 0.9)"
"$HPC" run "$tmp/ada.hp" --out "$tmp/ada" --quiet --allow batch-pow2 || fail "adabatch run"
grep -q "epoch 2: batch size 64 -> 128, learning rate x2" "$tmp/ada/events.log" || { fail "no batch change at epoch 2"; cat "$tmp/ada/events.log"; }
grep -q "epoch 3: batch size 128 -> 256, learning rate x4" "$tmp/ada/events.log" || fail "no batch change at epoch 3"
awk -F, 'NR > 1 { print $4 }' "$tmp/ada/metrics.csv" | tr '\n' ' ' | grep -q "^64 128 256 $" || fail "metrics.csv batch column"
grep -q "^124,1,0.05,64," "$tmp/ada/steps.csv" || fail "steps.csv: the last step of epoch 1 at batch 64, rate 0.05"
grep -q "^125,2,0.1,128," "$tmp/ada/steps.csv" || fail "steps.csv: epoch 2 starts at step 125 with batch 128, rate 0.1"
grep -q ",2,0.1,128," "$tmp/ada/steps.csv" || fail "steps.csv: epoch 2 at batch 128 and rate 0.1"
acc=$(sed -n 's/.*"val_accuracy": \([0-9.]*\).*/\1/p' "$tmp/ada/summary.json")
awk -v a="$acc" 'BEGIN { exit !(a > 0.7) }' || fail "adabatch accuracy $acc"

# restore_best: `mode = max` on val_loss makes the first epoch the best; the
# restored weights evaluate to exactly that epoch's logged loss
write best "stop = early(monitor = val_loss, mode = max, patience = 5, restore_best = true)
    batch = 64"
"$HPC" run "$tmp/best.hp" --out "$tmp/best" --quiet || fail "restore_best run"
first=$(awk -F, 'NR == 2 { print $6 }' "$tmp/best/metrics.csv")
final=$(sed -n 's/.*"val_loss": \([0-9.e-]*\).*/\1/p' "$tmp/best/summary.json")
awk -v a="$first" -v b="$final" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-6 * a) }' || fail "restored val_loss $final is not epoch 1's $first"
grep -q '"best_epoch": 1' "$tmp/best/summary.json" || fail "best_epoch is not 1"
grep -q "restored the weights of the best epoch, 1" "$tmp/best/events.log" || fail "no restore event"

# hpc plot
"$HPC" plot "$tmp/ada" > /dev/null || fail "plot: exit $?"
grep -q "batch size 64 -&gt; 128" "$tmp/ada/curves.svg" || fail "curves.svg does not mark the batch change"
"$HPC" plot "$tmp/nope" > /dev/null 2>&1 && fail "plot of a missing directory succeeded"

finish policy
