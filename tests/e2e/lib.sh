# lib.sh - sourced by the command-line tests: `. "$(dirname "$0")/lib.sh"`.
# Every test runs as `sh TEST.sh HPC SOURCE_DIR` (ctest passes both).
# Gives HPC, SRC, the data sets' folders FM and FORT, a temporary directory
# $tmp removed on exit, fail MESSAGE (counts a failure and goes on) and
# finish WHAT (exits 1 after any failure).
HPC=$1
SRC=$2
FM=/usr/share/datasets/fashion-mnist
FORT=/usr/share/games/fortunes
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
finish() {
    if [ $fails -gt 0 ]; then echo "$fails failures"; exit 1; fi
    echo "all $1 checks passed"
}

# study_base FILE: the experiment the search tests vary (an MLP on a slice of
# Fashion-MNIST, 2 epochs, one thread), as FILE (import it as "base.hp").
study_base() {
    cat > "$1" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model mlp(hidden = 32, p = 0.1) {
    input 784
    dense hidden, relu
    dropout p
    dense classes, softmax
}
experiment small {
    data      = slice
    model     = mlp
    optimizer = adam(lr = 2e-3)
    schedule  = cosine()
    batch     = 64
    epochs    = 2
    seed      = 7
    threads   = 1
}
HP
}
