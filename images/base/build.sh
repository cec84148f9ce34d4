#!/usr/bin/env bash
# Builds debian:bookworm-slim from Debian's packages when the image is absent and no
# registry can supply it (an offline or registry-less Docker engine). Idempotent.
#   images/base/build.sh           # build only if missing (tries a pull first)
#   images/base/build.sh --force   # rebuild even if present
set -euo pipefail
IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [[ "${1:-}" != "--force" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE present"; exit 0
fi
if [[ "${1:-}" != "--force" ]] && timeout 60 docker pull "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE pulled"; exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install -y debootstrap" >&2; exit 1; }

root=$(mktemp -d /tmp/bookworm-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "building $IMAGE with debootstrap from $MIRROR (a few minutes)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/tmp/debootstrap.log 2>&1 \
  || { tail -20 /tmp/debootstrap.log >&2; exit 1; }
# Slim it the way the official image does: no docs, man pages or apt lists.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/man/* \
  "$root"/usr/share/doc/* "$root"/usr/share/info/*
cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/docker-no-recommends"
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
echo "base image $IMAGE built"
