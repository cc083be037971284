#!/bin/sh
# gen_editors.sh HPC OUTDIR - generates the editor grammars from their
# templates (editors/templates/) and the language's vocabulary, as
# `HPC help --keywords` prints it from the compiler's tables:
#   OUTDIR/hp.tmLanguage.json   TextMate (VS Code, Sublime, GitHub)
#   OUTDIR/vim/syntax/hp.vim    Vim
# In a template, @CATEGORY@ becomes the category's words separated by spaces
# and @CATEGORY|@ the same joined by | (a regex alternation; @CATEGORY/@: by
# \| for Vim's patterns).  A category the
# vocabulary lacks is an error.  The committed editors/ files are this
# script's output: `sh tools/gen_editors.sh build/hpc editors` refreshes them,
# and tests/tools/grammar.sh fails when they differ.
set -e
HPC=$1
OUT=$2
if [ -z "$HPC" ] || [ -z "$OUT" ]; then
    echo "usage: gen_editors.sh HPC OUTDIR" >&2
    exit 2
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
vocab=$(mktemp)
trap 'rm -f "$vocab"' EXIT
"$HPC" help --keywords >"$vocab"
[ -s "$vocab" ] || { echo "gen_editors.sh: '$HPC help --keywords' printed nothing" >&2; exit 1; }
fill() { # TEMPLATE OUTPUT
    mkdir -p "$(dirname "$2")"
    awk -v tmpl="$1" '
        NR == FNR {
            if (n[$1]++) { words[$1] = words[$1] " " $2; alt[$1] = alt[$1] "|" $2 }
            else { words[$1] = $2; alt[$1] = $2 }
            next
        }
        {
            line = $0; out = ""
            while (match(line, /@[a-z]+[|\/]?@/)) {
                key = substr(line, RSTART + 1, RLENGTH - 2)
                sep = substr(key, length(key))
                if (sep == "|" || sep == "/") key = substr(key, 1, length(key) - 1)
                else sep = ""
                if (!n[key]) {
                    printf "%s:%d: no vocabulary category \"%s\"\n", tmpl, FNR, key > "/dev/stderr"
                    bad = 1; exit 1
                }
                val = sep == "" ? words[key] : alt[key]
                if (sep == "/") gsub(/[|]/, "\\|", val)
                out = out substr(line, 1, RSTART - 1) val
                line = substr(line, RSTART + RLENGTH)
            }
            print out line
        }
        END { if (bad) exit 1 }' "$vocab" "$1" >"$2.tmp"
    mv "$2.tmp" "$2"
}
fill "$SRC/editors/templates/hp.tmLanguage.json.in" "$OUT/hp.tmLanguage.json"
fill "$SRC/editors/templates/hp.vim.in" "$OUT/vim/syntax/hp.vim"
