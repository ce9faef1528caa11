# The two commands: `make demo` and `make test`. Both run the setup first (idempotent, seconds
# when everything is in place). Run as root on Debian bookworm.
SHELL := /bin/bash
GO ?= go
# AVX-512 kernels for the embedding model are written with Go 1.26's experimental simd package.
# The portable pure-Go path is built and tested too (make test-portable).
export GOEXPERIMENT := simd
export GOFLAGS := -buildvcs=false
BIN := bin/selection
TEST_TIMEOUT ?= 40m
FUZZTIME ?= 1m

.PHONY: all setup build demo test test-portable bench fuzz lint clean

all: build

setup:
	@bash scripts/setup.sh

build:
	$(GO) build -o $(BIN) ./cmd/selection

demo: setup build
	./$(BIN) migrate up
	./$(BIN) demo

test: setup
	$(GO) vet ./...
	$(GO) test -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory test-portable

# The same golden tests on the portable (no SIMD) build of the embedding kernels.
test-portable:
	GOEXPERIMENT= $(GO) test -timeout $(TEST_TIMEOUT) ./embed/...

bench: setup build
	$(GO) test -run '^$$' -bench . -benchtime 2x ./...

# Every fuzz target in the repository (found by grep: new ones are picked up), FUZZTIME each,
# one after the other; a failing input lands in the package's testdata/fuzz. FUZZ_MATCH=api
# runs some only.
fuzz: setup
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

lint:
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; \
	else echo "staticcheck not available from the module proxy; go vet only"; fi

clean:
	rm -rf bin
