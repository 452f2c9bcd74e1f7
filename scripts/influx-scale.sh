#!/usr/bin/env bash
# The collector and the watcher at scale against a real InfluxDB 1.x
# (`influxd` on PATH, or INFLUXD=/path/to/influxd): the larger run of
# cad-influx/tests/scale.rs, with the figures BENCHMARKS.md quotes.
#
#   bash scripts/influx-scale.sh            # 10,000 pods (about 6 minutes on 2 cores)
#   PODS=3000 bash scripts/influx-scale.sh  # another size
#   SHAPES=1 bash scripts/influx-scale.sh   # also compare InfluxQL query shapes (about 15 minutes more)
#
# Each run starts its own influxd on free loopback ports with its data in a
# temporary directory, and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PODS="${PODS:-10000}"

command -v influxd >/dev/null 2>&1 || [ -n "${INFLUXD:-}" ] || {
  echo "influxd not found: apt-get install influxdb (Debian ships 1.6), or set INFLUXD" >&2
  exit 2
}

echo "==> build (release)"
cargo build --release --locked -p cad-influx --example influx_scale --example query_shapes
bin=target/release/examples

echo "==> machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(influxd version 2>/dev/null || echo influxd)"
echo "==> collector: $PODS labelled pods, 10 minutes of metrics"
"$bin/influx_scale" collect "$PODS"
echo "==> watcher: a burst of $PODS pods, real time"
"$bin/influx_scale" watch "$PODS"
if [ "${SHAPES:-0}" = 1 ]; then
  echo "==> query shapes: $PODS pods"
  "$bin/query_shapes" "$PODS" eq,eq-ns,regex,time 50,100,200,400 1,2,4
fi
echo "==> load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
