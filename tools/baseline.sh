#!/bin/sh
# baseline.sh HPC OUTDIR - short runs of the examples whose metrics.csv and
# steps.csv (without the seconds/samples-per-second columns) must stay
# bit-identical across a refactoring on the same machine and thread count:
#   sh tools/baseline.sh build/hpc /tmp/before   (before the change)
#   sh tools/baseline.sh build/hpc /tmp/after    (after)
#   diff -r /tmp/before /tmp/after
set -e
HPC=$1
OUT=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
run() { # NAME FILE ARGS...
    name=$1; file=$2; shift 2
    rm -rf "$OUT/$name.run"
    "$HPC" run "$file" --out "$OUT/$name.run" --quiet "$@" >/dev/null 2>&1 || echo "$name: exit $?" >>"$OUT/$name.status"
    for f in metrics.csv steps.csv; do
        # drop timing columns: seconds, samples_per_second, tokens_per_second
        [ -f "$OUT/$name.run/$f" ] && awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i ~ /second/) skip[i]=1}
            {s=""; for(i=1;i<=NF;i++) if(!skip[i]) s=s (s==""?"":",") $i; print s}' \
            "$OUT/$name.run/$f" >"$OUT/$name.$f"
    done
    rm -rf "$OUT/$name.run"
}
run mlp2 "$SRC/examples/fashion_mlp.hp" --epochs 2 --threads 2
run mlp1 "$SRC/examples/fashion_mlp.hp" --epochs 1 --threads 1
run cnn "$SRC/bench/fmnist_cnn.hp" --epochs 1 --threads 2
run cnnbn "$SRC/examples/fashion_cnn.hp" --epochs 1 --threads 2
[ -f /tmp/peers_corpus.txt ] || /usr/bin/python3 "$SRC/../shared/peers/corpus.py" >/dev/null
run charlm "$SRC/bench/charlm.hp" --epochs 1 --threads 2
run gru "$SRC/examples/charlm.hp" --epochs 1 --threads 2
ls "$OUT"
