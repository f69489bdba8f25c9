# mk/bench.mk - the comparison benchmarks (bench/): icechunk_go against
# upstream icechunk (PyPI, Rust core) and zarr's LocalStore, through the
# same zarr-python, on this machine, in one run. Included by the main
# Makefile after mk/python.mk (it reuses its virtualenv: the target venv
# and the names PY_VENV, PY_BIN, PY_PIP, PY_PINS) and uses its `tools`
# target (MinIO). Every name here starts with BENCH_ or is one of the
# targets bench-deps, bench-python, bench-smoke, bench-report.
#
#   make bench-python  the full suite (about 30-45 min on 2 cores): writes
#                      bench/results.json, bench/results.md, bench/ratios.png
#   make bench-smoke   one tiny iteration of every workload against every
#                      system (a minute or two; for `make test`): fails only
#                      if a workload errors, never on speed
#   make bench-report  regenerate results.md and ratios.png from results.json
#
# BENCH_ARGS passes options to bench/run.py, such as
#   make bench-python BENCH_ARGS="--only W1,W2 --runs 3"
#   make bench-python BENCH_ARGS="--profile --pyspy .venv/bin/py-spy"

BENCH_DIR   := bench
BENCH_ARGS  ?=
# Upstream icechunk: the newest release pip can install beside the venv's
# pinned zarr on this Python (pip backtracks to an older release if the
# newest wants another zarr). Checked on every run; offline, what is
# installed is used.
BENCH_DEPS  := icechunk matplotlib psutil boto3
BENCH_PY    := $(PY_BIN)/python

.PHONY: bench-deps bench-python bench-smoke bench-report

## bench-deps: upstream icechunk, matplotlib, psutil, boto3 in the venv.
bench-deps: venv
	@$(PY_PIP) install --quiet --upgrade -c $(PY_PINS) $(BENCH_DEPS) || \
	  $(BENCH_PY) -c 'import icechunk, matplotlib, psutil, boto3' || \
	  { echo "bench-deps: cannot install $(BENCH_DEPS) into $(PY_VENV)"; exit 1; }
	@$(BENCH_PY) -c 'import icechunk, icechunk_go, zarr; print("bench: icechunk", icechunk.__version__, "| icechunk_go", icechunk_go.__version__, "| zarr", zarr.__version__)'

## bench-python: the full comparison suite; figures in bench/results.md.
bench-python: bench-deps tools
	$(BENCH_PY) $(BENCH_DIR)/run.py --out $(BENCH_DIR) $(BENCH_ARGS)

## bench-smoke: every workload once at tiny sizes (errors fail, speed never).
bench-smoke: bench-deps tools
	$(BENCH_PY) $(BENCH_DIR)/run.py --size smoke --strict $(BENCH_ARGS)

bench-report:
	$(BENCH_PY) $(BENCH_DIR)/report.py $(BENCH_DIR)
