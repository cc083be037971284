#!/bin/sh
# hpc report RUN_DIR: one self-contained HTML page, loaded in headless
# Chromium (Debian's chromium): no console errors, no request leaves the page
# (only file:// and the browser's own), the DOM has the sections and the
# run's numbers (tests/report/check_dom.py), and a screenshot is taken.  Also
# -o, a study's page (summary, best, sortable results, plots), bad usage.
# HPC_REPORT_SCREENSHOT=FILE keeps the screenshot (to look at it).
# usage: report.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
CHROMIUM=$(command -v chromium || command -v chromium-browser)
[ -n "$CHROMIUM" ] || { echo "FAIL: chromium is missing (Debian's chromium)"; exit 1; }
# a headless browser that reaches nothing: every host name fails to resolve
browse() { # OUT_PREFIX URL EXTRA...
    out=$1; url=$2; shift 2
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$tmp/profile" \
        --host-resolver-rules="MAP * ~NOTFOUND" --enable-logging=stderr --v=0 \
        --log-net-log="$out.net" "$@" "$url" > "$out.dom" 2> "$out.log"
}
# console messages, and requests the page made (not the browser's own)
console() { grep -E "CONSOLE" "$1.log"; }
requests() {
    grep -o '"url":"[^"]*"' "$1.net" | grep -v -E '"url":"(file:|data:|chrome|about:|https?://[a-z0-9.-]*(google\.com|googleapis\.com|gvt1\.com)/)' | sort -u
}

# the checks can fail: a page with a console error and an outside image
printf '<html><body><img src="https://example.invalid/a.png"><script>console.error("boom")</script></body></html>' > "$tmp/bad.html"
browse "$tmp/bad" "file://$tmp/bad.html" --dump-dom
console "$tmp/bad" | grep -q boom || fail "the console check does not see console.error"
requests "$tmp/bad" | grep -q example.invalid || fail "the request check does not see an outside image"

cat > "$tmp/small.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    test  = split(train, 0.1)
    scale = 1 / 255
}
model mlp {
    input 784
    dense 48, relu
    dense classes, softmax
}
experiment small {
    data      = slice
    model     = mlp
    optimizer = adam(lr = find_lr)
    schedule  = cosine()
    batch     = adaptive(start = 64, factor = 2, every = 1 epochs, max = 128)
    epochs    = 3
    seed      = 5
    threads   = 2
}
HP
"$HPC" run "$tmp/small.hp" --out "$tmp/run" --quiet || fail "run exited $?"
"$HPC" report "$tmp/run" > "$tmp/out" 2>&1 || fail "report exited $?: $(cat "$tmp/out")"
[ "$(cat "$tmp/out")" = "$tmp/run/report.html" ] || fail "report prints its path: $(cat "$tmp/out")"
page=$tmp/run/report.html
[ -s "$page" ] || fail "no report.html"
# self-contained: nothing fetched, no scripts, no fonts
grep -q -i -E "<script|<link|<img|<iframe|@import|@font-face|url\(" "$page" && fail "the page loads something"
grep -o -E "(src|href)=['\"][a-z]+:" "$page" | grep -q . && fail "the page links outside: $(grep -o -E "(src|href)=['\"][a-z]+:[^'\"]*" "$page")"

browse "$tmp/page" "file://$page" --dump-dom
[ -s "$tmp/page.dom" ] || fail "chromium dumped no DOM: $(tail -5 "$tmp/page.log")"
console "$tmp/page" > "$tmp/console" && fail "console messages: $(cat "$tmp/console")"
requests "$tmp/page" > "$tmp/requests"
[ -s "$tmp/requests" ] && fail "the page made requests: $(cat "$tmp/requests")"
$PY "$SRC/tests/report/check_dom.py" "$tmp/page.dom" "$tmp/run" > "$tmp/check" 2>&1 || fail "DOM: $(cat "$tmp/check")"
grep -q "batch size 64 -&gt; 128" "$tmp/page.dom" || fail "the batch change is not marked on the curves"

# a screenshot of the whole page: a PNG of the size asked for
browse "$tmp/shot" "file://$page" --window-size=900,4000 --screenshot="$tmp/report.png"
head -c 8 "$tmp/report.png" 2>/dev/null | od -An -c | grep -q "P   N   G" || fail "no screenshot: $(tail -3 "$tmp/shot.log")"
size=$(wc -c < "$tmp/report.png" 2>/dev/null || echo 0)
[ "$size" -gt 50000 ] || fail "the screenshot is nearly empty ($size bytes)"
[ -n "$HPC_REPORT_SCREENSHOT" ] && cp "$tmp/report.png" "$HPC_REPORT_SCREENSHOT"

# -o FILE
"$HPC" report "$tmp/run" -o "$tmp/other.html" > /dev/null || fail "report -o"
[ -s "$tmp/other.html" ] || fail "report -o wrote nothing"
# a run whose data is gone still gets its page, without the confusion matrix
sed "s|$FM/t10k-images|$tmp/gone|" "$tmp/run/experiment.hp" > "$tmp/x.hp" && cp -r "$tmp/run" "$tmp/run2" && cp "$tmp/x.hp" "$tmp/run2/experiment.hp"
"$HPC" report "$tmp/run2" > "$tmp/out" 2>&1; st=$?
grep -q "<h2>Curves</h2>" "$tmp/run2/report.html" 2>/dev/null || fail "a run with its data gone: no page (exit $st): $(cat "$tmp/out")"
grep -q "does not check any more" "$tmp/run2/report.html" || fail "a run with its data gone: the page does not say why there is no matrix"
grep -q "gone" "$tmp/out" || fail "a run with its data gone: no message naming the file: $(cat "$tmp/out")"

# a study: its summary, best configuration, a sortable results table, the two plots
cat > "$tmp/study.hp" <<HP
import "small.hp"
search s {
    base      = small
    vary optimizer.lr in {1e-3, 3e-3}
    vary schedule     in {constant, cosine()}
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP
sed -i 's/optimizer = adam(lr = find_lr)/optimizer = adam(lr = 2e-3)/' "$tmp/small.hp"
"$HPC" search "$tmp/study.hp" --out "$tmp/study" --quiet > "$tmp/out" 2>&1 || fail "the study: $(cat "$tmp/out")"
"$HPC" report "$tmp/study" > "$tmp/out" 2>&1 || fail "report of a study exited $?: $(cat "$tmp/out")"
spage=$tmp/study/report.html
grep -o -E "(src|href)=['\"][a-z]+:" "$spage" | grep -q . && fail "the study page links outside"
browse "$tmp/spage" "file://$spage" --dump-dom
console "$tmp/spage" > "$tmp/console" && fail "study page console messages: $(cat "$tmp/console")"
requests "$tmp/spage" > "$tmp/requests"
[ -s "$tmp/requests" ] && fail "the study page made requests: $(cat "$tmp/requests")"
[ "$(grep -o "<tr><td>" "$tmp/spage.dom" | wc -l)" = 4 ] || fail "the results table has not one row per trial"
grep -q "id=\"best-trial\">$(sed -n 's/.*"trial": \([0-9]*\),.*/\1/p' "$tmp/study/summary.json" | head -1)<" "$tmp/spage.dom" ||
    fail "the best trial is not summary.json's"
grep -q "onclick=\"sortBy(3)\"" "$tmp/spage.dom" || fail "the results' headers do not sort"
grep -q "<svg" "$tmp/spage.dom" || fail "the study page has no plots"
# a study directory without its derived files yet: said so; bad usage
mkdir -p "$tmp/study0" && : > "$tmp/study0/journal.jsonl"
"$HPC" report "$tmp/study0" > "$tmp/out" 2>&1; st=$?
[ $st = 4 ] || fail "an empty study directory: exit $st, not 4"
grep -q "no summary.json or results.csv yet" "$tmp/out" || fail "an empty study directory: $(cat "$tmp/out")"
"$HPC" report "$tmp/nope" > "$tmp/out" 2>&1; st=$?
[ $st = 2 ] || fail "a missing run: exit $st"
grep -q "is not a run directory" "$tmp/out" || fail "a missing run: $(cat "$tmp/out")"
"$HPC" report > /dev/null 2>&1; [ $? = 2 ] || fail "report without a run: not exit 2"
"$HPC" report "$tmp/run" -o > /dev/null 2>&1; [ $? = 2 ] || fail "-o without a file: not exit 2"
"$HPC" report "$tmp/run" --bogus > /dev/null 2>&1; [ $? = 2 ] || fail "an unknown option: not exit 2"

finish report
