#!/usr/bin/env bash
# Installs and starts what leasehold's tests need on Debian 12, as root:
# etcd, HAProxy, socat, the Docker engine and docker-compose, and the debian:bookworm-slim base image.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

pkgs=(etcd-server etcd-client haproxy socat docker.io docker-compose debootstrap)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian may start its own etcd/haproxy where an init system runs; the tests start their own.
for s in etcd haproxy; do service "$s" stop >/dev/null 2>&1 || true; done

if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  dockerd_bin=$(command -v dockerd || echo /usr/sbin/dockerd)
  nohup "$dockerd_bin" >/var/log/leasehold-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/leasehold-dockerd.log >&2; echo "setup: dockerd did not start" >&2; exit 1; }
fi

images/base/build.sh
echo "setup: ready (etcd $(etcd --version | head -1 | awk '{print $3}'), $(haproxy -v | head -1 | awk '{print $1, $3}'), docker $(docker version -f '{{.Server.Version}}'))"
