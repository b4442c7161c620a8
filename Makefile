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
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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
.PHONY: test
test: lint $(if $(HAVE_DOCKER),images) ## vet, then every test with the race detector (container tests too when Docker is there)
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/test/containers$$')
	$(GO) test -race -count=1 -timeout 15m ./test/containers

.PHONY: test-race
test-race: test ## the same as test: the race detector is always on

.PHONY: test-short
test-short: ## the fast tests only (no process or container tests)
	$(GO) test -short -count=1 ./...

.PHONY: fuzz
fuzz: ## run each fuzz test for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-60s} ./internal/events
	$(GO) test -run '^$$' -fuzz '^FuzzParseError$$' -fuzztime $${FUZZTIME:-60s} ./internal/graph

BENCH_FLAGS ?=

.PHONY: bench
bench: ## the throughput/latency table: in-process NATS + Graph emulator + the worker (BENCH_FLAGS=-quick for a short run; bin/bench -h)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/bench ./cmd/bench
	bin/bench $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: ## hot-path Go micro-benchmarks, -count 6 for benchstat (decode, classify, results, the handler)
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

.PHONY: up
up: images ## start docker-compose.yml: NATS, the Graph emulator and two workers
	$(COMPOSE) -p $(COMPOSE_PROJECT) up -d
	$(COMPOSE) -p $(COMPOSE_PROJECT) ps

.PHONY: down
down: ## stop docker-compose.yml's stack (its NATS volume stays; add `-v` to the docker-compose command to drop it)
	$(COMPOSE) -p $(COMPOSE_PROJECT) down --remove-orphans

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist
