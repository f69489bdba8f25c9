# mk/julia.mk - the Julia binding (bindings/julia, package IcechunkGo).
# Included by the main Makefile (it also works alone:
# `make -f mk/julia.mk test-julia`). Every name here starts with ICJL_ or
# is one of the targets julia-install, julia-lib, julia-depot, test-julia,
# clean-julia.
#
#   make test-julia     install Julia if missing, build the library, run
#                       the IcechunkGo tests with Pkg.test() on 4 threads
#   make julia-install  install Debian bullseye's julia 1.5.3 when `julia`
#                       is missing (adds the bullseye suite, pinned low so
#                       nothing else comes from it; see the script)
#
# Julia's package registry is not reachable here, and Pkg.test() of Julia
# 1.5 wants a registry even for a project whose only dependencies are in the
# standard library: the tests run in a depot of their own (build/julia-depot)
# holding an empty registry, so Pkg resolves offline. Nothing is written to
# ~/.julia.

ICJL_JULIA    ?= julia
ICJL_GO       ?= go
ICJL_PKG      := bindings/julia
ICJL_LIB      := build/libicechunk.so
ICJL_DEPOT    := $(abspath build/julia-depot)
ICJL_REGISTRY := $(ICJL_DEPOT)/registries/IcechunkGoOffline/Registry.toml
ICJL_THREADS  ?= 4

.PHONY: julia-install julia-lib julia-depot test-julia clean-julia

## julia-install: install julia (Debian bullseye's 1.5.3) when missing.
julia-install:
	@sh $(ICJL_PKG)/tools/install_julia.sh

## julia-lib: the C library the binding loads.
julia-lib:
	@if [ -f mk/capi.mk ]; then \
	  $(MAKE) --no-print-directory -f mk/capi.mk lib; \
	else \
	  mkdir -p build && $(ICJL_GO) build -buildmode=c-shared -o $(ICJL_LIB) ./capi; \
	fi

## julia-depot: a private Julia depot with an empty registry (offline Pkg).
julia-depot: $(ICJL_REGISTRY)

$(ICJL_REGISTRY):
	@mkdir -p $(dir $@)
	@printf '%s\n' \
	  'name = "IcechunkGoOffline"' \
	  'uuid = "8b0e6b6c-3f0a-4c55-9c59-6f5b2b1d7e21"' \
	  'repo = ""' \
	  'description = "Empty: lets Pkg resolve the stdlib-only IcechunkGo offline."' \
	  '' '[packages]' > $@

## test-julia: the IcechunkGo tests (Pkg.test, JULIA_NUM_THREADS=$(ICJL_THREADS)).
test-julia: julia-install julia-lib julia-depot
	JULIA_DEPOT_PATH=$(ICJL_DEPOT) JULIA_NUM_THREADS=$(ICJL_THREADS) \
	ICECHUNK_GO_LIB=$(abspath $(ICJL_LIB)) \
	  $(ICJL_JULIA) --startup-file=no --project=$(ICJL_PKG) -e 'using Pkg; Pkg.test()'

clean-julia:
	rm -rf $(ICJL_DEPOT) $(ICJL_PKG)/Manifest.toml
