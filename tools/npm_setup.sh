#!/bin/sh
# npm_setup.sh SOURCE_DIR DIR - installs the npm packages the grammar test
# needs (editors/test/package.json and its lock: vscode-textmate and
# vscode-oniguruma at pinned versions) into DIR/node_modules, with `npm ci`,
# when they are not there yet or the lock changed.  Run by `make test` and by
# ctest (the tools_npm fixture).
set -e
SRC=$1
DIR=$2
if [ -z "$SRC" ] || [ -z "$DIR" ]; then
    echo "usage: npm_setup.sh SOURCE_DIR DIR" >&2
    exit 2
fi
lock="$SRC/editors/test/package-lock.json"
if [ -f "$DIR/node_modules/.package-lock.json" ] && cmp -s "$lock" "$DIR/package-lock.json"; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "npm_setup.sh: npm is missing; install Debian's nodejs (make deps)" >&2
    exit 1
fi
mkdir -p "$DIR"
cp "$SRC/editors/test/package.json" "$lock" "$DIR/"
cd "$DIR"
npm ci --no-audit --no-fund --loglevel=error
