#!/usr/bin/env bash
# The Swarm stack's credentials as docker secrets: the etcd image's leasehold-pki makes them once
# (the same CA, certificates and passwords as compose.yml's pki job, plus, as compose.cluster.yml's,
# the members' peer certificate and the LBs' sticky-cookie key), each file becomes a secret
# named <LEASEHOLD_SECRETS>-<name> (default leasehold-...), and the files are deleted: the CA's
# key is kept nowhere. stack.yml mounts each secret where the images look for it.
# Run on a manager, against its local engine (the material passes through a temporary directory
# of this host) as whoever runs it: root or a member of the docker group. Idempotent: a complete
# set is kept; a partial one (a run that failed halfway) is reported, never completed: `--remove`
# removes the set, then run again. Certificates last 825 days: renew them by making a new set.
#   LEASEHOLD_SECRETS=leasehold LEASEHOLD_TAG=latest scripts/stack-secrets.sh [--remove]
set -euo pipefail
prefix=${LEASEHOLD_SECRETS:-leasehold}
image=leasehold/etcd:${LEASEHOLD_TAG:-latest}
# file in the pki tree → secret name (after the prefix)
pairs=(
  ca/ca.pem ca.pem
  etcd/server.pem etcd-server.pem
  etcd/server-key.pem etcd-server-key.pem
  etcd/peer.pem etcd-peer.pem
  etcd/peer-key.pem etcd-peer-key.pem
  etcd/root.pem etcd-root.pem
  etcd/root-key.pem etcd-root-key.pem
  etcd/operator.pem etcd-operator.pem
  etcd/operator-key.pem etcd-operator-key.pem
  ha/renderer.pem ha-renderer.pem
  ha/renderer-key.pem ha-renderer-key.pem
  ha/operator.pem ha-operator.pem
  ha/operator-key.pem ha-operator-key.pem
  ha/stats-password ha-stats-password
  ha/peer.pem ha-peer.pem
  ha/peer-key.pem ha-peer-key.pem
  ha/cookie-key cookie-key
  registrar-webapp/registrar.pem webapp-registrar.pem
  registrar-webapp/registrar-key.pem webapp-registrar-key.pem
  registrar-webapp/password webapp-password
)

if [[ ${1:-} == --remove ]]; then
  mapfile -t ids < <(docker secret ls -q --filter "label=leasehold.secrets=$prefix")
  ((${#ids[@]} == 0)) || docker secret rm "${ids[@]}" >/dev/null
  echo "stack-secrets: ${#ids[@]} secrets $prefix-* removed"
  exit 0
fi

# Every secret of the set, or none: a run that stopped halfway (or a set from before a secret was
# added) left some, and a set made again around them would not match the ones kept.
have=$(docker secret ls --format '{{.Name}}' --filter "label=leasehold.secrets=$prefix")
missing=() present=0
for ((i = 1; i < ${#pairs[@]}; i += 2)); do
  if grep -qxF "$prefix-${pairs[i]}" <<<"$have"; then present=$((present + 1)); else missing+=("$prefix-${pairs[i]}"); fi
done
if ((${#missing[@]} == 0)); then
  echo "stack-secrets: $prefix-* exist: kept (--remove, then run again, for new ones)"
  exit 0
fi
if ((present > 0)); then
  echo "stack-secrets: the set $prefix-* is incomplete ($present of $((${#pairs[@]} / 2)); missing: ${missing[*]})." >&2
  echo "stack-secrets: remove it (LEASEHOLD_SECRETS=$prefix scripts/stack-secrets.sh --remove; a deployed stack must be removed first), then run again" >&2
  exit 1
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{ca,etcd,ha,registrar-webapp}
# The files (0600) must be the caller's to read: docker secret create reads them on this side. So
# the job runs as the caller's user, except on a rootless engine, whose root is the caller already.
user=(--user "$(id -u):$(id -g)")
[[ $(docker info -f '{{.SecurityOptions}}') != *rootless* ]] || user=()
# One server certificate for the three members: their names, and loopback for etcdctl inside;
# the peer certificate under the same names (CN etcd-peer); the LBs' sticky-cookie key.
docker run --rm --network none "${user[@]}" -v "$dir:/pki" \
  -e PKI_SERVER_NAMES="etcd1 etcd2 etcd3 localhost 127.0.0.1" -e PKI_PEER=1 -e PKI_COOKIE_KEY=1 \
  -e REGISTRAR_SERVICES=webapp "$image" leasehold-pki
# Should a create fail (the run stops here), the next run reports the partial set.
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  docker secret create --label "leasehold.secrets=$prefix" "$prefix-${pairs[i + 1]}" "$dir/${pairs[i]}" >/dev/null
done
echo "stack-secrets: $((${#pairs[@]} / 2)) secrets $prefix-* made"
