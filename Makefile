# mictl: build, test, demo and benchmark. Needs only Go (and gcc for -race).
GO      ?= go
BIN     := bin/mictl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/mictl/mictl/pkg/cli.Version=$(VERSION)

.PHONY: build test lint vet demo bench docs clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mictl

# The whole suite, as CI runs it (.ci/run).
test: lint vet
	$(GO) test -race -count=1 -timeout 8m ./...

vet:
	$(GO) vet ./...

lint:
	@out=$$(gofmt -l cmd pkg bench); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The main job on the built-in simulator distribution.
demo: build
	@bin/mictl version
	@echo '$$ mictl check-conflicts --instances 3'
	@bin/mictl check-conflicts --instances 3
	@echo '$$ mictl ports table --instances 3'
	@bin/mictl ports table --instances 3
	@echo '$$ mictl generate --instances 3'
	@bin/mictl generate --instances 3
	@echo '$$ mictl check-conflicts --offsets 10,47   # offset 47 lands on offset 10'"'"'s ports'
	@bin/mictl check-conflicts --offsets 10,47 || echo "(exit $$? = conflicts found, as expected)"

# Speed is measured here, never asserted in tests.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

docs:
	$(GO) run ./cmd/mictl-docs --man-dir docs/man --markdown-dir docs/cli

clean:
	rm -rf bin
