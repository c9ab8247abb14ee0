#!/usr/bin/env python3
"""catchup-sum.py PERF_CSV REPORT_JSON: sums catchup.sh's `perf stat -I 100` intervals after
the idle gap that ends the backlog (the bench's 2 s pause: >= 1 s of intervals under 5 ms of
broker task-clock), up to the last interval with a sendfile, and prints each event per GB consumed (the report's consume bytes)."""
import json, sys
from collections import OrderedDict

rows = OrderedDict()  # time -> {event: value}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) < 4 or line.startswith("#"):
        continue
    try:
        t, v = float(f[0]), float(f[1])
    except ValueError:
        continue
    rows.setdefault(t, {})[f[3]] = v
times = list(rows)
idle, start = 0, None
for i, t in enumerate(times):
    if rows[t].get("task-clock", 0) < 5:
        idle += 1
    else:
        if idle >= 10 and start is None:
            start = i
        idle = 0
if start is None:
    sys.exit("no idle gap found between backlog and consume")
# The consume ends with the last interval that sent file bytes (the bench then deletes its
# topics, which is not the catch-up's work).
end = max(i for i, t in enumerate(times) if rows[t].get("syscalls:sys_enter_sendfile64", 0) > 0) + 1
sums = OrderedDict()
for t in times[start:end]:
    for k, v in rows[t].items():
        sums[k] = sums.get(k, 0) + v
rep = json.load(open(sys.argv[2]))
gb = rep["consume"]["bytes"] / 1e9
print(f"consumed {gb:.3f} GB over {end - start} intervals of 100 ms")
for k, v in sums.items():
    if k == "task-clock":
        print(f"broker CPU-s per GB: {v / 1e3 / gb:.4f}  ({v / 1e3:.3f} s)")
    else:
        print(f"{k} per GB: {v / gb:.0f}  ({v:.0f})")
