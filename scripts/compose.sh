#!/usr/bin/env bash
# Runs `docker compose` (v2) where the plugin exists, else `docker-compose` (1.29); same compose.yml.
if docker compose version >/dev/null 2>&1; then exec docker compose "$@"; fi
# 1.29 would hand builds to a buildx-less docker CLI otherwise.
export COMPOSE_DOCKER_CLI_BUILD=${COMPOSE_DOCKER_CLI_BUILD:-0}
exec docker-compose "$@"
