#!/usr/bin/env bash
# Validates deploy/ offline, without a cluster:
#   1. renders every kustomization with `kubectl kustomize`;
#   2. checks every rendered object against the Kubernetes JSON schemas
#      (PyPI `kubernetes-validate`, which ships them; strict: unknown fields fail);
#   3. checks cad's own rules: every container non-root, read-only root file
#      system, no privilege escalation, all capabilities dropped, seccomp
#      RuntimeDefault, resource requests and limits; probes on the watcher;
#   4. parses deploy/telegraf/telegraf.conf as TOML (Python's tomllib);
#   5. checks that deploy/overlays/prometheus/ reads Prometheus and needs no
#      InfluxDB (no CAD_INFLUX_* variable, no InfluxDB Secret).
# Fails on the first kind of problem found, after reporting all of that kind.
#
# Environment: K8S_VERSIONS (schemas to check against, default "1.30.0 1.37.0":
# the oldest and the newest Kubernetes cad supports), CAD_KV_VENV (virtualenv
# for kubernetes-validate, default /tmp/cad-kv).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a K8S_VERSIONS <<<"${K8S_VERSIONS:-1.30.0 1.37.0}"
VENV="${CAD_KV_VENV:-/tmp/cad-kv}"
KV_PIN="kubernetes-validate==1.37.0"

# Sets SUDO for package installs.
sudo_prefix() {
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  else
    SUDO=""
  fi
}

if ! command -v kubectl >/dev/null 2>&1; then
  echo "==> installing kubectl (Debian package kubernetes-client)"
  sudo_prefix
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kubernetes-client
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is needed" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  echo "==> installing $KV_PIN into $VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    sudo_prefix
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "$KV_PIN"
fi

echo "==> kubectl $(kubectl version --client 2>/dev/null | head -n1)"

targets=(
  deploy
  deploy/overlays/daemonset
  deploy/overlays/annotate
  deploy/overlays/prometheus
  deploy/telegraf
  deploy/influxdb
)

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

failed=0
passed=0
for t in "${targets[@]}"; do
  file="$out/$(echo "$t" | tr '/' '_').yaml"
  if ! kubectl kustomize "$t" >"$file"; then
    echo "FAIL render $t"
    failed=$((failed + 1))
    continue
  fi
  for v in "${K8S_VERSIONS[@]}"; do
    if "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$file"; then
      echo "ok   schema $t ($(grep -c '^kind:' "$file") objects, Kubernetes $v)"
      passed=$((passed + 1))
    else
      echo "FAIL schema $t (Kubernetes $v)"
      failed=$((failed + 1))
    fi
  done
done

# cad's own rules on the rendered objects, and the Telegraf configuration.
if "$VENV/bin/python" - "$out" deploy/telegraf/telegraf.conf <<'PY'; then
import glob, sys, tomllib
import yaml  # PyYAML comes with kubernetes-validate

out_dir, telegraf_conf = sys.argv[1], sys.argv[2]
problems = []

def check_container(where, c, sec_pod):
    sc = c.get("securityContext") or {}
    name = f"{where} container {c.get('name')}"
    non_root = sc.get("runAsNonRoot", sec_pod.get("runAsNonRoot"))
    if non_root is not True:
        problems.append(f"{name}: runAsNonRoot is not true")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{name}: readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation is not false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{name}: capabilities do not drop ALL")
    seccomp = (sc.get("seccompProfile") or sec_pod.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(f"{name}: seccompProfile is not RuntimeDefault")
    res = c.get("resources") or {}
    for k in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(k) or {}):
                problems.append(f"{name}: no {k}.{r}")

def pod_spec(obj):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return spec.get("template", {}).get("spec")
    if kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if kind == "Pod":
        return spec
    return None

seen = 0
for path in sorted(glob.glob(f"{out_dir}/*.yaml")):
    with open(path) as f:
        for obj in yaml.safe_load_all(f):
            if not obj:
                continue
            if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] == "cad-model":
                if "model.cadm" not in (obj.get("binaryData") or {}):
                    print(f"WARN {path.rsplit('/', 1)[-1]}: ConfigMap cad-model holds no model yet (placeholder)")
            prometheus_overlay = path.endswith("deploy_overlays_prometheus.yaml")
            if prometheus_overlay and obj.get("kind") == "Secret" and "influx" in obj["metadata"]["name"]:
                problems.append(f"prometheus overlay: Secret {obj['metadata']['name']} is left over")
            spec = pod_spec(obj)
            if spec is None:
                continue
            if prometheus_overlay:
                for c in spec.get("containers") or []:
                    env = {e.get("name"): e.get("value") for e in c.get("env") or []}
                    if env.get("CAD_METRICS_BACKEND") != "prometheus" or not env.get("CAD_PROMETHEUS_URL"):
                        problems.append(f"prometheus overlay: {obj['kind']}/{obj['metadata']['name']} does not read Prometheus")
                    left = sorted(n for n in env if n.startswith("CAD_INFLUX"))
                    if left:
                        problems.append(f"prometheus overlay: {obj['kind']}/{obj['metadata']['name']} still sets {left}")
                for v in spec.get("volumes") or []:
                    if "influx" in v.get("name", ""):
                        problems.append(f"prometheus overlay: volume {v['name']} is left over")
            seen += 1
            where = f"{path.rsplit('/', 1)[-1]}: {obj['kind']}/{obj['metadata']['name']}"
            sec_pod = spec.get("securityContext") or {}
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                check_container(where, c, sec_pod)
                if c.get("name") == "watcher":
                    for probe, path_ in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                        got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                        if got != path_:
                            problems.append(f"{where}: {probe} is {got!r}, not {path_}")
                for e in c.get("env") or []:
                    if e.get("name", "").endswith("PASSWORD") and "value" in e:
                        problems.append(f"{where}: {e['name']} has a literal value; use a Secret")

if seen == 0:
    problems.append("no workloads found in the rendered manifests")

try:
    with open(telegraf_conf, "rb") as f:
        conf = tomllib.load(f)
    if "kubernetes" not in conf.get("inputs", {}):
        problems.append(f"{telegraf_conf}: no [[inputs.kubernetes]]")
    if "influxdb" not in conf.get("outputs", {}):
        problems.append(f"{telegraf_conf}: no [[outputs.influxdb]]")
except (OSError, tomllib.TOMLDecodeError) as e:
    problems.append(f"{telegraf_conf}: not valid TOML: {e}")

for p in problems:
    print(f"FAIL {p}")
if problems:
    sys.exit(1)
print(f"ok   hardening of {seen} workloads; {telegraf_conf} is valid TOML")
PY
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo "manifests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
