#!/usr/bin/env bash
# Records real server software (nginx, apache2, MariaDB, PostgreSQL, Redis,
# memcached, Tomcat, RabbitMQ) under load, measured the way the kubelet measures a container:
# each instance in its own cgroup v1 (cpuacct, memory, blkio) and network
# namespace, sampled every 10 s. See data/recordings/README.md.
#
#   sudo bash scripts/record-real-servers.sh --out DIR [--duration 900] [INSTANCE ...]
#
# Needs root, Debian (apt), cgroup v1 controllers mounted under /sys/fs/cgroup
# and `ip netns`. Everything else is in scripts/record_real_servers.py.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "record-real-servers: must run as root" >&2
  exit 1
fi
for c in cpuacct memory blkio; do
  if [ ! -e "/sys/fs/cgroup/$c/cgroup.procs" ]; then
    echo "record-real-servers: cgroup v1 controller $c is not mounted at /sys/fs/cgroup/$c" >&2
    exit 1
  fi
done

# Servers and load tools, installed when missing. Debian starts no services
# here (policy-rc.d); the recorder starts its own instances.
pkgs=(mariadb-server mariadb-client postgresql postgresql-contrib nginx apache2 apache2-utils
      redis-server redis-tools memcached tomcat10 rabbitmq-server python3-pika iproute2 python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing: ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}"
fi
# Debian's packages start their default instance where services may start;
# stop them so the recorded ones own the machine's share of the work.
for s in mariadb postgresql nginx apache2 redis-server memcached tomcat10; do
  service "$s" stop >/dev/null 2>&1 || true
done
# rabbitmq-server's init script runs rabbitmqctl, which leaves an epmd
# daemon behind on the host even when no node runs: stop it only if one does.
if pgrep -u rabbitmq -x beam.smp >/dev/null 2>&1; then
  service rabbitmq-server stop >/dev/null 2>&1 || true
fi

exec python3 scripts/record_real_servers.py record "$@"
