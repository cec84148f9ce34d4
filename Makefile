# The two commands: `make up` runs leasehold, `make test` tests it; `make down` removes the stack.
# Both install what is missing first (scripts/setup.sh: Debian's packages as root; otherwise it
# names what to install) and skip whatever is already there.
SHELL := /bin/bash
COMPOSE := bash scripts/compose.sh

.PHONY: up down test

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
