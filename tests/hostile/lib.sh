# lib.sh - sourced by the hostile-input tests: `. "$(dirname "$0")/lib.sh"`.
# Every test runs as `sh TEST.sh HPC SOURCE_DIR` (ctest passes both).  On top
# of tests/e2e/lib.sh (HPC, SRC, $tmp, fail, finish):
#   bounded SECONDS KB CMD...   runs CMD with at most SECONDS of wall time and
#                               KB of virtual memory (ulimit -v; not under
#                               AddressSanitizer, which reserves terabytes);
#                               output in $tmp/out, status in $st
#   expect STATUS TEXT WHAT     fails unless $st is STATUS and $tmp/out holds TEXT
. "$(dirname "$0")/../e2e/lib.sh"
asan=0
grep -q __asan_init "$HPC" 2>/dev/null && asan=1
bounded() {
    secs=$1; kb=$2; shift 2
    if [ $asan = 1 ]; then
        timeout "$((secs * 4))" "$@" > "$tmp/out" 2>&1
    else
        (ulimit -v "$kb"; timeout "$secs" "$@") > "$tmp/out" 2>&1
    fi
    st=$?
}
expect() {
    [ "$st" = "$1" ] || { fail "$3: exit status $st, expected $1"; head -c 2000 "$tmp/out"; }
    grep -qF -- "$2" "$tmp/out" || { fail "$3: no '$2' in the output"; head -c 2000 "$tmp/out"; }
}
# A small CSV data set (64 rows, 2 features, 2 classes, a header) and an
# experiment on it: tiny.hp [SETTINGS]
tiny_data() {
    printf 'a,b,label\n' > "$tmp/d.csv"
    i=0
    while [ $i -lt 64 ]; do echo "$i,$((i % 3)),$((i % 2))" >> "$tmp/d.csv"; i=$((i + 1)); done
}
tiny_hp() { # NAME SETTINGS
    cat > "$tmp/$1.hp" <<HP
data d { train = csv("$tmp/d.csv"); valid = split(train, 0.25) }
model m { input features; dense 8, relu; dense classes, softmax }
experiment e { data = d; model = m; batch = 16; epochs = 2; seed = 1; $2 }
HP
}
