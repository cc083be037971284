#!/bin/sh
# Install into a temporary prefix, move the prefix, and use hpc from there:
# every installed file is in place, --version names the new prefix, an
# installed example checks and explains, and a small model trains for an
# epoch.  usage: install.sh HPC SOURCE_DIR BUILD_DIR
. "$(dirname "$0")/../e2e/lib.sh"
BUILD=$3

cmake --install "$BUILD" --prefix "$tmp/first" > "$tmp/install.out" 2>&1 || { fail "cmake --install exited $?"; cat "$tmp/install.out"; }
mv "$tmp/first" "$tmp/moved" || fail "cannot move the prefix"
P=$tmp/moved
for f in bin/hpc share/man/man1/hpc.1 share/bash-completion/completions/hpc share/zsh/site-functions/_hpc \
         share/hpc/examples/fashion_mlp.hp share/hpc/examples/sweep.hp share/hpc/examples/deploy/classify.c \
         share/hpc/docs/language.md share/hpc/docs/cli.md share/hpc/docs/README.md \
         share/hpc/editors/hp.tmLanguage.json share/hpc/editors/vim/syntax/hp.vim \
         share/hpc/editors/vim/ftdetect/hp.vim share/vim/vimfiles/syntax/hp.vim share/vim/vimfiles/ftdetect/hp.vim; do
    [ -f "$P/$f" ] || fail "$f is not installed"
done
[ -x "$P/bin/hpc" ] || fail "bin/hpc is not executable"
cmp -s "$P/share/bash-completion/completions/hpc" "$SRC/tools/completion/hpc.bash" || fail "the bash completion differs from tools/completion/hpc.bash"
# the installed man page is what the installed hpc generates
"$P/bin/hpc" help --man > "$tmp/man.now" 2>&1 || fail "hpc help --man exited $?"
cmp -s "$tmp/man.now" "$P/share/man/man1/hpc.1" || fail "the installed hpc.1 differs from 'hpc help --man'"

# --version: the resolved executable and the prefix it runs from
"$P/bin/hpc" --version > "$tmp/version" 2>&1 || fail "--version exited $?"
grep -q "^hpc [0-9]" "$tmp/version" || fail "--version: no version"
grep -qF "executable: $P/bin/hpc" "$tmp/version" || { fail "--version does not name the moved executable"; cat "$tmp/version"; }
grep -qF "installed in: $P" "$tmp/version" || { fail "--version does not name the moved prefix"; cat "$tmp/version"; }
# through a symbolic link it still names the real location
ln -s "$P/bin/hpc" "$tmp/hpc-link"
"$tmp/hpc-link" --version 2>&1 | grep -qF "installed in: $P" || fail "--version through a link"
# from the build tree it says so
"$HPC" --version 2>&1 | grep -q "not installed" || fail "--version in the build tree"

# the installed examples, from another directory
mkdir -p "$tmp/elsewhere"
cd "$tmp/elsewhere" || exit 1
"$P/bin/hpc" check "$P/share/hpc/examples/sweep.hp" > "$tmp/check.out" 2>&1 || { fail "check sweep.hp exited $?"; cat "$tmp/check.out"; }
"$P/bin/hpc" explain "$P/share/hpc/examples/fashion_mlp.hp" > "$tmp/explain.out" 2>&1 || { fail "explain exited $?"; cat "$tmp/explain.out"; }
grep -q "dense" "$tmp/explain.out" || fail "explain printed no layer"
"$P/bin/hpc" explain "$P/share/hpc/examples/fashion_cnn.hp" > "$tmp/explain2.out" 2>&1 || { fail "explain cnn exited $?"; cat "$tmp/explain2.out"; }

# one epoch of a small model on a slice of Fashion-MNIST (the JIT needs no file of the build tree)
cat > "$tmp/slice.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.5)
    scale = 1 / 255
}
model m {
    input 784
    dense 32, relu
    dense classes, softmax
}
experiment tiny {
    data = slice
    model = m
    batch = 256
    epochs = 1
    seed = 3
    threads = 1
}
HP
"$P/bin/hpc" run "$tmp/slice.hp" --out "$tmp/run" --quiet > "$tmp/run.out" 2>&1 || { fail "run from the moved prefix exited $?"; cat "$tmp/run.out"; }
[ "$(wc -l < "$tmp/run/metrics.csv" 2>/dev/null)" = 2 ] || fail "the run wrote no epoch to metrics.csv"
finish install
