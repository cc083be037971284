#!/bin/sh
# The command line: exit statuses, help, version, check and explain output.
# usage: cli.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

expect_status() { # WANT DESCRIPTION CMD...
    want=$1; what=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
    fi
}
expect_grep() { # FILE PATTERN DESCRIPTION
    if ! grep -q -- "$2" "$tmp/$1"; then
        echo "FAIL: $3: '$2' not in $1:"; cat "$tmp/$1"; fails=$((fails + 1))
    fi
}

expect_status 0 "--version" "$HPC" --version
expect_grep out "^hpc [0-9]" "--version prints the version"
expect_status 0 "--help" "$HPC" --help
expect_grep out "hpc check FILE" "--help lists check"
expect_grep out "exit status" "--help explains exit statuses"
expect_status 0 "help check" "$HPC" help check
expect_grep out "usage: hpc check" "help check"
expect_status 0 "check --help" "$HPC" check --help
expect_status 2 "no command" "$HPC"
expect_status 2 "unknown command" "$HPC" frobnicate
expect_grep err "no command 'frobnicate'" "unknown command message"
expect_status 2 "help on an unknown command" "$HPC" help frobnicate
expect_status 2 "check without a file" "$HPC" check
expect_status 2 "check with an unknown option" "$HPC" check --bogus "$SRC/examples/fashion_mlp.hp"
expect_status 2 "check of a missing file" "$HPC" check "$tmp/nope.hp"
expect_grep err "cannot read" "missing file message"

for f in "$SRC"/examples/*.hp; do
    expect_status 0 "check $f" "$HPC" check "$f"
done
expect_status 1 "check of a bad file" "$HPC" check "$SRC/tests/cases/bad_layers.hp"
expect_grep err "bad_layers.hp:11:5: error: unknown layer kind 'dens'; did you mean 'dense'?" "located diagnostic"
expect_grep err "errors" "error summary"

# NO_COLOR and a pipe: no escape sequences
NO_COLOR=1 "$HPC" check "$SRC/tests/cases/bad_layers.hp" 2>"$tmp/err"
if grep -q "$(printf '\033')" "$tmp/err"; then echo "FAIL: colour with NO_COLOR"; fails=$((fails + 1)); fi

# --allow silences a note
expect_status 0 "check charlm" "$HPC" check "$SRC/examples/charlm.hp"
expect_grep err "batch-pow2" "charlm has a batch-pow2 note"
expect_status 0 "check --allow" "$HPC" check --allow batch-pow2 "$SRC/examples/charlm.hp"
if grep -q "batch-pow2" "$tmp/err"; then echo "FAIL: --allow did not silence the note"; fails=$((fails + 1)); fi

# explain: the Plan of the default example
expect_status 0 "explain fashion_mlp" "$HPC" explain "$SRC/examples/fashion_mlp.hp"
expect_grep out "269,322" "the MLP has 269,322 parameters"
expect_grep out "dense 256, relu *\[256\] *200,960" "layer table"
expect_grep out "dense 10, softmax *\[10\] *2,570" "output layer"
expect_grep out "adam(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-08" "optimizer defaults shown"
expect_grep out "one_cycle(max = 0.003, pct = 0.3, div = 25, final_div = 10000" "schedule defaults shown"
expect_grep out "early(monitor = val_loss, window = 3, patience = 3, min_delta = 0, mode = min, restore_best = true)" "stop defaults"
expect_grep out "422 steps per epoch" "steps per epoch"
expect_status 0 "explain with --set" "$HPC" explain "$SRC/examples/fashion_mlp.hp" --set model.hidden=512
expect_grep out "dense 512, relu" "--set model.hidden"
expect_status 1 "explain with a bad --set" "$HPC" explain "$SRC/examples/fashion_mlp.hp" --set model.hiden=512
expect_grep err "did you mean 'hidden'" "--set suggestion"
expect_status 2 "explain --set without =" "$HPC" explain "$SRC/examples/fashion_mlp.hp" --set model.hidden
expect_status 1 "explain an unknown experiment" "$HPC" explain "$SRC/examples/fashion_mlp.hp" nope
expect_grep err "no experiment or search called 'nope'" "unknown experiment message"
expect_status 0 "explain a search" "$HPC" explain "$SRC/examples/charlm.hp" lm_sweep
expect_grep out "hyperband(max_epochs = 27, eta = 3)" "search strategy"
expect_grep out "model.cell *set *{gru, lstm}" "search space"
expect_status 0 "explain the cnn" "$HPC" explain "$SRC/examples/fashion_cnn.hp"
expect_grep out "\[64, 7, 7\]" "cnn shapes"

# emit: the text after each pass of the pipeline
FMLP="$SRC/examples/fashion_mlp.hp"
expect_status 0 "emit --dump=ast" "$HPC" emit --dump=ast "$FMLP"
expect_grep out "^model mlp" "the AST's model"
expect_grep out "^    layer dense hidden, relu @" "a layer of a repeat, indented"
expect_status 0 "emit --dump=plan" "$HPC" emit --dump=plan "$FMLP"
expect_grep out "269,322" "the Plan's parameter count"
expect_status 0 "emit --dump=layout" "$HPC" emit --dump=layout --threads 2 "$FMLP"
expect_grep out "^layout: 6 layers, 2 threads, largest batch 128" "the layout's header"
expect_grep out "^parameter arena: 269328 floats" "the parameter arena"
expect_status 0 "emit --dump ir0" "$HPC" emit --dump ir0 --threads 1 "$FMLP"
expect_grep out "define void @hp_train_128" "the unoptimised module"
# the IR kit's locals: every alloca in an entry block, none left after optimisation
awk '/^define/{blk="entry:"} /^[A-Za-z_][A-Za-z0-9_.]*:/{blk=$1} /= alloca/{if (blk != "entry:") bad++} END{exit bad > 0}' \
    "$tmp/out" || fail "an alloca outside an entry block"
grep -q "= alloca" "$tmp/out" || fail "ir0 has no alloca: is it optimised?"
expect_status 0 "emit (ir)" "$HPC" emit --threads 1 "$FMLP"
cp "$tmp/out" "$tmp/ir"
if grep -q "= alloca" "$tmp/ir"; then fail "an alloca survived optimisation"; fi
expect_status 0 "emit-llvm" "$HPC" emit-llvm --threads 1 "$FMLP"
cmp -s "$tmp/ir" "$tmp/out" || fail "emit-llvm differs from emit --dump=ir"
expect_status 0 "help emit" "$HPC" help emit
expect_grep out "dump=layout" "help emit lists the dumps"
expect_status 2 "emit --dump=bogus" "$HPC" emit --dump=bogus "$FMLP"
expect_grep err "--dump takes ast, plan, layout, ir0 or ir" "bad --dump message"
# a limit of the back end is reported by the checker at its line (exit 1)
cat >"$tmp/many.hp" <<EOF
data fashion {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.1)
    scale = 1 / 255
}
model m {
    input 784
    repeat 65 {
        dropout 0.1
    }
    dense classes, softmax
}
experiment many {
    data = fashion
    model = m
    optimizer = sgd(lr = 0.1)
    batch = 64
}
EOF
expect_status 1 "a back-end limit" "$HPC" emit --dump=layout "$tmp/many.hp"
expect_grep err "many.hp:9:9: error: the model has more than 64 dropout sites" "the limit at its line"

finish CLI
