# mictl: build, test, demo and benchmark. Needs only Go (and gcc for -race).
GO      ?= go
BIN     := bin/mictl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
# STAMP identifies the sources a build comes from (pkg/companion): mictl
# uses bin/mictl-daemon and bin/mictl-sim only when they carry its stamp.
STAMP   := $(shell cat go.mod go.sum $$(find cmd pkg -type f ! -name '*_test.go' ! -path '*/testdata/*' | LC_ALL=C sort) | sha256sum | cut -c1-16)
LDFLAGS := -X github.com/mictl/mictl/pkg/cli.Version=$(VERSION) -X github.com/mictl/mictl/pkg/cli.Commit=$(COMMIT) -X github.com/mictl/mictl/pkg/companion.buildStamp=$(STAMP)

.PHONY: build test test-deps lint vet demo bench docs clean

# A static binary (no cgo): it runs on any Linux host as it is, and it
# starts faster without the dynamic loader and libc, which counts because
# mictl runs as every simulated server too.
# bin/mictl-sim is the simulator alone: the simulator distribution runs it
# when it lies beside mictl (each simulated server then starts faster than
# as `mictl sim run`, which remains the fallback). bin/mictl-daemon is the
# supervisor daemon alone, which `mictl up` starts when it lies beside
# mictl (it holds less memory than `mictl daemon`, the fallback).
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mictl
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/mictl-sim ./cmd/mictl-sim
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/mictl-daemon ./cmd/mictl-daemon

# The whole suite, as CI runs it (.ci/run). -timeout bounds each package's
# test binary: cmd/mictl's end-to-end tests, one after another, took ~7 of
# those minutes on a quiet 2-core machine (430 s on 2026-12-05), and 8 left
# too little room for a slower one. They mostly wait (on servers starting
# and stopping, on the timeouts they provoke): ~130 s of CPU, theirs and
# their daemons' and servers', in those 430 s. So they run 8 at once, not
# GOMAXPROCS (2 here): 190-250 s on that machine loaded by other suites,
# with a range (MICTL_TEST_OFFSETS) of 4000 offsets, whose end-to-end block
# holds 3 deployments at once (the default range's up to 8, see README).
test: lint vet test-deps
	$(GO) test -race -count=1 -timeout 10m -parallel 8 ./...

# The real components the tests run against, installed when missing:
# etcd, kubectl and kube-apiserver (built once into ~/.cache/mictl, about
# 9 minutes the first time) for the export tests; Prometheus and tmux for
# the metrics and top tests, python3 for the README tour. Without them
# those tests skip, except in CI (CI=true), where they must be there.
test-deps:
	@.ci/kube-apiserver.sh ensure >/dev/null || { [ "$$CI" != true ] && echo "test-deps: no API server; the tests against it will skip" >&2; }
	@bash .ci/metrics-deps.sh || { [ "$$CI" != true ] && echo "test-deps: no Prometheus, tmux or python3; the tests that need them will skip" >&2; }

vet:
	$(GO) vet ./...

lint:
	@out=$$(gofmt -l cmd pkg bench); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The main job on the built-in simulator distribution: three instances up,
# who holds which port, a conflict explained, and everything down again,
# leaving nothing behind.
DEMO_DIR := $(CURDIR)/instances/demo
demo: build
	@mkdir -p $(DEMO_DIR)
	@echo '$$ mictl check-conflicts --offsets 10,47   # offset 47 lands on offset 10'"'"'s ports'
	@cd $(DEMO_DIR) && $(CURDIR)/$(BIN) check-conflicts --offsets 10,47 || echo "(exit $$? = conflicts found, as expected)"
	@echo '$$ mictl up --instances 3'
	@cd $(DEMO_DIR) && $(CURDIR)/$(BIN) up --instances 3
	@echo '$$ mictl ports table'
	@cd $(DEMO_DIR) && $(CURDIR)/$(BIN) ports table
	@echo '$$ mictl down --purge                          # and the homes go too'
	@cd $(DEMO_DIR) && $(CURDIR)/$(BIN) down --purge
	@# down --purge deletes the homes; the state and the simulator's
	@# distribution beside them are the demo's too.
	@rm -rf $(DEMO_DIR)

# Speed is measured here, never asserted in tests. One package at a time
# (-p 1): go test runs two at once on two cores, and one package's
# benchmarks (thousands of sockets, busy loops) would weigh on another's
# idle and timing figures.
bench: build
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -count=1 ./...

# The fault soak of issue #11: every scenario SOAK_N times (default 20)
# against a fresh mictl on the simulator, then a table of passes and
# failures. One scenario: cd soak && go test -tags soak -run TestSoak/NAME
.PHONY: soak
soak:
	@out=$$(gofmt -l soak); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags soak ./soak
	cd soak && $(GO) test -tags soak -timeout 4h

docs:
	$(GO) run ./cmd/mictl-docs --man-dir docs/man --markdown-dir docs/cli

clean:
	rm -rf bin
