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
