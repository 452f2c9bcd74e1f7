#!/usr/bin/env bash
# Regenerates deploy/base/model-configmap.yaml: the demo model the watcher
# starts with, trained by the collector on the embedded simulated cluster
# (trusted training pods, no impostors).
set -euo pipefail
cd "$(dirname "$0")/.."
out=deploy/base/model-configmap.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo run --quiet --release -p cad-bins --bin cad-collector -- \
  --source sim --sim-seed 7 --sim-pods 80 --sim-impostors 0 \
  --out-dir "$tmp" --configmap cad/cad-model --configmap-key model.cadm \
  --print configmap >"$tmp/cm.yaml"
{
  cat <<'HEADER'
# The model the watcher uses, in binaryData["model.cadm"].
#
# DEMO MODEL: trained on cad's embedded *simulated* cluster, not on your
# cluster. It lets the watcher start and show verdicts at once; its figures
# come from class profiles measured on one k3s cluster, so expect wrong
# verdicts on yours until the collector (collector-cronjob.yaml) has trained
# and published a model from your own pods (docs/training.md).
#
# The collector replaces binaryData["model.cadm"] of this ConfigMap in place.
# Note: `kubectl apply -k deploy/` puts the demo model back (client-side apply
# overwrites the field); re-run the collector job afterwards, or use
# `kubectl apply --server-side -k deploy/`, which reports the conflict instead.
#
# Regenerate with scripts/demo-model.sh.
HEADER
  cat "$tmp/cm.yaml"
} >"$out"
echo "wrote $out"
