# The two commands: `make up` runs leasehold, `make test` tests it; `make down` removes the stack.
# Both install what is missing first (scripts/setup.sh: Debian's packages as root; otherwise it
# names what to install) and skip whatever is already there.
SHELL := /bin/bash
COMPOSE := bash scripts/compose.sh

.PHONY: up down test rotate cluster-up cluster-down

up:
	bash scripts/setup.sh --run
	$(COMPOSE) build
	$(COMPOSE) up -d --wait --wait-timeout 180
	@echo "leasehold is up:"
	@echo "  load balancer  http://$${LB_BIND:-127.0.0.1}:$${LB_PORT:-8080}/"
	@echo "  stats page     http://$${LB_BIND:-127.0.0.1}:$${STATS_PORT:-1936}/  (CSV: /;csv, Prometheus: /metrics)"
	@echo "  scale with     docker compose up -d --scale webapp=5"

down:
	$(COMPOSE) down -v --remove-orphans

test:
	bash scripts/setup.sh
	npm ci --no-audit --no-fund
	npm test

# New credentials: CA, certificates and passwords are made again at the next start (leasehold-pki);
# etcd's data (operator drains and weights) stays, and etcd sets the registrars' new passwords.
rotate:
	@p=$$($(COMPOSE) config | sed -n 's/^name: //p'); \
	  $(COMPOSE) down && \
	  docker volume ls -q --filter "label=com.docker.compose.project=$$p" | grep -E "^$${p}_pki-" | xargs -r docker volume rm && \
	  $(COMPOSE) up -d --wait --wait-timeout 180

# The cluster topology (compose.cluster.yml): three etcd members, two LBs, 2 webapps.
CLUSTER := $(COMPOSE) -f compose.cluster.yml

cluster-up:
	bash scripts/setup.sh --run
	$(CLUSTER) build
	$(CLUSTER) up -d --wait --wait-timeout 240
	@echo "leasehold (cluster) is up:"
	@echo "  load balancer 1  http://$${LB_BIND:-127.0.0.1}:$${LB_PORT:-8080}/   stats :$${STATS_PORT:-1936}"
	@echo "  load balancer 2  http://$${LB_BIND:-127.0.0.1}:$${LB2_PORT:-8081}/   stats :$${STATS2_PORT:-1937}"
	@echo "  both LBs' views  docker compose -f compose.cluster.yml exec ha1 leasehold status"

cluster-down:
	$(CLUSTER) down -v --remove-orphans
