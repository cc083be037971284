#!/bin/sh
# Shell completion: tools/completion/hpc.bash loads in bash and registers _hpc;
# _hpc completes a command, an option, an option's value, a .hp file, an
# experiment name read from the file and a run directory; the zsh function
# _hpc does the same through stubs of compadd and _files.
# usage: completion.sh HPC SOURCE_DIR BUILD_DIR
. "$(dirname "$0")/../e2e/lib.sh"
BIN=$(cd "$(dirname "$HPC")" && pwd)
[ "$(basename "$HPC")" = hpc ] || { echo "completion.sh: HPC must be called hpc"; exit 1; }

mkdir -p "$tmp/w/runs/first-20260101-000000" "$tmp/w/runs/notarun" "$tmp/w/sub"
: > "$tmp/w/runs/first-20260101-000000/experiment.hp"
cat > "$tmp/w/two.hp" <<'HP'
data d { train = csv("x.csv") }
model m { input 3; dense classes }
experiment alpha { data = d; model = m }
experiment beta { data = d; model = m }
search gamma { base = alpha; vary seed in {1, 2} }
HP
: > "$tmp/w/other.txt"
cd "$tmp/w" || exit 1

# the back end refuses a bad INDEX (exit 2) and says nothing for an unreadable file
"$HPC" complete 0 hpc > /dev/null 2>&1; [ $? = 2 ] || fail "complete 0: exit status is not 2"
"$HPC" complete > /dev/null 2>&1; [ $? = 2 ] || fail "complete without arguments: exit status is not 2"
out=$("$HPC" complete 3 hpc run /nonexistent/x.hp 2>&1) || fail "complete on a missing file exited $?"
[ -z "$out" ] || fail "complete on a missing file printed '$out'"

# --- bash -----------------------------------------------------------------------
command -v bash >/dev/null || { fail "bash is missing"; finish completion; }
# the driver completes the last of its arguments; prints the candidates sorted, on one line
cat > "$tmp/drive.bash" <<DRIVER
. "$SRC/tools/completion/hpc.bash" || exit 9
complete -p hpc | grep -q -- '-F _hpc' || { echo "complete -p: not registered"; exit 8; }
PATH="$BIN:\$PATH"
COMP_WORDS=("\$@"); COMP_CWORD=\$((\$# - 1))
_hpc
printf '%s\n' "\${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ *\$//'
DRIVER
bcase() { # WANT WORDS...
    want=$1; shift
    got=$(bash "$tmp/drive.bash" "$@" 2>&1)
    [ "$got" = "$want" ] || fail "bash: '$*' completes to '$got', expected '$want'"
}
bcase "report resume run"                  hpc r
bcase "explain"                            hpc expl
bcase "--epochs"                           hpc run two.hp --ep
bcase "--allow --set"                      hpc explain two.hp --
bcase "runs/ sub/ two.hp"                  hpc run ""          # .hp files and directories
bcase "two.hp"                             hpc check tw
bcase "alpha beta gamma"                   hpc run two.hp ""
bcase "beta"                               hpc explain two.hp b
bcase "alpha"                              hpc run two.hp --threads 2 a
bcase "best last"                          hpc predict runs/x in.csv --weights ""
bcase "csv"                                hpc predict runs/x in.csv --format c
bcase "runs/first-20260101-000000/"        hpc plot runs/f
bcase "check"                              hpc help ch
bcase ""                                   hpc frobnicate ""

# --- zsh: the function with compadd and _files stubbed ---------------------------------
command -v zsh >/dev/null || { fail "zsh is missing"; finish completion; }
cat > "$tmp/drive.zsh" <<DRIVER
fpath=("$SRC/tools/completion" \$fpath)
autoload -Uz _hpc || exit 9
PATH="$BIN:\$PATH"
typeset -ga added
compadd() { [[ \$1 == -a ]] && added+=("\${(@P)2}") }
_files() { added+=("<_files \$*>") }
words=("\$@"); CURRENT=\$#
_hpc
# compadd filters by the prefix of the current word itself; the stub leaves that to here
print -rl -- \${(M)added:#(\${words[CURRENT]}*|<*)} | sort | tr '\n' ' ' | sed 's/ *\$//'
DRIVER
zcase() { # WANT WORDS...
    want=$1; shift
    got=$(zsh -f "$tmp/drive.zsh" "$@" 2>&1)
    [ "$got" = "$want" ] || fail "zsh: '$*' completes to '$got', expected '$want'"
}
zcase "report resume run"          hpc r
zcase "--epochs"                   hpc run two.hp --ep
zcase "<_files -g *.hp>"           hpc run ""
zcase "alpha beta gamma"           hpc run two.hp ""
zcase "<_files -/>"                hpc run two.hp --out ""
zcase "<_files -/> runs/first-20260101-000000/" hpc resume ""
finish completion
