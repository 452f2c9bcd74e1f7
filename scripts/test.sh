#!/usr/bin/env bash
# The one test command: installs what the tests need, then checks formatting,
# lints and runs every test in the workspace. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages the tests need (installed only when missing) -----------
need=()
# (adapters add their packages here, e.g. influxdb for cad-influx's tests)
# cad-influx's tests start a real InfluxDB 1.x (Debian's `influxdb`, /usr/bin/influxd);
# with CI=true a missing influxd fails them. The installed service is not started:
# the tests run their own server on free loopback ports.
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
if ((${#need[@]})); then
  echo "==> installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
