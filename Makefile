# Turnpike: `make test` is the whole suite (what CI runs), from a fresh
# Debian machine with Go installed.
GO      ?= go
BIN     := bin/turnpike
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/turnpikegw/turnpike/internal/cli.Version=$(VERSION)
# TESTPATH puts the tools make deps fetches (promtool) on the tests' PATH.
TESTPATH := PATH="$(CURDIR)/bin/tools:$$PATH"

.PHONY: all build test deps lint unit e2e bench demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/turnpike

## test: lint, unit tests, then end-to-end tests against the built binary
test: deps lint unit e2e

## deps: install the system packages the tests need, only when missing,
## and fetch promtool into bin/tools when Debian has it
deps:
	@scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(TESTPATH) $(GO) test -count=1 -timeout 300s ./internal/... ./bench/...

e2e: build
	$(TESTPATH) TURNPIKE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 600s ./test/e2e/... ./test/kongcompat/...

bench:
	bench/run.sh

demo:
	$(GO) run ./cmd/turnpike demo

clean:
	rm -rf bin
