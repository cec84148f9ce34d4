#!/usr/bin/env bash
# The Swarm stack's credentials as docker secrets: the etcd image's leasehold-pki makes them once
# (the same CA, certificates and passwords as compose.yml's pki job), each file becomes a secret
# named <LEASEHOLD_SECRETS>-<name> (default leasehold-...), and the files are deleted: the CA's
# key is kept nowhere. stack.yml mounts each secret where the images look for it.
# Run on a manager, against its local engine (the material passes through a temporary directory
# of this host). Idempotent: if the set exists it is kept. `--remove` removes the set.
#   LEASEHOLD_SECRETS=leasehold LEASEHOLD_TAG=latest scripts/stack-secrets.sh [--remove]
set -euo pipefail
prefix=${LEASEHOLD_SECRETS:-leasehold}
image=leasehold/etcd:${LEASEHOLD_TAG:-latest}
# file in the pki tree → secret name (after the prefix)
pairs=(
  ca/ca.pem ca.pem
  etcd/server.pem etcd-server.pem
  etcd/server-key.pem etcd-server-key.pem
  etcd/root.pem etcd-root.pem
  etcd/root-key.pem etcd-root-key.pem
  etcd/operator.pem etcd-operator.pem
  etcd/operator-key.pem etcd-operator-key.pem
  ha/renderer.pem ha-renderer.pem
  ha/renderer-key.pem ha-renderer-key.pem
  ha/operator.pem ha-operator.pem
  ha/operator-key.pem ha-operator-key.pem
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

if docker secret inspect "$prefix-ca.pem" >/dev/null 2>&1; then
  echo "stack-secrets: $prefix-* exist: kept (--remove, then run again, for new ones)"
  exit 0
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{ca,etcd,ha,registrar-webapp}
# One server certificate for the three members: their names, and loopback for etcdctl inside.
docker run --rm --network none -v "$dir:/pki" \
  -e PKI_SERVER_NAMES="etcd1 etcd2 etcd3 localhost 127.0.0.1" -e REGISTRAR_SERVICES=webapp \
  "$image" leasehold-pki
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  docker secret create --label "leasehold.secrets=$prefix" "$prefix-${pairs[i + 1]}" "$dir/${pairs[i]}" >/dev/null
done
echo "stack-secrets: $((${#pairs[@]} / 2)) secrets $prefix-* made"
