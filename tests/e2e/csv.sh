#!/bin/sh
# Categorical CSV end to end: string labels become classes (byte order) that
# round-trip through run (classes.txt, the checkpoint), predict (names out,
# names in the label column, unknown categories as all zeros, a file without
# the label column) and build (NAME_classes in the header, the same
# prediction); categories = [...] one-hot encodes a column; check reports a
# word in a numeric column at its CSV line and the .hp line, an unknown class
# in valid data, and too many categories.  usage: csv.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

# 3 species told apart by x1 and (mostly) by colour; names with a space and a comma
awk 'BEGIN {
    srand(7)
    split("Iris setosa|versicolor|virginica, var.", sp, "|")
    split("red|green|blue", co, "|")
    print "x1,colour,x2,species"
    for (i = 0; i < 600; i++) {
        k = i % 3 + 1
        c = rand() < 0.8 ? k : int(rand() * 3) + 1
        printf "%.3f,%s,%.3f,\"%s\"\n", k + (rand() - 0.5) * 1.2, co[c], rand(), sp[k]
    }
}' > "$tmp/iris.csv"
cat > "$tmp/c.hp" <<HP
data flowers {
    train = csv("$tmp/iris.csv", label = "species", categories = ["colour"])
    valid = split(train, 0.2)
}
model m { input features; dense 16, relu; dense classes, softmax }
experiment e {
    data = flowers; model = m; optimizer = adam(lr = 0.02)
    batch = 64; epochs = 25; seed = 1; threads = 1
}
HP
"$HPC" check "$tmp/c.hp" > "$tmp/check.out" 2>&1 || { fail "check"; cat "$tmp/check.out"; }
"$HPC" explain "$tmp/c.hp" > "$tmp/explain.out" 2>&1 || fail "explain"
grep -q "samples of \[5\]; 3 classes" "$tmp/explain.out" || fail "explain: 5 features, 3 classes"
grep -q "labels      3 class names (class i is the i-th in byte order): Iris setosa, versicolor, virginica, var." "$tmp/explain.out" ||
    fail "explain: the class names"
grep -q "feature column 1 'colour'  one-hot, 3 features (an unknown category: all 0): blue, green, red" "$tmp/explain.out" ||
    fail "explain: the one-hot column"

"$HPC" run "$tmp/c.hp" --out "$tmp/run" --quiet || fail "run"
printf 'Iris setosa\nversicolor\nvirginica, var.\n' | cmp -s - "$tmp/run/classes.txt" || fail "classes.txt"
grep -q 'categories = \[1\]' "$tmp/run/experiment.hp" || fail "experiment.hp keeps the categorical column"
acc=$(awk -F, 'END { print $7 }' "$tmp/run/metrics.csv")
awk -v a="$acc" 'BEGIN { exit !(a > 0.8) }' || fail "validation accuracy $acc <= 0.8"

# predict: names out, names in the label column, an unknown colour, quoting
cat > "$tmp/new.csv" <<CSV
x1,colour,x2,species
1.0,red,0.5,Iris setosa
2.0,green,0.5,versicolor
3.0,blue,0.5,"virginica, var."
3.1,purple,0.5,"virginica, var."
CSV
"$HPC" predict "$tmp/run" "$tmp/new.csv" > "$tmp/pred.csv" 2> "$tmp/pred.err" || { fail "predict"; cat "$tmp/pred.err"; }
sed -n 1p "$tmp/pred.csv" | grep -qx "row,predicted,label,p0,p1,p2" || fail "predict: header"
sed -n 2p "$tmp/pred.csv" | grep -q "^0,Iris setosa,Iris setosa," || fail "predict: row 0 by name: $(sed -n 2p "$tmp/pred.csv")"
sed -n 4p "$tmp/pred.csv" | grep -q '^2,"virginica, var.","virginica, var.",' || fail "predict: a name with a comma is quoted"
sed -n 5p "$tmp/pred.csv" | grep -q '^3,"virginica, var.",' || fail "predict: an unknown colour (all zeros) still predicts from x1"
grep -q "accuracy 1.0000 on 4 samples" "$tmp/pred.err" || fail "predict: accuracy against the named labels"
"$HPC" predict "$tmp/run" "$tmp/new.csv" --format json > "$tmp/pred.json" 2>/dev/null || fail "predict json"
grep -q '"predicted": "virginica, var.", "label": "virginica, var."' "$tmp/pred.json" || fail "predict json: names"
# the per-class results name the classes
grep -q '^    0  .*  Iris setosa$' "$tmp/pred.err" || fail "predict: per-class table without names: $(cat "$tmp/pred.err")"
grep -q '"class": 2, "name": "virginica, var.", "precision"' "$tmp/pred.json" || fail "predict json: per-class names"
# without the label column
cut -d, -f1-3 "$tmp/new.csv" | sed -n 1,3p > "$tmp/nolabel.csv"
"$HPC" predict "$tmp/run" "$tmp/nolabel.csv" > "$tmp/nolabel.out" 2>&1 || { fail "predict without labels"; cat "$tmp/nolabel.out"; }
sed -n 2p "$tmp/nolabel.out" | grep -q "^0,Iris setosa," || fail "predict without labels: $(sed -n 2p "$tmp/nolabel.out")"
# a label the model does not know: its line
printf 'x1,colour,x2,species\n1.0,red,0.5,Iris setosa\n2.0,red,0.5,tulip\n' > "$tmp/tulip.csv"
"$HPC" predict "$tmp/run" "$tmp/tulip.csv" > /dev/null 2> "$tmp/tulip.err" && fail "predict: an unknown class passed"
grep -q "tulip.csv: line 3, field 4 ('tulip'): not one of the 3 classes" "$tmp/tulip.err" || fail "predict: unknown class: $(cat "$tmp/tulip.err")"

# build: the class names in the header, the same prediction as predict for row 0 (one-hot by hand)
"$HPC" build "$tmp/c.hp" --weights "$tmp/run" -o "$tmp/out" --name iris --exe > "$tmp/build.out" 2>&1 || { fail "build"; cat "$tmp/build.out"; }
# the --exe predictor prints class names (its input: the one-hot encoded numbers)
printf '1.0,0,0,1,0.5\n3.0,1,0,0,0.5\n' | "$tmp/out/iris" > "$tmp/exe.out" || fail "build --exe: the predictor"
cut -d, -f1 "$tmp/exe.out" | tr '\n' '|' | grep -qx "Iris setosa|virginica|" || fail "build --exe: $(cat "$tmp/exe.out")"
grep -q 'static const char \*const iris_classes\[IRIS_NUM_CLASSES\]' "$tmp/out/iris.h" || fail "build: no iris_classes"
grep -q '"virginica, var."' "$tmp/out/iris.h" || fail "build: the names"
grep -q "column 1 (colour): 3 floats: blue green red" "$tmp/out/iris.h" || fail "build: the one-hot layout"
cat > "$tmp/use.c" <<'C'
#include <stdio.h>
#include "iris.h"
int main(void)
{
    float x[iris_INPUT_SIZE] = {1.0f, 0, 0, 1, 0.5f}, y[iris_OUTPUT_SIZE]; /* 1.0, red (blue green red), 0.5 */
    if (iris_predict(x, y, 1) != 0)
        return 1;
    int best = 0;
    for (int k = 1; k < iris_OUTPUT_SIZE; k++)
        if (y[k] > y[best])
            best = k;
    printf("%s\n", iris_classes[best]);
    return 0;
}
C
cc -Wall -Wextra -Werror -I"$tmp/out" "$tmp/use.c" "$tmp/out/libiris.a" -lm -o "$tmp/use" || fail "build: the header's names compile"
[ "$("$tmp/use")" = "Iris setosa" ] || fail "build: predicted $("$tmp/use")"

# check: a word in a numeric column, at its CSV line and the .hp line, with the hint
printf 'a,b,y\n1,2,0\n3,blue,1\n' > "$tmp/bad.csv"
cat > "$tmp/b.hp" <<HP
data d {
    train = csv("$tmp/bad.csv")
}
model m { input features; dense classes, softmax }
experiment e { data = d; model = m; batch = 64; epochs = 1 }
HP
"$HPC" check "$tmp/b.hp" > "$tmp/b.out" 2>&1 && fail "check: a word in a numeric column passed"
grep -q "b.hp:2:17: error: .*bad.csv: line 3, field 2 ('blue'): not a number (column 'b'); if the column holds categories, declare it: categories = \[\"b\"\]" "$tmp/b.out" ||
    fail "check: the bad value: $(cat "$tmp/b.out")"
sed -i 's|csv("\(.*\)")|csv("\1", categories = ["b"])|' "$tmp/b.hp"
"$HPC" check "$tmp/b.hp" > "$tmp/b2.out" 2>&1 || fail "check: declared categorical: $(cat "$tmp/b2.out")"

# check: valid data with a class train does not have, at its line
printf 'x1,colour,x2,species\n1.0,red,0.5,Iris setosa\n2.0,red,0.5,tulip\n' > "$tmp/valid.csv"
sed "s|valid = split(train, 0.2)|valid = csv(\"$tmp/valid.csv\", label = \"species\")|" "$tmp/c.hp" > "$tmp/v.hp"
"$HPC" check "$tmp/v.hp" > "$tmp/v.out" 2>&1 && fail "check: an unknown class in valid passed"
grep -q "v.hp:3:.*valid.csv: line 3, field 4 ('tulip'): not one of the 3 classes of the training data" "$tmp/v.out" ||
    fail "check: unknown class in valid: $(cat "$tmp/v.out")"
# categories on valid: they are train's
sed "s|valid = split(train, 0.2)|valid = csv(\"$tmp/iris.csv\", label = \"species\", categories = [\"colour\"])|" "$tmp/c.hp" > "$tmp/v2.hp"
"$HPC" check "$tmp/v2.hp" > "$tmp/v2.out" 2>&1 && fail "check: categories on valid passed"
grep -q "'categories' belongs to 'train'" "$tmp/v2.out" || fail "check: categories on valid: $(cat "$tmp/v2.out")"
# an unknown categorical column, at the setting
sed 's|categories = \["colour"\]|categories = ["color"]|' "$tmp/c.hp" > "$tmp/u.hp"
"$HPC" check "$tmp/u.hp" > "$tmp/u.out" 2>&1 && fail "check: an unknown categorical column passed"
grep -q "u.hp:2:.*categorical column: no column named 'color'" "$tmp/u.out" || fail "check: unknown column: $(cat "$tmp/u.out")"

# too many categories: a located error
awk 'BEGIN { print "x,id,y"; for (i = 0; i < 1100; i++) printf "1,id%d,%d\n", i, i % 2 }' > "$tmp/ids.csv"
printf 'data d { train = csv("%s", categories = ["id"]) }\nmodel m { input features; dense classes, softmax }\nexperiment e { data = d; model = m; batch = 64; epochs = 1 }\n' "$tmp/ids.csv" > "$tmp/ids.hp"
"$HPC" check "$tmp/ids.hp" > "$tmp/ids.out" 2>&1 && fail "check: 1100 categories passed"
grep -q "ids.csv: line 1002, field 2 (column 'id'): more than 1000 distinct categories" "$tmp/ids.out" ||
    fail "check: too many categories: $(cat "$tmp/ids.out")"

finish "categorical CSV"
