"""check_dom.py DOM RUN_DIR: checks the DOM Chromium loaded from `hpc report
RUN_DIR` (its --dump-dom): the sections are there, the summary's numbers are
summary.json's, the confusion matrix adds up to the test split and its
accuracy is the run's test accuracy, the curves and the LR range test are
drawn, the events and the experiment are shown.  Prints the problems; exit 1
when there are any."""
import html.parser
import json
import os
import sys

dom_path, run_dir = sys.argv[1], sys.argv[2]
problems = []


def bad(msg):
    problems.append(msg)


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = {}          # id -> text inside
        self.attrs_of = {}     # id -> attributes
        self.open_ids = []     # ids whose element is open, with their depth
        self.depth = 0
        self.tags = {}
        self.matrix = []       # rows of the confusion matrix (numbers)
        self.in_matrix = False
        self.row = None
        self.cell = None
        self.mark_labels = []
        self.in_mark = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag in ("br", "img", "meta", "link", "input", "hr", "line", "rect", "polyline", "path", "circle"):
            pass
        else:
            self.depth += 1
        if "id" in a and tag not in ("line", "rect", "polyline"):
            self.ids[a["id"]] = ""
            self.attrs_of[a["id"]] = a
            self.open_ids.append((a["id"], self.depth))
        if a.get("id") == "confusion-matrix":
            self.in_matrix = True
        if self.in_matrix and tag == "tr":
            self.row = []
        if self.in_matrix and tag == "td" and self.row is not None:
            self.cell = ""
        if tag == "text" and a.get("class") == "mark":
            self.in_mark = True
            self.mark_labels.append("")

    def handle_endtag(self, tag):
        if self.in_matrix and tag == "td" and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        if self.in_matrix and tag == "tr" and self.row is not None:
            if self.row:
                self.matrix.append(self.row)
            self.row = None
        if self.in_matrix and tag == "table":
            self.in_matrix = False
        if tag == "text":
            self.in_mark = False
        if tag not in ("br", "img", "meta", "link", "input", "hr", "line", "rect", "polyline", "path", "circle"):
            while self.open_ids and self.open_ids[-1][1] == self.depth:
                self.open_ids.pop()
            self.depth -= 1

    def handle_data(self, data):
        for i, _ in self.open_ids:
            self.ids[i] += data
        if self.cell is not None:
            self.cell += data
        if self.in_mark:
            self.mark_labels[-1] += data


page = Page()
page.feed(open(dom_path, encoding="utf-8").read())
summary = json.load(open(os.path.join(run_dir, "summary.json")))

for section in ("title", "summary", "curves", "events", "lr-find", "confusion", "timings", "experiment", "plan"):
    if section not in page.ids:
        bad("no element #%s" % section)
if page.ids.get("title", "").strip() != summary["experiment"]:
    bad("title %r is not the experiment %r" % (page.ids.get("title"), summary["experiment"]))
for key in ("test_accuracy", "val_accuracy", "epochs", "steps", "stopped"):
    got = page.ids.get("summary-" + key, "").strip()
    if got != str(summary[key]):
        bad("summary %s: %r, summary.json has %r" % (key, got, summary[key]))
if page.tags.get("script") or page.tags.get("link") or page.tags.get("img") or page.tags.get("iframe"):
    bad("the page has scripts, links, images or frames: %s" % page.tags)
if page.tags.get("svg", 0) < 2 or page.tags.get("polyline", 0) < 6:
    bad("curves and LR range test: %d svg, %d polylines" % (page.tags.get("svg", 0), page.tags.get("polyline", 0)))

# the confusion matrix: K x K counts and a recall column
m = page.attrs_of.get("confusion-matrix", {})
rows = page.matrix
K = len(rows)
counts = [[int(c) for c in r[:-1]] for r in rows]
if K < 2 or any(len(r) != K for r in counts):
    bad("the confusion matrix is not square: %r" % rows)
else:
    total = sum(map(sum, counts))
    right = sum(counts[i][i] for i in range(K))
    if str(total) != m.get("data-total") or str(right) != m.get("data-correct"):
        bad("the matrix sums to %d (%d right), its attributes say %s (%s)" % (total, right, m.get("data-total"), m.get("data-correct")))
    # the run evaluated the test split with its threads, the report with one:
    # the same argmax but for a tie, so at most one sample apart
    if abs(right - summary["test_accuracy"] * total) > 1.01:
        bad("the matrix's accuracy %d/%d is not the run's test accuracy %r" % (right, total, summary["test_accuracy"]))
    for i, r in enumerate(rows):
        want = counts[i][i] / max(1, sum(counts[i]))
        if abs(float(r[-1]) - want) > 6e-4:
            bad("class %d: recall %s, expected %.3f" % (i, r[-1], want))
    acc = page.ids.get("confusion-accuracy", "").strip()
    if acc != "%.4f" % (right / total):
        bad("the accuracy shown %r is not %d/%d" % (acc, right, total))

events = [line.rstrip("\n") for line in open(os.path.join(run_dir, "events.log"))]
for e in events:
    if e not in page.ids.get("events", ""):
        bad("event %r is not listed" % e)
sugg = page.ids.get("lr-suggestion", "")
if not sugg:
    bad("no LR suggestion")
exp = open(os.path.join(run_dir, "experiment.hp")).read()
if exp.strip() not in page.ids.get("experiment", ""):
    bad("the experiment is not experiment.hp")
if "parameters" not in page.ids.get("plan", "") or "epoch" not in page.ids.get("plan", ""):
    bad("the plan is not hpc explain's")
if "ms" not in page.ids.get("timing-compile", "") or not page.ids.get("timing-throughput", "").strip():
    bad("timings: %r %r" % (page.ids.get("timing-compile"), page.ids.get("timing-throughput")))
epochs_rows = page.ids.get("epochs", "")
if str(summary["epochs"]) not in epochs_rows:
    bad("no per-epoch timings")

for p in problems:
    print("FAIL: " + p)
print("%d sections, %d svg, %dx%d confusion matrix, %d problems" % (len(page.ids), page.tags.get("svg", 0), K, K, len(problems)))
sys.exit(1 if problems else 0)
