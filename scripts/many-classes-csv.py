#!/usr/bin/env python3
"""A CSV with many class labels, for the many-classes cases of RELIABILITY.md.

    python3 scripts/many-classes-csv.py CLASSES CONTAINERS ROWS OUT.csv

CLASSES labels (c0, c1, ...), CONTAINERS containers per label (group
c<label>-g<n>), ROWS rows per container, 10 Gaussian features whose means
drift slowly with the label (seeded: the same file every time).
"""
import random
import sys

n_classes, groups, rows, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
random.seed(1)
with open(out, "w") as f:
    f.write(",".join(f"f{i}" for i in range(10)) + ",class,group\n")
    for c in range(n_classes):
        for g in range(groups):
            for _ in range(rows):
                vals = [random.gauss(c * 0.01 * (i + 1), 1.0) for i in range(10)]
                f.write(",".join(f"{v:.4f}" for v in vals) + f",c{c},c{c}-g{g}\n")
