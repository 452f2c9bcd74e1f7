#!/usr/bin/env bash
# Starts training pods for cad's collector, and removes them again.
#
#   scripts/training-pods.sh up   [--count N] [--namespace NS] [--classes LIST] [--helm] [--dry-run]
#   scripts/training-pods.sh down [--namespace NS] [--helm] [--dry-run]
#   scripts/training-pods.sh status [--namespace NS]
#
# For every class it creates a Deployment "<class>-training" with N replicas
# of the class's official image, so every pod name contains the class name
# and cad's labeler (first class in --classes that the pod name contains)
# recognises it. All objects carry the label cad.io/training=true; `down`
# deletes exactly those. The namespace is created if missing (not deleted).
#
# --helm installs N Helm releases "<class>-training-<i>" of the Bitnami
# charts instead (the old system's way); needs `helm` and the repository
#   helm repo add bitnami https://charts.bitnami.com/bitnami
# --dry-run prints the commands instead of running them.
#
# The passwords set here are for throwaway training pods only.
set -euo pipefail

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

cmd="${1:-}"
if [ $# -gt 0 ]; then shift; fi
count=3
namespace="cad-training"
classes="${CAD_CLASSES:-mysql,nginx,apache,postgres,mongo}"
helm_mode=false
dry_run=false

while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="${2:?--count needs a number}"; shift 2 ;;
    --count=*) count="${1#*=}"; shift ;;
    -n | --namespace) namespace="${2:?--namespace needs a name}"; shift 2 ;;
    --namespace=*) namespace="${1#*=}"; shift ;;
    --classes) classes="${2:?--classes needs a list}"; shift 2 ;;
    --classes=*) classes="${1#*=}"; shift ;;
    --helm) helm_mode=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

case "$count" in
  '' | *[!0-9]*) echo "--count must be a positive number, not '$count'" >&2; exit 2 ;;
esac
if [ "$count" -lt 1 ]; then
  echo "--count must be at least 1" >&2
  exit 2
fi

# Runs a command, or prints it with --dry-run.
run() {
  if $dry_run; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# image, then the environment the image needs to start (KEY=VALUE ...).
image_for() {
  case "$1" in
    mysql) echo "mysql:8.4 MYSQL_ROOT_PASSWORD=cad-training MYSQL_DATABASE=training" ;;
    nginx) echo "nginx:1.27" ;;
    apache | httpd) echo "httpd:2.4" ;;
    postgres | postgresql) echo "postgres:17 POSTGRES_PASSWORD=cad-training" ;;
    mongo | mongodb) echo "mongo:8.0" ;;
    *) return 1 ;;
  esac
}

chart_for() {
  case "$1" in
    mysql) echo "bitnami/mysql" ;;
    nginx) echo "bitnami/nginx" ;;
    apache | httpd) echo "bitnami/apache" ;;
    postgres | postgresql) echo "bitnami/postgresql" ;;
    mongo | mongodb) echo "bitnami/mongodb" ;;
    *) return 1 ;;
  esac
}

IFS=',' read -r -a class_list <<<"$classes"

up() {
  if ! $dry_run && ! kubectl get namespace "$namespace" >/dev/null 2>&1; then
    kubectl create namespace "$namespace"
  elif $dry_run; then
    run kubectl create namespace "$namespace"
  fi
  for class in "${class_list[@]}"; do
    class="${class// /}"
    [ -n "$class" ] || continue
    if $helm_mode; then
      local chart
      if ! chart="$(chart_for "$class")"; then
        echo "no chart known for class '$class'; skipped" >&2
        continue
      fi
      for i in $(seq 1 "$count"); do
        run helm upgrade --install "$class-training-$i" "$chart" --namespace "$namespace" \
          --set-string "commonLabels.cad\.io/training=true" --wait=false
      done
      continue
    fi
    local spec image
    if ! spec="$(image_for "$class")"; then
      echo "no image known for class '$class'; skipped (known: mysql nginx apache postgres mongo)" >&2
      continue
    fi
    read -r -a parts <<<"$spec"
    image="${parts[0]}"
    local name="$class-training"
    if ! $dry_run && kubectl -n "$namespace" get deployment "$name" >/dev/null 2>&1; then
      run kubectl -n "$namespace" scale deployment "$name" --replicas="$count"
      continue
    fi
    run kubectl -n "$namespace" create deployment "$name" --image="$image" --replicas="$count"
    run kubectl -n "$namespace" label deployment "$name" cad.io/training=true
    if [ "${#parts[@]}" -gt 1 ]; then
      run kubectl -n "$namespace" set env deployment/"$name" "${parts[@]:1}"
    fi
    run kubectl -n "$namespace" set resources deployment/"$name" \
      --requests=cpu=50m,memory=128Mi --limits=cpu=500m,memory=1Gi
  done
  echo "training pods requested in namespace $namespace; watch them with:"
  echo "  kubectl -n $namespace get pods -w"
}

down() {
  if $helm_mode; then
    local releases
    releases="$(helm list --namespace "$namespace" --short | grep -E -- '-training-[0-9]+$' || true)"
    for r in $releases; do
      run helm uninstall "$r" --namespace "$namespace"
    done
    return
  fi
  run kubectl -n "$namespace" delete deployment -l cad.io/training=true --ignore-not-found
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) kubectl -n "$namespace" get deployments,pods -l 'cad.io/training=true' -o wide 2>/dev/null \
    || kubectl -n "$namespace" get pods -o wide ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
