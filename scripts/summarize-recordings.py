#!/usr/bin/env python3
"""Summarise recordings of real servers (data/recordings/) as Markdown tables.

    python3 scripts/summarize-recordings.py [DIR]   (default data/recordings)

Reads samples.csv, instances.csv and events.csv written by
scripts/record_real_servers.py and prints, per service, the median and
p10-p90 of every metric's level (gauges) or per-second rate (counters) in
three phases since the instance's start, start-up events, per-instance
medians, and a separation table (which features tell the classes apart and
which are per-instance constants). Python 3 standard library only.
"""

import csv
import math
import os
import statistics
import sys
from collections import defaultdict

PHASES = (("0-2 min", 0, 120), ("2-5 min", 120, 300), ("5-15 min", 300, 10**9))
GAUGES = {
    "cpu_usage_nanocores": ("CPU (millicores)", 1e-6),
    "memory_usage_bytes": ("memory usage (MiB)", 1 / 2**20),
    "memory_working_set_bytes": ("working set (MiB)", 1 / 2**20),
    "memory_rss_bytes": ("RSS (MiB)", 1 / 2**20),
    "rootfs_used_bytes": ("rootfs used (KiB)", 1 / 1024),
    "logsfs_used_bytes": ("logs used (KiB)", 1 / 1024),
    "used_bytes": ("volume used (MiB)", 1 / 2**20),
}
COUNTERS = {
    "cpu_usage_core_nanoseconds": ("CPU from counter (millicores)", 1e-6),
    "memory_page_faults": ("page faults /s", 1),
    "memory_major_page_faults": ("major faults /s", 1),
    "rx_bytes": ("rx KiB/s", 1 / 1024),
    "tx_bytes": ("tx KiB/s", 1 / 1024),
    "rx_errors": ("rx errors /s", 1),
    "tx_errors": ("tx errors /s", 1),
    "io_service_bytes_recursive_read": ("blkio read KiB/s", 1 / 1024),
    "io_service_bytes_recursive_write": ("blkio write KiB/s", 1 / 1024),
    # growth of gauges of accumulated state, per second
    "logsfs_used_bytes": ("logs growth KiB/s", 1 / 1024),
    "used_bytes": ("volume growth KiB/s", 1 / 1024),
}
ORDER = ["nginx", "apache", "mysql", "postgresql", "redis", "memcached", "tomcat", "rabbitmq"]


def pct(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def fmt(x):
    if x != x:
        return "–"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell(values):
    if not values:
        return "–"
    return f"{fmt(statistics.median(values))} [{fmt(pct(values, 0.1))}–{fmt(pct(values, 0.9))}]"


def load(d):
    inst = {}
    with open(os.path.join(d, "instances.csv")) as f:
        for r in csv.DictReader(f):
            inst[r["pod"]] = r
    series = defaultdict(lambda: defaultdict(list))  # pod -> metric -> [(t_s, v)]
    with open(os.path.join(d, "samples.csv")) as f:
        for r in csv.DictReader(f):
            series[r["pod"]][r["metric"]].append((int(r["time_ms"]) / 1000, float(r["value"])))
    events = defaultdict(list)
    with open(os.path.join(d, "events.csv")) as f:
        for r in csv.DictReader(f):
            events[r["pod"]].append((int(r["time_ms"]) / 1000, r["event"], r["detail"]))
    for s in series.values():
        for v in s.values():
            v.sort()
    return inst, series, events


def levels(points, start, lo, hi):
    return [v for t, v in points if lo <= t - start < hi]


def rates(points, start, lo, hi):
    out = []
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if lo <= t1 - start < hi and t1 > t0 and v1 >= v0:
            out.append((v1 - v0) / (t1 - t0))
    return out


def features(series, start, lo=300, hi=10**9):
    """Per-sample feature values of one instance in one phase (for the separation table)."""
    f = {}
    for m, (name, scale) in GAUGES.items():
        f[name] = [v * scale for v in levels(series.get(m, []), start, lo, hi)]
    for m, (name, scale) in COUNTERS.items():
        f[name] = [v * scale for v in rates(series.get(m, []), start, lo, hi)]
    use = dict(levels_with_time(series.get("memory_usage_bytes", []), start, lo, hi))
    rss = levels_with_time(series.get("memory_rss_bytes", []), start, lo, hi)
    f["RSS / usage"] = [v / use[t] for t, v in rss if use.get(t)]
    rx = dict(rate_with_time(series.get("rx_bytes", []), start, lo, hi))
    f["tx / rx bytes"] = [v / rx[t] for t, v in rate_with_time(series.get("tx_bytes", []), start, lo, hi) if rx.get(t)]
    return f


def levels_with_time(points, start, lo, hi):
    return [(round(t), v) for t, v in points if lo <= t - start < hi]


def rate_with_time(points, start, lo, hi):
    return [
        (round(t1), (v1 - v0) / (t1 - t0))
        for (t0, v0), (t1, v1) in zip(points, points[1:])
        if lo <= t1 - start < hi and t1 > t0 and v1 >= v0
    ]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "data/recordings"
    inst, series, events = load(d)
    by_class = defaultdict(list)
    for pod, r in inst.items():
        by_class[r["class"]].append(pod)
    classes = [c for c in ORDER if c in by_class] + sorted(set(by_class) - set(ORDER))
    for cls in classes:
        pods = sorted(by_class[cls])
        shapes = ", ".join(f"{p} {inst[p]['shape']}" for p in pods)
        print(f"\n### {cls} ({len(pods)} instances: {shapes})\n")
        print("| metric | " + " | ".join(p[0] for p in PHASES) + " |")
        print("| --- | " + " | ".join("---" for _ in PHASES) + " |")
        for kind, table, fn in (("level", GAUGES, levels), ("rate", COUNTERS, rates)):
            for m, (name, scale) in table.items():
                cells = []
                for _, lo, hi in PHASES:
                    vals = []
                    for p in pods:
                        start = float(inst[p]["start_ms"]) / 1000
                        vals += [v * scale for v in fn(series[p].get(m, []), start, lo, hi)]
                    cells.append(cell(vals))
                print(f"| {name} | " + " | ".join(cells) + " |")
        print("\nStart-up (seconds after the instance's start):\n")
        for p in pods:
            start = float(inst[p]["start_ms"]) / 1000
            evs = [f"{e} {t - start:.1f}" + (f" ({det})" if det else "") for t, e, det in events[p] if e != "start"]
            print(f"- {p}: " + "; ".join(evs[:12]) + (" …" if len(evs) > 12 else ""))
    # trajectories: levels at given ages (start-up phases, warm-up, growth)
    ages = (0, 10, 30, 60, 120, 300, 600, 890)
    print("\n### Levels by age (s since start): memory usage / working set (MiB), volume (MiB), logs (KiB)\n")
    print("| instance | " + " | ".join(f"{a} s" for a in ages) + " |")
    print("| --- | " + " | ".join("---" for _ in ages) + " |")
    for cls in classes:
        for p in sorted(by_class[cls]):
            start = float(inst[p]["start_ms"]) / 1000
            cells = []
            for a in ages:
                def at(m, scale):
                    pts = series[p].get(m, [])
                    best = min(pts, key=lambda tv: abs(tv[0] - start - a), default=None)
                    return fmt(best[1] * scale) if best else "–"
                cells.append(f"{at('memory_usage_bytes', 1 / 2**20)} / {at('memory_working_set_bytes', 1 / 2**20)}, "
                             f"{at('used_bytes', 1 / 2**20)}, {at('logsfs_used_bytes', 1 / 1024)}")
            print(f"| {p} | " + " | ".join(cells) + " |")
    # per-instance medians after 5 min
    key = ["CPU (millicores)", "memory usage (MiB)", "working set (MiB)", "RSS (MiB)", "RSS / usage",
           "rootfs used (KiB)", "logs used (KiB)", "volume used (MiB)", "rx KiB/s", "tx KiB/s", "tx / rx bytes",
           "blkio write KiB/s", "page faults /s"]
    print("\n### Per instance, medians from 5 min on (CPU floor: its 10th percentile)\n")
    print("| instance | shape | CPU floor (millicores) | " + " | ".join(key) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in key) + " |")
    per = {}
    for cls in classes:
        for p in sorted(by_class[cls]):
            start = float(inst[p]["start_ms"]) / 1000
            per[p] = features(series[p], start)
            floor = fmt(pct(per[p]["CPU (millicores)"], 0.1))
            print(f"| {p} | {inst[p]['shape']} | {floor} | " + " | ".join(
                fmt(statistics.median(per[p][k])) if per[p][k] else "–" for k in key) + " |")
    # separation: between-class vs within-class spread of instance medians, and
    # within-instance variation (a feature constant within an instance but
    # different between instances identifies an instance, not a behaviour)
    four = [c for c in ("nginx", "apache", "mysql", "postgresql") if c in by_class]
    for title, lo, hi in (("in the first 2 min", 0, 120), ("from 5 min on", 300, 10**9)):
        per = {}
        for c in four:
            for p in by_class[c]:
                per[p] = features(series[p], float(inst[p]["start_ms"]) / 1000, lo, hi)
        separation(title, four, by_class, per)


def separation(title, four, by_class, per):
    print(f"\n### Separation of the four classes {title} (instance medians)\n")
    print("| feature | classes whose instance ranges overlap no other class | F (between/within, log scale) "
          "| median within-instance CV |")
    print("| --- | --- | --- | --- |")
    names = list(next(iter(per.values())).keys())
    rows = []
    for name in names:
        med = {}
        cvs = []
        for c in four:
            med[c] = []
            for p in by_class[c]:
                v = per[p][name]
                if v:
                    med[c].append(math.log10(abs(statistics.median(v)) + 1e-3))
                    m = statistics.mean(v)
                    if len(v) > 1 and m:
                        cvs.append(statistics.pstdev(v) / abs(m))
        alone = []
        for c in four:
            if not med[c]:
                continue
            lo, hi = min(med[c]), max(med[c])
            if all(not med[o] or max(med[o]) < lo or min(med[o]) > hi for o in four if o != c):
                alone.append(c)
        allv = [x for c in four for x in med[c]]
        if len(allv) < 2:
            continue
        grand = statistics.mean(allv)
        between = sum(len(med[c]) * (statistics.mean(med[c]) - grand) ** 2 for c in four if med[c])
        within = sum((x - statistics.mean(med[c])) ** 2 for c in four for x in med[c])
        if within > 0:
            f = between / within
        else:
            f = float("inf") if between > 0 else float("nan")
        if f != f:
            alone = []  # the same value everywhere: separates nothing
        rows.append((f, name, alone, statistics.median(cvs) if cvs else float("nan")))
    rows.sort(key=lambda r: -r[0] if r[0] == r[0] else 1)
    for f, name, alone, cv in rows:
        print(f"| {name} | {', '.join(alone) or '–'} | {fmt(f)} | {fmt(cv)} |")

if __name__ == "__main__":
    main()
