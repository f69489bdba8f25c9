# The two commands a new user needs are `make demo` and `make test`; every
# other target is something they call. Tools are installed on first use
# into the Go path's bin folder (outside the repository, so fresh clones and
# CI reuse them).

GO        ?= go
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
MINIO     := $(GOBIN_DIR)/minio
MSGP      := $(GOBIN_DIR)/msgp
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MSGP_VERSION  := $(shell $(GO) list -m -f '{{.Version}}' github.com/tinylib/msgp)

export MINIO_BIN := $(MINIO)

.PHONY: all build test demo demo-go bench bench-go tools fuzz stress generate vet fmt-check clean

.DEFAULT_GOAL := all

include mk/capi.mk
include mk/julia.mk
include mk/python.mk
include mk/bench.mk

all: build

## build: compile every package and the C shared library.
build: lib
	$(GO) build ./...

## tools: install MinIO (for the S3 tests) once, reused when present.
tools: $(MINIO)

$(MINIO):
	@echo "installing MinIO $(MINIO_VERSION) into $(GOBIN_DIR) (takes a few minutes once)"
	$(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(MSGP):
	$(GO) install github.com/tinylib/msgp@$(MSGP_VERSION)

## generate: regenerate the msgp codecs (generated files are committed).
generate: $(MSGP)
	PATH="$(GOBIN_DIR):$$PATH" $(GO) generate ./...

## vet: go vet plus a gofmt check.
vet: fmt-check
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## test: every test, with the race detector; the S3 tests run against a real
## MinIO server started on 127.0.0.1.
test: tools vet
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) test-c
	$(MAKE) test-julia
	$(MAKE) test-python
	$(MAKE) bench-smoke

## demo: the main job, from Python: examples/quickstart.py in the
## project's virtualenv (set up on first use) on a repository on local disk.
demo: demo-python

## demo-go: the same story told by the Go engine directly.
demo-go:
	$(GO) run ./cmd/icechunk-demo

## bench: benchmarks that print figures (they are not pass/fail): the Go
## engine's, codec's and storage's, then the side-by-side comparison with
## upstream icechunk and zarr's LocalStore (bench/results.md, ratios.png).
bench: bench-go bench-c bench-python

bench-go: tools
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m ./codec/ ./engine/ ./storage/...

## stress: the long runs of the reliability tests (200 kills per backend,
## the 8 x 25 contending writers), printing their figures.
stress: tools
	ICECHUNK_STRESS=1 $(GO) test -count=1 -v -timeout 90m -run 'Crash|Linearizable|WithRebase|InjectedFaults' ./tests/concurrency/ ./engine/

## fuzz: run each fuzz target for FUZZTIME (default 5m).
FUZZTIME ?= 5m
fuzz:
	@for pkg in ./codec/ ./engine/; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean: clean-c clean-julia clean-python
	$(GO) clean -testcache
