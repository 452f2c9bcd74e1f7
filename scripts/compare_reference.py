#!/usr/bin/env python3
"""Reference side of scripts/compare-sklearn.sh: scikit-learn and LightGBM on
the CSV that cad reads, and a runner that measures a whole process.

  compare_reference.py fit --csv FILE --model sklearn-tree|sklearn-forest|lgbm-1|lgbm-100 \
      [--threads N] [--repeat R] [--seed S]
  compare_reference.py run OUT.json -- COMMAND ARGS...

`fit` splits the rows by group (all rows of a group on one side, 30 % of the
groups held out, as ../shared/bench/sklearn_baseline.py does), fits and
predicts `--repeat` times, and prints one JSON object: fit_s and
predict_ns_per_row (medians), accuracy_grouped, the model's pickled (or, for
LightGBM, text) size. scikit-learn's forest has 100 trees and
`n_jobs=--threads` (fit and predict); LightGBM is gbdt with its defaults
(31 leaves) and `num_threads=--threads`, 1 round (one tree per class) or 100.

`run` runs COMMAND, waits for it with wait4, and writes its wall time and
peak resident set size (whole process, kB) to OUT.json; it exits with the
command's status.
"""
import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time


def fit(a):
    import numpy as np
    import pandas as pd

    df = pd.read_csv(a.csv)
    y = df["class"].astype(str).to_numpy()
    groups = df["group"].astype(str).to_numpy()
    x = df.drop(columns=["class", "group"]).to_numpy(dtype=np.float64)
    rng = np.random.default_rng(a.seed)
    uniq = np.unique(groups)
    test_groups = set(rng.choice(uniq, size=max(1, int(len(uniq) * 0.3)), replace=False))
    test = np.array([g in test_groups for g in groups])
    xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
    del df, x

    def make():
        if a.model == "sklearn-tree":
            from sklearn.tree import DecisionTreeClassifier

            return DecisionTreeClassifier(random_state=a.seed)
        if a.model == "sklearn-forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(n_estimators=100, random_state=a.seed, n_jobs=a.threads)
        import lightgbm as lgb

        rounds = {"lgbm-1": 1, "lgbm-100": 100}[a.model]
        return lgb.LGBMClassifier(n_estimators=rounds, num_threads=a.threads, random_state=a.seed, verbose=-1)

    fits, preds, acc, m = [], [], None, None
    for _ in range(a.repeat):
        m = make()
        t = time.perf_counter()
        m.fit(xtr, ytr)
        fits.append(time.perf_counter() - t)
        t = time.perf_counter()
        p = m.predict(xte)
        preds.append((time.perf_counter() - t) / max(1, len(xte)) * 1e9)
        acc = float((p == yte).mean())
    if a.model.startswith("lgbm"):
        size = len(m.booster_.model_to_string().encode())
    else:
        size = len(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL))
    print(json.dumps({
        "model": a.model, "threads": a.threads,
        "rows": int(len(y)), "train_rows": int(len(xtr)), "test_rows": int(len(xte)),
        "features": int(xtr.shape[1]),
        "fit_s": round(statistics.median(fits), 4), "fit_runs": [round(f, 3) for f in fits],
        "predict_ns_per_row": round(statistics.median(preds), 1),
        "predict_runs": [round(p, 1) for p in preds],
        "accuracy_grouped": round(acc, 4),
        "model_bytes": size,
    }))


def run(a):
    t = time.perf_counter()
    p = subprocess.Popen(a.command)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    with open(a.out, "w") as f:
        # ru_maxrss is in kB on Linux.
        json.dump({"wall_s": round(wall, 3), "peak_rss_kb": usage.ru_maxrss}, f)
    sys.exit(os.waitstatus_to_exitcode(status))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--csv", required=True)
    f.add_argument("--model", required=True, choices=["sklearn-tree", "sklearn-forest", "lgbm-1", "lgbm-100"])
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("--repeat", type=int, default=3)
    f.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("out")
    r.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd == "fit":
        fit(a)
    else:
        if a.command and a.command[0] == "--":
            a.command = a.command[1:]
        run(a)


if __name__ == "__main__":
    main()
