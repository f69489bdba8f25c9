# mk/capi.mk - the C shared library (libicechunk.so), its C tests and its C
# benchmarks. Included by the main Makefile; every name here starts with
# CAPI_ or is one of the targets lib, test-c, bench-c, clean-c.
#
#   make lib      build/libicechunk.so (+ build/libicechunk.h, cgo's, not public)
#   make test-c   the symbol check, then every tests/c program three ways:
#                 plain, under valgrind memcheck, and built with
#                 AddressSanitizer
#   make bench-c  the C benchmarks (figures, not pass/fail)

GO ?= go
CC ?= cc

CAPI_BUILD   := build
CAPI_LIB     := $(CAPI_BUILD)/libicechunk.so
# The same library built with -tags valgrind: the Go runtime annotates its
# heap and stacks for memcheck (see tests/c/valgrind.sh).
CAPI_VG_LIB  := $(CAPI_BUILD)/valgrind/libicechunk.so
CAPI_HEADER  := include/icechunk.h
CAPI_TESTDIR := tests/c
CAPI_OUT     := $(CAPI_BUILD)/ctests
CAPI_TESTS   := roundtrip store conflict threads misuse fuzz_abi logs cancel s3
# The s3 test runs under s3env, which starts MinIO for it (make tools).
CAPI_S3ENV   := $(CAPI_OUT)/s3env
CAPI_DEPS    := $(CAPI_TESTDIR)/common.h $(CAPI_HEADER)

# Go's build cache does not see headers outside the package folder: a hash
# of the public header in CGO_CFLAGS makes an edit of it rebuild capi (and
# so re-run the compile-time check of every export against it).
CAPI_HDR_SUM  = $(shell cat $(CAPI_HEADER) | sha256sum | cut -c1-16)
CAPI_CGOFLAGS = -O2 -g -DICECHUNK_HEADER_SUM=$(CAPI_HDR_SUM)
# Relative relocations packed (DT_RELR): the library loads faster and keeps
# about 1.3 MiB fewer pages in every process that loads it. The linker
# leaves them unpacked where the C library cannot read them (glibc < 2.36).
# bindings/python/setup.py passes the same flag.
CAPI_GOLDFLAGS = -ldflags=-extldflags=-Wl,-z,pack-relative-relocs

CAPI_CFLAGS  := -std=c11 -Wall -Wextra -Werror -g -I include -pthread
CAPI_LDFLAGS := -L$(CAPI_BUILD) -licechunk -Wl,-rpath,$(abspath $(CAPI_BUILD)) -pthread
CAPI_ASAN    := -fsanitize=address -fno-omit-frame-pointer

# ASan: the test programs are built with -fsanitize=address and linked
# with the ordinary library (Go code is not instrumented; every buffer the
# library hands out comes from malloc, so ASan's redzones guard it and
# LeakSanitizer tracks it). LeakSanitizer stays on and needs no
# suppressions; any report fails the run.
CAPI_ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:exitcode=98

.PHONY: lib lib-valgrind test-c bench-c clean-c capi-symbols

## lib: the C shared library build/libicechunk.so.
lib:
	@mkdir -p $(CAPI_BUILD)
	CGO_CFLAGS="$(CAPI_CGOFLAGS)" $(GO) build -buildmode=c-shared $(CAPI_GOLDFLAGS) -o $(CAPI_LIB) ./capi

lib-valgrind:
	@mkdir -p $(dir $(CAPI_VG_LIB))
	CGO_CFLAGS="$(CAPI_CGOFLAGS)" $(GO) build -tags valgrind -buildmode=c-shared $(CAPI_GOLDFLAGS) -o $(CAPI_VG_LIB) ./capi

$(CAPI_OUT)/%: $(CAPI_TESTDIR)/%.c $(CAPI_DEPS) | lib
	@mkdir -p $(CAPI_OUT)
	$(CC) $(CAPI_CFLAGS) -O1 -o $@ $< $(CAPI_LDFLAGS)

$(CAPI_OUT)/%-asan: $(CAPI_TESTDIR)/%.c $(CAPI_DEPS) | lib
	@mkdir -p $(CAPI_OUT)
	$(CC) $(CAPI_CFLAGS) -O1 $(CAPI_ASAN) -o $@ $< $(CAPI_LDFLAGS)

$(CAPI_OUT)/bench: $(CAPI_TESTDIR)/bench.c $(CAPI_DEPS) | lib
	@mkdir -p $(CAPI_OUT)
	$(CC) $(CAPI_CFLAGS) -O2 -o $@ $< $(CAPI_LDFLAGS)

$(CAPI_S3ENV): $(wildcard $(CAPI_TESTDIR)/s3env/*.go)
	@mkdir -p $(CAPI_OUT)
	$(GO) build -o $@ ./$(CAPI_TESTDIR)/s3env

capi-symbols: lib
	$(CAPI_TESTDIR)/check_symbols.sh $(CAPI_HEADER) $(CAPI_LIB) capi

## test-c: the C tests: symbol check, then plain, valgrind and ASan runs.
test-c: capi-symbols lib-valgrind $(CAPI_S3ENV) $(CAPI_TESTS:%=$(CAPI_OUT)/%) $(CAPI_TESTS:%=$(CAPI_OUT)/%-asan)
	@set -e; for t in $(CAPI_TESTS); do \
	  wrap=; [ $$t = s3 ] && wrap=$(CAPI_S3ENV); \
	  echo "== $$t"; $$wrap $(CAPI_OUT)/$$t; \
	done
	@set -e; for t in $(CAPI_TESTS); do \
	  wrap=; [ $$t = s3 ] && wrap=$(CAPI_S3ENV); \
	  echo "== $$t (valgrind memcheck)"; \
	  $$wrap $(CAPI_TESTDIR)/valgrind.sh $(CAPI_OUT)/$$t $(abspath $(CAPI_BUILD)) $(abspath $(dir $(CAPI_VG_LIB))); \
	done
	@set -e; for t in $(CAPI_TESTS); do \
	  wrap=; [ $$t = s3 ] && wrap=$(CAPI_S3ENV); \
	  echo "== $$t (AddressSanitizer)"; $(CAPI_ASAN_ENV) $$wrap $(CAPI_OUT)/$$t-asan; \
	done
	@echo "test-c: all C tests passed (plain, valgrind, ASan)"

## bench-c: the C benchmarks (printed figures).
bench-c: $(CAPI_OUT)/bench
	$(CAPI_OUT)/bench

clean-c:
	rm -rf $(CAPI_OUT) $(CAPI_LIB) $(CAPI_BUILD)/libicechunk.h $(dir $(CAPI_VG_LIB))
