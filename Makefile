# gridrun: make demo | make test | make build | make proto | make docs | make bench
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO       ?= go
CXX      ?= g++
CXXFLAGS ?= -std=c++17 -O2 -pthread -Wall -Wextra -Werror
# Generated C++ must match the installed libprotobuf, so it is generated
# here, at build time, never committed.
GEN      := build/gen
PROTOBUF  = $$(pkg-config --cflags --libs protobuf)

.PHONY: all build deps test-deps demo test test-binaries lint proto proto-check docs bench clean FORCE
.DELETE_ON_ERROR:
# Keep generated C++ between builds.
.SECONDARY:

all: build

build: deps bin/gridrun bin/pricer

deps:
	@scripts/deps

# What the tests need beyond the build: a headless browser for the report's
# end-to-end test, and the shells whose completion scripts are tested.
TEST_PACKAGES := chromium bash-completion zsh

test-deps:
	@scripts/deps $(TEST_PACKAGES)

bin/gridrun: FORCE
	$(GO) build -o $@ ./cmd/gridrun

# bin/NAME is the example native/examples/NAME/NAME.cc with its NAME.proto.
.SECONDEXPANSION:
$(GEN)/%.pb.cc $(GEN)/%.pb.h: native/examples/$$*/$$*.proto
	@mkdir -p $(GEN)
	protoc -I $(dir $<) --cpp_out=$(GEN) $<

bin/%: native/examples/$$*/$$*.cc native/gridrun/gridrun.h $(GEN)/%.pb.cc
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) -Inative -I$(GEN) $< $(GEN)/$*.pb.cc $(PROTOBUF) -o $@

# faulty is the fault-injection binary of the tests.
test-binaries: bin/faulty

DEMO_OUT := out/demo

# The main job, on the embedded defaults: the example pricer over the demo
# trades, quotes joined from the local table. Fails on a wrong result count.
demo: build
	@rm -rf $(DEMO_OUT)
	bin/gridrun run --binary bin/pricer --input testdata/trades.jsonl \
	    --join testdata/quotes.csv --join-key '{underlying}' --output $(DEMO_OUT)
	@want=$$(grep -c . testdata/trades.jsonl); got=$$(cat $(DEMO_OUT)/results-*.jsonl | wc -l); \
	  if [ "$$got" != "$$want" ]; then echo "demo: $$got results for $$want trades" >&2; exit 1; fi; \
	  echo "demo: $$got results for $$want trades, in $(DEMO_OUT)"

test: build test-binaries test-deps proto-check lint
	$(GO) test -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:" $$out >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) mod tidy -diff

PROTOC_GO = protoc -I proto --plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) --go_opt=paths=source_relative

# Regenerates the committed Go code of the protocol.
proto:
	$(PROTOC_GO) --go_out=proto proto/gridrun/v1/gridrun.proto

# Fails when the committed Go code is not what the schema generates.
proto-check:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  $(PROTOC_GO) --go_out=$$tmp proto/gridrun/v1/gridrun.proto; \
	  if ! diff -u proto/gridrun/v1/gridrun.pb.go $$tmp/gridrun/v1/gridrun.pb.go; then \
	    echo "proto/gridrun/v1/gridrun.pb.go is stale: run make proto" >&2; exit 1; fi

# Regenerates docs/cli.md from the command tree; a test fails when it is
# stale.
docs:
	$(GO) test ./cmd/gridrun -count=1 -run '^TestCLIReferenceIsCurrent$$' -update-docs

clean:
	rm -rf bin build out

FORCE:
