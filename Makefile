# waba-worker. `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
PKG := github.com/wabaworker/waba-worker
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT) -X $(PKG)/internal/version.Date=$(DATE)
# The nats-server version of the NATS image (the library in go.mod is the same).
NATS_SERVER_VERSION ?= $(shell $(GO) list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
WORKER_IMAGE ?= waba-worker:dev
NATS_IMAGE ?= waba-nats:$(NATS_SERVER_VERSION)
DEMO ?= 5

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## run everything on embedded defaults (JetStream + Graph emulator + worker) with a demo of $(DEMO) events
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/worker dev --demo $(DEMO)

.PHONY: build
build: ## build bin/worker
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/worker ./cmd/worker

.PHONY: test
test: lint ## vet, then every test with the race detector (container tests too when Docker is there)
	$(GO) test -race -count=1 -timeout 15m ./...

.PHONY: test-race
test-race: test ## the same as test: the race detector is always on

.PHONY: test-short
test-short: ## the fast tests only (no process or container tests)
	$(GO) test -short -count=1 ./...

.PHONY: fuzz
fuzz: ## run each fuzz test for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-60s} ./internal/events
	$(GO) test -run '^$$' -fuzz '^FuzzParseError$$' -fuzztime $${FUZZTIME:-60s} ./internal/graph

.PHONY: bench
bench: ## hot-path Go benchmarks (benchstat-ready)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./internal/events ./internal/graph ./internal/handlers

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist
