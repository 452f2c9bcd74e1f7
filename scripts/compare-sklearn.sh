#!/usr/bin/env bash
# cad against scikit-learn, in one run on one machine, on the same CSV files.
#
#   scripts/compare-sklearn.sh            # 100k and 1M rows, tree and forest(100)
#   QUICK=1 scripts/compare-sklearn.sh    # 20k rows only: checks the script works
#
# 1. makes a venv with scikit-learn, pandas, numpy (in $CAD_SKL_VENV, default
#    /tmp/skl) unless one is already there;
# 2. writes the data sets with ../shared/bench/make_dataset.py (15 features,
#    5 classes, 60 rows per group) into $CAD_COMPARE_DIR (default /tmp/cad-compare);
# 3. times scikit-learn with ../shared/bench/sklearn_baseline.py (single
#    thread, median of 3 fits) and cad through its program, on the same CSV:
#    `cad-collector --from-file FILE.csv ...` (cad-bins). cad also runs
#    $REPEAT times (default 3) and reports medians;
# 4. prints both sides, the ratios and whether the targets of the performance
#    issue are met.
#
# The grouped 70/30 splits of the two sides are drawn by different random
# generators (cad's is also stratified by class): same ratio and seed, not the
# same groups, so accuracies compare held-out sets of the same size and kind.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
BENCH=${CAD_BENCH_DIR:-$ROOT/../shared/bench}
VENV=${CAD_SKL_VENV:-/tmp/skl}
WORK=${CAD_COMPARE_DIR:-/tmp/cad-compare}
REPEAT=${REPEAT:-3}
if [[ -n "${QUICK:-}" ]]; then
  TREE_ROWS=(20000); FOREST_ROWS=20000; TREES=100
else
  TREE_ROWS=(100000 1000000); FOREST_ROWS=100000; TREES=100
fi
mkdir -p "$WORK"
cd "$ROOT"

log() { printf '== %s\n' "$*" >&2; }

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"

# 1. scikit-learn
if ! "$VENV/bin/python" -c 'import sklearn, pandas, numpy' 2>/dev/null; then
  log "creating $VENV with scikit-learn, pandas, numpy"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scikit-learn pandas numpy
fi
PY="$VENV/bin/python"
log "scikit-learn $("$PY" -c 'import sklearn; print(sklearn.__version__)')"

# 2. data sets
csv_for() { echo "$WORK/ds-$1.csv"; }
for rows in "${TREE_ROWS[@]}" "$FOREST_ROWS"; do
  f=$(csv_for "$rows")
  if [[ ! -s "$f" ]]; then
    log "writing $f"
    "$PY" "$BENCH/make_dataset.py" --rows "$rows" --out "$f.tmp" && mv "$f.tmp" "$f"
  fi
done

# 3. cad's program, the product itself.
cargo build -q --release -p cad-bins --bin cad-collector
# No learning curve: only the evaluation's fit and predict are compared.
CAD=("$ROOT/target/release/cad-collector" --curve-points 0)
CAD_NAME="cad-collector (cad-bins)"
log "cad side: $CAD_NAME"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# record CASE SIDE JSON
record() { "$PY" -c 'import json,sys; d=json.loads(sys.argv[3]); d["case"]=sys.argv[1]; d["side"]=sys.argv[2]; print(json.dumps(d))' "$1" "$2" "$3" >>"$RESULTS"; }

sklearn() { # CASE ROWS [--forest]
  local case=$1 rows=$2; shift 2
  log "$case: scikit-learn $*"
  record "$case" sklearn "$("$PY" "$BENCH/sklearn_baseline.py" --csv "$(csv_for "$rows")" --repeat "$REPEAT" "$@")"
}

cad() { # CASE ROWS ARGS...
  local case=$1 rows=$2; shift 2
  local out="$WORK/out-$case"
  local runs=()
  for ((i = 0; i < REPEAT; i++)); do
    log "$case: cad $* (run $((i + 1))/$REPEAT)"
    rm -rf "$out"
    "${CAD[@]}" --from-file "$(csv_for "$rows")" "$@" --eval grouped-split --training-ratio 0.7 --seed 0 \
      --out-dir "$out" >"$WORK/cad-$case.log" 2>&1 || { cat "$WORK/cad-$case.log" >&2; exit 1; }
    runs+=("$(cat "$out/report.json")")
  done
  # medians of fit and predict over the runs; accuracy and sizes of the last
  record "$case" cad "$("$PY" -c '
import json, statistics, sys
runs = [json.loads(r) for r in sys.argv[1:]]
for k in ("fit_seconds", "predict_seconds_per_row", "accuracy", "train_rows", "test_rows"):
    if k not in runs[-1]:
        sys.exit(f"report.json has no {k}")
print(json.dumps({
    "fit_s": statistics.median(r["fit_seconds"] for r in runs),
    "fit_runs": [round(r["fit_seconds"], 3) for r in runs],
    "predict_ns_per_row": statistics.median(r["predict_seconds_per_row"] * 1e9 for r in runs),
    "accuracy_grouped": runs[-1]["accuracy"],
    "train_rows": runs[-1]["train_rows"], "test_rows": runs[-1]["test_rows"],
}))' "${runs[@]}")"
}

for rows in "${TREE_ROWS[@]}"; do
  sklearn "tree-$rows" "$rows"
  cad "tree-$rows" "$rows" --algorithm tree
done
sklearn "forest-$FOREST_ROWS" "$FOREST_ROWS" --forest
cad "forest-$FOREST_ROWS" "$FOREST_ROWS" --algorithm forest --trees "$TREES" --threads 1
# threads 2 goes in its own case, compared with the same sklearn figures
cad "forest-$FOREST_ROWS-threads2" "$FOREST_ROWS" --algorithm forest --trees "$TREES" --threads 2

log "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"

# 4. the table
"$PY" - "$RESULTS" "$CAD_NAME" "$FOREST_ROWS" "${TREE_ROWS[-1]}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cad_name, forest_rows, big = sys.argv[2], sys.argv[3], sys.argv[4]
by = {(r["case"], r["side"]): r for r in rows}
skl = lambda case: by[(case.replace("-threads2", ""), "sklearn")]
print(f"cad side: {cad_name}\n")
hdr = ("case", "skl fit s", "cad fit s", "fit ratio", "skl ns/row", "cad ns/row", "pred ratio", "skl acc", "cad acc", "acc diff (pts)")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
cases = [c for (c, side) in by if side == "cad"]
for case in cases:
    s, c = skl(case), by[(case, "cad")]
    print("| " + " | ".join([
        case, f'{s["fit_s"]:.3f}', f'{c["fit_s"]:.3f}', f'{c["fit_s"] / s["fit_s"]:.2f}',
        f'{s["predict_ns_per_row"]:.1f}', f'{c["predict_ns_per_row"]:.1f}',
        f'{c["predict_ns_per_row"] / s["predict_ns_per_row"]:.2f}',
        f'{s["accuracy_grouped"]:.4f}', f'{c["accuracy_grouped"]:.4f}',
        f'{(c["accuracy_grouped"] - s["accuracy_grouped"]) * 100:+.2f}',
    ]) + " |")
print()
def check(name, ok, detail):
    print(f'{"MET    " if ok else "NOT MET"}  {name}: {detail}')
t = f"tree-{big}"
if (t, "cad") in by:
    s, c = skl(t), by[(t, "cad")]
    r = c["fit_s"] / s["fit_s"]
    check(f"tree fit on {big} rows <= 0.5x sklearn", r <= 0.5, f"{r:.2f}x")
    d = (c["accuracy_grouped"] - s["accuracy_grouped"]) * 100
    check(f"tree grouped accuracy on {big} rows within 0.5 points (or better)", d >= -0.5, f"{d:+.2f} points")
    r = c["predict_ns_per_row"] / s["predict_ns_per_row"]
    check(f"tree batch predict on {big} rows <= 0.5x sklearn ns/row", r <= 0.5, f"{r:.2f}x")
f1, f2 = f"forest-{forest_rows}", f"forest-{forest_rows}-threads2"
s, c1, c2 = skl(f1), by[(f1, "cad")], by[(f2, "cad")]
r = c1["fit_s"] / s["fit_s"]
check(f"forest fit on {forest_rows} rows, 1 thread, faster than sklearn (1 thread)", r < 1, f"{r:.2f}x")
r = c2["fit_s"] / c1["fit_s"]
check("forest threads 2 faster than threads 1", r < 1, f"{c2['fit_s']:.3f}s vs {c1['fit_s']:.3f}s ({r:.2f}x)")
EOF
