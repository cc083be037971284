#!/bin/sh
# loss.sh - every loss of compiler/losses.def trains in `hpc run`, end to end:
# cross_entropy with smoothing and class weights (a list, and balanced, stated
# in events.log), mse, mae and its alias l1, huber, bce with one-hot targets
# and with one output (and `hpc predict` prints its probability).
. "$(dirname "$0")/lib.sh"

# separable data: 2 classes (x0 + x1 > 0) and 3 (by x0), 400 rows of 3 features
awk 'BEGIN { s = 12345; print "a,b,c,y";
  for (i = 0; i < 400; i++) {
    for (j = 0; j < 3; j++) { s = (s * 1103515245 + 12345) % 2147483648; x[j] = s / 1073741824 - 1 }
    printf "%.4f,%.4f,%.4f,%d\n", x[0], x[1], x[2], (x[0] + x[1] > 0) } }' > "$tmp/two.csv"
awk 'BEGIN { s = 777; print "a,b,c,y";
  for (i = 0; i < 400; i++) {
    for (j = 0; j < 3; j++) { s = (s * 1103515245 + 12345) % 2147483648; x[j] = s / 1073741824 - 1 }
    printf "%.4f,%.4f,%.4f,%d\n", x[0], x[1], x[2], (x[0] < -0.6 ? 0 : x[0] < 0.8 ? 1 : 2) } }' > "$tmp/three.csv"

hp() { # NAME DATA OUTPUT LOSS
    cat > "$tmp/$1.hp" <<HP
data d { train = csv("$tmp/$2.csv"); valid = split(train, 0.25) }
model m { input [features]
    dense 16, relu
    dense $3 }
experiment e { data = d; model = m; loss = $4; epochs = 8; batch = 64; optimizer = adam(lr = 0.02) }
HP
}
train() { # NAME DATA OUTPUT LOSS MIN-ACCURACY
    hp "$1" "$2" "$3" "$4"
    "$HPC" run "$tmp/$1.hp" --out "$tmp/run-$1" --quiet --threads 2 > "$tmp/$1.out" 2>&1 ||
        { fail "$1: loss = $4 did not train"; cat "$tmp/$1.out"; return; }
    acc=$(tail -1 "$tmp/run-$1/metrics.csv" | cut -d, -f7)
    first=$(sed -n 2p "$tmp/run-$1/metrics.csv" | cut -d, -f5)
    last=$(tail -1 "$tmp/run-$1/metrics.csv" | cut -d, -f5)
    awk -v a="$acc" -v m="$5" 'BEGIN { exit !(a >= m) }' || fail "$1: loss = $4: val_accuracy $acc < $5"
    awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < f) }' || fail "$1: loss = $4: train_loss $first -> $last"
    want=$4
    [ "$want" = l1 ] && want=mae # experiment.hp spells the loss's own name
    grep -qF "loss       = $want" "$tmp/run-$1/experiment.hp" || fail "$1: experiment.hp does not say loss = $want"
}
train ce three classes "cross_entropy" 0.75
train smooth three classes "cross_entropy(smoothing = 0.1)" 0.75
train weighted three classes "cross_entropy(smoothing = 0.05, weights = [2, 1, 3])" 0.7
train balanced three classes "cross_entropy(weights = balanced)" 0.7
train mse three classes "mse" 0.7
train mae two classes "mae" 0.8
train l1 two classes "l1" 0.8
train huber three classes "huber(delta = 0.5)" 0.7
train bce three classes "bce" 0.7
train bce1 two 1 "bce" 0.9

# the alias is the same loss
cmp -s "$tmp/run-mae/steps.csv" "$tmp/run-l1/steps.csv" || fail "l1 and mae train differently"
# smoothing changes the numbers; a loss at its defaults does not
cmp -s "$tmp/run-ce/steps.csv" "$tmp/run-smooth/steps.csv" && fail "smoothing = 0.1 changed nothing"
hp ce0 three classes "cross_entropy(smoothing = 0)"
"$HPC" run "$tmp/ce0.hp" --out "$tmp/run-ce0" --quiet --threads 2 > /dev/null 2>&1 || fail "smoothing = 0 did not run"
cmp -s "$tmp/run-ce/steps.csv" "$tmp/run-ce0/steps.csv" || fail "smoothing = 0 is not the plain cross-entropy"

# balanced: the rule in explain, the weights in events.log (n / (3 count_c) over the 300 training rows)
"$HPC" explain "$tmp/balanced.hp" | grep -q "n / (classes \* count)" || fail "explain does not state the balanced rule"
grep -q "^loss: weights = balanced, n / (classes \* count) over the 300 training labels: [0-9.]* [0-9.]* [0-9.]*$" \
    "$tmp/run-balanced/events.log" || { fail "events.log: the balanced weights"; cat "$tmp/run-balanced/events.log"; }
# a class with no training sample (labels 0 and 2: three classes): no balanced weight, a data error at the line
awk -F, 'NR == 1 || $4 != 1' "$tmp/three.csv" > "$tmp/no1.csv"
cat > "$tmp/no1.hp" <<HP
data d { train = csv("$tmp/no1.csv") }
model m { input [features]; dense classes }
experiment e {
    data = d; model = m; epochs = 1; batch = 64
    loss = cross_entropy(weights = balanced)
} # hpc: allow(no-valid)
HP
"$HPC" run "$tmp/no1.hp" --out "$tmp/run-no1" > "$tmp/no1.out" 2>&1
st=$?
[ $st = 3 ] || { fail "balanced with an empty class: exit $st, expected 3"; cat "$tmp/no1.out"; }
grep -q "no1.hp:5: weights = balanced: class 1 has no sample" "$tmp/no1.out" ||
    { fail "balanced: the empty class's message"; cat "$tmp/no1.out"; }

# bce with one output: predict prints P(class 1) and the 0/1 class
"$HPC" predict "$tmp/run-bce1" "$tmp/two.csv" > "$tmp/p.csv" 2> "$tmp/p.err" || fail "predict bce1"
head -1 "$tmp/p.csv" | grep -q "^row,predicted,label,p0$" || fail "predict bce1: header $(head -1 "$tmp/p.csv")"
awk -F, 'NR > 1 && ($4 < 0 || $4 > 1 || ($2 == 1) != ($4 > 0.5)) { bad = 1 } END { exit bad }' "$tmp/p.csv" ||
    fail "predict bce1: a probability outside [0, 1] or a class that disagrees with it"
grep -q "^accuracy 0.9" "$tmp/p.err" || { fail "predict bce1: accuracy"; cat "$tmp/p.err"; }
"$HPC" predict "$tmp/run-bce1" "$tmp/two.csv" --format json 2>/dev/null | head -1 | grep -q '"probabilities": \[0' ||
    fail "predict bce1 --format json"

# regularize = l1(lambda), alone and with adaptive dropout: trains, changes the numbers, round-trips in experiment.hp
l1run() { # NAME REGULARIZE MODEL-MIDDLE
    cat > "$tmp/$1.hp" <<HP
data d { train = csv("$tmp/three.csv"); valid = split(train, 0.25) }
model m { input [features]
    dense 16, relu
    $3
    dense classes }
experiment e { data = d; model = m; epochs = 4; batch = 64; optimizer = adam(lr = 0.02); regularize = $2 }
HP
    "$HPC" run "$tmp/$1.hp" --out "$tmp/run-$1" --quiet --threads 2 > "$tmp/$1.out" 2>&1 ||
        { fail "$1: regularize = $2 did not train"; cat "$tmp/$1.out"; }
}
l1run l1a "l1(0.01)" ""
l1run l1none none ""
l1run l1b "[l1(lambda = 0.01), adaptive_dropout(gap = 0, step = 0.1)]" "dropout 0.1"
cmp -s "$tmp/run-l1a/steps.csv" "$tmp/run-l1none/steps.csv" && fail "l1(0.01) changed nothing"
grep -qF "regularize = l1(lambda = 0.01)" "$tmp/run-l1a/experiment.hp" || fail "experiment.hp: l1"
grep -qF "regularize = [l1(lambda = 0.01), adaptive_dropout(gap = 0, step = 0.1, max = 0.5, patience = 2)]" \
    "$tmp/run-l1b/experiment.hp" || { fail "experiment.hp: l1 with adaptive_dropout"; grep regularize "$tmp/run-l1b/experiment.hp"; }
grep -q "dropout" "$tmp/run-l1b/events.log" || { fail "l1 + adaptive_dropout: no dropout change in events.log"; cat "$tmp/run-l1b/events.log"; }
"$HPC" explain "$tmp/l1b.hp" | grep -qF "regularize  [l1(lambda = 0.01), adaptive_dropout(" || fail "explain: l1 with adaptive_dropout"
# the run's experiment.hp resumes as written
"$HPC" resume "$tmp/run-l1b" > "$tmp/l1b-resume.out" 2>&1 || { fail "resume of l1 + adaptive_dropout"; cat "$tmp/l1b-resume.out"; }

# check reports loss options at their lines
hp badw three classes "cross_entropy(weights = [1, 2])"
"$HPC" check "$tmp/badw.hp" > "$tmp/badw.out" 2>&1 && fail "weights of the wrong length passed check"
grep -q "badw.hp:5:.*weights has 2 numbers, but data 'd' has 3 classes" "$tmp/badw.out" || { fail "weights length"; cat "$tmp/badw.out"; }
hp bces three "classes, softmax" "bce"
"$HPC" check "$tmp/bces.hp" > "$tmp/bces.out" 2>&1 && fail "bce after softmax passed check"
grep -q "bces.hp:5:.*bce applies a sigmoid" "$tmp/bces.out" || { fail "bce after softmax"; cat "$tmp/bces.out"; }

# multi-label bce: three 0/1 label columns (named and by number) learn; accuracy is the mean over labels;
# predict prints each label's decision and probability and per-label precision/recall/F1; build names the labels
awk 'BEGIN { s = 4242; print "a,b,red,c,d,big,odd";
  for (i = 0; i < 500; i++) {
    for (j = 0; j < 4; j++) { s = (s * 1103515245 + 12345) % 2147483648; x[j] = s / 1073741824 - 1 }
    printf "%.4f,%.4f,%d,%.4f,%.4f,%d,%d\n", x[0], x[1], (x[0] > 0), x[2], x[3], (x[1] + x[2] > 0), (x[3] < 0.3) } }' \
    > "$tmp/multi.csv"
cat > "$tmp/multi.hp" <<HP
data d { train = csv("$tmp/multi.csv", label = ["red", "big", 6]); valid = split(train, 0.2) }
model m { input [features]
    dense 16, relu
    dense 3 }
experiment e { data = d; model = m; loss = bce; epochs = 10; batch = 32; optimizer = adam(lr = 0.02) }
HP
"$HPC" explain "$tmp/multi.hp" > "$tmp/multi.explain" 2>&1 || fail "multi-label: explain"
grep -q "multi-label: 3 label columns.*: red, big, odd" "$tmp/multi.explain" || { fail "explain: the labels"; cat "$tmp/multi.explain"; }
if "$HPC" run "$tmp/multi.hp" --out "$tmp/run-multi" --quiet --threads 2 > "$tmp/multi.out" 2>&1; then
    acc=$(tail -1 "$tmp/run-multi/metrics.csv" | cut -d, -f7)
    first=$(sed -n 2p "$tmp/run-multi/metrics.csv" | cut -d, -f5)
    last=$(tail -1 "$tmp/run-multi/metrics.csv" | cut -d, -f5)
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "multi-label: val_accuracy $acc < 0.9"
    awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < f / 3) }' || fail "multi-label: train_loss $first -> $last"
    grep -qF 'label = [2, 5, 6]' "$tmp/run-multi/experiment.hp" || fail "experiment.hp: the label columns"
    "$HPC" predict "$tmp/run-multi" "$tmp/multi.csv" --header > "$tmp/multi.pred" 2> "$tmp/multi.perr" ||
        { fail "multi-label: predict"; cat "$tmp/multi.perr"; }
    [ "$(head -1 "$tmp/multi.pred")" = "row,red,big,odd,label_red,label_big,label_odd,p_red,p_big,p_odd" ] ||
        fail "multi-label predict header: $(head -1 "$tmp/multi.pred")"
    [ "$(wc -l < "$tmp/multi.pred")" -eq 501 ] || fail "multi-label predict: not 500 rows"
    # the decisions are the probabilities above 0.5; the accuracy is the mean of decision == label over all 1500 pairs
    awk -F, 'NR > 1 { for (k = 2; k <= 4; k++) { if (($(k + 6) > 0.5) != $k) bad++; hit += ($k == $(k + 3)); n++ } }
        END { if (bad) exit 1; printf "%.4f\n", hit / n }' "$tmp/multi.pred" > "$tmp/multi.acc" ||
        fail "multi-label predict: a decision disagrees with its probability"
    grep -q "accuracy $(cat "$tmp/multi.acc") over 500 samples x 3 labels" "$tmp/multi.perr" ||
        { fail "multi-label predict: accuracy line"; cat "$tmp/multi.perr" "$tmp/multi.acc"; }
    grep -Eq "^odd +0\.[0-9]+ +0\.[0-9]+ +0\.[0-9]+ +[0-9]+$" "$tmp/multi.perr" || { fail "per-label table"; cat "$tmp/multi.perr"; }
    # without the label columns: decisions and probabilities only
    cut -d, -f1,2,4,5 "$tmp/multi.csv" > "$tmp/multi-x.csv"
    "$HPC" predict "$tmp/run-multi" "$tmp/multi-x.csv" --header --format json > "$tmp/multi-x.json" 2> "$tmp/multi-x.err" ||
        { fail "multi-label: predict without labels"; cat "$tmp/multi-x.err"; }
    head -1 "$tmp/multi-x.json" | grep -Eq '^\{"row": 0, "predicted": \[[01], [01], [01]\], "probabilities": \[' ||
        fail "multi-label predict json: $(head -1 "$tmp/multi-x.json")"
    "$HPC" predict "$tmp/run-multi" "$tmp/multi.csv" --header --format json 2> /dev/null | tail -1 |
        grep -q '"labels": \[{"name": "red", "precision": ' || fail "multi-label predict json: the per-label report"
    "$HPC" build "$tmp/multi.hp" --weights "$tmp/run-multi" -o "$tmp/multi-build" > /dev/null 2>&1 || fail "multi-label: build"
    "$HPC" report "$tmp/run-multi" > /dev/null 2>&1 || fail "multi-label: report"
    grep -q "Multi-label data (3 label columns): no confusion matrix" "$tmp/run-multi/report.html" ||
        fail "multi-label: the report's confusion section"
    grep -q 'E_NUM_LABELS 3' "$tmp/multi-build/e.h" && grep -q '"odd"' "$tmp/multi-build/e.h" ||
        fail "multi-label: build's header does not name the labels"
else
    fail "multi-label bce did not train"; cat "$tmp/multi.out"
fi
# the output width and the loss are checked at their lines
sed 's/dense 3 }/dense 2 }/' "$tmp/multi.hp" > "$tmp/multi2.hp"
"$HPC" check "$tmp/multi2.hp" > "$tmp/multi2.out" 2>&1 && fail "multi-label with 2 outputs for 3 labels passed check"
grep -q "multi2.hp:5:.*has 3 label columns: multi-label bce needs one output per label" "$tmp/multi2.out" ||
    { fail "multi-label width"; cat "$tmp/multi2.out"; }
finish loss
