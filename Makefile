PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# exact versions (with hashes) of every runtime + dev + dml dependency, for Python 3.11 on
# Linux x86_64; refresh with `make lock`
LOCK := requirements/lock.txt
UV_VERSION ?= 0.13.9
# `make lock LOCK_ARGS=` keeps the current pins and only adds/removes what pyproject changed
LOCK_ARGS ?= --upgrade

.PHONY: demo test test-slow bench lint lock clean

# reinstalls whenever the lock or pyproject.toml changes
$(STAMP): $(LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/flexcausal demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks $(wildcard examples)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/gkrls_scaling.py
	$(PY) benchmarks/gkrls_glm.py --sizes 1e5
	$(PY) benchmarks/rfp_speed.py
	$(PY) benchmarks/npiv_demand.py --n 1000 --rho 0.5 --seeds 2

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks $(wildcard examples)

# re-resolve pyproject.toml (runtime deps + the dev and dml extras) into $(LOCK) with uv,
# installed into a throwaway venv; needs the network (PyPI)
lock:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	mkdir -p $(dir $(LOCK))
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && \
	"$$tmp/bin/python" -m pip install --quiet uv==$(UV_VERSION) && \
	"$$tmp/bin/uv" pip compile pyproject.toml --extra dev --extra dml --extra rl --extra dask \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
		--generate-hashes --custom-compile-command "make lock" --quiet $(LOCK_ARGS) -o $(LOCK)

clean:
	rm -rf $(VENV) flexcausal-demo .pytest_cache
