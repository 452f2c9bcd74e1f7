#!/usr/bin/env bash
# The one test command: installs what the tests need, then checks formatting,
# lints and runs every test in the workspace. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages the tests need (installed only when missing) -----------
need=()
# cad-influx's tests start a real InfluxDB 1.x (Debian's `influxdb`, /usr/bin/influxd);
# with CI=true a missing influxd fails them. The installed service is not started:
# the tests run their own server on free loopback ports.
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
# cad-prometheus's tests start a real Prometheus (backfilled with promtool) and a
# real VictoriaMetrics (with vmauth in front of it for the bearer-token tests);
# with CI=true missing binaries fail them. Their services are not used either.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
{ command -v victoria-metrics && command -v vmauth; } >/dev/null 2>&1 || need+=(victoria-metrics)
# scripts/validate-manifests.sh renders deploy/ with kubectl (Debian's kubernetes-client)
# and validates it with kubernetes-validate in a Python venv.
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if ((${#need[@]})); then
  echo "==> installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # No recommends: prometheus would pull in (and start) a node exporter.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

# The lint levels (every warning denied) are in Cargo.toml's [workspace.lints].
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked

echo "==> cad-core without its optional features (what an adapter author builds)"
cargo clippy -p cad-core -p cad-sim -p cad-examples --no-default-features --all-targets --locked

echo "==> the programs without the demo (what the container image builds: no tokio test-util)"
cargo clippy -p cad-bins --no-default-features --bins --locked

echo "==> cargo doc (broken or private links in the API docs fail)"
cargo doc --workspace --no-deps --locked

echo "==> manifests (kubectl kustomize + Kubernetes schemas + hardening)"
bash scripts/validate-manifests.sh

echo "==> cargo test"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
