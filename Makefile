# e2email — developer entry points. Every target is idempotent.
#   make demo   one encrypted message end to end on local servers (no root, no internet)
#   make test   install what the suite needs (Debian packages, venv), then ruff, mypy, pytest
#   make bench  performance benchmarks against the reference tools (not part of make test)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all demo test lint typecheck unit system-deps venv bench clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) demo/run_demo.py

system-deps:
	@sh scripts/install-system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check e2email tests demo keys-fixtures
	$(VENV)/bin/ruff format --check e2email tests demo keys-fixtures

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: system-deps $(STAMP) lint typecheck
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

bench: system-deps $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m bench

clean:
	rm -rf $(VENV) .venv-bench .mypy_cache .ruff_cache .pytest_cache build *.egg-info
