#!/usr/bin/env bash
# Installs and starts what leasehold needs, skipping whatever is already there:
#   scripts/setup.sh         # for `make test`: also etcd 3.4 and HAProxy 2.6 on the host (the
#                            # integration suite runs them), Node.js, npm and Chromium (headless)
#   scripts/setup.sh --run   # for `make up`: the Docker engine, Compose v2 and the base image
# On Debian 12 as root it installs from Debian's packages; the Compose v2 CLI plugin comes from
# trixie's `docker-compose` package, pinned so that no other package comes from trixie. Without
# root (or apt), it names what to install and stops. With everything present it needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
mode=${1:-test}
[[ $mode = test || $mode = --run ]] || { echo "usage: $0 [--run]" >&2; exit 2; }
BASE_IMAGE=${BASE_IMAGE:-debian:trixie-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || codename=
can_apt() { [[ $(id -u) = 0 ]] && have apt-get; }

# Debian packages, installed only for the commands that are missing.
pkgs=()
want() { have "$1" || pkgs+=("$2"); }
# A docker CLI alone (no engine reachable, no dockerd) is not enough: the engine comes with docker.io.
docker info >/dev/null 2>&1 || have dockerd || pkgs+=(docker.io)
if [[ $mode != --run ]]; then
  want etcd etcd-server
  want etcdctl etcd-client
  want haproxy haproxy
  want socat socat
  want openssl openssl  # the integration suite makes its own test CAs
  want node nodejs
  want npm npm
  want chromium chromium  # the live page's tests drive a headless browser
fi
# Compose v2: present as `docker compose` (Docker Desktop, docker-ce) or installed below.
compose_missing=0
docker compose version >/dev/null 2>&1 || compose_missing=1

trixie_pin() {
  # Only docker-compose may come from trixie; every other trixie package is never a candidate.
  cat > /etc/apt/sources.list.d/leasehold-trixie.sources <<SRC
# leasehold: only for docker-compose (Compose v2); see /etc/apt/preferences.d/leasehold-trixie.
Types: deb
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat > /etc/apt/preferences.d/leasehold-trixie <<'PIN'
# leasehold: Compose v2 (the docker-compose package) comes from trixie; nothing else does.
Package: *
Pin: release n=trixie
Pin-Priority: -10

Package: docker-compose
Pin: release n=trixie
Pin-Priority: 500
PIN
}

if ((${#pkgs[@]} || compose_missing)); then
  if ! can_apt; then
    echo "setup: missing:${pkgs[*]:+ ${pkgs[*]}}$( ((compose_missing)) && echo ' Compose v2')" >&2
    ((${#pkgs[@]})) && echo "setup: Debian packages: apt-get install -y ${pkgs[*]}" >&2
    ((compose_missing)) && echo "setup: Compose v2: Debian 13's docker-compose package, or docker-ce's docker-compose-plugin" >&2
    have apt-get && die "as root this script installs them: sudo bash scripts/setup.sh${1:+ $1}"
    die "install those, then run this again"
  fi
  if ((compose_missing)); then
    case $codename in
      bookworm) trixie_pin ;;
      trixie | forky | sid) ;;
      *) die "Compose v2 missing: install the docker-compose-plugin for ${codename:-this system}" ;;
    esac
    pkgs+=(docker-compose)
  fi
  say "installing ${pkgs[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  docker compose version >/dev/null 2>&1 || die "docker compose still missing after installing docker-compose"
fi

if [[ $mode != --run ]] && can_apt; then
  # Debian may start its own etcd/haproxy where an init system runs; the tests start their own.
  for s in etcd haproxy; do service "$s" stop >/dev/null 2>&1 || true; done
fi

if ! docker info >/dev/null 2>&1; then
  [[ $(id -u) = 0 ]] || die "the Docker engine is not running or not reachable: start it (sudo systemctl start docker) or join the docker group"
  say "starting dockerd"
  if [[ -d /run/systemd/system ]]; then
    systemctl start docker
  else
    nohup "$(command -v dockerd || echo /usr/sbin/dockerd)" >/var/log/leasehold-dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/leasehold-dockerd.log >&2 || true; die "dockerd did not start"; }
fi

# The base image: present, pulled, or built from Debian's packages with debootstrap.
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && ! timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
  if ! have debootstrap; then
    can_apt || die "$BASE_IMAGE cannot be pulled and debootstrap is missing: install debootstrap (as root) and run this again"
    say "installing debootstrap"
    apt-get update -q
    apt-get install -y -q --no-install-recommends debootstrap
  fi
  BASE_IMAGE=$BASE_IMAGE images/base/build.sh --force
fi

versions="docker $(docker version -f '{{.Server.Version}}'), compose $(docker compose version --short)"
if [[ $mode != --run ]]; then
  versions="$versions, etcd $(etcd --version | awk 'NR==1 {print $3}'), haproxy $(haproxy -v | awk 'NR==1 {print $3}'), node $(node --version)"
fi
say "ready ($versions)"
