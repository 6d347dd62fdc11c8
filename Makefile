# voltlab developer entry points. Everything installs into .venv from pinned versions.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.voltlab-installed
OUT ?= voltlab-demo
PYTEST_ARGS ?=
export PYBAMM_DISABLE_TELEMETRY := true
export MPLBACKEND := Agg

.PHONY: demo test env system-deps browser-deps lint bench docs clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,sim,torch,dev,opt,materials,scale,docs]'
	touch $(STAMP)

env: $(STAMP)

# Arbin .res files are Access databases read with Debian's mdbtools. Installed when
# we are root with apt; otherwise the .res reader explains how to install it.
system-deps:
	@if ! command -v mdb-export >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mdbtools) >/dev/null 2>&1 \
	      && echo "installed mdbtools" || echo "warning: could not install mdbtools (Arbin .res support)"; \
	  else echo "note: mdbtools not installed; Arbin .res files need it (apt-get install mdbtools)"; fi; \
	fi

# The report tests load voltlab's HTML reports in headless Chromium (Debian's package).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      && echo "installed chromium" || echo "warning: could not install chromium (headless report tests)"; \
	  else echo "note: chromium not installed; the report tests need it (apt-get install chromium)"; fi; \
	fi

demo: $(STAMP) system-deps
	$(VENV)/bin/voltlab demo --out $(OUT)

test: $(STAMP) system-deps browser-deps
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples

bench: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[bench]'
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/matr.py
	$(PY) benchmarks/nasa_soh.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis

# The documentation site (MkDocs + mkdocstrings API reference) into site/.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site
