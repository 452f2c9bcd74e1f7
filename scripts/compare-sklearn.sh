#!/usr/bin/env bash
# cad against scikit-learn and LightGBM, in one run on one machine, on the same CSV files.
#
#   scripts/compare-sklearn.sh            # every case below (~30 min on 2 cores)
#   QUICK=1 scripts/compare-sklearn.sh    # 20k rows only: checks the script works
#   ONLY=noisy scripts/compare-sklearn.sh # one data set family (noisy or make)
#   CASES="tree-noisy-1000000 forest-noisy-100000-t2" scripts/compare-sklearn.sh
#                                         # only the cases named (as in the table)
#
# 1. makes a venv with scikit-learn, LightGBM, pandas, numpy (in $CAD_SKL_VENV,
#    default /tmp/skl) unless one is already there;
# 2. writes the data sets into $CAD_COMPARE_DIR (default /tmp/cad-compare):
#    * make-N: ../shared/bench/make_dataset.py (15 features, 5 classes, 60
#      rows per group; easy, trees of ~200 leaves);
#    * noisy-N: `cargo run -p cad-benches --example make_dataset` (20
#      features, 10 informative, 5 classes, 2 % label noise, heavy-tailed
#      byte columns, integer counters, 5 % missing values in four columns;
#      trees grown to purity get thousands of leaves);
# 3. runs every side of a case $REPEAT times (default 3), alternating the
#    sides, each run its own process measured whole (wall time and peak RSS,
#    scripts/compare_reference.py run): scikit-learn and LightGBM through
#    scripts/compare_reference.py fit, cad through its program,
#    `cad-collector --from-file FILE.csv ...`, reading fit_seconds,
#    predict_seconds_per_row, accuracy and model_bytes from its report.json;
# 4. prints the medians, the ratios and whether the targets are met.
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
ONLY=${ONLY:-}
CASES=${CASES:-}
if [[ -n "${QUICK:-}" ]]; then
  TREE_ROWS=(20000); FOREST_ROWS=20000
else
  TREE_ROWS=(100000 1000000); FOREST_ROWS=100000
fi
mkdir -p "$WORK"
cd "$ROOT"

log() { printf '== %s\n' "$*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(load), $(date -u +%Y-%m-%dT%H:%MZ)"

# 1. the reference side
if ! "$VENV/bin/python" -c 'import sklearn, lightgbm, pandas, numpy' 2>/dev/null; then
  log "creating $VENV with scikit-learn, lightgbm, pandas, numpy"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scikit-learn lightgbm pandas numpy
fi
PY="$VENV/bin/python"
REF="$ROOT/scripts/compare_reference.py"
log "scikit-learn $("$PY" -c 'import sklearn; print(sklearn.__version__)'), lightgbm $("$PY" -c 'import lightgbm; print(lightgbm.__version__)')"

# 2. cad's program, the product itself, and the noisy data's generator
cargo build -q --release -p cad-bins --bin cad-collector
cargo build -q --release -p cad-benches --example make_dataset
# No learning curve: only the evaluation's fit and predict are compared.
CAD=("$ROOT/target/release/cad-collector" --curve-points 0)
CAD_NAME="cad-collector (cad-bins)"

csv_for() { echo "$WORK/$1-$2.csv"; } # KIND ROWS
features_of() { if [[ $1 == noisy ]]; then echo 20; else echo 15; fi; }
dataset() { # KIND ROWS
  local f
  f=$(csv_for "$1" "$2")
  [[ -s "$f" ]] && return
  log "writing $f"
  if [[ $1 == noisy ]]; then
    "$ROOT/target/release/examples/make_dataset" "$2" "$f"
  else
    "$PY" "$BENCH/make_dataset.py" --rows "$2" --out "$f.tmp" && mv "$f.tmp" "$f"
  fi
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# record CASE SIDE KIND ROWS METRICS_JSON RSS_JSON
record() {
  "$PY" -c '
import json, sys
d = json.loads(sys.argv[5]); d.update(json.loads(sys.argv[6]))
d.update(case=sys.argv[1], side=sys.argv[2], kind=sys.argv[3], rows=int(sys.argv[4]), load=sys.argv[7])
print(json.dumps(d))' "$@" "$(load)" >>"$RESULTS"
}

ref() { # CASE SIDE KIND ROWS MODEL THREADS
  local case=$1 side=$2 kind=$3 rows=$4 model=$5 threads=$6 out
  log "$case: $side ($model, $threads thread(s)), load $(load)"
  out=$("$PY" "$REF" run "$WORK/rss.json" -- "$PY" "$REF" fit --csv "$(csv_for "$kind" "$rows")" \
    --model "$model" --threads "$threads" --repeat 1)
  record "$case" "$side" "$kind" "$rows" "$out" "$(cat "$WORK/rss.json")"
}

cad() { # CASE SIDE KIND ROWS ARGS...
  local case=$1 side=$2 kind=$3 rows=$4; shift 4
  local dir="$WORK/out-$case-$side"
  log "$case: $side ($*), load $(load)"
  rm -rf "$dir"
  "$PY" "$REF" run "$WORK/rss.json" -- "${CAD[@]}" --from-file "$(csv_for "$kind" "$rows")" "$@" \
    --eval grouped-split --training-ratio 0.7 --seed 0 --out-dir "$dir" >"$WORK/cad.log" 2>&1 ||
    { cat "$WORK/cad.log" >&2; exit 1; }
  record "$case" "$side" "$kind" "$rows" "$("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"fit_s": r["fit_seconds"], "predict_ns_per_row": r["predict_seconds_per_row"] * 1e9,
    "accuracy_grouped": r["accuracy"], "train_rows": r["train_rows"], "test_rows": r["test_rows"],
    "model_bytes": r["model_bytes"]}))' "$dir/report.json")" "$(cat "$WORK/rss.json")"
}

# A case: each side once per round, REPEAT rounds (A/B alternated).
# Whether CASE is to run (CASES empty: every case).
wanted() { [[ -z $CASES || " $CASES " == *" $1 "* ]]; }

tree_case() { # KIND ROWS [lgbm]
  local kind=$1 rows=$2 case="tree-$1-$2"
  wanted "$case" || return 0
  dataset "$kind" "$rows"
  for ((i = 0; i < REPEAT; i++)); do
    ref "$case" sklearn "$kind" "$rows" sklearn-tree 1
    cad "$case" cad "$kind" "$rows" --algorithm tree
    if [[ ${3:-} == lgbm ]]; then ref "$case" lgbm-1 "$kind" "$rows" lgbm-1 1; fi
  done
}

forest_case() { # KIND ROWS THREADS [lgbm]
  local kind=$1 rows=$2 threads=$3 case="forest-$1-$2-t$3"
  wanted "$case" || return 0
  dataset "$kind" "$rows"
  for ((i = 0; i < REPEAT; i++)); do
    ref "$case" sklearn "$kind" "$rows" sklearn-forest "$threads"
    cad "$case" cad "$kind" "$rows" --algorithm forest --trees 100 --threads "$threads"
    cad "$case" cad-unlimited "$kind" "$rows" --algorithm forest --trees 100 --threads "$threads" --max-leaves 0
    if [[ ${4:-} == lgbm ]]; then ref "$case" lgbm-100 "$kind" "$rows" lgbm-100 "$threads"; fi
  done
}

if [[ $ONLY != make ]]; then
  for rows in "${TREE_ROWS[@]}"; do tree_case noisy "$rows" lgbm; done
  forest_case noisy "$FOREST_ROWS" 1 lgbm
  forest_case noisy "$FOREST_ROWS" 2 lgbm
fi
if [[ $ONLY != noisy ]]; then
  for rows in "${TREE_ROWS[@]}"; do tree_case make "$rows"; done
  forest_case make "$FOREST_ROWS" 1
  forest_case make "$FOREST_ROWS" 2
fi

log "load at the end $(load)"

# 4. the table and the targets
"$PY" - "$RESULTS" "$CAD_NAME" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault((r["case"], r["side"]), []).append(r)
# Runs per side (all results together were counted before: "42 runs" for 3).
per_side = max((len(v) for v in by.values()), default=1)
print(f"cad side: {sys.argv[2]}; medians of {per_side} runs' figures per side, peak RSS the largest\n")
med = lambda rs, k: statistics.median(r[k] for r in rs)
agg = {}
for key, rs in by.items():
    feats = 20 if rs[0]["kind"] == "noisy" else 15
    agg[key] = {
        "fit_s": med(rs, "fit_s"), "predict_ns_per_row": med(rs, "predict_ns_per_row"),
        "accuracy": rs[-1]["accuracy_grouped"], "model_bytes": rs[-1]["model_bytes"],
        "peak_rss_mb": max(r["peak_rss_kb"] for r in rs) / 1024,
        "data_f64_mb": rs[0]["rows"] * feats * 8 / 2**20,
        "fit_runs": [round(r["fit_s"], 3) for r in rs], "pred_runs": [round(r["predict_ns_per_row"]) for r in rs],
        "loads": [r["load"].split()[0] for r in rs],
    }
hdr = ("case", "side", "fit s", "fit vs skl", "predict ns/row", "pred vs skl", "accuracy", "acc − skl (pts)",
       "model bytes", "peak RSS MB", "RSS / data f64", "runs: fit s / ns per row / load")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for (case, side), a in agg.items():
    s = agg.get((case, "sklearn"))
    print("| " + " | ".join([
        case, side, f'{a["fit_s"]:.3f}', f'{a["fit_s"] / s["fit_s"]:.2f}' if s else "",
        f'{a["predict_ns_per_row"]:.1f}', f'{a["predict_ns_per_row"] / s["predict_ns_per_row"]:.2f}' if s else "",
        f'{a["accuracy"]:.4f}', f'{(a["accuracy"] - s["accuracy"]) * 100:+.2f}' if s else "",
        f'{a["model_bytes"]:,}', f'{a["peak_rss_mb"]:.0f}', f'{a["peak_rss_mb"] / a["data_f64_mb"]:.2f}',
        f'{a["fit_runs"]} / {a["pred_runs"]} / {a["loads"]}',
    ]) + " |")
print()
def check(name, ok, detail):
    print(f'{"MET    " if ok else "NOT MET"}  {name}: {detail}')
g = lambda case, side: agg.get((case, side))
cases = sorted({c for c, _ in agg})
for case in cases:
    s, c, u, l1, l100 = (g(case, x) for x in ("sklearn", "cad", "cad-unlimited", "lgbm-1", "lgbm-100"))
    if case.startswith("forest-") and s and c:
        r = c["predict_ns_per_row"] / s["predict_ns_per_row"]
        check(f"{case}: forest batch predict <= 0.5x scikit-learn (same threads)", r <= 0.5,
              f'{r:.2f}x ({c["predict_ns_per_row"]:.0f} vs {s["predict_ns_per_row"]:.0f} ns/row)')
        if u:
            r = u["predict_ns_per_row"] / s["predict_ns_per_row"]
            print(f"         (unlimited trees: {r:.2f}x, {u['predict_ns_per_row']:.0f} ns/row)")
            d = (c["accuracy"] - u["accuracy"]) * 100
            check(f"{case}: default forest accuracy within 1 point of unlimited trees", d >= -1.0, f"{d:+.2f} points")
        if case.startswith("forest-noisy"):
            b = c["model_bytes"]
            check(f"{case}: default forest bundle <= 900 KiB", b <= 900 * 1024, f"{b:,} bytes ({b / 1024:.0f} KiB)")
            check(f"{case}: ... and publish accepts it (<= 774,144 bytes)", b <= 774144, f"{b:,} bytes")
        r = c["fit_s"] / s["fit_s"]
        check(f"{case}: forest fit faster than scikit-learn", r < 1, f"{r:.2f}x")
    if case.startswith("tree-") and s and c:
        r = c["fit_s"] / s["fit_s"]
        check(f"{case}: tree fit <= 0.5x scikit-learn", r <= 0.5, f"{r:.2f}x")
        r = c["predict_ns_per_row"] / s["predict_ns_per_row"]
        check(f"{case}: tree batch predict <= 0.5x scikit-learn", r <= 0.5, f"{r:.2f}x")
        d = (c["accuracy"] - s["accuracy"]) * 100
        check(f"{case}: tree accuracy within 0.5 points of scikit-learn (or better)", d >= -0.5, f"{d:+.2f} points")
    if c and l1:
        check(f"{case}: cad tree fit ahead of LightGBM's single round", c["fit_s"] < l1["fit_s"],
              f'{c["fit_s"]:.3f} s vs {l1["fit_s"]:.3f} s')
    for side in ("cad", "cad-unlimited"):
        a = g(case, side)
        if a:
            r = a["peak_rss_mb"] / a["data_f64_mb"]
            check(f"{case}: {side} peak RSS <= 3x the data as f64", r <= 3,
                  f'{a["peak_rss_mb"]:.0f} MB vs {a["data_f64_mb"]:.0f} MB of f64 ({r:.2f}x)')
for kind in ("noisy", "make"):
    one = [k for k in cases if k.startswith(f"forest-{kind}") and k.endswith("-t1")]
    two = [k for k in cases if k.startswith(f"forest-{kind}") and k.endswith("-t2")]
    if one and two and g(one[0], "cad") and g(two[0], "cad"):
        a, b = g(one[0], "cad"), g(two[0], "cad")
        r = b["predict_ns_per_row"] / a["predict_ns_per_row"]
        check(f"{kind}: forest prediction uses 2 threads (faster than 1)", r < 1, f"{r:.2f}x")
        r = b["fit_s"] / a["fit_s"]
        check(f"{kind}: forest fit uses 2 threads (faster than 1)", r < 1, f"{r:.2f}x")
EOF
