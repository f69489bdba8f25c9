# mk/python.mk - the Python binding (bindings/python, package icechunk_go):
# a project-local virtualenv, its tests and the quickstart demo. Included by
# the main Makefile; every name here starts with PY_ or is one of the
# targets venv, test-python, demo-python, clean-python.
#
#   make venv          .venv/ with zarr 3.1.x, numpy, xarray, Dask, pytest,
#                      hypothesis, boto3 (versions pinned in
#                      bindings/python/constraints-dev.txt) and the package
#                      itself, installed with `pip install ./bindings/python`
#                      (whose build step compiles libicechunk.so with Go).
#                      Quick when nothing changed: the dependencies are
#                      reinstalled only when their pins change, the package
#                      only when its sources or the Go sources change.
#   make test-python   the binding's pytest suite (S3 tests against MinIO on
#                      127.0.0.1; a run that collects no tests fails)
#   make demo-python   examples/quickstart.py in the virtualenv

PYTHON ?= python3

PY_VENV      := .venv
PY_BIN       := $(PY_VENV)/bin
PY_PKG_DIR   := bindings/python
PY_PINS      := $(PY_PKG_DIR)/constraints-dev.txt
PY_DEPS      := "zarr>=3.1,<3.2" numpy xarray pandas "dask[distributed]" \
                pytest pytest-asyncio hypothesis boto3 "setuptools>=70.1" wheel
PY_DEPS_STAMP := $(PY_VENV)/.icechunk-go-deps.stamp
PY_PKG_STAMP  := $(PY_VENV)/.icechunk-go-package.sum
PY_PIP        := $(PY_BIN)/python -m pip --disable-pip-version-check

# What the installed package is built from: the binding's own files and
# every Go, C and header source of the library (not the tests).
PY_PKG_SOURCES = find $(PY_PKG_DIR)/icechunk_go $(PY_PKG_DIR)/pyproject.toml $(PY_PKG_DIR)/setup.py \
	capi engine codec storage include go.mod go.sum -type f \
	\( -name '*.py' -o -name '*.typed' -o -name '*.toml' -o -name '*.go' -o -name '*.c' \
	   -o -name '*.h' -o -name 'go.mod' -o -name 'go.sum' \) -not -name '*_test.go' | LC_ALL=C sort

.PHONY: venv test-python demo-python clean-python

$(PY_BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the Python binding needs Python >= 3.11; set PYTHON=")'
	$(PYTHON) -m venv $(PY_VENV)

$(PY_DEPS_STAMP): $(PY_PINS) mk/python.mk | $(PY_BIN)/python
	$(PY_PIP) install --quiet --upgrade pip
	$(PY_PIP) install --quiet -c $(PY_PINS) $(PY_DEPS)
	@touch $@

## venv: the project-local virtualenv with the package and its test tools.
venv: $(PY_DEPS_STAMP)
	@sum=$$($(PY_PKG_SOURCES) | xargs cat | sha256sum | cut -d' ' -f1); \
	if [ "$$sum" != "$$(cat $(PY_PKG_STAMP) 2>/dev/null)" ] || \
	   ! $(PY_BIN)/python -c 'import icechunk_go' >/dev/null 2>&1; then \
	  echo "pip install ./$(PY_PKG_DIR) (builds libicechunk.so into the package)"; \
	  $(PY_PIP) install --quiet --no-deps --no-build-isolation --force-reinstall ./$(PY_PKG_DIR) && \
	  echo "$$sum" > $(PY_PKG_STAMP); \
	else \
	  echo "icechunk_go is up to date in $(PY_VENV)"; \
	fi

## test-python: the Python binding's tests (pytest exits 5, and so does
## make, if it collects nothing).
test-python: venv bench-deps tools
	ICECHUNK_GO_REQUIRE_S3=1 $(PY_BIN)/pytest -q -p no:cacheprovider $(PY_PKG_DIR)/tests

## demo-python: the quickstart on a repository on local disk.
demo-python: venv
	$(PY_BIN)/python examples/quickstart.py

clean-python:
	rm -rf $(PY_VENV) $(PY_PKG_DIR)/build $(PY_PKG_DIR)/*.egg-info
