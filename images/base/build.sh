#!/usr/bin/env bash
# Builds the base image (debian:trixie-slim by default) from Debian's packages when it is absent
# and no registry can supply it (an offline or registry-less Docker engine). Idempotent.
#   images/base/build.sh                                   # build only if missing (tries a pull first)
#   images/base/build.sh --force                           # rebuild even if present
#   BASE_IMAGE=debian:bookworm-slim images/base/build.sh   # another suite: taken from the tag
set -euo pipefail
IMAGE=${BASE_IMAGE:-debian:trixie-slim}
tag=${IMAGE##*:}
SUITE=${DEBIAN_SUITE:-${tag%-slim}}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if [[ "${1:-}" != "--force" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE present"; exit 0
fi
if [[ "${1:-}" != "--force" ]] && timeout 60 docker pull "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE pulled"; exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install -y debootstrap" >&2; exit 1; }
[[ $(id -u) = 0 ]] || { echo "debootstrap needs root: sudo $0 $*" >&2; exit 1; }

root=$(mktemp -d "/tmp/$SUITE-rootfs.XXXXXX")
log=$(mktemp "/tmp/debootstrap-$SUITE.XXXXXX.log")
trap 'rm -rf "$root" "$log"' EXIT
echo "building $IMAGE ($SUITE) with debootstrap from $MIRROR (a few minutes)"
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$log" 2>&1 \
  || { tail -20 "$log" >&2; exit 1; }
# The sources the official image has: the suite, its updates and its security fixes.
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# Slim it the way the official image does: no docs, man pages, locales or apt lists.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/man/* "$root"/usr/share/doc/* "$root"/usr/share/info/* "$root"/var/log/*.log
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/docker-no-recommends"
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
echo "base image $IMAGE built"
