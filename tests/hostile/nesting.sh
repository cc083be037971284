#!/bin/sh
# Nesting and expansion limits of the front end: a deep expression, brackets,
# unary minus and nested repeats each give one located error, in bounded time
# and memory, and no line of output is longer than the caret window.
# usage: nesting.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

gen() { # FILE PREFIX N UNIT MIDDLE SUFFIX-UNIT: PREFIX UNIT*N MIDDLE SUFFIX-UNIT*N
    awk -v p="$2" -v n="$3" -v u="$4" -v m="$5" -v s="$6" 'BEGIN {
        printf "experiment e {\n  epochs = %s", p
        for (i = 0; i < n; i++) printf "%s", u
        printf "%s", m
        for (i = 0; i < n; i++) printf "%s", s
        printf "\n}\n" }' > "$1"
}
long_lines() { awk '!/: (error|warning|note):/ && length($0) > 130 { n++ } END { print n + 0 }' "$tmp/out"; } # source excerpts

# 100,000 terms: no stack overflow, one error at the node that crosses 256
gen "$tmp/sum.hp" 1 99999 "+1" "" ""
bounded 10 1000000 "$HPC" check "$tmp/sum.hp"
expect 1 "sum.hp:2:12: error: this expression is nested more than 256 deep" "100,000-term sum"
expect 1 "1 error" "100,000-term sum: one error"
[ "$(long_lines)" = 0 ] || fail "100,000-term sum: a line over 130 columns"

# 256 levels are fine (the limit is inclusive)
gen "$tmp/ok.hp" 1 255 "+1" "" ""
bounded 10 1000000 "$HPC" check "$tmp/ok.hp"
grep -q "nested" "$tmp/out" && fail "255 operators: reported as too deep"

# 10,000 '(' / '[' / unary '-': one error at the bracket or '-' past the limit
gen "$tmp/paren.hp" "" 10000 "(" 1 ")"
bounded 10 1000000 "$HPC" check "$tmp/paren.hp"
expect 1 "paren.hp:2:267: error: brackets are nested more than 256 deep here" "10,000 '('"
expect 1 "1 error" "10,000 '(': one error"
[ "$(long_lines)" = 0 ] || fail "10,000 '(': a line over 130 columns"
gen "$tmp/list.hp" "" 10000 "[" 1 "]"
bounded 10 1000000 "$HPC" check "$tmp/list.hp"
expect 1 "list.hp:2:267: error: brackets are nested more than 256 deep here" "10,000 '['"
gen "$tmp/neg.hp" "" 10000 "-" 1 ""
bounded 10 1000000 "$HPC" check "$tmp/neg.hp"
expect 1 "neg.hp:2:268: error: more than 256 unary '-' in a row" "10,000 '-'"
expect 1 "1 error" "10,000 '-': one error"
# a mix the per-construct limits allow but the parser's stack does not
gen "$tmp/mix.hp" "" 250 "------------------------------------------------(" 1 ")"
bounded 10 1000000 "$HPC" check "$tmp/mix.hp"
expect 1 "nested" "'-(' x 250"
expect 1 "1 error" "'-(' x 250: one error"

# 34 nested `repeat 2` (2^34 layers): refused before expanding, at once
{ echo "model m {"; echo "input 4"; i=0; while [ $i -lt 34 ]; do echo "repeat 2 {"; i=$((i + 1)); done
  echo "dense 2"; i=0; while [ $i -lt 34 ]; do echo "}"; i=$((i + 1)); done; echo "}"; } > "$tmp/rep.hp"
bounded 5 1000000 "$HPC" check "$tmp/rep.hp"
expect 1 "rep.hp:22:1: error: this repeat expands to more than 10000 layers" "34 nested repeats"
# empty bodies: 10^12 rounds of nothing
printf 'model m {\ninput 4\nrepeat 10000 { repeat 10000 { repeat 10000 { } } }\ndense 2\n}\n' > "$tmp/empty.hp"
bounded 5 1000000 "$HPC" check "$tmp/empty.hp"
expect 1 "empty.hp:3:" "10^12 empty repeat rounds"
expect 1 "expands to more than 10000 layers" "10^12 empty repeat rounds"
# 40 nested `repeat 1`: the nesting limit (32 inside the outermost)
{ echo "model m {"; echo "input 4"; i=0; while [ $i -lt 40 ]; do echo "repeat 1 {"; i=$((i + 1)); done
  echo "dense 2"; i=0; while [ $i -lt 40 ]; do echo "}"; i=$((i + 1)); done; echo "}"; } > "$tmp/deep.hp"
bounded 5 1000000 "$HPC" check "$tmp/deep.hp"
expect 1 "deep.hp:36:1: error: repeats are nested too deeply" "40 nested repeats"

# a long line: the caret window, with "..." where text is left out
awk 'BEGIN { printf "experiment e {\n  epochs = "; for (i = 0; i < 3000; i++) printf "1 + "; printf "x\n}\n" }' > "$tmp/wide.hp"
bounded 10 1000000 "$HPC" check "$tmp/wide.hp"
expect 1 "..." "a 12,000-column line"
[ "$(long_lines)" = 0 ] || fail "a 12,000-column line: printed wider than 130 columns"
finish "nesting"
