# e2email — developer entry points. Every target is idempotent.
#   make demo   one encrypted message end to end on local servers (no root, no internet)
#   make test   install what the suite needs (Debian packages, venv), then ruff, mypy, pytest
#   make test-oldest  the suite again on the oldest dependency versions allowed (CI runs it)
#   make interop  the client interop matrix (NSS, GMime, SOP), printed as a table
#   make fuzz   every parser of outside bytes under atheris, FUZZ_SECONDS each (default 60)
#   make bench  performance benchmarks against the reference tools (not part of make test)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OLDEST := .venv-oldest

.PHONY: all demo test test-oldest interop fuzz lint typecheck unit system-deps venv bench clean

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
	$(VENV)/bin/ruff check e2email tests demo keys-fixtures bench
	$(VENV)/bin/ruff format --check e2email tests demo keys-fixtures bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: system-deps $(STAMP) lint typecheck
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again against the oldest dependency versions pyproject.toml allows.
$(OLDEST)/.installed: pyproject.toml scripts/oldest-deps.txt
	@test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(OLDEST)/bin/python -m pip install -q --disable-pip-version-check -c scripts/oldest-deps.txt -e '.[dev]'
	@touch $@

test-oldest: system-deps $(OLDEST)/.installed
	PATH="$(CURDIR)/$(OLDEST)/bin:$$PATH" $(OLDEST)/bin/python -m pytest $(PYTEST_ARGS)

interop: system-deps $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q tests/interop $(PYTEST_ARGS)

fuzz: $(STAMP)
	@$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check -e '.[dev,fuzz]'
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(PY) scripts/fuzz.py $(FUZZ_ARGS)

bench: system-deps $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m bench

clean:
	rm -rf $(VENV) $(OLDEST) .venv-bench .mypy_cache .ruff_cache .pytest_cache build *.egg-info
