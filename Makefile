# The two commands: `make up` runs leasehold, `make test` tests it; `make down` removes the stack.
# Both install what is missing first (scripts/setup.sh: Debian's packages as root; otherwise it
# names what to install) and skip whatever is already there.
SHELL := /bin/bash
COMPOSE := bash scripts/compose.sh

.PHONY: up down test rotate cluster-up cluster-down

up:
	bash scripts/setup.sh --run
	$(COMPOSE) --profile bundle build
	$(COMPOSE) up -d --wait --wait-timeout 180
	@echo "leasehold is up:"
	@echo "  load balancer  http://$${LB_BIND:-127.0.0.1}:$${LB_PORT:-8080}/"
	@echo "  stats page     http://$${LB_BIND:-127.0.0.1}:$${STATS_PORT:-1936}/  (CSV: /;csv, Prometheus: /metrics)"
	@echo "                 user leasehold, password: docker compose exec ha cat /etc/leasehold/pki/stats-password"
	@echo "  live page      http://$${LB_BIND:-127.0.0.1}:$${STATS_PORT:-1936}/leasehold/  (nodes and a live feed; same user and password)"
	@echo "  any image      curl -H 'Host: static.localhost' http://$${LB_BIND:-127.0.0.1}:$${LB_PORT:-8080}/    (busybox + COPY --from=leasehold/registrar)"
	@echo "                 curl -H 'Host: labelled.localhost' http://$${LB_BIND:-127.0.0.1}:$${LB_PORT:-8080}/  (busybox, registered by its labels)"
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
	@echo "                   or http://$${LB_BIND:-127.0.0.1}:$${STATS_PORT:-1936}/leasehold/ (the live page; user leasehold, password: exec ha1 cat /etc/leasehold/pki/stats-password)"

cluster-down:
	$(CLUSTER) down -v --remove-orphans

# Docker Swarm (stack.yml): run `docker swarm init` first (docs/deploy.md, "Many hosts: Docker Swarm").
# stack-up builds the images on this node, labels it for all three etcd members if the swarm has
# only this node, makes the secrets once and deploys with the LB's ports (stack.publish.yml).
# stack-down removes the stack, then its volumes on this node and its secrets.
STACK ?= leasehold
export LEASEHOLD_SECRETS ?= $(STACK)
# Without stack.publish.yml nothing is published (reach the LB from the overlay: docker run --network $(STACK)_leasehold).
# HAProxy's stats port is opt-in: STACK_FILES="-c stack.yml -c stack.publish.yml -c stack.stats.yml".
STACK_FILES ?= -c stack.yml -c stack.publish.yml

.PHONY: stack-up stack-down

stack-up:
	@[ "$$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ] || { echo "not a swarm node: run docker swarm init first (docs/deploy.md)" >&2; exit 1; }
	$(COMPOSE) --profile bundle build
	@if [ "$$(docker node ls -q | wc -l)" = 1 ]; then \
	  docker node update --label-add leasehold.etcd1=true --label-add leasehold.etcd2=true --label-add leasehold.etcd3=true "$$(docker info -f '{{.Swarm.NodeID}}')" >/dev/null; fi
	bash scripts/stack-secrets.sh
	docker stack deploy $(STACK_FILES) $(STACK)
	@echo "deployed $(STACK) ($(STACK_FILES)): LB on port $${LB_PORT:-8080} of the node that runs $(STACK)_ha (stats on $${STATS_PORT:-1936} only with stack.stats.yml); docker service ls"

stack-down:
	-docker stack rm $(STACK)
	@for i in $$(seq 60); do [ -z "$$(docker ps -aq --filter label=com.docker.stack.namespace=$(STACK))" ] && \
	  ! docker network inspect $(STACK)_leasehold >/dev/null 2>&1 && break; sleep 1; done
	-docker volume ls -q --filter label=com.docker.stack.namespace=$(STACK) | xargs -r docker volume rm
	bash scripts/stack-secrets.sh --remove
