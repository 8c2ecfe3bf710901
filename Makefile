# gridrun: make demo | make test | make build | make install | make proto | make docs | make bench | make pricer-static
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO       ?= go
CXX      ?= g++
CXXFLAGS ?= -std=c++17 -O2 -pthread -Wall -Wextra -Werror
# Generated C++ must match the installed libprotobuf, so it is generated
# here, at build time, never committed.
GEN      := build/gen
PROTOBUF  = $$(pkg-config --cflags --libs protobuf)

.PHONY: all build deps test-deps install install-sdk demo pricer-static test test-binaries lint proto proto-check docs bench clean FORCE
.DELETE_ON_ERROR:
# Keep generated C++ between builds.
.SECONDARY:

all: build

build: deps bin/gridrun bin/gridrun-beam bin/pricer

deps:
	@scripts/deps

# What the tests need beyond the build: a headless browser for the report's
# end-to-end test, the shells whose completion scripts are tested, GNU
# parallel for the smoke run of the benchmark harness, and CMake to build
# the out-of-tree example against the installed SDK.
TEST_PACKAGES := chromium bash-completion zsh parallel cmake

test-deps:
	@scripts/deps $(TEST_PACKAGES)

# The revision gridrun version prints when the build carries no VCS
# information of its own (GOFLAGS=-buildvcs=false, as in CI, or no git).
GIT_REVISION := $(shell git rev-parse HEAD 2>/dev/null)
GIT_MODIFIED := $(shell test -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo true)
VERSION_LDFLAGS = -X main.revision=$(GIT_REVISION) -X main.modified=$(GIT_MODIFIED) -X main.buildTime=$$(date -u +%Y-%m-%dT%H:%M:%SZ)

bin/gridrun: FORCE
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $@ ./cmd/gridrun

# The Beam runners (gridrun run --runner prism|dataflow), a binary of their
# own so that bin/gridrun does not link the Beam SDK; see
# docs/scaling-out.md. Static: it is also the Dataflow workers' binary, run
# in Beam's Go SDK container whatever glibc it was built against.
bin/gridrun-beam: FORCE
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/gridrun-beam

# bin/NAME is the example native/examples/NAME/NAME.cc with its NAME.proto.
.SECONDEXPANSION:
$(GEN)/%.pb.cc $(GEN)/%.pb.h: native/examples/$$*/$$*.proto
	@mkdir -p $(GEN)
	protoc -I $(dir $<) --cpp_out=$(GEN) $<

bin/%: native/examples/$$*/$$*.cc native/gridrun/gridrun.h $(GEN)/%.pb.cc
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) -Inative -I$(GEN) $< $(GEN)/$*.pb.cc $(PROTOBUF) -o $@

# make install [PREFIX=/usr/local] [DESTDIR=]: the CLI (gridrun, and
# gridrun-beam for --runner) in PREFIX/bin; the C++ SDK's header in
# PREFIX/include/gridrun; what finds it: a pkg-config file
# (lib/pkgconfig/gridrun.pc) and a CMake package (lib/cmake/gridrun,
# find_package(gridrun): gridrun::sdk); and the protocol's schema in
# share/gridrun, for binaries written without the SDK. install-sdk installs
# the SDK alone, without building the CLI. The header encodes the protocol
# itself, so nothing generated is installed: a binary's own messages are
# generated when it builds, against the libprotobuf it links.
PREFIX      ?= /usr/local
prefix      := $(abspath $(PREFIX))
dest         = $(DESTDIR)$(prefix)
SDK_VERSION := $(shell sed -n 's/^\#define GRIDRUN_SDK_VERSION "\(.*\)"$$/\1/p' native/gridrun/gridrun.h)
SUBST        = sed -e 's|@PREFIX@|$(prefix)|g' -e 's|@VERSION@|$(SDK_VERSION)|g'

install: install-sdk bin/gridrun bin/gridrun-beam
	install -d $(dest)/bin
	install -m 755 bin/gridrun bin/gridrun-beam $(dest)/bin/

install-sdk:
	@[ -n "$(SDK_VERSION)" ] || { echo "no GRIDRUN_SDK_VERSION in native/gridrun/gridrun.h" >&2; exit 1; }
	install -d $(dest)/include/gridrun $(dest)/lib/pkgconfig $(dest)/lib/cmake/gridrun $(dest)/share/gridrun/proto/gridrun/v1
	install -m 644 native/gridrun/gridrun.h $(dest)/include/gridrun/
	$(SUBST) native/install/gridrun.pc.in > $(dest)/lib/pkgconfig/gridrun.pc
	install -m 644 native/install/gridrunConfig.cmake $(dest)/lib/cmake/gridrun/
	$(SUBST) native/install/gridrunConfigVersion.cmake.in > $(dest)/lib/cmake/gridrun/gridrunConfigVersion.cmake
	install -m 644 proto/gridrun/v1/gridrun.proto $(dest)/share/gridrun/proto/gridrun/v1/

# faulty is the fault-injection binary of the tests.
test-binaries: bin/faulty

# The example pricer with everything linked in (glibc, libstdc++, libprotobuf,
# zlib), for worker images that lack libstdc++ or libprotobuf, such as the
# Beam/Dataflow Go SDK image; see docs/staging.md. Needs the static libraries
# of libprotobuf-dev and zlib1g-dev.
pricer-static: deps bin/pricer-static

bin/pricer-static: native/examples/pricer/pricer.cc native/gridrun/gridrun.h $(GEN)/pricer.pb.cc
	@mkdir -p bin
	$(CXX) $(CXXFLAGS) -Inative -I$(GEN) $< $(GEN)/pricer.pb.cc -static \
	    $$(pkg-config --cflags --static --libs protobuf) -pthread -o $@

# The main job on the embedded defaults, then as in production with Cloud
# Storage and Bigtable emulated on loopback; see scripts/demo.
demo: build
	scripts/demo out/demo

# Then the tests of failed Beam bundles, without the race detector: Beam's
# worker harness races with itself shutting a failed job down (see
# beamgrid/retry_test.go).
test: build test-binaries test-deps proto-check lint
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run '^(TestRetriedBundlesLeaveNoDuplicate|TestABinaryThatCannotRunFailsAPrismJobFast|TestDeadLetterLimitsOnPrism)$$' ./beamgrid

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

# Benchmarks, never part of make test (which runs a smoke version of the
# harness): every figure a ratio against a reference measured in the same
# run, written to bench/results/ as JSON rows, then summed up in
# results.md. The engine against GNU parallel and the ideal schedule, the
# join against an in-process Bigtable emulator, Parquet against JSON lines,
# the Beam path on prism against the local engine, the scenario fan-out
# against a materialised input. About twenty minutes.
bench: build test-binaries
	@scripts/deps parallel
	@mkdir -p bench/results
	$(GO) run ./bench/grid > bench/results/grid.json
	$(GO) run ./bench/join > bench/results/join.json
	$(GO) run ./bench/parquet > bench/results/parquet.json
	$(GO) run ./bench/count > bench/results/count.json
	$(GO) run ./bench/beam > bench/results/beam.json
	$(GO) run ./bench/scenarios > bench/results/scenarios.json
	$(GO) run ./bench/cache > bench/results/cache.json
	$(GO) run ./bench/report bench/results

clean:
	rm -rf bin build out

FORCE:
