#!/usr/bin/python3
"""splice_results.py SECTION.md RESULTS.md PREFIX - puts a benchmark's section
into bench/RESULTS.md: the section whose heading starts with PREFIX ("## ...")
is replaced, the others are kept, in their order (a new one goes first)."""
import re
import sys

section, results, prefix = sys.argv[1:4]
new = open(section).read().rstrip() + "\n"
try:
    old = open(results).read()
except FileNotFoundError:
    old = "# Benchmarks\n\n"
parts = re.split(r"(?m)^(?=## )", old)
kept = [p for p in parts if not p.startswith(prefix)]
head, rest = kept[0], kept[1:]
open(results, "w").write(head + new + "\n" + "".join(rest))
