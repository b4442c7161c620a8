# waba-worker. `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
PKG := github.com/wabaworker/waba-worker
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
DATE := $(DATE)# once: the binary's build date and the image's "created" label agree
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT) -X $(PKG)/internal/version.Date=$(DATE)
# The nats-server version of the NATS image (the library in go.mod is the same).
NATS_SERVER_VERSION ?= $(shell $(GO) list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
WORKER_IMAGE ?= waba-worker:dev
NATS_IMAGE ?= waba-nats:$(NATS_SERVER_VERSION)
# The container tests and docker-compose.yml read the image names from the environment.
export WORKER_IMAGE NATS_IMAGE
DEMO ?= 5

DOCKER ?= docker
# Compose v2 (`docker compose`) when the plugin is there, else Debian's v1 docker-compose.
COMPOSE ?= $(shell if $(DOCKER) compose version >/dev/null 2>&1; then echo '$(DOCKER) compose'; else echo docker-compose; fi)
COMPOSE_PROJECT ?= waba-worker
# yes when a Docker engine answers: `make test` then builds the images first.
HAVE_DOCKER := $(shell $(DOCKER) info >/dev/null 2>&1 && echo yes)
IMAGE_SOURCE ?= https://github.com/wabaworker/waba-worker
CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
# The images' unprivileged user (the "nonroot" uid of distroless images).
IMAGE_UID := 65532
NATS_BIN := bin/nats/$(NATS_SERVER_VERSION)/nats-server

.DEFAULT_GOAL := help

.PHONY: help
# Colours only on a terminal; $(VAR) in a description shows its value.
help: ## list the targets
	@c=; r=; if [ -t 1 ]; then c='\033[36m'; r='\033[0m'; fi; \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-12s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST) | \
	sed -e 's|$$(DEMO)|$(DEMO)|g' -e 's|$$(WORKER_IMAGE)|$(WORKER_IMAGE)|g' -e 's|$$(NATS_IMAGE)|$(NATS_IMAGE)|g' \
		-e 's|$$(NATS_SERVER_VERSION)|$(NATS_SERVER_VERSION)|g' -e 's|$$(COMPOSE_PROJECT)|$(COMPOSE_PROJECT)|g' -e 's|$$(NATS_PORT)|$(NATS_PORT)|g' -e 's|$$(WORKER_1_PORT)|$(WORKER_1_PORT)|g' -e 's|$$(WORKER_2_PORT)|$(WORKER_2_PORT)|g'

.PHONY: run
# The built binary, not `go run`: go run reports exit 1 for a child ended
# by Ctrl-C, and the banner's commands name bin/worker, which then exists.
run: build ## build bin/worker, then run everything on embedded defaults (JetStream + Graph emulator + worker) with a demo of $(DEMO) events
	bin/worker dev --demo $(DEMO)

.PHONY: build
build: ## build bin/worker
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/worker ./cmd/worker

# The container suite (test/containers) runs after the other packages, alone:
# its broker faults and their timing-sensitive tests would otherwise share two cores.
# bin/testsummary prints what plain go test would, then one line: how many
# tests passed, failed and skipped, and why they skipped.
.PHONY: test
test: lint $(if $(HAVE_DOCKER),images) ## vet, then every test with the race detector (container tests too when Docker is there), then a summary line
	@$(GO) build -o bin/testsummary ./cmd/testsummary
	@set -o pipefail; { $(GO) test -race -count=1 -timeout 15m -json $$($(GO) list ./... | grep -v '/test/containers$$') && \
		$(GO) test -race -count=1 -timeout 15m -json ./test/containers; } 2>&1 | bin/testsummary

.PHONY: test-race
test-race: test ## the same as test: the race detector is always on

.PHONY: test-short
test-short: ## the fast tests only (no process or container tests)
	$(GO) test -short -count=1 ./...

.PHONY: fuzz
fuzz: ## run each fuzz test for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-60s} ./internal/events
	$(GO) test -run '^$$' -fuzz '^FuzzFailedEvent$$' -fuzztime $${FUZZTIME:-60s} ./internal/events
	$(GO) test -run '^$$' -fuzz '^FuzzParseError$$' -fuzztime $${FUZZTIME:-60s} ./internal/graph
	$(GO) test -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime $${FUZZTIME:-60s} ./internal/webhook

BENCH_FLAGS ?=

.PHONY: bench
bench: ## the throughput/latency table: in-process NATS + Graph emulator + the worker (BENCH_FLAGS=-quick for a short run; bin/bench -h)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/bench ./cmd/bench
	bin/bench $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: ## hot-path Go micro-benchmarks, -count 6 for benchstat (decode, one event's Graph calls over HTTP, classify, results, the handler)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./internal/events ./internal/graph ./internal/handlers

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: images
images: image nats-image ## build both images (the container tests and docker-compose.yml use them)

# stage-users writes passwd and group naming root and the unprivileged user into $(1).
define stage-users
	printf 'root:x:0:0:root:/root:/sbin/nologin\nwaba:x:$(IMAGE_UID):$(IMAGE_UID):waba:/nonexistent:/sbin/nologin\n' > $(1)/passwd
	printf 'root:x:0:\nwaba:x:$(IMAGE_UID):\n' > $(1)/group
endef

.PHONY: image
image: ## build the worker image $(WORKER_IMAGE): FROM scratch, static binary, CA certificates, non-root
	@test -r $(CA_CERTS) || { echo "CA certificates not found at $(CA_CERTS) (apt-get install ca-certificates, or set CA_CERTS)" >&2; exit 1; }
	rm -rf bin/image/worker && mkdir -p bin/image/worker
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/image/worker/worker ./cmd/worker
	cp $(CA_CERTS) bin/image/worker/ca-certificates.crt
	$(call stage-users,bin/image/worker)
	$(DOCKER) build -f build/worker.Dockerfile -t $(WORKER_IMAGE) \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(COMMIT) --build-arg CREATED=$(DATE) \
		--build-arg SOURCE=$(IMAGE_SOURCE) bin/image/worker
	@$(DOCKER) image prune -f --filter label=org.opencontainers.image.title=waba-worker >/dev/null # the builds this one replaced

$(NATS_BIN):
	CGO_ENABLED=0 GOBIN=$(abspath $(dir $@)) $(GO) install -trimpath -ldflags '-s -w' github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

.PHONY: nats-image
nats-image: $(NATS_BIN) ## build the NATS image $(NATS_IMAGE) from nats-server $(NATS_SERVER_VERSION) (the version go.mod pins)
	rm -rf bin/image/nats && mkdir -p bin/image/nats/data
	cp $(NATS_BIN) bin/image/nats/nats-server
	$(call stage-users,bin/image/nats)
	$(DOCKER) build -f build/nats.Dockerfile -t $(NATS_IMAGE) \
		--build-arg VERSION=$(NATS_SERVER_VERSION) --build-arg CREATED=$(DATE) bin/image/nats
	@$(DOCKER) image prune -f --filter label=org.opencontainers.image.title=nats-server >/dev/null

# The host ports docker-compose.yml publishes (on 127.0.0.1); each moves
# with its variable, as in `make up NATS_PORT=4223`.
NATS_PORT ?= 4222
GRAPH_PORT ?= 8090
WORKER_1_PORT ?= 8081
WORKER_2_PORT ?= 8082
export NATS_PORT GRAPH_PORT WORKER_1_PORT WORKER_2_PORT

.PHONY: up
up: ports-free images ## start docker-compose.yml: NATS on 127.0.0.1:$(NATS_PORT), the Graph emulator, two workers (/readyz on $(WORKER_1_PORT), $(WORKER_2_PORT))
	$(COMPOSE) -p $(COMPOSE_PROJECT) up -d
	$(COMPOSE) -p $(COMPOSE_PROJECT) ps

# Before anything is built or created: a port taken (`make run` holds 4222)
# would otherwise fail `up` halfway and leave containers "Created". A port
# the stack already publishes is fine: `up` then leaves it running.
.PHONY: ports-free
ports-free:
	$(if $(taken_ports),$(error make up: 127.0.0.1:$(firstword $(taken_ports)) is taken (by `make run`?): stop it, or move the stack with make up NATS_PORT=0 GRAPH_PORT=0 WORKER_1_PORT=0 WORKER_2_PORT=0))

# The stack's ports something answers on, unless the stack itself runs.
taken_ports = $(shell if [ -z "$$($(COMPOSE) -p $(COMPOSE_PROJECT) ps -q 2>/dev/null)" ]; then \
	for p in $(NATS_PORT) $(GRAPH_PORT) $(WORKER_1_PORT) $(WORKER_2_PORT); do \
		[ "$$p" != 0 ] && (exec 3<>/dev/tcp/127.0.0.1/$$p) 2>/dev/null && echo $$p; \
	done; fi)

.PHONY: ps
ps: ## docker-compose ps of the stack
	$(COMPOSE) -p $(COMPOSE_PROJECT) ps

.PHONY: logs
logs: ## the stack's logs, followed (Ctrl-C stops following)
	$(COMPOSE) -p $(COMPOSE_PROJECT) logs -f --tail 100

.PHONY: down
down: ## stop docker-compose.yml's stack; its NATS volume (the stream) stays for the next `make up`
	$(COMPOSE) -p $(COMPOSE_PROJECT) down --remove-orphans

.PHONY: down-volumes
down-volumes: ## stop the stack and delete its NATS volume: the next `make up` starts with an empty stream
	$(COMPOSE) -p $(COMPOSE_PROJECT) down --remove-orphans --volumes

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist
