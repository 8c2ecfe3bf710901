# gridrun: make demo | make test | make build | make proto | make bench
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO       ?= go
CXX      ?= g++
CXXFLAGS ?= -std=c++17 -O2 -Wall -Wextra -Werror
# Generated C++ must match the installed libprotobuf, so it is generated
# here, at build time, never committed.
GEN      := build/gen
PROTOBUF  = $$(pkg-config --cflags --libs protobuf)

.PHONY: all build deps demo test lint proto proto-check bench clean FORCE
.DELETE_ON_ERROR:

all: build

build: deps bin/gridrun bin/pricer

deps:
	@scripts/deps

bin/gridrun: FORCE
	$(GO) build -o $@ ./cmd/gridrun

$(GEN)/%.pb.cc $(GEN)/%.pb.h: native/examples/pricer/%.proto
	@mkdir -p $(GEN)
	protoc -I native/examples/pricer --cpp_out=$(GEN) $<

bin/pricer: native/examples/pricer/pricer.cc native/gridrun/gridrun.h $(GEN)/pricer.pb.cc
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) -Inative -I$(GEN) $< $(GEN)/pricer.pb.cc $(PROTOBUF) -o $@

DEMO_OUT := out/demo

# The main job, on the embedded defaults: the example pricer over the demo
# trades, quotes joined from the local table. Fails on a wrong result count.
# Then the same job with the quotes loaded into the Bigtable emulator and
# joined from there, which must give the same results.
demo: build
	@rm -rf $(DEMO_OUT)
	bin/gridrun run --binary bin/pricer --input testdata/trades.jsonl \
	    --join testdata/quotes.csv --join-key '{underlying}' --output $(DEMO_OUT)
	@want=$$(grep -c . testdata/trades.jsonl); got=$$(cat $(DEMO_OUT)/results-*.jsonl | wc -l); \
	  if [ "$$got" != "$$want" ]; then echo "demo: $$got results for $$want trades" >&2; exit 1; fi; \
	  echo "demo: $$got results for $$want trades, in $(DEMO_OUT)"
	scripts/demo-bigtable $(DEMO_OUT)-bigtable $(DEMO_OUT)

test: build proto-check lint
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

# The join's figures against an in-process Bigtable emulator (about a
# minute): ReadRows calls per batch, rows read against distinct keys, and
# peak RSS against the table's size. JSON rows on stdout.
bench: build
	$(GO) run ./bench/join

clean:
	rm -rf bin build out

FORCE:
