#!/bin/sh
# The editor grammars: the committed editors/ files are what
# tools/gen_editors.sh makes from the vocabulary `hpc help --keywords` prints;
# every vocabulary word the CLI lists itself is a word of the compiler's
# source; the TextMate grammar, run by the real engine (vscode-textmate over
# vscode-oniguruma, installed by tools/npm_setup.sh into
# BUILD_DIR/editors-test), tokenises every example and a few test cases into
# the golden streams of editors/test/golden/ (HPC_UPDATE_GOLDEN=1 rewrites
# them); Vim loads the syntax file and colours an example as expected.
# usage: grammar.sh HPC SOURCE_DIR BUILD_DIR
. "$(dirname "$0")/../e2e/lib.sh"
BUILD=$3

# --- generated files are up to date ------------------------------------------------
sh "$SRC/tools/gen_editors.sh" "$HPC" "$tmp/gen" > "$tmp/gen.out" 2>&1 || { fail "gen_editors.sh exited $?"; cat "$tmp/gen.out"; }
for f in hp.tmLanguage.json vim/syntax/hp.vim; do
    if ! cmp -s "$tmp/gen/$f" "$SRC/editors/$f"; then
        fail "editors/$f is not what tools/gen_editors.sh makes; run: sh tools/gen_editors.sh build/hpc editors"
        diff "$SRC/editors/$f" "$tmp/gen/$f" | head -20
    fi
done
# a template naming a category the vocabulary lacks is an error, not an empty list
mkdir -p "$tmp/badsrc/editors/templates" "$tmp/badsrc/tools"
cp "$SRC/tools/gen_editors.sh" "$tmp/badsrc/tools/"
echo '@nosuchcategory@' > "$tmp/badsrc/editors/templates/hp.tmLanguage.json.in"
echo '' > "$tmp/badsrc/editors/templates/hp.vim.in"
sh "$tmp/badsrc/tools/gen_editors.sh" "$HPC" "$tmp/badgen" > "$tmp/bad.out" 2>&1 && fail "an unknown category in a template passed"
grep -q nosuchcategory "$tmp/bad.out" || fail "the unknown category is not named: $(cat "$tmp/bad.out")"

# --- the vocabulary ------------------------------------------------------------------
"$HPC" help --keywords > "$tmp/vocab" 2>&1 || fail "help --keywords exited $?"
for cat in keyword declaration layer activation init optimizer schedule stop loss metric setting source; do
    grep -q "^$cat " "$tmp/vocab" || fail "help --keywords lists no $cat"
done
# each word is one the compiler's sources spell (a string, one of a "a|b" choice, a scanner rule)
while read -r cat word; do
    grep -qE "[\"|]$word[\"|]" "$SRC"/compiler/*.c "$SRC"/compiler/*.def "$SRC"/runtime/include/*.def "$SRC"/grammar/hp.l ||
        fail "help --keywords: '$cat $word' is not a word of compiler/ or grammar/hp.l"
done < "$tmp/vocab"
# every layer kind of layers.def is coloured by both grammars
sed -n 's/^X([A-Z_]*, *"\([a-z_]*\)".*/\1/p' "$SRC/compiler/layers.def" > "$tmp/layers"
[ -s "$tmp/layers" ] || fail "no layer kind read from layers.def"
while read -r k; do
    grep -q "[(|]$k[|)]" "$SRC/editors/hp.tmLanguage.json" || fail "layer '$k' is not in hp.tmLanguage.json"
    grep -q "[(|]$k\\\\[|)]" "$SRC/editors/vim/syntax/hp.vim" || fail "layer '$k' is not in hp.vim"
done < "$tmp/layers"

# --- TextMate: golden token streams --------------------------------------------------
NM=$BUILD/editors-test/node_modules
if [ ! -d "$NM/vscode-textmate" ] || [ ! -d "$NM/vscode-oniguruma" ]; then
    fail "the TextMate engine is not installed in $NM; run: sh tools/npm_setup.sh $SRC $BUILD/editors-test (make test does)"
elif ! command -v node >/dev/null; then
    fail "node is missing (Debian's nodejs; make deps)"
else
    GOLD=$SRC/editors/test/golden
    for f in "$SRC"/examples/*.hp "$SRC"/tests/cases/good_policies.hp "$SRC"/tests/cases/good_search.hp \
             "$SRC"/tests/cases/good_every_layer.hp "$SRC"/tests/cases/spec_charlm.hp \
             "$SRC"/tests/cases/bad_lex.hp "$SRC"/tests/cases/notes.hp; do
        name=$(basename "$f" .hp)
        NODE_PATH=$NM node "$SRC/editors/test/tokenize.js" "$SRC/editors/hp.tmLanguage.json" "$f" \
            > "$tmp/$name.tokens" 2> "$tmp/$name.err" || { fail "tokenize.js $name exited $?"; cat "$tmp/$name.err"; continue; }
        [ -s "$tmp/$name.tokens" ] || { fail "no tokens for $name"; continue; }
        if [ -n "$HPC_UPDATE_GOLDEN" ]; then
            cp "$tmp/$name.tokens" "$GOLD/$name.tokens"
        elif ! cmp -s "$tmp/$name.tokens" "$GOLD/$name.tokens"; then
            fail "$name: the tokens differ from editors/test/golden/$name.tokens (HPC_UPDATE_GOLDEN=1 rewrites it)"
            diff "$GOLD/$name.tokens" "$tmp/$name.tokens" | head -20
        fi
    done
    # spot checks, so a golden file rewritten wrongly is caught too
    t=$GOLD/fashion_mlp.tokens
    grep -q '^12:5 "input" support.type.layer.hp$' "$t" || fail "input is not a layer"
    grep -q '"adam" support.function.optimizer.hp$' "$t" || fail "adam is not an optimizer"
    grep -q '"one_cycle" support.function.schedule.hp$' "$t" || fail "one_cycle is not a schedule"
    grep -q '"early" support.function.stop.hp$' "$t" || fail "early is not a stop rule"
    grep -q '"val_loss" support.constant.metric.hp$' "$t" || fail "val_loss is not a metric"
    grep -q '"1e-3" constant.numeric.hp$' "$t" || fail "1e-3 is not a number"
    grep -q '^1:1 "# examples/fashion_mlp.hp" comment.line' "$t" || fail "the comment"
    grep -q '"experiment" storage.type.declaration.hp$' "$t" || fail "experiment is not a declaration"
    grep -q '"fashion_mlp" entity.name.type.hp$' "$t" || fail "the experiment's name"
    grep -q '^27:5 "epochs" variable.other.setting.hp$' "$t" || fail "epochs is not a setting"
    grep -q '"2" constant.numeric.duration.hp$' "$GOLD/good_policies.tokens" || fail "no duration in good_policies"
    grep -q '"epochs" keyword.other.unit.hp$' "$GOLD/good_policies.tokens" || fail "no unit in good_policies"
fi

# --- Vim -----------------------------------------------------------------------------
if ! command -v vim >/dev/null; then
    fail "vim is missing (make deps)"
else
    cat > "$tmp/syn.vim" <<VIM
set nocompatible
let &runtimepath = '$SRC/editors/vim,' . &runtimepath
filetype on
syntax on
edit $SRC/examples/fashion_mlp.hp
let s:out = [&filetype]
for [l, c] in [[1, 1], [2, 1], [3, 5], [3, 13], [12, 5], [14, 9], [14, 23], [24, 17], [24, 27], [25, 17], [27, 5], [28, 33], [3, 20]]
  call add(s:out, l . ':' . c . ' ' . synIDattr(synID(l, c, 1), 'name'))
endfor
call writefile(s:out, '$tmp/vim.out')
qall!
VIM
    vim -N -u NONE -i NONE -es -S "$tmp/syn.vim" < /dev/null > "$tmp/vim.log" 2>&1
    cat > "$tmp/vim.want" <<WANT
hp
1:1 hpComment
2:1 hpDeclaration
3:5 hpSetting
3:13 hpFunction
12:5 hpLayer
14:9 hpLayer
14:23 hpActivation
24:17 hpOptimizer
24:27 hpNumber
25:17 hpSchedule
27:5 hpSetting
28:33 hpMetric
3:20 hpString
WANT
    cmp -s "$tmp/vim.want" "$tmp/vim.out" || { fail "vim colours fashion_mlp.hp differently:"; diff "$tmp/vim.want" "$tmp/vim.out"; cat "$tmp/vim.log"; }
fi
finish grammar
