PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench lint clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
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

clean:
	rm -rf $(VENV) flexcausal-demo .pytest_cache
