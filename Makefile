# Turnpike: `make test` is the whole suite (what CI runs), from a fresh
# Debian machine with Go installed.
GO      ?= go
BIN     := bin/turnpike
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/turnpikegw/turnpike/internal/cli.Version=$(VERSION)
# grpcnotrace leaves out grpc's golang.org/x/net/trace, whose html/template
# kept the linker from dropping unused methods: 90 MB -> 54 MB
# (internal/archtest/release_test.go keeps it so).
TAGS    := grpcnotrace
# TESTPATH puts the tools make deps fetches (promtool, h2spec) on the
# tests' PATH.
TESTPATH := PATH="$(CURDIR)/bin/tools:$$PATH"
# h2spec, the HTTP/2 conformance suite test/e2e/h2spec_test.go runs. v2.2.1
# is the newest release the Go module proxy resolves (later tags have a
# go.mod without the /v2 suffix).
H2SPEC         := bin/tools/h2spec
H2SPEC_VERSION := v2.2.1+incompatible

.PHONY: all build test deps lint unit fuzz e2e bench pgo demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/turnpike

## test: lint, unit tests, the fuzz test for a bounded time, then
## end-to-end tests against the built binary
test: deps lint unit fuzz e2e

## deps: install the system packages the tests need, only when missing,
## h2spec into bin/tools, and promtool into bin/tools when Debian has it
deps: $(H2SPEC)
	@scripts/deps.sh

# Installed only when missing; `make clean` removes it.
$(H2SPEC):
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/summerwind/h2spec/cmd/h2spec@$(H2SPEC_VERSION)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(TESTPATH) $(GO) test -count=1 -timeout 300s ./internal/... ./bench/...

# fuzz: the own HTTP/1.x server path against net/http's, requests then
# answers (unit runs only the seed corpora). A failure leaves its input in
# internal/server/testdata/fuzz.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzH1Differential -fuzztime 30s ./internal/server/
	$(GO) test -run '^$$' -fuzz FuzzH1AnswerDifferential -fuzztime 30s ./internal/server/

# TURNPIKE_REQUIRE_H2SPEC: the h2spec test fails rather than skips when
# h2spec is missing; TURNPIKE_REQUIRE_CHROMIUM the same for the dashboard's
# browser tests and chromium.
e2e: build $(H2SPEC)
	$(TESTPATH) TURNPIKE_REQUIRE_H2SPEC=1 TURNPIKE_REQUIRE_CHROMIUM=1 TURNPIKE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 600s ./test/e2e/... ./test/kongcompat/... ./test/deploy/...

bench:
	bench/run.sh

## pgo: record cmd/turnpike/default.pgo from the bench's workload (go build uses it)
pgo:
	bench/pgo.sh

demo:
	$(GO) run -tags $(TAGS) ./cmd/turnpike demo

clean:
	rm -rf bin
